package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/teardown/teardown/flows"
)

// ngWithOffsets builds a pcapng file (one Ethernet interface, microsecond
// timestamps) with one EPB per spec, and returns the offset of each EPB.
func ngWithOffsets(t *testing.T, specs []tcpSpec) (data []byte, offs []int, want []flows.Segment) {
	t.Helper()
	ng := (&ngBuilder{order: binary.LittleEndian}).shb().idb(1, 0)
	for i, s := range specs {
		frame := ethFrame(t, s)
		offs = append(offs, len(ng.b))
		ng.epb(0, uint64(1_700_000_000_000_000+i), frame, uint32(len(frame)))
		want = append(want, s.want(0, 1_700_000_000_000_000_000+int64(i)*1000))
	}
	return ng.b, offs, want
}

// renumber sets the frame numbers of segments to 1, 2, ...
func renumber(segs ...flows.Segment) []flows.Segment {
	out := make([]flows.Segment, len(segs))
	for i, s := range segs {
		s.Frame = uint64(i + 1)
		out[i] = s
	}
	return out
}

// TestPcapngBadBlock damages one block of a pcapng file in the ways a
// broken writer or disk does, and checks that the reader skips to the next
// good block and keeps everything else.
func TestPcapngBadBlock(t *testing.T) {
	specs := conversation()[:4]
	data, offs, all := ngWithOffsets(t, specs)
	blockLen := offs[2] - offs[1]
	setLen := func(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off+4:], v) }

	tests := []struct {
		name   string
		damage func(b []byte) []byte
		want   []flows.Segment
		warn   string
	}{
		{"length beyond any block", func(b []byte) []byte { setLen(b, offs[1], 0xfffffff0); return b },
			renumber(all[0], all[2], all[3]),
			"stdin: frame 2: bad block (type 0x6, length 4294967280); skipped " + strconv.Itoa(blockLen) + " bytes to the next block"},
		{"length not a multiple of 4", func(b []byte) []byte { setLen(b, offs[1], uint32(blockLen+1)); return b },
			renumber(all[0], all[2], all[3]),
			"stdin: frame 2: bad block (type 0x6, length " + strconv.Itoa(blockLen+1) + "); skipped " + strconv.Itoa(blockLen) + " bytes to the next block"},
		{"length too short", func(b []byte) []byte { setLen(b, offs[1], uint32(blockLen-8)); return b },
			renumber(all[0], all[2], all[3]),
			"stdin: frame 2: bad block (type 0x6, length " + strconv.Itoa(blockLen-8) + "); skipped " + strconv.Itoa(blockLen) + " bytes to the next block"},
		{"length too long", func(b []byte) []byte { setLen(b, offs[1], uint32(blockLen+16)); return b },
			renumber(all[0], all[2], all[3]),
			"stdin: frame 2: bad block (type 0x6, length " + strconv.Itoa(blockLen+16) + "); skipped " + strconv.Itoa(blockLen) + " bytes to the next block"},
		{"trailing length damaged", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[offs[2]-4:], 7); return b },
			renumber(all[0], all[2], all[3]),
			"stdin: frame 2: bad block (type 0x6, length " + strconv.Itoa(blockLen) + "); skipped " + strconv.Itoa(blockLen) + " bytes to the next block"},
		{"bytes inserted between blocks", func(b []byte) []byte {
			return cat(b[:offs[2]], []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3}, b[offs[2]:])
		},
			renumber(all...),
			"stdin: frame 3: bad block (type 0xefbeadde, length 100860417); skipped 7 bytes to the next block"},
		{"last block damaged", func(b []byte) []byte { setLen(b, offs[3], 0xfffffff0); return b },
			renumber(all[:3]...),
			"stdin: frame 4: bad block (type 0x6, length 4294967280) and no valid block after it; stopped reading this file, everything before it was read"},
		{"length beyond the end of the file", func(b []byte) []byte { setLen(b, offs[1], 1<<20); return b },
			renumber(all[0], all[2], all[3]),
			"stdin: frame 2: bad block (type 0x6, length 1048576); skipped " + strconv.Itoa(blockLen) + " bytes to the next block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := readCompare(t, tt.damage(bytes.Clone(data)), tt.want, tt.warn)
			if info.Truncated {
				t.Error("Truncated is set")
			}
		})
	}
}

