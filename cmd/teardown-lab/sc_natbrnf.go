//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// captureTwiceNATBrNF is capture-twice-nat-bridge with br_netfilter on,
// its default and a Kubernetes node's: the bridge hands the server's
// packets to PREROUTING before its own capture point sees them, where
// conntrack undoes the translation of their destination, and the
// source's waits for the routing that follows. tcpdump records each of
// the server's segments on br0 half translated: a third 4-tuple, of the
// server's segments alone.
func captureTwiceNATBrNF(v6 bool) *scenario {
	sc := captureTwiceNATBridge(false)
	svc, srv, cli, masq, ttl, iptables := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort), clientAddr4, routerS4, "TTL", "iptables"
	id := "IP ID"
	if v6 {
		svc, srv, cli, masq, ttl, iptables = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort), clientAddr6, routerS6, "hop limit", "ip6tables"
		id = "(IPv6 has no IP ID)"
	}
	desc := fmt.Sprintf("A Linux router (a Kubernetes node) joins the two ends and translates addresses as kube-proxy does "+
		"(%s, nat table): the client connects to the service address %s, which no interface has; PREROUTING DNATs "+
		"it to the server's %s, and POSTROUTING MASQUERADEs the client's address to the router's own on the server's "+
		"link, %s. The server (a pod) hangs off a Linux bridge in the router, br0 (as cni0): the router's end of the "+
		"server's veth, eth1, is a port of br0, which holds that address. %s is 1 in the router (br_netfilter's "+
		"default, as on Kubernetes nodes): the bridge hands the server's packets to PREROUTING as they enter on the "+
		"port, where conntrack restores their destination, the client's %s, before br0 sees them; their source is "+
		"restored as they are routed out. tcpdump -i any runs in the router's namespace: it records every packet three "+
		"times. The client's: as it enters on eth0 with its sender's %s, 64, then translated as it leaves through br0 "+
		"and again on the port, both with 63. The server's: as it enters on the port, translated (%s to %s), and on "+
		"br0 half translated (%s to the client's real address), both with 64, then as the client sees it (%s to the "+
		"client) as it leaves on eth0 with 63. Three 4-tuples, the same sequence numbers, the same %s %s. The client "+
		"sends a 100-byte request, reads the 300-byte response and close()s; the server reads EOF, its delayed ACK of "+
		"the FIN goes out alone, and it close()s 150 ms later: a four-way close. The two full views are flows of their "+
		"own, named as one connection in nat_pairs; the third 4-tuple, the server's segments alone from its SYN-ACK "+
		"on, is a flow of its own too, named in nat_partial with the flow whose SYN its SYN-ACK answers; the "+
		"client's copies on the bridge are capture duplicates.",
		iptables, svc, srv, masq, bridgeNF(v6), cli, ttl, srv, masq, srv, svc, ttl, id)
	sc.name = "capture-twice-nat-brnf"
	sc.summary = "tcpdump -i any in a Kubernetes node that DNATs a service address to a pod behind a bridge (cni0) " +
		"with br_netfilter on: the bridge sees the server's segments half translated, a third 4-tuple of one " +
		"side's segments (nat_partial) beside the two views of a four-way close, client first"
	sc.desc = desc + " Default sysctls otherwise. Captured in the router."
	sc.sysctls = map[side]map[string]string{sideRouter: {bridgeNF(v6): "1"}}
	sc.check = checkTwiceNATBrNF
	sc.wireNotes = twiceNATBrNFNotes
	if v6 {
		return ipv6(sc, frameSLL2, vantageRouter, desc+" Default sysctls otherwise.")
	}
	return sc
}

