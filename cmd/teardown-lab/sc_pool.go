//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// Scenarios of an HTTP keep-alive pool: the server closes a connection
// that sat idle for its idle timeout, and the client, whose application
// never read the FIN, sends its next request on it.

// poolIdle is the server's idle timeout.
const poolIdle = time.Second

// poolCounters are the counters the keep-alive scenarios read over the
// close, per side (nstat's names).
var poolCounters = map[side][]string{
	sideServer: {"TcpExtTCPAbortOnData", "TcpOutRsts"},
	sideClient: {"TcpEstabResets", "TcpExtTCPChallengeACK"},
}

// staleRequest runs a 100-byte request and a 300-byte response, leaves
// the connection idle for poolIdle, has the server close() it and the
// client write its next 100-byte request late after that close() (its
// application never read the FIN), waits until a RST has ended the
// client's socket, and close()s it. It checks what the kernels counted
// over the close (abortOnData: the server's TcpExt TCPAbortOnData) and
// the client's pending error, and notes both. With staleAt set the
// client's socket must be in CLOSE_WAIT and the server's in FIN_WAIT2
// before the request goes out.
func staleRequest(e *env, late time.Duration, staleAt bool, abortOnData int64) {
	ln := e.listen()
	c, s := exchange(e, ln, 100, 300)
	before := map[side]map[string]int64{}
	for sd, names := range poolCounters {
		before[sd] = e.nstat(sd, names...)
	}
	e.sleep(poolIdle)
	closed := time.Now()
	s.close()
	if staleAt {
		e.has(sideClient, "CLOSE-WAIT", late/2)
		e.has(sideServer, "FIN-WAIT-2", late/2)
		orphanIsTimewait(e)
	}
	e.sleep(time.Until(closed.Add(late)))
	c.write(100)
	e.until(2*time.Second, "the client's socket to be reset", func() (bool, error) {
		st, err := e.states(sideClient)
		return len(st) == 0, err
	})
	var soErr unix.Errno
	c.do("SO_ERROR", func() error {
		n, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		soErr = unix.Errno(n)
		return err
	})
	c.close()
	e.quiet(2 * time.Second)
	d := map[string]int64{}
	for sd, names := range poolCounters {
		after := e.nstat(sd, names...)
		for _, k := range names {
			d[k] = after[k] - before[sd][k]
		}
	}
	if e.failed() != nil {
		return
	}
	fmt.Fprintf(os.Stderr, "teardown-lab: the client's pending error %s; counters %v\n", unix.ErrnoName(soErr), d)
	if soErr != unix.EPIPE || d["TcpEstabResets"] != 1 || d["TcpOutRsts"] != 1 || d["TcpExtTCPAbortOnData"] != abortOnData ||
		d["TcpExtTCPChallengeACK"] != 0 {
		e.fail(fmt.Errorf("after the RST the client's pending error is %s and the counters moved by %v over the close: "+
			"want EPIPE (a RST in CLOSE_WAIT), one reset of the client's connection, no challenge ACK, one RST sent "+
			"by the server and TCPAbortOnData +%d there", unix.ErrnoName(soErr), d, abortOnData))
		return
	}
	e.notes = append(e.notes, fmt.Sprintf("Counted (nstat) over the close: the server's kernel sent 1 RST (Tcp "+
		"OutRsts +1) and counted TcpExt TCPAbortOnData +%d; the client's counted Tcp EstabResets +1 and TcpExt "+
		"TCPChallengeACK +0: the RST was accepted at once. The client's pending error (SO_ERROR) after it was "+
		"EPIPE, which tcp_reset() gives a socket in CLOSE_WAIT (ECONNRESET in ESTABLISHED).", d["TcpExtTCPAbortOnData"]))
}

