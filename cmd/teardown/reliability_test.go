package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
)

// The damaged-capture tests run the command end to end on captures broken
// the ways incident captures are: each must exit as documented, say on
// one line of standard error what it could not read (file and frame), and
// still report every flow before the damage, as the undamaged part alone
// would give it.

// outcome is what one run of the command did.
type outcome struct {
	code           int
	stdout, stderr string
}

func teardown(t *testing.T, stdin io.Reader, args ...string) outcome {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := run(args, stdin, &out, &errb)
	return outcome{code, out.String(), errb.String()}
}

// lines splits standard error into its lines.
func (o outcome) lines() []string {
	if o.stderr == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(o.stderr, "\n"), "\n")
}

// report decodes the JSON report on standard output.
func (o outcome) report(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(o.stdout), &v); err != nil {
		t.Fatalf("the report is not JSON (%v); exit %d, stderr:\n%s", err, o.code, o.stderr)
	}
	return v
}

// jsonRun runs `teardown -f json FILE...` and checks that it exits with
// code and writes exactly the stderr lines matching want, in order.
func jsonRun(t *testing.T, code int, want []string, files ...string) map[string]any {
	t.Helper()
	o := teardown(t, nil, append([]string{"-f", "json"}, files...)...)
	checkRun(t, o, code, want)
	return o.report(t)
}

func checkRun(t *testing.T, o outcome, code int, want []string) {
	t.Helper()
	if o.code != code {
		t.Fatalf("exit %d, want %d; stderr:\n%s", o.code, code, o.stderr)
	}
	got := o.lines()
	if len(got) != len(want) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(got), len(want), o.stderr)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(got[i]) {
			t.Fatalf("stderr line %d:\n%s\ndoes not match %s", i+1, got[i], re)
		}
	}
}

// sameAnalysis compares the flows and the summary of two reports.
func sameAnalysis(t *testing.T, want, got map[string]any) {
	t.Helper()
	for _, k := range []string{"flows", "summary"} {
		if d := cmp.Diff(want[k], got[k]); d != "" {
			t.Fatalf("%s differ from the undamaged capture's (-want +got):\n%s", k, d)
		}
	}
}

// captureField returns report["capture"][key].
func captureField(r map[string]any, key string) any {
	return r["capture"].(map[string]any)[key]
}

func skipped(r map[string]any, key string) float64 {
	return captureField(r, "skipped").(map[string]any)[key].(float64)
}

func write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func lab(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Lab(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var le = binary.LittleEndian

// pcapRecords returns the offsets of the records of a little-endian pcap
// file: record i spans offs[i]..offs[i+1].
func pcapRecords(t *testing.T, b []byte) []int {
	t.Helper()
	if le.Uint32(b) != 0xa1b2c3d4 && le.Uint32(b) != 0xa1b23c4d {
		t.Fatal("not a little-endian pcap")
	}
	offs := []int{24}
	for off := 24; off < len(b); {
		off += 16 + int(le.Uint32(b[off+8:]))
		offs = append(offs, off)
	}
	if offs[len(offs)-1] != len(b) {
		t.Fatal("pcap does not end at a record boundary")
	}
	return offs
}

// ngBlocks returns the offsets and types of the blocks of a
// little-endian pcapng file.
func ngBlocks(t *testing.T, b []byte) (offs []int, types []uint32) {
	t.Helper()
	for off := 0; off < len(b); off += int(le.Uint32(b[off+4:])) {
		offs = append(offs, off)
		types = append(types, le.Uint32(b[off:]))
	}
	return append(offs, len(b)), types
}

// pcapRecord builds a pcap record header and data (microsecond
// timestamps).
func pcapRecord(sec, usec uint32, data []byte, wire int) []byte {
	r := le.AppendUint32(nil, sec)
	r = le.AppendUint32(r, usec)
	r = le.AppendUint32(r, uint32(len(data)))
	r = le.AppendUint32(r, uint32(wire))
	return append(r, data...)
}

// arp is a 42-byte Ethernet ARP request: a frame that is not TCP.
var arp = append(append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
	0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 51, 100, 1}, make([]byte, 6)...), 198, 51, 100, 2)

