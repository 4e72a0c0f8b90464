package capture

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/teardown/teardown/flows"
)

// result says what a record turned out to be.
type result uint8

const (
	resTCP       result = iota // a TCP segment, decoded
	resNonTCP                  // some other protocol
	resMalformed               // a header is shorter than it claims
	resFragment                // an IP fragment of TCP (skipped, not reassembled)
	resCut                     // a TCP segment whose captured bytes end inside its TCP header (snaplen too small)
	resICMP                    // an ICMP error quoting a TCP segment, decoded (Segment.ICMP)
)

// maxNest bounds how many tunnels (IP in IP, GRE, VXLAN, Geneve, MPLS
// pseudowires) a packet may nest before the decoder gives up on it.
const maxNest = 4

// EtherTypes and IP protocol numbers the decoder follows.
const (
	etIPv4    = 0x0800
	etIPv6    = 0x86dd
	etVLAN    = 0x8100
	etQinQ    = 0x88a8
	etQinQOld = 0x9100
	etQinQAlt = 0x9200
	etMPLS    = 0x8847
	etMPLSMC  = 0x8848
	etPPPoE   = 0x8864
	etTEB     = 0x6558 // transparent Ethernet bridging: an Ethernet frame (GRE, Geneve)
	etERSPAN  = 0x88be // ERSPAN type I (no sequence number in GRE) or II
	etERSPAN3 = 0x22eb
	etPPP     = 0x880b // PPP in enhanced GRE (PPTP)

	protoICMP  = 1
	protoIPIP  = 4
	protoTCP   = 6
	protoUDP   = 17
	protoIPv6  = 41
	protoGRE   = 47
	protoICMP6 = 58

	portVXLAN  = 4789
	portGeneve = 6081

	arphrdNetlink = 824 // SLL/SLL2 netlink captures: the protocol field is a netlink family
)

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// Tunnel kinds, as bits of decoder.tun.
const (
	tunIPIP uint8 = 1 << iota
	tunGRE
	tunERSPAN
	tunPPTP
	tunVXLAN
	tunGeneve
)

// hintVXLAN, among the tunnel bits, is not a tunnel: a UDP datagram to or
// from Linux's default VXLAN port that looks like VXLAN, left undecoded
// because that port was not named (decoder.vxlan).
const hintVXLAN uint8 = 1 << 7

// portLinuxVXLAN is the VXLAN port of Linux (without dstport), flannel and
// Cilium.
const portLinuxVXLAN = 8472

// tunnelNames are the names of the tunnel kinds, bit by bit, as
// Info.Tunnels lists them.
var tunnelNames = [...]string{"IP-in-IP", "GRE", "ERSPAN", "PPTP", "VXLAN", "Geneve"}

// decoder carries the state of one record's decoding through the layers.
type decoder struct {
	s    *flows.Segment
	nest int   // tunnels entered
	tun  uint8 // their kinds
	// vxlan are the UDP ports that carry VXLAN besides portVXLAN.
	vxlan []uint16
	// carried is set when a carrier's own length field (PPPoE's) ended the
	// datagram before the frame did: an IP length beyond it is clamped to
	// it, as Wireshark does, rather than the packet taken as malformed.
	carried bool
	// frags reassembles IP fragments; nil leaves them undecoded.
	frags *fragTable
	// When the result is resCut: the TCP header's length (0 when too
	// little of it was captured to read its data offset), and how many of
	// its bytes were captured.
	tcpLen, tcpGot int
}

// decode decodes one record of the given link type into s. wire is the
// record's original length on the wire; it bounds the lengths the IP
// headers may claim. s is overwritten whatever the result, and holds a
// complete segment (but for Frame and Time) only when the result is resTCP.
func decode(lk link, b []byte, wire int, s *flows.Segment) result {
	r, _ := decodeTunnelled(lk, b, wire, s, nil, nil)
	return r
}

