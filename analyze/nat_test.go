package analyze

import (
	"math"
	"net/netip"
	"slices"
	"testing"

	"github.com/teardown/teardown/flows"
)

// translated is a copy of w's segments as a translating host forwards
// them lag seconds later: the client's address rewritten to client and
// the server's to server ("" keeps one), everything else as it was.
func translated(t *testing.T, w *wire, client, server string, lag float64) *wire {
	c := newWire(t)
	c.addr = w.addr
	if client != "" {
		c.addr[cli] = netip.MustParseAddrPort(client)
	}
	if server != "" {
		c.addr[srv] = netip.MustParseAddrPort(server)
	}
	for _, s := range w.segs {
		dir := cli
		if s.Src != w.addr[cli] {
			dir = srv
		}
		s.Src, s.Dst = c.addr[dir], c.addr[1-dir]
		s.Time += int64(lag * 1e9)
		c.segs = append(c.segs, s)
	}
	return c
}

// natConn is a clean four-way close seen at a service address, which a
// translating host forwards to the server's own.
func natConn(t *testing.T) *wire {
	w := newWire(t)
	w.addr[srv] = netip.MustParseAddrPort("198.51.100.53:80")
	closeFirst(w, cli)
	return w
}

// TestNATCopies: a connection captured before and after an address
// translation is two flows, the one built second naming the first, and
// nothing links connections that only look alike.
func TestNATCopies(t *testing.T) {
	for _, c := range []struct {
		name, client, server, want string
	}{
		{"destination NAT", "", "198.51.100.80:8080", NATServer},
		{"source NAT", "198.51.100.1:61000", "", NATClient},
		{"both", "198.51.100.1:61000", "198.51.100.80:8080", NATBoth},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := natConn(t)
			res := runOpts(t, mergeWires(w, translated(t, w, c.client, c.server, 20e-6)), Options{})
			if len(res.Flows) != 2 {
				t.Fatalf("%d flows, want 2", len(res.Flows))
			}
			first, second := res.Flows[0], res.Flows[1]
			if first.NAT != nil || second.NAT == nil {
				t.Fatalf("links %+v, %+v: want the second flow's only", first.NAT, second.NAT)
			}
			v := second.NAT
			lag := float64(second.Start-first.Start) / 1e9
			if v.Of != first.ID || v.Rewritten != c.want || math.Abs(math.Abs(lag)-20e-6) > 1e-9 || v.Lag != lag {
				t.Errorf("flow %d: link %+v, want of %d, rewritten %s, lag %g (±20µs)", second.ID, *v, first.ID, c.want, lag)
			}
			if res.Summary.NATCopies != 1 {
				t.Errorf("summary nat_copies %d, want 1", res.Summary.NATCopies)
			}
			// The client's TIME_WAIT is one socket, at 198.51.100.10:
			// the copy counts it neither at that address again nor at
			// the translated one (198.51.100.1), which the flow built
			// first counts when it is the translated view.
			for _, h := range res.Summary.Hosts {
				want := int64(0)
				if h.Host == "198.51.100.10" || h.Host == "198.51.100.1" && first.Client == "198.51.100.1:61000" {
					want = 1
				}
				if h.TimeWait.Count != want {
					t.Errorf("host %s: TIME_WAIT peak %d, want %d", h.Host, h.TimeWait.Count, want)
				}
			}
			// Both are whole stories of their own all the same.
			for _, f := range res.Flows {
				if f.Close.Kind != FourWay || f.Close.Initiator != Client {
					t.Errorf("flow %d: close %+v", f.ID, f.Close)
				}
			}
		})
	}
	unlinked := map[string]func(w, c *wire){
		"another client ISN": func(_, c *wire) { c.segs[0].Seq++; c.segs[1].Ack++ },
		"another SYN timestamp": func(_, c *wire) {
			c.segs[0].TSval++
		},
		"SYNs 1s apart": func(_, c *wire) {
			for i := range c.segs {
				c.segs[i].Time += 1e9
			}
		},
		"one side ends 1s later": func(_, c *wire) {
			last := &c.segs[len(c.segs)-1]
			last.Time += 1e9
		},
		"no SYN-ACK in the copy": func(_, c *wire) {
			c.segs = slices.DeleteFunc(c.segs, func(s flows.Segment) bool { return s.Frame == 2 })
		},
	}
	for name, change := range unlinked {
		t.Run(name, func(t *testing.T) {
			w := natConn(t)
			c := translated(t, w, "", "198.51.100.80:8080", 20e-6)
			change(w, c)
			res := runOpts(t, mergeWires(w, c), Options{})
			for _, f := range res.Flows {
				if f.NAT != nil {
					t.Errorf("flow %d linked: %+v", f.ID, *f.NAT)
				}
			}
			if res.Summary.NATCopies != 0 {
				t.Errorf("summary nat_copies %d", res.Summary.NATCopies)
			}
		})
	}
}