// TestTruncatedLastRecord cuts a pcap and a pcapng capture at every byte
// of their last packet record: a warning names the file and the frame,
// the exit status is 0, and the report is the one of the records before.
func TestTruncatedLastRecord(t *testing.T) {
	for _, name := range []string{"client-active-close.pcap", "fin-never-acked-orphan-retries-3.pcapng"} {
		t.Run(name, func(t *testing.T) {
			data := lab(t, name)
			var start, frames int
			if strings.HasSuffix(name, ".pcapng") {
				offs, types := ngBlocks(t, data)
				for i, typ := range types {
					if typ == 6 {
						start, frames = offs[i], frames+1
					}
				}
			} else {
				offs := pcapRecords(t, data)
				start, frames = offs[len(offs)-2], len(offs)-1
			}
			want := jsonRun(t, 0, nil, write(t, "whole", data[:start]))
			warn := fmt.Sprintf(`^teardown: warning: .*/cut: frame %d: truncated (record|record header|block) \(\d+ bytes of \d+\); everything before it was read$`, frames)
			for n := start + 1; n < len(data); n++ {
				got := jsonRun(t, 0, []string{warn}, write(t, "cut", data[:n]))
				sameAnalysis(t, want, got)
				if captureField(got, "truncated") != true {
					t.Fatalf("cut at %d: capture.truncated is not set", n)
				}
			}
		})
	}
}

// TestGarbageAppended appends bytes that are not records: one warning
// names the file and the frame where they start, and the analysis is the
// undamaged capture's.
func TestGarbageAppended(t *testing.T) {
	text := []byte("tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n")
	for _, name := range []string{"half-close-rst.pcap", "close-wait-long.pcapng"} {
		data := lab(t, name)
		want := jsonRun(t, 0, nil, write(t, "whole", data))
		frame := int(want["capture"].(map[string]any)["packets"].(float64)) + 1
		for what, junk := range map[string][]byte{"0xff": bytes.Repeat([]byte{0xff}, 100), "text": text, "three bytes": {1, 2, 3}} {
			t.Run(name+"/"+what, func(t *testing.T) {
				warn := fmt.Sprintf(`^teardown: warning: .*/junk: frame %d: .*everything before it was read$`, frame)
				got := jsonRun(t, 0, []string{warn}, write(t, "junk", append(bytes.Clone(data), junk...)))
				sameAnalysis(t, want, got)
			})
		}
	}
}

// TestPcapngBadBlockLength damages the length of a packet block in the
// middle of a pcapng capture: the reader skips it with a warning and reads
// on, and the report is the one of the capture without that block.
func TestPcapngBadBlockLength(t *testing.T) {
	data := lab(t, "close-wait-long.pcapng")
	offs, types := ngBlocks(t, data)
	var epbs []int
	for i, typ := range types {
		if typ == 6 {
			epbs = append(epbs, i)
		}
	}
	k := len(epbs) / 2
	b := epbs[k]
	without := append(bytes.Clone(data[:offs[b]]), data[offs[b+1]:]...)
	want := jsonRun(t, 0, nil, write(t, "without", without))
	for _, length := range []uint32{0xfffffff0, 13, 8, uint32(offs[b+1]-offs[b]) + 64} {
		t.Run(fmt.Sprint(length), func(t *testing.T) {
			bad := bytes.Clone(data)
			le.PutUint32(bad[offs[b]+4:], length)
			warn := fmt.Sprintf(`^teardown: warning: .*/bad: frame %d: bad block \(type 0x6, length %d\); skipped %d bytes to the next block$`,
				k+1, length, offs[b+1]-offs[b])
			got := jsonRun(t, 0, []string{warn}, write(t, "bad", bad))
			sameAnalysis(t, want, got)
		})
	}
}

// timeBefore returns the timestamp (seconds, microseconds) of the record
// before record k of a little-endian microsecond pcap file: a record
// inserted there with it keeps the file in time order.
func timeBefore(t *testing.T, data []byte, k int) (sec, usec uint32) {
	t.Helper()
	r := data[pcapRecords(t, data)[k-1]:]
	return le.Uint32(r), le.Uint32(r[4:])
}

// insertRecord inserts a record after record k of a pcap file whose
// header says snaplen.
func insertRecord(t *testing.T, data []byte, k int, snaplen uint32, rec []byte) []byte {
	t.Helper()
	offs := pcapRecords(t, data)
	out := bytes.Clone(data[:offs[k]])
	le.PutUint32(out[16:], snaplen)
	out = append(out, rec...)
	return append(out, data[offs[k]:]...)
}

