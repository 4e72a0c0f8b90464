package analyze

import (
	"fmt"
	"net/netip"

	"github.com/teardown/teardown/flows"
)

// A segment a NAT passed on untranslated: the Kubernetes "connection
// reset by peer". A host that translates addresses (kube-proxy's DNAT of
// a service address, Docker's published ports) restores the service
// address on the server's segments only while conntrack tracks the
// connection. When its entry expired over a silence
// (nf_conntrack_tcp_timeout_established), or conntrack found the segment
// INVALID (outside the window it tracked, nf_conntrack_tcp_be_liberal =
// 0) and no rule dropped it, the server's segment goes on with the
// server's own address. The client's kernel has no socket for that
// 4-tuple and answers with a RST, which reaches the server and kills its
// socket; the client's next segment to the service address meets a RST
// in turn. In a capture at the client the untranslated segment and the
// RST make a flow of their own, with no SYN, on another 4-tuple; NAT
// leaves sequence numbers alone, so the segment's sequence and
// acknowledgement numbers fall in the connection's two sequence spaces.
// The summary links the two flows when it has both.

// strayFacts is what a flow holds of segments answered only by RSTs: no
// SYN either way, and one side (by) sent nothing but RSTs without ACK,
// its kernel's answers to segments for which it had no socket.
type strayFacts struct {
	// seg is the other side's first segment (the flow's first), seq its
	// sequence number and ack its acknowledgement number (the first
	// RST's sequence number: a reply RST takes it from the segment).
	seg      flows.Mark
	seq, ack uint32
	// rst is by's first RST.
	rst flows.Mark
	// segs counts the other side's segments.
	segs uint32
	by   int8
}

// strayOf returns the flow's strayFacts, or nil when it is not such a
// flow.
func (c *ruleCtx) strayOf() *strayFacts {
	conn := c.conn()
	if conn.Dir[0].SYNCount+conn.Dir[1].SYNCount > 0 {
		return nil
	}
	for y := range 2 {
		h, p := &conn.Dir[y], &conn.Dir[1-y]
		if h.Packets == 0 || h.RSTCount != uint32(min(h.Packets, 1<<32-1)) || p.Packets == 0 || p.RSTCount > 0 {
			continue
		}
		for i := range conn.Events {
			e := &conn.Events[i]
			if int(e.Dir) != y || e.Flags&flows.RST == 0 {
				continue
			}
			if e.Flags&flows.ACK != 0 || e.Frame <= conn.First.Frame {
				return nil
			}
			return &strayFacts{
				seg: conn.First, seq: p.FirstSeq, ack: e.Seq,
				rst:  flows.Mark{Frame: e.Frame, Time: e.Time},
				segs: uint32(min(p.Packets, 1<<32-1)), by: int8(y),
			}
		}
	}
	return nil
}

// UntranslatedLink joins the flow of a connection to the flow that
// holds its segments a NAT passed on untranslated, and the RSTs that
// answered them. The flow of the two that the summary adds second
// carries it.
type UntranslatedLink struct {
	// Connection is the flow of the connection (with the addresses the
	// NAT gave it: the service address); Segments the flow of its
	// untranslated segments.
	Connection int `json:"connection"`
	Segments   int `json:"segments"`
	// Sender is the connection's side whose segments went untranslated
	// (the server's, behind a destination NAT); From their address as
	// they arrived (the sender's own) and Service the address the
	// connection knew it by.
	Sender  Role   `json:"sender"`
	From    string `json:"from"`
	Service string `json:"service"`
	// Frame is the first untranslated segment's, Reset the first RST
	// answering one; Count how many segments went untranslated.
	Frame uint64 `json:"frame"`
	Reset uint64 `json:"reset"`
	Count int    `json:"count"`
	// Idle is how long the connection had been silent before the first
	// untranslated segment, in seconds: 0 when it was not silent a
	// second or more (the segment was INVALID to conntrack); State the
	// conntrack state it was in then, when silent.
	Idle  float64 `json:"idle"`
	State string  `json:"state,omitempty"`
}

// untranslatedBits sets how many recent connections, and flows of stray
// segments waiting for theirs, untranslatedIndex remembers: each in a
// direct-mapped table of 1<<untranslatedBits slots by the client's
// address (the receiver's, for stray segments). A newer entry in the
// same slot replaces the older: a port scan's answered probes, which
// look like stray segments, only crowd out other strays for a while.
const untranslatedBits = 12

