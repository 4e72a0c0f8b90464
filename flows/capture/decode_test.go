package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/teardown/teardown/flows"
)

func eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestDecodeEncapsulations decodes the same segments under every link
// layer and encapsulation the package supports and compares every field.
func TestDecodeEncapsulations(t *testing.T) {
	v4 := basic()
	v6 := basic()
	v6.src, v6.dst, v6.ttl = cli6, srv6, 57
	s4 := syn()
	s4.src, s4.dst = srv4, cli4

	vlan := func(et layers.EthernetType) *layers.Dot1Q {
		return &layers.Dot1Q{VLANIdentifier: 100, Type: et}
	}
	with := func(link []gopacket.SerializableLayer, s tcpSpec) []byte {
		return serialize(t, append(link, s.net()...)...)
	}
	null := func(order binary.AppendByteOrder, af uint32, s tcpSpec) []byte {
		return cat(order.AppendUint32(nil, af), ipPacket(t, s))
	}
	inner := func(s tcpSpec) []byte { return ipPacket(t, s) }
	// nflog wraps s as tcpdump -i nflog:5 records it: the header, then
	// attributes in byte order o (a packet header, the hook, the
	// payload, padded to 4 bytes), the payload cut to copy bytes when
	// copy > 0 (iptables --nflog-size).
	nflog := func(o binary.AppendByteOrder, af byte, s tcpSpec, copy int) []byte {
		attr := func(typ uint16, v []byte) []byte {
			a := o.AppendUint16(o.AppendUint16(nil, uint16(4+len(v))), typ)
			return append(append(a, v...), make([]byte, (4-len(v)%4)%4)...)
		}
		p := inner(s)
		if copy > 0 {
			p = p[:copy]
		}
		return cat([]byte{af, 0, 0, 5}, attr(1, []byte{8, 0, 1, 0}), attr(5, []byte{0, 0, 0, 1}), attr(nflogPayload, p))
	}

	tests := []struct {
		name string
		link link
		data []byte
		spec tcpSpec
	}{
		{"ethernet/ipv4", linkEthernet, ethFrame(t, v4), v4},
		{"ethernet/ipv6", linkEthernet, ethFrame(t, v6), v6},
		{"ethernet/syn options", linkEthernet, ethFrame(t, s4), s4},
		{"802.1q", linkEthernet, with([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(layers.EthernetTypeIPv4)}, v4), v4},
		{"qinq", linkEthernet, with([]gopacket.SerializableLayer{
			eth(layers.EthernetTypeQinQ), vlan(layers.EthernetTypeDot1Q), vlan(layers.EthernetTypeIPv6)}, v6), v6},
		{"mpls stack", linkEthernet, with([]gopacket.SerializableLayer{
			eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 100, TTL: 64}, &layers.MPLS{Label: 200, StackBottom: true, TTL: 64}}, v4), v4},
		{"vlan+mpls", linkEthernet, with([]gopacket.SerializableLayer{
			eth(layers.EthernetTypeDot1Q), vlan(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 7, StackBottom: true}}, v6), v6},
		{"mpls pseudowire", linkEthernet, cat(macB, macA, []byte{0x88, 0x47, 0x00, 0x00, 0x91, 0x40}, // label 9, bottom, TTL 64
			[]byte{0, 0, 0, 0}, ethFrame(t, v4)), v4}, // control word, then the customer's frame
		{"pppoe over qinq", linkEthernet, with([]gopacket.SerializableLayer{
			eth(layers.EthernetTypeQinQ), vlan(layers.EthernetTypeDot1Q), vlan(layers.EthernetTypePPPoESession),
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 5}, &layers.PPP{PPPType: layers.PPPTypeIPv4}}, v4), v4},
		{"pppoe ipv6", linkEthernet, with([]gopacket.SerializableLayer{
			eth(layers.EthernetTypePPPoESession),
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 5}, &layers.PPP{PPPType: layers.PPPTypeIPv6}}, v6), v6},
		{"802.3 llc snap", linkEthernet, with([]gopacket.SerializableLayer{
			eth(layers.EthernetTypeLLC), &layers.LLC{DSAP: 0xaa, SSAP: 0xaa, Control: 3},
			&layers.SNAP{OrganizationalCode: []byte{0, 0, 0}, Type: layers.EthernetTypeIPv4}}, v4), v4},
		{"ip in ip", linkEthernet, serialize(t, eth(layers.EthernetTypeIPv4), &layers.IPv4{
			Version: 4, TTL: 9, Protocol: layers.IPProtocolIPv4, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}},
			gopacket.Payload(inner(v4))), v4},
		{"6in4", linkRaw, serialize(t, &layers.IPv4{
			Version: 4, TTL: 9, Protocol: layers.IPProtocolIPv6, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}},
			gopacket.Payload(inner(v6))), v6},
		{"linux sll", linkSLL, cat(sllHeader(etIPv4), inner(v4)), v4},
		{"linux sll vlan", linkSLL, cat(sllHeader(etVLAN), []byte{0, 100, 0x86, 0xdd}, inner(v6)), v6},
		{"linux sll2 ipv4", linkSLL2, cat(sll2Header(etIPv4), inner(v4)), v4},
		{"linux sll2 ipv6", linkSLL2, cat(sll2Header(etIPv6), inner(v6)), v6},
		{"null little-endian", linkNull, null(binary.LittleEndian, 2, v4), v4},
		{"null big-endian", linkNull, null(binary.BigEndian, 2, v4), v4},
		{"null bsd ipv6", linkNull, null(binary.LittleEndian, 24, v6), v6},
		{"null freebsd ipv6", linkNull, null(binary.LittleEndian, 28, v6), v6},
		{"null darwin ipv6", linkNull, null(binary.LittleEndian, 30, v6), v6},
		{"loop", linkLoop, null(binary.BigEndian, 2, v4), v4},
		{"raw ipv4", linkRaw, inner(v4), v4},
		{"raw ipv6", linkRaw, inner(v6), v6},
		{"cisco hdlc", linkCHDLC, cat([]byte{0x0f, 0x00, 0x08, 0x00}, inner(v4)), v4},
		{"ppp", linkPPP, cat([]byte{0xff, 0x03, 0x00, 0x21}, inner(v4)), v4},
		{"ppp compressed protocol", linkPPP, cat([]byte{0x57}, inner(v6)), v6},
		{"nflog ipv4", linkNFLOG, nflog(binary.LittleEndian, 2, v4, 0), v4},
		{"nflog ipv6, big-endian attributes", linkNFLOG, nflog(binary.BigEndian, 10, v6, 0), v6},
		{"nflog, headers alone copied (--nflog-size 52)", linkNFLOG, nflog(binary.LittleEndian, 2, v4, 52), v4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDecode(t, tt.link, tt.data, tt.spec) })
	}
}

