//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
)

// A RST inside the receiver's window but not at its rcv_nxt: Linux
// (RFC 5961, tcp_validate_incoming()) answers it with a challenge ACK
// and keeps the connection; the RST's sender, whose socket is gone,
// answers that ACK with a bare RST at the ACK's number, which the
// receiver accepts.

// challengeCounters are the counters rst-challenge-ack reads at each end
// before the client's abort and after the server's reset (nstat's
// absolute values: the namespaces are new).
var challengeCounters = []string{"TcpOutRsts", "TcpEstabResets", "TcpRetransSegs", "TcpExtTCPAbortOnData",
	"TcpExtTCPAbortOnClose", "TcpExtTCPChallengeACK", "TcpExtTCPACKSkippedChallenge"}

// challengeWant is how far each counter of challengeCounters moves at
// each end (rc, rs) over the abort.
var challengeWant = [2]map[string]int64{
	// The [R.] of the abort (tcp_send_active_reset) and the reply [R]
	// (tcp_v4_send_reset); tcp_disconnect() took the socket from
	// ESTABLISHED to CLOSE; SO_LINGER {1, 0} counts TCPAbortOnData.
	{"TcpOutRsts": 2, "TcpEstabResets": 1, "TcpExtTCPAbortOnData": 1},
	// One challenge ACK, then the reset of its ESTABLISHED socket.
	{"TcpEstabResets": 1, "TcpExtTCPChallengeACK": 1},
}

// challengeDrop is the server's INPUT rule that drops the client's
// 1000-byte segment (and nothing shorter: the [R.] and every ACK get
// through).
var challengeDrop = []string{"INPUT", "-p", "tcp", "--dport", strconv.Itoa(serverPort),
	"-m", "length", "--length", "1000:65535", "-j", "DROP"}

