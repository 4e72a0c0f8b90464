//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
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

// rejectHostUnreach is the router's FORWARD rule of data-unanswered-icmp:
// it answers every segment from the client to the server with an ICMP
// host unreachable.
var rejectHostUnreach = []string{"FORWARD", "-p", "tcp", "-s", clientAddr4.String(), "-d", serverAddr4.String(),
	"--dport", strconv.Itoa(serverPort), "-j", "REJECT", "--reject-with", "icmp-host-unreachable"}

// dataUnansweredICMP is data-unanswered across a router that, from the
// middle of the connection on, answers each of the client's segments with
// an ICMP host unreachable instead of forwarding it.
func dataUnansweredICMP() *scenario {
	return &scenario{
		name: "data-unanswered-icmp",
		summary: "a router between the two starts REJECTing the client's segments with an ICMP host unreachable: the " +
			"client's next 100 bytes are retransmitted, each answered by an error, until tcp_retries2 = 5 runs out, " +
			"and read() fails with EHOSTUNREACH",
		desc: "The client (net.ipv4.tcp_retries2=5) and the server exchange 100 bytes each way across a Linux " +
			"router that holds every packet it forwards for " + icmpDelay.String() + " (NFQUEUE, before its filter " +
			"rules), as a longer path would. Then the router's FORWARD chain starts to REJECT every segment from " +
			"the client to the server with icmp-host-unreachable (type 3 code 1, from its address " +
			routerC4.String() + "); the router sets net.ipv4.icmp_ratelimit=0, so that every segment draws an " +
			"error (with the default, 1000 ms, a trial run drew one for each of the first seven and then about one " +
			"a second). The client writes 100 bytes and blocks in read(): the bytes are retransmitted, each " +
			"transmission answered by an ICMP error and none by the server, until tcp_retries2 = 5 runs out (a " +
			"time, not a count: about 12.6 s from the first retransmission the RTO timer made, tcp_model_timeout) " +
			"and the kernel destroys the socket without a segment. read() fails with EHOSTUNREACH, the soft error " +
			"the ICMP errors left " +
			"(tcp_write_err), not ETIMEDOUT. The server never sees anything after the rule, and its socket stays " +
			"ESTABLISHED. Default sysctls otherwise; captured at the client, with the ICMP errors beside the TCP " +
			"segments.",
		vantage: vantageClient,
		framing: frameEthernet,
		icmp:    true,
		delay:   icmpDelay,
		noQuiet: true, // the server's socket stays open
		sysctls: map[side]map[string]string{
			sideClient: {"net.ipv4.tcp_retries2": "5"},
			sideRouter: {"net.ipv4.icmp_ratelimit": "0"},
		},
		notes: []string{
			"The ICMP errors changed no state: an established socket keeps one as a soft error (tcp_v4_err), and the " +
				"client gave up without a segment, so its states end at ESTABLISHED in the capture; the server's socket " +
				"was still ESTABLISHED when the capture ended.",
			"The retransmissions did not back off: a host unreachable quoting snd_una while the socket retransmits " +
				"undoes one step of the RTO backoff (tcp_ld_RTO_revert, RFC 6069; ICMP net and host unreachable, " +
				"ICMPv6 no route only), so each came one RTO after the one before instead of twice as late as it.",
		},
		run: func(e *env) {
			ln := e.listen()
			c, _ := exchange(e, ln, 100, 100)
			// Past the router's 20 ms hold, the client's ACK of the
			// response reaches the server before the rule.
			e.sleep(100 * time.Millisecond)
			e.rule(sideRouter, rejectHostUnreach)
			start := time.Now()
			c.write(100)
			c.readFails(unix.EHOSTUNREACH, start, 10*time.Second, 20*time.Second)
			e.has(sideServer, "ESTAB", time.Second)
			e.sleep(200 * time.Millisecond)
		},
		check:     checkDataUnansweredICMP,
		wireNotes: dataUnansweredICMPNotes,
	}
}

// unansweredTransmissions are the transmissions of the data role r left
// unacknowledged at the end of the incarnation (dataUnanswered's first
// frame and every later one of r with its sequence number and length).
func (in *incarnation) unansweredTransmissions() []*frame {
	r, first := in.dataUnanswered()
	if first == nil {
		return nil
	}
	var tx []*frame
	for _, f := range in.frames {
		if f.no >= first.no && in.role(f) == r && f.seq == first.seq && f.len == first.len {
			tx = append(tx, f)
		}
	}
	return tx
}

