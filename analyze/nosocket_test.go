package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/testenv"
)

// TestNoSocket covers the reply-RST of a side that never closed
// (KERNEL.md §0): the reset cause no-socket and rst-no-socket, with the
// knob each story names, and the RSTs that are not one.
func TestNoSocket(t *testing.T) {
	tests := []struct {
		name  string
		build func(w *wire)
		cause string
		want  []string // diagSet
		says  []string
		by    Role // the RST's sender, the server when empty
	}{
		{
			name: "the client's host lost the socket: the server's push meets no socket",
			build: func(w *wire) {
				w.send(srv, "P.", 100, gap(0.3))
				w.send(cli, "R", 0, replyRST)
			},
			cause: CauseNoSocket,
			want:  []string{"rst-no-socket  client"},
			says:  []string{"the client answered the server's segment (frame 7)", "firewall rule on the client's host"},
			by:    Client,
		},
		{
			name: "the client's next request meets no socket",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(0.2))
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseNoSocket,
			want:  []string{"rst-no-socket  server"},
			says:  []string{"frame 7", "frame 8", "Nothing on the wire says where the socket went", "restarted"},
		},
		{
			name: "after a silence: a NAT's expired entry may have led elsewhere",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(5))
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseNoSocket,
			want:  []string{"rst-no-socket " + SysCtEstablished + " server"},
			says:  []string{"5.0s of silence (frame 7)", "ESTABLISHED", "nf_conntrack_tcp_loose = 1"},
		},
		{
			name:  "the server gave up retransmitting before the client wrote",
			build: gaveUp,
			cause: CauseNoSocket,
			want:  []string{"rst-no-socket " + SysRetries2 + " server"},
			says:  []string{"given up retransmitting", "again 5 times (frames 8 to 12", "ETIMEDOUT"},
		},
		{
			name: "the server stopped answering, then reset a copy",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(0.05))
				w.again(req, 0.2)
				w.again(req, 0.6)
				w.again(req, 2.6)
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseNoSocket,
			want:  []string{"rst-no-socket  server"},
			says:  []string{"had stopped answering", "again 3 times from frame 8 on", "came back without the connection"},
		},
		{
			name: "a burst in flight: the peer's later segments each drew a RST",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(0.2))
				w.send(srv, "R", 0, replyRST)
				w.send(cli, "P.", 100)
				w.send(srv, "R", 0, replyRST)
				w.send(cli, "P.", 100)
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseNoSocket,
			want:  []string{"rst-no-socket  server"},
			says:  []string{"the server answered the client's segment (frame 7) with a RST from no socket (frame 8"},
		},
		{
			name: "the peer's later segment drew no RST",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(0.2))
				w.send(srv, "R", 0, replyRST)
				w.send(cli, "P.", 100)
				w.send(cli, "P.", 100)
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseUnknown,
		},
		{
			name: "not at the peer's acknowledgement",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(0.2))
				w.send(srv, "R", 0, replyRST, seqNum(w.nxt[srv]+5000))
			},
			cause: CauseUnknown,
		},
		{
			name: "too late to answer the peer's segment",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(0.2))
				w.send(srv, "R", 0, replyRST, gap(0.7))
			},
			cause: CauseUnknown,
		},
		{
			name: "the peer sent on after it",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(0.2))
				w.send(srv, "R", 0, replyRST)
				w.send(cli, "P.", 100, gap(0.3))
			},
			cause: CauseUnknown,
		},
		{
			name: "with ACK: a socket's own reset",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(0.2))
				w.send(srv, "R.", 0)
			},
			cause: CauseUnreadData,
			want:  []string{"rst-unread-data  server"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wireOf(t, false, tt.build)
			f := runOpts(t, w.segs, Options{}).Flows[0]
			r, by := f.Close.Reset, cmp.Or(tt.by, Server)
			if r == nil || r.By != by || r.Cause != tt.cause {
				t.Fatalf("reset %+v, want by %s, cause %s", r, by, tt.cause)
			}
			if got := slices.DeleteFunc(diagSet(f), func(d string) bool { return strings.HasPrefix(d, "capture-") }); !slices.Equal(got, tt.want) {
				t.Fatalf("diagnoses %q, want %q", got, tt.want)
			}
			if len(tt.want) == 0 || tt.cause != CauseNoSocket {
				return
			}
			d := find(t, f, CodeRstNoSocket)
			for _, s := range tt.says {
				if !strings.Contains(d.Message, s) {
					t.Errorf("message lacks %q:\n%s", s, d.Message)
				}
			}
			if d.Severity != Error || !slices.Contains(d.Frames, r.Frame) {
				t.Errorf("severity %s, frames %v: want error, with the RST's frame %d", d.Severity, d.Frames, r.Frame)
			}
			for _, sd := range []*Side{f.Sides.Client, f.Sides.Server} {
				if st := sd.States; st[len(st)-1].State != Closed || st[len(st)-1].Via != "rst" {
					t.Errorf("states %+v, want CLOSED via rst last", st)
				}
			}
		})
	}
}

