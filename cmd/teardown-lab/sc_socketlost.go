//go:build linux

package main

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// Scenarios of a side whose kernel lost the socket of a connection it
// never closed: a restart (the socket destroyed without a segment), a
// silent retransmission timeout (tcp_retries2), and a service NAT whose
// conntrack entry expired and whose next entry leads to another backend.
// In each the peer's next segment meets no socket, and the kernel's
// reply path answers it with a bare [R] (seq = the segment's ack, IP ID
// 0 over IPv4, no timestamps).

// lostCounters are the counters the socket-lost scenarios read at each
// end (nstat's absolute values: the namespaces are new).
var lostCounters = []string{"TcpOutRsts", "TcpEstabResets", "TcpRetransSegs", "TcpExtTCPTimeouts",
	"TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnData", "TcpExtTCPAbortOnTimeout", "TcpExtTCPAbortOnLinger",
	"TcpExtTCPAbortFailed", "TcpExtTCPLossProbes"}

// lostCount is a snapshot of lostCounters at both ends (rc, rs).
type lostCount [2]map[string]int64

func (e *env) lostCount() lostCount {
	return lostCount{e.nstat(sideClient, lostCounters...), e.nstat(sideServer, lostCounters...)}
}

// lostMoves checks how far each counter of lostCounters moved at each
// end from a to b against want (a counter want leaves out must stay),
// and spells the moves as the notes do ("the client's Tcp EstabResets
// 0 -> 1").
func (e *env) lostMoves(a, b lostCount, want [2]map[string]int64) string {
	if e.failed() != nil {
		return ""
	}
	var moved, still []string
	for r := range 2 {
		for _, k := range lostCounters {
			d := b[r][k] - a[r][k]
			if d != want[r][k] {
				e.fail(fmt.Errorf("the %s's %s moved by %d, want %d", roleName[r], k, d, want[r][k]))
			}
			if d != 0 {
				moved = append(moved, fmt.Sprintf("the %s's %s %d -> %d", roleName[r], counterName(k), a[r][k], b[r][k]))
			}
		}
	}
	for _, k := range lostCounters {
		if b[rc][k] == a[rc][k] && b[rs][k] == a[rs][k] {
			still = append(still, counterName(k))
		}
	}
	fmt.Fprintf(os.Stderr, "teardown-lab: counters moved: %s\n", strings.Join(moved, ", "))
	return strings.Join(moved, ", ") + "; at both ends " + strings.Join(still, ", ") + " stayed"
}

// serverRstDrop is the server's OUTPUT rule of socket-lost: it drops the
// RST its socket's abort sends, so that the socket vanishes without a
// trace on the wire.
var serverRstDrop = []string{"OUTPUT", "-p", "tcp", "--sport", strconv.Itoa(serverPort), "--tcp-flags", "RST", "RST", "-j", "DROP"}

// clientInDrop is the client's INPUT rule of socket-lost-retries2: it
// drops every segment from the server after tcpdump saw it.
var clientInDrop = []string{"INPUT", "-p", "tcp", "--sport", strconv.Itoa(serverPort), "-j", "DROP"}

// lostGap bounds every silence of socket-lost's connection: the truth
// names a knob for a no-socket RST after a silence of 1 s or more.
const lostGap = 900 * time.Millisecond

// killSocket destroys side s's one established socket of the
// connection to serverPort (the server's or the client's) with ss -K
// (SOCK_DESTROY: tcp_abort()) and checks that ss lists none after it; it
// returns what ss printed of the socket.
func (e *env) killSocket(s side) string {
	if e.failed() != nil {
		return ""
	}
	port := "sport"
	if s == sideClient {
		port = "dport"
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "ss", "-K", "-tnH", "state", "established", port, "=", ":"+strconv.Itoa(serverPort))
	if err != nil {
		e.fail(err)
		return ""
	}
	killed := strings.TrimSpace(out)
	if killed == "" || strings.Contains(killed, "\n") {
		e.fail(fmt.Errorf("ss -K in the %s's namespace printed %q, want one socket", s, out))
		return ""
	}
	e.until(time.Second, "the "+s.String()+"'s socket to be gone", func() (bool, error) {
		st, err := e.states(s)
		return len(st) == 0, err
	})
	f := strings.Fields(killed)
	if len(f) != 4 {
		e.fail(fmt.Errorf("ss -K in the %s's namespace printed %q, want Recv-Q, Send-Q and the two addresses", s, out))
		return ""
	}
	return fmt.Sprintf("%s to %s, Recv-Q %s, Send-Q %s", f[2], f[3], f[0], f[1])
}

