package flows

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// A connection that sleeps (see Table) is kept as a byte string: every
// field of the Conn except the ones the sleeping record holds itself (the
// key, Prev), the table's list links, which are empty while it sleeps,
// and what only finishing sets (End, EndTime, Prior). Numbers are
// varints. Events come first, each mark a delta from the event before;
// every later mark that is an event's (a FIN, its acknowledgement, the
// handshake) is written as that event's index, others as deltas from the
// connection's first segment; sequence numbers are deltas from the
// sending direction's first one (and an unset one, 0, is one byte);
// an event's TSval is a delta from its sender's previous one, its TSecr
// from the peer's last TSval, its IP ID from the sender's previous
// event's, and its TTL and window are written only when they differ from
// the sender's previous event's; a direction's rare fields (resets, data
// after the peer's FIN, zero windows, keepalives) are one byte when all
// are zero. A connection of the benchmark capture takes 280 bytes on
// average (BenchmarkSleep) instead of the kilobyte and a half of a live
// one, and the bytes hold no pointers for the garbage collector to scan.
//
// encodeConn and decodeConn must list the same fields in the same order;
// TestConnCodecRoundTrip fills every field and fails on any that is not
// carried.

type zw struct {
	b      []byte // written up to n; long enough for any connection
	n      int
	f0     uint64 // first frame
	t0     int64  // first time
	seq0   [2]uint32
	tsval0 [2]uint32
	ev     []Event // the events written, once they are: marks refer to them
	pm     Mark    // the previous event's mark
	ipid   [2]uint16
	eventState
}

// eventState is what an event is written against, besides the previous
// event's mark: by direction, the TSval last sent (the first one before
// any), and the TTL and window of the sender's previous event.
type eventState struct {
	ts   [2]uint32
	same [2]struct {
		ttl uint8
		win uint16
	}
}

func (w *zw) u(x uint64) {
	b, n := w.b, w.n
	for x >= 0x80 {
		b[n] = byte(x) | 0x80
		x >>= 7
		n++
	}
	b[n] = byte(x)
	w.n = n + 1
}

func (w *zw) i(x int64) { w.u(uint64(x<<1 ^ x>>63)) }

// mark writes m: 0 is "none" (frame 0, whatever its time), 1 to n the
// n written events' marks, then deltas from the first segment.
func (w *zw) mark(m Mark) {
	if m.Frame == 0 {
		w.b[w.n] = 0
		w.n++
		return
	}
	if i := eventAt(w.ev, m); i >= 0 {
		w.u(uint64(i) + 1)
		return
	}
	d := int64(m.Frame - w.f0)
	w.u(uint64(d<<1^d>>63) + uint64(len(w.ev)) + 1)
	w.i(m.Time - w.t0)
}

