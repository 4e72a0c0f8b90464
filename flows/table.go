package flows

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
)

// Default table timings, in nanoseconds of capture time.
const (
	// DefaultLinger is how long a connection whose story is complete stays
	// in the table after its last segment: TCP_TIMEWAIT_LEN, the 60 s a
	// Linux TIME_WAIT absorbs a retransmitted FIN or meets a reusing SYN.
	DefaultLinger = 60e9
	// DefaultRemember is how long the table keeps a finished connection's
	// Prior after it left, so that a SYN reusing the 4-tuple after the
	// TIME_WAIT expired still links to it.
	DefaultRemember = 120e9
	// DefaultHandshakeIdle is how long a connection that never got past
	// its handshake (no payload, no FIN) stays after its last segment: a
	// Linux connect() gives up after 127 s (tcp_syn_retries 6).
	DefaultHandshakeIdle = 180e9
	// DefaultSleepIdle is how long a connection that is not complete
	// stays awake (at full size, in the table's hot set) without a
	// segment before it is put to sleep. Waking one costs about two
	// microseconds, nothing beside ten seconds of idleness.
	DefaultSleepIdle = 10e9
	// pressureIdle replaces SleepIdle, when shorter, while more than an
	// eighth of MaxFlows are awake, for connections stuck in their
	// handshake, and while the table is near MaxFlows (from when it first
	// reaches it until it falls to half), for all: a SYN flood's
	// half-open connections then sleep a second after their last SYN
	// instead of filling the table at full size.
	pressureIdle = 1e9
)

// TableOptions configures a [Table].
type TableOptions struct {
	// MaxFlows caps the connections held at once; 0 means no cap. When a
	// new connection would exceed it, the longest-idle one is evicted.
	// It caps the finished connections remembered (Remember) too: past
	// it, the oldest are forgotten early (TableStats.Forgotten).
	MaxFlows int
	// Linger, Remember, HandshakeIdle and SleepIdle override the
	// defaults when positive.
	Linger, Remember, HandshakeIdle, SleepIdle int64
	// Finish receives each connection as it leaves the table. An error
	// stops the table: Add returns it from then on.
	Finish func(*Conn) error
	// LateWake lets Finish receive a connection that left while asleep
	// (its linger over, or at Flush) still asleep: only its ID,
	// Incarnation, Addr, First, Last, End, EndTime, Prev and Prior are
	// set until Conn.Wake decodes the rest, which the callee may do on
	// another goroutine.
	LateWake bool
	// EncodeAhead encodes complete connections to sleep on a goroutine
	// of the table's own, in batches, instead of the one calling Add. A
	// table started with it must be flushed, or its goroutine outlives
	// it until the table is collected.
	EncodeAhead bool
}

// TableStats counts what a table did.
type TableStats struct {
	// Flows counts connections started; Live those in the table now and
	// PeakLive the most held at once.
	Flows, Live, PeakLive int
	// Evicted counts connections evicted by MaxFlows.
	Evicted int
	// Remembered counts finished 4-tuples kept for linking right now;
	// Forgotten those MaxFlows made the table forget before Remember ran
	// out.
	Remembered, Forgotten int
	// Sleeping counts the live connections kept asleep right now
	// (compactly encoded: complete ones lingering, and idle ones), and
	// Slept how many times a connection was put to sleep.
	Sleeping, Slept int
	// PeakAwake is the most live connections awake (at full size) at once.
	PeakAwake int
	// Blocks counts the blocks allocated for sleeping connections'
	// encodings and for the copies handed over asleep; each is reused
	// once the connections in it are woken, or released.
	Blocks int
	// Compactions counts the times idle connections' encodings were
	// moved into fewer blocks.
	Compactions int
	// Duplicates counts segments dropped as capture duplicates (see
	// Table.Add).
	Duplicates int
	// DupTCP counts the TCP segments among them; DupGapMin and DupGapMax
	// are the least and the most time between one and its first copy
	// (ns), and DupApart counts those dupWindow or more after theirs:
	// copies from captures of both ends, a one-way delay apart.
	DupTCP               int
	DupGapMin, DupGapMax int64
	DupApart             int
	// ICMPUnmatched counts ICMP errors quoting a segment of no connection
	// in the table; ICMPUnmatchedFirst keeps the first MaxUnmatchedICMP.
	ICMPUnmatched      int
	ICMPUnmatchedFirst []UnmatchedICMP
}

// MaxUnmatchedICMP is how many ICMP errors quoting no connection the
// table keeps (TableStats.ICMPUnmatchedFirst).
const MaxUnmatchedICMP = 8

// UnmatchedICMP is an ICMP error that quoted a segment of no connection
// the table held: none on its 4-tuple was in the capture, or it had
// left the table.
type UnmatchedICMP struct {
	Mark
	ICMPError
	// Src, Dst and Flags are the quoted segment's (Flags when
	// ICMPError.QuotedFlags is set).
	Src, Dst netip.AddrPort
	Flags    Flags
}

