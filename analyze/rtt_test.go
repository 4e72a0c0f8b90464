package analyze

import (
	"math"
	"testing"
)

// near says whether a and b are within a nanosecond.
func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// rttOf renders a round trip for messages.
func rttOf(r *RTT, x Role) string {
	if v, ok := r.Of(x); ok {
		return FormatSeconds(v)
	}
	return "null"
}

func TestHandshakeRTT(t *testing.T) {
	for _, tt := range []struct {
		name string
		// build files the handshake (frames 1-3 unless it says otherwise).
		build          func(w *wire)
		client, server float64 // -1: null
	}{
		{
			// Captured next to the server: its SYN-ACK follows the SYN
			// at once, the client's ACK comes a round trip later.
			name: "near the server",
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.send(srv, "S.", 0, gap(0.0001))
				w.send(cli, ".", 0, gap(0.024))
			},
			client: 0.024, server: 0.0001,
		},
		{
			name: "SYN retransmitted: the server's round trip is ambiguous",
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.again(1, 1)
				w.send(srv, "S.", 0, gap(0.003))
				w.send(cli, ".", 0, gap(0.005))
			},
			client: 0.005, server: -1,
		},
		{
			name: "SYN-ACK retransmitted: the client's round trip is ambiguous",
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.send(srv, "S.", 0, gap(0.002))
				w.again(2, 1)
				w.send(cli, ".", 0, gap(0.004))
			},
			client: -1, server: 0.002,
		},
		{
			name: "no ACK of the SYN-ACK",
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.send(srv, "S.", 0, gap(0.002))
			},
			client: -1, server: 0.002,
		},
		{
			name: "capture starts after the handshake",
			build: func(w *wire) {
				w.send(cli, "P.", 100)
				w.send(srv, "P.", 300)
			},
			client: -1, server: -1,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			tt.build(w)
			f := w.flow()
			for _, c := range []struct {
				x    Role
				want float64
			}{{Client, tt.client}, {Server, tt.server}} {
				got, ok := f.RTT.Of(c.x)
				if ok != (c.want >= 0) || ok && !near(got, c.want) {
					t.Errorf("round trip to the %s: got %s, want %v", c.x, rttOf(f.RTT, c.x), c.want)
				}
			}
			if (f.RTT == nil) != (tt.client < 0 && tt.server < 0) {
				t.Errorf("RTT %+v, want nil exactly when neither is known", f.RTT)
			}
		})
	}
}

func TestLived(t *testing.T) {
	// Captured next to the server, 24 ms (round trip) from the client:
	// the server ACKs the client's FIN 0.1 ms after the capture point saw
	// it, but the client waits a whole round trip for that ACK.
	w := newWire(t)
	w.send(cli, "S", 0)
	w.send(srv, "S.", 0, gap(0.0001))
	w.send(cli, ".", 0, gap(0.024))
	w.exchange()                     // 4-6
	w.send(cli, "F.", 0)             // 7: client FIN_WAIT1, server CLOSE_WAIT
	w.send(srv, ".", 0, gap(0.0001)) // 8: client FIN_WAIT2
	w.send(srv, "F.", 0, gap(0.5))   // 9: client TIME_WAIT, server LAST_ACK
	w.send(cli, ".", 0, gap(0.024))  // 10: server CLOSED
	f := w.flow()

	want := map[Role]map[State][2]float64{ // seen, lived
		// FIN_WAIT1: from the client's FIN (it left the client 12 ms
		// before the capture point saw it) to the server's ACK (it
		// reached the client 12 ms after): 0.1 ms + 24 ms.
		// FIN_WAIT2: from receiving the ACK to receiving the FIN, both
		// 12 ms late: unchanged.
		Client: {FinWait1: {0.0001, 0.0241}, FinWait2: {0.5, 0.5}},
		// CLOSE_WAIT: from receiving the client's FIN to sending its own,
		// both 50 µs away: 0.5001 s - 0.1 ms. LAST_ACK: from sending its
		// FIN to receiving the client's ACK: 24 ms + 0.1 ms.
		Server: {CloseWait: {0.5001, 0.5}, LastAck: {0.024, 0.0241}},
	}
	for x, states := range want {
		got := map[State][2]float64{}
		for _, sp := range Lived(f, x) {
			got[sp.State] = [2]float64{sp.Seen, sp.Lived}
		}
		if len(got) != len(states) {
			t.Errorf("%s: lived spans %v, want %v", x, got, states)
		}
		for st, w := range states {
			if g, ok := got[st]; !ok || !near(g[0], w[0]) || !near(g[1], w[1]) {
				t.Errorf("%s %s: seen %v lived %v, want %v %v", x, st, g[0], g[1], w[0], w[1])
			}
			if d := sideOf(f, x).Durations[st.String()]; !near(d, w[0]) {
				t.Errorf("%s %s: seen %v, but the side's duration is %v", x, st, w[0], d)
			}
		}
	}

	f.RTT = nil
	if got := Lived(f, Client); got != nil {
		t.Errorf("without a round trip: %v, want nil", got)
	}
}
