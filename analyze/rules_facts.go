package analyze

import (
	"net/netip"

	"github.com/teardown/teardown/flows"
)

// WireFacts are the details of a flow's segments that the capture-wide
// rules need (they compare flows with one another) and the Flow does not
// print. See Flow.Wire.
type WireFacts struct {
	// SYNs counts the client's SYN transmissions (up to 65535); SYNAt is
	// the first one, SYNTSval its timestamp value when SYNHasTS.
	SYNs uint16
	// ServerTTL is the one TTL (IPv6 hop limit) every segment of the
	// server's but RSTs arrived with, if there is one; RefusedTTL that of
	// the RST that refused the client's SYN (connection-refused).
	ServerTTL, RefusedTTL uint8
	// SilenceEnd is how long before the flow's last segment its Silence
	// ended, in seconds, when one side went unanswered after it; or, with
	// no Silence, how long a side's data went unanswered (data-unanswered).
	SilenceEnd float32
	SYNAt      int64
	SYNTSval   uint32
	SYNHasTS   bool
	// Answered is set when the server sent a SYN-ACK or a RST.
	Answered bool
	// ClientTSval is the latest timestamp value the client sent and
	// ClientTSAt about when (its latest segment), when ClientTS.
	ClientTS bool
	// Silence is the flow's longest silence, in seconds, when it lasted
	// at least idleBeforeReset and the flow went on after it (both sides
	// sent again), or a device on the path reset it right after it (the
	// flow's rst-middlebox diagnosis then names a sysctl); or else the
	// silence after which one side went unanswered (no-answer-after-idle).
	// SilenceState is
	// the conntrack state the flow was in during it (its place in
	// ctStates). Placed to fill what would be padding.
	SilenceState uint8
	ClientTSval  uint32
	Silence      float32
	ClientTSAt   int64
	// RetryLead is, when SilenceEnd is set and the unanswered segment's
	// copies each drew an ICMP error, how long after it the second
	// retransmission went out (the first may have been a tail-loss
	// probe, which starts no retry budget), in seconds; else 0.
	RetryLead float32
	// StallSpan is, per side with a pmtu-black-hole, how long its copies
	// went on after the first, and StallShrink how long after the first
	// the first shorter one came (0 with none), in seconds.
	StallSpan, StallShrink [2]float32
	// StallLen is, per side with a pmtu-black-hole, its longest copy's
	// payload.
	StallLen [2]uint32
	// IdleClose is, when the flow's rst-data-after-close followed an
	// idle close (a keep-alive timeout), how long the closer had been
	// silent, in seconds; IdleCloser is that side and IdleStale says the
	// peer's write acknowledged the FIN (else it crossed it).
	IdleClose  float32
	IdleCloser int8
	IdleStale  bool
	// Last is each side's latest segment (0 with none), by side index.
	Last [2]int64
	// Bounds are knob bounds the flow gives without a diagnosis (an
	// orphaned FIN_WAIT2 that lived long enough).
	Bounds []Bound
	// ISN holds the client's and the server's initial sequence numbers
	// when Handshake: a SYN and a SYN-ACK were both seen.
	ISN       [2]uint32
	Handshake bool
	// NoSocket is the story of the flow's rst-no-socket (lostGaveUp and
	// the others), lostNone without one. Placed to fill what would be
	// padding.
	NoSocket lostKind
	// SYNDelay is, for a syn-retransmitted flow, how long after the
	// client's first SYN the server's SYN-ACK came, in seconds; else 0.
	// Placed to fill what would be padding.
	SYNDelay float32

	// span holds, with Handshake, each side's sequence space seen: its
	// ISN and flows.Half.End. quiet is the flow's longest silence (its
	// start and end), quietState the conntrack states the flow was in
	// then and after its last segment (places in ctStates). stray is set
	// for a flow of segments answered only by RSTs. The summary links a
	// NAT's untranslated segments to their connection with them
	// (untranslatedIndex).
	span       [2][2]uint32
	quiet      [2]int64
	quietState [2]uint8
	stray      *strayFacts

	// addr holds the client's and the server's address, which Flow.Client
	// and Flow.Server render, and durs what the client's and the server's
	// Side.Durations hold, when the builder filled them (addr is valid
	// then). The summary reads them instead of the text and the maps.
	addr [2]netip.AddrPort
	durs durations
}

