//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// rejectedPort is the server's port that icmp-unmatched's firewall
// rejects, beside serverPort, which it serves.
const rejectedPort = 9090

// unmatchedFilter is icmp-unmatched's capture filter, as a user would
// write it to watch one service: its TCP port and every ICMP message.
var unmatchedFilter = "tcp port " + strconv.Itoa(serverPort) + " or icmp"

// rejectPort is icmp-unmatched's INPUT rule at the server: a port
// unreachable for every TCP segment to rejectedPort.
var rejectPort = []string{"INPUT", "-p", "tcp", "--dport", strconv.Itoa(rejectedPort), "-j", "REJECT",
	"--reject-with", "icmp-port-unreachable"}

// unmatchedCounters are the counters icmp-unmatched reads with nstat
// over the rejected connect(), per side.
var unmatchedCounters = map[side][]string{
	sideClient: {"IcmpInDestUnreachs", "TcpExtLockDroppedIcmps", "TcpExtTCPSynRetrans", "TcpActiveOpens"},
	sideServer: {"IcmpOutDestUnreachs", "IcmpOutRateLimitHost", "IcmpOutRateLimitGlobal"},
}

// icmpUnmatched is a capture behind a filter: the client's connection to
// the served port, with the ICMP errors that answered its SYNs to a
// rejected port, but none of those SYNs.
func icmpUnmatched() *scenario {
	// syns are the client's SYNs to rejectedPort as a second capture at
	// the client (tcp port rejectedPort) recorded them during a run; nil
	// when the truth is derived again from the stored capture alone.
	var syns []*frame
	return &scenario{
		name: "icmp-unmatched",
		summary: "captured behind the filter `" + unmatchedFilter + "`: a clean close on port 8080, and the server's " +
			"port unreachables for the client's SYNs to port 9090, which the filter left out: ICMP errors quoting " +
			"segments of no connection in the capture",
		desc: "The server listens on port 8080; its INPUT chain (iptables) REJECTs every TCP segment to port 9090 " +
			"with icmp-port-unreachable. The client connects to 8080, sends a 100-byte request and reads the 300-byte " +
			"response; then, with that connection open, it connects to port 9090: the server answers each SYN with " +
			"an ICMP destination unreachable (port unreachable, type 3 code 3) from its own address, and connect() " +
			"fails with ECONNREFUSED (on this path with no delay the first error arrives while connect() holds the " +
			"socket's lock, tcp_v4_err only records it as a soft error, and the SYN goes out again 1 s later; the " +
			"error that answers that one ends the socket). Then the client close()s the first connection, and the " +
			"server close()s 150 ms after reading EOF: a four-way close. Default sysctls; captured at the client " +
			"with the filter `" + unmatchedFilter + "`, as a user watching one service would: the capture holds the " +
			"ICMP errors but not the SYNs to port 9090 they quote, so they quote segments of no TCP flow of the capture.",
		vantage: vantageClient,
		framing: frameEthernet,
		filter:  unmatchedFilter,
		// The first error is a soft one only when it arrives while
		// connect() holds the socket's lock, as it did in each of four runs.
		attempts: 3,
		run: func(e *env) {
			syns = nil
			ln := e.listen()
			e.rule(sideServer, rejectPort)
			dir, err := os.MkdirTemp("", "teardown-lab-side-")
			if err != nil {
				e.fail(err)
				return
			}
			defer os.RemoveAll(dir)
			sideFile := filepath.Join(dir, "rejected.pcap")
			sideCap, err := startCapture(e.ctx, e.topo.client, "eth0", "", "tcp port "+strconv.Itoa(rejectedPort), 200, sideFile, false)
			if err != nil {
				e.fail(err)
				return
			}
			sideStopped := false
			defer func() {
				if !sideStopped {
					sideCap.stop()
				}
			}()
			c, s := exchange(e, ln, 100, 300)
			before := map[side]map[string]int64{}
			for sd, names := range unmatchedCounters {
				before[sd] = e.nstat(sd, names...)
			}
			start := time.Now()
			r := e.connectRejectedPort(rejectedPort, unix.ECONNREFUSED, 2500*time.Millisecond)
			took := time.Since(start)
			r.close()
			d := map[string]int64{}
			for sd, names := range unmatchedCounters {
				after := e.nstat(sd, names...)
				for _, k := range names {
					d[k] = after[k] - before[sd][k]
				}
			}
			e.sleep(200 * time.Millisecond)
			c.close()
			passiveClose(e, s, 150*time.Millisecond)
			sideStopped = true
			if err := sideCap.stop(); err != nil {
				e.fail(err)
			}
			if e.failed() != nil {
				return
			}
			all, err := readFrames(e.ctx, sideFile, frameEthernet)
			if err != nil {
				e.fail(err)
				return
			}
			for _, f := range all {
				if f.src.Addr() != clientAddr4 || f.dst != netip.AddrPortFrom(serverAddr4, rejectedPort) ||
					f.flags != fSYN || f.seq != all[0].seq || f.src != all[0].src {
					e.fail(fmt.Errorf("the capture of port %d holds %v, want the client's SYN alone", rejectedPort, f))
					return
				}
			}
			fmt.Fprintf(os.Stderr, "teardown-lab: connect() failed after %v; %d SYNs to port %d; counters %v\n",
				took.Round(time.Millisecond), len(all), rejectedPort, d)
			n := int64(len(all))
			limited := d["IcmpOutRateLimitHost"] + d["IcmpOutRateLimitGlobal"]
			if n == 0 || d["IcmpInDestUnreachs"] != n || d["IcmpOutDestUnreachs"] != n || limited != 0 ||
				d["TcpExtLockDroppedIcmps"] != n-1 || d["TcpExtTCPSynRetrans"] != n-1 || d["TcpActiveOpens"] != 1 {
				e.fail(fmt.Errorf("the client sent %d SYNs to port %d; counters %v: want one connect(), a port "+
					"unreachable sent and received for each SYN, none held back by the rate limit, and every error "+
					"but the last dropped under the socket's lock", n, rejectedPort, d))
				return
			}
			syns = all
			var gaps []string
			for i := 1; i < len(all); i++ {
				gaps = append(gaps, fmt.Sprintf("%d ms", time.Duration(all[i].t-all[i-1].t).Round(time.Millisecond).Milliseconds()))
			}
			again := ""
			if len(gaps) > 0 {
				again = " (the SYN went out again " + strings.Join(gaps, ", ") + " after the one before)"
			}
			e.notes = append(e.notes, fmt.Sprintf("Counted (nstat) over the rejected connect(), which failed with "+
				"ECONNREFUSED %d ms after it was called: the client's kernel counted Tcp ActiveOpens +%d, TcpExt "+
				"TCPSynRetrans +%d and LockDroppedIcmps +%d (errors that came while the socket's lock was held), Icmp "+
				"InDestUnreachs +%d; the server's Icmp OutDestUnreachs +%d, OutRateLimitHost +%d, OutRateLimitGlobal "+
				"+%d. A second capture at the client at the same time, with the filter `tcp port %d`, held the "+
				"client's SYN %d times from port %d%s and nothing else: the SYNs the capture's filter left out.",
				took.Milliseconds(), d["TcpActiveOpens"], d["TcpExtTCPSynRetrans"], d["TcpExtLockDroppedIcmps"],
				d["IcmpInDestUnreachs"], d["IcmpOutDestUnreachs"], d["IcmpOutRateLimitHost"], d["IcmpOutRateLimitGlobal"],
				rejectedPort, len(all), all[0].src.Port(), again))
		},
		check: func(w *wire) error { return checkUnmatched(w, syns) },
		wireNotes: func(w *wire) []string {
			var fr []string
			for _, no := range w.truth.UnmatchedICMPFrames {
				fr = append(fr, strconv.Itoa(no))
			}
			m := w.icmps[0]
			return []string{fmt.Sprintf("The capture holds %d TCP segments, all of the connection to port %d, and %d "+
				"ICMP errors (frames %s), each a port unreachable from %s quoting the client's SYN from %s to %s "+
				"(seq %d) and none of those SYNs: the truth counts them in unmatched_icmp.",
				len(w.frames), serverPort, len(w.icmps), strings.Join(fr, ", "), m.from, m.src, m.dst, m.seq)}
		},
	}
}

