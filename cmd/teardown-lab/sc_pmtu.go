//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// Scenarios across a path MTU black hole: a router whose link toward the
// client has a smaller MTU than the two ends' links, and which drops the
// ICMP fragmentation-needed messages that would tell the server so.

// blackHoleMTU is the MTU of the router's link toward the client.
const blackHoleMTU = 1000

// dropFragNeeded is the router's OUTPUT rule that swallows the ICMP
// fragmentation needed (type 3 code 4) it makes for each of the server's
// segments too big for its link toward the client.
var dropFragNeeded = []string{"OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"}

const (
	blackHoleRequest  = 12
	blackHoleResponse = 20000
	// blackHoleRead is how long the client of pmtu-black-hole waits in
	// read() before it gives up and closes: past the server's 4th
	// retransmission (about 3.1 s after its write), well before its 5th
	// (about 6.6 s).
	blackHoleRead = 4500 * time.Millisecond
	// blackHoleEnd is when pmtu-black-hole's capture stops, after the
	// server's write: past its 5th retransmission, well before its 6th
	// (about 13 s).
	blackHoleEnd = 8 * time.Second
)

// blackHoleSteps are the sizes of the copies of pmtu-black-hole-probing's
// server once its black-hole detection set in: tcp_base_mss (1024, its
// default), then half of it.
var blackHoleSteps = []uint32{1024, 512}

// seconds renders d as the descriptions do ("4.5 s").
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s" }

// blackHoleDesc describes the path of both scenarios.
var blackHoleDesc = fmt.Sprintf("A Linux router joins the two ends; its link toward the client has MTU %d (every other "+
	"link 1500), and its OUTPUT chain drops the ICMP fragmentation-needed messages (type 3 code 4) it makes "+
	"(iptables -p icmp --icmp-type fragmentation-needed -j DROP), as a filter that drops all ICMP would: a path MTU "+
	"black hole. The client (MSS 1460, from its 1500-byte link) sends a %d-byte request; the server, whose listener "+
	"has SO_SNDBUF 32 KiB (64 KiB once the kernel doubles it) so that its write() returns at once, answers with %d bytes in 1448-byte segments with DF "+
	"set, too big for the router's link toward the client: the router drops each, and the server never learns why.",
	blackHoleMTU, blackHoleRequest, blackHoleResponse)

// blackHole makes the path one: the router's link toward the client
// gets MTU blackHoleMTU, and its OUTPUT chain drops the errors that say
// so.
func blackHole(e *env) {
	if e.failed() != nil {
		return
	}
	if _, err := nsExec(e.ctx, e.topo.router, "ip", "link", "set", "eth0", "mtu", strconv.Itoa(blackHoleMTU)); err != nil {
		e.fail(err)
		return
	}
	e.rule(sideRouter, dropFragNeeded)
}

// blackHoleScenario is a scenario across the black hole, captured at
// the server, whose sysctls are server: its run gets the server's
// listener and returns what ss showed of the server's socket and when,
// for the notes.
func blackHoleScenario(name, summary, desc string, server map[string]string, notes []string,
	run func(e *env, ln *sock) (info, when string), check func(*wire) error) *scenario {
	return &scenario{
		name:    name,
		summary: summary,
		desc: blackHoleDesc + " " + desc + " Default sysctls otherwise; captured at the server, where the first " +
			"transmissions show as GSO super-segments (this machine has no ethtool to turn GSO off).",
		vantage: vantageServer,
		framing: frameEthernet,
		router:  true,
		sysctls: map[side]map[string]string{sideServer: server},
		notes:   notes,
		run: func(e *env) {
			blackHole(e)
			before := e.blackHoleCounts()
			info, when := run(e, e.listen(sndbuf(32<<10)))
			e.blackHoleNote(before, info, when)
		},
		check:     check,
		wireNotes: blackHoleNotes,
	}
}