// TestOversizeRecords inserts a record longer than the snapshot length,
// and one longer than 256 KiB, in the middle of a capture: each is
// skipped with a warning, counts as one malformed frame, and the rest is
// analysed as if a non-TCP frame stood there.
func TestOversizeRecords(t *testing.T) {
	data := lab(t, "fin-retransmitted.pcap")
	k := (len(pcapRecords(t, data)) - 1) / 2
	sec, usec := timeBefore(t, data, k)
	control := jsonRun(t, 0, nil, write(t, "control", insertRecord(t, data, k, 2000, pcapRecord(sec, usec, arp, len(arp)))))
	for _, tt := range []struct {
		name string
		size int
		warn string
	}{
		{"over snaplen", 2001, `record of 2001 bytes exceeds the snapshot length 2000; skipped`},
		{"over 256 KiB", 300000, `record of 300000 bytes is larger than 262144; skipped`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			big := make([]byte, tt.size)
			copy(big, arp)
			path := write(t, "big", insertRecord(t, data, k, 2000, pcapRecord(sec, usec, big, tt.size)))
			got := jsonRun(t, 0, []string{fmt.Sprintf(`^teardown: warning: %s: frame %d: %s$`, regexp.QuoteMeta(path), k+1, tt.warn)}, path)
			sameAnalysis(t, control, got)
			if skipped(got, "malformed") != 1 || skipped(got, "non_tcp") != 0 {
				t.Errorf("skipped %v, want the one malformed record", captureField(got, "skipped"))
			}
		})
	}
}

// cutRecords rewrites a little-endian pcap file as if it had been
// captured with the given snaplen.
func cutRecords(t *testing.T, data []byte, snaplen int) []byte {
	t.Helper()
	offs := pcapRecords(t, data)
	out := bytes.Clone(data[:24])
	le.PutUint32(out[16:], uint32(snaplen))
	for i := 0; i+1 < len(offs); i++ {
		r := data[offs[i]:offs[i+1]]
		n := min(len(r)-16, snaplen)
		out = append(out, r[:12]...)
		out = le.AppendUint32(out[:len(out)-4], uint32(n))
		out = append(out, r[12:16]...)
		out = append(out, r[16:16+n]...)
	}
	return out
}

// TestSnaplen96 analyses Ethernet lab captures as `tcpdump -s 96` would
// have written them: every header is there, the payload is not, and the
// analysis is the same, payload lengths coming from the IP headers.
func TestSnaplen96(t *testing.T) {
	for _, name := range []string{"client-active-close.pcap", "half-close-shutdown.pcap", "fin-zero-window.pcap", "tw-reuse-bind-v6.pcap", "rst-unread-data.pcap"} {
		t.Run(name, func(t *testing.T) {
			data := lab(t, name)
			want := jsonRun(t, 0, nil, write(t, "whole", data))
			got := jsonRun(t, 0, nil, write(t, "s96", cutRecords(t, data, 96)))
			sameAnalysis(t, want, got)
			if skipped(got, "malformed") != 0 {
				t.Errorf("%v malformed", skipped(got, "malformed"))
			}
		})
	}
}

// TestSnaplenCutTCPHeader inserts a copy of a TCP frame cut by snaplen
// inside its TCP header: it is counted as malformed, a warning names its
// frame, the bytes captured and those the TCP header needs, and the
// analysis is the one with a non-TCP frame in its place.
func TestSnaplenCutTCPHeader(t *testing.T) {
	data := lab(t, "client-active-close.pcap")
	offs := pcapRecords(t, data)
	k := len(offs) / 2
	frame := data[offs[k]+16 : offs[k+1]]
	ip := 14 + int(frame[14]&0x0f)*4
	hdr := ip + int(frame[ip+12]>>4)*4 // the end of the TCP header
	sec, usec := timeBefore(t, data, k)
	control := jsonRun(t, 0, nil, write(t, "control", insertRecord(t, data, k, 200, pcapRecord(sec, usec, arp, len(arp)))))
	for _, tt := range []struct{ n, need int }{{ip + 1, -(ip + 20)}, {ip + 19, hdr}, {ip + 21, hdr}, {hdr - 1, hdr}} {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			need := fmt.Sprint(tt.need)
			if tt.need < 0 { // too little captured to read the header's length
				need = fmt.Sprintf("at least %d", -tt.need)
			}
			path := write(t, "cut", insertRecord(t, data, k, 200, pcapRecord(sec, usec, frame[:tt.n], len(frame))))
			warn := fmt.Sprintf(`^teardown: warning: %s: frame %d: TCP header cut by snaplen \(%d of %s bytes captured\); 1 such record skipped \(capture with a larger -s\)$`,
				regexp.QuoteMeta(path), k+1, tt.n, need)
			got := jsonRun(t, 0, []string{warn}, path)
			sameAnalysis(t, control, got)
			if skipped(got, "malformed") != 1 {
				t.Errorf("skipped %v, want one malformed", captureField(got, "skipped"))
			}
		})
	}
}

