package filter_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/filter"
	"github.com/teardown/teardown/flows/testenv"
)

// frame is one packet of a capture: its bytes, and the TCP segment the
// capture reader decodes from it (nil when there is none).
type frame struct {
	data []byte
	seg  *flows.Segment
}

// readFrames reads every packet of a pcap or pcapng file: the bytes with
// pcapgo (to recognise the packets tcpdump writes back), the segments with
// package capture, as teardown decodes them.
func readFrames(tb testing.TB, path string) []frame {
	tb.Helper()
	frames := rawFrames(tb, path)
	r, err := capture.Open([]string{path}, capture.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	for {
		s, err := r.Next()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			tb.Fatal(err)
		}
		if s.Frame < 1 || s.Frame > uint64(len(frames)) {
			tb.Fatalf("%s: segment in frame %d of %d", path, s.Frame, len(frames))
		}
		if s.ICMP != nil {
			// An ICMP error is matched on the TCP header it quotes,
			// which tcpdump's "tcp" does not look into.
			continue
		}
		frames[s.Frame-1].seg = &s
	}
}

func rawFrames(tb testing.TB, path string) []frame {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	var read func() ([]byte, gopacket.CaptureInfo, error)
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		read = r.ReadPacketData
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		read = r.ReadPacketData
	}
	var frames []frame
	for {
		data, _, err := read()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return frames
		}
		if err != nil {
			tb.Fatalf("%s: frame %d: %v", path, len(frames)+1, err)
		}
		frames = append(frames, frame{data: data})
	}
}

// ipFragment reports whether an Ethernet frame holds an IP fragment: an
// IPv4 datagram with more fragments or an offset, or an IPv6 one whose
// fragment header is not atomic. tcpdump filters each fragment on its own
// (its "port" only the first, which holds the ports), teardown the
// segment it reassembles at the fragment that completes it: the
// comparison leaves them out.
func ipFragment(data []byte) bool {
	if len(data) < 58 {
		return false
	}
	switch binary.BigEndian.Uint16(data[12:]) {
	case 0x0800:
		return binary.BigEndian.Uint16(data[20:])&0x3fff != 0
	case 0x86dd:
		return data[20] == 44 && binary.BigEndian.Uint16(data[56:])&0xfff9 != 0
	}
	return false
}

// ours returns the 0-based indices of the frames whose TCP segment f
// matches, but for IP fragments (ipFragment).
func ours(frames []frame, f *filter.Filter) []int {
	var idx []int
	for i, fr := range frames {
		if fr.seg != nil && !ipFragment(fr.data) && f.Match(fr.seg) {
			idx = append(idx, i)
		}
	}
	return idx
}

func needTcpdump(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		tb.Skip("tcpdump not installed")
	}
}

// tcpdumpMatches runs tcpdump with expr over path and returns the 0-based
// indices (into frames, read from the same file) of the packets it passes.
// When tcpdump refuses the expression, it returns its message instead.
func tcpdumpMatches(tb testing.TB, path string, frames []frame, expr string) ([]int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -O: without the optimizer, an expression that can match nothing is
	// not an error.
	cmd := exec.CommandContext(ctx, "tcpdump", "-O", "-nn", "-r", path, "-w", "-", expr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, msg
	}
	r, err := pcapgo.NewReader(&stdout)
	if err != nil {
		tb.Fatalf("tcpdump %q on %s: reading its output: %v", expr, path, err)
	}
	// tcpdump writes the passing packets unchanged and in order: walk the
	// input alongside. Identical packets get identical verdicts, so taking
	// the next equal one is exact.
	var idx []int
	next := 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return idx, ""
		}
		if err != nil {
			tb.Fatalf("tcpdump %q on %s: reading its output: %v", expr, path, err)
		}
		for next < len(frames) && !bytes.Equal(frames[next].data, data) {
			next++
		}
		if next == len(frames) {
			tb.Fatalf("tcpdump %q on %s: a packet it wrote is not in the input", expr, path)
		}
		idx = append(idx, next)
		next++
	}
}

