//go:build linux

package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
)

// Scenarios of resets that are not a close: keepalive giving up, a full
// accept queue, and a TIME_WAIT that outlives the client's RSTs.

func keepaliveReset() *scenario {
	return &scenario{
		name:    "keepalive-reset",
		summary: "TCP_KEEPIDLE/INTVL=1 s, KEEPCNT=2 at the client; the server's replies are dropped: 2 probes, then [R.]",
		desc: "After a 100-byte request and response the client sets TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=2 and " +
			"SO_KEEPALIVE; an iptables rule in the server's OUTPUT chain drops everything the server sends, so the " +
			"connection goes idle and the client's two keepalive probes go unanswered; the keepalive timer then resets " +
			"the connection with [R.], which reaches the server. Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			e.sleep(200 * time.Millisecond)
			e.dropOut(sideServer)
			c.keepalive(1, 1, 2)
			e.gone(sideClient, "ESTAB", 10*time.Second)
			e.sleep(100 * time.Millisecond)
			c.close()
			s.close()
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			c.kind(analyze.ResetKind).initiator(analyze.Client).fins(rc, 0, 0).fins(rs, 0, 0).
				reset("client", analyze.CauseKeepalive).diags(analyze.CodeKeepaliveReset).
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED")
			in := c.fl.inc
			if in.rst == nil {
				return c.err()
			}
			probes := in.keepalives(rc, in.rst)
			if len(probes) != 2 {
				c.failf("%d keepalive probes before the RST, want 2", len(probes))
				return c.err()
			}
			for _, f := range in.frames {
				if f.src == in.server && f.no > probes[0].no {
					c.failf("the server answered a probe: %v", f)
				}
			}
			gaps := []float64{float64(probes[1].t-probes[0].t) / 1e9, float64(in.rst.t-probes[1].t) / 1e9}
			for _, g := range gaps {
				if g < 0.9 || g > 1.3 {
					c.failf("probe/RST spacing %v s, want about 1 s (TCP_KEEPINTVL)", gaps)
					break
				}
			}
			if r := in.rst; !r.has(fACK) || r.ipid == 0 || !r.ts {
				c.failf("the RST is not an active [R.] from the socket (flags %s, IP ID %d, TS %v)", r.flagString(), r.ipid, r.ts)
			}
			return c.err()
		},
	}
}

func listenOverflow() *scenario {
	return &scenario{
		name:    "listen-overflow",
		summary: "tcp_abort_on_overflow=1, backlog 2, never accept()ed: the 4th client's first data gets [R]",
		desc: "The server sets net.ipv4.tcp_abort_on_overflow=1 and listens with backlog 2 and TCP_DEFER_ACCEPT (the " +
			"listener ignores a bare handshake ACK and completes a connection on its first data), and does not accept(). " +
			"Clients 1 and 2 connect and send 100 bytes each, filling the accept queue to its limit; clients 3 and 4 " +
			"then complete their handshakes, client 3's data overfills the queue and client 4's 100 bytes are answered " +
			"with a bare [R] from the listener. The server then accept()s the three queued connections, reads their " +
			"requests and each client closes first.",
		vantage: vantageServer,
		framing: frameEthernet,
		sysctls: sysctls(nil, map[string]string{"net.ipv4.tcp_abort_on_overflow": "1"}),
		notes: []string{"The listener's request socket for the reset connection never left SYN_RECV: the client's " +
			"handshake ACK was ignored (TCP_DEFER_ACCEPT) and its data, which would have created the connection, " +
			"overflowed the accept queue. So the server's states end SYN_RECV, CLOSED."},
		run: func(e *env) {
			ln := e.listenBacklog(2, deferAccept(5))
			var cs []*sock
			for i := range 2 {
				c := e.dial(0)
				c.write(100)
				e.acceptQueue(ln, i+1)
				cs = append(cs, c)
			}
			c3 := e.dial(0)
			c4 := e.dial(0)
			e.sleep(50 * time.Millisecond)
			c3.write(100)
			e.acceptQueue(ln, 3)
			c4.write(100)
			e.until(5*time.Second, "the 4th client's connection to be reset", func() (bool, error) {
				st, err := e.states(sideClient)
				n := 0
				for _, x := range st {
					if x == "ESTAB" {
						n++
					}
				}
				return n == 3, err
			})
			e.sleep(100 * time.Millisecond)
			cs = append(cs, c3)
			for _, c := range cs {
				s := ln.accept()
				s.read(100)
				c.close()
				s.readEOF()
				s.close()
			}
			c4.close()
		},
		check: func(w *wire) error {
			cs, err := w.flows(4)
			if err != nil {
				return err
			}
			for _, c := range cs[:3] {
				c.handshake(analyze.HandshakeComplete).initiator(analyze.Client).reset("", "").fins(rc, 1, 1).fins(rs, 1, 1).diags()
				if k := c.fl.Close.Kind; k != string(analyze.FourWay) && k != string(analyze.ThreeWay) {
					c.failf("close kind %s, want four_way or three_way", k)
				}
			}
			c := cs[3]
			c.handshake(analyze.HandshakeComplete).kind(analyze.ResetKind).initiator(analyze.Server).fins(rc, 0, 0).fins(rs, 0, 0).
				reset("server", analyze.CauseListenOverflow).diags(analyze.CodeListenOverflow).
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "CLOSED")
			if in := c.fl.inc; in.rst != nil {
				var trig *frame
				for _, f := range in.frames {
					if f.no < in.rst.no && f.src == in.client {
						trig = f
					}
				}
				r := in.rst
				switch {
				case trig == nil || trig.len == 0:
					c.failf("the RST does not follow the client's data")
				case r.has(fACK) || r.ipid != 0 || r.ts || r.seq != trig.ack:
					c.failf("the RST is not a listener's reply [R] (flags %s, IP ID %d, TS %v, seq %d, want seq %d)",
						r.flagString(), r.ipid, r.ts, r.seq, trig.ack)
				}
			}
			return checkAll(cs...)
		},
	}
}

