//go:build linux

// Command teardown-lab makes teardown's test captures from real Linux
// sockets. For each scenario it joins two network namespaces with a veth
// pair (a third namespace routes between them when the capture is taken
// mid-path), lowers the close-path timers with per-namespace sysctls,
// drops chosen segments with iptables, drives client and server sockets
// through the scenario while tcpdump records, and checks what the wire
// shows with tshark before it writes <scenario>.pcap and
// <scenario>.truth.json. It needs Linux and root, and deletes every
// namespace it creates. Its truth command derives the truth files again
// from the stored captures, with tshark alone.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

const usage = `Usage:
    teardown-lab list
    teardown-lab run [--out DIR] NAME...
    teardown-lab run [--out DIR] --all
    teardown-lab truth [--out DIR] [--write] NAME... | --all

Run makes each named scenario's capture and truth file in DIR
(default testdata/lab). It needs root, network namespaces, tcpdump,
tshark, editcap, mergecap and iptables. Scenarios run one at a time; each one
deletes its namespaces (tdlab-PID-*) when it ends, also on Ctrl-C.

Truth derives each named scenario's truth file again from its capture
in DIR, with tshark, and reports every one that differs from the file
stored there (exit status 1); with --write it replaces them, and
writes DIR's README.md again. The kernel and the notes of the run are
kept.

Options:
    -o, --out DIR   captures and truth files are in DIR
    -a, --all       every scenario
    -w, --write     truth: replace the truth files that differ

Example:
    sudo go run ./cmd/teardown-lab run client-active-close
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "list":
		for _, sc := range scenarios() {
			fmt.Fprintf(stdout, "%-34s %s\n", sc.name, sc.summary)
		}
		return 0
	case "run", "truth":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "teardown-lab: error: unknown command %q\n%s", args[0], usage)
		return 2
	}
	fs := pflag.NewFlagSet("teardown-lab "+args[0], pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	out := fs.StringP("out", "o", "testdata/lab", "output directory")
	all := fs.BoolP("all", "a", false, "run every scenario")
	write := fs.BoolP("write", "w", false, "truth: replace the truth files that differ")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var chosen []*scenario
	byName := map[string]*scenario{}
	for _, sc := range scenarios() {
		byName[sc.name] = sc
	}
	switch {
	case *all && fs.NArg() > 0:
		fmt.Fprintln(stderr, "teardown-lab: error: --all takes no scenario names")
		return 2
	case *all:
		chosen = scenarios()
	case fs.NArg() == 0:
		fmt.Fprintln(stderr, "teardown-lab: error: no scenario named")
		fmt.Fprintln(stderr, "teardown-lab: hint: teardown-lab list shows them; --all runs every one")
		return 2
	}
	for _, n := range fs.Args() {
		sc, ok := byName[n]
		if !ok {
			fmt.Fprintf(stderr, "teardown-lab: error: no scenario %q\n", n)
			fmt.Fprintln(stderr, "teardown-lab: hint: teardown-lab list shows them")
			return 2
		}
		chosen = append(chosen, sc)
	}
	if args[0] == "truth" {
		return rederive(chosen, *out, *write, stderr)
	}
	if *write {
		fmt.Fprintln(stderr, "teardown-lab: error: --write is for the truth command")
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "teardown-lab: error: network namespaces need root")
		return 2
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		fmt.Fprintf(stderr, "teardown-lab: error: uname: %v\n", err)
		return 2
	}
	kernel := unix.ByteSliceToString(uts.Release[:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	removeStale(ctx)
	failed := 0
	for _, sc := range chosen {
		start := time.Now()
		fmt.Fprintf(stderr, "teardown-lab: %s: running\n", sc.name)
		if err := runScenario(ctx, sc, *out, kernel); err != nil {
			fmt.Fprintf(stderr, "teardown-lab: error: %v\n", err)
			failed++
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Fprintf(stderr, "teardown-lab: %s: ok (%.1fs)\n", sc.name, time.Since(start).Seconds())
	}
	if err := writeReadme(*out); err != nil {
		fmt.Fprintf(stderr, "teardown-lab: error: %v\n", err)
		failed++
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "teardown-lab: %d of %d scenarios failed\n", failed, len(chosen))
		return 1
	}
	return 0
}