// loseServerSocket makes the server's established socket s vanish
// without a trace on the wire: while an OUTPUT rule drops RSTs from
// serverPort, ss -K destroys it (killSocket), and the rule must
// have dropped one, the abort's [R.]. The server application keeps its
// descriptor and finds ECONNABORTED pending. It returns what ss printed
// of the socket.
func (e *env) loseServerSocket(s *sock) string {
	e.rule(sideServer, serverRstDrop)
	killed := e.killSocket(sideServer)
	dropped := e.ruleCount(sideServer, "filter", "OUTPUT", "flags:0x04/0x04")
	e.unrule(sideServer, serverRstDrop)
	if e.failed() == nil && dropped != 1 {
		e.fail(fmt.Errorf("the server's OUTPUT rule dropped %d RSTs, want 1 (the abort's)", dropped))
	}
	// What the server application would learn of it.
	s.soError(unix.ECONNABORTED)
	return killed
}

// lostAbortMoves checks the counters over loseServerSocket (before to
// mid) and from then to the end (after), when the server's kernel sent
// replies reply RSTs, and spells them as a note. tcp_abort() counts its
// [R.] (tcp_send_active_reset) before the rule drops it, and
// TCPAbortFailed when the drop makes its transmission fail, and takes
// the socket from ESTABLISHED to CLOSE; each reply [R] counts one more
// RST at the server, and the first resets the client's ESTABLISHED
// socket.
func (e *env) lostAbortMoves(before, mid, after lostCount, replies int64) string {
	abort := e.lostMoves(before, mid, [2]map[string]int64{{},
		{"TcpOutRsts": 1, "TcpEstabResets": 1, "TcpExtTCPAbortFailed": 1}})
	reply := e.lostMoves(mid, after, [2]map[string]int64{{"TcpEstabResets": 1}, {"TcpOutRsts": replies}})
	return fmt.Sprintf("nstat -az (absolute; the namespaces are new) over the destruction: %s. Then to the end: %s.", abort, reply)
}

func socketLost() *scenario {
	// failedAt is when the client's read() failed in the run that made
	// the capture (ns since the epoch); 0 when the truth is derived
	// again from a stored capture.
	var failedAt int64
	return &scenario{
		name: "socket-lost",
		summary: "the server's socket vanishes without a segment (ss -K, its RST dropped), its application keeps the fd: " +
			"the client's next 100 bytes meet no socket and the server's kernel answers a bare [R]",
		desc: "The client sends a 100-byte request and the server answers 100 bytes, which the client reads. Then the " +
			"server's socket vanishes without a trace on the wire, as after a restart or a failover: in the server's " +
			"namespace an iptables OUTPUT rule drops every RST from port 8080, ss -K destroys the connection's socket " +
			"(SOCK_DESTROY, tcp_abort(): the socket goes to CLOSE and its [R.] is dropped), and the rule is removed; the " +
			"server application keeps its descriptor. The client then writes 100 bytes: the server's kernel has no " +
			"socket for them and its reply path answers with a bare [R] (seq = the segment's ack, no timestamps, IP ID 0 " +
			"over IPv4), and the client's read() fails with ECONNRESET. Every silence of the connection is well under " +
			"1 s. Default sysctls; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			// The client's ACK of the response goes out first: the
			// listener would answer it with a RST once the socket is
			// gone.
			e.sleep(100 * time.Millisecond)
			before := e.lostCount()
			killed := e.loseServerSocket(s)
			mid := e.lostCount()
			wrote := time.Now()
			c.write(100)
			c.readReset(time.Second)
			failedAt = time.Now().UnixNano()
			c.close()
			e.quiet(2 * time.Second)
			after := e.lostCount()
			s.close()
			if e.failed() != nil {
				return
			}
			moves := e.lostAbortMoves(before, mid, after, 1)
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("ss -K in the server's namespace destroyed one socket (%s); ss listed no socket on the "+
					"connection's 4-tuple after it, and the server's OUTPUT rule dropped 1 RST, the abort's [R.]. The "+
					"server application's descriptor stayed open, its socket in CLOSE with the pending error "+
					"ECONNABORTED (SO_ERROR), until the client's read() had failed and both kernels were done.", killed),
				moves,
				fmt.Sprintf("The client's blocking read(), called after its write, failed with ECONNRESET %.1f ms "+
					"after the write.", float64(failedAt-wrote.UnixNano())/1e6))
		},
		check: func(w *wire) error {
			x, err := lostWire(w, false)
			if err != nil {
				return err
			}
			if len(x.unacked) != 0 {
				return fmt.Errorf("the server sent %v past the client's write's ack", x.unacked[0])
			}
			if time.Duration(x.gap) >= lostGap {
				return fmt.Errorf("a silence of %.3f s before %v, want every one under %v", float64(x.gap)/1e9, x.gapEnd, lostGap)
			}
			if failedAt != 0 && failedAt < x.rst.t {
				return fmt.Errorf("the client's read() failed %.0f µs before the RST (%v) reached it", float64(x.rst.t-failedAt)/1e3, x.rst)
			}
			return checkLost(x, "")
		},
		wireNotes: lostNotes,
	}
}

