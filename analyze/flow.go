package analyze

import (
	"math"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/teardown/teardown/flows"
)

// TimeWaitLen is Linux's TCP_TIMEWAIT_LEN in nanoseconds: how long a
// TIME_WAIT lasts after the segment that (re)started it. Not tunable.
const TimeWaitLen = 60e9

// story is what the close engine derived from one connection's evidence.
// The Flow is built from it; the diagnosis rules read both, so it keeps
// the details the Flow does not print. A builder reuses one story, and
// its slices, from flow to flow: nothing in a Flow points into it.
type story struct {
	conn  *flows.Conn
	sides [2]*sideStory
	run   [2]sideRun
	// mem holds the two sideStories sides points to.
	mem [2]sideStory
	// ms is the replay's scratch, fins that of the sides' FIN marks.
	ms   []moment
	fins []flows.Mark
	// rst is the first accepted RST that closed a side, nil if none; it
	// points to rstMem.
	rst    *rstStory
	rstMem rstStory
	// durs are the sides' close-state durations, for the summary.
	durs durations
	// synSentRSTs are RSTs a client in SYN_SENT sent to a bad ACK (a
	// TIME_WAIT answering the SYN with the old connection's ACK).
	synSentRSTs []*flows.Event
	// challenges are the first RSTs the receiver challenged
	// (challengedRST), each with its challenge ACK; nChallenges of them.
	challenges  [4][2]*flows.Event
	nChallenges int
	// icmp is the ICMP error that aborted the client's connect(), if one
	// did (icmpAbort).
	icmp *flows.ICMPEvent
	// icmpReq is the ICMP error that made the server drop its request
	// in SYN_RECV, if one did (icmpRequestDrop).
	icmpReq *flows.ICMPEvent
	// end is when observation of the flow stopped (the next incarnation's
	// SYN, the end of the capture, eviction, or the linger deadline).
	end int64
	// kind and initiator of the close.
	kind      Kind
	initiator int       // side index, -1 none, 2 both
	prev      *prevInfo // &prevMemo when the previous incarnation left one
	prevMemo  prevInfo
}

// sideStory is one side's FIN and RST accounting.
type sideStory struct {
	dir int
	// fin is set when the side sent a FIN the capture shows or proves;
	// finInferred when only the peer's acknowledgement proves it.
	fin, finInferred bool
	finSeq           uint32
	finFirst         flows.Mark
	// fins are the kept FIN transmissions, finCount all of them.
	fins     []flows.Mark
	finCount int
	tlp      bool
	// peerAckedAt is the peer's first acknowledgement of the FIN (proof
	// of arrival), arrived the transmission it followed; finAckedAt the
	// acknowledgement that reached this side (the first one after its
	// latest FIN transmission when it retransmitted after an ACK).
	peerAckedAt, arrived, finAckedAt flows.Mark
	// dsack is the peer's first segment whose D-SACK block reported the
	// FIN received twice: a transmission before the latest had arrived.
	dsack flows.Mark
	// firstFINAcksPeer is set when the side's first FIN segment already
	// acknowledged the peer's FIN.
	firstFINAcksPeer bool
	ignoredRSTs      int
	challengedRSTs   int
}

// rstStory is the RST that ended a flow.
type rstStory struct {
	ev                         *flows.Event
	by                         int
	senderState, receiverState State
	cause                      string
	// forged: the RST bears the sender's address but not its TTL (see
	// forgedRST); foreign: the sender's kernel sent it for want of a
	// socket while the sender's socket lived on (foreignRST). Either way
	// the sender's state does not move.
	forged, foreign bool
}

// sideRole maps a side index to its role.
func sideRole(x int) Role {
	if x == flows.FromClient {
		return Client
	}
	return Server
}

// builder turns finished connections into Flows. It keeps the scratch
// space of one flow's analysis (the story, the rules' context), reused
// from flow to flow; the Flows it returns share none of it. A builder
// serves one goroutine at a time.
type builder struct {
	s  story
	rc ruleCtx
	// spare is a block given back by recycle for the next flow; last the
	// block of the flow built last.
	spare, last *flowBlock
}

// recycle gives the block of the flow built last back for the next one:
// nothing may use that flow after.
func (b *builder) recycle() { b.spare, b.last = b.last, nil }

