package analyze

import (
	"fmt"
	"strings"

	"github.com/teardown/teardown/flows"
)

// Rules for the resets that end a connection, by the cause the close
// engine found (KERNEL.md rows 5, 6b, 6c, 18, 19, and refused SYNs).

// rstUnreadData: RST+ACK instead of a FIN at close() with peer data the
// application never read (KERNEL.md row 5, RFC 2525 §2.17).
func rstUnreadData(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseUnreadData)
	if !ok {
		return
	}
	hy := &c.conn().Dir[1-x]
	frames := markFrames(hy.LastData, r.ev.Mark())
	c.add(CodeRstUnreadData, x, "", "leave the sysctls; make the application read what the peer sends before it closes", frames,
		"the %s reset the connection at close() (RST+ACK, frame %d) instead of sending a FIN, with data from the %s still unread (its last data, frame %d, was never answered): the %s sees \"connection reset by peer\"",
		c.name(x), r.ev.Frame, c.name(1-x), hy.LastData.Frame, c.name(1-x))
}

// rstLingerZero: RST+ACK instead of a FIN with nothing unread: SO_LINGER
// {1, 0} (KERNEL.md row 6b). From LAST_ACK or CLOSING everything was
// already sent, so the socket vanished silently and the peer's next
// segment met a reply-RST.
func rstLingerZero(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseLingerZero)
	if !ok {
		return
	}
	const advice = "leave it if the abort is intended (it skips TIME_WAIT); otherwise stop setting SO_LINGER {1, 0}"
	switch r.senderState {
	case LastAck, Closing:
		c.add(CodeRstLingerZero, x, OptLinger, advice, []uint64{r.ev.Frame},
			"the %s answered the %s's segment with a RST from no socket (frame %d) while it should still have been in %s: its socket had closed with SO_LINGER {1, 0} once everything was sent, which leaves nothing to answer",
			c.name(x), c.name(1-x), r.ev.Frame, r.senderState)
	default:
		d := c.add(CodeRstLingerZero, x, OptLinger, advice, []uint64{r.ev.Frame},
			"the %s reset the connection from %s (RST+ACK, frame %d) instead of sending a FIN, with nothing unread: SO_LINGER {1, 0} at close(), which skips TIME_WAIT; the %s sees \"connection reset by peer\"",
			c.name(x), r.senderState, r.ev.Frame, c.name(1-x))
		if x == flows.FromClient {
			d.Message += ". Load balancers' health checks close so on purpose: HAProxy resets each check's connection once it has its answer, to leave no TIME_WAIT, and the server's application may log every check as a reset"
		}
	}
}

// rstDataAfterClose: the peer kept sending after the side's FIN from
// close(), and the side answered with a RST (KERNEL.md row 6c): the
// application protocol let the peer write to a closed connection.
func rstDataAfterClose(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseDataAfterClose)
	if !ok {
		return
	}
	sx := c.s.sides[x]
	a := &c.conn().Dir[1-x].AfterPeerFIN
	var data string
	frames := markFrames(sx.finFirst)
	switch {
	case a.Segments > 0 && a.First.Frame < r.ev.Frame && a.Bytes == 0:
		// Only copies of what it had sent before the FIN.
		data = fmt.Sprintf("retransmitting data sent before that FIN: frame %d, %s after it", a.First.Frame, dur(sx.finFirst.Time, a.First.Time))
		frames = append(frames, a.First.Frame)
	case a.Segments > 0 && a.First.Frame < r.ev.Frame:
		data = fmt.Sprintf("%d bytes from frame %d on, %s after that FIN", a.Bytes, a.First.Frame, dur(sx.finFirst.Time, a.First.Time))
		frames = append(frames, a.First.Frame)
	default:
		data = "data the FIN had not acknowledged"
	}
	if ic, ok := c.idleCloseOf(x, r); ok {
		message, advice := ic.story(c, x, r)
		c.add(CodeRstDataAfterClose, x, "", advice, append(markFrames(ic.fin, ic.write), r.ev.Frame), "%s", message)
		return
	}
	c.add(CodeRstDataAfterClose, x, "", "leave the sysctls; fix the protocol so the peer stops writing once the other side has closed", append(frames, r.ev.Frame),
		"the %s had close()d (FIN, frame %d) but the %s kept writing (%s), which the %s answered with a RST (frame %d): the %s wrote to a connection its peer had closed and loses that data",
		c.name(x), sx.finFirst.Frame, c.name(1-x), data, c.name(x), r.ev.Frame, c.name(1-x))
}

