package analyze

import "github.com/teardown/teardown/flows"

// linger2Window bounds the delay of a TCP_LINGER2 < 0 reset after the ACK
// of our FIN: it answers that ACK (KERNEL.md row 4).
const linger2Window = 1e9

// activeReset reports whether RST e came from a full socket
// (tcp_send_active_reset: RST+ACK, TS option when the connection uses
// timestamps, a live IPv4 ID) rather than from the kernel's reply path
// (tcp_v4_send_reset: no socket, no TS, IPv4 ID 0) — KERNEL.md §0.
func (s *story) activeReset(e *flows.Event) bool {
	if e.Flags&flows.ACK == 0 {
		return false
	}
	h := &s.conn.Dir[e.Dir]
	if e.HasTS {
		return true
	}
	if h.SYNHasTS {
		return false
	}
	v4 := s.conn.Addr[0].Addr().Unmap().Is4()
	return !v4 || e.IPID != 0
}

// listenerReset reports whether server RST e came from the listener
// rather than from a connection: the server sent nothing but SYN-ACKs and
// RSTs, and e is a reply-RST (tcp_check_req's embryonic_reset after a
// listen overflow, KERNEL.md row 18; or the listener's own answer to a
// segment whose request had expired: requestExpired).
func (s *story) listenerReset(e *flows.Event) bool {
	sv := &s.conn.Dir[flows.FromServer]
	return int(e.Dir) == flows.FromServer && e.Flags&flows.RST != 0 && sv.SYNCount > 0 &&
		sv.Packets == uint64(sv.SYNCount+sv.RSTCount) && !s.activeReset(e)
}

// listenOverflow returns the listener's reply-RST when it is the server's
// first segment after its SYN-ACK, nil otherwise. The request socket then
// never left SYN_RECV: the listener that resets an overflowing connection
// has not created it (nor has one whose request expired), so the
// client's handshake ACK is not proven to have established anything (the
// RST acknowledges nothing).
func (s *story) listenOverflow() *flows.Event {
	sv := &s.conn.Dir[flows.FromServer]
	if sv.SYNCount == 0 {
		return nil
	}
	e := s.firstAfter(flows.FromServer, sv.SYN.Frame, func(e *flows.Event) bool { return e.Flags&flows.SYN == 0 })
	if e == nil || !s.listenerReset(e) {
		return nil
	}
	return e
}

// requestTimeoutInit is the request socket's first timeout after its
// SYN-ACK (TCP_TIMEOUT_INIT); each later one is twice the one before.
const requestTimeoutInit = 1e9

// requestExpired reports whether the listener's reply-RST e (listenerReset)
// answered, from no socket (noSocketAnswer), a client segment that came
// requestTimeoutInit or more after the server's latest SYN-ACK. The
// request's timer fires that long after every SYN-ACK it sends and either
// sends the SYN-ACK again or, after tcp_synack_retries of them, drops the
// request without a word (reqsk_timer_handler); no SYN-ACK came of the
// last one, so the request was gone and the listener, in LISTEN, reset
// the segment. A listen overflow's RST (tcp_abort_on_overflow = 1)
// answers the client's ACK of a SYN-ACK, at once.
func (s *story) requestExpired(e *flows.Event) bool {
	sv := &s.conn.Dir[flows.FromServer]
	t, ok := s.noSocketAnswer(e)
	return ok && sv.SYNLast.Seen() && sv.SYNLast.Frame < t.Frame && t.Time-sv.SYNLast.Time >= requestTimeoutInit
}

// replyWindow bounds how long after the peer's segment a reply-RST can
// come: the kernel answers at once, so only the path between the capture
// point and the host separates them.
const replyWindow = 500e6

// answersPeer reports whether reply-RST e answers a segment of direction
// y: the latest one of y's key segments before e came at most replyWindow
// earlier, and e's sequence number is that segment's acknowledgement
// (tcp_v4_send_reset takes seq from the ack field of what it answers).
func (s *story) answersPeer(y int, e *flows.Event) bool {
	var last *flows.Event
	for i := range s.conn.Events {
		p := &s.conn.Events[i]
		if p.Frame >= e.Frame {
			break
		}
		if int(p.Dir) == y {
			last = p
		}
	}
	return last != nil && e.Time-last.Time <= replyWindow && last.Flags&flows.ACK != 0 && e.Seq == last.Ack
}

