//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
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
// client has a smaller MTU than the two ends' links, and an iptables rule
// that drops the ICMP messages that would tell the server so (IPv4's
// fragmentation needed, ICMPv6's packet too big): in the router's OUTPUT
// chain, or in the server's own INPUT chain.

// blackHoleIP is what a black hole's IP version changes.
type blackHoleIP struct {
	v6 bool
	// mtu is the router's link toward the client's: IPv6's minimum for
	// IPv6.
	mtu int
	// hdr is a segment's IP and TCP headers, without options.
	hdr uint32
	// mss is what the two ends announce from their 1500-byte links, seg
	// the payload of their full-size segments (with timestamps).
	mss, seg int
	// typ and code are the router's message for a packet too big for its
	// link, which it sends from router, its address on the server's link.
	typ, code int
	router    netip.Addr
	// match is the iptables match of that message; listed is how
	// iptables -L shows it.
	match  []string
	listed string
}

var (
	blackHole4 = &blackHoleIP{mtu: 1000, hdr: 40, mss: 1460, seg: 1448, typ: 3, code: 4, router: routerS4,
		match: []string{"-p", "icmp", "--icmp-type", "fragmentation-needed"}, listed: "icmptype 3 code 4"}
	blackHole6 = &blackHoleIP{v6: true, mtu: 1280, hdr: 60, mss: 1440, seg: 1428, typ: 2, code: 0, router: routerS6,
		match: []string{"-p", "icmpv6", "--icmpv6-type", "packet-too-big"}, listed: "ipv6-icmptype 2"}
)

// blackHoleOf returns the IP version of the black hole of in's
// scenario.
func blackHoleOf(in *incarnation) *blackHoleIP {
	if in.client.Addr().Is6() {
		return blackHole6
	}
	return blackHole4
}

// pick returns v4 or v6, by the IP version.
func (ip *blackHoleIP) pick(v4, v6 string) string {
	if ip.v6 {
		return v6
	}
	return v4
}

// icmp names ICMP for the IP version, msg the router's message
// ("fragmentation needed"), msgs its kind in the plural, as an adjective
// ("fragmentation-needed messages").
func (ip *blackHoleIP) icmp() string { return ip.pick("ICMP", "ICMPv6") }
func (ip *blackHoleIP) msg() string  { return ip.pick("fragmentation needed", "packet too big") }
func (ip *blackHoleIP) msgs() string { return strings.ReplaceAll(ip.msg(), " ", "-") + " messages" }

// mtuField names the message's MTU field as the descriptions do.
func (ip *blackHoleIP) mtuField() string { return ip.pick("next-hop MTU", "MTU") }

// linkMTU describes the router's link toward the client's MTU.
func (ip *blackHoleIP) linkMTU() string {
	return fmt.Sprintf("MTU %d%s (every other link 1500)", ip.mtu, ip.pick("", ", IPv6's minimum"))
}

// tooBigChain is the chain of side fw's rule that drops the message
// the router makes for each of the server's segments too big for its
// link toward the client: the router's OUTPUT chain swallows those it
// makes, the server's INPUT chain those that reach it.
func tooBigChain(fw side) string {
	if fw == sideServer {
		return "INPUT"
	}
	return "OUTPUT"
}

// dropTooBig is that rule.
func (ip *blackHoleIP) dropTooBig(fw side) []string {
	return slices.Concat([]string{tooBigChain(fw)}, ip.match, []string{"-j", "DROP"})
}

// ruleText renders that rule as the descriptions do.
func (ip *blackHoleIP) ruleText() string {
	return ip.pick("iptables ", "ip6tables ") + strings.Join(ip.match, " ") + " -j DROP"
}

// fits tells whether segment f passes the router's link toward the
// client: its payload and headers (more with options) within the MTU.
func (ip *blackHoleIP) fits(f *frame) bool { return f.len+ip.hdr <= uint32(ip.mtu) }

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