// diffFrames describes how two sorted lists of frame indices differ, with
// 1-based frame numbers as Wireshark shows them.
func diffFrames(want, got []int) string {
	var only, extra []string
	w, g := map[int]bool{}, map[int]bool{}
	for _, i := range want {
		w[i] = true
	}
	for _, i := range got {
		g[i] = true
		if !w[i] {
			extra = append(extra, strconv.Itoa(i+1))
		}
	}
	for _, i := range want {
		if !g[i] {
			only = append(only, strconv.Itoa(i+1))
		}
	}
	clip := func(s []string) string {
		if len(s) > 10 {
			s = append(s[:10:10], "...")
		}
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("tcpdump only: [%s]; filter only: [%s]", clip(only), clip(extra))
}

// differentialExprs mix every construct of the subset, with addresses and
// ports of the captures in differentialCaptures.
var differentialExprs = []string{
	"",
	"host 192.168.10.10",
	"host 192.168.10.10 or 192.168.10.30",
	"src host 192.168.10.31 and dst port 445",
	"net 192.168.0.0/16",
	"dst net 192.168.10.0 mask 255.255.255.0",
	"net 172.16",
	"src net 10 or dst net 127",
	"host 192.168",
	"host 0x7f000001",
	"port 22 or 80 or 443",
	"port ssh or http or https or ldap",
	"port 0x50 or 0156", // 80 or 110
	"portrange 8000-9100",
	"src portrange 49280-49284 and not dst port 139",
	"tcp dst port 5432 or 389",
	"ip6",
	"ip and not port 80",
	"host 2001:470:4867:99::21",
	"src net 2001:470:1f11::/48 and dst portrange 57000-58000",
	"ip6 net 2600:1f13:f8:d400::/64 or 2001:4860:4860::8888",
	"not (port 445 or port 139) and host 192.168.10.31",
	"port 139 or port 445 and host 192.168.10.30", // (139 or 445) and host
	"! port 22 && (net 192.168.0.0/24 || 88.198.248.254)",
	"src and dst net 127.0.0.0/8",
	"src or dst host 127.0.0.1 and port 20000",
	"not not ip",
	"host 10.0.0.1 and port 3268 or host 1.1.1.1",
	"dst port 8080 or src port 12345",
	"not host 10.10.10.31 and 172.16.238.10",
	"port 110 and (54775 or 54776)",
	"tcp and (port 6667 or 5432)",
	"ip6 net ::/0 or net 0.0.0.0/1",
	"src port 1984 or (dst host 172.16.238.11 and dst portrange 1000-2000)",
	"host 192.168.10.31 and not (dst host 192.168.10.10 or 192.168.10.30)",
	"dst portrange http-https and src net 192.168.0.0/24",
}

// labExprs are added to differentialExprs when the lab's captures are
// compared too: they use the lab's addresses and server port (its client
// ports vary from one run of the lab to the next).
var labExprs = []string{
	"src net 198.51.100.0/24 and dst port 8080",
	"net 2001:db8::/32 and not src port 8080",
	"dst host 198.51.100.10 or 2001:db8:1::10", // repetition across families
	"ip6 and src portrange 8081-65535 or dst port 8080 and ip",
}

// differentialCaptures are corpus captures of every framing: Ethernet IPv4
// and IPv6, Linux SLL, BSD loopback, raw IPv4, raw IP, pcapng and
// VLAN-tagged. tcpdump does not look inside a VLAN tag unless the filter
// starts with "vlan", so captures where every packet carries one tag are
// compared with "vlan and" in front of tcpdump's expression (captures that
// mix tagged and untagged packets cannot be compared this way).
var differentialCaptures = []struct{ file, tcpdumpPrefix string }{
	{"zeek/tcp__ssh-dups.pcap", ""},
	{"suricata-verify/smb2-07__20171220_smb_psexec_add_user.pcap", ""},
	{"zeek/ftp__ipv6.pcap", ""},
	{"suricata-verify/community-id-ipv6__input.pcap", ""},
	{"suricata-verify/dnp3__dnp3-eve__input.pcap", ""},
	{"zeek/http__concurrent-range-requests.pcap", ""},
	{"suricata-verify/output-multi-eve__input.pcap", ""},
	{"zeek/tls__irc-starttls.pcap", ""},
	{"zeek/tls__pop3-starttls.pcap", ""},
	{"zeek/tcp-syslog.pcap", ""},
	{"suricata-verify/pgsql__pgsql-cancel-request__input.pcap", ""},
	{"zeek/ldap__missing_krbtgt_ldap_request.pcapng", ""},
	{"zeek/ldap__simpleauth.pcap", "vlan and "},
	{"suricata-verify/bug-3844__input.pcap", "vlan and "},
}

type captureFile struct {
	path, tcpdumpPrefix string
	// decap is how many bytes of outer headers (a tunnel's) tcpdump,
	// which filters on those, is given each frame without.
	decap int
}

// vxlanOuter is the length of the outer headers of the lab's VXLAN
// frames: Ethernet, IPv4, UDP and VXLAN.
const vxlanOuter = 14 + 20 + 8 + 8

// createPcap creates the pcap file path, of Ethernet frames, and writes
// its header.
func createPcap(tb testing.TB, path string) (*os.File, *pcapgo.Writer) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	return f, w
}