// Table groups segments into connections by 4-tuple and incarnation and
// keeps bounded evidence per connection. A connection leaves the table
// (through the Finish callback) once its story is complete and the linger
// time has passed, when a new SYN supersedes it, when MaxFlows evicts it,
// or at Flush. Memory therefore follows concurrent connections, not the
// size of the capture.
//
// A connection whose story is complete, and one that has been idle for
// SleepIdle, is put to sleep: kept as a compact byte string (a few hundred
// bytes, no pointers) instead of a Conn, and woken, identical, by its
// next segment, when its linger ends (or, stuck in its handshake, after
// HandshakeIdle), by eviction or at Flush. Most connections in a busy
// capture are lingering in TIME_WAIT or idle, so this keeps the table's
// memory, and its working set, small; the encodings are kept outside the
// Go heap where blocks can be mapped (see arena), idle ones in blocks of
// their own that are compacted (see compactIdle). Under pressure (see
// pressureIdle) connections sleep after a second idle.
type Table struct {
	opts TableOptions
	// m holds the live connections and the remembered finished ones;
	// nLive and nMem count them. memQ holds the remembered ones oldest
	// first, from memH on.
	m     *connMap
	nLive int
	nMem  int
	memQ  []*memory
	memH  int
	hs    list // connections stuck in their handshake, by last activity
	awake list // the live connections awake, in no particular order
	// sq holds the sleeping connections by kind (qDone, qIdle, qHS), each
	// queue by last activity; nSleep counts them.
	sq        [3]sleepQ
	prevs     map[*tomb]*Prior // the Prev of the sleeping connections that have one
	nSleep    int
	nextSweep int64
	zbuf      []byte
	sweep     []*Conn
	free      []*Conn // connections put to sleep or released, for reuse
	// asleep holds sleeping connections' encodings, outside the heap
	// where it can; handed the copies of those handed over asleep, until
	// Release.
	asleep, handed arena
	// idleZ holds idle connections' encodings, which are idleLive bytes
	// (see compactIdle).
	idleZ    arena
	idleLive int
	// idle orders the awake connections by last activity, lazily, for
	// eviction; kept only while armed: from when the table first
	// reaches MaxFlows until it falls to half of it.
	idle  idleHeap
	armed bool
	now   int64
	ids   int
	// dups remembers recent segments, for dropping capture duplicates
	// (see dupSlot).
	dups *[dupSets][2]dupSlot
	// syns remembers recent SYNs, for natPartial.
	syns *[1 << synBits]synSlot
	// icmps are the latest ICMP errors that were not capture duplicates
	// (a ring, the next to replace at icmpNext).
	icmps    [icmpRecent]icmpSeen
	icmpNext int
	stats    TableStats
	err      error
	sink     uint64 // Ahead's loads
	// Under EncodeAhead: the batch of complete connections being filled,
	// the encoder, how many batches it has not given back, and batches
	// for reuse.
	filling      *encodeBatch
	enc          *encoder
	encoding     int
	spareBatches []*encodeBatch
	pendingWoken int // connections woken while pending, for the tests
}

// rec begins both records a map entry may hold instead of a live
// connection: the tomb of a sleeping one and the memory of a finished
// one; isMem says which. There is one for each lingering and each
// remembered connection, so each takes what it needs only.
type rec struct {
	key   tupleKey
	isMem bool
	dead  bool // a memory consumed by a new incarnation
}

// tomb is a sleeping connection: its queue in Table.sq, its encoding (zn
// bytes at zoff in block zs; zs is nil once woken, and an encodeBatch's
// mark while the encoding is pending), and its last activity; hasPrev
// says that Table.prevs holds its Prev (few connections have one), and
// its ID is in its encoding (encodedID). It takes 64 bytes.
type tomb struct {
	rec
	q       uint8
	hasPrev bool
	zn      uint16
	zoff    uint32
	zs      *slab
	last    int64
}

// memory is a remembered finished connection: its Prior, which the
// Finish callback and the next incarnation see, is part of it. It takes
// 112 bytes.
type memory struct {
	rec
	Prior
}

// asleep reports whether tb holds a sleeping connection.
func (tb *tomb) asleep() bool { return tb.zs != nil }

// enc returns the encoding of tb's sleeping connection.
func (tb *tomb) enc() []byte {
	return tb.zs.b[tb.zoff : tb.zoff+uint32(tb.zn) : tb.zoff+uint32(tb.zn)]
}

// entry returns the index of the map entry of r's connection.
func (t *Table) entry(r *rec) int { return t.m.find(&r.key, t.m.hash(&r.key)) }

// NewTable returns an empty table.
func NewTable(opts TableOptions) *Table {
	if opts.Linger <= 0 {
		opts.Linger = DefaultLinger
	}
	if opts.Remember <= 0 {
		opts.Remember = DefaultRemember
	}
	if opts.HandshakeIdle <= 0 {
		opts.HandshakeIdle = DefaultHandshakeIdle
	}
	if opts.SleepIdle <= 0 {
		opts.SleepIdle = DefaultSleepIdle
	}
	if opts.Finish == nil {
		opts.Finish = func(*Conn) error { return nil }
	}
	t := &Table{opts: opts, m: newConnMap(), dups: new([dupSets][2]dupSlot)}
	t.hs.id = hsList
	t.asleep.off = offHeap(t)
	t.idleZ.off = offHeap(t)
	return t
}

// Stats returns the table's counters.
func (t *Table) Stats() TableStats {
	s := t.stats
	s.Live = t.nLive
	s.Remembered = t.nMem
	s.Sleeping = t.nSleep
	s.Blocks = t.asleep.blocks + t.handed.blocks + t.idleZ.blocks
	return s
}

// tupleKey is the canonical 4-tuple: the lower endpoint first.
type tupleKey struct {
	a, b   [16]byte
	pa, pb uint16
}

// keyed is a segment's 4-tuple key, its hash (never 0) and whether its
// sender is the key's lower endpoint.
type keyed struct {
	k      tupleKey
	h      uint64
	srcIsA bool
}

// set computes s's key.
func (kd *keyed) set(s *Segment) { kd.of(s.Src, s.Dst) }

// of sets kd to the key of the 4-tuple: its lower endpoint is the one
// with the lower address (compared as 16 bytes, a word at a time), then
// the lower port.
func (kd *keyed) of(src, dst netip.AddrPort) {
	a, b := src.Addr().As16(), dst.Addr().As16()
	pa, pb := src.Port(), dst.Port()
	be := binary.BigEndian
	ah, al, bh, bl := be.Uint64(a[:8]), be.Uint64(a[8:]), be.Uint64(b[:8]), be.Uint64(b[8:])
	kd.srcIsA = !(ah > bh || ah == bh && (al > bl || al == bl && pa > pb))
	if !kd.srcIsA {
		a, b, pa, pb = b, a, pb, pa
		ah, al, bh, bl = bh, bl, ah, al
	}
	kd.k = tupleKey{a: a, b: b, pa: pa, pb: pb}
	kd.h = hashWords(ah, al, bh, bl, pa, pb)
}

// keyOf returns the key of the 4-tuple and whether src is its lower
// endpoint.
func keyOf(src, dst netip.AddrPort) (tupleKey, bool) {
	var kd keyed
	kd.of(src, dst)
	return kd.k, kd.srcIsA
}

