package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows/synth"
)

// TestModes runs every mode over a small capture, pcap and pcapng, and
// checks that each read every record.
func TestModes(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []synth.Format{synth.PCAP, synth.PCAPNG} {
		name := filepath.Join(dir, "c."+format.String())
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		truth, err := synth.Generate(f, synth.Config{Seed: 2, Packets: 5000, Concurrency: 50, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"read", "dlp", "decode", "prefetch", "table", "full"} {
			for _, extra := range [][]string{nil, {"--no-prefetch"}} {
				var stdout, stderr bytes.Buffer
				args := append(append([]string{"--discard"}, extra...), mode, name)
				if code := run(args, &stdout, &stderr); code != 0 {
					t.Fatalf("teardown-bench %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
				}
				want := fmt.Sprintf("%s packets=%d ", mode, truth.Packets)
				if !strings.HasPrefix(stdout.String(), want) {
					t.Errorf("teardown-bench %s: %q, want it to start with %q", strings.Join(args, " "), stdout.String(), want)
				}
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"nope", "x.pcap"}, {"--bad", "read", "x.pcap"}, {"read", "/nonexistent.pcap"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || !strings.HasPrefix(stderr.String(), "teardown-bench: error: ") {
			t.Errorf("teardown-bench %q: exit %d, stderr %q; want 2 and an error line", args, code, stderr.String())
		}
	}
}

// TestTrace checks that --trace writes an execution trace of the run.
func TestTrace(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "c.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Generate(f, synth.Config{Seed: 3, Packets: 2000, Concurrency: 20}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "trace.out")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--discard", "--trace", out, "full", name}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:16], []byte(" trace\x00")) {
		t.Errorf("--trace wrote %d bytes starting %q, want a Go execution trace", len(b), b[:min(len(b), 16)])
	}
	if code := run([]string{"--trace", filepath.Join(dir, "no", "such", "dir"), "read", name}, &stdout, &stderr); code != 2 {
		t.Errorf("--trace into a missing directory: exit %d, want 2", code)
	}
}
