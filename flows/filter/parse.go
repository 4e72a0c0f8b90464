package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The parser follows libpcap's grammar.y rule for rule, restricted to the
// subset:
//
//	prog  := ε | expr
//	expr  := term | expr (and|or) term | expr (and|or) id
//	term  := rterm | not term
//	rterm := head id | ( expr ) | ip | ip6 | tcp
//	head  := [pname] dqual [aqual] | [pname] aqual
//	id    := nid | pnum | ( pid )
//	nid   := HID | HID / NUM | HID mask HID | HID6 | HID6 / NUM | ID | not id
//	pid   := (nid | pnum) { (and|or) id }
//	pnum  := NUM | ( pnum )
//
// and and or share one precedence and associate to the left. Every term and
// id carries the qualifiers (proto, dir, addr) an id after the next and/or
// inherits, as yacc's $<blk>0 does in grammar.y: head id gives the head's,
// an id passes on the ones it inherited, not term passes on its term's, a
// parenthesized expr passes on the ones in force before its "(", and ip,
// ip6 and tcp alone give none (an id after them is an error).

// qual is the qualifier list of a primitive.
type qual struct {
	ok    bool    // false: none to inherit (grammar.y's qerr)
	proto tokKind // 0 (none), tkIP, tkIP6 or tkTCP
	dir   dir
	addr  tokKind // 0 (none: host), tkHost, tkNet, tkPort or tkPortrange
}

type parser struct {
	expr  string
	toks  []token
	i     int
	nodes []node
}

// Parse reads a filter expression. Errors are of type *SyntaxError.
func Parse(expr string) (f *Filter, err error) {
	p := &parser{expr: expr, toks: lex(expr)}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			f, err = nil, se
		}
	}()
	if p.peek().kind == tkEOF {
		return &Filter{}, nil
	}
	root, _ := p.parseExpr(qual{}, 0)
	if t := p.peek(); t.kind != tkEOF {
		if t.kind == tkRParen {
			p.fail(t, "this parenthesis closes nothing")
		}
		p.unexpected(t, "expected and, or, or the end of the expression")
	}
	return &Filter{nodes: p.nodes, root: root}, nil
}

const subset = "host, net, port, portrange, src, dst, ip, ip6, tcp, and, or, not, parentheses"

func (p *parser) peek() token        { return p.toks[p.i] }
func (p *parser) peekAt(k int) token { return p.toks[min(p.i+k, len(p.toks)-1)] }

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) fail(t token, msg string) {
	panic(&SyntaxError{Expr: p.expr, Pos: t.pos, Token: p.expr[t.pos:t.end], Msg: msg})
}

// unexpected reports t where something else was expected; a token that is
// refused for its own sake (a tcpdump keyword outside the subset, a
// malformed number) says why instead.
func (p *parser) unexpected(t token, expected string) {
	switch t.kind {
	case tkUnsupported:
		p.fail(t, t.hint+"; the filter understands "+subset)
	case tkBad:
		p.fail(t, t.hint)
	}
	p.fail(t, expected)
}

func (p *parser) add(n node) int32 {
	p.nodes = append(p.nodes, n)
	return int32(len(p.nodes) - 1)
}

func (p *parser) binary(op tokKind, a, b int32) int32 {
	if op == tkAnd {
		return p.add(node{op: opAnd, a: a, b: b})
	}
	return p.add(node{op: opOr, a: a, b: b})
}

// parseExpr reads expr; depth counts the parentheses around it.
func (p *parser) parseExpr(ctx qual, depth int) (int32, qual) {
	n, q := p.parseTerm(ctx, depth)
	for {
		op := p.peek().kind
		if op != tkAnd && op != tkOr {
			if depth > 0 && op != tkRParen {
				p.unexpected(p.peek(), "expected and, or, or a closing parenthesis")
			}
			return n, q
		}
		p.advance()
		var m int32
		if p.termFollows() {
			m, q = p.parseTerm(q, depth)
		} else {
			m = p.parseID(q)
		}
		n = p.binary(op, n, m)
	}
}

