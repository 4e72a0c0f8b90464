package flows

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// BatchSource is a [Source] that can also deliver segments many at a
// time, which saves an interface call and a copy of each segment.
type BatchSource interface {
	Source
	// ReadSegments fills dst from its start with the segments Next would
	// return and returns how many it filled. When that is fewer than
	// len(dst) it also returns the error Next would have returned next
	// (io.EOF at the end).
	ReadSegments(dst []Segment) (int, error)
}

// Batcher is a [Source] that can hand out its segments a batch at a
// time, in its own memory: no copy of each segment.
type Batcher interface {
	Source
	// NextBatch returns the segments Next would return next, at least
	// one, valid until the next call of Next or NextBatch; at the end, no
	// segment and the error Next would return (io.EOF at the end).
	NextBatch() ([]Segment, error)
}

// Batch size and depth of a [Prefetcher]: 1024 segments (180 KB, with
// their cached keys) a batch, so that the goroutines wake each other
// rarely, and the reading goroutine may run up to prefetchDepth-1 batches
// ahead of the one being consumed, all within a core's L2 cache.
const (
	prefetchBatch = 1024
	prefetchDepth = 4
)

// Prefetcher is a [Source] that reads and decodes its source ahead, on a
// goroutine of its own, in batches of segments: decoding then runs on
// one CPU while the caller works on another. The segments, their order
// and the final error are exactly those of the source. The batches are
// recycled, so that prefetching allocates nothing per segment.
//
// With GOMAXPROCS at 1 there is no CPU to run ahead on: the Prefetcher
// then starts no goroutine and calls the source directly.
//
// The source must not be used by anyone else until Next has returned an
// error or Stop has returned. A panic in the source is re-raised by Next
// on the caller's goroutine.
type Prefetcher struct {
	src  Source
	full chan *segBatch // filled batches, in order
	free chan *segBatch // consumed batches, to refill
	quit chan struct{}  // closed by Stop
	done chan struct{}  // closed when the reading goroutine has returned
	stop sync.Once

	cur *segBatch // the batch being consumed
	i   int       // its next segment
	err error     // sticky: the source's error, once reached
}

// segBatch is one batch of segments and, on the last one, the error that
// ended the source (or a panic it raised).
type segBatch struct {
	segs   [prefetchBatch]Segment
	n      int
	err    error
	panicV any
}

// Prefetch returns a Prefetcher reading src. Call Stop when done with it
// unless Next has returned an error.
func Prefetch(src Source) *Prefetcher {
	p := &Prefetcher{src: src}
	if runtime.GOMAXPROCS(0) == 1 {
		return p
	}
	p.full = make(chan *segBatch, prefetchDepth)
	p.free = make(chan *segBatch, prefetchDepth)
	p.quit = make(chan struct{})
	p.done = make(chan struct{})
	for range prefetchDepth {
		p.free <- new(segBatch)
	}
	go p.read()
	return p
}

// read fills free batches from the source until it ends or Stop is
// called.
func (p *Prefetcher) read() {
	defer close(p.done)
	bs, _ := p.src.(BatchSource)
	for {
		var b *segBatch
		select {
		case b = <-p.free:
		case <-p.quit:
			return
		}
		p.fill(b, bs)
		select {
		case p.full <- b:
		case <-p.quit:
			return
		}
		if b.err != nil || b.panicV != nil {
			return
		}
	}
}

// fill reads one batch, catching a panic of the source so that it
// reaches the caller's goroutine.
func (p *Prefetcher) fill(b *segBatch, bs BatchSource) {
	b.n, b.err, b.panicV = 0, nil, nil
	defer func() {
		if v := recover(); v != nil {
			b.panicV = v
		}
	}()
	if bs != nil {
		b.n, b.err = bs.ReadSegments(b.segs[:])
		b.key()
		return
	}
	for b.n < len(b.segs) {
		s, err := p.src.Next()
		if err != nil {
			b.err = err
			return
		}
		b.segs[b.n] = s
		b.n++
	}
	b.key()
}

// key computes the keys of b's segments, the table's first step with
// each, on the goroutine that reads them.
func (b *segBatch) key() {
	for i := range b.segs[:b.n] {
		b.segs[i].k.set(&b.segs[i])
	}
}

// Next returns the next segment of the source, or its error.
func (p *Prefetcher) Next() (Segment, error) {
	if p.full == nil {
		if p.err != nil {
			return Segment{}, p.err
		}
		return p.src.Next()
	}
	for {
		if b := p.cur; b != nil && p.i < b.n {
			p.i++
			return b.segs[p.i-1], nil
		}
		if err := p.advance(); err != nil {
			return Segment{}, err
		}
	}
}

// NextBatch returns the segments Next would return next, as many as are
// at hand and at least one, in memory that stays valid until the next
// call of Next or NextBatch; at the end it returns no segment and the
// error Next would. It saves a copy of each segment.
func (p *Prefetcher) NextBatch() ([]Segment, error) {
	if p.full == nil {
		return p.readLocal()
	}
	for {
		if b := p.cur; b != nil && p.i < b.n {
			i := p.i
			p.i = b.n
			return b.segs[i:b.n], nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

// readLocal fills the Prefetcher's own batch from the source on the
// caller's goroutine (nothing runs ahead) and returns it.
func (p *Prefetcher) readLocal() ([]Segment, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.cur == nil {
		p.cur = new(segBatch)
	}
	b := p.cur
	if b.panicV != nil {
		// Raised by the source after the segments of the last batch.
		p.raise(b.panicV)
	}
	bs, _ := p.src.(BatchSource)
	p.fill(b, bs)
	if b.panicV != nil && b.n == 0 {
		p.raise(b.panicV)
	}
	if b.n == 0 {
		p.err = b.err
		if p.err == nil {
			p.err = errors.New("flows: the source returned no segment and no error")
		}
		return nil, p.err
	}
	if b.err != nil {
		// Next time: the source ended after these.
		p.err = b.err
	}
	return b.segs[:b.n], nil
}

// raise re-raises the source's panic v on the caller's goroutine; Next
// and NextBatch return an error from then on.
func (p *Prefetcher) raise(v any) {
	p.err = fmt.Errorf("flows: the source panicked: %v", v)
	panic(v)
}

// advance moves past the batch being consumed, which is used up, to the
// next one, and returns the source's error (or re-raises its panic) when
// that batch was the last.
func (p *Prefetcher) advance() error {
	if b := p.cur; b != nil {
		if b.panicV != nil {
			p.cur = nil
			p.raise(b.panicV)
		}
		if b.err != nil {
			p.err = b.err
			p.cur = nil
		}
	}
	if p.err != nil {
		return p.err
	}
	if p.cur != nil {
		p.free <- p.cur
	}
	p.cur, p.i = <-p.full, 0
	return nil
}

// Stop ends the reading goroutine and waits for it, so that the source
// may be used (or closed) again; Next returns [ErrStopped] after it.
// Stop may be called more than once.
func (p *Prefetcher) Stop() {
	if p.full != nil {
		p.stop.Do(func() { close(p.quit) })
		<-p.done
	}
	p.cur = nil
	if p.err == nil {
		p.err = ErrStopped
	}
}

// ErrStopped is returned by [Prefetcher.Next] after Stop.
var ErrStopped = errors.New("flows: prefetching stopped")