// minIdleClose is the silence before a close() that makes it an idle
// timeout's (an HTTP keep-alive timeout, a pool's idle limit).
const minIdleClose = 1e9

// idleClose is a close() after a silence that the peer's later write
// met: how long the closer had been idle, its FIN, the peer's write, and
// whether that write acknowledged the FIN.
type idleClose struct {
	idle       int64
	fin, write flows.Mark
	acksFIN    bool
}

// idleCloseOf tells the keep-alive race apart from a stale pooled
// connection when side x, silent for a second or more, close()d and
// answered the peer's later data with RST r: nothing had moved for that
// long before x's FIN (x's last data, and its first acknowledgement of
// the peer's last data, came that long before), so x closed an idle
// connection, and the peer wrote on it. The peer's data acknowledges the
// FIN when the peer had it and wrote anyway (a stale connection); it does
// not when the two crossed in flight.
func (c *ruleCtx) idleCloseOf(x int, r *rstStory) (idleClose, bool) {
	sx := c.s.sides[x]
	hx, hy := &c.conn().Dir[x], &c.conn().Dir[1-x]
	fin := sx.finFirst
	if !fin.Seen() || sx.finInferred || !hx.MaxAckAt.Seen() || hx.MaxAckAt.Frame >= fin.Frame {
		return idleClose{}, false
	}
	last := hx.MaxAckAt
	if hx.LastData.Seen() {
		if hx.LastData.Frame >= fin.Frame {
			return idleClose{}, false // data on or after the FIN
		}
		if hx.LastData.Frame > last.Frame {
			last = hx.LastData
		}
	}
	ic := idleClose{idle: fin.Time - last.Time, fin: fin}
	if ic.idle < minIdleClose {
		return idleClose{}, false
	}
	// The peer's data that met the closed socket: the first after the
	// FIN as the capture has them, else its latest (sent before the FIN
	// reached the capture point), which x had not acknowledged.
	ic.write = hy.LastData
	if a := &hy.AfterPeerFIN; a.Segments > 0 && a.First.Frame < r.ev.Frame {
		if a.Bytes == 0 {
			return idleClose{}, false // copies of what it sent before: no new write
		}
		ic.write = a.First
		for i := range c.conn().Events {
			if e := &c.conn().Events[i]; e.Frame == a.First.Frame && e.Dir == uint8(1-x) {
				ic.acksFIN = e.Flags&flows.ACK != 0 && !flows.SeqLess(e.Ack, sx.finSeq+1)
				break
			}
		}
	} else if !ic.write.Seen() || ic.write.Frame <= last.Frame || ic.write.Frame > r.ev.Frame {
		return idleClose{}, false
	}
	return ic, true
}