// socketLostRetries2 is the server's socket lost to tcp_retries2: its
// data went unanswered until it gave up, silently.
func socketLostRetries2() *scenario {
	var failedAt int64 // as socketLost's
	return &scenario{
		name: "socket-lost-retries2",
		summary: "the server's 100 bytes go unanswered (the client's INPUT chain drops them) until tcp_retries2 = 3 gives " +
			"up silently; the client, cut off no more, writes 100 bytes and the server's kernel answers a bare [R]",
		desc: "The server sets net.ipv4.tcp_retries2=3. The client sends a 100-byte request and the server answers 100 " +
			"bytes, which the client reads. Then the client's INPUT chain starts dropping every segment from port 8080 " +
			"(the capture at the client still records them: tcpdump sees a packet before netfilter), and the server " +
			"writes 100 bytes and blocks in read(): they are sent again as a tail loss probe, then retransmitted with " +
			"exponential backoff, never acknowledged, until tcp_retries2 = 3 runs out (a time, not a count: 3 s, " +
			"tcp_model_timeout); the server's kernel then destroys the socket without a " +
			"segment and its read() fails with ETIMEDOUT. The drop rule is removed and the client, which never saw the " +
			"100 bytes, writes 100 bytes of its own: the server's kernel has no socket for them and its reply path " +
			"answers with a bare [R] (seq = the segment's ack, no timestamps, IP ID 0), and the client's read() fails " +
			"with ECONNRESET. Default sysctls otherwise; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		sysctls: map[side]map[string]string{sideServer: {"net.ipv4.tcp_retries2": "3"}},
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			e.sleep(100 * time.Millisecond)
			before := e.lostCount()
			e.rule(sideClient, clientInDrop)
			wrote := time.Now()
			s.write(100)
			var took time.Duration
			s.readTimed(30*time.Second, func(n int, err error, d time.Duration) error {
				if !errors.Is(err, unix.ETIMEDOUT) {
					return fmt.Errorf("read() %d, %v after %v, want ETIMEDOUT within 30 s", n, err, d)
				}
				took = time.Since(wrote)
				return nil
			})
			e.until(time.Second, "the server's socket to be gone", func() (bool, error) {
				st, err := e.states(sideServer)
				return len(st) == 0, err
			})
			mid := e.lostCount()
			dropped := e.ruleCount(sideClient, "filter", "INPUT", "spt:"+strconv.Itoa(serverPort))
			e.unrule(sideClient, clientInDrop)
			cwrote := time.Now()
			c.write(100)
			c.readReset(time.Second)
			failedAt = time.Now().UnixNano()
			c.close()
			s.close()
			e.quiet(2 * time.Second)
			after := e.lostCount()
			if e.failed() != nil {
				return
			}
			// The server's retransmissions and RTO expiries differ with
			// the timer's schedule: they are read, and checked on the
			// wire.
			retrans := mid[rs]["TcpRetransSegs"] - before[rs]["TcpRetransSegs"]
			rtos := mid[rs]["TcpExtTCPTimeouts"] - before[rs]["TcpExtTCPTimeouts"]
			probes := mid[rs]["TcpExtTCPLossProbes"] - before[rs]["TcpExtTCPLossProbes"]
			// Each RTO expiry but the last, which gave up, retransmitted;
			// so did each tail loss probe.
			if retrans < 2 || retrans != probes+rtos-1 {
				e.fail(fmt.Errorf("the server counted %d retransmissions, %d RTO expiries and %d loss probes, want 2 or more "+
					"retransmissions, one per probe and per expiry but the last", retrans, rtos, probes))
			}
			if dropped != retrans+1 {
				e.fail(fmt.Errorf("the client's INPUT rule dropped %d segments, want the server's %d transmissions", dropped, retrans+1))
			}
			// tcp_write_err(): the socket goes from ESTABLISHED to CLOSE,
			// TCPAbortOnTimeout; no segment. Then the reply [R].
			timeout := e.lostMoves(before, mid, [2]map[string]int64{{}, {"TcpEstabResets": 1, "TcpRetransSegs": retrans,
				"TcpExtTCPTimeouts": rtos, "TcpExtTCPAbortOnTimeout": 1, "TcpExtTCPLossProbes": probes}})
			reply := e.lostMoves(mid, after, [2]map[string]int64{{"TcpEstabResets": 1}, {"TcpOutRsts": 1}})
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("The server's blocking read(), begun after its write, failed with ETIMEDOUT %.2f s after the "+
					"write; ss then listed no socket of the connection in its namespace. The client's INPUT rule dropped "+
					"%d segments, the server's transmissions of its 100 bytes.", took.Seconds(), dropped),
				fmt.Sprintf("Of the server's %d retransmissions %d was a tail loss probe (TcpExt TCPLossProbes) and %d "+
					"came from the RTO timer, which expired %d times (TcpExt TCPTimeouts): the last expiry gave up. "+
					"tcp_retries2 bounds a time, not a count (tcp_model_timeout: (2^(3+1) - 1) x 200 ms = 3 s for 3), "+
					"so the RTO retransmitted more often than 3 times.", retrans, probes, rtos-1, rtos),
				fmt.Sprintf("nstat -az (absolute; the namespaces are new) from the server's write to its timeout: %s. "+
					"Then to the end: %s.", timeout, reply),
				fmt.Sprintf("The client's blocking read(), called after its write, failed with ECONNRESET %.1f ms "+
					"after the write.", float64(failedAt-cwrote.UnixNano())/1e6))
		},
		check: func(w *wire) error {
			x, err := lostWire(w, false)
			if err != nil {
				return err
			}
			if failedAt != 0 && failedAt < x.rst.t {
				return fmt.Errorf("the client's read() failed %.0f µs before the RST (%v) reached it", float64(x.rst.t-failedAt)/1e3, x.rst)
			}
			// The server's 100 bytes the client never acknowledged, sent
			// more than once, and nothing else of the server's after the
			// exchange.
			if len(x.unacked) < 2 {
				return fmt.Errorf("the server sent its unanswered 100 bytes %d times, want 2 or more", len(x.unacked))
			}
			for _, f := range x.unacked {
				if f.seq != x.write.ack || f.len != 100 {
					return fmt.Errorf("%v is not the server's 100 bytes at seq %d, the client's write's ack", f, x.write.ack)
				}
			}
			if last := x.unacked[len(x.unacked)-1]; x.write.t-last.t < 1e9 {
				return fmt.Errorf("the client's write came %.3f s after the server's last transmission, want the "+
					"server's give-up, 1 s or more later", float64(x.write.t-last.t)/1e9)
			}
			// A tail loss probe, then the RTO's retransmissions, each
			// twice as late as the one before: no gap shorter than the
			// one before it.
			for i := 2; i < len(x.unacked); i++ {
				if g, p := x.unacked[i].t-x.unacked[i-1].t, x.unacked[i-1].t-x.unacked[i-2].t; g < p*9/10 {
					return fmt.Errorf("%v came %.3f s after the one before, want no less than the %.3f s before that",
						x.unacked[i], float64(g)/1e9, float64(p)/1e9)
				}
			}
			return checkLost(x, "net.ipv4.tcp_retries2")
		},
		wireNotes: lostNotes,
	}
}

