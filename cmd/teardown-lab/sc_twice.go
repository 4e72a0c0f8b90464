//go:build linux

package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
	"golang.org/x/sys/unix"
)

// Scenarios of a capture that holds every packet twice: tcpdump -i any on
// a host that forwards them records each as it enters and as it leaves.

// ttlName is what the IP header's hop count is called: "TTL" in IPv4,
// "hop limit" in IPv6.
func ttlName(v6 bool) string {
	if v6 {
		return "hop limit"
	}
	return "TTL"
}

// copyGaps are how long after its first copy each copy in of came (ns).
func copyGaps(of ...map[*frame]*frame) []int64 {
	var gaps []int64
	for _, m := range of {
		for d, p := range m {
			gaps = append(gaps, d.t-p.t)
		}
	}
	return gaps
}

// captureTwiceRouter is client-active-close captured with tcpdump -i any
// inside the router between the two ends.
func captureTwiceRouter(v6 bool) *scenario {
	ttl := ttlName(v6)
	desc := "A Linux router joins the two ends (forwarding on, no NAT, no filter rule), and tcpdump -i any runs in its " +
		"namespace: it records every packet twice, as it enters on one veth with its sender's " + ttl + ", 64, and as it " +
		"leaves on the other with 63, microseconds later. The client sends a 100-byte request, reads the 300-byte " +
		"response and close()s; the server reads EOF, its delayed ACK of the FIN goes out alone, and it close()s 150 ms " +
		"later: a four-way close. The truth drops the second copies that are capture duplicates before it derives anything. " +
		"Default sysctls."
	sc := clientActiveClose()
	sc.name = "capture-twice-router"
	sc.summary = "tcpdump -i any in a router between the two records every packet twice, entering (" + ttl + " 64) and " +
		"leaving (63): once the capture duplicates are dropped, a four-way close, client first"
	sc.desc = desc + " Captured in the router."
	sc.vantage, sc.framing = vantageRouter, frameSLL2
	sc.check = checkTwice(sc.check)
	sc.wireNotes = twiceNotes
	if v6 {
		return ipv6(sc, frameSLL2, vantageRouter, desc+" IPv6 has no IP ID: a copy without one is a capture "+
			"duplicate only when the peer sent nothing between the two, as it did not here.")
	}
	return sc
}

// copies pairs each frame of a capture taken where every packet shows
// twice with the frame it copies: the capture duplicates the truth drops,
// then the copies it keeps (the same segment without an IPv4 ID, after a
// segment of the peer's).
func copies(frames []*frame) (dropped, kept map[*frame]*frame) {
	rest, dropped := dropDuplicates(frames, (*frame).captureDuplicate)
	_, kept = dropDuplicates(rest, func(f, p *frame, _ bool) bool { return f.sameSegment(p) })
	return dropped, kept
}

// checkTwice adds to check that the capture holds every TCP packet
// twice: each copy the same segment as a frame before it, which came
// with TTL (hop limit) 64 and the copy with 63, and what the truth keeps
// of both copies a pure ACK without an IPv4 ID; and that the truth
// counts the capture duplicates, the ICMP errors' among them.
func checkTwice(check func(*wire) error) func(*wire) error {
	return func(w *wire) error {
		if err := check(w); err != nil {
			return err
		}
		dropped, kept := copies(w.frames)
		_, errs := dropICMPDuplicates(w.icmps)
		if w.truth.Duplicates != len(dropped)+len(errs) {
			return fmt.Errorf("the truth counts %d capture duplicates, the capture holds %d (%d of them ICMP errors)",
				w.truth.Duplicates, len(dropped)+len(errs), len(errs))
		}
		if n := len(dropped) + len(kept); 2*n != len(w.frames) {
			return fmt.Errorf("%d of the capture's %d TCP frames are copies of one before them, want half", n, len(w.frames))
		}
		for _, m := range []map[*frame]*frame{dropped, kept} {
			for d, p := range m {
				if p.ttl != 64 || d.ttl != 63 {
					return fmt.Errorf("%v (TTL %d) copies %v (TTL %d), want TTL 63 and 64", d, d.ttl, p, p.ttl)
				}
			}
		}
		for d := range kept {
			if d.ipid > 0 {
				return fmt.Errorf("the truth keeps %v, a copy of an earlier frame with its IP ID", d)
			}
		}
		return nil
	}
}