// gaveUp files the server's 100 bytes and five copies the client never
// acknowledges, then, 4 s later, the client's 100 bytes and the server
// kernel's reply-RST at their acknowledgement.
func gaveUp(w *wire) {
	acked := w.after[len(w.after)-1][srv]
	d := w.send(srv, "P.", 100, gap(0.1))
	for _, dt := range []float64{0.2, 0.2, 0.4, 0.8, 1.6} {
		w.again(d, dt)
	}
	w.send(cli, "P.", 100, gap(4), ackNum(acked))
	w.send(srv, "R", 0, replyRST, seqNum(acked))
}

// TestNoSocketBound: the retries2 story bounds the budget from the
// second copy to the latest (it had not run out) and from the first
// copy to the RST (it had), and the host's settings are compared with it.
func TestNoSocketBound(t *testing.T) {
	build := func() *wire { return wireOf(t, false, gaveUp) }
	f := runOpts(t, build().segs, Options{}).Flows[0]
	d := find(t, f, CodeRstNoSocket)
	if len(d.Bounds) != 1 || d.Bounds[0].Sysctl != SysRetries2 || d.Bounds[0].Above == nil || d.Bounds[0].Below == nil {
		t.Fatalf("bounds %+v, want one on tcp_retries2's budget, above and below", d.Bounds)
	}
	// Copies at +0.2, +0.4, +0.8, +1.6, +3.2 s after the data: 2.8 s from
	// the second to the latest, 3.0 + 4 s from the first to the RST.
	b := d.Bounds[0]
	if a, bl := *b.Above, *b.Below; a < 2.79 || a > 2.81 || bl < 7.0 || bl > 7.02 {
		t.Errorf("budget bounds (%.3f, %.3f), want about (2.8, 7.0)", a, bl)
	}
	for _, c := range []struct {
		retries2 string
		agrees   bool
	}{{"3", true}, {"15", false}, {"2", false}} {
		opts := Options{Sysctls: Sysctls{Source: "host.sysctl", Values: map[string]string{SysRetries2: c.retries2}}}
		d := find(t, runOpts(t, build().segs, opts).Flows[0], CodeRstNoSocket)
		if len(d.Checks) == 0 || d.Checks[0].Agrees != c.agrees {
			t.Errorf("tcp_retries2 = %s: checks %+v, want agrees %v", c.retries2, d.Checks, c.agrees)
		}
	}
}