// eventAt returns the index of the event of evs (in frame order) whose
// mark is m, or -1.
func eventAt(evs []Event, m Mark) int {
	lo, hi := 0, len(evs)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if evs[h].Frame < m.Frame {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo < len(evs) && evs[lo].Frame == m.Frame && evs[lo].Time == m.Time {
		return lo
	}
	return -1
}

// seq writes a sequence number of direction dir: 0 for 0 (what an unset
// field holds), else one more than its distance from the direction's
// first, so that an unset field takes one byte instead of five.
func (w *zw) seq(dir int, x uint32) {
	if x == 0 {
		w.b[w.n] = 0
		w.n++
		return
	}
	w.u(uint64(x-w.seq0[dir]) + 1)
}

type zr struct {
	b      []byte
	n      int
	f0     uint64
	t0     int64
	seq0   [2]uint32
	tsval0 [2]uint32
	ev     []Event
	pm     Mark
	ipid   [2]uint16
	eventState
}

func (r *zr) u() uint64 {
	if c := r.b[r.n]; c < 0x80 {
		r.n++
		return uint64(c)
	}
	return r.uLong()
}

// uLong reads a varint of more than one byte (kept out of line so that u
// inlines).
//
//go:noinline
func (r *zr) uLong() uint64 {
	b, n := r.b, r.n
	x := uint64(b[n] & 0x7f)
	for s := uint(7); ; s += 7 {
		n++
		c := b[n]
		if c < 0x80 {
			r.n = n + 1
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
	}
}

func (r *zr) i() int64 {
	x := r.u()
	return int64(x>>1) ^ -int64(x&1)
}

func (r *zr) u32() uint32 { return uint32(r.u()) }

func (r *zr) mark() Mark {
	z := r.u()
	if z == 0 {
		return Mark{}
	}
	if z <= uint64(len(r.ev)) {
		e := &r.ev[z-1]
		return Mark{e.Frame, e.Time}
	}
	z -= uint64(len(r.ev)) + 1
	d := int64(z>>1) ^ -int64(z&1)
	return Mark{Frame: r.f0 + uint64(d), Time: r.t0 + r.i()}
}

func (r *zr) seq(dir int) uint32 {
	z := r.u()
	if z == 0 {
		return 0
	}
	return r.seq0[dir] + uint32(z-1)
}

func packBits(bs ...bool) uint64 {
	var x uint64
	for i, b := range bs {
		if b {
			x |= 1 << i
		}
	}
	return x
}

func bit(x uint64, i int) bool { return x&(1<<i) != 0 }

// encodedBound bounds the length of the encoding of a connection with n
// events: at most 10 bytes a number, 2 + 2 x 138 + 39 numbers, 20 an
// event, 7 an ICMP error. maxEncoded bounds every connection's.
func encodedBound(n int) int { return 10 * (317 + 7*MaxICMP + 20*n) }

const maxEncoded = 10 * (317 + 7*MaxICMP + 20*MaxEvents)

// encodeConn appends c's encoding to b.
func encodeConn(b []byte, c *Conn) []byte {
	need := len(b) + encodedBound(len(c.Events))
	b = slices.Grow(b, need-len(b))
	w := zw{b: b[:need], n: len(b), f0: c.First.Frame, t0: c.First.Time}
	// The head: what finishing a connection needs (decodeHead).
	st, mo := &c.st, &c.more
	w.u(c.First.Frame)
	w.i(c.First.Time)
	w.u(uint64(c.ID))
	w.u(uint64(c.Incarnation))
	w.mark(c.Last)
	w.u(packBits(st.clientIsA, c.Addr[0].Addr().Is4(), c.Addr[1].Addr().Is4()))
	// The rest.
	for d := range 2 {
		h := &c.Dir[d]
		w.seq0[d], w.tsval0[d], w.ts[d] = h.FirstSeq, h.TSval, h.TSval
		w.u(uint64(h.FirstSeq))
		w.u(uint64(h.TSval))
	}
	w.u(uint64(len(c.Events)))
	w.pm = c.First
	for i := range c.Events {
		w.event(&c.Events[i])
	}
	w.ev = c.Events
	for d := range 2 {
		w.half(d, &c.Dir[d])
	}
	w.u(packBits(st.hadSYN, st.progress, c.HandshakeDone, mo.afterRST[0], mo.afterRST[1]))
	w.u(uint64(mo.hsEvents))
	w.u(uint64(mo.dataEvent[0]))
	w.u(uint64(mo.dataEvent[1]))
	w.mark(mo.rst)
	w.mark(mo.lastAdvance)
	w.u(uint64(c.EventsDropped))
	w.u(uint64(c.Roles))
	w.mark(c.Quiet.End)
	w.u(uint64(c.Quiet.Gap))
	w.mark(c.Tail.End)
	w.u(uint64(c.Tail.Gap))
	w.u(uint64(c.NATOf))
	if c.NATOf != 0 {
		w.i(c.NATAt)
	}
	w.u(uint64(c.ICMPCount))
	for i := range c.ICMP {
		w.icmp(&c.ICMP[i])
	}
	return w.b[:w.n]
}

// icmp encodes an ICMP error after the rest: rare enough not to be
// packed as the events are.
func (w *zw) icmp(e *ICMPEvent) {
	w.mark(e.Mark)
	a := e.From.As16()
	w.u(packBits(e.V6, e.QuotedAck, e.QuotedFlags, e.From.Is4()) | uint64(e.Dir)<<4 | uint64(e.Type)<<8 | uint64(e.Code)<<16 |
		uint64(e.TTL)<<24 | uint64(e.Flags)<<32 | uint64(e.MTU)<<40)
	w.u(uint64(e.Seq))
	w.u(uint64(e.Ack))
	w.u(binary.BigEndian.Uint64(a[:8]))
	w.u(binary.BigEndian.Uint64(a[8:]))
}

func (w *zw) half(d int, h *Half) {
	p := 1 - d
	w.u(h.Packets)
	w.u(h.Bytes)
	w.mark(h.Last)
	w.seq(d, h.End)
	w.seq(d, h.DataEnd)
	w.seq(d, h.ISN)
	w.u(uint64(h.SYNCount))
	w.u(uint64(h.FinCount))
	w.seq(d, h.FinSeq)
	w.u(packBits(h.SeqSeen, h.DataSeen, h.AckSeen, h.FinSeen, h.ZeroWindowOpen, h.TSSeen, h.SYNHasTS, h.SACKPerm, h.hsAcked, h.TTLVaried, h.stalled, h.FinDSACKed, h.tsChecked, h.tsKept))
	w.u(uint64(h.TTL))
	w.i(int64(h.WScale))
	w.u(uint64(h.Window))
	w.seq(p, h.MaxAck)
	w.i(int64(int32(h.TSecr - w.tsval0[p])))
	w.mark(h.LastData)
	w.mark(h.MaxAckAt)

	x := h.Detail
	for _, m := range [...]Mark{x.SYN, x.SYNLast, x.HandshakeAck, x.HandshakeAckAfter, x.FinFirst, x.FinLast, x.FinAcked, x.FinArrived, x.FinAckedAfter} {
		w.mark(m)
	}
	w.u(uint64(x.FinAcks))
	w.seq(p, x.finAck)
	w.u(uint64(x.finIPID))
	w.u(uint64(x.SYNOptions ^ LinuxSYN)) // 0, one byte, for most
	if h.tsKept {
		w.mark(x.TSAfterSYN)
		w.i(int64(int32(x.TSAfterSYNVal - w.tsval0[d])))
	}
	// What most connections never have (resets, bad ACKs, data after
	// the peer's FIN, zero windows, keepalives) follows a 0 when all of
	// it is zero, a 1 otherwise.
	a := &x.AfterPeerFIN
	if h.RSTCount == 0 && x.FinDuplicates == 0 && x.FinSeqChanges == 0 && x.BadAcks == 0 && x.badAck == 0 &&
		*a == (AfterFIN{}) && x.RSTInWindow == 0 && x.SegmentsAfterRST == 0 && x.RSTAnswered == (Mark{}) && x.ZeroWindows == 0 &&
		x.Episodes == nil && x.Keepalives == 0 && x.LastKeepalive.Frame == 0 && x.Stalls == nil {
		w.u(0)
		return
	}
	w.u(1)
	w.u(uint64(h.RSTCount))
	w.u(uint64(x.FinDuplicates))
	w.u(uint64(x.FinSeqChanges))
	w.u(uint64(x.BadAcks))
	w.seq(p, x.badAck)
	w.u(a.Bytes)
	w.u(uint64(a.Segments))
	w.mark(a.First)
	w.mark(a.Last)
	w.seq(d, a.Start)
	w.seq(d, a.End)
	w.u(uint64(x.RSTInWindow))
	w.u(uint64(x.SegmentsAfterRST))
	w.mark(x.RSTAnswered)
	w.u(uint64(x.ZeroWindows))
	if x.Episodes == nil {
		w.u(0)
	} else {
		w.u(1)
		for i := range x.Episodes {
			e := &x.Episodes[i]
			w.mark(e.Start)
			w.mark(e.End)
			w.u(uint64(e.Probes))
		}
	}
	w.u(uint64(x.Keepalives))
	w.mark(x.LastKeepalive)
	if x.Stalls == nil {
		w.u(0)
	} else {
		w.u(1)
		w.stall(d, &x.Stalls.Cur)
		w.stall(d, &x.Stalls.Found)
	}
}

func (w *zw) stall(d int, st *Stall) {
	w.seq(d, st.Seq)
	w.u(uint64(st.Copies))
	w.mark(st.First)
	w.mark(st.Second)
	w.mark(st.Last)
	w.u(uint64(st.MaxLen))
	w.u(uint64(st.MinLen))
	w.mark(st.Shrink)
	w.u(uint64(st.ShrinkLen))
	w.u(uint64(st.LongLen))
	w.u(uint64(st.PeerSegs))
	w.mark(st.PeerFirst)
	w.mark(st.Answer)
	w.u(uint64(st.LastLen))
	w.u(packBits(st.AnswerRST, st.Fragmentable))
}

func (w *zw) event(e *Event) {
	d, p := int(e.Dir&1), 1-int(e.Dir&1)
	w.i(int64(e.Frame - w.pm.Frame))
	w.i(e.Time - w.pm.Time)
	w.pm = Mark{e.Frame, e.Time}
	same := &w.same[d]
	w.u(packBits(e.HasTS, e.DF, e.TTL == same.ttl, e.Win == same.win, e.Count == 1) | uint64(e.Flags)<<5 | uint64(e.Dir)<<13 |
		packBits(e.CopyTTL != 0)<<21)
	w.seq(d, e.Seq)
	w.seq(p, e.Ack)
	w.u(uint64(e.Len))
	if e.HasTS {
		w.i(int64(int32(e.TSval - w.ts[d])))
		w.i(int64(int32(e.TSecr - w.ts[p])))
		w.ts[d] = e.TSval
	} else {
		w.u(uint64(e.TSval))
		w.u(uint64(e.TSecr))
	}
	if e.Win != same.win {
		w.u(uint64(e.Win))
		same.win = e.Win
	}
	w.i(int64(int16(e.IPID - w.ipid[d])))
	w.ipid[d] = e.IPID
	if e.TTL != same.ttl {
		w.u(uint64(e.TTL))
		same.ttl = e.TTL
	}
	w.u(uint64(e.Why))
	if e.Count != 1 {
		w.u(uint64(e.Count))
	}
	if e.CopyTTL != 0 {
		w.u(uint64(e.CopyTTL))
	}
}

// decodeConn returns the connection encoded in b, keyed by k.
func decodeConn(b []byte, k *tupleKey) *Conn {
	c := newConn()
	decodeInto(c, b, k)
	return c
}

// decodeHead decodes the head of b into c: its key k, addresses, first
// and last segments, ID and incarnation, all that finishing it needs. It
// returns the reader positioned after the head.
func decodeHead(c *Conn, b []byte, k *tupleKey) zr {
	r := zr{b: b}
	r.f0 = r.u()
	r.t0 = r.i()
	c.First = Mark{r.f0, r.t0}
	c.ID = int(r.u())
	c.Incarnation = int(r.u())
	c.Last = r.mark()
	f := r.u()
	st := &c.st
	st.key, st.live, st.clientIsA = *k, true, bit(f, 0)
	lo, hi := netip.AddrPortFrom(addrOf(k.a, bit(f, 1)), k.pa), netip.AddrPortFrom(addrOf(k.b, bit(f, 2)), k.pb)
	if !st.clientIsA {
		lo, hi = netip.AddrPortFrom(addrOf(k.b, bit(f, 1)), k.pb), netip.AddrPortFrom(addrOf(k.a, bit(f, 2)), k.pa)
	}
	c.Addr = [2]netip.AddrPort{lo, hi}
	return r
}

// encodedID returns the ID of the connection encoded in b.
func encodedID(b []byte) int {
	r := zr{b: b}
	r.u()
	r.i()
	return int(r.u())
}

// decodeInto decodes b into c, a new or reset connection.
func decodeInto(c *Conn, b []byte, k *tupleKey) {
	r := decodeHead(c, b, k)
	decodeRest(c, &r)
}

// decodeRest decodes what follows the head.
func decodeRest(c *Conn, r *zr) {
	for d := range 2 {
		r.seq0[d] = r.u32()
		r.tsval0[d] = r.u32()
		r.ts[d] = r.tsval0[d]
	}
	if n := int(r.u()); n > 0 {
		if cap(c.Events) >= n {
			c.Events = c.Events[:n]
		} else {
			c.Events = make([]Event, n)
		}
		r.pm = c.First
		for i := range c.Events {
			r.event(&c.Events[i])
		}
	}
	r.ev = c.Events
	for d := range 2 {
		h := &c.Dir[d]
		h.FirstSeq, h.TSval = r.seq0[d], r.tsval0[d]
		r.half(d, h)
	}
	st, mo := &c.st, &c.more
	f := r.u()
	st.hadSYN, st.progress, c.HandshakeDone = bit(f, 0), bit(f, 1), bit(f, 2)
	mo.afterRST = [2]bool{bit(f, 3), bit(f, 4)}
	mo.hsEvents = int(r.u())
	mo.dataEvent = [2]int{int(r.u()), int(r.u())}
	mo.rst = r.mark()
	mo.lastAdvance = r.mark()
	c.EventsDropped = int(r.u())
	c.Roles = Roles(r.u())
	c.Quiet.End = r.mark()
	c.Quiet.Gap = int64(r.u())
	c.Tail.End = r.mark()
	c.Tail.Gap = int64(r.u())
	c.NATOf, c.NATAt = int(r.u()), 0
	if c.NATOf != 0 {
		c.NATAt = r.i()
	}
	c.ICMPCount = int(r.u())
	if n := min(c.ICMPCount, MaxICMP); n > 0 {
		c.ICMP = slices.Grow(c.ICMP[:0], n)[:n]
		for i := range c.ICMP {
			r.icmp(&c.ICMP[i])
		}
	}
}

func (r *zr) icmp(e *ICMPEvent) {
	e.Mark = r.mark()
	f := r.u()
	e.V6, e.QuotedAck, e.QuotedFlags = bit(f, 0), bit(f, 1), bit(f, 2)
	e.Dir, e.Type, e.Code, e.TTL, e.Flags, e.MTU = uint8(f>>4&1), uint8(f>>8), uint8(f>>16), uint8(f>>24), Flags(f>>32), uint16(f>>40)
	e.Seq = r.u32()
	e.Ack = r.u32()
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], r.u())
	binary.BigEndian.PutUint64(a[8:], r.u())
	e.From = addrOf(a, bit(f, 3))
}

