package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/teardown/teardown/flows"
)

// tcpSpec describes one TCP segment to build; want is what the reader must
// make of it.
type tcpSpec struct {
	src, dst   netip.AddrPort
	seq, ack   uint32
	flags      flows.Flags
	win        uint16
	payload    int
	mss        uint16
	ws         int8 // -1: no option
	sackPerm   bool
	sack       bool
	ts         bool
	tsval      uint32
	tsecr      uint32
	ttl        uint8
	ipid       uint16
	df         bool
	ipv4Opts   []layers.IPv4Option
	extensions []byte // raw IPv6 extension headers between the IPv6 header and TCP
	extNext    layers.IPProtocol
}

// segOpts lets cmp compare segments (netip values have unexported fields),
// and an empty list with none.
// segOpts compares segments, not the key a Prefetcher caches in them.
var segOpts = cmp.Options{cmpopts.EquateComparable(netip.AddrPort{}, netip.Addr{}), cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(flows.Segment{})}

var (
	cli4 = netip.MustParseAddrPort("198.51.100.1:39602")
	srv4 = netip.MustParseAddrPort("203.0.113.7:8080")
	cli6 = netip.MustParseAddrPort("[2001:db8::1]:40000")
	srv6 = netip.MustParseAddrPort("[2001:db8::2]:443")
)

// basic returns a data segment from cli4 to srv4 with a timestamp option.
func basic() tcpSpec {
	return tcpSpec{
		src: cli4, dst: srv4, seq: 1000, ack: 2000, flags: flows.PSH | flows.ACK,
		win: 502, payload: 37, ws: -1, ts: true, tsval: 111, tsecr: 222,
		ttl: 64, ipid: 0x1234, df: true,
	}
}

// syn returns a SYN with every option teardown reads.
func syn() tcpSpec {
	s := basic()
	s.flags, s.payload, s.ack = flows.SYN, 0, 0
	s.mss, s.ws, s.sackPerm = 1460, 7, true
	return s
}

func (s tcpSpec) want(frame uint64, t int64) flows.Segment {
	w := flows.Segment{
		Frame: frame, Time: t, Src: s.src, Dst: s.dst, Seq: s.seq, Ack: s.ack,
		Flags: s.flags, Window: s.win, PayloadLen: uint32(s.payload),
		HasTS: s.ts, WScale: -1, SACK: s.sack, TTL: s.ttl,
	}
	if s.ts {
		w.TSval, w.TSecr = s.tsval, s.tsecr
	}
	if s.flags.Has(flows.SYN) {
		w.MSS, w.SACKPerm = s.mss, s.sackPerm
		if s.ws >= 0 {
			w.WScale = min(s.ws, 14)
		}
		w.SYNOptions = s.layout()
	}
	if s.src.Addr().Is4() {
		w.IPID, w.DF = s.ipid, s.df
	} else {
		w.IPv6 = true
	}
	return w
}

// layout is the option layout net writes for s: its options in order,
// then an end of options when the header needs padding.
func (s tcpSpec) layout() flows.Options {
	var l flows.Options
	n, size := 0, 0
	add := func(bytes int, codes ...flows.Options) {
		for _, c := range codes {
			l |= c << (4 * n)
			n++
		}
		size += bytes
	}
	if s.mss != 0 {
		add(4, flows.OptMSS)
	}
	if s.sackPerm {
		add(2, flows.OptSOK)
	}
	if s.ts {
		add(10, flows.OptTS)
	}
	if s.ws >= 0 {
		add(4, flows.OptNOP, flows.OptWS)
	}
	if s.sack {
		add(12, flows.OptNOP, flows.OptNOP, flows.OptSACK)
	}
	if size%4 != 0 {
		add(0, flows.OptEOL)
	}
	return l
}

