//go:build linux

package main

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// Scenarios of half-closes, retransmitted and lost FINs, expired
// FIN_WAIT2 and long CLOSE_WAIT.

// oneFlow wraps a check of a capture that must hold exactly one flow.
func oneFlow(f func(c *flowCheck) *flowCheck) func(*wire) error {
	return func(w *wire) error {
		c, err := w.one()
		if err != nil {
			return err
		}
		return f(c).err()
	}
}

func halfCloseShutdown() *scenario {
	return &scenario{
		name:    "half-close-shutdown",
		summary: "client shutdown(SHUT_WR); the server streams 20 kB over 3 s, then closes",
		desc: "The client sends a 100-byte request and calls shutdown(SHUT_WR), keeping its socket open; the server reads " +
			"to EOF, then writes 1000 bytes every 150 ms for 3 s (which the client ACKs) and close()s; the client reads to EOF and " +
			"close()s. Default sysctls; SLL framing (-i any -y LINUX_SLL at the server).",
		vantage: vantageServer,
		framing: frameSLL,
		run: func(e *env) {
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			c.write(100)
			c.shutdownWR()
			s.readEOF()
			for range 20 {
				s.write(1000)
				e.sleep(150 * time.Millisecond)
			}
			s.close()
			c.readEOF()
			c.close()
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.FourWay).initiator(analyze.Client).halfClose("server", analyze.ActiveUsedShutdown).
				fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").diags().
				states(rc, activeStates...).states(rs, passiveStates...)
		}),
	}
}

func halfCloseReset() *scenario {
	return &scenario{
		name:    "half-close-rst",
		summary: "client close()s; the server's late data is answered by RST",
		desc: "The client sends a 100-byte request and close()s (an orphan); the server reads to EOF, waits 200 ms and writes " +
			"1000 bytes, which the client's orphaned FIN_WAIT2 answers with RST. Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			c.write(100)
			c.close()
			s.readEOF()
			e.sleep(200 * time.Millisecond)
			s.write(1000)
			e.sleep(200 * time.Millisecond)
			s.close()
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.ResetKind).initiator(analyze.Client).halfClose("server", analyze.ActiveUsedClose).
				fins(rc, 1, 1).fins(rs, 0, 0).reset("client", analyze.CauseDataAfterClose).
				diags(analyze.CodeRstDataAfterClose).
				states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSED").
				states(rs, "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "CLOSED")
		}),
	}
}

func finRetransmitted() *scenario {
	return &scenario{
		name:    "fin-retransmitted",
		summary: "the client's FIN is dropped for 500 ms, retransmitted (TLP, then RTO) and acknowledged",
		desc: "The client close()s after a short exchange; an iptables rule at the server drops the client's FINs for " +
			"500 ms, so the FIN goes out again (a tail-loss probe, then an RTO retransmission) before one arrives and is ACKed; " +
			"the server then close()s. Default sysctls; captured at the server, which sees the dropped FINs arrive.",
		vantage: vantageServer,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			e.drop(sideServer, "--tcp-flags", "FIN", "FIN")
			c.close()
			e.sleep(500 * time.Millisecond)
			e.undrop()
			passiveClose(e, s, 100*time.Millisecond)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.FourWay).initiator(analyze.Client).fins(rc, 2, 4).fins(rs, 1, 1).reset("", "").
				diags(analyze.CodeFinRetransmitted).
				states(rc, activeStates...).states(rs, passiveStates...)
		}),
	}
}

// finNeverAcked: the client's FIN never reaches the server; the orphan
// gives up silently after the tcp_orphan_retries time budget.
func finNeverAcked(retries string, fins int, fr framing, v vantage) *scenario {
	return &scenario{
		name:    "fin-never-acked-orphan-retries-" + retries,
		summary: fmt.Sprintf("every client FIN is dropped; tcp_orphan_retries=%s: %d FINs, then silence, no RST", retries, fins),
		desc: fmt.Sprintf("The client close()s after a short exchange; an iptables rule at the server drops every client FIN, "+
			"so the orphan retransmits it (TLP, then RTO backoff) until the tcp_orphan_retries=%s time budget is spent and "+
			"then vanishes without a RST. The server stays ESTABLISHED and silent. The capture runs 3 s past the give-up.", retries),
		vantage: v,
		framing: fr,
		sysctls: sysctls(map[string]string{"net.ipv4.tcp_orphan_retries": retries}, nil),
		noQuiet: true,
		tail:    3 * time.Second,
		run: func(e *env) {
			finsDropped(e, (*sock).close)
		},
		check: neverAcked(fins, fins),
	}
}

