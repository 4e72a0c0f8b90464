package flows

import "testing"

// TestStalls follows the copies of a server's oldest unacknowledged data,
// as Linux sends them over a path that drops large packets: the wire of
// the lab's pmtu-black-hole scenarios, and the ordinary stalls that are
// not black holes.
func TestStalls(t *testing.T) {
	const isn, sisn = 100, 5000
	req := []*Segment{
		tcp(4, .01, cl, sv, PSH|ACK, isn+1, sisn+1, 12),
		tcp(5, .02, sv, cl, ACK, sisn+1, isn+13, 0),
		tcp(6, .03, sv, cl, PSH|ACK, sisn+1, isn+13, 7240),
	}
	// copyAt is a copy as Linux sends it, DF set (path MTU discovery);
	// clearAt one with DF clear (IP_PMTUDISC_DONT, ip_no_pmtu_disc).
	clearAt := func(frame int, at float64, n uint32) *Segment {
		return tcp(frame, at, sv, cl, ACK, sisn+1, isn+13, n)
	}
	copyAt := func(frame int, at float64, n uint32) *Segment {
		s := clearAt(frame, at, n)
		s.DF = true
		return s
	}
	cases := []struct {
		name string
		segs []*Segment
		// want is the stall Evidence returns, nil for none.
		want *Stall
	}{
		{
			// tcp_mtu_probing = 0: full-size copies; the client's FIN
			// after the second shows it up, and acknowledges none.
			"full size, the peer goes on", []*Segment{
				copyAt(7, .2, 1448), copyAt(8, .6, 1448), copyAt(9, 1.5, 1448), copyAt(10, 3.1, 1448),
				tcp(11, 8, cl, sv, FIN|ACK, isn+13, sisn+1, 0),
				tcp(12, 8.05, sv, cl, ACK, sisn+7241, isn+14, 0), // the server's ACK of that FIN
				copyAt(13, 13.2, 1448),
			},
			&Stall{Seq: sisn + 1, Copies: 5, MaxLen: 1448, MinLen: 1448, LastLen: 1448, PeerSegs: 1},
		},
		{
			// DF clear: a router fragments the copies, and something
			// after it drops fragments (lab fragments-dropped).
			"full size, DF clear, the peer goes on", []*Segment{
				clearAt(7, .2, 1448), clearAt(8, .6, 1448), clearAt(9, 1.5, 1448), clearAt(10, 3.1, 1448),
				tcp(11, 8, cl, sv, FIN|ACK, isn+13, sisn+1, 0),
				clearAt(12, 13.2, 1448),
			},
			&Stall{Seq: sisn + 1, Copies: 5, MaxLen: 1448, MinLen: 1448, LastLen: 1448, PeerSegs: 1, Fragmentable: true},
		},
		{
			// One copy with DF set among them: not all fragmentable.
			"DF clear but once", []*Segment{
				clearAt(7, .2, 1448), clearAt(8, .6, 1448), copyAt(9, 1.5, 1448), clearAt(10, 3.1, 1448),
				tcp(11, 8, cl, sv, FIN|ACK, isn+13, sisn+1, 0),
			},
			&Stall{Seq: sisn + 1, Copies: 4, MaxLen: 1448, MinLen: 1448, LastLen: 1448, PeerSegs: 1},
		},
		{
			// tcp_mtu_probing = 1: 1024 bytes are still too many, 512
			// pass and the client acknowledges them.
			"a shorter copy gets through", []*Segment{
				copyAt(7, .2, 1448), copyAt(8, .6, 1448), copyAt(9, 1.5, 1448), copyAt(10, 3.1, 1448),
				copyAt(11, 6.6, 1024), copyAt(12, 13.3, 512),
				tcp(13, 13.31, cl, sv, ACK, isn+13, sisn+513, 0),
			},
			&Stall{Seq: sisn + 1, Copies: 6, MaxLen: 1448, MinLen: 512, LastLen: 512, ShrinkLen: 1024, LongLen: 1448},
		},
		{
			// The client had closed: its RST answers the 512 bytes.
			"a shorter copy draws a RST", []*Segment{
				copyAt(7, .2, 1448), copyAt(8, .6, 1448), copyAt(9, 1.5, 1448),
				tcp(10, 3, cl, sv, FIN|ACK, isn+13, sisn+1, 0),
				copyAt(11, 3.1, 1024),
				tcp(12, 3.11, cl, sv, RST, isn+14, 0, 0),
			},
			&Stall{Seq: sisn + 1, Copies: 4, MaxLen: 1448, MinLen: 1024, LastLen: 1024, ShrinkLen: 1024, LongLen: 1448, PeerSegs: 1, AnswerRST: true},
		},
		{
			// 1024 bytes after a single full copy is no step of its own
			// (the shorter copy must follow two); 512 after it is.
			"shorter twice", []*Segment{
				copyAt(7, .2, 1448), copyAt(8, .6, 1024), copyAt(9, 1.5, 512),
				tcp(10, 1.51, cl, sv, ACK, isn+13, sisn+513, 0),
			},
			&Stall{Seq: sisn + 1, Copies: 3, MaxLen: 1448, MinLen: 512, LastLen: 512, ShrinkLen: 512, LongLen: 1024},
		},
		{
			// Loss: the third copy gets through, though the client's
			// own data went on meanwhile.
			"answered at full size", []*Segment{
				copyAt(7, .2, 1448), copyAt(8, .6, 1448),
				tcp(9, 1, cl, sv, PSH|ACK, isn+13, sisn+1, 100),
				copyAt(10, 1.5, 1448),
				tcp(11, 1.51, cl, sv, ACK, isn+113, sisn+7241, 0),
			},
			nil,
		},
		{
			// A peer that is gone sends nothing: data-unanswered's.
			"full size, the peer silent", []*Segment{
				copyAt(7, .2, 1448), copyAt(8, .6, 1448), copyAt(9, 1.5, 1448), copyAt(10, 3.1, 1448),
			},
			nil,
		},
		{
			// Duplicate ACKs (of later data that arrived) do not show a
			// black hole: only payload, FIN or RST count.
			"duplicate ACKs", []*Segment{
				copyAt(7, .2, 1448), copyAt(8, .6, 1448),
				tcp(9, .61, cl, sv, ACK, isn+13, sisn+1, 0),
				copyAt(10, 1.5, 1448),
				tcp(11, 1.51, cl, sv, ACK, isn+13, sisn+1, 0),
			},
			nil,
		},
		{
			// Small copies the peer outlives: not a matter of size.
			"small copies", []*Segment{
				copyAt(7, .2, 300), copyAt(8, .6, 300), copyAt(9, 1.5, 300),
				tcp(10, 3, cl, sv, FIN|ACK, isn+13, sisn+1, 0),
			},
			nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var done []*Conn
			tb := collect(TableOptions{}, &done)
			for _, s := range append(append(handshake(1, 0, cl, isn, sisn), req...), tc.segs...) {
				if err := tb.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := tb.Flush(); err != nil {
				t.Fatal(err)
			}
			if h := &done[0].Dir[FromClient]; h.Stalls != nil {
				t.Errorf("the client stalled: %+v", *h.Stalls)
			}
			got := done[0].Dir[FromServer].Stalls.Evidence()
			if tc.want == nil {
				if got != nil {
					t.Fatalf("black hole %+v, want none", *got)
				}
				return
			}
			if got == nil {
				t.Fatalf("no black hole, want %+v", *tc.want)
			}
			g := *got
			// Marks are checked apart: the frames above are plain.
			for _, m := range []*Mark{&g.First, &g.Second, &g.Last, &g.Shrink, &g.PeerFirst, &g.Answer} {
				*m = Mark{}
			}
			if g != *tc.want {
				t.Errorf("stall\n %+v, want\n %+v", g, *tc.want)
			}
			if got.First.Frame != 7 || got.Second.Frame != 8 || got.Last.Frame == 0 {
				t.Errorf("copies at frames %d, %d … %d, want 7, 8 …", got.First.Frame, got.Second.Frame, got.Last.Frame)
			}
			if (got.Shrink.Frame != 0) != (tc.want.ShrinkLen != 0) || (got.PeerFirst.Frame != 0) != (tc.want.PeerSegs != 0) {
				t.Errorf("shrink at frame %d, peer first at %d", got.Shrink.Frame, got.PeerFirst.Frame)
			}
		})
	}
}