// decodeTunnelled is decode, taking VXLAN on the UDP ports vxlan too and
// reassembling IP fragments in frags (when not nil), and also returns
// the kinds of the tunnels (tunIPIP, ...) the record was decoded through.
func decodeTunnelled(lk link, b []byte, wire int, s *flows.Segment, vxlan []uint16, frags *fragTable) (result, uint8) {
	d := decoder{s: s, vxlan: vxlan, frags: frags}
	r := d.decode(lk, b, wire)
	return r, d.tun
}

// cutLength tells, of a record that decode found cut inside its TCP header
// (resCut), how many bytes of it are needed to hold the whole TCP header;
// exact is false when too little of the header was captured to read its
// length, and need counts a header without options.
func cutLength(lk link, b []byte, wire int, vxlan []uint16) (need int, exact bool) {
	var s flows.Segment
	d := decoder{s: &s, vxlan: vxlan}
	if d.decode(lk, b, wire) != resCut {
		return len(b), true
	}
	if d.tcpLen == 0 {
		return len(b) - d.tcpGot + 20, false
	}
	return len(b) - d.tcpGot + d.tcpLen, true
}

func (d *decoder) decode(lk link, b []byte, wire int) result {
	*d.s = flows.Segment{WScale: -1}
	if wire < len(b) {
		wire = len(b)
	}
	switch lk {
	case linkEthernet:
		return d.ethernet(b, wire)
	case linkRaw:
		return d.ip(b, wire)
	case linkSLL:
		// packet type, ARPHRD type, address length, 8 address bytes, protocol
		if len(b) < 16 {
			return resMalformed
		}
		if be16(b[2:]) == arphrdNetlink {
			return resNonTCP
		}
		return d.etherType(be16(b[14:]), b[16:], wire-16)
	case linkSLL2:
		// protocol, reserved, interface index, ARPHRD type, packet type,
		// address length, 8 address bytes
		if len(b) < 20 {
			return resMalformed
		}
		if be16(b[8:]) == arphrdNetlink {
			return resNonTCP
		}
		return d.etherType(be16(b), b[20:], wire-20)
	case linkNull, linkLoop:
		if len(b) < 4 {
			return resMalformed
		}
		af := be32(b)
		if lk == linkNull && af&0xffff0000 != 0 {
			// DLT_NULL holds the family in the capturing host's byte order.
			af = binary.LittleEndian.Uint32(b)
		}
		switch af {
		case 2: // AF_INET everywhere
			return d.ipv4(b[4:], wire-4)
		case 10, 23, 24, 28, 30: // AF_INET6: Linux, Windows, NetBSD/OpenBSD, FreeBSD, Darwin
			return d.ipv6(b[4:], wire-4)
		}
		return resNonTCP
	case linkCHDLC:
		// address, control, protocol (an EtherType)
		if len(b) < 4 {
			return resMalformed
		}
		return d.etherType(be16(b[2:]), b[4:], wire-4)
	case linkPPP:
		return d.ppp(b, wire)
	case linkNFLOG:
		return d.nflog(b)
	}
	return resNonTCP
}

// nflogPayload is NFULA_PAYLOAD, the NFLOG attribute that holds the
// packet.
const nflogPayload = 9

// nflog decodes a Linux netfilter log message (LINKTYPE_NFLOG): address
// family, version 0 and the group, then attributes, each a length (with
// its 4-byte header, padded to 4 bytes) and a type in the byte order of
// the host that wrote the file, almost always little-endian, which is
// tried first. NFULA_PAYLOAD holds the packet from its IP header on, as
// much of it as the rule copied (--nflog-size): its length on the wire is
// not recorded, so the IP header's lengths alone bound it.
func (d *decoder) nflog(b []byte) result {
	if len(b) < 4 {
		return resMalformed
	}
	if b[1] != 0 {
		return resNonTCP // a version this decoder does not know
	}
	for _, o := range [...]binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		p, found, ok := nflogAttr(b[4:], o, nflogPayload)
		switch {
		case ok && !found:
			return resNonTCP
		case ok:
			return d.ip(p, 40+0xffff)
		}
	}
	return resMalformed
}

