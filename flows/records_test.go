package flows

import (
	"bytes"
	"runtime"
	"testing"
	"unsafe"
)

// TestRecordSizes checks that a tomb and a memory, one per lingering and
// per remembered connection, stay in the 64- and 112-byte size classes,
// a slab in the 32-byte one, and that each record begins with its rec, as
// map entries assume.
func TestRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(tomb{}); n > 64 {
		t.Errorf("a tomb takes %d bytes, more than 64", n)
	}
	if n := unsafe.Sizeof(memory{}); n > 112 {
		t.Errorf("a memory takes %d bytes, more than 112", n)
	}
	// One for each connection in the table, and a quarter more empty.
	if n := unsafe.Sizeof(mapEntry{}); n > 16 {
		t.Errorf("a map entry takes %d bytes, more than 16", n)
	}
	// One beside each idle connection's encoding.
	if n := unsafe.Sizeof(slab{}); n > 32 {
		t.Errorf("a slab takes %d bytes, more than 32", n)
	}
	if unsafe.Offsetof(tomb{}.rec) != 0 || unsafe.Offsetof(memory{}.rec) != 0 {
		t.Error("a tomb or a memory does not begin with its rec")
	}
}

// TestArenaReuse fills two blocks, empties the first, and checks that it
// is poisoned (every byte it held set to 0xff) and reused for the next
// block instead of a new one, on the heap and mapped.
func TestArenaReuse(t *testing.T) {
	for _, mapped := range []bool{false, true} {
		a := &arena{}
		if mapped {
			if a.off = newMappedBlocks(); a.off == nil {
				continue
			}
			defer a.off.unmapAll()
		}
		z := bytes.Repeat([]byte{7}, 4000)
		var first, second []*slab
		for a.blocks < 2 {
			s, _ := a.put(z)
			if a.blocks == 1 {
				first = append(first, s)
			} else {
				second = append(second, s)
			}
		}
		used := first[0].b[:len(first[0].b)]
		if s := first[0]; s.mapped != mapped || len(first) != slabSize/len(z) {
			t.Fatalf("mapped %v: %d encodings in the first block (mapped %v)", mapped, len(first), s.mapped)
		}
		for _, s := range first {
			a.unref(s)
		}
		if len(a.free) != 1 || a.free[0] != first[0] {
			t.Fatalf("mapped %v: the empty block is not kept for reuse", mapped)
		}
		for i, c := range used {
			if c != 0xff {
				t.Fatalf("mapped %v: byte %d of the empty block is %#x, not poisoned", mapped, i, c)
			}
		}
		for a.cur != first[0] {
			s, _ := a.put(z)
			second = append(second, s)
		}
		if a.blocks != 2 {
			t.Errorf("mapped %v: %d blocks allocated, want 2", mapped, a.blocks)
		}
		// The second block empties too: drain unmaps it, not the one
		// in use.
		for _, s := range second[:len(second)-1] {
			a.unref(s)
		}
		a.drain()
		if a.off != nil && (len(a.off.blocks) != 1 || a.cur != first[0]) {
			t.Errorf("mapped %v: %d blocks mapped after drain, want the one in use", mapped, len(a.off.blocks))
		}
	}
}

// TestMappedBlocksBounded checks that a table maps at most maxMapped
// blocks, then falls back to the heap, and that unmapAll gives them back.
func TestMappedBlocksBounded(t *testing.T) {
	a := &arena{off: newMappedBlocks()}
	if a.off == nil {
		t.Skip("blocks cannot be mapped here")
	}
	var blocks []*slab
	for range maxMapped + 2 {
		blocks = append(blocks, a.newSlab())
	}
	for i, s := range blocks {
		if want := i < maxMapped; s.mapped != want || cap(s.b) != slabSize {
			t.Fatalf("block %d: mapped %v (want %v), %d bytes", i, s.mapped, want, cap(s.b))
		}
	}
	a.off.unmapAll()
	if n := len(a.off.blocks); n != 0 {
		t.Errorf("%d blocks still mapped", n)
	}
}

// TestArenaReleasesInRuns empties 200 mapped blocks in the order they
// were filled, as lingering connections leave, and checks that the arena
// kept fewer than maxSlabs of them, gave the pages of the rest back a run
// of adjacent blocks at a time (a system call per run, not per block),
// that a block given back is reused zeroed, and that the chunks are
// unmapped once no block is in use.
func TestArenaReleasesInRuns(t *testing.T) {
	a := &arena{off: newMappedBlocks()}
	if a.off == nil {
		t.Skip("blocks cannot be mapped here")
	}
	defer a.off.unmapAll()
	z := bytes.Repeat([]byte{7}, slabSize/2)
	var held []*slab
	for a.blocks < 200 {
		s, _ := a.put(z)
		held = append(held, s)
	}
	for _, s := range held[:len(held)-1] {
		a.unref(s)
	}
	if len(a.free) >= maxSlabs {
		t.Errorf("%d empty blocks kept, want fewer than %d", len(a.free), maxSlabs)
	}
	released := a.blocks - a.held
	if released < 100 {
		t.Fatalf("%d of 199 empty blocks given back, want most", released)
	}
	if a.off.releases > released/16 {
		t.Errorf("%d system calls gave %d blocks back, want at most one per 16", a.off.releases, released)
	}
	if n := len(a.off.blocks); n != a.held {
		t.Errorf("%d blocks mapped and in use, the arena holds %d", n, a.held)
	}
	// A block given back comes back zeroed, its pages released (on
	// Linux; elsewhere they are kept).
	b := a.off.get()
	for i, c := range b[:slabSize] {
		if c != 0 && runtime.GOOS == "linux" {
			t.Fatalf("byte %d of a reused block is %#x", i, c)
		}
	}
	a.off.put(b)
	a.cur = nil
	a.unref(held[len(held)-1])
	a.drain()
	if len(a.off.blocks) != 0 || len(a.off.chunks) != 0 {
		t.Errorf("after drain: %d blocks in use, %d chunks mapped; want none", len(a.off.blocks), len(a.off.chunks))
	}
}