// TestRecordTooLarge checks that a record larger than the snapshot length
// or than 256 KiB is skipped with a warning, and the file read on.
func TestRecordTooLarge(t *testing.T) {
	a, b := basic(), syn()
	fa, fb := ethFrame(t, a), ethFrame(t, b)
	la, lb := uint32(len(fa)), uint32(len(fb))
	want := []flows.Segment{a.want(1, 1e9), b.want(3, 3e9)}
	pcapWith := func(snaplen uint32, big int) []byte {
		p := newPcap(binary.LittleEndian, pcapMicro, snaplen, 1)
		p.rec(1, 0, la, la, fa).rec(2, 0, uint32(big), uint32(big), make([]byte, big)).rec(3, 0, lb, lb, fb)
		return p.b
	}
	ngWith := func(snaplen uint32, big int) []byte {
		ng := (&ngBuilder{order: binary.LittleEndian}).shb().idb(1, snaplen)
		ng.epb(0, 1e6, fa, la).epb(0, 2e6, make([]byte, big), uint32(big)).epb(0, 3e6, fb, lb)
		return ng.b
	}
	tests := []struct {
		name string
		data []byte
		warn string
	}{
		{"pcap over snaplen", pcapWith(200, 300), "stdin: frame 2: record of 300 bytes exceeds the snapshot length 200; skipped"},
		{"pcap over 256 KiB", pcapWith(0, 300000), "stdin: frame 2: record of 300000 bytes is larger than 262144; skipped"},
		{"pcapng over snaplen", ngWith(200, 300), "stdin: frame 2: record of 300 bytes exceeds the snapshot length 200; skipped"},
		{"pcapng over 256 KiB", ngWith(0, 300000), "stdin: frame 2: record of 300000 bytes is larger than 262144; skipped"},
		{"pcapng block over the read buffer", ngWith(0, 600000), "stdin: frame 2: block of 600032 bytes holds a record larger than 262144; skipped"},
	}
	// A block whose captured length does not fit in it.
	liar := ngWith(0, 100)
	binary.LittleEndian.PutUint32(liar[28+20+len(pad4(bytes.Clone(fa)))+32+20:], 104)
	tests = append(tests, struct {
		name string
		data []byte
		warn string
	}{"pcapng captured length beyond the block", liar, "stdin: frame 2: record claims 104 captured bytes in a block with room for 100; skipped"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := readCompare(t, tt.data, want, tt.warn)
			if info.Packets != 3 || info.Malformed != 1 {
				t.Errorf("Packets %d, Malformed %d; want 3, 1", info.Packets, info.Malformed)
			}
		})
	}
}

// TestGarbageAfterLastRecord appends bytes that are not records to good
// captures: every record is read, and one warning says what happened.
func TestGarbageAfterLastRecord(t *testing.T) {
	recs, want := records(conversation(), base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })
	pcap := pcapFile(t, 1, false, recs...)
	ng := ngFile(t, []uint32{1}, recs...)
	ones := bytes.Repeat([]byte{0xff}, 100)
	text := []byte("this is not a record, just some text that ended up here\n")
	tests := []struct {
		name      string
		data      []byte
		warn      string
		truncated bool
	}{
		{"pcap + 0xff", cat(pcap, ones), "stdin: frame 7: not a record header (timestamp fraction 4294967295 out of range); stopped reading this file, everything before it was read", false},
		{"pcap + text", cat(pcap, text), "stdin: frame 7: not a record header (timestamp fraction 544434464 out of range); stopped reading this file, everything before it was read", false},
		{"pcap + a few bytes", cat(pcap, []byte{1, 2, 3}), "stdin: frame 7: truncated record header (3 bytes of 16); everything before it was read", true},
		{"pcapng + 0xff", cat(ng, ones), "stdin: frame 7: bad block (type 0xffffffff, length 4294967295) and no valid block after it; stopped reading this file, everything before it was read", false},
		{"pcapng + text", cat(ng, text), "stdin: frame 7: bad block (type 0x73696874, length 544434464) and no valid block after it; stopped reading this file, everything before it was read", false},
		{"pcapng + a few bytes", cat(ng, []byte{1, 2, 3}), "stdin: frame 7: truncated block (3 bytes of 12); everything before it was read", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := readCompare(t, tt.data, want, tt.warn)
			if info.Truncated != tt.truncated {
				t.Errorf("Truncated = %v, want %v", info.Truncated, tt.truncated)
			}
		})
	}
}