// nflogAttr finds the attribute typ among the attributes b, whose header
// fields are in byte order o: its value (cut where the record is), and
// whether it is there; ok is false when the attributes do not hold
// together in that order.
func nflogAttr(b []byte, o binary.ByteOrder, typ uint16) (v []byte, found, ok bool) {
	for len(b) >= 4 {
		n := int(o.Uint16(b))
		if n < 4 {
			return nil, false, false
		}
		if o.Uint16(b[2:]) == typ {
			return b[4:min(n, len(b))], true, true
		}
		if n = (n + 3) &^ 3; n > len(b) {
			return nil, false, false
		}
		b = b[n:]
	}
	return nil, false, len(b) == 0
}

func (d *decoder) ethernet(b []byte, wire int) result {
	if len(b) < 14 {
		return resMalformed
	}
	return d.etherType(be16(b[12:]), b[14:], wire-14)
}

// etherType decodes b as the payload of the given EtherType, following
// VLAN tags (802.1Q, QinQ), 802.2 SNAP, MPLS and PPPoE.
func (d *decoder) etherType(et uint16, b []byte, wire int) result {
	for {
		switch et {
		case etIPv4:
			return d.ipv4(b, wire)
		case etIPv6:
			return d.ipv6(b, wire)
		case etVLAN, etQinQ, etQinQOld, etQinQAlt:
			if len(b) < 4 {
				return resMalformed
			}
			et = be16(b[2:])
			b, wire = b[4:], wire-4
		case etMPLS, etMPLSMC:
			return d.mpls(b, wire)
		case etPPPoE:
			// version/type, code, session id, length, then a PPP frame
			if len(b) < 6 {
				return resMalformed
			}
			if b[0] != 0x11 || b[1] != 0 {
				return resNonTCP
			}
			if n := 6 + int(be16(b[4:])); n < wire {
				// The rest of the frame is link-layer padding.
				wire, d.carried = n, true
				if n < len(b) {
					b = b[:n]
				}
			}
			return d.ppp(b[6:], wire-6)
		default:
			// An 802.3 length field followed by an LLC/SNAP header that
			// carries the EtherType.
			if et <= 1500 && len(b) >= 8 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 {
				et = be16(b[6:])
				b, wire = b[8:], wire-8
				continue
			}
			return resNonTCP
		}
	}
}

// mpls pops a label stack and decodes what follows the bottom label by its
// first nibble: IPv4, IPv6, or (0) a pseudowire control word and an
// Ethernet frame, as Wireshark's default heuristic does.
func (d *decoder) mpls(b []byte, wire int) result {
	for {
		if len(b) < 4 {
			return resMalformed
		}
		bottom := b[2]&1 != 0
		b, wire = b[4:], wire-4
		if bottom {
			break
		}
	}
	if len(b) == 0 {
		return resMalformed
	}
	if b[0]>>4 == 0 {
		if d.nest >= maxNest || len(b) < 4 {
			return resNonTCP
		}
		d.nest++
		return d.ethernet(b[4:], wire-4)
	}
	return d.ipVersion(b[0]>>4, b, wire)
}

// ppp decodes a PPP frame: optional HDLC address and control bytes, a
// (possibly compressed) protocol field, then the datagram.
func (d *decoder) ppp(b []byte, wire int) result {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b, wire = b[2:], wire-2
	}
	if len(b) == 0 {
		return resMalformed
	}
	var proto uint16
	if b[0]&1 != 0 { // protocol field compressed to one byte
		proto = uint16(b[0])
		b, wire = b[1:], wire-1
	} else {
		if len(b) < 2 {
			return resMalformed
		}
		proto = be16(b)
		b, wire = b[2:], wire-2
	}
	switch proto {
	case 0x0021:
		return d.ipVersion(4, b, wire)
	case 0x0057:
		return d.ipVersion(6, b, wire)
	}
	return resNonTCP
}