func pmtuBlackHole() *scenario {
	sc := blackHoleScenario("pmtu-black-hole",
		"a router whose link toward the client has MTU 1000 drops its ICMP fragmentation-needed messages: "+
			"with tcp_mtu_probing = 0 the server retransmits its first 1448 bytes at full size with backoff, before "+
			"and after the client gives up and closes",
		"With net.ipv4.tcp_mtu_probing=0 (the default, set explicitly) the server retransmits its first 1448 bytes "+
			"with exponential backoff, never smaller. The client's read() times out after "+seconds(blackHoleRead)+
			" (SO_RCVTIMEO) and it close()s: its FIN passes, the server acknowledges it and goes on retransmitting "+
			"1448 bytes. The capture stops "+seconds(blackHoleEnd)+" after the server's write, before its next "+
			"retransmission was due (about 13 s), with the server in CLOSE_WAIT and the client in FIN_WAIT2.",
		map[string]string{"net.ipv4.tcp_mtu_probing": "0"},
		[]string{"No byte of the response got through: every ACK of the client's acknowledges nothing of it. The " +
			"capture ends with the client's orphan in FIN_WAIT2 (until tcp_fin_timeout) and the server in " +
			"CLOSE_WAIT, its response still unacknowledged."},
		func(e *env, ln *sock) (string, string) {
			c := e.dial(0)
			s := ln.accept()
			c.write(blackHoleRequest)
			s.read(blackHoleRequest)
			wrote := time.Now()
			s.write(blackHoleResponse)
			c.readStalls(blackHoleRead)
			c.close()
			e.has(sideServer, "CLOSE-WAIT", time.Second)
			e.sleep(time.Until(wrote.Add(blackHoleEnd)))
			return e.tcpInfo(sideServer), "at the end"
		},
		checkPMTUBlackHole)
	sc.noQuiet = true // the server's socket stays in CLOSE_WAIT
	return sc
}

func pmtuBlackHoleProbing() *scenario {
	return blackHoleScenario("pmtu-black-hole-probing",
		"the same black hole with tcp_mtu_probing = 1 (tcp_retries1 = 1): after two full-size copies the "+
			"server's black-hole detection shrinks its first segment to 1024, then 512 bytes, which gets through; "+
			"the transfer completes and both close",
		"With net.ipv4.tcp_mtu_probing=1 the server's kernel turns MTU probing on at a retransmission timeout once "+
			"its retransmissions have gone on for tcp_retries1's model time (tcp_write_timeout, "+
			"retransmits_timed_out, tcp_mtu_probing): net.ipv4.tcp_retries1=1 (default 3) makes that 600 ms instead "+
			"of 3 s, so the detection comes at the third retransmission instead of the fifth. The first step lowers "+
			"the segment size to tcp_base_mss (1024, default), still too big; the next halves it, and that copy gets "+
			"through and is acknowledged. The rest of the response follows in the smaller segments; the client reads "+
			"all of it and close()s, and the server reads EOF and close()s 50 ms later: a four-way close.",
		map[string]string{"net.ipv4.tcp_mtu_probing": "1", "net.ipv4.tcp_retries1": "1"},
		[]string{"The shorter copies are the server kernel's black-hole steps (tcp_mtu_probing() in tcp_timer.c): " +
			"the first retransmission timeout past tcp_retries1's model time turns MTU probing on, which lowers the " +
			"segment size to tcp_base_mss, and the next one halves it. The route's MTU stays 1500 (ss's pmtu, " +
			"below): only the socket's segment size came down."},
		func(e *env, ln *sock) (string, string) {
			start := time.Now()
			c, s := exchange(e, ln, blackHoleRequest, blackHoleResponse)
			took := time.Since(start)
			info := e.tcpInfo(sideServer)
			if e.failed() == nil {
				e.notes = append(e.notes, fmt.Sprintf("The client's blocking read of the %d-byte response returned "+
					"%.2f s after it connected.", blackHoleResponse, took.Seconds()))
			}
			c.close()
			passiveClose(e, s, 50*time.Millisecond)
			return info, "once the client had read the whole response"
		},
		checkPMTUBlackHoleProbing)
}

