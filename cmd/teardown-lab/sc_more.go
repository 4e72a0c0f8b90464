package main

import (
	"strconv"
	"time"

	"github.com/teardown/teardown/analyze"
)

// Scenarios beyond the close itself: TCP_LINGER2 < 0, a refused SYN, an
// unanswered one, and a capture that joins a connection after its
// handshake.

func linger2Negative() *scenario {
	return &scenario{
		name:    "linger2-negative",
		summary: "TCP_LINGER2=-1 at the client: the ACK of its FIN is answered by RST at once",
		desc: "The client sets TCP_LINGER2 to -1 and close()s after a short exchange; when the server's ACK of the FIN " +
			"arrives, the orphan leaves FIN_WAIT2 at once (tcp_done) and the ACK is answered by a bare RST. Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.linger2(-1)
			c.close()
			passiveClose(e, s, 100*time.Millisecond)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.ResetKind).initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 0, 0).
				reset("client", analyze.CauseLinger2Negative).diags(analyze.CodeLinger2Negative).
				states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSED").
				states(rs, "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "CLOSED")
		}),
	}
}

func connectionRefused() *scenario {
	return &scenario{
		name:    "connection-refused",
		summary: "a SYN to a port nobody listens on is answered by RST",
		desc: "The client connects to port 8081, where the server has no listener; the server's kernel answers the SYN " +
			"with [R.] and connect() fails with ECONNREFUSED. Default sysctls; captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		run: func(e *env) {
			e.connectRefused(serverPort + 1)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.Rejected).handshake(analyze.HandshakeSynOnly).initiator(analyze.Server).
				reset("server", analyze.CauseRefused).diags(analyze.CodeConnectionRefused).
				states(rc, "SYN_SENT", "CLOSED").states(rs)
		}),
	}
}

func synUnanswered() *scenario {
	return &scenario{
		name:    "syn-unanswered",
		summary: "the server drops every SYN: the client retransmits it until tcp_syn_retries = 2 runs out and connect() times out",
		desc: "The server's INPUT chain drops SYNs to port 8080, where it listens. The client, with " +
			"net.ipv4.tcp_syn_retries=2 (tcp_syn_linear_timeouts at its default), connects: its SYN is retransmitted, " +
			"never answered, until the kernel gives up and connect() fails with ETIMEDOUT. Captured at the client.",
		vantage:  vantageClient,
		framing:  frameEthernet,
		synRetry: true,
		sysctls:  map[side]map[string]string{sideClient: {"net.ipv4.tcp_syn_retries": "2"}},
		run: func(e *env) {
			e.listen()
			e.drop(sideServer, "--syn", "--dport", strconv.Itoa(serverPort))
			e.connectTimedOut(30 * time.Second)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			if n := c.fl.inc.synCount(); n < 3 {
				c.failf("the client sent its SYN %d times, want a retransmitted series", n)
			}
			return c.kind(analyze.OpenAtEnd).handshake(analyze.HandshakeSynOnly).reset("", "").
				diags(analyze.CodeSynUnanswered).states(rc, "SYN_SENT").states(rs)
		}),
	}
}

func captureStartsMidFlow() *scenario {
	return &scenario{
		name:    "capture-starts-mid-flow",
		summary: "tcpdump starts after the handshake and the first exchange; then a client-active close",
		desc: "The connection is opened and carries a request and response before tcpdump starts; in the capture the " +
			"client sends 100 more bytes, the server answers 100 and the client closes first (four-way). Roles must be " +
			"inferred (the server has the lower port). Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		pre: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			e.kept = []*sock{c, s}
		},
		run: func(e *env) {
			c, s := e.kept[0], e.kept[1]
			c.write(100)
			s.read(100)
			s.write(100)
			c.read(100)
			c.close()
			passiveClose(e, s, 100*time.Millisecond)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeNotSeen).
				reset("", "").diags(analyze.CodeCaptureStartedMidFlow).
				states(rc, "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT").
				states(rs, "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED")
		}),
	}
}