// ip decodes an IPv4 or IPv6 datagram by its version nibble.
func (d *decoder) ip(b []byte, wire int) result {
	if len(b) == 0 {
		return resMalformed
	}
	return d.ipVersion(b[0]>>4, b, wire)
}

// ipVersion decodes an IP datagram of the given version.
func (d *decoder) ipVersion(v uint8, b []byte, wire int) result {
	switch v {
	case 4:
		return d.ipv4(b, wire)
	case 6:
		return d.ipv6(b, wire)
	}
	return resNonTCP
}

// ipv4 decodes an IPv4 header (options included) and the TCP segment it
// carries. wire is the number of bytes from the start of the IP header to
// the end of the frame on the wire.
func (d *decoder) ipv4(b []byte, wire int) result {
	if len(b) < 20 {
		if len(b) >= 10 && !carriesTCP(b[9]) {
			return resNonTCP
		}
		return resMalformed
	}
	proto := b[9]
	if !carriesTCP(proto) && !tunnels(proto) && proto != protoICMP {
		return resNonTCP
	}
	hl := int(b[0]&0x0f) * 4
	if b[0]>>4 != 4 || hl < 20 || len(b) < hl {
		return malformed(proto)
	}
	total := int(be16(b[2:]))
	if total == 0 {
		// A segment captured before TCP segmentation offload split it:
		// Linux leaves the total length 0 when it does not fit in 16 bits.
		total = wire
	}
	if total > wire && d.carried {
		total = wire
	}
	if total < hl || total > wire {
		return malformed(proto)
	}
	if total < len(b) {
		b = b[:total] // drop link-layer padding
	}
	p, rem := b[hl:], total-hl
	frag := be16(b[6:])
	if frag&0x3fff != 0 { // more fragments, or a non-zero offset
		var r result
		if p, rem, r = d.fragment(fragKey4(b), proto, int(frag&0x1fff)*8, rem, frag&0x2000 != 0, p); r != resTCP {
			return r
		}
		frag = 0
	}
	if proto == protoTCP || proto == protoICMP {
		s := d.s
		s.IPv6 = false
		s.IPID = be16(b[4:])
		s.DF = frag&0x4000 != 0
		s.TTL = b[8]
	}
	return d.payload(false, proto, p, rem, 0, netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])))
}

// fragment takes an IP fragment of a datagram of protocol next: n bytes
// at offset off of its payload, data those captured, more when fragments
// follow. It returns resTCP with the datagram's payload (its first bytes
// and its length) when this fragment makes it whole; resFragment when it
// does not, or when there is no reassembly (decode without an input); and
// what is not TCP's, which no reassembly follows, as resNonTCP.
func (d *decoder) fragment(k fragKey, next uint8, off, n int, more bool, data []byte) ([]byte, int, result) {
	switch {
	case !carriesTCP(next) && !tunnels(next):
		return nil, 0, resNonTCP
	case d.frags == nil:
		if carriesTCP(next) {
			return nil, 0, resFragment
		}
		return nil, 0, resNonTCP // what a fragment of UDP or GRE carries is unknown
	}
	head, total, r := d.frags.add(k, next, off, n, more, data)
	switch r {
	case fragWhole:
		return head, total, resTCP
	case fragBad:
		return nil, 0, malformed(next)
	}
	return nil, 0, resFragment
}

