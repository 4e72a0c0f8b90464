package analyze

import (
	"fmt"
	"strings"

	"github.com/teardown/teardown/flows"
)

// Rules about a 4-tuple used again while a side of its previous
// connection held TIME_WAIT, and about resets that meet a TIME_WAIT
// (KERNEL.md rows 13-17).

// Codes this file adds to vocab.go's.
const (
	// A TIME_WAIT ignored the client's RSTs and kept refusing its SYNs:
	// net.ipv4.tcp_rfc1337 = 1 on the TIME_WAIT holder (rows 16, 17).
	CodeTimeWaitRstIgnored = "time-wait-rst-ignored"
	// An in-window RST killed a TIME_WAIT, and the next segment met no
	// socket: net.ipv4.tcp_rfc1337 = 0 (row 17).
	CodeTimeWaitAssassinated = "time-wait-assassinated"
)

// twReuseDelayMs is tcp_tw_reuse_delay's default: a client reusing its
// own TIME_WAIT sooner bound the port explicitly.
const twReuseDelayMs = 1000

// timeWaitReuse: the 4-tuple was reused inside 60 s of a TIME_WAIT that
// accepted it (rows 13, 14), or without the fingerprint a consumed Linux
// TIME_WAIT leaves.
func timeWaitReuse(c *ruleCtx) {
	r := c.f.Reuse
	if r == nil {
		return
	}
	cl, sv := &c.conn().Dir[flows.FromClient], &c.conn().Dir[flows.FromServer]
	gap := FormatSeconds(r.Gap)
	const legal = "fine (legal reuse)"
	switch r.Verdict {
	case VerdictClientReuse:
		x := flows.FromClient
		frames := markFrames(cl.SYN)
		head := fmt.Sprintf("the client reused its own TIME_WAIT on this 4-tuple %s after entering it (its new ISN is the old FIN's sequence number + 65538, the fingerprint of tcp_twsk_unique())", gap)
		ts := "; legal: timestamps on both connections let the server drop old duplicates"
		if !r.Timestamps {
			ts = "; Linux reuses a TIME_WAIT only when the old connection used timestamps, and these SYNs carry none: check the client's stack"
		}
		if r.Gap*1000 < twReuseDelayMs {
			c.add(CodeTimeWaitReuse, x, "", legal, frames,
				"%s, sooner than tcp_tw_reuse_delay (%d ms) allows connect() to: the application bind()s the port explicitly, which reuses any TIME_WAIT that saw timestamps whatever tcp_tw_reuse says%s", head, twReuseDelayMs, ts)
			return
		}
		how := "tcp_tw_reuse = 1, or an explicit bind() of the port (past the 1 s tcp_tw_reuse_delay the capture cannot tell them apart)"
		if c.addr(x).IsLoopback() {
			how = "tcp_tw_reuse = 2 (the default, loopback only) or 1, or an explicit bind() of the port"
		}
		d := c.add(CodeTimeWaitReuse, x, SysTwReuse, legal, frames, "%s: %s%s", head, how, ts)
		d.doubt("past tcp_tw_reuse_delay the wire cannot tell tcp_tw_reuse from an explicit bind() of the port")
		const unbound = "the application did not bind() the port itself"
		d.Bounds = append(d.Bounds,
			Bound{Host: c.host(x), Sysctl: SysTwReuse, Of: OfValue, Above: ptr(0), Assumes: unbound},
			Bound{Host: c.host(x), Sysctl: SysTwReuseDelay, Of: OfValue, Below: ptr(r.Gap * 1000), Assumes: unbound})
	case VerdictServerAccept:
		x := flows.FromServer
		frames := markFrames(cl.SYN, sv.SYN)
		if r.Timestamps {
			c.add(CodeTimeWaitReuse, x, SysTimestamps, legal, frames,
				"the server's TIME_WAIT on this 4-tuple accepted a new SYN %s after it began (its SYN-ACK ISN is its old FIN's sequence number + 65538): legal, the SYN's timestamp was newer than the old connection's (RFC 6191), which needs tcp_timestamps on both hosts", gap)
			return
		}
		c.add(CodeTimeWaitReuse, x, "", legal, frames,
			"the server's TIME_WAIT on this 4-tuple accepted a new SYN %s after it began (its SYN-ACK ISN is its old FIN's sequence number + 65538): without timestamps that is legal only because the new sequence number was above the old connection's (RFC 1122 4.2.2.13)", gap)
	case VerdictUnproven:
		x := flows.FromClient
		if r.TimeWaitHolder == Server {
			x = flows.FromServer
		}
		d := c.add(CodeTimeWaitReuse, x, "", "check the TIME_WAIT holder: a reuse the TIME_WAIT did not vet is unprotected", markFrames(cl.SYN),
			"the 4-tuple was reused %s after the %s entered TIME_WAIT, without the fingerprint a Linux TIME_WAIT leaves when it accepts a reuse (ISN = old FIN's sequence number + 65538): that TIME_WAIT was already gone (killed by a RST, or never kept because tcp_max_tw_buckets was full) or the host is not Linux",
			gap, c.name(x))
		d.doubt("the wire cannot tell a TIME_WAIT a RST killed from one never kept (tcp_max_tw_buckets) or from a host that is not Linux")
	}
}

