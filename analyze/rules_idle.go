package analyze

import (
	"fmt"
	"strings"

	"github.com/teardown/teardown/flows"
)

// unansweredFor is how long a side must have gone on sending, with no
// answer, after a silence before noAnswerAfterIdle judges it: longer than
// a round trip and than the first retransmission timeouts.
const unansweredFor = 1e9

// dataUnansweredFor is how long a side must have gone on sending, with
// no answer and no silence before, before dataUnanswered judges it:
// several retransmission timeouts (0.2, 0.6, 1.4 and 3.0 s into a series
// from Linux's 200 ms minimum RTO), which a passing loss rarely outlasts.
const dataUnansweredFor = 3e9

// unansweredAfterSilence returns the side that ended the flow's last
// silence of at least idleBeforeReset and then went on sending for at
// least unansweredFor (data or a FIN the other side never acknowledged,
// or keepalive probes) with not one segment back, not even a RST, to the
// end of the capture, after the other side had sent before the silence.
func (s *story) unansweredAfterSilence() (x int, ok bool) {
	x, ok = s.unansweredTail()
	if !ok || s.conn.Tail.Gap < idleBeforeReset {
		return 0, false
	}
	hx, hy := &s.conn.Dir[x], &s.conn.Dir[1-x]
	owed := hx.SeqSeen && (!hy.AckSeen || flows.SeqLess(hy.MaxAck, hx.End))
	return x, owed || probedSince(hx, s.conn.Tail.End)
}

// unansweredTail returns the side that sent the flow's Tail and went on
// sending for at least unansweredFor after it, with not one segment back
// from the other side, which had sent before, and no RST.
func (s *story) unansweredTail() (x int, ok bool) {
	c := s.conn
	t := c.Tail
	if s.rst != nil || !t.End.Seen() || c.Last.Frame == t.End.Frame {
		return 0, false
	}
	if c.Dir[flows.FromServer].Last == c.Last {
		x = flows.FromServer
	}
	hx, hy := &c.Dir[x], &c.Dir[1-x]
	if hy.Packets == 0 || hy.Last.Frame >= t.End.Frame || hx.Last.Frame < t.End.Frame || c.Last.Time-t.End.Time < unansweredFor {
		return 0, false
	}
	if ss := hx.Stalls; ss != nil && hx.Last == ss.Cur.Last && ss.Cur.BlackHole() && !ss.Cur.Answer.Seen() {
		// The copies go on into a black hole the peer outlived
		// (pmtuBlackHole's): its silence is theirs, not its own.
		return 0, false
	}
	return x, true
}

// dataUnanswered returns the side that sent data, with no silence before
// it, and went on sending it for at least dataUnansweredFor to the end of
// the capture, never acknowledged and with not one segment back; a FIN
// among those segments leaves it to the FIN rules.
func (s *story) dataUnanswered() (x int, ok bool) {
	x, ok = s.unansweredTail()
	c := s.conn
	t := c.Tail
	if !ok || t.Gap >= idleBeforeReset || c.Last.Time-t.End.Time < dataUnansweredFor {
		return 0, false
	}
	hx, hy := &c.Dir[x], &c.Dir[1-x]
	if !hx.DataSeen || !hy.AckSeen || !flows.SeqLess(hy.MaxAck, hx.DataEnd) || hx.FinSeen && hx.FinLast.Frame >= t.End.Frame {
		return 0, false
	}
	return x, true
}

// probedSince reports whether h sent a keepalive probe at or after m.
func probedSince(h *flows.Half, m flows.Mark) bool {
	return h.Keepalives > 0 && h.LastKeepalive.Frame >= m.Frame
}

