package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows/synth"
)

// runOK runs the command with args and fails the test unless it exits 0
// with nothing on stderr; it returns stdout.
func runOK(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("teardown-synth %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.Bytes()
}

func truthOf(t *testing.T, b []byte) synth.Truth {
	t.Helper()
	var tr synth.Truth
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("stdout is not a truth: %v\n%s", err, b)
	}
	return tr
}

func TestDeterministicFiles(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	read := func(name string) []byte {
		b, err := os.ReadFile(path(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if tr := truthOf(t, runOK(t, "-o", path("a.pcap"), "--conns", "50", "--seed", "1")); tr.Conns != 50 {
		t.Errorf("--conns 50 made %d connections", tr.Conns)
	}
	runOK(t, "-o", path("b.pcap"), "--conns", "50", "--seed", "1")
	runOK(t, "-o", path("c.pcap"), "--conns", "50", "--seed", "2")
	if !bytes.Equal(read("a.pcap"), read("b.pcap")) {
		t.Error("the same options wrote different files")
	}
	if bytes.Equal(read("a.pcap"), read("c.pcap")) {
		t.Error("seeds 1 and 2 wrote the same file")
	}
	// The capture can go to stdout when the truth goes to a file.
	stdout := runOK(t, "-o", "-", "--truth", path("truth.json"), "--conns", "50", "--seed", "1")
	if !bytes.Equal(stdout, read("a.pcap")) {
		t.Error("-o - wrote other bytes than -o FILE")
	}
	if tr := truthOf(t, read("truth.json")); tr.Conns != 50 {
		t.Errorf("--truth file says %d connections, want 50", tr.Conns)
	}
}

func TestModes(t *testing.T) {
	dir := t.TempDir()
	// Adversarial modes need no background traffic.
	flood := truthOf(t, runOK(t, "-o", filepath.Join(dir, "f.pcapng"), "--format", "pcapng", "--mode", "synflood", "--flood", "1000"))
	if flood.SynOnly != 1000 || flood.Packets != 1000 {
		t.Errorf("synflood of 1000: %d SYN-only connections, %d packets", flood.SynOnly, flood.Packets)
	}
	storm := truthOf(t, runOK(t, "-o", filepath.Join(dir, "s.pcap"), "--mode", "finstorm", "--storm", "500"))
	if storm.FINs != 500 || storm.Conns != 1 {
		t.Errorf("finstorm of 500: %d FINs, %d connections", storm.FINs, storm.Conns)
	}
	// With --packets, the background traffic comes too.
	mixed := truthOf(t, runOK(t, "-o", filepath.Join(dir, "m.pcap"), "--mode", "finstorm", "--storm", "500", "--packets", "5000"))
	if mixed.Conns < 100 || mixed.FINs < 600 {
		t.Errorf("finstorm with background: %d connections, %d FINs", mixed.Conns, mixed.FINs)
	}
}

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.pcap")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		file   bool
	}{
		{"ok", []string{"-o", out, "--conns", "20"}, 0, "", true},
		{"help", []string{"--help"}, 0, "", false},
		{"bad-snaplen", []string{"-o", out, "--snaplen", "-1"}, 2, "Snaplen must be between 0", false},
		{"no-output", []string{"--conns", "20"}, 2, "no output file", false},
		{"stdout-needs-truth", []string{"-o", "-", "--conns", "20"}, 2, "add --truth FILE", false},
		{"bad-flag", []string{"-o", out, "--bogus"}, 2, "unknown flag: --bogus", false},
		{"bad-format", []string{"-o", out, "--format", "erf"}, 2, `unknown format "erf"`, false},
		{"bad-mode", []string{"-o", out, "--mode", "ddos"}, 2, `unknown mode "ddos"`, false},
		{"bad-mix", []string{"-o", out, "--mix", "reset"}, 2, "is not NAME=WEIGHT", false},
		{"bad-config", []string{"-o", out, "--ipv6", "2"}, 2, "IPv6Fraction must be at most 1", false},
		{"bad-start", []string{"-o", out, "--start", "yesterday"}, 2, "--start", false},
		{"extra-arg", []string{"-o", out, "more"}, 2, `unexpected argument "more"`, false},
		{"unwritable", []string{"-o", filepath.Join(dir, "no", "such", "dir", "x.pcap"), "--conns", "5"}, 2, "no such file", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
			if tc.code != 0 && !strings.HasPrefix(stderr.String(), "teardown-synth: error: ") {
				t.Errorf("stderr %q does not start with the error prefix", stderr.String())
			}
			if _, err := os.Stat(out); (err == nil) != tc.file {
				t.Errorf("output file exists: %v, want %v", err == nil, tc.file)
			}
		})
	}
}

// TestTruthMatchesLibrary checks that the command prints the truth the
// package returns for the same configuration, and writes the same bytes.
func TestTruthMatchesLibrary(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.pcapng")
	var stdout, stderr bytes.Buffer
	args := []string{"-o", out, "--conns", "300", "--seed", "9", "--format", "pcapng", "--ipv6", "0", "--mix", "reuse=0.5,reset=0"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got synth.Truth
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	mix := synth.DefaultMix
	mix.Reuse, mix.Reset = 0.5, 0
	var buf bytes.Buffer
	want, err := synth.Generate(&buf, synth.Config{
		Seed: 9, Conns: 300, Format: synth.PCAPNG, IPv6Fraction: -1, Mix: mix,
		Snaplen: synth.DefaultSnaplen, Concurrency: synth.DefaultConcurrency,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Conns != want.Conns || got.Packets != want.Packets || got.Reuses != want.Reuses ||
		got.IPv6Packets != 0 || got.ByKind[synth.KindReset] != 0 {
		t.Errorf("command truth %+v\nlibrary truth %+v", got, want)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, buf.Bytes()) {
		t.Error("the command and the library wrote different bytes")
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		out := string(runOK(t, arg))
		if !strings.HasPrefix(out, "Usage:") || !strings.Contains(out, "Example:") {
			t.Errorf("%s printed:\n%s", arg, out)
		}
	}
}