// blackHolePath describes the path of the scenarios whose side fw drops
// the router's messages: the router's OUTPUT chain, or the server's
// INPUT chain.
func (ip *blackHoleIP) blackHolePath(fw side) string {
	// IPv6's neighbour discovery is ICMPv6 too: the rule spares it.
	spared := ip.pick("", "; every other ICMPv6 message, neighbour discovery's included, passes")
	if fw == sideServer {
		return fmt.Sprintf("A Linux router joins the two ends; its link toward the client has %s. The router sends "+
			"an %s %s (type %d code %d, %s %d) from its address on the server's link, %s, for each packet too big "+
			"for that link, but the server's own INPUT chain drops them (%s%s), as a host firewall that blocks "+
			"ICMP does: a path MTU black hole of the server's own making.", ip.linkMTU(), ip.icmp(), ip.msg(),
			ip.typ, ip.code, ip.mtuField(), ip.mtu, ip.router, ip.ruleText(), spared)
	}
	return fmt.Sprintf("A Linux router joins the two ends; its link toward the client has %s, and its OUTPUT chain "+
		"drops the %s %s (type %d code %d) it makes (%s%s), as a filter that drops all %s would: a path MTU "+
		"black hole.", ip.linkMTU(), ip.icmp(), ip.msgs(), ip.typ, ip.code, ip.ruleText(), spared,
		ip.pick("ICMP", "ICMPv6 errors"))
}

// blackHoleEnds describes the two ends of every black-hole scenario.
func (ip *blackHoleIP) blackHoleEnds() string {
	return fmt.Sprintf("The client (MSS %d, from its 1500-byte link) sends a %d-byte request; the server, whose "+
		"listener has SO_SNDBUF 32 KiB (64 KiB once the kernel doubles it) so that its write() returns at once, "+
		"answers with %d bytes in %d-byte segments %s, too big for the router's link toward the client: the router "+
		"drops each, and the server never learns why.", ip.mss, blackHoleRequest, blackHoleResponse, ip.seg,
		ip.pick("with DF set", "(1500-byte packets, which no IPv6 router fragments)"))
}

// setMTU sets the MTU of namespace ns's eth0 (a router's link toward
// the client, an end's underlay).
func (e *env) setMTU(ns string, mtu int) {
	if e.failed() != nil {
		return
	}
	if _, err := nsExec(e.ctx, ns, "ip", "link", "set", "eth0", "mtu", strconv.Itoa(mtu)); err != nil {
		e.fail(err)
	}
}

// stallResponse runs a black hole's exchange on listener ln: the
// client's request, the server's response (once accepted has set up the
// server's socket) that never arrives, the client's read() that gives up
// after blackHoleRead and its close(); it waits for the server's
// CLOSE_WAIT and returns blackHoleEnd after the server's write.
func stallResponse(e *env, ln *sock, accepted func(*sock)) {
	c := e.dial(0)
	s := ln.accept()
	accepted(s)
	c.write(blackHoleRequest)
	s.read(blackHoleRequest)
	wrote := time.Now()
	s.write(blackHoleResponse)
	c.readStalls(blackHoleRead)
	c.close()
	e.has(sideServer, "CLOSE-WAIT", time.Second)
	e.sleep(time.Until(wrote.Add(blackHoleEnd)))
}

// blackHole makes the path one: the router's link toward the client
// gets the smaller MTU, and side fw drops the messages that say so.
func (ip *blackHoleIP) blackHole(e *env, fw side) {
	if e.failed() != nil {
		return
	}
	e.setMTU(e.topo.router, ip.mtu)
	e.rule(fw, ip.dropTooBig(fw))
}

