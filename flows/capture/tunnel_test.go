package capture

import (
	"bytes"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Outer addresses of the tunnels the tests build (RFC 5737 and 3849).
var (
	tunA4 = netip.MustParseAddr("192.0.2.1")
	tunB4 = netip.MustParseAddr("192.0.2.2")
	tunA6 = netip.MustParseAddr("2001:db8:ff::1")
	tunB6 = netip.MustParseAddr("2001:db8:ff::2")
)

// outer wraps payload in an Ethernet frame and an IP datagram of the given
// protocol between the tunnel's endpoints (IPv6 when v6), and, when udp
// is set, in that UDP datagram first.
func outer(tb testing.TB, v6 bool, proto layers.IPProtocol, payload []byte, udp ...*layers.UDP) []byte {
	tb.Helper()
	var ip gopacket.NetworkLayer
	ls := []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}
	if v6 {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: tunA6.AsSlice(), DstIP: tunB6.AsSlice()}
		ls, ip = []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip6}, ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: tunA4.AsSlice(), DstIP: tunB4.AsSlice()}
		ls, ip = append(ls, ip4), ip4
	}
	for _, u := range udp {
		_ = u.SetNetworkLayerForChecksum(ip)
		ls = append(ls, u)
	}
	return serialize(tb, append(ls, gopacket.Payload(payload))...)
}

// overUDP wraps payload in a UDP datagram between the given ports, in
// outer.
func overUDP(tb testing.TB, v6 bool, sport, dport uint16, payload []byte) []byte {
	tb.Helper()
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	return outer(tb, v6, layers.IPProtocolUDP, payload, u)
}

// vxlan is a VXLAN header with the I flag and VNI 42.
var vxlan = []byte{0x08, 0, 0, 0, 0, 0, 42, 0}

// geneve is a Geneve header for protocol type et with words 4-byte words
// of options.
func geneve(et uint16, words int) []byte {
	h := []byte{byte(words), 0, byte(et >> 8), byte(et), 0, 0, 42, 0}
	for range words {
		h = append(h, 1, 2, 3, 4)
	}
	return h
}

// inGRE wraps the IPv4 datagram ip in n GRE tunnels over IPv4.
func inGRE(tb testing.TB, ip []byte, n int) []byte {
	for range n {
		ip = serialize(tb, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE,
			SrcIP: tunA4.AsSlice(), DstIP: tunB4.AsSlice()}, gopacket.Payload(cat([]byte{0, 0, 8, 0}, ip)))
	}
	return ip
}

// tunnelled returns the frames of every tunnel the decoder follows, each
// carrying one of v4 and v6, by name.
func tunnelled(tb testing.TB, v4, v6 tcpSpec) []struct {
	name string
	data []byte
	spec tcpSpec
} {
	word := []byte{0xa1, 0xb2, 0xc3, 0xd4}
	nested := inGRE(tb, ipPacket(tb, v4), maxNest-1)
	return []struct {
		name string
		data []byte
		spec tcpSpec
	}{
		{"vxlan", overUDP(tb, false, 51234, portVXLAN, cat(vxlan, ethFrame(tb, v4))), v4},
		{"vxlan from its port", overUDP(tb, false, portVXLAN, 51234, cat(vxlan, ethFrame(tb, v6))), v6},
		{"vxlan over ipv6, vlan inside", overUDP(tb, true, 51234, portVXLAN, cat(vxlan, serialize(tb,
			append([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}}, v4.net()...)...))), v4},
		{"geneve, ethernet, options", overUDP(tb, false, 40000, portGeneve, cat(geneve(etTEB, 2), ethFrame(tb, v4))), v4},
		{"geneve, ipv6", overUDP(tb, true, 40000, portGeneve, cat(geneve(etIPv6, 0), ipPacket(tb, v6))), v6},
		{"gre, ipv4", outer(tb, false, layers.IPProtocolGRE, cat([]byte{0, 0, 0x08, 0x00}, ipPacket(tb, v4))), v4},
		{"gre, key and sequence, ipv6", outer(tb, false, layers.IPProtocolGRE, cat([]byte{0x30, 0, 0x86, 0xdd}, word, word, ipPacket(tb, v6))), v6},
		{"gre over ipv6, checksum, bridged ethernet", outer(tb, true, layers.IPProtocolGRE, cat([]byte{0x80, 0, 0x65, 0x58}, word, ethFrame(tb, v4))), v4},
		{"erspan type I", outer(tb, false, layers.IPProtocolGRE, cat([]byte{0, 0, 0x88, 0xbe}, ethFrame(tb, v4))), v4},
		{"erspan type II", outer(tb, false, layers.IPProtocolGRE, cat([]byte{0x10, 0, 0x88, 0xbe}, word,
			[]byte{0x10, 0x07, 0x00, 0x2a, 0, 0, 0, 1}, ethFrame(tb, v4))), v4},
		{"erspan type III, subheader", outer(tb, false, layers.IPProtocolGRE, cat([]byte{0x10, 0, 0x22, 0xeb}, word,
			[]byte{0x20, 0x07, 0x00, 0x2a}, word, []byte{0, 0, 0, 1}, make([]byte, 8), ethFrame(tb, v6))), v6},
		{"pptp", outer(tb, false, layers.IPProtocolGRE, cat([]byte{0x30, 0x81, 0x88, 0x0b}, []byte{0, byte(len(ipPacket(tb, v4)) + 4), 0, 9},
			word, word, []byte{0xff, 0x03, 0x00, 0x21}, ipPacket(tb, v4))), v4},
		{"gre nested to the limit", outer(tb, false, layers.IPProtocolGRE, cat([]byte{0, 0, 8, 0}, nested)), v4},
	}
}