// orphanIsTimewait checks that the server's orphan in FIN_WAIT2 is a
// timewait sock (tcp_time_wait(sk, TCP_FIN_WAIT2, ...): ss shows its
// timer as timewait), which answers data with a RST from
// tcp_timewait_state_process(), counting no TCPAbortOnData; and notes it.
func orphanIsTimewait(e *env) {
	if e.failed() != nil {
		return
	}
	out, err := nsExec(e.ctx, e.topo.ns(sideServer), "ss", "-tanHo", "state", "fin-wait-2")
	if err != nil {
		e.fail(err)
		return
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "timer:(timewait,") {
		e.fail(fmt.Errorf("the server's FIN_WAIT2 sockets: %q, want one timewait sock", out))
		return
	}
	e.notes = append(e.notes, "Before the client's late request, ss showed the server's orphan in FIN-WAIT-2 with "+
		"a timewait timer: tcp_fin_timeout (60 s) is not above TCP_TIMEWAIT_LEN, so the kernel had replaced the "+
		"orphaned socket by a FIN_WAIT2 timewait sock when the client's ACK of the FIN arrived, and it is "+
		"tcp_timewait_state_process() that answers the request with the RST, counting no TCPAbortOnData.")
}

// poolWire is what both checks read of the capture: the client's two
// requests, the response, the server's FIN and the RST.
type poolWire struct {
	req, resp, late, fin, rst *frame
	// idle is the silence before the server's FIN: from the last
	// segment with payload before it, the crossing request aside.
	idle time.Duration
}

// readPool finds the exchange on the wire: two 100-byte requests from
// the client, one 300-byte response, one server FIN and a RST from the
// server that answers the late request (seq = its ack).
func readPool(c *flowCheck) (*poolWire, bool) {
	in := c.fl.inc
	p := &poolWire{rst: in.rst}
	var reqs, resps []*frame
	for _, f := range in.frames {
		switch {
		case f.len == 0:
		case in.role(f) == rc:
			reqs = append(reqs, f)
		default:
			resps = append(resps, f)
		}
	}
	if len(reqs) != 2 || reqs[0].len != 100 || reqs[1].len != 100 || len(resps) != 1 || resps[0].len != 300 {
		c.failf("%d client segments with payload and %d server ones, want two 100-byte requests and a 300-byte response",
			len(reqs), len(resps))
		return nil, false
	}
	p.req, p.late, p.resp = reqs[0], reqs[1], resps[0]
	if len(in.fins[rs]) != 1 || p.rst == nil || in.rstRole != rs {
		c.failf("want one FIN from the server and its RST")
		return nil, false
	}
	p.fin = in.fins[rs][0]
	var last *frame
	for _, f := range in.frames {
		if f.no < p.fin.no && f.len > 0 && f != p.late {
			last = f
		}
	}
	if last != p.resp || p.req.no > p.resp.no {
		c.failf("the last segment with payload before the server's FIN is %v, want the response", last)
		return nil, false
	}
	p.idle = time.Duration(p.fin.t - last.t)
	if p.idle < poolIdle {
		c.failf("the server's FIN came %v after the last segment with payload, want %v or more", p.idle, poolIdle)
	}
	if p.rst.no < p.late.no || p.rst.seq != p.late.ack || p.rst.has(fACK) {
		c.failf("the RST, %v, is no reply-RST ([R], seq = its ack) to the client's late request, %v", p.rst, p.late)
	}
	rsts := 0
	for _, f := range in.frames {
		if f.has(fRST) {
			rsts++
		}
		if f.no > p.rst.no {
			c.failf("%v after the RST", f)
		}
	}
	if rsts != 1 {
		c.failf("%d RSTs, want 1", rsts)
	}
	return p, true
}