// noAnswerAfterIdle: after a silence, one side sent data, a FIN or
// keepalive probes and retransmitted them to the end of the capture with
// not one segment back. A host that is up answers every segment of a
// connection, with a RST if it has no socket for it; silence means the
// segments never reached it: the host is down or cut off, or a stateful
// device on the path forgot the idle connection and drops its segments
// (on a Linux firewall, the conntrack timeout of the state it held the
// connection in ran out, and mid-stream segments are dropped). The sender
// gives up silently (KERNEL.md row 1).
func noAnswerAfterIdle(c *ruleCtx) {
	x, ok := c.s.unansweredAfterSilence()
	if !ok {
		return
	}
	conn := c.conn()
	t := conn.Tail
	hx, hy := &conn.Dir[x], &conn.Dir[1-x]
	var sent []string
	if hx.DataSeen && hy.AckSeen && flows.SeqLess(hy.MaxAck, hx.DataEnd) {
		sent = append(sent, fmt.Sprintf("%d bytes", hx.DataEnd-hy.MaxAck))
	} else if hx.DataSeen && !hy.AckSeen {
		sent = append(sent, "data")
	}
	fin := hx.FinSeen && hx.FinLast.Frame >= t.End.Frame
	if fin {
		sent = append(sent, "its FIN")
	}
	probed := probedSince(hx, t.End)
	if probed {
		sent = append(sent, "keepalive probes")
	}
	ct := ctStates[conntrackState(conn, t.End.Frame)]
	giveUp := "tcp_retries2 (15 by default: 924.6s) bounds how long it retransmits before it gives up, silently, and the application gets ETIMEDOUT"
	if fin {
		giveUp = "tcp_orphan_retries (or tcp_retries2 for a socket that only shut down) bounds how long it retransmits before it gives up, silently"
	}
	if probed && len(sent) == 1 {
		giveUp = "tcp_keepalive_probes (9 by default, or TCP_KEEPCNT) bounds how many go unanswered before it resets the connection"
	}
	d := c.add(CodeNoAnswerAfterIdle, x, ct.sysctl,
		"raise the device's idle timeout above the connection's silences, or keep the connection busy (TCP keepalive via TCP_KEEPIDLE, or application pings) more often than that timeout; TCP_USER_TIMEOUT bounds how long the sender retransmits unanswered",
		[]uint64{t.End.Frame, conn.Last.Frame},
		"after %s of silence the %s sent %s (frame %d) and went on retransmitting for %s (to frame %d), and the %s never answered again, not even with a RST, which a host that is up sends for a connection it no longer has: the segments did not reach it. Either the %s's host is down or cut off, or a stateful firewall, NAT or load balancer on the path forgot the idle connection and drops what comes next (on a Linux firewall, which tracked it as %s then, %s (%s by default) is shorter than that silence, and mid-stream segments are dropped: nf_conntrack_tcp_loose = 0, or a rule against new segments without SYN), and if the %s answered other connections after that silence, it is the device. %s",
		FormatSeconds(secs(t.Gap)), c.name(x), strings.Join(sent, " and "), t.End.Frame, dur(t.End.Time, conn.Last.Time), conn.Last.Frame,
		c.name(1-x), c.name(1-x), ct.name, strings.TrimPrefix(ct.sysctl, "net.netfilter."), ct.def, c.name(1-x), giveUp)
	c.withICMP(d, x, t.End.Frame-1, !fin)
}

// dataUnanswered: one side sent data, with no silence before it (that is
// noAnswerAfterIdle's), and retransmitted it to the end of the capture
// with not one segment back. A host that is up answers every segment of
// a connection, and a process that stopped reading still has its kernel
// acknowledge (then advertise a zero window): silence means the segments
// stopped reaching the peer's kernel. Its host went down or was cut off,
// or the path began to drop the connection. The sender retransmits until
// tcp_retries2 (or the socket's TCP_USER_TIMEOUT) runs out and then gives
// up silently, with ETIMEDOUT for the application (KERNEL.md row 1). A
// FIN among the unanswered segments is left to the FIN rules.
func dataUnanswered(c *ruleCtx) {
	x, ok := c.s.dataUnanswered()
	if !ok {
		return
	}
	conn := c.conn()
	t := conn.Tail
	hx, hy := &conn.Dir[x], &conn.Dir[1-x]
	d := c.add(CodeDataUnanswered, x, SysRetries2,
		"find out what happened to the "+c.name(1-x)+"'s host at that moment (a crash, a reboot, a route or firewall change); set TCP_USER_TIMEOUT on the socket, or lower tcp_retries2, for the application to learn of it sooner than the default 15 minutes",
		[]uint64{t.End.Frame, conn.Last.Frame},
		"the %s sent %d bytes the %s never acknowledged (from frame %d, %s after the %s's latest segment) and went on retransmitting for %s (to frame %d), and the %s never sent another segment, not even a RST, which a host that is up sends for a connection it no longer has, nor an ACK, which its kernel sends even when the application stops reading: the segments stopped reaching it. The %s's host went down or was cut off (a crash, a reboot, a cable, a route or firewall change), or a device on the path began to drop the connection. tcp_retries2 (15 by default: 924.6s) bounds how long the %s retransmits before it gives up, silently, and the application gets ETIMEDOUT; TCP_USER_TIMEOUT replaces that bound for one socket",
		c.name(x), hx.DataEnd-hy.MaxAck, c.name(1-x), t.End.Frame, dur(hy.Last.Time, t.End.Time), c.name(1-x), dur(t.End.Time, conn.Last.Time), conn.Last.Frame,
		c.name(1-x), c.name(1-x), c.name(x))
	c.withICMP(d, x, t.End.Frame-1, true)
}

