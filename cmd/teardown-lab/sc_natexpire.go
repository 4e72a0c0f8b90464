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

// A service NAT whose conntrack entry for an idle connection expires:
// the server's next segment crosses it untranslated, the client's kernel
// answers it with a RST that resets the server, and the client's next
// write meets a RST too (Kubernetes' "connection reset by peer" of a
// long-idle connection).

// The router's FORWARD rules of nat-expired-untranslated: they only
// count, segments conntrack finds NEW and INVALID; the first, installed
// before the router's sysctls, makes conntrack's appear.
var (
	countNew     = []string{"-p", "tcp", "-m", "conntrack", "--ctstate", "NEW"}
	countInvalid = []string{"-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID"}
)

// Intervals of nat-expired-untranslated: the silence, longer than the
// router's 2 s established timeout, and the client's write after the
// server's.
const (
	natIdle      = 3500 * time.Millisecond
	natNextWrite = 150 * time.Millisecond
)

// natExpiredUntranslated is the scenario, over IPv6 with v6.
func natExpiredUntranslated(v6 bool) *scenario {
	ttl := ttlName(v6)
	desc := natExpiredStory(v6) + fmt.Sprintf(" Two flows: the service address's, with its handshake, and the "+
		"untranslated segment's, with no SYN (roles inferred). Default sysctls at both ends; captured at the client, "+
		"where the server's segments arrive with %s 63.", ttl)
	sc := &scenario{
		name: "nat-expired-untranslated",
		summary: "a service DNAT without source NAT (conntrack established timeout 2 s) forgets a connection silent " +
			"3.5 s: the server's next segment reaches the client untranslated, from the server's own address, the " +
			"client's kernel answers [R], which resets the server, and the client's next write to the service " +
			"address meets [R] (Kubernetes' connection reset by peer)",
		desc:    desc,
		vantage: vantageClient,
		framing: frameEthernet,
		forward: countNew,
		sysctls: map[side]map[string]string{sideRouter: {
			"net.netfilter.nf_conntrack_tcp_timeout_established": "2",
		}},
		pre: func(e *env) {
			e.rule(sideRouter, append([]string{"FORWARD"}, countInvalid...))
			dnatRules(e)
		},
		notes: []string{"The untranslated segment's flow has no SYN: its roles are inferred from the ports, the " +
			"server's 8080 below the client's ephemeral one. It is the service address's connection seen on the " +
			"server's own address: it continues the server's sequence numbers there and acknowledges all the " +
			"client had sent. Both RSTs came from a kernel's reply path (bare [R], seq = the ack of the segment it " +
			"answers, IP ID 0 over IPv4) for want of a socket: the client's kernel never had one for the server's " +
			"own address, and the server's had been reset by the first RST. The truth's reset cause is no-socket " +
			"for the server's, which answered the client's write on a connection the server had held and never " +
			"closed, and unknown for the client's, whose sender sent nothing else on that 4-tuple: the wire cannot " +
			"say it ever had a socket there."},
		run:       natExpiredRun,
		check:     checkNATExpired,
		wireNotes: natExpiredNotes,
	}
	if v6 {
		return ipv6(sc, frameEthernet, vantageClient, desc)
	}
	return sc
}

