package flows

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// tcp builds a literal segment.
func tcp(frame int, t float64, src, dst string, f Flags, seq, ack, n uint32) *Segment {
	return &Segment{
		Frame: uint64(frame), Time: int64(t * 1e9),
		Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst),
		Flags: f, Seq: seq, Ack: ack, PayloadLen: n, Window: 1000, WScale: -1,
	}
}

// finished files segs in a table with default options and returns the
// connections it finished, flushed at the end, and its counters.
func finished(t *testing.T, segs []*Segment) ([]*Conn, TableStats) {
	t.Helper()
	var done []*Conn
	tb := collect(TableOptions{}, &done)
	for _, s := range segs {
		if err := tb.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	return done, tb.Stats()
}

// collect returns a table whose finished connections land in *out.
func collect(opts TableOptions, out *[]*Conn) *Table {
	opts.Finish = func(c *Conn) error { *out = append(*out, c); return nil }
	return NewTable(opts)
}

const (
	cl = "10.0.0.1:40000"
	sv = "10.0.0.2:80"
)

// handshake returns SYN, SYN-ACK and ACK from frame f0 at time t0.
func handshake(f0 int, t0 float64, client string, isn, sisn uint32) []*Segment {
	return []*Segment{
		tcp(f0, t0, client, sv, SYN, isn, 0, 0),
		tcp(f0+1, t0+.001, sv, client, SYN|ACK, sisn, isn+1, 0),
		tcp(f0+2, t0+.002, client, sv, ACK, isn+1, sisn+1, 0),
	}
}

// closeConn files a whole connection from t0: handshake, request,
// four-way close; frames from f0. It returns the next frame number.
func closeConn(t *testing.T, tb *Table, f0 int, t0 float64, client string, isn, sisn uint32) int {
	t.Helper()
	segs := append(handshake(f0, t0, client, isn, sisn),
		tcp(f0+3, t0+.003, client, sv, FIN|ACK, isn+1, sisn+1, 0),
		tcp(f0+4, t0+.004, sv, client, FIN|ACK, sisn+1, isn+2, 0),
		tcp(f0+5, t0+.005, client, sv, ACK, isn+2, sisn+2, 0),
	)
	for _, s := range segs {
		if err := tb.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return f0 + len(segs)
}

func TestKeyIsCanonical(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:40000")
	kab, aIsLow := keyOf(a, b)
	kba, bIsLow := keyOf(b, a)
	if kab != kba || aIsLow == bIsLow {
		t.Error("the two directions of a 4-tuple have different keys, or the same orientation")
	}
	c := netip.MustParseAddrPort("10.0.0.1:40001")
	if kac, _ := keyOf(a, c); kab == kac {
		t.Error("different 4-tuples share a key")
	}
}

// TestKeyOrder checks that a key's lower endpoint is the one with the
// lower address as 16 bytes, then the lower port.
func TestKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addr := func() netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.IntN(3)) // few values: long common prefixes
		}
		if r.IntN(2) == 0 {
			return netip.AddrFrom4([4]byte(b[12:]))
		}
		return netip.AddrFrom16(b)
	}
	for range 20000 {
		src, dst := netip.AddrPortFrom(addr(), uint16(r.IntN(3))), netip.AddrPortFrom(addr(), uint16(r.IntN(3)))
		sa, da := src.Addr().As16(), dst.Addr().As16()
		c := bytes.Compare(sa[:], da[:])
		want := c < 0 || c == 0 && src.Port() <= dst.Port()
		k, srcIsA := keyOf(src, dst)
		if srcIsA != want {
			t.Fatalf("keyOf(%v, %v): source is the lower endpoint %v, want %v", src, dst, srcIsA, want)
		}
		lo, hi := src, dst
		if !want {
			lo, hi = dst, src
		}
		if k.a != lo.Addr().As16() || k.pa != lo.Port() || k.b != hi.Addr().As16() || k.pb != hi.Port() {
			t.Fatalf("keyOf(%v, %v) = %+v", src, dst, k)
		}
	}
}

func TestRolesAndEvidence(t *testing.T) {
	var done []*Conn
	tb := collect(TableOptions{}, &done)
	closeConn(t, tb, 1, 10, cl, 100, 5000)
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 {
		t.Fatalf("%d connections, want 1", len(done))
	}
	c := done[0]
	if c.Client().String() != cl || c.Roles != RolesSYN || !c.HandshakeDone {
		t.Errorf("client %s roles %d handshake done %v", c.Client(), c.Roles, c.HandshakeDone)
	}
	h, p := &c.Dir[FromClient], &c.Dir[FromServer]
	if h.FinSeq != 101 || h.FinFirst.Frame != 4 || h.FinAcked.Frame != 5 || h.FinArrived.Frame != 4 {
		t.Errorf("client FIN seq %d first %d acked %d arrived %d", h.FinSeq, h.FinFirst.Frame, h.FinAcked.Frame, h.FinArrived.Frame)
	}
	if p.FinSeq != 5001 || p.FinAcked.Frame != 6 || p.HandshakeAck.Frame != 2 || h.HandshakeAck.Frame != 3 {
		t.Errorf("server FIN seq %d acked %d; handshake acks %d %d", p.FinSeq, p.FinAcked.Frame, p.HandshakeAck.Frame, h.HandshakeAck.Frame)
	}
	if c.End != EndOfCapture {
		t.Errorf("end reason %d, want EndOfCapture", c.End)
	}
}

