//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Scenarios of a router that translates addresses: a Kubernetes node's
// service NAT captured inside it.

// The service address the client of capture-twice-nat connects to, which
// the router translates to the server's (on no link: the client's default
// route leads to the router).
var (
	serviceAddr4 = netip.MustParseAddrPort("198.51.100.150:80")
	serviceAddr6 = netip.MustParseAddrPort("[2001:db8:3::150]:80")
)

// serviceRules installs the router's NAT of capture-twice-nat: DNAT from
// the service address to the server's, MASQUERADE toward the server.
func serviceRules(e *env) {
	svc, to := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort)
	if e.topo.v6 {
		svc, to = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort)
	}
	e.rule(sideRouter, []string{"PREROUTING", "-t", "nat", "-p", "tcp", "-d", svc.Addr().String(),
		"--dport", strconv.Itoa(int(svc.Port())), "-j", "DNAT", "--to-destination", to.String()})
	e.rule(sideRouter, []string{"POSTROUTING", "-t", "nat", "-o", e.topo.serverLink(), "-j", "MASQUERADE"})
}

// captureTwiceNAT is client-active-close through a router that
// translates the service address the client connects to into the
// server's and the client's address into its own, captured with tcpdump
// -i any inside that router.
func captureTwiceNAT(v6 bool) *scenario {
	svc, srv, masq, ttl, iptables := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort), routerS4, "TTL", "iptables"
	if v6 {
		svc, srv, masq, ttl, iptables = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort), routerS6, "hop limit", "ip6tables"
	}
	desc := fmt.Sprintf("A Linux router joins the two ends and translates addresses as a Kubernetes node's kube-proxy does "+
		"for NodePort traffic (%s, nat table): the client connects to the service address %s, which no interface has; "+
		"PREROUTING DNATs it to the server's %s, and POSTROUTING MASQUERADEs the client's address to the router's "+
		"own on the server's link, %s. tcpdump -i any runs in the router's namespace: it records every packet "+
		"twice, as it enters on one veth with its sender's %s, 64, and as it leaves on the other with 63, "+
		"microseconds later, translated: two 4-tuples, the same sequence numbers. The client sends a 100-byte "+
		"request, reads the 300-byte response and close()s; the server reads EOF, its delayed ACK of the FIN goes "+
		"out alone, and it close()s 150 ms later: a four-way close. Both views are flows of their own, named as "+
		"one connection in nat_pairs. Default sysctls. Captured in the router.",
		iptables, svc, srv, masq, ttl)
	sc := &scenario{
		name: "capture-twice-nat",
		summary: "tcpdump -i any in a router that DNATs a service address to the server and MASQUERADEs the client " +
			"(kube-proxy): every segment twice, before and after translation, two 4-tuples with the same sequence " +
			"numbers; a four-way close, client first, on each",
		desc:    desc,
		vantage: vantageRouter,
		framing: frameSLL2,
		pre:     serviceRules,
		run: func(e *env) {
			to := serviceAddr4
			if e.topo.v6 {
				to = serviceAddr6
			}
			ln := e.listen()
			c := e.dialFrom(sideClient, netip.AddrPort{}, to)
			s := ln.accept()
			c.write(100)
			s.read(100)
			s.write(300)
			c.read(300)
			c.close()
			passiveClose(e, s, 150*time.Millisecond)
		},
		check:     checkTwiceNAT,
		wireNotes: twiceNATNotes,
	}
	if v6 {
		// ipv6 adds that it was captured at a router.
		desc = strings.TrimSuffix(desc, " Captured in the router.")
		return ipv6(sc, frameSLL2, vantageRouter, desc)
	}
	return sc
}

// natViews returns the two flows of a capture-twice-nat capture: the
// client's view, before translation, and the server's, after it.
func natViews(w *wire) (before, after *flowCheck, err error) {
	cs, err := w.flows(2)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range cs {
		c.clientFirst()
	}
	if err := checkAll(cs...); err != nil {
		return nil, nil, err
	}
	before, after = cs[0], cs[1]
	svc, srv, cli, masq := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort), clientAddr4, routerS4
	if w.frames[0].ipid < 0 {
		svc, srv, cli, masq = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort), clientAddr6, routerS6
	}
	b, a := before.fl.inc, after.fl.inc
	if b.server != svc || b.client.Addr() != cli || a.server != srv || a.client.Addr() != masq {
		return nil, nil, fmt.Errorf("flows %s-%s and %s-%s, want %v-%v before translation and %v-%v after",
			b.client, b.server, a.client, a.server, cli, svc, masq, srv)
	}
	return before, after, nil
}