// Addresses of nat-expired-other-backend: the server's second address,
// the second backend of the service.
var backendB4 = netip.MustParseAddr("198.51.100.81")

// backendRules are the router's DNAT rules of nat-expired-other-backend:
// the first new connection to the service address goes to the server's
// address, the second to backendB4 (statistic's nth counter, which only
// a connection's first packet meets in the nat table).
func backendRules() [2][]string {
	svc := serviceAddr4
	match := []string{"PREROUTING", "-t", "nat", "-p", "tcp", "-d", svc.Addr().String(), "--dport", strconv.Itoa(int(svc.Port()))}
	return [2][]string{
		append(slices.Clone(match), "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0",
			"-j", "DNAT", "--to-destination", netip.AddrPortFrom(serverAddr4, serverPort).String()),
		append(slices.Clone(match), "-j", "DNAT", "--to-destination", netip.AddrPortFrom(backendB4, serverPort).String()),
	}
}

// backendCounts are the router's FORWARD rules of
// nat-expired-other-backend that only count, each named by its comment:
// the segments to each backend (after the DNAT) and the RSTs from the
// second one (before their source is translated back, in POSTROUTING).
func backendCounts() map[string][]string {
	port := strconv.Itoa(serverPort)
	count := func(name string, match ...string) []string {
		return append(append([]string{"FORWARD", "-p", "tcp"}, match...), "-m", "comment", "--comment", name)
	}
	return map[string][]string{
		"to-backend-a":       count("to-backend-a", "-d", serverAddr4.String(), "--dport", port),
		"from-backend-a":     count("from-backend-a", "-s", serverAddr4.String(), "--sport", port),
		"to-backend-b":       count("to-backend-b", "-d", backendB4.String(), "--dport", port),
		"rst-from-backend-b": count("rst-from-backend-b", "-s", backendB4.String(), "--sport", port, "--tcp-flags", "RST", "RST"),
	}
}