func TestIncarnations(t *testing.T) {
	tests := []struct {
		name  string
		segs  []*Segment
		conns int
	}{
		{"retransmitted SYN", []*Segment{
			tcp(1, 0, cl, sv, SYN, 100, 0, 0),
			tcp(2, 1, cl, sv, SYN, 100, 0, 0),
			tcp(3, 1.001, sv, cl, SYN|ACK, 5000, 101, 0),
		}, 1},
		{"reordered original SYN after the handshake", append(handshake(1, 0, cl, 100, 5000),
			tcp(4, .003, cl, sv, SYN, 100, 0, 0),
		), 1},
		{"new ISN on an open connection", append(handshake(1, 0, cl, 100, 5000),
			tcp(4, 5, cl, sv, SYN, 900000, 0, 0),
		), 2},
		{"SYN after a RST on a mid-stream connection", []*Segment{
			tcp(1, 0, cl, sv, ACK|PSH, 100, 5000, 10),
			tcp(2, .001, sv, cl, RST, 5000, 0, 0),
			tcp(3, .5, cl, sv, SYN, 99, 0, 0),
		}, 2},
		{"long idle never splits", append(handshake(1, 0, cl, 100, 5000),
			tcp(4, 3600, cl, sv, ACK|PSH, 101, 5001, 10),
			tcp(5, 7200, sv, cl, ACK, 5001, 111, 0),
		), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var done []*Conn
			tb := collect(TableOptions{}, &done)
			for _, s := range tt.segs {
				if err := tb.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := tb.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(done) != tt.conns {
				t.Fatalf("%d connections, want %d", len(done), tt.conns)
			}
			for i, c := range done {
				if c.Incarnation != c.ID {
					t.Errorf("connection %d: incarnation %d, want %d", c.ID, c.Incarnation, c.ID)
				}
				if i > 0 && (c.Prev == nil || c.Prev.ID != done[i-1].ID) {
					t.Errorf("connection %d does not link to %d", c.ID, done[i-1].ID)
				}
			}
		})
	}
}

// TestLingerAndReuseLink: a closed connection stays for the linger time,
// so a reusing SYN inside it links to it; past the linger it leaves the
// table, and its Prior still links a SYN until Remember runs out.
func TestLingerAndReuseLink(t *testing.T) {
	var done []*Conn
	tb := collect(TableOptions{}, &done)
	f := closeConn(t, tb, 1, 0, cl, 100, 5000)
	f = closeConn(t, tb, f, 1, cl, 100+65538, 7000) // reuse after 1 s
	if len(done) != 1 || done[0].End != EndSuperseded {
		t.Fatalf("after the reusing SYN: %d finished, want the first, superseded", len(done))
	}
	// Another connection 61 s later ends the second's linger.
	f = closeConn(t, tb, f, 62, "10.0.0.1:40001", 1, 1)
	if len(done) != 2 || done[1].End != EndLinger || done[1].EndTime != done[1].Last.Time+DefaultLinger {
		t.Fatalf("linger: %d finished (want 2), last end %d at %d", len(done), done[len(done)-1].End, done[len(done)-1].EndTime)
	}
	if s := tb.Stats(); s.Live != 1 || s.Remembered != 1 {
		t.Errorf("live %d remembered %d, want 1 and 1", s.Live, s.Remembered)
	}
	// A SYN on the first 4-tuple 100 s after its close links to it.
	closeConn(t, tb, f, 101, cl, 424242, 1)
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	last := done[len(done)-1]
	if last.Client().String() != cl || last.Incarnation != 3 || last.Prev == nil || last.Prev.ID != 2 {
		t.Errorf("reuse after the TIME_WAIT expired: incarnation %d prev %+v, want 3 linked to 2", last.Incarnation, last.Prev)
	}
}

// TestMemoryFollowsConcurrency: sequential short connections never pile
// up in the table.
func TestMemoryFollowsConcurrency(t *testing.T) {
	var done []*Conn
	tb := collect(TableOptions{}, &done)
	f := 1
	for i := range 2000 {
		f = closeConn(t, tb, f, float64(i)*10, fmt.Sprintf("10.0.%d.%d:4000", i/250, i%250), 100, 5000)
	}
	s := tb.Stats()
	// A closed connection lingers 60 s and is remembered 120 s more: at
	// one connection per 10 s that is at most 7 live and 13 remembered.
	if s.PeakLive > 7 || s.Remembered > 13 {
		t.Errorf("peak live %d, remembered %d: memory grows with the capture", s.PeakLive, s.Remembered)
	}
	if len(done) < 1990 {
		t.Errorf("only %d of 2000 closed connections left the table", len(done))
	}
}