// blackHoleScenario is a scenario across a black hole of IP version ip
// whose side fw drops the router's messages (sideRouter or sideServer),
// captured at the server, whose sysctls are server: its run gets the
// server's listener and returns what ss showed of the server's socket
// and when, for the notes. When the server drops them, the capture holds
// them too, as they arrive. The IPv6 one is named as ipv6 names it.
func blackHoleScenario(ip *blackHoleIP, name, summary, desc string, fw side, server map[string]string, notes []string,
	run func(e *env, ln *sock) (info, when string), check func(*wire) error) *scenario {
	captured := "captured at the server"
	if fw == sideServer {
		captured += fmt.Sprintf(", with the %s errors beside the TCP segments (tcpdump sees each %s arrive, "+
			"before the INPUT chain drops it)", ip.icmp(), ip.msg())
	}
	sc := &scenario{
		name:    name,
		summary: summary,
		desc: ip.blackHolePath(fw) + " " + ip.blackHoleEnds() + " " + desc + " Default sysctls otherwise; " + captured +
			", where the first transmissions show as GSO super-segments (this machine has no ethtool to turn GSO off).",
		vantage: vantageServer,
		framing: frameEthernet,
		router:  true,
		icmp:    fw == sideServer,
		sysctls: map[side]map[string]string{sideServer: server},
		notes:   notes,
		run: func(e *env) {
			ip.blackHole(e, fw)
			before := e.blackHoleCounts(ip, fw)
			info, when := run(e, e.listen(sndbuf(32<<10)))
			e.blackHoleNote(ip, fw, before, info, when)
		},
		check:     check,
		wireNotes: blackHoleNotes,
	}
	if ip.v6 {
		return ipv6(sc, frameEthernet, vantageServer, "")
	}
	return sc
}

// stalledDesc describes the run of stalledBlackHole's scenarios, after
// their path.
func (ip *blackHoleIP) stalledDesc() string {
	return "With net.ipv4.tcp_mtu_probing=0 (the default, set explicitly" +
		ip.pick("", "; IPv6 has no sysctl of its own, and the kernel's TCP reads this one for IPv6 sockets too") +
		") the server retransmits its first " + strconv.Itoa(ip.seg) + " bytes with exponential backoff, never " +
		"smaller. The client's read() times out after " + seconds(blackHoleRead) + " (SO_RCVTIMEO) and it " +
		"close()s: its FIN passes, the server acknowledges it and goes on retransmitting " + strconv.Itoa(ip.seg) +
		" bytes. The capture stops " + seconds(blackHoleEnd) + " after the server's write, before its next " +
		"retransmission was due (about 13 s), with the server in CLOSE_WAIT and the client in FIN_WAIT2."
}

// stalledBlackHole is a black-hole scenario of IP version ip whose side
// fw drops the router's messages, with tcp_mtu_probing = 0
// (stalledDesc), and notes besides the common one: the client
// gives up on the response after blackHoleRead and closes, and the
// capture stops blackHoleEnd after the server's write, before the copy
// after the next: had it gone on to that copy, the two copies after the
// client's FIN, more than a second apart after a silence of more than a
// second, would be no-answer-after-idle's.
func stalledBlackHole(ip *blackHoleIP, name, summary string, fw side, notes ...string) *scenario {
	sc := blackHoleScenario(ip, name, summary, ip.stalledDesc(), fw,
		map[string]string{"net.ipv4.tcp_mtu_probing": "0"},
		append([]string{"No byte of the response got through: every ACK of the client's acknowledges nothing of it. " +
			"The capture ends with the client's orphan in FIN_WAIT2 (until tcp_fin_timeout) and the server in " +
			"CLOSE_WAIT, its response still unacknowledged."}, notes...),
		func(e *env, ln *sock) (string, string) {
			stallResponse(e, ln, func(*sock) {})
			return e.tcpInfo(sideServer), "at the end"
		},
		func(w *wire) error { return checkStalled(w, fw == sideServer) })
	sc.noQuiet = true // the server's socket stays in CLOSE_WAIT
	return sc
}

func pmtuBlackHole(ip *blackHoleIP) *scenario {
	return stalledBlackHole(ip, "pmtu-black-hole",
		fmt.Sprintf("a router whose link toward the client has MTU %d drops its %s %s: with tcp_mtu_probing = 0 "+
			"the server retransmits its first %d bytes at full size with backoff, before and after the client "+
			"gives up and closes", ip.mtu, ip.icmp(), ip.msgs(), ip.seg),
		sideRouter)
}