// pmtuBlackHole: one side retransmitted its oldest unacknowledged data
// again and again while the other side was up — it went on sending
// payload, a FIN or a RST without acknowledging it, or a shorter copy of
// the same bytes got through (flows.Stall). Packets that large stopped on
// the path while smaller ones passed: a path MTU black hole. Linux lowers
// its segment size on such a stall only with tcp_mtu_probing
// (tcp_write_timeout: after tcp_retries1 timeouts, to tcp_base_mss, then
// by halves).
func pmtuBlackHole(c *ruleCtx) {
	conn := c.conn()
	for x := range 2 {
		st := conn.Dir[x].Stalls.Evidence()
		if st == nil {
			continue
		}
		sizes := fmt.Sprintf("copies of %d bytes", st.MaxLen)
		if st.MinLen < st.MaxLen {
			sizes = fmt.Sprintf("copies of %d down to %d bytes", st.MaxLen, st.MinLen)
		}
		what := fmt.Sprintf("the %s retransmitted its oldest unacknowledged data %d times from frame %d to frame %d (%s)",
			c.name(x), st.Copies, st.First.Frame, st.Last.Frame, sizes)
		frames := markFrames(st.First, st.Second, st.Last, st.Shrink, st.PeerFirst, st.Answer)
		heard := c.pmtuHeard(x, &frames)
		advice := "let ICMP \"fragmentation needed\" (type 3 code 4; ICMPv6 \"packet too big\") through the firewalls between the hosts, or clamp the MSS where the MTU shrinks (iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu); set net.ipv4.tcp_mtu_probing = 1 on the " + c.name(x) + " for it to recover on its own"
		knob := SysMTUProbing
		why := fmt.Sprintf("a link on the path has a smaller MTU, and the ICMP \"fragmentation needed\" its router sends (IPv6: \"packet too big\") does not reach the %s, so path MTU discovery never learns the size", c.name(x))
		if st.Fragmentable {
			// DF clear: no router answers such copies; one whose link is
			// smaller fragments them, and they vanish when their
			// fragments do not all arrive.
			knob = SysNoPMTUDisc
			advice = "let IP fragments through the firewalls between the hosts, or have the " + c.name(x) + " do path MTU discovery (net.ipv4.ip_no_pmtu_disc = 0, and no IP_PMTUDISC_DONT on the socket) so that its segments fit the path; or clamp the MSS where the MTU shrinks (iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu)"
			why = fmt.Sprintf("every copy left with DF clear, for the %s does no path MTU discovery on this connection (net.ipv4.ip_no_pmtu_disc not 0, or IP_MTU_DISCOVER set to IP_PMTUDISC_DONT on the socket), so a router whose link is smaller fragments the copies instead of answering \"fragmentation needed\", and their fragments did not all reach the %s: something on the way drops IP fragments (a firewall or security group that matches ports, which only a first fragment carries; a NAT that cannot translate the later ones), or the %s's reassembly gave up (net.ipv4.ipfrag_high_thresh, ipfrag_time)", c.name(x), c.name(1-x), c.name(1-x))
		}
		if st.Shrink.Seen() && st.Answer.Seen() {
			answer := "acknowledged it"
			if st.AnswerRST {
				answer = "answered it with a RST"
			}
			lost := fmt.Sprintf("%d-byte copies", st.LongLen)
			if st.ShrinkLen > st.LastLen {
				lost = fmt.Sprintf("%d-byte copies and a shorter one of %d (frame %d)", st.LongLen, st.ShrinkLen, st.Shrink.Frame)
			}
			d := c.add(CodePMTUBlackHole, x, knob, advice, frames,
				"%s, and the %s %s only after a copy of %d bytes (frame %d, %s after the first copy), when %s had gone unanswered: packets that large did not cross the path while smaller ones did. That is a path MTU black hole: %s. The %s's tcp_mtu_probing is on (1 or 2): Linux began to shrink the copies (frame %d) after tcp_retries1 (3 by default) timeouts, and every connection on that path stalls about as long before it does",
				what, c.name(1-x), answer, st.LastLen, st.Answer.Frame, dur(st.First.Time, st.Answer.Time), lost, why, c.name(x), st.Shrink.Frame)
			d.Message += heard
			if !st.AnswerRST {
				d.Severity = Warning
			}
			continue
		}
		others := "(a device dropping this connection's data for its content, or a path that stopped carrying this direction alone, would look the same; a shorter copy that gets through tells them apart)"
		ack, crossed := c.smallCrossed(x, st)
		if crossed {
			frames = append(frames, ack.Frame)
			others = fmt.Sprintf("(the %s's own acknowledgement of the %s's FIN, frame %d, reached it: no copy of that FIN followed in the %s the capture went on, so small segments crossed the path this way too; a device dropping this connection's data for its content would still look the same)",
				c.name(x), c.name(1-x), ack.Frame, dur(ack.Time, c.s.end))
		}
		shrink := fmt.Sprintf("The %s never sent a shorter copy: its tcp_mtu_probing is 0 (the default), with which Linux keeps the segment size until tcp_retries2 ends the connection; 1 lowers it to tcp_base_mss (1024) after tcp_retries1 (3) timeouts", c.name(x))
		if st.Shrink.Seen() {
			shrink = fmt.Sprintf("The %s's tcp_mtu_probing is on: it shrank the copies to %d bytes at frame %d, and those went unanswered too — the size had not come down far enough when the copies end", c.name(x), st.ShrinkLen, st.Shrink.Frame)
		}
		d := c.add(CodePMTUBlackHole, x, knob, advice, frames,
			"%s, and the %s never acknowledged it though it was up: it went on sending, and %s came through. Copies that large vanishing while the other way works is a path MTU black hole: %s %s. %s",
			what, c.name(1-x), peerSegs(st), why, others, shrink)
		d.Message += heard
	}
}

