//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
)

// Scenarios of a D-SACK (RFC 2883): a receiver that gets a segment it
// already had says so in its ACK's first SACK block.

// ackLostRule is the server's OUTPUT rule of fin-retransmitted-ack-lost:
// it drops the first pure ACK the server sends once it is in place, and
// no other (the statistic match's nth mode counts only the packets that
// reach it, here the pure ACKs, and matches the first of every 1000000).
var ackLostRule = []string{"OUTPUT", "-p", "tcp", "--sport", strconv.Itoa(serverPort), "--tcp-flags", "ALL", "ACK",
	"-m", "statistic", "--mode", "nth", "--every", "1000000", "--packet", "0", "-j", "DROP"}

// ackLostCounters are the TcpExt counters fin-retransmitted-ack-lost
// reads over the close, per side.
var ackLostCounters = [2][]string{
	rc: {"TCPDSACKRecv", "TCPLossProbes", "TCPLossProbeRecovery", "TCPDSACKRecvSegs"},
	rs: {"TCPDSACKOldSent", "TCPDSACKOfoSent"},
}

// finAckLost: the server's ACK of the client's FIN is lost on its way
// back; the client's next copy of the FIN reaches a server that already
// had it, whose ACK carries a D-SACK of the FIN.
func finAckLost() *scenario {
	return &scenario{
		name:    "fin-retransmitted-ack-lost",
		summary: "the server's ACK of the client's FIN is lost: the FIN goes out again, and the server's ACK of the copy carries a D-SACK of the FIN",
		desc: "The client close()s after a short exchange; the server reads EOF at once but close()s only once the client " +
			"has left FIN_WAIT1 (and 100 ms more), a four-way close. A rule in the server's OUTPUT chain (iptables' statistic " +
			"match, nth) drops the first pure ACK the server sends after it was installed: its ACK of the client's FIN, which " +
			"no capture point sees. The client sends its FIN again (a tail-loss probe); the server, which had the FIN, answers " +
			"the copy with an ACK whose first SACK block is a D-SACK (RFC 2883) covering the FIN. Default sysctls (SACK and " +
			"net.ipv4.tcp_dsack=1); captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			// Any delayed ACK of the exchange goes out before the rule.
			e.sleep(200 * time.Millisecond)
			before := [2]map[string]int64{e.tcpExt(sideClient, ackLostCounters[rc]...), e.tcpExt(sideServer, ackLostCounters[rs]...)}
			e.rule(sideServer, ackLostRule)
			c.close()
			s.readEOF()
			e.gone(sideClient, "FIN-WAIT-1", 5*time.Second)
			e.sleep(100 * time.Millisecond)
			s.close()
			e.quiet(5 * time.Second)
			after := [2]map[string]int64{e.tcpExt(sideClient, ackLostCounters[rc]...), e.tcpExt(sideServer, ackLostCounters[rs]...)}
			dropped := e.dropCount(sideServer, "OUTPUT")
			if e.failed() != nil {
				return
			}
			var d [2]map[string]int64
			for r := range 2 {
				d[r] = map[string]int64{}
				for _, k := range ackLostCounters[r] {
					d[r][k] = after[r][k] - before[r][k]
				}
			}
			fmt.Fprintf(os.Stderr, "teardown-lab: the server's OUTPUT rule dropped %d packets; TcpExt client %v, server %v\n", dropped, d[rc], d[rs])
			if dropped != 1 || d[rc]["TCPDSACKRecv"] != 1 || d[rc]["TCPLossProbes"] != 1 || d[rs]["TCPDSACKOldSent"] != 1 {
				e.fail(fmt.Errorf("the server's OUTPUT rule dropped %d packets, the client's TcpExt counters moved by %v "+
					"and the server's by %v over the close; want one dropped, one tail-loss probe and one D-SACK received "+
					"at the client, and one D-SACK sent for old data at the server", dropped, d[rc], d[rs]))
				return
			}
			e.notes = append(e.notes, fmt.Sprintf("Counted over the close: the server's OUTPUT rule dropped 1 packet "+
				"(its ACK of the client's first FIN, which the capture does not hold); the server's kernel sent one "+
				"D-SACK for a segment it already had (TcpExt TCPDSACKOldSent +1; TCPDSACKOfoSent +%d), and the client's "+
				"kernel received one (TCPDSACKRecv +1; TCPDSACKRecvSegs +%d). The client counted one tail-loss probe "+
				"(TCPLossProbes +1) and %d recoveries by one (TCPLossProbeRecovery): a D-SACK of the probe tells the "+
				"sender that the original and the probe both arrived, so nothing was lost (tcp_process_tlp_ack).",
				d[rs]["TCPDSACKOfoSent"], d[rc]["TCPDSACKRecvSegs"], d[rc]["TCPLossProbeRecovery"]))
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			if c.side(rc).FinDSACK == nil {
				c.failf("no D-SACK of the client's FIN from the server")
			}
			if c.side(rs).FinDSACK != nil {
				c.failf("a D-SACK of the server's FIN from the client (frame %d)", *c.side(rs).FinDSACK)
			}
			return c.kind(analyze.FourWay).initiator(analyze.Client).fins(rc, 2, 4).fins(rs, 1, 1).reset("", "").
				diags(analyze.CodeFinRetransmitted).states(rc, activeStates...).states(rs, passiveStates...)
		}),
		wireNotes: finAckLostNotes,
	}
}