func checkDataUnansweredICMP(w *wire) error {
	c, err := w.one()
	if err != nil {
		return err
	}
	in := c.fl.inc
	c.kind(analyze.OpenAtEnd).initiator(analyze.NoRole).reset("", "").halfClose("", "").fins(rc, 0, 0).fins(rs, 0, 0).
		states(rc, "SYN_SENT", "ESTABLISHED").states(rs, "SYN_RECV", "ESTABLISHED").diags(analyze.CodeDataUnanswered)
	r, first := in.dataUnanswered()
	tx := in.unansweredTransmissions()
	if first == nil || r != rc || len(tx) < 10 || tx[len(tx)-1].t-first.t < 10e9 {
		c.failf("the client's last data was answered, or not retransmitted at least 9 times over 10 s")
	}
	// No backoff: no gap reaches 1.5 times the shortest.
	shortest := int64(math.MaxInt64)
	for i := 1; i < len(tx); i++ {
		shortest = min(shortest, tx[i].t-tx[i-1].t)
	}
	for i := 1; i < len(tx); i++ {
		if gap := tx[i].t - tx[i-1].t; 2*gap >= 3*shortest {
			c.failf("%v came %v after the transmission before, the shortest gap %v: the RTO backed off",
				tx[i], time.Duration(gap), time.Duration(shortest))
		}
	}
	for _, f := range in.frames {
		if first != nil && in.role(f) == rs && f.no > first.no {
			c.failf("the server sent %v after the rule", f)
		}
	}
	// Every transmission of the data drew one error, from the router.
	var want []string
	for range tx {
		want = append(want, fmt.Sprintf("client %s 3/1", routerC4))
	}
	c.icmp(want...)
	for i, m := range in.icmps {
		if i < len(tx) && (m.seq != tx[i].seq || m.no < tx[i].no || i+1 < len(tx) && m.no > tx[i+1].no) {
			c.failf("%v does not answer %v", m, tx[i])
		}
	}
	return c.err()
}

// dataUnansweredICMPNotes says how often and when the client sent its
// unanswered data, and how many ICMP errors came back.
func dataUnansweredICMPNotes(w *wire) []string {
	in := w.truth.Flows[0].inc
	tx := in.unansweredTransmissions()
	var gaps []string
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for i := 1; i < len(tx); i++ {
		g := time.Duration(tx[i].t - tx[i-1].t)
		lo, hi = min(lo, g), max(hi, g)
		if i <= 8 {
			gaps = append(gaps, strconv.FormatInt(g.Round(time.Millisecond).Milliseconds(), 10))
		}
	}
	return []string{fmt.Sprintf("The client sent its 100 bytes %d times (frames %d to %d: %d retransmissions) over %.2f s, "+
		"each answered by an ICMP host unreachable from the router (%d errors). The first gaps between transmissions, "+
		"in ms: %s; all %d gaps were between %d and %d ms.",
		len(tx), tx[0].no, tx[len(tx)-1].no, len(tx)-1, float64(tx[len(tx)-1].t-tx[0].t)/1e9, len(in.icmps),
		strings.Join(gaps, ", "), len(tx)-1, lo.Round(time.Millisecond).Milliseconds(), hi.Round(time.Millisecond).Milliseconds())}
}

// rejectFinHostUnreach is the router's FORWARD rule of
// fin-never-acked-icmp: it answers each FIN from the client to the server
// with an ICMP host unreachable, and lets every other segment by.
var rejectFinHostUnreach = []string{"FORWARD", "-p", "tcp", "-s", clientAddr4.String(), "-d", serverAddr4.String(),
	"--dport", strconv.Itoa(serverPort), "--tcp-flags", "FIN", "FIN", "-j", "REJECT", "--reject-with", "icmp-host-unreachable"}

// finSilence is how long fin-never-acked-icmp's capture goes on at least
// past the client's last FIN copy (twice the gap before that copy, when
// that is longer), to show that no copy followed.
const finSilence = 3 * time.Second