// net returns the IP, TCP and payload layers of s.
func (s tcpSpec) net() []gopacket.SerializableLayer {
	t := &layers.TCP{
		SrcPort: layers.TCPPort(s.src.Port()), DstPort: layers.TCPPort(s.dst.Port()),
		Seq: s.seq, Ack: s.ack, Window: s.win,
		FIN: s.flags.Has(flows.FIN), SYN: s.flags.Has(flows.SYN), RST: s.flags.Has(flows.RST),
		PSH: s.flags.Has(flows.PSH), ACK: s.flags.Has(flows.ACK), URG: s.flags.Has(flows.URG),
		ECE: s.flags.Has(flows.ECE), CWR: s.flags.Has(flows.CWR),
	}
	if s.mss != 0 {
		t.Options = append(t.Options, layers.TCPOption{OptionType: 2, OptionData: binary.BigEndian.AppendUint16(nil, s.mss)})
	}
	if s.sackPerm {
		t.Options = append(t.Options, layers.TCPOption{OptionType: 4})
	}
	if s.ts {
		d := binary.BigEndian.AppendUint32(nil, s.tsval)
		t.Options = append(t.Options, layers.TCPOption{OptionType: 8, OptionData: binary.BigEndian.AppendUint32(d, s.tsecr)})
	}
	if s.ws >= 0 {
		t.Options = append(t.Options, layers.TCPOption{OptionType: 1}, layers.TCPOption{OptionType: 3, OptionData: []byte{byte(s.ws)}})
	}
	if s.sack {
		t.Options = append(t.Options, layers.TCPOption{OptionType: 1}, layers.TCPOption{OptionType: 1},
			layers.TCPOption{OptionType: 5, OptionData: make([]byte, 8)})
	}
	payload := gopacket.Payload(bytes.Repeat([]byte{'x'}, s.payload))
	if s.src.Addr().Is4() {
		ip := &layers.IPv4{
			Version: 4, TTL: s.ttl, Id: s.ipid, Protocol: layers.IPProtocolTCP,
			SrcIP: s.src.Addr().AsSlice(), DstIP: s.dst.Addr().AsSlice(), Options: s.ipv4Opts,
		}
		if s.df {
			ip.Flags = layers.IPv4DontFragment
		}
		_ = t.SetNetworkLayerForChecksum(ip)
		return []gopacket.SerializableLayer{ip, t, payload}
	}
	ip := &layers.IPv6{
		Version: 6, HopLimit: s.ttl, NextHeader: layers.IPProtocolTCP,
		SrcIP: s.src.Addr().AsSlice(), DstIP: s.dst.Addr().AsSlice(),
	}
	_ = t.SetNetworkLayerForChecksum(ip)
	if s.extensions != nil {
		ip.NextHeader = s.extNext
		return []gopacket.SerializableLayer{ip, gopacket.Payload(s.extensions), t, payload}
	}
	return []gopacket.SerializableLayer{ip, t, payload}
}

// serialize builds a packet from layers, fixing lengths and checksums.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// ethFrame builds an Ethernet frame around s.
func ethFrame(tb testing.TB, s tcpSpec) []byte {
	tb.Helper()
	et := layers.EthernetTypeIPv4
	if !s.src.Addr().Is4() {
		et = layers.EthernetTypeIPv6
	}
	return serialize(tb, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}}, s.net()...)...)
}

// ipPacket builds the bare IP datagram of s.
func ipPacket(tb testing.TB, s tcpSpec) []byte {
	tb.Helper()
	return serialize(tb, s.net()...)
}

// etherTypeOf returns the EtherType of s's IP version.
func etherTypeOf(s tcpSpec) uint16 {
	if s.src.Addr().Is4() {
		return etIPv4
	}
	return etIPv6
}

// sll2Header builds the 20-byte LINUX_SLL2 header for an EtherType.
func sll2Header(et uint16) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], et)
	binary.BigEndian.PutUint32(h[4:], 3) // interface index
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 4                            // PACKET_OUTGOING
	h[11] = 6                            // address length
	copy(h[12:], macA)                   // address
	return h
}

// sllHeader builds the 16-byte LINUX_SLL header for an EtherType.
func sllHeader(et uint16) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // PACKET_HOST
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:], et)
	return h
}

// rec is one record to write: its time, bytes, original length (0: the
// length of data) and pcapng interface.
type rec struct {
	ts    int64
	data  []byte
	wire  int
	iface int
}

func (r rec) ci() gopacket.CaptureInfo {
	wire := r.wire
	if wire == 0 {
		wire = len(r.data)
	}
	return gopacket.CaptureInfo{
		Timestamp: time.Unix(0, r.ts), CaptureLength: len(r.data), Length: wire, InterfaceIndex: r.iface,
	}
}

