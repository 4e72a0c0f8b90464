package analyze

import "github.com/teardown/teardown/flows"

// RTT is the capture point's round trip to each side, in seconds, read
// from the handshake: to the server, from the client's SYN to the
// server's SYN-ACK; to the client, from that SYN-ACK to the client's
// first acknowledgement of it. As Karn's rule has it, a segment sent more
// than once times nothing (which transmission was answered is unknown):
// that side's round trip is null. Their sum is Wireshark's initial RTT
// (tcp.analysis.initial_rtt); their ratio says where the capture was
// taken.
type RTT struct {
	Client *float64 `json:"client"`
	Server *float64 `json:"server"`
}

// rtt fills r (its values in v) with the handshake's round trips, and
// returns it; nil when it shows neither.
func (s *story) rtt(r *RTT, v *[2]float64) *RTT {
	c := s.conn
	if c.Roles != flows.RolesSYN {
		return nil
	}
	cl, sv := &c.Dir[flows.FromClient], &c.Dir[flows.FromServer]
	// The SYN-ACK: the server's SYN that acknowledged the client's.
	synAck := sv.SYNCount > 0 && sv.HandshakeAck == sv.SYN
	if synAck && cl.SYNCount == 1 && cl.SYN.Time <= sv.SYN.Time && cl.SYN.Frame < sv.SYN.Frame {
		v[1] = float64(sv.SYN.Time-cl.SYN.Time) / 1e9
		r.Server = &v[1]
	}
	if synAck && sv.SYNCount == 1 && cl.HandshakeAck.Frame > sv.SYN.Frame && cl.HandshakeAck.Time >= sv.SYN.Time {
		v[0] = float64(cl.HandshakeAck.Time-sv.SYN.Time) / 1e9
		r.Client = &v[0]
	}
	if r.Client == nil && r.Server == nil {
		return nil
	}
	return r
}

// clone returns a copy of r that shares nothing with it.
func (r *RTT) clone() *RTT {
	if r == nil {
		return nil
	}
	c := new(struct {
		r RTT
		v [2]float64
	})
	if r.Client != nil {
		c.v[0] = *r.Client
		c.r.Client = &c.v[0]
	}
	if r.Server != nil {
		c.v[1] = *r.Server
		c.r.Server = &c.v[1]
	}
	return &c.r
}

// Of returns the round trip to side x (Client or Server); false when the
// handshake did not show it.
func (r *RTT) Of(x Role) (float64, bool) {
	if r == nil {
		return 0, false
	}
	p := r.Client
	if x == Server {
		p = r.Server
	}
	if p == nil {
		return 0, false
	}
	return *p, true
}

// A LivedSpan is a close state of one side: how long the capture point
// saw it last, and how long the side itself was in it.
type LivedSpan struct {
	State State
	Seen  float64
	Lived float64
}

// Lived returns side x's close states that the capture shows from
// beginning to end (by the segments that stamp both transitions, among
// f's events), with how long x itself spent in each: a transition moves
// by half x's round trip to the capture point (the one-way delay, paths
// taken as symmetric), earlier when x sent the segment that stamps it (x
// sent it before the capture point saw it), later when x received it. A
// capture taken near the server sees the client's FIN acknowledged at
// once, while the client waited a whole round trip in FIN_WAIT1. Seen is
// as Side.Durations has it, never negative; Lived moves the stamps
// themselves, so crossed FINs, whose stamps can run backwards at the
// capture point (no time it can measure), get the time that passed at
// the side. Nil without x's round trip.
func Lived(f *Flow, x Role) []LivedSpan {
	rtt, ok := f.RTT.Of(x)
	sd := sideOf(f, x)
	if !ok || sd == nil {
		return nil
	}
	oneWay := rtt / 2
	// shift is how much later than the capture point x lived the
	// transition stamped by frame; false when no event shows who sent it.
	shift := func(frame uint64) (float64, bool) {
		for i := range f.Events {
			if e := &f.Events[i]; e.Frame == frame {
				if e.From == x {
					return -oneWay, true
				}
				return oneWay, true
			}
		}
		return 0, false
	}
	var out []LivedSpan
	for i := 0; i+1 < len(sd.States); i++ {
		a, z := &sd.States[i], &sd.States[i+1]
		if closeIndex[a.State] < 0 || a.Inferred || z.Inferred {
			continue
		}
		sa, ok1 := shift(a.Frame)
		sz, ok2 := shift(z.Frame)
		if !ok1 || !ok2 {
			continue
		}
		seen := a.At.Seconds(z.At)
		out = append(out, LivedSpan{State: a.State, Seen: max(0, seen), Lived: max(0, seen+sz-sa)})
	}
	return out
}