// story is the diagnosis's message and advice for side x's idle close,
// which RST r ended.
func (ic idleClose) story(c *ruleCtx, x int, r *rstStory) (message, advice string) {
	closer, peer := c.name(x), c.name(1-x)
	idle := FormatSeconds(secs(ic.idle))
	head := fmt.Sprintf("the %s close()d the connection after %s without traffic (frame %d; an idle or keep-alive timeout)", closer, idle, ic.fin.Frame)
	if ic.acksFIN {
		had := "its data acknowledges the FIN"
		if ack := c.conn().Dir[x].FinAcked; ack.Seen() && ack.Frame < ic.write.Frame && ack.Time <= ic.write.Time {
			had = fmt.Sprintf("its kernel had acknowledged that FIN (frame %d) %s before", ack.Frame, dur(ack.Time, ic.write.Time))
		}
		return fmt.Sprintf("%s and the %s wrote on it anyway (frame %d; %s), which the %s answered with a RST (frame %d): the %s reused a connection its peer had closed, as a connection pool does when it hands out a connection without checking it for EOF; the %s reads EOF, or gets EPIPE (\"broken pipe\": its socket, holding the FIN, was in CLOSE_WAIT when the RST came), and that write is lost",
				head, peer, ic.write.Frame, had, closer, r.ev.Frame, peer, peer),
			fmt.Sprintf("leave the sysctls; have the %s check a pooled connection for EOF before reusing it, and keep its idle timeout below the %s's %s", peer, closer, idle)
	}
	return fmt.Sprintf("%s just as the %s wrote on it: its data (frame %d) left before the FIN reached it, the two crossed, and the %s answered the data with a RST (frame %d) — the keep-alive race; the %s reads EOF, or gets EPIPE (\"broken pipe\") once the FIN and the RST are in, instead of an answer to a request the %s never read",
			head, peer, ic.write.Frame, closer, r.ev.Frame, peer, closer),
		fmt.Sprintf("leave the sysctls; keep the %s's idle timeout for pooled connections below the %s's %s, and have it retry an idempotent request that met EOF or EPIPE", peer, closer, idle)
}

// keepaliveReset: keepalive probes went unanswered and the prober reset
// the connection (KERNEL.md row 19: unlike RTO or persist exhaustion,
// keepalive death sends a RST).
func keepaliveReset(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseKeepalive)
	if !ok {
		return
	}
	hx := &c.conn().Dir[x]
	var probes []flows.Mark
	for i := range c.conn().Events {
		if e := &c.conn().Events[i]; int(e.Dir) == x && e.Why&flows.WhyKeepalive != 0 {
			probes = append(probes, e.Mark())
		}
	}
	spacing := ""
	if len(probes) >= 2 {
		spacing = fmt.Sprintf(" %s apart (tcp_keepalive_intvl or TCP_KEEPINTVL)", dur(probes[0].Time, probes[1].Time))
	}
	c.add(CodeKeepaliveReset, x, SysKeepaliveTime, "leave; find why the peer stopped answering (gone, or a middlebox dropped the connection)",
		append(markFrames(probes...), r.ev.Frame),
		"the %s sent %d keepalive probes%s that the %s never answered, then reset the connection (RST+ACK, frame %d, %s after the last probe): the peer is gone or a middlebox forgot the connection; tcp_keepalive_time/intvl/probes (or TCP_KEEPIDLE/KEEPINTVL/KEEPCNT) set how long that takes",
		c.name(x), hx.Keepalives, spacing, c.name(1-x), r.ev.Frame, dur(hx.LastKeepalive.Time, r.ev.Time))
}

// listenOverflow: the listener answered the handshake ACK (or the first
// data) with a reply-RST: its accept queue was full and
// tcp_abort_on_overflow = 1 (KERNEL.md row 18).
func listenOverflow(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseListenOverflow)
	if !ok {
		return
	}
	c.add(CodeListenOverflow, x, SysAbortOnOverflow, "set it back to 0 and raise the listen backlog (listen(), net.core.somaxconn)", []uint64{r.ev.Frame},
		"the %s's listener answered the handshake with a RST (frame %d) right after it completed: its accept queue was full and tcp_abort_on_overflow = 1 (with 0 it would have dropped the ACK and retransmitted its SYN-ACK)",
		c.name(x), r.ev.Frame)
}

// connectionRefused: the SYN was answered by a RST: nothing listened.
func connectionRefused(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseRefused)
	if !ok || craftedSYN(&c.conn().Dir[flows.FromClient]) {
		return // a probe's SYN: synProbe
	}
	c.add(CodeConnectionRefused, x, "", "leave the sysctls; start the service or connect to the right port, or find the firewall rule that refuses it", []uint64{r.ev.Frame},
		"the %s answered the SYN with a RST (frame %d): nothing listens on %s, or a firewall's REJECT with tcp-reset, on the %s or on the path, refused it (connect() fails with ECONNREFUSED either way; the summary tells a device on the path by its TTL when the %s's own segments are in the capture)",
		c.name(x), r.ev.Frame, c.conn().Addr[x], c.name(x), c.name(x))
}