// twiceNotes describes the copies on the wire: how many, their TTLs and
// how far apart, and which pure ACKs the truth keeps both copies of.
func twiceNotes(w *wire) []string {
	dropped, kept := copies(w.frames)
	gaps := copyGaps(dropped, kept)
	v6 := w.frames[0].ipid < 0
	ttl := ttlName(v6)
	notes := []string{fmt.Sprintf("The capture holds %d TCP frames, every segment twice: as it entered the router "+
		"(%s 64) and, %.0f to %.0f µs later, as it left (63). The truth drops %d of them as capture duplicates; "+
		"every frame number it gives is a first copy's.", len(w.frames), ttl,
		float64(slices.Min(gaps))/1e3, float64(slices.Max(gaps))/1e3, len(dropped))}
	if len(kept) == 0 {
		return notes
	}
	var pairs []string
	for _, d := range slices.SortedFunc(maps.Keys(kept), func(a, b *frame) int { return a.no - b.no }) {
		pairs = append(pairs, fmt.Sprintf("%d and %d", kept[d].no, d.no))
	}
	return append(notes, fmt.Sprintf("Both copies of frames %s stay: without an IPv4 ID, and with a segment of the "+
		"peer's between them, the second could have been a genuine repeat answering it.", strings.Join(pairs, ", ")))
}

// rejectSynPort is the server's INPUT rule of capture-twice-router-icmp:
// a port unreachable for every SYN to the server's port.
func rejectSynPort(v6 bool) []string {
	with := "icmp-port-unreachable"
	if v6 {
		with = "icmp6-port-unreachable"
	}
	return []string{"INPUT", "-p", "tcp", "--syn", "--dport", strconv.Itoa(serverPort), "-j", "REJECT", "--reject-with", with}
}

// twiceICMPCounters are the counters capture-twice-router-icmp reads with
// nstat over the rejected connection, per side and family.
func twiceICMPCounters(v6 bool) map[side][]string {
	if v6 {
		return map[side][]string{
			sideClient: {"Icmp6InDestUnreachs", "TcpExtLockDroppedIcmps"},
			sideServer: {"Icmp6OutDestUnreachs", "Icmp6OutRateLimitHost"},
			sideRouter: {"Ip6OutForwDatagrams"},
		}
	}
	return map[side][]string{
		sideClient: {"IcmpInDestUnreachs", "TcpExtLockDroppedIcmps"},
		sideServer: {"IcmpOutDestUnreachs", "IcmpOutRateLimitHost", "IcmpOutRateLimitGlobal"},
		sideRouter: {"IpForwDatagrams"},
	}
}