// natCopies pairs each frame of a capture taken in a router that
// translates addresses with the earlier frame it is a translated copy
// of: another 4-tuple, less than dupWindow before it, and the same
// sequence and acknowledgement numbers, flags, payload length, window,
// IPv4 ID and timestamps.
func natCopies(frames []*frame) map[*frame]*frame {
	of := map[*frame]*frame{}
	paired := map[*frame]bool{}
	for i, f := range frames {
		for _, p := range frames[:i] {
			if d := f.t - p.t; paired[p] || d < 0 || d >= dupWindow || p.tuple() == f.tuple() {
				continue
			}
			if f.seq == p.seq && f.ack == p.ack && f.flags == p.flags && f.len == p.len && f.win == p.win &&
				f.ipid == p.ipid && f.ts == p.ts && f.tsval == p.tsval && f.tsecr == p.tsecr {
				of[f], paired[p], paired[f] = p, true, true
				break
			}
		}
	}
	return of
}

// checkTwiceNAT checks a capture taken with tcpdump -i any in a router
// that translates addresses: two flows, each a four-way close of the
// client's, one before translation and one after; every segment in
// both, with the same raw sequence numbers (TTL 64 as it entered, 63 as
// it left); no frame a copy of one of its own 4-tuple; and the truth
// pairing the two flows.
func checkTwiceNAT(w *wire) error {
	before, after, err := natViews(w)
	if err != nil {
		return err
	}
	if dropped, kept := copies(w.frames); w.truth.Duplicates != 0 || len(dropped)+len(kept) > 0 {
		return fmt.Errorf("%d capture duplicates and %d same-4-tuple copies, want none", w.truth.Duplicates, len(dropped)+len(kept))
	}
	b, a := before.fl.inc, after.fl.inc
	of := natCopies(w.frames)
	if 2*len(of) != len(w.frames) {
		return fmt.Errorf("%d of the capture's %d TCP frames are translated copies of one before them, want half", len(of), len(w.frames))
	}
	for d, p := range of {
		// A client's segment enters the router before translation, a
		// server's after it.
		first, second := b, a
		if p.src == a.server || p.src == b.server {
			first, second = a, b
		}
		if !slices.Contains(first.frames, p) || !slices.Contains(second.frames, d) ||
			first.role(p) != second.role(d) || p.ttl != 64 || d.ttl != 63 {
			return fmt.Errorf("%v (TTL %d) copies %v (TTL %d): want a %s's segment as it entered on %s-%s (64) and "+
				"left on %s-%s (63)", d, d.ttl, p, p.ttl, roleName[first.role(p)], first.client, first.server, second.client, second.server)
		}
	}
	if b.syn.seq != a.syn.seq || b.synack.seq != a.synack.seq {
		return fmt.Errorf("ISNs %d/%d before translation, %d/%d after", b.syn.seq, b.synack.seq, a.syn.seq, a.synack.seq)
	}
	return natPairOf(w, before, after)
}

// natPairOf checks that the truth links flow after to flow before, the
// one NAT pair of w's capture.
func natPairOf(w *wire, before, after *flowCheck) error {
	want := [][2]truthFlowID{{
		{Client: before.fl.Client, Server: before.fl.Server, Incarnation: 1},
		{Client: after.fl.Client, Server: after.fl.Server, Incarnation: 1},
	}}
	if !slices.Equal(w.truth.NATPairs, want) {
		return fmt.Errorf("nat_pairs %v, want %v", w.truth.NATPairs, want)
	}
	return nil
}

// twiceNATNotes describes the two views on the wire: how many frames,
// how far apart, and how the addresses were translated.
func twiceNATNotes(w *wire) []string {
	before, after, err := natViews(w)
	if err != nil {
		return nil
	}
	b, a := before.fl.inc, after.fl.inc
	of := natCopies(w.frames)
	gaps := copyGaps(of)
	ttl := ttlName(w.frames[0].ipid < 0)
	id := "window, IP ID"
	if ttl == "hop limit" {
		id = "window"
	}
	port := "kept the client's port"
	if b.client.Port() != a.client.Port() {
		port = fmt.Sprintf("changed the client's port from %d to %d", b.client.Port(), a.client.Port())
	}
	return []string{fmt.Sprintf("The capture holds %d TCP frames, every segment twice: on %s-%s, the client's view "+
		"before translation, and on %s-%s, the server's after it; each first as it entered the router (%s 64: the "+
		"client's segments on the first 4-tuple, the server's on the second) and, %.0f to %.0f µs later, as it left "+
		"(63). Both copies carry the same raw sequence and acknowledgement numbers (ISNs %d and %d), %s "+
		"and timestamps; no frame repeats one of its own 4-tuple, so the truth drops none. MASQUERADE %s.",
		len(w.frames), b.client, b.server, a.client, a.server, ttl, float64(slices.Min(gaps))/1e3,
		float64(slices.Max(gaps))/1e3, b.syn.seq, b.synack.seq, id, port)}
}

// dialFrom connects a new socket of side s to to, bound first to from
// (with SO_REUSEADDR) unless from is the zero AddrPort.
func (e *env) dialFrom(s side, from, to netip.AddrPort) *sock {
	k := e.newSock(s)
	if from.IsValid() {
		k.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		k.do("bind", func() error { return unix.Bind(k.fd, sockaddr(from)) })
	}
	k.do("connect", func() error { return unix.Connect(k.fd, sockaddr(to)) })
	return k
}
