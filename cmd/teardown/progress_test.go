package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	p := &progress{
		total:   4 << 30,
		read:    func() int64 { return 1 << 30 },
		packets: func() uint64 { return 20_000_000 },
	}
	got := p.line(10 * time.Second)
	for _, want := range []string{"██████░", " 25% ", "1.0 GB of 4.0 GB", "2.0 M packets/s", "ETA 0:30"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	// Reading past the stat'ed size (a growing file) never shows over 100%.
	p.read = func() int64 { return 5 << 30 }
	if got := p.line(time.Second); !strings.Contains(got, "100%") {
		t.Errorf("line %q: want 100%%", got)
	}
}

// No bar unless standard error is a terminal, and never under --quiet.
func TestProgressOff(t *testing.T) {
	var buf bytes.Buffer
	if p := startProgress(&buf, false, []string{"x.pcap"}, nil, nil); p != nil {
		t.Error("progress on a non-terminal writer")
	}
	if p := startProgress(&buf, true, []string{"x.pcap"}, nil, nil); p != nil {
		t.Error("progress under --quiet")
	}
	var nilp *progress
	nilp.Stop() // a nil bar stops without effect
}