// listenAny opens the server's listening socket on the wildcard address
// and serverPort.
func (e *env) listenAny() *sock {
	s := e.newSock(sideServer)
	s.name = "listener"
	wild := netip.IPv4Unspecified()
	if e.topo.v6 {
		wild = netip.IPv6Unspecified()
	}
	s.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	s.do("bind", func() error { return unix.Bind(s.fd, sockaddr(netip.AddrPortFrom(wild, serverPort))) })
	s.do("listen", func() error { return unix.Listen(s.fd, 1024) })
	return s
}

// localAddr is the address s is bound to.
func (s *sock) localAddr() netip.AddrPort {
	var a netip.AddrPort
	s.do("getsockname", func() error {
		sa, err := unix.Getsockname(s.fd)
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			a = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
		case *unix.SockaddrInet6:
			a = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
		}
		return err
	})
	return a
}

func natExpiredOtherBackend() *scenario {
	var failedAt int64 // as socketLost's
	// toBackendA is how many segments the router forwarded to the
	// server's first address in the run that made the capture; 0 when
	// the truth is derived again from a stored capture.
	var toBackendA int64
	rules := backendRules()
	return &scenario{
		name: "nat-expired-other-backend",
		summary: "a service DNAT (conntrack established timeout 2 s) forgets a connection silent 3.5 s; the client's next " +
			"100 bytes make a new entry that DNATs them to another backend, where no socket has the 4-tuple: its kernel's " +
			"bare [R] comes back from the service address (Kubernetes' connection reset by peer)",
		desc: "A Linux router joins the two ends and DNATs the service address " + serviceAddr4.String() + ", which no " +
			"interface has, to one of two backends, as kube-proxy does: the first new conntrack entry to " +
			netip.AddrPortFrom(serverAddr4, serverPort).String() + ", the next to " + netip.AddrPortFrom(backendB4, serverPort).String() +
			" (iptables nat PREROUTING, -m statistic --mode nth --every 2 --packet 0, then a second DNAT rule). Both " +
			"addresses are the server's (its eth0 holds both), and its listener is bound to the wildcard address. There " +
			"is no source NAT: the server's default route leads back through the router. The router sets " +
			"net.netfilter.nf_conntrack_tcp_timeout_established=2 and net.netfilter.nf_conntrack_tcp_loose=1 (a mid-stream " +
			"segment creates an entry); no rule drops INVALID segments. The client connects to the service address (the " +
			"first entry: " + serverAddr4.String() + ") and sends 100 bytes; the server answers 100, which the client " +
			"reads. Both stay silent 3.5 s and the router's entry expires. The client then writes 100 bytes: a new entry " +
			"DNATs them to " + backendB4.String() + ", where no socket has the 4-tuple; the listener answers the ACK " +
			"segment through the kernel's reply path with a bare [R] (seq = the segment's ack, IP ID 0, no timestamps), " +
			"which the router translates back to the service address, and the client's read() fails with ECONNRESET. " +
			"The server's socket on " + serverAddr4.String() + " stays ESTABLISHED, open, to the end of the capture. " +
			"Default sysctls at both ends; captured at the client, where the server's segments arrive with TTL 63.",
		vantage: vantageClient,
		framing: frameEthernet,
		noQuiet: true, // the server's first socket stays open
		forward: countNew,
		sysctls: map[side]map[string]string{sideRouter: {
			"net.netfilter.nf_conntrack_tcp_timeout_established": "2",
			"net.netfilter.nf_conntrack_tcp_loose":               "1",
		}},
		pre: func(e *env) {
			if _, err := sh(e.ctx, "ip", "-n", e.topo.ns(sideServer), "addr", "add", backendB4.String()+"/26", "dev", "eth0"); err != nil {
				e.fail(err)
				return
			}
			e.rule(sideRouter, rules[0])
			e.rule(sideRouter, rules[1])
			counts := backendCounts()
			for _, k := range slices.Sorted(maps.Keys(counts)) {
				e.rule(sideRouter, counts[k])
			}
		},
		run: func(e *env) {
			ln := e.listenAny()
			c := e.dialFrom(sideClient, netip.AddrPort{}, serviceAddr4)
			s := ln.accept()
			at := s.localAddr()
			c.write(100)
			s.read(100)
			s.write(100)
			c.read(100)
			e.sleep(100 * time.Millisecond)
			live := e.conntrackEntries(sideRouter)
			before := e.lostCount()
			e.sleep(natIdle - 100*time.Millisecond)
			expired := e.conntrackEntries(sideRouter)
			wrote := time.Now()
			c.write(100)
			c.readReset(time.Second)
			failedAt = time.Now().UnixNano()
			gone := e.conntrackEntries(sideRouter)
			c.close()
			e.sleep(200 * time.Millisecond)
			after := e.lostCount()
			st, err := e.states(sideServer)
			e.fail(err)
			news := e.ruleCount(sideRouter, "filter", "FORWARD", "ctstate NEW")
			toA := e.ruleCount(sideRouter, "nat", "PREROUTING", "to:"+netip.AddrPortFrom(serverAddr4, serverPort).String())
			toB := e.ruleCount(sideRouter, "nat", "PREROUTING", "to:"+netip.AddrPortFrom(backendB4, serverPort).String())
			ct := e.conntrackStats(sideRouter)
			fwd := map[string]int64{}
			for k := range backendCounts() {
				fwd[k] = e.ruleCount(sideRouter, "filter", "FORWARD", "/* "+k+" */")
			}
			if e.failed() != nil {
				return
			}
			toBackendA = fwd["to-backend-a"]
			srvA := "src=" + serverAddr4.String() + " dst=" + clientAddr4.String() + " sport=" + strconv.Itoa(serverPort)
			switch {
			case at != netip.AddrPortFrom(serverAddr4, serverPort):
				e.fail(fmt.Errorf("the server accepted the connection on %v, want %v", at, netip.AddrPortFrom(serverAddr4, serverPort)))
			case len(live) != 1 || !strings.Contains(live[0], "ESTABLISHED") || !strings.Contains(live[0], srvA):
				e.fail(fmt.Errorf("the router's conntrack after the exchange: %q, want one ESTABLISHED entry whose reply comes from %v", live, serverAddr4))
			case len(expired) != 0:
				e.fail(fmt.Errorf("the router's conntrack after %v of silence: %q, want no entry", natIdle, expired))
			case len(gone) != 0:
				e.fail(fmt.Errorf("the router's conntrack after the client's read() failed: %q, want no entry", gone))
			case news != 2 || toA != 1 || toB != 1 || ct["insert_failed"]+ct["drop"]+ct["invalid"] != 0:
				e.fail(fmt.Errorf("the router counted %d NEW segments, DNATs to %v %d and to %v %d, conntrack stats %v: "+
					"want 2, 1, 1 and no insert_failed, drop or invalid", news, serverAddr4, toA, backendB4, toB, ct))
			case fwd["to-backend-b"] != 1 || fwd["rst-from-backend-b"] != 1 || fwd["to-backend-a"] < 3 || fwd["from-backend-a"] < 2:
				e.fail(fmt.Errorf("the router forwarded %v, want one segment to %v, one RST from it, and the exchange to and from %v",
					fwd, backendB4, serverAddr4))
			case !slices.Equal(st, []string{"ESTAB"}):
				e.fail(fmt.Errorf("the server's sockets at the end: %q, want its first one, ESTAB", st))
			}
			reply := e.lostMoves(before, after, [2]map[string]int64{{"TcpEstabResets": 1}, {"TcpOutRsts": 1}})
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("The router's conntrack table (/proc/net/nf_conntrack in its namespace) held one entry after the "+
					"exchange (%s) and none after the %.1f s silence. Over the run the router's FORWARD chain counted %d "+
					"segments in conntrack state NEW (the SYN and the client's later segment, which made a new entry: "+
					"nf_conntrack_tcp_loose=1), its DNAT rule to %v %d and the one to %v %d: the new entry went to %v. "+
					"Counting rules of its FORWARD chain (after the DNAT, before the reply's source is translated back) "+
					"saw %d segments to %v and %d from it, %d to %v and %d RST from it. The entry was gone once the "+
					"client's read() had failed: conntrack deletes an entry whose only reply is a RST. "+
					"/proc/net/stat/nf_conntrack: insert_failed %d, drop %d, invalid %d.",
					strings.Join(strings.Fields(live[0]), " "), natIdle.Seconds(), news, serverAddr4, toA, backendB4, toB,
					backendB4, fwd["to-backend-a"], serverAddr4, fwd["from-backend-a"], fwd["to-backend-b"], backendB4,
					fwd["rst-from-backend-b"], ct["insert_failed"], ct["drop"], ct["invalid"]),
				fmt.Sprintf("The server accepted the connection on %v. nstat -az (absolute; the namespaces are new) from "+
					"the end of the exchange to the end: %s. The server's first socket was still ESTABLISHED at the end, "+
					"its application's descriptor open: nothing reached it after the silence.", at, reply),
				fmt.Sprintf("The client's blocking read(), called after its write, failed with ECONNRESET %.1f ms "+
					"after the write.", float64(failedAt-wrote.UnixNano())/1e6))
		},
		check: func(w *wire) error {
			x, err := lostWire(w, true)
			if err != nil {
				return err
			}
			if failedAt != 0 && failedAt < x.rst.t {
				return fmt.Errorf("the client's read() failed %.0f µs before the RST (%v) reached it", float64(x.rst.t-failedAt)/1e3, x.rst)
			}
			if x.gapEnd != x.write || x.gap < 3e9 || x.gap > 45e8 {
				return fmt.Errorf("the longest silence, %.3f s, ends at %v, want 3.5 s before the client's write %v",
					float64(x.gap)/1e9, x.gapEnd, x.write)
			}
			if time.Duration(x.gap2) >= lostGap {
				return fmt.Errorf("a second silence of %.3f s, want every other under %v", float64(x.gap2)/1e9, lostGap)
			}
			if len(x.unacked) != 0 {
				return fmt.Errorf("the server sent %v past the client's write's ack", x.unacked[0])
			}
			// Every client segment before the silence went to the
			// server's first address, the write alone to the second.
			var before int64
			for _, f := range x.c.fl.inc.frames {
				if x.c.fl.inc.role(f) == rc && f.no < x.write.no {
					before++
				}
			}
			if toBackendA != 0 && toBackendA != before {
				return fmt.Errorf("the router forwarded %d segments to %v, the capture holds %d client segments before the write",
					toBackendA, serverAddr4, before)
			}
			return checkLost(x, ctEstablished)
		},
		wireNotes: lostNotes,
	}
}