// finNeverAckedICMP is fin-never-acked-orphan-retries-1 across a router
// that answers each of the client's FINs with an ICMP host unreachable
// instead of forwarding it.
func finNeverAckedICMP() *scenario {
	return &scenario{
		name: "fin-never-acked-icmp",
		summary: "a router between the two REJECTs every client FIN with an ICMP host unreachable; tcp_orphan_retries=1: " +
			"the orphan's FIN copies come at a steady pace, each drawing an error, then silence, no RST",
		desc: "The client (net.ipv4.tcp_orphan_retries=1) and the server exchange 100 bytes each way across a Linux " +
			"router that holds every packet it forwards for " + icmpDelay.String() + " (NFQUEUE, before its filter " +
			"rules), as a longer path would. Then the router's FORWARD chain starts to REJECT every client segment " +
			"to the server with FIN set (--tcp-flags FIN FIN) with icmp-host-unreachable (type 3 code 1, from its " +
			"address " + routerC4.String() + "); the router sets net.ipv4.icmp_ratelimit=0, so that every FIN draws " +
			"an error. The client close()s (an orphan): its FIN is retransmitted (a tail-loss probe, then RTO " +
			"retransmissions), each copy answered by an ICMP error and none by the server. A host unreachable " +
			"quoting snd_una undoes one step of the RTO backoff (tcp_ld_RTO_revert, RFC 6069), so the copies come " +
			"at a steady pace instead of doubling, until the tcp_orphan_retries=1 budget runs out (a time: 600 ms " +
			"from the first RTO retransmission, tcp_model_timeout) and the orphan vanishes without a RST. The " +
			"server never receives the FIN and stays ESTABLISHED. Captured at the client with dumpcap, with the " +
			"ICMP errors beside the TCP segments; its pcapng records when the capture stopped, " + finSilence.String() +
			" past the give-up.",
		vantage: vantageClient,
		framing: frameDumpcap,
		icmp:    true,
		delay:   icmpDelay,
		noQuiet: true, // the server's socket stays open
		tail:    finSilence,
		sysctls: map[side]map[string]string{
			sideClient: {"net.ipv4.tcp_orphan_retries": "1"},
			sideRouter: {"net.ipv4.icmp_ratelimit": "0"},
		},
		notes: []string{
			"The ICMP errors changed no state: a synchronized socket keeps one as a soft error (tcp_v4_err), and the " +
				"orphan gave up without a segment, so the client's states end at FIN_WAIT1 in the capture; the server " +
				"never received the FIN, and its socket was still ESTABLISHED when the capture ended.",
			"fin_tlp is true: the second gap is under 1.5 times the first, and the second copy was indeed a " +
				"tail-loss probe (the kernel counted one, below). Here the gaps alone could not have told: with each " +
				"RTO step undone by an error, RTO retransmissions come at that steady pace too, so a FIN with no probe " +
				"before its first RTO retransmission would read the same.",
		},
		run: func(e *env) {
			ln := e.listen()
			c, _ := exchange(e, ln, 100, 100)
			// Past the router's hold, the client's ACK of the response
			// reaches the server before the rule.
			e.sleep(100 * time.Millisecond)
			e.rule(sideRouter, rejectFinHostUnreach)
			before := e.tcpExt(sideClient, finCounters...)
			closed := time.Now()
			c.close()
			e.has(sideClient, "FIN-WAIT-1", 5*time.Second)
			e.gone(sideClient, "FIN-WAIT-1", 30*time.Second)
			gone := time.Since(closed)
			after := e.tcpExt(sideClient, finCounters...)
			e.has(sideServer, "ESTAB", time.Second)
			if e.failed() != nil {
				return
			}
			d := map[string]int64{}
			for _, k := range finCounters {
				d[k] = after[k] - before[k]
			}
			fmt.Fprintf(os.Stderr, "teardown-lab: the client's FIN-WAIT-1 was gone %v after close(); TcpExt %v\n",
				gone.Round(time.Millisecond), d)
			if d["TCPLossProbes"] != 1 || d["TCPAbortOnTimeout"] != 1 || d["TCPAbortOnMemory"] != 0 {
				e.fail(fmt.Errorf("the client's TcpExt counters moved by %v over the close, want one tail-loss probe, "+
					"one abort on timeout and none on memory", d))
				return
			}
			e.notes = append(e.notes, fmt.Sprintf("The client's kernel counted, over the close, one tail-loss probe "+
				"(TcpExt TCPLossProbes: the second FIN copy) and one abort on timeout (TCPAbortOnTimeout: the orphan "+
				"gave up as its retry budget ran out, not for lack of memory, TCPAbortOnMemory 0). ss, polled every "+
				"20 ms, first found the client's FIN-WAIT-1 socket gone %.2f s after close(), and the server's "+
				"socket still ESTABLISHED after that.", gone.Seconds()))
		},
		check:     checkFinNeverAckedICMP,
		wireNotes: finNeverAckedICMPNotes,
	}
}

