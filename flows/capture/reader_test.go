package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/teardown/teardown/flows"
)

// conversation returns a handful of segments with every field varied.
func conversation() []tcpSpec {
	a := syn()
	b := syn()
	b.src, b.dst, b.flags, b.seq, b.ack, b.ttl, b.ipid, b.df, b.ws, b.mss = srv4, cli4, flows.SYN|flows.ACK, 5000, 1001, 57, 0, false, 14, 1400
	c := basic()
	c.flags, c.payload, c.sack = flows.ACK, 0, true
	d := basic()
	d.src, d.dst, d.ts = cli6, srv6, false
	e := basic()
	e.src, e.dst, e.flags, e.payload, e.win = srv4, cli4, flows.FIN|flows.ACK, 0, 65535
	f := basic()
	f.flags, f.payload, f.ts = flows.RST, 0, false
	return []tcpSpec{a, b, c, d, e, f}
}

// records turns specs into records at times base + i*step, built by frame.
func records(specs []tcpSpec, base, step int64, frame func(tcpSpec) []byte) ([]rec, []flows.Segment) {
	var recs []rec
	var want []flows.Segment
	for i, s := range specs {
		ts := base + int64(i)*step
		recs = append(recs, rec{ts: ts, data: frame(s)})
		want = append(want, s.want(uint64(i+1), ts))
	}
	return recs, want
}

const base = int64(1_700_000_000_123_456_000) // a whole number of microseconds

func TestRoundTripPcap(t *testing.T) {
	for _, nano := range []bool{false, true} {
		step := int64(1_234_567_000)
		if nano {
			step = 1_234_567_891
		}
		recs, want := records(conversation(), base, step, func(s tcpSpec) []byte { return ethFrame(t, s) })
		got, info := readBytes(t, pcapFile(t, 1, nano, recs...))
		if diff := cmp.Diff(want, got, segOpts); diff != "" {
			t.Errorf("nano=%v: segments (-want +got):\n%s", nano, diff)
		}
		wantInfo := Info{
			Files: []string{"-"}, Format: "pcap", LinkTypes: []string{"ETHERNET"},
			Packets: 6, TCPPackets: 6, First: base, Last: base + 5*step,
		}
		if diff := cmp.Diff(wantInfo, info); diff != "" {
			t.Errorf("nano=%v: info (-want +got):\n%s", nano, diff)
		}
	}
}