// brnfViews returns the three flows of a capture-twice-nat-brnf
// capture: the client's view, before translation, the server's, after
// it (natViews), and the flow of the server's half translated copies,
// checked as the wire shows it: the server's segments alone from its
// SYN-ACK, both sides ESTABLISHED at it (no SYN: a mid-flow start), the
// server's FIN unacknowledged (the client's ACK is on the other
// 4-tuples), and no diagnosis, as nat_partial wants.
func brnfViews(w *wire) (before, after, partial *flowCheck, err error) {
	if _, err := w.flows(3); err != nil {
		return nil, nil, nil, err
	}
	if len(w.truth.NATPartial) != 1 {
		return nil, nil, nil, fmt.Errorf("nat_partial %v, want one flow", w.truth.NATPartial)
	}
	var views []*truthFlow
	for _, fl := range w.truth.Flows {
		if (truthFlowID{Client: fl.Client, Server: fl.Server, Incarnation: fl.Incarnation}) == w.truth.NATPartial[0].Flow {
			partial = &flowCheck{fl: fl}
		} else {
			views = append(views, fl)
		}
	}
	if partial == nil {
		return nil, nil, nil, fmt.Errorf("nat_partial names %v, no flow of the truth", w.truth.NATPartial[0].Flow)
	}
	tr := *w.truth
	tr.Flows = views
	vw := *w
	vw.truth = &tr
	if before, after, err = natViews(&vw); err != nil {
		return nil, nil, nil, err
	}
	b, a, p := before.fl.inc, after.fl.inc, partial.fl.inc
	if p.client != b.client || p.server != a.server {
		return nil, nil, nil, fmt.Errorf("the third flow is %s-%s, want %s-%s: the server's address and the client's",
			p.client, p.server, b.client, a.server)
	}
	if want := (truthFlowID{Client: after.fl.Client, Server: after.fl.Server, Incarnation: 1}); w.truth.NATPartial[0].Of != want {
		return nil, nil, nil, fmt.Errorf("nat_partial names %v the flow of %v, want %v (the SYN it answers, translated)",
			w.truth.NATPartial[0].Flow, w.truth.NATPartial[0].Of, want)
	}
	partial.kind(analyze.HalfClosedAtEnd).initiator(analyze.Server).handshake(analyze.HandshakeNotSeen).
		fins(rc, 0, 0).fins(rs, 1, 1).reset("", "").diags().halfClose("", "").
		states(rc, "ESTABLISHED").states(rs, "ESTABLISHED", "FIN_WAIT1")
	if partial.fl.Roles != analyze.RolesHandshake {
		partial.failf("roles %s, want %s (it starts with a SYN-ACK)", partial.fl.Roles, analyze.RolesHandshake)
	}
	if f := p.frames[0]; !f.has(fSYN|fACK) || f.ack != b.syn.seq+1 {
		partial.failf("first frame %v, want the server's SYN-ACK to ISN %d", f, b.syn.seq)
	}
	if i := slices.IndexFunc(p.frames, func(f *frame) bool { return f.src != p.server }); i >= 0 {
		partial.failf("%v is the client's, want the server's segments alone", p.frames[i])
	}
	return before, after, partial, partial.err()
}