// readStalls blocks in read() for d (SO_RCVTIMEO) and expects it to time
// out with nothing read: none of the peer's data arrives.
func (s *sock) readStalls(d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	s.do("SO_RCVTIMEO", func() error { return unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) })
	s.do("read", func() error {
		start := time.Now()
		n, err := unix.Read(s.fd, make([]byte, 1024))
		if errors.Is(err, unix.EINTR) {
			return err
		}
		if took := time.Since(start); !errors.Is(err, unix.EAGAIN) || took < d-50*time.Millisecond {
			return fmt.Errorf("read() with a %v timeout: %d, %v after %v, want EAGAIN at the timeout", d, n, err, took.Round(time.Millisecond))
		}
		return nil
	})
}

// blackHoleCounts are the counters that show where the black hole is:
// the router's forwarding drops for want of fragmentation and its OUTPUT
// rule's drops, and the ICMP destination unreachables the server got.
type blackHoleCounts struct {
	fragFails, dropped, unreach int64
}

// blackHoleCounts reads them.
func (e *env) blackHoleCounts() blackHoleCounts {
	ip := e.counters(sideRouter, "/proc/net/snmp", "Ip", "FragFails")
	icmp := e.icmpMIB(sideServer, "InDestUnreachs")
	if e.failed() != nil {
		return blackHoleCounts{}
	}
	out, err := nsExec(e.ctx, e.topo.router, "iptables", "-w", "-L", "OUTPUT", "-v", "-n", "-x")
	if err != nil {
		e.fail(err)
		return blackHoleCounts{}
	}
	var dropped int64 = -1
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(line, "DROP") && strings.Contains(line, "icmptype 3 code 4") {
			if dropped, err = strconv.ParseInt(f[0], 10, 64); err != nil {
				e.fail(fmt.Errorf("the router's OUTPUT rule: %q: %w", line, err))
				return blackHoleCounts{}
			}
		}
	}
	if dropped < 0 {
		e.fail(fmt.Errorf("no fragmentation-needed DROP rule in the router's OUTPUT chain: %s", out))
		return blackHoleCounts{}
	}
	return blackHoleCounts{fragFails: ip["FragFails"], dropped: dropped, unreach: icmp["InDestUnreachs"]}
}

// blackHoleNote notes the counters' changes since before, the server's
// route to the client and info, what ss showed of its socket when (a
// phrase), and checks that the router
// dropped as many errors as packets it could not forward, and that none
// reached the server.
func (e *env) blackHoleNote(before blackHoleCounts, info, when string) {
	after := e.blackHoleCounts()
	if e.failed() != nil {
		return
	}
	route, err := nsExec(e.ctx, e.topo.server, "ip", "route", "get", e.topo.clientIP.String())
	if err != nil {
		e.fail(err)
		return
	}
	frag, dropped, unreach := after.fragFails-before.fragFails, after.dropped-before.dropped, after.unreach-before.unreach
	fmt.Fprintf(os.Stderr, "teardown-lab: router Ip FragFails +%d, OUTPUT drops %d; server Icmp InDestUnreachs +%d; "+
		"server's route %q; server's socket %q\n", frag, dropped, unreach, strings.Join(strings.Fields(route), " "), info)
	if frag == 0 || dropped != frag || unreach != 0 {
		e.fail(fmt.Errorf("the router failed to forward %d packets and dropped %d fragmentation-needed errors, and "+
			"the server got %d destination unreachables: want as many errors dropped as packets, and none at the server",
			frag, dropped, unreach))
		return
	}
	if strings.Contains(route, " mtu ") {
		e.fail(fmt.Errorf("the server learned the path MTU: %s", route))
		return
	}
	e.notes = append(e.notes, fmt.Sprintf("Counted over the run: the router's kernel could not forward %d packets "+
		"for their size (Ip FragFails; ip_forward drops a packet larger than the link's MTU with DF set, and "+
		"sends a fragmentation needed) and its OUTPUT rule dropped %d fragmentation-needed messages; the server's "+
		"kernel received no destination unreachable (Icmp InDestUnreachs +%d), and its route to the client had "+
		"no path MTU learned at the end (ip route get: %q). ss on the server's socket %s: %q.",
		frag, dropped, unreach, strings.Join(strings.Fields(route), " "), when, info))
}

