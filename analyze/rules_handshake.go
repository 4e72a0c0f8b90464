package analyze

import (
	"fmt"
	"slices"
	"strings"

	"github.com/teardown/teardown/flows"
)

// Rules of a handshake that did not complete: a SYN, a SYN-ACK or a
// handshake ACK that went unanswered. A SYN refused by a RST is
// connectionRefused's.

// synUnanswered: the client retransmitted its SYN and nothing came back,
// not even a RST. connect() fails with ETIMEDOUT once tcp_syn_retries
// retransmissions are spent, or at the application's own timeout.
func synUnanswered(c *ruleCtx) {
	conn := c.conn()
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	if cl.SYNCount < 2 || sv.Packets > 0 || conn.HandshakeDone || c.s.icmp != nil {
		return // an ICMP error that ended it is synRejectedICMP's
	}
	var syns []flows.Mark
	for i := range conn.Events {
		if e := &conn.Events[i]; e.Dir == flows.FromClient && e.Why&flows.WhySYN != 0 {
			syns = append(syns, e.Mark())
		}
	}
	if len(syns) == 0 {
		return
	}
	// The events keep the first SYNs only; the last is SYNLast.
	var gaps []string
	for i := 1; i < len(syns); i++ {
		gaps = append(gaps, "+"+dur(syns[0].Time, syns[i].Time))
	}
	if last := cl.SYNLast; last.Frame > syns[len(syns)-1].Frame {
		if int(cl.SYNCount) > len(syns)+1 {
			gaps = append(gaps, "…")
		}
		gaps = append(gaps, "+"+dur(syns[0].Time, last.Time))
		syns = append(syns, last)
	}
	c.add(CodeSynUnanswered, flows.FromClient, SysSynRetries,
		"find what drops the SYN (a firewall's DROP rule, the server's state, its listen queue: nstat TcpExtListenDrops); lowering tcp_syn_retries, or a connect timeout in the application, only makes the failure come sooner",
		markFrames(syns...),
		"the client sent its SYN %s over %s (%s) and nothing answered it, not even a RST: a firewall that drops rather than rejects it, a stateful firewall or NAT whose conntrack table was full (net.netfilter.nf_conntrack_max), a server host that is down or unreachable, or a listener whose SYN queue was full (tcp_max_syn_backlog, with tcp_syncookies off). connect() fails with ETIMEDOUT once tcp_syn_retries retransmissions are spent (6 by default: about 127s; tcp_syn_linear_timeouts sends the first ones 1s apart), or sooner at the application's own connect timeout",
		times(int(cl.SYNCount)), dur(syns[0].Time, syns[len(syns)-1].Time), strings.Join(gaps, ", "))
}

// synRetransmitted: the server answered the client's SYN only after the
// client had sent it again, and nothing came back from the server before
// its SYN-ACK: connect() took the SYN's retransmission timeout longer (1 s
// on a current kernel, then doubling past tcp_syn_linear_timeouts). A
// listener drops SYNs while its accept queue is full (tcp_conn_request()
// counts TcpExtListenOverflows and TcpExtListenDrops), and while its SYN
// queue is full with SYN cookies off; the path may have lost them too.
func synRetransmitted(c *ruleCtx) {
	syns, ok := c.synRetried()
	if !ok {
		return
	}
	conn := c.conn()
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	var at []string
	for _, m := range syns[1:] {
		at = append(at, "+"+dur(syns[0].Time, m.Time))
	}
	took := "connect() took that much longer"
	if _, _, _, kind := c.noSocketStory(); kind == lostConnect {
		took = "connect() had given up by then (the client reset the SYN-ACK from no socket)"
	}
	c.add(CodeSynRetransmitted, flows.FromServer, SysSomaxconn,
		"if the server's nstat TcpExtListenDrops grows, accept() faster or raise the listen() backlog (and net.core.somaxconn, which caps it); if not, find what drops SYNs on the path",
		append(markFrames(syns...), sv.SYN.Frame),
		"the server answered the client's SYN only at its %s transmission (SYN-ACK at frame %d), %s after the first (frame %d; sent again at %s), with nothing from the server before: %s. The first SYNs were dropped before the listener answered: a listener drops SYNs while its accept queue is full (its application accept()s too slowly for its listen() backlog, capped by net.core.somaxconn; nstat TcpExtListenOverflows and TcpExtListenDrops count them) or while its SYN queue is full with tcp_syncookies = 0 (tcp_max_syn_backlog); or the path lost them (a firewall; a stateful firewall or NAT, or the server's own conntrack, whose table was full: net.netfilter.nf_conntrack_max, \"nf_conntrack: table full, dropping packet\" in its kernel log; a NAT whose conntrack failed to insert the connection: conntrack -S insert_failed)",
		ordinal(int(cl.SYNCount)), sv.SYN.Frame, dur(syns[0].Time, sv.SYN.Time), syns[0].Frame, strings.Join(at, ", "), took)
}