// flowBlock is a Flow together with the parts every flow has, allocated
// as one block. The lists have room for what most flows have (a
// handshake and a FIN each way acknowledged: seven events, ten states
// and two FIN frames, the handshake's round trips); a flow with more gets
// its own slices. With the allocator's 8-byte header the block fits the
// 2,048-byte size class (TestFlowBlockSize); the builder reuses it for
// the next flow when it can.
type flowBlock struct {
	f     Flow
	sides [2]Side
	wire  WireFacts
	// frames holds both sides' FinFrames, states both sides' States and
	// events the Events, when they fit.
	frames [2]uint64
	states [10]StateEntry
	events [7]Event
	rtt    RTT
	rttv   [2]float64
}

// build reconstructs the close story of connection c.
func (b *builder) build(c *flows.Conn) *Flow {
	s := &b.s
	s.reset(c)
	s.replay()
	s.classify()
	m := b.spare
	if m == nil {
		m = new(flowBlock)
	} else {
		// Its two Durations maps are kept, emptied.
		d0, d1 := m.sides[0].Durations, m.sides[1].Durations
		clear(d0)
		clear(d1)
		*m = flowBlock{}
		m.sides[0].Durations, m.sides[1].Durations = d0, d1
		b.spare = nil
	}
	b.last = m
	f := &m.f
	f.ID, f.Incarnation = c.ID, c.Incarnation
	f.Client, f.Server = addrStrings(c.Addr)
	f.Roles = RolesHandshake
	if c.Roles == flows.RolesInferred {
		f.Roles = RolesInferred
	}
	f.FirstFrame, f.LastFrame = c.First.Frame, c.Last.Frame
	f.Start, f.End = Time(c.First.Time), Time(c.Last.Time)
	f.Handshake = s.handshake()
	f.RTT = s.rtt(&m.rtt, &m.rttv)
	f.Evicted = c.End == flows.EndEvicted
	s.sidesOf(m)
	f.Sides = Sides{Client: &m.sides[flows.FromClient], Server: &m.sides[flows.FromServer]}
	f.Close = s.closeOf()
	f.Reuse = s.reuse()
	f.Events = s.events(m.events[:0])
	if n := len(c.ICMP); n > 0 {
		f.ICMP, f.ICMPErrors = s.icmpList(), c.ICMPCount
		f.Events = s.icmpEvents(f.Events)
		// The flow's frames include the errors that quoted its
		// segments, as a Wireshark filter on its ports shows them.
		if e := c.ICMP[n-1]; e.Frame > f.LastFrame {
			f.LastFrame, f.End = e.Frame, Time(e.Time)
		}
	}
	f.ZeekState = ZeekConnState(f, Client)
	f.Diagnoses = diagnose(&b.rc, f, s, &m.wire)
	if c.NATOf != 0 {
		f.NAT = &NATView{Of: c.NATOf, Lag: float64(c.First.Time-c.NATAt) / 1e9, OneSide: Server}
		f.Diagnoses = []Diagnosis{}
	}
	c.Prior.Memo = s.memo()
	return f
}

// addrStrings renders a connection's two addresses in one allocation.
func addrStrings(a [2]netip.AddrPort) (client, server string) {
	if !a[0].IsValid() || !a[1].IsValid() {
		return a[0].String(), a[1].String()
	}
	var buf [2 * len("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%enp5s0]:65535")]byte
	b := a[0].AppendTo(buf[:0])
	n := len(b)
	b = a[1].AppendTo(b)
	both := string(b)
	return both[:n], both[n:]
}