// brnfSegments groups the capture's frames into segments, three frames
// each in the order of the path (the client's: eth0 before translation,
// br0 and the port after it; the server's: the port after translation,
// br0 half translated, eth0 as the client sees it).
func brnfSegments(w *wire, b, a, p *incarnation) ([]bridgeSegment, error) {
	var segs []bridgeSegment
	var open []*bridgeSegment // segments with fewer than three frames
	n := map[*bridgeSegment]int{}
	same := func(f, g *frame) bool {
		return f.seq == g.seq && f.ack == g.ack && f.flags == g.flags && f.len == g.len && f.win == g.win &&
			f.ipid == g.ipid && f.ts == g.ts && f.tsval == g.tsval && f.tsecr == g.tsecr && f.t-g.t < dupWindow
	}
	for _, f := range w.frames {
		var s *bridgeSegment
		for _, o := range open {
			if same(f, o.path[0]) {
				s = o
				break
			}
		}
		if s == nil {
			s = &bridgeSegment{client: f.src == b.client}
			open = append(open, s)
		}
		if n[s] == 3 {
			return nil, fmt.Errorf("%v is a fourth copy of %v", f, s.path[0])
		}
		s.path[n[s]] = f
		n[s]++
		if n[s] == 3 {
			open = slices.DeleteFunc(open, func(o *bridgeSegment) bool { return o == s })
			segs = append(segs, *s)
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("%v shows %d times, want three", open[0].path[0], n[open[0]])
	}
	slices.SortFunc(segs, func(x, y bridgeSegment) int { return x.path[0].no - y.path[0].no })
	for _, s := range segs {
		// Each frame's 4-tuple and sender along the path.
		on, from := [3]*incarnation{b, a, a}, [3]netip.AddrPort{b.client, a.client, a.client}
		if !s.client {
			on, from = [3]*incarnation{a, p, b}, [3]netip.AddrPort{a.server, p.server, b.server}
		}
		for j, f := range s.path {
			if f.tuple() != on[j].frames[0].tuple() || f.src != from[j] {
				return nil, fmt.Errorf("%v, %v and %v: copy %d from %s to %s, want on %s-%s from %s", s.path[0], s.path[1],
					s.path[2], j+1, f.src, f.dst, on[j].client, on[j].server, from[j])
			}
		}
	}
	return segs, nil
}

// checkTwiceNATBrNF checks a capture taken with tcpdump -i any in a
// router that translates addresses, the server behind a bridge whose
// packets br_netfilter hands to iptables: the two views of a four-way
// close and the third, one-sided flow (brnfViews); every segment three
// times (brnfSegments) with the TTLs (hop limits) of its path and on
// the same interfaces as every other segment at the same point of it;
// the truth dropping the client's second copies on the bridge it cannot
// tell from a repeat, pairing the two views, and naming the third flow
// with the server's view.
func checkTwiceNATBrNF(w *wire) error {
	before, after, partial, err := brnfViews(w)
	if err != nil {
		return err
	}
	b, a, p := before.fl.inc, after.fl.inc, partial.fl.inc
	segs, err := brnfSegments(w, b, a, p)
	if err != nil {
		return err
	}
	dropped, kept := copies(w.frames)
	_, errs := dropICMPDuplicates(w.icmps)
	if w.truth.Duplicates != len(dropped)+len(errs) {
		return fmt.Errorf("the truth counts %d capture duplicates, the capture holds %d copies on one 4-tuple, and %d "+
			"duplicate ICMP errors", w.truth.Duplicates, len(dropped), len(errs))
	}
	var errList []error
	var ifs [2][3]int // per client bool: the interface of each point of the path
	nc, partialFrames := 0, 0
	for _, s := range segs {
		want, in, who := [3]int{64, 64, 63}, 0, "server"
		if s.client {
			want, in, who = [3]int{64, 63, 63}, 1, "client"
			nc++
			// The bridge's port repeats br0 on the server's view.
			if d := s.path[2]; dropped[d] != s.path[1] && kept[d] != s.path[1] {
				errList = append(errList, fmt.Errorf("%v is no copy of %v on its 4-tuple", d, s.path[1]))
			}
		} else {
			partialFrames++
		}
		errList = append(errList, s.checkPath(want, &ifs[in], who)...)
	}
	errList = append(errList, reversedPaths(ifs)...)
	if len(dropped)+len(kept) != nc {
		errList = append(errList, fmt.Errorf("%d copies on one 4-tuple, want one for each of the client's %d segments", len(dropped)+len(kept), nc))
	}
	if len(p.frames) != partialFrames {
		errList = append(errList, fmt.Errorf("the third flow holds %d frames, want the server's %d segments once each", len(p.frames), partialFrames))
	}
	if b.syn.seq != a.syn.seq || b.synack.seq != a.synack.seq || p.frames[0].seq != a.synack.seq {
		errList = append(errList, fmt.Errorf("ISNs %d/%d before translation, %d/%d after, server ISN %d half translated",
			b.syn.seq, b.synack.seq, a.syn.seq, a.synack.seq, p.frames[0].seq))
	}
	return errors.Join(append(errList, natPairOf(w, before, after))...)
}

// twiceNATBrNFNotes describes the three copies of every segment on the
// wire, their interfaces, TTLs (hop limits) and gaps, and the third
// flow the half translated ones make.
func twiceNATBrNFNotes(w *wire) []string {
	before, after, partial, err := brnfViews(w)
	if err != nil {
		return nil
	}
	b, a, p := before.fl.inc, after.fl.inc, partial.fl.inc
	segs, err := brnfSegments(w, b, a, p)
	if err != nil {
		return nil
	}
	dropped, kept := copies(w.frames)
	v6 := w.frames[0].ipid < 0
	ttl, fields := ttlName(v6), "window, IP ID"
	if v6 {
		fields = "window"
	}
	var cgap, sgap [2][]int64
	var ifc, ifs [3]int
	var srvFrames []string
	for _, s := range segs {
		q := s.path
		if s.client {
			ifc = [3]int{q[0].ifindex, q[1].ifindex, q[2].ifindex}
			cgap[0], cgap[1] = append(cgap[0], q[1].t-q[0].t), append(cgap[1], q[2].t-q[1].t)
		} else {
			ifs = [3]int{q[0].ifindex, q[1].ifindex, q[2].ifindex}
			sgap[0], sgap[1] = append(sgap[0], q[1].t-q[0].t), append(sgap[1], q[2].t-q[1].t)
			srvFrames = append(srvFrames, fmt.Sprintf("%d %s", q[1].no, q[1].flagString()))
		}
	}
	us := func(x []int64) string {
		return fmt.Sprintf("%.0f to %.0f µs", float64(slices.Min(x))/1e3, float64(slices.Max(x))/1e3)
	}
	notes := []string{
		fmt.Sprintf("The capture holds %d TCP frames, %d segments each three times. The client's %d: on %s-%s as it "+
			"entered the router (ifindex %d, %s 64), then on %s-%s as it left through the bridge (%d, 63, %s later) "+
			"and on the bridge's port (%d, 63, %s after that). The server's %d: on %s-%s as it entered on the port "+
			"(%d, 64), on %s-%s on the bridge (%d, 64, %s later), half translated, then on %s-%s as it left (%d, 63, "+
			"%s after that). All three carry the same raw sequence and acknowledgement numbers (ISNs %d and %d), "+
			"%s and timestamps.",
			len(w.frames), len(segs), len(cgap[0]), b.client, b.server, ifc[0], ttl, a.client, a.server, ifc[1], us(cgap[0]),
			ifc[2], us(cgap[1]), len(sgap[0]), a.server, a.client, ifs[0], p.server, p.client, ifs[1], us(sgap[0]),
			b.server, b.client, ifs[2], us(sgap[1]), b.syn.seq, b.synack.seq, fields),
		fmt.Sprintf("The half translated copies make the flow %s-%s of the server's segments alone (frames %s): its "+
			"SYN-ACK acknowledges the client's ISN %d, whose SYN came %.0f µs before it on %s-%s; nat_partial names "+
			"it with that flow. The rules read it as they would any flow: no SYN, so both sides ESTABLISHED at the "+
			"SYN-ACK; the server's FIN, whose ACK is on the other 4-tuples, unacknowledged; no diagnosis fires.",
			p.client, p.server, strings.Join(srvFrames, ", "), b.syn.seq, float64(p.frames[0].t-a.syn.t)/1e3, a.client, a.server),
	}
	drop := fmt.Sprintf("The truth drops the bridge's port's copies of the client's segments as capture duplicates, %d "+
		"of %d; every frame number it gives is a first copy's.", len(dropped), len(dropped)+len(kept))
	if len(kept) > 0 {
		var pairs []string
		for _, s := range segs {
			if kept[s.path[2]] != nil {
				pairs = append(pairs, fmt.Sprintf("%d and %d", s.path[1].no, s.path[2].no))
			}
		}
		drop += fmt.Sprintf(" Both copies of frames %s stay: without an IPv4 ID, with one %s, and with a segment of "+
			"the other end's between them, the second could have been a genuine repeat answering it.", strings.Join(pairs, ", "), ttl)
	}
	return append(notes, drop)
}