// synRetried returns the client's kept SYN transmissions and its last
// one, when the server's first segment is its SYN-ACK, sent after the
// client's last SYN (at least its second), with no client RST before it
// (synRetransmitted).
func (c *ruleCtx) synRetried() ([]flows.Mark, bool) {
	conn := c.conn()
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	if cl.SYNCount < 2 || sv.SYNCount == 0 || !cl.SYN.Seen() || !sv.SYN.Seen() || sv.SYN.Frame < cl.SYNLast.Frame {
		return nil, false
	}
	var syns []flows.Mark
	for i := range conn.Events {
		e := &conn.Events[i]
		if e.Frame >= sv.SYN.Frame {
			break
		}
		if e.Dir == flows.FromServer || e.Flags&flows.RST != 0 {
			return nil, false // answered, or a TIME_WAIT's old ACK the client reset
		}
		if e.Why&flows.WhySYN != 0 {
			syns = append(syns, e.Mark())
		}
	}
	if n := len(syns); n == 0 || syns[n-1] != cl.SYNLast {
		syns = append(syns, cl.SYNLast)
	}
	return syns, true
}

// acceptQueueFull: the server sent its SYN-ACK again after the client had
// acknowledged it. With tcp_abort_on_overflow = 0 (the default) a
// listener whose accept queue is full drops the handshake ACK and keeps
// the request, retransmitting its SYN-ACK until an ACK finds room
// (KERNEL.md row 18); the same wire comes from handshake ACKs lost on the
// way to the server.
func acceptQueueFull(c *ruleCtx) {
	conn := c.conn()
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	ack := cl.HandshakeAck
	if sv.SYNCount < 2 || !ack.Seen() || sv.SYNLast.Frame < ack.Frame || sv.SYN.Frame > ack.Frame {
		return
	}
	var again []flows.Mark
	for i := range conn.Events {
		if e := &conn.Events[i]; e.Dir == flows.FromServer && e.Why&flows.WhySYN != 0 && e.Frame > ack.Frame {
			again = append(again, e.Mark())
		}
	}
	if n := len(again); n == 0 || again[n-1] != sv.SYNLast {
		again = append(again, sv.SYNLast)
	}
	then := "the capture shows no ACK after the last one"
	if a := cl.HandshakeAckAfter; a.Seen() && a.Frame > sv.SYNLast.Frame {
		then = fmt.Sprintf("the client's ACK of the last one (frame %d), %s after its first, ", a.Frame, dur(ack.Time, a.Time))
		switch {
		case sv.Packets > uint64(sv.SYNCount)+uint64(sv.RSTCount):
			then += "completed the connection"
		case sv.RSTCount > 0:
			then += "did not complete it either"
		default:
			then += "is the last the capture shows of it"
		}
	}
	c.add(CodeAcceptQueueFull, flows.FromServer, SysSomaxconn,
		"accept() faster, or raise the listen() backlog (and net.core.somaxconn, which caps it); tcp_abort_on_overflow = 1 would reset such connections instead",
		append([]uint64{ack.Frame}, markFrames(again...)...),
		"the client acknowledged the server's SYN-ACK (frame %d), yet the server sent its SYN-ACK again %s (%s, the first %s later): the listener ignored the handshake ACK. With tcp_abort_on_overflow = 0 (the default) that is what a full accept queue does: the application accept()s too slowly for its listen() backlog (capped by net.core.somaxconn; nstat TcpExtListenOverflows counts it), and the request waits for an ACK that finds room; %s. Handshake ACKs lost on the way to the server look the same from the client's side",
		ack.Frame, times(len(again)), frameList(markFrames(again...)), dur(ack.Time, again[0].Time), then)
}

