// Package testenv locates the files tests read: the repository root, the
// lab fixtures under testdata/lab, and the shared corpus of public captures
// that sits beside the repository (../shared/corpus), which tests skip
// cleanly when it is absent; and it makes the synthetic captures they
// read.
package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/teardown/teardown/flows/synth"
)

// Root returns the repository root: the nearest directory above the
// working directory that holds go.mod.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Lab returns testdata/lab under the repository root.
func Lab(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(Root(tb), "testdata", "lab")
}

// Corpus returns ../shared/corpus beside the repository root, or skips the
// test when that folder is absent.
func Corpus(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(filepath.Dir(Root(tb)), "shared", "corpus")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		tb.Skipf("shared corpus not found at %s", dir)
	}
	return dir
}

// Capture returns the capture that the synthetic generator writes for
// cfg.
func Capture(tb testing.TB, cfg synth.Config) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, cfg); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
