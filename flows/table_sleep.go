package flows

import "slices"

// Sleeping connections' queues (Table.sq, tomb.q).
const (
	qDone = iota // complete, lingering until Linger after their last segment
	qIdle        // idle, until a segment, eviction or Flush wakes them
	qHS          // stuck in their handshake, until HandshakeIdle
)

// sleep puts live connection c to sleep: its entry keeps a tomb holding
// c's encoding instead of c. idle says c is not complete (it sleeps until
// a segment, eviction, Flush, or for a handshake HandshakeIdle, wakes it)
// rather than lingering.
func (t *Table) sleep(c *Conn, idle bool) {
	st := &c.st
	q := uint8(qDone)
	if idle {
		q = qIdle
	}
	if st.inHS {
		t.hs.remove(c)
		st.inHS = false
		if idle {
			q = qHS
		}
	}
	t.idle.remove(c)
	t.awake.place(c, false, &st.onAwake)
	h := t.m.hash(&st.key)
	e := &t.m.e[t.m.find(&st.key, h)]
	tb := &tomb{rec: rec{key: st.key}, last: c.Last.Time, q: q}
	if c.Prev != nil {
		if t.prevs == nil {
			t.prevs = map[*tomb]*Prior{}
		}
		t.prevs[tb], tb.hasPrev = c.Prev, true
	}
	ahead := t.opts.EncodeAhead && !idle
	if !ahead {
		t.zbuf = encodeConn(t.zbuf[:0], c)
		t.keep(tb, t.zbuf, idle)
	}
	e.setRec(&tb.rec)
	if sleepCheck != nil {
		kept[tb] = c
	}
	st.live = false
	t.nSleep++
	t.stats.Slept++
	t.sq[q].push(tb)
	if idle && t.idleZ.held*slabSize > 2*t.idleLive+idleSlack {
		t.compactIdle()
	}
	if ahead {
		t.pend(tb, c) // c is freed once its batch is installed
	} else if sleepCheck == nil && len(t.free) < maxFree {
		// Nothing else holds c.
		t.free = append(t.free, c)
	}
}

// sleepCheck, when set (by tests), receives every connection put to sleep
// and the connection woken from it.
var (
	sleepCheck func(before, after *Conn)
	kept       = map[*tomb]*Conn{}
)

// wakeToFinish wakes the sleeping connection of entry i to finish it:
// under LateWake only its head is decoded, the rest left to Conn.Wake.
func (t *Table) wakeToFinish(i int) *Conn {
	if !t.opts.LateWake {
		return t.wake(i)
	}
	e := &t.m.e[i]
	tb := e.tomb()
	t.ready(tb)
	c := t.newConn()
	z := tb.enc()
	decodeHead(c, z, &tb.key)
	// A copy: the callee reads it later, and the table reuses the
	// block as soon as it is empty.
	hs, off := t.handed.put(z)
	c.z, c.zs, c.Prev = hs.b[off:off+uint32(len(z)):off+uint32(len(z))], hs, t.prevOf(tb)
	t.unkeep(tb)
	t.woke(e, tb, c, false)
	return c
}

// wake turns the sleeping connection of entry i back into a live Conn.
func (t *Table) wake(i int) *Conn {
	e := &t.m.e[i]
	tb := e.tomb()
	t.ready(tb)
	c := t.newConn()
	decodeInto(c, tb.enc(), &tb.key)
	c.Prev = t.prevOf(tb)
	t.unkeep(tb)
	if sleepCheck != nil {
		if k := kept[tb]; k != nil {
			before := *k
			before.st.live = true
			sleepCheck(&before, c)
			delete(kept, tb)
		}
	}
	t.woke(e, tb, c, true)
	return c
}

// woke puts c, woken from tb, in entry e; stays says whether c stays in
// the table (and so joins the idle heap, when armed) rather than being
// finished at once.
func (t *Table) woke(e *mapEntry, tb *tomb, c *Conn, stays bool) {
	tb.zs = nil
	t.sq[tb.q].gone()
	e.setConn(c)
	t.nSleep--
	t.peakAwake()
	if !stays {
		return
	}
	t.awake.place(c, true, &c.st.onAwake)
	if t.armed {
		t.idle.push(c)
	}
}