// refusal is a SYN a TIME_WAIT refused (row 15): the old connection's ACK
// that answered it and the client's RSTs to that ACK.
type refusal struct {
	ack    *flows.Event
	rsts   []*flows.Event
	synAck flows.Mark // the SYN-ACK that followed, if any
}

func (c *ruleCtx) refusal() (refusal, bool) {
	var out refusal
	if len(c.s.synSentRSTs) == 0 {
		return out, false
	}
	out.rsts = c.s.synSentRSTs
	for i := range c.conn().Events {
		e := &c.conn().Events[i]
		if e.Dir == flows.FromServer && e.Why&flows.WhyBadAck != 0 && e.Flags&(flows.SYN|flows.RST) == 0 {
			out.ack = e
			break
		}
	}
	if out.ack == nil {
		return out, false
	}
	if sv := &c.conn().Dir[flows.FromServer]; sv.SYNCount > 0 {
		out.synAck = sv.SYN
	}
	return out, true
}

// rfc1337Ignored reports the row 16 pattern: the TIME_WAIT kept refusing
// after the client's RST (several RSTs, and no SYN-ACK within a second
// of the first).
func (r refusal) rfc1337Ignored() bool {
	if r.synAck.Seen() {
		return len(r.rsts) > 1 && r.synAck.Time-r.rsts[0].Time >= 1e9
	}
	return len(r.rsts) > 1
}

// timeWaitSynRefused: a SYN on the 4-tuple met the server's TIME_WAIT,
// which answered with the old connection's ACK; the client reset it and
// retried (row 15).
func timeWaitSynRefused(c *ruleCtx) {
	if r := c.f.Reuse; r != nil && r.Verdict != VerdictRefused {
		return
	}
	ref, ok := c.refusal()
	if !ok {
		return
	}
	cl := &c.conn().Dir[flows.FromClient]
	x := flows.FromServer
	why := "timestamps are off (the SYN carries none), so the TIME_WAIT accepts a SYN only when its sequence number is above the old connection's, and this one was not"
	sysctl, advice := SysTimestamps, "enable it (1, the default): with timestamps a TIME_WAIT accepts a newer SYN"
	if cl.SYNHasTS {
		// The server did what RFC 7323 asks: no knob of its own is at
		// fault, the address's reuse is.
		why = "the SYN's timestamp was not newer than the old connection's (PAWS): another host behind the same address (NAT) took the port within the server's 60 s TIME_WAIT, or a clock went back"
		sysctl, advice = "", "nothing to tune on the server: give the NAT more source ports or addresses (iptables MASQUERADE --random-fully, a wider SNAT range) so that it does not hand out a port again within 60 s"
	}
	frames := []uint64{cl.SYN.Frame, ref.ack.Frame, ref.rsts[0].Frame}
	var then string
	switch {
	case ref.rfc1337Ignored():
		then = "; the TIME_WAIT outlived the client's RSTs (see time-wait-rst-ignored)"
	case ref.synAck.Seen():
		frames = append(frames, ref.synAck.Frame)
		then = fmt.Sprintf("; that RST killed the TIME_WAIT (tcp_rfc1337 = 0 on the server, the default) and the SYN retry was accepted %s later with a fresh ISN (frame %d)", dur(ref.rsts[0].Time, ref.synAck.Time), ref.synAck.Frame)
	}
	c.add(CodeTimeWaitSynRefused, x, sysctl, advice, frames,
		"the server's TIME_WAIT on this 4-tuple refused the new SYN (frame %d): it answered with the old connection's ACK (frame %d) and the client reset it (frame %d); %s%s",
		cl.SYN.Frame, ref.ack.Frame, ref.rsts[0].Frame, why, then)
}

