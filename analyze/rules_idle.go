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

// unansweredAfterSilence returns the side that ended the flow's last
// silence of at least idleBeforeReset and then went on sending for at
// least unansweredFor (data or a FIN the other side never acknowledged,
// or keepalive probes) with not one segment back, not even a RST, to the
// end of the capture, after the other side had sent before the silence.
func (s *story) unansweredAfterSilence() (x int, ok bool) {
	c := s.conn
	t := c.Tail
	if s.rst != nil || t.Gap < idleBeforeReset || !t.End.Seen() || c.Last.Frame == t.End.Frame {
		return 0, false
	}
	if c.Dir[flows.FromServer].Last == c.Last {
		x = flows.FromServer
	}
	hx, hy := &c.Dir[x], &c.Dir[1-x]
	if hy.Packets == 0 || c.Last.Time-t.End.Time < unansweredFor {
		return 0, false
	}
	owed := hx.SeqSeen && (!hy.AckSeen || flows.SeqLess(hy.MaxAck, hx.End))
	return x, owed || probedSince(hx, t.End)
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
	c.add(CodeNoAnswerAfterIdle, x, ct.sysctl,
		"raise the device's idle timeout above the connection's silences, or keep the connection busy (TCP keepalive via TCP_KEEPIDLE, or application pings) more often than that timeout; TCP_USER_TIMEOUT bounds how long the sender retransmits unanswered",
		[]uint64{t.End.Frame, conn.Last.Frame},
		"after %s of silence the %s sent %s (frame %d) and went on retransmitting for %s (to frame %d), and the %s never answered again, not even with a RST, which a host that is up sends for a connection it no longer has: the segments did not reach it. Either the %s's host is down or cut off, or a stateful firewall, NAT or load balancer on the path forgot the idle connection and drops what comes next (on a Linux firewall, which tracked it as %s then, %s (%s by default) is shorter than that silence, and mid-stream segments are dropped: nf_conntrack_tcp_loose = 0, or a rule against new segments without SYN), and if the %s answered other connections after that silence, it is the device. %s",
		FormatSeconds(secs(t.Gap)), c.name(x), strings.Join(sent, " and "), t.End.Frame, dur(t.End.Time, conn.Last.Time), conn.Last.Frame,
		c.name(1-x), c.name(1-x), ct.name, strings.TrimPrefix(ct.sysctl, "net.netfilter."), ct.def, c.name(1-x), giveUp)
}
