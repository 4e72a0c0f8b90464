package analyze

import (
	"math"
	"net/netip"
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
		"from the service address": func(c, s *wire) {
			s.segs[0].Src, s.segs[1].Dst = c.addr[srv], c.addr[srv]
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
