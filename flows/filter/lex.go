package filter

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// tokKind is the kind of a lexical token. The classes follow libpcap's
// scanner.l: NUM, HID (dotted IPv4), HID6 (IPv6), ID (a name), keywords
// and punctuation.
type tokKind uint8

const (
	tkEOF tokKind = iota
	tkAnd
	tkOr
	tkNot
	tkLParen
	tkRParen
	tkSlash
	tkSrc
	tkDst
	tkHost
	tkNet
	tkMask
	tkPort
	tkPortrange
	tkIP
	tkIP6
	tkTCP
	tkNum  // a number: decimal, 0x hex or 0-prefixed octal
	tkHID  // 1 to 4 dot-separated numbers
	tkHID6 // an IPv6 address
	tkID   // a name (or a backslash-escaped word)
	// tkUnsupported is a tcpdump keyword or symbol outside the subset; its
	// token carries the reason in hint.
	tkUnsupported
	// tkBad is a lexical error (a malformed number or address, or a
	// character tcpdump does not know); its token carries the reason.
	tkBad
)

type token struct {
	kind tokKind
	pos  int    // byte offset in the expression
	end  int    // byte offset just past the token
	text string // as typed (for tkID, without a leading backslash)
	num  uint32 // tkNum's value
	hint string // tkUnsupported and tkBad: why
}

// keywords are the words the subset understands.
var keywords = map[string]tokKind{
	"and": tkAnd, "&&": tkAnd,
	"or": tkOr, "||": tkOr,
	"not": tkNot,
	"src": tkSrc, "dst": tkDst,
	"host": tkHost, "net": tkNet, "mask": tkMask,
	"port": tkPort, "portrange": tkPortrange,
	"ip": tkIP, "ip6": tkIP6, "tcp": tkTCP,
}

// Reasons given for tcpdump keywords outside the subset.
const (
	whyLink    = "link-layer primitives are not supported: the filter sees decoded TCP segments"
	whyProto   = "only TCP segments reach the filter"
	whyNumber  = "protocol numbers are not supported: every segment is TCP"
	whyArith   = "packet length and header byte expressions are not supported"
	whyEncap   = "encapsulation primitives are not supported: the filter sees the TCP segment inside"
	whyCapture = "capture-interface and pf primitives are not supported"
	whyOther   = "this tcpdump primitive is not supported"
)

// unsupported maps every other keyword of libpcap's scanner to the reason
// it is rejected, so that the error names the real problem instead of
// calling a tcpdump keyword unknown.
var unsupported = func() map[string]string {
	m := map[string]string{}
	add := func(why string, words string) {
		for _, w := range strings.Fields(words) {
			m[w] = why
		}
	}
	add(whyLink, "link ether ppp slip fddi tr wlan radio type subtype direction dir "+
		"address1 address2 address3 address4 addr1 addr2 addr3 addr4 ra ta llc")
	add(whyProto, "arp rarp sctp udp icmp igmp igrp pim vrrp carp icmp6 ah esp atalk aarp "+
		"decnet lat sca moprc mopdl iso esis es-is isis is-is l1 l2 iih lsp snp csnp psnp "+
		"clnp stp ipx netbeui")
	add(whyNumber, "proto protochain")
	add(whyArith, "less greater byte len length tcpflags tcp-fin tcp-syn tcp-rst tcp-push "+
		"tcp-ack tcp-urg tcp-ece tcp-cwr icmptype icmpcode icmp-echoreply icmp-unreach "+
		"icmp-sourcequench icmp-redirect icmp-echo icmp-routeradvert icmp-routersolicit "+
		"icmp-timxceed icmp-paramprob icmp-tstamp icmp-tstampreply icmp-ireq icmp-ireqreply "+
		"icmp-maskreq icmp-maskreply icmp6type icmp6code")
	add(whyEncap, "vlan mpls pppoed pppoes geneve vxlan batadv")
	add(whyCapture, "inbound outbound ifindex on ifname rset ruleset rnr rulenum srnr "+
		"subrulenum reason action")
	add(whyOther, "gateway broadcast multicast lane metac bcc oam oamf4 oamf4ec oamf4sc sc "+
		"ilmic vpi vci connectmsg metaconnect fisu lssu lsu msu hfisu hlssu hmsu sio opc "+
		"dpc sls hsio hopc hdpc hsls")
	return m
}()

// Patterns of scanner.l that decide where a token ends. flex takes the
// longest match and, between matches of equal length, the earliest rule;
// lex does the same with the rules in this order: keywords, punctuation,
// AID, MAC, NUM, HID, V6, bogus Ethernet address, ID, escaped ID.
const (
	pN  = `(?:[0-9]+|0[xX][0-9A-Fa-f]+)`
	pB  = `[0-9A-Fa-f][0-9A-Fa-f]?`
	pB2 = `[0-9A-Fa-f]{4}`
	pW  = `[0-9A-Fa-f]{1,4}`
)

var (
	reAID   = anchored(`\$` + pB)
	reMAC   = anchored(`(?:` + pB + `(?::` + pB + `){5}|` + pB + `(?:-` + pB + `){5}|` + pB + `(?:\.` + pB + `){5}|` + pB2 + `\.` + pB2 + `\.` + pB2 + `|` + pB2 + pB2 + pB2 + `)`)
	reNUM   = anchored(pN)
	reHID   = anchored(pN + `\.` + pN + `(?:\.` + pN + `(?:\.` + pN + `)?)?`)
	reV6    = anchored(v6Pattern())
	reBogus = anchored(pB + `:+(?:` + pB + `:+)+`)
	reID    = anchored(`[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?`)
	reEsc   = anchored(`\\[^ !()\n\t]+`)
)