func TestDecodeIPv4Options(t *testing.T) {
	s := basic()
	s.ipv4Opts = []layers.IPv4Option{
		{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}, // router alert
		{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}},
		{OptionType: 1}, {OptionType: 0},
	}
	data := ethFrame(t, s)
	if ihl := data[14] & 0x0f; ihl != 9 {
		t.Fatalf("fixture has IHL %d, want 9", ihl)
	}
	checkDecode(t, linkEthernet, data, s)
}

// checkDecode decodes data and compares the segment with spec's.
func checkDecode(t *testing.T, lk link, data []byte, spec tcpSpec) {
	t.Helper()
	var got flows.Segment
	if r := decode(lk, data, len(data), &got); r != resTCP {
		t.Fatalf("decode = %d, want TCP", r)
	}
	if diff := cmp.Diff(spec.want(0, 0), got, segOpts); diff != "" {
		t.Errorf("segment (-want +got):\n%s", diff)
	}
}

func TestDecodeIPv6Extensions(t *testing.T) {
	hbh := []byte{43, 0, 1, 4, 0, 0, 0, 0}                           // hop-by-hop, PadN; next: routing
	routing := []byte{60, 0, 0, 0, 0, 0, 0, 0}                       // type 0, no segments; next: destination options
	dest := []byte{51, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // two units; next: AH
	ah := cat([]byte{44, 2, 0, 0}, make([]byte, 12))                 // 16 bytes; next: fragment
	atomic := []byte{6, 0, 0, 0, 0, 0, 0, 9}                         // offset 0, M=0; next: TCP
	tests := []struct {
		name string
		ext  []byte
		next layers.IPProtocol
	}{
		{"hop-by-hop chain", cat(hbh, routing, dest, ah, atomic), 0},
		{"destination options", cat([]byte{6, 0, 1, 4, 0, 0, 0, 0}), 60},
		{"atomic fragment", atomic, 44},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := basic()
			s.src, s.dst = cli6, srv6
			s.extensions, s.extNext = tt.ext, tt.next
			checkDecode(t, linkEthernet, ethFrame(t, s), s)
		})
	}
}

