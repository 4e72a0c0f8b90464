//go:build linux

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/teardown/teardown/analyze"
)

// conntrackFullFor is how long syn-dropped-conntrack-full keeps
// nf_conntrack_max at 1: past the client's first SYN retransmission (1 s)
// and short of its second (2 s: with tcp_syn_linear_timeouts, 4 by
// default, the first retransmissions come 1 s apart).
const conntrackFullFor = 1500 * time.Millisecond

// synDroppedConntrackFull: a router whose conntrack table is full drops
// the SYN of a new connection (it cannot track it) without a word; the
// client's retransmissions get through once there is room again.
func synDroppedConntrackFull() *scenario {
	host := map[string]string{"net.netfilter.nf_conntrack_max": "1"}
	return &scenario{
		name: "syn-dropped-conntrack-full",
		summary: "a router's conntrack table full (nf_conntrack_max=1, host-wide for 1.5 s, one connection tracked): " +
			"a new connection's SYN and its first retransmission are dropped, the second, 2 s in, is answered",
		desc: "A Linux router joins the two ends and tracks their connections (an iptables FORWARD rule that drops " +
			"conntrack INVALID segments loads conntrack in its namespace). A first connection exchanges 100 bytes " +
			"each way and stays open: one entry, ESTABLISHED and assured. Then net.netfilter.nf_conntrack_max (a " +
			"global sysctl: set in the host's namespace, then set back) is set to 1 for 1.5 s, and the client connects " +
			"again: the router can neither insert an entry for the new SYN nor evict the assured one (early_drop), " +
			"so it drops the SYN (\"nf_conntrack: table full, dropping packet\"), and the SYN's retransmission 1 s " +
			"later. Once the limit is back, the next retransmission, 2 s after the first SYN (tcp_syn_linear_timeouts " +
			"keeps the first ones 1 s apart), is tracked and answered; 100 " +
			"bytes go each way and both connections close, client first. The server never saw the dropped SYNs. " +
			"Captured at the client.",
		vantage:  vantageClient,
		framing:  frameEthernet,
		forward:  []string{"-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"},
		host:     host,
		synRetry: true,
		attempts: 2,
		run: func(e *env) {
			ln := e.listen()
			c1, s1 := exchange(e, ln, 100, 100)
			e.sleep(100 * time.Millisecond)
			tracked := e.conntrackEntries(sideRouter)
			ct0 := e.conntrackStats(sideRouter)
			syn0 := e.tcpCounters(sideServer)
			e.hostSysctls(host)
			start := time.Now()
			var c2 *sock
			var took time.Duration
			var ct1 map[string]int64
			together(func() {
				c2 = e.dial(0)
				took = time.Since(start)
			}, func() {
				e.sleep(time.Until(start.Add(conntrackFullFor)))
				ct1 = e.conntrackStats(sideRouter)
				e.restoreHost()
			})
			syn1 := e.tcpCounters(sideServer)
			s2 := ln.accept()
			c2.write(100)
			s2.read(100)
			s2.write(100)
			c2.read(100)
			for _, p := range [][2]*sock{{c1, s1}, {c2, s2}} {
				p[0].close()
				passiveClose(e, p[1], 50*time.Millisecond)
			}
			if e.failed() != nil {
				return
			}
			drops := ct1["drop"] - ct0["drop"]
			switch {
			case len(tracked) != 1:
				e.fail(fmt.Errorf("the router tracked %d connections before the limit, want 1: %q", len(tracked), tracked))
			case drops != 2:
				e.fail(fmt.Errorf("the router's conntrack dropped %d packets while full, want 2 (the SYN and its first retransmission)", drops))
			case took < 1900*time.Millisecond || took > 2500*time.Millisecond:
				e.fail(fmt.Errorf("%w: connect() took %v, want about 2 s (the SYN's second retransmission)", errRetry, took))
			case syn1["TcpPassiveOpens"]-syn0["TcpPassiveOpens"] != 1:
				e.fail(fmt.Errorf("the server's passive opens moved by %d, want 1", syn1["TcpPassiveOpens"]-syn0["TcpPassiveOpens"]))
			}
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("Before the limit the router's /proc/net/nf_conntrack held one entry: %s.", tracked[0]),
				fmt.Sprintf("The router's /proc/net/stat/nf_conntrack, summed over CPUs: drop %d -> %d, early_drop %d -> %d "+
					"while the limit was 1; connect() returned after %.0f ms.", ct0["drop"], ct1["drop"], ct0["early_drop"],
					ct1["early_drop"], float64(took)/1e6))
		},
		check: func(w *wire) error {
			cs, err := w.flows(2)
			if err != nil {
				return err
			}
			first, second := cs[0], cs[1]
			first.handshake(analyze.HandshakeComplete).initiator(analyze.Client).reset("", "").diags()
			second.handshake(analyze.HandshakeComplete).initiator(analyze.Client).reset("", "").
				diags(analyze.CodeSynRetransmitted)
			var syns []*frame
			for _, f := range second.fl.inc.frames {
				if f.has(fSYN) && !f.has(fACK) {
					syns = append(syns, f)
				}
			}
			if len(syns) != 3 {
				second.failf("the client sent its SYN %d times, want 3", len(syns))
			}
			return errors.Join(first.err(), second.err())
		},
	}
}
