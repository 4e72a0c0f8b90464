package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// icmp files an ICMP error from address from, d seconds after the
// previous segment, quoting frame n, and returns its frame number.
func (w *wire) icmp(from netip.Addr, n int, typ, code uint8, d float64) int {
	q := w.segs[n-1]
	w.now += int64(d * 1e9)
	s := flows.Segment{
		Frame: uint64(len(w.segs) + 1), Time: w.now,
		Src: q.Src, Dst: q.Dst, Seq: q.Seq, Ack: q.Ack, Flags: q.Flags, WScale: -1, TTL: 63,
		ICMP: &flows.ICMPError{Type: typ, Code: code, V6: from.Is6(), QuotedAck: true, QuotedFlags: true, From: from},
	}
	w.segs = append(w.segs, s)
	w.after = append(w.after, w.nxt)
	return int(s.Frame)
}

// pmtu gives ICMP error frame n (of icmp) the next-hop MTU mtu, and
// checks it is path MTU discovery's.
func (w *wire) pmtu(n int, mtu uint16) {
	e := w.segs[n-1].ICMP
	if !e.PMTU() {
		panic("not a path MTU message")
	}
	e.MTU = mtu
}

// later files a segment of another connection d seconds on: the capture
// goes on.
func (w *wire) later(d float64) {
	w.now += int64(d * 1e9)
	w.segs = append(w.segs, flows.Segment{
		Frame: uint64(len(w.segs) + 1), Time: w.now, WScale: -1, TTL: 64, Flags: flows.ACK,
		Src: netip.MustParseAddrPort("198.51.100.20:50000"), Dst: netip.MustParseAddrPort("198.51.100.21:22"),
	})
	w.after = append(w.after, w.nxt)
}

