package synth

// connHeap is a binary min-heap of conn slots keyed by the time of their
// next packet, ties broken by slot so the order never depends on history.
type connHeap []heapItem

type heapItem struct {
	t    int64
	slot int32
}

func (a heapItem) less(b heapItem) bool {
	return a.t < b.t || (a.t == b.t && a.slot < b.slot)
}

func (h *connHeap) push(t int64, slot int32) {
	*h = append(*h, heapItem{t, slot})
	q := *h
	i := len(q) - 1
	x := q[i]
	for i > 0 {
		parent := (i - 1) / 2
		if !x.less(q[parent]) {
			break
		}
		q[i] = q[parent]
		i = parent
	}
	q[i] = x
}

// fixTop gives the top item a new, later or equal, time.
func (h connHeap) fixTop(t int64) {
	h[0].t = t
	h.down(0)
}

// pop removes the top item.
func (h *connHeap) pop() {
	q := *h
	n := len(q) - 1
	q[0] = q[n]
	*h = q[:n]
	if n > 0 {
		h.down(0)
	}
}

func (h connHeap) down(i int) {
	n := len(h)
	x := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].less(h[c]) {
			c++
		}
		if !h[c].less(x) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}