// termFollows decides between the term and the id after and/or the way
// yacc's lookahead does: by the first token past any not and "(".
func (p *parser) termFollows() bool {
	for k := p.i; ; k++ {
		switch p.toks[k].kind {
		case tkNot, tkLParen:
		case tkNum, tkHID, tkHID6, tkID:
			return false
		default:
			return true
		}
	}
}

func (p *parser) parseTerm(ctx qual, depth int) (int32, qual) {
	t := p.peek()
	switch t.kind {
	case tkNot:
		p.advance()
		n, q := p.parseTerm(ctx, depth)
		return p.add(node{op: opNot, a: n}), q
	case tkLParen:
		p.advance()
		n, _ := p.parseExpr(ctx, depth+1)
		p.expect(tkRParen, "expected and, or, or a closing parenthesis")
		return n, ctx
	case tkIP, tkIP6, tkTCP:
		switch p.peekAt(1).kind {
		case tkSrc, tkDst, tkHost, tkNet, tkPort, tkPortrange:
			return p.parseHead()
		}
		p.advance()
		switch t.kind {
		case tkIP:
			return p.add(node{op: opIP4}), qual{}
		case tkIP6:
			return p.add(node{op: opIP6}), qual{}
		}
		return p.add(node{op: opTCP}), qual{}
	case tkSrc, tkDst, tkHost, tkNet, tkPort, tkPortrange:
		return p.parseHead()
	case tkNum, tkHID, tkHID6:
		p.fail(t, "an address or port needs a qualifier in front: host, net, port, portrange, src or dst")
	}
	p.unexpected(t, "expected host, net, port, portrange, src, dst, ip, ip6, tcp, not or (")
	panic("unreachable")
}

// parseHead reads head id.
func (p *parser) parseHead() (int32, qual) {
	q := qual{ok: true}
	switch k := p.peek().kind; k {
	case tkIP, tkIP6, tkTCP:
		q.proto = k
		p.advance()
	}
	switch first := p.peek().kind; first {
	case tkSrc, tkDst:
		p.advance()
		q.dir = dirSrc
		if first == tkDst {
			q.dir = dirDst
		}
		if op := p.peek().kind; op == tkAnd || op == tkOr {
			other, name := tkDst, "dst"
			if first == tkDst {
				other, name = tkSrc, "src"
			}
			p.advance()
			if p.peek().kind != other {
				p.unexpected(p.peek(), "expected "+name+`: a direction is "src or dst" or "src and dst"`)
			}
			p.advance()
			q.dir = dirAny
			if op == tkAnd {
				q.dir = dirBoth
			}
		}
		switch k := p.peek().kind; k {
		case tkHost, tkNet, tkPort, tkPortrange:
			q.addr = k
			p.advance()
		}
	case tkHost, tkNet, tkPort, tkPortrange:
		q.addr = first
		p.advance()
	}
	return p.parseID(q), q
}

func (p *parser) expect(k tokKind, msg string) token {
	t := p.peek()
	if t.kind != k {
		p.unexpected(t, msg)
	}
	return p.advance()
}

// what names what q expects, for messages.
func (q qual) what() string {
	switch q.addr {
	case tkPort:
		return "a port number or name"
	case tkPortrange:
		return "a port range such as 8000-8100"
	case tkNet:
		return "a network such as 10.0.0.0/8"
	}
	return "an address"
}

// parseID reads an id with the qualifiers q.
func (p *parser) parseID(q qual) int32 {
	t := p.peek()
	switch t.kind {
	case tkNot:
		p.advance()
		return p.add(node{op: opNot, a: p.parseID(q)})
	case tkLParen:
		p.advance()
		n := p.parsePid(q)
		p.expect(tkRParen, "expected and, or, or a closing parenthesis")
		return n
	case tkNum:
		p.advance()
		return p.numeric(q, t, t.num)
	case tkHID:
		p.advance()
		switch p.peek().kind {
		case tkSlash:
			p.advance()
			l := p.expect(tkNum, "expected a prefix length")
			return p.masked4(q, t, nil, l)
		case tkMask:
			p.advance()
			m := p.expect(tkHID, "expected a netmask such as 255.255.0.0")
			return p.masked4(q, t, &m, token{})
		}
		return p.dotted(q, t)
	case tkHID6:
		p.advance()
		if p.peek().kind == tkSlash {
			p.advance()
			l := p.expect(tkNum, "expected a prefix length")
			return p.masked6(q, t, l)
		}
		return p.masked6(q, t, token{num: 128})
	case tkID:
		p.advance()
		return p.named(q, t)
	}
	p.unexpected(t, "expected "+q.what())
	panic("unreachable")
}