// tcpInfoRE picks the fields of ss -i that tell a socket's segment size
// and retransmissions.
var tcpInfoRE = regexp.MustCompile(`\b(?:mss|pmtu|rto|backoff|retrans):\S+`)

// tcpInfo returns the segment size and retransmission fields ss -i shows
// for the sockets of side s other than listeners.
func (e *env) tcpInfo(s side) string {
	if e.failed() != nil {
		return ""
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "ss", "-tinH")
	if err != nil {
		e.fail(err)
		return ""
	}
	return strings.Join(tcpInfoRE.FindAllString(out, -1), " ")
}

// headCopies returns the server's copies of its first byte of payload
// (the head of its response) before the client acknowledged past it, and
// that acknowledgement (nil when none came).
func headCopies(in *incarnation) ([]*frame, *frame) {
	if in.synack == nil {
		return nil, nil
	}
	head := in.synack.seq + 1
	_, copies := in.retransmissions(rs)
	return in.countedCopies(rs, head, copies[head])
}

// fits tells whether segment f passes the router's link toward the
// client: its payload and 40 bytes of IPv4 and TCP headers (more with
// options) within blackHoleMTU.
func fits(f *frame) bool { return f.len+40 <= blackHoleMTU }

func checkPMTUBlackHole(w *wire) error {
	c, err := w.one()
	if err != nil {
		return err
	}
	in := c.fl.inc
	c.kind(analyze.HalfClosedAtEnd).initiator(analyze.Client).handshake(analyze.HandshakeComplete).reset("", "").
		halfClose("", "").fins(rc, 1, 1).fins(rs, 0, 0).
		states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT").
		diags(analyze.CodeCaptureEndedMidClose, analyze.CodePMTUBlackHole).diagSide(analyze.CodePMTUBlackHole, roleName[rs])
	tx, answer := headCopies(in)
	if answer != nil {
		c.failf("%v acknowledged the server's data", answer)
	}
	if len(tx) == 0 || len(in.fins[rc]) == 0 {
		return c.failf("no copy of the server's first bytes, or no client FIN").err()
	}
	fin := in.fins[rc][0]
	n := 0
	for _, f := range tx {
		if f.no < fin.no {
			n++
		}
		if f.len != tx[0].len || fits(f) {
			c.failf("%v: a copy of %d bytes, want every one of %d, too big for the path", f, f.len, tx[0].len)
		}
	}
	if n < 4 || n == len(tx) {
		c.failf("%d copies of the server's first bytes before the client's FIN and %d after it, want 4 or more and 1 or more",
			n, len(tx)-n)
	}
	return c.err()
}

func checkPMTUBlackHoleProbing(w *wire) error {
	c, err := w.one()
	if err != nil {
		return err
	}
	in := c.fl.inc
	c.kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeComplete).reset("", "").
		halfClose("", "").fins(rc, 1, 1).fins(rs, 1, 1).states(rc, activeStates...).states(rs, passiveStates...).
		diags(analyze.CodePMTUBlackHole).diagSide(analyze.CodePMTUBlackHole, roleName[rs])
	tx, answer := headCopies(in)
	// Full-size copies, at least two, then the black-hole steps, and
	// only the last fits and is acknowledged.
	full := 0
	for full < len(tx) && tx[full].len == tx[0].len {
		full++
	}
	var steps []uint32
	for _, f := range tx[full:] {
		steps = append(steps, f.len)
	}
	if full < 2 || !slices.Equal(steps, blackHoleSteps) {
		return c.failf("%d copies of the server's first bytes, %d of them at its first size, then %v bytes: want 2 or "+
			"more, then %v", len(tx), full, steps, blackHoleSteps).err()
	}
	last := tx[len(tx)-1]
	for _, f := range tx {
		if fits(f) != (f == last) {
			c.failf("%v: fits the path %v, want only the last copy to", f, fits(f))
		}
	}
	if answer == nil || !seqGE(answer.ack, last.seq+last.len) || answer.has(fRST) {
		c.failf("the client did not acknowledge the last copy, %v", last)
	}
	end := in.synack.seq + 1 + blackHoleResponse
	if !slices.ContainsFunc(in.frames, func(f *frame) bool { return in.role(f) == rc && f.has(fACK) && seqGE(f.ack, end) }) {
		c.failf("the client never acknowledged all %d bytes of the response", blackHoleResponse)
	}
	return c.err()
}

