package capture

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/teardown/teardown/flows"
)

// icmpFrame builds an Ethernet frame of an ICMP (ICMPv6 when from is an
// IPv6 address) message of the given type and code from from to to,
// quoting quote.
func icmpFrame(t testing.TB, from, to netip.Addr, typ, code uint8, quote []byte) []byte {
	t.Helper()
	if from.Is4() {
		return serialize(t, eth(layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, TTL: 63, Id: 77, Protocol: layers.IPProtocolICMPv4, SrcIP: from.AsSlice(), DstIP: to.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, gopacket.Payload(quote))
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 62, NextHeader: layers.IPProtocolICMPv6, SrcIP: from.AsSlice(), DstIP: to.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	_ = ic.SetNetworkLayerForChecksum(ip)
	// ICMPv6 error messages have 4 bytes (unused, MTU or pointer) before
	// the quote, which gopacket's ICMPv6 layer leaves to the payload.
	return serialize(t, eth(layers.EthernetTypeIPv6), ip, ic, gopacket.Payload(append(make([]byte, 4), quote...)))
}

// pmtuFrame builds path MTU discovery's message from from to to, with
// next-hop MTU mtu, quoting quote: a "fragmentation needed" (ICMPv4) or a
// "packet too big" (ICMPv6).
func pmtuFrame(t testing.TB, from, to netip.Addr, mtu uint32, quote []byte) []byte {
	t.Helper()
	if from.Is4() {
		return serialize(t, eth(layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, TTL: 63, Id: 77, Protocol: layers.IPProtocolICMPv4, SrcIP: from.AsSlice(), DstIP: to.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4), Seq: uint16(mtu)}, gopacket.Payload(quote))
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 62, NextHeader: layers.IPProtocolICMPv6, SrcIP: from.AsSlice(), DstIP: to.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(2, 0)}
	_ = ic.SetNetworkLayerForChecksum(ip)
	m := []byte{byte(mtu >> 24), byte(mtu >> 16), byte(mtu >> 8), byte(mtu)}
	return serialize(t, eth(layers.EthernetTypeIPv6), ip, ic, gopacket.Payload(append(m, quote...)))
}

// TestDecodeICMPErrors: an ICMP error that quotes a TCP segment decodes
// to that segment's 4-tuple, sequence number and flags, with the error's
// type, code and source; ICMP that is not such an error stays non-TCP.
func TestDecodeICMPErrors(t *testing.T) {
	s4 := syn()
	s4.seq = 0xdeadbeef
	s6 := syn()
	s6.src, s6.dst = cli6, srv6
	router4, router6 := netip.MustParseAddr("198.51.100.254"), netip.MustParseAddr("2001:db8::fe")
	q4, q6 := ipPacket(t, s4), ipPacket(t, s6)
	ext := s6
	ext.extensions, ext.extNext = []byte{6, 0, 1, 4, 0, 0, 0, 0}, 60 // destination options, then TCP
	q6ext := ipPacket(t, ext)

	want := func(s tcpSpec, flags flows.Flags, ack uint32, e flows.ICMPError, ttl uint8, ipid uint16) flows.Segment {
		w := flows.Segment{Src: s.src, Dst: s.dst, Seq: s.seq, Ack: ack, Flags: flags, WScale: -1, TTL: ttl, IPID: ipid, IPv6: !s.src.Addr().Is4()}
		w.ICMP = &e
		return w
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  flows.Segment
	}{
		{"port unreachable from the server", icmpFrame(t, srv4.Addr(), cli4.Addr(), 3, 3, q4),
			want(s4, flows.SYN, 0, flows.ICMPError{Type: 3, Code: 3, QuotedAck: true, QuotedFlags: true, From: srv4.Addr()}, 63, 77)},
		{"admin prohibited from a router", icmpFrame(t, router4, cli4.Addr(), 3, 13, q4),
			want(s4, flows.SYN, 0, flows.ICMPError{Type: 3, Code: 13, QuotedAck: true, QuotedFlags: true, From: router4}, 63, 77)},
		{"time exceeded", icmpFrame(t, router4, cli4.Addr(), 11, 0, q4),
			want(s4, flows.SYN, 0, flows.ICMPError{Type: 11, Code: 0, QuotedAck: true, QuotedFlags: true, From: router4}, 63, 77)},
		{"RFC 792's 8 bytes: no flags, no ack", icmpFrame(t, router4, cli4.Addr(), 3, 1, q4[:28]),
			want(s4, 0, 0, flows.ICMPError{Type: 3, Code: 1, From: router4}, 63, 77)},
		{"ICMPv6 admin prohibited", icmpFrame(t, router6, cli6.Addr(), 1, 1, q6),
			want(s6, flows.SYN, 0, flows.ICMPError{Type: 1, Code: 1, V6: true, QuotedAck: true, QuotedFlags: true, From: router6}, 62, 0)},
		{"ICMPv6 quoting an extension header", icmpFrame(t, srv6.Addr(), cli6.Addr(), 1, 4, q6ext),
			want(s6, flows.SYN, 0, flows.ICMPError{Type: 1, Code: 4, V6: true, QuotedAck: true, QuotedFlags: true, From: srv6.Addr()}, 62, 0)},
		{"fragmentation needed (path MTU discovery)", pmtuFrame(t, router4, cli4.Addr(), 1000, q4),
			want(s4, flows.SYN, 0, flows.ICMPError{Type: 3, Code: 4, QuotedAck: true, QuotedFlags: true, MTU: 1000, From: router4}, 63, 77)},
		{"packet too big (path MTU discovery)", pmtuFrame(t, router6, cli6.Addr(), 1280, q6),
			want(s6, flows.SYN, 0, flows.ICMPError{Type: 2, V6: true, QuotedAck: true, QuotedFlags: true, MTU: 1280, From: router6}, 62, 0)},
		{"packet too big beyond 16 bits", pmtuFrame(t, router6, cli6.Addr(), 1<<20, q6),
			want(s6, flows.SYN, 0, flows.ICMPError{Type: 2, V6: true, QuotedAck: true, QuotedFlags: true, MTU: 65535, From: router6}, 62, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got flows.Segment
			if r := decode(linkEthernet, tc.frame, len(tc.frame), &got); r != resICMP {
				t.Fatalf("result %d, want resICMP", r)
			}
			if d := cmp.Diff(tc.want, got, segOpts); d != "" {
				t.Errorf("segment (-want +got):\n%s", d)
			}
		})
	}

	udpIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: cli4.Addr().AsSlice(), DstIP: srv4.Addr().AsSlice()}
	udpL := &layers.UDP{SrcPort: 5353, DstPort: 53}
	_ = udpL.SetNetworkLayerForChecksum(udpIP)
	udp := serialize(t, udpIP, udpL, gopacket.Payload("query"))
	later := append([]byte(nil), q4...)
	later[6], later[7] = 0, 185 // a fragment offset: no TCP header in it
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"fragmentation needed quoting 7 bytes of TCP", pmtuFrame(t, router4, cli4.Addr(), 1000, q4[:27])},
		{"echo reply", icmpFrame(t, srv4.Addr(), cli4.Addr(), 0, 0, q4)},
		{"redirect", icmpFrame(t, router4, cli4.Addr(), 5, 1, q4)},
		{"quoting UDP", icmpFrame(t, srv4.Addr(), cli4.Addr(), 3, 3, udp)},
		{"quoting 7 bytes of TCP", icmpFrame(t, srv4.Addr(), cli4.Addr(), 3, 3, q4[:27])},
		{"quoting a later fragment", icmpFrame(t, srv4.Addr(), cli4.Addr(), 3, 3, later)},
		{"ICMPv6 quoting 7 bytes of TCP", icmpFrame(t, srv6.Addr(), cli6.Addr(), 1, 4, q6[:47])},
		{"ICMPv6 echo reply", icmpFrame(t, srv6.Addr(), cli6.Addr(), 129, 0, q6)},
	} {
		var got flows.Segment
		if r := decode(linkEthernet, tc.frame, len(tc.frame), &got); r != resNonTCP {
			t.Errorf("%s: result %d, want resNonTCP", tc.name, r)
		}
	}
}

