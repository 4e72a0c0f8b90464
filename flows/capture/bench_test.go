package capture

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/teardown/teardown/flows"
)

// genSnaplen cuts generated data segments the way a headers-only capture
// (tcpdump -s 128) does.
const genSnaplen = 128

// genCapture generates n TCP segments of varied shape with gopacket's
// serializer and writes them as nanosecond pcap, or pcapng when ng is set:
// handshakes with options, data segments cut by snaplen, ACKs, FINs, IPv6
// behind an 802.1Q tag, on 256 connections.
func genCapture(tb testing.TB, n int, ng bool) []byte {
	tb.Helper()
	var out bytes.Buffer
	out.Grow(n * (16 + genSnaplen))
	var write func(ci gopacket.CaptureInfo, data []byte) error
	var flush func() error
	if ng {
		w, err := pcapgo.NewNgWriter(&out, layers.LinkTypeEthernet)
		if err != nil {
			tb.Fatal(err)
		}
		write, flush = w.WritePacket, w.Flush
	} else {
		w := pcapgo.NewWriterNanos(&out)
		if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
			tb.Fatal(err)
		}
		write, flush = w.WritePacket, func() error { return nil }
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	payload := make([]byte, 1448)
	for i := range n {
		conn := uint16(i % 256)
		s := basic()
		s.src = netip.AddrPortFrom(cli4.Addr(), 30000+conn)
		s.seq, s.ack, s.ipid = uint32(i*1448), uint32(i*7), uint16(i)
		var link []gopacket.SerializableLayer
		switch i % 8 {
		case 0:
			s = syn()
			s.src = netip.AddrPortFrom(cli4.Addr(), 30000+conn)
		case 1:
			s = syn()
			s.src, s.dst, s.flags = srv4, netip.AddrPortFrom(cli4.Addr(), 30000+conn), flows.SYN|flows.ACK
		case 2, 3, 4:
			s.payload = len(payload)
		case 5:
			s.flags, s.payload = flows.ACK, 0
		case 6:
			s.src, s.dst, s.payload = netip.AddrPortFrom(cli6.Addr(), 30000+conn), srv6, 512
			link = []gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv6}}
		case 7:
			s.flags, s.payload = flows.FIN|flows.ACK, 0
		}
		if link == nil {
			et := layers.EthernetTypeIPv4
			if !s.src.Addr().Is4() {
				et = layers.EthernetTypeIPv6
			}
			link = []gopacket.SerializableLayer{eth(et)}
		}
		ls := append(link, s.net()...)
		ls[len(ls)-1] = gopacket.Payload(payload[:s.payload])
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			tb.Fatal(err)
		}
		frame := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, base+int64(i)*10_000), CaptureLength: min(len(frame), genSnaplen), Length: len(frame)}
		if err := write(ci, frame[:ci.CaptureLength]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := flush(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

var bench struct {
	once sync.Once
	data []byte
}

// benchPackets is the size of the benchmark capture.
const benchPackets = 1 << 20

// BenchmarkRead measures decoding throughput, one packet per op, on a
// generated capture of 2^20 packets held in memory, beside a bare pcapgo
// ZeroCopyReadPacketData loop and pcapgo with gopacket's
// DecodingLayerParser over the same bytes.
func BenchmarkRead(b *testing.B) {
	bench.once.Do(func() { bench.data = genCapture(b, benchPackets, false) })
	data := bench.data
	perPacket := int64(len(data)) / benchPackets

	b.Run("pcapgo-zerocopy", func(b *testing.B) {
		b.SetBytes(perPacket)
		b.ReportAllocs()
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		sum := 0
		for i := 0; i < b.N; i++ {
			d, _, err := r.ZeroCopyReadPacketData()
			if err == io.EOF {
				r, _ = pcapgo.NewReader(bytes.NewReader(data))
				i--
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			sum += len(d)
		}
		sink = sum
	})

	b.Run("capture", func(b *testing.B) {
		b.SetBytes(perPacket)
		b.ReportAllocs()
		r, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			b.Fatal(err)
		}
		sum := uint32(0)
		for i := 0; i < b.N; i++ {
			s, err := r.Next()
			if err == io.EOF {
				r, _ = Open([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
				i--
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			sum += s.PayloadLen
		}
		sink = int(sum)
	})

	// The record reader alone, without decoding: against the bare pcapgo
	// loop it shows what reading in place from a large buffer saves.
	b.Run("records", func(b *testing.B) {
		b.SetBytes(perPacket)
		b.ReportAllocs()
		var f *file
		open := func() {
			r, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
			if err != nil {
				b.Fatal(err)
			}
			f = r.files[0]
		}
		open()
		sum := 0
		for i := 0; i < b.N; i++ {
			if err := f.advance(); err != nil {
				b.Fatal(err)
			}
			if f.ended() {
				open()
				i--
				continue
			}
			sum += len(f.head.data)
		}
		sink = sum
	})

	b.Run("pcapgo-dlp", func(b *testing.B) {
		b.SetBytes(perPacket)
		b.ReportAllocs()
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		d := newDLP()
		sum := uint32(0)
		for i := 0; i < b.N; i++ {
			pkt, _, err := r.ZeroCopyReadPacketData()
			if err == io.EOF {
				r, _ = pcapgo.NewReader(bytes.NewReader(data))
				i--
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			var s flows.Segment
			d.decode(pkt, &s)
			sum += s.PayloadLen
		}
		sink = int(sum)
	})
}

var sink int

// BenchmarkRatio reads the benchmark capture with the bare pcapgo loop and
// with this package alternately, 2^16 packets at a time, so that both see
// the same load on a shared machine, and reports the nanoseconds per
// packet of each and their ratio. An op is one pass over the capture by
// each.
func BenchmarkRatio(b *testing.B) {
	bench.once.Do(func() { bench.data = genCapture(b, benchPackets, false) })
	data := bench.data
	const chunk = 1 << 16
	var bare, ours time.Duration
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for range b.N {
		pr, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		cr, err := Open([]string{"-"}, Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			b.Fatal(err)
		}
		sum := 0
		for done := 0; done < benchPackets; done += chunk {
			t0 := time.Now()
			for range chunk {
				d, _, err := pr.ZeroCopyReadPacketData()
				if err != nil {
					b.Fatal(err)
				}
				sum += len(d)
			}
			t1 := time.Now()
			for range chunk {
				s, err := cr.Next()
				if err != nil {
					b.Fatal(err)
				}
				sum += int(s.PayloadLen)
			}
			t2 := time.Now()
			bare += t1.Sub(t0)
			ours += t2.Sub(t1)
		}
		sink = sum
	}
	n := float64(b.N) * benchPackets
	b.ReportMetric(float64(bare.Nanoseconds())/n, "pcapgo-ns/pkt")
	b.ReportMetric(float64(ours.Nanoseconds())/n, "capture-ns/pkt")
	b.ReportMetric(float64(ours)/float64(bare), "capture/pcapgo")
}

// dlp decodes with gopacket's DecodingLayerParser, the alternative to the
// hand-written decoder, for comparison in BenchmarkRead.
type dlp struct {
	parser  *gopacket.DecodingLayerParser
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	decoded []gopacket.LayerType
}

func newDLP() *dlp {
	d := &dlp{}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.eth, &d.dot1q, &d.ip4, &d.ip6, &d.tcp)
	d.parser.IgnoreUnsupported = true
	return d
}

func (d *dlp) decode(pkt []byte, s *flows.Segment) {
	_ = d.parser.DecodeLayers(pkt, &d.decoded)
	var src, dst netip.Addr
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			src, dst = netip.AddrFrom4([4]byte(d.ip4.SrcIP)), netip.AddrFrom4([4]byte(d.ip4.DstIP))
			s.PayloadLen = uint32(d.ip4.Length) - uint32(d.ip4.IHL)*4
			s.IPID, s.TTL, s.DF = d.ip4.Id, d.ip4.TTL, d.ip4.Flags&layers.IPv4DontFragment != 0
		case layers.LayerTypeIPv6:
			src, dst = netip.AddrFrom16([16]byte(d.ip6.SrcIP)), netip.AddrFrom16([16]byte(d.ip6.DstIP))
			s.PayloadLen, s.TTL, s.IPv6 = uint32(d.ip6.Length), d.ip6.HopLimit, true
		case layers.LayerTypeTCP:
			s.Src = netip.AddrPortFrom(src, uint16(d.tcp.SrcPort))
			s.Dst = netip.AddrPortFrom(dst, uint16(d.tcp.DstPort))
			s.Seq, s.Ack, s.Window = d.tcp.Seq, d.tcp.Ack, d.tcp.Window
			s.PayloadLen -= uint32(d.tcp.DataOffset) * 4
			for _, o := range d.tcp.Options {
				if o.OptionType == layers.TCPOptionKindTimestamps && len(o.OptionData) == 8 {
					s.HasTS = true
				}
			}
		}
	}
}

// TestNextAllocatesNothing checks that reading allocates nothing per
// packet once warm, for pcap, pcapng, gzip and a merge of two inputs.
func TestNextAllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	const n = 4096
	pcap := genCapture(t, n, false)
	ng := genCapture(t, n, true)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcapng")
	if err := os.WriteFile(a, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, ng, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		names []string
		stdin []byte
	}{
		{"pcap", []string{"-"}, pcap},
		{"pcapng", []string{"-"}, ng},
		{"gzip", []string{"-"}, gzipped(t, pcap)},
		{"merge", []string{a, b}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.names, Options{Stdin: bytes.NewReader(tt.stdin)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for range 100 {
				if _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(2000, func() {
				if _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per Next, want 0", allocs)
			}
		})
	}
}