// untranslatedSlot is a flow with a handshake, as the index keeps it.
type untranslatedSlot struct {
	id       int
	addr     [2]netip.AddrPort
	span     [2][2]uint32
	from, to int64
	// quiet is the flow's longest silence, quietSt and endSt the
	// conntrack states (places in ctStates) it was in during it and
	// after its last segment.
	quiet          [2]int64
	quietSt, endSt uint8
	// open is set when the connection had not closed when its flow
	// ended: it lived on after to.
	open bool
}

// strayWait is a flow of stray segments waiting for its connection.
type strayWait struct {
	id   int
	addr [2]netip.AddrPort
	st   strayFacts
}

// untranslatedIndex links the two flows.
type untranslatedIndex struct {
	slots  []untranslatedSlot
	strays []strayWait
}

// check links f to a flow the index holds, diagnosing f when it is the
// second of the pair; otherwise it remembers f when it may be one.
func (u *untranslatedIndex) check(f *Flow, addr *[2]netip.AddrPort, w *WireFacts) {
	if w == nil {
		return
	}
	if st := w.stray; st != nil {
		s := strayWait{id: f.ID, addr: *addr, st: *st}
		h := slotOf(s.addr[st.by])
		if u.slots != nil && u.slots[h].matches(&s) {
			u.link(f, &u.slots[h], &s, false)
			return
		}
		if u.strays == nil {
			u.strays = make([]strayWait, 1<<untranslatedBits)
		}
		u.strays[h] = s
		return
	}
	if !w.Handshake {
		return
	}
	c := untranslatedSlot{id: f.ID, addr: *addr, span: w.span, from: w.SYNAt, to: max(w.Last[0], w.Last[1]),
		quiet: w.quiet, quietSt: w.quietState[0], endSt: w.quietState[1], open: f.Close.Kind == OpenAtEnd || f.Close.Kind == HalfClosedAtEnd}
	h := slotOf(addr[flows.FromClient])
	if u.strays != nil && u.strays[h].id != 0 && c.matches(&u.strays[h]) {
		u.link(f, &c, &u.strays[h], true)
		u.strays[h] = strayWait{}
	}
	if u.slots == nil {
		u.slots = make([]untranslatedSlot, 1<<untranslatedBits)
	}
	u.slots[h] = c
}

// slotOf is the slot of the tables of untranslatedIndex for address a.
func slotOf(a netip.AddrPort) uint32 {
	b := a.Addr().As16()
	h := uint32(a.Port()) * 0x9e3779b1
	for i := 0; i < 16; i += 4 {
		h = (h ^ uint32(b[i])<<24 ^ uint32(b[i+1])<<16 ^ uint32(b[i+2])<<8 ^ uint32(b[i+3])) * 0x85ebca6b
	}
	return h >> (32 - untranslatedBits)
}

// matches reports whether s's segments are c's server's: s's receiver is
// c's client, its sender is not c's server address, the segments came
// while c lived, and their sequence and acknowledgement numbers fall in
// c's server's and client's sequence spaces.
func (c *untranslatedSlot) matches(s *strayWait) bool {
	st := &s.st
	from := s.addr[1-st.by]
	if c.id == 0 || s.addr[st.by] != c.addr[flows.FromClient] || from == c.addr[flows.FromServer] {
		return false
	}
	if st.seg.Time < c.from || st.seg.Time > c.to+natWindow && !c.open {
		return false
	}
	srv, cl := c.span[flows.FromServer], c.span[flows.FromClient]
	return st.seq-srv[0] <= srv[1]-srv[0]+1<<20 && st.ack-cl[0]-1 < cl[1]-cl[0]
}

// link records the pair on f (the connection's flow when conn is set,
// else the stray segments') and diagnoses it.
func (u *untranslatedIndex) link(f *Flow, c *untranslatedSlot, s *strayWait, conn bool) {
	st := &s.st
	l := &UntranslatedLink{
		Connection: c.id, Segments: s.id, Sender: Server,
		From: s.addr[1-st.by].String(), Service: c.addr[flows.FromServer].String(),
		Frame: st.seg.Frame, Reset: st.rst.Frame, Count: int(st.segs),
	}
	// The silence before the segment: the flow's longest, when the
	// segment came in it, or the one after the flow's last segment.
	ct := c.quietSt
	var idle int64
	switch {
	case c.quiet[0] <= st.seg.Time && st.seg.Time <= c.quiet[1]:
		idle = st.seg.Time - c.quiet[0]
	case st.seg.Time > c.to:
		idle, ct = st.seg.Time-c.to, c.endSt
	}
	if idle >= idleBeforeReset {
		l.Idle, l.State = secs(idle), ctStates[ct].name
	}
	f.Untranslated = l
	side := Server
	if !conn {
		side = sideRole(int(1 - st.by))
	}
	// No capture doubts: the link rests on both flows' sequence
	// numbers, whichever of them carries it (the stray one has no
	// handshake by nature).
	f.Diagnoses = append(f.Diagnoses, untranslatedDiagnosis(l, side, c.addr[flows.FromClient].String(), conn, ct))
}