// payload decodes p, the payload of an IP datagram from src to dst whose
// protocol (IPv6: next header) is next, rem bytes long from p[0] to its
// end; hop is an IPv6 datagram's hop limit.
func (d *decoder) payload(v6 bool, next uint8, p []byte, rem int, hop uint8, src, dst netip.Addr) result {
	if !v6 {
		switch next {
		case protoTCP:
			return d.tcp(p, rem, src, dst)
		case protoICMP:
			return d.icmp4(p, src)
		}
		return d.tunnel(next, p, rem)
	}
	for {
		switch next {
		case protoTCP:
			d.s.IPv6 = true
			d.s.TTL = hop
			return d.tcp(p, rem, src, dst)
		case protoICMP6:
			d.s.IPv6 = true
			d.s.TTL = hop
			return d.icmp6(p, src)
		case 0, 43, 60, 51: // hop-by-hop, routing, destination options, authentication
			if len(p) < 2 {
				return resMalformed
			}
			n := extLen(next, p)
			if n > rem || n > len(p) {
				return resMalformed
			}
			next = p[0]
			p, rem = p[n:], rem-n
		case 44: // fragment
			if len(p) < 8 || rem < 8 {
				return resMalformed
			}
			fo := be16(p[2:])
			next = p[0]
			if fo&0xfff9 == 0 {
				// An atomic fragment: the whole datagram is here.
				p, rem = p[8:], rem-8
				continue
			}
			var r result
			if p, rem, r = d.fragment(fragKey6(src, dst, be32(p[4:])), next, int(fo&0xfff8), rem-8, fo&1 != 0, p[8:]); r != resTCP {
				return r
			}
		case protoIPIP, protoIPv6, protoUDP, protoGRE:
			return d.tunnel(next, p, rem)
		default:
			return resNonTCP
		}
	}
}

// malformed is the result of an IPv4 header of the given protocol that
// does not hold together. A UDP or GRE datagram is not known to carry
// TCP: it is one more non-TCP packet, as it was before tunnels were
// followed, not a malformed one.
func malformed(proto uint8) result {
	if carriesTCP(proto) {
		return resMalformed
	}
	return resNonTCP
}

// carriesTCP reports whether an IP protocol number is TCP or IP in IP,
// which may carry it; a fragment of one is a fragment of TCP as far as
// the counts go.
func carriesTCP(proto uint8) bool {
	return proto == protoTCP || proto == protoIPIP || proto == protoIPv6
}

// tunnels reports whether an IP protocol number is one whose tunnels the
// decoder follows: GRE, and UDP to the VXLAN and Geneve ports.
func tunnels(proto uint8) bool { return proto == protoUDP || proto == protoGRE }

// tunnel decodes b, the payload of an IP datagram of the given protocol
// (IP in IP, GRE or UDP), as far as the TCP segment it carries.
func (d *decoder) tunnel(proto uint8, b []byte, wire int) result {
	if d.nest >= maxNest {
		return resNonTCP
	}
	d.nest++
	switch proto {
	case protoUDP:
		return d.udp(b, wire)
	case protoGRE:
		return d.gre(b, wire)
	}
	d.tun |= tunIPIP
	return d.ip(b, wire)
}