// TestMaxFlowsCapsMemories: MaxFlows bounds the finished connections
// remembered too. At one connection per 20 s, 3 linger and 6 would be
// remembered; with MaxFlows 5 the oldest are forgotten early, and
// counted: a SYN on a forgotten 4-tuple starts a first incarnation, one
// on a remembered 4-tuple links to its connection.
func TestMaxFlowsCapsMemories(t *testing.T) {
	var done []*Conn
	tb := collect(TableOptions{MaxFlows: 5}, &done)
	f := 1
	for i := range 40 {
		f = closeConn(t, tb, f, float64(i)*20, fmt.Sprintf("10.0.1.%d:4000", i), 100, 5000)
	}
	s := tb.Stats()
	if s.Remembered != 5 || s.Forgotten == 0 || s.Evicted != 0 {
		t.Fatalf("remembered %d, forgotten %d, evicted %d; want 5, some, none", s.Remembered, s.Forgotten, s.Evicted)
	}
	// At 800.5 s connection 37's linger is over, and with it remembered,
	// connection 32 (closed at 640 s, remembered until 820 s) is
	// forgotten: a SYN on its 4-tuple starts afresh, one on connection
	// 34's links to it.
	f = closeConn(t, tb, f, 800.5, "10.0.1.32:4000", 900000, 1)
	closeConn(t, tb, f, 801, "10.0.1.34:4000", 900000, 1)
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, c := range done[len(done)-2:] {
		want := 1
		if c.Client().Addr().String() == "10.0.1.34" {
			want = 2
		}
		if c.Incarnation != want {
			t.Errorf("%s: incarnation %d, want %d", c.Client(), c.Incarnation, want)
		}
	}
}

func TestEvictionTakesTheLongestIdle(t *testing.T) {
	var done []*Conn
	tb := collect(TableOptions{MaxFlows: 2}, &done)
	for i, s := range []*Segment{
		tcp(1, 0, "10.0.0.1:1000", sv, SYN, 1, 0, 0),
		tcp(2, 1, "10.0.0.1:2000", sv, SYN, 1, 0, 0),
		tcp(3, 2, "10.0.0.1:1000", sv, SYN, 1, 0, 0), // retransmission: 1000 is fresher
		tcp(4, 3, "10.0.0.1:3000", sv, SYN, 1, 0, 0), // evicts 2000
	} {
		if err := tb.Add(s); err != nil {
			t.Fatalf("segment %d: %v", i+1, err)
		}
	}
	if len(done) != 1 || done[0].Client().Port() != 2000 || done[0].End != EndEvicted {
		t.Fatalf("evicted %v, want the connection from port 2000", done)
	}
	if s := tb.Stats(); s.Evicted != 1 || s.Live != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestRSTAcceptance(t *testing.T) {
	tests := []struct {
		name string
		rst  *Segment
		want bool
	}{
		{"at rcv_nxt", tcp(4, 1, sv, cl, RST, 5001, 0, 0), true},
		{"one before rcv_nxt", tcp(4, 1, sv, cl, RST, 5000, 0, 0), true},
		{"far out of window", tcp(4, 1, sv, cl, RST, 3_000_000_000, 0, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var done []*Conn
			tb := collect(TableOptions{}, &done)
			for _, s := range append(handshake(1, 0, cl, 100, 5000), tt.rst) {
				if err := tb.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := tb.Flush(); err != nil {
				t.Fatal(err)
			}
			c := done[0]
			if got := c.Dir[FromServer].RSTInWindow == 1; got != tt.want {
				t.Errorf("accepted %v, want %v", got, tt.want)
			}
			ev := c.Events[len(c.Events)-1]
			if got := ev.Why&WhyRSTAccepted != 0; got != tt.want || ev.Why&WhyRST == 0 {
				t.Errorf("event why %b", ev.Why)
			}
		})
	}
}

// TestDuplicateFINIsNotARetransmission: a FIN captured twice within a
// millisecond is one transmission. The table's duplicate filter drops the
// copy, even with the peer's segment between them (the IP ID is the
// same); when the filter has
// lost it (another segment took its slot), the FIN's own check counts it.
func TestDuplicateFINIsNotARetransmission(t *testing.T) {
	for _, forgot := range []bool{false, true} {
		var done []*Conn
		tb := collect(TableOptions{}, &done)
		fin := tcp(1, 0, cl, sv, FIN|ACK, 100, 5000, 0)
		fin.IPID = 5
		ack := tcp(2, 500e-9, sv, cl, ACK, 5000, 100, 0)
		dup := *fin
		dup.Frame, dup.Time = 3, fin.Time+1000
		rtx := *fin
		rtx.Frame, rtx.Time, rtx.IPID = 4, fin.Time+200e6, 7
		for _, s := range []*Segment{fin, ack, &dup, &rtx} {
			if s == &dup && forgot {
				tb.forgetDuplicates()
			}
			if err := tb.Add(s); err != nil {
				t.Fatal(err)
			}
		}
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		h := &done[0].Dir[FromClient]
		wantDup, wantFiltered := 0, 1
		if forgot {
			wantDup, wantFiltered = 1, 0
		}
		if h.FinCount != 2 || h.FinDuplicates != uint32(wantDup) || h.FinLast != markOf(&rtx) || tb.Stats().Duplicates != wantFiltered {
			t.Errorf("filter forgot: %v: FIN count %d, duplicates %d, last %d, filtered %d; want 2, %d, %d, %d",
				forgot, h.FinCount, h.FinDuplicates, h.FinLast.Frame, tb.Stats().Duplicates, wantDup, rtx.Frame, wantFiltered)
		}
	}
}

// TestQuietAndTail checks the longest silence and the latest segment
// that asked for an answer: a request answered 7 s later, the client's
// ACK, 4 s of silence, then three copies of the client's next request
// that the server never answers.
func TestQuietAndTail(t *testing.T) {
	done, _ := finished(t, append(handshake(1, 0, cl, 100, 5000),
		tcp(4, 1, cl, sv, ACK, 101, 5001, 10),
		tcp(5, 8, sv, cl, ACK, 5001, 111, 10),
		tcp(6, 8.5, cl, sv, ACK, 111, 5011, 0),
		tcp(7, 12.5, cl, sv, ACK, 111, 5011, 10),
		tcp(8, 12.75, cl, sv, ACK, 111, 5011, 10),
		tcp(9, 13.25, cl, sv, ACK, 111, 5011, 10),
	))
	c := done[0]
	if q := c.Quiet; q.Gap != 7e9 || q.End.Frame != 5 {
		t.Errorf("longest silence %d ns before frame %d, want 7 s before frame 5", q.Gap, q.End.Frame)
	}
	if q := c.Tail; q.Gap != 4e9 || q.End.Frame != 7 {
		t.Errorf("unanswered from frame %d after %d ns, want frame 7 after 4 s", q.End.Frame, q.Gap)
	}
}

// BenchmarkKey measures keying a segment (canonical 4-tuple and hash),
// which the table does for every segment.
func BenchmarkKey(b *testing.B) {
	var clients []netip.AddrPort
	for i := range 64 {
		clients = append(clients, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), byte(i * 7)}), uint16(40000+i)))
	}
	server := netip.MustParseAddrPort("198.51.100.10:443")
	var sum uint64
	i := 0
	for b.Loop() {
		s := Segment{Src: clients[i&63], Dst: server}
		if i&1 == 0 {
			s.Src, s.Dst = s.Dst, s.Src
		}
		var kd keyed
		kd.set(&s)
		sum += kd.h
		i++
	}
	if sum == 0 {
		b.Fatal("no key hashed")
	}
}

