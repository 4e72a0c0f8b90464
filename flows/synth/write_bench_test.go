package synth

import (
	"io"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// BenchmarkRecord compares the hand-written record writer with pcapgo's
// writers on the same 66-byte frame (a pure ACK with timestamps, the most
// common frame in a capture), each into a 1 MiB buffer.
func BenchmarkRecord(b *testing.B) {
	frame := make([]byte, 66)
	const t0 = int64(1_704_067_200_000_000_000)
	for _, f := range []Format{PCAP, PCAPNG} {
		b.Run("hand/"+f.String(), func(b *testing.B) {
			w := newWriter(io.Discard, &Config{Format: f, Snaplen: 96})
			copy(w.frame(), frame)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := w.record(t0+int64(i)*1000, len(frame)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// pcapgo's writers take a CaptureInfo with a time.Time.
	pcapgoLoop := func(b *testing.B, write func(gopacket.CaptureInfo, []byte) error) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, t0+int64(i)*1000), CaptureLength: len(frame), Length: len(frame)}
			if err := write(ci, frame); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("pcapgo/pcap", func(b *testing.B) {
		w := pcapgo.NewWriter(newDiscardBuffer())
		if err := w.WriteFileHeader(96, layers.LinkTypeEthernet); err != nil {
			b.Fatal(err)
		}
		pcapgoLoop(b, w.WritePacket)
	})
	b.Run("pcapgo/pcapng", func(b *testing.B) {
		w, err := pcapgo.NewNgWriter(io.Discard, layers.LinkTypeEthernet)
		if err != nil {
			b.Fatal(err)
		}
		pcapgoLoop(b, w.WritePacket)
	})
}

// newDiscardBuffer is what the hand-written writer writes through: a
// 1 MiB bufio.Writer over io.Discard.
func newDiscardBuffer() io.Writer { return newWriter(io.Discard, &Config{Snaplen: 96}).bw }