// TestRoundTripLinkTypes writes the same segments under every supported
// link type with pcapgo's writer and reads them back.
func TestRoundTripLinkTypes(t *testing.T) {
	withHeader := func(hdr func(tcpSpec) []byte) func(tcpSpec) []byte {
		return func(s tcpSpec) []byte { return cat(hdr(s), ipPacket(t, s)) }
	}
	family := func(order binary.AppendByteOrder, af6 uint32) func(tcpSpec) []byte {
		return withHeader(func(s tcpSpec) []byte {
			if s.src.Addr().Is4() {
				return order.AppendUint32(nil, 2)
			}
			return order.AppendUint32(nil, af6)
		})
	}
	raw := withHeader(func(tcpSpec) []byte { return nil })
	tests := []struct {
		lt    uint32
		name  string
		frame func(tcpSpec) []byte
		only  int // 4 or 6: the link type carries one IP version
	}{
		{1, "ETHERNET", func(s tcpSpec) []byte { return ethFrame(t, s) }, 0},
		{113, "LINUX_SLL", withHeader(func(s tcpSpec) []byte { return sllHeader(etherTypeOf(s)) }), 0},
		{276, "LINUX_SLL2", withHeader(func(s tcpSpec) []byte { return sll2Header(etherTypeOf(s)) }), 0},
		{0, "NULL", family(binary.LittleEndian, 30), 0},
		{108, "LOOP", family(binary.BigEndian, 24), 0},
		{101, "RAW", raw, 0},
		{12, "RAW", raw, 0},
		{14, "RAW", raw, 0},
		{228, "IPV4", raw, 4},
		{229, "IPV6", raw, 6},
		{104, "C_HDLC", withHeader(func(s tcpSpec) []byte { return []byte{0x0f, 0, byte(etherTypeOf(s) >> 8), byte(etherTypeOf(s))} }), 0},
		{9, "PPP", withHeader(func(s tcpSpec) []byte {
			if s.src.Addr().Is4() {
				return []byte{0xff, 0x03, 0x00, 0x21}
			}
			return []byte{0xff, 0x03, 0x00, 0x57}
		}), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var specs []tcpSpec
			for _, s := range conversation() {
				if tt.only == 4 && !s.src.Addr().Is4() || tt.only == 6 && s.src.Addr().Is4() {
					continue
				}
				if tt.only == 6 {
					s.src, s.dst = cli6, srv6
				}
				specs = append(specs, s)
			}
			recs, want := records(specs, base, 1000, tt.frame)
			got, info := readBytes(t, pcapFile(t, tt.lt, true, recs...))
			if diff := cmp.Diff(want, got, segOpts); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tt.name}, info.LinkTypes); diff != "" {
				t.Errorf("link types (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRoundTripPcapng writes a pcapng file with several interfaces of
// different link types with pcapgo's writer and reads it back.
func TestRoundTripPcapng(t *testing.T) {
	frames := []func(tcpSpec) []byte{
		func(s tcpSpec) []byte { return ethFrame(t, s) },
		func(s tcpSpec) []byte { return cat(sll2Header(etherTypeOf(s)), ipPacket(t, s)) },
		func(s tcpSpec) []byte { return ipPacket(t, s) },
	}
	var recs []rec
	var want []flows.Segment
	for i, s := range conversation() {
		ts := base + int64(i)*7_654_321
		iface := i % 3
		recs = append(recs, rec{ts: ts, data: frames[iface](s), iface: iface})
		want = append(want, s.want(uint64(i+1), ts))
	}
	data := ngFile(t, []uint32{1, 276, 101}, recs...)
	got, info := readBytes(t, data)
	if diff := cmp.Diff(want, got, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	wantInfo := Info{
		Files: []string{"-"}, Format: "pcapng", LinkTypes: []string{"ETHERNET", "LINUX_SLL2", "RAW"},
		Packets: 6, TCPPackets: 6, First: want[0].Time, Last: want[5].Time,
	}
	if diff := cmp.Diff(wantInfo, info); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
}

// TestPcapngBlocks reads hand-built pcapng in both byte orders: per-interface
// timestamp resolutions and offsets, simple and obsolete packet blocks,
// blocks to skip, and a second section that redefines the interfaces.
func TestPcapngBlocks(t *testing.T) {
	specs := conversation()
	eth0 := ethFrame(t, specs[0])
	raw1 := ipPacket(t, specs[1])
	eth2 := ethFrame(t, specs[2])
	eth3 := ethFrame(t, specs[3])
	eth4 := ethFrame(t, specs[4])
	sll5 := cat(sllHeader(etIPv4), ipPacket(t, specs[5]))
	const sec = 1_700_000_000

	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		other := binary.AppendByteOrder(binary.BigEndian)
		if order == binary.BigEndian {
			other = binary.LittleEndian
		}
		ng := &ngBuilder{order: order}
		ng.shb().
			idb(1, 0).                                                               // default resolution: microseconds
			idb(101, 0, u8opt(9, 0x80|20), ngOpt{14, order.AppendUint64(nil, 100)}). // 2^-20 s, offset 100 s
			idb(1, 0, u8opt(9, 3)).                                                  // milliseconds
			idb(189, 0).                                                             // no packets: not in LinkTypes
			block(0x40000bad, []byte("custom block, to skip")).
			block(blkNRB, []byte{0, 0, 0, 0}).
			epb(0, sec*1e6+250_000, eth0, uint32(len(eth0))).
			block(blkISB, make([]byte, 12)).
			epb(1, sec<<20|1<<19, raw1, uint32(len(raw1))).
			epb(2, sec*1e3+5, eth2, uint32(len(eth2))).
			pb(0, sec*1e6+300_000, eth3, uint32(len(eth3))).
			spb(eth4, uint32(len(eth4)))
		second := &ngBuilder{order: other}
		second.shb().
			idb(113, 0, u8opt(9, 10)). // tenths of nanoseconds
			epb(0, (sec+1)*1e10+70, sll5, uint32(len(sll5)))
		data := append(ng.b, second.b...)

		wantTimes := []int64{
			sec*1e9 + 250_000_000,
			(sec+100)*1e9 + 500_000_000,
			sec*1e9 + 5_000_000,
			sec*1e9 + 300_000_000,
			sec*1e9 + 300_000_000, // a simple packet block has no time: the one before it
			(sec+1)*1e9 + 7,
		}
		var want []flows.Segment
		for i, s := range specs {
			want = append(want, s.want(uint64(i+1), wantTimes[i]))
		}
		got, info := readBytes(t, data)
		if diff := cmp.Diff(want, got, segOpts); diff != "" {
			t.Errorf("%v: segments (-want +got):\n%s", order, diff)
		}
		if diff := cmp.Diff([]string{"ETHERNET", "RAW", "LINUX_SLL"}, info.LinkTypes); diff != "" {
			t.Errorf("%v: link types (-want +got):\n%s", order, diff)
		}
		// Interface 1's clock is 100 s ahead (if_tsoffset): the next
		// packet, on interface 2, steps back by more than that.
		if info.OutOfOrder != 1 {
			t.Errorf("%v: OutOfOrder = %d, want 1 (the millisecond packet)", order, info.OutOfOrder)
		}
		if diff := cmp.Diff([]string{clockWarning("stdin", 3, "100.495000", 2, "1 record steps back")}, info.Warnings); diff != "" {
			t.Errorf("%v: warnings (-want +got):\n%s", order, diff)
		}
	}
}

// TestPcapVariants reads classic pcap in the byte orders and magic numbers
// pcapgo does not write.
func TestPcapVariants(t *testing.T) {
	s := basic()
	frame := ethFrame(t, s)
	n := uint32(len(frame))
	tests := []struct {
		name  string
		order binary.AppendByteOrder
		magic uint32
		frac  uint32
		want  int64
	}{
		{"big-endian microseconds", binary.BigEndian, pcapMicro, 654_321, 654_321_000},
		{"big-endian nanoseconds", binary.BigEndian, pcapNano, 987_654_321, 987_654_321},
		{"little-endian nanoseconds", binary.LittleEndian, pcapNano, 1, 1},
		{"kuznetzov", binary.LittleEndian, pcapKuznetzov, 5, 5000},
		{"kuznetzov big-endian", binary.BigEndian, pcapKuznetzov, 5, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPcap(tt.order, tt.magic, 65535, 1).rec(1_600_000_000, tt.frac, n, n, frame).rec(1_600_000_001, 0, n, n, frame)
			got, info := readBytes(t, p.b)
			want := []flows.Segment{s.want(1, 1_600_000_000e9+tt.want), s.want(2, 1_600_000_001e9)}
			if diff := cmp.Diff(want, got, segOpts); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
			if info.Format != "pcap" {
				t.Errorf("Format = %q, want pcap", info.Format)
			}
		})
	}
}

func gzipped(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// compressed compresses data with the codec named: gzip, zstd and xz in
// Go, bzip2 with the bzip2 command (the test skips without it).
func compressed(tb testing.TB, name string, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch name {
	case "gzip":
		return gzipped(tb, data)
	case "zstd":
		w, err = zstd.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "bzip2":
		if _, err := exec.LookPath("bzip2"); err != nil {
			tb.Skip("bzip2 is not installed")
		}
		cmd := exec.Command("bzip2", "-1", "-c") // blocks of 100 KB
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			tb.Fatal(err)
		}
		return out
	default:
		tb.Fatalf("no codec %q", name)
	}
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompressed reads captures compressed every way the reader
// decompresses, whole and cut short.
func TestCompressed(t *testing.T) {
	recs, want := records(conversation(), base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })
	var specs []tcpSpec
	for i := range 5000 {
		s := basic()
		s.seq = uint32(i * 7919)
		specs = append(specs, s)
	}
	frame := ethFrame(t, basic())
	rng := rand.New(rand.NewPCG(1, 2))
	bigRecs, bigWant := records(specs, base, 1000, func(s tcpSpec) []byte {
		// basic() with another sequence number, without serializing it,
		// and a payload that does not compress, so that each codec's
		// blocks are small
		b := slices.Clone(frame)
		binary.BigEndian.PutUint32(b[14+20+4:], s.seq)
		for i := len(b) - basic().payload; i < len(b); i++ {
			b[i] = byte(rng.Uint32())
		}
		return b
	})
	big := pcapFile(t, 1, true, bigRecs...)
	for _, codec := range []string{"gzip", "zstd", "xz", "bzip2"} {
		for _, tt := range []struct {
			format string
			data   []byte
		}{
			{"pcap", pcapFile(t, 1, true, recs...)},
			{"pcapng", ngFile(t, []uint32{1}, recs...)},
		} {
			t.Run(codec+"/"+tt.format, func(t *testing.T) {
				z := compressed(t, codec, tt.data)
				got, info := readBytes(t, z)
				if diff := cmp.Diff(want, got, segOpts); diff != "" {
					t.Errorf("segments (-want +got):\n%s", diff)
				}
				if info.Format != tt.format || info.Truncated || len(info.Warnings) > 0 {
					t.Errorf("Format %q, Truncated %v, Warnings %q; want %q, false, none", info.Format, info.Truncated, info.Warnings, tt.format)
				}
			})
		}
		// Cut short, a capture of 600 KB gives what its complete blocks
		// hold, and one warning says it ended early.
		t.Run(codec+"/cut", func(t *testing.T) {
			z := compressed(t, codec, big)
			got, info := readBytes(t, z[:len(z)*3/4])
			if !info.Truncated || len(info.Warnings) != 1 || len(got) == 0 || len(got) >= len(bigWant) {
				t.Fatalf("%d segments of %d, Truncated %v, Warnings %q; want some, true, one warning", len(got), len(bigWant), info.Truncated, info.Warnings)
			}
			if diff := cmp.Diff(bigWant[:len(got)], got, segOpts); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
		})
	}

	full := gzipped(t, pcapFile(t, 1, true, recs...))
	t.Run("truncated", func(t *testing.T) {
		got, info := readBytes(t, full[:len(full)/2])
		if !info.Truncated || len(info.Warnings) != 1 {
			t.Fatalf("Truncated %v, Warnings %q; want true and one warning", info.Truncated, info.Warnings)
		}
		if len(got) == 0 || len(got) >= len(want) {
			t.Fatalf("read %d segments, want some but not all %d", len(got), len(want))
		}
		if diff := cmp.Diff(want[:len(got)], got, segOpts); diff != "" {
			t.Errorf("segments (-want +got):\n%s", diff)
		}
	})
	t.Run("bad checksum", func(t *testing.T) {
		bad := bytes.Clone(full)
		bad[len(bad)-8] ^= 0xff // the CRC-32 of the uncompressed data
		got, info := readBytes(t, bad)
		if diff := cmp.Diff(want, got, segOpts); diff != "" {
			t.Errorf("segments (-want +got):\n%s", diff)
		}
		if len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "corrupt gzip stream") {
			t.Errorf("Warnings %q, want one about a corrupt gzip stream", info.Warnings)
		}
	})
}

// TestMerge reads three files (pcap, pcapng, gzip-compressed pcap) whose
// records interleave in time, some at the same instant.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	s := basic()
	mk := func(file, i int) rec {
		x := s
		x.seq = uint32(file*100 + i)
		return rec{ts: base + int64(file+3*i)*1e9, data: ethFrame(t, x)}
	}
	tie := func(file int) rec { // all three files have a record at base+10s
		r := mk(file, 0)
		r.ts = base + 10e9
		x := s
		x.seq = uint32(file*100 + 99)
		r.data = ethFrame(t, x)
		return r
	}
	a := []rec{mk(0, 0), mk(0, 1), tie(0), mk(0, 4)}
	b := []rec{mk(1, 0), mk(1, 1), tie(1), mk(1, 4)}
	c := []rec{mk(2, 0), tie(2), mk(2, 4), mk(2, 5)}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	names := []string{
		write("a.pcap", pcapFile(t, 1, true, a...)),
		write("b.pcapng", ngFile(t, []uint32{1}, b...)),
		write("c.pcap.gz", gzipped(t, pcapFile(t, 276, true, rec{ts: c[0].ts, data: cat(sll2Header(etIPv4), c[0].data[14:])}))),
	}
	// c.pcap.gz holds c's first record, under LINUX_SLL2; d.pcap the rest.
	names = append(names, write("d.pcap", pcapFile(t, 1, true, c[1:]...)))

	got, info := readAll(t, names, Options{})
	var seqs []uint32
	for i, g := range got {
		if g.Frame != uint64(i+1) {
			t.Errorf("segment %d has frame %d", i, g.Frame)
		}
		if i > 0 && g.Time < got[i-1].Time {
			t.Errorf("frame %d at %d goes back from %d", g.Frame, g.Time, got[i-1].Time)
		}
		seqs = append(seqs, g.Seq)
	}
	// Times: a at 0,3,10,12; b at 1,4,10,13; c at 2; d at 10,14,17 (seconds).
	wantSeqs := []uint32{0, 100, 200, 1, 101, 99, 199, 299, 4, 104, 204, 205}
	if diff := cmp.Diff(wantSeqs, seqs); diff != "" {
		t.Errorf("merge order by seq (-want +got):\n%s", diff)
	}
	wantInfo := Info{
		Files: names, Format: "pcap+pcapng", LinkTypes: []string{"ETHERNET", "LINUX_SLL2"},
		Packets: 12, TCPPackets: 12, First: base, Last: base + 17e9,
	}
	if diff := cmp.Diff(wantInfo, info); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
}

