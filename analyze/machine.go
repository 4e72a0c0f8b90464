package analyze

import "github.com/teardown/teardown/flows"

// The close engine turns a connection's evidence into "moments" — a side
// sent its FIN, received the ACK of it, received the peer's FIN, a RST went
// by — each stamped with the frame that evidences it, and replays them in
// frame order through each side's state machine.
//
// Stamps follow DESIGN.md: a transition caused by a segment a side sent is
// stamped with that segment; one caused by a segment it received is stamped
// with the received segment, and only when the wire proves the receipt (the
// receiver acknowledged or answered it). A received segment that was
// transmitted several times is the transmission just before the proof.

type momentKind uint8

// Moment kinds, in the order they apply when they share a frame: Linux
// processes the ACK of a segment before its FIN, and a side receives a
// peer's FIN before it sends a FIN that acknowledges it.
const (
	mSYNSent momentKind = iota
	mSYNReceived
	mEstablished
	mFINInferred
	mFINAcked
	mPeerFIN
	mFINSent
	mRST
)

type moment struct {
	kind momentKind
	side int // the side whose state moves; for mRST the sender
	mark flows.Mark
	// order places the moment in replay: twice its frame, or for a FIN
	// that crossed the receiver's own FIN, just after that FIN (twice its
	// frame plus one): the receiver got ours after sending its own, and
	// before anything the sender sent later.
	order    uint64
	inferred bool
	ev       int32 // mRST: the RST's index in the connection's events
}

// sideRun is one side's state machine while moments replay.
type sideRun struct {
	state  State // 0 until the side has any state
	states []StateEntry
	// rstClosed is set once a RST closed the side.
	rstClosed bool
}

func (r *sideRun) enter(s State, m flows.Mark, via string, inferred bool) {
	r.state = s
	r.states = append(r.states, StateEntry{State: s, Frame: m.Frame, At: Time(m.Time), Via: via, Inferred: inferred})
}

// replay runs the moments of story s and fills each side's states (in
// the story's scratch space: the Flow gets a copy).
func (s *story) replay() {
	ms := s.moments(s.ms[:0])
	s.ms = ms
	// Insertion sort: a flow has a dozen moments, mostly in order.
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].before(&ms[j-1]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
	run := &s.run
	for i := range ms {
		m := &ms[i]
		r := &run[m.side]
		if m.kind == mRST {
			s.applyRST(m)
			continue
		}
		if r.rstClosed {
			continue
		}
		switch m.kind {
		case mSYNSent:
			if r.state == 0 {
				r.enter(SynSent, m.mark, "", m.inferred)
			}
		case mSYNReceived:
			if r.state == 0 {
				r.enter(SynRecv, m.mark, "", m.inferred)
			}
		case mEstablished:
			if r.state == 0 || r.state == SynSent || r.state == SynRecv {
				r.enter(Established, m.mark, "", m.inferred)
			}
		case mFINSent, mFINInferred:
			// A socket in SYN_SENT sends no FIN (a SYN+FIN is a SYN).
			switch r.state {
			case CloseWait:
				r.enter(LastAck, m.mark, "", m.inferred)
			case 0, SynRecv, Established:
				r.enter(FinWait1, m.mark, "", m.inferred)
			}
		case mFINAcked:
			switch r.state {
			case FinWait1:
				r.enter(FinWait2, m.mark, "", m.inferred)
			case Closing:
				r.enter(TimeWait, m.mark, "", m.inferred)
			case LastAck:
				r.enter(Closed, m.mark, "", m.inferred)
			}
		case mPeerFIN:
			switch r.state {
			case 0, SynRecv, Established:
				r.enter(CloseWait, m.mark, "", m.inferred)
			case FinWait1:
				r.enter(Closing, m.mark, "", m.inferred)
			case FinWait2:
				r.enter(TimeWait, m.mark, "", m.inferred)
			}
		}
	}
	if s.icmp = s.icmpAbort(); s.icmp != nil {
		run[flows.FromClient].enter(Closed, s.icmp.Mark, "", false)
	}
	if s.icmpReq = s.icmpRequestDrop(); s.icmpReq != nil {
		run[flows.FromServer].enter(Closed, s.icmpReq.Mark, "", false)
	}
}

