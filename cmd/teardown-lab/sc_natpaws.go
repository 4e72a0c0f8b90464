//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
	"golang.org/x/sys/unix"
)

// A source NAT that maps two clients to one address and port, in front of
// a server that holds TIME_WAIT for it.

// The addresses and ports of tw-syn-refused-paws-nat: the router maps
// both clients to natPublic; client A connects from natPortA, client B
// from a port of natPortB.. natPortB+natTries-1.
var natPublic = netip.AddrPortFrom(routerS4, 40000)

const (
	natPortA = 41000
	natPortB = 42000
	natTries = 64
	// pawsMargin is how much older than client A's last TSval (ms) the
	// TSval client B's socket would send must be for the lab to try its
	// port: B connects within a second of the probe.
	pawsMargin = 60_000
	// natWait is how long client B's connect() may take before the lab
	// takes it that the router dropped its SYN: on the PAWS path it
	// completes in a few ms, and its first SYN retransmission is due 1 s
	// after the SYN.
	natWait = 500 * time.Millisecond
)

// twSynRefusedPAWSNAT is tw-syn-refused-no-timestamps' refusal caused by
// PAWS: two clients behind a source NAT that maps them to one address and
// port.
func twSynRefusedPAWSNAT() *scenario {
	return &scenario{
		name: "tw-syn-refused-paws-nat",
		summary: "two clients behind a source NAT to one address and port: the server's TIME_WAIT of A's connection " +
			"refuses B's SYN by PAWS (older TSval), ACK, RST, SYN retry, SYN-ACK with a fresh ISN",
		desc: fmt.Sprintf("Two clients, A (%v) and B (%v), sit behind a Linux router whose nat table's POSTROUTING "+
			"SNATs every TCP segment toward the server to %v (--to-source with a one-port range). A connects "+
			"from port %d and sends a 100-byte request; the server answers 100 bytes and close()s first, A reads EOF "+
			"and close()s 100 ms later, so the server holds TIME_WAIT for %v. Then B connects from a port of its own, "+
			"which the NAT maps to the same %v: this kernel's nf_nat, with no other port to choose, evicts the "+
			"conntrack entry in TIME_WAIT when the new SYN's sequence number is past the old connection's "+
			"(nf_nat_used_tuple_harder) and drops the SYN otherwise. TS offsets are random per 4-tuple, and B's port "+
			"is one whose TSval is older than A's last: the server's TIME_WAIT rejects the SYN by PAWS and answers "+
			"with its old ACK, B resets it (tcp_rfc1337=0, the default, lets the RST kill the TIME_WAIT) and its SYN "+
			"retry is answered by the listener with a fresh ISN. B then exchanges 100 bytes each way and the server "+
			"closes first again. Default sysctls; captured at the server.",
			clientAddr4, clientBAddr4, natPublic.Addr(), natPortA, natPublic, natPublic),
		vantage:  vantageServer,
		framing:  frameEthernet,
		router:   true,
		clientB:  true,
		synRetry: true,
		pre: func(e *env) {
			e.rule(sideRouter, []string{"POSTROUTING", "-t", "nat", "-o", "eth1", "-p", "tcp", "-j", "SNAT",
				"--to-source", natPublic.String()})
		},
		run:       pawsNATRun,
		check:     checkPAWSNAT,
		wireNotes: pawsNATNotes,
	}
}

