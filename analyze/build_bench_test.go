package analyze

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
)

// The flow benchmarks measure the two steps every finished connection
// goes through, one connection per operation (so ns/op, B/op and
// allocs/op are per flow), on the connections of a generated capture
// with the default mix of closes:
//
//	go test ./analyze -run '^$' -bench 'Build|SummaryAdd' -count 5
//
// Build turns a finished connection into a Flow (the close engine and
// the flow rules); SummaryAdd adds a built flow to the capture-wide
// summary (the cross-flow rules and the counts). Besides ns/flow, the
// wall time, each reports cpu-ns/flow, the CPU time the process used
// (garbage collection included), which other load on the machine
// disturbs less.

// benchConns are the finished connections of the benchmark capture, in
// the order they left the table: about 22,000 of them.
var benchConns = sync.OnceValues(func() ([]*flows.Conn, error) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 1, Packets: 400_000}); err != nil {
		return nil, err
	}
	return tableConns(&buf)
})

// tableConns feeds a capture through a flow table and returns the
// connections it finished, in order.
func tableConns(r io.Reader) ([]*flows.Conn, error) {
	src, err := capture.Open([]string{"-"}, capture.Options{Stdin: r})
	if err != nil {
		return nil, err
	}
	var out []*flows.Conn
	t := flows.NewTable(flows.TableOptions{Finish: func(c *flows.Conn) error {
		out = append(out, c)
		return nil
	}})
	for {
		s, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := t.Add(&s); err != nil {
			return nil, err
		}
	}
	return out, t.Flush()
}

func loadBenchConns(tb testing.TB) []*flows.Conn {
	tb.Helper()
	cs, err := benchConns()
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}

// perFlow reports the benchmark's time per flow (one flow an operation)
// and, when cpu0 (the process's CPU time before the loop) is known, the
// CPU time per flow.
func perFlow(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
	if cpu1 := processCPU(); cpu0 >= 0 && cpu1 >= 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/flow")
	}
}

// BenchmarkBuild builds a flow from a finished connection as the runner
// does. The connections are built again and again in the order they
// finished: building one only (re)writes the memo its successor on the
// same 4-tuple reads, the same each time. Fresh allocates every flow, as
// a run that collects them does; Recycled builds each in the memory of
// the one before, as a streaming run with Options.Recycle does.
func BenchmarkBuild(b *testing.B) {
	cs := loadBenchConns(b)
	for _, recycle := range []bool{false, true} {
		name := "Fresh"
		if recycle {
			name = "Recycled"
		}
		b.Run(name, func(b *testing.B) {
			r := newRunner(Options{})
			defer r.stop()
			b.ReportAllocs()
			cpu0 := processCPU()
			i := 0
			for b.Loop() {
				r.buildFlow(cs[i])
				if recycle {
					r.bld.recycle()
				}
				if i++; i == len(cs) {
					i = 0
				}
			}
			perFlow(b, cpu0)
		})
	}
}

// BenchmarkSummaryAdd adds built flows to the summary. Adding a flow
// takes its Wire (and may add a diagnosis): both are put back before
// each add, outside what Add does itself.
func BenchmarkSummaryAdd(b *testing.B) {
	cs := loadBenchConns(b)
	r := newRunner(Options{})
	defer r.stop()
	fs := make([]*Flow, len(cs))
	wires := make([]*WireFacts, len(cs))
	diags := make([][]Diagnosis, len(cs))
	for i, c := range cs {
		fs[i] = r.buildFlow(c)
		wires[i], diags[i] = fs[i].Wire, fs[i].Diagnoses
	}
	sum := newSummaryBuilder(Sysctls{})
	b.ReportAllocs()
	cpu0 := processCPU()
	i := 0
	for b.Loop() {
		f := fs[i]
		f.Wire, f.Diagnoses = wires[i], diags[i]
		sum.Add(f)
		if i++; i == len(fs) {
			i = 0
		}
	}
	perFlow(b, cpu0)
	if s := sum.Summary(); s.Flows != b.N {
		b.Fatalf("summary counts %d flows, want %d", s.Flows, b.N)
	}
}