func TestDecodeTCPOptions(t *testing.T) {
	tests := []struct {
		name string
		syn  bool
		opts []byte
		want func(*flows.Segment)
	}{
		{"syn: mss, sack-permitted, timestamps, window scale", true,
			[]byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7},
			func(s *flows.Segment) {
				s.MSS, s.SACKPerm, s.WScale = 1460, true, 7
				s.HasTS, s.TSval, s.TSecr = true, 1, 2
				s.SYNOptions = layoutOf(flows.OptMSS, flows.OptSOK, flows.OptTS, flows.OptNOP, flows.OptWS)
			}},
		{"syn: Windows's layout", true,
			[]byte{2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2},
			func(s *flows.Segment) {
				s.MSS, s.SACKPerm, s.WScale = 1460, true, 8
				s.SYNOptions = layoutOf(flows.OptMSS, flows.OptNOP, flows.OptWS, flows.OptNOP, flows.OptNOP, flows.OptSOK)
			}},
		{"syn: macOS's layout, its end of options kept", true,
			[]byte{2, 4, 0x05, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0},
			func(s *flows.Segment) {
				s.MSS, s.SACKPerm, s.WScale = 1460, true, 6
				s.HasTS, s.TSval = true, 1
				s.SYNOptions = layoutOf(flows.OptMSS, flows.OptNOP, flows.OptWS, flows.OptNOP, flows.OptNOP, flows.OptTS, flows.OptSOK, flows.OptEOL)
			}},
		{"window scale above 14 is taken as 14", true, []byte{3, 3, 15, 0}, func(s *flows.Segment) {
			s.WScale = 14
			s.SYNOptions = layoutOf(flows.OptWS, flows.OptEOL)
		}},
		{"syn options ignored without SYN", false,
			[]byte{2, 4, 0x05, 0xb4, 4, 2, 3, 3, 7, 0},
			func(s *flows.Segment) {}},
		{"sack blocks", false, []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}, func(s *flows.Segment) { s.SACK = true }},
		{"end of options stops the walk", false, []byte{0, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0}, func(s *flows.Segment) {}},
		{"bad length stops the walk, keeps what came before", false,
			[]byte{8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 1, 0, 0},
			func(s *flows.Segment) { s.HasTS, s.TSval, s.TSecr = true, 1, 2 }},
		{"option longer than the header", false, []byte{1, 8, 12, 0, 0, 0}, func(s *flows.Segment) {}},
		{"bad mss length", true, []byte{2, 3, 5, 0}, func(s *flows.Segment) {
			s.SYNOptions = layoutOf(flows.OptMSS, flows.OptEOL) // the layout does not judge lengths
		}},
		{"syn: a length that does not fit ends the layout", true, []byte{2, 4, 0x05, 0xb4, 1, 8, 12, 0}, func(s *flows.Segment) {
			s.MSS = 1460
			s.SYNOptions = layoutOf(flows.OptMSS, flows.OptNOP)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := pad4(bytes.Clone(tt.opts)) // pads with end-of-options
			hdr := make([]byte, 20)
			binary.BigEndian.PutUint16(hdr, 1234)
			binary.BigEndian.PutUint16(hdr[2:], 80)
			hdr[12] = byte((20 + len(opts)) / 4 << 4)
			hdr[13] = byte(flows.ACK)
			if tt.syn {
				hdr[13] |= byte(flows.SYN)
			}
			seg := cat(hdr, opts)
			var got flows.Segment
			got.WScale = -1
			d := decoder{s: &got}
			if r := d.tcp(seg, len(seg), srv4.Addr(), cli4.Addr()); r != resTCP {
				t.Fatalf("tcp = %d, want TCP", r)
			}
			want := flows.Segment{
				Src:    netip.AddrPortFrom(srv4.Addr(), 1234),
				Dst:    netip.AddrPortFrom(cli4.Addr(), 80),
				WScale: -1, Flags: flows.Flags(hdr[13]),
			}
			tt.want(&want)
			if diff := cmp.Diff(want, got, segOpts); diff != "" {
				t.Errorf("segment (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeSkipped covers what is counted rather than decoded.
func TestDecodeSkipped(t *testing.T) {
	v4, v6 := basic(), basic()
	v6.src, v6.dst = cli6, srv6
	frame := ethFrame(t, v4)
	ipOff := 14

	// mutate returns a copy of frame changed by fn.
	mutate := func(b []byte, fn func(b []byte)) []byte {
		b = bytes.Clone(b)
		fn(b)
		return b
	}
	udpIP := &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: []byte{1, 2, 3, 4}, DstIP: []byte{5, 6, 7, 8}}
	udpL := &layers.UDP{SrcPort: 53, DstPort: 53}
	_ = udpL.SetNetworkLayerForChecksum(udpIP)
	udp := serialize(t, eth(layers.EthernetTypeIPv4), udpIP, udpL, gopacket.Payload("x"))
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		SourceHwAddress: macA, SourceProtAddress: []byte{1, 2, 3, 4}, DstHwAddress: macB, DstProtAddress: []byte{5, 6, 7, 8}})
	// An ICMP error quoting a TCP header: not a segment of any flow.
	quoted := ipPacket(t, v4)[:48]
	icmp := serialize(t, eth(layers.EthernetTypeIPv4),
		&layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolICMPv4, SrcIP: []byte{1, 2, 3, 4}, DstIP: []byte{5, 6, 7, 8}},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(5, 1)}, gopacket.Payload(quoted)) // a redirect
	v6frame := ethFrame(t, v6)
	v6ext := func(next layers.IPProtocol, ext ...byte) []byte {
		s := v6
		s.extensions, s.extNext = ext, next
		return ethFrame(t, s)
	}
	v6frag := func(offM uint16, next byte) []byte {
		return v6ext(44, next, 0, byte(offM>>8), byte(offM), 0, 0, 0, 1)
	}
	empty := v4
	empty.payload = 0
	frame0 := ethFrame(t, empty)

	checkResults(t, []resultCase{
		{"udp", linkEthernet, udp, 0, resNonTCP},
		{"arp", linkEthernet, arp, 0, resNonTCP},
		{"icmp quoting tcp", linkEthernet, icmp, 0, resNonTCP},
		{"unknown ethertype", linkEthernet, mutate(frame, func(b []byte) { b[12], b[13] = 0x88, 0xcc }), 0, resNonTCP},
		{"pppoe discovery", linkEthernet, mutate(frame, func(b []byte) { b[12], b[13] = 0x88, 0x63 }), 0, resNonTCP},
		{"null unknown family", linkNull, cat([]byte{7, 0, 0, 0}, ipPacket(t, v4)), 0, resNonTCP},
		{"raw ip version 5", linkRaw, []byte{0x50, 0, 0, 0}, 0, resNonTCP},
		{"sll netlink", linkSLL, mutate(cat(sllHeader(etIPv4), ipPacket(t, v4)), func(b []byte) { b[2], b[3] = 0x03, 0x38 }), 0, resNonTCP},
		{"unsupported link", linkUnsupported, frame, 0, resNonTCP},

		{"ipv4 first fragment", linkEthernet, mutate(frame, func(b []byte) { b[ipOff+6] |= 0x20 }), 0, resFragment},
		{"ipv4 later fragment", linkEthernet, mutate(frame, func(b []byte) { b[ipOff+7] = 0x10 }), 0, resFragment},
		{"ipv6 first fragment", linkEthernet, v6frag(1, 6), 0, resFragment},
		{"ipv6 later fragment", linkEthernet, v6frag(0x100, 6), 0, resFragment},
		{"ipv6 fragment of udp", linkEthernet, v6frag(1, 17), 0, resNonTCP},

		{"ethernet header cut", linkEthernet, frame[:13], 0, resMalformed},
		{"vlan tag cut", linkEthernet, cat(frame[:12], []byte{0x81, 0x00, 0}), 0, resMalformed},
		{"ipv4 header cut", linkEthernet, frame[:ipOff+19], 200, resMalformed},
		{"ipv4 bad version", linkEthernet, mutate(frame, func(b []byte) { b[ipOff] = 0x55 }), 0, resMalformed},
		{"ipv4 ihl below 5", linkEthernet, mutate(frame, func(b []byte) { b[ipOff] = 0x44 }), 0, resMalformed},
		{"ipv4 total length beyond the frame", linkEthernet, mutate(frame, func(b []byte) { b[ipOff+2], b[ipOff+3] = 0x05, 0xdc }), 0, resMalformed},
		{"ipv4 total length below the header", linkEthernet, mutate(frame, func(b []byte) { b[ipOff+2], b[ipOff+3] = 0, 10 }), 0, resMalformed},
		{"tcp header cut by snaplen", linkEthernet, frame[:ipOff+20+19], len(frame), resCut},
		{"tcp header cut before its data offset", linkEthernet, frame[:ipOff+20+5], len(frame), resCut},
		{"tcp header not captured at all", linkEthernet, frame[:ipOff+20], len(frame), resCut},
		{"tcp options cut by snaplen", linkEthernet, frame[:ipOff+20+21], len(frame), resCut},
		{"ipv6 tcp header cut by snaplen", linkEthernet, v6frame[:14+40+6], len(v6frame), resCut},
		{"tcp header cut, data offset below 5", linkEthernet, mutate(frame, func(b []byte) { b[ipOff+20+12] = 0x40 })[:ipOff+20+19], len(frame), resMalformed},
		{"tcp header cut, data offset beyond the segment", linkEthernet, mutate(frame0, func(b []byte) { b[ipOff+20+12] = 0xf0 })[:ipOff+20+19], len(frame0), resMalformed},
		{"ip length too short for a tcp header", linkEthernet, mutate(frame, func(b []byte) { b[ipOff+2], b[ipOff+3] = 0, 20+19 }), 0, resMalformed},
		{"tcp data offset below 5", linkEthernet, mutate(frame, func(b []byte) { b[ipOff+20+12] = 0x40 }), 0, resMalformed},
		{"tcp data offset beyond the segment", linkEthernet, mutate(frame0, func(b []byte) { b[ipOff+20+12] = 0xf0 }), 0, resMalformed},
		{"ipv6 header cut", linkEthernet, v6frame[:14+39], 200, resMalformed},
		{"ipv6 payload length beyond the frame", linkEthernet, mutate(v6frame, func(b []byte) { b[14+4] = 0x10 }), 0, resMalformed},
		{"ipv6 extension beyond the payload", linkEthernet, v6ext(0, 6, 200, 1, 4, 0, 0, 0, 0), 0, resMalformed},
		{"pppoe header cut", linkEthernet, cat(frame[:12], []byte{0x88, 0x64, 0x11, 0}), 0, resMalformed},
		{"mpls stack cut", linkEthernet, cat(frame[:12], []byte{0x88, 0x47, 0, 0, 0, 0}), 0, resMalformed},
		{"sll2 header cut", linkSLL2, sll2Header(etIPv4)[:19], 0, resMalformed},
	})
}