// pawsNATRun drives tw-syn-refused-paws-nat: A's connection, then B's
// from the first port whose TSval is older than A's last and whose SYN
// the NAT lets through, and checks the server's and the router's
// counters.
func pawsNATRun(e *env) {
	srv := netip.AddrPortFrom(serverAddr4, serverPort)
	ln := e.listen()
	a := e.dialFrom(sideClient, netip.AddrPortFrom(clientAddr4, natPortA), srv)
	s := ln.accept()
	together(func() { a.write(100) }, func() { s.read(100) })
	s.write(100)
	s.close()
	a.read(100)
	a.readEOF()
	e.sleep(100 * time.Millisecond)
	tsA := a.tsval()
	a.close()
	e.has(sideServer, "TIME-WAIT", 2*time.Second)
	e.quiet(2 * time.Second)
	e.sleep(50 * time.Millisecond) // the server's last ACK through the router's conntrack
	paws0 := e.tcpExt(sideServer, "PAWSTimewait", "TW", "TCPACKSkippedTimeWait")
	rst0 := e.counters(sideClientB, "/proc/net/snmp", "Tcp", "OutRsts")
	ct0 := e.conntrackStats(sideRouter)
	var newer, refused []int
	var b *sock
	var port int
	for p := natPortB; p < natPortB+natTries && b == nil && e.failed() == nil; p++ {
		from := netip.AddrPortFrom(clientBAddr4, uint16(p))
		if d := int32(tsA - e.probeTS(sideClientB, from, srv)); d < pawsMargin {
			newer = append(newer, p)
			continue
		}
		if k := e.tryDial(sideClientB, from, srv, natWait); k != nil {
			b, port = k, p
			continue
		}
		refused = append(refused, p)
	}
	if b == nil {
		e.fail(fmt.Errorf("no port of %d..%d gave client B a TSval older than A's that the NAT let through "+
			"(%d newer, %d refused)", natPortB, natPortB+natTries-1, len(newer), len(refused)))
		return
	}
	s = ln.accept()
	together(func() { b.write(100) }, func() { s.read(100) })
	s.write(100)
	s.close()
	b.read(100)
	b.readEOF()
	e.sleep(100 * time.Millisecond)
	b.close()
	e.quiet(2 * time.Second)
	paws1 := e.tcpExt(sideServer, "PAWSTimewait", "TW", "TCPACKSkippedTimeWait")
	rst1 := e.counters(sideClientB, "/proc/net/snmp", "Tcp", "OutRsts")
	ct1 := e.conntrackStats(sideRouter)
	if e.failed() != nil {
		return
	}
	if d := paws1["PAWSTimewait"] - paws0["PAWSTimewait"]; d != 1 {
		e.fail(fmt.Errorf("the server's TcpExtPAWSTimewait went up by %d, want 1", d))
		return
	}
	ports := func(ps []int) string {
		if len(ps) == 0 {
			return "none"
		}
		var s []string
		for _, p := range ps {
			s = append(s, strconv.Itoa(p))
		}
		return strings.Join(s, ", ")
	}
	e.notes = append(e.notes,
		fmt.Sprintf("Client B's port was picked from %d on: for each, the lab read the TSval B's socket would send "+
			"(getsockopt TCP_TIMESTAMP after a non-blocking connect() whose SYN an OUTPUT rule in B's namespace "+
			"dropped) and skipped the port unless it was at least %d s older than A's just before A's FIN (%d): "+
			"skipped %s. From the others B connected until the NAT let the SYN through; it dropped the SYN (no "+
			"connect() within %v, nothing at the server) from %s, and the router's conntrack counted insert_failed "+
			"%d and drop %d meanwhile. Port %d went through, translated to %v.",
			natPortB, pawsMargin/1000, tsA, ports(newer), natWait, ports(refused),
			ct1["insert_failed"]-ct0["insert_failed"], ct1["drop"]-ct0["drop"], port, natPublic),
		fmt.Sprintf("Counters from B's first SYN to the end: the server's TcpExtPAWSTimewait %d -> %d, TcpExtTW %d -> %d "+
			"(it counts each TIME_WAIT as it begins: A's connection's before, B's after; the RST's kill counts "+
			"nowhere), TcpExtTCPACKSkippedTimeWait %d -> %d; client B's Tcp OutRsts %d -> %d.",
			paws0["PAWSTimewait"], paws1["PAWSTimewait"], paws0["TW"], paws1["TW"],
			paws0["TCPACKSkippedTimeWait"], paws1["TCPACKSkippedTimeWait"], rst0["OutRsts"], rst1["OutRsts"]))
}