// TestLostSockets: the summary counts a host's no-socket resets by
// story, adds them up across summaries (shards), and finds a host that
// lost two or more; one alone is left to its flow's diagnosis.
func TestLostSockets(t *testing.T) {
	dir := testenv.Lab(t)
	lab := func(name string) *Result { return runLab(t, filepath.Join(dir, name+".pcap"), Options{}) }
	rstAt := func(res *Result) Time {
		f := res.Flows[0]
		return Time(eventTime(f, f.Close.Reset.Frame))
	}

	one := lab("socket-lost")
	if l := one.Summary.LostSockets; len(l) != 1 || l[0] != (LostSocketLoad{Host: "198.51.100.80", Side: Server, Flows: 1, First: rstAt(one), Last: rstAt(one)}) {
		t.Errorf("socket-lost: lost sockets %+v", l)
	}
	if slices.ContainsFunc(one.Summary.Findings, func(f Finding) bool { return f.Code == CodeRstNoSocket }) {
		t.Errorf("one lost socket makes a finding: %+v", one.Summary.Findings)
	}

	gave := lab("socket-lost-retries2")
	merged := lab("socket-lost")
	merged.Summary.Merge(gave.Summary)
	want := LostSocketLoad{Host: "198.51.100.80", Side: Server, Flows: 2, First: rstAt(gave), Last: rstAt(one), GaveUp: 1}
	if l := merged.Summary.LostSockets; len(l) != 1 || l[0] != want {
		t.Fatalf("merged: lost sockets %+v, want %+v", l, want)
	}
	i := slices.IndexFunc(merged.Summary.Findings, func(f Finding) bool { return f.Code == CodeRstNoSocket })
	if i < 0 {
		t.Fatalf("no finding for two lost sockets: %+v", merged.Summary.Findings)
	}
	f := merged.Summary.Findings[i]
	for _, s := range []string{"198.51.100.80, the server of 2 connections", "between " + want.First.Std().Format("15:04:05") + " and " + clock(want.Last),
		"1 after its own retransmissions went unanswered", "1 with no trace on the wire", "the host restarted"} {
		if !strings.Contains(f.Message, s) {
			t.Errorf("finding lacks %q:\n%s", s, f.Message)
		}
	}
	if f.Sysctl != "" || f.Severity != Error || f.At != want.First || f.Confidence != ConfidenceMedium || !slices.Equal(f.Doubts, []string{bookDoubt(CodeRstNoSocket)}) {
		t.Errorf("finding %+v: want no sysctl, error, at the first RST, medium: one had no story", f)
	}

	// Both given up: the path, and tcp_retries2.
	twice := lab("socket-lost-retries2")
	twice.Summary.Merge(lab("socket-lost-retries2").Summary)
	i = slices.IndexFunc(twice.Summary.Findings, func(f Finding) bool { return f.Code == CodeRstNoSocket })
	if i < 0 || twice.Summary.Findings[i].Sysctl != SysRetries2 || !strings.Contains(twice.Summary.Findings[i].Message, "every one after its own retransmissions") ||
		twice.Summary.Findings[i].Confidence != ConfidenceHigh {
		t.Errorf("two given-up sockets: findings %+v", twice.Summary.Findings)
	}
}

// TestConnectGaveUp: a client that sent only SYNs answers the server's
// late SYN-ACK from no socket: its connect() had given up. The reset is
// no-socket from SYN_SENT, rst-no-socket names no knob with high
// confidence, syn-retransmitted says connect() had given up, and two
// such flows from one client make a finding about its connect timeout.
func TestConnectGaveUp(t *testing.T) {
	late := func(w *wire) {
		syn := w.send(cli, "S", 0)
		w.again(syn, 1.0)
		w.send(srv, "S.", 0, gap(2.0))
		w.send(cli, "R", 0, replyRST)
	}
	res := runOpts(t, wireOf(t, true, late).segs, Options{})
	f := res.Flows[0]
	if r := f.Close.Reset; r == nil || r.By != Client || r.State != SynSent || r.Cause != CauseNoSocket {
		t.Fatalf("reset %+v, want by the client from SYN_SENT, no-socket", r)
	}
	if got, want := diagSet(f), []string{"rst-no-socket  client", "syn-retransmitted " + SysSomaxconn + " server"}; !slices.Equal(got, want) {
		t.Fatalf("diagnoses %q, want %q", got, want)
	}
	d := find(t, f, CodeRstNoSocket)
	if !strings.Contains(d.Message, "its connect() had already given up") || !strings.Contains(d.Message, "3.0s after its first SYN") ||
		d.Confidence != ConfidenceHigh || !slices.Equal(d.Frames, []uint64{1, 3, 4}) {
		t.Errorf("rst-no-socket: %+v", d)
	}
	if m := find(t, f, CodeSynRetransmitted).Message; !strings.Contains(m, "connect() had given up by then") {
		t.Errorf("syn-retransmitted: %s", m)
	}
	if l := res.Summary.LostSockets; len(l) != 1 || l[0].Host != "198.51.100.10" || l[0].Side != Client || l[0].ConnectGaveUp != 1 {
		t.Errorf("lost sockets %+v", l)
	}
	res.Summary.Merge(runOpts(t, wireOf(t, true, late).segs, Options{}).Summary)
	i := slices.IndexFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodeRstNoSocket })
	if i < 0 || !strings.Contains(res.Summary.Findings[i].Message, "gave up on connect() 2 times") || res.Summary.Findings[i].Severity != Warning {
		t.Errorf("findings %+v", res.Summary.Findings)
	}
}

