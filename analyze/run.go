package analyze

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"

	"github.com/teardown/teardown/flows"
)

// Options configures [Run].
type Options struct {
	// MaxFlows caps the connections tracked at once (0: no cap). Past it
	// the longest-idle connection is evicted, reported early, and counted
	// in Summary.Evicted.
	MaxFlows int
	// Emit, when set, receives each flow as soon as it is finished (for
	// streaming output); Result.Flows is then left empty so that memory
	// follows concurrent flows only. An error from Emit stops Run. Emit is
	// called from one goroutine at a time, in the order flows finish,
	// though not necessarily from the goroutine that called Run.
	Emit func(*Flow) error
	// Recycle says that Emit keeps nothing of the flow it is given (the
	// Flow, or anything it points to) once it returns: Run then builds
	// later flows in the same memory, which saves allocating and
	// collecting some 2 KB a flow.
	Recycle bool
	// Sysctls are the capturing host's settings (ParseSysctls): with
	// them each diagnosis compares what the capture shows with them.
	Sysctls Sysctls
	// CaptureEnd, when set, is called once every segment has been read and
	// returns the last time the capture shows it was still running: its
	// last record of any kind, or when it stopped where the input records
	// that (capture.Info.Stopped). Connections still in the table then are
	// open-ended at that time rather than at the last segment, and a
	// silence that outlasted the last segment counts as such.
	CaptureEnd func() int64
}

// Run reads every segment of src, reconstructs each connection's close and
// returns the result, flows sorted by ID. The caller fills Result.Capture
// from the source's own description of the input.
//
// On a read error Run returns what it concluded from the segments before
// the error together with the error.
func Run(src flows.Source, opts Options) (*Result, error) {
	r := newRunner(opts)
	var readErr error
	// filing is the frame of the segment being filed, 0 between segments.
	var filing uint64
	defer func() {
		if filing != 0 {
			v := recover()
			panic(&SegmentPanic{Frame: filing, Value: v, Stack: debug.Stack()})
		}
	}()
	file := func(seg *flows.Segment) error {
		filing = seg.Frame
		err := r.add(seg)
		filing = 0
		return err
	}
	var err error
	if bs, ok := src.(flows.Batcher); ok {
		for err == nil {
			var segs []flows.Segment
			if segs, err = bs.NextBatch(); err == nil {
				for i := range segs {
					if i%aheadStride == 0 {
						j, k := min(i+aheadStride, len(segs)), min(i+2*aheadStride, len(segs))
						r.table.Ahead(segs[i:j], segs[j:k])
					}
					if err := file(&segs[i]); err != nil {
						r.stop()
						r.raise()
						return nil, err
					}
				}
			}
		}
	} else {
		for err == nil {
			var seg flows.Segment
			if seg, err = src.Next(); err == nil {
				if err := file(&seg); err != nil {
					r.stop()
					r.raise()
					return nil, err
				}
			}
		}
	}
	if !errors.Is(err, io.EOF) {
		readErr = err
	} else if opts.CaptureEnd != nil {
		if err := r.table.AdvanceTo(opts.CaptureEnd()); err != nil {
			r.stop()
			r.raise()
			return nil, err
		}
	}
	res, err := r.close()
	r.raise()
	if err != nil {
		return nil, err
	}
	return res, readErr
}

// aheadStride is how many segments Run files between two calls of
// flows.Table.Ahead, each loading the connections of the next stride and
// the map entries of the one after it, so that their cache misses overlap.
// Measured on the 10 M-packet synthetic capture, interleaved runs against
// filing without it: paired median wall time 0.93 with two CPUs, 0.94
// with one.
const aheadStride = 16

// A FlowPanic is what Run panics with when building a flow panicked on
// another goroutine (with more than one CPU): the flow's ID, its first
// and last frames, the value the panic raised and the stack it was
// raised on.
type FlowPanic struct {
	Flow        int
	First, Last uint64
	Value       any
	Stack       []byte
}

func (p *FlowPanic) String() string {
	return fmt.Sprintf("flow %d (frames %d-%d): %v", p.Flow, p.First, p.Last, p.Value)
}

// errPanicked stops the building after a panic, which raise re-raises.
var errPanicked = errors.New("analyze: building a flow panicked")

// caught records v, when a panic raised it while c was being built, for
// raise, and stops the building.
func (r *runner) caught(c *flows.Conn, v any) {
	if v == nil {
		return
	}
	p := &FlowPanic{Value: v, Stack: debug.Stack()}
	if c != nil {
		p.Flow, p.First, p.Last = c.ID, c.First.Frame, c.Last.Frame
	}
	r.panicked.CompareAndSwap(nil, p)
	r.fail(errPanicked)
}

// raise re-raises on the caller's goroutine the panic a building
// goroutine caught, once they have returned.
func (r *runner) raise() {
	if p := r.panicked.Load(); p != nil {
		panic(p)
	}
}

// A SegmentPanic is what Run panics with when filing a segment panicked:
// the segment's frame, the value the panic raised and the stack it was
// raised on.
type SegmentPanic struct {
	Frame uint64
	Value any
	Stack []byte
}

