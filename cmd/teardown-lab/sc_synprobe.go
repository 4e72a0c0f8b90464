//go:build linux

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/teardown/teardown/analyze"
)

// probeWindow is the window of synProbe's SYNs, as nmap -sS gives its.
const probeWindow = 1024

// synProbe is a SYN scan of two ports: SYNs written on a raw socket, as
// nmap -sS writes them (window 1024, one option, MSS 1460). The listening
// port answers with a SYN-ACK, which the client's kernel, holding no
// socket for it, resets; the closed one with a RST.
func synProbe() *scenario {
	return &scenario{
		name: "syn-probe",
		summary: "a SYN scan of two ports from a raw socket (window 1024, MSS its one option, as nmap -sS): the " +
			"listening port's SYN-ACK meets the client kernel's bare [R], the closed port answers [R.]",
		desc: "The server listens on port 8080 and nothing listens on 8081. From the client's namespace the lab writes " +
			"two SYNs on a raw socket, as a SYN scanner (nmap -sS) does: window 1024, the MSS option (1460) and no " +
			"other — no SACK-permitted, no window scale, no timestamps, which every current operating system's " +
			"connect() sends. The listener answers the first with a SYN-ACK; the client's kernel has no socket for it " +
			"and its reply path answers with a bare [R] (seq = the SYN-ACK's ack), which removes the server's request. " +
			"The server's kernel answers the second with [R.]: nothing listens, yet no connect() failed. Default sysctls; " +
			"captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			before := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			port := uint16(32768 + rand.IntN(28232))
			for i, to := range []uint16{serverPort, serverPort + 1} {
				e.sendRaw(sideClient, rawSeg{
					src: netip.AddrPortFrom(e.topo.clientIP, port+uint16(i)), dst: netip.AddrPortFrom(e.topo.serverIP, to),
					seq: rand.Uint32(), flags: tcpSYN, mss: 1460, win: probeWindow,
				})
				e.sleep(50 * time.Millisecond)
			}
			e.quiet(500 * time.Millisecond)
			after := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			left := e.synRecv()
			ln.close()
			if e.failed() != nil {
				return
			}
			if len(left) != 0 {
				e.fail(fmt.Errorf("the server's request sockets after the client's RST: %v, want none", left))
			}
			// The client's kernel: one reply RST, no connection of its
			// own. The server: the request the RST ended (AttemptFails)
			// and the RST to the closed port.
			moves := e.tcpMoves(before, after, [2]map[string]int64{
				{"TcpActiveOpens": 0, "TcpOutRsts": 1},
				{"TcpPassiveOpens": 0, "TcpAttemptFails": 1, "TcpOutRsts": 1}})
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				"ss in the server's namespace listed no request socket once the client's RST had come.",
				fmt.Sprintf("nstat -az (absolute; the namespaces are new) over the scan: %s; every other Tcp and TcpExt "+
					"counter stayed.", moves))
		},
		check: func(w *wire) error {
			cs, err := w.flows(2)
			if err != nil {
				return err
			}
			open, closed := cs[0], cs[1]
			open.kind(analyze.ResetKind).handshake(analyze.HandshakeSynSynAck).reset("client", analyze.CauseNoSocket).
				states(rc, "SYN_SENT", "CLOSED").states(rs, "SYN_RECV", "CLOSED").diags(analyze.CodeSynProbe)
			closed.kind(analyze.Rejected).reset("server", analyze.CauseRefused).diags(analyze.CodeSynProbe)
			for _, c := range cs {
				switch syn := c.fl.inc.syn; {
				case syn == nil:
					c.failf("no SYN")
				case syn.sackPerm || syn.wscale >= 0 || syn.ts || syn.win != probeWindow:
					c.failf("the SYN %v is not the scanner's: SACK-permitted %v, window scale %d, timestamps %v, window %d",
						syn, syn.sackPerm, syn.wscale, syn.ts, syn.win)
				}
			}
			if r := open.fl.inc.rst; r == nil || r.flags != fRST || r.ipid != 0 {
				open.failf("the client's RST %v is not its kernel's reply [R] (IP ID 0)", r)
			}
			return errors.Join(open.err(), closed.err())
		},
	}
}