// finsDropped runs a short exchange, has the server drop every client
// FIN, ends the client's sending side with end (close or shutdown) and
// waits until the client's FIN_WAIT1 is gone; it returns the client's
// socket.
func finsDropped(e *env, end func(*sock)) *sock {
	ln := e.listen()
	c, _ := exchange(e, ln, 100, 100)
	e.drop(sideServer, "--tcp-flags", "FIN", "FIN")
	end(c)
	e.has(sideClient, "FIN-WAIT-1", 5*time.Second)
	e.gone(sideClient, "FIN-WAIT-1", 60*time.Second)
	return c
}

// neverAcked checks one flow whose client FIN went lo to hi times and
// was never acknowledged, the server silent.
func neverAcked(lo, hi int) func(*wire) error {
	return oneFlow(func(c *flowCheck) *flowCheck {
		return c.kind(analyze.HalfClosedAtEnd).initiator(analyze.Client).fins(rc, lo, hi).fins(rs, 0, 0).
			reset("", "").diags(analyze.CodeFinNeverAcked).
			states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1").states(rs, "SYN_RECV", "ESTABLISHED")
	})
}

// finNeverAckedShutdown: as finNeverAcked, but the client only shuts
// down its sending side: no orphan, so tcp_retries2 bounds the FIN's
// retransmissions, and the application learns of it (ETIMEDOUT).
func finNeverAckedShutdown() *scenario {
	return &scenario{
		name:    "fin-never-acked-shutdown-retries2-3",
		summary: "every client FIN is dropped after shutdown(SHUT_WR); tcp_retries2=3: the same FINs as an orphan with tcp_orphan_retries=3, then silence",
		desc: "The client calls shutdown(SHUT_WR) after a short exchange, keeping its socket; an iptables rule at the server drops " +
			"every client FIN, so the client retransmits it (TLP, then RTO backoff) until the tcp_retries2=3 time budget is " +
			"spent and the socket closes without a RST (the application sees ETIMEDOUT). No orphan: tcp_orphan_retries does " +
			"not apply. The server stays ESTABLISHED and silent. Captured with dumpcap, whose pcapng records when the capture " +
			"stopped, 3 s past the give-up.",
		vantage: vantageClient,
		framing: frameDumpcap,
		sysctls: sysctls(map[string]string{"net.ipv4.tcp_retries2": "3"}, nil),
		noQuiet: true,
		tail:    3 * time.Second,
		run: func(e *env) {
			finsDropped(e, (*sock).shutdownWR).soError(unix.ETIMEDOUT)
		},
		check: neverAcked(4, 8),
	}
}

// orphanLimitReset: with tcp_max_orphans = 0, one orphan is already too
// many, so the kernel resets orphans instead of letting them finish their
// close (KERNEL.md row 2, both of its paths).
func orphanLimitReset() *scenario {
	host := map[string]string{"net.ipv4.tcp_max_orphans": "0"}
	return &scenario{
		name:    "orphan-limit-reset",
		summary: "tcp_max_orphans=0 (host-wide, for half a second): FIN then [R.] at close(), and [R.] in place of a FIN retransmission",
		desc: "Two connections exchange 100 bytes each way; an iptables rule at the server drops every client FIN. With " +
			"net.ipv4.tcp_max_orphans=0 (a global sysctl: set in the host's namespace for the half second of the two closes, then set back) the client " +
			"close()s the first connection, which becomes the only orphan, and 300 ms later (once the kernel's orphan count, " +
			"refreshed every 100 ms, has seen it) the second: tcp_check_oom() finds too many orphans and the second is reset " +
			"right after its FIN, the first at its first retransmission timeout. Captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		host:    host,
		noQuiet: true,
		tail:    500 * time.Millisecond,
		run: func(e *env) {
			ln := e.listen()
			a, _ := exchange(e, ln, 100, 100)
			b, _ := exchange(e, ln, 100, 100)
			e.drop(sideServer, "--tcp-flags", "FIN", "FIN")
			e.hostSysctls(host)
			a.close()
			e.sleep(300 * time.Millisecond)
			b.close()
			e.gone(sideClient, "FIN-WAIT-1", 5*time.Second)
			e.restoreHost()
		},
		check: func(w *wire) error {
			fl, err := w.flows(2)
			if err != nil {
				return err
			}
			var errs []error
			for i, c := range fl {
				// The first is reset where a retransmission was due,
				// after its FIN and a tail-loss probe; the second at
				// close(), after its one FIN.
				lo, hi := 2, 3
				if i == 1 {
					lo, hi = 1, 1
				}
				errs = append(errs, c.kind(analyze.ResetKind).initiator(analyze.Client).fins(rc, lo, hi).fins(rs, 0, 0).
					reset("client", analyze.CauseOrphanLimit).diags(analyze.CodeOrphanReset).
					states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "CLOSED").
					states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED").err(), challengedAtServer(c))
			}
			return errors.Join(errs...)
		},
		notes: []string{"The server never received a client FIN (its firewall dropped each after tcpdump had seen " +
			"it), so each client [R.], at the sequence number past the FIN, was not where the server expected the " +
			"next one: the server answered it with a challenge ACK (RFC 5961: a pure ACK of the FIN's sequence " +
			"number, microseconds later) and lived on, and the client's kernel, the socket gone, answered that ACK " +
			"with a bare [R] at its acknowledgement number, which reset the server."},
	}
}