func (p *SegmentPanic) String() string { return fmt.Sprintf("frame %d: %v", p.Frame, p.Value) }

// runner wires the flow table to the flow builder. With more than one
// CPU the builder runs in a goroutine of its own, fed in batches in the
// order connections finish, so that output order and content do not
// depend on it. A helper goroutine prepares (wakes and builds) the
// batches it has room for, of those whose connections' previous
// incarnations are built already, and the builder only commits those
// (summary, Emit), still in order: when connections finish faster than
// one goroutine builds them (lingering ones expiring in a burst, the
// flush at the end) both CPUs build.
type runner struct {
	opts  Options
	bld   builder
	table *flows.Table
	flows []*Flow
	sum   summarizer

	// The builder goroutine's feed: finished connections in batches, and
	// the first error it met; back returns built batches, whose
	// connections the table reuses.
	batch *batch
	work  chan *batch
	back  chan *batch
	done  chan struct{}
	err   atomic.Pointer[error]
	// panicked is the first panic a building goroutine caught.
	panicked atomic.Pointer[FlowPanic]

	// The helper's feed, closed at the end, its builder, and helped,
	// closed when it has returned.
	prep   chan *batch
	hb     builder
	helped chan struct{}
	// sent counts the batches sent to the builder, committed those it
	// has committed; recent holds the Priors of the connections of the
	// latest batches sent, with their batch's number, at next (a ring).
	sent      uint64
	committed atomic.Uint64
	recent    [recentSize]sentPrior
	next      int
}

// sentPrior is a finished connection's Prior and its batch's number.
type sentPrior struct {
	p   *flows.Prior
	seq uint64
}

// recentSize bounds the connections independent looks through: room for
// every batch sent and not yet committed (16 queued and the one being
// built: 1,088 connections), and more.
const recentSize = 4096

// batch is a run of finished connections for the builder goroutine.
type batch struct {
	conns []*flows.Conn
	// helper says the helper prepares the batch: its flows, in order,
	// once ready has a value. blocks keeps their blocks for the batch's
	// next use when Options.Recycle allows.
	helper bool
	flows  []*Flow
	ready  chan struct{}
	blocks []*flowBlock
}

func newBatch() *batch {
	return &batch{conns: make([]*flows.Conn, 0, batchSize), ready: make(chan struct{}, 1)}
}

// batchSize is how many finished connections go to the builder at once.
const batchSize = 64

func newRunner(opts Options) *runner {
	r := &runner{opts: opts, sum: newSummarizer(opts)}
	// LateWake: a connection that lingered asleep is decoded by build,
	// on the builder goroutine when there is one.
	// EncodeAhead: with a CPU to spare, complete connections are encoded
	// to sleep beside the table's goroutine, not on it.
	parallel := runtime.GOMAXPROCS(0) > 1
	r.table = flows.NewTable(flows.TableOptions{MaxFlows: opts.MaxFlows, Finish: r.finish, LateWake: true, EncodeAhead: parallel})
	if parallel {
		r.batch = newBatch()
		r.work, r.done = make(chan *batch, 16), make(chan struct{})
		r.back = make(chan *batch, 16)
		r.prep, r.helped = make(chan *batch, 2), make(chan struct{})
		go r.builder()
		go r.helper()
	}
	return r
}

// builder builds the flows of the batches sent to it, in order: it
// commits those the helper prepared, and prepares the others itself.
func (r *runner) builder() {
	defer close(r.done)
	for b := range r.work {
		if b.helper {
			<-b.ready
		}
		r.buildBatch(b)
		// Its flows' memos are written: the helper may build their next
		// incarnations.
		r.committed.Add(1)
		select {
		case r.back <- b:
		default:
		}
	}
}

// buildBatch builds b's flows, or commits them when the helper prepared
// them, until the building fails.
func (r *runner) buildBatch(b *batch) {
	var cur *flows.Conn
	defer func() { r.caught(cur, recover()) }()
	if b.helper {
		for i, f := range b.flows {
			if r.failed() != nil {
				return
			}
			cur = b.conns[i]
			r.fail(r.commit(f))
		}
		return
	}
	for _, c := range b.conns {
		if r.failed() != nil {
			return
		}
		cur = c
		r.fail(r.build(c))
	}
}

// helper prepares the batches sent to it on prep.
func (r *runner) helper() {
	defer close(r.helped)
	for b := range r.prep {
		b.flows = b.flows[:0]
		r.prepareBatch(b)
		b.ready <- struct{}{}
	}
}

// prepareBatch builds b's flows with the helper's builder, until the
// building fails.
func (r *runner) prepareBatch(b *batch) {
	var cur *flows.Conn
	defer func() { r.caught(cur, recover()) }()
	recycle := r.opts.Emit != nil && r.opts.Recycle
	for i, c := range b.conns {
		if r.failed() != nil {
			return
		}
		cur = c
		if recycle && i < len(b.blocks) {
			r.hb.spare = b.blocks[i]
		}
		b.flows = append(b.flows, r.prepare(&r.hb, c))
		if recycle {
			// The builder commits the flow before the batch is used
			// again.
			if i < len(b.blocks) {
				b.blocks[i] = r.hb.last
			} else {
				b.blocks = append(b.blocks, r.hb.last)
			}
			r.hb.spare, r.hb.last = nil, nil
		}
	}
}

