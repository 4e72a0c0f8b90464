package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/teardown/teardown/flows/testenv"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"teardown": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts in testdata/script. $LAB is
// the lab fixture folder.
func TestScripts(t *testing.T) {
	lab := testenv.Lab(t)
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(e *testscript.Env) error {
			e.Setenv("LAB", lab)
			e.Setenv("NO_COLOR", "")
			return nil
		},
	})
}