// parsePid reads the inside of a parenthesized id list.
func (p *parser) parsePid(q qual) int32 {
	var n int32
	switch t := p.peek(); t.kind {
	case tkLParen, tkNum:
		n = p.numeric(q, t, p.parsePnum())
	default:
		n = p.parseID(q)
	}
	for {
		op := p.peek().kind
		if op != tkAnd && op != tkOr {
			return n
		}
		p.advance()
		n = p.binary(op, n, p.parseID(q))
	}
}

func (p *parser) parsePnum() uint32 {
	t := p.peek()
	if t.kind == tkLParen {
		p.advance()
		v := p.parsePnum()
		p.expect(tkRParen, "expected )")
		return v
	}
	return p.expect(tkNum, "expected a number: only a number may be put in parentheses of its own here").num
}

const noQualifier = "no qualifier to repeat here: write host, net, port or portrange in front of it"

// checkAddr refuses protocol qualifiers that do not fit an address of the
// given family, as libpcap's gen_host does.
func (p *parser) checkAddr(q qual, t token, v6 bool) {
	switch {
	case q.proto == tkTCP:
		p.fail(t, "tcp qualifies ports, not addresses")
	case q.proto == tkIP6 && !v6:
		p.fail(t, "ip6 in front of an IPv4 address")
	case q.proto == tkIP && v6:
		p.fail(t, "ip in front of an IPv6 address")
	}
}

func (p *parser) checkPortProto(q qual, t token) {
	if q.proto == tkIP || q.proto == tkIP6 {
		p.fail(t, "ip and ip6 qualify addresses; write tcp port or port")
	}
}

func (p *parser) addr4(q qual, t token, v, m uint32) int32 {
	p.checkAddr(q, t, false)
	return p.add(node{op: opNet4, dir: q.dir, v4: v & m, m4: m})
}

// numeric is libpcap's gen_ncode for a NUM: a 32-bit address for host, a
// network with its leading zero bytes dropped for net ("net 10" is
// 10.0.0.0/8), a port for port and portrange.
func (p *parser) numeric(q qual, t token, v uint32) int32 {
	if !q.ok {
		p.fail(t, noQualifier)
	}
	switch q.addr {
	case tkPort, tkPortrange:
		p.checkPortProto(q, t)
		if v > 65535 {
			p.fail(t, "a port number is at most 65535")
		}
		return p.add(node{op: opPort, dir: q.dir, lo: uint16(v), hi: uint16(v)})
	}
	m := ^uint32(0)
	if q.addr == tkNet {
		for v != 0 && v&0xff000000 == 0 {
			v <<= 8
			m <<= 8
		}
	}
	return p.addr4(q, t, v, m)
}

// atoin reads the parts of a dotted IPv4 address as libpcap's __pcap_atoin
// does (decimal, each at most 255) and returns the value, right-aligned, and
// the number of bits written.
func (p *parser) atoin(t token) (v uint32, n int) {
	for _, part := range strings.Split(t.text, ".") {
		if strings.ContainsAny(part, "xX") {
			p.fail(t, "the parts of a dotted address are decimal")
		}
		x, err := strconv.ParseUint(part, 10, 32)
		if err != nil || x > 255 {
			p.fail(t, "each part of a dotted address is at most 255")
		}
		v = v<<8 | uint32(x)
		n += 8
	}
	return v, n
}

// dotted is gen_ncode for an HID: the parts given are the high bits of the
// address and the mask covers them, so "host 10.1" is 10.1.0.0/16.
func (p *parser) dotted(q qual, t token) int32 {
	if !q.ok {
		p.fail(t, noQualifier)
	}
	if q.addr == tkPort || q.addr == tkPortrange {
		p.fail(t, "an address where a port was expected")
	}
	v, n := p.atoin(t)
	return p.addr4(q, t, v<<(32-n), ^uint32(0)<<(32-n))
}