// failed returns the first error the building met, or nil.
func (r *runner) failed() error {
	if p := r.err.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records err, when it is the first.
func (r *runner) fail(err error) {
	if err != nil {
		r.err.CompareAndSwap(nil, &err)
	}
}

func (r *runner) add(s *flows.Segment) error { return r.table.Add(s) }

// finish takes a connection that left the table to be built into a Flow,
// now or by the builder goroutine.
func (r *runner) finish(c *flows.Conn) error {
	if r.work == nil {
		err := r.build(c)
		r.table.Release(c)
		return err
	}
	if err := r.failed(); err != nil {
		return err
	}
	r.batch.conns = append(r.batch.conns, c)
	if len(r.batch.conns) == batchSize {
		r.send()
	}
	return nil
}

// send hands the current batch to the builder goroutine, and to the
// helper too when it has room and may build the batch, and starts the
// next batch in one the builder has given back, if any.
func (r *runner) send() {
	b := r.batch
	seq := r.sent
	r.sent++
	b.helper = r.independent(b)
	if b.helper {
		select {
		case r.prep <- b:
		default:
			b.helper = false
		}
	}
	for _, c := range b.conns {
		r.recent[r.next] = sentPrior{c.Prior, seq}
		r.next = (r.next + 1) % recentSize
	}
	r.work <- b
	select {
	case nb := <-r.back:
		// Built: its connections are free again.
		for i, c := range nb.conns {
			r.table.Release(c)
			nb.conns[i] = nil
		}
		nb.conns = nb.conns[:0]
		r.batch = nb
	default:
		r.batch = newBatch()
	}
}

// independent reports whether no connection of b had a previous
// incarnation in a batch the builder has not committed yet: the helper
// may then build b before the builder is done with the batches before
// it (a flow's build reads the memo its previous incarnation's left in
// Prev; the helper builds its own batches in order).
func (r *runner) independent(b *batch) bool {
	done := r.committed.Load()
	for _, c := range b.conns {
		if c.Prev == nil {
			continue
		}
		for i, at := 0, r.next; ; i++ {
			if i == recentSize {
				return false // more in flight than recent holds
			}
			at = (at + recentSize - 1) % recentSize
			e := &r.recent[at]
			if e.p == nil || e.seq < done {
				break
			}
			if e.p == c.Prev {
				return false
			}
		}
	}
	return true
}

// build turns a finished connection into a Flow and passes it on.
func (r *runner) build(c *flows.Conn) error {
	err := r.commit(r.prepare(&r.bld, c))
	if r.opts.Emit != nil && r.opts.Recycle {
		r.bld.recycle()
	}
	return err
}

// prepare builds c's Flow with b's scratch space.
func (r *runner) prepare(b *builder, c *flows.Conn) *Flow {
	c.Wake()
	return b.build(c)
}

// commit counts flow f in the summary and passes it on, in the order
// flows finish.
func (r *runner) commit(f *Flow) error {
	r.sum.Add(f)
	if r.opts.Emit != nil {
		return r.opts.Emit(f)
	}
	r.flows = append(r.flows, f)
	return nil
}

// buildFlow builds c's Flow with the runner's scratch space.
func (r *runner) buildFlow(c *flows.Conn) *Flow { return r.bld.build(c) }

func (r *runner) close() (*Result, error) {
	err := r.table.Flush()
	if r.work != nil {
		r.stop()
		if e := r.failed(); e != nil {
			err = e
		}
	}
	if err != nil {
		return nil, err
	}
	sortFlows(r.flows)
	res := &Result{Schema: Schema, Flows: r.flows, Summary: r.sum.Summary()}
	if res.Flows == nil {
		res.Flows = []*Flow{}
	}
	st := r.table.Stats()
	res.Summary.Evicted, res.Summary.Forgotten = st.Evicted, st.Forgotten
	res.Summary.UnmatchedICMP = unmatchedICMP(st)
	res.Summary.Duplicates = st.Duplicates
	if st.DupTCP > 0 {
		res.Summary.DuplicateGaps = &DuplicateGaps{Min: float64(st.DupGapMin) / 1e9, Max: float64(st.DupGapMax) / 1e9, Apart: st.DupApart}
	}
	return res, nil
}

// stop hands the builder goroutine the last batch, if any, and waits
// for it and the helper to return.
func (r *runner) stop() {
	if r.work != nil {
		if len(r.batch.conns) > 0 {
			r.send()
		}
		close(r.work)
		<-r.done
		// The builder waited for every batch the helper took.
		close(r.prep)
		<-r.helped
	}
}

func sortFlows(fs []*Flow) {
	slices.SortFunc(fs, func(a, b *Flow) int { return a.ID - b.ID })
}
