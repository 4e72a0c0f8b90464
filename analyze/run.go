package analyze

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"

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
					if err := file(&segs[i]); err != nil {
						r.stop()
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
					return nil, err
				}
			}
		}
	}
	if !errors.Is(err, io.EOF) {
		readErr = err
	}
	res, err := r.close()
	if err != nil {
		return nil, err
	}
	return res, readErr
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
// depend on it.
type runner struct {
	opts  Options
	bld   builder
	table *flows.Table
	flows []*Flow
	sum   summarizer

	// The builder goroutine's feed: finished connections in batches, and
	// the first error it met; back returns built batches, whose
	// connections the table reuses.
	batch []*flows.Conn
	work  chan []*flows.Conn
	back  chan []*flows.Conn
	done  chan struct{}
	mu    sync.Mutex
	err   error
}

// batchSize is how many finished connections go to the builder at once.
const batchSize = 64

func newRunner(opts Options) *runner {
	r := &runner{opts: opts, sum: newSummarizer(opts)}
	// LateWake: a connection that lingered asleep is decoded by build,
	// on the builder goroutine when there is one.
	r.table = flows.NewTable(flows.TableOptions{MaxFlows: opts.MaxFlows, Finish: r.finish, LateWake: true})
	if runtime.GOMAXPROCS(0) > 1 {
		r.work, r.done = make(chan []*flows.Conn, 16), make(chan struct{})
		r.back = make(chan []*flows.Conn, 16)
		go r.builder()
	}
	return r
}

// builder builds the flows of the connections sent to it, in order.
func (r *runner) builder() {
	defer close(r.done)
	for batch := range r.work {
		for _, c := range batch {
			if r.failed() != nil {
				break
			}
			if err := r.build(c); err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
			}
		}
		select {
		case r.back <- batch:
		default:
		}
	}
}

func (r *runner) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
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
	r.batch = append(r.batch, c)
	if len(r.batch) == batchSize {
		r.work <- r.batch
		select {
		case b := <-r.back:
			// Built: its connections are free again.
			for i, c := range b {
				r.table.Release(c)
				b[i] = nil
			}
			r.batch = b[:0]
		default:
			r.batch = make([]*flows.Conn, 0, batchSize)
		}
	}
	return nil
}

// build turns a finished connection into a Flow and passes it on.
func (r *runner) build(c *flows.Conn) error {
	c.Wake()
	f := r.buildFlow(c)
	r.sum.Add(f)
	if r.opts.Emit != nil {
		err := r.opts.Emit(f)
		if r.opts.Recycle {
			r.bld.recycle()
		}
		return err
	}
	r.flows = append(r.flows, f)
	return nil
}

// buildFlow builds c's Flow with the runner's scratch space.
func (r *runner) buildFlow(c *flows.Conn) *Flow { return r.bld.build(c) }

func (r *runner) close() (*Result, error) {
	err := r.table.Flush()
	if r.work != nil {
		if len(r.batch) > 0 {
			r.work <- r.batch
		}
		close(r.work)
		<-r.done
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
	res.Summary.Evicted = r.table.Stats().Evicted
	return res, nil
}

// stop ends the builder goroutine after an error.
func (r *runner) stop() {
	if r.work != nil {
		close(r.work)
		<-r.done
	}
}

func sortFlows(fs []*Flow) {
	slices.SortFunc(fs, func(a, b *Flow) int { return a.ID - b.ID })
}