// TestDecodeTunnels decodes segments carried in every tunnel the decoder
// follows and compares every field with the inner segment's.
func TestDecodeTunnels(t *testing.T) {
	v4 := basic()
	v6 := basic()
	v6.src, v6.dst, v6.ttl = cli6, srv6, 57
	for _, tt := range tunnelled(t, v4, v6) {
		t.Run(tt.name, func(t *testing.T) { checkDecode(t, linkEthernet, tt.data, tt.spec) })
	}
}

// TestDecodeNotTunnels checks what is not followed as a tunnel, or not
// decoded as TCP when it is one.
func TestDecodeNotTunnels(t *testing.T) {
	v4 := basic()
	inner := ethFrame(t, v4)
	vx := overUDP(t, false, 51234, portVXLAN, cat(vxlan, inner))
	mutate := func(b []byte, fn func(b []byte)) []byte {
		b = bytes.Clone(b)
		fn(b)
		return b
	}
	const udpOff = 14 + 20
	gre := func(h ...byte) []byte {
		return outer(t, false, layers.IPProtocolGRE, cat(h, ipPacket(t, v4)))
	}
	tooDeep := inGRE(t, ipPacket(t, v4), maxNest)
	const ethLink = linkEthernet
	checkResults(t, []resultCase{
		{"vxlan without its I flag", ethLink, mutate(vx, func(b []byte) { b[udpOff+8] = 0 }), 0, resNonTCP},
		{"vxlan, udp length below its header", ethLink, mutate(vx, func(b []byte) { b[udpOff+4], b[udpOff+5] = 0, 12 }), 0, resNonTCP},
		{"vxlan header cut by snaplen", ethLink, vx[:udpOff+8+7], len(vx), resNonTCP},
		{"vxlan, fragment", ethLink, mutate(vx, func(b []byte) { b[14+6] |= 0x20 }), 0, resNonTCP},
		{"vxlan, outer ipv4 length beyond the frame", ethLink, mutate(vx, func(b []byte) { b[14+2], b[14+3] = 0x05, 0xdc }), 0, resNonTCP},
		{"vxlan, outer ipv4 ihl below 5", ethLink, mutate(vx, func(b []byte) { b[14] = 0x44 }), 0, resNonTCP},
		{"vxlan, inner ethernet header cut by snaplen", ethLink, vx[:udpOff+16+10], len(vx), resMalformed},
		{"vxlan, inner tcp header cut by snaplen", ethLink, vx[:len(vx)-len(inner)+14+20+10], len(vx), resCut},
		{"geneve version 1", ethLink, overUDP(t, false, 40000, portGeneve, mutate(cat(geneve(etTEB, 0), inner), func(b []byte) { b[0] |= 0x40 })), 0, resNonTCP},
		{"geneve options cut", ethLink, overUDP(t, false, 40000, portGeneve, geneve(etTEB, 3)[:16]), 0, resNonTCP},
		{"geneve, another protocol", ethLink, overUDP(t, false, 40000, portGeneve, cat(geneve(0x0806, 0), inner)), 0, resNonTCP},
		{"gre routing", ethLink, gre(0x40, 0, 0x08, 0x00, 0, 0, 0, 0), 0, resNonTCP},
		{"gre version 2", ethLink, gre(0, 2, 0x08, 0x00), 0, resNonTCP},
		{"enhanced gre not carrying ppp", ethLink, gre(0x20, 1, 0x08, 0x00, 0, 0, 0, 0), 0, resNonTCP},
		{"gre header cut", ethLink, outer(t, false, layers.IPProtocolGRE, []byte{0x30, 0, 0x08, 0x00, 0, 0}), 0, resNonTCP},
		{"gre, unknown protocol", ethLink, gre(0, 0, 0x88, 0xcc), 0, resNonTCP},
		{"gre nested past the limit", ethLink, outer(t, false, layers.IPProtocolGRE, cat([]byte{0, 0, 8, 0}, tooDeep)), 0, resNonTCP},
	})
}

