package analyze

import (
	"errors"
	"io"
	"slices"

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
	// follows concurrent flows only. An error from Emit stops Run.
	Emit func(*Flow) error
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
	for {
		seg, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if err := r.add(&seg); err != nil {
			return nil, err
		}
	}
	res, err := r.close()
	if err != nil {
		return nil, err
	}
	return res, readErr
}

// runner wires the flow table to the flow builder.
type runner struct {
	opts    Options
	scratch []moment
	table   *flows.Table
	flows   []*Flow
	sum     summarizer
	last    int64
}

func newRunner(opts Options) *runner {
	r := &runner{opts: opts, sum: newSummarizer(opts)}
	r.table = flows.NewTable(flows.TableOptions{MaxFlows: opts.MaxFlows, Finish: r.finish})
	return r
}

func (r *runner) add(s *flows.Segment) error {
	if s.Time > r.last {
		r.last = s.Time
	}
	return r.table.Add(s)
}

// finish turns a connection that left the table into a Flow.
func (r *runner) finish(c *flows.Conn) error {
	f := buildFlow(c, &r.scratch)
	r.sum.Add(f)
	if r.opts.Emit != nil {
		return r.opts.Emit(f)
	}
	r.flows = append(r.flows, f)
	return nil
}

func (r *runner) close() (*Result, error) {
	if err := r.table.Flush(); err != nil {
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

func sortFlows(fs []*Flow) {
	slices.SortFunc(fs, func(a, b *Flow) int { return a.ID - b.ID })
}