// udp decodes a UDP datagram to the VXLAN (RFC 7348; and d.vxlan) or
// Geneve (RFC 8926) port, either way, as Wireshark does; any other is not
// TCP. So is a datagram that is not what its port says, or too short to
// tell.
func (d *decoder) udp(b []byte, wire int) result {
	if len(b) < 8 {
		return resNonTCP
	}
	sport, dport := be16(b), be16(b[2:])
	if n := int(be16(b[4:])); n >= 8 && n < wire {
		wire = n // the UDP length ends the datagram
		if n < len(b) {
			b = b[:n]
		}
	}
	if len(b) < 16 {
		return resNonTCP // too short for a tunnel's header
	}
	switch {
	case sport == portVXLAN || dport == portVXLAN || len(d.vxlan) > 0 && (slices.Contains(d.vxlan, sport) || slices.Contains(d.vxlan, dport)):
		// flags (I: a valid VNI), 24 reserved bits, VNI, 8 reserved bits,
		// then an Ethernet frame
		if b[8]&0x08 == 0 {
			return resNonTCP
		}
		d.tun |= tunVXLAN
		return d.ethernet(b[16:], wire-16)
	case sport == portGeneve || dport == portGeneve:
		// version and options length, flags, protocol type (an
		// EtherType), VNI, reserved, then options
		if b[8]>>6 != 0 {
			return resNonTCP
		}
		h := 8 + 8 + int(b[8]&0x3f)*4
		if len(b) < h {
			return resNonTCP
		}
		d.tun |= tunGeneve
		if pt := be16(b[10:]); pt != etTEB {
			return d.etherType(pt, b[h:], wire-h)
		}
		return d.ethernet(b[h:], wire-h)
	case sport == portLinuxVXLAN || dport == portLinuxVXLAN:
		// flags I alone, reserved bytes zero
		if b[8] == 0x08 && b[9]|b[10]|b[11]|b[15] == 0 {
			d.tun |= hintVXLAN
		}
	}
	return resNonTCP
}

// gre decodes a GRE packet (RFC 2784 and 2890; RFC 1701's routing is not
// followed): IP, an Ethernet frame (transparent bridging, ERSPAN types I,
// II and III) or whatever else an EtherType names; and the enhanced GRE of
// PPTP (RFC 2637), which carries PPP.
func (d *decoder) gre(b []byte, wire int) result {
	if len(b) < 4 {
		return resNonTCP
	}
	flags, ver, pt := b[0], b[1]&7, be16(b[2:])
	h := 4
	switch ver {
	case 0:
		if flags&0x40 != 0 { // routing present
			return resNonTCP
		}
		for _, bit := range [...]byte{0x80, 0x20, 0x10} { // checksum, key, sequence number
			if flags&bit != 0 {
				h += 4
			}
		}
	case 1:
		if pt != etPPP {
			return resNonTCP
		}
		h += 4 // key: payload length and call id
		if flags&0x10 != 0 {
			h += 4 // sequence number
		}
		if b[1]&0x80 != 0 {
			h += 4 // acknowledgment number
		}
	default:
		return resNonTCP
	}
	if len(b) < h {
		return resNonTCP
	}
	b, wire = b[h:], wire-h
	switch pt {
	case etPPP:
		d.tun |= tunPPTP
		return d.ppp(b, wire)
	case etTEB:
		d.tun |= tunGRE
		return d.ethernet(b, wire)
	case etERSPAN:
		d.tun |= tunERSPAN
		if flags&0x10 == 0 { // type I: no header of its own
			return d.ethernet(b, wire)
		}
		if len(b) < 8 {
			return resNonTCP
		}
		return d.ethernet(b[8:], wire-8)
	case etERSPAN3:
		// 12 bytes, and an 8-byte platform-specific subheader when
		// the O bit is set
		if len(b) < 12 {
			return resNonTCP
		}
		n := 12
		if b[11]&1 != 0 {
			n += 8
		}
		if len(b) < n {
			return resNonTCP
		}
		d.tun |= tunERSPAN
		return d.ethernet(b[n:], wire-n)
	}
	d.tun |= tunGRE
	return d.etherType(pt, b, wire)
}

// ipv6 decodes an IPv6 header, walks its extension headers (hop-by-hop,
// routing, destination options, fragment, authentication) and decodes the
// TCP segment at the end of the chain.
func (d *decoder) ipv6(b []byte, wire int) result {
	if len(b) < 40 {
		return resMalformed
	}
	if b[0]>>4 != 6 {
		return resMalformed
	}
	plen := int(be16(b[4:]))
	if plen == 0 {
		// A jumbogram, or a segment captured before segmentation offload
		// (BIG TCP): the length lives elsewhere; take it from the frame.
		plen = wire - 40
	}
	if 40+plen > wire && d.carried {
		plen = wire - 40
	}
	if plen < 0 || 40+plen > wire {
		return resMalformed
	}
	next := b[6]
	hop := b[7]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	p := b[40:]
	if len(p) > plen {
		p = p[:plen]
	}
	return d.payload(true, next, p, plen, hop, src, dst)
}