func anchored(p string) *regexp.Regexp {
	re := regexp.MustCompile(`^(?:` + p + `)`)
	re.Longest()
	return re
}

// v6Pattern spells out scanner.l's V6: eight groups, or fewer groups around
// one "::", optionally ending in a dotted IPv4 address that takes the
// place of two groups.
func v6Pattern() string {
	groups := func(n int) []string {
		g := make([]string, n)
		for i := range g {
			g[i] = pW
		}
		return g
	}
	alts := []string{strings.Join(groups(8), ":")}
	for n := 0; n <= 7; n++ { // groups around the "::"
		for left := 0; left <= n; left++ {
			alts = append(alts, strings.Join(groups(left), ":")+"::"+strings.Join(groups(n-left), ":"))
		}
	}
	v4 := pN + `\.` + pN + `\.` + pN + `\.` + pN
	alts = append(alts, strings.Join(groups(6), ":")+":"+v4)
	for n := 0; n <= 5; n++ {
		for left := 0; left <= n; left++ {
			right := strings.Join(groups(n-left), ":")
			if right != "" {
				right += ":"
			}
			alts = append(alts, strings.Join(groups(left), ":")+"::"+right+v4)
		}
	}
	return strings.Join(alts, "|")
}

// lex splits expr into tokens, ending with tkEOF. It never fails: bad input
// becomes a tkBad token, reported when the parser reaches it.
func lex(expr string) []token {
	var toks []token
	i := 0
	for i < len(expr) {
		switch expr[i] {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		}
		t := next(expr, i)
		toks = append(toks, t)
		i = t.end
	}
	return append(toks, token{kind: tkEOF, pos: len(expr), end: len(expr)})
}

// rule numbers, in scanner.l's order, for breaking ties between matches of
// equal length.
const (
	ruleKeyword = iota
	rulePunct
	ruleAID
	ruleMAC
	ruleNUM
	ruleHID
	ruleV6
	ruleBogus
	ruleID
	ruleEsc
)

func next(expr string, pos int) token {
	s := expr[pos:]
	best, rule := 0, -1
	try := func(n, r int) {
		if n > best {
			best, rule = n, r
		}
	}
	for w := range keywords {
		if strings.HasPrefix(s, w) {
			try(len(w), ruleKeyword)
		}
	}
	for w := range unsupported {
		if strings.HasPrefix(s, w) {
			try(len(w), ruleKeyword)
		}
	}
	if strings.IndexByte(`+-*/%:[]!<>()&|^=`, s[0]) >= 0 {
		try(1, rulePunct)
	}
	for _, op := range []string{">=", "<=", "!=", "==", "<<", ">>"} {
		if strings.HasPrefix(s, op) {
			try(2, rulePunct)
		}
	}
	for _, p := range []struct {
		re   *regexp.Regexp
		rule int
	}{{reAID, ruleAID}, {reMAC, ruleMAC}, {reNUM, ruleNUM}, {reHID, ruleHID}, {reV6, ruleV6},
		{reBogus, ruleBogus}, {reID, ruleID}, {reEsc, ruleEsc}} {
		if loc := p.re.FindStringIndex(s); loc != nil {
			try(loc[1], p.rule)
		}
	}
	if rule < 0 {
		best = 1
		for best < len(s) && s[best]&0xc0 == 0x80 { // a whole UTF-8 character
			best++
		}
	}
	text := s[:best]
	t := token{pos: pos, end: pos + best, text: text}
	switch rule {
	case ruleKeyword:
		if k, ok := keywords[text]; ok {
			t.kind = k
		} else {
			t.kind, t.hint = tkUnsupported, unsupported[text]
		}
	case rulePunct:
		switch text {
		case "(":
			t.kind = tkLParen
		case ")":
			t.kind = tkRParen
		case "!":
			t.kind = tkNot
		case "/":
			t.kind = tkSlash
		case "[", "]":
			t.kind, t.hint = tkUnsupported, whyArith
		default:
			t.kind, t.hint = tkUnsupported, "arithmetic and comparisons are not supported"
		}
	case ruleAID:
		t.kind, t.hint = tkUnsupported, "ARCnet addresses are not supported"
	case ruleMAC:
		t.kind, t.hint = tkUnsupported, "Ethernet addresses are not supported: the filter sees decoded TCP segments"
	case ruleBogus:
		t.kind, t.hint = tkBad, "not a valid address"
	case ruleNUM:
		t.kind = tkNum
		v, err := parseNum(text)
		if err != nil {
			t.kind, t.hint = tkBad, err.Error()
		}
		t.num = v
	case ruleHID:
		t.kind = tkHID
	case ruleV6:
		t.kind = tkHID6
		if _, err := netip.ParseAddr(text); err != nil {
			t.kind, t.hint = tkBad, "not a valid IPv6 address"
		}
	case ruleID:
		t.kind = tkID
	case ruleEsc:
		t.kind, t.text = tkID, text[1:]
	default:
		t.kind, t.hint = tkBad, "tcpdump does not know this character"
	}
	return t
}

// parseNum reads a NUM token as libpcap does: 0x hex, a leading 0 octal,
// decimal otherwise, and 32 bits at most.
func parseNum(s string) (uint32, error) {
	base, digits := uint64(10), s
	switch {
	case len(s) > 1 && (s[1] == 'x' || s[1] == 'X'):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	var n uint64
	for _, c := range []byte(digits) {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		}
		if d >= base {
			return 0, fmt.Errorf("a number with a leading 0 is octal, and %c is not an octal digit", c)
		}
		n = n*base + d
		if n > 0xffffffff {
			return 0, fmt.Errorf("the number does not fit in 32 bits")
		}
	}
	return uint32(n), nil
}
