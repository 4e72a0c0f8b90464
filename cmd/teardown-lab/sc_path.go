//go:build linux

package main

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/teardown/teardown/analyze"
)

// Scenarios whose reset comes from a device on the path, not from either
// end.

func middleboxIdleReset() *scenario {
	return &scenario{
		name: "rst-middlebox-idle",
		summary: "a Linux router between the two (conntrack established timeout 2 s, loose 0) lets a connection " +
			"silent for 1.2 s live on, then forgets one silent for 3.5 s and REJECTs its next data with tcp-reset",
		desc: "A Linux router joins the two ends; its FORWARD chain REJECTs, with tcp-reset, TCP segments conntrack " +
			"finds INVALID, and it sets net.netfilter.nf_conntrack_tcp_timeout_established=2 and " +
			"net.netfilter.nf_conntrack_tcp_loose=0 (a mid-stream segment creates no entry). A first connection " +
			"exchanges 100 bytes each way, stays silent 1.2 s, exchanges again and closes (client first): the router " +
			"still knew it. A second one exchanges 100 bytes each way and stays silent 3.5 s, so the router forgets it; " +
			"the client's next 100 bytes are INVALID and the router answers them with [R] from the server's address, " +
			"which resets the client's socket. The server never learns of it: its socket stays ESTABLISHED until the " +
			"capture ends. Default sysctls at both ends; captured at the client, where the server's segments arrive " +
			"with TTL 63 and the router's RST with 64.",
		vantage: vantageClient,
		framing: frameEthernet,
		noQuiet: true, // the server's socket stays open
		forward: invalidReject,
		sysctls: map[side]map[string]string{sideRouter: {
			"net.netfilter.nf_conntrack_tcp_timeout_established": "2",
			"net.netfilter.nf_conntrack_tcp_loose":               "0",
		}},
		notes: []string{"The RST was made by the router's REJECT target (nf_send_reset), not by the server's kernel: " +
			"the server's socket was still ESTABLISHED when the capture ended, and its states end there."},
		run: func(e *env) {
			ln := e.listen()
			livesThroughSilence(e, ln)
			resetOn(e, ln, 3500*time.Millisecond, 100)
		},
		check: func(w *wire) error {
			fs, err := w.flows(2)
			if err != nil {
				return err
			}
			fs[0].kind(analyze.FourWay).initiator(analyze.Client).reset("", "").diags()
			if gap, end := fs[0].fl.inc.idleBeforeRST(); end != nil || gap != 0 {
				fs[0].failf("an idle period before a RST in the first connection")
			}
			return errors.Join(fs[0].err(), checkRouterReset(true, fs[1]))
		},
	}
}

func middleboxCloseWait() *scenario {
	return &scenario{
		name: "rst-middlebox-close-wait",
		summary: "the server closes first, the client stays half-closed 3.5 s; the router's conntrack forgets the " +
			"CLOSE_WAIT (timeout 2 s, loose 0) and REJECTs the client's FIN with tcp-reset",
		desc: "A Linux router joins the two ends; its FORWARD chain REJECTs, with tcp-reset, TCP segments conntrack " +
			"finds INVALID, and it sets net.netfilter.nf_conntrack_tcp_timeout_close_wait=2 and " +
			"net.netfilter.nf_conntrack_tcp_loose=0, every other conntrack timeout at its default. After a 100-byte " +
			"request and response the server close()s; the client acknowledges its FIN, which puts the router's entry " +
			"in CLOSE_WAIT, and close()s only 3.5 s later: its FIN is INVALID by then and the router answers it with " +
			"[R] from the server's address, which resets the client's socket in LAST_ACK. The server's orphan stays " +
			"in FIN_WAIT2 until the capture ends. Default sysctls at both ends; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		noQuiet: true, // the server's FIN_WAIT2 outlives the capture
		forward: invalidReject,
		sysctls: map[side]map[string]string{sideRouter: {
			"net.netfilter.nf_conntrack_tcp_timeout_close_wait": "2",
			"net.netfilter.nf_conntrack_tcp_loose":              "0",
		}},
		notes: []string{"The RST was made by the router's REJECT target, not by the server's kernel, whose orphaned " +
			"FIN_WAIT2 was still waiting for the client's FIN when the capture ended: the server's states end there."},
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			s.close()
			c.readEOF()
			e.sleep(3500 * time.Millisecond)
			c.close()
			e.gone(sideClient, "LAST-ACK", 5*time.Second)
			e.has(sideServer, "FIN-WAIT-2", time.Second)
			e.sleep(200 * time.Millisecond)
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			c.kind(analyze.ResetKind).initiator(analyze.Server).fins(rc, 1, 1).fins(rs, 1, 1).
				reset("server", analyze.CauseMiddlebox).diags(analyze.CodeRstMiddlebox, analyze.CodeCloseWaitLong).
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED").
				states(rs, "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2")
			in := c.fl.inc
			if gap, end := in.idleBeforeRST(); end == nil || gap < 3e9 || in.conntrackState(end) != "close_wait" || !end.has(fFIN) {
				c.failf("the RST does not answer the client's FIN after 3.5 s in conntrack's CLOSE_WAIT")
			}
			return checkRouterRST(c)
		},
	}
}

