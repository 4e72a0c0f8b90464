//go:build linux

package main

import (
	"fmt"
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

func captureMissingPackets() *scenario {
	return &scenario{
		name:    "capture-missing-packets",
		summary: "client-active-close with the server's FIN removed from the capture: the client ACKs a FIN never seen",
		desc: "As client-active-close: the client sends a 100-byte request, reads the 300-byte response and close()s; " +
			"the server's delayed ACK of the FIN goes out alone and it close()s 150 ms later. After the capture the " +
			"server's FIN frame was removed with editcap to model capture loss, so the client's last ACK acknowledges " +
			"a FIN the capture never saw. Default sysctls; captured at the client.",
		vantage:  vantageClient,
		framing:  frameEthernet,
		attempts: 3,
		notes: []string{"The client's last ACK acknowledges one past all of the server's data and the server sent " +
			"nothing beyond it: only the server's FIN takes that sequence number (data would have drawn a RST from the " +
			"closed client), so the FIN is proven though not captured: fin_frames is empty, and the server's LAST_ACK " +
			"and CLOSED and the client's TIME_WAIT are stamped with that ACK, the first frame that shows the FIN."},
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 300)
			c.close()
			passiveClose(e, s, 150*time.Millisecond)
		},
		cut: func(frames []*frame) (int, error) {
			var fins []*frame
			for _, f := range frames {
				if f.src.Port() == serverPort && f.has(fFIN) {
					fins = append(fins, f)
				}
			}
			if len(fins) != 1 || fins[0].len != 0 {
				return 0, fmt.Errorf("%d server FINs (want one without data)", len(fins))
			}
			return fins[0].no, nil
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			c.kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeComplete).fins(rc, 1, 1).
				fins(rs, 0, 0).reset("", "").diags(analyze.CodeCaptureMissingPackets).halfClose("", "").
				states(rc, activeStates...).states(rs, passiveStates...)
			in := c.fl.inc
			if !in.missing[rc] || in.finProven[rs] == nil {
				c.failf("the client's ACKs do not prove the server's missing FIN")
			}
			return c.err()
		},
	}
}