// TestReaderCountsICMPErrors: the reader delivers ICMP errors among the
// segments, in frame order, and counts them apart from TCP and non-TCP.
func TestReaderCountsICMPErrors(t *testing.T) {
	s := syn()
	q := ipPacket(t, s)
	recs := []rec{
		{data: ethFrame(t, s)},
		{data: icmpFrame(t, srv4.Addr(), cli4.Addr(), 3, 3, q)},
		{data: icmpFrame(t, srv4.Addr(), cli4.Addr(), 8, 0, q)}, // an echo request
		{data: ethFrame(t, basic())},
	}
	for i := range recs {
		recs[i].ts = int64(i+1) * 1e9
	}
	segs, info := readBytes(t, pcapFile(t, 1, false, recs...))
	checkCounts(t, info)
	if info.TCPPackets != 2 || info.ICMPErrors != 1 || info.NonTCP != 1 {
		t.Errorf("counts: %d TCP, %d ICMP errors, %d non-TCP; want 2, 1, 1", info.TCPPackets, info.ICMPErrors, info.NonTCP)
	}
	if len(segs) != 3 || segs[1].ICMP == nil || segs[1].Frame != 2 || segs[0].ICMP != nil || segs[2].Frame != 4 {
		t.Fatalf("segments: %+v", segs)
	}
	if e := segs[1].ICMP; e.Type != 3 || e.Code != 3 || e.From != srv4.Addr() || segs[1].Src != s.src {
		t.Errorf("ICMP error: %+v from %v", *e, segs[1].Src)
	}
}