// natExpiredStory is the description nat-expired-untranslated's
// vantages share: the router, its rules and sysctls, and what the two
// ends do and the router makes of it; each adds its flows and where it
// was captured.
func natExpiredStory(v6 bool) string {
	svc, srv, iptables := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort), "iptables"
	if v6 {
		svc, srv, iptables = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort), "ip6tables"
	}
	return fmt.Sprintf("A Linux router joins the two ends and DNATs the service address %s, which no interface has, to "+
		"the server's %s (%s, nat table PREROUTING), as kube-proxy does; there is no source NAT: the server's default "+
		"route leads back through the router, so the client's own address reaches it. The router sets "+
		"net.netfilter.nf_conntrack_tcp_timeout_established=2 and leaves nf_conntrack_tcp_loose at 1, the default (a "+
		"mid-stream segment creates an entry); no rule drops or rejects INVALID segments (its FORWARD chain only "+
		"counts NEW and INVALID ones). The client connects to the service address and sends 100 bytes; the server "+
		"answers 300. Both stay silent 3.5 s, and the router's entry expires. The server then writes 100 bytes: with "+
		"no entry to translate them back, they cross the router untranslated and reach the client from %s; the "+
		"client's kernel has no socket for that 4-tuple and answers with a bare [R] whose seq is the segment's ack, "+
		"which crosses back and resets the server's socket. 150 ms after the server's write the client writes 100 "+
		"bytes to the service address: a fresh conntrack entry DNATs them to the server, whose kernel has no socket "+
		"for them any more and answers with a bare [R], translated back to the service address, which resets the "+
		"client's socket.", svc, srv, iptables, srv)
}

// dnatRules installs the router's DNAT from the service address to the
// server's, with no source NAT: the server routes back through the
// router, so the client's own address reaches it.
func dnatRules(e *env) {
	svc, to := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort)
	if e.topo.v6 {
		svc, to = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort)
	}
	e.rule(sideRouter, []string{"PREROUTING", "-t", "nat", "-p", "tcp", "-d", svc.Addr().String(),
		"--dport", strconv.Itoa(int(svc.Port())), "-j", "DNAT", "--to-destination", to.String()})
}

// natCounters are the counters nat-expired-untranslated reads at each
// end (nstat's absolute values: the namespaces are new).
var natCounters = []string{"TcpOutRsts", "TcpEstabResets", "TcpRetransSegs", "TcpExtTCPAbortOnData", "TcpExtTCPAbortOnClose"}