// idleBeforeReset is the shortest silence after which a middlebox's RST
// is put down to the connection's idle time.
const idleBeforeReset = 1e9

// resetAfterSilence reports whether the flow's RST, made by a device on
// the path, answered the first segment after the flow's longest silence,
// of at least idleBeforeReset: the device had forgotten the idle
// connection.
func (s *story) resetAfterSilence() bool {
	return s.rst != nil && s.rst.forged && s.quietBeforeRST()
}

// quietBeforeRST reports whether the flow's RST answered the first
// segment after the flow's longest silence, of at least idleBeforeReset.
func (s *story) quietBeforeRST() bool {
	r, q := s.rst, s.conn.Quiet
	return r != nil && q.Gap >= idleBeforeReset && q.End.Frame < r.ev.Frame && r.ev.Time-q.End.Time <= replyWindow
}

// lostKind is the story of a rst-no-socket: how the side's socket came
// to be gone, as far as the wire tells.
type lostKind uint8

const (
	lostNone         lostKind = iota
	lostPlain                 // no trace on the wire
	lostGaveUp                // the side's own retransmissions ran out
	lostUnreachable           // the peer's retransmissions went unanswered first
	lostAfterSilence          // it answered the first segment after a silence
	lostConnect               // a client that sent only SYNs answered the SYN-ACK: connect() gave up
	lostRequest               // the listener's request expired before the client's segment came
	lostProbe                 // a client's SYN from no connect(): a scanner's or a health checker's
)

// unanswered returns side x's current run of retransmissions when the
// peer never acknowledged it and it ended before RST e.
func (c *ruleCtx) unanswered(x int, e *flows.Event) *flows.Stall {
	if st := c.conn().Dir[x].Stalls; st != nil && st.Cur.Copies > 0 && !st.Cur.Answer.Seen() && st.Cur.Last.Frame < e.Frame {
		return &st.Cur
	}
	return nil
}

// noSocketStory returns the flow's no-socket RST, its sender, the peer's
// segment it answered and its story; lostNone when the flow has none.
func (c *ruleCtx) noSocketStory() (e *flows.Event, x int, trig flows.Mark, kind lostKind) {
	r, x, ok := c.resetWith(CauseNoSocket)
	if !ok {
		return nil, 0, flows.Mark{}, lostNone
	}
	if trig, ok = c.s.noSocketAnswer(r.ev); !ok {
		return nil, 0, flows.Mark{}, lostNone
	}
	hx := &c.conn().Dir[x]
	switch {
	case x == flows.FromClient && hx.Packets == uint64(hx.SYNCount)+uint64(hx.RSTCount) && craftedSYN(hx):
		kind = lostProbe
	case x == flows.FromClient && hx.Packets == uint64(hx.SYNCount)+uint64(hx.RSTCount):
		kind = lostConnect
	case x == flows.FromServer && c.s.listenerReset(r.ev):
		kind = lostRequest
	case c.unanswered(x, r.ev) != nil:
		kind = lostGaveUp
	case c.unanswered(1-x, r.ev) != nil:
		kind = lostUnreachable
	case c.s.quietBeforeRST():
		kind = lostAfterSilence
	default:
		kind = lostPlain
	}
	return r.ev, x, trig, kind
}