// captureTwiceRouterICMP is capture-twice-router's capture of a server
// whose firewall rejects the client's first connection with a port
// unreachable: the ICMP error crosses the router and shows twice too.
func captureTwiceRouterICMP(v6 bool) *scenario {
	ttl, ipt, msg, tcpErr := "TTL", "iptables", "an ICMP destination unreachable (port unreachable, type 3 code 3)", "tcp_v4_err"
	same := "the same message, IPv4 ID and quote less than 1 ms after the first"
	if v6 {
		ttl, ipt, msg, tcpErr = "hop limit", "ip6tables", "an ICMPv6 destination unreachable (port unreachable, type 1 code 4)",
			"tcp_v6_err"
		same = "the same message and quote less than 1 ms after the first: IPv6 has no IP ID"
	}
	rule := rejectSynPort(v6)
	counters := twiceICMPCounters(v6)
	sc := &scenario{
		name: "capture-twice-router-icmp",
		summary: "tcpdump -i any in a router between the two records every packet twice, the server's ICMP port " +
			"unreachable for the client's SYN too: the first error arrives while connect() holds the socket's lock, " +
			"the SYN goes out again 1 s later, and the second error ends it",
		desc: "A Linux router joins the two ends (forwarding on, no NAT, no filter rule, no delay), and tcpdump -i any " +
			"runs in its namespace, recording TCP and ICMP errors: it records every packet twice, as it enters on " +
			"one veth with its sender's " + ttl + ", 64, and as it leaves on the other with 63, microseconds later. " +
			"The server listens on port 8080, but its INPUT chain (" + ipt + ") REJECTs SYNs to that port with " +
			msg + " from its own address. The client connects: the error crosses the router within " +
			"microseconds, while connect() still holds the socket's lock, and " + tcpErr + " only records it as a " +
			"soft error (TcpExt LockDroppedIcmps); the SYN goes out again 1 s later, and the error that answers it " +
			"ends the client's SYN_SENT socket: connect() fails with ECONNREFUSED, and no SYN follows, though the " +
			"socket stays open 1.5 s. Then the rule is removed and the client connects again, from another port: a " +
			"100-byte request, a 300-byte response, the client close()s, and the server close()s 150 ms later: a " +
			"four-way close. The truth drops the second copies that are capture duplicates before it derives " +
			"anything, the ICMP errors' too (" + same + "). Default sysctls; captured in the router.",
		vantage:  vantageRouter,
		framing:  frameSLL2,
		icmp:     true,
		synRetry: true,
		attempts: 3,
		run: func(e *env) {
			ln := e.listen()
			e.rule(sideServer, rule)
			before := map[side]map[string]int64{}
			for s, names := range counters {
				before[s] = e.nstat(s, names...)
			}
			start := time.Now()
			c := e.connectRejected(unix.ECONNREFUSED, 2500*time.Millisecond)
			took := time.Since(start)
			e.sleep(rejectHold)
			d := map[string]int64{}
			for s, names := range counters {
				after := e.nstat(s, names...)
				for _, k := range names {
					d[k] = after[k] - before[s][k]
				}
			}
			c.close()
			e.unrule(sideServer, rule)
			c, s := exchange(e, ln, 100, 300)
			c.close()
			passiveClose(e, s, 150*time.Millisecond)
			if e.failed() != nil {
				return
			}
			fmt.Fprintf(os.Stderr, "teardown-lab: connect() failed after %v; counters %v\n", took.Round(time.Millisecond), d)
			p := ""
			if v6 {
				p = "6"
			}
			in, out, fwd := d["Icmp"+p+"InDestUnreachs"], d["Icmp"+p+"OutDestUnreachs"], d["IpForwDatagrams"]
			if v6 {
				fwd = d["Ip6OutForwDatagrams"]
			}
			limited := d["Icmp"+p+"OutRateLimitHost"] + d["IcmpOutRateLimitGlobal"]
			if in != out || fwd != 2*out || limited != 0 {
				e.fail(fmt.Errorf("the client counted %d destination unreachables in, the server %d out (%d held back by its "+
					"rate limit), the router forwarded %d packets: want as many in as out, none held back, and a SYN "+
					"forwarded for each error", in, out, limited, fwd))
				return
			}
			rl := fmt.Sprintf("Icmp6 OutRateLimitHost +%d", d["Icmp6OutRateLimitHost"])
			fw := fmt.Sprintf("Ip6 OutForwDatagrams +%d", fwd)
			if !v6 {
				rl = fmt.Sprintf("Icmp OutRateLimitHost +%d, OutRateLimitGlobal +%d", d["IcmpOutRateLimitHost"], d["IcmpOutRateLimitGlobal"])
				fw = fmt.Sprintf("Ip ForwDatagrams +%d", fwd)
			}
			e.notes = append(e.notes, fmt.Sprintf("Counted (nstat) over the rejected connection: connect() failed with "+
				"ECONNREFUSED %d ms after it was called; the client's kernel counted Icmp%s InDestUnreachs +%d and "+
				"TcpExt LockDroppedIcmps +%d (errors that came while the socket's lock was held), the server's "+
				"Icmp%s OutDestUnreachs +%d and %s, and the router's %s (each SYN and each error once): each error "+
				"was sent once and received once, and shows twice in the capture only because it crossed the router.",
				took.Milliseconds(), p, in, d["TcpExtLockDroppedIcmps"], p, out, rl, fw))
		},
		check:     checkTwice(checkTwiceICMP(v6)),
		wireNotes: func(w *wire) []string { return append(twiceNotes(w), twiceICMPNotes(w)...) },
	}
	if v6 {
		sc.name += "-v6"
		sc.v6 = true
		sc.summary += " (IPv6)"
		sc.desc = "IPv6. " + sc.desc
	}
	return sc
}