// untranslatedDiagnosis is the nat-untranslated diagnosis of link l on
// the side of its flow that sent the segments: the connection's flow
// when conn is set, else the segments'. client is the receiver's
// address, ct the conntrack state the connection was in (its place in
// ctStates).
func untranslatedDiagnosis(l *UntranslatedLink, side Role, client string, conn bool, ct uint8) Diagnosis {
	d := bookDiagnosis(CodeNATUntranslated)
	d.Side, d.Frames = side, []uint64{l.Frame, l.Reset}
	what, them, it := "segment", "them", "it"
	if l.Count > 1 {
		what, it = fmt.Sprintf("%d segments", l.Count), "them"
	} else {
		them = "it"
	}
	var head string
	if conn {
		head = fmt.Sprintf("the %s's %s of this connection (frame %d on, flow %d) reached %s from %s, the %s's own address, "+
			"not from %s: a NAT on the path let %s through untranslated; the client's kernel had no socket for that 4-tuple "+
			"and answered with a RST (frame %d), which killed the %s's socket, so the connection's next segment met a RST "+
			"and the application got ECONNRESET",
			l.Sender, what, l.Frame, l.Segments, client, l.From, l.Sender, l.Service, them, l.Reset, l.Sender)
	} else {
		head = fmt.Sprintf("this flow holds the %s's %s of flow %d's connection (frame %d on), which a NAT on the path let through "+
			"untranslated: %s reached %s from %s, the %s's own address, not from %s; the client's kernel had no socket for "+
			"this 4-tuple and answered with a RST (frame %d), which kills the %s's socket, so the connection's next segment "+
			"meets a RST and the application gets ECONNRESET",
			l.Sender, what, l.Connection, l.Frame, it, client, l.From, l.Sender, l.Service, l.Reset, l.Sender)
	}
	if l.Idle > 0 {
		d.Sysctl, d.Advice = ctStates[ct].sysctl, adviceCtTimeout
		d.Message = head + fmt.Sprintf(": the connection had been silent %s, and %s", FormatSeconds(l.Idle), ctForgot(ct))
		return d
	}
	d.Sysctl, d.Advice = SysCtBeLiberal, adviceBeLiberal
	d.Message = head + fmt.Sprintf(": with no silence before %s, %s", them, notTracked(them))
	return d
}

// What nat-untranslated advises, after a silence and without one.
const (
	adviceCtTimeout = "raise it above the connection's silences on the NAT, or have the application keep the " +
		"connection busy (SO_KEEPALIVE with tcp_keepalive_time below the timeout)"
	adviceBeLiberal = "set it to 1 on the NAT, or drop INVALID packets there " +
		"(iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP) so that the sender retransmits instead"
)

// ctForgot says why the NAT forgot a connection silent in conntrack
// state ct (its place in ctStates).
func ctForgot(ct uint8) string {
	return fmt.Sprintf("the NAT's conntrack had forgotten it (its %s timeout, %s by default, is shorter than that)",
		ctStates[ct].name, ctStates[ct].def)
}

// notTracked says why a NAT let segments (them: "it" or "them") through
// untranslated with no silence before them.
func notTracked(them string) string {
	return fmt.Sprintf("conntrack judged %s INVALID (outside the window it tracked), or had lost the connection's "+
		"entry (conntrack -F or -D, a flush when the NAT's rules were reloaded), and NAT translates only what "+
		"conntrack tracks", them)
}

// UntranslatedLoad is a service whose connections' segments a NAT let
// through untranslated from one address behind it (nat-untranslated):
// the service address, the sender's own address, how many connections,
// how many of them after a silence of a second or more (Expired, with
// the shortest and longest silence in seconds) and how many with none
// (Invalid).
type UntranslatedLoad struct {
	Service string  `json:"service"`
	From    string  `json:"from"`
	Flows   int     `json:"flows"`
	Expired int     `json:"expired"`
	Invalid int     `json:"invalid"`
	IdleMin float64 `json:"idle_min,omitempty"`
	IdleMax float64 `json:"idle_max,omitempty"`
}

// untranslatedLoad is link l as an UntranslatedLoad of one flow.
func untranslatedLoad(l *UntranslatedLink) UntranslatedLoad {
	u := UntranslatedLoad{Service: l.Service, From: l.From, Flows: 1, Invalid: 1}
	if l.Idle > 0 {
		u.Expired, u.Invalid, u.IdleMin, u.IdleMax = 1, 0, l.Idle, l.Idle
	}
	return u
}