// timeWaitRstIgnored reports the two ways a TIME_WAIT shows tcp_rfc1337:
// it kept refusing SYNs through the client's RSTs (row 16: 1), or, after
// an in-window RST hit it, the next segment was answered by a RST from
// no socket (row 17: 0, assassinated) or by its ACK (row 17: 1).
func timeWaitRstIgnored(c *ruleCtx) {
	if ref, ok := c.refusal(); ok && ref.rfc1337Ignored() {
		rsts := make([]uint64, len(ref.rsts))
		for i, e := range ref.rsts {
			rsts[i] = e.Frame
		}
		span := "and no SYN-ACK followed in the capture"
		if ref.synAck.Seen() {
			span = fmt.Sprintf("until it accepted a SYN %s after the first RST (frame %d), when it had expired", dur(ref.rsts[0].Time, ref.synAck.Time), ref.synAck.Frame)
		}
		c.add(CodeTimeWaitRstIgnored, flows.FromServer, SysRFC1337, "leave it (it protects TIME_WAIT); reconnect from another port instead", append([]uint64{ref.ack.Frame}, rsts...),
			"the server's TIME_WAIT ignored the client's %d RSTs (%s) and kept refusing its SYNs %s: tcp_rfc1337 = 1 on the server keeps a TIME_WAIT its full 60 s against RSTs",
			len(ref.rsts), strings.TrimPrefix(frameList(rsts), "frames "), span)
		return
	}
	r := c.s.rst
	if r == nil || r.receiverState != TimeWait {
		return
	}
	// The TIME_WAIT holder's first segment after the RST tells.
	x := 1 - r.by
	for i := range c.conn().Events {
		e := &c.conn().Events[i]
		if e.Frame <= r.ev.Frame || int(e.Dir) != x {
			continue
		}
		switch {
		case e.Flags&flows.RST != 0:
			c.add(CodeTimeWaitAssassinated, x, SysRFC1337, "set it to 1 to keep TIME_WAIT against RSTs (RFC 1337)", []uint64{r.ev.Frame, e.Frame},
				"the %s's RST (frame %d) killed the %s's TIME_WAIT: the %s's next segment met no socket and got a RST (frame %d), so tcp_rfc1337 = 0 on the %s (TIME_WAIT assassination, RFC 1337)",
				c.name(r.by), r.ev.Frame, c.name(x), c.name(r.by), e.Frame, c.name(x))
		case e.Flags&flows.ACK != 0 && e.Flags&(flows.SYN|flows.FIN) == 0 && e.Len == 0:
			c.add(CodeTimeWaitRstIgnored, x, SysRFC1337, "leave it (it protects TIME_WAIT)", []uint64{r.ev.Frame, e.Frame},
				"the %s's TIME_WAIT outlived the %s's RST (frame %d) and still acknowledged the next segment (frame %d): tcp_rfc1337 = 1 on the %s",
				c.name(x), c.name(r.by), r.ev.Frame, e.Frame, c.name(x))
		}
		return
	}
}