// finCounters are the client's TcpExt counters fin-never-acked-icmp
// reads over the close.
var finCounters = []string{"TCPLossProbes", "TCPAbortOnTimeout", "TCPAbortOnMemory"}

// finGaps returns the gaps between consecutive transmissions of tx.
func finGaps(tx []*frame) []time.Duration {
	var g []time.Duration
	for i := 1; i < len(tx); i++ {
		g = append(g, time.Duration(tx[i].t-tx[i-1].t))
	}
	return g
}

func checkFinNeverAckedICMP(w *wire) error {
	c, err := w.one()
	if err != nil {
		return err
	}
	in := c.fl.inc
	// At most flows.MaxFINs copies: the output keeps that many, and the
	// lab has no rule for a longer list.
	c.kind(analyze.HalfClosedAtEnd).initiator(analyze.Client).reset("", "").halfClose("", "").
		fins(rc, 4, flows.MaxFINs).fins(rs, 0, 0).diags(analyze.CodeFinNeverAcked).
		states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1").states(rs, "SYN_RECV", "ESTABLISHED")
	if tlp := c.fl.Sides.Client.FinTLP; tlp == nil || !*tlp {
		c.failf("fin_tlp is not true, yet the kernel counted a tail-loss probe")
	}
	tx := in.fins[rc]
	if len(tx) < 4 {
		return c.err()
	}
	// No backoff: no gap reaches 1.5 times the shortest.
	gaps := finGaps(tx)
	shortest := slices.Min(gaps)
	for i, g := range gaps {
		if 2*g >= 3*shortest {
			c.failf("%v came %v after the FIN before, the shortest gap %v: the RTO backed off", tx[i+1], g, shortest)
		}
	}
	for _, f := range in.frames {
		if in.role(f) == rs && f.no > tx[0].no {
			c.failf("the server sent %v after the client's FIN", f)
		}
	}
	// Every FIN copy drew one error, from the router, before the next.
	var want []string
	for range tx {
		want = append(want, fmt.Sprintf("client %s 3/1", routerC4))
	}
	c.icmp(want...)
	for i, m := range in.icmps {
		if i < len(tx) && (m.seq != tx[i].seq || m.flags != tx[i].flags || m.no < tx[i].no || i+1 < len(tx) && m.no > tx[i+1].no) {
			c.failf("%v does not answer %v", m, tx[i])
		}
	}
	// The capture went on long enough to show that no copy followed.
	last := tx[len(tx)-1]
	need := max(finSilence, 2*gaps[len(gaps)-1])
	switch {
	case w.stopped == 0:
		c.failf("the capture does not record when it stopped")
	case time.Duration(w.stopped-last.t) < need:
		c.failf("the capture stopped %v after the last FIN copy (%v), want %v or more",
			time.Duration(w.stopped-last.t), last, need)
	}
	return c.err()
}

// finNeverAckedICMPNotes says how often and when the client sent its
// FIN, how many ICMP errors came back, and how long the capture went on.
func finNeverAckedICMPNotes(w *wire) []string {
	in := w.truth.Flows[0].inc
	tx := in.fins[rc]
	var gaps []string
	for _, g := range finGaps(tx) {
		gaps = append(gaps, strconv.FormatInt(g.Round(time.Millisecond).Milliseconds(), 10))
	}
	last, r1 := tx[len(tx)-1], tx[2] // the first RTO retransmission, after the probe
	return []string{fmt.Sprintf("The client sent its FIN %d times (frames %d to %d: %d retransmissions) over %.3f s, "+
		"each answered by an ICMP host unreachable from the router (%d errors); the gaps between copies, in ms: %s. "+
		"The last copy came %.3f s after the first RTO retransmission (frame %d), within tcp_orphan_retries=1's "+
		"600 ms; the RTO after it, due about %.3f s after that one, found the budget spent. No copy and no RST "+
		"followed: the capture stopped %.2f s after the last copy.",
		len(tx), tx[0].no, last.no, len(tx)-1, float64(last.t-tx[0].t)/1e9, len(in.icmps), strings.Join(gaps, ", "),
		float64(last.t-r1.t)/1e9, r1.no, float64(2*last.t-tx[len(tx)-2].t-r1.t)/1e9, float64(w.stopped-last.t)/1e9)}
}