// decapsulated writes frames, each without its first n bytes, to a pcap
// file of its own, and returns the file and those frames.
func decapsulated(tb testing.TB, frames []frame, n int) (string, []frame) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "decapsulated.pcap")
	f, w := createPcap(tb, path)
	defer f.Close()
	inner := make([]frame, len(frames))
	for i, fr := range frames {
		if len(fr.data) < n {
			tb.Fatalf("frame %d: %d bytes, shorter than the %d of its tunnel's headers", i+1, len(fr.data), n)
		}
		inner[i] = frame{data: fr.data[n:], seg: fr.seg}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(inner[i].data), Length: len(inner[i].data)}
		if err := w.WritePacket(ci, inner[i].data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path, inner
}

// labCaptures are the lab's own captures, when there are any, with the
// framing their truth file states.
func labCaptures(tb testing.TB) []captureFile {
	var caps []captureFile
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		paths, _ := filepath.Glob(filepath.Join(testenv.Lab(tb), pat))
		for _, p := range paths {
			c := captureFile{path: p}
			var truth struct{ Framing string }
			if b, err := os.ReadFile(strings.TrimSuffix(p, filepath.Ext(p)) + ".truth.json"); err == nil {
				if json.Unmarshal(b, &truth) == nil {
					switch truth.Framing {
					case "vlan":
						c.tcpdumpPrefix = "vlan and "
					case "vxlan":
						c.decap = vxlanOuter
					}
				}
			}
			caps = append(caps, c)
		}
	}
	return caps
}

// TestTcpdumpDifferential runs each expression through tcpdump and through
// Match over the same captures and compares the packets each selects,
// frame by frame. With -short it leaves out the lab's captures.
func TestTcpdumpDifferential(t *testing.T) {
	needTcpdump(t)
	corpus := testenv.Corpus(t)
	var caps []captureFile
	exprs := differentialExprs
	if !testing.Short() {
		caps = labCaptures(t)
	}
	if len(caps) > 0 {
		exprs = append(slices.Clip(exprs), labExprs...)
	}
	for _, c := range differentialCaptures {
		caps = append(caps, captureFile{path: filepath.Join(corpus, c.file), tcpdumpPrefix: c.tcpdumpPrefix})
	}
	matched := make([]int, len(exprs)) // over all captures
	rejected := make([]int, len(exprs))
	total := 0
	for _, c := range caps {
		name := filepath.Base(c.path)
		frames := readFrames(t, c.path)
		tcp := 0
		for _, fr := range frames {
			if fr.seg != nil && !ipFragment(fr.data) {
				tcp++
			}
		}
		total += tcp
		tdPath, tdFrames := c.path, frames
		if c.decap > 0 {
			tdPath, tdFrames = decapsulated(t, frames, c.decap)
		}
		var counts []string
		for i, expr := range exprs {
			f, err := filter.Parse(expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", expr, err)
			}
			tdExpr := c.tcpdumpPrefix + "tcp"
			if expr != "" {
				tdExpr += " and (" + expr + ")"
			}
			want, msg := tcpdumpMatches(t, tdPath, tdFrames, tdExpr)
			if msg != "" {
				t.Fatalf("%s: tcpdump refuses %q: %s", name, tdExpr, msg)
			}
			want = slices.DeleteFunc(want, func(i int) bool { return ipFragment(frames[i].data) })
			got := ours(frames, f)
			if !slices.Equal(want, got) {
				t.Errorf("%s: %q: tcpdump passes %d packets, the filter %d: %s",
					name, expr, len(want), len(got), diffFrames(want, got))
			}
			matched[i] += len(got)
			rejected[i] += tcp - len(got)
			counts = append(counts, strconv.Itoa(len(want)))
		}
		t.Logf("%-60s %4d TCP packets; per expression: %s", name, tcp, strings.Join(counts, " "))
	}
	// Each expression must tell packets apart somewhere, or the comparison
	// above proves little about it.
	for i, expr := range exprs {
		if expr == "" {
			if matched[i] != total {
				t.Errorf("the empty expression matched %d of %d TCP packets", matched[i], total)
			}
			continue
		}
		if matched[i] == 0 || rejected[i] == 0 {
			t.Errorf("%q matched %d and refused %d packets over all captures: it does not discriminate",
				expr, matched[i], rejected[i])
		}
	}
}