func keepaliveIdleStale() *scenario {
	const late = 500 * time.Millisecond
	return &scenario{
		name: "keepalive-idle-stale",
		summary: "a keep-alive pool's stale connection: the server closes it after 1 s idle, the client's kernel ACKs the " +
			"FIN, and its next request 500 ms later, which acknowledges that FIN, gets [R]",
		desc: "The HTTP keep-alive pool bug. The client sends a 100-byte request and reads the 300-byte response; the " +
			"connection then stays idle for 1 s, the server's idle timeout, and the server close()s it. The client's " +
			"kernel ACKs the FIN (its socket goes to CLOSE_WAIT, the server's orphan to FIN_WAIT2), but the client " +
			"application, which keeps the connection in its pool, does not read it: 500 ms after the FIN it writes its " +
			"next 100-byte request on the connection. The request acknowledges the FIN (ack = FIN seq + 1); the server's " +
			"orphaned FIN_WAIT2 answers it with [R] (seq = that ack), which resets the client's socket, and the client " +
			"close()s it. Default sysctls; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			// The server's orphan is a FIN_WAIT2 timewait sock by then
			// (tcp_fin_timeout 60 s, not above TCP_TIMEWAIT_LEN), which
			// answers data with a RST and counts no TCPAbortOnData.
			staleRequest(e, late, true, 0)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			c.kind(analyze.ResetKind).initiator(analyze.Server).handshake(analyze.HandshakeComplete).
				fins(rc, 0, 0).fins(rs, 1, 1).reset("server", analyze.CauseDataAfterClose).
				diags(analyze.CodeRstDataAfterClose).diagSide(analyze.CodeRstDataAfterClose, "server").
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "CLOSED").
				states(rs, "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSED")
			p, ok := readPool(c)
			if !ok {
				return c
			}
			in := c.fl.inc
			if r := c.fl.Close.Reset; r != nil && r.State != "FIN_WAIT2" {
				c.failf("the server reset from %s, want FIN_WAIT2", r.State)
			}
			if p.late.no < p.fin.no || p.late.ack != in.finEnd[rs] {
				c.failf("the client's late request, %v, does not acknowledge the server's FIN, %v (want ack %d)",
					p.late, p.fin, in.finEnd[rs])
			}
			if a := in.ackOfFin[rs]; a == nil || a.len != 0 || a.no > p.late.no {
				c.failf("the client's kernel did not ACK the FIN before the late request")
			}
			if g := time.Duration(p.late.t - p.fin.t); g < late-50*time.Millisecond || g > late+100*time.Millisecond {
				c.failf("the late request came %v after the FIN, want about %v", g, late)
			}
			return c
		}),
		wireNotes: poolNotes,
	}
}