// TestTruncatedEveryByte cuts small captures at every byte: no panic, every
// complete record is delivered, and a cut inside a record is reported.
func TestTruncatedEveryByte(t *testing.T) {
	specs := conversation()[:3]
	recs, want := records(specs, base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })

	pcap := pcapFile(t, 1, true, recs...)
	pcapBounds := []int{24}
	for _, r := range recs {
		pcapBounds = append(pcapBounds, pcapBounds[len(pcapBounds)-1]+16+len(r.data))
	}
	ng := (&ngBuilder{order: binary.BigEndian}).shb().idb(1, 0, u8opt(9, 9))
	ngBounds := []int{28, len(ng.b)}
	for _, r := range recs {
		ng.epb(0, uint64(r.ts), r.data, uint32(len(r.data)))
		ngBounds = append(ngBounds, len(ng.b))
	}

	for _, tt := range []struct {
		name   string
		data   []byte
		bounds []int // bounds[0] ends the file header; the last records end at the others
	}{
		{"pcap", pcap, pcapBounds},
		{"pcapng", ng.b, ngBounds},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bounds[len(tt.bounds)-1] != len(tt.data) {
				t.Fatalf("bounds end at %d, file at %d", tt.bounds[len(tt.bounds)-1], len(tt.data))
			}
			for n := 0; n <= len(tt.data); n++ {
				cut := tt.data[:n]
				r, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(cut)})
				if n < tt.bounds[0] {
					wantErr := ErrTruncatedHeader
					if n == 0 {
						wantErr = ErrEmpty
					}
					if !errors.Is(err, wantErr) {
						t.Fatalf("cut at %d: Open = %v, want %v", n, err, wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("cut at %d: Open: %v", n, err)
				}
				got, err := drain(r)
				r.Close()
				if err != io.EOF {
					t.Fatalf("cut at %d: Next: %v", n, err)
				}
				info := r.Info()
				complete := 0 // records wholly inside the cut
				boundary := false
				for i, b := range tt.bounds {
					if b <= n && i >= len(tt.bounds)-len(recs) {
						complete++
					}
					boundary = boundary || b == n
				}
				if diff := cmp.Diff(want[:complete], got, segOpts); diff != "" {
					t.Fatalf("cut at %d: segments (-want +got):\n%s", n, diff)
				}
				if info.Truncated == boundary || len(info.Warnings) != btoi(!boundary) {
					t.Fatalf("cut at %d (boundary %v): Truncated %v, warnings %q", n, boundary, info.Truncated, info.Warnings)
				}
				if !boundary && !strings.Contains(info.Warnings[0], "truncated") {
					t.Fatalf("cut at %d: warning %q does not say truncated", n, info.Warnings[0])
				}
			}
		})
	}

	t.Run("gzip", func(t *testing.T) {
		gz := gzipped(t, pcap)
		for n := 0; n < len(gz); n++ {
			r, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(gz[:n])})
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("cut at %d: Open error %v is not an *Error", n, err)
				}
				continue
			}
			got, err := drain(r)
			r.Close()
			if err != io.EOF {
				t.Fatalf("cut at %d: Next: %v", n, err)
			}
			if len(got) > len(want) {
				t.Fatalf("cut at %d: %d segments", n, len(got))
			}
			if diff := cmp.Diff(want[:len(got)], got, segOpts); diff != "" {
				t.Fatalf("cut at %d: segments (-want +got):\n%s", n, diff)
			}
			if info := r.Info(); !info.Truncated || len(info.Warnings) != 1 {
				t.Fatalf("cut at %d: Truncated %v, warnings %q", n, info.Truncated, info.Warnings)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readCompare reads a capture held in memory and compares its segments
// and warnings with the wanted ones.
func readCompare(t *testing.T, data []byte, want []flows.Segment, warnings ...string) Info {
	t.Helper()
	got, info := readBytes(t, data)
	if diff := cmp.Diff(want, got, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(warnings, info.Warnings, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	return info
}

// TestWarningsLimited checks that one input yields at most 20 warnings
// about damaged records, then one line that counts the rest, and still the
// warning that ends it.
func TestWarningsLimited(t *testing.T) {
	s := basic()
	frame := ethFrame(t, s)
	n := uint32(len(frame))
	p := newPcap(binary.LittleEndian, pcapMicro, 200, 1)
	for i := range 30 {
		p.rec(uint32(i), 0, 300, 300, make([]byte, 300))
	}
	p.rec(40, 0, n, n, frame)
	p.b = append(p.b, 1, 2, 3)
	got, info := readBytes(t, p.b)
	if diff := cmp.Diff([]flows.Segment{s.want(31, 40e9)}, got, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if len(info.Warnings) != 22 {
		t.Fatalf("%d warnings, want 22: %q", len(info.Warnings), info.Warnings)
	}
	want := []string{
		"stdin: frame 20: record of 300 bytes exceeds the snapshot length 200; skipped",
		"stdin: frame 32: truncated record header (3 bytes of 16); everything before it was read",
		"stdin: 10 more warnings like these not shown",
	}
	if diff := cmp.Diff(want, info.Warnings[19:]); diff != "" {
		t.Errorf("last warnings (-want +got):\n%s", diff)
	}
}

// TestConcatenatedPcap reads pcap files joined with cat: the second file
// header switches byte order, resolution and link type, with a warning.
func TestConcatenatedPcap(t *testing.T) {
	specs := conversation()
	recs, want := records(specs[:3], base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })
	first := pcapFile(t, 1, false, recs...)
	second := newPcap(binary.BigEndian, pcapNano, 65535, 113)
	for i, s := range specs[3:] {
		data := cat(sllHeader(etherTypeOf(s)), ipPacket(t, s))
		second.rec(1_800_000_000, uint32(i), uint32(len(data)), uint32(len(data)), data)
		want = append(want, s.want(uint64(4+i), 1_800_000_000e9+int64(i)))
	}
	third := newPcap(binary.LittleEndian, pcapMicro, 65535, 189) // USB: cannot be read on
	info := readCompare(t, cat(first, second.b, third.b), want,
		"stdin: frame 4: a second pcap file header (files concatenated?); read on with its link type and resolution",
		"stdin: frame 7: a second pcap file header (files concatenated?): unsupported link type USB_LINUX (189); stopped reading this file, everything before it was read")
	if diff := cmp.Diff([]string{"ETHERNET", "LINUX_SLL"}, info.LinkTypes); diff != "" {
		t.Errorf("link types (-want +got):\n%s", diff)
	}
}

// TestZeroFilledTail reads a pcap file whose end was never written: zeros
// where records should be.
func TestZeroFilledTail(t *testing.T) {
	recs, want := records(conversation(), base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })
	data := cat(pcapFile(t, 1, false, recs...), make([]byte, 4096))
	info := readCompare(t, data, want,
		"stdin: frame 7: zero bytes where a record should start (the rest of the file was never written); stopped reading this file, everything before it was read")
	if info.Packets != 6 || info.Truncated {
		t.Errorf("Packets %d, Truncated %v; want 6, false", info.Packets, info.Truncated)
	}
}
