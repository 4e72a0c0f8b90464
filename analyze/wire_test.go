package analyze

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// wire builds literal segment sequences for tests: a client and a server
// that keep their own sequence numbers, so a test states only flags,
// payload and timing and overrides an acknowledgement when it matters.
type wire struct {
	t      *testing.T
	addr   [2]netip.AddrPort
	nxt    [2]uint32
	isn    [2]uint32
	now    int64
	segs   []flows.Segment
	after  []([2]uint32) // each side's nxt after each frame
	ipid   [2]uint16
	noTS   bool
	lastTS uint32
}

const (
	cli = flows.FromClient
	srv = flows.FromServer
)

func newWire(t *testing.T) *wire {
	w := &wire{t: t, now: 1_700_000_000e9}
	w.addr = [2]netip.AddrPort{
		netip.MustParseAddrPort("198.51.100.10:40000"),
		netip.MustParseAddrPort("198.51.100.80:8080"),
	}
	w.isn = [2]uint32{1000, 900000}
	w.nxt = w.isn
	w.ipid = [2]uint16{100, 5000}
	return w
}

// opt adjusts a segment before it is filed.
type opt func(w *wire, s *flows.Segment)

// gap advances the clock by d seconds before the segment (default 1 ms).
func gap(d float64) opt {
	return func(w *wire, s *flows.Segment) { w.now += int64(d*1e9) - 1e6; s.Time = w.now }
}

// acking sets the acknowledgement to cover the peer's segments up to and
// including frame n.
func acking(n int) opt {
	return func(w *wire, s *flows.Segment) {
		peer := srv
		if s.Src == w.addr[srv] {
			peer = cli
		}
		s.Ack = w.after[n-1][peer]
	}
}

// ackNum sets the acknowledgement number.
func ackNum(a uint32) opt { return func(_ *wire, s *flows.Segment) { s.Ack = a } }

// seqNum sets the sequence number; the sender's own numbering ignores
// the segment.
func seqNum(q uint32) opt { return func(_ *wire, s *flows.Segment) { s.Seq = q } }

// ipid sets the IPv4 ID.
func ipid(n uint16) opt { return func(_ *wire, s *flows.Segment) { s.IPID = n } }

// ttl sets the IPv4 TTL (64 otherwise).
func ttl(n uint8) opt { return func(_ *wire, s *flows.Segment) { s.TTL = n } }

// replyRST makes a RST look like the kernel's reply path: IPv4 ID 0, DF,
// no TS option.
var replyRST opt = func(w *wire, s *flows.Segment) {
	s.IPID, s.DF = 0, true
	s.HasTS, s.TSval, s.TSecr = false, 0, 0
}

// send files one segment from side dir with the given tcpdump-style flags
// ("S", "S.", ".", "P.", "F.", "F", "R", "R."), payload length and
// options, and returns its frame number.
func (w *wire) send(dir int, flags string, n uint32, opts ...opt) int {
	var f flows.Flags
	for _, c := range flags {
		switch c {
		case 'S':
			f |= flows.SYN
		case 'F':
			f |= flows.FIN
		case 'R':
			f |= flows.RST
		case 'P':
			f |= flows.PSH
		case '.':
			f |= flows.ACK
		default:
			w.t.Fatalf("bad flags %q", flags)
		}
	}
	w.now += 1e6
	w.ipid[dir]++
	w.lastTS++
	s := flows.Segment{
		Frame: uint64(len(w.segs) + 1), Time: w.now,
		Src: w.addr[dir], Dst: w.addr[1-dir],
		Seq: w.nxt[dir], Flags: f, Window: 64240, PayloadLen: n,
		HasTS: !w.noTS, TSval: w.lastTS, IPID: w.ipid[dir], DF: true, TTL: 64, WScale: -1,
	}
	if f&flows.ACK != 0 {
		s.Ack = w.nxt[1-dir]
	}
	if f&flows.SYN != 0 {
		s.Seq = w.isn[dir]
		s.MSS, s.WScale, s.SACKPerm = 1460, 7, true
	}
	seq := s.Seq
	for _, o := range opts {
		o(w, &s)
	}
	if f&flows.RST == 0 && s.Seq == seq {
		if e := s.End(); flows.SeqLess(w.nxt[dir], e) {
			w.nxt[dir] = e
		}
	}
	w.segs = append(w.segs, s)
	w.after = append(w.after, w.nxt)
	return int(s.Frame)
}