// rstNoSocket: a side that never closed answered its peer's segment with
// a RST from its kernel's reply path (no ACK, seq = that segment's ack:
// KERNEL.md §0, tcp_v4_send_reset): it had no socket for the connection
// any more. The story (noSocketStory) says what the wire tells of why: a
// client's connect() that gave up before the SYN-ACK; the side's own
// unanswered retransmissions, after which tcp_retries2 (or
// TCP_USER_TIMEOUT) closed the socket silently (KERNEL.md row 1); the
// peer's unanswered ones (the side was down); a silence, after which a
// NAT whose entry had expired may have sent the segment to another
// backend; or nothing.
func rstNoSocket(c *ruleCtx) {
	e, x, trig, kind := c.noSocketStory()
	if kind == lostNone || kind == lostProbe {
		return
	}
	y := 1 - x
	if kind == lostConnect {
		cl := &c.conn().Dir[flows.FromClient]
		d := c.add(CodeRstNoSocket, x, "",
			"give connect() a timeout longer than the server takes to answer on this path (past the SYN's first retransmission, 1 s later), and find why the answer came late: lost SYNs or SYN-ACKs, or a listener dropping SYNs",
			markFrames(cl.SYN, trig, e.Mark()),
			"the client answered the server's SYN-ACK (frame %d, %s after its first SYN) with a RST from no socket (frame %d: no ACK, its sequence number the SYN-ACK's acknowledgement, as the kernel's reply path makes it): its connect() had already given up. The application's own connect timeout closed the socket while it was still in SYN_SENT, which sends nothing (or TCP_SYNCNT or tcp_syn_retries ran out just before); the client saw a timeout, and the server's handshake was reset",
			trig.Frame, dur(cl.SYN.Time, trig.Time), e.Frame)
		// The client sent nothing but SYNs: the socket was its connect().
		d.settleBook()
		return
	}
	if kind == lostRequest {
		requestExpired(c, e, trig)
		return
	}
	head := fmt.Sprintf("the %s answered the %s's segment (frame %d) with a RST from no socket (frame %d: no ACK, its sequence number that segment's acknowledgement, as the kernel's reply path makes it) in a connection it had never closed (no FIN, no RST of its own before): its socket was gone, and the %s sees \"connection reset by peer\"",
		c.name(x), c.name(y), trig.Frame, e.Frame, c.name(y))
	switch kind {
	case lostGaveUp:
		cur := c.unanswered(x, e)
		d := c.add(CodeRstNoSocket, x, SysRetries2,
			"find why the "+c.name(y)+"'s acknowledgements stopped reaching the "+c.name(x)+" (the path, a firewall); lower tcp_retries2 or set TCP_USER_TIMEOUT for the application to learn of it sooner, and keep the "+c.name(y)+" sending (keepalive) so that it learns too",
			[]uint64{cur.First.Frame, cur.Last.Frame, trig.Frame, e.Frame},
			"%s. It had given up retransmitting: the %s sent its unacknowledged data again %d times (frames %d to %d, over %s) and the %s never acknowledged it; when tcp_retries2 (15 by default: about 924.6 s) or the socket's TCP_USER_TIMEOUT ran out, its kernel closed the socket without a RST (its application got ETIMEDOUT), so the %s's next segment met no socket",
			head, c.name(x), cur.Copies, cur.First.Frame, cur.Last.Frame, dur(cur.First.Time, cur.Last.Time), c.name(y), c.name(y))
		// The budget runs from the first RTO retransmission, the first
		// copy or (after a tail-loss probe) the second: it had not run
		// out at the latest copy, and had by the RST.
		b := Bound{Host: c.host(x), Sysctl: SysRetries2, Of: OfBudget, Below: ptr(secs(e.Time - cur.First.Time))}
		if cur.Copies >= 2 && cur.Last.Time > cur.Second.Time {
			b.Above = ptr(secs(cur.Last.Time - cur.Second.Time))
		}
		d.Bounds = append(d.Bounds, b)
		// Its own unanswered copies say where the socket went.
		d.settleBook()
	case lostUnreachable:
		cur := c.unanswered(y, e)
		c.add(CodeRstNoSocket, x, "",
			"find what happened to the "+c.name(x)+" from frame "+fmt.Sprint(cur.First.Frame)+" on (a crash, a reboot, a failover, a link or route change); the "+c.name(y)+"'s application has to reconnect",
			[]uint64{cur.First.Frame, trig.Frame, e.Frame},
			"%s. The %s had stopped answering before: the %s sent its data again %d times from frame %d on (over %s) and none was acknowledged, until a copy met the RST: the %s was down or cut off, and came back without the connection (a restart, or its address moved to another host)",
			head, c.name(x), c.name(y), cur.Copies, cur.First.Frame, dur(cur.First.Time, trig.Time), c.name(x))
	case lostAfterSilence:
		q := c.conn().Quiet
		ct := ctStates[conntrackState(c.conn(), q.End.Frame)]
		c.add(CodeRstNoSocket, x, ct.sysctl,
			"if a NAT or load balancer is in the path, raise its idle timeout above the connection's longest silence, or keep the connection busy (TCP keepalive via TCP_KEEPIDLE, or application pings) more often than that timeout; otherwise find what happened to the "+c.name(x)+" during the silence (a restart, a failover)",
			[]uint64{q.End.Frame, e.Frame},
			"%s. It answered the first segment after %s of silence (frame %d): either a NAT or load balancer whose entry for the connection had expired sent that segment on as a new connection, to a backend that never had it (on a Linux NAT, which tracked the connection as %s then, %s (%s by default) is shorter than that silence, and nf_conntrack_tcp_loose = 1 let the mid-stream segment make a new entry), or the %s's host restarted, or its address moved to another host, during the silence",
			head, dur(q.End.Time-q.Gap, q.End.Time), q.End.Frame, ct.name, strings.TrimPrefix(ct.sysctl, "net.netfilter."), ct.def, c.name(x))
	default:
		c.add(CodeRstNoSocket, x, "",
			"find what happened to the "+c.name(x)+" at that moment (its uptime, failover or deployment logs, a load balancer's backend changes); the "+c.name(y)+"'s application has to reconnect",
			[]uint64{trig.Frame, e.Frame},
			"%s. Nothing on the wire says where the socket went: the %s's host restarted, its address moved to another host (a failover), a load balancer or NAT sent the segment to a backend that never had the connection, or the socket was destroyed (ss -K); or a firewall rule on the %s's host rejected the segment with a tcp-reset (iptables REJECT), which makes the same RST while the socket lives on",
			head, c.name(x), c.name(x))
	}
}

