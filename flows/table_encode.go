package flows

import (
	"runtime"
	"sync"
	"unsafe"
)

// Complete connections encoded to sleep on a goroutine of the table's own
// (TableOptions.EncodeAhead). A complete connection put to sleep joins a
// batch at once, its tomb in the map and in the lingering queue as if it
// slept; the batch goes to the encoder when full, and is installed (each
// encoding kept as sleep keeps it, each Conn freed for reuse) when it
// comes back, or at once by the table's goroutine when one of its
// connections must wake first. Nothing observable depends on which
// goroutine encoded a connection, or when.

// encodeBatchSize is how many complete connections go to the encoder at
// once.
const encodeBatchSize = 64

// maxEncoding bounds the batches sent to the encoder and not yet
// installed.
const maxEncoding = 16

// encodeBatch is complete connections put to sleep, their tombs and, once
// encoded, their encodings: conns[i]'s is buf[ends[i-1]:ends[i]]. Until
// the batch is installed, each of its tombs has zs = &mark (asleep, and
// pending). The encoder reads conns and writes buf and ends; nothing else
// of the batch.
type encodeBatch struct {
	mark  slab // first: a tomb's zs leads back to its batch
	conns []*Conn
	tombs []*tomb
	buf   []byte
	ends  []uint32
}

// batchOf returns the batch of pending tomb tb.
func batchOf(tb *tomb) *encodeBatch { return (*encodeBatch)(unsafe.Pointer(tb.zs)) }

func (b *encodeBatch) encode() {
	b.buf, b.ends = b.buf[:0], b.ends[:0]
	for _, c := range b.conns {
		b.buf = encodeConn(b.buf, c)
		b.ends = append(b.ends, uint32(len(b.buf)))
	}
}

// encoder is the goroutine encoding batches: it takes them from jobs and
// gives them back, encoded, on done, in the same order.
type encoder struct {
	jobs, done chan *encodeBatch
	stopOnce   sync.Once
}

func startEncoder() *encoder {
	e := &encoder{jobs: make(chan *encodeBatch, maxEncoding), done: make(chan *encodeBatch, maxEncoding)}
	go func(jobs <-chan *encodeBatch, done chan<- *encodeBatch) {
		for b := range jobs {
			b.encode()
			done <- b
		}
	}(e.jobs, e.done)
	return e
}

func (e *encoder) stop() { e.stopOnce.Do(func() { close(e.jobs) }) }

// pend puts complete connection c, asleep as tomb tb, in the batch being
// filled, and sends the batch when it is full.
func (t *Table) pend(tb *tomb, c *Conn) {
	b := t.filling
	if b == nil {
		if n := len(t.spareBatches); n > 0 {
			b = t.spareBatches[n-1]
			t.spareBatches = t.spareBatches[:n-1]
		} else {
			b = &encodeBatch{mark: slab{pending: true}}
		}
		t.filling = b
	}
	tb.zs = &b.mark
	b.tombs = append(b.tombs, tb)
	b.conns = append(b.conns, c)
	if len(b.tombs) == encodeBatchSize {
		t.send()
	}
}

// send gives the batch being filled to the encoder, first installing the
// batches it is done with (waiting for the oldest when maxEncoding are
// out).
func (t *Table) send() {
	b := t.filling
	t.filling = nil
	if t.enc == nil {
		t.enc = startEncoder()
		runtime.AddCleanup(t, func(e *encoder) { e.stop() }, t.enc)
	}
	for t.encoding > 0 && t.receive(t.encoding == maxEncoding) {
	}
	t.encoding++
	t.enc.jobs <- b
}

// receive installs the oldest batch out with the encoder, waiting for it
// when wait is set; false when it is not back yet.
func (t *Table) receive(wait bool) bool {
	var b *encodeBatch
	if wait {
		b = <-t.enc.done
	} else {
		select {
		case b = <-t.enc.done:
		default:
			return false
		}
	}
	t.encoding--
	t.install(b)
	return true
}

// encodeFilling encodes the batch being filled here, and installs it.
func (t *Table) encodeFilling() {
	b := t.filling
	t.filling = nil
	b.encode()
	t.install(b)
}

// install keeps the encodings of batch b as sleep does, and frees its
// connections for reuse.
func (t *Table) install(b *encodeBatch) {
	var from uint32
	for i, tb := range b.tombs {
		t.keep(tb, b.buf[from:b.ends[i]], false)
		from = b.ends[i]
		if sleepCheck == nil && len(t.free) < maxFree {
			// Nothing else holds it.
			t.free = append(t.free, b.conns[i])
		}
		b.tombs[i], b.conns[i] = nil, nil
	}
	b.tombs, b.conns = b.tombs[:0], b.conns[:0]
	t.spareBatches = append(t.spareBatches, b)
}

// ready makes sure sleeping tomb tb holds its encoding: if it is still in
// a batch, that batch is encoded here (the one being filled) or waited
// for, and installed.
func (t *Table) ready(tb *tomb) {
	if !tb.zs.pending {
		return
	}
	t.pendingWoken++
	if batchOf(tb) == t.filling {
		t.encodeFilling()
	}
	for tb.zs.pending {
		t.receive(true)
	}
}

// settle installs every batch, and stops the encoder.
func (t *Table) settle() {
	if t.filling != nil {
		t.encodeFilling()
	}
	for t.encoding > 0 {
		t.receive(true)
	}
	if t.enc != nil {
		t.enc.stop()
		t.enc = nil
	}
}