// again retransmits frame n (same seq, ack, flags, payload) after d
// seconds.
func (w *wire) again(n int, d float64) int {
	s := w.segs[n-1]
	w.now += int64(d * 1e9)
	w.ipid[w.dirOf(&s)]++
	s.Frame, s.Time, s.IPID = uint64(len(w.segs)+1), w.now, w.ipid[w.dirOf(&s)]
	w.segs = append(w.segs, s)
	w.after = append(w.after, w.nxt)
	return int(s.Frame)
}

func (w *wire) dirOf(s *flows.Segment) int {
	if s.Src == w.addr[cli] {
		return cli
	}
	return srv
}

// wireOf files a handshake and an exchange unless bare, then what build
// files.
func wireOf(t *testing.T, bare bool, build func(w *wire)) *wire {
	w := newWire(t)
	if !bare {
		w.handshake()
		w.exchange()
	}
	build(w)
	return w
}

// handshake files SYN, SYN-ACK, ACK.
func (w *wire) handshake() {
	w.send(cli, "S", 0)
	w.send(srv, "S.", 0)
	w.send(cli, ".", 0)
}

// exchange files a request and its response.
func (w *wire) exchange() {
	w.send(cli, "P.", 100)
	w.send(srv, "P.", 300)
	w.send(cli, ".", 0)
}

// fourWay closes the connection: side first sends FIN with finFlags ("F."
// or a bare "F"), the peer ACKs it, sends its own FIN, and first ACKs that.
// It returns the FIN sequence numbers of client and server.
func (w *wire) fourWay(first int, finFlags string) (clientFIN, serverFIN uint32) {
	var fin [2]uint32
	fin[first] = w.nxt[first]
	w.send(first, finFlags, 0)
	w.send(1-first, ".", 0)
	fin[1-first] = w.nxt[1-first]
	w.send(1-first, "F.", 0)
	w.send(first, ".", 0)
	return fin[cli], fin[srv]
}

// newIncarnation starts the next connection on the same 4-tuple with the
// given ISNs.
func (w *wire) newIncarnation(clientISN, serverISN uint32) {
	w.isn = [2]uint32{clientISN, serverISN}
	w.nxt = w.isn
}

// sliceSource yields literal segments.
type sliceSource struct {
	segs []flows.Segment
	i    int
}

func (s *sliceSource) Next() (flows.Segment, error) {
	if s.i >= len(s.segs) {
		return flows.Segment{}, io.EOF
	}
	s.i++
	return s.segs[s.i-1], nil
}

// run analyses the wire's segments.
func (w *wire) run() *Result {
	w.t.Helper()
	res, err := Run(&sliceSource{segs: w.segs}, Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

// flow analyses the wire and returns its only flow.
func (w *wire) flow() *Flow {
	w.t.Helper()
	res := w.run()
	if len(res.Flows) != 1 {
		w.t.Fatalf("got %d flows, want 1", len(res.Flows))
	}
	return res.Flows[0]
}

// states renders a side's sequence compactly: "SYN_SENT@1 ESTABLISHED@2
// FIN_WAIT1@8 CLOSED@9/rst", "?" marking inferred entries.
func states(s *Side) string {
	var b []string
	for _, e := range s.States {
		x := fmt.Sprintf("%s@%d", e.State, e.Frame)
		if e.Via != "" {
			x += "/" + e.Via
		}
		if e.Inferred {
			x += "?"
		}
		b = append(b, x)
	}
	return strings.Join(b, " ")
}