// TestSnaplenCutSome rewrites a capture as if some of its frames had been
// captured with a snaplen that ends inside their TCP header and the others
// with one that ends after it: one warning names the first frame cut in
// its header and counts them, and the other frames are analysed as whole
// segments, as if the damaged ones were not TCP.
func TestSnaplenCutSome(t *testing.T) {
	for _, name := range []string{"client-active-close.pcap", "tw-reuse-bind-v6.pcap"} {
		t.Run(name, func(t *testing.T) {
			data := lab(t, name)
			offs := pcapRecords(t, data)
			var cut, control []byte
			cut, control = bytes.Clone(data[:24]), bytes.Clone(data[:24])
			var first, n int
			for i := 0; i+1 < len(offs); i++ {
				r := data[offs[i]:offs[i+1]]
				hdr := tcpHeaderEnd(r[16:])
				if i%3 == 2 {
					caplen := hdr - 4 // inside the TCP header
					cut = append(cut, pcapRecord(le.Uint32(r), le.Uint32(r[4:]), r[16:16+caplen], int(le.Uint32(r[12:])))...)
					control = append(control, pcapRecord(le.Uint32(r), le.Uint32(r[4:]), arp, len(arp))...)
					if n++; n == 1 {
						first = i + 1
					}
					continue
				}
				caplen := min(hdr+2, len(r)-16) // after the TCP header
				cut = append(cut, pcapRecord(le.Uint32(r), le.Uint32(r[4:]), r[16:16+caplen], int(le.Uint32(r[12:])))...)
				control = append(control, r...)
			}
			want := jsonRun(t, 0, nil, write(t, "control", control))
			path := write(t, "cut", cut)
			r := data[offs[first-1]:]
			hdr := tcpHeaderEnd(r[16:])
			warn := fmt.Sprintf(`^teardown: warning: %s: frame %d: TCP header cut by snaplen \(%d of %d bytes captured\); %d such records skipped \(capture with a larger -s\)$`,
				regexp.QuoteMeta(path), first, hdr-4, hdr, n)
			got := jsonRun(t, 0, []string{warn}, path)
			sameAnalysis(t, want, got)
			if skipped(got, "malformed") != float64(n) || len(got["flows"].([]any)) == 0 {
				t.Errorf("skipped %v, %d flows; want %d malformed, the flows", captureField(got, "skipped"), len(got["flows"].([]any)), n)
			}
		})
	}
}

// tcpHeaderEnd returns where the TCP header of an Ethernet frame without
// VLAN tags, carrying IPv4 or IPv6 without extension headers, ends.
func tcpHeaderEnd(frame []byte) int {
	ip := 14 + 40
	if frame[14]>>4 == 4 {
		ip = 14 + int(frame[14]&0x0f)*4
	}
	return ip + int(frame[ip+12]>>4)*4
}

// ngFile builds a little-endian pcapng file with one Ethernet interface
// per clock offset (nanosecond timestamps) and one enhanced packet block
// per record, on the interface given by iface(i).
func ngFile(t *testing.T, recs [][]byte, ts []int64, offsets []int64, iface func(i int) int) []byte {
	t.Helper()
	block := func(typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		b := le.AppendUint32(nil, typ)
		b = le.AppendUint32(b, uint32(12+len(body)))
		b = append(b, body...)
		return le.AppendUint32(b, uint32(12+len(body)))
	}
	shb := le.AppendUint32(nil, 0x1a2b3c4d)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	out := block(0x0a0d0d0a, shb)
	for range offsets {
		idb := le.AppendUint16(nil, 1)
		idb = le.AppendUint16(idb, 0)
		idb = le.AppendUint32(idb, 0)
		idb = append(idb, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0) // if_tsresol 9, opt_endofopt
		out = append(out, block(1, idb)...)
	}
	for i, r := range recs {
		n := iface(i)
		at := uint64(ts[i] + offsets[n])
		epb := le.AppendUint32(nil, uint32(n))
		epb = le.AppendUint32(epb, uint32(at>>32))
		epb = le.AppendUint32(epb, uint32(at))
		epb = le.AppendUint32(epb, uint32(len(r)))
		epb = le.AppendUint32(epb, uint32(len(r)))
		out = append(out, block(6, append(epb, r...))...)
	}
	return out
}