// connState is the table's bookkeeping for a live connection that every
// segment reads: with Conn.Last after it, it fills the cache line after
// the two Halves.
type connState struct {
	key tupleKey
	// clientIsA says whether the client is the key's lower endpoint.
	clientIsA bool
	hadSYN    bool
	progress  bool // payload or FIN seen
	inHS      bool
	live      bool
	onAwake   bool // on Table.awake
	// hidx is the index + 1 of the connection's idle-heap entry, 0 when
	// it has none.
	hidx int32
}

// connMore is the rest of the table's bookkeeping.
type connMore struct {
	links       [2]link
	afterRST    [2]bool
	hsEvents    int    // events kept for WhyHandshake
	dataEvent   [2]int // index+1 of the WhyDataAfterFIN event per sender
	rst         Mark   // latest in-window RST
	lastAdvance Mark   // latest segment that carried SYN, FIN or payload
}

// Add files one segment. Segments must come in capture (frame) order.
func (t *Table) Add(s *Segment) error {
	if t.err != nil {
		return t.err
	}
	if s.Time > t.now {
		t.now = s.Time
		t.expire()
		if t.err != nil {
			return t.err
		}
	}
	kd := &s.k
	if kd.h == 0 {
		kd = &keyed{}
		kd.set(s)
	}
	k, srcIsA, h := &kd.k, kd.srcIsA, kd.h
	if s.ICMP != nil {
		t.addICMP(s, k, srcIsA, h)
		return t.err
	}
	d, sum, same := t.dupSlot(s, h, srcIsA)
	var c *Conn
	woke := false
	if i := t.m.find(k, h); i >= 0 {
		e := &t.m.e[i]
		if c = e.conn(); c == nil && e.tomb() != nil {
			c, woke = t.wake(i), true
		}
	}
	dir := FromServer
	if c != nil && srcIsA == c.st.clientIsA {
		dir = FromClient
	}
	// A capture duplicate (see dupSlot): a millisecond or more after the
	// first copy, or with an IPv4 ID, or routed (a lower TTL), or when
	// the peer sent nothing since.
	if same && c != nil && (s.IPID != 0 || s.Time-d.at >= dupWindow || s.TTL < d.ttl() || c.Dir[1-dir].Last.Time <= d.at) {
		t.dupGap(s.Time - d.at)
		if s.Flags&RST != 0 && s.TTL != d.ttl() {
			rstCopy(c, dir, s)
		}
		if woke {
			t.sort(c)
		}
		return nil
	}
	*d = dupSlot{h, sum, s.Time}
	var prev *Prior
	if c != nil && s.Flags&SYN != 0 && startsIncarnation(c, s, dir) {
		prev = t.finish(c, EndSuperseded, s.Time)
		c = nil
	}
	if c == nil {
		c = t.start(k, h, srcIsA, s, prev)
		if t.err != nil {
			return t.err
		}
		dir = FromServer
		if srcIsA == c.st.clientIsA {
			dir = FromClient
		}
	}
	if t.update(c, dir, s) || woke {
		t.sort(c)
	}
	return nil
}

// addICMP files an ICMP error quoting a segment of the connection keyed
// k (hash h), whose sender was the key's lower endpoint if srcIsA. It
// starts no connection: an error about one the table does not hold is
// counted in TableStats.ICMPUnmatched.
func (t *Table) addICMP(s *Segment, k *tupleKey, srcIsA bool, h uint64) {
	seen := seenICMP(s)
	for i := range t.icmps {
		if p := &t.icmps[i]; p.same(&seen) && s.Time-p.at >= 0 && s.Time-p.at < dupWindow {
			t.stats.Duplicates++
			return
		}
	}
	t.icmps[t.icmpNext] = seen
	t.icmpNext = (t.icmpNext + 1) % icmpRecent
	var c *Conn
	if i := t.m.find(k, h); i >= 0 {
		e := &t.m.e[i]
		if c = e.conn(); c == nil && e.tomb() != nil {
			c = t.wake(i)
			defer t.sort(c)
		}
	}
	if c == nil {
		t.stats.ICMPUnmatched++
		if len(t.stats.ICMPUnmatchedFirst) < MaxUnmatchedICMP {
			t.stats.ICMPUnmatchedFirst = append(t.stats.ICMPUnmatchedFirst, UnmatchedICMP{
				Mark: markOf(s), ICMPError: *s.ICMP, Src: s.Src, Dst: s.Dst, Flags: s.Flags,
			})
		}
		return
	}
	dir := FromServer
	if srcIsA == c.st.clientIsA {
		dir = FromClient
	}
	c.ICMPCount++
	e := ICMPEvent{
		Mark: markOf(s), ICMPError: *s.ICMP, Dir: uint8(dir), TTL: s.TTL,
		Flags: s.Flags, Seq: s.Seq, Ack: s.Ack,
	}
	if len(c.ICMP) < MaxICMP {
		c.ICMP = append(c.ICMP, e)
	} else {
		c.ICMP[MaxICMP-1] = e // the latest says what the sender heard last
	}
}

// Flush finishes every connection still in the table, in ID order, as
// ended by the end of the capture.
func (t *Table) Flush() error {
	if t.err != nil {
		return t.err
	}
	t.settle()
	// Sleeping connections are woken one at a time, as their turn
	// comes, so that memory stays what it was.
	type entry struct {
		id int
		c  *Conn
		tb *tomb
	}
	live := make([]entry, 0, t.nLive)
	for i := range t.m.e {
		e := &t.m.e[i]
		if c := e.conn(); c != nil {
			live = append(live, entry{id: c.ID, c: c})
		} else if tb := e.tomb(); tb != nil {
			live = append(live, entry{id: encodedID(tb.enc()), tb: tb})
		}
	}
	slices.SortFunc(live, func(a, b entry) int { return a.id - b.id })
	for i := range live {
		c := live[i].c
		if tb := live[i].tb; tb != nil {
			c = t.wakeToFinish(t.entry(&tb.rec))
		}
		live[i] = entry{}
		t.finish(c, EndOfCapture, t.now)
		if t.err != nil {
			return t.err
		}
	}
	// Nothing sleeps any more.
	t.asleep.drain()
	t.idleZ.drain()
	return nil
}

