package capture

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"

	"github.com/teardown/teardown/flows"
)

// IP reassembly, as far as decoding needs it. A TCP segment sent in IP
// fragments, or a tunnel's datagram that carries one (VXLAN over an
// underlay whose MTU the overlay's does not leave room in), reaches the
// receiving host when its last missing fragment does: the decoder delivers
// it then, at that record's frame and time, as Wireshark does. Only the
// first fragHead bytes of a datagram's payload, which hold every header
// decoding reads, are kept; the byte ranges its fragments cover, from
// their IP lengths (not the bytes captured, so a capture cut by snaplen
// reassembles too), say when it is whole. Each input reassembles its own
// fragments: a capture taken at two points holds each datagram twice.
// What an input leaves unfinished when it ends, a later one may finish
// (tcpdump -C and -G cut a capture into files wherever they please).

const (
	// fragHead is how many bytes of a datagram's payload are kept: the
	// headers of the deepest tunnel decoding follows, and a TCP header
	// with options. A multiple of 8, at most 64 blocks of 8.
	fragHead = 320
	// fragPending bounds the datagrams in reassembly at once, per input;
	// beyond it the oldest is given up.
	fragPending = 1024
	// fragTimeout is how long after its first fragment a datagram may
	// complete: Linux's net.ipv4.ipfrag_time (30 s), after which the
	// receiver drops what it holds of it.
	fragTimeout = 30e9
	// fragCopies is how long after a datagram completed its fragments are
	// copies of it (a capture on several interfaces, tcpdump -i any), not
	// a new datagram with the same identification.
	fragCopies = 100e6
	// fragSpans bounds the disjoint byte ranges a datagram may be in.
	fragSpans = 16
	// fragMaxLen is the most payload an IP datagram can reassemble to.
	fragMaxLen = 65535
)

// fragKey identifies a datagram (RFC 791: addresses, protocol and
// identification; RFC 8200: addresses and identification).
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8 // IPv4's protocol
	v6       bool
}

func fragKey4(ip []byte) fragKey {
	k := fragKey{id: uint32(be16(ip[4:])), proto: ip[9]}
	copy(k.src[:], ip[12:16])
	copy(k.dst[:], ip[16:20])
	return k
}

func fragKey6(src, dst netip.Addr, id uint32) fragKey {
	return fragKey{src: src.As16(), dst: dst.As16(), id: id, v6: true}
}

// fragDatagram is a datagram in reassembly.
type fragDatagram struct {
	key   fragKey
	next  uint8  // the payload's protocol
	start int64  // when its first fragment was captured
	frame uint64 // that fragment's frame
	// total is the payload's length, known once the last fragment (no
	// more fragments) is seen; -1 before.
	total int
	spans [][2]int // the byte ranges fragments covered, in order, disjoint
	// head holds the payload's first bytes: got of them in a row from
	// the start, blocks the 8-byte blocks captured (bit i: bytes 8i to
	// 8i+8), for fragments that came out of order.
	head   [fragHead]byte
	got    int
	blocks uint64
	// parts counts its fragments decode took as resFragment.
	parts  uint64
	done   bool // delivered
	doneAt int64
	// input names the input that first left it unfinished.
	input string
	// recs are its fragments' records, with Options.KeepFragments.
	recs []Fragment
}

// fragTable reassembles one input's fragments. now and frame are the
// record being decoded; whole is set when it completed a datagram, and
// moved then counts the fragments of it counted as such before.
type fragTable struct {
	now   int64
	frame uint64
	whole bool
	moved uint64
	m     map[fragKey]*fragDatagram
	queue []*fragDatagram // in order of first fragment
	// vxlan are the UDP ports the input's decoder takes as VXLAN.
	vxlan []uint16
	// left holds what inputs that ended left unfinished.
	left *fragLeft
	// rec is the input's head, the record being decoded, when fragments'
	// records are kept (Options.KeepFragments); last is the datagram the
	// record completed.
	rec  *head
	last *fragDatagram
	// lost counts the datagrams known to carry TCP that never completed,
	// lostFrame the first frame of the earliest of them, lostConn its
	// segment's addresses and ports ("" when its first fragment was not
	// seen).
	lost, lostFrame uint64
	lostConn        string
}

// fragResult says what a fragment did to its datagram.
type fragResult uint8

const (
	fragPart  fragResult = iota // one more part: the datagram is not whole yet
	fragWhole                   // the last missing part: the datagram is whole
	fragBad                     // beyond the largest datagram
)