// frames returns the frames and timestamps (ns) of a little-endian
// microsecond pcap file.
func frames(t *testing.T, data []byte) ([][]byte, []int64) {
	t.Helper()
	offs := pcapRecords(t, data)
	var recs [][]byte
	var ts []int64
	for i := 0; i+1 < len(offs); i++ {
		r := data[offs[i]:offs[i+1]]
		recs = append(recs, r[16:])
		ts = append(ts, int64(le.Uint32(r))*1e9+int64(le.Uint32(r[4:]))*1e3)
	}
	return recs, ts
}

// TestTimestampsJumpBack puts each direction of a capture on its own
// pcapng interface, one of whose clocks runs behind: timestamps go back
// and forth in file order. Every flow is still reported, no duration is
// negative, and one warning names the first frame that steps back and
// counts them.
func TestTimestampsJumpBack(t *testing.T) {
	data := lab(t, "server-active-close.pcap")
	recs, ts := frames(t, data)
	want := jsonRun(t, 0, nil, write(t, "whole", data))
	// The direction of a frame: its Ethernet source address.
	src0 := string(recs[0][6:12])
	dir := func(i int) int {
		if string(recs[i][6:12]) == src0 {
			return 0
		}
		return 1
	}
	for _, skew := range []int64{-2e9, -90e9} {
		t.Run(fmt.Sprint(skew/1e9), func(t *testing.T) {
			offsets := []int64{0, skew}
			path := write(t, "skew", ngFile(t, recs, ts, offsets, dir))
			// The records that step back by more than 1 ms, in file order.
			var first, n, ooo int
			var back int64
			for i := 1; i < len(recs); i++ {
				prev, at := ts[i-1]+offsets[dir(i-1)], ts[i]+offsets[dir(i)]
				if at < prev {
					ooo++
				}
				if prev-at > 1e6 {
					if n++; n == 1 {
						first, back = i+1, prev-at
					}
				}
			}
			if n < 2 {
				t.Fatalf("the fixture steps back %d times", n)
			}
			warn := fmt.Sprintf(`^teardown: warning: %s: frame %d: timestamp %s s earlier than frame %d's; %d records step back by more than 1 ms \(clock stepped back, or interfaces with different clocks\): durations across them are unreliable$`,
				regexp.QuoteMeta(path), first, regexp.QuoteMeta(fmt.Sprintf("%.6f", float64(back)/1e9)), first-1, n)
			got := jsonRun(t, 0, []string{warn}, path)
			if captureField(got, "out_of_order") != float64(ooo) {
				t.Errorf("capture.out_of_order %v, want %d", captureField(got, "out_of_order"), ooo)
			}
			wf, gf := want["flows"].([]any), got["flows"].([]any)
			if len(gf) != len(wf) {
				t.Fatalf("%d flows, want %d", len(gf), len(wf))
			}
			for _, f := range gf {
				for _, role := range []string{"client", "server"} {
					for st, d := range f.(map[string]any)["sides"].(map[string]any)[role].(map[string]any)["durations"].(map[string]any) {
						if d.(float64) < 0 {
							t.Errorf("flow %v: %s %s lasted %v s", f.(map[string]any)["id"], role, st, d)
						}
					}
				}
			}
		})
	}
}