// checkTwiceICMP checks a capture of capture-twice-router-icmp: the
// client's SYN sent twice, each answered by the server's port
// unreachable, the second of which ended the client's socket, every
// error captured twice (checkTwiceErrors), and a clean second
// connection at least rejectHold later.
func checkTwiceICMP(v6 bool) func(*wire) error {
	return func(w *wire) error {
		fs, err := w.flows(2)
		if err != nil {
			return err
		}
		from, typ, code := serverAddr4, 3, 3
		if v6 {
			from, typ, code = serverAddr6, 1, 4
		}
		want := fmt.Sprintf("client %s %d/%d", from, typ, code)
		c := fs[0].kind(analyze.Rejected).handshake(analyze.HandshakeSynOnly).initiator(analyze.Server).
			reset("", "").halfClose("", "").fins(rc, 0, 0).fins(rs, 0, 0).
			diags(analyze.CodeSynRejectedICMP).diagSide(analyze.CodeSynRejectedICMP, roleName[rs]).
			states(rc, "SYN_SENT", "CLOSED").states(rs).icmp(want, want)
		in := c.fl.inc
		var syns []*frame
		for _, f := range in.frames {
			if f.src == in.client && f.has(fSYN) {
				syns = append(syns, f)
			}
		}
		// The first error came while connect() held the socket's lock
		// (a path with no delay): the SYN went out again 1 s later, and
		// the error that answered it ended the socket.
		if len(syns) != 2 || len(in.icmps) != 2 {
			return fmt.Errorf("%w: %d SYNs and %d ICMP errors, want the SYN sent again after the first error and "+
				"ended by the second", errRetry, len(syns), len(in.icmps))
		}
		for i, m := range in.icmps {
			if m.seq != syns[i].seq || m.no < syns[i].no || i == 0 && m.no > syns[1].no {
				c.failf("%v does not answer %v", m, syns[i])
			}
			if d := time.Duration(m.t - syns[i].t); d > 10*time.Millisecond {
				c.failf("%v came %v after %v, want within 10 ms", m, d, syns[i])
			}
		}
		if g := time.Duration(syns[1].t - syns[0].t); g < 900*time.Millisecond || g > 1200*time.Millisecond {
			c.failf("the SYN went out again %v after the first, want about 1 s", g)
		}
		if in.aborted != in.icmps[1] {
			c.failf("the second ICMP error did not end the client's socket")
		}
		second := fs[1].kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeComplete).
			reset("", "").diags().icmp().states(rc, activeStates...).states(rs, passiveStates...)
		if m := in.aborted; m != nil && fs[1].fl.inc.syn != nil && fs[1].fl.inc.syn.t-m.t < int64(rejectHold) {
			second.failf("the second connection began %v after the ICMP error, want %v or more",
				time.Duration(fs[1].fl.inc.syn.t-m.t), rejectHold)
		}
		return errors.Join(c.err(), second.err(), checkTwiceErrors(w))
	}
}

// checkTwiceErrors checks that the capture holds every ICMP error twice:
// each second copy a capture duplicate of the error before it (the same
// message, IPv4 ID and quote, less than 1 ms later), its TTL (hop limit)
// 63 where the first's is 64.
func checkTwiceErrors(w *wire) error {
	kept, of := dropICMPDuplicates(w.icmps)
	if len(kept) != len(of) || 2*len(of) != len(w.icmps) {
		return fmt.Errorf("%d of the capture's %d ICMP errors are capture duplicates, want half", len(of), len(w.icmps))
	}
	var errs []error
	for d, p := range of {
		if p.ttl != 64 || d.ttl != 63 {
			errs = append(errs, fmt.Errorf("%v (TTL %d) copies %v (TTL %d), want TTL 63 and 64", d, d.ttl, p, p.ttl))
		}
	}
	return errors.Join(errs...)
}

// twiceICMPNotes describes the ICMP errors' copies on the wire: which
// frames, their IP IDs and TTLs, and how far apart.
func twiceICMPNotes(w *wire) []string {
	_, of := dropICMPDuplicates(w.icmps)
	var pairs []string
	for _, d := range slices.SortedFunc(maps.Keys(of), func(a, b *icmpErr) int { return a.no - b.no }) {
		p := of[d]
		id := "no IP ID"
		if p.ipid >= 0 {
			id = fmt.Sprintf("IP ID %#04x", p.ipid)
		}
		pairs = append(pairs, fmt.Sprintf("frames %d and %d (%s, %d µs apart)", p.no, d.no, id, (d.t-p.t)/1e3))
	}
	ttl := ttlName(len(w.icmps) > 0 && w.icmps[0].v6)
	return []string{fmt.Sprintf("The capture holds %d ICMP frames: %d errors, each twice, as it entered the router (%s "+
		"64) and as it left (63): %s. The truth drops the %d second copies as capture duplicates; with the TCP "+
		"segments' it counts %d.", len(w.icmps), len(w.icmps)-len(of), ttl, strings.Join(pairs, "; "), len(of),
		w.truth.Duplicates)}
}
