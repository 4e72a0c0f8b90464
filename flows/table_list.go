package flows

import "container/heap"

// The table threads its connections on intrusive doubly linked lists, one
// link pair per list, so that moving one costs a few pointer writes and no
// allocation.

const (
	// awakeList threads the live connections that are awake, so that
	// sweepIdle looks at them and not at every entry of the map.
	awakeList = iota
	hsList
)

type link struct{ prev, next *Conn }

type list struct {
	head, tail *Conn
	id         int
}

func (l *list) pushBack(c *Conn) {
	k := &c.more.links[l.id]
	k.prev, k.next = l.tail, nil
	if l.tail != nil {
		l.tail.more.links[l.id].next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *list) remove(c *Conn) {
	k := &c.more.links[l.id]
	if k.prev != nil {
		k.prev.more.links[l.id].next = k.next
	} else {
		l.head = k.next
	}
	if k.next != nil {
		k.next.more.links[l.id].prev = k.prev
	} else {
		l.tail = k.prev
	}
	k.prev, k.next = nil, nil
}

func (l *list) moveToBack(c *Conn) {
	if l.tail == c {
		return
	}
	l.remove(c)
	l.pushBack(c)
}

// place keeps c at the back of l when want is set and off it otherwise;
// *in records whether c is on l.
func (l *list) place(c *Conn, want bool, in *bool) {
	switch {
	case want && *in:
		l.moveToBack(c)
	case want:
		l.pushBack(c)
		*in = true
	case *in:
		l.remove(c)
		*in = false
	}
}

// idleHeap finds the longest-idle live connection without work per
// segment: each live connection has one entry (its connState.hidx is the
// entry's index + 1), keyed by its last activity when the entry was made;
// an entry whose connection was active since is re-keyed when it reaches
// the top. A connection leaves the heap before it sleeps or is finished, so
// the heap never reads a connection another goroutine owns. Ties go to the
// lower ID, so that the order never depends on the map's hash seed.
type idleHeap []idleEntry

type idleEntry struct {
	at int64
	c  *Conn
}

func (h idleHeap) Len() int { return len(h) }
func (h idleHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].c.ID < h[j].c.ID
}
func (h idleHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].c.st.hidx = int32(i + 1)
	h[j].c.st.hidx = int32(j + 1)
}
func (h *idleHeap) Push(x any) {
	e := x.(idleEntry)
	e.c.st.hidx = int32(len(*h) + 1)
	*h = append(*h, e)
}
func (h *idleHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = idleEntry{}
	*h = old[:len(old)-1]
	e.c.st.hidx = 0
	return e
}

// push adds connection c unless it is in the heap already.
func (h *idleHeap) push(c *Conn) {
	if c.st.hidx == 0 {
		heap.Push(h, idleEntry{at: c.Last.Time, c: c})
	}
}

// remove takes connection c out of the heap if it is in it.
func (h *idleHeap) remove(c *Conn) {
	if i := c.st.hidx; i != 0 {
		heap.Remove(h, int(i-1))
	}
}

// reset empties the heap.
func (h *idleHeap) reset() {
	for i := range *h {
		(*h)[i].c.st.hidx = 0
	}
	clear(*h)
	*h = (*h)[:0]
}

// peek returns the connection idle the longest, or nil, leaving it in
// the heap.
func (h *idleHeap) peek() *Conn {
	for h.Len() > 0 {
		top := (*h)[0]
		if top.at == top.c.Last.Time {
			return top.c
		}
		(*h)[0].at = top.c.Last.Time
		heap.Fix(h, 0)
	}
	return nil
}

// oldest takes the connection idle the longest out of the heap and
// returns it, or nil.
func (h *idleHeap) oldest() *Conn {
	c := h.peek()
	if c != nil {
		heap.Pop(h)
	}
	return c
}