// writeSynthetic writes a capture of TCP segments between a spread of IPv4
// and IPv6 addresses and ports chosen around the edges of the networks and
// ranges the random expressions use.
func writeSynthetic(tb testing.TB, path string) {
	tb.Helper()
	v4 := []string{"10.0.0.1", "10.0.0.2", "10.1.2.3", "10.255.0.9", "11.0.0.1", "192.168.1.1",
		"192.168.200.7", "172.16.5.4", "0.0.0.10", "127.0.0.1"}
	v6 := []string{"2001:db8::1", "2001:db8:1::2", "2001:db8:0:0:8000::1", "fe80::1", "::1",
		"::ffff:10.0.0.1", "2001:4860:4860::8888"}
	ports := []uint16{0, 20, 21, 22, 53, 80, 443, 1023, 1024, 8000, 8080, 8100, 49152, 65535}
	f, w := createPcap(tb, path)
	defer f.Close()
	n := 0
	for round := range 2 {
		for _, fam := range [][]string{v4, v6} {
			for i, a := range fam {
				for j, b := range fam {
					if i == j {
						continue
					}
					sp := ports[(i*3+j+round*5)%len(ports)]
					dp := ports[(i+j*5+round*7)%len(ports)]
					writeSegment(tb, w, netip.MustParseAddr(a), netip.MustParseAddr(b), sp, dp, n)
					n++
				}
			}
		}
	}
}

func writeSegment(tb testing.TB, w *pcapgo.Writer, src, dst netip.Addr, sp, dp uint16, n int) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: uint32(n), ACK: true, Window: 512}
	var ip gopacket.SerializableLayer
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp); err != nil {
		tb.Fatal(err)
	}
	data := buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(n)*1000), CaptureLength: len(data), Length: len(data)}
	if err := w.WritePacket(ci, data); err != nil {
		tb.Fatal(err)
	}
}

// exprGen writes random expressions from tcpdump's grammar, mostly valid,
// with qualifier repetition, nested negation and parenthesized lists of
// ids, and with mistakes (qualifiers that do not fit their value) mixed in.
// It tracks the kind of value (host, net, port, portrange) a bare id after
// and/or inherits, so that most repetitions are meaningful.
type exprGen struct{ r *rand.Rand }

