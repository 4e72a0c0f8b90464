//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/teardown/teardown/analyze"
	"golang.org/x/sys/unix"
)

// Scenarios in which an ICMP error answers the client's SYN: the
// connect() fails at once, and no SYN follows.

// rejectHold is how long the client's rejected socket stays open, with
// tcpdump recording, before the second connection: past the 1 s at which
// a SYN_SENT socket the ICMP error did not end would send its SYN again.
const rejectHold = 1500 * time.Millisecond

// rejectSynLocal is the server's INPUT rule of syn-rejected-icmp:
// iptables' REJECT answers with icmp-port-unreachable unless told
// otherwise.
var rejectSynLocal = []string{"INPUT", "-p", "tcp", "--syn", "--dport", strconv.Itoa(serverPort), "-j", "REJECT"}

// rejectSynRouter is the router's FORWARD rule of
// syn-rejected-icmp-router-v6.
var rejectSynRouter = []string{"-p", "tcp", "--syn", "--dport", strconv.Itoa(serverPort), "-j", "REJECT",
	"--reject-with", "icmp6-adm-prohibited"}

func synRejectedICMP() *scenario {
	return &scenario{
		name: "syn-rejected-icmp",
		summary: "the server's firewall REJECTs the SYN with an ICMP port unreachable: connect() fails at once with " +
			"ECONNREFUSED, and no SYN follows",
		desc: "The server listens on port 8080, but its INPUT chain REJECTs SYNs to that port (iptables' default " +
			"reject-with, icmp-port-unreachable). The client connects: the server's kernel answers the SYN with an " +
			"ICMP destination unreachable (port unreachable, type 3 code 3) from its own address, which ends the " +
			"client's SYN_SENT socket at once (tcp_v4_err): connect() fails with ECONNREFUSED and the SYN is never " +
			"sent again, though the socket stays open 1.5 s. Then the rule is removed and the client connects again, " +
			"from another port: 100 bytes each way, and the client closes first. " + icmpDelayDesc + " Default " +
			"sysctls; captured at the client, with the ICMP errors beside the TCP segments.",
		vantage: vantageClient,
		framing: frameEthernet,
		icmp:    true,
		delay:   icmpDelay,
		run: func(e *env) {
			ln := e.listen()
			e.rule(sideServer, rejectSynLocal)
			rejectedThenAccepted(e, ln, unix.ECONNREFUSED, func() { e.unrule(sideServer, rejectSynLocal) })
		},
		check: icmpRejected(serverAddr4, 3, 3, analyze.Server),
	}
}

func synRejectedICMPRouterV6() *scenario {
	return &scenario{
		name: "syn-rejected-icmp-router-v6",
		summary: "a router between the two REJECTs the SYN with an ICMPv6 administratively prohibited: connect() " +
			"fails at once, and no SYN follows (IPv6)",
		desc: "IPv6. A Linux router joins the two ends; its FORWARD chain (ip6tables) REJECTs SYNs to port 8080, " +
			"where the server listens, with icmp6-adm-prohibited. The client connects: the router answers the SYN " +
			"with an ICMPv6 destination unreachable (administratively prohibited, type 1 code 1) from its own " +
			"address, " + routerC6.String() + ", which ends the client's SYN_SENT socket at once (tcp_v6_err): " +
			"connect() fails with EACCES (the errno icmpv6_err_convert gives that code) and the SYN is never sent " +
			"again, though the socket stays open 1.5 s. The server never sees that SYN. Then the rule is removed and " +
			"the client connects again, from another port: 100 bytes each way, and the client closes first. " +
			icmpDelayDesc + " Default sysctls; captured at the client, with the ICMPv6 errors beside the TCP segments.",
		v6:      true,
		vantage: vantageClient,
		framing: frameEthernet,
		icmp:    true,
		delay:   icmpDelay,
		forward: rejectSynRouter,
		run: func(e *env) {
			ln := e.listen()
			rejectedThenAccepted(e, ln, unix.EACCES, func() {
				e.unrule(sideRouter, append([]string{"FORWARD"}, rejectSynRouter...))
			})
		},
		check: icmpRejected(routerC6, 1, 1, analyze.NoRole),
	}
}

// icmpDelay is how long the router of the ICMP scenarios holds every
// packet it forwards before its filter rules see it. On a path with no
// delay at all (veth pairs alone), the ICMP error comes back while
// connect() still holds the socket's lock, having just sent the SYN:
// tcp_v4_err and tcp_v6_err then only record a soft error, the SYN goes
// out again after 1 s, and the answer to that one ends the socket. Any
// real path is slower than that.
const icmpDelay = 20 * time.Millisecond

// icmpDelayDesc says so in the descriptions.
var icmpDelayDesc = fmt.Sprintf("A Linux router between the two holds every packet it forwards for %v (NFQUEUE, "+
	"before its filter rules), as a longer path would: with no delay at all, the ICMP error arrives while "+
	"connect() still holds the socket's lock, the kernel records it as a soft error only, and the SYN goes out "+
	"again 1 s later.", icmpDelay)

// rejectedThenAccepted connects once, expecting connect() to fail with
// want within 250 ms (an ICMP error answered the SYN), keeps the socket
// open for rejectHold, lifts the rule with lift, and runs a second
// connection to listener ln that exchanges 100 bytes each way and closes
// client first.
func rejectedThenAccepted(e *env, ln *sock, want unix.Errno, lift func()) {
	c := e.connectRejected(want, 250*time.Millisecond)
	e.sleep(rejectHold)
	c.close()
	lift()
	c, s := exchange(e, ln, 100, 100)
	c.close()
	passiveClose(e, s, 50*time.Millisecond)
}

// icmpRejected checks a capture of rejectedThenAccepted: the first flow's
// SYN answered by an ICMP error of type and code from address from, which
// ended the client's socket (initiator is the close initiator that makes:
// the server when from is its address, else none), and a clean second
// connection at least rejectHold later.
func icmpRejected(from netip.Addr, typ, code int, initiator analyze.Role) func(*wire) error {
	return func(w *wire) error {
		fs, err := w.flows(2)
		if err != nil {
			return err
		}
		side := ""
		if initiator == analyze.Server {
			side = roleName[rs]
		}
		c := fs[0].kind(analyze.Rejected).handshake(analyze.HandshakeSynOnly).initiator(initiator).
			reset("", "").halfClose("", "").fins(rc, 0, 0).fins(rs, 0, 0).
			diags(analyze.CodeSynRejectedICMP).diagSide(analyze.CodeSynRejectedICMP, side).
			states(rc, "SYN_SENT", "CLOSED").states(rs).
			icmp(fmt.Sprintf("client %s %d/%d", from, typ, code))
		in := c.fl.inc
		if m := in.aborted; m == nil || in.syn == nil || m.t-in.syn.t > int64(100*time.Millisecond) {
			c.failf("no ICMP error ended the client's SYN within 100 ms of it")
		}
		second := fs[1].kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeComplete).
			reset("", "").diags().icmp().states(rc, activeStates...).states(rs, passiveStates...)
		if m := in.aborted; m != nil && fs[1].fl.inc.syn != nil && fs[1].fl.inc.syn.t-m.t < int64(rejectHold) {
			second.failf("the second connection began %v after the ICMP error, want %v or more",
				time.Duration(fs[1].fl.inc.syn.t-m.t), rejectHold)
		}
		return errors.Join(c.err(), second.err())
	}
}