// start opens a new connection for key k (hash h) with s as its first
// segment, linked to prev, or else to the remembered previous incarnation
// if there is one.
func (t *Table) start(k *tupleKey, h uint64, srcIsA bool, s *Segment, prev *Prior) *Conn {
	if t.opts.MaxFlows > 0 && t.nLive >= t.opts.MaxFlows {
		t.evict()
	}
	e := &t.m.e[t.m.slot(k, h)]
	if m := e.memory(); m != nil {
		if prev == nil {
			prev = &m.Prior
		}
		m.dead = true
		e.setRec(nil)
		t.nMem--
	}
	t.ids++
	t.stats.Flows++
	c := t.newConn()
	c.ID, c.Incarnation, c.Prev, c.First = t.ids, 1, prev, markOf(s)
	if prev != nil {
		c.Incarnation = int(prev.Incarnation) + 1
	}
	srcIsClient := true
	switch {
	case s.Flags&(SYN|ACK) == SYN:
		c.Roles = RolesSYN
	case s.Flags&(SYN|ACK) == SYN|ACK:
		c.Roles = RolesSYNACK
		srcIsClient = false
	default:
		c.Roles = RolesInferred
		srcIsClient = !serverPort(s.Src.Port(), s.Dst.Port())
	}
	c.Addr = [2]netip.AddrPort{s.Src, s.Dst}
	if !srcIsClient {
		c.Addr = [2]netip.AddrPort{s.Dst, s.Src}
	}
	c.st.key, c.st.live = *k, true
	c.st.clientIsA = srcIsClient == srcIsA
	t.natPartial(c, s, h)
	e.setConn(c)
	t.awake.place(c, true, &c.st.onAwake)
	t.nLive++
	if t.armed {
		t.idle.push(c)
	}
	if t.nLive > t.stats.PeakLive {
		t.stats.PeakLive = t.nLive
	}
	t.peakAwake()
	return c
}

// synSlot is a recent SYN that started a connection: its ISN, time, the
// connection's ID and its 4-tuple's hash.
type synSlot struct {
	isn uint32
	at  int64
	id  int
	h   uint64 // the 4-tuple's hash
}

// synBits sets how many recent SYNs natPartial remembers, in a
// direct-mapped table of 1<<synBits slots picked by the ISN: a SYN-ACK
// comes within a round trip of the SYN it answers.
const synBits = 10

// natPartialWindow bounds how long before a SYN-ACK that starts a
// connection the SYN it acknowledges may have come on another 4-tuple.
const natPartialWindow = 1e9

// natPartial remembers the SYN that starts connection c, or, when a
// SYN-ACK starts it, links it to the connection of a recent SYN on
// another 4-tuple whose ISN the SYN-ACK acknowledges (Conn.NATOf). Linux
// NAT keeps sequence numbers, and no unrelated SYN-ACK acknowledges a
// SYN of another 4-tuple.
func (t *Table) natPartial(c *Conn, s *Segment, h uint64) {
	var isn uint32
	switch s.Flags & (SYN | ACK) {
	case SYN:
		isn = s.Seq
	case SYN | ACK:
		isn = s.Ack - 1
	default:
		return
	}
	if t.syns == nil {
		t.syns = new([1 << synBits]synSlot)
	}
	sl := &t.syns[isn*0x9e3779b1>>(32-synBits)]
	if s.Flags&ACK == 0 {
		*sl = synSlot{isn, s.Time, c.ID, h}
		return
	}
	if sl.id != 0 && sl.isn == isn && sl.h != h && s.Time-sl.at >= 0 && s.Time-sl.at < natPartialWindow {
		c.NATOf, c.NATAt = sl.id, sl.at
	}
}

// peakAwake records the number of connections awake now if it is a peak.
func (t *Table) peakAwake() {
	if n := t.nLive - t.nSleep; n > t.stats.PeakAwake {
		t.stats.PeakAwake = n
	}
}

// serverPort reports whether port a, rather than b, is the server's when no
// handshake says so: a well-known port wins, then the lower port.
func serverPort(a, b uint16) bool {
	if (a < 1024) != (b < 1024) {
		return a < 1024
	}
	return a < b
}

// startsIncarnation reports whether SYN segment s on the 4-tuple of live
// connection c starts a new incarnation: a SYN whose ISN is not the one the
// connection already has from that sender (a retransmitted or reordered SYN
// keeps it), or any SYN once the connection has closed, unless it repeats
// the known ISN.
func startsIncarnation(c *Conn, s *Segment, dir int) bool {
	h := &c.Dir[dir]
	if h.SYNCount > 0 {
		return s.Seq != h.ISN
	}
	if s.Flags&ACK != 0 {
		// A SYN-ACK belongs with the SYN it acknowledges (and any data
		// that SYN carried: TCP Fast Open).
		if p := &c.Dir[1-dir]; p.SYNCount > 0 {
			return SeqLess(s.Ack, p.ISN+1) || SeqLess(p.End, s.Ack)
		}
		return closedBoth(c)
	}
	if dir == FromServer && c.Dir[FromClient].SYNCount > 0 {
		// The server side opens: roles change, so does the connection.
		return true
	}
	if closedBoth(c) {
		return true
	}
	// No SYN from this sender yet: the SYN belongs to the known sequence
	// space only if the data seen starts right after it.
	return !h.SeqSeen || s.Seq+1 != h.FirstSeq
}

func closedBoth(c *Conn) bool {
	return (c.Dir[0].FinSeen && c.Dir[1].FinSeen) || c.Dir[0].RSTCount+c.Dir[1].RSTCount > 0
}

