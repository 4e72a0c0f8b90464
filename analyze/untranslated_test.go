package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// untranslatedPair is a connection to a service address, silent for
// idle seconds, whose server's next 100 bytes reach the client from the
// server's own address (a NAT let them through untranslated) and draw
// the client kernel's reply RST; with write > 0 the client's next write
// to the service address, write seconds later, then meets the server
// kernel's RST. It returns the connection's wire and the stray
// segments'.
func untranslatedPair(t *testing.T, idle, write float64) (conn, stray *wire) {
	conn = newWire(t)
	conn.addr[srv] = netip.MustParseAddrPort("198.51.100.150:80")
	conn.handshake()
	conn.exchange()
	stray = newWire(t)
	stray.addr[cli] = conn.addr[cli]
	stray.now, stray.isn, stray.nxt = conn.now, conn.isn, conn.nxt
	stray.send(srv, "P.", 100, gap(idle))
	stray.send(cli, "R", 0, seqNum(conn.nxt[cli]), replyRST)
	if write > 0 {
		conn.now = stray.now
		conn.send(cli, "P.", 100, gap(write))
		conn.send(srv, "R", 0, seqNum(conn.nxt[srv]), replyRST)
	}
	return conn, stray
}

// TestUntranslated: the flow of the stray segments and their
// connection's are linked, whichever the summary adds second, with the
// knob the silence before them points to; segments that are not the
// connection's link nothing.
func TestUntranslated(t *testing.T) {
	for _, c := range []struct {
		name   string
		idle   float64
		write  float64
		on     string // the flow carrying the link: "connection" or "segments"
		sysctl string
		state  string
		says   []string
	}{
		// The stray flow leaves the table before the client writes.
		{"expired, reset later", 3.5, 150, "connection", SysCtEstablished, "ESTABLISHED",
			[]string{"silent 3.5s", "ESTABLISHED timeout", "reached 198.51.100.10:40000 from 198.51.100.80:8080", "not from 198.51.100.150:80"}},
		{"expired, reset at once", 3.5, 0.2, "segments", SysCtEstablished, "ESTABLISHED", []string{"silent 3.5s"}},
		{"expired, open at the end", 3.5, 0, "segments", SysCtEstablished, "ESTABLISHED", []string{"silent 3.5s"}},
		{"invalid", 0.05, 150, "connection", SysCtBeLiberal, "", []string{"INVALID"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, stray := untranslatedPair(t, c.idle, c.write)
			res := runOpts(t, mergeWires(conn, stray), Options{})
			if len(res.Flows) != 2 {
				t.Fatalf("%d flows, want 2", len(res.Flows))
			}
			var cf, sf *Flow
			for _, f := range res.Flows {
				if f.Server == "198.51.100.150:80" {
					cf = f
				} else {
					sf = f
				}
			}
			if cf == nil || sf == nil {
				t.Fatalf("flows %s→%s, %s→%s", res.Flows[0].Client, res.Flows[0].Server, res.Flows[1].Client, res.Flows[1].Server)
			}
			on, off := cf, sf
			if c.on == "segments" {
				on, off = sf, cf
			}
			if off.Untranslated != nil || codeIn(off.Diagnoses, CodeNATUntranslated) {
				t.Errorf("flow %d carries the link too: %+v", off.ID, off.Untranslated)
			}
			l := on.Untranslated
			if l == nil {
				t.Fatalf("flow %d (%s) carries no link", on.ID, c.on)
			}
			idle := 0.0
			if c.state != "" {
				idle = c.idle
			}
			if l.Connection != cf.ID || l.Segments != sf.ID || l.Sender != Server || l.From != "198.51.100.80:8080" ||
				l.Service != "198.51.100.150:80" || l.Count != 1 || l.State != c.state || math.Abs(l.Idle-idle) > 0.002 {
				t.Errorf("link %+v", *l)
			}
			if first := uint64(sf.FirstFrame); l.Frame != first || l.Reset != first+1 {
				t.Errorf("frames %d, %d; want %d, %d", l.Frame, l.Reset, first, first+1)
			}
			var d *Diagnosis
			for i := range on.Diagnoses {
				if on.Diagnoses[i].Code == CodeNATUntranslated {
					d = &on.Diagnoses[i]
				}
			}
			if d == nil {
				t.Fatalf("no %s on flow %d: %+v", CodeNATUntranslated, on.ID, on.Diagnoses)
			}
			if d.Sysctl != c.sysctl || d.Severity != Error || len(d.Frames) != 2 || d.Frames[0] != l.Frame || d.Frames[1] != l.Reset {
				t.Errorf("diagnosis %+v", *d)
			}
			for _, s := range c.says {
				if !strings.Contains(d.Message, s) {
					t.Errorf("message lacks %q: %s", s, d.Message)
				}
			}
			u := res.Summary.Untranslated
			if len(u) != 1 || u[0].Service != l.Service || u[0].From != l.From || u[0].Flows != 1 ||
				(u[0].Expired == 1) != (c.state != "") || u[0].Expired+u[0].Invalid != 1 || res.Summary.Diagnoses[CodeNATUntranslated] != 1 {
				t.Errorf("summary %+v, diagnoses %v", u, res.Summary.Diagnoses)
			}
		})
	}
	unlinked := map[string]func(conn, stray *wire){
		"ack beyond the client's data": func(_, s *wire) { s.segs[0].Ack += 1000; s.segs[1].Seq += 1000 },
		"seq far from the server's":    func(_, s *wire) { s.segs[0].Seq += 1 << 24 },
		"another client port": func(_, s *wire) {
			a := netip.MustParseAddrPort("198.51.100.10:40001")
			s.segs[0].Dst, s.segs[1].Src = a, a
		},
		"the RST acknowledges": func(_, s *wire) { s.segs[1].Flags |= flows.ACK },
	}
	for name, change := range unlinked {
		t.Run(name, func(t *testing.T) {
			conn, stray := untranslatedPair(t, 3.5, 0.2)
			change(conn, stray)
			res := runOpts(t, mergeWires(conn, stray), Options{})
			for _, f := range res.Flows {
				if f.Untranslated != nil || codeIn(f.Diagnoses, CodeNATUntranslated) {
					t.Errorf("flow %d linked: %+v", f.ID, f.Untranslated)
				}
			}
			if len(res.Summary.Untranslated) != 0 {
				t.Errorf("summary %+v", res.Summary.Untranslated)
			}
		})
	}
}