// reset starts the story of connection c, keeping the scratch space of
// the previous one.
func (s *story) reset(c *flows.Conn) {
	ms, fins, synSent := s.ms[:0], s.fins[:0], s.synSentRSTs[:0]
	st0, st1 := s.run[0].states[:0], s.run[1].states[:0]
	clear(s.synSentRSTs)
	*s = story{conn: c, end: c.EndTime, initiator: -1, ms: ms, synSentRSTs: synSent}
	s.run[0].states, s.run[1].states = st0, st1
	if c.Prev != nil && s.prevMemo.unpack(&c.Prev.Memo) {
		s.prev = &s.prevMemo
	}
	if s.end < c.Last.Time {
		s.end = c.Last.Time
	}
	nfin := [2]int{}
	for i := range c.Events {
		if e := &c.Events[i]; e.Why&flows.WhyFIN != 0 {
			nfin[e.Dir]++
		}
	}
	if n := nfin[0] + nfin[1]; cap(fins) < n {
		fins = make([]flows.Mark, 0, max(n, 2*cap(fins)))
	}
	s.fins = fins
	for x := range 2 {
		s.sides[x] = &s.mem[x]
		s.sides[x].fins = fins[len(fins) : len(fins) : len(fins)+nfin[x]]
		fins = fins[:len(fins)+nfin[x]]
		s.finStory(x, s.sides[x])
	}
	for x := range 2 {
		sx, sy := s.sides[x], s.sides[1-x]
		if !sx.fin || sx.finInferred || !sy.fin {
			continue
		}
		for i := range c.Events {
			e := &c.Events[i]
			if int(e.Dir) == x && e.Why&flows.WhyFIN != 0 {
				sx.firstFINAcksPeer = e.Flags&flows.ACK != 0 && flows.SeqLess(sy.finSeq, e.Ack)
				break
			}
		}
		s.ackCameWithFIN(sx, sy)
	}
}

// ackCameWithFIN moves the ACK of side sx's FIN to the transmission of
// the peer's FIN that sx received (sy.arrived), when the ACK came on an
// earlier transmission of that FIN (a three-way close whose FIN+ACK was
// retransmitted): sx got neither before, so it passes FIN_WAIT2 and
// TIME_WAIT on the same frame, as in any three-way close.
func (s *story) ackCameWithFIN(sx, sy *sideStory) {
	ack, arrived := sx.finAckedAt, sy.arrived
	if !ack.Seen() || !arrived.Seen() || arrived.Frame <= ack.Frame || !slices.Contains(sy.fins, ack) {
		return
	}
	if e := s.eventAt(arrived.Frame); e != nil && e.Flags&(flows.ACK|flows.RST) == flows.ACK && flows.SeqLess(sx.finSeq, e.Ack) {
		sx.finAckedAt = arrived
	}
}

// setRST records r as the RST that ended the flow.
func (s *story) setRST(r rstStory) {
	s.rstMem = r
	s.rst = &s.rstMem
}

// finStory collects side x's FIN evidence, inferring a FIN the capture
// missed when the peer acknowledged one past all of x's data and x sent
// nothing beyond it.
func (s *story) finStory(x int, ss *sideStory) {
	c := s.conn
	h, p := &c.Dir[x], &c.Dir[1-x]
	ss.dir = x
	for i := range c.Events {
		e := &c.Events[i]
		if int(e.Dir) == x && e.Why&flows.WhyFIN != 0 {
			ss.fins = append(ss.fins, e.Mark())
		}
	}
	switch {
	case h.FinSeen:
		ss.fin = true
		ss.finSeq, ss.finFirst, ss.finCount = h.FinSeq, h.FinFirst, int(h.FinCount)
		ss.peerAckedAt, ss.arrived = h.FinAcked, h.FinArrived
		if h.FinAcked.Seen() {
			// A RST's acknowledgement proves the FIN arrived, but the
			// receiver of a RST processes the reset, not the ACK.
			ss.finAckedAt = h.FinAcked
			if h.FinLast.Frame > h.FinAcked.Frame || s.isRST(h.FinAcked.Frame) {
				ss.finAckedAt = h.FinAckedAfter
			}
		}
		ss.tlp = s.tlp(ss.fins)
		if h.FinDSACKed {
			for i := range c.Events {
				if e := &c.Events[i]; int(e.Dir) == 1-x && e.Why&flows.WhyFinDSACK != 0 {
					ss.dsack = e.Mark()
					break
				}
			}
			// The first acknowledgement reports a duplicate: the copy
			// just before it was not the first to arrive, one before
			// that was (the latest it can have been).
			if k := slices.Index(ss.fins, ss.arrived); k >= 1 && ss.dsack == ss.peerAckedAt {
				ss.arrived = ss.fins[k-1]
			}
		}
	case h.DataSeen && p.AckSeen && p.MaxAck == h.DataEnd+1 && !flows.SeqLess(h.DataEnd+1, h.End):
		ss.fin, ss.finInferred = true, true
		ss.finSeq = h.DataEnd
		ss.finFirst, ss.peerAckedAt, ss.finAckedAt = p.MaxAckAt, p.MaxAckAt, p.MaxAckAt
	}
}

