// Package filter selects TCP segments with the tcpdump filter expressions
// people already type every day:
//
//	host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16
//
// It implements the part of pcap-filter(7) that means something for decoded
// TCP segments, with tcpdump's grammar and meaning, and rejects everything
// else with a [*SyntaxError] that points at the token.
//
// # The subset
//
//   - host ADDR, net NET, port PORT, portrange LO-HI, each optionally
//     preceded by a direction: src, dst, src or dst (the default), src and
//     dst; "src ADDR" alone means "src host ADDR".
//   - ADDR is a dotted IPv4 address or an IPv6 address. An IPv4 address
//     written with fewer than four parts ("host 10.1") matches as the
//     network those parts name, as in tcpdump; a bare number is a 32-bit
//     address ("host 167772161" is host 10.0.0.1).
//   - NET is "10.0.0.0/8", "10.0.0.0 mask 255.0.0.0", an abbreviated network
//     ("net 10.0" is 10.0.0.0/16, "net 10" is 10.0.0.0/8), "2001:db8::/32" or
//     an IPv6 address (a /128).
//   - PORT is a number (decimal, 0x hex, or octal with a leading 0, as in
//     tcpdump) or one of the service names in [ServiceNames]. LO-HI in a
//     portrange may use numbers or those names; a single number is a range of
//     one.
//   - ip (IPv4 segments), ip6 (IPv6 segments), tcp (every segment). ip and
//     ip6 may qualify host and net ("ip6 net 2001:db8::/32"), tcp may
//     qualify port and portrange ("tcp dst port 80").
//   - and, or, not, their synonyms &&, || and !, and parentheses. As in
//     tcpdump, not binds tightest while and and or have the same precedence
//     and associate to the left: "a or b and c" is "(a or b) and c".
//   - tcpdump's repetition of qualifiers: an address, number or name after
//     and/or with no qualifier of its own takes the qualifiers of the
//     primitive before it, so "host 10.0.0.1 or 10.0.0.2" is "host 10.0.0.1 or
//     host 10.0.0.2" and "not host a and b" is "not host a and host b". A
//     parenthesized group leaves the qualifiers as they were before it, and
//     ip, ip6 and tcp on their own leave none.
//
// The empty expression matches every segment.
//
// # Differences from tcpdump
//
// Host and network names are not looked up, and port names come from a fixed
// table rather than the machine's /etc/services. There is no link-layer,
// length, header-byte or encapsulation primitive: the segments have been
// decoded, whatever carried them, so "port 80" also sees segments inside VLAN
// tags, where tcpdump needs "vlan and port 80". tcpdump reads a malformed
// range such as "portrange 1-2-3" as 1-2; the filter refuses it.
package filter

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/teardown/teardown/flows"
)

// Filter is a parsed filter expression. Its zero value and a nil *Filter
// match every segment. A Filter is immutable and safe for concurrent use.
type Filter struct {
	nodes []node
	root  int32 // index of the top node; nodes is empty for the empty expression
}

type op uint8

const (
	opTCP  op = iota // every segment
	opIP4            // IPv4 segments
	opIP6            // IPv6 segments
	opNet4           // IPv4 address under a mask
	opNet6           // IPv6 address under a mask
	opPort           // port in [lo, hi]
	opNot
	opAnd
	opOr
)

// dir says which endpoint an address or port test looks at.
type dir uint8

const (
	dirAny  dir = iota // src or dst: tcpdump's default
	dirSrc             // src
	dirDst             // dst
	dirBoth            // src and dst
)

// node is one operation of the tree. Children are indices into
// Filter.nodes, so that evaluation follows no pointers but the slice's.
type node struct {
	op     op
	dir    dir
	a, b   int32     // children of not (a), and and or (a, b)
	lo, hi uint16    // opPort
	v4, m4 uint32    // opNet4: address and mask
	v6, m6 [2]uint64 // opNet6: address and mask, high half first
}

// Match reports whether s satisfies the filter. It does not allocate.
func (f *Filter) Match(s *flows.Segment) bool {
	if f == nil || len(f.nodes) == 0 {
		return true
	}
	return f.eval(f.root, s)
}

func (f *Filter) eval(i int32, s *flows.Segment) bool {
	n := &f.nodes[i]
	switch n.op {
	case opAnd:
		return f.eval(n.a, s) && f.eval(n.b, s)
	case opOr:
		return f.eval(n.a, s) || f.eval(n.b, s)
	case opNot:
		return !f.eval(n.a, s)
	case opIP4:
		return !s.IPv6
	case opIP6:
		return s.IPv6
	case opNet4, opNet6, opPort:
		if n.op == opNet4 && s.IPv6 || n.op == opNet6 && !s.IPv6 {
			return false
		}
		switch n.dir {
		case dirSrc:
			return n.endpoint(s.Src)
		case dirDst:
			return n.endpoint(s.Dst)
		case dirBoth:
			return n.endpoint(s.Src) && n.endpoint(s.Dst)
		}
		return n.endpoint(s.Src) || n.endpoint(s.Dst)
	}
	return true // opTCP
}