// synackARPRetrans is the router's ARP retransmission time in
// synack-icmp-spoofed: with mcast_solicit at its default 3, its neighbour
// resolution gives up after 1.5 s, between the server's first SYN-ACK
// retransmission (1 s) and its second (3 s).
const synackARPRetrans = 500 * time.Millisecond

// synackSilence is how long synack-icmp-spoofed's capture goes on at
// least past the last SYN-ACK or ICMP error (twice the last SYN-ACK gap,
// when that is longer), to show that no SYN-ACK followed.
const synackSilence = 3 * time.Second

// synackCounters are the server's TcpExt counters synack-icmp-spoofed
// reads over the run; synackICMPCounters its Icmp ones.
var (
	synackCounters     = []string{"ListenDrops", "ListenOverflows", "OutOfWindowIcmps"}
	synackICMPCounters = []string{"InDestUnreachs", "InErrors"}
)

// synackICMPSpoofed is what a SYN from a spoofed source does at the
// server: its SYN-ACKs go to an address nobody answers ARP for, the
// router answers them with ICMP host unreachables, and the first one
// drops the server's request.
func synackICMPSpoofed() *scenario {
	return &scenario{
		name: "synack-icmp-spoofed",
		summary: "a SYN from a spoofed source: the router cannot resolve it and answers the server's SYN-ACKs with ICMP " +
			"host unreachables, the first of which drops the server's request: no SYN-ACK follows",
		desc: "A Linux router joins the two ends, with no filter rule; on the client's link its neighbour resolution " +
			"sends 3 ARP requests (mcast_solicit, default) " + synackARPRetrans.String() + " apart " +
			"(net.ipv4.neigh.eth0.retrans_time_ms=" + strconv.FormatInt(synackARPRetrans.Milliseconds(), 10) +
			") before it gives up. From the client's namespace a raw socket sends one SYN to port 8080, where the " +
			"server listens, from " + spoofedAddr4.String() + ", an address of the client's link that no interface " +
			"has, as a SYN flood with spoofed sources does. The server answers with a SYN-ACK and, its request timer " +
			"running out, sends it again 1 s later (with tcp_synack_retries at its default 5 the request would go on " +
			"for about 63 s). The router holds both while it asks who has " + spoofedAddr4.String() + "; nobody " +
			"answers, and it answers each SYN-ACK with an ICMP host unreachable (type 3 code 1) from its address on " +
			"the server's link, " + routerS4.String() + ". The first one drops the server's request (tcp_v4_err, " +
			"tcp_req_err: a net or host unreachable, time exceeded or parameter problem quoting the request's " +
			"SYN-ACK, seq = its ISN, removes it silently), and no SYN-ACK follows. Default sysctls otherwise; " +
			"captured at the server with dumpcap, with the ICMP errors beside the TCP segments; its pcapng records " +
			"when the capture stopped, " + synackSilence.String() + " or more past the errors.",
		vantage: vantageServer,
		framing: frameDumpcap,
		icmp:    true,
		router:  true,
		tail:    synackSilence + 500*time.Millisecond,
		sysctls: map[side]map[string]string{
			sideRouter: {"net.ipv4.neigh.eth0.retrans_time_ms": strconv.FormatInt(synackARPRetrans.Milliseconds(), 10)},
		},
		notes: []string{
			"The client is a raw socket's SYN, not a socket: the client side has the SYN alone, SYN_SENT as for any " +
				"client whose SYN is seen; no socket of the client's namespace saw anything of this connection.",
			"The server's request ends in CLOSED at the first ICMP error, with no RST and nothing on the wire after " +
				"it: the kernel drops a request silently (inet_csk_reqsk_queue_drop). The second error quotes the " +
				"same SYN-ACK (a retransmission has the ISN too) and found no request.",
		},
		run: func(e *env) {
			e.listen()
			dir, err := os.MkdirTemp("", "teardown-lab-arp-")
			if err != nil {
				e.fail(err)
				return
			}
			defer os.RemoveAll(dir)
			arpFile := filepath.Join(dir, "arp.pcap")
			arp, err := startCapture(e.ctx, e.topo.router, "eth0", "", "arp", 200, arpFile, false)
			if err != nil {
				e.fail(err)
				return
			}
			arpStopped := false
			defer func() {
				if !arpStopped {
					arp.stop()
				}
			}()
			tcpBefore := e.tcpExt(sideServer, synackCounters...)
			icmpBefore := e.icmpMIB(sideServer, synackICMPCounters...)
			src := netip.AddrPortFrom(spoofedAddr4, uint16(32768+rand.IntN(28232)))
			dst := netip.AddrPortFrom(serverAddr4, serverPort)
			sent := time.Now()
			e.sendRaw(sideClient, rawSeg{src: src, dst: dst, seq: rand.Uint32(), flags: tcpSYN})
			e.has(sideServer, "SYN-RECV", time.Second)
			// With no error, the request would stay about 63 s.
			e.gone(sideServer, "SYN-RECV", 10*time.Second)
			gone := time.Since(sent)
			tcpAfter := e.tcpExt(sideServer, synackCounters...)
			icmpAfter := e.icmpMIB(sideServer, synackICMPCounters...)
			neigh, nerr := nsExec(e.ctx, e.topo.router, "ip", "neigh", "show", spoofedAddr4.String(), "dev", "eth0")
			arpStopped = true
			if err := arp.stop(); err != nil {
				e.fail(err)
			}
			if nerr != nil {
				e.fail(nerr)
			}
			if e.failed() != nil {
				return
			}
			reqs, err := arpRequests(e.ctx, arpFile, spoofedAddr4)
			if err != nil {
				e.fail(err)
				return
			}
			d := map[string]int64{}
			for _, k := range synackCounters {
				d[k] = tcpAfter[k] - tcpBefore[k]
			}
			for _, k := range synackICMPCounters {
				d["Icmp"+k] = icmpAfter[k] - icmpBefore[k]
			}
			var at []string
			for _, t := range reqs {
				at = append(at, strconv.FormatInt(time.Duration(t-sent.UnixNano()).Round(time.Millisecond).Milliseconds(), 10))
			}
			fmt.Fprintf(os.Stderr, "teardown-lab: the server's request was gone %v after the SYN; ARP requests at %v ms; "+
				"counters %v; router's neighbour entry %q\n",
				gone.Round(time.Millisecond), at, d, strings.TrimSpace(neigh))
			e.notes = append(e.notes, fmt.Sprintf("Counted: the router sent %d ARP requests for %s, %s ms after the "+
				"SYN was sent (its capture on its eth0, the same clock as the server's), and its neighbour entry "+
				"then read %q. ss, polled every 20 ms, found the server's SYN-RECV request gone %d ms after the SYN "+
				"was sent. Over the run the server's kernel counted TcpExt ListenDrops +%d (tcp_req_err drops a "+
				"request through tcp_listendrop), ListenOverflows +%d, OutOfWindowIcmps +%d, and Icmp "+
				"InDestUnreachs +%d, InErrors +%d (tcp_v4_err found no socket for the error: the request was gone).",
				len(reqs), spoofedAddr4, strings.Join(at, ", "), strings.TrimSpace(neigh), gone.Milliseconds(),
				d["ListenDrops"], d["ListenOverflows"], d["OutOfWindowIcmps"], d["IcmpInDestUnreachs"], d["IcmpInErrors"]))
		},
		check:     checkSynackICMPSpoofed,
		wireNotes: synackICMPSpoofedNotes,
	}
}