func (g *exprGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

// expr writes an expr; kind is the inherited value kind, "" for none.
func (g *exprGen) expr(depth int, kind string) (string, string) {
	s, kind := g.term(depth, kind)
	for range g.r.IntN(4) {
		s += g.pick(" and ", " or ", " && ", " || ")
		if g.r.IntN(3) == 0 {
			s += g.id(depth, kind)
		} else {
			var t string
			t, kind = g.term(depth, kind)
			s += t
		}
	}
	return s, kind
}

func (g *exprGen) term(depth int, kind string) (string, string) {
	switch g.r.IntN(12) {
	case 0:
		t, k := g.term(depth, kind)
		return g.pick("not ", "! ", "!") + t, k
	case 1, 2:
		if depth < 3 {
			t, _ := g.expr(depth+1, kind)
			return "(" + t + ")", kind // a group leaves the qualifiers before it
		}
	case 3:
		return g.pick("tcp", "ip", "ip6"), ""
	}
	proto := ""
	if g.r.IntN(6) == 0 {
		proto = g.pick("ip ", "ip6 ", "tcp ")
	}
	dir := ""
	if g.r.IntN(2) == 0 {
		dir = g.pick("src ", "dst ", "src or dst ", "src and dst ", "dst or src ", "dst and src ")
	}
	aqual := g.pick("host ", "net ", "port ", "portrange ")
	if dir != "" && g.r.IntN(4) == 0 {
		aqual = ""
	}
	kind = strings.TrimSpace(aqual)
	if kind == "" {
		kind = "host"
	}
	return proto + dir + aqual + g.id(depth, kind), kind
}

// id writes a value for the qualifier kind ("" for any), sometimes negated,
// sometimes a parenthesized list.
func (g *exprGen) id(depth int, kind string) string {
	switch g.r.IntN(16) {
	case 0:
		return "not " + g.id(depth, kind)
	case 1:
		if depth < 3 {
			s := "(" + g.id(depth+1, kind)
			for range 1 + g.r.IntN(2) {
				s += g.pick(" and ", " or ") + g.id(depth+1, kind)
			}
			return s + ")"
		}
	case 2:
		return "(" + g.pick("80", "443", "(22)") + ")"
	}
	if kind == "" || g.r.IntN(10) == 0 {
		kind = g.pick("host", "net", "port", "portrange")
	}
	switch kind {
	case "host":
		return g.pick("10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.1", "172.16.5.4", "127.0.0.1",
			"10.0", "192.168", "10", "167772161", "2001:db8::1", "::1", "fe80::1", "::ffff:10.0.0.1",
			"2001:db8::/32")
	case "net":
		return g.pick("10.0.0.0/8", "10.0.0.0/16", "192.168.0.0/16", "10.0", "10", "172.16.5", "11",
			"10.0.0.0 mask 255.0.0.0", "192.168.0.0 mask 255.255.0.0", "10.0.0.0 mask 255.0.255.0",
			"0.0.0.0/0", "2001:db8::/32", "2001:db8::/33", "2001:db8:0:0:8000::/65", "fe80::/10",
			"::/0", "::ffff:0:0/96", "10.0.0.1/8", "127.0.0.1")
	case "port":
		return g.pick("22", "80", "443", "8080", "0", "65535", "0x50", "010", "http", "https", "ssh",
			"domain", "ftp", "ftp-data")
	}
	return g.pick("8000-8100", "0-1023", "1024-65535", "80-80", "443-80", "http-https", "20-ftp",
		"80", "53")
}

var (
	randomCount = flag.Int("tcpdump.random", 400, "how many random expressions TestTcpdumpRandom compares with tcpdump (60 with -short)")
	randomSeed  = flag.Uint64("tcpdump.seed", 1, "seed of TestTcpdumpRandom's expressions")
)

// TestTcpdumpRandom compares random expressions with tcpdump: both must
// accept or both refuse, and when they accept they must pass the same
// packets of a synthetic capture.
func TestTcpdumpRandom(t *testing.T) {
	needTcpdump(t)
	n := *randomCount
	if testing.Short() {
		n = min(n, 60)
	}
	path := filepath.Join(t.TempDir(), "synthetic.pcap")
	writeSynthetic(t, path)
	frames := readFrames(t, path)
	all, msg := tcpdumpMatches(t, path, frames, "")
	if msg != "" || len(all) != len(frames) || len(ours(frames, &filter.Filter{})) != len(frames) {
		t.Fatalf("synthetic capture: tcpdump passes %d and the filter %d of %d packets (%s)",
			len(all), len(ours(frames, &filter.Filter{})), len(frames), msg)
	}
	g := &exprGen{rand.New(rand.NewPCG(*randomSeed, 2))}
	accepted, discriminating := 0, 0
	for range n {
		expr, _ := g.expr(0, "")
		f, err := filter.Parse(expr)
		want, msg := tcpdumpMatches(t, path, frames, expr)
		switch {
		case err != nil && msg == "":
			t.Errorf("%q: the filter refuses it (%v) but tcpdump accepts it", expr, err)
		case err == nil && msg != "":
			t.Errorf("%q: tcpdump refuses it (%s) but the filter reads it as %q", expr, msg, f.String())
		case err == nil:
			accepted++
			got := ours(frames, f)
			if !slices.Equal(want, got) {
				t.Errorf("%q (read as %q): %s", expr, f.String(), diffFrames(want, got))
			}
			if len(got) > 0 && len(got) < len(frames) {
				discriminating++
			}
		}
	}
	t.Logf("seed %d, %d random expressions: %d accepted by both (%d selecting some but not all of %d packets), %d refused by both",
		*randomSeed, n, accepted, discriminating, len(frames), n-accepted)
	if accepted < n/4 || discriminating < accepted/2 {
		t.Errorf("the generator is too weak: %d of %d accepted, %d discriminating", accepted, n, discriminating)
	}
}

// TestServicesAgreeWithTcpdump checks that each port name means what
// tcpdump makes of it on this machine: "tcp port NAME" compiles to the
// same program as "tcp port NUMBER".
func TestServicesAgreeWithTcpdump(t *testing.T) {
	needTcpdump(t)
	path := filepath.Join(t.TempDir(), "one.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	f.Close()
	compile := func(expr string) string {
		out, err := exec.Command("tcpdump", "-O", "-d", "-r", path, expr).Output()
		if err != nil {
			return "error"
		}
		return string(out)
	}
	unknown := 0
	for _, name := range filter.ServiceNames() {
		flt, err := filter.Parse("port " + name)
		if err != nil {
			t.Fatal(err)
		}
		num := strings.TrimPrefix(flt.String(), "port ")
		byName := compile("tcp port " + name)
		if byName == "error" {
			unknown++ // not in this machine's /etc/services
			t.Logf("tcpdump does not know port %s here", name)
			continue
		}
		if byName != compile("tcp port "+num) {
			t.Errorf("port %s: the filter reads %s, tcpdump something else", name, num)
		}
	}
	if unknown == len(filter.ServiceNames()) {
		t.Skip("tcpdump knows none of the port names here (no /etc/services?)")
	}
}

// TestTcpdumpAgreesOnTables runs the hand-written tables through tcpdump:
// every accepted expression, and its canonical form, must pass the same
// packets of the synthetic capture in tcpdump as in the filter, and every
// refused one must be refused by tcpdump too unless it is marked as
// outside the subset, in which case tcpdump must accept it.
func TestTcpdumpAgreesOnTables(t *testing.T) {
	needTcpdump(t)
	path := filepath.Join(t.TempDir(), "synthetic.pcap")
	writeSynthetic(t, path)
	frames := readFrames(t, path)
	for _, tt := range accepted {
		f, err := filter.Parse(tt.expr)
		if err != nil {
			continue // reported by TestParseAccepts
		}
		got := ours(frames, f)
		for _, expr := range []string{tt.expr, f.String()} {
			want, msg := tcpdumpMatches(t, path, frames, expr)
			if msg != "" {
				t.Errorf("%q: tcpdump refuses it: %s", expr, msg)
			} else if !slices.Equal(want, got) {
				t.Errorf("%q (read as %q): %s", expr, f.String(), diffFrames(want, got))
			}
		}
	}
	for _, tt := range rejected {
		_, msg := tcpdumpMatches(t, path, frames, tt.expr)
		switch tt.tcpdump {
		case "":
			if msg == "" {
				t.Errorf("%q: tcpdump accepts it, the filter does not", tt.expr)
			}
		case "outside":
			if msg != "" {
				t.Errorf("%q is marked as tcpdump syntax outside the subset, but tcpdump refuses it: %s", tt.expr, msg)
			}
		}
	}
}