// endpoint tests one end of a segment against an address or port node.
func (n *node) endpoint(ap netip.AddrPort) bool {
	switch n.op {
	case opNet4:
		return n.net4(ap.Addr())
	case opNet6:
		return n.net6(ap.Addr())
	}
	p := ap.Port()
	return p >= n.lo && p <= n.hi
}

func (n *node) net4(a netip.Addr) bool {
	b := a.As16() // an IPv4 address is in the last four bytes
	return binary.BigEndian.Uint32(b[12:])&n.m4 == n.v4
}

func (n *node) net6(a netip.Addr) bool {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8])&n.m6[0] == n.v6[0] &&
		binary.BigEndian.Uint64(b[8:])&n.m6[1] == n.v6[1]
}

// String returns the filter in a canonical form that Parse reads back to
// the same filter: every primitive fully qualified (no repetition), ports
// as numbers, addresses with a mask as net A/len (net A mask M when the
// mask is not contiguous), redundant qualifiers (ip before an IPv4 address,
// tcp before a port) dropped, and parentheses wherever and and or mix. The
// empty expression is "".
func (f *Filter) String() string {
	if f == nil || len(f.nodes) == 0 {
		return ""
	}
	var b strings.Builder
	f.write(&b, f.root)
	return b.String()
}

func (f *Filter) write(b *strings.Builder, i int32) {
	n := &f.nodes[i]
	group := func(c int32, parens bool) {
		if parens {
			b.WriteByte('(')
		}
		f.write(b, c)
		if parens {
			b.WriteByte(')')
		}
	}
	switch n.op {
	case opAnd, opOr:
		l := f.nodes[n.a].op
		group(n.a, (l == opAnd || l == opOr) && l != n.op)
		if n.op == opAnd {
			b.WriteString(" and ")
		} else {
			b.WriteString(" or ")
		}
		r := f.nodes[n.b].op
		group(n.b, r == opAnd || r == opOr)
	case opNot:
		b.WriteString("not ")
		c := f.nodes[n.a].op
		group(n.a, c == opAnd || c == opOr)
	case opTCP:
		b.WriteString("tcp")
	case opIP4:
		b.WriteString("ip")
	case opIP6:
		b.WriteString("ip6")
	case opNet4:
		b.WriteString(n.dir.prefix())
		var a4 [4]byte
		binary.BigEndian.PutUint32(a4[:], n.v4)
		addr := netip.AddrFrom4(a4)
		ones := bits.OnesCount32(n.m4)
		switch {
		case n.m4 == ^uint32(0):
			fmt.Fprintf(b, "host %s", addr)
		case n.m4 == ^uint32(0)<<(32-ones) || n.m4 == 0:
			fmt.Fprintf(b, "net %s/%d", addr, ones)
		default:
			binary.BigEndian.PutUint32(a4[:], n.m4)
			fmt.Fprintf(b, "net %s mask %s", addr, netip.AddrFrom4(a4))
		}
	case opNet6:
		b.WriteString(n.dir.prefix())
		var a16 [16]byte
		binary.BigEndian.PutUint64(a16[:8], n.v6[0])
		binary.BigEndian.PutUint64(a16[8:], n.v6[1])
		addr := netip.AddrFrom16(a16)
		ones := bits.OnesCount64(n.m6[0]) + bits.OnesCount64(n.m6[1])
		if ones == 128 {
			fmt.Fprintf(b, "host %s", addr)
		} else {
			fmt.Fprintf(b, "net %s/%d", addr, ones)
		}
	case opPort:
		b.WriteString(n.dir.prefix())
		if n.lo == n.hi {
			fmt.Fprintf(b, "port %d", n.lo)
		} else {
			fmt.Fprintf(b, "portrange %d-%d", n.lo, n.hi)
		}
	}
}

func (d dir) prefix() string {
	switch d {
	case dirSrc:
		return "src "
	case dirDst:
		return "dst "
	case dirBoth:
		return "src and dst "
	}
	return ""
}

// SyntaxError reports an expression the filter does not accept: not
// tcpdump's grammar, outside the subset, or a value out of range.
type SyntaxError struct {
	Expr  string // the whole expression
	Pos   int    // byte offset of Token in Expr (Expr[Pos:] starts with it)
	Token string // the offending token; "" at the end of the expression
	Msg   string // what was expected, or why the token is refused
}

// Error returns one line: what went wrong, where (as a 1-based column), and
// why.
func (e *SyntaxError) Error() string {
	if e.Token == "" {
		return fmt.Sprintf("filter: unexpected end of expression at column %d (%s)", e.Pos+1, e.Msg)
	}
	return fmt.Sprintf("filter: unexpected %q at column %d (%s)", e.Token, e.Pos+1, e.Msg)
}