// TestICMPDuplicates: an ICMP error captured twice, as tcpdump -i any
// records one a host forwards (the copy 15 µs later, its TTL one lower),
// joins its connection once; errors that differ, or come a millisecond
// apart, are two. One quoting no connection counts once as unmatched.
func TestICMPDuplicates(t *testing.T) {
	for _, tt := range []struct {
		name   string
		edit   func(*Segment)
		errors int
	}{
		{"a copy", func(*Segment) {}, 1},
		{"another IP ID", func(s *Segment) { s.IPID++ }, 2},
		{"another code", func(s *Segment) { e := *s.ICMP; e.Code = 4; s.ICMP = &e }, 2},
		{"another quoted sequence number", func(s *Segment) { s.Seq++ }, 2},
		{"a millisecond later", func(s *Segment) { s.Time += 1e6 }, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var done []*Conn
			tb := collect(TableOptions{}, &done)
			syn := tcp(1, 0, cl, sv, SYN, 100, 0, 0)
			stray := tcp(0, 0, "10.0.0.9:1", sv, SYN, 1, 0, 0)
			var segs []*Segment
			for i, q := range []*Segment{syn, stray} {
				e := tcp(2*i+2, .001*float64(i+1), q.Src.String(), q.Dst.String(), q.Flags, q.Seq, q.Ack, 0)
				e.ICMP = &ICMPError{Type: 3, Code: 1, QuotedAck: true, QuotedFlags: true, From: netip.MustParseAddr("10.0.0.254")}
				e.IPID, e.TTL = 777, 64
				c := *e
				c.Frame++
				c.Time += 15e3
				c.TTL--
				tt.edit(&c)
				segs = append(segs, e, &c)
			}
			for _, s := range append([]*Segment{syn}, segs...) {
				if err := tb.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := tb.Flush(); err != nil {
				t.Fatal(err)
			}
			st := tb.Stats()
			if len(done) != 1 || done[0].ICMPCount != tt.errors || st.ICMPUnmatched != tt.errors || st.Duplicates != 2*(2-tt.errors) {
				t.Errorf("%d connections, %d errors joined, %d unmatched, %d duplicates; want 1, %d, %d, %d",
					len(done), done[0].ICMPCount, st.ICMPUnmatched, st.Duplicates, tt.errors, tt.errors, 2*(2-tt.errors))
			}
		})
	}
}

// TestICMPDuplicatesInterleaved: a router's errors about two segments of
// a burst, each captured twice, the copies after both originals: both
// copies are duplicates.
func TestICMPDuplicatesInterleaved(t *testing.T) {
	tb := NewTable(TableOptions{})
	var errs []*Segment
	for i, q := range []*Segment{tcp(0, 0, cl, sv, SYN, 100, 0, 0), tcp(0, 0, "10.0.0.1:40001", sv, SYN, 200, 0, 0)} {
		e := tcp(i+1, 1e-6*float64(i), q.Src.String(), q.Dst.String(), q.Flags, q.Seq, q.Ack, 0)
		e.ICMP = &ICMPError{Type: 3, Code: 1, QuotedAck: true, QuotedFlags: true, From: netip.MustParseAddr("10.0.0.254")}
		e.IPID = uint16(700 + i)
		errs = append(errs, e)
	}
	for i, e := range []*Segment{errs[0], errs[1], errs[0], errs[1]} {
		c := *e
		c.Frame = uint64(i + 1)
		c.Time += int64(i) * 10e3
		if err := tb.Add(&c); err != nil {
			t.Fatal(err)
		}
	}
	if st := tb.Stats(); st.Duplicates != 2 || st.ICMPUnmatched != 2 {
		t.Errorf("%d duplicates, %d unmatched; want 2, 2", st.Duplicates, st.ICMPUnmatched)
	}
}