// arpRequests returns when the ARP requests for target in file went out
// (ns since the epoch).
func arpRequests(ctx context.Context, file string, target netip.Addr) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tshark", "-n", "-r", file, "-Y", "arp.opcode == 1 && arp.dst.proto_ipv4 == "+target.String(),
		"-T", "fields", "-e", "frame.time_epoch").Output()
	if err != nil {
		return nil, fmt.Errorf("tshark %s: %w", file, err)
	}
	var at []int64
	for _, line := range strings.Fields(string(out)) {
		t, err := parseEpoch(line)
		if err != nil {
			return nil, fmt.Errorf("tshark %s: %q: %w", file, line, err)
		}
		at = append(at, t)
	}
	return at, nil
}

// synAcks are the server's SYN-ACK transmissions (its ISN).
func (in *incarnation) synAcks() []*frame {
	var tx []*frame
	for _, f := range in.frames {
		if in.synack != nil && in.role(f) == rs && f.has(fSYN|fACK) && f.seq == in.synack.seq {
			tx = append(tx, f)
		}
	}
	return tx
}

func checkSynackICMPSpoofed(w *wire) error {
	c, err := w.one()
	if err != nil {
		return err
	}
	in := c.fl.inc
	tx := in.synAcks()
	// The SYN-ACK went out twice (at 0 and 1 s) before the router gave
	// up at about 1.5 s: synack-unanswered, as for any SYN-ACK sent twice
	// and never acknowledged.
	c.kind(analyze.OpenAtEnd).initiator(analyze.NoRole).handshake(analyze.HandshakeSynSynAck).reset("", "").
		halfClose("", "").fins(rc, 0, 0).fins(rs, 0, 0).diags(analyze.CodeSynAckUnanswered).
		diagSide(analyze.CodeSynAckUnanswered, roleName[rs]).states(rc, "SYN_SENT").states(rs, "SYN_RECV", "CLOSED")
	if in.client.Addr() != spoofedAddr4 {
		c.failf("the client is %v, want the spoofed %v", in.client.Addr(), spoofedAddr4)
	}
	if len(tx) != 2 {
		return c.failf("the server sent its SYN-ACK %d times, want twice before the router gave up", len(tx)).err()
	}
	if g := time.Duration(tx[1].t - tx[0].t); g < 900*time.Millisecond || g > 1100*time.Millisecond {
		c.failf("the SYN-ACK came again %v after the first, want about 1 s", g)
	}
	// Each SYN-ACK drew one host unreachable from the router's address on
	// the server's link, after both went out: the router held them while
	// it resolved the address.
	c.icmp(fmt.Sprintf("server %s 3/1", routerS4), fmt.Sprintf("server %s 3/1", routerS4))
	for _, m := range in.icmps {
		if m.seq != tx[0].seq || m.flags != tx[0].flags || m.no < tx[1].no {
			c.failf("%v does not quote the SYN-ACK after both transmissions", m)
		}
		if d := time.Duration(m.t - tx[0].t); d < 3*synackARPRetrans-100*time.Millisecond || d > 3*synackARPRetrans+500*time.Millisecond {
			c.failf("%v came %v after the first SYN-ACK, want about %v (3 ARP requests %v apart)", m, d, 3*synackARPRetrans, synackARPRetrans)
		}
	}
	if len(in.icmps) == 0 || in.reqDropped != in.icmps[0] {
		return c.failf("the first ICMP error did not drop the server's request").err()
	}
	// The capture went on long enough to show that no SYN-ACK followed.
	last := max(tx[len(tx)-1].t, in.icmps[len(in.icmps)-1].t)
	need := max(synackSilence, 2*time.Duration(tx[1].t-tx[0].t))
	switch {
	case w.stopped == 0:
		c.failf("the capture does not record when it stopped")
	case time.Duration(w.stopped-last) < need:
		c.failf("the capture stopped %v after the last SYN-ACK or ICMP error, want %v or more", time.Duration(w.stopped-last), need)
	}
	return c.err()
}

