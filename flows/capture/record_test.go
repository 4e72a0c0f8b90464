package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// TestRecord: the record behind each segment is the file's own, as
// pcapgo reads it — bytes, wire length, time, link type — for a classic
// pcap, a pcapng (dumpcap's) and a Linux cooked capture.
func TestRecord(t *testing.T) {
	for _, name := range []string{
		filepath.Join("..", "..", "testdata", "lab", "fin-retransmitted-ack-lost.pcap"),
		filepath.Join("..", "..", "testdata", "lab", "close-wait-long.pcapng"),
		filepath.Join("testdata", "sll2-loopback.pcap"),
	} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			type rec struct {
				lt   uint32
				ts   int64
				data []byte
				wire int
			}
			var want []rec
			b, err := os.ReadFile(name)
			if err != nil {
				t.Skip(err)
			}
			// pcapgo's link types are 8 bits wide (SLL2 is 276): a pcap's
			// is read from its header.
			var r interface {
				ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
			}
			lt := func(gopacket.CaptureInfo) uint32 { return binary.LittleEndian.Uint32(b[20:]) & 0xffff }
			if filepath.Ext(name) == ".pcapng" {
				ng, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
				if err != nil {
					t.Fatal(err)
				}
				r = ng
				lt = func(ci gopacket.CaptureInfo) uint32 {
					intf, _ := ng.Interface(ci.InterfaceIndex)
					return uint32(intf.LinkType)
				}
			} else if r, err = pcapgo.NewReader(bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			for {
				data, ci, err := r.ReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				want = append(want, rec{lt(ci), ci.Timestamp.UnixNano(), data, ci.Length})
			}
			rd, err := Open([]string{name}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			n := 0
			for {
				s, err := rd.Next()
				if err != nil {
					break
				}
				n++
				w := want[s.Frame-1]
				lt, ts, data, wire := rd.Record()
				if lt != w.lt || ts != w.ts || wire != w.wire || !bytes.Equal(data, w.data) {
					t.Errorf("frame %d: record (%d, %d, %d bytes, wire %d), want (%d, %d, %d bytes, wire %d)",
						s.Frame, lt, ts, len(data), wire, w.lt, w.ts, len(w.data), w.wire)
				}
			}
			if n == 0 {
				t.Fatal("no segments")
			}
		})
	}
}
