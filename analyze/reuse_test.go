package analyze

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/flows"
)

// closeFirst runs a whole first incarnation (handshake, exchange) closed
// four-way by side first, and returns the FIN sequence numbers of client
// and server.
func closeFirst(w *wire, first int) (clientFIN, serverFIN uint32) {
	w.handshake()
	w.exchange()
	return w.fourWay(first, "F.") // frame 10: the TIME_WAIT's first ACK of the peer's FIN
}

// reopen starts incarnation two after d seconds with a full handshake.
func reopen(w *wire, d float64, clientISN, serverISN uint32) {
	w.now += int64(d*1e9) - 1e6
	w.newIncarnation(clientISN, serverISN)
	w.handshake()
}

func TestReuse(t *testing.T) {
	tests := []struct {
		name  string
		build func(w *wire)
		want  *Reuse
	}{
		{
			name: "client reuses its own TIME_WAIT (ISN = old FIN seq + 65538)",
			build: func(w *wire) {
				c, _ := closeFirst(w, cli)
				reopen(w, 1.3, c+65538, 31337)
			},
			want: &Reuse{PreviousID: 1, Gap: 1.3, TimeWaitHolder: Client, Timestamps: true, Verdict: VerdictClientReuse},
		},
		{
			name: "server accepts the SYN through its TIME_WAIT",
			build: func(w *wire) {
				_, s := closeFirst(w, srv)
				reopen(w, 0.5, 77777, s+65538)
			},
			want: &Reuse{PreviousID: 1, Gap: 0.5, TimeWaitHolder: Server, Timestamps: true, Verdict: VerdictServerAccept},
		},
		{
			name: "TIME_WAIT refuses the SYN: old ACK, client RST, SYN retry",
			build: func(w *wire) {
				w.noTS = true
				_, _ = closeFirst(w, srv)
				oldSrv, oldCli := w.nxt[srv], w.nxt[cli]
				w.now += 2e9
				w.newIncarnation(55555, 0)
				syn := w.send(cli, "S", 0)                                   // 11
				w.send(srv, ".", 0, seqNum(oldSrv), ackNum(oldCli), ipid(0)) // 12: the TIME_WAIT's ACK
				w.send(cli, "R", 0, seqNum(oldCli))                          // 13
				w.again(syn, 0.011)                                          // 14
				w.isn[srv] = 123456
				w.nxt[srv] = 123456
				w.send(srv, "S.", 0) // 15
				w.send(cli, ".", 0)  // 16
			},
			want: &Reuse{PreviousID: 1, Gap: 2.001, TimeWaitHolder: Server, Timestamps: false, Verdict: VerdictRefused},
		},
		{
			name: "reuse after the TIME_WAIT expired",
			build: func(w *wire) {
				_, _ = closeFirst(w, cli)
				reopen(w, 61, 4242, 2424)
			},
			want: &Reuse{PreviousID: 1, Gap: 61, TimeWaitHolder: Client, Timestamps: true, Verdict: VerdictExpired},
		},
		{
			name: "reuse inside 60 s without the kernel's fingerprint",
			build: func(w *wire) {
				_, _ = closeFirst(w, cli)
				reopen(w, 5, 4242, 2424)
			},
			want: &Reuse{PreviousID: 1, Gap: 5, TimeWaitHolder: Client, Timestamps: true, Verdict: VerdictUnproven},
		},
		{
			name: "no TIME_WAIT: the previous connection ended by RST",
			build: func(w *wire) {
				w.handshake()
				w.exchange()
				w.send(cli, "R.", 0) // 7
				reopen(w, 0.25, 4242, 2424)
			},
			want: &Reuse{PreviousID: 1, Gap: 0.25, TimeWaitHolder: NoRole, Timestamps: true, Verdict: VerdictNoTimeWait},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			tt.build(w)
			res := w.run()
			if len(res.Flows) != 2 {
				t.Fatalf("%d flows, want 2", len(res.Flows))
			}
			first, second := res.Flows[0], res.Flows[1]
			if first.Reuse != nil || second.Incarnation != 2 || second.ID != 2 {
				t.Errorf("first reuse %v, second incarnation %d id %d", first.Reuse, second.Incarnation, second.ID)
			}
			near := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-6 })
			if d := cmp.Diff(tt.want, second.Reuse, near); d != "" {
				t.Errorf("reuse (-want +got):\n%s", d)
			}
		})
	}
}

// TestRefusedSYNIsPartOfTheHandshake: the client's RST to the TIME_WAIT's
// ACK does not end the new connection.
func TestRefusedSYNIsPartOfTheHandshake(t *testing.T) {
	w := newWire(t)
	w.noTS = true
	closeFirst(w, srv)
	oldSrv, oldCli := w.nxt[srv], w.nxt[cli]
	w.newIncarnation(55555, 123456)
	syn := w.send(cli, "S", 0, gap(1))                           // 11
	w.send(srv, ".", 0, seqNum(oldSrv), ackNum(oldCli), ipid(0)) // 12
	w.send(cli, "R", 0, seqNum(oldCli))                          // 13
	w.again(syn, 0.011)                                          // 14
	w.send(srv, "S.", 0)                                         // 15
	w.send(cli, ".", 0)                                          // 16
	w.send(cli, "F.", 0)                                         // 17
	w.send(srv, "F.", 0)                                         // 18
	w.send(cli, ".", 0)                                          // 19
	f := w.run().Flows[1]
	if got := states(f.Sides.Client); got != "SYN_SENT@11 ESTABLISHED@15 FIN_WAIT1@17 FIN_WAIT2@18 TIME_WAIT@18" {
		t.Errorf("client states %s", got)
	}
	if got := states(f.Sides.Server); got != "SYN_RECV@14 ESTABLISHED@16 CLOSE_WAIT@17 LAST_ACK@18 CLOSED@19" {
		t.Errorf("server states %s", got)
	}
	if f.Close.Kind != ThreeWay || f.Close.Reset != nil {
		t.Errorf("close %+v", f.Close)
	}
	notes := map[uint64]string{}
	for _, e := range f.Events {
		notes[e.Frame] = e.Note
	}
	if notes[12] != NoteBadAck || notes[13] != NoteRST || notes[14] != NoteSYNRetransmission {
		t.Errorf("event notes %v", notes)
	}
}

// TestMemoRoundTrip: what an incarnation leaves in its Prior's Memo is
// read back whole by the next one, for every combination of flags and
// extreme marks and sequence numbers, and an empty Memo holds nothing.
func TestMemoRoundTrip(t *testing.T) {
	var none flows.Memo
	if (&prevInfo{}).unpack(&none) {
		t.Error("an empty Memo unpacks as one")
	}
	// Frames up to 2^60 - 1: the flags share the first mark's word.
	marks := []flows.Mark{{}, {Frame: 1, Time: 1}, {Frame: 1<<60 - 1, Time: -1}, {Frame: 42, Time: 1 << 62}, {Frame: 1<<59 + 5, Time: 1<<63 - 1}}
	seqs := []uint32{0, 1, 1<<32 - 1, 0x80000001}
	for n := range 1 << 5 {
		p := prevInfo{
			tw:     [2]flows.Mark{marks[n%len(marks)], marks[(n/2)%len(marks)]},
			finSeq: [2]uint32{seqs[n%len(seqs)], seqs[(n/3)%len(seqs)]},
			fin:    [2]bool{n&1 != 0, n&2 != 0},
			ts:     n&4 != 0,
		}
		m := p.pack()
		var q prevInfo
		if !q.unpack(&m) || q != p {
			t.Errorf("%+v came back as %+v", p, q)
		}
	}
}
