package flows

import (
	"fmt"
	"testing"
)

// TestIdleHeapLetsFinishedGo checks that under MaxFlows the idle heap,
// which forgets finished connections lazily, holds on to few of them:
// every entry keeps its connection in memory.
func TestIdleHeapLetsFinishedGo(t *testing.T) {
	done := 0
	tb := NewTable(TableOptions{MaxFlows: 1 << 20, Finish: func(*Conn) error { done++; return nil }})
	f := 1
	for i := range 20000 {
		f = closeConn(t, tb, f, float64(i)*.1, fmt.Sprintf("10.%d.%d.%d:4000", i>>16, i>>8&255, i&255), 100, 5000)
		// Each push may first drop the finished ones.
		if peak := tb.stats.PeakLive; len(tb.idle) > peak+peak/8+1025 {
			t.Fatalf("connection %d: %d idle-heap entries, %d live connections at most", i, len(tb.idle), peak)
		}
	}
	if done < 19000 {
		t.Errorf("only %d of 20000 closed connections left the table", done)
	}
}

// TestIdleHeapCompact checks that compacting keeps exactly the live
// connections, keyed by their latest activity, in heap order.
func TestIdleHeapCompact(t *testing.T) {
	var h idleHeap
	var live []*Conn
	for i := range 100 {
		c := newConn()
		c.ID, c.Last.Time = i+1, int64(i)
		c.st.live = i%3 != 0
		h.push(c, 1<<20)
		if c.st.live {
			live = append(live, c)
			c.Last.Time = int64(1000 - i) // active since: the entry is stale
		}
	}
	h.compact()
	if len(h) != len(live) {
		t.Fatalf("%d entries after compact, want %d", len(h), len(live))
	}
	for i := len(live) - 1; i >= 0; i-- {
		if got := h.oldest(); got != live[i] {
			t.Fatalf("oldest is connection %d, want %d", got.ID, live[i].ID)
		}
	}
	if got := h.oldest(); got != nil {
		t.Errorf("oldest of an empty heap is connection %d", got.ID)
	}
}