// isRST reports whether the kept segment at frame is a RST.
func (s *story) isRST(frame uint64) bool {
	e := s.eventAt(frame)
	return e != nil && e.Flags&flows.RST != 0
}

// eventAt returns the kept segment at frame, or nil.
func (s *story) eventAt(frame uint64) *flows.Event {
	for i := range s.conn.Events {
		if e := &s.conn.Events[i]; e.Frame == frame {
			return e
		}
	}
	return nil
}

// tlp reports whether side x's first FIN retransmission was a tail-loss
// probe (KERNEL.md §0, §b): the probe goes about one RTO after the FIN and
// the first RTO retransmission about one RTO after the probe, where RTO
// backoff alone would double the second gap. With a single
// retransmission the gaps cannot tell; Linux sends the probe first
// whenever SACK was negotiated.
func (s *story) tlp(fins []flows.Mark) bool {
	c := s.conn
	cl, sv := &c.Dir[flows.FromClient], &c.Dir[flows.FromServer]
	handshake := cl.SYNCount > 0 && sv.SYNCount > 0
	sack := handshake && cl.SACKPerm && sv.SACKPerm
	switch {
	case len(fins) >= 3:
		d1, d2 := fins[1].Time-fins[0].Time, fins[2].Time-fins[1].Time
		return d1 > 0 && 2*d2 < 3*d1 && !(handshake && !sack)
	case len(fins) == 2:
		return sack
	}
	return false
}

// handshake names what the capture shows of the handshake.
func (s *story) handshake() string {
	cl, sv := &s.conn.Dir[flows.FromClient], &s.conn.Dir[flows.FromServer]
	switch {
	case s.conn.Roles != flows.RolesSYN || cl.SYNCount == 0:
		return HandshakeNotSeen
	case sv.SYNCount == 0:
		return HandshakeSynOnly
	case !cl.HandshakeAck.Seen():
		return HandshakeSynSynAck
	}
	return HandshakeComplete
}

// closeStates are the states whose durations a side reports.
var closeStates = [...]State{FinWait1, FinWait2, Closing, TimeWait, CloseWait, LastAck}

// CloseStates returns the states whose durations a side reports (the keys
// of Side.Durations).
func CloseStates() []State {
	s := closeStates
	return s[:]
}

// closeIndex is each close state's index in closeStates, -1 for the
// other states.
var closeIndex = func() (ix [Closed + 1]int8) {
	for st := range ix {
		ix[st] = -1
	}
	for i, st := range closeStates {
		ix[st] = int8(i)
	}
	return ix
}()

func isCloseState(st State) bool { return int(st) < len(closeIndex) && closeIndex[st] >= 0 }

// durations are both sides' close-state durations as their
// Side.Durations hold them, by side and index in closeStates; set marks
// the states each side holds.
type durations struct {
	d   [2][len(closeStates)]float64
	set [2]uint8
}

// put records side x's duration v in close state st.
func (d *durations) put(x int, st State, v float64) {
	i := closeIndex[st]
	d.d[x][i], d.set[x] = v, d.set[x]|1<<i
}

// get returns side x's duration in close state st, 0 when d has none.
func (d *durations) get(x int, st State) float64 {
	if !isCloseState(st) {
		return 0
	}
	return d.d[x][closeIndex[st]]
}

// len is the number of durations d holds for side x.
func (d *durations) len(x int) int { return bits.OnesCount8(d.set[x]) }

// sidesOf builds the output of both sides into m: their states, and
// their FIN frames, are in m when they fit and share one allocation
// otherwise.
func (s *story) sidesOf(m *flowBlock) {
	n0, n1 := len(s.run[0].states), len(s.run[1].states)
	states := m.states[:]
	if n0+n1 > len(states) {
		states = make([]StateEntry, n0+n1)
	}
	copy(states, s.run[0].states)
	copy(states[n0:], s.run[1].states)
	f0, f1 := len(s.sides[0].fins), len(s.sides[1].fins)
	frames := m.frames[:]
	if f0+f1 > len(frames) {
		frames = make([]uint64, f0+f1)
	}
	s.side(0, &m.sides[0], states[:n0:n0], frames[:0:f0])
	s.side(1, &m.sides[1], states[n0:n0+n1:n0+n1], frames[f0:f0:f0+f1])
}

