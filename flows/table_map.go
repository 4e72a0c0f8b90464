package flows

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// connMap maps 4-tuples to the live connection, or else to the sleeping
// or remembered one. It is an open-addressing table with linear probing
// whose 16-byte entries hold 32 bits of the key's hash and one pointer, so
// that a lookup costs one probe of an entry (four to a cache line) and the
// key comparison in what it points to, instead of a map's key slots.
type connMap struct {
	e    []mapEntry
	n    int
	mask uint64
}

// mapEntry holds a live connection (p is a *Conn) or a sleeping or
// remembered one (isRec: p is the rec that begins its tomb or memory),
// or, between a slot being made and filled, nothing (p nil). h is the low
// 32 bits of the key's hash, which is odd: 0 means empty.
type mapEntry struct {
	h     uint32
	isRec bool
	p     unsafe.Pointer
}

// conn returns the entry's live connection, or nil.
func (e *mapEntry) conn() *Conn {
	if e.isRec {
		return nil
	}
	return (*Conn)(e.p)
}

// rec returns the rec of the entry's sleeping or remembered connection,
// or nil.
func (e *mapEntry) rec() *rec {
	if !e.isRec {
		return nil
	}
	return (*rec)(e.p)
}

// setConn makes the entry hold live connection c (nil: nothing).
func (e *mapEntry) setConn(c *Conn) { e.p, e.isRec = unsafe.Pointer(c), false }

// setRec makes the entry hold r (nil: nothing).
func (e *mapEntry) setRec(r *rec) { e.p, e.isRec = unsafe.Pointer(r), true }

// key returns the entry's 4-tuple.
func (e *mapEntry) key() *tupleKey {
	if e.isRec {
		return &(*rec)(e.p).key
	}
	return &(*Conn)(e.p).st.key
}

// tomb returns the entry's sleeping connection, or nil.
func (e *mapEntry) tomb() *tomb {
	r := e.rec()
	if r == nil || r.isMem {
		return nil
	}
	return (*tomb)(unsafe.Pointer(r)) // r is the tomb's first field
}

// memory returns the entry's remembered connection, or nil.
func (e *mapEntry) memory() *memory {
	r := e.rec()
	if r == nil || !r.isMem {
		return nil
	}
	return (*memory)(unsafe.Pointer(r)) // r is the memory's first field
}

func newConnMap() *connMap {
	m := &connMap{}
	m.resize(1 << 10)
	return m
}

func (m *connMap) hash(k *tupleKey) uint64 { return hashKey(k) }

// hashSeed is the process's random seed for hashing 4-tuples (so that a
// crafted capture cannot aim collisions at the table).
var hashSeed = [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}

// hashKey returns the hash of key k; the result is never 0.
func hashKey(k *tupleKey) uint64 {
	be := binary.BigEndian
	return hashWords(be.Uint64(k.a[:8]), be.Uint64(k.a[8:]), be.Uint64(k.b[:8]), be.Uint64(k.b[8:]), k.pa, k.pb)
}

// hashWords mixes a key, its addresses as big-endian words, with
// hashSeed: each address by a 64 x 64 -> 128-bit multiplication folded to
// 64 bits (the two independent), then the two with the ports by a third.
// The result is never 0.
func hashWords(ah, al, bh, bl uint64, pa, pb uint16) uint64 {
	const m = 0x9E3779B97F4A7C15
	h1, l1 := bits.Mul64(ah^hashSeed[0], al^m)
	h2, l2 := bits.Mul64(bh^hashSeed[1], bl^m)
	h, l := bits.Mul64(h1^l1^(uint64(pa)<<16|uint64(pb)), h2^l2^hashSeed[2])
	return h ^ l | 1
}

// find returns the index of k's entry, or -1.
func (m *connMap) find(k *tupleKey, h uint64) int {
	for i := h & m.mask; ; i = (i + 1) & m.mask {
		e := &m.e[i]
		if e.h == 0 {
			return -1
		}
		if e.h == uint32(h) && *e.key() == *k {
			return int(i)
		}
	}
}

// slot returns the index of k's entry, making an empty one (h set, no
// pointers) when k has none; the caller fills it before the next call.
func (m *connMap) slot(k *tupleKey, h uint64) int {
	if i := m.find(k, h); i >= 0 {
		return i
	}
	if (m.n+1)*4 > len(m.e)*3 {
		m.resize(len(m.e) * 2)
	}
	for i := h & m.mask; ; i = (i + 1) & m.mask {
		if e := &m.e[i]; e.h == 0 {
			e.h = uint32(h)
			m.n++
			return int(i)
		}
	}
}

// removeAt deletes entry i (backward-shift deletion keeps probe chains
// intact without tombstones).
func (m *connMap) removeAt(at int) {
	i := uint64(at)
	m.n--
	for {
		m.e[i] = mapEntry{}
		j := i
		for {
			j = (j + 1) & m.mask
			if m.e[j].h == 0 {
				return
			}
			home := uint64(m.e[j].h) & m.mask
			// Entry j may move back to i unless its home lies
			// cyclically in (i, j].
			if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
				m.e[i] = m.e[j]
				i = j
				break
			}
		}
	}
}

func (m *connMap) resize(n int) {
	old := m.e
	m.e = make([]mapEntry, n)
	m.mask = uint64(n - 1)
	for i := range old {
		if e := &old[i]; e.h != 0 {
			for j := uint64(e.h) & m.mask; ; j = (j + 1) & m.mask {
				if m.e[j].h == 0 {
					m.e[j] = *e
					break
				}
			}
		}
	}
}

// Ahead loads, without using them, what filing segments will read
// first: the map entries of far, and the connections of near (whose
// entries an earlier call loaded with near as its far). Called a few
// segments ahead of filing them, it lets their cache misses overlap
// instead of each stalling its own segment. It changes nothing.
func (t *Table) Ahead(near, far []Segment) {
	m := t.m
	var x uint64
	for i := range near {
		if h := near[i].k.h; h != 0 {
			if c := m.e[h&m.mask].conn(); c != nil {
				d := 0
				if !near[i].k.srcIsA {
					d = 1
				}
				x += uint64(c.st.key.pa) + c.Dir[d].Packets + c.Dir[d].Bytes
			}
		}
	}
	for i := range far {
		if h := far[i].k.h; h != 0 {
			x += uint64(m.e[h&m.mask].h)
		}
	}
	t.sink += x
}
