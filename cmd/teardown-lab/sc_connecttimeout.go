//go:build linux

package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// A client whose application gives up on connect() before the server's
// SYN-ACK comes: close() in SYN_SENT sends nothing, and the late SYN-ACK
// meets no socket at the client, whose kernel's reply path answers it
// with a bare [R] (seq = the SYN-ACK's ack, IP ID 0 over IPv4, no
// timestamps).

// serverSynAckDrop is the server's OUTPUT rule of
// connect-timeout-late-synack: it drops every SYN-ACK from serverPort
// before any capture point sees it.
var serverSynAckDrop = []string{"OUTPUT", "-p", "tcp", "--sport", strconv.Itoa(serverPort), "--tcp-flags", "SYN,ACK", "SYN,ACK", "-j", "DROP"}

const (
	// connectTimeout is the client application's connect timeout, from
	// its connect() call.
	connectTimeout = 1500 * time.Millisecond
	// connectUnrule is when, from the connect() call, the server's
	// OUTPUT rule is removed: after the client's close, before the first
	// timeout of the request the SYN's retransmission made (about 1 s
	// after that SYN, itself about 1 s after the first).
	connectUnrule = 1750 * time.Millisecond
)

// tcpCounters reads every Tcp and TcpExt counter of side s's namespace
// (nstat's absolute values, zeros included).
func (e *env) tcpCounters(s side) map[string]int64 {
	got := e.nstatRead(s, nil, func(name string) bool { return strings.HasPrefix(name, "Tcp") })
	if got != nil && len(got) == 0 {
		e.fail(fmt.Errorf("nstat: no Tcp counter in the %s's namespace", s))
	}
	return got
}

// tcpMoves checks how far the counters of want moved at each end (rc, rs)
// from a to b, and spells every Tcp and TcpExt counter that moved as the
// notes do ("the client's Tcp OutRsts 0 -> 1").
func (e *env) tcpMoves(a, b [2]map[string]int64, want [2]map[string]int64) string {
	if e.failed() != nil {
		return ""
	}
	var moved []string
	for r := range 2 {
		for _, k := range slices.Sorted(maps.Keys(want[r])) {
			if d := b[r][k] - a[r][k]; d != want[r][k] {
				e.fail(fmt.Errorf("the %s's %s moved by %d, want %d", roleName[r], k, d, want[r][k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(b[r])) {
			if b[r][k] != a[r][k] {
				moved = append(moved, fmt.Sprintf("the %s's %s %d -> %d", roleName[r], counterName(k), a[r][k], b[r][k]))
			}
		}
	}
	fmt.Fprintf(os.Stderr, "teardown-lab: counters moved: %s\n", strings.Join(moved, ", "))
	return strings.Join(moved, ", ")
}

// reqSock is a request socket as ss lists it in the server's namespace
// (ss -tanoe state syn-recv): its cookie ("sk:") and its timer.
type reqSock struct {
	cookie, timer string
}

// synRecv lists the server's request sockets.
func (e *env) synRecv() []reqSock {
	if e.failed() != nil {
		return nil
	}
	out, err := nsExec(e.ctx, e.topo.ns(sideServer), "ss", "-tanoeH", "state", "syn-recv")
	if err != nil {
		e.fail(err)
		return nil
	}
	var reqs []reqSock
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var q reqSock
		for _, x := range f {
			if v, ok := strings.CutPrefix(x, "sk:"); ok {
				q.cookie = v
			}
			if v, ok := strings.CutPrefix(x, "timer:"); ok {
				q.timer = v
			}
		}
		if q.cookie == "" || q.timer == "" {
			e.fail(fmt.Errorf("ss in the server's namespace listed %q, want a cookie and a timer", line))
			return nil
		}
		reqs = append(reqs, q)
	}
	return reqs
}

// allSockets lists every TCP socket of side s's namespace, listeners
// included, as ss prints them.
func (e *env) allSockets(s side) []string {
	if e.failed() != nil {
		return nil
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "ss", "-tanH")
	if err != nil {
		e.fail(err)
		return nil
	}
	var st []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			st = append(st, strings.Join(f, " "))
		}
	}
	return st
}

// waitConnect is the application's connect timeout: it polls the
// connecting socket for POLLOUT until deadline and reports whether the
// wait timed out, the connection neither complete nor failed.
func (s *sock) waitConnect(deadline time.Time) bool {
	var timedOut bool
	s.do("poll", func() error {
		left := max(time.Until(deadline), 0)
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}, int((left+time.Millisecond-1)/time.Millisecond))
		timedOut = err == nil && n == 0
		return err
	})
	return timedOut
}

