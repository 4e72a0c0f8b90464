package analyze

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// closeCase is one literal segment sequence and the close story it must
// give. Frames: the handshake is 1-3, the request/response exchange 4-6.
type closeCase struct {
	name string
	// bare cases start from nothing; the others after the handshake
	// (frames 1-3) and a request/response exchange (4-6).
	bare   bool
	build  func(w *wire)
	client string // client's states
	server string // server's states
	kind   Kind
	init   Role
	// cause is the reset cause, "" when close.reset must be null.
	cause string
	rstBy Role
	extra func(t *testing.T, f *Flow)
}

func runCloseCases(t *testing.T, cases []closeCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			w := wireOf(t, tt.bare, tt.build)
			f := w.flow()
			if got := states(f.Sides.Client); got != tt.client {
				t.Errorf("client states:\n got %s\nwant %s", got, tt.client)
			}
			if got := states(f.Sides.Server); got != tt.server {
				t.Errorf("server states:\n got %s\nwant %s", got, tt.server)
			}
			if f.Close.Kind != tt.kind || f.Close.Initiator != tt.init {
				t.Errorf("close: got %s by %s, want %s by %s", f.Close.Kind, f.Close.Initiator, tt.kind, tt.init)
			}
			switch r := f.Close.Reset; {
			case tt.cause == "" && r != nil:
				t.Errorf("reset: got %+v, want null", *r)
			case tt.cause != "" && r == nil:
				t.Errorf("reset: got null, want cause %s", tt.cause)
			case r != nil && (r.Cause != tt.cause || r.By != tt.rstBy):
				t.Errorf("reset: got %s by %s, want %s by %s", r.Cause, r.By, tt.cause, tt.rstBy)
			}
			if tt.extra != nil {
				tt.extra(t, f)
			}
		})
	}
}