// challengedAtServer checks that the server of flow c was reset by the
// client's bare [R] answering the server's challenge ACK of the client's
// earlier [R.]: the server's CLOSED entry is that [R], the server's last
// frame before it a pure ACK at its sequence number, and the flow's first
// RST one past it.
func challengedAtServer(c *flowCheck) error {
	st := c.side(rs).States
	in := c.fl.inc
	if len(st) == 0 || in.rst == nil {
		return fmt.Errorf("flow %s-%s: no server states or no RST", c.fl.Client, c.fl.Server)
	}
	var ack *frame
	for _, f := range in.frames {
		if f.no == st[len(st)-1].Frame {
			if f.src != in.client || !f.has(fRST) || f.has(fACK) || ack == nil || f.seq != ack.ack ||
				f == in.rst || in.rst.seq != ack.ack+1 {
				return fmt.Errorf("flow %s-%s: the server's CLOSED at %v is not the client's [R] answering a challenge ACK (%v) of the [R.] %v",
					c.fl.Client, c.fl.Server, f, ack, in.rst)
			}
			return nil
		}
		if f.src == in.server {
			ack = f
			if f.flags&(fACK|fRST|fSYN|fFIN) != fACK || f.len != 0 {
				ack = nil
			}
		}
	}
	return fmt.Errorf("flow %s-%s: the server's CLOSED frame %d is not in the flow", c.fl.Client, c.fl.Server, st[len(st)-1].Frame)
}

func finWait2Timeout() *scenario {
	return &scenario{
		name:    "fin-wait-2-timeout",
		summary: "tcp_fin_timeout=2 at the client; the server's FIN, sent after that FIN_WAIT2 expired, gets RST",
		desc: "The client close()s with net.ipv4.tcp_fin_timeout=2; the server ACKs but keeps CLOSE_WAIT until the client's " +
			"orphaned FIN_WAIT2 has expired, then close()s; its late FIN finds no socket and is answered by a bare RST. " +
			"Captured at a router between the two.",
		vantage: vantageRouter,
		framing: frameEthernet,
		sysctls: sysctls(map[string]string{"net.ipv4.tcp_fin_timeout": "2"}, nil),
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.close()
			s.readEOF()
			e.has(sideClient, "FIN-WAIT-2", 5*time.Second)
			e.gone(sideClient, "FIN-WAIT-2", 20*time.Second)
			e.sleep(time.Second)
			s.close()
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			// The RST comes from no socket at all: the sender had no
			// state, so the truth leaves reset.state out.
			if c.fl.Close.Reset != nil {
				c.fl.Close.Reset.State = ""
			}
			return c.kind(analyze.ResetKind).initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 1, 1).
				reset("client", analyze.CauseFinWait2Timeout).
				diags(analyze.CodeFinWait2Timeout, analyze.CodeCloseWaitLong).
				states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSED").
				states(rs, "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED").err()
		},
	}
}