// add takes a fragment of datagram k, whose payload is of protocol next:
// n bytes at offset off of the payload, more when fragments follow it,
// data the bytes of it captured. With fragWhole it returns the payload's
// first bytes (valid until the next call) and its length.
func (t *fragTable) add(k fragKey, next uint8, off, n int, more bool, data []byte) ([]byte, int, fragResult) {
	if off+n > fragMaxLen || more && n%8 != 0 {
		return nil, 0, fragBad
	}
	t.sweep()
	g := t.m[k]
	if g != nil && g.done {
		if t.now-g.doneAt <= fragCopies {
			return nil, 0, fragPart // a copy of a fragment already delivered
		}
		delete(t.m, k) // the identification is in use again
		g = nil
	}
	if g == nil {
		if t.m == nil {
			t.m = map[fragKey]*fragDatagram{}
		}
		if g = t.left.take(k, t.now); g == nil {
			g = &fragDatagram{key: k, next: next, start: t.now, frame: t.frame, total: -1}
		}
		t.m[k] = g
		t.queue = append(t.queue, g)
	}
	if !more && g.total >= 0 && g.total != off+n {
		// A second end, elsewhere: keep the first.
		g.part(t.rec)
		return nil, 0, fragPart
	}
	if !more {
		g.total = off + n
	}
	g.cover(off, off+n)
	g.keep(off, data, !more && len(data) >= n)
	if g.total < 0 || len(g.spans) != 1 || g.spans[0] != [2]int{0, g.total} {
		g.part(t.rec)
		return nil, 0, fragPart
	}
	g.done, g.doneAt = true, t.now
	t.whole, t.moved, t.last = true, g.parts, g
	return g.head[:min(g.got, g.total)], g.total, fragWhole
}

// part counts a fragment of g that did not complete it, and keeps its
// record h when fragments' records are kept (h not nil).
func (g *fragDatagram) part(h *head) {
	g.parts++
	if h != nil {
		g.recs = append(g.recs, Fragment{LinkType: h.lt, Time: h.ts, Data: bytes.Clone(h.data), Wire: h.wire})
	}
}

// cover adds the byte range [a, b) to the ranges g's fragments covered.
// A datagram in more pieces than fragSpans never completes.
func (g *fragDatagram) cover(a, b int) {
	i := 0
	for i < len(g.spans) && g.spans[i][1] < a {
		i++
	}
	j := i
	for j < len(g.spans) && g.spans[j][0] <= b {
		a, b = min(a, g.spans[j][0]), max(b, g.spans[j][1])
		j++
	}
	if i == j && len(g.spans) >= fragSpans {
		return
	}
	g.spans = slices.Replace(g.spans, i, j, [2]int{a, b})
}

// keep copies the captured bytes data of the fragment at offset off into
// g's head; end is set when they reach the end of the datagram.
func (g *fragDatagram) keep(off int, data []byte, end bool) {
	if off >= fragHead {
		return
	}
	c := copy(g.head[off:], data)
	for i := off / 8; 8*i+8 <= off+c; i++ {
		if 8*i >= off {
			g.blocks |= 1 << i
		}
	}
	if end && (off+c)%8 != 0 && off+c < fragHead {
		g.blocks |= 1 << ((off + c) / 8) // the datagram's last, short block
	}
	if off <= g.got {
		g.got = max(g.got, off+c)
	}
	for g.got < fragHead && g.got%8 == 0 && g.blocks&(1<<(g.got/8)) != 0 {
		g.got = min(g.got+8, fragHead)
	}
}

// sweep gives up the datagrams that can no longer complete (more than
// fragTimeout old), forgets those delivered more than fragCopies ago,
// and keeps at most fragPending.
func (t *fragTable) sweep() {
	for len(t.queue) > 0 {
		g := t.queue[0]
		switch {
		case t.m[g.key] != g: // replaced
		case g.done && t.now-g.doneAt > fragCopies, !g.done && t.now-g.start > fragTimeout, len(t.m) >= fragPending:
			t.drop(g)
		default:
			return
		}
		t.queue[0] = nil
		t.queue = t.queue[1:]
	}
}

// end hands the datagrams not yet whole over to left (the input, whose
// name it is, has ended), but for those it cannot take, which are given
// up, and what was lost with them.
func (t *fragTable) end(name string) {
	for _, g := range t.queue {
		if t.m[g.key] != g || g.done {
			continue
		}
		if !t.left.keep(g, name, t) {
			t.drop(g)
		}
	}
	t.queue, t.m = nil, nil
	if t.lost > 0 && t.left != nil {
		t.left.count(name).merge(t)
	}
}

// merge adds the datagrams o lost to t's.
func (t *fragTable) merge(o *fragTable) {
	if o.lost > 0 {
		t.lose(o.lostFrame, o.lostConn)
		t.lost += o.lost - 1
	}
}

// drop removes g, counting it lost when it never completed and carried
// TCP, as far as its fragments tell.
func (t *fragTable) drop(g *fragDatagram) {
	delete(t.m, g.key)
	if tcp, conn := t.carriesTCP(g); !g.done && tcp {
		t.lose(g.frame, conn)
	}
}