func middleboxReject() *scenario {
	return &scenario{
		name: "rst-middlebox-reject",
		summary: "a router between the two REJECTs, with tcp-reset, client segments of 400 bytes or more: " +
			"the client's second write is answered in the server's name",
		desc: "A Linux router joins the two ends; its FORWARD chain REJECTs, with tcp-reset, TCP segments to port 8080 " +
			"of 400 bytes or more (a policy, not connection tracking). The client sends a 100-byte request and reads a " +
			"100-byte response, then writes 1000 bytes at once: the router drops that segment and answers it with [R] " +
			"from the server's address, which resets the client's socket. The server never learns of it: its socket " +
			"stays ESTABLISHED until the capture ends. Default sysctls; captured at the client, where the server's " +
			"segments arrive with a TTL (hop limit) of 63 and the router's RST with 64.",
		vantage: vantageClient,
		framing: frameEthernet,
		noQuiet: true, // the server's socket stays open
		forward: []string{"-p", "tcp", "--dport", "8080", "-m", "length", "--length", "400:65535", "-j", "REJECT", "--reject-with", "tcp-reset"},
		notes: []string{"The RST was made by the router's REJECT target, not by the server's kernel: the server's " +
			"socket was still ESTABLISHED when the capture ended, and its states end there."},
		run:   resetByRouter(100*time.Millisecond, 1000),
		check: routerReset(false),
	}
}

func middleboxRefused() *scenario {
	return &scenario{
		name: "rst-middlebox-refused",
		summary: "a router between the two REJECTs every second SYN with tcp-reset: the client's first connection is " +
			"accepted, its second refused in the server's name while the server listens",
		desc: "A Linux router joins the two ends; its FORWARD chain REJECTs, with tcp-reset, every second SYN it sees " +
			"(iptables' statistic match, nth 2). The client's first connection exchanges 100 bytes each way and closes " +
			"(client first); its second SYN is answered by the router with [R.] from the server's address, and connect() " +
			"fails with ECONNREFUSED, while the server's listener, which never saw that SYN, listens on. Default " +
			"sysctls; captured at the client, where the server's segments arrive with TTL 63 and the router's RST with 64.",
		vantage: vantageClient,
		framing: frameEthernet,
		forward: []string{"-p", "tcp", "--syn", "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "1", "-j", "REJECT", "--reject-with", "tcp-reset"},
		notes: []string{"The RST that refused the second connection was made by the router's REJECT target, not by the " +
			"server's kernel: only the TTL tells them apart, against the server's segments in the first connection."},
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.close()
			passiveClose(e, s, 50*time.Millisecond)
			e.gone(sideServer, "LAST-ACK", 5*time.Second)
			e.connectRefused(serverPort)
		},
		check: func(w *wire) error {
			fs, err := w.flows(2)
			if err != nil {
				return err
			}
			fs[0].kind(analyze.FourWay).initiator(analyze.Client).reset("", "").diags()
			c := fs[1].kind(analyze.Rejected).handshake(analyze.HandshakeSynOnly).initiator(analyze.Server).
				reset("server", analyze.CauseRefused).diags(analyze.CodeConnectionRefused).
				states(rc, "SYN_SENT", "CLOSED").states(rs)
			if r := c.fl.inc.rst; r == nil || r.ttl != 64 || r.ts || r.ipid > 0 {
				c.failf("the refusing RST is not the router's (TTL 64, no TS, IP ID 0): %v", r)
			}
			for _, f := range fs[0].fl.inc.frames {
				if fs[0].fl.inc.role(f) == rs && f.ttl != 63 {
					fs[0].failf("server segment with TTL %d, want 63 (one router hop): %v", f.ttl, f)
				}
			}
			return errors.Join(fs[0].err(), c.err())
		},
	}
}

