package flows_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
)

// BenchmarkSleep measures putting a finished connection of the benchmark
// capture to sleep and waking it, per connection, with the encoded size.
func BenchmarkSleep(b *testing.B) {
	data := loadBenchCapture(b)
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		b.Fatal(err)
	}
	var conns []*flows.Conn
	tb := flows.NewTable(flows.TableOptions{Finish: func(c *flows.Conn) error {
		if len(conns) < 20000 {
			conns = append(conns, c)
		}
		return nil
	}})
	for {
		s, err := r.Next()
		if err == io.EOF {
			break
		}
		if err := tb.Add(&s); err != nil {
			b.Fatal(err)
		}
	}
	if err := tb.Flush(); err != nil {
		b.Fatal(err)
	}
	var buf []byte
	size := 0
	for _, c := range conns {
		buf = flows.EncodeConn(buf[:0], c)
		size += len(buf)
	}
	b.Run("Encode", func(b *testing.B) {
		i := 0
		for b.Loop() {
			buf = flows.EncodeConn(buf[:0], conns[i%len(conns)])
			i++
		}
		b.ReportMetric(float64(size)/float64(len(conns)), "bytes/conn")
	})
	b.Run("Decode", func(b *testing.B) {
		enc := make([][]byte, len(conns))
		for i, c := range conns {
			enc[i] = flows.EncodeConn(nil, c)
		}
		b.ReportAllocs()
		into := flows.DecodeConn(enc[0], conns[0])
		i := 0
		for b.Loop() {
			flows.DecodeInto(into, enc[i%len(enc)], conns[i%len(conns)])
			i++
		}
	})
}
