package analyze

import (
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// finSeq is the sequence number frame f's FIN occupies.
func finSeq(w *wire, f int) uint32 { return w.segs[f-1].Seq + w.segs[f-1].PayloadLen }

// dsack gives the segment the D-SACK block [l, r).
func dsack(l, r uint32) opt {
	return func(_ *wire, s *flows.Segment) { s.SACK, s.DSACK, s.DSACKLeft, s.DSACKRight = true, true, l, r }
}

// dsackOf gives the segment a D-SACK block over frame f's FIN.
func dsackOf(w *wire, f int) opt { return dsack(finSeq(w, f), finSeq(w, f)+1) }

// serverCloses has the server acknowledge the client's FIN (with o),
// send its own FIN 100 ms later and the client acknowledge it; it returns
// the flow.
func serverCloses(w *wire, o ...opt) *Flow {
	w.send(srv, ".", 0, o...)
	w.send(srv, "F.", 0, gap(0.1))
	w.send(cli, ".", 0)
	return w.flow()
}

// TestFinDSACK: a client FIN sent twice, acknowledged only after the
// second copy. Without a D-SACK the wire cannot tell whether the first
// copy or its acknowledgement was lost; with the server's D-SACK over the
// FIN it can, and the diagnosis says so and points at the path back.
func TestFinDSACK(t *testing.T) {
	tests := []struct {
		name string
		// block is how the server's ACK reports the FIN: 0 none, 1 a
		// D-SACK over it, 2 a D-SACK over data before it only.
		block     int
		wantFrame uint64
		says      []string
		advice    string
		// closeWait is where the server's CLOSE_WAIT is stamped: the
		// copy that arrived first, as far as the wire proves it.
		closeWait string
	}{
		{"no D-SACK: either copy could have been lost", 0, 0,
			[]string{"before the server acknowledged it at frame 9"}, "between the hosts", "CLOSE_WAIT@8"},
		{"a D-SACK over the FIN: the acknowledgement was lost", 1, 9,
			[]string{"D-SACK at frame 9 reports the FIN received twice: the first copy had arrived, so the retransmission was needless — its acknowledgement was lost on the way back, or it came later"}, "path from the server to the client", "CLOSE_WAIT@7"},
		{"a D-SACK over earlier data only", 2, 0,
			[]string{"before the server acknowledged it at frame 9"}, "between the hosts", "CLOSE_WAIT@8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			w.handshake()
			w.exchange()
			fin := w.send(cli, "F.", 0) // 7
			w.again(fin, 0.205)         // 8: tail-loss probe
			var o []opt
			switch tt.block {
			case 1:
				o = append(o, dsackOf(w, fin))
			case 2:
				o = append(o, dsack(finSeq(w, fin)-100, finSeq(w, fin)))
			}
			f := serverCloses(w, o...) // 9 (its ACK), 10, 11
			if got := f.Sides.Client.FinDSACK; got != tt.wantFrame {
				t.Errorf("client fin_dsack %d, want %d", got, tt.wantFrame)
			}
			if st := states(f.Sides.Server); !strings.Contains(st, " "+tt.closeWait+" ") {
				t.Errorf("server states %s, want %s", st, tt.closeWait)
			}
			if f.Sides.Server.FinDSACK != 0 {
				t.Errorf("server fin_dsack %d, want none", f.Sides.Server.FinDSACK)
			}
			d := find(t, f, CodeFinRetransmitted)
			for _, s := range tt.says {
				if !strings.Contains(d.Message, s) {
					t.Errorf("message lacks %q:\n%s", s, d.Message)
				}
			}
			if !strings.Contains(d.Advice, tt.advice) {
				t.Errorf("advice lacks %q: %s", tt.advice, d.Advice)
			}
			if !slices.Equal(d.Frames, []uint64{7, 8, 9}) {
				t.Errorf("frames %v, want [7 8 9]", d.Frames)
			}
			var notes []string
			for _, e := range f.Events {
				if e.Frame == 9 {
					notes = append(notes, e.Note)
				}
			}
			want := NoteAckOfFIN
			if tt.wantFrame != 0 {
				want = NoteDSACKOfFIN
			}
			if !slices.Equal(notes, []string{want}) {
				t.Errorf("frame 9 kept as %v, want [%s]", notes, want)
			}
		})
	}
}

// TestFinDSACKAfterAck: when the capture shows the acknowledgement
// before the copy, the message already blames the way back; the D-SACK
// to the copy confirms it and joins the frames.
func TestFinDSACKAfterAck(t *testing.T) {
	w := newWire(t)
	w.handshake()
	w.exchange()
	fin := w.send(cli, "F.", 0)          // 7
	w.send(srv, ".", 0, gap(0.01))       // 8: lost after the capture point
	cp := w.again(fin, 0.2)              // 9
	f := serverCloses(w, dsackOf(w, cp)) // 10 (its ACK), 11, 12
	d := find(t, f, CodeFinRetransmitted)
	if !strings.Contains(d.Message, "lost on the way back (its D-SACK at frame 10 reports the FIN received twice)") {
		t.Errorf("message: %s", d.Message)
	}
	if st := states(f.Sides.Server); !strings.Contains(st, " CLOSE_WAIT@7 ") {
		t.Errorf("server states %s, want CLOSE_WAIT@7: the first acknowledgement proves the first copy", st)
	}
	if !slices.Equal(d.Frames, []uint64{7, 8, 9, 10}) || f.Sides.Client.FinDSACK != 10 {
		t.Errorf("frames %v, fin_dsack %d; want [7 8 9 10], 10", d.Frames, f.Sides.Client.FinDSACK)
	}
}

// TestFinDSACKThreeCopies: after three copies a D-SACK proves only that
// one before the latest arrived: the server's CLOSE_WAIT moves to the
// second copy, and the message claims the last retransmission needless,
// not every one.
func TestFinDSACKThreeCopies(t *testing.T) {
	w := newWire(t)
	w.handshake()
	w.exchange()
	fin := w.send(cli, "F.", 0)          // 7
	w.again(fin, 0.205)                  // 8
	cp := w.again(fin, 0.41)             // 9
	f := serverCloses(w, dsackOf(w, cp)) // 10 (its ACK), 11, 12
	d := find(t, f, CodeFinRetransmitted)
	if !strings.Contains(d.Message, "a copy before the latest had arrived, so the last retransmission at least was needless — an acknowledgement of the server's was lost on the way back") {
		t.Errorf("message: %s", d.Message)
	}
	if st := states(f.Sides.Server); !strings.Contains(st, " CLOSE_WAIT@8 ") {
		t.Errorf("server states %s, want CLOSE_WAIT@8", st)
	}
}