// forgedRST reports whether RST e came from somewhere other than the host
// whose address it bears: every other segment of that host arrived with
// one TTL (hop limit), and e with another. A host's kernel gives its
// reply-RSTs the TTL its sockets use, and the path from it to the capture
// point does not change within a connection, so a different TTL means
// another device made the RST (a firewall's REJECT, a load balancer, an
// IPS) on a path of another length. With no other segment of the host,
// or several TTLs among them, it cannot tell. A RST the capture held
// twice (tcpdump -i any on a host that forwards it) is the host's when
// either copy has its TTL: where the host's other segments show only as
// they left that capture point (after address translation, on another
// 4-tuple as they came in), a RST the translation missed shows as it came
// in too, one hop higher.
func (s *story) forgedRST(e *flows.Event) bool {
	ttl, ok := s.usualTTL(int(e.Dir))
	return ok && ttl != e.TTL && ttl != e.CopyTTL
}

// noSocket reports whether RST e, without ACK, came from the kernel's
// reply path for want of a socket on a connection its sender had held
// and never closed (noSocketAnswer).
func (s *story) noSocket(e *flows.Event) bool {
	_, ok := s.noSocketAnswer(e)
	return ok
}

// noSocketAnswer returns the peer's segment that RST e answered, when e
// has no ACK and came from the kernel's reply path for want of a socket
// on a connection its sender had held: its sender had sent a segment
// other than a RST before it and sends none after it (a sender that only
// ever sent RSTs may never have had a socket for the 4-tuple; one that
// sends more still has one: foreignRST), and e answers the peer's latest
// segment, at most replyWindow after it, after which the peer sent
// nothing but segments that each drew a RST of their own (in flight when
// e left, or sent again when e was lost): e's sequence number is the
// peer's acknowledgement
// (tcp_v4_send_reset takes it from the ack field of what it answers). A
// full socket in SYN_RECV, ESTABLISHED or CLOSE_WAIT never sends a RST
// without ACK (KERNEL.md §0).
func (s *story) noSocketAnswer(e *flows.Event) (flows.Mark, bool) {
	x := int(e.Dir)
	hx, hy := &s.conn.Dir[x], &s.conn.Dir[1-x]
	if e.Flags&flows.ACK != 0 || hx.Packets <= uint64(hx.RSTCount) {
		return flows.Mark{}, false
	}
	first := true // e is x's first RST
	for i := range s.conn.Events {
		a := &s.conn.Events[i]
		if a.Frame > e.Frame && int(a.Dir) == x && a.Flags&flows.RST == 0 {
			return flows.Mark{}, false
		}
		if a.Frame < e.Frame && int(a.Dir) == x && a.Flags&flows.RST != 0 {
			first = false
		}
	}
	t := hy.Last
	if t.Seen() && t.Frame > e.Frame {
		// The peer sent after e: segments in flight when e left (seen
		// where the RST's sender is, the peer's burst and the RSTs
		// that answer it interleave), or sent again when e was lost.
		// Each must have drawn a RST of its own, and e answered the
		// peer's latest segment before it, which the table keeps for
		// x's first RST.
		if !first || int64(hx.RSTCount)-1 < int64(hy.SegmentsAfterRST) {
			return flows.Mark{}, false
		}
		t = hx.RSTAnswered
	}
	if !t.Seen() || t.Frame >= e.Frame || e.Time-t.Time > replyWindow || !hy.AckSeen || e.Seq != hy.MaxAck {
		return flows.Mark{}, false
	}
	return t, true
}

// challengedRST reports whether the receiver of RST e lived on: Linux
// takes a RST only at the sequence number it expects next (rcv_nxt;
// RFC 5961), and answers one elsewhere in its window with a challenge
// ACK, an ACK of rcv_nxt. The receiver's first segment after e is a pure
// ACK of less than e's sequence number, within replyWindow, and the
// sender then answers it with a bare RST at that number: its socket was
// gone (the RST that takes, closing the receiver). A delayed ACK that
// crossed e would look the same, but only when e would have been taken.
// It returns the challenge ACK, nil when e was not challenged.
func (s *story) challengedRST(e *flows.Event) *flows.Event {
	var ack *flows.Event
	for i := range s.conn.Events {
		a := &s.conn.Events[i]
		if a.Frame <= e.Frame {
			continue
		}
		if ack == nil {
			if a.Dir == e.Dir {
				continue
			}
			if a.Why&flows.WhyAfterRST == 0 || a.Flags&(flows.ACK|flows.RST|flows.SYN|flows.FIN) != flows.ACK ||
				a.Len != 0 || a.Time-e.Time > replyWindow || !flows.SeqLess(a.Ack, e.Seq) {
				return nil
			}
			ack = a
			continue
		}
		if a.Dir == e.Dir {
			if a.Flags&flows.RST != 0 && a.Flags&flows.ACK == 0 && a.Seq == ack.Ack {
				return ack
			}
			return nil
		}
	}
	return nil
}

