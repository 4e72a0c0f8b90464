package main

import (
	"net/netip"
	"time"

	"github.com/teardown/teardown/analyze"
)

// Scenarios whose anomaly is made outside the two kernels: a RST written
// from a raw socket, and a frame taken out of the capture.

func twAssassinated() *scenario {
	return &scenario{
		name:    "tw-assassinated",
		summary: "server TIME_WAIT killed by an in-window RST (tcp_rfc1337=0); the next FIN to the old 4-tuple gets [R]",
		desc: "The client sends a 120-byte request, the server answers 2000 bytes and close()s first; the client reads to " +
			"EOF and close()s 100 ms later, so the server holds TIME_WAIT and the client's socket is gone. The listener is " +
			"closed. One second later a bare [R] with seq = the server's rcv_nxt (the client's FIN + 1) is written from a " +
			"raw socket in the client's namespace, with the client's address and port: with the default " +
			"net.ipv4.tcp_rfc1337=0 the in-window RST kills the server's TIME_WAIT (ss shows it gone). One second later a " +
			"copy of the client's FIN (same seq and ack) is written the same way; the server has no socket for the " +
			"4-tuple any more and its kernel answers with a reply [R]. Default sysctls; captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		notes: []string{"The client's RST and its second FIN were written from a raw socket in the client's namespace " +
			"(no IP options, no TCP options), not by the client's TCP: the client's socket had already closed. The " +
			"server's reactions are its kernel's."},
		run: func(e *env) {
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			port := c.localPort()
			sn := e.sniff(sideClient)
			defer sn.close()
			c.write(120)
			s.read(120)
			s.write(2000)
			s.close()
			c.readEOF()
			finSeq, finAck := sn.await(serverPort, tcpFIN, 5*time.Second)
			e.sleep(100 * time.Millisecond)
			c.close()
			e.has(sideServer, "TIME-WAIT", 5*time.Second)
			e.gone(sideClient, "LAST-ACK", 5*time.Second)
			ln.close()
			cl := netip.AddrPortFrom(e.topo.clientIP, port)
			sv := netip.AddrPortFrom(e.topo.serverIP, serverPort)
			e.sleep(time.Second)
			// The client's FIN was at finAck: the TIME_WAIT's rcv_nxt is one past it.
			e.sendRaw(sideClient, rawSeg{src: cl, dst: sv, seq: finAck + 1, flags: tcpRST})
			e.gone(sideServer, "TIME-WAIT", 2*time.Second)
			e.sleep(time.Second)
			e.sendRaw(sideClient, rawSeg{src: cl, dst: sv, seq: finAck, ack: finSeq + 1, flags: tcpFIN | tcpACK})
			e.sleep(200 * time.Millisecond)
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			// The FIN copy reads on the wire as a retransmission of the
			// client's FIN.
			c.initiator(analyze.Server).fins(rs, 1, 1).fins(rc, 2, 2).reset("client", analyze.CauseUnknown).
				diags(analyze.CodeFinRetransmitted, analyze.CodeTimeWaitAssassinated)
			in := c.fl.inc
			var rsts []*frame
			for _, f := range in.frames {
				if f.has(fRST) {
					rsts = append(rsts, f)
				}
			}
			if len(rsts) != 2 {
				c.failf("%d RSTs, want 2 (the written one and the server's reply)", len(rsts))
				return c.err()
			}
			fin := in.fins[rc][0]
			if r := rsts[0]; in.role(r) != rc || r.seq != fin.seq+1 || r.has(fACK) {
				c.failf("the first RST is not the client's in-window [R] (%v, client FIN seq %d)", r, fin.seq)
			}
			if r := rsts[1]; in.role(r) != rs || r.has(fACK) || r.ipid != 0 || r.ts || r.seq != fin.ack {
				c.failf("the second RST is not the server's reply [R] to the FIN copy (%v)", r)
			}
			return c.err()
		},
	}
}