// blackHoleNotes says when and at what size the server sent its first
// bytes again, and what the client did meanwhile and after.
func blackHoleNotes(w *wire) []string {
	in := w.truth.Flows[0].inc
	tx, answer := headCopies(in)
	if len(tx) == 0 {
		return nil
	}
	var first *frame
	for _, f := range in.frames {
		if in.role(f) == rs && f.len > 0 {
			first = f
			break
		}
	}
	ms := func(f *frame) string {
		return strconv.FormatInt(time.Duration(f.t-first.t).Round(time.Millisecond).Milliseconds(), 10)
	}
	var cs, gaps []string
	for _, f := range tx {
		cs = append(cs, fmt.Sprintf("frame %d at +%s ms, %d bytes", f.no, ms(f), f.len))
	}
	for _, g := range finGaps(append([]*frame{first}, tx...)) {
		gaps = append(gaps, strconv.FormatInt(g.Round(time.Millisecond).Milliseconds(), 10))
	}
	acked := "the client acknowledged none of them"
	if answer != nil {
		acked = fmt.Sprintf("the client acknowledged the last one in frame %d at +%s ms", answer.no, ms(answer))
	}
	note := fmt.Sprintf("On the wire, from the server's first segment of the response (frame %d, %d bytes: a GSO "+
		"super-segment, which the router dropped whole): the server sent its first bytes again %d times, and %s: %s "+
		"(the gaps, from frame %d on, in ms: %s).", first.no, first.len, len(tx), acked, strings.Join(cs, "; "),
		first.no, strings.Join(gaps, ", "))
	if answer != nil {
		var after []*frame
		for _, f := range in.frames {
			if in.role(f) == rs && f.len > 0 && f.no > answer.no {
				after = append(after, f)
			}
		}
		end := in.synack.seq + 1 + blackHoleResponse
		if i := slices.IndexFunc(in.frames, func(f *frame) bool {
			return in.role(f) == rc && f.has(fACK) && seqGE(f.ack, end)
		}); len(after) > 0 && i >= 0 {
			lo, hi := after[0].len, after[0].len
			for _, f := range after {
				lo, hi = min(lo, f.len), max(hi, f.len)
			}
			all := in.frames[i]
			note += fmt.Sprintf(" Then the server sent the rest of the response, and again what the router had "+
				"dropped, in %d segments with payload (frames %d to %d, of %d to %d bytes: GSO super-segments of "+
				"segments no longer than the last copy), and the client acknowledged all %d bytes in frame %d at +%s ms.",
				len(after), after[0].no, after[len(after)-1].no, lo, hi, blackHoleResponse, all.no, ms(all))
		}
	}
	if len(in.fins[rc]) > 0 {
		fin := in.fins[rc][0]
		note += fmt.Sprintf(" The client's FIN: frame %d at +%s ms", fin.no, ms(fin))
		if a := in.ackOfFin[rc]; a != nil {
			note += fmt.Sprintf(", acknowledged by the server in frame %d at +%s ms", a.no, ms(a))
		}
		note += "."
	}
	last := in.frames[len(in.frames)-1]
	note += fmt.Sprintf(" The capture's last segment: frame %d at +%s ms.", last.no, ms(last))
	return []string{note}
}
