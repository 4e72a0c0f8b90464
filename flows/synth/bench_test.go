package synth_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/teardown/teardown/flows/synth"
)

// benchGenerate generates cfg b.N times into io.Discard and reports
// packets per second of generation.
func benchGenerate(b *testing.B, cfg synth.Config) {
	b.ReportAllocs()
	var packets int
	for b.Loop() {
		tr, err := synth.Generate(io.Discard, cfg)
		if err != nil {
			b.Fatal(err)
		}
		packets += tr.Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
}

// BenchmarkGenerateInMemory writes into a bytes.Buffer, as benchmarks of
// the analyzer do before they measure.
func BenchmarkGenerateInMemory(b *testing.B) {
	var buf bytes.Buffer
	cfg := synth.Config{Seed: 1, Packets: 1_000_000, Concurrency: 20000}
	b.ReportAllocs()
	var packets int
	for b.Loop() {
		buf.Reset()
		tr, err := synth.Generate(&buf, cfg)
		if err != nil {
			b.Fatal(err)
		}
		packets += tr.Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(buf.Len())/float64(packets)*float64(b.N), "bytes/packet")
}

func BenchmarkGenerate(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  synth.Config
	}{
		{"pcap/1M", synth.Config{Seed: 1, Packets: 1_000_000, Concurrency: 20000}},
		{"pcapng/1M", synth.Config{Seed: 1, Packets: 1_000_000, Concurrency: 20000, Format: synth.PCAPNG}},
		{"pcap/1M/full-frames", synth.Config{Seed: 1, Packets: 1_000_000, Concurrency: 20000, Snaplen: 65535}},
		{"synflood/1M", synth.Config{Seed: 1, Mode: synth.SynFlood}},
		{"finstorm/100k", synth.Config{Seed: 1, Mode: synth.FinStorm}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchGenerate(b, tc.cfg) })
	}
}