// TestConcatenatedPcaps reads two pcap files concatenated by hand (cat
// a.pcap b.pcap): a warning names the frame where the second file's
// header sits, and both files' flows are reported as if their records
// were in one file.
func TestConcatenatedPcaps(t *testing.T) {
	a, b := lab(t, "client-active-close.pcap"), lab(t, "server-active-close.pcap")
	one := append(bytes.Clone(a), b[24:]...)
	want := jsonRun(t, 0, nil, write(t, "one", one))
	n := len(pcapRecords(t, a)) - 1
	path := write(t, "cat", append(bytes.Clone(a), b...))
	got := jsonRun(t, 0, []string{fmt.Sprintf(`^teardown: warning: %s: frame %d: .*pcap file header`, regexp.QuoteMeta(path), n+1)}, path)
	sameAnalysis(t, want, got)
	if len(got["flows"].([]any)) != 2 {
		t.Errorf("%d flows, want both files' one each", len(got["flows"].([]any)))
	}
}

// TestZeroFilledTail reads captures whose end was never written (a crash
// or a full disk left the file's last blocks as zeros): a warning names
// the frame where the zeros start, and the report is the one of the
// records before.
func TestZeroFilledTail(t *testing.T) {
	for _, name := range []string{"half-close-shutdown.pcap", "close-wait-long.pcapng"} {
		t.Run(name, func(t *testing.T) {
			data := lab(t, name)
			want := jsonRun(t, 0, nil, write(t, "whole", data))
			frame := int(captureField(want, "packets").(float64)) + 1
			path := write(t, "zeros", append(bytes.Clone(data), make([]byte, 1<<20)...))
			got := jsonRun(t, 0, []string{fmt.Sprintf(`^teardown: warning: %s: frame %d: .*everything before it was read$`, regexp.QuoteMeta(path), frame)}, path)
			sameAnalysis(t, want, got)
			for _, k := range []string{"packets", "last"} {
				if captureField(got, k) != captureField(want, k) {
					t.Errorf("capture.%s %v, want %v", k, captureField(got, k), captureField(want, k))
				}
			}
		})
	}
}

// TestEmptyAndHugeFiles: an empty file and a 4 GiB file of zeros (sparse)
// are one-line errors naming the file, exit status 2, with no report.
func TestEmptyAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	empty, huge := filepath.Join(dir, "empty.pcap"), filepath.Join(dir, "huge.pcap")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4 << 30); err != nil {
		t.Skipf("no sparse 4 GiB file here: %v", err)
	}
	f.Close()
	for path, msg := range map[string]string{empty: "empty file", huge: `not a pcap or pcapng file \(it starts with 00 00 00 00\)`} {
		o := teardown(t, nil, path)
		checkRun(t, o, exitError, []string{"^teardown: error: " + regexp.QuoteMeta(path) + ": " + msg + "$"})
		if o.stdout != "" {
			t.Errorf("a report was written for %s", path)
		}
	}
}

// failAfter yields its data, then a read error.
type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestReadErrorMidCapture: standard input fails in the middle of a
// record. The command says where on one line, exits 2, and still writes
// the report of what it read.
func TestReadErrorMidCapture(t *testing.T) {
	data := lab(t, "tw-reuse-bind.pcap")
	offs := pcapRecords(t, data)
	k := len(offs) / 2
	want := jsonRun(t, 0, nil, write(t, "head", data[:offs[k]]))
	o := teardown(t, &failAfter{bytes.NewReader(data[:offs[k]+20]), syscall.EIO}, "-f", "json", "-")
	checkRun(t, o, exitError, []string{fmt.Sprintf(`^teardown: error: stdin: frame %d: input/output error$`, k+1)})
	got := o.report(t)
	if wf, gf := len(want["flows"].([]any)), len(got["flows"].([]any)); gf != wf || gf == 0 {
		t.Errorf("%d flows reported, %d before the error", gf, wf)
	}
}

// TestSynFloodEvictions runs a SYN flood past --max-flows through the
// command: every SYN-only flow is still reported, those pushed out early
// are counted in the summary, and the text report says how many.
func TestSynFloodEvictions(t *testing.T) {
	var buf bytes.Buffer
	const flood, maxFlows = 3000, 100
	if _, err := synth.Generate(&buf, synth.Config{Seed: 1, Mode: synth.SynFlood, Flood: flood}); err != nil {
		t.Fatal(err)
	}
	path := write(t, "flood.pcap", buf.Bytes())
	r := jsonRun(t, 0, nil, "--max-flows", fmt.Sprint(maxFlows), path)
	if n := len(r["flows"].([]any)); n != flood {
		t.Errorf("%d flows, want %d", n, flood)
	}
	if ev := r["summary"].(map[string]any)["evicted"]; ev != float64(flood-maxFlows) {
		t.Errorf("summary.evicted %v, want %d", ev, flood-maxFlows)
	}
	o := teardown(t, nil, "--max-flows", fmt.Sprint(maxFlows), path)
	checkRun(t, o, 0, nil)
	if !strings.Contains(o.stdout, thousands(flood-maxFlows)+" flows were evicted") {
		t.Errorf("the text report does not say %d flows were evicted:\n%s", flood-maxFlows, o.stdout)
	}
}