// synAckUnanswered: the server answered the SYN and sent its SYN-ACK again
// and again, and the client never acknowledged it, nor reset: the
// SYN-ACKs did not reach the client (a firewall or an asymmetric route
// that drops them on the way back, a NAT that lost the mapping), or the
// SYN was spoofed. The request socket lives tcp_synack_retries
// retransmissions.
func synAckUnanswered(c *ruleCtx) {
	conn := c.conn()
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	drop := c.s.icmpReq
	if sv.SYNCount < 2 && drop == nil || cl.HandshakeAck.Seen() || cl.RSTCount > 0 || sv.RSTCount > 0 || cl.SYNCount == 0 {
		return
	}
	syns := "its SYN once"
	if cl.SYNCount > 1 {
		syns = fmt.Sprintf("its SYN %s", times(int(cl.SYNCount)))
	}
	sent := fmt.Sprintf("a SYN-ACK %s over %s (frames %d to %d)", times(int(sv.SYNCount)), dur(sv.SYN.Time, sv.SYNLast.Time), sv.SYN.Frame, sv.SYNLast.Frame)
	if sv.SYNCount == 1 {
		sent = fmt.Sprintf("a SYN-ACK (frame %d)", sv.SYN.Frame)
	}
	d := c.add(CodeSynAckUnanswered, flows.FromServer, SysSynAckRetries,
		"find what drops the SYN-ACK on its way back (a firewall, an asymmetric route, a NAT), or, under a SYN flood, turn tcp_syncookies on; lowering tcp_synack_retries only frees the request sooner",
		[]uint64{sv.SYN.Frame, sv.SYNLast.Frame},
		"the server answered the client's SYN with %s and the client never acknowledged it, nor reset: the SYN-ACKs did not reach the client (a firewall or an asymmetric route dropping them on the way back, a NAT that lost the mapping) or the SYN was spoofed (a SYN flood). The client sent %s; the server keeps the request in SYN_RECV for tcp_synack_retries retransmissions (5 by default, about 63s), each counted against the SYN queue",
		sent, syns)
	if drop != nil {
		who := "from the client's own address"
		if !fromPeer(conn, drop) {
			who = "from " + drop.From.Unmap().String() + ", a router on the way back,"
		}
		name := icmpName(&drop.ICMPError)
		said := "said the client's address cannot be reached (an address nobody holds, as a SYN flood's spoofed ones are, or a host gone)"
		switch name {
		case "time-exceeded":
			said = "said the SYN-ACK's TTL ran out on the way (a routing loop)"
		case "parameter-problem":
			said = "said the SYN-ACK was malformed"
		case "admin-prohibited", "port-unreachable", "source-policy-failed", "reject-route":
			said = "rejected the SYN-ACK (a firewall's policy)"
		}
		d.Message += fmt.Sprintf(", unless an ICMP error quoting its SYN-ACK comes first: here ICMP %s (frame %d) %s %s, and the server dropped the request then (tcp_req_err): no SYN-ACK followed",
			name, drop.Frame, who, said)
		d.Frames = append(d.Frames, drop.Frame)
		slices.Sort(d.Frames)
		d.Frames = slices.Compact(d.Frames)
	}
	// The request's timer sent at least the retransmissions that no
	// retransmitted SYN drew (tcp_check_req answers each with a copy that
	// does not count against the limit), and it sends at most
	// tcp_synack_retries of them: a lower bound on the setting.
	if timer := int(sv.SYNCount) - 1 - (int(cl.SYNCount) - 1); timer > 0 {
		d.Bounds = append(d.Bounds, Bound{Host: c.host(flows.FromServer), Sysctl: SysSynAckRetries, Of: OfValue,
			Above: ptr(float64(timer - 1)), Assumes: "the listener set neither TCP_SYNCNT nor TCP_DEFER_ACCEPT"})
	}
}