// TestSynRejectedICMP: an ICMP error quoting the client's SYN, after which
// the client sent nothing while a SYN retransmission was due, closed the
// client in SYN_SENT: the connection was rejected, by the server when the
// error bears its address, by the path otherwise. An error the client's
// SYNs outlived, or one the capture ended too soon after, closed nothing
// and is only listed.
func TestSynRejectedICMP(t *testing.T) {
	server := netip.MustParseAddr("198.51.100.80")
	router := netip.MustParseAddr("198.51.100.1")
	type want struct {
		states    string // the client's
		kind      Kind
		initiator Role
		diags     string
		says      string
	}
	for _, tt := range []struct {
		name  string
		build func(w *wire) (icmpFrame int)
		want  want
	}{
		{"port unreachable from the server", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			f := w.icmp(server, syn, 3, 3, 0.0002)
			w.later(2)
			return f
		}, want{"SYN_SENT@1 CLOSED@2", Rejected, Server, "syn-rejected-icmp  server",
			"ICMP port-unreachable (type 3 code 3, frame 2) from the server's own address: a firewall's REJECT rule answered it"}},
		{"admin prohibited from a router", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			f := w.icmp(router, syn, 3, 13, 0.0002)
			w.later(2)
			return f
		}, want{"SYN_SENT@1 CLOSED@2", Rejected, NoRole, "syn-rejected-icmp  ",
			"from 198.51.100.1, a router or firewall on the path (not the server): a firewall's policy refused it"}},
		{"the second SYN rejected", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			again := w.again(syn, 1)
			f := w.icmp(router, again, 3, 1, 0.0002)
			w.later(5)
			return f
		}, want{"SYN_SENT@1 CLOSED@3", Rejected, NoRole, "syn-rejected-icmp  ", "connect() failed then with EHOSTUNREACH"}},
		{"the client sent its SYN again after the error", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			f := w.icmp(server, syn, 3, 3, 0.0002)
			w.again(syn, 1)
			w.again(syn, 2)
			w.later(5)
			return f
		}, want{"SYN_SENT@1", OpenAtEnd, NoRole, "syn-unanswered net.ipv4.tcp_syn_retries client", ""}},
		{"an error while the socket was busy, then one that aborted", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			w.icmp(server, syn, 3, 3, 0.0001)
			again := w.again(syn, 1)
			f := w.icmp(server, again, 3, 3, 0.0001)
			w.later(3)
			return f
		}, want{"SYN_SENT@1 CLOSED@4", Rejected, Server, "syn-rejected-icmp  server",
			"no SYN followed (the same error at frame 2 had not: it came while the connecting process held the socket"}},
		{"fragmentation needed quoting the SYN aborts nothing", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			f := w.icmp(router, syn, 3, 4, 0.0002)
			w.later(2)
			return f
		}, want{"SYN_SENT@1", OpenAtEnd, NoRole, "", ""}},
		{"packet too big quoting the SYN aborts nothing", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			f := w.icmp(netip.MustParseAddr("2001:db8::1"), syn, 2, 0, 0.0002)
			w.later(2)
			return f
		}, want{"SYN_SENT@1", OpenAtEnd, NoRole, "", ""}},
		{"the capture ended before a retransmission was due", func(w *wire) int {
			syn := w.send(cli, "S", 0)
			f := w.icmp(server, syn, 3, 3, 0.0002)
			w.later(0.5)
			return f
		}, want{"SYN_SENT@1", OpenAtEnd, NoRole, "", ""}},
		{"a router's host unreachable quoting the server's SYN-ACK", func(w *wire) int {
			w.send(cli, "S", 0)
			synack := w.send(srv, "S.", 0)
			w.again(synack, 1)
			f := w.icmp(router, synack, 3, 1, 2)
			w.later(5)
			return f
		}, want{"SYN_SENT@1", OpenAtEnd, NoRole, "synack-unanswered net.ipv4.tcp_synack_retries server", ""}},
		{"an error about the server's data", func(w *wire) int {
			w.send(cli, "S", 0)
			w.send(srv, "S.", 0)
			w.send(cli, ".", 0)
			data := w.send(srv, "P.", 100)
			f := w.icmp(router, data, 3, 1, 0.0002)
			w.send(cli, "F.", 0)
			w.send(srv, "F.", 0)
			w.send(cli, ".", 0)
			return f
		}, want{"SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@6 FIN_WAIT2@7 TIME_WAIT@7", ThreeWay, Client, "", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			icmpFrame := tt.build(w)
			res := runOpts(t, w.segs, Options{})
			f := res.Flows[0]
			var states []string
			for _, e := range f.Sides.Client.States {
				states = append(states, e.State.String()+"@"+itoa(e.Frame))
				if e.Via != "" {
					t.Errorf("state %s via %q: an ICMP error is no RST", e.State, e.Via)
				}
			}
			if got := strings.Join(states, " "); got != tt.want.states {
				t.Errorf("client states %s, want %s", got, tt.want.states)
			}
			if f.Close.Kind != tt.want.kind || f.Close.Initiator != tt.want.initiator || f.Close.Reset != nil {
				t.Errorf("close %+v, want kind %s, initiator %s, no reset", f.Close, tt.want.kind, tt.want.initiator)
			}
			var diags []string
			for _, d := range f.Diagnoses {
				diags = append(diags, d.Code+" "+d.Sysctl+" "+string(d.Side))
				if d.Code == CodeSynRejectedICMP && !strings.Contains(d.Message, tt.want.says) {
					t.Errorf("message %q lacks %q", d.Message, tt.want.says)
				}
			}
			if got := strings.Join(diags, "; "); got != tt.want.diags {
				t.Errorf("diagnoses %q, want %q", got, tt.want.diags)
			}
			if n := len(f.ICMP); n == 0 || f.ICMP[n-1].Frame != uint64(icmpFrame) || f.ICMP[0].To != sideRole(int(w.dirOf(&w.segs[icmpFrame-1]))) {
				t.Errorf("icmp %+v, want frame %d", f.ICMP, icmpFrame)
			}
			i := slices.IndexFunc(f.Events, func(e Event) bool { return strings.HasPrefix(e.Note, NoteICMP) && e.Frame == uint64(icmpFrame) })
			if i < 0 || !slices.IsSortedFunc(f.Events, func(a, b Event) int { return int(a.Frame) - int(b.Frame) }) {
				t.Errorf("events %+v: want the ICMP error among them in frame order", f.Events)
			}
			if n := res.Capture.ICMPErrors; n != 0 {
				t.Errorf("capture counts %d ICMP errors: the reader counts them, not Run", n)
			}
		})
	}
}

func itoa(n uint64) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