// applyRST closes the sender and, when the receiver accepted it, the
// receiver. A client in SYN_SENT that resets a bad ACK keeps its state (it
// answered a segment from an old connection and goes on with its SYN).
func (s *story) applyRST(m *moment) {
	snd, rcv := &s.run[m.side], &s.run[1-m.side]
	ev := &s.conn.Events[m.ev]
	accepted := ev.Why&flows.WhyRSTAccepted != 0
	if !accepted {
		s.sides[m.side].ignoredRSTs++
		return
	}
	if snd.state == SynSent && s.answersBadAck(ev) {
		// The client resets an ACK that acknowledges nothing it sent and
		// keeps its SYN going (KERNEL.md row 15).
		s.synSentRSTs = append(s.synSentRSTs, ev)
		return
	}
	forged := s.forgedRST(ev)
	foreign := !forged && s.foreignRST(ev)
	var challenged bool
	if !forged {
		if ack := s.challengedRST(ev); ack != nil {
			challenged = true
			s.sides[m.side].challengedRSTs++
			if s.nChallenges < len(s.challenges) {
				s.challenges[s.nChallenges] = [2]*flows.Event{ev, ack}
				s.nChallenges++
			}
		}
	}
	if s.rst == nil && (!snd.rstClosed || !rcv.rstClosed) {
		st := snd.state
		if st == 0 {
			st = Closed
		}
		s.setRST(rstStory{ev: ev, by: m.side, senderState: st, receiverState: rcv.state, forged: forged, foreign: foreign})
	}
	for _, r := range [...]*sideRun{snd, rcv} {
		if r.rstClosed || r.state == Closed || r == snd && (forged || foreign) || r == rcv && challenged {
			continue
		}
		if r.state == 0 && r == snd {
			// No socket ever showed on this side (a refused SYN).
			continue
		}
		if r.state == 0 {
			continue
		}
		r.enter(Closed, ev.Mark(), "rst", false)
		r.rstClosed = true
	}
}

// answersBadAck reports whether RST e answers an earlier bad ACK from the
// peer: its sequence number is that ACK's acknowledgement number.
func (s *story) answersBadAck(e *flows.Event) bool {
	for i := range s.conn.Events {
		b := &s.conn.Events[i]
		if b.Frame >= e.Frame {
			break
		}
		if b.Dir != e.Dir && b.Why&flows.WhyBadAck != 0 && b.Ack == e.Seq {
			return true
		}
	}
	return false
}

// before orders moments for replay (stable with the insertion sort).
func (m *moment) before(o *moment) bool {
	if m.order != o.order {
		return m.order < o.order
	}
	return m.kind < o.kind
}

