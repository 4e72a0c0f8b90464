//go:build linux

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/teardown/teardown/analyze"
)

// A listener whose accept queue stays full ignores a handshake ACK
// (tcp_abort_on_overflow = 0) and keeps the request, resending its
// SYN-ACK at each timeout of the request's timer, until
// tcp_synack_retries of them have gone out: the next timeout drops the
// request without a word. The client's connect() had succeeded at the
// first SYN-ACK; its data, sent again and again meanwhile, meets the
// listener once the request is gone, which answers it with a bare [R]
// (tcp_rcv_state_process in LISTEN).

// expiredSynAckRetries is the server's tcp_synack_retries in
// accept-queue-expired: the request's timer fires 1, 3 and 7 s after the
// first SYN-ACK, resending it at the first two and dropping the request
// at the third.
const expiredSynAckRetries = 2

// expiredWrite is when, after the first connect(), the client writes on
// the connection the server will never accept: its retransmissions (RTO
// 200 ms, doubling) come about 1.75, 2.15, 2.95, 4.55 and 7.75 s in, the
// last the first after the request is dropped at 7 s.
const expiredWrite = 1500 * time.Millisecond

func acceptQueueExpired() *scenario {
	return &scenario{
		name: "accept-queue-expired",
		summary: "as accept-queue-full with net.ipv4.tcp_synack_retries=2 at the server, which never accept()s while it " +
			"matters: the request expires after its third SYN-ACK, and the client's data, written on a connection its " +
			"connect() had completed, meets the listener's bare [R]",
		desc: "The server listens with backlog 0 and net.ipv4.tcp_synack_retries=2, and does not accept(). The client " +
			"starts a first connection whose socket has TCP_DEFER_ACCEPT set, which holds its handshake ACK back 200 ms, " +
			"then, 20 ms later, a second one that completes at once and fills the accept queue (with backlog 0 the request " +
			"queue counts as full too, so the listener answers its SYN with a SYN cookie: TCPReqQFullDoCookies, " +
			"SyncookiesSent, SyncookiesRecv). The first connection's " +
			"ACK then overflows it: with net.ipv4.tcp_abort_on_overflow at its default 0 the listener drops that ACK " +
			"(ListenOverflows) and keeps the request, which resends its SYN-ACK at its timer's first two timeouts (1 s " +
			"and 3 s after the first) and is dropped at the third (7 s). The client's connect() had completed at the " +
			"first SYN-ACK; 1.5 s in it writes 100 bytes, which the listener drops while the request lives, and whose " +
			"retransmission after 7 s meets the listener with no request: a bare [R] (no ACK, seq = the segment's ack). " +
			"The client's read() fails with ECONNRESET. Then the server accept()s the second connection, which the " +
			"client closes first. Captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		sysctls: sysctls(nil, map[string]string{
			"net.ipv4.tcp_synack_retries": fmt.Sprint(expiredSynAckRetries),
		}),
		attempts: 3,
		run: func(e *env) {
			ln := e.listenBacklog(0)
			before := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			start := time.Now()
			late := e.dialAsync(deferAccept(1))
			e.sleep(20 * time.Millisecond)
			first := e.dial(0)
			e.acceptQueue(ln, 1)
			e.sleep(time.Until(start.Add(expiredWrite)))
			late.soError(0)
			reqs := e.synRecv()
			late.write(100)
			wrote := time.Since(start)
			late.readReset(15 * time.Second)
			reset := time.Since(start)
			left := e.synRecv()
			after := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			s1 := ln.accept()
			first.close()
			passiveClose(e, s1, 50*time.Millisecond)
			late.close()
			if e.failed() != nil {
				return
			}
			switch {
			case len(reqs) != 1:
				e.fail(fmt.Errorf("the server's request sockets before the client's write: %v, want one", reqs))
			case len(left) != 0:
				e.fail(fmt.Errorf("the server's request sockets after the client's read() failed: %v, want none", left))
			case reset < 7*time.Second:
				e.fail(fmt.Errorf("%w: the client's read() failed %v after the first connect(), want after the request's "+
					"third timeout, 7 s", errRetry, reset))
			}
			// The server: three timeouts of the request, the two SYN-ACKs
			// they resent, the RST; the first connection its only passive
			// open. The client: the ACK-less RST ended its established
			// connection (EstabResets).
			moves := e.tcpMoves(before, after, [2]map[string]int64{
				{"TcpActiveOpens": 2, "TcpEstabResets": 1, "TcpOutRsts": 0},
				{"TcpPassiveOpens": 1, "TcpOutRsts": 1, "TcpRetransSegs": 2, "TcpExtTCPSynRetrans": 2,
					"TcpExtTCPTimeouts": 3}})
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("ss -tanoe in the server's namespace 1.5 s in listed one request socket (SYN-RECV, sk:%s, "+
					"timer:%s), and none once the client's read() had failed.", reqs[0].cookie, reqs[0].timer),
				fmt.Sprintf("The client wrote its 100 bytes %.1f ms after the first connect(); its blocking read() failed "+
					"with ECONNRESET %.1f ms after it.", ms(wrote), ms(reset)),
				fmt.Sprintf("nstat -az (absolute; the namespaces are new) from before the first connect() to the client's "+
					"ECONNRESET: %s; every other Tcp and TcpExt counter stayed.", moves))
		},
		check: func(w *wire) error {
			cs, err := w.flows(2)
			if err != nil {
				return err
			}
			// Flows in the order of their first frame: the late one first.
			c := cs[0].handshake(analyze.HandshakeComplete).reset(string(analyze.Server), analyze.CauseNoSocket).
				states(rs, "SYN_RECV", "CLOSED").
				diags(analyze.CodeAcceptQueueFull, analyze.CodeRstNoSocket).
				diagSysctl(analyze.CodeRstNoSocket, "net.ipv4.tcp_synack_retries")
			// The second one's SYN found the request queue full: a SYN cookie.
			cs[1].handshake(analyze.HandshakeComplete).initiator(analyze.Client).reset("", "").
				diags(analyze.CodeSynCookie).diagSide(analyze.CodeSynCookie, "server")
			in := c.fl.inc
			if in.rst == nil {
				return errors.Join(c.failf("no RST on the wire").err(), cs[1].err())
			}
			var synacks []*frame
			var trigger *frame
			for _, f := range in.frames {
				switch {
				case f.no >= in.rst.no:
				case in.role(f) == rs && f.has(fSYN|fACK):
					synacks = append(synacks, f)
				case in.role(f) == rc:
					trigger = f
				}
			}
			switch {
			case len(synacks) != expiredSynAckRetries+1:
				c.failf("the server sent its SYN-ACK %d times, want %d", len(synacks), expiredSynAckRetries+1)
			case in.rst.has(fACK) || trigger == nil || trigger.len == 0 || in.rst.seq != trigger.ack:
				c.failf("the RST %v does not answer the client's data %v", in.rst, trigger)
			case trigger.t-synacks[len(synacks)-1].t < 4e9:
				c.failf("the client's data %v came %.3f s after the last SYN-ACK, want past the request's last "+
					"timeout, 4 s", trigger, float64(trigger.t-synacks[len(synacks)-1].t)/1e9)
			}
			return errors.Join(c.err(), cs[1].err())
		},
	}
}