// TestICMPErrors: an ICMP error joins the connection of the segment it
// quotes, the lingering one too (woken from its sleep), without counting
// as one of its segments; one quoting no connection the table holds
// starts none.
func TestICMPErrors(t *testing.T) {
	var done []*Conn
	tb := collect(TableOptions{}, &done)
	icmp := func(frame int, at float64, q *Segment, from string) *Segment {
		s := tcp(frame, at, q.Src.String(), q.Dst.String(), q.Flags, q.Seq, q.Ack, 0)
		s.ICMP = &ICMPError{Type: 3, Code: 1, QuotedAck: true, QuotedFlags: true, From: netip.MustParseAddr(from)}
		return s
	}
	f := closeConn(t, tb, 1, 0, cl, 100, 5000)
	// The server's FIN (frame 5), quoted 2 s later by a router: the
	// connection sleeps, complete, by then.
	fin := tcp(5, .004, sv, cl, FIN|ACK, 5001, 102, 0)
	if s := tb.Stats(); s.Sleeping != 1 {
		t.Fatalf("%d connections asleep before the error, want the closed one", s.Sleeping)
	}
	for _, s := range []*Segment{
		icmp(f, 2, fin, "10.0.0.254"),
		icmp(f+1, 2.5, tcp(0, 0, "10.0.0.9:1", sv, SYN, 1, 0, 0), "10.0.0.2"),
	} {
		if err := tb.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 {
		t.Fatalf("%d connections, want 1", len(done))
	}
	c := done[0]
	c.Wake()
	if c.ICMPCount != 1 || len(c.ICMP) != 1 {
		t.Fatalf("ICMP %d %+v, want the router's error", c.ICMPCount, c.ICMP)
	}
	e := c.ICMP[0]
	if e.Frame != uint64(f) || e.Dir != FromServer || e.Seq != 5001 || e.Flags != FIN|ACK || e.From != netip.MustParseAddr("10.0.0.254") {
		t.Errorf("ICMP error %+v, want frame %d quoting the server's FIN", e, f)
	}
	if c.Last.Frame != 6 || c.Dir[FromServer].Packets != 2 || c.Quiet.Gap >= 1e9 {
		t.Errorf("the error counted as a segment: last %d, server packets %d, quiet %d", c.Last.Frame, c.Dir[FromServer].Packets, c.Quiet.Gap)
	}
	s := tb.Stats()
	if s.ICMPUnmatched != 1 || s.Flows != 1 {
		t.Errorf("stats %+v: want one unmatched error and one flow", s)
	}
	want := UnmatchedICMP{
		Mark:      Mark{uint64(f + 1), 2.5e9},
		ICMPError: ICMPError{Type: 3, Code: 1, QuotedAck: true, QuotedFlags: true, From: netip.MustParseAddr("10.0.0.2")},
		Src:       netip.MustParseAddrPort("10.0.0.9:1"), Dst: netip.MustParseAddrPort(sv), Flags: SYN,
	}
	if len(s.ICMPUnmatchedFirst) != 1 || s.ICMPUnmatchedFirst[0] != want {
		t.Errorf("unmatched errors kept %+v, want [%+v]", s.ICMPUnmatchedFirst, want)
	}
}

// TestUnmatchedICMPCapped: past MaxUnmatchedICMP the count goes on and
// the first ones stay.
func TestUnmatchedICMPCapped(t *testing.T) {
	tb := NewTable(TableOptions{})
	for i := range MaxUnmatchedICMP + 3 {
		s := tcp(i+1, float64(i), fmt.Sprintf("10.0.0.%d:1", i+1), sv, SYN, 1, 0, 0)
		s.ICMP = &ICMPError{Type: 3, Code: 3, From: netip.MustParseAddr("10.0.0.2")}
		if err := tb.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	s := tb.Stats()
	if s.ICMPUnmatched != MaxUnmatchedICMP+3 || len(s.ICMPUnmatchedFirst) != MaxUnmatchedICMP {
		t.Fatalf("%d unmatched, %d kept; want %d, %d", s.ICMPUnmatched, len(s.ICMPUnmatchedFirst), MaxUnmatchedICMP+3, MaxUnmatchedICMP)
	}
	for i, e := range s.ICMPUnmatchedFirst {
		if e.Frame != uint64(i+1) {
			t.Errorf("kept #%d is frame %d, want %d", i, e.Frame, i+1)
		}
	}
}

// TestFinDSACK: the peer's D-SACK reports the client's FIN received twice
// only when its block covers the FIN's sequence number; the first such
// segment is kept, and only it.
func TestFinDSACK(t *testing.T) {
	dsack := func(s *Segment, l, r uint32) *Segment {
		s.SACK, s.DSACK, s.DSACKLeft, s.DSACKRight = true, true, l, r
		return s
	}
	tests := []struct {
		name  string
		segs  []*Segment
		want  bool
		frame uint64
	}{
		{"the FIN's own sequence number", []*Segment{
			dsack(tcp(3, .4, sv, cl, ACK, 5000, 101, 0), 100, 101),
			dsack(tcp(4, .8, sv, cl, ACK, 5000, 101, 0), 100, 101),
		}, true, 3},
		{"data and the FIN", []*Segment{dsack(tcp(3, .4, sv, cl, ACK, 5000, 101, 0), 90, 101)}, true, 3},
		{"data before the FIN only", []*Segment{dsack(tcp(3, .4, sv, cl, ACK, 5000, 101, 0), 90, 100)}, false, 0},
		{"a D-SACK the client sent", []*Segment{dsack(tcp(3, .4, cl, sv, ACK, 101, 5000, 0), 100, 101)}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, _ := finished(t, append([]*Segment{
				tcp(1, 0, cl, sv, FIN|ACK, 100, 5000, 0),
				tcp(2, .2, cl, sv, FIN|ACK, 100, 5000, 0),
			}, tt.segs...))
			c := done[0]
			var kept []uint64
			for _, e := range c.Events {
				if e.Why&WhyFinDSACK != 0 {
					kept = append(kept, e.Frame)
				}
			}
			if got := c.Dir[FromClient].FinDSACKed; got != tt.want {
				t.Errorf("FinDSACKed %v, want %v", got, tt.want)
			}
			if tt.want && (len(kept) != 1 || kept[0] != tt.frame) || !tt.want && len(kept) != 0 {
				t.Errorf("kept as D-SACK of the FIN: frames %v, want %d", kept, tt.frame)
			}
		})
	}
}

// withTS gives s the timestamp option.
func withTS(s *Segment) *Segment {
	s.HasTS, s.TSval, s.TSecr = true, 7000, 3000
	return s
}

// later moves a copy d nanoseconds after its original (20 µs otherwise).
func later(d int64) func(*Segment) { return func(s *Segment) { s.Time += d - 20e3 } }

// TestCaptureDuplicates: every segment of a connection captured twice,
// 20 µs apart and the second copy routed (TTL one lower), as tcpdump -i
// any sees a router's traffic, makes the same connection as one copy;
// copies that differ, or come a millisecond apart or more, stay, and so
// do identical pure ACKs without an IP ID.
func TestCaptureDuplicates(t *testing.T) {
	twice := func(segs []*Segment) []*Segment {
		var out []*Segment
		for _, s := range segs {
			s.IPID, s.TTL = uint16(s.Frame)+100, 64
			c := *s
			c.Time += 20e3
			c.TTL = 63
			out = append(out, s, &c)
		}
		for i, s := range out {
			s.Frame = uint64(i + 1)
		}
		return out
	}
	segs := twice(append(handshake(1, 0, cl, 100, 5000),
		tcp(4, .01, cl, sv, ACK|PSH, 101, 5001, 10),
		tcp(5, .02, sv, cl, ACK, 5001, 111, 0),
		tcp(6, .03, cl, sv, FIN|ACK, 111, 5001, 0),
		tcp(7, .04, sv, cl, FIN|ACK, 5001, 112, 0),
		tcp(8, .05, cl, sv, ACK, 112, 5002, 0),
	))
	done, st := finished(t, segs)
	c := done[0]
	ch, sh := &c.Dir[FromClient], &c.Dir[FromServer]
	if n := st.Duplicates; n != 8 || len(done) != 1 {
		t.Fatalf("%d duplicates, %d connections; want 8, 1", n, len(done))
	}
	if st.DupTCP != 8 || st.DupGapMin != 20e3 || st.DupGapMax != 20e3 || st.DupApart != 0 {
		t.Errorf("TCP duplicates %d, %d–%d ns after the first, %d apart; want 8, 20 µs, 0", st.DupTCP, st.DupGapMin, st.DupGapMax, st.DupApart)
	}
	if ch.Packets != 5 || sh.Packets != 3 || ch.SYNCount != 1 || sh.SYNCount != 1 || ch.FinCount != 1 || sh.FinCount != 1 || ch.TTLVaried {
		t.Errorf("client %d packets, server %d, SYNs %d %d, FINs %d %d, TTL varied %v; want 5 3 1 1 1 1 false",
			ch.Packets, sh.Packets, ch.SYNCount, sh.SYNCount, ch.FinCount, sh.FinCount, ch.TTLVaried)
	}
	if c.Last.Frame != 15 {
		t.Errorf("last frame %d, want 15 (the first copy of the last ACK)", c.Last.Frame)
	}

	// A burst comes in before its first segment leaves: data, FIN, then
	// their routed copies.
	tb := NewTable(TableOptions{})
	data := tcp(1, 0, sv, cl, ACK|PSH, 5001, 111, 100)
	fin := tcp(2, 1e-6, sv, cl, FIN|ACK, 5101, 111, 0)
	data.IPID, fin.IPID = 1, 2
	d2, f2 := *data, *fin
	d2.Frame, d2.Time, f2.Frame, f2.Time = 3, data.Time+30e3, 4, fin.Time+30e3
	for _, s := range []*Segment{data, fin, &d2, &f2} {
		if err := tb.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if n := tb.Stats().Duplicates; n != 2 {
		t.Errorf("interleaved burst: %d duplicates, want 2", n)
	}

	// Not duplicates: copies that differ, or come a millisecond apart;
	// and, without an IP ID, one the peer's segment came before — as the
	// kernel answers a retransmitted SYN with its SYN-ACK again 100 µs
	// after its timer sent one (the lab's synack-unanswered), or sends
	// duplicate ACKs.
	for _, tt := range []struct {
		name  string
		seg   *Segment
		ipid  uint16
		edit  func(*Segment)
		peer  *Segment
		twice bool
	}{
		{"another IP ID", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 9, func(s *Segment) { s.IPID++ }, nil, false},
		{"another window", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 9, func(s *Segment) { s.Window++ }, nil, false},
		{"a millisecond later", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 9, func(s *Segment) { s.Time += 1e6 - 20e3 }, nil, false},
		{"a SYN-ACK again after the client's SYN", tcp(1, 0, sv, cl, SYN|ACK, 5000, 101, 0), 0, func(*Segment) {}, tcp(0, 10e-6, cl, sv, SYN, 100, 0, 0), false},
		{"a pure ACK again after the peer's data", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 0, func(*Segment) {}, tcp(0, 10e-6, sv, cl, ACK, 5101, 101, 100), false},
		{"with an IP ID, the peer's data between", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 9, func(*Segment) {}, tcp(0, 10e-6, sv, cl, ACK, 5101, 101, 100), true},
		{"without an IP ID, the peer silent", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 0, func(*Segment) {}, nil, true},
		// IPv6 has no IP ID: the routed copy's lower hop limit tells.
		{"without an IP ID, routed, the peer's data between", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 0, func(s *Segment) { s.TTL-- }, tcp(0, 10e-6, sv, cl, ACK, 5101, 101, 100), true},
		{"without an IP ID, a higher TTL, the peer's data between", tcp(1, 0, cl, sv, ACK, 101, 5001, 0), 0, func(s *Segment) { s.TTL++ }, tcp(0, 10e-6, sv, cl, ACK, 5101, 101, 100), false},
		// Captures of both ends merged: the copy a one-way delay later.
		{"20 ms later, timestamps, the peer between", withTS(tcp(1, 0, cl, sv, ACK, 101, 5001, 0)), 0, later(20e6), withTS(tcp(0, 10e-3, sv, cl, ACK, 5101, 101, 100)), true},
		{"20 ms later, no timestamps", tcp(1, 0, cl, sv, ACK|PSH, 101, 5001, 10), 9, later(20e6), nil, false},
		{"a second later, timestamps", withTS(tcp(1, 0, cl, sv, ACK|PSH, 101, 5001, 10)), 9, later(1e9), nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb := NewTable(TableOptions{})
			s := tt.seg
			s.IPID, s.TTL = tt.ipid, 64
			segs := []*Segment{s}
			if tt.peer != nil {
				segs = append(segs, tt.peer)
			}
			c := *s
			c.Time = s.Time + 20e3
			tt.edit(&c)
			for i, x := range append(segs, &c) {
				x.Frame = uint64(i + 1)
				if err := tb.Add(x); err != nil {
					t.Fatal(err)
				}
			}
			st := tb.Stats()
			if n, want := st.Duplicates, map[bool]int{true: 1}[tt.twice]; n != want {
				t.Errorf("%d duplicates, want %d", n, want)
			}
			if gap := c.Time - s.Time; tt.twice && (st.DupGapMin != gap || st.DupGapMax != gap || (st.DupApart == 1) != (gap >= 1e6)) {
				t.Errorf("gaps %d–%d ns, %d apart; the copy came %d ns later", st.DupGapMin, st.DupGapMax, st.DupApart, gap)
			}
		})
	}
}

// TestRSTCopyTTL: a RST captured twice, as it came in and, one hop
// lower, as it went out, keeps the second copy's TTL on its event; a RST
// captured once, or twice with one TTL, keeps none.
func TestRSTCopyTTL(t *testing.T) {
	for _, c := range []struct {
		name string
		copy bool
		ttl  uint8
		want uint8
	}{
		{"routed copy", true, 63, 63},
		{"one copy", false, 0, 0},
		{"two copies, one TTL", true, 64, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			segs := append(handshake(1, 0, cl, 100, 5000), tcp(4, .01, sv, cl, ACK|PSH, 5001, 101, 10))
			rst := tcp(5, .02, cl, sv, RST, 101, 0, 0)
			rst.TTL = 64
			segs = append(segs, rst)
			if c.copy {
				cp := *rst
				cp.Frame, cp.Time, cp.TTL = 6, rst.Time+20e3, c.ttl
				segs = append(segs, &cp)
			}
			done, _ := finished(t, segs)
			var got []uint8
			for _, e := range done[0].Events {
				if e.Flags&RST != 0 {
					got = append(got, e.CopyTTL)
				}
			}
			if len(got) != 1 || got[0] != c.want {
				t.Errorf("RST events' copy TTLs %v, want [%d]", got, c.want)
			}
		})
	}
}