// icmp4 decodes an ICMPv4 message from src. An error that quotes a TCP
// segment (destination unreachable, "fragmentation needed" among them,
// time exceeded, parameter problem) is resICMP; any other message, or
// one quoting less than the TCP ports and sequence number, is not TCP.
func (d *decoder) icmp4(b []byte, src netip.Addr) result {
	if len(b) < 8 {
		return resNonTCP
	}
	var mtu uint16
	switch typ, code := b[0], b[1]; {
	case typ == 3 && code == 4:
		mtu = be16(b[6:]) // RFC 1191's next-hop MTU
	case typ == 3, typ == 11, typ == 12:
	default:
		return resNonTCP
	}
	q := b[8:]
	if len(q) < 20 || q[0]>>4 != 4 || q[9] != protoTCP {
		return resNonTCP
	}
	hl := int(q[0]&0x0f) * 4
	if hl < 20 || len(q) < hl+8 || be16(q[6:])&0x1fff != 0 {
		return resNonTCP // too short, or a fragment with no TCP header
	}
	return d.quoted(q[hl:], netip.AddrFrom4([4]byte(q[12:16])), netip.AddrFrom4([4]byte(q[16:20])),
		&flows.ICMPError{Type: b[0], Code: b[1], MTU: mtu, From: src})
}

// icmp6 decodes an ICMPv6 message from src as icmp4 does: destination
// unreachable, packet too big, time exceeded and parameter problem
// quoting TCP are resICMP.
func (d *decoder) icmp6(b []byte, src netip.Addr) result {
	if len(b) < 8 {
		return resNonTCP
	}
	var mtu uint16
	switch b[0] {
	case 2:
		mtu = uint16(min(be32(b[4:]), 65535))
	case 1, 3, 4:
	default:
		return resNonTCP
	}
	q := b[8:]
	if len(q) < 40 || q[0]>>4 != 6 {
		return resNonTCP
	}
	next, p := q[6], q[40:]
	for next != protoTCP {
		switch next {
		case 0, 43, 60, 51, 44:
			if len(p) < 8 {
				return resNonTCP
			}
			n := extLen(next, p)
			if next == 44 {
				if be16(p[2:])&0xfff8 != 0 {
					return resNonTCP // a later fragment: no TCP header in it
				}
				n = 8
			}
			if n > len(p) {
				return resNonTCP
			}
			next, p = p[0], p[n:]
		default:
			return resNonTCP
		}
	}
	if len(p) < 8 {
		return resNonTCP
	}
	return d.quoted(p, netip.AddrFrom16([16]byte(q[8:24])), netip.AddrFrom16([16]byte(q[24:40])),
		&flows.ICMPError{Type: b[0], Code: b[1], V6: true, MTU: mtu, From: src})
}

// quoted fills the segment from the quoted TCP header t (at least its
// first 8 bytes: ports and sequence number) of an ICMP error e.
func (d *decoder) quoted(t []byte, src, dst netip.Addr, e *flows.ICMPError) result {
	s := d.s
	s.Src = netip.AddrPortFrom(src, be16(t))
	s.Dst = netip.AddrPortFrom(dst, be16(t[2:]))
	s.Seq = be32(t[4:])
	if len(t) >= 12 {
		s.Ack, e.QuotedAck = be32(t[8:]), true
	}
	if len(t) >= 14 {
		s.Flags, e.QuotedFlags = flows.Flags(t[13]), true
	}
	s.ICMP = e
	return resICMP
}