func pmtuBlackHoleHostFirewall(ip *blackHoleIP) *scenario {
	return stalledBlackHole(ip, "pmtu-black-hole-host-firewall",
		"the router sends its "+ip.icmp()+" "+ip.msgs()+", but the server's own INPUT chain drops them: the "+
			"capture at the server shows each arrive, quoting one of the server's segments, and the server "+
			"retransmitting at full size regardless (tcp_mtu_probing = 0), before and after the client gives up and closes",
		sideServer,
		fmt.Sprintf("The %s changed nothing at the server: its INPUT chain dropped each before the kernel's %s code "+
			"(%s_rcv, then tcp_v%s_err, which would have lowered the route's MTU and the socket's segment size, "+
			"tcp_v%[4]s_mtu_reduced) saw it. They are in the flow's icmp list all the same: they quote its segments.",
			ip.msgs(), ip.icmp(), strings.ToLower(ip.icmp()), ip.pick("4", "6")))
}

func pmtuBlackHoleProbing() *scenario {
	return blackHoleScenario(blackHole4, "pmtu-black-hole-probing",
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
		sideRouter, map[string]string{"net.ipv4.tcp_mtu_probing": "1", "net.ipv4.tcp_retries1": "1"},
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
	s.readTimed(d, func(n int, err error, took time.Duration) error {
		if !errors.Is(err, unix.EAGAIN) || took < d-50*time.Millisecond {
			return fmt.Errorf("read() with a %v timeout: %d, %v after %v, want EAGAIN at the timeout", d, n, err, took.Round(time.Millisecond))
		}
		return nil
	})
}

// blackHoleCounts are the counters that show where the black hole is:
// the router's forwarding drops for want of fragmentation, the drops of
// the rule of the side that drops the router's messages, and those of
// the messages the server's kernel got (icmp_rcv and icmpv6_rcv count
// them after the INPUT chain).
type blackHoleCounts struct {
	fails, dropped, got int64
}

// routerMIB and serverMIB are the group and name of those counters of
// the router and the server: the router's Ip FragFails (ip_forward) or
// Ip6FragFails (ip6_forward), the server's Icmp InDestUnreachs or
// Icmp6InPktTooBigs.
func (ip *blackHoleIP) routerMIB() [2]string {
	return [2]string{ip.pick("Ip", "Ip6"), "FragFails"}
}

func (ip *blackHoleIP) serverMIB() [2]string {
	return [2]string{ip.pick("Icmp", "Icmp6"), ip.pick("InDestUnreachs", "InPktTooBigs")}
}

// mibName names a counter as its file does: "Ip FragFails" in
// /proc/net/snmp, "Ip6FragFails" in /proc/net/snmp6.
func (ip *blackHoleIP) mibName(m [2]string) string { return m[0] + ip.pick(" ", "") + m[1] }

// mib reads counter m (group and name) of side s's namespace, from
// /proc/net/snmp or, for IPv6, /proc/net/snmp6, which gives a counter
// a line of its own, its group and name joined ("Ip6FragFails").
func (e *env) mib(ip *blackHoleIP, s side, m [2]string) int64 {
	if !ip.v6 {
		return e.counters(s, "/proc/net/snmp", m[0], m[1])[m[1]]
	}
	if e.failed() != nil {
		return 0
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "cat", "/proc/net/snmp6")
	if err != nil {
		e.fail(err)
		return 0
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == m[0]+m[1] {
			v, err := strconv.ParseInt(f[1], 10, 64)
			e.fail(err)
			return v
		}
	}
	e.fail(fmt.Errorf("no counter %s%s in the %s's /proc/net/snmp6", m[0], m[1], s))
	return 0
}

// blackHoleCounts reads them; fw is the side whose rule drops the
// router's messages.
func (e *env) blackHoleCounts(ip *blackHoleIP, fw side) blackHoleCounts {
	fails := e.mib(ip, sideRouter, ip.routerMIB())
	got := e.mib(ip, sideServer, ip.serverMIB())
	if e.failed() != nil {
		return blackHoleCounts{}
	}
	chain := tooBigChain(fw)
	out, err := nsExec(e.ctx, e.topo.ns(fw), e.iptables(), "-w", "-L", chain, "-v", "-n", "-x")
	if err != nil {
		e.fail(err)
		return blackHoleCounts{}
	}
	var dropped int64 = -1
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(line, "DROP") && strings.HasSuffix(line, " "+ip.listed) {
			if dropped, err = strconv.ParseInt(f[0], 10, 64); err != nil {
				e.fail(fmt.Errorf("the %s's %s rule: %q: %w", fw, chain, line, err))
				return blackHoleCounts{}
			}
		}
	}
	if dropped < 0 {
		e.fail(fmt.Errorf("no %s DROP rule in the %s's %s chain: %s", ip.msg(), fw, chain, out))
		return blackHoleCounts{}
	}
	return blackHoleCounts{fails: fails, dropped: dropped, got: got}
}

