package flows

import (
	"net/netip"
	"strings"
)

// Flags is the set of TCP header flags, in the bit order of the header's
// flags byte (FIN is bit 0, CWR bit 7).
type Flags uint8

// TCP header flags.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Has reports whether every flag in g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// String renders the flags the way tcpdump does: "S", "S.", "F.", "R", "P.".
func (f Flags) String() string {
	var b strings.Builder
	for _, x := range []struct {
		f Flags
		c byte
	}{{SYN, 'S'}, {FIN, 'F'}, {RST, 'R'}, {PSH, 'P'}, {URG, 'U'}, {ECE, 'E'}, {CWR, 'W'}} {
		if f&x.f != 0 {
			b.WriteByte(x.c)
		}
	}
	if f&ACK != 0 {
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Segment is one decoded TCP segment. It holds only values: nothing in it
// refers to a packet buffer, so a Segment may be kept after the source that
// produced it has moved on.
type Segment struct {
	// Frame is the 1-based number of the packet in the capture (across all
	// files, in delivery order), as Wireshark numbers it.
	Frame uint64
	// Time is the capture timestamp in nanoseconds since the Unix epoch (UTC).
	Time int64

	Src, Dst netip.AddrPort

	Seq, Ack uint32
	Flags    Flags
	// HasTS is set when the segment carries a TCP timestamp option.
	HasTS bool
	// Window is the raw (unscaled) window field.
	Window uint16
	// PayloadLen is the TCP payload length taken from the IP header's
	// length fields, never from the captured bytes, so a segment cut by
	// snaplen after its TCP header still has its true length.
	PayloadLen uint32

	// TSval and TSecr are the timestamp option's values when HasTS.
	TSval, TSecr uint32

	// Options seen on SYN segments (zero when absent).
	MSS      uint16
	WScale   int8 // -1 when the option is absent
	SACKPerm bool
	// SACK is set when the segment carries a SACK block option.
	SACK bool

	// IPv6 is set for IPv6 packets.
	IPv6 bool
	// IPID is the IPv4 identification field (0 for IPv6).
	IPID uint16
	// DF is the IPv4 don't-fragment bit.
	DF bool
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL uint8
	// DSACK is set when the segment's first SACK block is a D-SACK (RFC
	// 2883 §4): it reports sequence numbers [DSACKLeft, DSACKRight) the
	// sender had received twice.
	DSACK bool
	// SYNOptions is a SYN's option layout: the kinds in the order they
	// were written (PackOptions). Other segments leave it 0.
	SYNOptions Options

	// ICMP is set when this is not a TCP segment but an ICMP error that
	// quotes one (see [ICMPError]): Src, Dst, Seq, Ack and Flags are then
	// the quoted segment's, PayloadLen is 0, and IPID, DF and TTL are the
	// ICMP packet's own.
	ICMP *ICMPError

	// DSACKLeft and DSACKRight are the edges of the D-SACK block when
	// DSACK is set.
	DSACKLeft, DSACKRight uint32

	// k is the segment's 4-tuple key, its hash and which endpoint sent
	// it, once k.h is set (by a Prefetcher, on its reading goroutine);
	// the Table computes them otherwise.
	k keyed
}

// ICMPError is an ICMP error message that quotes a TCP segment: a
// destination unreachable, a time exceeded or a parameter problem, or
// path MTU discovery's IPv4 "fragmentation needed" (a destination
// unreachable too) and ICMPv6 "packet too big" ([ICMPError.PMTU]).
type ICMPError struct {
	// Type and Code are the message's, ICMPv6 numbers when V6 is set.
	Type, Code uint8
	V6         bool
	// QuotedAck is set when the quote reaches the acknowledgement
	// number, QuotedFlags when it reaches the flags (RFC 792 asks for
	// the first 8 bytes only; Linux quotes up to 576 bytes in all).
	QuotedAck, QuotedFlags bool
	// MTU is a path MTU message's next-hop MTU (65535 at most), 0 for
	// other errors, or when the router left it out (RFC 1191's old
	// routers).
	MTU uint16
	// From is the message's source: the quoted segment's destination, or
	// a router or firewall on the way to it.
	From netip.Addr
}

// PMTU reports whether e is path MTU discovery's: IPv4's "fragmentation
// needed" or ICMPv6's "packet too big". Such a message tells the sender
// to send smaller packets; it is no error to its socket.
func (e *ICMPError) PMTU() bool {
	if e.V6 {
		return e.Type == 2
	}
	return e.Type == 3 && e.Code == 4
}

// End returns the sequence number just past this segment: seq + payload
// length, plus one for SYN and one for FIN.
func (s *Segment) End() uint32 {
	e := s.Seq + s.PayloadLen
	if s.Flags&SYN != 0 {
		e++
	}
	if s.Flags&FIN != 0 {
		e++
	}
	return e
}

// Source yields decoded segments in capture order. Next returns io.EOF at
// the end of the input; any other error is final and sticky.
type Source interface {
	Next() (Segment, error)
}

// SeqLess reports whether sequence number a comes before b, modulo 2^32.
func SeqLess(a, b uint32) bool { return int32(a-b) < 0 }

// SeqDiff returns b - a as a signed distance, modulo 2^32.
func SeqDiff(a, b uint32) int32 { return int32(b - a) }