// masked4 is gen_mcode: HID/len or HID mask HID, for net only.
func (p *parser) masked4(q qual, t token, maskTok *token, lenTok token) int32 {
	if !q.ok {
		p.fail(t, noQualifier)
	}
	if q.addr == tkPort || q.addr == tkPortrange {
		p.fail(t, "an address where a port was expected")
	}
	v, n := p.atoin(t)
	v <<= 32 - n
	var m uint32
	if maskTok != nil {
		mv, mn := p.atoin(*maskTok)
		m = mv << (32 - mn)
	} else {
		if lenTok.num > 32 {
			p.fail(lenTok, "an IPv4 prefix length is at most 32")
		}
		if lenTok.num > 0 {
			m = ^uint32(0) << (32 - lenTok.num)
		}
	}
	if v&^m != 0 {
		p.fail(t, "the address has bits set outside its network mask")
	}
	if q.addr != tkNet {
		p.fail(t, "a prefix length or mask needs net in front")
	}
	return p.addr4(q, t, v, m)
}

// masked6 is gen_mcode6: an IPv6 address with a prefix length (128 when
// none was given; a shorter one needs net).
func (p *parser) masked6(q qual, t token, lenTok token) int32 {
	if !q.ok {
		p.fail(t, noQualifier)
	}
	if q.addr == tkPort || q.addr == tkPortrange {
		p.fail(t, "an address where a port was expected")
	}
	a, _ := netip.ParseAddr(t.text) // the lexer checked it
	if lenTok.num > 128 {
		p.fail(lenTok, "an IPv6 prefix length is at most 128")
	}
	pfx := netip.PrefixFrom(a, int(lenTok.num))
	if pfx.Masked().Addr() != a {
		p.fail(t, "the address has bits set outside its prefix")
	}
	if lenTok.num != 128 && q.addr != tkNet {
		p.fail(t, "a prefix length needs net in front")
	}
	p.checkAddr(q, t, true)
	var mask [2]uint64
	for i := range mask {
		bitsHere := min(max(int(lenTok.num)-64*i, 0), 64)
		if bitsHere > 0 {
			mask[i] = ^uint64(0) << (64 - bitsHere)
		}
	}
	b := a.As16()
	n := node{op: opNet6, dir: q.dir, m6: mask}
	for i := range 2 {
		for _, x := range b[8*i : 8*i+8] {
			n.v6[i] = n.v6[i]<<8 | uint64(x)
		}
	}
	return p.add(n)
}

// named is gen_scode: a port name, or a range of names or numbers. Host and
// network names are refused, since they would need a lookup.
func (p *parser) named(q qual, t token) int32 {
	if !q.ok {
		p.fail(t, noQualifier)
	}
	switch q.addr {
	case tkPort:
		p.checkPortProto(q, t)
		port, ok := services[t.text]
		if !ok {
			p.fail(t, "unknown port name; use a number or one of "+commonServices+" (see filter.ServiceNames)")
		}
		return p.add(node{op: opPort, dir: q.dir, lo: port, hi: port})
	case tkPortrange:
		p.checkPortProto(q, t)
		a, b, ok := strings.Cut(t.text, "-")
		if !ok {
			p.fail(t, "a port range is two ports joined by -, such as 8000-8100")
		}
		lo, hi := p.rangePort(t, a), p.rangePort(t, b)
		if lo > hi {
			lo, hi = hi, lo
		}
		return p.add(node{op: opPort, dir: q.dir, lo: lo, hi: hi})
	case tkNet:
		p.fail(t, "network names are not looked up; give a network such as 10.0.0.0/8")
	}
	p.fail(t, "host names are not looked up; give an address")
	panic("unreachable")
}

func (p *parser) rangePort(t token, s string) uint16 {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil || v > 65535 {
			p.fail(t, "a port number is at most 65535")
		}
		return uint16(v)
	}
	port, ok := services[s]
	if !ok {
		p.fail(t, fmt.Sprintf("unknown port %q in the range; use numbers or names such as %s", s, commonServices))
	}
	return port
}