// TestRequestExpired: a listener's bare RST to the client's segment is a
// listen overflow's (tcp_abort_on_overflow = 1) when it answers the
// client's ACK of a SYN-ACK, and the request's expiry (no-socket,
// tcp_synack_retries) when the segment came a request timeout or more
// after the latest SYN-ACK: the request's timer would have sent another.
func TestRequestExpired(t *testing.T) {
	// The listener ignores the handshake ACK and resends its SYN-ACK
	// twice (1 s and 3 s in); the client, established, writes and
	// retransmits.
	ignored := func(w *wire) int {
		w.send(cli, "S", 0)
		sa := w.send(srv, "S.", 0)
		w.send(cli, ".", 0, gap(0.2))
		w.again(sa, 0.8)
		w.send(cli, ".", 0)
		w.again(sa, 2.0)
		return w.send(cli, ".", 0)
	}
	tests := []struct {
		name  string
		build func(w *wire)
		cause string
		want  []string
	}{
		{
			name: "the RST answers the handshake ACK at once: an overflow",
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.send(srv, "S.", 0)
				w.send(cli, ".", 0)
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseListenOverflow,
			want:  []string{"listen-overflow " + SysAbortOnOverflow + " server"},
		},
		{
			name: "the RST answers the ACK of a resent SYN-ACK: still an overflow",
			build: func(w *wire) {
				ignored(w)
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseListenOverflow,
			want:  []string{"accept-queue-full " + SysSomaxconn + " server", "listen-overflow " + SysAbortOnOverflow + " server"},
		},
		{
			name: "the RST answers data long after the last SYN-ACK: the request expired",
			build: func(w *wire) {
				ignored(w)
				d := w.send(cli, "P.", 100, gap(0.5))
				w.again(d, 1.6)
				w.again(d, 3.2)
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseNoSocket,
			want:  []string{"accept-queue-full " + SysSomaxconn + " server", "rst-no-socket " + SysSynAckRetries + " server"},
		},
		{
			name: "just under a request timeout after the last SYN-ACK: an overflow",
			build: func(w *wire) {
				ignored(w)
				w.send(cli, "P.", 100, gap(0.95))
				w.send(srv, "R", 0, replyRST)
			},
			cause: CauseListenOverflow,
			want:  []string{"accept-queue-full " + SysSomaxconn + " server", "listen-overflow " + SysAbortOnOverflow + " server"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runOpts(t, wireOf(t, true, tt.build).segs, Options{})
			f := res.Flows[0]
			r := f.Close.Reset
			if r == nil || r.By != Server || r.State != SynRecv || r.Cause != tt.cause {
				t.Fatalf("reset %+v, want by the server from SYN_RECV, %s", r, tt.cause)
			}
			if got := diagSet(f); !slices.Equal(got, tt.want) {
				t.Fatalf("diagnoses %q, want %q", got, tt.want)
			}
			if st := f.Sides.Server.States; len(st) != 2 || st[0].State != SynRecv || st[1].State != Closed {
				t.Errorf("server states %+v, want SYN_RECV, CLOSED", st)
			}
			if tt.cause != CauseNoSocket {
				if len(res.Summary.LostSockets) != 0 {
					t.Errorf("lost sockets %+v, want none", res.Summary.LostSockets)
				}
				return
			}
			d := find(t, f, CodeRstNoSocket)
			for _, s := range []string{"SYN-ACK 3 times over 3.0s (frames 2 to 6)", "though the client had acknowledged it (frame 3)", "connection reset by peer"} {
				if !strings.Contains(d.Message, s) {
					t.Errorf("message lacks %q:\n%s", s, d.Message)
				}
			}
			if d.Confidence != ConfidenceHigh || len(d.Bounds) != 1 || d.Bounds[0].Sysctl != SysSynAckRetries || d.Bounds[0].Above == nil || *d.Bounds[0].Above != 1 {
				t.Errorf("confidence %s, bounds %+v: want high, tcp_synack_retries above 1", d.Confidence, d.Bounds)
			}
			if m := find(t, f, CodeAcceptQueueFull).Message; !strings.Contains(m, "did not complete it either") {
				t.Errorf("accept-queue-full: %s", m)
			}
			if l := res.Summary.LostSockets; len(l) != 1 || l[0].Side != Server || l[0].RequestExpired != 1 {
				t.Errorf("lost sockets %+v", l)
			}
			// Two such on one host: the accept queue.
			res.Summary.Merge(runOpts(t, wireOf(t, true, tt.build).segs, Options{}).Summary)
			i := slices.IndexFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodeRstNoSocket })
			if i < 0 || res.Summary.Findings[i].Sysctl != SysSomaxconn || !strings.Contains(res.Summary.Findings[i].Message, "every request expired") ||
				res.Summary.Findings[i].Confidence != ConfidenceHigh {
				t.Errorf("findings %+v", res.Summary.Findings)
			}
			// The settings: at least two retransmissions came from the
			// request's timer.
			for _, c := range []struct {
				retries string
				agrees  bool
			}{{"2", true}, {"5", true}, {"1", false}} {
				opts := Options{Sysctls: Sysctls{Source: "host.sysctl", Values: map[string]string{SysSynAckRetries: c.retries}}}
				d := find(t, runOpts(t, wireOf(t, true, tt.build).segs, opts).Flows[0], CodeRstNoSocket)
				if len(d.Checks) == 0 || d.Checks[0].Agrees != c.agrees {
					t.Errorf("tcp_synack_retries = %s: checks %+v, want agrees %v", c.retries, d.Checks, c.agrees)
				}
			}
		})
	}
}