// finish hands connection c to the Finish callback and returns the Prior
// its successor links to; a connection that left for good is remembered.
// Once handed over, c belongs to the callee (which may wake it on another
// goroutine): nothing here reads it after.
func (t *Table) finish(c *Conn, why EndReason, at int64) *Prior {
	st := &c.st
	key := st.key
	h := t.m.hash(&key)
	i := t.m.find(&key, h)
	t.m.e[i].setConn(nil)
	t.nLive--
	st.live = false
	if st.inHS {
		t.hs.remove(c)
	}
	t.idle.remove(c)
	t.awake.place(c, false, &st.onAwake)
	c.End, c.EndTime = why, at
	// Remembered for a SYN that reuses the 4-tuple later. An evicted
	// connection is not: its 4-tuple may still be live on the wire.
	var m *memory
	p := &Prior{}
	if why == EndLinger || why == EndIdleHandshake {
		m = &memory{rec: rec{key: key, isMem: true}}
		p = &m.Prior
	}
	// 2^31 incarnations of one 4-tuple would take a capture of hundreds
	// of gigabytes of that 4-tuple alone; past that the count stays.
	inc := int32(min(c.Incarnation, math.MaxInt32))
	*p = Prior{ID: c.ID, Incarnation: inc, Last: c.Last, clientIsA: st.clientIsA}
	c.Prior = p
	if err := t.opts.Finish(c); err != nil && t.err == nil {
		t.err = err
	}
	if m != nil {
		t.m.e[i].setRec(&m.rec)
		t.nMem++
		t.memQ = append(t.memQ, m)
	} else {
		t.m.removeAt(i)
	}
	return p
}

// AdvanceTo moves the table's clock to now, when the capture stopped if
// that was after its last segment: connections whose linger ran out by
// then finish as a segment at that time would have finished them, and
// Flush finishes the rest at now.
func (t *Table) AdvanceTo(now int64) error {
	if t.err == nil && now > t.now {
		t.now = now
		t.expire()
	}
	return t.err
}

// expire finishes lingering connections and forgets old Priors.
func (t *Table) expire() {
	for tb := t.sq[qDone].first(); tb != nil && tb.last+t.opts.Linger <= t.now; tb = t.sq[qDone].first() {
		c := t.wakeToFinish(t.entry(&tb.rec))
		t.finish(c, EndLinger, c.Last.Time+t.opts.Linger)
	}
	t.expireHandshakes()
	if t.now >= t.nextSweep {
		t.sweepIdle()
	}
	if t.armed || t.opts.MaxFlows > 0 && t.nLive-t.nSleep >= t.opts.MaxFlows/8 {
		t.sleepUnderPressure()
	}
	t.disarm()
	for t.memH < len(t.memQ) {
		m := t.memQ[t.memH]
		due := m.Last.Time+t.opts.Linger+t.opts.Remember <= t.now
		if !m.dead && !due && (t.opts.MaxFlows <= 0 || t.nMem <= t.opts.MaxFlows) {
			break
		}
		if !m.dead {
			i := t.entry(&m.rec)
			t.m.removeAt(i) // a remembered connection's entry holds nothing else
			t.nMem--
			if !due {
				t.stats.Forgotten++
			}
		}
		t.memQ[t.memH] = nil
		t.memH++
	}
	if t.memH > 1024 && t.memH*2 > len(t.memQ) {
		t.memQ = append(t.memQ[:0], t.memQ[t.memH:]...)
		t.memH = 0
	}
}

// sort puts c to sleep when its story is complete, and on the handshake
// expiry list when it belongs there.
func (t *Table) sort(c *Conn) {
	st := &c.st
	done := (c.Dir[0].FinAcked.Seen() && c.Dir[1].FinAcked.Seen()) ||
		(c.more.rst.Seen() && c.more.rst.Frame >= c.more.lastAdvance.Frame)
	t.hs.place(c, st.hadSYN && !c.HandshakeDone && !st.progress && !done, &st.inHS)
	if done {
		t.sleep(c, false)
	}
}