func connectTimeoutLateSynAck() *scenario {
	// closedAt is when the client closed its connecting socket in the
	// run that made the capture (ns since the epoch); 0 when the truth
	// is derived again from a stored capture.
	var closedAt int64
	return &scenario{
		name: "connect-timeout-late-synack",
		summary: "the client's application gives up on connect() after 1.5 s and closes its socket in SYN_SENT, which " +
			"sends nothing; the server's SYN-ACK, held back until then, comes later and the client's kernel answers a bare [R]",
		desc: "In the server's namespace an iptables OUTPUT rule drops every SYN-ACK from port 8080. The client makes a " +
			"non-blocking connect() and polls the socket for completion, with a connect timeout of 1.5 s of its own. Its " +
			"SYN goes unanswered on the wire; the server's request socket for it retransmits its SYN-ACK at its first " +
			"timeout, 1 s on, the transmission fails (dropped in OUTPUT) and the kernel drops the request " +
			"(reqsk_timer_handler gives up on a failed retransmission). The client's kernel sends the SYN again 1 s after " +
			"the first (the initial RTO), which makes a new request, its SYN-ACK dropped too. At 1.5 s the application's " +
			"poll() times out, the socket still in SYN_SENT with no pending error, and it close()s it: nothing is sent. " +
			"At 1.75 s the rule is removed, and at the new request's first timeout, about 1 s after the SYN's " +
			"retransmission, its SYN-ACK reaches the client, where no socket has the 4-tuple: the kernel's reply path " +
			"answers with a bare [R] (seq = the SYN-ACK's ack, no timestamps, IP ID 0), which removes the server's " +
			"request. Default sysctls; captured at the client.",
		vantage:  vantageClient,
		framing:  frameEthernet,
		synRetry: true,
		attempts: 3,
		run: func(e *env) {
			ln := e.listen()
			e.rule(sideServer, serverSynAckDrop)
			before := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			start := time.Now()
			c := e.dialAsync()
			e.has(sideServer, "SYN-RECV", time.Second)
			first := e.synRecv()
			timedOut := c.waitConnect(start.Add(connectTimeout))
			waited := time.Since(start)
			c.soError(0)
			cst, err := e.states(sideClient)
			e.fail(err)
			second := e.synRecv()
			mid := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			c.close()
			closedAt = time.Now().UnixNano()
			closed := time.Duration(closedAt - start.UnixNano())
			e.sleep(time.Until(start.Add(connectUnrule)))
			dropped := e.ruleCount(sideServer, "filter", "OUTPUT", "flags:0x12/0x12")
			e.unrule(sideServer, serverSynAckDrop)
			unruled := time.Since(start)
			e.until(2*time.Second, "the server's request to be gone", func() (bool, error) {
				st, err := e.states(sideServer)
				return len(st) == 0, err
			})
			gone := time.Since(start)
			e.quiet(time.Second)
			after := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			ln.close()
			var left [2][]string
			e.until(time.Second, "no socket in either namespace", func() (bool, error) {
				left = [2][]string{e.allSockets(sideClient), e.allSockets(sideServer)}
				return len(left[rc])+len(left[rs]) == 0, e.failed()
			})
			if e.failed() != nil {
				return
			}
			switch {
			case !timedOut:
				e.fail(fmt.Errorf("the client's poll() returned after %v, want it to time out at %v, the connection in progress", waited, connectTimeout))
			case !slices.Equal(cst, []string{"SYN-SENT"}):
				e.fail(fmt.Errorf("the client's sockets at its connect timeout: %q, want one SYN-SENT", cst))
			case len(first) != 1:
				e.fail(fmt.Errorf("the server's request sockets after the first SYN: %v, want one", first))
			case len(second) != 1 || second[0].cookie == first[0].cookie:
				// The SYN's retransmission met the first request before
				// its timeout dropped it: no request is left to answer.
				e.fail(fmt.Errorf("%w: the server's request sockets at the client's connect timeout: %v, want one other than "+
					"the first SYN's (%v)", errRetry, second, first))
			case mid[rc]["TcpExtTCPSynRetrans"]-before[rc]["TcpExtTCPSynRetrans"] != 1:
				e.fail(fmt.Errorf("the client retransmitted its SYN %d times before its connect timeout, want once",
					mid[rc]["TcpExtTCPSynRetrans"]-before[rc]["TcpExtTCPSynRetrans"]))
			case dropped != 3:
				e.fail(fmt.Errorf("the server's OUTPUT rule dropped %d SYN-ACKs, want 3 (the first request's first and its "+
					"retransmission, the second request's first)", dropped))
			case gone > connectUnrule+1500*time.Millisecond:
				e.fail(fmt.Errorf("the server's request was gone %v after the connect(), want within 1.5 s of the rule's removal", gone))
			}
			// The client: its connect (ActiveOpens), the SYN's
			// retransmission at its RTO, the reply [R]; close() in SYN_SENT
			// counts nothing. The server: two request timeouts, the
			// retransmission that got out (a failed one is not counted),
			// and the RST that ended the request (AttemptFails).
			moves := e.tcpMoves(before, after, [2]map[string]int64{
				{"TcpActiveOpens": 1, "TcpAttemptFails": 0, "TcpEstabResets": 0, "TcpOutRsts": 1, "TcpRetransSegs": 1,
					"TcpExtTCPSynRetrans": 1, "TcpExtTCPTimeouts": 1, "TcpExtTCPAbortOnClose": 0},
				{"TcpPassiveOpens": 0, "TcpAttemptFails": 1, "TcpOutRsts": 0, "TcpRetransSegs": 1, "TcpExtTCPSynRetrans": 1,
					"TcpExtTCPTimeouts": 2, "TcpExtListenDrops": 0, "TcpExtListenOverflows": 0}})
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("ss -tanoe in the server's namespace after the first SYN listed one request socket (SYN-RECV, "+
					"sk:%s, timer:%s) and at the client's connect timeout one other (sk:%s, timer:%s): the first request was "+
					"dropped at its first timeout, its SYN-ACK's retransmission having failed, and the SYN's retransmission "+
					"made the second. The server's OUTPUT rule dropped %d SYN-ACKs.",
					first[0].cookie, first[0].timer, second[0].cookie, second[0].timer, dropped),
				fmt.Sprintf("The client's poll() for POLLOUT timed out %.1f ms after the connect() call; SO_ERROR was 0 and "+
					"ss listed the socket in SYN-SENT. The client close()d it %.1f ms after the connect(), the rule was "+
					"removed at %.1f ms, and ss listed the server's request gone at %.1f ms (polled every 20 ms). After the "+
					"listener's close ss listed no socket in either namespace.",
					ms(waited), ms(closed), ms(unruled), ms(gone)),
				fmt.Sprintf("nstat -az (absolute; the namespaces are new) from before the connect() to the end: %s; every "+
					"other Tcp and TcpExt counter stayed.", moves))
		},
		check: func(w *wire) error {
			x, err := connectTimeoutWire(w)
			if err != nil {
				return err
			}
			if closedAt != 0 && (closedAt < x.syn2.t || closedAt > x.synack.t) {
				return fmt.Errorf("the client closed its socket at %.3f s, want between its SYN's retransmission (%.3f s) and "+
					"the SYN-ACK (%.3f s)", float64(closedAt-x.syn1.t)/1e9, float64(x.syn2.t-x.syn1.t)/1e9, float64(x.synack.t-x.syn1.t)/1e9)
			}
			return x.c.kind(analyze.ResetKind).initiator(analyze.Client).handshake(analyze.HandshakeSynSynAck).
				fins(rc, 0, 0).fins(rs, 0, 0).reset("client", analyze.CauseNoSocket).resetAt(x.rst.no).halfClose("", "").
				diags(analyze.CodeRstNoSocket, analyze.CodeSynRetransmitted).
				diagSide(analyze.CodeRstNoSocket, "client").diagSysctl(analyze.CodeRstNoSocket, "").
				diagSide(analyze.CodeSynRetransmitted, "server").
				states(rc, "SYN_SENT", "CLOSED").states(rs, "SYN_RECV", "CLOSED").
				closedAt(rc, x.rst.no).closedAt(rs, x.rst.no).err()
		},
		wireNotes: connectTimeoutNotes,
	}
}

