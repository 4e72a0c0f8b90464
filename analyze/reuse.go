package analyze

import "github.com/teardown/teardown/flows"

// twISNOffset is what Linux adds to a TIME_WAIT's snd_nxt to make the ISN
// of the connection that consumes it (tcp_twsk_unique, TCP_TW_SYN):
// 65535 + 2. Against the FIN's own sequence number it is 65538.
const twISNOffset = 65538

// prevInfo is what incarnation n leaves for incarnation n+1 on the same
// 4-tuple (the table hands it over as the next connection's Prev.Memo),
// beyond what the table's Prior keeps itself (its ID, addresses and last
// segment).
type prevInfo struct {
	// tw is the first ACK each side sent of the peer's FIN when that side
	// ended in TIME_WAIT, zero otherwise: the reuse gap starts there.
	tw     [2]flows.Mark
	finSeq [2]uint32
	fin    [2]bool
	// ts is set when both directions used the timestamp option.
	ts bool
}

func (s *story) memo() flows.Memo {
	c := s.conn
	var p prevInfo
	for x := range 2 {
		// A TIME_WAIT a RST killed is gone: only one still held counts.
		if s.run[x].state == TimeWait {
			p.tw[x] = s.sides[1-x].peerAckedAt
		}
		p.fin[x], p.finSeq[x] = s.sides[x].fin, s.sides[x].finSeq
	}
	p.ts = c.Dir[0].TSSeen && c.Dir[1].TSSeen
	return p.pack()
}

// pack writes p into a Memo: the marks, the FIN sequence numbers, and in
// the top four bits of the first word (a frame number, which never
// reaches 2^60: the reader counts frames from 1) the flags, one of them
// saying that the Memo holds something.
func (p *prevInfo) pack() (m flows.Memo) {
	flags := memoSet | bit(p.fin[0], 1) | bit(p.fin[1], 2) | bit(p.ts, 3)
	m[0], m[1] = p.tw[0].Frame|flags<<memoFlagsAt, uint64(p.tw[0].Time)
	m[2], m[3] = p.tw[1].Frame, uint64(p.tw[1].Time)
	m[4] = uint64(p.finSeq[0]) | uint64(p.finSeq[1])<<32
	return m
}

// unpack reads a Memo pack wrote into p, and reports whether there was
// one.
func (p *prevInfo) unpack(m *flows.Memo) bool {
	flags := m[0] >> memoFlagsAt
	if flags&memoSet == 0 {
		return false
	}
	p.tw[0] = flows.Mark{Frame: m[0] & (1<<memoFlagsAt - 1), Time: int64(m[1])}
	p.tw[1] = flows.Mark{Frame: m[2], Time: int64(m[3])}
	p.finSeq = [2]uint32{uint32(m[4]), uint32(m[4] >> 32)}
	p.fin = [2]bool{flags&(1<<1) != 0, flags&(1<<2) != 0}
	p.ts = flags&(1<<3) != 0
	return true
}

const (
	memoSet     = 1
	memoFlagsAt = 60
)

// bit returns 1<<n if b, else 0.
func bit(b bool, n uint) uint64 {
	if b {
		return 1 << n
	}
	return 0
}

// reuse links the flow to the previous incarnation of its 4-tuple.
func (s *story) reuse() *Reuse {
	c, p := s.conn, s.prev
	if p == nil || c.Roles == flows.RolesInferred {
		return nil
	}
	prior := c.Prev
	cl, sv := &c.Dir[flows.FromClient], &c.Dir[flows.FromServer]
	syn := cl.SYN
	if cl.SYNCount == 0 {
		syn = sv.SYN
	}
	// old maps a side of this flow to the same address's side before.
	old := func(x int) int {
		if prior.WasClient(c, x) {
			return flows.FromClient
		}
		return flows.FromServer
	}
	oc, os := old(flows.FromClient), old(flows.FromServer)
	r := &Reuse{PreviousID: prior.ID, TimeWaitHolder: NoRole}
	r.Timestamps = p.ts && (cl.SYNCount == 0 || cl.SYNHasTS) && (sv.SYNCount == 0 || sv.SYNHasTS) && cl.SYNCount+sv.SYNCount > 0

	clientFP := cl.SYNCount > 0 && p.fin[oc] && cl.ISN == p.finSeq[oc]+twISNOffset
	serverFP := sv.SYNCount > 0 && p.fin[os] && sv.ISN == p.finSeq[os]+twISNOffset
	refused := s.twRefused()
	holder := -1
	switch {
	case refused || serverFP:
		if p.tw[os].Seen() {
			holder = flows.FromServer
		}
	case clientFP:
		if p.tw[oc].Seen() {
			holder = flows.FromClient
		}
	}
	if holder < 0 {
		switch {
		case p.tw[oc].Seen():
			holder = flows.FromClient
		case p.tw[os].Seen():
			holder = flows.FromServer
		}
	}
	from := prior.Last
	if holder >= 0 {
		r.TimeWaitHolder = sideRole(holder)
		from = p.tw[old(holder)]
	}
	r.Gap = Time(from.Time).Seconds(Time(syn.Time))

	switch {
	case holder < 0:
		r.Verdict = VerdictNoTimeWait
	case syn.Time-from.Time >= TimeWaitLen:
		r.Verdict = VerdictExpired
	case refused:
		r.Verdict = VerdictRefused
	case clientFP && holder == flows.FromClient:
		r.Verdict = VerdictClientReuse
	case serverFP && holder == flows.FromServer:
		r.Verdict = VerdictServerAccept
	default:
		r.Verdict = VerdictUnproven
	}
	return r
}

// twRefused reports the KERNEL.md row 15 pattern: the SYN was answered by
// an ACK that acknowledges nothing it sent (a TIME_WAIT's ACK of the old
// connection), and the client reset it.
func (s *story) twRefused() bool {
	c := s.conn
	var bad *flows.Event
	for i := range c.Events {
		e := &c.Events[i]
		switch {
		case e.Dir == flows.FromServer && e.Why&flows.WhyBadAck != 0 && e.Flags&(flows.SYN|flows.RST) == 0:
			if bad == nil {
				bad = e
			}
		case bad != nil && e.Dir == flows.FromClient && e.Flags&flows.RST != 0 && e.Seq == bad.Ack:
			return true
		}
	}
	return false
}
