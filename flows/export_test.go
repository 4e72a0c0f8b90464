package flows

import (
	"fmt"
	"reflect"
)

// CheckSleep makes every table in this test binary keep what it puts to
// sleep and compare it with what wakes; the first difference is returned
// by the function it returns, which also stops the checking.
func CheckSleep() (stop func() error) {
	var first error
	sleepCheck = func(before, after *Conn) {
		if first == nil && !reflect.DeepEqual(before, after) {
			first = fmt.Errorf("connection %d woke different from how it slept:\n%+v\n%+v", before.ID, before, after)
		}
	}
	return func() error {
		sleepCheck = nil
		return first
	}
}

// EncodeConn and DecodeConn expose the sleeping codec to benchmarks;
// DecodeConn takes the key from the connection given.
func EncodeConn(b []byte, c *Conn) []byte   { return encodeConn(b, c) }
func DecodeConn(b []byte, like *Conn) *Conn { return decodeConn(b, &like.st.key) }

// DecodeInto decodes into c, reset, as a table waking a connection does.
func DecodeInto(c *Conn, b []byte, like *Conn) {
	c.reset()
	decodeInto(c, b, &like.st.key)
}

// Uncached returns s without the key a Prefetcher caches in it, and
// whether that cache, when set, is s's own key.
func Uncached(s Segment) (Segment, bool) {
	var own keyed
	own.set(&s)
	ok := s.k.h == 0 || s.k == own
	s.k = keyed{}
	return s, ok
}

// DropBlock forgets the block of encodings c was handed over asleep in
// (which only Release reads), so that c compares equal to a connection
// handed over awake.
func DropBlock(c *Conn) { c.zs = nil }

// PendingWoken is how many connections t woke while their encoding was
// pending (EncodeAhead).
func PendingWoken(t *Table) int { return t.pendingWoken }

// SetIdleSlack sets how far the idle connections' blocks may exceed twice
// what they hold, and returns a function that restores it.
func SetIdleSlack(n int) (restore func()) {
	old := idleSlack
	idleSlack = n
	return func() { idleSlack = old }
}

// IdleArena returns the bytes of the blocks of t's idle connections'
// encodings and the bytes those encodings take.
func IdleArena(t *Table) (blocks, live int) { return t.idleZ.held * slabSize, t.idleLive }

// AwakeViolation says what is wrong with the table's list of awake
// connections, which must hold each connection the map holds awake once,
// and nothing else; "" when nothing is.
func (t *Table) AwakeViolation() string {
	on := map[*Conn]bool{}
	for c := t.awake.head; c != nil; c = c.more.links[awakeList].next {
		if on[c] {
			return fmt.Sprintf("connection %d is on the awake list twice", c.ID)
		}
		if !c.st.onAwake || !c.st.live {
			return fmt.Sprintf("connection %d is on the awake list, yet onAwake %v, live %v", c.ID, c.st.onAwake, c.st.live)
		}
		on[c] = true
	}
	n := 0
	for i := range t.m.e {
		if c := t.m.e[i].conn(); c != nil {
			if !on[c] {
				return fmt.Sprintf("connection %d is awake in the map but not on the awake list", c.ID)
			}
			n++
		}
	}
	if n != len(on) {
		return fmt.Sprintf("%d connections on the awake list, %d awake in the map", len(on), n)
	}
	return ""
}

// forgetDuplicates empties the table's duplicate filter, as segments
// taking every slot would.
func (t *Table) forgetDuplicates() { clear(t.dups[:]) }