// dropAfterIdle is a scenario in which a router between the two, whose
// conntrack forgets an established connection after 2 s and drops the
// segments it then finds INVALID, lets a first connection live through a
// 1.2 s silence and forgets the next ones, two of them unless fin, silent
// for 3.5 s: the client's next write (or, with fin, its close()) on each
// is dropped, and the client retransmits it, unanswered, until the
// sysctl set on it runs out.
func dropAfterIdle(name string, fin bool) *scenario {
	n, which := 2, "two more, both"
	next, knob, gives := "100 bytes", "net.ipv4.tcp_retries2", "tcp_retries2 = 3 runs out (the socket is then closed silently, and the application's next call gets ETIMEDOUT)"
	if fin {
		n, which = 1, "a second one"
		next, knob, gives = "FIN (close())", "net.ipv4.tcp_orphan_retries", "tcp_orphan_retries = 2 runs out (the orphan is then destroyed silently)"
	}
	return &scenario{
		name: name,
		summary: "a Linux router between the two (conntrack established timeout 2 s, loose 0) lets a connection silent for " +
			"1.2 s live on, then forgets " + map[bool]string{false: "two", true: "one"}[fin] + " silent for 3.5 s and silently drops the client's next " + next,
		desc: "A Linux router joins the two ends; its FORWARD chain DROPs TCP segments conntrack finds INVALID, and it sets " +
			"net.netfilter.nf_conntrack_tcp_timeout_established=2 and net.netfilter.nf_conntrack_tcp_loose=0 (a mid-stream " +
			"segment creates no entry). A first connection exchanges 100 bytes each way, stays silent 1.2 s, exchanges " +
			"again and closes (client first): the router still knew it. Then " + which + " exchanging 100 bytes each way, " +
			"stay silent 3.5 s, so the router forgets them; the client's next " + next + " is INVALID and dropped, and the " +
			"client retransmits it, never answered, until " + gives + ". The server never learns of it: its sockets stay " +
			"ESTABLISHED until the capture ends. The client sets " + knob + "; default sysctls otherwise; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		noQuiet: true, // the server's sockets stay open
		forward: invalidDrop,
		sysctls: map[side]map[string]string{
			sideRouter: {
				"net.netfilter.nf_conntrack_tcp_timeout_established": "2",
				"net.netfilter.nf_conntrack_tcp_loose":               "0",
			},
			sideClient: {knob: map[bool]string{false: "3", true: "2"}[fin]},
		},
		notes: []string{"The router dropped the client's segments after the silence: the server's sockets were still " +
			"ESTABLISHED when the capture ended, and their states end there; the client's sockets gave up without a segment."},
		run: func(e *env) {
			ln := e.listen()
			livesThroughSilence(e, ln)
			var cs []*sock
			for range n {
				c, _ := exchange(e, ln, 100, 100)
				cs = append(cs, c)
			}
			e.sleep(3500 * time.Millisecond)
			for _, c := range cs {
				if fin {
					c.close()
				} else {
					c.write(100)
				}
			}
			e.gone(sideClient, map[bool]string{false: "ESTAB", true: "FIN-WAIT-1"}[fin], 10*time.Second)
			e.has(sideServer, "ESTAB", time.Second)
			e.sleep(200 * time.Millisecond)
		},
		check: func(w *wire) error {
			fs, err := w.flows(1 + n)
			if err != nil {
				return err
			}
			fs[0].kind(analyze.FourWay).initiator(analyze.Client).reset("", "").diags()
			errs := []error{fs[0].err()}
			for _, c := range fs[1:] {
				c.reset("", "").states(rs, "SYN_RECV", "ESTABLISHED")
				if fin {
					c.kind(analyze.HalfClosedAtEnd).states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1").
						diags(analyze.CodeNoAnswerAfterIdle, analyze.CodeFinNeverAcked)
				} else {
					c.kind(analyze.OpenAtEnd).states(rc, "SYN_SENT", "ESTABLISHED").diags(analyze.CodeNoAnswerAfterIdle)
				}
				in := c.fl.inc
				if r, first := in.unansweredAfterIdle(); first == nil || r != rc || first.t-in.frames[slices.Index(in.frames, first)-1].t < 3e9 || in.conntrackState(first) != "established" {
					c.failf("the client's segments after the 3.5 s silence were answered, or came sooner")
				}
				for _, f := range in.frames {
					if in.role(f) == rs && f.ttl != 63 {
						c.failf("server segment with TTL %d, want 63 (one router hop): %v", f.ttl, f)
					}
				}
				errs = append(errs, c.err())
			}
			return errors.Join(errs...)
		},
	}
}