// pcapFile writes records with pcapgo's classic writer. gopacket's
// LinkType is 8 bits wide, so link types above 255 (LINUX_SLL2 is 276)
// are written as 0 and patched into the header afterwards.
func pcapFile(tb testing.TB, lt uint32, nano bool, recs ...rec) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nano {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkType(lt&0xff)); err != nil {
		tb.Fatal(err)
	}
	for _, r := range recs {
		if err := w.WritePacket(r.ci(), r.data); err != nil {
			tb.Fatal(err)
		}
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b[20:], lt) // pcapgo writes little-endian
	return b
}

// ngFile writes records with pcapgo's pcapng writer; interfaces are the
// link types of the interfaces, in order, patched in afterwards as in
// pcapFile.
func ngFile(tb testing.TB, interfaces []uint32, recs ...rec) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkType(interfaces[0] & 0xff), SnapLength: 262144}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		tb.Fatal(err)
	}
	for _, lt := range interfaces[1:] {
		if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkType(lt & 0xff), SnapLength: 262144}); err != nil {
			tb.Fatal(err)
		}
	}
	for _, r := range recs {
		if err := w.WritePacket(r.ci(), r.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	for off, k := 0, 0; off+12 <= len(b); {
		typ, ln := binary.LittleEndian.Uint32(b[off:]), int(binary.LittleEndian.Uint32(b[off+4:]))
		if typ == blkIDB {
			binary.LittleEndian.PutUint16(b[off+8:], uint16(interfaces[k]))
			k++
		}
		off += ln
	}
	return b
}

// pcapBuilder writes classic pcap by hand, for what pcapgo cannot write:
// big-endian files, bad records, other magic numbers.
type pcapBuilder struct {
	order binary.AppendByteOrder
	b     []byte
	kuz   bool
}

func newPcap(order binary.AppendByteOrder, magic, snaplen, lt uint32) *pcapBuilder {
	p := &pcapBuilder{order: order, kuz: magic == pcapKuznetzov}
	p.b = order.AppendUint32(p.b, magic)
	p.b = order.AppendUint16(p.b, 2)
	p.b = order.AppendUint16(p.b, 4)
	p.b = append(p.b, make([]byte, 8)...)
	p.b = order.AppendUint32(p.b, snaplen)
	p.b = order.AppendUint32(p.b, lt)
	return p
}

// rec appends a record with the given header fields and bytes.
func (p *pcapBuilder) rec(sec, frac, caplen, wire uint32, data []byte) *pcapBuilder {
	for _, v := range []uint32{sec, frac, caplen, wire} {
		p.b = p.order.AppendUint32(p.b, v)
	}
	if p.kuz {
		p.b = append(p.b, make([]byte, 8)...)
	}
	p.b = append(p.b, data...)
	return p
}

// ngBuilder writes pcapng blocks by hand.
type ngBuilder struct {
	order binary.AppendByteOrder
	b     []byte
}

// ngOpt is a pcapng option.
type ngOpt struct {
	code uint16
	val  []byte
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// block appends a block with the given type and body (padded to 4 bytes).
func (n *ngBuilder) block(typ uint32, body []byte) *ngBuilder {
	body = pad4(body)
	ln := uint32(12 + len(body))
	n.b = n.order.AppendUint32(n.b, typ)
	n.b = n.order.AppendUint32(n.b, ln)
	n.b = append(n.b, body...)
	n.b = n.order.AppendUint32(n.b, ln)
	return n
}

func (n *ngBuilder) opts(body []byte, opts []ngOpt) []byte {
	if len(opts) == 0 {
		return body
	}
	for _, o := range opts {
		body = n.order.AppendUint16(body, o.code)
		body = n.order.AppendUint16(body, uint16(len(o.val)))
		body = pad4(append(body, o.val...))
	}
	return append(body, 0, 0, 0, 0) // opt_endofopt
}

// shb appends a section header block (which also sets the section's
// byte order to the builder's).
func (n *ngBuilder) shb() *ngBuilder {
	var body []byte
	body = n.order.AppendUint32(body, ngBOM)
	body = n.order.AppendUint16(body, 1)
	body = n.order.AppendUint16(body, 0)
	body = n.order.AppendUint64(body, ^uint64(0))
	return n.block(blkSHB, body)
}

func (n *ngBuilder) idb(lt uint16, snaplen uint32, opts ...ngOpt) *ngBuilder {
	var body []byte
	body = n.order.AppendUint16(body, lt)
	body = n.order.AppendUint16(body, 0)
	body = n.order.AppendUint32(body, snaplen)
	return n.block(blkIDB, n.opts(body, opts))
}

func (n *ngBuilder) epb(ifid uint32, ts uint64, data []byte, wire uint32, opts ...ngOpt) *ngBuilder {
	var body []byte
	body = n.order.AppendUint32(body, ifid)
	body = n.order.AppendUint32(body, uint32(ts>>32))
	body = n.order.AppendUint32(body, uint32(ts))
	body = n.order.AppendUint32(body, uint32(len(data)))
	body = n.order.AppendUint32(body, wire)
	return n.block(blkEPB, n.opts(pad4(append(body, data...)), opts))
}

func (n *ngBuilder) pb(ifid uint16, ts uint64, data []byte, wire uint32) *ngBuilder {
	var body []byte
	body = n.order.AppendUint16(body, ifid)
	body = n.order.AppendUint16(body, 0) // drops
	body = n.order.AppendUint32(body, uint32(ts>>32))
	body = n.order.AppendUint32(body, uint32(ts))
	body = n.order.AppendUint32(body, uint32(len(data)))
	body = n.order.AppendUint32(body, wire)
	return n.block(blkPB, append(body, data...))
}

func (n *ngBuilder) spb(data []byte, wire uint32) *ngBuilder {
	body := n.order.AppendUint32(nil, wire)
	return n.block(blkSPB, append(body, data...))
}

func u8opt(code uint16, v uint8) ngOpt { return ngOpt{code, []byte{v}} }

// readAll opens the named inputs and reads them to the end. It fails the
// test on an error other than io.EOF.
func readAll(tb testing.TB, names []string, opts Options) ([]flows.Segment, Info) {
	tb.Helper()
	r, err := Open(names, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	defer r.Close()
	segs, err := drain(r)
	if err != io.EOF {
		tb.Fatalf("Next: %v", err)
	}
	info := r.Info()
	checkCounts(tb, info)
	return segs, info
}

// readBytes reads one capture held in memory, as standard input. It
// also reads it from a file, and fails the test unless both reads agree.
func readBytes(tb testing.TB, data []byte) ([]flows.Segment, Info) {
	tb.Helper()
	segs, info := readAll(tb, []string{"-"}, Options{Stdin: bytes.NewReader(data)})
	fsegs, finfo := readAll(tb, []string{tempFile(tb, data)}, Options{})
	if diff := cmp.Diff(segs, fsegs, segOpts); diff != "" {
		tb.Errorf("segments read from a file differ from those read from standard input (-stdin +file):\n%s", diff)
	}
	if diff := cmp.Diff(info, asStdin(finfo)); diff != "" {
		tb.Errorf("Info reading a file differs from reading standard input (-stdin +file):\n%s", diff)
	}
	return segs, info
}

// tempFile writes data to a new file and returns its name.
func tempFile(tb testing.TB, data []byte) string {
	tb.Helper()
	name := filepath.Join(tb.TempDir(), "capture")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return name
}

// asStdin rewrites the Info of one file read by name as reading it from
// standard input would have.
func asStdin(info Info) Info {
	name := info.Files[0]
	info.Files = []string{"-"}
	for i, w := range info.Warnings {
		info.Warnings[i] = strings.ReplaceAll(w, name, "stdin")
	}
	return info
}

// drain reads segments until an error, which it returns.
func drain(r *Reader) ([]flows.Segment, error) {
	var segs []flows.Segment
	for {
		s, err := r.Next()
		if err != nil {
			return segs, err
		}
		segs = append(segs, s)
	}
}

// checkCounts asserts that every record read is counted exactly once.
func checkCounts(tb testing.TB, i Info) {
	tb.Helper()
	if sum := i.TCPPackets + i.ICMPErrors + i.NonTCP + i.Malformed + i.Fragments; sum != i.Packets {
		tb.Errorf("counts: %d TCP + %d ICMP errors + %d non-TCP + %d malformed + %d fragments = %d, want Packets %d",
			i.TCPPackets, i.ICMPErrors, i.NonTCP, i.Malformed, i.Fragments, sum, i.Packets)
	}
}

// errReader returns data, then err.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

var errDisk = errors.New("input/output error")