// checkUnmatched checks a capture of icmp-unmatched: one clean four-way
// close on serverPort, client first, no ICMP error of its own, and two
// port unreachables from the server quoting the client's SYN to
// rejectedPort, about 1 s apart (the first only left a soft error, and
// the SYN went out again), both unmatched, which came while the first
// connection was open. syns, when
// set, are the SYNs a second capture recorded: one error answers each,
// within 10 ms.
func checkUnmatched(w *wire, syns []*frame) error {
	c, err := w.one()
	if err != nil {
		return err
	}
	c.clientFirst().icmp()
	in := c.fl.inc
	var errs []error
	for _, f := range w.frames {
		if f.src.Port() != serverPort && f.dst.Port() != serverPort {
			errs = append(errs, fmt.Errorf("the capture holds %v, a segment its filter leaves out", f))
		}
	}
	t := w.truth
	if n := len(w.icmps); n != 2 || t.UnmatchedICMP != n || len(t.UnmatchedICMPFrames) != n || t.Duplicates != 0 {
		err := fmt.Errorf("the capture holds %d ICMP errors, the truth counts %d unmatched and %d capture duplicates: "+
			"want two (the first a soft error, the SYN sent again), all unmatched, none a duplicate", n, t.UnmatchedICMP, t.Duplicates)
		if n == 1 {
			err = fmt.Errorf("%w: %w", errRetry, err)
		}
		return errors.Join(append(errs, c.err(), err)...)
	}
	to := netip.AddrPortFrom(serverAddr4, rejectedPort)
	first := w.icmps[0]
	fin := in.fins[rc]
	for i, m := range w.icmps {
		if m.no != t.UnmatchedICMPFrames[i] || m.v6 || m.typ != 3 || m.code != 3 || m.from != serverAddr4 ||
			m.src.Addr() != clientAddr4 || m.dst != to || m.flags != fSYN || m.src != first.src || m.seq != first.seq {
			errs = append(errs, fmt.Errorf("%v: want the server's port unreachable for the client's SYN to %v", m, to))
		}
		if in.hsAck == nil || m.no < in.hsAck.no || len(fin) == 0 || m.no > fin[0].no {
			errs = append(errs, fmt.Errorf("%v: not while the connection to port %d was open", m, serverPort))
		}
	}
	if g := time.Duration(w.icmps[1].t - first.t); g < 900*time.Millisecond || g > 1200*time.Millisecond {
		errs = append(errs, fmt.Errorf("the second error came %v after the first, want about 1 s (the SYN sent again)", g))
	}
	if syns != nil {
		if len(syns) != len(w.icmps) {
			errs = append(errs, fmt.Errorf("the client sent %d SYNs to port %d, the capture holds %d errors", len(syns),
				rejectedPort, len(w.icmps)))
		} else {
			for i, m := range w.icmps {
				if s := syns[i]; m.src != s.src || m.seq != s.seq || m.t < s.t || m.t-s.t > int64(10*time.Millisecond) {
					errs = append(errs, fmt.Errorf("%v does not answer %v within 10 ms", m, s))
				}
			}
		}
	}
	return errors.Join(append(errs, c.err())...)
}
