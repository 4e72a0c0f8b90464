package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
)

// TestSourceEnd: the analysis ends at the capture's last record, or at
// the later time a pcapng file says it stopped, but never past --until.
func TestSourceEnd(t *testing.T) {
	const s = int64(1e9)
	in := capture.Info{First: 100 * s, Last: 110 * s, Stopped: 130 * s}
	for _, tt := range []struct {
		name string
		src  *source
		info capture.Info
		want int64
	}{
		{"no stop recorded", &source{relHi: -1}, capture.Info{First: 100 * s, Last: 110 * s}, 110 * s},
		{"stopped after the last record", &source{relHi: -1}, in, 130 * s},
		{"--until before the stop", &source{hi: 120 * s, relHi: -1}, in, 120 * s},
		{"--until after the stop", &source{hi: 150 * s, relHi: -1}, in, 130 * s},
		{"--until 25 s from the first segment", &source{relHi: 25 * s, base: 101 * s}, in, 126 * s},
	} {
		if got := tt.src.end(tt.info); got != tt.want {
			t.Errorf("%s: end %d s, want %d s", tt.name, got/s, tt.want/s)
		}
	}
}

// TestUntilStopsReading: with --until the reading stops at the first
// record stamped untilSlack past the window's end. The report is the one
// reading the whole capture gives — every flow with its durations, the
// summary — but for the capture's counts, which leave out the records
// not read, and unread_from, which dates the first of them. The capture
// falls silent for 30 s across the window's end and the slack, so the
// last record read is before the window's end: states left open still
// run to it, the capture having gone on past it.
func TestUntilStopsReading(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 3, Conns: 300, NonTCPFraction: -1}); err != nil {
		t.Fatal(err)
	}
	k := len(pcapTimes(t, buf.Bytes())) / 3 // the first record after the silence
	data := shiftTimes(t, buf.Bytes(), func(i int) int64 {
		if i >= k {
			return 30e6
		}
		return 0
	})
	path := write(t, "c.pcap", data)
	ts := pcapTimes(t, data) // µs, the first record a TCP segment
	until := ts[k-1] - ts[0] + 10e6
	arg := fmt.Sprintf("%d.%06d", until/1e6, until%1e6)

	defer func(s int64) { untilSlack = s }(untilSlack)
	untilSlack = 1 << 62
	whole := jsonRun(t, 0, nil, "--until", arg, path)
	untilSlack = 5e9
	cut := jsonRun(t, 0, nil, "--until", arg, path)

	if got := captureField(whole, "packets"); got != float64(len(ts)) || captureField(whole, "unread_from") != nil {
		t.Errorf("without the slack: %v packets, unread_from %v; want %d, none", got, captureField(whole, "unread_from"), len(ts))
	}
	wantFrom := time.UnixMicro(ts[k]).UTC().Format("2006-01-02T15:04:05.000000000Z")
	if got := captureField(cut, "packets"); got != float64(k) || captureField(cut, "unread_from") != wantFrom {
		t.Errorf("with the slack: %v packets, unread_from %v; want %d, %s", got, captureField(cut, "unread_from"), k, wantFrom)
	}
	for _, r := range []map[string]any{whole, cut} {
		c := r["capture"].(map[string]any)
		for _, f := range []string{"packets", "tcp_packets", "last", "unread_from"} {
			delete(c, f)
		}
	}
	if d := cmp.Diff(whole, cut); d != "" {
		t.Errorf("stopping early changed the report (-whole +cut):\n%s", d)
	}
	if n := len(flowIDs(whole)); n < 50 {
		t.Errorf("only %d flows in the window", n)
	}

	at := time.UnixMicro(ts[k]).UTC().Format("15:04:05.000")
	want := "reading stopped at " + at + " UTC, past --until"
	for _, format := range []string{"text", "markdown", "html"} {
		o := teardown(t, nil, "-f", format, "--until", arg, path)
		if !strings.Contains(strings.ReplaceAll(o.stdout, "\n  ", " "), want) {
			t.Errorf("the %s report does not say %q:\n%s", format, want, o.stdout)
		}
	}
}

// TestDirectoryArgument: a directory stands for the regular files in it,
// in name order, hidden ones left out: a capture rotated into three files
// in a directory gives the flows it gives in one file.
func TestDirectoryArgument(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 5, Conns: 60, NonTCPFraction: -1}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	offs := pcapRecords(t, data)
	dir := t.TempDir()
	n := len(offs) - 1 // records
	for i, cut := range [][2]int{{0, n / 3}, {n / 3, 2 * n / 3}, {2 * n / 3, n}} {
		part := append(bytes.Clone(data[:24]), data[offs[cut[0]]:offs[cut[1]]]...)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part%d.pcap", i)), part, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".hidden"), []byte("not a capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	whole := jsonRun(t, 0, nil, write(t, "whole.pcap", data))
	got := jsonRun(t, 0, nil, dir)
	if d := cmp.Diff(flowIDs(whole), flowIDs(got)); d != "" || len(flowIDs(got)) < 60 {
		t.Errorf("flows differ from the capture in one file (-one +directory):\n%s", d)
	}
	files := captureField(got, "files").([]any)
	if len(files) != 3 || files[0] != filepath.Join(dir, "part0.pcap") || files[2] != filepath.Join(dir, "part2.pcap") {
		t.Errorf("capture.files %v, want the three parts in name order", files)
	}
	empty := t.TempDir()
	if o := teardown(t, nil, empty); o.code != 2 || !strings.Contains(o.stderr, empty+": a directory with no files in it") {
		t.Errorf("an empty directory: exit %d, stderr %q", o.code, o.stderr)
	}
}

// TestForgottenByTheFlowCap: --max-flows bounds the closed connections
// remembered for reuse too. On a capture of 300 sequential connections,
// 60 hold every lingering one but not those of the last two minutes: the
// JSON summary counts the ones forgotten early, nothing is evicted, and
// the reports say so; without the cap nothing is forgotten.
func TestForgottenByTheFlowCap(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 3, Conns: 300, Concurrency: 2, NonTCPFraction: -1}); err != nil {
		t.Fatal(err)
	}
	path := write(t, "seq.pcap", buf.Bytes())
	s := jsonRun(t, 0, nil, "--max-flows", "60", path)["summary"].(map[string]any)
	if n, _ := s["forgotten"].(float64); n < 10 || s["evicted"] != nil {
		t.Errorf("--max-flows 60: forgotten %v, evicted %v; want some, none", s["forgotten"], s["evicted"])
	}
	if s := jsonRun(t, 0, nil, path)["summary"].(map[string]any); s["forgotten"] != nil {
		t.Errorf("no cap: forgotten %v, want none", s["forgotten"])
	}
	o := teardown(t, nil, "--max-flows", "60", path)
	if !strings.Contains(strings.ReplaceAll(o.stdout, "\n  ", " "), "forgotten early by the flow cap (--max-flows)") {
		t.Errorf("the text report does not say closed connections were forgotten:\n%s", o.stdout)
	}
}