// lostFrames names the frames of a socket-lost capture: the client's
// 100 bytes after the exchange and the server's kernel's [R] answering
// them, the server's segments with payload past the write's ack (its
// unanswered data), and the flow's longest silence.
type lostFrames struct {
	c          *flowCheck
	write, rst *frame
	unacked    []*frame
	// gap is the longest silence between two frames of the flow, and
	// gapEnd the frame that ended it; gap2 the longest other one.
	gap, gap2 int64
	gapEnd    *frame
}

// lostWire finds the frames of lostFrames and checks what the wire must
// show of them: one flow, its handshake, 100 bytes from the client and
// 100 from the server, then the server's segments past the client's
// ack, if any, the client's 100 bytes and, last, the server's bare [R]
// with seq = their ack, the one RST and no FIN. With nat the server's
// segments come from the service address, one router hop away.
func lostWire(w *wire, nat bool) (*lostFrames, error) {
	c, err := w.one()
	if err != nil {
		return nil, err
	}
	in := c.fl.inc
	fs := in.frames
	if len(fs) < 8 {
		return nil, fmt.Errorf("%d frames, want the handshake, the exchange, the client's write and the RST", len(fs))
	}
	x := &lostFrames{c: c, write: fs[len(fs)-2], rst: fs[len(fs)-1]}
	v6 := fs[0].ipid < 0
	srv, ttl := netip.AddrPortFrom(serverAddr4, serverPort), 64
	if v6 {
		srv = netip.AddrPortFrom(serverAddr6, serverPort)
	}
	if nat {
		srv, ttl = serviceAddr4, 63
	}
	var cliEnd uint32
	var cliData []uint32
	var srvData int
	for i, f := range fs[:len(fs)-2] {
		end := f.seq + f.len
		if f.has(fSYN) {
			end++
		}
		if f.has(fFIN) || f.has(fRST) {
			return nil, fmt.Errorf("%v before the client's write", f)
		}
		if in.role(f) == rc {
			cliEnd = end
			if f.len > 0 {
				cliData = append(cliData, f.len)
			}
		} else if f.len > 0 {
			if srvData == 0 {
				srvData = int(f.len)
			} else {
				x.unacked = append(x.unacked, f)
			}
		}
		if f.ttl != ttl && in.role(f) == rs {
			return nil, fmt.Errorf("%v: TTL %d, want %d", f, f.ttl, ttl)
		}
		if i > 0 {
			x.gapAt(f.t-fs[i-1].t, f)
		}
	}
	x.gapAt(x.write.t-fs[len(fs)-3].t, x.write)
	x.gapAt(x.rst.t-x.write.t, x.rst)
	wr, r := x.write, x.rst
	switch {
	case in.server != srv:
		return nil, fmt.Errorf("the flow's server is %v, want %v", in.server, srv)
	case !slices.Equal(cliData, []uint32{100}) || srvData != 100:
		return nil, fmt.Errorf("the exchange carried %v bytes from the client and %d from the server, want 100 each", cliData, srvData)
	case in.role(wr) != rc || wr.flags&^fPSH != fACK || wr.len != 100 || wr.seq != cliEnd:
		return nil, fmt.Errorf("%v is not the client's 100 bytes at seq %d", wr, cliEnd)
	case in.role(r) != rs || r.flags != fRST || r.seq != wr.ack || r.len != 0 || r.ts || (!v6 && r.ipid != 0) || r.ttl != ttl:
		return nil, fmt.Errorf("%v (TTL %d, IP ID %d) is not the server's kernel's bare [R] at seq %d (no timestamps, IP ID 0, TTL %d)",
			r, r.ttl, r.ipid, wr.ack, ttl)
	case r.t-wr.t > 50e6:
		return nil, fmt.Errorf("the RST came %.1f ms after the client's write, want at once", float64(r.t-wr.t)/1e6)
	}
	return x, nil
}