// checkPAWSNAT checks tw-syn-refused-paws-nat's wire: a refused reuse of
// the NAT's 4-tuple, whose new SYN carries an older TSval than the old
// connection's last and a sequence number past its FIN, so that PAWS
// alone refused it; then the old ACK, the client's RST, the same SYN
// again and a SYN-ACK with a fresh ISN.
func checkPAWSNAT(w *wire) error {
	if err := reuseCheck(analyze.VerdictRefused, "server", analyze.CodeTimeWaitSynRefused)(w); err != nil {
		return err
	}
	old, in := w.truth.Flows[0].inc, w.truth.Flows[1].inc
	if old.client != natPublic {
		return fmt.Errorf("the client is %v on the wire, want the NAT's %v", old.client, natPublic)
	}
	last := pawsLast(old)
	syn := in.syn
	switch {
	case last == nil || !syn.ts:
		return errors.New("no timestamps on the old connection or on the new SYN")
	case int32(syn.tsval-last.tsval) >= 0:
		return fmt.Errorf("the new SYN's TSval %d is not older than the old connection's last, %d (frame %d)", syn.tsval, last.tsval, last.no)
	case !seqGT(syn.seq, old.finEnd[rc]):
		return fmt.Errorf("the new SYN's ISN %d is not past the old client's FIN end %d: not PAWS alone", syn.seq, old.finEnd[rc])
	case len(in.frames) < 5:
		return fmt.Errorf("%d frames in the new incarnation", len(in.frames))
	}
	ack, rst, again, synack := in.frames[1], in.frames[2], in.frames[3], in.frames[4]
	switch {
	case ack.src != in.server || ack.flags != fACK || ack.ack != old.finEnd[rc] || ack.ipid != 0 || ack.tsecr != last.tsval:
		return fmt.Errorf("%v (IP ID %d, TSecr %d) is not the TIME_WAIT's old ACK", ack, ack.ipid, ack.tsecr)
	case rst.src != in.client || rst.flags != fRST || rst.seq != ack.ack:
		return fmt.Errorf("%v is not the client's reply RST to the old ACK", rst)
	case again.src != in.client || again.flags != fSYN || again.seq != syn.seq:
		return fmt.Errorf("%v is not the client's SYN again", again)
	case synack != in.synack || synack.seq == old.finEnd[rs]-1+65538:
		return fmt.Errorf("%v is not a SYN-ACK with a fresh ISN", synack)
	}
	return nil
}

// pawsLast is the client's last segment of the old connection: its
// TSval is the TIME_WAIT's ts_recent.
func pawsLast(old *incarnation) *frame {
	var last *frame
	for _, f := range old.frames {
		if f.src == old.client && f.ts {
			last = f
		}
	}
	return last
}

// pawsNATNotes describes the refusal on the wire.
func pawsNATNotes(w *wire) []string {
	old, in := w.truth.Flows[0].inc, w.truth.Flows[1].inc
	last, syn := pawsLast(old), in.syn
	ack, rst, again, synack := in.frames[1], in.frames[2], in.frames[3], in.frames[4]
	return []string{fmt.Sprintf("B's SYN (frame %d) carries TSval %d, %d ms older than A's last, %d (frame %d), and "+
		"ISN %d, past A's FIN end %d: without PAWS the TIME_WAIT would have taken it. The TIME_WAIT answered with "+
		"its old ACK (frame %d: IP ID 0, ack %d, TSecr %d), B reset it (frame %d, seq %d), sent its SYN again %.1f "+
		"ms later (frame %d), and the listener answered with ISN %d (frame %d), not the old FIN's seq + 65538 (%d).",
		syn.no, syn.tsval, int32(last.tsval-syn.tsval), last.tsval, last.no, syn.seq, old.finEnd[rc],
		ack.no, ack.ack, ack.tsecr, rst.no, rst.seq, float64(again.t-rst.t)/1e6, again.no,
		synack.seq, synack.no, old.finEnd[rs]-1+65538)}
}