// closeWaitPool: a client's connection pool that does not close the
// connections its server closed (CLOSE_WAIT on the client side).
func closeWaitPool() *scenario {
	const n = 4
	return &scenario{
		name:    "close-wait-pool",
		summary: fmt.Sprintf("%d pooled connections the server closes; the client closes one of them 1.5 s later, the others stay in CLOSE_WAIT", n),
		desc: fmt.Sprintf("The client opens %d connections and exchanges 100 bytes each way on each; the server then close()s "+
			"them all (an idle timeout, say), and the client's kernel ACKs each FIN, but the client closes only the first, "+
			"1.5 s later, as a pool that finds a dead connection only when it takes it; the other %d are still in CLOSE_WAIT "+
			"when the capture stops 0.5 s after that. Captured with dumpcap at the client.", n, n-1),
		vantage: vantageClient,
		framing: frameDumpcap,
		noQuiet: true,
		tail:    500 * time.Millisecond,
		run: func(e *env) {
			ln := e.listen()
			var cs, ss []*sock
			for range n {
				c, s := exchange(e, ln, 100, 100)
				cs, ss = append(cs, c), append(ss, s)
			}
			for _, s := range ss {
				s.close()
			}
			e.until(2*time.Second, fmt.Sprintf("%d CLOSE-WAIT at the client", n), func() (bool, error) {
				st, err := e.states(sideClient)
				return count(st, "CLOSE-WAIT") == n, err
			})
			e.sleep(1500 * time.Millisecond)
			cs[0].close()
			e.has(sideServer, "TIME-WAIT", 2*time.Second)
		},
		check: func(w *wire) error {
			fl, err := w.flows(n)
			if err != nil {
				return err
			}
			errs := []error{fl[0].kind(analyze.FourWay).initiator(analyze.Server).fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").
				diags(analyze.CodeCloseWaitLong).states(rs, "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT").
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED").err()}
			for _, c := range fl[1:] {
				errs = append(errs, c.kind(analyze.HalfClosedAtEnd).initiator(analyze.Server).fins(rc, 0, 0).fins(rs, 1, 1).
					reset("", "").diags(analyze.CodeCloseWaitLong, analyze.CodeCaptureEndedMidClose).
					states(rs, "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2").
					states(rc, "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT").err())
			}
			return errors.Join(errs...)
		},
	}
}

// count is how many of st are x.
func count(st []string, x string) int {
	n := 0
	for _, s := range st {
		if s == x {
			n++
		}
	}
	return n
}

func closeWaitLongScenario() *scenario {
	return &scenario{
		name:    "close-wait-long",
		summary: "the server close()s 3 s after read() returned 0: a long CLOSE_WAIT",
		desc: "The client close()s after a short exchange; the server's read() returns 0 at once but it close()s only 3 s " +
			"later, holding CLOSE_WAIT (no sysctl governs it). Default sysctls; pcapng (editcap -F pcapng).",
		vantage: vantageClient,
		framing: framePcapng,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.close()
			passiveClose(e, s, 3*time.Second)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.FourWay).initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").
				diags(analyze.CodeCloseWaitLong).states(rc, activeStates...).states(rs, passiveStates...)
		}),
	}
}

func lastAckAbsorbed() *scenario {
	return &scenario{
		name:    "last-ack-fin-absorbed",
		summary: "the client's ACKs of the server's FIN are dropped for 1 s; its TIME_WAIT re-ACKs each retransmission",
		desc: "The client close()s first; after the server's close() an iptables rule at the server drops the client's pure " +
			"ACKs for 1 s, so the server retransmits its FIN from LAST_ACK and the client's TIME_WAIT answers every copy with " +
			"the same ACK until one gets through. Default sysctls; SLL2 framing (-i any at the client).",
		vantage: vantageClient,
		framing: frameSLL2,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.close()
			s.readEOF()
			e.sleep(100 * time.Millisecond)
			e.drop(sideServer, "--tcp-flags", "ALL", "ACK")
			s.close()
			e.sleep(time.Second)
			e.undrop()
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.FourWay).initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 3, 6).reset("", "").
				diags(analyze.CodeFinRetransmitted).states(rc, activeStates...).states(rs, passiveStates...)
		}),
	}
}

func finZeroWindow() *scenario {
	return &scenario{
		name:    "fin-zero-window",
		summary: "the server stops reading: its zero window holds the client's data and FIN back for 3 s",
		desc: "The server's listener has SO_RCVBUF 4096; the client writes 64 kB and close()s, but the server does not read " +
			"for 3 s, so its window closes and the client's FIN waits behind the data (window probes meanwhile); then the " +
			"server reads to EOF and close()s. Default sysctls; 802.1Q VLAN 100 tag inserted after the capture (this kernel " +
			"has no 802.1Q devices); snaplen 96.",
		vantage: vantageClient,
		framing: frameVLAN,
		snaplen: 96,
		run: func(e *env) {
			ln := e.listen(rcvbuf(4096))
			c := e.dial(0, sndbuf(256<<10))
			s := ln.accept()
			c.write(64 << 10)
			c.close()
			e.sleep(3 * time.Second)
			s.readEOF()
			s.close()
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			if k := c.fl.Close.Kind; k != string(analyze.FourWay) && k != string(analyze.ThreeWay) {
				c.failf("close kind %s, want four_way or three_way", k)
			}
			return c.initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").
				diags(analyze.CodeFinBlockedZeroWindow)
		}),
	}
}

func captureEndsMidClose() *scenario {
	return &scenario{
		name:    "capture-ends-mid-close",
		summary: "the capture stops 300 ms after the client's FIN, while the server is still in CLOSE_WAIT",
		desc: "The client close()s after a short exchange; the server reads EOF but has not closed when tcpdump is stopped " +
			"300 ms later, so the capture ends mid-close. Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		noQuiet: true,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.close()
			s.readEOF()
			e.sleep(300 * time.Millisecond)
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.HalfClosedAtEnd).initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 0, 0).reset("", "").
				diags(analyze.CodeCaptureEndedMidClose).
				states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2").
				states(rs, "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT")
		}),
	}
}
