package flows

import (
	"bytes"
	"runtime"
	"sync"
)

// slabSize is the size of the blocks that hold encodings.
const slabSize = 64 << 10

// maxSlabs bounds the empty blocks an arena keeps for reuse.
const maxSlabs = 64

// slab is a block of encodings (or the encoding of one idle connection,
// in a slice of its own); n counts those still in use.
type slab struct {
	b       []byte
	n       int32
	mapped  bool // b is memory mapped outside the Go heap
	one     bool // b holds one encoding, and is never reused
	pending bool // an encodeBatch's mark: the encoding is not made yet
}

// arena stores encodings in shared blocks. Those of complete connections
// are put to sleep, and woken, about in the order of their last activity,
// so a block is soon empty again after its last one leaves, and is reused
// for the next ones: the table allocates a block, not a string per
// connection, and not even that once its lingering ones reach their peak.
// Idle connections wake in no such order; the table compacts their arena
// instead (Table.compactIdle).
//
// An arena whose blocks are mapped (off) keeps them outside the Go heap:
// the garbage collector, which lets the heap grow to twice what it holds
// before collecting, does not count them, so their memory is what they
// hold instead of up to twice that. Only the table reads them, and it
// knows when a block is empty: encodings handed over asleep are copied
// out first (see Table.wakeToFinish).
type arena struct {
	cur    *slab
	free   []*slab
	off    *mappedBlocks // nil: blocks on the Go heap
	blocks int           // blocks allocated
	held   int           // blocks allocated and not released
}

// put copies z into a block and returns the block and where z is in it.
func (a *arena) put(z []byte) (*slab, uint32) {
	s := a.cur
	if s == nil || len(s.b)+len(z) > cap(s.b) {
		if s != nil && s.n == 0 {
			a.recycle(s)
		}
		if n := len(a.free); n > 0 {
			s = a.free[n-1]
			a.free[n-1] = nil
			a.free = a.free[:n-1]
		} else {
			s = a.newSlab()
			a.blocks++
			a.held++
		}
		a.cur = s
	}
	off := uint32(len(s.b))
	s.b = append(s.b, z...)
	s.n++
	return s, off
}

// own returns a block holding only a copy of z, for an encoding too long
// to share a block.
func own(z []byte) *slab { return &slab{b: bytes.Clone(z), n: 1, one: true} }

// unref records that an encoding in block s (nil: none) is no longer
// used.
func (a *arena) unref(s *slab) {
	if s == nil {
		return
	}
	s.n--
	if s.n == 0 && s != a.cur {
		a.recycle(s)
	}
}

// recycle keeps empty block s for reuse when there is room, or lets it
// go; a block of one encoding is let go.
func (a *arena) recycle(s *slab) {
	if s.one {
		return
	}
	if len(a.free) >= maxSlabs {
		a.release(s)
		return
	}
	// Poisoned: a stale read of an encoding of s, a bug, decodes
	// nonsense (and fails tests) rather than a plausible connection.
	if b := s.b; len(b) > 0 {
		b[0] = 0xff
		for n := 1; n < len(b); n *= 2 {
			copy(b[n:], b[:n])
		}
	}
	s.b = s.b[:0]
	a.free = append(a.free, s)
}

// drain lets go of the empty blocks.
func (a *arena) drain() {
	if s := a.cur; s != nil && s.n == 0 {
		a.cur = nil
		a.release(s)
	}
	for i, s := range a.free {
		a.release(s)
		a.free[i] = nil
	}
	a.free = a.free[:0]
}

func (a *arena) newSlab() *slab {
	if a.off != nil {
		if b := a.off.get(); b != nil {
			return &slab{b: b[:0], mapped: true}
		}
	}
	return &slab{b: make([]byte, 0, slabSize)}
}

// release gives back empty block s's memory (the garbage collector's, if
// it is on the heap).
func (a *arena) release(s *slab) {
	a.held--
	if s.mapped {
		a.off.put(s.b[:cap(s.b)])
		s.b, s.mapped = nil, false
	}
}

// mappedBlocks are the blocks an arena mapped and has not unmapped. A
// table that is dropped without Flush unmaps them when it is collected
// (runtime.AddCleanup), by then unreachable with the table.
type mappedBlocks struct {
	mu     sync.Mutex
	blocks map[*byte][]byte
}

// offHeap returns the mapped blocks of a new arena kept outside the heap
// for t, or nil where blocks cannot be mapped.
func offHeap(t *Table) *mappedBlocks {
	m := newMappedBlocks()
	if m != nil {
		runtime.AddCleanup(t, func(m *mappedBlocks) { m.unmapAll() }, m)
	}
	return m
}

// newMappedBlocks returns an empty set of mapped blocks, or nil where
// blocks cannot be mapped.
func newMappedBlocks() *mappedBlocks {
	if !canMap {
		return nil
	}
	return &mappedBlocks{blocks: map[*byte][]byte{}}
}

// maxMapped bounds the blocks one table maps (512 MB): each is a mapping
// of its own, and a process has a limited number of them
// (vm.max_map_count, 65,530 by default), which the Go runtime needs too.
// Past it, blocks are on the heap.
const maxMapped = 8192

// get maps a block, or returns nil.
func (m *mappedBlocks) get() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.blocks) >= maxMapped {
		return nil
	}
	b := mapBlock(slabSize)
	if b == nil {
		return nil
	}
	m.blocks[&b[0]] = b
	return b
}

// put unmaps block b.
func (m *mappedBlocks) put(b []byte) {
	m.mu.Lock()
	delete(m.blocks, &b[0])
	m.mu.Unlock()
	unmapBlock(b)
}

func (m *mappedBlocks) unmapAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, b := range m.blocks {
		unmapBlock(b)
		delete(m.blocks, k)
	}
}