// prevOf returns the Prev of the connection sleeping in tb, which is
// waking, and forgets it.
func (t *Table) prevOf(tb *tomb) *Prior {
	if !tb.hasPrev {
		return nil
	}
	p := t.prevs[tb]
	delete(t.prevs, tb)
	tb.hasPrev = false
	return p
}

// maxFree bounds the connections kept for reuse.
const maxFree = 1024

// Release gives connection c, which the table handed to Finish, back for
// reuse once the callee is done with it: nothing may use c, or the slices
// it holds, after. Call it on the goroutine that calls Add. Optional: a
// connection never released is left to the garbage collector.
func (t *Table) Release(c *Conn) {
	if c.zs != nil {
		t.handed.unref(c.zs)
		c.zs = nil
	}
	if sleepCheck == nil && len(t.free) < maxFree {
		c.z = nil
		t.free = append(t.free, c)
	}
}

// keep stores encoding z of the connection put to sleep as tb's: a
// complete one's in the arena of lingering connections, an idle one's,
// which may sleep for the rest of the capture, in the arena of idle
// ones (see compactIdle), and one too long for a shared block in a
// block of its own.
func (t *Table) keep(tb *tomb, z []byte, idle bool) {
	tb.zn = uint16(len(z))
	switch {
	case len(z) > slabSize/16:
		tb.zs, tb.zoff = own(z), 0
	case idle:
		tb.zs, tb.zoff = t.idleZ.put(z)
		t.idleLive += len(z)
	default:
		tb.zs, tb.zoff = t.asleep.put(z)
	}
}

// unkeep records that the encoding sleeping tb holds is no longer used.
func (t *Table) unkeep(tb *tomb) {
	if tb.q == qDone {
		t.asleep.unref(tb.zs)
		return
	}
	if !tb.zs.one {
		t.idleLive -= int(tb.zn)
	}
	t.idleZ.unref(tb.zs)
}

// idleSlack is how far the blocks of idle connections' encodings may
// exceed twice what they hold before compactIdle moves them (a variable
// for the tests).
var idleSlack = 4 << 20

// compactIdle moves the encodings of the idle connections asleep into
// new blocks, in the order they fell asleep, and lets the old blocks go.
// Idle connections, unlike lingering ones, wake in no particular order,
// or never, so their blocks empty slowly, and a few encodings can keep
// many blocks. Called when the blocks are more than twice what they hold,
// it copies at most what was freed since the last call.
func (t *Table) compactIdle() {
	old := t.idleZ
	t.idleZ = arena{off: old.off, blocks: old.blocks}
	for _, q := range [...]uint8{qIdle, qHS} {
		sq := &t.sq[q]
		for _, tb := range sq.q[sq.h:] {
			if !tb.asleep() || tb.zs.one {
				continue
			}
			s, off := t.idleZ.put(tb.enc())
			old.unref(tb.zs)
			tb.zs, tb.zoff = s, off
		}
	}
	old.drain()
	// Blocks still held are in use by a tomb outside the queues, a bug:
	// counted, so that they show (TestIdleCompaction), and left alone.
	t.idleZ.held += old.held
	t.stats.Compactions++
}

// A tomb holds the length of an encoding in 16 bits.
const _ uint16 = maxEncoded

// newConn returns a connection put to sleep earlier, reset, or a new one.
func (t *Table) newConn() *Conn {
	if n := len(t.free); n > 0 {
		c := t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
		c.reset()
		return c
	}
	return newConn()
}

// sweepIdle puts to sleep the connections that have been idle for
// SleepIdle, oldest first.
func (t *Table) sweepIdle() {
	t.nextSweep = t.now + t.opts.SleepIdle
	before := t.now - t.opts.SleepIdle
	sw := t.sweep[:0]
	for c := t.awake.head; c != nil; c = c.more.links[awakeList].next {
		if c.Last.Time <= before {
			sw = append(sw, c)
		}
	}
	slices.SortFunc(sw, func(a, b *Conn) int {
		if a.Last.Time != b.Last.Time {
			if a.Last.Time < b.Last.Time {
				return -1
			}
			return 1
		}
		return a.ID - b.ID
	})
	for i, c := range sw {
		t.sleep(c, true)
		sw[i] = nil
	}
	t.sweep = sw[:0]
}