// TestTunnelsMatchTshark writes the tunnelled frames to a capture and
// compares every field teardown decodes with what tshark shows, and that
// both see a TCP segment in every frame. Skipped where tshark is not
// installed, and in -short mode.
func TestTunnelsMatchTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed")
	}
	v4 := basic()
	v6 := basic()
	v6.src, v6.dst, v6.ttl = cli6, srv6, 57
	frames := tunnelled(t, v4, v6)
	var recs []rec
	for i, f := range frames {
		recs = append(recs, rec{ts: int64(1_700_000_000+i) * 1e9, data: f.data})
	}
	file := tempFile(t, pcapFile(t, 1, false, recs...))
	rows := strings.Split(strings.TrimSpace(string(tsharkRows(t, tshark, file))), "\n")
	segs, _ := readAll(t, []string{file}, Options{})
	if len(rows) != len(frames) || len(segs) != len(frames) {
		t.Fatalf("%d frames: tshark shows %d TCP segments, teardown %d", len(frames), len(rows), len(segs))
	}
	for i, s := range segs {
		if got, want := tsharkView(s), tsharkExpect(strings.Split(rows[i], "|")); got != want {
			t.Errorf("%s (frame %d):\n got %s\nwant %s", frames[i].name, s.Frame, got, want)
		}
	}
}

// TestTunnelsCounted reads the tunnelled frames, a plain one and IP in IP
// from a capture and checks the kinds Info names, in order of first
// appearance, and the segments it counts as tunnelled.
func TestTunnelsCounted(t *testing.T) {
	v4 := basic()
	v6 := basic()
	v6.src, v6.dst = cli6, srv6
	recs := []rec{{ts: 1e9, data: ethFrame(t, v4)}}
	for i, f := range tunnelled(t, v4, v6) {
		recs = append(recs, rec{ts: int64(i+2) * 1e9, data: f.data})
	}
	recs = append(recs, rec{ts: 100e9, data: outer(t, true, layers.IPProtocolIPv4, ipPacket(t, v4))})
	segs, info := readBytes(t, pcapFile(t, 1, false, recs...))
	if len(segs) != len(recs) {
		t.Fatalf("%d segments from %d frames", len(segs), len(recs))
	}
	want := []string{"VXLAN", "Geneve", "GRE", "ERSPAN", "PPTP", "IP-in-IP"}
	if !slices.Equal(info.Tunnels, want) || info.Tunnelled != uint64(len(recs)-1) {
		t.Errorf("tunnels %q, %d segments tunnelled; want %q, %d", info.Tunnels, info.Tunnelled, want, len(recs)-1)
	}
	_, plain := readBytes(t, pcapFile(t, 1, false, recs[0]))
	if plain.Tunnels != nil || plain.Tunnelled != 0 {
		t.Errorf("a plain frame: tunnels %q, %d segments tunnelled", plain.Tunnels, plain.Tunnelled)
	}
}

// TestVXLANPorts checks that VXLAN on another UDP port is decoded only
// when Options names that port, from either end, and that VXLAN on
// Linux's port left undecoded is pointed out, once per input.
func TestVXLANPorts(t *testing.T) {
	v4 := basic()
	to := overUDP(t, false, 40000, 8472, cat(vxlan, ethFrame(t, v4)))
	from := overUDP(t, false, 8472, 40000, cat(vxlan, ethFrame(t, v4)))
	file := tempFile(t, pcapFile(t, 1, false, rec{ts: 1e9, data: to}, rec{ts: 2e9, data: from}))
	segs, info := readAll(t, []string{file}, Options{})
	if len(segs) != 0 || info.NonTCP != 2 {
		t.Errorf("port 8472 by default: %d segments, %d non-TCP", len(segs), info.NonTCP)
	}
	hint := file + ": frame 1: 2 datagrams to or from UDP port 8472 (Linux's VXLAN port) look like VXLAN, not decoded unless that port is named (teardown --vxlan-port 8472)"
	if !slices.Equal(info.Warnings, []string{hint}) {
		t.Errorf("port 8472 by default: warnings %q, want %q", info.Warnings, hint)
	}
	// Not VXLAN: its flags are not I alone.
	notVXLAN := overUDP(t, false, 40000, 8472, cat([]byte{0x0c, 0, 0, 0, 0, 0, 42, 0}, ethFrame(t, v4)))
	if _, info := readAll(t, []string{tempFile(t, pcapFile(t, 1, false, rec{ts: 1e9, data: notVXLAN}))}, Options{}); len(info.Warnings) > 0 {
		t.Errorf("other UDP on port 8472: warnings %q", info.Warnings)
	}
	segs, info = readAll(t, []string{file}, Options{VXLANPorts: []uint16{9000, 8472}})
	if len(segs) != 2 || info.Tunnelled != 2 || len(info.Warnings) > 0 {
		t.Fatalf("port 8472 named: %d segments, %d tunnelled, warnings %q", len(segs), info.Tunnelled, info.Warnings)
	}
	for _, s := range segs {
		if diff := cmp.Diff(v4.want(s.Frame, s.Time), s, segOpts); diff != "" {
			t.Errorf("frame %d (-want +got):\n%s", s.Frame, diff)
		}
	}
}