// side builds the output for side x, with its states (a copy of the
// replay's) and room for its FIN frames.
func (s *story) side(x int, out *Side, states []StateEntry, frames []uint64) {
	r, ss, durs := &s.run[x], s.sides[x], &s.durs
	*out = Side{
		States:         states,
		FinFrames:      frames,
		Durations:      out.Durations,
		FinalState:     r.state,
		FinInferred:    ss.finInferred,
		FinTLP:         ss.tlp,
		FinDSACK:       ss.dsack.Frame,
		IgnoredRSTs:    int32(min(ss.ignoredRSTs, math.MaxInt32)),
		ChallengedRSTs: int32(min(ss.challengedRSTs, math.MaxInt32)),
		Stack:          stackOf(&s.conn.Dir[x]),
	}
	if out.Durations == nil {
		out.Durations = make(map[string]float64, 4)
	}
	if out.FinalState == 0 {
		out.FinalState = Closed
	}
	for _, m := range ss.fins {
		out.FinFrames = append(out.FinFrames, m.Frame)
	}
	if ss.finCount > 1 {
		out.FinRetransmissions = ss.finCount - 1
	}
	for i := range r.states {
		e := &r.states[i]
		if !isCloseState(e.State) {
			continue
		}
		if i+1 < len(r.states) {
			// Stamps of crossed FINs can run backwards (the peer's FIN is
			// stamped where it was sent, before our own): no time passed
			// that the capture can measure.
			d := max(0, e.At.Seconds(r.states[i+1].At))
			out.Durations[e.State.String()] = d
			durs.put(x, e.State, d)
			continue
		}
		d, open := s.lastDuration(x, *e)
		// A clock that steps back can end observation before the
		// state's own stamp: no measurable time either.
		d = max(0, d)
		out.Durations[e.State.String()] = d
		durs.put(x, e.State, d)
		out.OpenEnded = open
	}
	out.ZeroWindowFinHeld = s.zeroWindowFinHeld(x)
}

// lastDuration measures side x's final state e up to the end of
// observation. A TIME_WAIT ends 60 s after the segment that last
// (re)started it — the peer FIN it acknowledged — or at the next
// incarnation's SYN; any other state runs until observation stops and is
// then open-ended.
func (s *story) lastDuration(x int, e StateEntry) (float64, bool) {
	c := s.conn
	end := s.end
	if e.State == TimeWait {
		start := int64(e.At)
		if y := &c.Dir[1-x]; y.FinSeen && y.FinLast.Time > start {
			start = y.FinLast.Time
		}
		expiry := start + TimeWaitLen
		switch {
		case c.End == flows.EndSuperseded && end <= expiry:
			return e.At.Seconds(Time(end)), false
		case expiry <= end:
			return e.At.Seconds(Time(expiry)), false
		}
		return e.At.Seconds(Time(end)), true
	}
	return e.At.Seconds(Time(end)), true
}

// zeroWindowFinHeld counts the peer's zero-window episodes that held side
// x's FIN back: the episode began before the FIN and the FIN left within
// a second of the window opening.
func (s *story) zeroWindowFinHeld(x int) int {
	ss := s.sides[x]
	if !ss.fin || ss.finInferred {
		return 0
	}
	p := &s.conn.Dir[1-x]
	if p.Episodes == nil {
		return 0
	}
	n := 0
	for i := 0; i < int(min(p.ZeroWindows, flows.MaxZeroWindows)); i++ {
		z := &p.Episodes[i]
		if z.Start.Frame < ss.finFirst.Frame && z.End.Seen() && z.End.Frame <= ss.finFirst.Frame && ss.finFirst.Time-z.End.Time <= 1e9 {
			n++
		}
	}
	return n
}