// craftedSYN reports whether h's first SYN carried neither the
// SACK-permitted nor the window-scale option: every current operating
// system's connect() sends both, a scanner's raw SYN (nmap -sS, masscan,
// zmap) neither.
func craftedSYN(h *flows.Half) bool {
	return h.SYNCount > 0 && !h.SACKPerm && h.WScale < 0
}

// probeSYN opens a syn-probe's message, at the SYN's frame.
const probeSYN = "the client's SYN (frame %d) carries neither the SACK-permitted nor the window-scale option, which every current operating system's connect() sends, and "

// synProbe: a client whose SYN came from no connect() (craftedSYN)
// answered the server's SYN-ACK with a RST from no socket (lostProbe), or
// was refused: a SYN scan or a half-open health check, which leaves no
// connection behind, no application to see ECONNREFUSED, and no knob to
// blame.
func synProbe(c *ruleCtx) {
	cl := &c.conn().Dir[flows.FromClient]
	if !craftedSYN(cl) {
		return
	}
	const advice = "nothing to change on either host; if the address is not a known scanner or health checker, find who probes the port"
	if r, _, ok := c.resetWith(CauseRefused); ok {
		c.add(CodeSynProbe, flows.FromClient, "", advice, markFrames(cl.SYN, r.ev.Mark()),
			probeSYN+"the server refused it (frame %d: nothing listens on %s, or a firewall's REJECT): the SYN came from a raw socket, not a connect() — a SYN scan (nmap -sS, masscan, zmap) probing a closed port, or a half-open health check of a service that is down. No application saw the refusal",
			cl.SYN.Frame, r.ev.Frame, c.conn().Addr[flows.FromServer])
		return
	}
	e, _, trig, kind := c.noSocketStory()
	if kind != lostProbe {
		return
	}
	c.add(CodeSynProbe, flows.FromClient, "", advice,
		markFrames(cl.SYN, trig, e.Mark()),
		probeSYN+"the client reset the server's SYN-ACK (frame %d) from no socket (frame %d, %s later: no ACK, its sequence number the SYN-ACK's acknowledgement): the SYN came from a raw socket, not a connect() — a SYN scan (nmap -sS, masscan, zmap) or a load balancer's half-open health check. The server was listening on the port and answered; no connection was meant, and none was lost",
		cl.SYN.Frame, trig.Frame, e.Frame, dur(trig.Time, e.Time))
}