// natExpiredRun drives nat-expired-untranslated and checks, at each
// step, the router's conntrack table and both ends' counters.
func natExpiredRun(e *env) {
	svc := serviceAddr4
	if e.topo.v6 {
		svc = serviceAddr6
	}
	ln := e.listen()
	c := e.dialFrom(sideClient, netip.AddrPort{}, svc)
	s := ln.accept()
	c.write(100)
	s.read(100)
	s.write(300)
	c.read(300)
	live := e.conntrackEntries(sideRouter)
	cnt0 := [2]map[string]int64{e.nstat(sideClient, natCounters...), e.nstat(sideServer, natCounters...)}
	e.sleep(natIdle)
	expired := e.conntrackEntries(sideRouter)
	sent := time.Now()
	s.write(100)
	s.readReset(time.Second)
	srvAt := time.Since(sent)
	afterRST := e.conntrackEntries(sideRouter)
	cnt1 := [2]map[string]int64{e.nstat(sideClient, natCounters...), e.nstat(sideServer, natCounters...)}
	e.sleep(time.Until(sent.Add(natNextWrite)))
	wrote := time.Now()
	c.write(100)
	c.readReset(2 * time.Second)
	cliAt := time.Since(wrote)
	c.close()
	s.close()
	e.sleep(50 * time.Millisecond)
	final := e.conntrackEntries(sideRouter)
	cnt2 := [2]map[string]int64{e.nstat(sideClient, natCounters...), e.nstat(sideServer, natCounters...)}
	ct := e.conntrackStats(sideRouter)
	news := e.ruleCount(sideRouter, "filter", "FORWARD", "ctstate NEW")
	invalid := e.ruleCount(sideRouter, "filter", "FORWARD", "ctstate INVALID")
	dnat := e.ruleCount(sideRouter, "nat", "PREROUTING", "DNAT")
	if e.failed() != nil {
		return
	}
	delta := func(r int, k string, from, to [2]map[string]int64) int64 { return to[r][k] - from[r][k] }
	switch {
	case len(live) != 1 || !strings.Contains(live[0], "ESTABLISHED") || !strings.Contains(live[0], "[ASSURED]"):
		e.fail(fmt.Errorf("the router's conntrack after the exchange: %q, want one ESTABLISHED, ASSURED entry", live))
	case len(expired) != 0:
		e.fail(fmt.Errorf("the router's conntrack after %v of silence: %q, want no entry", natIdle, expired))
	case len(afterRST) != 0 || len(final) != 0:
		e.fail(fmt.Errorf("the router's conntrack after the client's RST: %q, at the end: %q, want no entry", afterRST, final))
	case delta(rc, "TcpOutRsts", cnt0, cnt1) != 1 || delta(rs, "TcpEstabResets", cnt0, cnt1) != 1 ||
		delta(rs, "TcpOutRsts", cnt0, cnt1) != 0 || delta(rc, "TcpEstabResets", cnt0, cnt1) != 0:
		e.fail(fmt.Errorf("counters after the server's write: client %v -> %v, server %v -> %v: want the client's "+
			"OutRsts and the server's EstabResets up by 1, nothing else", cnt0[rc], cnt1[rc], cnt0[rs], cnt1[rs]))
	case delta(rs, "TcpOutRsts", cnt1, cnt2) != 1 || delta(rc, "TcpEstabResets", cnt1, cnt2) != 1 ||
		delta(rc, "TcpOutRsts", cnt1, cnt2) != 0 || delta(rs, "TcpEstabResets", cnt1, cnt2) != 0:
		e.fail(fmt.Errorf("counters after the client's write: client %v -> %v, server %v -> %v: want the server's "+
			"OutRsts and the client's EstabResets up by 1, nothing else", cnt1[rc], cnt2[rc], cnt1[rs], cnt2[rs]))
	case cnt2[rc]["TcpRetransSegs"]+cnt2[rs]["TcpRetransSegs"] != 0:
		e.fail(fmt.Errorf("retransmissions: client %d, server %d, want none", cnt2[rc]["TcpRetransSegs"], cnt2[rs]["TcpRetransSegs"]))
	case news != 3 || invalid != 0 || dnat != 2 || ct["insert_failed"]+ct["drop"]+ct["invalid"] != 0:
		e.fail(fmt.Errorf("the router counted %d NEW and %d INVALID segments, %d DNATs, conntrack stats %v: want "+
			"3, 0, 2 and no insert_failed, drop or invalid", news, invalid, dnat, ct))
	}
	if e.failed() != nil {
		return
	}
	e.notes = append(e.notes,
		fmt.Sprintf("The router's conntrack table (/proc/net/nf_conntrack in its namespace) held one entry after the "+
			"exchange (%s), none after the %.1f s silence (it had expired), and none when the server's read() had "+
			"failed: the untranslated segment had created one (nf_conntrack_tcp_loose=1), and conntrack deletes an "+
			"entry whose first reply is a RST (nf_conntrack_proto_tcp: \"if only reply is a RST\"), so the client's "+
			"later segment found nothing to clash with and a fresh entry of its own took the DNAT. Over the run the "+
			"router's FORWARD chain counted %d segments in conntrack state NEW (the SYN, the untranslated segment, "+
			"the client's later segment) and %d INVALID, its DNAT rule %d (the SYN and the client's later segment: "+
			"the untranslated segment's entry matched no NAT rule), and /proc/net/stat/nf_conntrack insert_failed %d, "+
			"drop %d, invalid %d; no entry was left at the end.",
			strings.Join(strings.Fields(live[0]), " "), natIdle.Seconds(), news, invalid, dnat,
			ct["insert_failed"], ct["drop"], ct["invalid"]),
		fmt.Sprintf("nstat -az (absolute; the namespaces are new) from the end of the exchange to the server's failed "+
			"read(): the client's Tcp OutRsts %d -> %d (its [R]), the server's Tcp EstabResets %d -> %d (the [R] "+
			"reset its ESTABLISHED socket), and the server's blocking read(), called after its write, failed with "+
			"ECONNRESET %.1f ms after the write. Then to the end: the server's Tcp OutRsts %d -> %d (its reply to "+
			"the client's segment), the client's Tcp EstabResets %d -> %d, and the client's read(), called after its "+
			"write, failed with ECONNRESET %.1f ms after the write. Tcp RetransSegs stayed 0 at both ends, and so "+
			"did TcpExtTCPAbortOnData and TcpExtTCPAbortOnClose (both RSTs came from the reply path, not from a "+
			"socket).",
			cnt0[rc]["TcpOutRsts"], cnt1[rc]["TcpOutRsts"], cnt0[rs]["TcpEstabResets"], cnt1[rs]["TcpEstabResets"],
			float64(srvAt)/1e6, cnt1[rs]["TcpOutRsts"], cnt2[rs]["TcpOutRsts"],
			cnt1[rc]["TcpEstabResets"], cnt2[rc]["TcpEstabResets"], float64(cliAt)/1e6))
	for r := range 2 {
		if cnt2[r]["TcpExtTCPAbortOnData"]+cnt2[r]["TcpExtTCPAbortOnClose"] != 0 {
			e.fail(fmt.Errorf("the %s counted TCPAbortOnData %d, TCPAbortOnClose %d, want 0", roleName[r],
				cnt2[r]["TcpExtTCPAbortOnData"], cnt2[r]["TcpExtTCPAbortOnClose"]))
		}
	}
}

