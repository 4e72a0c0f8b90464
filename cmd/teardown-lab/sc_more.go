//go:build linux

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

func synAckUnanswered() *scenario {
	return &scenario{
		name: "synack-unanswered",
		summary: "the client drops every SYN-ACK: the server retransmits it, never acknowledged, while the client's " +
			"connect() times out",
		desc: "The client's INPUT chain drops SYN-ACKs from port 8080. The client (net.ipv4.tcp_syn_retries=1) " +
			"connects and retransmits its SYN, each copy answered by the server's SYN-ACK; the server retransmits its " +
			"SYN-ACK on its own timer too. Nothing acknowledges them, and connect() fails with ETIMEDOUT; the capture " +
			"ends with the server's request still in SYN_RECV (tcp_synack_retries at its default 5 keeps it about " +
			"63 s). Captured at the server, where every SYN-ACK is seen leaving.",
		vantage:  vantageServer,
		framing:  frameEthernet,
		synRetry: true,
		noQuiet:  true, // the server's request outlives the capture
		sysctls:  map[side]map[string]string{sideClient: {"net.ipv4.tcp_syn_retries": "1"}},
		run: func(e *env) {
			e.listen()
			e.drop(sideClient, "--sport", strconv.Itoa(serverPort), "--tcp-flags", "SYN,ACK", "SYN,ACK")
			e.connectTimedOut(30 * time.Second)
			e.has(sideServer, "SYN-RECV", time.Second)
			e.sleep(200 * time.Millisecond)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			if n := c.fl.inc.synAckCount(); n < 2 {
				c.failf("the server sent its SYN-ACK %d times, want a retransmitted series", n)
			}
			return c.kind(analyze.OpenAtEnd).handshake(analyze.HandshakeSynSynAck).reset("", "").
				diags(analyze.CodeSynAckUnanswered).states(rc, "SYN_SENT").states(rs, "SYN_RECV")
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
