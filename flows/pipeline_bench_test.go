package flows_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/google/gopacket/pcapgo"
	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/report"
)

// The pipeline benchmarks run on one generated capture of about a million
// packets with some 20,000 connections open at once and the default mix
// of closes (four-way, three-way, simultaneous, half-closes, FIN
// retransmissions, CLOSE_WAIT leaks, resets, rejections, TIME_WAIT
// reuse), held in memory so that the disk does not enter the numbers.
//
//	go test ./flows -run '^$' -bench Pipeline -benchtime 3x
//
// Read is the bare pcapgo read loop every other line is measured against;
// Decode adds the capture reader's decoding; Prefetch is Decode with the
// decoding on a goroutine of its own (flows.Prefetch); Table adds the flow
// table; Analyze adds the close engine (the state machines, the rules and
// the summary), the flows thrown away; Full is decode, table, close engine
// and JSONL output to io.Discard, and FullPrefetch the same prefetched, as
// the teardown command runs it. With -cpu 1 nothing is prefetched and the
// flows are built on the analysing goroutine.
var benchCapture = sync.OnceValues(func() ([]byte, error) {
	var buf bytes.Buffer
	_, err := synth.Generate(&buf, synth.Config{Seed: 1, Packets: 1_000_000, Concurrency: 20000})
	return buf.Bytes(), err
})

func loadBenchCapture(b *testing.B) []byte {
	b.Helper()
	data, err := benchCapture()
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func openBench(b *testing.B, data []byte) *capture.Reader {
	b.Helper()
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// drain reads every segment of the capture into add and returns the
// number of packets read.
func drain(b *testing.B, data []byte, add func(*flows.Segment) error) uint64 {
	r := openBench(b, data)
	var s flows.Segment // escapes to add once, not once a packet
	for {
		var err error
		if s, err = r.Next(); err != nil {
			break
		}
		if err := add(&s); err != nil {
			b.Fatal(err)
		}
	}
	return r.Info().Packets
}

// perPacket reports ns/packet and packets/s over the benchmark's loop.
func perPacket(b *testing.B, packets uint64) {
	ns := float64(b.Elapsed().Nanoseconds())
	b.ReportMetric(ns/float64(packets), "ns/packet")
	b.ReportMetric(float64(packets)/(ns/1e9), "packets/s")
}

func BenchmarkPipeline(b *testing.B) {
	data := loadBenchCapture(b)
	b.Run("Read", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		for b.Loop() {
			r, err := pcapgo.NewReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			for {
				_, _, err := r.ZeroCopyReadPacketData()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						b.Fatal(err)
					}
					break
				}
				packets++
			}
		}
		perPacket(b, packets)
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		for b.Loop() {
			packets += drain(b, data, func(*flows.Segment) error { return nil })
		}
		perPacket(b, packets)
	})
	b.Run("Prefetch", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		for b.Loop() {
			r := openBench(b, data)
			p := flows.Prefetch(r)
			for {
				if _, err := p.Next(); err != nil {
					break
				}
			}
			packets += r.Info().Packets
		}
		perPacket(b, packets)
	})
	b.Run("Table", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		for b.Loop() {
			t := flows.NewTable(flows.TableOptions{})
			packets += drain(b, data, t.Add)
			if err := t.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		perPacket(b, packets)
	})
	b.Run("Analyze", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		for b.Loop() {
			r := openBench(b, data)
			if _, err := analyze.Run(r, analyze.Options{Emit: func(*analyze.Flow) error { return nil }, Recycle: true}); err != nil {
				b.Fatal(err)
			}
			packets += r.Info().Packets
		}
		perPacket(b, packets)
	})
	b.Run("Full", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		for b.Loop() {
			packets += runFull(b, data, nil)
		}
		perPacket(b, packets)
	})
	b.Run("FullPrefetch", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		for b.Loop() {
			packets += runFull(b, data, func(src flows.Source) flows.Source { return flows.Prefetch(src) })
		}
		perPacket(b, packets)
	})
}

// runFull runs decode, table, close engine and JSONL output to io.Discard
// on the capture; src, when set, wraps the capture reader.
func runFull(b *testing.B, data []byte, wrap func(flows.Source) flows.Source) uint64 {
	r := openBench(b, data)
	var src flows.Source = r
	if wrap != nil {
		src = wrap(r)
	}
	out := report.NewJSONL(io.Discard)
	res, err := analyze.Run(src, analyze.Options{Emit: out.Flow, Recycle: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := out.Summary(res); err != nil {
		b.Fatal(err)
	}
	return r.Info().Packets
}

// sampling passes segments through and, every `every` segments, collects
// garbage and records the live heap above base, and what probe says.
type sampling struct {
	src   flows.Source
	n     int
	every int
	base  uint64
	peak  uint64
	probe func() int
	atMax int
}

func (s *sampling) Next() (flows.Segment, error) {
	s.n++
	if s.n%s.every == 0 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		if live := m.HeapAlloc - min(m.HeapAlloc, s.base); live > s.peak {
			s.peak = live
			if s.probe != nil {
				s.atMax = s.probe()
			}
		}
	}
	return s.src.Next()
}

// BenchmarkMemory measures the live heap (after a collection, above what
// was live before the run: the capture itself) at its peak through the
// benchmark capture. Table reports it per connection in the table (live
// and remembered); Full is the whole pipeline streaming JSONL.
func BenchmarkMemory(b *testing.B) {
	data := loadBenchCapture(b)
	baseline := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	b.Run("Table", func(b *testing.B) {
		for b.Loop() {
			t := flows.NewTable(flows.TableOptions{})
			s := &sampling{every: 200_000, base: baseline(), probe: func() int { st := t.Stats(); return st.Live + st.Remembered }}
			r := openBench(b, data)
			s.src = r
			for {
				seg, err := s.Next()
				if err != nil {
					break
				}
				if err := t.Add(&seg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.peak)/float64(s.atMax), "bytes/flow-in-table")
			b.ReportMetric(float64(s.atMax), "flows-in-table")
			b.ReportMetric(float64(t.Stats().PeakLive), "peak-live-flows")
			b.ReportMetric(float64(s.peak)/(1<<20), "live-heap-MiB")
		}
	})
	b.Run("Full", func(b *testing.B) {
		for b.Loop() {
			s := &sampling{every: 200_000, base: baseline()}
			runFull(b, data, func(src flows.Source) flows.Source { s.src = src; return s })
			b.ReportMetric(float64(s.peak)/(1<<20), "live-heap-MiB")
		}
	})
}