// dataUnanswered cuts the server off in the middle of a connection: its
// INPUT chain starts dropping the client's segments, and the client's
// next request is retransmitted, never answered, until tcp_retries2 runs
// out.
func dataUnanswered() *scenario {
	return &scenario{
		name: "data-unanswered",
		summary: "the server is cut off mid-connection (its INPUT chain drops the client's segments): the client's " +
			"next 100 bytes are retransmitted, never answered, until tcp_retries2 = 5 runs out",
		desc: "The client (net.ipv4.tcp_retries2=5) and the server exchange 100 bytes each way; then the server's " +
			"INPUT chain starts dropping every segment from the client, as a server that went down or a path that " +
			"broke would. The client's next 100 bytes, sent at once, are never acknowledged: the client retransmits " +
			"them with exponential backoff, nothing comes back, and once tcp_retries2 = 5 runs out (about 12.6 s) it " +
			"destroys the socket without a segment. The server's socket stays ESTABLISHED. Default sysctls " +
			"otherwise; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		noQuiet: true, // the server's socket stays open
		sysctls: map[side]map[string]string{sideClient: {"net.ipv4.tcp_retries2": "5"}},
		notes: []string{"The client gave up without a segment: its side's states end at ESTABLISHED in the capture, " +
			"and the server's socket was still ESTABLISHED when the capture ended."},
		run: func(e *env) {
			ln := e.listen()
			c, _ := exchange(e, ln, 100, 100)
			e.drop(sideServer, "--dport", strconv.Itoa(serverPort))
			c.write(100)
			e.gone(sideClient, "ESTAB", 30*time.Second)
			e.has(sideServer, "ESTAB", time.Second)
			e.sleep(200 * time.Millisecond)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			in := c.fl.inc
			if r, first := in.dataUnanswered(); first == nil || r != rc || in.frames[len(in.frames)-1].t-first.t < 6e9 {
				c.failf("the client's last data was answered, or not retransmitted for 6 s")
			}
			return c.kind(analyze.OpenAtEnd).reset("", "").states(rc, "SYN_SENT", "ESTABLISHED").
				states(rs, "SYN_RECV", "ESTABLISHED").diags(analyze.CodeDataUnanswered)
		}),
	}
}

// invalidDrop is a FORWARD rule that drops what conntrack finds INVALID.
var invalidDrop = []string{"-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"}

// livesThroughSilence runs a connection to listener ln that exchanges 100
// bytes each way, stays silent 1.2 s, exchanges again and closes (client
// first), and waits for the server's socket to go.
func livesThroughSilence(e *env, ln *sock) {
	c, s := exchange(e, ln, 100, 100)
	e.sleep(1200 * time.Millisecond)
	c.write(100)
	s.read(100)
	s.write(100)
	c.read(100)
	c.close()
	passiveClose(e, s, 50*time.Millisecond)
	e.gone(sideServer, "LAST-ACK", 5*time.Second)
}

// resetByRouter exchanges 100 bytes each way, waits pause, has the client
// write n bytes, which the router answers with a RST, and waits for the
// client's socket to go while the server's stays.
func resetByRouter(pause time.Duration, n int) func(*env) {
	return func(e *env) { resetOn(e, e.listen(), pause, n) }
}

// resetOn is resetByRouter on a connection to listener ln.
func resetOn(e *env, ln *sock, pause time.Duration, n int) {
	c, _ := exchange(e, ln, 100, 100)
	e.sleep(pause)
	c.write(n)
	e.gone(sideClient, "ESTAB", 5*time.Second)
	e.has(sideServer, "ESTAB", time.Second)
	e.sleep(200 * time.Millisecond)
}

// routerReset checks a capture of one flow with checkRouterReset.
func routerReset(idle bool) func(*wire) error {
	return func(w *wire) error {
		c, err := w.one()
		if err != nil {
			return err
		}
		return checkRouterReset(idle, c)
	}
}

