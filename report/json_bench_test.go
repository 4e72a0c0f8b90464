package report

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
)

// The flow encoder benchmarks run on the flows the analyzer finds in one
// generated capture of some 200,000 packets with the default mix of
// closes (four-way, three-way, simultaneous, half-closes, FIN
// retransmissions, CLOSE_WAIT leaks, resets, rejections, TIME_WAIT
// reuse), so that the diagnoses, events and durations are those of a
// real run.
//
//	go test ./report -run '^$' -bench 'AppendFlow|JSONLFlow' -count 5
//
// One run (11,246 flows of 2,382 bytes on average; AMD EPYC, 2 CPUs
// shared with other work, so the times are high), medians of five:
//
//	                   before                        after
//	AppendFlow  5,875 ns/flow  160 B  1.27 allocs   3,284 ns/flow  0 B  0 allocs
//	JSONLFlow   5,897 ns/flow  160 B  1.27 allocs   3,238 ns/flow  0 B  0 allocs
//
// "before" is the encoder that sent diagnoses through encoding/json and
// formatted with strconv.
var benchFlows = sync.OnceValues(func() ([]*analyze.Flow, error) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 1, Packets: 200_000, Concurrency: 2000}); err != nil {
		return nil, err
	}
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: &buf})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	res, err := analyze.Run(r, analyze.Options{})
	if err != nil {
		return nil, err
	}
	return res.Flows, nil
})

func loadBenchFlows(b *testing.B) []*analyze.Flow {
	b.Helper()
	fs, err := benchFlows()
	if err != nil {
		b.Fatal(err)
	}
	if len(fs) == 0 {
		b.Fatal("no flows in the bench capture")
	}
	return fs
}

// flowMeter measures a benchmark's loop per flow: ns/flow, and the heap
// bytes and allocations of each flow (B/flow, allocs/flow).
type flowMeter struct {
	b     *testing.B
	start runtime.MemStats
}

func startFlowMeter(b *testing.B) *flowMeter {
	m := &flowMeter{b: b}
	b.ReportAllocs()
	runtime.GC()
	runtime.ReadMemStats(&m.start)
	b.ResetTimer()
	return m
}

// stop reports the metrics for flows flows that wrote out bytes of JSON
// (out is not reported when zero).
func (m *flowMeter) stop(flows, out int) {
	m.b.StopTimer()
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	n := float64(flows)
	m.b.ReportMetric(float64(m.b.Elapsed().Nanoseconds())/n, "ns/flow")
	m.b.ReportMetric(float64(end.TotalAlloc-m.start.TotalAlloc)/n, "B/flow")
	m.b.ReportMetric(float64(end.Mallocs-m.start.Mallocs)/n, "allocs/flow")
	if out > 0 {
		m.b.ReportMetric(float64(out)/n, "out-bytes/flow")
	}
}

// BenchmarkAppendFlow encodes every flow into one reused buffer.
func BenchmarkAppendFlow(b *testing.B) {
	fs := loadBenchFlows(b)
	buf := make([]byte, 0, 64<<10)
	m := startFlowMeter(b)
	n, out := 0, 0
	for b.Loop() {
		for _, f := range fs {
			var err error
			if buf, err = appendFlow(buf[:0], f); err != nil {
				b.Fatal(err)
			}
			out += len(buf)
		}
		n += len(fs)
	}
	m.stop(n, out)
}

// BenchmarkJSONLFlow writes every flow as a JSON line to io.Discard, as
// --format jsonl does.
func BenchmarkJSONLFlow(b *testing.B) {
	fs := loadBenchFlows(b)
	j := NewJSONL(io.Discard)
	m := startFlowMeter(b)
	n := 0
	for b.Loop() {
		for _, f := range fs {
			if err := j.Flow(f); err != nil {
				b.Fatal(err)
			}
		}
		n += len(fs)
	}
	m.stop(n, 0)
}

// BenchmarkAppendIndented indents every flow's compact encoding as the
// JSON document writes it (4,336 bytes a flow from 2,382). Storing bytes
// and line breaks a word at a time instead of appending each token made
// it faster by a ninth: 21 passes over the same flows alternating the
// two indenters, median ratios 0.889 and 0.860 in two runs.
func BenchmarkAppendIndented(b *testing.B) {
	fs := loadBenchFlows(b)
	encs := make([][]byte, len(fs))
	for i, f := range fs {
		enc, err := appendFlow(nil, f)
		if err != nil {
			b.Fatal(err)
		}
		encs[i] = enc
	}
	buf := make([]byte, 0, 64<<10)
	m := startFlowMeter(b)
	n, out := 0, 0
	for b.Loop() {
		for _, enc := range encs {
			buf = appendIndented(buf[:0], enc, "    ")
			out += len(buf)
		}
		n += len(encs)
	}
	m.stop(n, out)
}