// thousands renders n with comma separators, as the text report does.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestBrokenSysctlFile: a host settings file that is not `sysctl -a`
// output is a one-line error naming the file and line; settings the
// kernel would take but no sane host has (a negative retry count) are
// analysed, not a crash.
func TestBrokenSysctlFile(t *testing.T) {
	capture := filepath.Join(testenv.Lab(t), "fin-never-acked-orphan-retries-1.pcap")
	bad := write(t, "bad.sysctl", []byte("net.ipv4.tcp_fin_timeout = 60\nthis is not a setting\n"))
	o := teardown(t, nil, "--sysctl", bad, capture)
	checkRun(t, o, exitError, []string{`^teardown: error: ` + regexp.QuoteMeta(bad) + `:2: `})
	missing := filepath.Join(t.TempDir(), "missing.sysctl")
	o = teardown(t, nil, "--sysctl", missing, capture)
	checkRun(t, o, exitError, []string{`^teardown: error: .*` + regexp.QuoteMeta(missing)})
	for _, v := range []string{"-2", "-2147483648", "2147483647"} {
		odd := write(t, "odd.sysctl", []byte("net.ipv4.tcp_orphan_retries = "+v+"\nnet.ipv4.tcp_retries2 = "+v+"\n"))
		o = teardown(t, nil, "-f", "json", "--sysctl", odd, capture)
		checkRun(t, o, 0, nil)
		if n := len(o.report(t)["flows"].([]any)); n == 0 {
			t.Errorf("tcp_orphan_retries = %s: no flows reported", v)
		}
	}
}

// shiftTimes returns a copy of a little-endian microsecond pcap file with
// the timestamp of record i moved by by(i) microseconds.
func shiftTimes(t *testing.T, data []byte, by func(i int) int64) []byte {
	t.Helper()
	if le.Uint32(data) != 0xa1b2c3d4 {
		t.Fatal("not a little-endian microsecond pcap")
	}
	out := bytes.Clone(data)
	offs := pcapRecords(t, data)
	for i := 0; i+1 < len(offs); i++ {
		r := out[offs[i]:]
		us := int64(le.Uint32(r))*1e6 + int64(le.Uint32(r[4:])) + by(i)
		le.PutUint32(r, uint32(us/1e6))
		le.PutUint32(r[4:], uint32(us%1e6))
	}
	return out
}

// pcapTimes returns the timestamps of a little-endian microsecond pcap
// file, in microseconds.
func pcapTimes(t *testing.T, data []byte) []int64 {
	t.Helper()
	offs := pcapRecords(t, data)
	var ts []int64
	for i := 0; i+1 < len(offs); i++ {
		r := data[offs[i]:]
		ts = append(ts, int64(le.Uint32(r))*1e6+int64(le.Uint32(r[4:])))
	}
	return ts
}

// flowIDs lists the flows of a report by id, endpoints and frames.
func flowIDs(r map[string]any) []string {
	var ids []string
	for _, f := range r["flows"].([]any) {
		m := f.(map[string]any)
		ids = append(ids, fmt.Sprint(m["id"], m["client"], m["server"], m["first_frame"], m["last_frame"]))
	}
	return ids
}