// checkRouterReset checks that the router's [R] (TTL or hop limit 64,
// where the server's segments arrive with 63) reset the client of c alone,
// and that it answered the first segment after an idle period when idle.
func checkRouterReset(idle bool, c *flowCheck) error {
	c.kind(analyze.ResetKind).initiator(analyze.Server).fins(rc, 0, 0).fins(rs, 0, 0).
		reset("server", analyze.CauseMiddlebox).diags(analyze.CodeRstMiddlebox).
		states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED")
	gap, end := c.fl.inc.idleBeforeRST()
	switch {
	case idle && (end == nil || gap < 3e9):
		c.failf("the RST does not answer the first segment after the 3.5 s idle period")
	case !idle && end != nil:
		c.failf("the RST answers a segment after an idle period (frame %d)", end.no)
	}
	return checkRouterRST(c)
}

// invalidReject is a FORWARD rule that answers what conntrack finds
// INVALID with a RST.
var invalidReject = []string{"-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID", "-j", "REJECT", "--reject-with", "tcp-reset"}

// checkRouterRST checks that the flow's RST is the router's [R] (TTL or
// hop limit 64, where the server's segments arrive with 63), and returns
// every difference c found.
func checkRouterRST(c *flowCheck) error {
	in := c.fl.inc
	r := in.rst
	if r == nil {
		return c.err()
	}
	if r.has(fACK) || r.ts || r.ttl != 64 || r.ipid > 0 {
		c.failf("the RST is not the router's [R] (flags %s, IP ID %d, TS %v, TTL %d)", r.flagString(), r.ipid, r.ts, r.ttl)
	}
	for _, f := range in.frames {
		if f.src == in.server && f != r && f.ttl != 63 {
			c.failf("server segment with TTL %d, want 63 (one router hop): %v", f.ttl, f)
		}
	}
	return c.err()
}

// pathDelay is a path long enough for the capture point to matter: the
// router holds what it forwards (delay.go), and tcpdump runs at the
// server.
func pathDelay() *scenario {
	const delay = 20 * time.Millisecond
	return &scenario{
		name: "path-delay",
		summary: "a router holds every packet 20 ms, captured at the server: the client closes first and is in " +
			"FIN_WAIT1 a round trip (40 ms) longer than the capture shows",
		desc: "A Linux router joins the two ends and holds every packet it forwards for 20 ms (its FORWARD chain " +
			"queues them to NFQUEUE and the lab gives each its ACCEPT verdict 20 ms later: this kernel has no netem), " +
			"so the client is a 40 ms round trip from tcpdump, which runs at the server, and the server microseconds. " +
			"The client sends a 100-byte request, reads the 300-byte response and close()s; the server reads EOF and " +
			"close()s 200 ms later. The capture shows the client's FIN_WAIT1 from its FIN's arrival to the server's " +
			"(delayed) ACK of it; the FIN had left the client 20 ms before and the ACK reached it 20 ms after: the " +
			"client was in FIN_WAIT1 a round trip longer than the capture shows. Default sysctls.",
		vantage: vantageServer,
		framing: frameEthernet,
		delay:   delay,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 300)
			c.close()
			passiveClose(e, s, 200*time.Millisecond)
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			c.clientFirst()
			toClient, toServer, ok := handshakeTrips(w.frames)
			if !ok || toClient < 2*delay || toServer > delay/10 {
				c.failf("handshake round trips %v to the client, %v to the server: want the client %v or more away, "+
					"the server near", toClient, toServer, 2*delay)
			}
			return c.err()
		},
	}
}

// handshakeTrips reads the round trips from the capture point in the
// first handshake of frames: to the server, SYN to SYN-ACK; to the
// client, SYN-ACK to the client's next segment.
func handshakeTrips(frames []*frame) (toClient, toServer time.Duration, ok bool) {
	var syn, synAck *frame
	for _, f := range frames {
		switch {
		case syn == nil && f.has(fSYN) && !f.has(fACK):
			syn = f
		case syn != nil && synAck == nil && f.has(fSYN|fACK):
			synAck = f
		case synAck != nil && f.src == syn.src && !f.has(fSYN):
			return time.Duration(f.t - synAck.t), time.Duration(synAck.t - syn.t), true
		}
	}
	return 0, 0, false
}