// TestUntranslatedAfterScan: a port scan's ACK probes, each answered by
// the target's kernel with a bare RST, look like stray segments; thousands
// of them before the pair do not keep it from being linked.
func TestUntranslatedAfterScan(t *testing.T) {
	var ws []*wire
	for i := range 5000 {
		w := newWire(t)
		w.addr[srv] = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.99"), 61000)
		w.addr[cli] = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.20"), uint16(1+i))
		w.now -= 10e9 // before the pair
		w.now += int64(i) * 1e6
		w.send(srv, ".", 0, ackNum(uint32(i)*7919))
		w.send(cli, "R", 0, seqNum(uint32(i)*7919), replyRST)
		ws = append(ws, w)
	}
	conn, stray := untranslatedPair(t, 3.5, 150)
	res := runOpts(t, mergeWires(append(ws, conn, stray)...), Options{})
	links := 0
	for _, f := range res.Flows {
		if f.Untranslated != nil {
			links++
		}
	}
	if links != 1 || len(res.Summary.Untranslated) != 1 {
		t.Errorf("%d links, summary %+v; want the pair's one", links, res.Summary.Untranslated)
	}
}

// TestUntranslatedHere: where the connection has its own addresses (at
// the server, or in the translated view on the NAT's host) the
// untranslated segment and the RST it drew are on the connection's
// 4-tuple: the client's kernel answers the server's segment with a bare
// RST and then the client goes on sending, which only a RST for a
// segment that reached it on another 4-tuple allows.
func TestUntranslatedHere(t *testing.T) {
	// seen is the connection at the server after idle seconds of
	// silence: the server's 100 bytes, the client's bare RST, and
	// write seconds later the client's 100 bytes, continuing its
	// sequence numbers, answered by the server's reply RST.
	seen := func(idle, write float64, opts ...opt) *wire {
		w := newWire(t)
		w.handshake()
		w.exchange()
		w.send(srv, "P.", 100, gap(idle))
		w.send(cli, "R", 0, replyRST)
		w.send(cli, "P.", 100, append([]opt{gap(write)}, opts...)...)
		w.send(srv, "R", 0, seqNum(w.nxt[srv]), replyRST)
		return w
	}
	for _, c := range []struct {
		name   string
		w      *wire
		sysctl string
		frames []uint64
		says   []string
	}{
		{"after a silence", seen(3.5, 0.15), SysCtEstablished, []uint64{7, 8, 9, 10},
			[]string{"the client's kernel answered the server with a bare RST (frame 8)", "went on sending on the connection (frame 9",
				"answered the client's next segment with a RST (frame 10)", "3.5s of silence (frame 7)", "ESTABLISHED timeout"}},
		{"with none", seen(0.05, 0.15), SysCtBeLiberal, []uint64{8, 9, 10}, []string{"INVALID"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.w.flow()
			var d *Diagnosis
			for i := range f.Diagnoses {
				if f.Diagnoses[i].Code == CodeNATUntranslated {
					d = &f.Diagnoses[i]
				}
			}
			if d == nil {
				t.Fatalf("no %s: %+v", CodeNATUntranslated, f.Diagnoses)
			}
			if d.Side != Server || d.Sysctl != c.sysctl || !slices.Equal(d.Frames, c.frames) {
				t.Errorf("diagnosis %+v", *d)
			}
			// The client's kernel, not its socket, sent the RST: the
			// socket stays ESTABLISHED until the server's RST.
			if got, want := states(f.Sides.Client), "SYN_SENT@1 ESTABLISHED@2 CLOSED@10/rst"; got != want {
				t.Errorf("client states %s, want %s", got, want)
			}
			if got, want := states(f.Sides.Server), "SYN_RECV@1 ESTABLISHED@3 CLOSED@8/rst"; got != want {
				t.Errorf("server states %s, want %s", got, want)
			}
			if r := f.Close.Reset; r == nil || r.By != Client || r.Frame != 8 || r.State != Established {
				t.Errorf("reset %+v, want the client's at frame 8 in ESTABLISHED", r)
			}
			for _, s := range c.says {
				if !strings.Contains(d.Message, s) {
					t.Errorf("message lacks %q: %s", s, d.Message)
				}
			}
		})
	}
	for name, w := range map[string]*wire{
		// The client's socket sent the RST: it does not send again.
		"RST with ACK": func() *wire {
			w := newWire(t)
			w.handshake()
			w.exchange()
			w.send(srv, "P.", 100, gap(3.5))
			w.send(cli, "R.", 0)
			w.send(cli, "P.", 100, gap(0.15))
			return w
		}(),
		"nothing sent after the RST": func() *wire {
			w := newWire(t)
			w.handshake()
			w.exchange()
			w.send(srv, "P.", 100, gap(3.5))
			w.send(cli, "R", 0, replyRST)
			return w
		}(),
		"data elsewhere in the sequence space": seen(3.5, 0.15, seqNum(50000)),
	} {
		t.Run(name, func(t *testing.T) {
			if f := w.flow(); codeIn(f.Diagnoses, CodeNATUntranslated) {
				t.Errorf("diagnosed: %+v", f.Diagnoses)
			}
		})
	}
}