// moments appends the evidenced transitions of both sides to ms.
func (s *story) moments(ms []moment) []moment {
	c := s.conn
	add := func(k momentKind, side int, m flows.Mark, inferred bool) {
		if m.Seen() {
			ms = append(ms, moment{kind: k, side: side, mark: m, order: 2 * m.Frame, inferred: inferred})
		}
	}
	cl, sv := &c.Dir[flows.FromClient], &c.Dir[flows.FromServer]

	// Handshake.
	switch {
	case cl.SYNCount > 0:
		add(mSYNSent, flows.FromClient, cl.SYN, false)
		if sv.SYNCount > 0 && sv.HandshakeAck.Seen() {
			// The server's SYN-ACK proves which SYN arrived.
			add(mSYNReceived, flows.FromServer, s.lastSent(flows.FromClient, flows.WhySYN, sv.HandshakeAck.Frame, cl.SYN), false)
		}
	case sv.SYNCount > 0:
		add(mSYNSent, flows.FromClient, sv.SYN, true)
		add(mSYNReceived, flows.FromServer, sv.SYN, true)
	default:
		add(mEstablished, flows.FromClient, c.First, true)
		add(mEstablished, flows.FromServer, c.First, true)
	}
	// A listener that resets the connection after its SYN-ACK (accept
	// queue overflow) never established it: the server stays in SYN_RECV
	// until its RST (KERNEL.md row 18).
	svEst := s.listenOverflow() == nil
	if sv.SYNCount > 0 && cl.HandshakeAck.Seen() {
		// The client's ACK proves the SYN-ACK arrived; the server is
		// established by the ACK it received after its latest SYN-ACK.
		add(mEstablished, flows.FromClient, s.lastSent(flows.FromServer, flows.WhySYN, cl.HandshakeAck.Frame, sv.SYN), false)
		est := cl.HandshakeAck
		if sv.SYNLast.Frame > est.Frame {
			est = cl.HandshakeAckAfter
		}
		if svEst {
			add(mEstablished, flows.FromServer, est, false)
		}
	} else if cl.SYNCount > 0 && sv.SYNCount == 0 {
		// No SYN-ACK in the capture (one-sided): the client's first ACK
		// proves it was established.
		if e := s.firstAfter(flows.FromClient, cl.SYN.Frame, func(e *flows.Event) bool {
			return e.Flags&flows.ACK != 0 && e.Flags&(flows.SYN|flows.RST) == 0
		}); e != nil {
			add(mEstablished, flows.FromClient, e.Mark(), true)
		}
	}
	if svEst && sv.SYNCount > 0 && !(cl.HandshakeAck.Seen() && sv.SYNLast.Frame <= cl.HandshakeAck.Frame) {
		// A server whose handshake ACK is not in the capture is
		// established by the first non-SYN segment it sends.
		if e := s.firstAfter(flows.FromServer, sv.SYN.Frame, func(e *flows.Event) bool {
			return e.Flags&(flows.SYN|flows.RST) == 0
		}); e != nil {
			add(mEstablished, flows.FromServer, e.Mark(), true)
		}
	}

	// Close.
	for x := range 2 {
		sx := s.sides[x]
		if !sx.fin {
			continue
		}
		if sx.finInferred {
			add(mFINInferred, x, sx.finFirst, true)
		} else {
			add(mFINSent, x, sx.finFirst, false)
		}
		add(mFINAcked, x, sx.finAckedAt, sx.finInferred)
		// The peer receives our FIN.
		if stamp, order := s.peerFINStamp(x); stamp.Seen() {
			ms = append(ms, moment{kind: mPeerFIN, side: 1 - x, mark: stamp, order: order, inferred: sx.finInferred})
		}
	}
	for i := range c.Events {
		e := &c.Events[i]
		if e.Flags&flows.RST != 0 && e.Why&flows.WhyRST != 0 {
			ms = append(ms, moment{kind: mRST, side: int(e.Dir), mark: e.Mark(), order: 2 * e.Frame, ev: int32(i)})
		}
	}
	return ms
}

// peerFINStamp returns the stamp of side x's FIN arriving at the peer —
// the transmission just before the peer's first acknowledgement of it, or
// that acknowledgement when the FIN itself was not captured — and its
// replay order. The peer applies the FIN in its own order of events: when
// its own first FIN went out after ours but does not acknowledge it
// (crossed FINs), ours arrived just after it, whatever the stamp says.
func (s *story) peerFINStamp(x int) (stamp flows.Mark, order uint64) {
	sx, sy := s.sides[x], s.sides[1-x]
	proof := sx.peerAckedAt
	if !proof.Seen() {
		return flows.Mark{}, 0
	}
	if sx.finInferred {
		return proof, 2 * proof.Frame
	}
	arrived := sx.arrived
	if !arrived.Seen() {
		arrived = sx.finFirst
	}
	if sy.fin && !sy.finInferred && sy.finFirst.Frame > arrived.Frame && sy.finFirst.Frame < proof.Frame && !sy.firstFINAcksPeer {
		return arrived, 2*sy.finFirst.Frame + 1
	}
	return arrived, 2 * arrived.Frame
}

// lastSent returns the latest event of sender dir kept for why whose frame
// is before frame, or fallback.
func (s *story) lastSent(dir int, why flows.Why, frame uint64, fallback flows.Mark) flows.Mark {
	best := fallback
	for i := range s.conn.Events {
		e := &s.conn.Events[i]
		if int(e.Dir) == dir && e.Why&why != 0 && e.Frame < frame && e.Frame >= best.Frame {
			best = e.Mark()
		}
	}
	return best
}

// firstAfter returns the first event of sender dir after frame that ok
// accepts.
func (s *story) firstAfter(dir int, frame uint64, ok func(*flows.Event) bool) *flows.Event {
	for i := range s.conn.Events {
		e := &s.conn.Events[i]
		if int(e.Dir) == dir && e.Frame > frame && ok(e) {
			return e
		}
	}
	return nil
}