// TestSynProbe: a SYN without the SACK-permitted and window-scale options
// that every connect() sends came from a raw socket. Its SYN-ACK reset
// from no socket, or its refusal, is a half-open probe (syn-probe, info,
// no knob), not a lost socket nor a refused connect(); the same with a
// connect()'s options stays rst-no-socket and connection-refused.
func TestSynProbe(t *testing.T) {
	crafted := func(_ *wire, s *flows.Segment) { s.SACKPerm, s.WScale, s.HasTS, s.Window = false, -1, false, 1024 }
	answered := func(syn opt) func(w *wire) {
		return func(w *wire) {
			w.send(cli, "S", 0, syn)
			w.send(srv, "S.", 0)
			w.send(cli, "R", 0, replyRST)
		}
	}
	refused := func(syn opt) func(w *wire) {
		return func(w *wire) {
			w.send(cli, "S", 0, syn)
			w.send(srv, "R.", 0, seqNum(0), ackNum(w.isn[cli]+1))
		}
	}
	linux := func(*wire, *flows.Segment) {}
	for _, c := range []struct {
		name  string
		build func(w *wire)
		want  string
		says  string
	}{
		{"a probe's SYN-ACK reset", answered(crafted), "syn-probe  client", "the client reset the server's SYN-ACK (frame 2) from no socket (frame 3"},
		{"a probe refused", refused(crafted), "syn-probe  client", "the server refused it (frame 2"},
		{"a connect()'s SYN-ACK reset", answered(linux), "rst-no-socket  client", ""},
		{"a connect() refused", refused(linux), "connection-refused  server", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runOpts(t, wireOf(t, true, c.build).segs, Options{})
			f := res.Flows[0]
			if got := diagSet(f); !slices.Equal(got, []string{c.want}) {
				t.Fatalf("diagnoses %q, want %q", got, c.want)
			}
			if c.says == "" {
				return
			}
			d := find(t, f, CodeSynProbe)
			if !strings.Contains(d.Message, c.says) || !strings.Contains(d.Message, "neither the SACK-permitted nor the window-scale option") ||
				d.Severity != Info || d.Confidence != ConfidenceMedium || d.Sysctl != "" {
				t.Errorf("syn-probe %+v", d)
			}
			if len(res.Summary.LostSockets) != 0 {
				t.Errorf("lost sockets %+v: a probe loses none", res.Summary.LostSockets)
			}
		})
	}
}

