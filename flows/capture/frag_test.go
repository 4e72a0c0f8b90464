package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/pcapgo"
	"github.com/teardown/teardown/flows"
)

// ethHeader is an Ethernet header for EtherType et.
func ethHeader(et uint16) []byte {
	return cat(macB, macA, []byte{byte(et >> 8), byte(et)})
}

// fragments4 cuts the IPv4 datagram ip into fragments of at most size
// bytes of payload (a multiple of 8), each in an Ethernet frame, as a
// router does: every fragment has the datagram's header, DF clear.
func fragments4(ip []byte, size int) [][]byte {
	hl := int(ip[0]&0x0f) * 4
	payload := ip[hl:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		h := bytes.Clone(ip[:hl])
		binary.BigEndian.PutUint16(h[2:], uint16(hl+end-off))
		fl := uint16(off / 8)
		if end < len(payload) {
			fl |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fl)
		out = append(out, cat(ethHeader(etIPv4), h, payload[off:end]))
	}
	return out
}

// fragments6 cuts the IPv6 datagram ip (no extension headers) into
// fragments of at most size bytes of payload, with identification id.
func fragments6(ip []byte, size int, id uint32) [][]byte {
	payload := ip[40:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		h := bytes.Clone(ip[:40])
		binary.BigEndian.PutUint16(h[4:], uint16(8+end-off))
		h[6] = 44
		fo := uint16(off) // a multiple of 8: the offset in its 13 high bits
		if end < len(payload) {
			fo |= 1
		}
		fh := []byte{ip[6], 0, byte(fo >> 8), byte(fo), 0, 0, 0, 0}
		binary.BigEndian.PutUint32(fh[4:], id)
		out = append(out, cat(ethHeader(etIPv6), h, fh, payload[off:end]))
	}
	return out
}

// TestReassemble reads TCP segments sent in IP fragments, directly and
// in a tunnel's datagram: each is delivered whole at the fragment that
// completes it, and the other fragments are counted as such.
func TestReassemble(t *testing.T) {
	big := basic()
	big.payload, big.df, big.ipid = 3000, false, 0x4242
	other := basic()
	other.src, other.seq = netip.MustParseAddrPort("198.51.100.9:40000"), 7
	v6 := big
	v6.src, v6.dst, v6.ttl = cli6, srv6, 57
	tunnelled := basic()
	tunnelled.payload = 1448
	f4 := fragments4(ipPacket(t, big), 1480)
	vx := overUDP(t, false, 51234, portVXLAN, cat(vxlan, ethFrame(t, tunnelled)))
	vxf := fragments4(vx[14:], 1480)
	small := fragments4(vx[14:], 48) // the headers in four fragments
	slices.Reverse(small)
	f6 := fragments6(ipPacket(t, v6), 1232, 0xdeadbeef)
	dns := fragments4(overUDP(t, false, 53, 40000, make([]byte, 2000))[14:], 1480)
	o := ethFrame(t, other)
	tests := []struct {
		name        string
		frames      [][]byte
		want        []tcpSpec // in order of delivery
		at          []int     // the 1-based record each is delivered at
		fragments   uint64
		reassembled uint64
		nonTCP      uint64
	}{
		{"in order, another segment between", [][]byte{f4[0], o, f4[1], f4[2]}, []tcpSpec{other, big}, []int{2, 4}, 2, 1, 0},
		{"last first", [][]byte{f4[2], f4[1], f4[0]}, []tcpSpec{big}, []int{3}, 2, 1, 0},
		{"each twice (tcpdump -i any)", [][]byte{f4[0], f4[0], f4[1], f4[1], f4[2], f4[2]}, []tcpSpec{big}, []int{5}, 5, 1, 0},
		{"vxlan datagram", [][]byte{vxf[0], vxf[1]}, []tcpSpec{tunnelled}, []int{2}, 1, 1, 0},
		{"ipv6", [][]byte{f6[0], f6[1], f6[2]}, []tcpSpec{v6}, []int{3}, 2, 1, 0},
		{"vxlan datagram in 48-byte fragments, last first", small, []tcpSpec{tunnelled}, []int{len(small)}, uint64(len(small) - 1), 1, 0},
		{"udp, no tunnel", [][]byte{dns[0], o, dns[1]}, []tcpSpec{other}, []int{2}, 0, 0, 2},
	}
	if len(f4) != 3 || len(f6) != 3 || len(vxf) != 2 || len(dns) != 2 {
		t.Fatalf("fragments: %d, %d, %d, %d", len(f4), len(f6), len(vxf), len(dns))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []rec
			for i, f := range tt.frames {
				recs = append(recs, rec{ts: int64(i+1) * 1e6, data: f})
			}
			segs, info := readBytes(t, pcapFile(t, 1, true, recs...))
			var want []flows.Segment
			for i, s := range tt.want {
				want = append(want, s.want(uint64(tt.at[i]), int64(tt.at[i])*1e6))
			}
			if diff := cmp.Diff(want, segs, segOpts); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
			if info.Fragments != tt.fragments || info.Reassembled != tt.reassembled || info.NonTCP != tt.nonTCP {
				t.Errorf("fragments %d, reassembled %d, non-TCP %d; want %d, %d, %d",
					info.Fragments, info.Reassembled, info.NonTCP, tt.fragments, tt.reassembled, tt.nonTCP)
			}
			if len(info.Warnings) != 0 {
				t.Errorf("warnings: %q", info.Warnings)
			}
		})
	}
}