// acceptQueue waits until the listener's accept queue holds n
// connections (ss shows it as the listener's Recv-Q).
func (e *env) acceptQueue(ln *sock, n int) {
	e.until(2*time.Second, fmt.Sprintf("%d connections in the accept queue", n), func() (bool, error) {
		out, err := nsExec(e.ctx, e.topo.ns(sideServer), "ss", "-ltnH")
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[3], ":"+strconv.Itoa(serverPort)) {
				q, err := strconv.Atoi(f[1])
				return q == n, err
			}
		}
		return false, fmt.Errorf("no listener in ss -ltn: %s", out)
	})
}

func acceptQueueFull() *scenario {
	return &scenario{
		name: "accept-queue-full",
		summary: "listen() backlog 0, two connections: the handshake ACK of the one that completes second overflows the " +
			"accept queue and is dropped, and the server retransmits its SYN-ACK until a later ACK finds room",
		desc: "The server listens with backlog 0 (one connection may wait in the accept queue) and does not accept() " +
			"at first. The client starts a first connection whose socket has TCP_DEFER_ACCEPT set, which makes a " +
			"client hold its handshake ACK back 200 ms (TCP_DELACK_MAX), then, 20 ms later, a second one that " +
			"completes at once and fills the accept queue: with backlog 0 the first connection's request, waiting for " +
			"its ACK, fills the SYN queue too, so the listener answers the second SYN with a SYN cookie (a run of this " +
			"scenario with nstat counted TcpExtTCPReqQFullDoCookies, SyncookiesSent and SyncookiesRecv 1 each). The " +
			"first connection's ACK then overflows the accept queue: with " +
			"net.ipv4.tcp_abort_on_overflow at its default 0 the listener drops that ACK (ListenOverflows) and " +
			"retransmits its SYN-ACK, which the client acknowledges again, dropped again while the queue is full. " +
			"2.5 s in, the server accept()s the second connection; the ACK that answers the next SYN-ACK completes the " +
			"first. Neither carries data, and each client closes first. Captured at the server, where the client's " +
			"ACKs are seen to arrive.",
		vantage:  vantageServer,
		framing:  frameEthernet,
		attempts: 3,
		run: func(e *env) {
			ln := e.listenBacklog(0)
			late := e.dialAsync(deferAccept(1))
			e.sleep(20 * time.Millisecond)
			first := e.dial(0)
			e.acceptQueue(ln, 1)
			e.sleep(2500 * time.Millisecond)
			s1 := ln.accept()
			e.acceptQueue(ln, 1)
			s2 := ln.accept()
			for _, p := range [][2]*sock{{first, s1}, {late, s2}} {
				p[0].close()
				passiveClose(e, p[1], 50*time.Millisecond)
			}
		},
		check: func(w *wire) error {
			cs, err := w.flows(2)
			if err != nil {
				return err
			}
			// Flows in the order of their first frame: the late one first.
			cs[1].handshake(analyze.HandshakeComplete).initiator(analyze.Client).reset("", "").
				diags(analyze.CodeSynCookie).diagSide(analyze.CodeSynCookie, "server")
			c := cs[0].handshake(analyze.HandshakeComplete).initiator(analyze.Client).reset("", "").
				diags(analyze.CodeAcceptQueueFull)
			if n := c.fl.inc.synAckAfterAck(); n < 1 {
				return fmt.Errorf("%w: the second connection's SYN-ACK was not retransmitted after the client's ACK", errRetry)
			}
			return errors.Join(cs[1].err(), c.err())
		},
	}
}