// ms spells a duration in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// connectTimeoutFrames names the four frames of
// connect-timeout-late-synack: the client's SYN, its retransmission, the
// server's SYN-ACK and the client's RST.
type connectTimeoutFrames struct {
	c                       *flowCheck
	syn1, syn2, synack, rst *frame
}

// connectTimeoutWire finds the frames of connectTimeoutFrames and checks
// what the wire must show of them: one flow of four frames, the client's
// SYN twice (same ISN, the second about 1 s after the first), the server's
// SYN-ACK acknowledging it about 1 s after that, and at once the client's
// bare [R] at the SYN-ACK's ack, with no timestamps and IP ID 0.
func connectTimeoutWire(w *wire) (*connectTimeoutFrames, error) {
	c, err := w.one()
	if err != nil {
		return nil, err
	}
	in := c.fl.inc
	fs := in.frames
	if len(fs) != 4 {
		return nil, fmt.Errorf("%d frames, want the SYN twice, the SYN-ACK and the RST", len(fs))
	}
	x := &connectTimeoutFrames{c: c, syn1: fs[0], syn2: fs[1], synack: fs[2], rst: fs[3]}
	s1, s2, sa, r := x.syn1, x.syn2, x.synack, x.rst
	within := func(a, b *frame, lo, hi time.Duration) bool {
		return b.t-a.t >= int64(lo) && b.t-a.t <= int64(hi)
	}
	switch {
	case in.role(s1) != rc || s1.flags != fSYN || in.role(s2) != rc || s2.flags != fSYN || s2.seq != s1.seq:
		return nil, fmt.Errorf("%v and %v are not the client's SYN twice", s1, s2)
	case !within(s1, s2, 900*time.Millisecond, 1300*time.Millisecond):
		return nil, fmt.Errorf("the SYN was sent again %.1f ms after the first, want about 1000 (the initial RTO)", float64(s2.t-s1.t)/1e6)
	case in.role(sa) != rs || sa.flags != fSYN|fACK || sa.ack != s1.seq+1 || sa.len != 0:
		return nil, fmt.Errorf("%v is not the server's SYN-ACK of ISN %d", sa, s1.seq)
	case !within(s2, sa, 900*time.Millisecond, 1300*time.Millisecond):
		return nil, fmt.Errorf("the SYN-ACK came %.1f ms after the SYN's retransmission, want about 1000 (its request's first timeout)",
			float64(sa.t-s2.t)/1e6)
	case in.role(r) != rc || r.flags != fRST || r.seq != sa.ack || r.len != 0 || r.ts || (r.ipid >= 0 && r.ipid != 0):
		return nil, fmt.Errorf("%v (IP ID %d) is not the client's kernel's bare [R] at seq %d (no timestamps, IP ID 0)", r, r.ipid, sa.ack)
	case !within(sa, r, 0, 50*time.Millisecond):
		return nil, fmt.Errorf("the RST came %.1f ms after the SYN-ACK, want at once", float64(r.t-sa.t)/1e6)
	}
	return x, nil
}

// connectTimeoutNotes describes the capture frame by frame.
func connectTimeoutNotes(w *wire) []string {
	x, err := connectTimeoutWire(w)
	if err != nil {
		return nil
	}
	ipid := ""
	if x.rst.ipid >= 0 {
		ipid = fmt.Sprintf(", IP ID %d", x.rst.ipid)
	}
	return []string{fmt.Sprintf("Frame %d: the client's SYN, seq %d. Frame %d, %.1f ms later: the same SYN again. Frame "+
		"%d, %.1f ms after it: the server's SYN-ACK, seq %d ack %d, the only one the capture holds. Frame %d, %s later: "+
		"[R] from %v, seq %d (the SYN-ACK's ack), no ACK flag, no timestamps%s, TTL %d. Nothing follows.",
		x.syn1.no, x.syn1.seq, x.syn2.no, float64(x.syn2.t-x.syn1.t)/1e6, x.synack.no, float64(x.synack.t-x.syn2.t)/1e6,
		x.synack.seq, x.synack.ack, x.rst.no, gapString(x.rst.t-x.synack.t), x.rst.src, x.rst.seq, ipid, x.rst.ttl)}
}