// TestReassembleIncomplete checks what becomes of datagrams that never
// complete: nothing is delivered, every fragment is counted, and one
// warning names the first frame of the earliest.
func TestReassembleIncomplete(t *testing.T) {
	big := basic()
	big.payload, big.df = 3000, false
	f4 := fragments4(ipPacket(t, big), 1480)
	tunnelled := basic()
	tunnelled.payload = 1448
	vxf := fragments4(overUDP(t, false, 51234, portVXLAN, cat(vxlan, ethFrame(t, tunnelled)))[14:], 1480)
	dns := fragments4(overUDP(t, false, 53, 40000, make([]byte, 2000))[14:], 1480)
	tests := []struct {
		name  string
		recs  []rec
		lost  string // in the warning; "" for none
		frags uint64
	}{
		{"middle missing", []rec{{ts: 1e6, data: f4[0]}, {ts: 2e6, data: f4[2]}},
			fmt.Sprintf("frame 1: 1 fragmented IP datagram carrying TCP never completed (the first a segment from %s to %s)", big.src, big.dst), 2},
		{"the rest after ipfrag_time", []rec{{ts: 1e6, data: f4[0]}, {ts: 2e6, data: f4[1]}, {ts: 32e9, data: f4[2]}},
			"frame 1: 2 fragmented IP datagrams carrying TCP never completed", 3},
		{"vxlan, last missing", []rec{{ts: 1e6, data: vxf[0]}},
			fmt.Sprintf("frame 1: 1 fragmented IP datagram carrying TCP never completed (the first a segment from %s to %s)", tunnelled.src, tunnelled.dst), 1},
		{"vxlan, first missing: not known to carry TCP", []rec{{ts: 1e6, data: vxf[1]}}, "", 1},
		{"udp, no tunnel", []rec{{ts: 1e6, data: dns[0]}}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, info := readBytes(t, pcapFile(t, 1, true, tt.recs...))
			if len(segs) != 0 {
				t.Errorf("delivered %d segments, want none", len(segs))
			}
			if info.Fragments != tt.frags || info.Reassembled != 0 {
				t.Errorf("fragments %d, reassembled %d; want %d, 0", info.Fragments, info.Reassembled, tt.frags)
			}
			got := strings.Join(info.Warnings, "\n")
			if tt.lost == "" && got != "" || !strings.Contains(got, tt.lost) {
				t.Errorf("warnings %q, want one with %q", got, tt.lost)
			}
		})
	}
}