// TestDuplicateFilterSetsIgnoreTheSeed: which set of the duplicate filter
// a segment takes depends on its contents alone, not on the 4-tuple
// hash, whose seed changes from run to run: otherwise which duplicates a
// busy capture's collisions miss, and so the output, would too.
func TestDuplicateFilterSetsIgnoreTheSeed(t *testing.T) {
	tb := NewTable(TableOptions{})
	s := tcp(1, 0, cl, sv, ACK|PSH, 101, 5001, 10)
	d1, sum1, _ := tb.dupSlot(s, 0x1234_5678_9abc_def1, true)
	d2, sum2, _ := tb.dupSlot(s, 0xfedc_ba98_7654_3211, true)
	if sum1 != sum2 || d1 != d2 {
		t.Errorf("sets differ with the 4-tuple hash: %p, %p", d1, d2)
	}
}

// TestNATPartial: on a host that translates addresses and bridges the
// server's link with br_netfilter on, the server's segments are also
// captured translated halfway, on a 4-tuple of their own that starts with
// the SYN-ACK: that connection names the one whose SYN carries the ISN
// the SYN-ACK acknowledges (the latest, on another 4-tuple, less than a
// second before). A SYN-ACK that starts a connection of its own otherwise
// names none.
func TestNATPartial(t *testing.T) {
	for _, tt := range []struct {
		name   string
		synAt  float64
		ack    uint32
		linked bool
	}{
		{"translated halfway", 0, 101, true},
		{"another ISN", 0, 102, false},
		{"the SYN 2 s before", -2, 101, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var done []*Conn
			tb := collect(TableOptions{}, &done)
			segs := []*Segment{
				tcp(1, 2+tt.synAt, "10.0.0.1:40000", "10.0.9.9:80", SYN, 100, 0, 0),
				tcp(2, 2+tt.synAt+20e-6, "10.0.1.1:40000", sv, SYN, 100, 0, 0),
				tcp(3, 2.001, sv, "10.0.0.1:40000", SYN|ACK, 5000, tt.ack, 0),
			}
			for _, s := range segs {
				if err := tb.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := tb.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(done) != 3 {
				t.Fatalf("%d connections, want 3", len(done))
			}
			for _, c := range done {
				want := 0
				if c.ID == 3 && tt.linked {
					want = 2
				}
				if c.NATOf != want || (want != 0) != (c.NATAt == segs[1].Time) {
					t.Errorf("connection %d: NATOf %d at %d, want %d", c.ID, c.NATOf, c.NATAt, want)
				}
			}
		})
	}
}