// update files segment s into connection c.
func (t *Table) update(c *Conn, dir int, s *Segment) (changed bool) {
	st := &c.st
	h, p := &c.Dir[dir], &c.Dir[1-dir]
	m := markOf(s)
	h.Packets++
	h.Bytes += uint64(s.PayloadLen)
	var g int64 // the silence before s
	if c.Last.Seen() {
		g = s.Time - c.Last.Time
		if g > c.Quiet.Gap {
			c.Quiet = Quiet{g, m}
		}
	}
	h.Last, c.Last = m, m
	if s.Flags&(SYN|FIN|RST) != 0 || st.inHS {
		changed = true
	}
	if s.HasTS {
		if dir == FromServer && !h.tsChecked && h.SYNCount > 0 && s.Flags&SYN == 0 {
			// h.TSval is still the latest SYN-ACK's.
			h.tsChecked = true
			if h.SYNHasTS && int64(int32(s.TSval-h.TSval))*1e6-(s.Time-h.SYNLast.Time) >= MinTSLag {
				h.tsKept = true
				h.TSAfterSYN, h.TSAfterSYNVal = m, s.TSval
			}
		}
		h.TSSeen, h.TSval, h.TSecr = true, s.TSval, s.TSecr
	}
	var why Why
	rst := s.Flags&RST != 0
	if s.TTL != h.TTL && !rst {
		if h.TTL == 0 {
			h.TTL = s.TTL
		} else {
			h.TTLVaried = true
		}
	}

	if s.Flags&SYN != 0 {
		st.hadSYN = true
		c.more.lastAdvance = m
		if h.SYNCount == 0 {
			h.SYN, h.ISN = m, s.Seq
			h.SYNHasTS, h.SACKPerm, h.WScale = s.HasTS, s.SACKPerm, s.WScale
			h.SYNOptions = s.SYNOptions
			// The SYN defines the sequence space; anything this side sent
			// before it (a TIME_WAIT's ACK of the old connection) does not.
			h.SeqSeen, h.FirstSeq, h.End = true, s.Seq, s.Seq
			h.DataSeen = false
		}
		h.SYNCount++
		h.SYNLast = m
		p.HandshakeAckAfter, p.hsAcked = Mark{}, false
		if h.SYNCount <= MaxSYNs {
			why |= WhySYN
		}
	}

	// Sequence space (a RST consumes none).
	if !rst {
		end := s.End()
		prevEnd, had := h.End, h.SeqSeen
		if !h.SeqSeen {
			h.SeqSeen, h.FirstSeq, h.End = true, s.Seq, end
		} else if SeqLess(h.End, end) {
			h.End = end
		}
		if s.PayloadLen > 0 || s.Flags&SYN != 0 {
			dend := s.Seq + s.PayloadLen
			if s.Flags&SYN != 0 {
				dend++
			}
			if !h.DataSeen || SeqLess(h.DataEnd, dend) {
				h.DataEnd, h.DataSeen = dend, true
			}
		}
		if s.PayloadLen > 0 {
			h.LastData = m
			changed = changed || !st.progress
			st.progress = true
			c.more.lastAdvance = m
			if p.FinSeen {
				t.afterFIN(c, st, h, dir, s, prevEnd, had, &why)
			}
		}
		if s.PayloadLen > 0 && s.Flags&SYN == 0 && had && SeqLess(s.Seq, prevEnd) && p.AckSeen && s.Seq == p.MaxAck && stallCopy(h, s, m) {
			why |= WhyStall
		}
		if s.Flags&(SYN|FIN) == 0 && s.PayloadLen <= 1 && had && s.Seq == prevEnd-1 && !p.ZeroWindowOpen {
			h.Keepalives++
			h.LastKeepalive = m
			if h.Keepalives <= 2 {
				why |= WhyKeepalive
			}
		}
	}

	// The first segment since the peer's latest that asks it for an
	// answer.
	if (s.PayloadLen > 0 || s.Flags&(SYN|FIN) != 0 || h.LastKeepalive == m) && !rst &&
		(!c.Tail.End.Seen() || p.Last.Frame >= c.Tail.End.Frame) {
		c.Tail = Quiet{g, m}
	}

	wasDone := c.HandshakeDone
	badAck := s.Flags&ACK != 0 && t.acks(c, h, p, dir, s, m, &why)
	if p.stalled {
		stallPeer(p, s, m)
	}
	if c.HandshakeDone && !wasDone {
		why |= WhyHandshake
		changed = true
	}
	if why&WhyFINAck != 0 {
		changed = true
	}

	if s.Flags&FIN != 0 && !rst {
		st.progress = true
		c.more.lastAdvance = m
		if finSent(h, s, m) && h.FinCount <= MaxFINs {
			why |= WhyFIN
		}
	}

	if rst {
		h.RSTCount++
		if h.RSTCount == 1 {
			h.RSTAnswered = p.Last
		}
		if rstAcceptable(c, h, p, s) {
			h.RSTInWindow++
			c.more.rst = m
			if h.RSTCount <= MaxRSTs {
				why |= WhyRSTAccepted
			}
		}
		if h.RSTCount <= MaxRSTs {
			why |= WhyRST
		}
	} else if (c.Dir[0].RSTCount > 0 || c.Dir[1].RSTCount > 0) && !c.more.afterRST[dir] {
		c.more.afterRST[dir] = true
		why |= WhyAfterRST
	}
	if c.Dir[0].RSTCount > 0 || c.Dir[1].RSTCount > 0 {
		h.SegmentsAfterRST++
	}

	// Zero windows this sender advertises, and segments sent into the
	// peer's.
	if s.Flags&ACK != 0 && s.Flags&(SYN|RST) == 0 {
		switch {
		case s.Window == 0 && !h.ZeroWindowOpen:
			h.ZeroWindowOpen = true
			if h.ZeroWindows < MaxZeroWindows {
				if h.Episodes == nil {
					h.Episodes = new([MaxZeroWindows]ZeroWindow)
				}
				h.Episodes[h.ZeroWindows] = ZeroWindow{Start: m}
				why |= WhyZeroWindow
			}
			h.ZeroWindows++
		case s.Window != 0 && h.ZeroWindowOpen:
			h.ZeroWindowOpen = false
			if i := h.ZeroWindows - 1; i < MaxZeroWindows {
				h.Episodes[i].End = m
				why |= WhyWindowOpen
			}
		}
		h.Window = s.Window
	}
	if p.ZeroWindowOpen && !rst {
		if i := p.ZeroWindows - 1; i < MaxZeroWindows {
			p.Episodes[i].Probes++
		}
	}

	if (why == 0 || badAck) && st.hadSYN && !c.HandshakeDone && c.more.hsEvents < MaxHandshake {
		c.more.hsEvents++
		why |= WhyHandshake
		if badAck {
			why |= WhyBadAck
		}
	}
	if why != 0 {
		if len(c.Events) < MaxEvents {
			if c.Events == nil {
				c.Events = make([]Event, 0, 8)
			}
			c.Events = append(c.Events, eventOf(s, dir, why))
			if why&WhyDataAfterFIN != 0 {
				c.more.dataEvent[dir] = len(c.Events)
			}
		} else {
			c.EventsDropped++
		}
	}
	return changed
}

// stallCopy files a retransmission of h's sender at the peer's highest
// acknowledgement, and reports whether to keep it as an event.
func stallCopy(h *Half, s *Segment, m Mark) bool {
	ss := h.Stalls
	if ss == nil {
		ss = new(Stalls)
		h.Stalls = ss
	}
	st, n := &ss.Cur, s.PayloadLen
	if !h.stalled || st.Seq != s.Seq {
		ss.keep()
		*st = Stall{Seq: s.Seq, First: m, MaxLen: n, MinLen: n, Fragmentable: true}
		h.stalled = true
	}
	st.Fragmentable = st.Fragmentable && !s.IPv6 && !s.DF
	st.Copies++
	if st.Copies == 2 {
		st.Second = m
	}
	if st.Copies >= 3 && !st.Shrink.Seen() && n < st.MinLen {
		st.Shrink, st.ShrinkLen, st.LongLen = m, n, st.MinLen
	}
	st.MaxLen, st.MinLen = max(st.MaxLen, n), min(st.MinLen, n)
	st.Last, st.LastLen = m, n
	return st.Copies == 3 || st.Copies == 4 || st.Shrink == m
}