// tsval is the TSval the socket would send now (TCP_TIMESTAMP: the
// clock plus the socket's TS offset).
func (s *sock) tsval() uint32 {
	var v int
	s.do("TCP_TIMESTAMP", func() error {
		var err error
		v, err = unix.GetsockoptInt(s.fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP)
		return err
	})
	return uint32(v)
}

// probeTS reads the TSval a socket of side s bound to from would send to
// to, without sending anything: an OUTPUT rule drops its SYN, and the
// socket is closed in SYN_SENT, which sends nothing either.
func (e *env) probeTS(s side, from, to netip.AddrPort) uint32 {
	rule := []string{"OUTPUT", "-p", "tcp", "-s", from.Addr().String(), "--sport", strconv.Itoa(int(from.Port())), "-j", "DROP"}
	e.rule(s, rule)
	k := e.newSock(s)
	k.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	k.do("bind", func() error { return unix.Bind(k.fd, sockaddr(from)) })
	k.do("O_NONBLOCK", func() error { return unix.SetNonblock(k.fd, true) })
	k.do("connect", func() error {
		err := unix.Connect(k.fd, sockaddr(to))
		if errors.Is(err, unix.EINPROGRESS) || errors.Is(err, unix.EALREADY) {
			return nil
		}
		return fmt.Errorf("connect with the SYN dropped: %v, want it in progress", err)
	})
	ts := k.tsval()
	k.close()
	e.unrule(s, rule)
	return ts
}

// tryDial connects a new socket of side s, bound to from, to to, and
// returns it once connected, or closes it (in SYN_SENT: silently) and
// returns nil when connect() has not completed within limit.
func (e *env) tryDial(s side, from, to netip.AddrPort, limit time.Duration) *sock {
	k := e.newSock(s)
	k.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	k.do("bind", func() error { return unix.Bind(k.fd, sockaddr(from)) })
	k.do("O_NONBLOCK", func() error { return unix.SetNonblock(k.fd, true) })
	k.do("connect", func() error {
		err := unix.Connect(k.fd, sockaddr(to))
		if err == nil || errors.Is(err, unix.EINPROGRESS) || errors.Is(err, unix.EALREADY) {
			return nil
		}
		return err
	})
	done := false
	k.do("poll", func() error {
		deadline := time.Now().Add(limit)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				return nil
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(k.fd), Events: unix.POLLOUT}}, int(left/time.Millisecond)+1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || n == 0 {
				return err
			}
			soerr, err := unix.GetsockoptInt(k.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && soerr != 0 {
				err = fmt.Errorf("connect: %w", unix.Errno(soerr))
			}
			done = err == nil
			return err
		}
	})
	if !done {
		k.close()
		return nil
	}
	k.do("O_NONBLOCK", func() error { return unix.SetNonblock(k.fd, false) })
	return k
}

// conntrackStats sums the router's conntrack statistics over its CPUs
// (/proc/net/stat/nf_conntrack of side s's namespace, hexadecimal), by
// column name ("insert_failed", "drop").
func (e *env) conntrackStats(s side) map[string]int64 {
	if e.failed() != nil {
		return nil
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "cat", "/proc/net/stat/nf_conntrack")
	if err != nil {
		e.fail(err)
		return nil
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	names := strings.Fields(lines[0])
	sum := map[string]int64{}
	for _, line := range lines[1:] {
		for i, v := range strings.Fields(line) {
			x, err := strconv.ParseInt(v, 16, 64)
			if err != nil || i >= len(names) {
				e.fail(fmt.Errorf("/proc/net/stat/nf_conntrack: %q", line))
				return nil
			}
			sum[names[i]] += x
		}
	}
	return sum
}