// peerSegs says which of the peer's segments showed it up during a stall.
func peerSegs(st *flows.Stall) string {
	if st.PeerSegs == 1 {
		return fmt.Sprintf("its segment after the second copy (frame %d)", st.PeerFirst.Frame)
	}
	return fmt.Sprintf("its %d segments after the second copy (from frame %d)", st.PeerSegs, st.PeerFirst.Frame)
}

// pmtuHeard says which path MTU messages quoting side x's segments the
// capture holds, and adds the first and the latest to frames: they
// passed the capture point, yet x went on as if it never had them, so
// something between the capture point and x's TCP drops them (with the
// capture taken on x's host, its own firewall: tcpdump sees a packet
// before netfilter's INPUT does).
func (c *ruleCtx) pmtuHeard(x int, frames *[]uint64) string {
	var first, last *flows.ICMPEvent
	n := 0
	for i := range c.conn().ICMP {
		e := &c.conn().ICMP[i]
		if int(e.Dir) != x || !e.PMTU() {
			continue
		}
		if first == nil {
			first = e
		}
		last = e
		n++
	}
	if first == nil {
		return ""
	}
	if n == len(c.conn().ICMP) {
		n = c.conn().ICMPCount // those not kept came later still
	}
	*frames = append(*frames, first.Frame, last.Frame) // add sorts and compacts them
	mtu := ""
	if last.MTU != 0 {
		mtu = fmt.Sprintf(", next-hop MTU %d", last.MTU)
	}
	return fmt.Sprintf(". Yet the capture holds %d ICMP %s (%s%s) from %s quoting the %s's segments: the messages came as far as the capture point, and the %s did not act on them (Linux lowers its segment size at once on one), so something between there and its TCP drops them (with the capture taken on the %s's host, its own firewall: an INPUT rule against ICMP, which tcpdump does not see)",
		n, icmpName(&last.ICMPError), frameSpan(first, last), mtu, last.From.Unmap(), c.name(x), c.name(x), c.name(x))
}

// crossedAfter is how long the capture must go on after side x
// acknowledged the peer's FIN, with no copy of that FIN, to show the
// acknowledgement arrived: past the FIN's first retransmission timeout.
const crossedAfter = 1e9

// smallCrossed returns side x's acknowledgement of the peer's FIN during
// stall st when it shows that x's small segments reached the peer: the
// peer sent no copy of its FIN after it though the capture went on
// crossedAfter more. A direction that carried nothing would have left the
// peer retransmitting that FIN.
func (c *ruleCtx) smallCrossed(x int, st *flows.Stall) (flows.Mark, bool) {
	hy := &c.conn().Dir[1-x]
	if !hy.FinSeen || !hy.FinAcked.Seen() || hy.FinAcked.Frame < st.First.Frame || hy.FinLast.Frame > hy.FinAcked.Frame ||
		c.s.end-hy.FinAcked.Time < crossedAfter {
		return flows.Mark{}, false
	}
	return hy.FinAcked, true
}