// classify decides the close kind and initiator, and the RST cause.
func (s *story) classify() {
	// What each side's states say it sent: a FIN from ESTABLISHED
	// (FIN_WAIT1: it closed first) or from CLOSE_WAIT (LAST_ACK).
	var fw1, closed [2]bool
	for x := range 2 {
		states := s.run[x].states
		for i := range states {
			st := states[i].State
			fw1[x] = fw1[x] || st == FinWait1
			closed[x] = closed[x] || st == FinWait1 || st == LastAck
		}
	}
	finSender := -1
	switch {
	case fw1[0] && fw1[1]:
		finSender = 2
	case fw1[0]:
		finSender = 0
	case fw1[1]:
		finSender = 1
	case closed[0] || closed[1]:
		// No FIN_WAIT1 (a state the evidence could not place): the first
		// FIN decides.
		finSender = 0
		if !closed[0] || (closed[1] && s.sides[1].finFirst.Frame < s.sides[0].finFirst.Frame) {
			finSender = 1
		}
	}

	// A client's RSTs from SYN_SENT (s.synSentRSTs) answer a TIME_WAIT's
	// old ACK and end nothing: the kernel re-arms the SYN timer and the
	// attempt goes on (KERNEL.md rows 15, 16). What follows decides.
	if s.icmp != nil {
		s.kind, s.initiator = Rejected, -1
		if fromPeer(s.conn, s.icmp) {
			s.initiator = flows.FromServer
		}
		return
	}
	if ev := s.refusal(); ev != nil {
		s.kind, s.initiator = Rejected, flows.FromServer
		if s.rst == nil || s.rst.ev != ev {
			s.setRST(rstStory{ev: ev, by: flows.FromServer, senderState: Closed, receiverState: SynSent})
		}
		s.rst.cause = CauseRefused
		return
	}
	if s.rst != nil {
		s.kind = ResetKind
		s.initiator = s.rst.by
		if finSender >= 0 && finSender < 2 && s.sides[finSender].finFirst.Frame < s.rst.ev.Frame {
			s.initiator = finSender
		} else if finSender == 2 {
			s.initiator = 2
		}
		s.rst.cause = s.resetCause()
		return
	}
	s.initiator = finSender
	switch {
	case closed[0] && closed[1]:
		switch finSender {
		case 2:
			s.kind = SimultaneousKind
		default:
			a, p := s.sides[finSender], s.sides[1-finSender]
			s.kind = FourWay
			if p.finFirst.Frame == a.peerAckedAt.Frame && !p.finInferred {
				s.kind = ThreeWay
			}
		}
	case closed[0] || closed[1]:
		s.kind = HalfClosedAtEnd
	default:
		s.kind = OpenAtEnd
	}
}

// refusal returns the server's RST that answered the client's SYN when no
// SYN-ACK came: the connection was rejected.
func (s *story) refusal() *flows.Event {
	c := s.conn
	cl, sv := &c.Dir[flows.FromClient], &c.Dir[flows.FromServer]
	if c.Roles != flows.RolesSYN || sv.SYNCount > 0 || cl.HandshakeAck.Seen() {
		return nil
	}
	for i := range c.Events {
		e := &c.Events[i]
		if e.Dir == flows.FromServer && e.Flags&flows.RST != 0 && e.Frame > cl.SYN.Frame {
			return e
		}
	}
	return nil
}

// closeOf renders the close object.
func (s *story) closeOf() Close {
	out := Close{Kind: s.kind, Initiator: NoRole}
	switch s.initiator {
	case 0, 1:
		out.Initiator = sideRole(s.initiator)
	case 2:
		out.Initiator = Simultaneous
	}
	if r := s.rst; r != nil {
		out.Reset = &Reset{By: sideRole(r.by), Frame: r.ev.Frame, State: r.senderState, Cause: r.cause}
	}
	out.HalfClose = s.halfClose()
	return out
}

// halfClose describes payload the passive side sent after the active FIN.
func (s *story) halfClose() *HalfClose {
	if s.initiator != 0 && s.initiator != 1 {
		return nil
	}
	a := s.initiator
	sa := s.sides[a]
	if !sa.fin || sa.finInferred {
		return nil
	}
	c := s.conn
	d := &c.Dir[1-a].AfterPeerFIN
	if d.Bytes == 0 {
		return nil
	}
	hc := &HalfClose{
		Sender:     sideRole(1 - a),
		Bytes:      d.Bytes,
		Duration:   max(0, Time(sa.finFirst.Time).Seconds(Time(d.Last.Time))),
		ActiveUsed: ActiveUsedUnknown,
	}
	// A RST after the data proves close(); an acknowledgement of the data
	// without one proves shutdown(SHUT_WR).
	for i := range c.Events {
		e := &c.Events[i]
		if int(e.Dir) == a && e.Flags&flows.RST != 0 && e.Frame > d.First.Frame {
			hc.ActiveUsed = ActiveUsedClose
			return hc
		}
	}
	if ah := &c.Dir[a]; ah.AckSeen && flows.SeqLess(d.Start, ah.MaxAck) {
		hc.ActiveUsed = ActiveUsedShutdown
	}
	return hc
}
