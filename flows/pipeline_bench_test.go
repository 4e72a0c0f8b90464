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
// Decode adds the capture reader's decoding; Table adds the flow table;
// Full is decode, table, close engine and JSONL output to io.Discard.
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
	for {
		s, err := r.Next()
		if err != nil {
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
	b.Run("Full", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var packets uint64
		var peak uint64
		for b.Loop() {
			r := openBench(b, data)
			out := report.NewJSONL(io.Discard)
			src := &sampling{src: r, every: 100_000, peak: &peak}
			res, err := analyze.Run(src, analyze.Options{Emit: out.Flow})
			if err != nil {
				b.Fatal(err)
			}
			if err := out.Summary(res); err != nil {
				b.Fatal(err)
			}
			packets += r.Info().Packets
		}
		perPacket(b, packets)
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	})
}

// sampling passes segments through and samples the heap in use every
// `every` segments.
type sampling struct {
	src   flows.Source
	n     int
	every int
	peak  *uint64
}

func (s *sampling) Next() (flows.Segment, error) {
	s.n++
	if s.n%s.every == 0 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		*s.peak = max(*s.peak, m.HeapInuse)
	}
	return s.src.Next()
}

// BenchmarkTableMemory measures what the flow table holds per live
// connection: the live heap (after a collection) against the number of
// connections in the table, sampled through the benchmark capture.
func BenchmarkTableMemory(b *testing.B) {
	data := loadBenchCapture(b)
	for b.Loop() {
		r := openBench(b, data)
		var base runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&base)
		t := flows.NewTable(flows.TableOptions{})
		var perFlow float64
		var peakLive int
		for n := 1; ; n++ {
			s, err := r.Next()
			if err != nil {
				break
			}
			if err := t.Add(&s); err != nil {
				b.Fatal(err)
			}
			if n%200_000 == 0 {
				var m runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m)
				st := t.Stats()
				if st.Live > peakLive {
					peakLive = st.Live
					perFlow = float64(m.HeapAlloc-base.HeapAlloc) / float64(st.Live+st.Remembered)
				}
			}
		}
		b.ReportMetric(perFlow, "bytes/live-flow")
		b.ReportMetric(float64(peakLive), "live-flows")
		runtime.KeepAlive(t)
	}
}
