package flows

import "container/heap"

// The table threads its connections on intrusive doubly linked lists, one
// link pair per list, so that moving one costs a few pointer writes and no
// allocation.

const (
	doneList = iota
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
// segment: each connection has one entry, keyed by its last activity when
// the entry was made; a stale entry (the connection was active since) is
// re-keyed when it reaches the top, and a finished connection's dropped.
type idleHeap []idleEntry

type idleEntry struct {
	at int64
	c  *Conn
}

func (h idleHeap) Len() int           { return len(h) }
func (h idleHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h idleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idleHeap) Push(x any)        { *h = append(*h, x.(idleEntry)) }
func (h *idleHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// push adds connection c; live counts the live connections, c included.
// The entry of a finished connection leaves only when it reaches the top
// and keeps its connection in memory until then: once such entries are
// more than an eighth of the live ones (and 1024), they are all dropped
// at once, for amortised constant work per push.
func (h *idleHeap) push(c *Conn, live int) {
	if len(*h) >= live+live/8+1024 {
		h.compact()
	}
	heap.Push(h, idleEntry{at: c.Last.Time, c: c})
}

// compact drops the entries of finished connections and re-keys the
// others.
func (h *idleHeap) compact() {
	e := (*h)[:0]
	for _, x := range *h {
		if x.c.st.live {
			e = append(e, idleEntry{at: x.c.Last.Time, c: x.c})
		}
	}
	clear((*h)[len(e):])
	*h = e
	heap.Init(h)
}

// oldest returns the live connection idle the longest, or nil.
func (h *idleHeap) oldest() *Conn {
	for h.Len() > 0 {
		top := (*h)[0]
		switch {
		case !top.c.st.live:
			heap.Pop(h)
		case top.at != top.c.Last.Time:
			(*h)[0].at = top.c.Last.Time
			heap.Fix(h, 0)
		default:
			heap.Pop(h)
			return top.c
		}
	}
	return nil
}