// blackHoleNote notes the counters' changes since before, the server's
// route to the client and info, what ss showed of its socket when (a
// phrase), and checks that side fw's rule dropped as many messages as
// packets the router could not forward, and that none reached the
// server's ICMP code.
func (e *env) blackHoleNote(ip *blackHoleIP, fw side, before blackHoleCounts, info, when string) {
	after := e.blackHoleCounts(ip, fw)
	if e.failed() != nil {
		return
	}
	get := []string{"ip", "route", "get", e.topo.clientIP.String()}
	if ip.v6 {
		get = slices.Insert(get, 1, "-6")
	}
	route, err := nsExec(e.ctx, e.topo.server, get...)
	if err != nil {
		e.fail(err)
		return
	}
	fails, dropped, got := after.fails-before.fails, after.dropped-before.dropped, after.got-before.got
	chain := tooBigChain(fw)
	routerMIB, serverMIB := ip.mibName(ip.routerMIB()), ip.mibName(ip.serverMIB())
	fmt.Fprintf(os.Stderr, "teardown-lab: router %s +%d, %s %s drops %d; server %s +%d; "+
		"server's route %q; server's socket %q\n", routerMIB, fails, fw, chain, dropped, serverMIB, got,
		strings.Join(strings.Fields(route), " "), info)
	if fails == 0 || dropped != fails || got != 0 {
		e.fail(fmt.Errorf("the router failed to forward %d packets, the %s's %s rule dropped %d %s, and the "+
			"server's kernel got %d (%s): want as many dropped as packets, and none at the server's %s code",
			fails, fw, chain, dropped, ip.msgs(), got, serverMIB, ip.icmp()))
		return
	}
	if strings.Contains(route, " mtu ") {
		e.fail(fmt.Errorf("the server learned the path MTU: %s", route))
		return
	}
	// What the server's kernel counted: IPv4's counter is of every
	// destination unreachable, IPv6's of packets too big alone.
	counted := ip.pick("destination unreachable", "packet too big")
	dropper := "its OUTPUT rule"
	gotText := fmt.Sprintf("received no %s (%s +%d)", counted, serverMIB, got)
	if fw == sideServer {
		dropper = "the server's INPUT rule"
		gotText = fmt.Sprintf("took in no %s (%s +%d: %s_rcv, which counts them, comes after the INPUT chain)",
			counted, serverMIB, got, strings.ToLower(ip.icmp()))
	}
	e.notes = append(e.notes, fmt.Sprintf("Counted over the run: the router's kernel could not forward %d packets "+
		"for their size (%s; %s drops a packet larger than the link's MTU%s, and sends a %s) and %s dropped "+
		"%d %s; the server's kernel %s, and its route to the client had no path MTU learned at the end (%s: %q). "+
		"ss on the server's socket %s: %q.",
		fails, routerMIB, ip.pick("ip_forward", "ip6_forward"), ip.pick(" with DF set", ""), ip.msg(),
		dropper, dropped, ip.msgs(), gotText, strings.Join(get[:len(get)-1], " "),
		strings.Join(strings.Fields(route), " "), when, info))
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

// checkStalled checks a capture of stalledBlackHole: every copy of the
// server's first bytes full-size, 4 or more before the client's FIN and
// 1 or more after it, none acknowledged. With tooBigSeen (the server
// drops them), each of the server's segments too big for the path drew
// one fragmentation needed (packet too big) from the router, with its
// MTU, quoting it; without, the capture has no ICMP error.
func checkStalled(w *wire, tooBigSeen bool) error {
	c, err := w.one()
	if err != nil {
		return err
	}
	in := c.fl.inc
	if tooBigSeen {
		checkTooBig(c)
	} else {
		c.icmp()
	}
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
	fin, ip := in.fins[rc][0], blackHoleOf(in)
	n := 0
	for _, f := range tx {
		if f.no < fin.no {
			n++
		}
		if f.len != tx[0].len || ip.fits(f) {
			c.failf("%v: a copy of %d bytes, want every one of %d, too big for the path", f, f.len, tx[0].len)
		}
	}
	if n < 4 || n == len(tx) {
		c.failf("%d copies of the server's first bytes before the client's FIN and %d after it, want 4 or more and 1 or more",
			n, len(tx)-n)
	}
	return c.err()
}

// tooBig returns the server's segments with payload too big for the
// router's link toward the client.
func tooBig(in *incarnation) []*frame {
	var big []*frame
	ip := blackHoleOf(in)
	for _, f := range in.frames {
		if in.role(f) == rs && f.len > 0 && !ip.fits(f) {
			big = append(big, f)
		}
	}
	return big
}

// checkTooBig checks that each of the server's segments too big for
// the router's link toward the client drew one ICMP fragmentation needed
// (ICMPv6 packet too big) from the router's address on the server's
// link, after it, quoting it (its sequence number and flags) and
// carrying the link's MTU, and that the capture has no other ICMP error.
func checkTooBig(c *flowCheck) {
	in := c.fl.inc
	big, ip := tooBig(in), blackHoleOf(in)
	var want []string
	for range big {
		want = append(want, fmt.Sprintf("server %s %d/%d", ip.router, ip.typ, ip.code))
	}
	c.icmp(want...)
	for i, m := range in.icmps {
		if i < len(big) && (m.src != big[i].src || m.seq != big[i].seq || m.flags != big[i].flags || m.no < big[i].no) {
			c.failf("%v does not quote %v", m, big[i])
		}
		if m.mtu != ip.mtu {
			c.failf("%v: %s %d, want %d", m, ip.mtuField(), m.mtu, ip.mtu)
		}
	}
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
		if fits := blackHole4.fits(f); fits != (f == last) {
			c.failf("%v: fits the path %v, want only the last copy to", f, fits)
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
	notes := []string{note}
	if big := tooBig(in); len(in.icmps) > 0 && len(in.icmps) == len(big) {
		var es []string
		for i, m := range in.icmps {
			es = append(es, fmt.Sprintf("frame %d at +%s ms, quoting frame %d (%s ms after it)", m.no,
				ms(&frame{t: m.t}), big[i].no, strconv.FormatFloat(float64(m.t-big[i].t)/1e6, 'f', 3, 64)))
		}
		ip := blackHoleOf(in)
		notes = append(notes, fmt.Sprintf("The capture shows the router's %d %s %s (from %s, %s %d) arrive, one "+
			"for each of the server's segments too big for the router's link toward the client: %s. The server's "+
			"copies stayed %d bytes all the same.", len(in.icmps), ip.icmp(), ip.msgs(), in.icmps[0].from,
			ip.mtuField(), in.icmps[0].mtu, strings.Join(es, "; "), tx[len(tx)-1].len))
	}
	return notes
}