// requestExpired tells the story of a listener's no-socket RST
// (lostRequest): the server never completed the connection, its request
// socket expired after its SYN-ACK retransmissions (tcp_synack_retries),
// and the listener reset the client's next segment. The client, whose
// connect() had succeeded, learns of it only then.
func requestExpired(c *ruleCtx, e *flows.Event, trig flows.Mark) {
	conn := c.conn()
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	acked := "the capture shows no ACK of the client's reaching it (lost on the way, or before the capture point)"
	if a := cl.HandshakeAck; a.Seen() && a.Frame < sv.SYNLast.Frame {
		acked = fmt.Sprintf("though the client had acknowledged it (frame %d): the listener ignored the client's ACKs, as one whose accept queue is full does with tcp_abort_on_overflow = 0 (accept-queue-full)", a.Frame)
	}
	sent := fmt.Sprintf("once (frame %d)", sv.SYN.Frame)
	if sv.SYNCount > 1 {
		sent = fmt.Sprintf("%s over %s (frames %d to %d)", times(int(sv.SYNCount)), dur(sv.SYN.Time, sv.SYNLast.Time), sv.SYN.Frame, sv.SYNLast.Frame)
	}
	d := c.add(CodeRstNoSocket, flows.FromServer, SysSynAckRetries,
		"accept() faster, or raise the listen() backlog (and net.core.somaxconn, which caps it), so that the handshake ACK finds room; a higher tcp_synack_retries only keeps the request waiting longer, and tcp_abort_on_overflow = 1 would tell the client at once",
		[]uint64{sv.SYN.Frame, sv.SYNLast.Frame, trig.Frame, e.Frame},
		"the server's listener answered the client's segment (frame %d) with a RST from no socket (frame %d: no ACK, its sequence number that segment's acknowledgement): the server had never completed the connection, and its request for it was gone. The listener had sent its SYN-ACK %s, %s; a request's timer resends the SYN-ACK 1 s after the first and twice as late each time, and after tcp_synack_retries retransmissions (5 by default: about 63 s) drops the request without a word, sooner when the SYN queue is half full of old requests. The client's connect() had succeeded, so its application used a connection the server never accept()ed, and meets \"connection reset by peer\" %s after the handshake",
		trig.Frame, e.Frame, sent, acked, dur(sv.SYN.Time, e.Time))
	// The request's timer sent at least the retransmissions that no
	// retransmitted SYN drew, and at most tcp_synack_retries of them.
	if timer := int(sv.SYNCount) - int(cl.SYNCount); timer > 0 {
		d.Bounds = append(d.Bounds, Bound{Host: c.host(flows.FromServer), Sysctl: SysSynAckRetries, Of: OfValue,
			Above: ptr(float64(timer - 1)), Assumes: "the listener set neither TCP_SYNCNT nor TCP_DEFER_ACCEPT"})
	}
	// The SYN-ACKs and the silence after them say where the request went.
	d.settleBook()
}

