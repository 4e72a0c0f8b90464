//go:build linux

package main

import (
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// tfoDial connects a new client socket to the server with TCP Fast Open:
// sendto(MSG_FASTOPEN) with n bytes, which go in the SYN once the client
// holds a cookie for the server (the first such call asks for one).
func (e *env) tfoDial(n int) *sock {
	s := e.newSock(sideClient)
	s.do("sendto", func() error {
		return unix.Sendto(s.fd, payload[:n], unix.MSG_FASTOPEN, sockaddr(netip.AddrPortFrom(e.topo.serverIP, serverPort)))
	})
	return s
}

func tcpFastOpen() *scenario {
	return &scenario{
		name: "tcp-fast-open",
		summary: "TCP Fast Open (tcp_fastopen=3 at the server): a first connection gets a cookie, the second carries its " +
			"100-byte request in the SYN, which the SYN-ACK acknowledges; both close client first",
		desc: "net.ipv4.tcp_fastopen=3 at the server, whose listener sets TCP_FASTOPEN (queue 16); the client keeps the " +
			"default 1 (client side on). The client sends a 100-byte request with sendto(MSG_FASTOPEN) on a new socket: " +
			"with no cookie yet, its SYN asks for one (an empty Fast Open option) and the data follows the handshake; the " +
			"server answers 100 bytes and the client closes first. The second connection's sendto(MSG_FASTOPEN) puts the " +
			"cookie and the 100 bytes in the SYN; the SYN-ACK acknowledges them (ack = ISN + 101), the server accept()s " +
			"a connection whose request is already there, answers 100 bytes, and the client closes first again. " +
			"Captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		sysctls: sysctls(nil, map[string]string{"net.ipv4.tcp_fastopen": "3"}),
		run: func(e *env) {
			ln := e.listen(func(s *sock) { s.setInt(unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 16) })
			before := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			for range 2 {
				c := e.tfoDial(100)
				s := ln.accept()
				s.read(100)
				s.write(100)
				c.read(100)
				c.close()
				passiveClose(e, s, 50*time.Millisecond)
			}
			e.quiet(time.Second)
			after := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			// The client's second connection sent its data in the SYN
			// (FastOpenActive); the server got the first SYN's cookie
			// request (CookieReqd) and took the second SYN's data
			// (FastOpenPassive).
			moves := e.tcpMoves(before, after, [2]map[string]int64{
				{"TcpActiveOpens": 2, "TcpExtTCPFastOpenActive": 1},
				{"TcpPassiveOpens": 2, "TcpExtTCPFastOpenPassive": 1, "TcpExtTCPFastOpenCookieReqd": 1}})
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes, "nstat -az (absolute; the namespaces are new) over both connections: "+moves+
				"; every other Tcp and TcpExt counter stayed.")
		},
		check: func(w *wire) error {
			cs, err := w.flows(2)
			if err != nil {
				return err
			}
			var errs []error
			for _, c := range cs {
				c.handshake(analyze.HandshakeComplete).initiator(analyze.Client).kind(analyze.FourWay).reset("", "").diags().
					states(rc, activeStates...).states(rs, passiveStates...)
				errs = append(errs, c.err())
			}
			syn := cs[1].fl.inc.syn
			if syn == nil || syn.len != 100 {
				errs = append(errs, cs[1].failf("the second connection's SYN %v carries no 100 bytes", syn).err())
			}
			return errors.Join(errs...)
		},
	}
}