// lose counts a datagram lost whose first fragment was frame, of the
// segment from conn.
func (t *fragTable) lose(frame uint64, conn string) {
	if t.lost == 0 || frame < t.lostFrame {
		t.lostFrame, t.lostConn = frame, conn
	}
	t.lost++
}

// lostWarning is the warning about the datagrams of input name that
// never completed.
func (t *fragTable) lostWarning(name string) string {
	of := ""
	if t.lostConn != "" {
		of = fmt.Sprintf(" (the first a segment %s)", t.lostConn)
	}
	return fmt.Sprintf("%s: frame %d: %s carrying TCP never completed%s: a fragment is missing from the capture, or came more than %g s after the first; %s missing",
		name, t.lostFrame, plural(t.lost, "fragmented IP datagram", "fragmented IP datagrams"), of, fragTimeout/1e9,
		map[bool]string{true: "its segment is", false: "their segments are"}[t.lost == 1])
}

// fragLeft holds the datagrams that inputs left unfinished when they
// ended, for a later input to finish, at most fragPending of them, and
// counts, input by input, the datagrams lost.
type fragLeft struct {
	m     map[fragKey]*leftDatagram
	order []fragKey
	lost  map[string]*fragTable
	names []string // of lost, in order
}

// count returns the counts of the datagrams input name lost.
func (l *fragLeft) count(name string) *fragTable {
	t := l.lost[name]
	if t == nil {
		if l.lost == nil {
			l.lost = map[string]*fragTable{}
		}
		t = &fragTable{}
		l.lost[name] = t
		l.names = append(l.names, name)
	}
	return t
}

// leftDatagram is a datagram an input left, whether it carries TCP, and
// its segment's addresses and ports when its first fragment shows them.
type leftDatagram struct {
	g    *fragDatagram
	tcp  bool
	conn string
}

// keep takes g, left by the input name whose table is t; false when it
// holds as many as it may, or another input left the same datagram (a
// copy of it).
func (l *fragLeft) keep(g *fragDatagram, name string, t *fragTable) bool {
	if l == nil || len(l.m) >= fragPending || l.m[g.key] != nil {
		return false
	}
	if l.m == nil {
		l.m = map[fragKey]*leftDatagram{}
	}
	if g.input == "" {
		g.input = name
	}
	tcp, conn := t.carriesTCP(g)
	l.m[g.key] = &leftDatagram{g: g, tcp: tcp, conn: conn}
	if len(l.order) >= 2*fragPending {
		// Keys taken since stay in order: keep those still held, once.
		seen := map[fragKey]bool{}
		l.order = slices.DeleteFunc(l.order, func(k fragKey) bool {
			drop := l.m[k] == nil || seen[k]
			seen[k] = true
			return drop
		})
	}
	l.order = append(l.order, g.key)
	return true
}

// take returns the datagram k an input left, when one did no more than
// fragTimeout before now, and forgets it.
func (l *fragLeft) take(k fragKey, now int64) *fragDatagram {
	if l == nil || l.m[k] == nil || now-l.m[k].g.start > fragTimeout {
		return nil
	}
	g := l.m[k].g
	delete(l.m, k)
	return g
}

// warnings gives up every datagram left and returns the warnings about
// the datagrams carrying TCP that never completed, one per input that
// lost some, in the order the inputs ended.
func (l *fragLeft) warnings() []string {
	for _, k := range l.order {
		if d := l.m[k]; d != nil && d.tcp {
			l.count(d.g.input).lose(d.g.frame, d.conn)
		}
		delete(l.m, k) // a key left twice is in order twice
	}
	var w []string
	for _, n := range l.names {
		w = append(w, l.lost[n].lostWarning(n))
	}
	*l = fragLeft{}
	return w
}

// carriesTCP tells whether datagram g holds a TCP segment: it is TCP or
// IP in IP, or its first fragment shows a tunnel that carries one; and,
// when its first fragment shows them, the segment's addresses and ports
// ("from A to B").
func (t *fragTable) carriesTCP(g *fragDatagram) (bool, string) {
	if g.got == 0 {
		return carriesTCP(g.next), ""
	}
	var s flows.Segment
	d := decoder{s: &s, vxlan: t.vxlan, nest: 1}
	var src, dst netip.Addr
	if g.key.v6 {
		src, dst = netip.AddrFrom16(g.key.src), netip.AddrFrom16(g.key.dst)
	} else {
		src, dst = netip.AddrFrom4([4]byte(g.key.src[:4])), netip.AddrFrom4([4]byte(g.key.dst[:4]))
	}
	switch d.payload(g.key.v6, g.next, g.head[:g.got], fragMaxLen, 0, src, dst) {
	case resTCP:
		return true, fmt.Sprintf("from %s to %s", s.Src, s.Dst)
	case resCut:
		return true, ""
	}
	return carriesTCP(g.next), ""
}