// TestMergeTruncated checks that a truncation warning names the frame
// number the cut record would have had in the merged stream.
func TestMergeTruncated(t *testing.T) {
	dir := t.TempDir()
	s := basic()
	at := func(sec int64) rec { return rec{ts: base + sec*1e9, data: ethFrame(t, s)} }
	a := pcapFile(t, 1, true, at(0), at(2), at(4))
	a = a[:len(a)-5] // the record at 4 s is cut
	b := pcapFile(t, 1, true, at(1), at(3), at(5))
	pa, pb := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	if err := os.WriteFile(pa, a, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, info := readAll(t, []string{pa, pb}, Options{})
	if len(got) != 5 || !info.Truncated {
		t.Fatalf("read %d segments, Truncated %v; want 5, true", len(got), info.Truncated)
	}
	// a's records at 0 and 2 s are frames 1 and 3; b's at 1 and 3 s are 2
	// and 4; the cut record is after frame 4.
	want := []string{pa + ": frame 5: truncated record (" + strconv.Itoa(len(ethFrame(t, s))-5) + " bytes of " + strconv.Itoa(len(ethFrame(t, s))) + "); everything before it was read"}
	if diff := cmp.Diff(want, info.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestStdin(t *testing.T) {
	recs, want := records(conversation()[:2], base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })
	got, info := readAll(t, []string{"-"}, Options{Stdin: bytes.NewReader(pcapFile(t, 1, true, recs...))})
	if diff := cmp.Diff(want, got, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"-"}, info.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}

	_, err := Open([]string{"-", "-"}, Options{Stdin: bytes.NewReader(nil)})
	if !errors.Is(err, ErrStdinTwice) {
		t.Errorf("Open(-, -) = %v, want ErrStdinTwice", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := pcapFile(t, 1, false, rec{ts: base, data: ethFrame(t, basic())})
	badVersion := bytes.Clone(good)
	badVersion[4] = 3
	ng := (&ngBuilder{order: binary.LittleEndian}).shb().b
	ngVersion := bytes.Clone(ng)
	ngVersion[12] = 2
	ngBOMBad := bytes.Clone(ng)
	ngBOMBad[8] = 0
	usbOnly := (&ngBuilder{order: binary.LittleEndian}).shb().idb(189, 0).epb(0, 1, []byte{1, 2, 3}, 3).b

	tests := []struct {
		name string
		path string
		is   error
		msg  string // the whole message, after the path
	}{
		{"missing", filepath.Join(dir, "missing.pcap"), fs.ErrNotExist, "no such file or directory"},
		{"empty", write("empty.pcap", nil), ErrEmpty, "empty file"},
		{"directory", dir, nil, "is a directory"},
		{"text", write("notes.txt", []byte("hello world\n")), ErrNotCapture, "not a pcap or pcapng file (it starts with 68 65 6c 6c)"},
		{"zstd cut", write("x.pcap.zst", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0}), ErrTruncatedHeader, "truncated file header (zstd stream cut short)"},
		{"lz4", write("x.pcap.lz4", []byte{0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7}), ErrNotCapture, "not a pcap or pcapng file (it is lz4-compressed: decompress it first)"},
		{"zip", write("x.zip", []byte("PK\x03\x04\x14\x00\x00\x00")), ErrNotCapture, "not a pcap or pcapng file (it is a zip archive: extract the capture first)"},
		{"two bytes", write("two.pcap", []byte{0xd4, 0xc3}), ErrTruncatedHeader, "truncated file header"},
		{"pcap header cut", write("cut.pcap", good[:20]), ErrTruncatedHeader, "truncated file header"},
		{"pcapng header cut", write("cut.pcapng", ng[:20]), ErrTruncatedHeader, "truncated file header"},
		{"pcapng bad byte order", write("bom.pcapng", ngBOMBad), ErrNotCapture, "not a pcap or pcapng file (bad pcapng byte-order magic 00 3c 2b 1a)"},
		{"pcap version", write("v3.pcap", badVersion), ErrUnsupportedVersion, "unsupported format version: pcap 3.4"},
		{"pcapng version", write("v2.pcapng", ngVersion), ErrUnsupportedVersion, "unsupported format version: pcapng 2.0"},
		{"usb pcap", write("usb.pcap", pcapFile(t, 189, false)), ErrUnsupportedLinkType, "unsupported link type USB_LINUX (189)"},
		{"unknown link", write("x.pcap", pcapFile(t, 999, false)), ErrUnsupportedLinkType, "unsupported link type LINKTYPE_999 (999)"},
		{"usb pcapng", write("usb.pcapng", usbOnly), ErrUnsupportedLinkType, "unsupported link type USB_LINUX (189)"},
		{"bad gzip", write("x.pcap.gz", []byte{0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), gzip.ErrHeader, "bad gzip stream: gzip: invalid header"},
		{"empty gzip", write("e.pcap.gz", gzipped(t, nil)), ErrEmpty, "empty file (after decompression)"},
		{"gzip header cut", write("h.pcap.gz", gzipped(t, good)[:6]), ErrTruncatedHeader, "truncated file header (gzip header cut short)"},
		{"gzip stream cut", write("s.pcap.gz", gzipped(t, good)[:10]), ErrTruncatedHeader, "truncated file header (gzip stream cut short)"},
		{"gzip stream corrupt", write("c.pcap.gz", cat(gzipped(t, good)[:10], []byte{0xff, 0xff, 0xff, 0xff})), nil,
			"corrupt gzip stream: flate: corrupt input before offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open([]string{tt.path}, Options{})
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			var e *Error
			if !errors.As(err, &e) || e.File != tt.path || e.Frame != 0 {
				t.Fatalf("Open error %#v, want an *Error for %s without a frame", err, tt.path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if got, want := err.Error(), tt.path+": "+tt.msg; got != want {
				t.Errorf("message\n got %q\nwant %q", got, want)
			}
		})
	}

	if _, err := Open(nil, Options{}); !errors.Is(err, ErrNoInput) {
		t.Errorf("Open(nil) = %v, want ErrNoInput", err)
	}
	// The second file fails: Open reports it and opens nothing.
	if _, err := Open([]string{write("ok.pcap", good), filepath.Join(dir, "nope")}, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(ok, missing) = %v, want a not-exist error", err)
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{&Error{File: "x.pcap", Frame: 12, Err: errDisk}, "x.pcap: frame 12: input/output error"},
		{&Error{File: "x.pcap", Err: ErrEmpty}, "x.pcap: empty file"},
		{&Error{File: "stdin", Err: ErrStdinTwice}, "stdin: standard input named more than once"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestUnsupportedInterface reads a pcapng file with one interface of a
// link type the package decodes and one it does not.
func TestUnsupportedInterface(t *testing.T) {
	s := basic()
	frame := ethFrame(t, s)
	ng := (&ngBuilder{order: binary.LittleEndian}).shb().idb(1, 0).idb(189, 0).
		epb(1, 1, []byte{1, 2, 3, 4}, 4).
		epb(0, 2, frame, uint32(len(frame))).
		epb(1, 3, []byte{1, 2, 3, 4}, 4)
	got, info := readBytes(t, ng.b)
	if diff := cmp.Diff([]flows.Segment{s.want(2, 2000)}, got, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if info.NonTCP != 2 {
		t.Errorf("NonTCP = %d, want 2", info.NonTCP)
	}
	want := []string{"stdin: frame 1: interface 1 has unsupported link type USB_LINUX (189); its packets are counted as non-TCP"}
	if diff := cmp.Diff(want, info.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"USB_LINUX", "ETHERNET"}, info.LinkTypes); diff != "" {
		t.Errorf("link types (-want +got):\n%s", diff)
	}
}

func TestReadErrorIsSticky(t *testing.T) {
	recs, want := records(conversation(), base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })
	data := pcapFile(t, 1, true, recs...)
	// Fail after the third record.
	cut := 24
	for _, r := range recs[:3] {
		cut += 16 + len(r.data)
	}
	r, err := Open([]string{"-"}, Options{Stdin: &errReader{data: data[:cut+3], err: errDisk}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := drain(r)
	if diff := cmp.Diff(want[:3], got, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, errDisk) || e.File != "stdin" || e.Frame != 4 {
		t.Fatalf("Next error = %v, want an *Error at stdin frame 4 wrapping the read error", err)
	}
	if _, again := r.Next(); again != err {
		t.Errorf("second Next = %v, want the same error %v", again, err)
	}
}

func TestCloseThenNext(t *testing.T) {
	data := pcapFile(t, 1, true, rec{ts: base, data: ethFrame(t, basic())})
	r, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != ErrClosed {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
}

// TestOutOfOrder checks that records are delivered in file order and that
// backward steps are counted, and warned about once, in pcap and across
// pcapng interfaces.
func TestOutOfOrder(t *testing.T) {
	s := basic()
	frame := ethFrame(t, s)
	n := uint32(len(frame))
	p := newPcap(binary.LittleEndian, pcapMicro, 65535, 1)
	for _, sec := range []uint32{10, 30, 20, 50, 40, 60} {
		p.rec(sec, 0, n, n, frame)
	}
	got, info := readBytes(t, p.b)
	if len(got) != 6 || info.OutOfOrder != 2 {
		t.Errorf("pcap: %d segments, OutOfOrder %d; want 6, 2", len(got), info.OutOfOrder)
	}
	if got[2].Time != 20e9 || got[2].Frame != 3 {
		t.Errorf("pcap: third segment at %d, frame %d; want 20 s, frame 3 (file order kept)", got[2].Time, got[2].Frame)
	}
	if diff := cmp.Diff([]string{clockWarning("stdin", 3, "10.000000", 2, "2 records step back")}, info.Warnings); diff != "" {
		t.Errorf("pcap: warnings (-want +got):\n%s", diff)
	}

	ng := (&ngBuilder{order: binary.LittleEndian}).shb().idb(1, 0, u8opt(9, 9)).idb(1, 0, u8opt(9, 6))
	ng.epb(0, 5e9, frame, n).epb(1, 4e6, frame, n).epb(0, 6e9, frame, n).epb(1, 5e6+1, frame, n).epb(0, 7e9, frame, n)
	got, info = readBytes(t, ng.b)
	if len(got) != 5 || info.OutOfOrder != 2 {
		t.Errorf("pcapng: %d segments, OutOfOrder %d; want 5, 2", len(got), info.OutOfOrder)
	}
	// Interface 1's clock is a second behind interface 0's.
	if diff := cmp.Diff([]string{clockWarning("stdin", 2, "1.000000", 1, "2 records step back")}, info.Warnings); diff != "" {
		t.Errorf("pcapng: warnings (-want +got):\n%s", diff)
	}
}

// isb appends an interface statistics block for interface ifid with the
// given options (isb_endtime is code 3, in the interface's units).
func (n *ngBuilder) isb(ifid uint32, ts uint64, opts ...ngOpt) *ngBuilder {
	var body []byte
	body = n.order.AppendUint32(body, ifid)
	body = n.order.AppendUint32(body, uint32(ts>>32))
	body = n.order.AppendUint32(body, uint32(ts))
	return n.block(blkISB, n.opts(body, opts))
}

// tsOpt is an 8-byte timestamp option (high word first, as in a packet
// block).
func tsOpt(order binary.AppendByteOrder, code uint16, ts uint64) ngOpt {
	return ngOpt{code, order.AppendUint32(order.AppendUint32(nil, uint32(ts>>32)), uint32(ts))}
}

// TestStoppedFromInterfaceStatistics: dumpcap ends a pcapng file with an
// interface statistics block per interface; the latest isb_endtime, in
// that interface's units, is when the capture stopped. One no later than
// the last packet, or on an undeclared interface, says nothing.
func TestStoppedFromInterfaceStatistics(t *testing.T) {
	frame := ethFrame(t, basic())
	n := uint32(len(frame))
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		ng := (&ngBuilder{order: order}).shb().idb(1, 0, u8opt(9, 9)).idb(1, 0) // ns, then µs
		ng.epb(0, 5e9, frame, n).epb(1, 6e6, frame, n)
		ng.isb(0, 9e9, ngOpt{1, []byte("Counters provided by dumpcap")}, tsOpt(order, 2, 4e9), tsOpt(order, 3, 9e9))
		ng.isb(1, 9e6, tsOpt(order, 3, 9.5e6)) // 9.5 s in microseconds
		ng.isb(7, 0, tsOpt(order, 3, 1e6))     // no interface 7
		_, info := readBytes(t, ng.b)
		if info.Last != 6e9 || info.Stopped != 9.5e9 {
			t.Errorf("%v: last %d, stopped %d; want 6e9, 9.5e9", order, info.Last, info.Stopped)
		}

		const last = 1_795_950_201_233_524_458
		ng = (&ngBuilder{order: order}).shb().idb(1, 0, u8opt(9, 9))
		ng.epb(0, last, frame, n).isb(0, last, tsOpt(order, 3, last-1e9))
		if _, info := readBytes(t, ng.b); info.Stopped != 0 {
			t.Errorf("%v: an end time before the last packet gave stopped %d", order, info.Stopped)
		}

		// dumpcap's statistics are in microseconds even on an interface
		// in nanoseconds.
		ng = (&ngBuilder{order: order}).shb().idb(1, 0, u8opt(9, 9))
		ng.epb(0, last, frame, n).isb(0, 1_795_950_207_573_741, tsOpt(order, 3, 1_795_950_207_573_645))
		if _, info := readBytes(t, ng.b); info.Stopped != 1_795_950_207_573_645_000 {
			t.Errorf("%v: dumpcap's microseconds gave stopped %d", order, info.Stopped)
		}
	}
}

// TestStopAfter: Options.StopAfter learns the first TCP segment's time
// and ends the reading at the first record stamped past the time it
// returns; that record, and every one after it (even one stamped inside
// the bound), is neither delivered nor counted, and Info.Unread dates it.
func TestStopAfter(t *testing.T) {
	s := basic()
	frame := ethFrame(t, s)
	other := slices.Clone(frame)
	other[12], other[13] = 0x88, 0xcc // LLDP: not TCP
	n := uint32(len(frame))
	p := newPcap(binary.LittleEndian, pcapMicro, 65535, 1)
	p.rec(9, 0, n, n, other)
	for _, sec := range []uint32{10, 11, 12, 13, 12, 14} {
		p.rec(sec, 0, n, n, frame)
	}
	name := tempFile(t, p.b)

	all, full := readAll(t, []string{name}, Options{})
	if len(all) != 6 || full.Packets != 7 || full.Unread != 0 {
		t.Fatalf("without StopAfter: %d segments of %d records, Unread %d; want 6 of 7, 0", len(all), full.Packets, full.Unread)
	}
	var first int64
	got, info := readAll(t, []string{name}, Options{StopAfter: func(t int64) int64 {
		first = t
		return t + 2500e6
	}})
	if first != 10e9 {
		t.Errorf("StopAfter was given %d, want the first TCP segment's time, 10 s", first)
	}
	if diff := cmp.Diff(all[:3], got, segOpts); diff != "" {
		t.Errorf("segments (-want the first three +got):\n%s", diff)
	}
	want := Info{Files: []string{name}, Format: "pcap", LinkTypes: []string{"ETHERNET"},
		Packets: 4, TCPPackets: 3, NonTCP: 1, First: 9e9, Last: 12e9, Unread: 13e9}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	if info.End() != 13e9 {
		t.Errorf("End %d, want 13 s: the capture was still running at the record not read", info.End())
	}
	// A bound past the last record reads everything.
	_, info = readAll(t, []string{name}, Options{StopAfter: func(t int64) int64 { return t + 4e9 }})
	if info.Packets != 7 || info.Unread != 0 {
		t.Errorf("bound past the end: %d records, Unread %d; want 7, 0", info.Packets, info.Unread)
	}
}

// openFDs counts this process's open file descriptors, or returns -1
// where /proc does not list them.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestRotatedFiles reads a capture rotated into 60 files (pcap, pcapng
// with two interfaces, gzip-compressed pcap, zstd-compressed pcapng, in
// turn), as tcpdump -C writes them: the same segments and counts as the
// capture in one file,
// no more than two inputs open at once, and every byte of the inputs
// read once (BytesRead, for the progress bar, ends at their size).
func TestRotatedFiles(t *testing.T) {
	const files, per = 60, 7
	s := basic()
	var all []rec
	for i := range files * per {
		x := s
		x.seq = uint32(i)
		x.payload = i % 50
		all = append(all, rec{ts: base + int64(i)*1e7, data: ethFrame(t, x), iface: i % 2})
	}
	dir := t.TempDir()
	kinds := []struct {
		name  string
		write func([]rec) []byte
	}{
		{"pcap", func(rs []rec) []byte { return pcapFile(t, 1, true, rs...) }},
		{"pcapng", func(rs []rec) []byte { return ngFile(t, []uint32{1, 1}, rs...) }},
		{"pcap.gz", func(rs []rec) []byte { return gzipped(t, pcapFile(t, 1, false, rs...)) }},
		{"pcapng.zst", func(rs []rec) []byte { return compressed(t, "zstd", ngFile(t, []uint32{1, 1}, rs...)) }},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			one := filepath.Join(dir, "one."+k.name)
			if err := os.WriteFile(one, k.write(all), 0o644); err != nil {
				t.Fatal(err)
			}
			want, wantInfo := readAll(t, []string{one}, Options{})
			var names []string
			var size int64
			for i := range files {
				name := filepath.Join(dir, fmt.Sprintf("part%02d.%s", i, k.name))
				b := k.write(all[i*per : (i+1)*per])
				if err := os.WriteFile(name, b, 0o644); err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
				size += int64(len(b))
			}
			before := openFDs()
			r, err := Open(names, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var got []flows.Segment
			most := 0
			for {
				seg, err := r.Next()
				most = max(most, openFDs()-before)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, seg)
			}
			if diff := cmp.Diff(want, got, segOpts); diff != "" {
				t.Errorf("segments (-one file +rotated):\n%s", diff)
			}
			info := r.Info()
			wantInfo.Files = names
			if diff := cmp.Diff(wantInfo, info); diff != "" {
				t.Errorf("info (-one file +rotated):\n%s", diff)
			}
			if before >= 0 && most > 2 {
				t.Errorf("%d inputs open at once, want at most 2", most)
			}
			if n := r.BytesRead(); n != size {
				t.Errorf("BytesRead %d, want the inputs' %d bytes", n, size)
			}
		})
	}
}

// TestRotatedFileRemoved: an input removed between Open and the merge
// reaching it is an error that names it and the frame it was to give,
// after every segment before it.
func TestRotatedFileRemoved(t *testing.T) {
	dir := t.TempDir()
	frame := ethFrame(t, basic())
	a := filepath.Join(dir, "a.pcap")
	b := filepath.Join(dir, "b.pcap")
	for i, name := range []string{a, b} {
		ts := base + int64(i)*10e9
		if err := os.WriteFile(name, pcapFile(t, 1, false, rec{ts: ts, data: frame}, rec{ts: ts + 1e9, data: frame}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open([]string{a, b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	segs, err := drain(r)
	var e *Error
	if len(segs) != 2 || !errors.As(err, &e) || e.File != b || e.Frame != 3 || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%d segments, then %v; want 2, then an error naming %s at frame 3", len(segs), err, b)
	}
	if msg := err.Error(); !strings.Contains(msg, "opening it again") {
		t.Errorf("message %q does not say what failed", msg)
	}
}
