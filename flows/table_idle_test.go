package flows

import (
	"fmt"
	"testing"
)

// TestIdleHeapHoldsAwakeOnly checks that, once MaxFlows arms eviction, the
// idle heap holds exactly the awake connections, each once and at the index
// it records, and never one that was finished (handed to Finish, and so to
// another goroutine) or put to sleep.
func TestIdleHeapHoldsAwakeOnly(t *testing.T) {
	finished := map[*Conn]bool{}
	var evicted []int
	tb := NewTable(TableOptions{MaxFlows: 64, Finish: func(c *Conn) error {
		finished[c] = true
		if c.End == EndEvicted {
			evicted = append(evicted, c.ID)
		}
		return nil
	}})
	f := 1
	armed := false
	for i := range 600 {
		t0 := float64(i) * .5
		client := fmt.Sprintf("10.0.%d.%d:4000", i>>8, i&255)
		if i%4 == 0 {
			f = closeConn(t, tb, f, t0, client, 100, 5000)
		} else {
			for _, s := range handshake(f, t0, client, 100, 5000) {
				if err := tb.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			f += 3
		}
		armed = armed || tb.armed
		if !tb.armed {
			continue
		}
		awake := 0
		for j := range tb.m.e {
			if c := tb.m.e[j].conn(); c != nil {
				awake++
				if c.st.hidx == 0 {
					t.Fatalf("connection %d: awake connection %d is not in the idle heap", i, c.ID)
				}
			}
		}
		if len(tb.idle) != awake {
			t.Fatalf("connection %d: %d idle-heap entries, %d awake connections", i, len(tb.idle), awake)
		}
		for j, e := range tb.idle {
			if finished[e.c] || !e.c.st.live {
				t.Fatalf("connection %d: idle heap holds connection %d, finished or asleep", i, e.c.ID)
			}
			if int(e.c.st.hidx) != j+1 {
				t.Fatalf("connection %d: entry %d records index %d", i, j, e.c.st.hidx-1)
			}
		}
	}
	if !armed || len(evicted) == 0 {
		t.Fatalf("eviction never armed (%v) or nothing evicted (%d)", armed, len(evicted))
	}
	for i := 1; i < len(evicted); i++ {
		if evicted[i] < evicted[i-1] {
			t.Fatalf("connection %d evicted after %d, which was idle for less time", evicted[i], evicted[i-1])
		}
	}
}

// TestIdleHeapOrder checks that the heap yields connections by their latest
// activity, re-keying entries of connections active since they were pushed,
// with ties to the lower ID, and that removed ones never come out.
func TestIdleHeapOrder(t *testing.T) {
	var h idleHeap
	var cs []*Conn
	for i := range 100 {
		c := newConn()
		c.ID, c.Last.Time = 100-i, int64(i/10) // ten to a time, IDs descending
		h.push(c)
		h.push(c) // a second push is a no-op
		cs = append(cs, c)
	}
	if len(h) != 100 {
		t.Fatalf("%d entries for 100 connections", len(h))
	}
	for i := 0; i < 100; i += 7 {
		cs[i].Last.Time = 50 + int64(i) // active since: the entry is stale
	}
	removed := map[*Conn]bool{}
	for i := 3; i < 100; i += 11 {
		h.remove(cs[i])
		removed[cs[i]] = true
		if cs[i].st.hidx != 0 {
			t.Fatalf("connection %d still records an entry", cs[i].ID)
		}
	}
	var last *Conn
	n := 0
	for c := h.oldest(); c != nil; c = h.oldest() {
		n++
		if removed[c] {
			t.Fatalf("removed connection %d came out", c.ID)
		}
		if last != nil && (c.Last.Time < last.Last.Time || c.Last.Time == last.Last.Time && c.ID < last.ID) {
			t.Fatalf("connection %d (last %d) after %d (last %d)", c.ID, c.Last.Time, last.ID, last.Last.Time)
		}
		last = c
	}
	if want := 100 - len(removed); n != want {
		t.Errorf("%d connections came out, want %d", n, want)
	}
}