func rstChallengeACK() *scenario {
	// resetAt is when the server's read() failed in the run that made
	// the capture (ns since the epoch); 0 when the truth is derived again
	// from a stored capture.
	var resetAt int64
	return &scenario{
		name: "rst-challenge-ack",
		summary: "the client aborts (SO_LINGER {1,0}) with 1000 bytes the server never got: its [R.] is in the server's " +
			"window but not at rcv_nxt, the server answers with a challenge ACK (RFC 5961), and the client's kernel, " +
			"with no socket, answers that with a bare [R] at rcv_nxt, which resets the server",
		desc: "The client sends a 100-byte request and the server answers 100 bytes. Then the client writes 1000 bytes, " +
			"which an iptables rule in the server's INPUT chain (length 1000 and up) drops after the capture at the " +
			"client saw them leave, and at once sets SO_LINGER {on, 0 s} and close()s: its kernel sends [R.] with seq " +
			"= its snd_nxt, 1000 beyond the server's rcv_nxt, inside the server's window (64 KB). Linux accepts a RST only at " +
			"rcv_nxt (RFC 5961, tcp_validate_incoming()): the server's kernel answers it with a challenge ACK (ack = " +
			"its rcv_nxt) and its socket stays ESTABLISHED. The client's kernel has no socket for that ACK any more " +
			"and answers with a bare [R] whose seq is the ACK's ack, which the server's kernel accepts: its blocking " +
			"read() fails with ECONNRESET. Default sysctls; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		notes: []string{"Two RSTs from the client's address: the first, [R.], is its socket's abort (the client's " +
			"socket is CLOSED from it on); the server's kernel refused it, answered with a challenge ACK and stayed " +
			"ESTABLISHED; the second, a bare [R] (no ACK, no timestamps, IP ID 0), is the client's kernel's reply " +
			"path answering that ACK for want of a socket, and it closed the server's socket.",
			"The dropped 1000-byte segment shows in the capture: it left the client. A capture at the server shows " +
				"the same frames, that segment too: tcpdump sees a packet before netfilter's INPUT hook drops it. " +
				"The drop rule is removed once the server's read() failed."},
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			// The client's ACK of the response goes out first: the
			// server has nothing to retransmit meanwhile.
			e.sleep(100 * time.Millisecond)
			limit := e.sysctlValue(sideServer, "net.ipv4.tcp_challenge_ack_limit")
			oow := e.sysctlValue(sideServer, "net.ipv4.tcp_invalid_ratelimit")
			before := [2]map[string]int64{e.nstat(sideClient, challengeCounters...), e.nstat(sideServer, challengeCounters...)}
			var wrote time.Time
			var took time.Duration
			together(func() {
				start := time.Now()
				s.readReset(2 * time.Second)
				took = time.Since(start)
				resetAt = time.Now().UnixNano()
			}, func() {
				// The server is blocked in read() before the write.
				e.sleep(100 * time.Millisecond)
				e.rule(sideServer, challengeDrop)
				wrote = time.Now()
				c.write(1000)
				c.lingerZero()
				c.close()
			})
			dropped := e.ruleCount(sideServer, "filter", "INPUT", "length 1000:65535")
			e.unrule(sideServer, challengeDrop)
			s.close()
			e.quiet(2 * time.Second)
			after := [2]map[string]int64{e.nstat(sideClient, challengeCounters...), e.nstat(sideServer, challengeCounters...)}
			if e.failed() != nil {
				return
			}
			var moved [2][]string
			for r := range 2 {
				for _, k := range challengeCounters {
					d := after[r][k] - before[r][k]
					if d != challengeWant[r][k] {
						e.fail(fmt.Errorf("the %s's %s moved by %d over the abort, want %d", roleName[r], k, d, challengeWant[r][k]))
					}
					moved[r] = append(moved[r], fmt.Sprintf("%s %d -> %d", counterName(k), before[r][k], after[r][k]))
				}
			}
			fmt.Fprintf(os.Stderr, "teardown-lab: challenge ACK limit %s, invalid ratelimit %s ms; dropped %d; client %v; server %v; "+
				"the server's read() failed %v after it began, at %d ns\n", limit, oow, dropped, moved[rc], moved[rs], took, resetAt)
			if dropped != 1 {
				e.fail(fmt.Errorf("the server's drop rule dropped %d segments, want 1", dropped))
			}
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("In the server's namespace net.ipv4.tcp_challenge_ack_limit is %s (this kernel's default: "+
					"effectively unlimited; older kernels allowed 1000 a second, host-wide) and net.ipv4.tcp_invalid_ratelimit "+
					"%s ms, the per-socket bound on out-of-window ACKs, which a socket's first challenge ACK never meets "+
					"(TcpExtTCPACKSkippedChallenge stayed 0).", limit, oow),
				fmt.Sprintf("nstat -az (absolute), from after the exchange to the end: the client's %s; the server's %s. "+
					"The server's drop rule dropped 1 segment, the 1000 bytes.",
					strings.Join(moved[rc], ", "), strings.Join(moved[rs], ", ")),
				fmt.Sprintf("The server's blocking read(), begun 100 ms before the client's write, failed with "+
					"ECONNRESET %.1f ms after the write.", float64(time.Duration(resetAt-wrote.UnixNano()))/1e6))
		},
		check: func(w *wire) error {
			c, x, err := challengeWire(w)
			if err != nil {
				return err
			}
			if resetAt != 0 && resetAt < x.rst2.t {
				return fmt.Errorf("the server's read() failed %.0f µs before the second RST (%v) left the client",
					float64(x.rst2.t-resetAt)/1e3, x.rst2)
			}
			return c.kind(analyze.ResetKind).initiator(analyze.Client).handshake(analyze.HandshakeComplete).
				fins(rc, 0, 0).fins(rs, 0, 0).reset("client", analyze.CauseLingerZero).resetAt(x.rst1.no).
				diags(analyze.CodeRstLingerZero).halfClose("", "").
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED").
				closedAt(rc, x.rst1.no).closedVia(rc, "rst").closedAt(rs, x.rst2.no).closedVia(rs, "rst").err()
		},
		wireNotes: challengeNotes,
	}
}

// counterName spells an nstat counter as the notes do: "Tcp OutRsts",
// "TcpExt TCPChallengeACK".
func counterName(k string) string {
	if rest, ok := strings.CutPrefix(k, "TcpExt"); ok {
		return "TcpExt " + rest
	}
	return "Tcp " + strings.TrimPrefix(k, "Tcp")
}

// sysctlValue reads a sysctl in the namespace of side s.
func (e *env) sysctlValue(s side, key string) string {
	if e.failed() != nil {
		return ""
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "sysctl", "-n", key)
	e.fail(err)
	return strings.TrimSpace(out)
}

// challengeFrames names the frames of rst-challenge-ack's close.
type challengeFrames struct {
	data *frame // the client's 1000 bytes, dropped at the server
	rst1 *frame // the client's [R.]
	ack  *frame // the server's challenge ACK
	rst2 *frame // the client's kernel's bare [R]
	// srvNxt is what the server had sent before the challenge (its
	// snd_nxt), cliNxt what the client had before its 1000 bytes (the
	// server's rcv_nxt).
	srvNxt, cliNxt uint32
}