// resultCase is a record of the given link type, its length on the wire
// (0: len(data)), and what the decoder must make of it.
type resultCase struct {
	name string
	link link
	data []byte
	wire int
	want result
}

// checkResults decodes each case's record and checks the result.
func checkResults(t *testing.T, tests []resultCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := tt.wire
			if wire == 0 {
				wire = len(tt.data)
			}
			var got flows.Segment
			if r := decode(tt.link, tt.data, wire, &got); r != tt.want {
				t.Errorf("decode = %d, want %d", r, tt.want)
			}
		})
	}
}

// TestDecodeLengths checks that the payload length comes from the IP
// header: after a snaplen cut, past Ethernet padding, and from the frame
// when segmentation offload left the IP length 0.
func TestDecodeLengths(t *testing.T) {
	small := basic()
	small.payload, small.ts = 0, false // the frame is padded to 60 bytes
	big := basic()
	big.payload = 1400
	v6 := big
	v6.src, v6.dst = cli6, srv6

	padded := ethFrame(t, small)
	if len(padded) != 60 {
		t.Fatalf("fixture is %d bytes, want 60 (padded)", len(padded))
	}
	full := ethFrame(t, big)
	full6 := ethFrame(t, v6)
	tso := bytes.Clone(full)
	tso[14+2], tso[14+3] = 0, 0
	tso6 := bytes.Clone(full6)
	tso6[14+4], tso6[14+5] = 0, 0
	headersOnly := 14 + 20 + 32 // Ethernet, IPv4, TCP with timestamps

	// A PPPoE session frame whose IP header claims the 6 bytes of padding
	// after the datagram (seen in the wild, zeek's pppoe-over-qinq.pcap):
	// PPPoE's own length ends the datagram.
	ack := basic()
	ack.payload, ack.ts = 0, false
	ackIP := ipPacket(t, ack)
	binary.BigEndian.PutUint16(ackIP[2:], uint16(len(ackIP)+6))
	pppoe := cat(serialize(t, eth(layers.EthernetTypePPPoESession),
		&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 5}, &layers.PPP{PPPType: layers.PPPTypeIPv4},
		gopacket.Payload(ackIP)), make([]byte, 6))

	tests := []struct {
		name string
		data []byte
		wire int
		want uint32
	}{
		{"ethernet padding", padded, len(padded), 0},
		{"pppoe length ends the datagram", pppoe, len(pppoe), 0},
		{"cut by snaplen after the tcp header", full[:headersOnly], len(full), 1400},
		{"cut by snaplen, one byte after", full[:headersOnly+1], len(full), 1400},
		{"ipv6 cut by snaplen", full6[:14+40+32], len(full6), 1400},
		{"segmentation offload, ipv4 length 0", tso, len(tso), 1400},
		{"segmentation offload, ipv6 length 0", tso6, len(tso6), 1400},
		{"segmentation offload, cut by snaplen", tso[:headersOnly], len(tso), 1400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got flows.Segment
			if r := decode(linkEthernet, tt.data, tt.wire, &got); r != resTCP {
				t.Fatalf("decode = %d, want TCP", r)
			}
			if got.PayloadLen != tt.want {
				t.Errorf("PayloadLen = %d, want %d", got.PayloadLen, tt.want)
			}
		})
	}
}