// TestChallengedRST: Linux takes a RST only at the sequence number it
// expects next (RFC 5961); one elsewhere in its window draws a challenge
// ACK, and the connection lives on until the sender's kernel answers that
// ACK with a RST at its acknowledgement number.
func TestChallengedRST(t *testing.T) {
	// aborted is a connection whose client's 1000 bytes never reached
	// the server and whose client then aborted: [R.] past them, then
	// the server's answer (ack at ackAt: 0 for none) and, with reply,
	// the client kernel's bare RST at that ack.
	aborted := func(ackAt uint32, reply bool) *wire {
		w := newWire(t)
		w.handshake()
		w.exchange()
		w.send(cli, "P.", 1000) // 7: lost on the way
		w.send(cli, "R.", 0)    // 8
		if ackAt != 0 {
			w.send(srv, ".", 0, ackNum(ackAt)) // 9
			if reply {
				w.send(cli, "R", 0, seqNum(ackAt), replyRST) // 10
			}
		}
		return w
	}
	w := newWire(t)
	rcvNxt := w.isn[cli] + 1 + 100
	for _, c := range []struct {
		name       string
		w          *wire
		server     string
		challenged int32
		notes      string
	}{
		{"challenged", aborted(rcvNxt, true), "SYN_RECV@1 ESTABLISHED@3 CLOSED@10/rst", 1, "8 rst-challenged, 9 challenge-ack, 10 rst"},
		{"no answer", aborted(0, false), "SYN_RECV@1 ESTABLISHED@3 CLOSED@8/rst", 0, "8 rst"},
		{"an ACK of the RST's sequence number", aborted(rcvNxt+1000, true), "SYN_RECV@1 ESTABLISHED@3 CLOSED@8/rst", 0, "8 rst, 9 after-rst, 10 rst"},
		{"no RST answers the ACK", aborted(rcvNxt, false), "SYN_RECV@1 ESTABLISHED@3 CLOSED@8/rst", 0, "8 rst, 9 after-rst"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.w.flow()
			if got := states(f.Sides.Server); got != c.server {
				t.Errorf("server states %s, want %s", got, c.server)
			}
			if got, want := states(f.Sides.Client), "SYN_SENT@1 ESTABLISHED@2 CLOSED@8/rst"; got != want {
				t.Errorf("client states %s, want %s", got, want)
			}
			if f.Sides.Client.ChallengedRSTs != c.challenged {
				t.Errorf("client challenged_rsts %d, want %d", f.Sides.Client.ChallengedRSTs, c.challenged)
			}
			var notes []string
			for _, e := range f.Events {
				if e.Frame >= 8 {
					notes = append(notes, fmt.Sprintf("%d %s", e.Frame, e.Note))
				}
			}
			if got := strings.Join(notes, ", "); got != c.notes {
				t.Errorf("event notes %s, want %s", got, c.notes)
			}
			if r := f.Close.Reset; r == nil || r.Frame != 8 || r.By != Client {
				t.Errorf("reset %+v, want the client's at frame 8", r)
			}
		})
	}
}