func addrOf(a [16]byte, is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}

func (r *zr) half(d int, h *Half) {
	p := 1 - d
	h.Packets = r.u()
	h.Bytes = r.u()
	h.Last = r.mark()
	h.End = r.seq(d)
	h.DataEnd = r.seq(d)
	h.ISN = r.seq(d)
	h.SYNCount = r.u32()
	h.FinCount = r.u32()
	h.FinSeq = r.seq(d)
	f := r.u()
	h.SeqSeen, h.DataSeen, h.AckSeen, h.FinSeen = bit(f, 0), bit(f, 1), bit(f, 2), bit(f, 3)
	h.ZeroWindowOpen, h.TSSeen, h.SYNHasTS, h.SACKPerm, h.hsAcked = bit(f, 4), bit(f, 5), bit(f, 6), bit(f, 7), bit(f, 8)
	h.TTLVaried, h.stalled, h.FinDSACKed, h.tsChecked, h.tsKept = bit(f, 9), bit(f, 10), bit(f, 11), bit(f, 12), bit(f, 13)
	h.TTL = uint8(r.u())
	h.WScale = int8(r.i())
	h.Window = uint16(r.u())
	h.MaxAck = r.seq(p)
	h.TSecr = r.tsval0[p] + uint32(int32(r.i()))
	h.LastData = r.mark()
	h.MaxAckAt = r.mark()

	x := h.Detail
	for _, m := range [...]*Mark{&x.SYN, &x.SYNLast, &x.HandshakeAck, &x.HandshakeAckAfter, &x.FinFirst, &x.FinLast, &x.FinAcked, &x.FinArrived, &x.FinAckedAfter} {
		*m = r.mark()
	}
	x.FinAcks = r.u32()
	x.finAck = r.seq(p)
	x.finIPID = uint16(r.u())
	x.SYNOptions = Options(r.u()) ^ LinuxSYN
	if h.tsKept {
		x.TSAfterSYN = r.mark()
		x.TSAfterSYNVal = r.tsval0[d] + uint32(int32(r.i()))
	}
	if r.u() == 0 {
		return // the rest is zero, as a reset connection's is
	}
	h.RSTCount = r.u32()
	x.FinDuplicates = r.u32()
	x.FinSeqChanges = r.u32()
	x.BadAcks = r.u32()
	x.badAck = r.seq(p)
	a := &x.AfterPeerFIN
	a.Bytes = r.u()
	a.Segments = r.u32()
	a.First = r.mark()
	a.Last = r.mark()
	a.Start = r.seq(d)
	a.End = r.seq(d)
	x.RSTInWindow = r.u32()
	x.SegmentsAfterRST = r.u32()
	x.RSTAnswered = r.mark()
	x.ZeroWindows = r.u32()
	if r.u() == 1 {
		x.Episodes = new([MaxZeroWindows]ZeroWindow)
		for i := range x.Episodes {
			e := &x.Episodes[i]
			e.Start = r.mark()
			e.End = r.mark()
			e.Probes = r.u32()
		}
	}
	x.Keepalives = r.u32()
	x.LastKeepalive = r.mark()
	if r.u() == 1 {
		x.Stalls = new(Stalls)
		r.stall(d, &x.Stalls.Cur)
		r.stall(d, &x.Stalls.Found)
	}
}