// stallPeer files segment s of the peer of x's sender while x's stall goes
// on: an acknowledgement past it ends the stall, and so does a RST after
// a shorter copy; other segments with payload, FIN or RST after the second
// copy show the peer up.
func stallPeer(x *Half, s *Segment, m Mark) {
	st := &x.Stalls.Cur
	rst := s.Flags&RST != 0
	switch {
	case s.Flags&ACK != 0 && SeqLess(st.Seq, s.Ack) && !SeqLess(x.End, s.Ack),
		rst && st.Shrink.Seen():
		st.Answer, st.AnswerRST = m, rst && !(s.Flags&ACK != 0 && SeqLess(st.Seq, s.Ack))
		x.stalled = false
		x.Stalls.keep()
	case st.Copies >= 2 && (s.PayloadLen > 0 || s.Flags&(FIN|RST) != 0):
		if st.PeerSegs == 0 {
			st.PeerFirst = m
		}
		st.PeerSegs++
	}
}

// finSent files a FIN segment from h's sender and reports whether it was a
// transmission (false for a capture duplicate).
func finSent(h *Half, s *Segment, m Mark) bool {
	fs := s.Seq + s.PayloadLen
	if s.Flags&SYN != 0 {
		fs++
	}
	switch {
	case !h.FinSeen:
		h.FinSeen, h.FinSeq, h.FinFirst = true, fs, m
	case fs == h.FinSeq && s.Ack == h.finAck && s.IPID == h.finIPID && s.Time-h.FinLast.Time < dupWindow:
		// The same FIN captured twice (a capture-path duplicate, not a
		// retransmission: Linux retransmits no sooner than a TLP).
		h.FinDuplicates++
		return false
	case fs != h.FinSeq:
		h.FinSeqChanges++
		if SeqLess(h.FinSeq, fs) {
			h.FinSeq = fs
			h.FinAcked, h.FinArrived = Mark{}, Mark{}
		}
	}
	h.FinCount++
	h.FinLast = m
	h.finAck, h.finIPID = s.Ack, s.IPID
	h.FinAckedAfter = Mark{}
	return true
}

// afterFIN accounts payload that h's sender sent after the peer's FIN.
func (t *Table) afterFIN(c *Conn, st *connState, h *Half, dir int, s *Segment, prevEnd uint32, had bool, why *Why) {
	a := &h.AfterPeerFIN
	end := s.Seq + s.PayloadLen
	n := uint64(s.PayloadLen)
	if a.Segments > 0 || had {
		from := prevEnd
		if a.Segments > 0 && SeqLess(prevEnd, a.End) {
			from = a.End
		}
		switch d := SeqDiff(from, end); {
		case d <= 0:
			n = 0
		case uint64(d) < n:
			n = uint64(d)
		}
	}
	a.Bytes += n
	if a.Segments == 0 {
		a.First, a.End, a.Start = markOf(s), end, end-uint32(n)
		*why |= WhyDataAfterFIN
	} else {
		if SeqLess(a.End, end) {
			a.End = end
		}
		if i := c.more.dataEvent[dir]; i > 0 {
			c.Events[i-1].Count++
		}
	}
	a.Segments++
	a.Last = markOf(s)
}

// rstCopy records on the latest RST event of direction dir with s's
// sequence number the TTL of s, a capture duplicate of it with another
// TTL.
func rstCopy(c *Conn, dir int, s *Segment) {
	for i := len(c.Events) - 1; i >= 0; i-- {
		if e := &c.Events[i]; int(e.Dir) == dir && e.Flags&RST != 0 && e.Seq == s.Seq {
			if e.CopyTTL == 0 {
				e.CopyTTL = s.TTL
			}
			return
		}
	}
}

// dupSets is the number of two-slot sets of the table's duplicate
// filter, a power of two.
const dupSets = 8192

// dupLate bounds how long after the first copy a capture duplicate with
// the timestamp option may come (see dupSlot).
const dupLate = 1e9

// dupSlot is a recent segment that was not itself a duplicate: its
// 4-tuple's hash, a hash of its contents with its TTL in the low byte,
// its time. A segment takes a slot of the set its contents hash picks
// (not the 4-tuple's hash, whose seed differs from run to run: which
// segments share a set must not, for the output to be the same every
// time): the one holding the same segment, or else the older.
type dupSlot struct {
	key, sum uint64
	at       int64
}

// ttl is the slot's segment's TTL (hop limit).
func (d *dupSlot) ttl() uint8 { return uint8(d.sum) }

// dupSlot finds where s, of the 4-tuple hashed h, would be remembered,
// and reports whether it may be a capture duplicate: the same segment as
// an earlier one of its 4-tuple that was not — same direction, sequence
// and acknowledgement numbers, flags, payload length, window, IPv4 ID,
// TSval and TSecr — less than dupWindow after it, or less than dupLate
// after it when it carries the timestamp option.
//
// tcpdump -i any on a host that forwards or bridges packets captures each
// twice, once per interface, microseconds apart (the routed copy with a
// lower TTL, which the contents leave out), and a burst's segments can
// come in before the first leaves. Add then drops s when it has an IPv4
// ID, which no host gives two packets that close together, or a lower TTL
// than the first copy (the routed one: a host sends its own copies with
// one TTL), or when the peer sent nothing since the first copy: a host
// sends a segment again that soon only to answer one (a SYN_RECV request
// answers a retransmitted SYN with its SYN-ACK again, 100 µs after its
// timer sent one, with IP ID 0; duplicate ACKs answer segments out of
// order), never on a timer (a tail loss probe waits 10 ms at least, an
// RTO 200 ms).
//
// Captures taken at both ends and merged hold each segment as it left
// and as it arrived, a one-way delay apart: a copy a millisecond or more
// after the first is a duplicate whatever came between when it carries
// the timestamp option, its TSval the first's — the sender's clock ticks
// every millisecond, and a segment sent again that much later carries a
// later one.
//
// A duplicate is missed when two other segments took both slots of its
// set in between: the filter holds the last 2·dupSets segments, more or
// less. d is the slot s matched, or the one to remember s in; sum is s's
// contents hash, to remember it by.
func (t *Table) dupSlot(s *Segment, h uint64, srcIsA bool) (d *dupSlot, sum uint64, same bool) {
	f := uint64(s.Flags)
	if srcIsA {
		f |= 1 << 8
	}
	sum = (uint64(s.Seq)<<32|uint64(s.Ack))*0x9e3779b97f4a7c15 ^
		(uint64(s.PayloadLen)<<32|uint64(s.Window)<<16|uint64(s.IPID))*0xc2b2ae3d27d4eb4f ^
		(uint64(s.TSval)<<32|uint64(s.TSecr))*0x165667b19e3779f9 ^
		f*0x27d4eb2f165667c5
	sum ^= sum >> 29
	set := &t.dups[sum>>8&(dupSets-1)]
	sum = sum&^0xff | uint64(s.TTL)
	for i := range set {
		if d := &set[i]; d.key == h && d.sum>>8 == sum>>8 {
			gap := s.Time - d.at
			return d, sum, gap >= 0 && (gap < dupWindow || gap < dupLate && s.HasTS)
		}
	}
	if set[1].at < set[0].at {
		return &set[1], sum, false
	}
	return &set[0], sum, false
}