// readReset blocks in read() at most d and expects it to fail with
// ECONNRESET.
func (s *sock) readReset(d time.Duration) {
	s.readTimed(d, func(n int, err error, took time.Duration) error {
		if !errors.Is(err, unix.ECONNRESET) {
			return fmt.Errorf("read() %d, %v after %v, want ECONNRESET within %v", n, err, took, d)
		}
		return nil
	})
}

// readTimed blocks in read() at most d (SO_RCVTIMEO) and hands what it
// returned, and how long it took, to check.
func (s *sock) readTimed(d time.Duration, check func(n int, err error, took time.Duration) error) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	s.do("SO_RCVTIMEO", func() error { return unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) })
	s.do("read", func() error {
		start := time.Now()
		n, err := unix.Read(s.fd, make([]byte, 1024))
		if errors.Is(err, unix.EINTR) {
			return err
		}
		return check(n, err, time.Since(start))
	})
}

// conntrackEntries lists the conntrack entries of side s's namespace
// (/proc/net/nf_conntrack), one line each.
func (e *env) conntrackEntries(s side) []string {
	if e.failed() != nil {
		return nil
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "cat", "/proc/net/nf_conntrack")
	if err != nil {
		e.fail(err)
		return nil
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// ruleCount returns the packet count of the one rule of chain (in table)
// of side s's namespace whose listing contains match.
func (e *env) ruleCount(s side, table, chain, match string) int64 {
	if e.failed() != nil {
		return 0
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), e.iptables(), "-w", "-t", table, "-L", chain, "-n", "-v", "-x")
	if err != nil {
		e.fail(err)
		return 0
	}
	var found []int64
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, match) {
			continue
		}
		n, err := strconv.ParseInt(strings.Fields(l)[0], 10, 64)
		if err != nil {
			e.fail(fmt.Errorf("%s %s: %q: %w", table, chain, l, err))
			return 0
		}
		found = append(found, n)
	}
	if len(found) != 1 {
		e.fail(fmt.Errorf("%d rules of %s %s in the %s's namespace match %q, want 1:\n%s", len(found), table, chain, s, match, out))
		return 0
	}
	return found[0]
}

// natExpiredFrames names the frames of a nat-expired-untranslated
// capture: on the service address's flow the server's last segment
// before the silence, the client's later write and the RST answering
// it; on the untranslated flow the server's segment and the client's
// RST.
type natExpiredFrames struct {
	svc, raw               *flowCheck
	before, untrans, reply *frame
	write, rst             *frame
}