// TestClockStepsBack steps the clock of a capture of many connections
// back by 2 s, a third of the way in, and again two thirds of the way in:
// one warning names the file and the first frame that steps back, and
// counts both; every flow is still reported.
func TestClockStepsBack(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 7, Conns: 40, NonTCPFraction: -1}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	want := jsonRun(t, 0, nil, write(t, "whole", data))
	ts := pcapTimes(t, data)
	k, m := len(ts)/3, 2*len(ts)/3
	stepped := shiftTimes(t, data, func(i int) int64 {
		switch {
		case i >= m:
			return -4e6
		case i >= k:
			return -2e6
		}
		return 0
	})
	back := 2e6 - (ts[k] - ts[k-1]) // microseconds
	if back <= 1000 || 2e6-(ts[m]-ts[m-1]) <= 1000 {
		t.Fatal("the fixture's records are too far apart for a 2 s step back")
	}
	ooo := 0
	st := pcapTimes(t, stepped)
	for i := 1; i < len(st); i++ {
		if st[i] < st[i-1] {
			ooo++
		}
	}
	path := write(t, "stepped.pcap", stepped)
	warn := fmt.Sprintf(`^teardown: warning: %s: frame %d: timestamp %d\.%06d s earlier than frame %d's; 2 records step back by more than 1 ms \(clock stepped back, or interfaces with different clocks\): durations across them are unreliable$`,
		regexp.QuoteMeta(path), k+1, back/1e6, back%1e6, k)
	got := jsonRun(t, 0, []string{warn}, path)
	if d := cmp.Diff(flowIDs(want), flowIDs(got)); d != "" || len(flowIDs(got)) < 40 {
		t.Errorf("flows differ from the undamaged capture's (-want +got):\n%s", d)
	}
	if captureField(got, "out_of_order") != float64(ooo) || ooo < 2 {
		t.Errorf("capture.out_of_order %v, want %d (at least the 2 steps)", captureField(got, "out_of_order"), ooo)
	}
}

// TestClockJitter moves every fifth record of captures a few microseconds
// before the record ahead of it, as tcpdump -i any writes records: no
// warning, the records counted out of order, and the same flows.
func TestClockJitter(t *testing.T) {
	for _, name := range []string{"client-active-close.pcap", "tw-reuse-bind.pcap"} {
		t.Run(name, func(t *testing.T) {
			data := lab(t, name)
			want := jsonRun(t, 0, nil, write(t, "whole", data))
			ts := pcapTimes(t, data)
			n := 0
			jitter := shiftTimes(t, data, func(i int) int64 {
				if i%5 != 4 {
					return 0
				}
				n++
				return ts[i-1] - ts[i] - 7 // 7 µs before the record ahead
			})
			got := jsonRun(t, 0, nil, write(t, "jitter", jitter))
			if captureField(got, "out_of_order") != float64(n) || n == 0 {
				t.Errorf("capture.out_of_order %v, want %d", captureField(got, "out_of_order"), n)
			}
			if d := cmp.Diff(flowIDs(want), flowIDs(got)); d != "" {
				t.Errorf("flows differ (-want +got):\n%s", d)
			}
		})
	}
}

// TestLabCapturesQuiet runs the command on every lab capture, one of which
// (tcpdump -i any) has records a few microseconds out of order: none
// writes anything on standard error.
func TestLabCapturesQuiet(t *testing.T) {
	var paths []string
	for _, g := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join(testenv.Lab(t), g))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Skip("no lab captures")
	}
	outOfOrder := false
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			r := jsonRun(t, 0, nil, p)
			outOfOrder = outOfOrder || captureField(r, "out_of_order") != nil
		})
	}
	if !outOfOrder {
		t.Error("no lab capture has records out of order: nothing shows that small steps back do not warn")
	}
}

// panicWriter panics on every write.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("boom") }

// TestInternalErrorWhileBuilding: with two CPUs the flows are built and
// written on goroutines other than the one reading the capture; a panic
// there (here standard output's, once the JSON lines fill the buffer) is
// still one error line naming the file and the frame, the last of the
// flow being written, and a hint, with exit status 2.
func TestInternalErrorWhileBuilding(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(old)
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 5, Conns: 400, NonTCPFraction: -1}); err != nil {
		t.Fatal(err)
	}
	path := write(t, "c.pcap", buf.Bytes())
	var errb bytes.Buffer
	code := run([]string{"--format", "jsonl", path}, strings.NewReader(""), panicWriter{}, &errb)
	lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	re := regexp.MustCompile(`^teardown: error: internal error at ` + regexp.QuoteMeta(path) + ` frame (\d+): flow \d+ \(frames \d+-(\d+)\): boom$`)
	m := re.FindStringSubmatch(lines[0])
	if code != 2 || len(lines) != 2 || m == nil || m[1] != m[2] || !strings.HasPrefix(lines[1], "teardown: hint: ") {
		t.Errorf("exit %d, stderr:\n%s\nwant 2, an internal error at the flow's last frame and a hint", code, errb.String())
	}
}
