package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/teardown/teardown/flows"
)

// The damage that is spread over a whole capture, timestamps stepping
// back and TCP headers cut by snaplen, is summed up in one warning per
// input, naming the first frame concerned and counting the rest.

// clockWarning is the warning about timestamps that step back.
func clockWarning(file string, frame uint64, back string, prev uint64, n string) string {
	return fmt.Sprintf("%s: frame %d: timestamp %s s earlier than frame %d's; %s by more than 1 ms (clock stepped back, or interfaces with different clocks): durations across them are unreliable",
		file, frame, back, prev, n)
}

// cutWarning is the warning about TCP headers cut by snaplen.
func cutWarning(file string, frame uint64, have, need, n string) string {
	return fmt.Sprintf("%s: frame %d: TCP header cut by snaplen (%s of %s bytes captured); %s skipped (capture with a larger -s)",
		file, frame, have, need, n)
}

// stepPcap writes a microsecond pcap of one TCP frame per timestamp (in
// microseconds), and returns the segments the reader must deliver.
func stepPcap(t *testing.T, usecs []int64) ([]byte, []flows.Segment) {
	t.Helper()
	s := basic()
	frame := ethFrame(t, s)
	n := uint32(len(frame))
	p := newPcap(binary.LittleEndian, pcapMicro, 65535, 1)
	var want []flows.Segment
	for i, us := range usecs {
		p.rec(uint32(us/1e6), uint32(us%1e6), n, n, frame)
		want = append(want, s.want(uint64(i+1), us*1e3))
	}
	return p.b, want
}

// TestClockStepsBack reads a pcap whose clock steps back by 2.5 s, then
// by 0.1 s: one warning names the first step and counts both; steps of a
// few microseconds, and of exactly the threshold, are only counted in
// OutOfOrder. Every record is delivered, in file order.
func TestClockStepsBack(t *testing.T) {
	const s = 1e6
	data, want := stepPcap(t, []int64{
		100 * s, 100*s + 10, 100*s + 1, // 9 µs back, as tcpdump -i any writes
		102*s + 500_000, 100 * s, // 2.5 s back: frame 5
		100*s + 500_000, 100*s + 400_000, // 0.1 s back: frame 7
		100*s + 399_000, // exactly 1 ms back
		101 * s,
	})
	info := readCompare(t, data, want, clockWarning("stdin", 5, "2.500000", 4, "2 records step back"))
	if info.OutOfOrder != 4 {
		t.Errorf("OutOfOrder = %d, want 4 (every step back)", info.OutOfOrder)
	}
}

// TestClockSmallSteps: records a few microseconds out of order, as
// tcpdump -i any writes them, and a step of exactly 1 ms, are counted in
// OutOfOrder without a warning; 1 ms and 1 ns is a warning.
func TestClockSmallSteps(t *testing.T) {
	data, want := stepPcap(t, []int64{10e6, 10e6 + 9, 10e6, 10e6 + 50, 10e6 + 3, 10e6 + 1003, 10e6 + 3, 11e6})
	info := readCompare(t, data, want)
	if info.OutOfOrder != 3 {
		t.Errorf("OutOfOrder = %d, want 3", info.OutOfOrder)
	}

	s := basic()
	frame := ethFrame(t, s)
	n := uint32(len(frame))
	p := newPcap(binary.LittleEndian, pcapNano, 65535, 1)
	p.rec(5, 2_000_001, n, n, frame).rec(5, 1_000_000, n, n, frame) // 1 ms and 1 ns back
	readCompare(t, p.b, []flows.Segment{s.want(1, 5_002_000_001), s.want(2, 5_001_000_000)},
		clockWarning("stdin", 2, "0.001000", 1, "1 record steps back"))
}

