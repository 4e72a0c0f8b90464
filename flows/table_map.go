package flows

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// connMap maps 4-tuples to the live connection and the remembered end of
// the previous one. It is an open-addressing table with linear probing
// whose entries hold the key's hash and the two pointers, so that a
// lookup costs one probe of a 24-byte entry and the key comparison in the
// connection's first cache line, instead of a map's key slots.
type connMap struct {
	e    []mapEntry
	n    int
	mask uint64
}

// mapEntry holds a live connection (c), a sleeping one or a remembered
// one (r: the rec that begins its tomb or memory). An entry holds one of
// them (a live or sleeping connection consumes a remembered one).
type mapEntry struct {
	h uint64 // 0: empty
	c *Conn
	r *rec
}

// key returns the entry's 4-tuple.
func (e *mapEntry) key() *tupleKey {
	if e.c != nil {
		return &e.c.st.key
	}
	return &e.r.key
}

// tomb returns the entry's sleeping connection, or nil.
func (e *mapEntry) tomb() *tomb {
	if e.r == nil || e.r.isMem {
		return nil
	}
	return (*tomb)(unsafe.Pointer(e.r)) // r is the tomb's first field
}

// memory returns the entry's remembered connection, or nil.
func (e *mapEntry) memory() *memory {
	if e.r == nil || !e.r.isMem {
		return nil
	}
	return (*memory)(unsafe.Pointer(e.r)) // r is the memory's first field
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
		if e.h == h && *e.key() == *k {
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
			e.h = h
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
			home := m.e[j].h & m.mask
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
			for j := e.h & m.mask; ; j = (j + 1) & m.mask {
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
			if c := m.e[h&m.mask].c; c != nil {
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
			x += m.e[h&m.mask].h
		}
	}
	t.sink += x
}