// add adds o, more connections of u's service and sender.
func (u *UntranslatedLoad) add(o UntranslatedLoad) {
	widen(&u.IdleMin, &u.IdleMax, u.Expired, o.IdleMin, o.IdleMax, o.Expired)
	u.Flows += o.Flows
	u.Expired += o.Expired
	u.Invalid += o.Invalid
}

// maxUntranslated bounds the services Summary.Untranslated counts.
const maxUntranslated = 256

// mergeUntranslated adds o to s, within maxUntranslated.
func mergeUntranslated(s, o []UntranslatedLoad) []UntranslatedLoad {
	return mergeKeyed(s, o, maxUntranslated, func(a, b *UntranslatedLoad) bool { return a.Service == b.Service && a.From == b.From })
}

// foreignRST reports whether RST e was its sender's kernel's answer to a
// segment that reached it on another 4-tuple, while the sender's socket
// on this one lived on: a bare RST (no ACK: the reply path, for want of
// a socket) after which the sender went on sending data on the
// connection, its next sequence number the RST's, as only its live
// socket would. Seen where the connection has its own addresses (at the
// server, or in the translated view on the NAT's host), it is the mark
// of a NAT that let the peer's segment through untranslated.
func (s *story) foreignRST(e *flows.Event) bool {
	if e.Flags&flows.ACK != 0 {
		return false
	}
	for i := range s.conn.Events {
		a := &s.conn.Events[i]
		if a.Frame > e.Frame && a.Dir == e.Dir && a.Why&flows.WhyAfterRST != 0 {
			return a.Len > 0 && a.Seq == e.Seq && a.Flags&flows.RST == 0
		}
	}
	return false
}

// rstThenSent returns the flow's foreign RST (foreignRST) and its
// sender's data after it.
func (c *ruleCtx) rstThenSent() (r *rstStory, after *flows.Event, ok bool) {
	r = c.s.rst
	if r == nil || !r.foreign {
		return nil, nil, false
	}
	for i := range c.conn().Events {
		if e := &c.conn().Events[i]; e.Frame > r.ev.Frame && int(e.Dir) == r.by && e.Why&flows.WhyAfterRST != 0 {
			return r, e, true
		}
	}
	return nil, nil, false
}

// natUntranslatedHere: the flow-level nat-untranslated (rstThenSent).
// After a silence of a second or more before the RST, the conntrack
// timeout of the state the connection was in; else be_liberal.
func natUntranslatedHere(c *ruleCtx) {
	r, after, ok := c.rstThenSent()
	if !ok {
		return
	}
	x, p := r.by, 1-r.by
	conn := c.conn()
	frames := []uint64{r.ev.Frame, after.Frame}
	for i := range conn.Events {
		if e := &conn.Events[i]; e.Frame > after.Frame && int(e.Dir) == p && e.Flags&flows.RST != 0 {
			frames = append(frames, e.Frame)
			break
		}
	}
	head := fmt.Sprintf("the %s's kernel answered the %s with a bare RST (frame %d), as for a segment it had no socket for, "+
		"and yet the %s went on sending on the connection (frame %d, its sequence numbers where the RST left them): "+
		"its socket was alive, so the RST answered a segment of the %s's that had reached the %s on another 4-tuple — "+
		"a NAT on the path let it through untranslated, from the %s's own address — and it killed the %s's socket",
		c.name(x), c.name(p), r.ev.Frame, c.name(x), after.Frame, c.name(p), c.name(x), c.name(p), c.name(p))
	if len(frames) > 2 {
		head += fmt.Sprintf(", whose kernel answered the %s's next segment with a RST (frame %d)", c.name(x), frames[2])
	}
	q := conn.Quiet
	if q.Gap >= idleBeforeReset && q.End.Frame < r.ev.Frame && r.ev.Time-q.End.Time <= replyWindow {
		ct := conntrackState(conn, q.End.Frame)
		frames = append(frames, q.End.Frame)
		c.add(CodeNATUntranslated, p, ctStates[ct].sysctl, adviceCtTimeout, frames,
			"%s. The RST came right after the first segment after %s of silence (frame %d): %s",
			head, dur(q.End.Time-q.Gap, q.End.Time), q.End.Frame, ctForgot(ct))
		return
	}
	c.add(CodeNATUntranslated, p, SysCtBeLiberal, adviceBeLiberal, frames, "%s. With no silence before it, %s", head, notTracked("it"))
}