// extLen is the length of the IPv6 extension header next (hop-by-hop,
// routing, destination options, authentication) at the start of p, which
// holds at least its first 2 bytes.
func extLen(next uint8, p []byte) int {
	if next == 51 {
		return (int(p[1]) + 2) * 4 // in 4-octet units, minus 2
	}
	return (int(p[1]) + 1) * 8 // in 8-octet units, not counting the first
}

// tcp decodes a TCP header. b holds the captured bytes of the segment and
// seglen its length according to the IP header. A header that the IP
// length says is there but the captured bytes end inside is resCut.
func (d *decoder) tcp(b []byte, seglen int, src, dst netip.Addr) result {
	if len(b) < 20 {
		if seglen < 20 {
			return resMalformed
		}
		return d.cut(b, seglen)
	}
	off := int(b[12]>>4) * 4
	if off < 20 || off > seglen {
		return resMalformed
	}
	if off > len(b) {
		return d.cut(b, seglen)
	}
	s := d.s
	s.Src = netip.AddrPortFrom(src, be16(b))
	s.Dst = netip.AddrPortFrom(dst, be16(b[2:]))
	s.Seq = be32(b[4:])
	s.Ack = be32(b[8:])
	s.Flags = flows.Flags(b[13])
	s.Window = be16(b[14:])
	s.PayloadLen = uint32(seglen - off)
	tcpOptions(b[20:off], s)
	if s.Flags&flows.SYN != 0 {
		s.SYNOptions = flows.PackOptions(b[20:off])
	}
	return resTCP
}

// cut classifies a TCP header of which only b was captured, though the IP
// header says seglen bytes (at least 20) were sent: resCut, unless the
// part captured shows a data offset that cannot be right.
func (d *decoder) cut(b []byte, seglen int) result {
	d.tcpLen, d.tcpGot = 0, len(b)
	if len(b) > 12 {
		off := int(b[12]>>4) * 4
		if off < 20 || off > seglen {
			return resMalformed
		}
		d.tcpLen = off
	}
	return resCut
}

// dsack sets s.DSACK when the first of the SACK blocks b is a D-SACK
// (RFC 2883 §4): it lies below the segment's acknowledgement number, or
// within the second block.
func dsack(b []byte, s *flows.Segment) {
	l, r := be32(b), be32(b[4:])
	if int32(r-l) <= 0 {
		return
	}
	dup := s.Flags&flows.ACK != 0 && int32(s.Ack-l) > 0
	if !dup && len(b) >= 16 {
		l2, r2 := be32(b[8:]), be32(b[12:])
		dup = int32(l-l2) >= 0 && int32(r2-r) >= 0 && int32(r2-l2) > 0
	}
	if dup {
		s.DSACK, s.DSACKLeft, s.DSACKRight = true, l, r
	}
}

// tcpOptions reads the options teardown uses. A malformed option ends the
// walk; what was read before it stands. MSS, window scale and
// SACK-permitted are read on SYN segments only.
func tcpOptions(o []byte, s *flows.Segment) {
	syn := s.Flags&flows.SYN != 0
	for len(o) > 0 {
		switch o[0] {
		case 0: // end of options
			return
		case 1: // no-op
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return
		}
		n := int(o[1])
		if n < 2 || n > len(o) {
			return
		}
		switch o[0] {
		case 2:
			if n == 4 && syn {
				s.MSS = be16(o[2:])
			}
		case 3:
			if n == 3 && syn {
				ws := o[2]
				if ws > 14 {
					ws = 14 // RFC 7323 §2.3: larger shifts are taken as 14, as Linux does
				}
				s.WScale = int8(ws)
			}
		case 4:
			if n == 2 && syn {
				s.SACKPerm = true
			}
		case 5:
			if n >= 10 {
				s.SACK = true
				dsack(o[2:n], s)
			}
		case 8:
			if n == 10 {
				s.HasTS = true
				s.TSval = be32(o[2:])
				s.TSecr = be32(o[6:])
			}
		}
		o = o[n:]
	}
}