func TestCloseTransitions(t *testing.T) {
	runCloseCases(t, []closeCase{
		{
			name: "client active four-way",
			build: func(w *wire) {
				w.send(cli, "F.", 0)          // 7
				w.send(srv, ".", 0, gap(.04)) // 8
				w.send(srv, "F.", 0, gap(.1)) // 9
				w.send(cli, ".", 0)           // 10
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 TIME_WAIT@9",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@9 CLOSED@10",
			kind:   FourWay, init: Client,
			extra: func(t *testing.T, f *Flow) {
				c := f.Sides.Client
				if !cmp.Equal(c.FinFrames, []uint64{7}) || c.FinRetransmissions != 0 || c.FinTLP {
					t.Errorf("client FIN: frames %v, retransmissions %d, tlp %v", c.FinFrames, c.FinRetransmissions, c.FinTLP)
				}
				// 7->8 is 40 ms, 8->9 100 ms, 9->10 1 ms.
				want := map[string]float64{"FIN_WAIT1": 0.04, "FIN_WAIT2": 0.1}
				for k, v := range want {
					if d := c.Durations[k]; d < v-1e-9 || d > v+1e-9 {
						t.Errorf("client %s lasted %v, want %v", k, d, v)
					}
				}
				if s := f.Sides.Server; s.Durations["CLOSE_WAIT"] < 0.14-1e-9 || s.Durations["LAST_ACK"] < 0.001-1e-9 {
					t.Errorf("server durations %v", s.Durations)
				}
			},
		},
		{
			name: "server active four-way",
			build: func(w *wire) {
				w.fourWay(srv, "F.")
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSE_WAIT@7 LAST_ACK@9 CLOSED@10",
			server: "SYN_RECV@1 ESTABLISHED@3 FIN_WAIT1@7 FIN_WAIT2@8 TIME_WAIT@9",
			kind:   FourWay, init: Server,
		},
		{
			name: "three-way close: FIN_WAIT2 and TIME_WAIT on the FIN+ACK",
			build: func(w *wire) {
				w.send(cli, "F.", 0)
				w.send(srv, "F.", 0) // acknowledges the client's FIN
				w.send(cli, ".", 0)
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 TIME_WAIT@8",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@8 CLOSED@9",
			kind:   ThreeWay, init: Client,
			extra: func(t *testing.T, f *Flow) {
				if d, ok := f.Sides.Client.Durations["FIN_WAIT2"]; !ok || d != 0 {
					t.Errorf("client FIN_WAIT2 duration %v (present %v), want a zero-length entry", d, ok)
				}
			},
		},
		{
			// The FIN+ACK is lost once: the client acknowledges the
			// retransmission and got neither the ACK nor the FIN before.
			name: "three-way close, FIN+ACK retransmitted: FIN_WAIT2 and TIME_WAIT on the one acknowledged",
			build: func(w *wire) {
				w.send(cli, "F.", 0)            // 7
				fin := w.send(srv, "F.", 0)     // 8: acknowledges the client's FIN
				w.again(fin, .2)                // 9
				w.send(cli, ".", 0, gap(.0001)) // 10
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@9 TIME_WAIT@9",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@8 CLOSED@10",
			kind:   ThreeWay, init: Client,
			extra: func(t *testing.T, f *Flow) {
				if s := f.Sides.Server; s.FinRetransmissions != 1 {
					t.Errorf("server FIN retransmissions %d, want 1", s.FinRetransmissions)
				}
			},
		},
		{
			name: "simultaneous close: FINs cross, both through CLOSING",
			build: func(w *wire) {
				w.send(cli, "F.", 0)            // 7
				w.send(srv, "F.", 0, acking(6)) // 8: does not ack 7
				w.send(cli, ".", 0)             // 9: acks 8
				w.send(srv, ".", 0)             // 10: acks 7
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 CLOSING@8 TIME_WAIT@10",
			server: "SYN_RECV@1 ESTABLISHED@3 FIN_WAIT1@8 CLOSING@7 TIME_WAIT@9",
			kind:   SimultaneousKind, init: Simultaneous,
			extra: func(t *testing.T, f *Flow) {
				// The server's CLOSING is stamped before its FIN_WAIT1:
				// its FIN_WAIT1 lasted no measurable time.
				if d := f.Sides.Server.Durations; d["FIN_WAIT1"] != 0 || d["CLOSING"] <= 0 {
					t.Errorf("server durations %v", d)
				}
			},
		},
		{
			name: "crossed FINs, one carrying data",
			build: func(w *wire) {
				w.send(cli, "FP.", 50)          // 7: data + FIN
				w.send(srv, "F.", 0, acking(6)) // 8: acks neither the data nor the FIN
				w.send(cli, ".", 0)             // 9
				w.send(srv, ".", 0)             // 10: acks data and FIN
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 CLOSING@8 TIME_WAIT@10",
			server: "SYN_RECV@1 ESTABLISHED@3 FIN_WAIT1@8 CLOSING@7 TIME_WAIT@9",
			kind:   SimultaneousKind, init: Simultaneous,
			extra: func(t *testing.T, f *Flow) {
				if f.Close.HalfClose != nil {
					t.Errorf("half_close %+v in a simultaneous close", *f.Close.HalfClose)
				}
			},
		},
		{
			name: "FIN with data",
			bare: true,
			build: func(w *wire) {
				w.handshake()
				w.send(cli, "P.", 100)
				w.send(srv, "FP.", 300) // 5: response + FIN
				w.send(cli, ".", 0)     // 6: acks data and FIN
				w.send(cli, "F.", 0)    // 7
				w.send(srv, ".", 0)     // 8
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSE_WAIT@5 LAST_ACK@7 CLOSED@8",
			server: "SYN_RECV@1 ESTABLISHED@3 FIN_WAIT1@5 FIN_WAIT2@6 TIME_WAIT@7",
			kind:   FourWay, init: Server,
		},
		{
			name: "FIN whose data is acknowledged but not the FIN",
			bare: true,
			build: func(w *wire) {
				w.handshake()
				w.send(cli, "P.", 100)
				w.send(srv, "FP.", 300)                   // 5
				w.send(cli, ".", 0, ackNum(900000+1+300)) // 6: data only
			},
			client: "SYN_SENT@1 ESTABLISHED@2",
			server: "SYN_RECV@1 ESTABLISHED@3 FIN_WAIT1@5",
			kind:   HalfClosedAtEnd, init: Server,
		},
		{
			name: "FIN without ACK",
			build: func(w *wire) {
				w.fourWay(cli, "F") // 7: no ACK flag, ack field 0
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 TIME_WAIT@9",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@9 CLOSED@10",
			kind:   FourWay, init: Client,
		},
		{
			name: "FIN retransmitted: tail-loss probe, then RTO",
			build: func(w *wire) {
				w.send(cli, "F.", 0) // 7
				w.again(7, 0.205)    // 8: TLP
				w.again(7, 0.207)    // 9: RTO 1
				w.again(7, 0.414)    // 10: RTO 2, arrives
				w.send(srv, ".", 0)  // 11
				w.send(srv, "F.", 0) // 12
				w.send(cli, ".", 0)  // 13
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@11 TIME_WAIT@12",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@10 LAST_ACK@12 CLOSED@13",
			kind:   FourWay, init: Client,
			extra: func(t *testing.T, f *Flow) {
				c := f.Sides.Client
				if !cmp.Equal(c.FinFrames, []uint64{7, 8, 9, 10}) || c.FinRetransmissions != 3 || !c.FinTLP {
					t.Errorf("client FIN: frames %v, retransmissions %d, tlp %v; want [7 8 9 10], 3, true", c.FinFrames, c.FinRetransmissions, c.FinTLP)
				}
				notes := map[uint64]string{}
				for _, e := range f.Events {
					notes[e.Frame] = e.Note
				}
				want := map[uint64]string{7: NoteFIN, 8: NoteFINTLP, 9: NoteFINRetransmission, 11: NoteAckOfFIN}
				for fr, n := range want {
					if notes[fr] != n {
						t.Errorf("event %d note %q, want %q", fr, notes[fr], n)
					}
				}
			},
		},
		{
			name: "FIN retransmitted with RTO backoff only",
			build: func(w *wire) {
				w.send(cli, "F.", 0)
				w.again(7, 0.2)
				w.again(7, 0.4)
				w.send(srv, ".", 0)
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@10",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@9",
			kind:   HalfClosedAtEnd, init: Client,
			extra: func(t *testing.T, f *Flow) {
				if c := f.Sides.Client; c.FinRetransmissions != 2 || c.FinTLP {
					t.Errorf("retransmissions %d tlp %v, want 2 false", c.FinRetransmissions, c.FinTLP)
				}
			},
		},
		{
			name: "FIN retransmitted after it was acked (the ACK was lost)",
			build: func(w *wire) {
				w.send(cli, "F.", 0) // 7
				w.send(srv, ".", 0)  // 8: acks the FIN, lost before the client
				w.again(7, 0.2)      // 9: so the client retransmits
				w.send(srv, ".", 0)  // 10: the ACK that arrives
				w.send(srv, "F.", 0) // 11
				w.send(cli, ".", 0)  // 12
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@10 TIME_WAIT@11",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@11 CLOSED@12",
			kind:   FourWay, init: Client,
		},
		{
			name: "FIN never acknowledged",
			build: func(w *wire) {
				w.send(cli, "F.", 0)
				w.again(7, 0.2)
				w.again(7, 0.4)
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7",
			server: "SYN_RECV@1 ESTABLISHED@3",
			kind:   HalfClosedAtEnd, init: Client,
			extra: func(t *testing.T, f *Flow) {
				c := f.Sides.Client
				if !c.OpenEnded || c.FinalState != FinWait1 {
					t.Errorf("client final %s open-ended %v, want FIN_WAIT1 open-ended", c.FinalState, c.OpenEnded)
				}
			},
		},
		{
			name: "FIN the capture missed, proven by the peer's ACK",
			build: func(w *wire) {
				w.nxt[cli]++         // the client's FIN, not captured
				w.send(srv, ".", 0)  // 7: acks it
				w.send(srv, "F.", 0) // 8
				w.send(cli, ".", 0)  // 9
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7? FIN_WAIT2@7? TIME_WAIT@8",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7? LAST_ACK@8 CLOSED@9",
			kind:   FourWay, init: Client,
			extra: func(t *testing.T, f *Flow) {
				if c := f.Sides.Client; !c.FinInferred || len(c.FinFrames) != 0 {
					t.Errorf("client fin_inferred %v frames %v, want true []", c.FinInferred, c.FinFrames)
				}
			},
		},
		{
			name: "capture starts after the first FIN",
			bare: true,
			build: func(w *wire) {
				w.nxt[cli] += 500 // mid-stream
				w.nxt[srv] += 7000
				w.send(cli, "P.", 100) // 1
				w.send(srv, "P.", 300) // 2
				w.send(cli, ".", 0)    // 3
				w.nxt[cli]++           // FIN the capture lost
				w.send(srv, ".", 0)    // 4
				w.send(srv, "F.", 0)   // 5
				w.send(cli, ".", 0)    // 6
			},
			client: "ESTABLISHED@1? FIN_WAIT1@4? FIN_WAIT2@4? TIME_WAIT@5",
			server: "ESTABLISHED@1? CLOSE_WAIT@4? LAST_ACK@5 CLOSED@6",
			kind:   FourWay, init: Client,
			extra: func(t *testing.T, f *Flow) {
				if f.Roles != RolesInferred || f.Handshake != HandshakeNotSeen || f.Client != "198.51.100.10:40000" {
					t.Errorf("roles %s handshake %s client %s", f.Roles, f.Handshake, f.Client)
				}
			},
		},
		{
			name: "SYN+FIN is a SYN",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "SF", 0)
				w.again(1, 1)
			},
			client: "SYN_SENT@1",
			server: "",
			kind:   OpenAtEnd, init: NoRole,
			extra: func(t *testing.T, f *Flow) {
				if f.Handshake != HandshakeSynOnly || f.Sides.Server.FinalState != Closed {
					t.Errorf("handshake %s, server final %s", f.Handshake, f.Sides.Server.FinalState)
				}
			},
		},
	})
}

func TestResets(t *testing.T) {
	middlebox := func(sysctl string, frames []uint64, words ...string) func(t *testing.T, f *Flow) {
		return func(t *testing.T, f *Flow) {
			t.Helper()
			d := find(t, f, CodeRstMiddlebox)
			if d.Sysctl != sysctl || !slices.Equal(d.Frames, frames) || d.Side != Server {
				t.Errorf("diagnosis sysctl %q frames %v side %s, want %q %v server", d.Sysctl, d.Frames, d.Side, sysctl, frames)
			}
			for _, w := range words {
				if !strings.Contains(d.Message, w) {
					t.Errorf("message lacks %q: %s", w, d.Message)
				}
			}
			sv := f.Sides.Server.States
			if r := f.Close.Reset; r == nil || r.State != sv[len(sv)-1].State {
				t.Fatalf("reset %+v, want the server's last state %s", r, sv[len(sv)-1].State)
			}
			for _, e := range f.Events {
				if e.Frame == f.Close.Reset.Frame && e.Note != NoteRSTMiddlebox {
					t.Errorf("RST event %+v, want it noted %s", e, NoteRSTMiddlebox)
				}
			}
		}
	}
	runCloseCases(t, []closeCase{
		{
			// A firewall that forgot the idle connection answers the
			// client's next data in the server's name, from nearer the
			// capture point: the server's socket never closed.
			name: "RST from a middlebox after an idle period",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(5))                    // 7
				w.send(srv, "R", 0, replyRST, ackNum(0), ttl(63)) // 8
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@8/rst",
			server: "SYN_RECV@1 ESTABLISHED@3",
			kind:   ResetKind, init: Server, cause: CauseMiddlebox, rstBy: Server,
			extra: middlebox(SysCtEstablished, []uint64{7, 8}, "TTL 63", "every other segment of the server arrived with 64 (1 hop farther from the capture point)", "after 5.0s of silence (frame 7)"),
		},
		{
			// Half-closed, then silent: conntrack holds it in CLOSE_WAIT,
			// whose timeout is the one that ran out.
			name: "RST from a middlebox after a half-closed silence",
			build: func(w *wire) {
				w.send(srv, "F.", 0)                              // 7
				w.send(cli, ".", 0)                               // 8
				w.send(cli, "F.", 0, gap(5))                      // 9
				w.send(srv, "R", 0, replyRST, ackNum(0), ttl(63)) // 10
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSE_WAIT@7 LAST_ACK@9 CLOSED@10/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 FIN_WAIT1@7 FIN_WAIT2@8",
			kind:   ResetKind, init: Server, cause: CauseMiddlebox, rstBy: Server,
			extra: middlebox(SysCtCloseWait, []uint64{9, 10}, "tracked the connection as CLOSE_WAIT then, nf_conntrack_tcp_timeout_close_wait (60 s by default)"),
		},
		{
			name: "RST from a middlebox with no idle period",
			build: func(w *wire) {
				w.send(cli, "P.", 100)        // 7
				w.send(srv, "R.", 0, ttl(50)) // 8
				w.send(srv, "P.", 10)         // 9: the server is alive
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@8/rst",
			server: "SYN_RECV@1 ESTABLISHED@3",
			kind:   ResetKind, init: Server, cause: CauseMiddlebox, rstBy: Server,
			extra: middlebox("", []uint64{8}, "TTL 50", "(14 hops farther from the capture point)", "A firewall rule, an IPS or a load balancer"),
		},
		{
			// The server's own segments came with two TTLs (the route
			// changed): a third one proves nothing.
			name: "RST with another TTL when the sender's TTL varied",
			build: func(w *wire) {
				w.send(srv, ".", 0, ttl(60))  // 7
				w.send(srv, "R.", 0, ttl(50)) // 8
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@8/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSED@8/rst",
			kind:   ResetKind, init: Server, cause: CauseLingerZero, rstBy: Server,
		},
		{
			name: "RST with data",
			build: func(w *wire) {
				w.send(cli, "R.", 20) // 7: a RST carrying text
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@7/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSED@7/rst",
			kind:   ResetKind, init: Client, cause: CauseUnreadData, rstBy: Client,
			extra: func(t *testing.T, f *Flow) {
				if e := f.Events[len(f.Events)-1]; e.Frame != 7 || e.Len != 20 || e.Note != NoteRST {
					t.Errorf("last event %+v, want the RST with its 20 bytes", e)
				}
			},
		},
		{
			name: "RST out of window is ignored and counted",
			build: func(w *wire) {
				w.send(srv, "R", 0, seqNum(123456789)) // 7
				w.send(cli, "P.", 10)                  // 8: the connection goes on
				w.send(srv, ".", 0)
			},
			client: "SYN_SENT@1 ESTABLISHED@2",
			server: "SYN_RECV@1 ESTABLISHED@3",
			kind:   OpenAtEnd, init: NoRole,
			extra: func(t *testing.T, f *Flow) {
				if n := f.Sides.Server.IgnoredRSTs; n != 1 {
					t.Errorf("server ignored_rsts %d, want 1", n)
				}
			},
		},
		{
			name: "unread data: RST instead of FIN after an unanswered request",
			bare: true,
			build: func(w *wire) {
				w.handshake()
				w.send(cli, "P.", 200)
				w.send(srv, ".", 0)
				w.send(srv, "R.", 0) // 6
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@6/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSED@6/rst",
			kind:   ResetKind, init: Server, cause: CauseUnreadData, rstBy: Server,
		},
		{
			name: "SO_LINGER 0: RST instead of FIN, nothing unread",
			build: func(w *wire) {
				w.send(srv, "R.", 0) // 7: the server answered the request
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@7/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSED@7/rst",
			kind:   ResetKind, init: Server, cause: CauseLingerZero, rstBy: Server,
		},
		{
			name: "data after close answered by RST: half-close by close()",
			build: func(w *wire) {
				w.send(cli, "F.", 0)                     // 7
				w.send(srv, ".", 0)                      // 8
				w.send(srv, "P.", 1000, gap(.2))         // 9
				w.send(cli, "R", 0, replyRST, ackNum(0)) // 10
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 CLOSED@10/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 CLOSED@10/rst",
			kind:   ResetKind, init: Client, cause: CauseDataAfterClose, rstBy: Client,
			extra: func(t *testing.T, f *Flow) {
				want := &HalfClose{Sender: Server, Bytes: 1000, Duration: 0.201, ActiveUsed: ActiveUsedClose}
				if d := cmp.Diff(want, f.Close.HalfClose, cmpFloat); d != "" {
					t.Errorf("half_close (-want +got):\n%s", d)
				}
			},
		},
		{
			name: "late FIN after FIN_WAIT2 expired",
			build: func(w *wire) {
				w.send(cli, "F.", 0)
				w.send(srv, ".", 0)
				w.send(srv, "F.", 0, gap(5))
				w.send(cli, "R", 0, replyRST, ackNum(0))
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 CLOSED@10/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@9 CLOSED@10/rst",
			kind:   ResetKind, init: Client, cause: CauseFinWait2Timeout, rstBy: Client,
		},
		{
			name: "retransmitted FIN to a missing TIME_WAIT",
			build: func(w *wire) {
				w.send(cli, "F.", 0) // 7
				w.send(srv, ".", 0)  // 8
				w.send(srv, "F.", 0) // 9
				w.send(cli, ".", 0)  // 10: lost
				w.again(9, 0.2)      // 11
				w.send(cli, "R", 0, replyRST, ackNum(0))
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 TIME_WAIT@9 CLOSED@12/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@9 CLOSED@12/rst",
			kind:   ResetKind, init: Client, cause: CauseTimeWaitMissing, rstBy: Client,
		},
		{
			name: "TCP_LINGER2 < 0: RST right after our FIN is acknowledged",
			build: func(w *wire) {
				w.send(cli, "F.", 0)
				w.send(srv, ".", 0)
				w.send(cli, "R", 0, replyRST, ackNum(0))
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 CLOSED@9/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 CLOSED@9/rst",
			kind:   ResetKind, init: Client, cause: CauseLinger2Negative, rstBy: Client,
		},
		{
			name: "orphan limit: FIN then RST+ACK at once",
			build: func(w *wire) {
				w.send(cli, "F.", 0)
				w.send(cli, "R.", 0)
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 CLOSED@8/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSED@8/rst",
			kind:   ResetKind, init: Client, cause: CauseOrphanLimit, rstBy: Client,
		},
		{
			name: "refused SYN",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.send(srv, "R.", 0, seqNum(0), ackNum(1001), replyRST)
			},
			client: "SYN_SENT@1 CLOSED@2/rst",
			server: "",
			kind:   Rejected, init: Server, cause: CauseRefused, rstBy: Server,
		},
		{
			name: "listen queue overflow: RST to the handshake ACK",
			bare: true,
			build: func(w *wire) {
				w.handshake()
				w.send(cli, "P.", 100)
				w.send(srv, "R", 0, replyRST, ackNum(0))
			},
			// The listener resets the connection it never created: the
			// server stays in SYN_RECV until its RST (KERNEL.md row 18).
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@5/rst",
			server: "SYN_RECV@1 CLOSED@5/rst",
			kind:   ResetKind, init: Server, cause: CauseListenOverflow, rstBy: Server,
			extra: func(t *testing.T, f *Flow) {
				if r := f.Close.Reset; r == nil || r.State != SynRecv {
					t.Errorf("reset: got %+v, want sent from SYN_RECV", r)
				}
			},
		},
		{
			name: "keepalive probes then RST",
			build: func(w *wire) {
				w.send(cli, ".", 0, seqNum(1000+100), gap(7200)) // 7: probe, seq = snd_nxt - 1
				w.send(cli, ".", 0, seqNum(1000+100), gap(75))   // 8
				w.send(cli, "R.", 0, gap(75))                    // 9
			},
			client: "SYN_SENT@1 ESTABLISHED@2 CLOSED@9/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSED@9/rst",
			kind:   ResetKind, init: Client, cause: CauseKeepalive, rstBy: Client,
		},
		{
			name: "RST after a four-way close kills the TIME_WAIT",
			build: func(w *wire) {
				w.fourWay(cli, "F.")
				w.send(srv, "R", 0, replyRST, ackNum(0), gap(1)) // 11: seq = the client's rcv_nxt
			},
			client: "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 TIME_WAIT@9 CLOSED@11/rst",
			server: "SYN_RECV@1 ESTABLISHED@3 CLOSE_WAIT@7 LAST_ACK@9 CLOSED@10",
			kind:   ResetKind, init: Client, cause: CauseUnknown, rstBy: Server,
		},
	})
}

// cmpFloat compares durations to the microsecond.
var cmpFloat = cmp.Comparer(func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 })

func TestHalfCloseShutdown(t *testing.T) {
	w := newWire(t)
	w.handshake()
	w.exchange()
	w.send(cli, "F.", 0)             // 7: shutdown(SHUT_WR)
	w.send(srv, ".", 0)              // 8
	w.send(srv, "P.", 1000)          // 9
	w.send(cli, ".", 0)              // 10: acknowledged: not an orphan
	w.send(srv, "P.", 500, gap(0.5)) // 11
	w.send(cli, ".", 0)              // 12
	w.send(srv, "F.", 0)             // 13
	w.send(cli, ".", 0)              // 14
	f := w.flow()
	want := &HalfClose{Sender: Server, Bytes: 1500, Duration: 0.503, ActiveUsed: ActiveUsedShutdown}
	if d := cmp.Diff(want, f.Close.HalfClose, cmpFloat); d != "" {
		t.Errorf("half_close (-want +got):\n%s", d)
	}
	if got := states(f.Sides.Client); got != "SYN_SENT@1 ESTABLISHED@2 FIN_WAIT1@7 FIN_WAIT2@8 TIME_WAIT@13" {
		t.Errorf("client states %s", got)
	}
	if f.Close.Kind != FourWay {
		t.Errorf("kind %s", f.Close.Kind)
	}
}