// gapAt records a silence of g ns that f ended.
func (x *lostFrames) gapAt(g int64, f *frame) {
	switch {
	case g > x.gap:
		x.gap, x.gap2, x.gapEnd = g, x.gap, f
	case g > x.gap2:
		x.gap2 = g
	}
}

// checkLost checks the intent every socket-lost scenario shares: the
// server's bare [R] ends the flow, cause no-socket, and the one
// diagnosis, rst-no-socket on the server, names sysctl.
func checkLost(x *lostFrames, sysctl string) error {
	return x.c.kind(analyze.ResetKind).initiator(analyze.Server).handshake(analyze.HandshakeComplete).
		fins(rc, 0, 0).fins(rs, 0, 0).reset("server", analyze.CauseNoSocket).resetAt(x.rst.no).
		diags(analyze.CodeRstNoSocket).diagSide(analyze.CodeRstNoSocket, "server").diagSysctl(analyze.CodeRstNoSocket, sysctl).
		halfClose("", "").states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED").
		closedAt(rc, x.rst.no).err()
}

// lostNotes describes the end of the flow frame by frame: the server's
// unanswered transmissions, if any, the client's write and the RST.
func lostNotes(w *wire) []string {
	if len(w.truth.Flows) != 1 {
		return nil
	}
	x, err := lostWire(w, w.truth.Flows[0].inc.server == serviceAddr4)
	if err != nil {
		return nil
	}
	var b strings.Builder
	if n := len(x.unacked); n > 0 {
		var gaps []string
		for i := 1; i < n; i++ {
			gaps = append(gaps, strconv.FormatInt((x.unacked[i].t-x.unacked[i-1].t+500e3)/1e6, 10))
		}
		fmt.Fprintf(&b, "Frames %d to %d: the server's 100 bytes at seq %d, sent %d times (%d retransmissions, %s ms "+
			"apart), never acknowledged. ", x.unacked[0].no, x.unacked[n-1].no, x.unacked[0].seq, n, n-1, strings.Join(gaps, ", "))
		fmt.Fprintf(&b, "Frame %d, %.3f s after the last of them: ", x.write.no, float64(x.write.t-x.unacked[n-1].t)/1e9)
	} else {
		fmt.Fprintf(&b, "The longest silence of the flow is %.3f s, before frame %d. Frame %d: ", float64(x.gap)/1e9, x.gapEnd.no, x.write.no)
	}
	ipid := ""
	if x.rst.ipid >= 0 {
		ipid = fmt.Sprintf(", IP ID %d", x.rst.ipid)
	}
	fmt.Fprintf(&b, "the client's 100 bytes, seq %d ack %d. Frame %d, %s later: [R] from %v, seq %d (the write's ack), "+
		"no ACK flag, no timestamps%s, TTL %d.", x.write.seq, x.write.ack, x.rst.no, gapString(x.rst.t-x.write.t),
		x.rst.src, x.rst.seq, ipid, x.rst.ttl)
	return []string{b.String()}
}
