package flows

import (
	"bytes"
	"cmp"
	"runtime"
	"slices"
	"sync"
	"unsafe"
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

// recycle keeps empty block s for reuse; at maxSlabs kept, the older
// half of them is let go (together, so that the system call that gives
// back their pages is one per run of adjacent blocks, not one per block);
// a block of one encoding is let go.
func (a *arena) recycle(s *slab) {
	if s.one {
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
	if len(a.free) >= maxSlabs {
		const half = maxSlabs / 2
		a.release(a.free[:half])
		n := copy(a.free, a.free[half:])
		clear(a.free[n:])
		a.free = a.free[:n]
	}
}

// drain lets go of the empty blocks.
func (a *arena) drain() {
	if s := a.cur; s != nil && s.n == 0 {
		a.cur = nil
		a.free = append(a.free, s)
	}
	a.release(a.free)
	a.free = a.free[:0]
}

// release gives back the memory of empty blocks ss (the garbage
// collector's, for those on the heap) and clears ss.
func (a *arena) release(ss []*slab) {
	var mapped [][]byte
	for i, s := range ss {
		if s.mapped {
			mapped = append(mapped, s.b[:cap(s.b)])
			s.b, s.mapped = nil, false
		}
		a.held--
		ss[i] = nil
	}
	if len(mapped) > 0 {
		a.off.put(mapped...)
	}
}

func (a *arena) newSlab() *slab {
	if a.off != nil {
		if b := a.off.get(); b != nil {
			return &slab{b: b[:0], mapped: true}
		}
	}
	return &slab{b: make([]byte, 0, slabSize)}
}

// mappedBlocks are the blocks an arena mapped. They are mapped in chunks
// of chunkBlocks, so that mapping and unmapping cost a system call per
// chunk, not per block: a block given back has its pages released and
// stays mapped for the next one, and the chunks are unmapped together
// once no block is in use. A table that is dropped without Flush unmaps
// them when it is collected (runtime.AddCleanup), by then unreachable
// with the table.
type mappedBlocks struct {
	mu sync.Mutex
	// blocks are the blocks handed out and not given back.
	blocks map[*byte][]byte
	// spare are the other blocks of the chunks, their pages released.
	spare  [][]byte
	chunks [][]byte
	// releases counts the system calls that gave pages back.
	releases int
}

// chunkBlocks is how many blocks are mapped at once (2 MB).
const chunkBlocks = 32

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

// maxMapped bounds the blocks one table maps (512 MB), lest a runaway
// capture take the address space. Past it, blocks are on the heap.
const maxMapped = 8192

// get returns a mapped block, or nil.
func (m *mappedBlocks) get() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.spare) == 0 {
		if len(m.chunks)*chunkBlocks >= maxMapped {
			return nil
		}
		c := mapBlock(chunkBlocks * slabSize)
		if c == nil {
			return nil
		}
		m.chunks = append(m.chunks, c)
		for i := chunkBlocks; i > 0; i-- {
			m.spare = append(m.spare, c[(i-1)*slabSize:i*slabSize:i*slabSize])
		}
	}
	b := m.spare[len(m.spare)-1]
	m.spare = m.spare[:len(m.spare)-1]
	m.blocks[&b[0]] = b
	return b
}

// put gives blocks bs back: all the chunks are unmapped when no block is
// in use any more, or else the pages of bs are released.
func (m *mappedBlocks) put(bs ...[]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bs {
		delete(m.blocks, &b[0])
	}
	if len(m.blocks) == 0 {
		m.unmapLocked()
		return
	}
	// Adjacent blocks are released together: a system call costs about
	// as much for one block as for a run of them.
	slices.SortFunc(bs, func(a, b []byte) int {
		return cmp.Compare(uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&b[0])))
	})
	for i := 0; i < len(bs); {
		j := i + 1
		for j < len(bs) && uintptr(unsafe.Pointer(&bs[j-1][0]))+slabSize == uintptr(unsafe.Pointer(&bs[j][0])) {
			j++
		}
		releaseBlock(unsafe.Slice(&bs[i][0], (j-i)*slabSize))
		m.releases++
		i = j
	}
	m.spare = append(m.spare, bs...)
}

func (m *mappedBlocks) unmapAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unmapLocked()
}

func (m *mappedBlocks) unmapLocked() {
	for i, c := range m.chunks {
		unmapBlock(c)
		m.chunks[i] = nil
	}
	m.chunks, m.spare = m.chunks[:0], nil
	clear(m.blocks)
}