// challengeWire finds the frames of challengeFrames and checks what the
// wire must show of them: the last four frames of the one flow.
func challengeWire(w *wire) (*flowCheck, *challengeFrames, error) {
	c, err := w.one()
	if err != nil {
		return nil, nil, err
	}
	in := c.fl.inc
	fs := in.frames
	if len(fs) < 8 {
		return nil, nil, fmt.Errorf("%d frames, want the handshake, the exchange and the four of the close", len(fs))
	}
	x := &challengeFrames{data: fs[len(fs)-4], rst1: fs[len(fs)-3], ack: fs[len(fs)-2], rst2: fs[len(fs)-1]}
	var sent, cliData, srvData uint32
	for _, f := range fs[:len(fs)-4] {
		end := f.seq + f.len
		if f.has(fSYN) {
			end++
		}
		if f.has(fFIN) || f.has(fRST) {
			return nil, nil, fmt.Errorf("%v before the close", f)
		}
		if in.role(f) == rc {
			x.cliNxt, cliData = end, cliData+f.len
		} else {
			sent, srvData = end, srvData+f.len
		}
	}
	x.srvNxt = sent
	d, r1, a, r2 := x.data, x.rst1, x.ack, x.rst2
	switch {
	case cliData != 100 || srvData != 100:
		return nil, nil, fmt.Errorf("the exchange carried %d bytes from the client and %d from the server, want 100 each", cliData, srvData)
	case in.role(d) != rc || d.flags&^fPSH != fACK || d.len != 1000 || d.seq != x.cliNxt:
		return nil, nil, fmt.Errorf("%v is not the client's 1000 bytes at seq %d", d, x.cliNxt)
	case in.role(r1) != rc || r1.flags != fRST|fACK || r1.seq != d.seq+d.len || r1.ack != x.srvNxt || r1.len != 0:
		return nil, nil, fmt.Errorf("%v is not the client's [R.] at seq %d (its snd_nxt), ack %d", r1, d.seq+d.len, x.srvNxt)
	case in.role(a) != rs || a.flags != fACK || a.len != 0 || a.seq != x.srvNxt || a.ack != x.cliNxt || !a.ts:
		return nil, nil, fmt.Errorf("%v is not the server's challenge ACK: seq %d, ack %d (its rcv_nxt, 1000 below the RST), from its socket (timestamps)",
			a, x.srvNxt, x.cliNxt)
	case int64(r1.seq-a.ack) != 1000:
		return nil, nil, fmt.Errorf("the [R.]'s seq is %d beyond the challenge's ack, want 1000", r1.seq-a.ack)
	case in.role(r2) != rc || r2.flags != fRST || r2.seq != a.ack || r2.len != 0 || r2.ts || (r2.ipid >= 0 && r2.ipid != 0):
		return nil, nil, fmt.Errorf("%v is not the client's kernel's bare [R] at seq %d (no timestamps, IP ID 0)", r2, a.ack)
	case r1.t-d.t > 10e6 || a.t-r1.t > 10e6 || r2.t-a.t > 10e6:
		return nil, nil, errors.New("the close's four frames are not back to back (10 ms each)")
	}
	return c, x, nil
}

// closedVia checks that role r's last state was entered via via (a RST:
// "rst").
func (c *flowCheck) closedVia(r int, via string) *flowCheck {
	if s := c.side(r).States; len(s) > 0 && s[len(s)-1].Via != via {
		c.failf("%s's last state %s at frame %d via %q, want via %q", roleName[r], s[len(s)-1].State, s[len(s)-1].Frame, s[len(s)-1].Via, via)
	}
	return c
}

// challengeNotes describes the close frame by frame.
func challengeNotes(w *wire) []string {
	_, x, err := challengeWire(w)
	if err != nil {
		return nil
	}
	d, r1, a, r2 := x.data, x.rst1, x.ack, x.rst2
	return []string{fmt.Sprintf("Frame %d: the client's 1000 bytes, seq %d, dropped at the server. Frame %d, %.0f µs "+
		"later: the client's [R.], seq %d (its snd_nxt), ack %d. Frame %d, %.0f µs later: the server's challenge "+
		"ACK, seq %d, ack %d (its rcv_nxt, 1000 below the RST's seq). Frame %d, %.0f µs later: the "+
		"client's bare [R], seq %d (the challenge's ack), IP ID 0, no timestamps.",
		d.no, d.seq, r1.no, float64(r1.t-d.t)/1e3, r1.seq, r1.ack, a.no, float64(a.t-r1.t)/1e3, a.seq, a.ack,
		r2.no, float64(r2.t-a.t)/1e3, r2.seq)}
}