// TestDecodeDSACK covers RFC 2883 §4's two ways a first SACK block
// reports a duplicate, across the sequence space's wrap.
func TestDecodeDSACK(t *testing.T) {
	block := func(l, r uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, l), r)
	}
	sack := func(blocks ...[]byte) []byte {
		o := []byte{1, 1, 5, byte(2 + 8*len(blocks))}
		for _, b := range blocks {
			o = append(o, b...)
		}
		return o
	}
	tests := []struct {
		name  string
		ack   uint32
		flags flows.Flags
		opts  []byte
		dsack bool
		l, r  uint32
	}{
		{"below the acknowledgement: a FIN received twice", 1001, flows.ACK, sack(block(1000, 1001)), true, 1000, 1001},
		{"below the acknowledgement, across the wrap", 5, flows.ACK, sack(block(0xfffffff0, 0xfffffff8)), true, 0xfffffff0, 0xfffffff8},
		{"within the second block: out-of-order data received twice", 1000, flows.ACK, sack(block(3000, 3100), block(2000, 4000)), true, 3000, 3100},
		{"above the acknowledgement: an ordinary SACK", 1000, flows.ACK, sack(block(2000, 3000), block(4000, 5000)), false, 0, 0},
		{"at the acknowledgement", 1000, flows.ACK, sack(block(1000, 1500)), false, 0, 0},
		{"no ACK flag: the acknowledgement means nothing", 1001, 0, sack(block(1000, 1001)), false, 0, 0},
		{"an empty block", 1001, flows.ACK, sack(block(1000, 1000)), false, 0, 0},
		{"second block does not contain the first", 1000, flows.ACK, sack(block(3000, 4100), block(2000, 4000)), false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := pad4(bytes.Clone(tt.opts))
			hdr := make([]byte, 20)
			binary.BigEndian.PutUint32(hdr[8:], tt.ack)
			hdr[12] = byte((20 + len(opts)) / 4 << 4)
			hdr[13] = byte(tt.flags)
			seg := cat(hdr, opts)
			got := flows.Segment{WScale: -1}
			d := decoder{s: &got}
			if r := d.tcp(seg, len(seg), srv4.Addr(), cli4.Addr()); r != resTCP {
				t.Fatalf("tcp = %d, want TCP", r)
			}
			if !got.SACK || got.DSACK != tt.dsack || got.DSACKLeft != tt.l || got.DSACKRight != tt.r {
				t.Errorf("SACK %v, D-SACK %v [%d, %d), want true, %v [%d, %d)", got.SACK, got.DSACK, got.DSACKLeft, got.DSACKRight, tt.dsack, tt.l, tt.r)
			}
		})
	}
}

// layoutOf packs option codes as flows.PackOptions does.
func layoutOf(codes ...flows.Options) flows.Options {
	var l flows.Options
	for i, c := range codes {
		l |= c << (4 * i)
	}
	return l
}
