package capture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWriterRoundTrip writes the records of real captures — Ethernet
// pcap, dumpcap's pcapng, and Linux cooked v2 (link type 276) — into pcap
// and pcapng files, reads those back, and finds every record as it was;
// tshark, where installed, reads as many frames from them. Two link
// types go into one pcapng, and a pcap refuses the second.
func TestWriterRoundTrip(t *testing.T) {
	type rec struct {
		lt   uint32
		ts   int64
		data []byte
		wire int
	}
	read := func(names ...string) []rec {
		rd, err := Open(names, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		var out []rec
		for {
			if _, err := rd.Next(); err != nil {
				return out
			}
			lt, ts, data, wire := rd.Record()
			out = append(out, rec{lt, ts, bytes.Clone(data), wire})
		}
	}
	lab := filepath.Join("..", "..", "testdata", "lab")
	tshark, _ := exec.LookPath("tshark")
	for _, tt := range []struct {
		name  string
		files []string
		ng    bool
	}{
		{"ethernet pcap", []string{filepath.Join(lab, "fin-retransmitted-ack-lost.pcap")}, false},
		{"dumpcap pcapng to pcap", []string{filepath.Join(lab, "close-wait-long.pcapng")}, false},
		{"sll2 pcap", []string{filepath.Join("testdata", "sll2-loopback.pcap")}, false},
		{"ethernet pcapng", []string{filepath.Join(lab, "fin-retransmitted-ack-lost-v6.pcap")}, true},
		{"two link types in one pcapng", []string{filepath.Join(lab, "fin-retransmitted-ack-lost.pcap"), filepath.Join("testdata", "sll2-loopback.pcap")}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := read(tt.files...)
			if len(in) == 0 {
				t.Fatal("nothing read")
			}
			out := filepath.Join(t.TempDir(), "out.pcap")
			var b bytes.Buffer
			w := NewWriter(&b, tt.ng)
			for _, r := range in {
				if err := w.Write(r.lt, r.ts, r.data, r.wire); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			back := read(out)
			if len(back) != len(in) {
				t.Fatalf("%d records back, want %d", len(back), len(in))
			}
			for i := range in {
				if a, z := in[i], back[i]; a.lt != z.lt || a.ts != z.ts || a.wire != z.wire || !bytes.Equal(a.data, z.data) {
					t.Errorf("record %d: (%d, %d, %d bytes, %d) back as (%d, %d, %d bytes, %d)", i+1, a.lt, a.ts, len(a.data), a.wire, z.lt, z.ts, len(z.data), z.wire)
				}
			}
			if tshark != "" {
				o, err := exec.Command(tshark, "-r", out, "-Y", "tcp", "-T", "fields", "-e", "frame.number").Output()
				if err != nil {
					t.Fatalf("tshark: %v", err)
				}
				if n := len(strings.Fields(string(o))); n != len(in) {
					t.Errorf("tshark reads %d TCP frames, want %d", n, len(in))
				}
			}
		})
	}

	var b bytes.Buffer
	w := NewWriter(&b, false)
	if err := w.Write(1, 1e9, []byte{1}, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(276, 2e9, []byte{1}, 1); err == nil || !strings.Contains(err.Error(), strconv.Itoa(276)) {
		t.Errorf("a second link type in a pcap: %v", err)
	}
}