func twRstIgnored() *scenario {
	return &scenario{
		name:    "tw-rst-ignored-rfc1337",
		summary: "as tw-syn-refused-no-timestamps with tcp_rfc1337=1 at the server: its TIME_WAIT ignores every RST",
		desc: "Timestamps off on both sides, net.ipv4.tcp_rfc1337=1 on the server. The client (port 40000) sends 8 MB so " +
			"that the server's TIME_WAIT rcv_nxt is ahead of the client's next ISN; the server closes first. 100 ms later " +
			"the client connects from the same port: the TIME_WAIT answers the SYN with its old ACK, the client resets it, " +
			"but the RST does not kill the TIME_WAIT, so every SYN retry is refused the same way (the ACK is rate-limited " +
			"to one per 500 ms). The client gives up after 4.5 s, long before the TIME_WAIT's 60 s run out: the capture " +
			"ends with the second connection still refused. Captured at the server, snaplen 96.",
		vantage: vantageServer,
		framing: frameEthernet,
		snaplen: 96,
		sysctls: sysctls(map[string]string{"net.ipv4.tcp_timestamps": "0"},
			map[string]string{"net.ipv4.tcp_timestamps": "0", "net.ipv4.tcp_rfc1337": "1"}),
		synRetry: true,
		tail:     300 * time.Millisecond,
		run: func(e *env) {
			ln := e.listen()
			c := e.dial(40000)
			s := ln.accept()
			together(func() { c.write(8 << 20) }, func() { s.read(8 << 20) })
			s.write(100)
			s.close()
			c.read(100)
			c.readEOF()
			c.close()
			e.has(sideServer, "TIME-WAIT", 2*time.Second)
			e.sleep(100 * time.Millisecond)
			c2 := e.dialStalled(40000, 4500*time.Millisecond)
			c2.close()
			e.has(sideServer, "TIME-WAIT", time.Second)
		},
		check: func(w *wire) error {
			cs, err := w.flows(2)
			if err != nil {
				return err
			}
			if cs[1].fl.Client != cs[0].fl.Client || cs[1].fl.Incarnation != 2 {
				return fmt.Errorf("the second connection did not reuse the first one's 4-tuple")
			}
			cs[0].reuse("", "").reset("", "").initiator(analyze.Server).diags()
			c := cs[1]
			c.reuse(analyze.VerdictRefused, "server").handshake(analyze.HandshakeSynOnly).kind(analyze.OpenAtEnd).
				reset("", "").diags(analyze.CodeTimeWaitSynRefused, analyze.CodeTimeWaitRstIgnored).states(rc, "SYN_SENT")
			in, prev := c.fl.inc, cs[0].fl.inc
			var acks, rsts int
			for _, f := range in.frames {
				switch {
				case f.src == in.server:
					if f.flags != fACK || f.ipid != 0 || f.ack != prev.finEnd[rc] {
						c.failf("server segment not the TIME_WAIT's old ACK (ack %d, IP ID 0): %v IP ID %d", prev.finEnd[rc], f, f.ipid)
					}
					acks++
				case f.has(fRST):
					rsts++
				}
			}
			if acks < 3 || rsts < 3 {
				c.failf("%d TIME_WAIT ACKs and %d client RSTs, want at least 3 of each", acks, rsts)
			}
			return checkAll(cs...)
		},
	}
}