// TestReassembleCut reads a datagram whose first fragment snaplen cut
// after its TCP header: the segment's length still comes from the IP
// lengths.
func TestReassembleCut(t *testing.T) {
	big := basic()
	big.payload, big.df = 3000, false
	f4 := fragments4(ipPacket(t, big), 1480)
	segs, info := readBytes(t, pcapFile(t, 1, true,
		rec{ts: 1e6, data: f4[0][:96], wire: len(f4[0])}, rec{ts: 2e6, data: f4[1][:96], wire: len(f4[1])},
		rec{ts: 3e6, data: f4[2][:96], wire: len(f4[2])}))
	if diff := cmp.Diff([]flows.Segment{big.want(3, 3e6)}, segs, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if info.Reassembled != 1 || info.Fragments != 2 {
		t.Errorf("reassembled %d, fragments %d; want 1, 2", info.Reassembled, info.Fragments)
	}
}

// TestFragCover checks the byte ranges a datagram's fragments cover,
// overlapping and out of order.
func TestFragCover(t *testing.T) {
	var g fragDatagram
	for _, r := range [][2]int{{16, 24}, {0, 8}, {40, 48}, {8, 16}, {20, 44}} {
		g.cover(r[0], r[1])
	}
	if want := [][2]int{{0, 48}}; !cmp.Equal(g.spans, want) {
		t.Errorf("spans %v, want %v", g.spans, want)
	}
	g = fragDatagram{}
	for i := range fragSpans + 2 {
		g.cover(16*i, 16*i+8)
	}
	if len(g.spans) != fragSpans {
		t.Errorf("%d spans, want at most %d", len(g.spans), fragSpans)
	}
}

// TestLabFragments reads the lab's captures of fragmented segments: a
// router fragmenting the server's (ip-fragments), and VXLAN datagrams
// fragmented on an underlay too small for them (vxlan-fragments).
// Reassembled, every byte acknowledged is in a segment the reader
// delivered, and a copy of the capture cut at 200 bytes a record
// (tcpdump -s 200) delivers the same segments.
func TestLabFragments(t *testing.T) {
	for _, name := range []string{"ip-fragments.pcap", "vxlan-fragments.pcap"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lab", name))
			if err != nil {
				t.Skip(err)
			}
			segs, info := readBytes(t, b)
			if info.Reassembled == 0 {
				t.Fatalf("no segment reassembled: %+v", info)
			}
			// The end of the data each address sent, as far as the
			// segments show.
			end := map[netip.Addr]uint32{}
			for _, s := range segs {
				n := s.Seq + s.PayloadLen
				if s.Flags.Has(flows.SYN) || s.Flags.Has(flows.FIN) {
					n++
				}
				if e, ok := end[s.Src.Addr()]; !ok || int32(n-e) > 0 {
					end[s.Src.Addr()] = n
				}
				if e, ok := end[s.Dst.Addr()]; ok && s.Flags.Has(flows.ACK) && int32(s.Ack-e) > 0 {
					t.Errorf("frame %d acknowledges %d, beyond the %d the segments before it show", s.Frame, s.Ack, e)
				}
			}
			// The same records cut by snaplen: the lengths come from the
			// IP headers, not the bytes captured.
			r, err := pcapgo.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			var recs []rec
			for {
				data, ci, err := r.ReadPacketData()
				if err != nil {
					break
				}
				recs = append(recs, rec{ts: ci.Timestamp.UnixNano(), data: data[:min(len(data), 200)], wire: ci.Length})
			}
			cut, cutInfo := readBytes(t, pcapFile(t, 1, true, recs...))
			if diff := cmp.Diff(segs, cut, segOpts); diff != "" {
				t.Errorf("segments of the copy cut at 200 bytes (-whole +cut):\n%s", diff)
			}
			if cutInfo.Reassembled != info.Reassembled || cutInfo.Fragments != info.Fragments {
				t.Errorf("cut: %d reassembled, %d fragments; whole: %d, %d", cutInfo.Reassembled, cutInfo.Fragments, info.Reassembled, info.Fragments)
			}
		})
	}
}

// TestReassembleAcrossFiles reads a datagram whose fragments a rotating
// capture (tcpdump -C) put in two files: the second finishes what the
// first left. What neither finishes is reported once, at the end.
func TestReassembleAcrossFiles(t *testing.T) {
	big := basic()
	big.payload, big.df = 3000, false
	f4 := fragments4(ipPacket(t, big), 1480)
	a := tempFile(t, pcapFile(t, 1, true, rec{ts: 1e6, data: f4[0]}))
	b := tempFile(t, pcapFile(t, 1, true, rec{ts: 2e6, data: f4[1]}, rec{ts: 3e6, data: f4[2]}))
	segs, info := readAll(t, []string{a, b}, Options{})
	if diff := cmp.Diff([]flows.Segment{big.want(3, 3e6)}, segs, segOpts); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if info.Reassembled != 1 || len(info.Warnings) != 0 {
		t.Errorf("reassembled %d, warnings %q; want 1, none", info.Reassembled, info.Warnings)
	}
	c := tempFile(t, pcapFile(t, 1, true, rec{ts: 2e6, data: f4[2]}))
	segs, info = readAll(t, []string{a, c}, Options{})
	if len(segs) != 0 || len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], filepath.Base(a)) ||
		!strings.Contains(info.Warnings[0], "frame 1: 1 fragmented IP datagram carrying TCP never completed") {
		t.Errorf("%d segments, warnings %q; want none, and one about the datagram %s began", len(segs), info.Warnings, a)
	}
}

// TestFragLeftBounded: datagrams left by one input and taken by the next,
// again and again (a long rotation), do not grow what is kept.
func TestFragLeftBounded(t *testing.T) {
	var l fragLeft
	var tb fragTable
	for i := range 10*(fragPending-1) + 1 {
		g := &fragDatagram{key: fragKey{id: uint32(i)}, next: protoTCP, total: -1, frame: uint64(i + 1)}
		if !l.keep(g, "a", &tb) {
			t.Fatalf("datagram %d not kept", i)
		}
		if i%10 != 0 && l.take(g.key, 0) != g {
			t.Fatalf("datagram %d not taken", i)
		}
	}
	if len(l.order) > 2*fragPending+1 {
		t.Errorf("%d keys in order for %d datagrams held", len(l.order), len(l.m))
	}
	w := l.warnings()
	if len(w) != 1 || !strings.Contains(w[0], fmt.Sprintf("frame 1: %d fragmented IP datagrams", fragPending)) {
		t.Errorf("warnings %q", w)
	}
}