// usualTTL returns the one TTL every non-RST segment of direction dir
// arrived with, if there is one.
func (s *story) usualTTL(dir int) (uint8, bool) {
	h := &s.conn.Dir[dir]
	return h.TTL, h.TTL != 0 && !h.TTLVaried
}

// resetCause classifies the RST that ended the flow with KERNEL.md rows
// 2–6c and 18–20, or as made by a middlebox (forgedRST).
func (s *story) resetCause() string {
	r := s.rst
	if r.forged {
		return CauseMiddlebox
	}
	c := s.conn
	x, y := r.by, 1-r.by
	e := r.ev
	hx, hy := &c.Dir[x], &c.Dir[y]
	sx := s.sides[x]
	active := s.activeReset(e)
	before := func(m flows.Mark) bool { return m.Seen() && m.Frame < e.Frame }

	switch r.senderState {
	case SynSent:
		// A client whose connect() had given up answers the SYN-ACK
		// from no socket.
		if !active && s.noSocket(e) {
			return CauseNoSocket
		}
		return CauseUnknown
	case SynRecv, Established, CloseWait:
		if r.senderState != CloseWait && x == flows.FromServer && s.listenerReset(e) {
			// The listener answered the handshake ACK (or the first data)
			// with a reset: the accept queue was full, unless the
			// request it would have completed had expired first.
			if s.requestExpired(e) {
				return CauseNoSocket
			}
			return CauseListenOverflow
		}
		if !active {
			if s.noSocket(e) {
				return CauseNoSocket
			}
			return CauseUnknown
		}
		if hx.Keepalives > 0 && before(hx.LastKeepalive) && !(hx.LastData.Frame > hx.LastKeepalive.Frame) {
			return CauseKeepalive
		}
		// Peer data the closer acknowledged but never answered, or data
		// that arrived and was never acknowledged: unread at close().
		if before(hy.LastData) && (!hx.LastData.Seen() || hx.LastData.Frame < hy.LastData.Frame) {
			return CauseUnreadData
		}
		if e.Flags&flows.ACK != 0 && hx.AckSeen && flows.SeqLess(hx.MaxAck, e.Ack) && hy.DataSeen && flows.SeqLess(hx.MaxAck, hy.DataEnd+1) {
			return CauseUnreadData
		}
		return CauseLingerZero

	case FinWait1, FinWait2, Closing, TimeWait, LastAck:
		// Peer data after our FIN, or data our FIN did not acknowledge
		// (it arrived after close()), answered from the reply path.
		unacked := hy.DataSeen && (!hx.AckSeen || flows.SeqLess(hx.MaxAck, hy.DataEnd))
		if a := &hy.AfterPeerFIN; !active && ((a.Segments > 0 && before(a.First)) || (unacked && before(hy.LastData))) {
			return CauseDataAfterClose
		}
	}

	switch r.senderState {
	case FinWait1:
		if active {
			return CauseOrphanLimit
		}
	case FinWait2:
		if hy.FinSeen && before(hy.FinFirst) {
			// The peer's FIN met no socket: the orphaned FIN_WAIT2 had
			// expired (or, inside tcp_fin_time()'s floor, a full TIME_WAIT
			// table dropped it at once: KERNEL.md row 12, which only the
			// diagnosis can weigh).
			return CauseFinWait2Timeout
		}
		if active {
			return CauseFinWait2Timeout
		}
		if sx.finAckedAt.Seen() && e.Time-sx.finAckedAt.Time <= linger2Window {
			return CauseLinger2Negative
		}
	case TimeWait:
		if !active {
			return CauseTimeWaitMissing
		}
	case Closing, LastAck:
		if active && sx.finCount > 1 {
			return CauseOrphanLimit
		}
		if !active && s.answersPeer(y, e) {
			// Closed with SO_LINGER 0 once everything was sent: the socket
			// vanished and the peer's next segment met no socket.
			return CauseLingerZero
		}
	}
	return CauseUnknown
}