func keepaliveIdleRace() *scenario {
	const (
		delay = 20 * time.Millisecond
		late  = 5 * time.Millisecond
	)
	return &scenario{
		name: "keepalive-idle-race",
		summary: "a keep-alive pool's race across a router that holds every packet 20 ms: the client's next request " +
			"leaves 5 ms after the server's idle close, crosses the FIN, and gets [R]",
		desc: "The HTTP keep-alive pool race. A Linux router joins the two ends and holds every packet it forwards for " +
			"20 ms (its FORWARD chain queues them to NFQUEUE and the lab gives each its ACCEPT verdict 20 ms later: this " +
			"kernel has no netem). The client sends a 100-byte request and reads the 300-byte response; the connection " +
			"then stays idle for 1 s, the server's idle timeout, and the server close()s it; 5 ms later the client, " +
			"which keeps the connection in its pool, writes its next 100-byte request, before the FIN (20 ms on its " +
			"way) has reached it. The request and the FIN cross: the request leaves the client before the FIN arrives " +
			"and does not acknowledge it (ack = FIN seq); it reaches the server's orphan in FIN_WAIT1, which answers it " +
			"with [R] (seq = the request's ack, the FIN's own sequence number). The FIN had reached the client before " +
			"that RST, whose sequence number is one below the client's rcv_nxt then; tcp_reset_check() accepts " +
			"that from a socket in CLOSE_WAIT, so the RST resets the client's socket, and the client close()s it. The " +
			"client's delayed ACK of the FIN had not gone out: nothing of the client's acknowledges the FIN. Default " +
			"sysctls; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		delay:   delay,
		notes: []string{"The client's kernel was in CLOSE_WAIT when the RST came: the FIN reached its interface before " +
			"the RST, and its pending error was EPIPE. But nothing of the client's acknowledges the FIN, so the wire does " +
			"not prove that the client received it (its rules give the client ESTABLISHED until the RST), and the truth " +
			"leaves the client's state sequence out."},
		run: func(e *env) {
			// The server's orphan is a full socket in FIN_WAIT1, whose
			// tcp_rcv_state_process() counts TCPAbortOnData.
			staleRequest(e, late, false, 1)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			c.kind(analyze.ResetKind).initiator(analyze.Server).handshake(analyze.HandshakeComplete).
				fins(rc, 0, 0).fins(rs, 1, 1).reset("server", analyze.CauseDataAfterClose).
				diags(analyze.CodeRstDataAfterClose).diagSide(analyze.CodeRstDataAfterClose, "server").
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").
				states(rs, "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "CLOSED")
			// The kernel's client states are not what the wire can show
			// (the notes): the truth states none.
			c.fl.Sides.Client.States = nil
			c.fl.Sides.Client.FinalState = "CLOSED"
			p, ok := readPool(c)
			if !ok {
				return c
			}
			in := c.fl.inc
			if r := c.fl.Close.Reset; r != nil && r.State != "FIN_WAIT1" {
				c.failf("the server reset from %s, want FIN_WAIT1", r.State)
			}
			if p.late.no > p.fin.no || p.late.t >= p.fin.t || !seqGT(in.finEnd[rs], p.late.ack) {
				c.failf("the client's late request, %v, did not leave before the server's FIN, %v, arrived, or "+
					"acknowledges it (want ack below %d)", p.late, p.fin, in.finEnd[rs])
			}
			for _, f := range in.frames {
				if in.role(f) == rc && f.has(fACK) && seqGE(f.ack, in.finEnd[rs]) {
					c.failf("the client acknowledged the FIN: %v", f)
				}
			}
			if g := time.Duration(p.rst.t - p.late.t); g < 2*delay {
				c.failf("the RST came %v after the late request, want a round trip (%v) or more", g, 2*delay)
			}
			if g := time.Duration(p.fin.t - p.late.t); g > delay {
				c.failf("the FIN arrived %v after the late request left, want less than %v", g, delay)
			}
			if _, toServer, ok := handshakeTrips(c.fl.inc.frames); !ok || toServer < 2*delay {
				c.failf("handshake round trip %v to the server, want %v or more", toServer, 2*delay)
			}
			return c
		}),
		wireNotes: poolNotes,
	}
}

// poolNotes describes the idle period, the server's FIN, the client's
// late request and the RST as the capture shows them.
func poolNotes(w *wire) []string {
	fl := w.truth.Flows[0]
	in := fl.inc
	c := &flowCheck{fl: fl}
	p, ok := readPool(c)
	if !ok {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The response is frame %d; the server's FIN, frame %d (seq %d), came %.3f s after it, the last "+
		"segment with payload before the FIN", p.resp.no, p.fin.no, p.fin.seq, p.idle.Seconds())
	if p.late.no < p.fin.no {
		b.WriteString(", the crossing request aside. ")
	} else {
		b.WriteString(". ")
	}
	if a := in.ackOfFin[rs]; a != nil && a.no < p.late.no {
		fmt.Fprintf(&b, "The client's kernel acknowledged the FIN in frame %d, %.1f ms after it. ", a.no, float64(a.t-p.fin.t)/1e6)
	}
	when := fmt.Sprintf("came %.1f ms after the FIN", float64(p.late.t-p.fin.t)/1e6)
	if p.late.t < p.fin.t {
		when = fmt.Sprintf("left the client %.1f ms before the FIN arrived", float64(p.fin.t-p.late.t)/1e6)
	}
	fmt.Fprintf(&b, "The client's late request, frame %d, %s, with ack %d (the FIN's seq + 1 is %d); "+
		"the server's [R], frame %d, seq %d, came %s after the request.",
		p.late.no, when, p.late.ack, in.finEnd[rs], p.rst.no, p.rst.seq, gapString(p.rst.t-p.late.t))
	return []string{b.String()}
}

// gapString renders a gap of ns nanoseconds in ms, or in µs below 1 ms.
func gapString(ns int64) string {
	if ns < 1e6 {
		return fmt.Sprintf("%d µs", (ns+500)/1000)
	}
	return fmt.Sprintf("%.1f ms", float64(ns)/1e6)
}
