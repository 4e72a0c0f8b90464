package analyze_test

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
	"github.com/teardown/teardown/report"
)

// Adversarial captures: a SYN flood of distinct 4-tuples, which would
// fill the flow table without --max-flows, and a storm of FINs on one
// flow, which would grow any per-segment list. Memory must follow the
// flow cap and the evidence caps, never the size of the capture.
//
//	go test ./analyze -run '^$' -bench 'SynFlood|FinStorm' -benchtime 1x

// liveHeap samples the live heap (after a collection) every `every`
// segments of a source and keeps the peak above a baseline.
type liveHeap struct {
	src   flows.Source
	every int
	n     int
	base  uint64
	peak  uint64
}

func newLiveHeap(src flows.Source, every int) *liveHeap {
	return &liveHeap{src: src, every: every, base: heapAlloc()}
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func (h *liveHeap) Next() (flows.Segment, error) {
	if h.n++; h.n%h.every == 0 {
		h.sample()
	}
	return h.src.Next()
}

func (h *liveHeap) sample() {
	if a := heapAlloc(); a > h.base && a-h.base > h.peak {
		h.peak = a - h.base
	}
}

// adversarial runs a generated capture through the streaming pipeline
// (JSONL to nowhere, as `teardown -f jsonl` does) with a flow cap, and
// returns the result, the flows that were evicted, and the peak live heap
// the run added.
func adversarial(tb testing.TB, data []byte, maxFlows, every int) (res *analyze.Result, evicted int, peak uint64) {
	tb.Helper()
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	h := newLiveHeap(r, every)
	out := report.NewJSONL(io.Discard)
	res, err = analyze.Run(h, analyze.Options{MaxFlows: maxFlows, Recycle: true, Emit: func(f *analyze.Flow) error {
		if f.Evicted {
			evicted++
		}
		return out.Flow(f)
	}})
	if err != nil {
		tb.Fatal(err)
	}
	h.sample()
	res.Capture = captureOf(r.Info())
	return res, evicted, h.peak
}

// flowBudget is a generous bound on the memory one tracked connection may
// hold: four times its evidence (the Conn and the first events it keeps)
// covers the table's index, lists and the engine's per-flow work.
const flowBudget = 4 * (unsafe.Sizeof(flows.Conn{}) + 8*unsafe.Sizeof(flows.Event{}))

// fixedBudget covers what does not depend on the number of flows: the
// reader's buffers and the runtime's own.
const fixedBudget = 8 << 20

// TestSynFloodMemory floods 200,000 distinct SYN-only 4-tuples through a
// table capped at 10,000 flows: every flow is still reported, the ones the
// cap pushed out are counted, and the live heap stays within what 10,000
// flows may hold.
func TestSynFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a 200,000-SYN capture")
	}
	const syns, maxFlows = 200_000, 10_000
	data := testenv.Capture(t, synth.Config{Seed: 5, Mode: synth.SynFlood, Flood: syns})
	res, evicted, peak := adversarial(t, data, maxFlows, 20_000)
	if got := res.Capture.TCPPackets; got != syns {
		t.Fatalf("%d TCP packets, want %d SYNs", got, syns)
	}
	// The flood is faster than any idle timeout: every flow stays until
	// the cap pushes it out, and the last maxFlows ones until the end.
	if res.Summary.Flows != syns || res.Summary.Evicted != syns-maxFlows || evicted != res.Summary.Evicted {
		t.Errorf("%d flows, summary counts %d evicted, %d flows say so; want %d flows, %d evicted",
			res.Summary.Flows, res.Summary.Evicted, evicted, syns, syns-maxFlows)
	}
	bound := uint64(maxFlows)*uint64(flowBudget) + fixedBudget
	t.Logf("peak live heap %.1f MiB (%.0f bytes per flow of the cap), bound %.1f MiB", mib(peak), float64(peak)/maxFlows, mib(bound))
	if peak > bound {
		t.Errorf("peak live heap %.1f MiB, more than %.1f MiB for %d flows", mib(peak), mib(bound), maxFlows)
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// TestFinStormBounded sends 100,000 FINs on one flow: the count is exact,
// the list of FIN frames stops at its cap, and so does the flow's event
// list.
func TestFinStormBounded(t *testing.T) {
	const storm = 100_000
	data := testenv.Capture(t, synth.Config{Seed: 6, Mode: synth.FinStorm, Storm: storm})
	res, err := pipeline([]string{"-"}, bytes.NewReader(data), analyze.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) != 1 {
		t.Fatalf("%d flows, want the storm's one", len(res.Flows))
	}
	checkResult(t, res)
	f := res.Flows[0]
	c := f.Sides.Client
	if c.FinRetransmissions != storm-1 || len(c.FinFrames) != flows.MaxFINs || len(f.Events) > flows.MaxEvents {
		t.Errorf("%d retransmissions, %d FIN frames, %d events; want %d, %d (the cap), at most %d",
			c.FinRetransmissions, len(c.FinFrames), len(f.Events), storm-1, flows.MaxFINs, flows.MaxEvents)
	}
}

// benchCaptures holds generated adversarial captures by configuration.
var benchCaptures sync.Map

func benchData(b *testing.B, cfg synth.Config) []byte {
	b.Helper()
	key := fmt.Sprint(cfg)
	if v, ok := benchCaptures.Load(key); ok {
		return v.([]byte)
	}
	data := testenv.Capture(b, cfg)
	benchCaptures.Store(key, data)
	return data
}

// BenchmarkSynFlood runs SYN floods of distinct 4-tuples through the
// streaming pipeline. Time per SYN stays flat from 250,000 to 1,000,000
// SYNs; the live heap follows --max-flows, not the flood; every flow the
// cap pushed out is counted.
func BenchmarkSynFlood(b *testing.B) {
	for _, c := range []struct{ syns, maxFlows int }{
		{250_000, 10_000}, {1_000_000, 10_000}, {1_000_000, 100_000}, {1_000_000, 1_000_000},
	} {
		b.Run(fmt.Sprintf("syns=%d/max-flows=%d", c.syns, c.maxFlows), func(b *testing.B) {
			data := benchData(b, synth.Config{Seed: 5, Mode: synth.SynFlood, Flood: c.syns})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var peak uint64
			var evicted int
			for b.Loop() {
				res, ev, p := adversarial(b, data, c.maxFlows, c.syns/10)
				if ev != res.Summary.Evicted || res.Summary.Flows != c.syns {
					b.Fatalf("%d flows evicted, summary says %d, of %d", ev, res.Summary.Evicted, res.Summary.Flows)
				}
				peak, evicted = max(peak, p), ev
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.syns), "ns/SYN")
			b.ReportMetric(mib(peak), "peak-heap-MiB")
			b.ReportMetric(float64(peak)/float64(min(c.maxFlows, c.syns)), "peak-bytes/max-flow")
			b.ReportMetric(float64(evicted), "evicted")
		})
	}
}

// BenchmarkFinStorm sends 10,000 and 100,000 FINs on one flow: time per
// FIN stays flat and the heap does not grow with the storm.
func BenchmarkFinStorm(b *testing.B) {
	for _, storm := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("fins=%d", storm), func(b *testing.B) {
			data := benchData(b, synth.Config{Seed: 6, Mode: synth.FinStorm, Storm: storm})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				_, _, p := adversarial(b, data, 0, storm/10)
				peak = max(peak, p)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*storm), "ns/FIN")
			b.ReportMetric(float64(peak)/1024, "peak-heap-KiB")
		})
	}
}
