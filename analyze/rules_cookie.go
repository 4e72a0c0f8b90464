package analyze

import (
	"github.com/teardown/teardown/flows"
)

// synCookie: the server's SYN-ACK was a SYN cookie. A Linux listener
// answers from no request socket when its SYN queue is full (as many
// handshakes pending as its listen() backlog allows) with
// net.ipv4.tcp_syncookies = 1, or always with 2; the cookie leaves two
// marks on the wire (net/ipv4/syncookies.c):
//
//   - with timestamps, cookie_init_timestamp() keeps the SYN's options
//     (window scale, SACK, ECN) in the low 6 bits of the SYN-ACK's TSval,
//     taking the largest value with those bits that is not ahead of the
//     clock: the TSval runs 0 to 63 ms behind the server's clock, where
//     any other SYN-ACK's is on it. The server's next segment with a
//     timestamp reads the clock; the capture point's round trip to the
//     server (from the client's first SYN to the SYN-ACK) bounds how much
//     later the SYN-ACK may have come than that segment for path reasons,
//     so a lag beyond it is the cookie's.
//   - without timestamps the options have nowhere to go: tcp_conn_request()
//     clears them, and the SYN-ACK carries the MSS alone though the SYN
//     offered window scaling and SACK.
func synCookie(c *ruleCtx) {
	conn := c.conn()
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	if cl.SYNCount == 0 || sv.SYNCount == 0 || !cl.SYN.Seen() || sv.HandshakeAck != sv.SYN {
		return
	}
	if e, lag, ok := cookieLag(conn); ok {
		next := sv.TSAfterSYN
		c.add(CodeSynCookie, flows.FromServer, SysSyncookies,
			adviceCookie,
			[]uint64{e.Frame, next.Frame},
			"the server's SYN-ACK (frame %d) carried a TSval %.0fms behind the server's own clock as its next segment with a timestamp (frame %d, %s later) reads it, more than the capture point's %s round trip to the server can explain: a SYN cookie. Linux keeps a cookie's options in the low 6 bits of the SYN-ACK's TSval, up to 63ms behind the clock (cookie_init_timestamp), and answers with one %s With tcp_syncookies = 0 the SYN would have been dropped. With 1 the server's kernel logs \"Possible SYN flooding on port …:%d. Sending cookies.\" once per listener; the timestamps carried the SYN's options through, so the connection lost none",
			e.Frame, lag, next.Frame, dur(e.Time, next.Time), dur(cl.SYN.Time, e.Time), cookieWhen, conn.Addr[flows.FromServer].Port())
		return
	}
	if cl.SYNHasTS || sv.SYNHasTS || cl.WScale < 0 || !cl.SACKPerm || sv.WScale >= 0 || sv.SACKPerm {
		return
	}
	d := c.add(CodeSynCookie, flows.FromServer, SysSyncookies,
		adviceCookie,
		[]uint64{cl.SYN.Frame, sv.SYN.Frame},
		"the client's SYN (frame %d) offered window scaling and SACK without timestamps, and the server's SYN-ACK (frame %d) carried neither, its MSS alone: a SYN cookie sent without timestamps has nowhere to keep those options, so Linux leaves them out (tcp_conn_request). Linux answers with a cookie %s The connection runs without window scaling (a 64 KB window at most) and without SACK. With tcp_syncookies = 1 the server's kernel logs \"Possible SYN flooding on port …:%d. Sending cookies.\" once per listener",
		cl.SYN.Frame, sv.SYN.Frame, cookieWhen, conn.Addr[flows.FromServer].Port())
	d.doubt("a server whose net.ipv4.tcp_window_scaling and net.ipv4.tcp_sack are both 0, or one that is not Linux, answers such a SYN with the same bare SYN-ACK")
}

// cookieWhen says when Linux answers with a cookie, in both of
// syn-cookie's messages.
const cookieWhen = "when the listener's SYN queue is full, holding as many handshakes as its listen() backlog allows (capped by net.core.somaxconn): a SYN flood, or connections arriving faster than their handshakes complete; or always, with net.ipv4.tcp_syncookies = 2."

// adviceCookie is syn-cookie's advice.
const adviceCookie = "with tcp_syncookies at 1 the listener's SYN queue overflowed (\"Possible SYN flooding\" in the server's kernel log): raise the listen() backlog (and net.core.somaxconn, which caps it) if the connections are real, or find the SYN flood; leave tcp_syncookies at 1"

// cookieLag finds the first of the server's kept SYN-ACKs whose TSval ran
// behind the server's clock as a SYN cookie's does: lag is how far, in
// milliseconds, against the server's next segment with a timestamp. The
// lag must exceed the capture point's round trip to the server (from the
// client's first SYN to the SYN-ACK: the most the SYN-ACK's way back can
// have taken) by 2 ms (the two TSvals' rounding) and 200 ppm of the time
// between them (the clocks' drift), and stay within the 63 ms a cookie
// can lag by that much again. A later segment 50 ms on or more must show
// the server's clock ticking in milliseconds.
func cookieLag(conn *flows.Conn) (syn *flows.Event, lag float64, ok bool) {
	cl, sv := &conn.Dir[flows.FromClient], &conn.Dir[flows.FromServer]
	next := sv.TSAfterSYN
	if !next.Seen() {
		return nil, 0, false
	}
	for i := range conn.Events {
		e := &conn.Events[i]
		if e.Dir != flows.FromServer || e.Why&flows.WhySYN == 0 || e.Flags&flows.ACK == 0 || !e.HasTS ||
			e.Frame > next.Frame || e.Time < cl.SYN.Time {
			continue
		}
		gap := float64(next.Time-e.Time) / 1e6
		lag = float64(int32(sv.TSAfterSYNVal-e.TSval)) - gap
		bound := float64(e.Time-cl.SYN.Time)/1e6 + 2 + gap*2e-4
		if lag < bound || lag > bound+62 || !msClock(conn, next, sv.TSAfterSYNVal) {
			continue
		}
		return e, lag, true
	}
	return nil, 0, false
}

// msClock reports whether the server's kept segments 50 ms or more after
// from (whose TSval is val) show its timestamps ticking once a
// millisecond (within a tenth); true when none is that late.
func msClock(conn *flows.Conn, from flows.Mark, val uint32) bool {
	for i := range conn.Events {
		e := &conn.Events[i]
		if e.Dir != flows.FromServer || !e.HasTS || e.Time-from.Time < 50e6 {
			continue
		}
		rate := float64(int32(e.TSval-val)) / (float64(e.Time-from.Time) / 1e6)
		return rate > 0.9 && rate < 1.1
	}
	return true
}