// TestProbes: the summary counts each address's half-open probes, the
// refused ones apart, adds them up across summaries, and finds an
// address that sent probeScan or more (info, the rule book's doubt).
func TestProbes(t *testing.T) {
	crafted := func(_ *wire, s *flows.Segment) { s.SACKPerm, s.WScale, s.HasTS, s.Window = false, -1, false, 1024 }
	// scanTo probes n times, the i-th probe to target(i).
	scanTo := func(n int, target func(i int) netip.AddrPort) []flows.Segment {
		var ws []*wire
		for i := range n {
			w := newWire(t)
			w.addr[srv] = target(i)
			client(w, netip.AddrPortFrom(netip.MustParseAddr("198.51.100.66"), uint16(40000+i)).String())
			w.now += int64(i) * 10e6
			w.send(cli, "S", 0, crafted)
			if i%3 == 0 {
				w.send(srv, "R.", 0, seqNum(0), ackNum(w.isn[cli]+1))
			} else {
				w.send(srv, "S.", 0)
				w.send(cli, "R", 0, replyRST)
			}
			ws = append(ws, w)
		}
		return mergeWires(ws...)
	}
	health := netip.MustParseAddrPort("198.51.100.80:8080")
	scan := func(n int) []flows.Segment { return scanTo(n, func(int) netip.AddrPort { return health }) }
	res := runOpts(t, scan(9), Options{})
	if p := res.Summary.Probes; len(p) != 1 || p[0].Host != "198.51.100.66" || p[0].Flows != 9 || p[0].Refused != 3 || p[0].First >= p[0].Last {
		t.Fatalf("probes %+v", p)
	}
	if slices.ContainsFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodeSynProbe }) {
		t.Errorf("9 probes make a finding: %+v", res.Summary.Findings)
	}
	res.Summary.Merge(runOpts(t, scan(1), Options{}).Summary)
	i := slices.IndexFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodeSynProbe })
	if i < 0 {
		t.Fatalf("no finding for 10 probes: %+v", res.Summary.Findings)
	}
	f := res.Summary.Findings[i]
	if f.Host != "198.51.100.66" || f.Severity != Info || f.Confidence != ConfidenceMedium ||
		!strings.Contains(f.Message, "sent 10 half-open probes to 198.51.100.80:8080 between") ||
		!strings.Contains(f.Message, "4 of them to ports nothing listened on") || !strings.Contains(f.Message, "health checks (one port") {
		t.Errorf("finding %+v", f)
	}

	// What they probed: ports of one server, one port of servers, and
	// more than the summary keeps, the same whichever way summaries merge.
	port := func(i int) netip.AddrPort { return netip.AddrPortFrom(health.Addr(), uint16(1+i)) }
	sweep := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)}), 443)
	}
	for _, tt := range []struct {
		name   string
		a, b   []flows.Segment
		more   bool
		n      int
		phrase string
	}{
		{"ports", scanTo(6, port), scanTo(6, func(i int) netip.AddrPort { return port(i + 3) }), false, 9, "to 9 ports of 198.51.100.80 between"},
		{"servers", scanTo(5, sweep), scanTo(5, func(i int) netip.AddrPort { return sweep(i + 5) }), false, 10, "to port 443 of 10 servers between"},
		{"beyond the list", scanTo(10, port), scanTo(10, func(i int) netip.AddrPort { return port(i + 10) }), true, maxProbeTargets,
			fmt.Sprintf("to more than %d addresses and ports between", maxProbeTargets)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ab, ba := runOpts(t, tt.a, Options{}).Summary, runOpts(t, tt.b, Options{}).Summary
			ab.Merge(runOpts(t, tt.b, Options{}).Summary)
			ba.Merge(runOpts(t, tt.a, Options{}).Summary)
			if !reflect.DeepEqual(ab.Probes, ba.Probes) {
				t.Errorf("merged one way %+v, the other %+v", ab.Probes, ba.Probes)
			}
			p := ab.Probes
			if len(p) != 1 || len(p[0].Targets) != tt.n || p[0].MoreTargets != tt.more ||
				!slices.IsSortedFunc(p[0].Targets, netip.AddrPort.Compare) {
				t.Fatalf("probes %+v", p)
			}
			i := slices.IndexFunc(ab.Findings, func(f Finding) bool { return f.Code == CodeSynProbe })
			if i < 0 || !strings.Contains(ab.Findings[i].Message, tt.phrase) {
				t.Errorf("findings %+v, want one saying %q", ab.Findings, tt.phrase)
			}
		})
	}
}