func (r *zr) stall(d int, st *Stall) {
	st.Seq = r.seq(d)
	st.Copies = r.u32()
	st.First = r.mark()
	st.Second = r.mark()
	st.Last = r.mark()
	st.MaxLen = r.u32()
	st.MinLen = r.u32()
	st.Shrink = r.mark()
	st.ShrinkLen = r.u32()
	st.LongLen = r.u32()
	st.PeerSegs = r.u32()
	st.PeerFirst = r.mark()
	st.Answer = r.mark()
	st.LastLen = r.u32()
	f := r.u()
	st.AnswerRST, st.Fragmentable = bit(f, 0), bit(f, 1)
}

func (r *zr) event(e *Event) {
	e.Frame = r.pm.Frame + uint64(r.i())
	e.Time = r.pm.Time + r.i()
	r.pm = Mark{e.Frame, e.Time}
	f := r.u()
	e.HasTS, e.DF, e.Flags, e.Dir = bit(f, 0), bit(f, 1), Flags(f>>5), uint8(f>>13)
	d, p := int(e.Dir&1), 1-int(e.Dir&1)
	same := &r.same[d]
	e.Seq = r.seq(d)
	e.Ack = r.seq(p)
	e.Len = r.u32()
	if e.HasTS {
		e.TSval = r.ts[d] + uint32(int32(r.i()))
		e.TSecr = r.ts[p] + uint32(int32(r.i()))
		r.ts[d] = e.TSval
	} else {
		e.TSval = r.u32()
		e.TSecr = r.u32()
	}
	if !bit(f, 3) {
		same.win = uint16(r.u())
	}
	e.Win = same.win
	e.IPID = r.ipid[d] + uint16(int16(r.i()))
	r.ipid[d] = e.IPID
	if !bit(f, 2) {
		same.ttl = uint8(r.u())
	}
	e.TTL = same.ttl
	e.Why = Why(r.u())
	e.Count = 1
	if !bit(f, 4) {
		e.Count = r.u32()
	}
	e.CopyTTL = 0
	if bit(f, 21) {
		e.CopyTTL = uint8(r.u())
	}
}