// synackICMPSpoofedNotes says when the SYN-ACKs and the ICMP errors came,
// and how long the capture went on after them.
func synackICMPSpoofedNotes(w *wire) []string {
	in := w.truth.Flows[0].inc
	tx := in.synAcks()
	ms := func(t int64) string {
		return strconv.FormatInt(time.Duration(t-in.syn.t).Round(time.Millisecond).Milliseconds(), 10)
	}
	var sa, er []string
	for _, f := range tx {
		sa = append(sa, fmt.Sprintf("frame %d at +%s ms", f.no, ms(f.t)))
	}
	for _, m := range in.icmps {
		er = append(er, fmt.Sprintf("frame %d at +%s ms", m.no, ms(m.t)))
	}
	lastErr := in.icmps[len(in.icmps)-1]
	due := synAckRetryDue(tx)
	return []string{fmt.Sprintf("On the wire, from the spoofed SYN (frame %d): the server's SYN-ACK, %s; the router's "+
		"host unreachables, each quoting it (seq = the server's ISN), %s, %d ms after the first SYN-ACK. No segment "+
		"followed: the next SYN-ACK was due at about +%s ms (twice the last gap after the last), and the capture "+
		"stopped at +%s ms, %.2f s after the last error.",
		in.syn.no, strings.Join(sa, " and "), strings.Join(er, " and "),
		time.Duration(in.icmps[0].t-tx[0].t).Round(time.Millisecond).Milliseconds(),
		ms(due), ms(w.stopped), float64(w.stopped-lastErr.t)/1e9)}
}