// rstMiddlebox: the RST bears one side's address but not the TTL of its
// other segments: a firewall, load balancer or IPS on the path made it,
// and that side's socket never closed. A RST that answers the first
// segment after a long silence is a stateful device that forgot the idle
// connection (on Linux, the conntrack timeout of the state it was in).
func rstMiddlebox(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseMiddlebox)
	if !ok {
		return
	}
	e := r.ev
	usual, _ := c.s.usualTTL(x)
	ttl := "TTL"
	if !c.conn().Addr[x].Addr().Unmap().Is4() {
		ttl = "hop limit"
	}
	made := fmt.Sprintf("the RST of frame %d bears the %s's address but arrived with %s %d, where every other segment of the %s arrived with %d%s: a device on the path made it, not the %s, whose socket did not close",
		e.Frame, c.name(x), ttl, e.TTL, c.name(x), usual, hopsApart(int(e.TTL), int(usual)), c.name(x))
	if c.s.resetAfterSilence() {
		q := c.conn().Quiet
		ct := ctStates[conntrackState(c.conn(), q.End.Frame)]
		c.add(CodeRstMiddlebox, x, ct.sysctl,
			"raise the device's idle timeout above the connection's longest silence, or keep the connection busy (TCP keepalive via TCP_KEEPIDLE, or application pings) more often than that timeout",
			[]uint64{q.End.Frame, e.Frame},
			"%s. It answered the first segment after %s of silence (frame %d): a stateful firewall or load balancer had dropped the idle connection from its table and refused what came next; on a Linux firewall, which tracked the connection as %s then, %s (%s by default) is shorter than that silence (and mid-stream segments are refused: nf_conntrack_tcp_loose = 0, or a rule against new segments without SYN)",
			made, dur(q.End.Time-q.Gap, q.End.Time), q.End.Frame, ct.name, strings.TrimPrefix(ct.sysctl, "net.netfilter."), ct.def)
		return
	}
	c.add(CodeRstMiddlebox, x, "", "find the device by the "+ttl+" and read its policy (a REJECT with tcp-reset, an IPS signature, a load balancer's limits)", []uint64{e.Frame},
		"%s. A firewall rule, an IPS or a load balancer cut the connection", made)
}

// hopsApart says how much nearer the capture point (or farther) a
// segment with TTL got was made than one with TTL usual, when both start
// from the same usual initial TTL (64, 128 or 255).
func hopsApart(got, usual int) string {
	initial := func(t int) int {
		for _, i := range [...]int{64, 128, 255} {
			if t <= i {
				return i
			}
		}
		return 255
	}
	d := got - usual
	switch {
	case initial(got) != initial(usual):
		return ""
	case d == 1 || d == -1:
		return fmt.Sprintf(" (1 hop %s the capture point)", map[bool]string{true: "nearer", false: "farther from"}[d > 0])
	case d > 0:
		return fmt.Sprintf(" (%d hops nearer the capture point)", d)
	default:
		return fmt.Sprintf(" (%d hops farther from the capture point)", -d)
	}
}

// ctState is a state of Linux conntrack's TCP tracker, with the sysctl
// that bounds how long it is kept idle and that sysctl's default.
type ctState struct{ name, sysctl, def string }

// ctStates are the states conntrackState tells apart, in the order a
// connection goes through them.
var ctStates = [...]ctState{
	{"ESTABLISHED", SysCtEstablished, "432000 s"},
	{"FIN_WAIT", SysCtFinWait, "120 s"},
	{"CLOSE_WAIT", SysCtCloseWait, "60 s"},
	{"LAST_ACK", SysCtLastAck, "30 s"},
	{"TIME_WAIT", SysCtTimeWait, "120 s"},
}

// ctOrder is the place in ctStates of the state named name (past the end
// when unknown).
func ctOrder(name string) int {
	for i, s := range ctStates {
		if s.name == name {
			return i
		}
	}
	return len(ctStates)
}

// conntrackState returns the place in ctStates of the state conntrack
// held connection c in just before frame end, from the FINs (and their
// acknowledgements) sent before it: ESTABLISHED with none, FIN_WAIT
// after one FIN, CLOSE_WAIT once the peer acknowledged it, LAST_ACK
// after the second FIN, TIME_WAIT once that one was acknowledged too
// (nf_conntrack_proto_tcp.c).
func conntrackState(c *flows.Conn, end uint64) uint8 {
	fins, acked := 0, 0
	for x := range 2 {
		d := c.Dir[x].Detail
		if d.FinFirst.Seen() && d.FinFirst.Frame < end {
			fins++
			if d.FinAcked.Seen() && d.FinAcked.Frame < end {
				acked++
			}
		}
	}
	switch {
	case fins == 0:
		return 0
	case fins == 1 && acked == 0:
		return 1
	case fins == 1:
		return 2
	case acked < 2:
		return 3
	}
	return 4
}