// TestRequestDroppedByICMP: an ICMP error quoting the server's SYN-ACK,
// after which the server sent nothing while a retransmission was due,
// dropped the request (SYN_RECV -> CLOSED at the error); one the server
// outlived, or one that does not abort a request (port unreachable over
// IPv4), changes no state.
func TestRequestDroppedByICMP(t *testing.T) {
	router := netip.MustParseAddr("198.51.100.1")
	for _, tt := range []struct {
		name   string
		code   uint8
		after  bool // the server sends its SYN-ACK again after the error
		states string
		says   string
	}{
		{"host unreachable", 1, false, "SYN_RECV@1 CLOSED@4",
			"the server answered the client's SYN with a SYN-ACK twice over 1.0s (frames 2 to 3) and the client never acknowledged it"},
		{"the request outlived it", 1, true, "SYN_RECV@1", ""},
		{"port unreachable: no abort", 3, false, "SYN_RECV@1", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			w.send(cli, "S", 0)
			synack := w.send(srv, "S.", 0)
			w.again(synack, 1)
			f := w.icmp(router, synack, 3, tt.code, 1)
			if tt.after {
				w.again(synack, 1)
			}
			w.later(5)
			fl := runOpts(t, w.segs, Options{}).Flows[0]
			var states []string
			for _, e := range fl.Sides.Server.States {
				states = append(states, e.State.String()+"@"+itoa(e.Frame))
			}
			if got := strings.Join(states, " "); got != tt.states {
				t.Errorf("server states %s, want %s", got, tt.states)
			}
			var msg string
			for _, d := range fl.Diagnoses {
				if d.Code == CodeSynAckUnanswered {
					msg = d.Message
				}
			}
			drop := "here ICMP host-unreachable (frame " + itoa(uint64(f)) + ") from 198.51.100.1, a router on the way back, said the client's address cannot be reached"
			if dropped := strings.Contains(msg, drop); dropped != (tt.says != "") || !strings.Contains(msg, tt.says) {
				t.Errorf("synack-unanswered says %q; want %q and the drop said: %v", msg, tt.says, tt.says != "")
			}
		})
	}
}

// TestUnmatchedICMP: ICMP errors quoting segments of no connection the
// capture holds reach the summary, counted, the first ones kept whole;
// shards' lists merge in frame order.
func TestUnmatchedICMP(t *testing.T) {
	w := newWire(t)
	w.handshake()
	w.exchange()
	router := netip.MustParseAddr("198.51.100.1")
	for i, flags := range []flows.Flags{flows.SYN, flows.ACK | flows.PSH} {
		w.now += 1e8
		w.segs = append(w.segs, flows.Segment{
			Frame: uint64(len(w.segs) + 1), Time: w.now, WScale: -1, TTL: 63, Flags: flags,
			Src: netip.MustParseAddrPort("198.51.100.10:41000"), Dst: netip.MustParseAddrPort("198.51.100.90:443"),
			ICMP: &flows.ICMPError{Type: 3, Code: uint8(1 + 12*i), QuotedAck: true, QuotedFlags: i == 0, From: router},
		})
		w.after = append(w.after, w.nxt)
	}
	res := w.run()
	u := res.Summary.UnmatchedICMP
	if u == nil || u.Count != 2 || len(u.First) != 2 {
		t.Fatalf("unmatched ICMP %+v, want 2 kept", u)
	}
	want := StrayICMP{Frame: 7, At: Time(w.segs[6].Time), From: "198.51.100.1", Type: 3, Code: 1, Name: "host-unreachable",
		Src: "198.51.100.10:41000", Dst: "198.51.100.90:443", Flags: "S"}
	if u.First[0] != want {
		t.Errorf("first %+v, want %+v", u.First[0], want)
	}
	if e := u.First[1]; e.Frame != 8 || e.Name != "admin-prohibited" || e.Flags != "" {
		t.Errorf("second %+v, want frame 8, admin-prohibited, no flags quoted", e)
	}
	if f := res.Flows[0]; len(f.ICMP) != 0 {
		t.Errorf("the flow took the strays: %+v", f.ICMP)
	}

	// Merging: another shard's earlier errors come first; the list stays capped.
	o := &UnmatchedICMP{Count: 9}
	for i := range 9 {
		o.First = append(o.First, StrayICMP{Frame: uint64(1 + 2*i)})
	}
	o.First = o.First[:flows.MaxUnmatchedICMP]
	var s Summary
	s.Merge(res.Summary)
	s.Merge(&Summary{UnmatchedICMP: o})
	m := s.UnmatchedICMP
	var frames []uint64
	for _, e := range m.First {
		frames = append(frames, e.Frame)
	}
	if m.Count != 11 || !slices.Equal(frames, []uint64{1, 3, 5, 7, 7, 8, 9, 11}) {
		t.Errorf("merged: count %d, frames %v; want 11, [1 3 5 7 7 8 9 11]", m.Count, frames)
	}
}