// TestTSAfterSYN: the server's direction keeps its first segment after
// its SYN-ACK that carried a timestamp, with its TSval, when the latest
// SYN-ACK's TSval ran MinTSLag or more behind it; a segment without the
// option leaves it to the next, and nothing later counts. The client's
// direction, and a server that sent no SYN-ACK, keep none.
func TestTSAfterSYN(t *testing.T) {
	ts := func(s *Segment, v uint32) *Segment {
		s.HasTS, s.TSval = true, v
		return s
	}
	// The latest SYN-ACK, frame 3, 1.002 s, TSval 901; frame 7 comes 4 ms
	// later.
	for _, tt := range []struct {
		val  uint32 // frame 7's TSval
		kept bool
	}{{935, true}, {907, true}, {906, false}, {905, false}} {
		segs := []*Segment{
			ts(tcp(1, 1, cl, sv, SYN, 100, 0, 0), 10),
			ts(tcp(2, 1.001, sv, cl, SYN|ACK, 5000, 101, 0), 900),
			ts(tcp(3, 1.002, sv, cl, SYN|ACK, 5000, 101, 0), 901), // sent again
			ts(tcp(4, 1.003, cl, sv, ACK, 101, 5001, 0), 12),
			tcp(5, 1.004, cl, sv, ACK, 101, 5001, 10),
			tcp(6, 1.005, sv, cl, ACK, 5001, 111, 0), // no option
			ts(tcp(7, 1.006, sv, cl, ACK, 5001, 111, 20), tt.val),
			ts(tcp(8, 1.007, sv, cl, ACK, 5021, 111, 20), tt.val+50),
		}
		done, _ := finished(t, segs)
		if len(done) != 1 {
			t.Fatalf("%d connections, want 1", len(done))
		}
		c := done[0]
		want := [2]Mark{}
		if tt.kept {
			want[FromServer] = markOf(segs[6])
		}
		for d := range 2 {
			if x := c.Dir[d].Detail; x.TSAfterSYN != want[d] || tt.kept && d == FromServer && x.TSAfterSYNVal != tt.val {
				t.Errorf("TSval %d: direction %d kept frame %d (TSval %d), want frame %d", tt.val, d, x.TSAfterSYN.Frame, x.TSAfterSYNVal, want[d].Frame)
			}
		}
	}
	// Mid-stream: no SYN, nothing kept.
	done, _ := finished(t, []*Segment{ts(tcp(1, 1, cl, sv, ACK, 100, 5000, 10), 10), ts(tcp(2, 1.1, sv, cl, ACK, 5000, 110, 0), 20)})
	for d := range 2 {
		if m := done[0].Dir[d].TSAfterSYN; m.Seen() {
			t.Errorf("mid-stream direction %d kept frame %d", d, m.Frame)
		}
	}
}
