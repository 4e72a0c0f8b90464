package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// The reference loops are what a Go program that knows gopacket writes
// first: they set the floor (read) and a plain analyser's cost (dlp).

// bufSize is the read buffer of the reference loops: as large as the
// capture reader's, so that both make the same system calls.
const bufSize = 512 << 10

// pcapngMagic starts a pcapng file (its section header block type).
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// refLoop reads every record of the capture with pcapgo's
// ZeroCopyReadPacketData, passing each to each when it is set, and
// returns the number of records.
func refLoop(name string, each func(data []byte)) (uint64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, bufSize)
	magic, err := br.Peek(4)
	if err != nil {
		return 0, err
	}
	var next func() ([]byte, gopacket.CaptureInfo, error)
	if bytes.Equal(magic, pcapngMagic) {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return 0, err
		}
		next = r.ZeroCopyReadPacketData
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return 0, err
		}
		next = r.ZeroCopyReadPacketData
	}
	var n uint64
	for {
		data, _, err := next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
		if each != nil {
			each(data)
		}
	}
}

func readStage(name string, _ io.Writer, _ bool) (uint64, error) { return refLoop(name, nil) }

// flowKey is a 4-tuple, lower endpoint first.
type flowKey struct{ a, b netip.AddrPort }

// flowStat is what the dlp loop keeps per flow.
type flowStat struct {
	packets, bytes uint64
	fins, rsts     uint32
}

// dlpStage decodes every record with a DecodingLayerParser and counts
// packets, payload bytes, FINs and RSTs per 4-tuple in a Go map.
func dlpStage(name string, _ io.Writer, _ bool) (uint64, error) {
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp)
	parser.IgnoreUnsupported = true
	m := make(map[flowKey]*flowStat)
	n, err := refLoop(name, func(data []byte) {
		_ = parser.DecodeLayers(data, &decoded)
		var src, dst netip.Addr
		var plen int
		for _, t := range decoded {
			switch t {
			case layers.LayerTypeIPv4:
				src, _ = netip.AddrFromSlice(ip4.SrcIP)
				dst, _ = netip.AddrFromSlice(ip4.DstIP)
				plen = int(ip4.Length) - int(ip4.IHL)*4
			case layers.LayerTypeIPv6:
				src, _ = netip.AddrFromSlice(ip6.SrcIP)
				dst, _ = netip.AddrFromSlice(ip6.DstIP)
				plen = int(ip6.Length)
			case layers.LayerTypeTCP:
				a := netip.AddrPortFrom(src, uint16(tcp.SrcPort))
				b := netip.AddrPortFrom(dst, uint16(tcp.DstPort))
				if b.Compare(a) < 0 {
					a, b = b, a
				}
				st := m[flowKey{a, b}]
				if st == nil {
					st = new(flowStat)
					m[flowKey{a, b}] = st
				}
				st.packets++
				st.bytes += uint64(max(plen-int(tcp.DataOffset)*4, 0))
				if tcp.FIN {
					st.fins++
				}
				if tcp.RST {
					st.rsts++
				}
			}
		}
	})
	if err == nil && len(m) == 0 && n > 0 {
		err = errors.New("no TCP flow decoded")
	}
	return n, err
}
