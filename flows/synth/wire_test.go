package synth_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/synth"
)

// This file re-derives a capture's truth from the bytes alone, with
// gopacket as the decoder and DESIGN.md's definitions applied to the
// decoded segments, so the generator's bookkeeping is checked against
// what it actually wrote.

const (
	client = 0
	server = 1
)

// wireFlow is one incarnation of a 4-tuple as the wire shows it.
type wireFlow struct {
	ep        [2]netip.AddrPort // client (sent the SYN), server
	isn       [2]uint32
	synAck    bool
	packets   int
	rst       int // side+1 of the first RST, 0 for none
	fins      [2]int
	finSeq    [2]uint32
	firstFin  int // side+1 of the first FIN, 0 for none
	finAck    [2]uint32
	ackOfFin  int // flags of the passive side's first segment that ACKs the first FIN: 0 none, 1 pure, 2 with FIN
	dataAfter bool
	prev      *wireFlow
}

type tupleKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) tupleKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return tupleKey{x, y}
}

// record is one packet as read back from a capture.
type record struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// readAll reads every record of a pcap or pcapng capture with pcapgo.
func readAll(t testing.TB, b []byte, format synth.Format) ([]record, layers.LinkType) {
	t.Helper()
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var link layers.LinkType
	switch format {
	case synth.PCAP:
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		src, link = r, r.LinkType()
	case synth.PCAPNG:
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		src, link = r, r.LinkType()
	}
	var out []record
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, link
		}
		if err != nil {
			t.Fatalf("record %d: %v", len(out)+1, err)
		}
		out = append(out, record{ci, data})
	}
}

// wireTruth decodes recs and counts what synth.Truth counts.
func wireTruth(t testing.TB, recs []record) synth.Truth {
	t.Helper()
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &udp)
	parser.IgnoreUnsupported = true

	tr := synth.Truth{
		ByKind: map[string]int{}, ByInitiator: map[string]int{},
		ResetBy: map[string]int{}, ReuseByHolder: map[string]int{},
	}
	live := map[tupleKey]*wireFlow{}
	var all []*wireFlow
	for i, rec := range recs {
		if err := parser.DecodeLayers(rec.data, &decoded); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		tr.Packets++
		var src, dst netip.Addr
		var l4len int
		isTCP := false
		for _, l := range decoded {
			switch l {
			case layers.LayerTypeIPv4:
				src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
				dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
				l4len = int(ip4.Length) - int(ip4.IHL)*4
			case layers.LayerTypeIPv6:
				src, _ = netip.AddrFromSlice(ip6.SrcIP)
				dst, _ = netip.AddrFromSlice(ip6.DstIP)
				l4len = int(ip6.Length)
				tr.IPv6Packets++
			case layers.LayerTypeUDP:
				tr.UDPPackets++
			case layers.LayerTypeTCP:
				isTCP = true
			}
		}
		if !isTCP {
			continue
		}
		tr.TCPPackets++
		plen := l4len - int(tcp.DataOffset)*4
		s := netip.AddrPortFrom(src, uint16(tcp.SrcPort))
		d := netip.AddrPortFrom(dst, uint16(tcp.DstPort))
		k := keyOf(s, d)
		f := live[k]
		if tcp.SYN {
			tr.SYNs++
		}
		if tcp.FIN {
			tr.FINs++
		}
		if tcp.RST {
			tr.RSTs++
		}
		if tcp.SYN && !tcp.ACK {
			nf := &wireFlow{ep: [2]netip.AddrPort{s, d}, isn: [2]uint32{tcp.Seq, 0}, prev: f}
			live[k] = nf
			all = append(all, nf)
			f = nf
		}
		if f == nil {
			t.Fatalf("frame %d: segment of a flow without a SYN", i+1)
		}
		f.packets++
		side := client
		if s == f.ep[server] {
			side = server
		}
		switch {
		case tcp.SYN && tcp.ACK:
			f.synAck, f.isn[server] = true, tcp.Seq
		case tcp.RST:
			if f.rst == 0 {
				f.rst = side + 1
			}
		}
		if a := f.firstFin - 1; a >= 0 && side != a {
			if plen > 0 {
				f.dataAfter = true
			}
			if f.ackOfFin == 0 && tcp.ACK && !flows.SeqLess(tcp.Ack, f.finSeq[a]+1) {
				f.ackOfFin = 1
				if tcp.FIN {
					f.ackOfFin = 2
				}
			}
		}
		if tcp.FIN {
			if f.fins[side] == 0 {
				f.finSeq[side], f.finAck[side] = tcp.Seq, tcp.Ack
				if f.firstFin == 0 {
					f.firstFin = side + 1
				}
			}
			f.fins[side]++
		}
	}

	names := [2]string{synth.SideClient, synth.SideServer}
	for _, f := range all {
		tr.Conns++
		if p := f.prev; p != nil {
			switch {
			case p.fins[client] > 0 && f.isn[client] == p.finSeq[client]+65538:
				tr.Reuses++
				tr.ReuseByHolder[synth.SideClient]++
			case p.fins[server] > 0 && f.synAck && f.isn[server] == p.finSeq[server]+65538:
				tr.Reuses++
				tr.ReuseByHolder[synth.SideServer]++
			}
		}
		for _, n := range f.fins {
			tr.FinRetransmissions += max(n-1, 0)
		}
		a := f.firstFin - 1
		kind := ""
		switch {
		case f.rst > 0 && !f.synAck:
			kind = synth.KindRejected
		case f.rst > 0:
			kind = synth.KindReset
			tr.ResetBy[names[f.rst-1]]++
		case a < 0:
			kind = synth.KindOpenAtEnd
			if f.packets == 1 {
				tr.SynOnly++
			}
		case f.fins[1-a] == 0:
			kind = synth.KindHalfClosedAtEnd
		case flows.SeqLess(f.finAck[1-a], f.finSeq[a]+1):
			kind = synth.KindSimultaneous
		case f.ackOfFin == 2:
			kind = synth.KindThreeWay
		default:
			kind = synth.KindFourWay
		}
		tr.ByKind[kind]++
		switch kind {
		case synth.KindSimultaneous:
			tr.ByInitiator[synth.SideSimultaneous]++
		case synth.KindFourWay, synth.KindThreeWay, synth.KindHalfClosedAtEnd:
			tr.ByInitiator[names[a]]++
		}
		if a >= 0 && f.dataAfter && kind != synth.KindReset {
			tr.HalfCloses++
		}
	}
	tr.Tuples = len(live)
	if len(recs) > 0 {
		tr.Start = recs[0].ci.Timestamp.UTC()
		tr.End = recs[len(recs)-1].ci.Timestamp.UTC()
	}
	return tr
}

// comparable returns the part of tr that the wire shows.
func comparable(tr synth.Truth) synth.Truth {
	tr.FinTLPs, tr.MaxOpen, tr.MeanOpen = 0, 0, 0
	for _, m := range []map[string]int{tr.ByKind, tr.ByInitiator, tr.ResetBy, tr.ReuseByHolder} {
		for k, v := range m {
			if v == 0 {
				delete(m, k)
			}
		}
	}
	return tr
}

// truncate drops the sub-microsecond part of a truth's times, as a
// microsecond capture does.
func truncate(tr synth.Truth) synth.Truth {
	tr.Start, tr.End = tr.Start.Truncate(time.Microsecond), tr.End.Truncate(time.Microsecond)
	return tr
}