// dropCount reads how many packets the one DROP rule of chain in the
// namespace of side s matched (iptables -nvxL); -1 after a failure.
func (e *env) dropCount(s side, chain string) int64 {
	if e.failed() != nil {
		return -1
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), e.iptables(), "-w", "-nvxL", chain)
	if err != nil {
		e.fail(err)
		return -1
	}
	var n []int64
	for _, line := range strings.Split(out, "\n") {
		// pkts bytes target prot opt in out source destination ...
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "DROP" {
			continue
		}
		x, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			e.fail(fmt.Errorf("%s: %q: %w", e.iptables(), line, err))
			return -1
		}
		n = append(n, x)
	}
	if len(n) != 1 {
		e.fail(fmt.Errorf("%d DROP rules in the %s's %s chain, want 1: %s", len(n), s, chain, out))
		return -1
	}
	return n[0]
}

// finAckLostNotes describes the client's FIN copies and the server's
// D-SACK as the wire shows them.
func finAckLostNotes(w *wire) []string {
	fl := w.truth.Flows[0]
	in := fl.inc
	fin := in.fins[rc][0]
	finSeq := fin.seq + fin.len
	d := frameNo(w.frames, int(*fl.Sides.Client.FinDSACK))
	var nos, gaps []string
	for _, f := range in.fins[rc] {
		nos = append(nos, strconv.Itoa(f.no))
	}
	for _, g := range finGaps(in.fins[rc]) {
		gaps = append(gaps, strconv.FormatInt(g.Milliseconds(), 10))
	}
	return []string{fmt.Sprintf("The client sent its FIN %d times (frames %s; gaps in ms: %s). The server's ACK of the "+
		"first copy was dropped before the capture point; frame %d, %.3f s after the first copy, is the server's first "+
		"segment in the capture that acknowledges the FIN (ack %d), and its first SACK block, %d-%d, is a D-SACK of the "+
		"FIN's sequence number, %d: the copy before it was one the server already had. So the truth stamps the "+
		"server's CLOSE_WAIT at the copy before that one, frame %d (its rule: the last copy before the first "+
		"acknowledgement, or the one before it when that acknowledgement is a D-SACK of the FIN): the first copy, "+
		"frame %d, where the server's kernel entered CLOSE_WAIT.",
		len(in.fins[rc]), strings.Join(nos, ", "), strings.Join(gaps, ", "), d.no, float64(d.t-fin.t)/1e9,
		d.ack, d.dsackLE, d.dsackRE, finSeq, in.finArrive[rc].no, fin.no)}
}