// natExpiredWire finds the frames of natExpiredFrames and checks what
// the wire must show of them.
func natExpiredWire(w *wire) (*natExpiredFrames, error) {
	fs, err := w.flows(2)
	if err != nil {
		return nil, err
	}
	x := &natExpiredFrames{svc: fs[0], raw: fs[1]}
	v6 := w.frames[0].ipid < 0
	svc, srv, cli := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort), clientAddr4
	if v6 {
		svc, srv, cli = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort), clientAddr6
	}
	s, u := x.svc.fl.inc, x.raw.fl.inc
	if s.server != svc || s.client.Addr() != cli || u.server != srv || u.client != s.client {
		return nil, fmt.Errorf("flows %s-%s and %s-%s, want %v:port-%v and the same client port with %v", s.client,
			s.server, u.client, u.server, cli, svc, srv)
	}
	if len(u.frames) != 2 {
		return nil, fmt.Errorf("%d frames on the untranslated 4-tuple, want the server's segment and the client's RST", len(u.frames))
	}
	x.untrans, x.reply = u.frames[0], u.frames[1]
	// The service flow's state when the untranslated segment came: the
	// end of what each side had sent.
	var cliEnd, srvEnd uint32
	var cliSeen, srvSeen bool
	for _, f := range s.frames {
		if f.t > x.untrans.t {
			if x.write == nil && s.role(f) == rc && f.len > 0 {
				x.write = f
			}
			continue
		}
		end := f.seq + f.len
		if f.has(fSYN) {
			end++
		}
		if s.role(f) == rc {
			cliEnd, cliSeen = end, true
		} else {
			srvEnd, srvSeen = end, true
			x.before = f
		}
	}
	x.rst = s.rst
	ut, rp := x.untrans, x.reply
	switch {
	case !cliSeen || !srvSeen || x.before == nil || x.write == nil || x.rst == nil:
		return nil, errors.New("the service flow lacks the exchange, the client's later write or its RST")
	case ut.src != srv || ut.flags&^fPSH != fACK || ut.len != 100 || ut.seq != srvEnd || ut.ack != cliEnd || ut.ttl != 63:
		return nil, fmt.Errorf("%v (TTL %d) is not the server's 100 bytes after the exchange, seq %d ack %d, one hop away",
			ut, ut.ttl, srvEnd, cliEnd)
	case ut.t-x.before.t < 3e9:
		return nil, fmt.Errorf("the untranslated segment came %.2f s after the server's last, want the 3.5 s silence",
			float64(ut.t-x.before.t)/1e9)
	case rp.src != s.client || rp.flags != fRST || rp.seq != ut.ack || rp.ttl != 64 || rp.ts || (!v6 && rp.ipid != 0) || rp.t-ut.t > 50e6:
		return nil, fmt.Errorf("%v (TTL %d, IP ID %d) is not the client's kernel's bare [R] with seq %d at once",
			rp, rp.ttl, rp.ipid, ut.ack)
	case x.write.len != 100 || x.write.seq != cliEnd || x.write.t-ut.t < 100e6 || x.write.t-ut.t > 300e6:
		return nil, fmt.Errorf("%v is not the client's 100 bytes 100-300 ms after the untranslated segment", x.write)
	case x.rst.src != svc || x.rst.flags != fRST || x.rst.seq != x.write.ack || x.rst.ttl != 63 || x.rst.ts ||
		(!v6 && x.rst.ipid != 0) || x.rst.no != s.frames[len(s.frames)-1].no:
		return nil, fmt.Errorf("%v (TTL %d) is not the server's kernel's bare [R] with seq %d, translated back, last",
			x.rst, x.rst.ttl, x.write.ack)
	}
	for _, f := range s.frames {
		if s.role(f) == rs && f.ttl != 63 {
			return nil, fmt.Errorf("server segment with %s %d, want 63 (one router hop): %v", ttlName(v6), f.ttl, f)
		}
	}
	return x, nil
}

// checkNATExpired checks nat-expired-untranslated's two flows as the
// analyzer builds them: the service address's, with its handshake,
// reset by the server's reply [R]; and the untranslated segment's, with
// no SYN and inferred roles, reset by the client's. Neither RST's cause
// is on the wire.
// ctEstablished is the conntrack timeout of an established connection.
const ctEstablished = "net.netfilter.nf_conntrack_tcp_timeout_established"