// evict finishes the connection idle the longest, awake or asleep.
func (t *Table) evict() {
	if !t.armed {
		t.armed = true
		for i := range t.m.e {
			if c := t.m.e[i].conn(); c != nil {
				t.idle.push(c)
			}
		}
	}
	c := t.idle.oldest()
	var asleep *tomb
	for i := range t.sq {
		if tb := t.sq[i].first(); tb != nil && (asleep == nil || tb.last < asleep.last) {
			asleep = tb
		}
	}
	if asleep != nil && (c == nil || asleep.last < c.Last.Time) {
		if c != nil {
			t.idle.push(c) // not this time
		}
		c = t.wake(t.entry(&asleep.rec))
	}
	if c != nil {
		t.stats.Evicted++
		t.finish(c, EndEvicted, t.now)
	}
}

// sleepUnderPressure puts to sleep, oldest first, the connections idle
// for pressureIdle, when that is shorter than SleepIdle: the ones stuck
// in their handshake (in the order of the handshake list), then, when
// the idle heap is armed, the others (in its order).
func (t *Table) sleepUnderPressure() {
	if pressureIdle >= t.opts.SleepIdle {
		return
	}
	before := t.now - pressureIdle
	for c := t.hs.head; c != nil && c.Last.Time <= before; c = t.hs.head {
		t.sleep(c, true)
	}
	for c := t.idle.peek(); t.armed && c != nil && c.Last.Time <= before; c = t.idle.peek() {
		t.sleep(c, true)
	}
}

// expireHandshakes finishes the connections stuck in their handshake for
// HandshakeIdle, awake or asleep, oldest first.
func (t *Table) expireHandshakes() {
	hq := &t.sq[qHS]
	for {
		c, tb := t.hs.head, hq.first()
		if c != nil && c.Last.Time+t.opts.HandshakeIdle > t.now {
			c = nil
		}
		if tb != nil && tb.last+t.opts.HandshakeIdle > t.now {
			tb = nil
		}
		switch {
		case tb != nil && (c == nil || tb.last < c.Last.Time || tb.last == c.Last.Time && encodedID(tb.enc()) < c.ID):
			c = t.wakeToFinish(t.entry(&tb.rec))
		case c == nil:
			return
		}
		t.finish(c, EndIdleHandshake, c.Last.Time+t.opts.HandshakeIdle)
	}
}

// disarm drops the idle heap once the table is well below MaxFlows.
func (t *Table) disarm() {
	if t.armed && t.nLive < t.opts.MaxFlows/2 {
		t.armed = false
		t.idle.reset()
	}
}

// sleepQ is a queue of sleeping connections in the order they were put to
// sleep, which is the order of their last activity. A connection woken
// since stays in it until it reaches the front or the queue is compacted.
type sleepQ struct {
	q []*tomb
	h int // front
	n int // entries still asleep
}

func (s *sleepQ) push(tb *tomb) {
	s.q = append(s.q, tb)
	s.n++
}

// gone records that one of the queue's connections woke.
func (s *sleepQ) gone() {
	s.n--
	if stale := len(s.q) - s.h - s.n; stale > 1024 && stale > 2*s.n {
		q := s.q[:0]
		for _, tb := range s.q[s.h:] {
			if tb.asleep() {
				q = append(q, tb)
			}
		}
		clear(s.q[len(q):])
		s.q, s.h = q, 0
	}
}

// first returns the connection asleep longest, or nil, dropping woken
// ones from the front.
func (s *sleepQ) first() *tomb {
	for s.h < len(s.q) {
		if tb := s.q[s.h]; tb.asleep() {
			return tb
		}
		s.q[s.h] = nil
		s.h++
		if s.h >= 1024 && s.h*2 >= len(s.q) {
			n := copy(s.q, s.q[s.h:])
			clear(s.q[n:])
			s.q, s.h = s.q[:n], 0
		}
	}
	s.q, s.h = s.q[:0], 0
	return nil
}