// TestClockStepsBackMerged: in a merge, each input has its own warning,
// which names frames of the merged stream and counts only the records of
// its input.
func TestClockStepsBackMerged(t *testing.T) {
	dir := t.TempDir()
	s := basic()
	at := func(sec int64) rec { return rec{ts: base + sec*1e9, data: ethFrame(t, s)} }
	pa, pb := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	if err := os.WriteFile(pa, pcapFile(t, 1, true, at(10), at(20), at(30), at(12)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, pcapFile(t, 1, true, at(15), at(5), at(25), at(22)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Frames: a10 1, b15 2, b5 3, a20 4, b25 5, b22 6 (b ends), a30 7, a12 8.
	got, info := readAll(t, []string{pa, pb}, Options{})
	want := []string{
		clockWarning(pb, 3, "10.000000", 2, "2 records step back"),
		clockWarning(pa, 8, "18.000000", 7, "1 record steps back"),
	}
	if diff := cmp.Diff(want, info.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	var secs []int64
	for _, g := range got {
		secs = append(secs, (g.Time-base)/1e9)
	}
	if diff := cmp.Diff([]int64{10, 15, 5, 20, 25, 22, 30, 12}, secs); diff != "" {
		t.Errorf("delivery order (-want +got):\n%s", diff)
	}
}

// TestClockStepsBackSoFar: Info before the end of the input sums up the
// records read so far, and the warning is in the final Info once.
func TestClockStepsBackSoFar(t *testing.T) {
	data, _ := stepPcap(t, []int64{10e6, 20e6, 30e6, 5e6, 40e6, 6e6, 50e6})
	r, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, want := range [][]string{nil, nil, nil, {clockWarning("stdin", 4, "25.000000", 3, "1 record steps back")}} {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, r.Info().Warnings, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("after %d records: warnings (-want +got):\n%s", i+1, diff)
		}
	}
	if _, err := drain(r); err == nil {
		t.Fatal("drain: no error")
	}
	want := []string{clockWarning("stdin", 4, "25.000000", 3, "2 records step back")}
	if diff := cmp.Diff(want, r.Info().Warnings); diff != "" {
		t.Errorf("at the end: warnings (-want +got):\n%s", diff)
	}
}

// TestSnaplenCutTCPHeader reads a pcap whose records were cut by snaplen,
// some inside the TCP header and some after it: one warning names the
// first cut inside the header, its captured and needed lengths, and counts
// them; the records cut after the header are whole segments.
func TestSnaplenCutTCPHeader(t *testing.T) {
	s := basic() // 14 + 20 + 32 bytes of headers, 37 of payload
	frame := ethFrame(t, s)
	n := uint32(len(frame))
	p := newPcap(binary.LittleEndian, pcapMicro, 65535, 1)
	var want []flows.Segment
	for i, caplen := range []uint32{n, 66, 54, n, 60, 80, 40, 46, 67} {
		p.rec(uint32(i+1), 0, caplen, n, frame[:caplen])
		if caplen >= 66 {
			want = append(want, s.want(uint64(i+1), int64(i+1)*1e9))
		}
	}
	info := readCompare(t, p.b, want, cutWarning("stdin", 3, "54", "66", "4 such records"))
	if info.Malformed != 4 {
		t.Errorf("Malformed = %d, want 4", info.Malformed)
	}

	// Too little of the header to read its length: the warning says so.
	v6 := basic()
	v6.src, v6.dst = cli6, srv6
	f6 := ethFrame(t, v6)
	p = newPcap(binary.LittleEndian, pcapMicro, 60, 1)
	for i := range 30 { // more than maxWarnings: still one warning
		p.rec(uint32(i+1), 0, 60, uint32(len(f6)), f6[:60])
	}
	readCompare(t, p.b, nil, cutWarning("stdin", 1, "60", "at least 74", "30 such records"))

	// A record whose TCP data offset is below 20 bytes is malformed, cut
	// or not: no warning.
	bad := bytes.Clone(frame)
	bad[14+20+12] = 0x40
	p = newPcap(binary.LittleEndian, pcapMicro, 65535, 1)
	p.rec(1, 0, n, n, bad).rec(2, 0, 50, n, bad[:50])
	if info := readCompare(t, p.b, nil); info.Malformed != 2 {
		t.Errorf("Malformed = %d, want 2", info.Malformed)
	}
}

// TestCutLength checks the lengths the snaplen warning gives.
func TestCutLength(t *testing.T) {
	s := basic()
	frame := ethFrame(t, s)
	for _, tt := range []struct {
		caplen, need int
		exact        bool
	}{
		{34, 54, false}, {46, 54, false}, {47, 66, true}, {54, 66, true}, {65, 66, true},
	} {
		var seg flows.Segment
		if r := decode(linkEthernet, frame[:tt.caplen], len(frame), &seg); r != resCut {
			t.Errorf("%d bytes: decode = %d, want resCut", tt.caplen, r)
			continue
		}
		if need, exact := cutLength(linkEthernet, frame[:tt.caplen], len(frame), nil); need != tt.need || exact != tt.exact {
			t.Errorf("%d bytes: cutLength = %d, %v; want %d, %v", tt.caplen, need, exact, tt.need, tt.exact)
		}
	}
}