// wireFacts collects the flow's WireFacts into w.
func (c *ruleCtx) wireFacts(w *WireFacts) {
	cl, sv := &c.conn().Dir[flows.FromClient], &c.conn().Dir[flows.FromServer]
	*w = WireFacts{
		SYNs:     uint16(min(cl.SYNCount, 1<<16-1)),
		SYNHasTS: cl.SYNHasTS,
		Answered: sv.SYNCount > 0 || sv.RSTCount > 0,
		ClientTS: cl.TSSeen,
		addr:     c.conn().Addr,
		durs:     c.s.durs,
	}
	if cl.SYNCount > 0 {
		w.SYNAt = cl.SYN.Time
		if sv.SYNCount > 0 {
			w.ISN, w.Handshake = [2]uint32{cl.ISN, sv.ISN}, true
		}
		for i := range c.conn().Events {
			if e := &c.conn().Events[i]; e.Dir == flows.FromClient && e.Why&flows.WhySYN != 0 {
				w.SYNTSval = e.TSval
				break
			}
		}
	}
	_, _, _, w.NoSocket = c.noSocketStory()
	if cl.TSSeen {
		w.ClientTSval, w.ClientTSAt = cl.TSval, cl.Last.Time
	}
	if ttl, ok := c.s.usualTTL(flows.FromServer); ok {
		w.ServerTTL = ttl
	}
	if r, x, ok := c.resetWith(CauseDataAfterClose); ok {
		if ic, ok := c.idleCloseOf(x, r); ok {
			w.IdleClose, w.IdleCloser, w.IdleStale = float32(secs(ic.idle)), int8(x), ic.acksFIN
		}
	}
	if r, x, ok := c.resetWith(CauseRefused); ok && x == flows.FromServer {
		w.RefusedTTL = r.ev.TTL
	}
	for x := range 2 {
		if b, ok := c.orphanFinWait2Lived(x); ok {
			w.Bounds = append(w.Bounds, b)
		}
		if h := &c.conn().Dir[x]; h.Packets > 0 {
			w.Last[x] = h.Last.Time
		}
		if st := c.conn().Dir[x].Stalls.Evidence(); st != nil {
			w.StallSpan[x] = float32(secs(st.Last.Time - st.First.Time))
			w.StallLen[x] = st.MaxLen
			if st.Shrink.Seen() {
				w.StallShrink[x] = float32(secs(st.Shrink.Time - st.First.Time))
			}
		}
	}
	c.silence(w)
	if _, ok := c.synRetried(); ok {
		w.SYNDelay = float32(secs(c.conn().Dir[flows.FromServer].SYN.Time - c.conn().Dir[flows.FromClient].SYN.Time))
	}
	if w.Handshake {
		w.span = [2][2]uint32{{cl.ISN, cl.End}, {sv.ISN, sv.End}}
		// The states only matter after a silence of idleBeforeReset or
		// more: within the flow, or after its end when it left the table
		// before it closed.
		if q := c.conn().Quiet; q.Gap > 0 {
			w.quiet = [2]int64{q.End.Time - q.Gap, q.End.Time}
			if q.Gap >= idleBeforeReset {
				w.quietState[0] = conntrackState(c.conn(), q.End.Frame)
			}
		}
		if e := c.conn().End; e == flows.EndOfCapture || e == flows.EndEvicted {
			w.quietState[1] = conntrackState(c.conn(), c.conn().Last.Frame+1)
		}
	} else {
		w.stray = c.strayOf()
	}
}

// silence fills w's Silence fields: the silence after which the flow's
// segments went unanswered (noAnswerAfterIdle), or else its longest
// silence, when a device on the path reset the flow right after it
// (rstMiddlebox's idle case) or both sides sent again after it, so that
// any stateful device on the path still knew the connection.
func (c *ruleCtx) silence(w *WireFacts) {
	conn := c.conn()
	if _, ok := c.s.unansweredAfterSilence(); ok {
		w.Silence, w.SilenceState = float32(secs(conn.Tail.Gap)), conntrackState(conn, conn.Tail.End.Frame)
		w.SilenceEnd = float32(secs(conn.Last.Time - conn.Tail.End.Time))
		return
	}
	if x, ok := c.s.dataUnanswered(); ok {
		w.SilenceEnd = float32(secs(conn.Last.Time - conn.Tail.End.Time))
		w.RetryLead = float32(retryLead(conn, x))
		return
	}
	q := conn.Quiet
	if q.Gap < idleBeforeReset {
		return
	}
	a, b := conn.Dir[0].Last.Frame, conn.Dir[1].Last.Frame
	forged := c.s.rst != nil && c.s.rst.forged
	lived := !forged && min(a, b) >= q.End.Frame && max(a, b) > q.End.Frame
	if !lived && !c.s.resetAfterSilence() {
		return
	}
	w.Silence, w.SilenceState = float32(secs(q.Gap)), conntrackState(conn, q.End.Frame)
}

// orphanFinWait2Lived finds side x acknowledging the peer's FIN from a
// timewait socket (IPv4 ID 0, while its own FIN had a live ID) after a
// FIN_WAIT2: an orphaned FIN_WAIT2, still alive when the FIN came
// (KERNEL.md row 3, (d)4). Its lifetime, set by tcp_fin_timeout, was at
// least that long.
func (c *ruleCtx) orphanFinWait2Lived(x int) (Bound, bool) {
	fw2, i, ok := c.stateAt(x, FinWait2)
	st := c.s.run[x].states
	if !ok || i+1 >= len(st) || st[i+1].State != TimeWait || !c.addr(x).Is4() {
		return Bound{}, false
	}
	g := secs(int64(st[i+1].At) - int64(fw2.At))
	if g <= finTimeoutFloor {
		return Bound{}, false
	}
	var finID, ackID uint16
	var fin, ack bool
	for j := range c.conn().Events {
		e := &c.conn().Events[j]
		if int(e.Dir) != x {
			continue
		}
		if !fin && e.Why&flows.WhyFIN != 0 {
			fin, finID = true, e.IPID
		}
		if !ack && e.Why&flows.WhyFINAck != 0 && e.Frame >= st[i+1].Frame && e.Flags&(flows.FIN|flows.RST) == 0 {
			ack, ackID = true, e.IPID
		}
	}
	if !fin || !ack || finID == 0 || ackID != 0 {
		return Bound{}, false
	}
	return Bound{Host: c.host(x), Sysctl: SysFinTimeout, Of: OfLifetime, Above: ptr(g)}, true
}
