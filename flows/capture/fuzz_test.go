package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/flows"
)

// fuzzSeeds are small captures of every format and block kind the reader
// handles.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	specs := conversation()[:3]
	eth := func(s tcpSpec) []byte { return ethFrame(tb, s) }
	recs, _ := records(specs, base, 1000, eth)
	pcap := pcapFile(tb, 1, false, recs...)
	ng := ngFile(tb, []uint32{1, 276}, recs...)
	big := newPcap(binary.BigEndian, pcapKuznetzov, 96, 113).rec(1, 2, 60, 1500, cat(sllHeader(etIPv4), ipPacket(tb, specs[0]))[:60])
	blocks := (&ngBuilder{order: binary.BigEndian}).shb().
		idb(1, 0, u8opt(9, 0x80|10), ngOpt{14, make([]byte, 8)}).idb(0, 64).
		block(blkNRB, []byte{0, 0, 0, 0}).
		epb(0, 1, recs[0].data, uint32(len(recs[0].data))).
		pb(1, 2, cat([]byte{2, 0, 0, 0}, ipPacket(tb, specs[1])), 200).
		spb(recs[2].data, uint32(len(recs[2].data))).
		block(blkISB, make([]byte, 12)).
		isb(0, 1, tsOpt(binary.BigEndian, 3, 1<<40), tsOpt(binary.BigEndian, 2, 1))
	// IP fragments: of a TCP segment over IPv4 and IPv6, and of a VXLAN
	// datagram, interleaved.
	long := specs[1]
	long.payload, long.df = 3000, false
	long6 := long
	long6.src, long6.dst = cli6, srv6
	var frags []rec
	for i, f := range append(append(fragments4(ipPacket(tb, long), 1480), fragments6(ipPacket(tb, long6), 1232, 7)...),
		fragments4(overUDP(tb, false, 51234, portVXLAN, cat(vxlan, ethFrame(tb, specs[2])))[14:], 48)...) {
		frags = append(frags, rec{ts: base + int64(i)*1000, data: f})
	}
	seeds := [][]byte{pcap, ng, big.b, blocks.b, gzipped(tb, pcap), compressed(tb, "zstd", ng), compressed(tb, "xz", pcap),
		pcapFile(tb, 1, false, frags...)}
	for _, name := range []string{"sll2-loopback.pcap", "nflog-veth.pcap"} {
		if real, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			seeds = append(seeds, real)
		}
	}
	return seeds
}

// FuzzOpen runs arbitrary bytes through Open and Next: no panic, no error
// but an *Error (there is no I/O to fail), frame numbers that increase,
// every record counted once, and the same result read from a file.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Open error %v (%T) is not an *Error", err, err)
			}
			return
		}
		defer r.Close()
		var n, last uint64
		for {
			s, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if s.Frame <= last {
				t.Fatalf("frame %d after frame %d", s.Frame, last)
			}
			last = s.Frame
			if n++; n > uint64(len(data)) {
				t.Fatalf("%d segments from %d bytes", n, len(data))
			}
		}
		info := r.Info()
		checkCounts(t, info)
		if info.Stopped != 0 && info.Stopped <= info.Last {
			t.Fatalf("stopped %d, not after the last record %d", info.Stopped, info.Last)
		}
		if info.TCPPackets != n || info.Packets < last {
			t.Fatalf("delivered %d segments up to frame %d; Info says %d TCP of %d", n, last, info.TCPPackets, info.Packets)
		}
		// The same bytes read from a file give the same segments and
		// Info.
		readBytes(t, data)
		// Twice, as two named inputs, the same whether Open parks them or
		// not.
		twice(t, data)
	})
}

// twice reads data written to two files, merged, with Open parking the
// inputs and without: the segments, the Info and any error must be the
// same.
func twice(t *testing.T, data []byte) {
	t.Helper()
	dir := t.TempDir()
	names := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
	for _, n := range names {
		if err := os.WriteFile(n, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		segs []flows.Segment
		info Info
		err  string
	}
	read := func(park bool) (res result) {
		defer func(p bool) { parkInputs = p }(parkInputs)
		parkInputs = park
		r, err := Open(names, Options{})
		if err != nil {
			return result{err: err.Error()}
		}
		defer r.Close()
		res.segs, err = drain(r)
		res.err, res.info = err.Error(), r.Info()
		return res
	}
	parked, open := read(true), read(false)
	if diff := cmp.Diff(open, parked, segOpts, cmp.AllowUnexported(result{})); diff != "" {
		t.Fatalf("two inputs read parked differ from read open (-open +parked):\n%s", diff)
	}
}

// FuzzDecode runs arbitrary bytes through the decoder of every link type.
func FuzzDecode(f *testing.F) {
	for _, s := range conversation() {
		f.Add(uint8(linkEthernet), ethFrame(f, s), uint16(0))
		f.Add(uint8(linkSLL2), cat(sll2Header(etherTypeOf(s)), ipPacket(f, s)), uint16(0))
	}
	v6 := basic()
	v6.src, v6.dst = cli6, srv6
	for _, tun := range tunnelled(f, basic(), v6) {
		f.Add(uint8(linkEthernet), tun.data, uint16(0))
	}
	s4, s6 := syn(), syn()
	s6.src, s6.dst = cli6, srv6
	f.Add(uint8(linkEthernet), icmpFrame(f, srv4.Addr(), cli4.Addr(), 3, 3, ipPacket(f, s4)), uint16(0))
	f.Add(uint8(linkEthernet), icmpFrame(f, srv6.Addr(), cli6.Addr(), 1, 1, ipPacket(f, s6)), uint16(0))
	f.Fuzz(func(t *testing.T, lk uint8, data []byte, extra uint16) {
		var s flows.Segment
		wire := len(data) + int(extra)
		switch decode(link(lk)%(linkNFLOG+1), data, wire, &s) {
		case resTCP:
			if int(s.PayloadLen) > wire || s.ICMP != nil {
				t.Fatalf("payload length %d beyond the %d-byte frame, or an ICMP error %v", s.PayloadLen, wire, s.ICMP)
			}
		case resICMP:
			if s.ICMP == nil || s.PayloadLen != 0 || !s.ICMP.From.IsValid() {
				t.Fatalf("ICMP error %+v, payload %d", s.ICMP, s.PayloadLen)
			}
		}
	})
}