// TestNATCounts: which sides of a NAT copy the per-host counts take.
func TestNATCounts(t *testing.T) {
	for _, c := range []struct {
		v              *NATView
		client, server bool
	}{
		{nil, true, true},
		{&NATView{Rewritten: NATServer, Lag: 20e-6}, false, true},
		{&NATView{Rewritten: NATServer, Lag: -20e-6}, false, false},
		{&NATView{Rewritten: NATClient, Lag: 20e-6}, false, false},
		{&NATView{Rewritten: NATClient, Lag: -20e-6}, true, false},
		{&NATView{Rewritten: NATBoth, Lag: 20e-6}, false, true},
		{&NATView{Rewritten: NATBoth, Lag: -20e-6}, true, false},
		{&NATView{Rewritten: NATBoth}, true, true},
	} {
		if cl, sv := c.v.Counts(Client), c.v.Counts(Server); cl != c.client || sv != c.server {
			t.Errorf("%+v: client %v, server %v; want %v, %v", c.v, cl, sv, c.client, c.server)
		}
	}
}

// TestNATOneSide: a bridge in the translating host with br_netfilter on
// records the server's segments translated halfway, on a 4-tuple of
// their own (the server's own address to the client's own) that starts
// with the SYN-ACK: that flow names the connection's post-translation
// flow, has no diagnoses (it would read as a capture that missed the
// client's packets), and counts in the summary only as a flow (its close
// kind and final states) and a NAT copy.
func TestNATOneSide(t *testing.T) {
	w := natConn(t)
	after := translated(t, w, "198.51.100.1:61000", "198.51.100.80:8080", 20e-6)
	half := newWire(t)
	half.addr = [2]netip.AddrPort{w.addr[cli], after.addr[srv]}
	for _, s := range after.segs {
		if s.Src == after.addr[srv] {
			s.Src, s.Dst = half.addr[srv], half.addr[cli]
			s.Time += 1e3
			half.segs = append(half.segs, s)
		}
	}
	res := runOpts(t, mergeWires(w, after, half), Options{})
	if len(res.Flows) != 3 {
		t.Fatalf("%d flows, want 3", len(res.Flows))
	}
	var one *Flow
	byAddr := map[string]*Flow{}
	for _, f := range res.Flows {
		byAddr[f.Client+" "+f.Server] = f
		if f.NAT != nil && f.NAT.OneSide != "" {
			one = f
		}
	}
	post := byAddr["198.51.100.1:61000 198.51.100.80:8080"]
	if one == nil || post == nil || one.Client != "198.51.100.10:40000" || one.Server != "198.51.100.80:8080" {
		t.Fatalf("no one-sided flow from 198.51.100.80:8080 to 198.51.100.10:40000 linked: %+v", res.Flows)
	}
	if v := one.NAT; v.Of != post.ID || v.OneSide != Server || v.Rewritten != "" || v.Lag <= 0 || v.Lag > 0.01 {
		t.Errorf("link %+v, want of %d (the translated flow), the server's side, a lag of a few ms", *v, post.ID)
	}
	if len(one.Diagnoses) != 0 {
		t.Errorf("diagnoses %q on the one-sided flow", diagSet(one))
	}
	s := res.Summary
	if s.Flows != 3 || s.NATCopies != 2 || s.CloseKinds[string(FourWay)] != 2 || s.CloseKinds[string(one.Close.Kind)] == 0 {
		t.Errorf("summary: %d flows, %d NAT copies, close kinds %v; want 3, 2, four_way 2 and the one-sided flow's", s.Flows, s.NATCopies, s.CloseKinds)
	}
	// Nothing of it in the per-host counts or the distributions: the
	// two whole flows' client TIME_WAIT is one socket.
	for _, h := range s.Hosts {
		if h.Host == "198.51.100.10" && h.TimeWait.Count != 1 {
			t.Errorf("client TIME_WAIT peak %d, want 1", h.TimeWait.Count)
		}
	}
	if n := s.FinRetransmissions.Count; n != 4 {
		t.Errorf("FIN retransmission counts of %d sides, want the two whole flows' 4", n)
	}
}

// TestNATIdleClose: a keep-alive idle close captured before and after a
// destination NAT is one idle close of the service, not two.
func TestNATIdleClose(t *testing.T) {
	w := newWire(t)
	w.addr[srv] = netip.MustParseAddrPort("198.51.100.53:80")
	w.handshake()
	w.exchange()
	w.send(srv, "F.", 0, gap(2))     // the idle timeout
	w.send(cli, ".", 0)              // ACKed
	w.send(cli, "P.", 100, gap(0.5)) // written on anyway
	w.send(srv, "R", 0, replyRST)
	res := runOpts(t, mergeWires(w, translated(t, w, "", "198.51.100.80:8080", 20e-6)), Options{})
	if len(res.Flows) != 2 || res.Summary.NATCopies != 1 {
		t.Fatalf("%d flows, %d NAT copies, want 2 and 1", len(res.Flows), res.Summary.NATCopies)
	}
	if got := res.Summary.IdleCloses; len(got) != 1 || got[0].Flows != 1 || got[0].Stale != 1 || got[0].Server != "198.51.100.53:80" {
		t.Errorf("idle closes %+v, want the service address's one, once", got)
	}
}