func checkNATExpired(w *wire) error {
	x, err := natExpiredWire(w)
	if err != nil {
		return err
	}
	x.svc.kind(analyze.ResetKind).initiator(analyze.Server).handshake(analyze.HandshakeComplete).
		fins(rc, 0, 0).fins(rs, 0, 0).reset("server", analyze.CauseNoSocket).diags(analyze.CodeRstNoSocket).
		diagSide(analyze.CodeRstNoSocket, "server").diagSysctl(analyze.CodeRstNoSocket, ctEstablished).halfClose("", "").
		states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED")
	if x.svc.fl.Roles != analyze.RolesHandshake {
		x.svc.failf("roles %s, want %s", x.svc.fl.Roles, analyze.RolesHandshake)
	}
	x.raw.kind(analyze.ResetKind).initiator(analyze.Client).handshake(analyze.HandshakeNotSeen).
		fins(rc, 0, 0).fins(rs, 0, 0).reset("client", analyze.CauseUnknown).
		diags(analyze.CodeCaptureStartedMidFlow).halfClose("", "").
		states(rc, "ESTABLISHED", "CLOSED").states(rs, "ESTABLISHED", "CLOSED")
	if x.raw.fl.Roles != analyze.RolesInferred {
		x.raw.failf("roles %s, want %s", x.raw.fl.Roles, analyze.RolesInferred)
	}
	if len(w.truth.NATPairs) != 0 || len(w.truth.NATPartial) != 0 {
		return fmt.Errorf("nat_pairs %v, nat_partial %v: want none (the untranslated flow has no handshake)",
			w.truth.NATPairs, w.truth.NATPartial)
	}
	// The untranslated segment's flow is named with the service
	// address's, after the 3.5 s silence, which conntrack spent in
	// ESTABLISHED.
	want := truthUntranslated{Connection: x.svc.fl.inc.id(), Segments: x.raw.fl.inc.id(), Frame: x.untrans.no,
		Reset: x.reply.no, Count: 1, State: "ESTABLISHED"}
	if u := w.truth.Untranslated; len(u) != 1 || u[0].Idle < 3.5 || u[0].Idle > 4 || func() bool { g := u[0]; g.Idle = 0; return g != want }() {
		return fmt.Errorf("untranslated %+v, want one entry %+v with a silence of 3.5-4 s", u, want)
	}
	return checkAll(x.svc, x.raw)
}

// natExpiredNotes describes the wire frame by frame from the silence on.
func natExpiredNotes(w *wire) []string {
	x, err := natExpiredWire(w)
	if err != nil {
		return nil
	}
	ttl := ttlName(w.frames[0].ipid < 0)
	ut, rp := x.untrans, x.reply
	return []string{fmt.Sprintf("Frame %d, %.2f s after the server's last segment before the silence (frame %d): "+
		"the server's 100 bytes from %v, untranslated, seq %d and ack %d, where its segments on the service "+
		"address's flow had left off (%s 63). Frame %d, %.0f µs later: the client's bare [R] to %v, seq %d (%s 64). "+
		"Frame %d, %.0f ms after frame %d: the client's 100 bytes to %v, seq %d ack %d. Frame %d, %.0f µs later: "+
		"[R] from %v, seq %d (%s 63): the server's kernel's reply, translated back.",
		ut.no, float64(ut.t-x.before.t)/1e9, x.before.no, ut.src, ut.seq, ut.ack, ttl,
		rp.no, float64(rp.t-ut.t)/1e3, rp.dst, rp.seq, ttl,
		x.write.no, float64(x.write.t-ut.t)/1e6, ut.no, x.write.dst, x.write.seq, x.write.ack,
		x.rst.no, float64(x.rst.t-x.write.t)/1e3, x.rst.src, x.rst.seq, ttl)}
}