// dupGap counts a TCP segment's capture duplicate gap after its first
// copy.
func (t *Table) dupGap(gap int64) {
	st := &t.stats
	if st.DupTCP == 0 || gap < st.DupGapMin {
		st.DupGapMin = gap
	}
	st.DupTCP++
	st.DupGapMax = max(st.DupGapMax, gap)
	if gap >= dupWindow {
		st.DupApart++
	}
	st.Duplicates++
}

// icmpSeen is what an ICMP error's copy repeats: the message, its IPv4
// ID and the segment it quotes; and when it came. An error captured again
// less than dupWindow after one of the icmpRecent errors before it is a
// capture duplicate (tcpdump -i any on a host that forwards it), which
// Add drops and counts: a router sends one error per packet it could not
// deliver, and the sender's copies of a segment come 10 ms apart at the
// least (a tail-loss probe).
type icmpSeen struct {
	err      ICMPError
	src, dst netip.AddrPort
	seq, ack uint32
	flags    Flags
	ipid     uint16
	set      bool
	at       int64
}

// icmpRecent is how many errors back a copy is looked for: a router's
// errors about several packets of a burst interleave with their copies.
const icmpRecent = 4

func seenICMP(s *Segment) icmpSeen {
	return icmpSeen{*s.ICMP, s.Src, s.Dst, s.Seq, s.Ack, s.Flags, s.IPID, true, s.Time}
}

// same reports whether p and q are the same error, whenever they came.
func (p *icmpSeen) same(q *icmpSeen) bool {
	a, b := *p, *q
	a.at, b.at = 0, 0
	return a == b
}

// dupWindow: two identical FIN segments closer together than this are one
// transmission captured twice.
const dupWindow = 1e6

// ackWindow is how far an acknowledgement may pass the highest sequence
// number the capture saw from the peer and still count: segments the
// capture missed.
const ackWindow = 1 << 20

// acks files the acknowledgement that h's sender sent to the peer p. A RST
// with ACK counts only as evidence that the peer's FIN arrived.
func (t *Table) acks(c *Conn, h, p *Half, dir int, s *Segment, m Mark, why *Why) (bad bool) {
	a := s.Ack
	if p.SeqSeen {
		lo := p.FirstSeq - ackWindow
		if p.SYNCount > 0 {
			lo = p.ISN + 1
		}
		if SeqLess(a, lo) || SeqLess(p.End+ackWindow, a) {
			h.BadAcks++
			h.badAck = a
			return true
		}
	}
	rst := s.Flags&RST != 0
	if !rst && (!h.AckSeen || SeqLess(h.MaxAck, a)) {
		h.AckSeen, h.MaxAck, h.MaxAckAt = true, a, m
	}
	// Bounded acknowledgements only: ack in (x, peer's End].
	covers := func(x uint32) bool { return !SeqLess(a, x+1) && !SeqLess(p.End, a) }
	if !rst && !h.hsAcked && p.SYNCount > 0 && covers(p.ISN) {
		if !h.HandshakeAck.Seen() {
			h.HandshakeAck = m
		}
		if !h.HandshakeAckAfter.Seen() {
			h.HandshakeAckAfter = m
		}
		h.hsAcked = true
		if dir == FromClient && s.Flags&SYN == 0 {
			c.HandshakeDone = true
		}
	}
	if p.FinSeen && covers(p.FinSeq) {
		p.FinAcks++
		if !p.FinAcked.Seen() {
			p.FinAcked, p.FinArrived = m, p.FinLast
			*why |= WhyFINAck
		}
		if !p.FinAckedAfter.Seen() && !rst {
			p.FinAckedAfter = m
			if p.FinCount <= MaxFINs {
				*why |= WhyFINAck
			}
		}
	}
	if s.DSACK && p.FinSeen && !p.FinDSACKed && !SeqLess(p.FinSeq, s.DSACKLeft) && SeqLess(p.FinSeq, s.DSACKRight) {
		p.FinDSACKed = true
		*why |= WhyFinDSACK
	}
	return false
}

// rstAcceptable reports whether the receiver would take RST s as the
// capture evidences it: in SYN_SENT it must acknowledge the SYN; otherwise
// its sequence number must fall in the receiver's window (or one before
// rcv_nxt, which Linux accepts after a FIN).
func rstAcceptable(c *Conn, h, p *Half, s *Segment) bool {
	if p == &c.Dir[FromClient] && p.SYNCount > 0 && h.SYNCount == 0 {
		// The client sent a SYN and got no SYN-ACK: it is in SYN_SENT.
		return s.Flags&ACK != 0 && s.Ack == p.ISN+1
	}
	if h.SeqSeen && s.Seq == h.End {
		return true // the sender's snd_nxt
	}
	if p.BadAcks > 0 && s.Seq == p.badAck {
		return true // the answer to an old connection's ACK, which takes it
	}
	var rcvNxt uint32
	switch {
	case p.AckSeen:
		rcvNxt = p.MaxAck
	case h.SeqSeen:
		rcvNxt = h.End
	default:
		return true
	}
	win := int64(1) << 30
	if c.Dir[0].WScale >= 0 && c.Dir[1].WScale >= 0 {
		win = max(int64(p.Window)<<uint(p.WScale), 65535)
	}
	d := int64(SeqDiff(rcvNxt, s.Seq))
	return d >= -1 && d <= win
}
