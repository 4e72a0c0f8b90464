//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// bridgeNF is the router's sysctl (br_netfilter's) that hands the
// packets a bridge passes up to the router to iptables' (ip6tables')
// PREROUTING chain before the bridge's own capture point sees them:
// the server's packets would show there half translated, their
// destination already the client's. capture-twice-nat-bridge turns it
// off; capture-twice-nat-brnf leaves it on.
func bridgeNF(v6 bool) string {
	if v6 {
		return "net.bridge.bridge-nf-call-ip6tables"
	}
	return "net.bridge.bridge-nf-call-iptables"
}

// captureTwiceNATBridge is capture-twice-nat with the server behind a
// bridge in the router, as a Kubernetes node's pods sit behind cni0:
// tcpdump -i any sees every packet on the server's side twice, on the
// bridge and on its port.
func captureTwiceNATBridge(v6 bool) *scenario {
	nat := captureTwiceNAT(false)
	svc, srv, masq, ttl, iptables := serviceAddr4, netip.AddrPortFrom(serverAddr4, serverPort), routerS4, "TTL", "iptables"
	id := "IP ID"
	if v6 {
		svc, srv, masq, ttl, iptables = serviceAddr6, netip.AddrPortFrom(serverAddr6, serverPort), routerS6, "hop limit", "ip6tables"
		id = "(IPv6 has no IP ID)"
	}
	desc := fmt.Sprintf("A Linux router (a Kubernetes node) joins the two ends and translates addresses as kube-proxy does "+
		"(%s, nat table): the client connects to the service address %s, which no interface has; PREROUTING DNATs "+
		"it to the server's %s, and POSTROUTING MASQUERADEs the client's address to the router's own on the server's "+
		"link, %s. The server (a pod) hangs off a Linux bridge in the router, br0 (as cni0): the router's end of the "+
		"server's veth, eth1, is a port of br0, which holds that address. %s is 0 in the router: the packets the "+
		"bridge passes up meet iptables once, as they are routed. tcpdump -i any runs in the router's namespace: it "+
		"records every packet three times. The client's: as it enters on eth0 with its sender's %s, 64, then "+
		"translated as it leaves through br0 and again on the port, both with 63. The server's: as it enters on the "+
		"port and on br0, both with 64, then translated as it leaves on eth0 with 63. Two 4-tuples, the same sequence "+
		"numbers; on the server's side each segment twice, the same %s %s. The client sends a 100-byte request, "+
		"reads the 300-byte response and close()s; the server reads EOF, its delayed ACK of the FIN goes out alone, "+
		"and it close()s 150 ms later: a four-way close. Both views are flows of their own, named as one connection "+
		"in nat_pairs; the bridge's copies are capture duplicates.",
		iptables, svc, srv, masq, bridgeNF(v6), ttl, ttl, id)
	sc := &scenario{
		name: "capture-twice-nat-bridge",
		summary: "tcpdump -i any in a Kubernetes node that DNATs a service address to a pod behind a bridge (cni0) " +
			"and MASQUERADEs the client: every segment three times, before translation, then after it on the bridge " +
			"and on its port; two 4-tuples, the bridge's copies capture duplicates; a four-way close, client first, on each",
		desc:      desc + " Default sysctls otherwise. Captured in the router.",
		vantage:   vantageRouter,
		framing:   frameSLL2,
		bridge:    true,
		sysctls:   map[side]map[string]string{sideRouter: {bridgeNF(v6): "0"}},
		pre:       serviceRules,
		run:       func(e *env) { noteInterfaces(e); nat.run(e) },
		check:     checkTwiceNATBridge,
		wireNotes: twiceNATBridgeNotes,
	}
	if v6 {
		return ipv6(sc, frameSLL2, vantageRouter, desc+" Default sysctls otherwise.")
	}
	return sc
}

// noteInterfaces adds the router's interfaces and their indexes, as the
// capture's SLL2 headers give them, to the truth's notes.
func noteInterfaces(e *env) {
	if e.failed() != nil {
		return
	}
	out, err := nsExec(e.ctx, e.topo.router, "ip", "-j", "link", "show")
	if err != nil {
		e.fail(err)
		return
	}
	var links []struct {
		Index  int    `json:"ifindex"`
		Name   string `json:"ifname"`
		Master string `json:"master"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		e.fail(fmt.Errorf("ip -j link show: %w", err))
		return
	}
	var s []string
	for _, l := range links {
		switch {
		case l.Name == "lo":
		case l.Master != "":
			s = append(s, fmt.Sprintf("%s %d (a port of %s)", l.Name, l.Index, l.Master))
		default:
			s = append(s, fmt.Sprintf("%s %d", l.Name, l.Index))
		}
	}
	e.notes = append(e.notes, "The router's interfaces by index (the SLL2 header's ifindex): "+strings.Join(s, ", ")+".")
}

// bridgeCopies sorts the frames of a capture-twice-nat-bridge capture:
// the copies of one segment on the 4-tuple it had on the bridge (same
// is each such copy's frame before it, and kept those of them the truth
// keeps), and the pairs of a segment's two 4-tuples among the rest (nat:
// each translated copy's frame before it).
func bridgeCopies(frames []*frame) (same map[*frame]*frame, kept map[*frame]bool, nat map[*frame]*frame) {
	dropped, k := copies(frames)
	same, kept = maps.Clone(dropped), map[*frame]bool{}
	for d, p := range k {
		same[d], kept[d] = p, true
	}
	var rest []*frame
	for _, f := range frames {
		if same[f] == nil {
			rest = append(rest, f)
		}
	}
	return same, kept, natCopies(rest)
}

// bridgeSegment is one segment of a capture-twice-nat-bridge capture:
// its three frames in the order of the path (the client's: eth0, br0,
// the port; the server's: the port, br0, eth0).
type bridgeSegment struct {
	client bool
	path   [3]*frame
}

// bridgeSegments groups the capture's frames into segments, checking
// that each shows three times: once on one 4-tuple, twice on the other,
// the two copies of the bridge's side one after the other.
func bridgeSegments(w *wire, before, after *incarnation) ([]bridgeSegment, error) {
	same, _, nat := bridgeCopies(w.frames)
	copyOf := map[*frame]*frame{} // a bridge-side frame to its copy
	for d, p := range same {
		if p.tuple() != after.syn.tuple() {
			return nil, fmt.Errorf("%v repeats %v on the 4-tuple of the client's view", d, p)
		}
		copyOf[p] = d
	}
	if 3*len(same) != len(w.frames) || 3*len(nat) != len(w.frames) {
		return nil, fmt.Errorf("the capture's %d TCP frames hold %d copies of a frame of their 4-tuple and %d translated "+
			"copies, want a third each", len(w.frames), len(same), len(nat))
	}
	var segs []bridgeSegment
	for _, d := range slices.SortedFunc(maps.Keys(nat), func(a, b *frame) int { return a.no - b.no }) {
		p := nat[d]
		switch {
		case p.tuple() == before.syn.tuple() && p.src == before.client && copyOf[d] != nil:
			segs = append(segs, bridgeSegment{client: true, path: [3]*frame{p, d, copyOf[d]}})
		case p.tuple() == after.syn.tuple() && p.src == after.server && copyOf[p] != nil:
			segs = append(segs, bridgeSegment{path: [3]*frame{p, copyOf[p], d}})
		default:
			return nil, fmt.Errorf("%v is a translated copy of %v, want a client's segment entering before "+
				"translation or a server's entering after it, its bridge copy next to it", d, p)
		}
	}
	slices.SortFunc(segs, func(a, b bridgeSegment) int { return a.path[0].no - b.path[0].no })
	return segs, nil
}

// checkTwiceNATBridge checks a capture taken with tcpdump -i any in a
// router that translates addresses, the server behind a bridge: two
// flows, each a four-way close of the client's, before translation and
// after it (natViews), every segment three times (bridgeSegments) with
// the TTLs (hop limits) of its path and on the same interface as every
// other segment at the same point of it, the truth dropping the bridge's
// second copies it cannot tell from a repeat and pairing the two flows.
func checkTwiceNATBridge(w *wire) error {
	before, after, err := natViews(w)
	if err != nil {
		return err
	}
	b, a := before.fl.inc, after.fl.inc
	segs, err := bridgeSegments(w, b, a)
	if err != nil {
		return err
	}
	same, kept, _ := bridgeCopies(w.frames)
	_, errs := dropICMPDuplicates(w.icmps)
	if w.truth.Duplicates != len(same)-len(kept)+len(errs) {
		return fmt.Errorf("the truth counts %d capture duplicates, the capture holds %d copies on one 4-tuple, %d of them "+
			"kept, and %d duplicate ICMP errors", w.truth.Duplicates, len(same), len(kept), len(errs))
	}
	for d := range kept {
		if d.ipid > 0 {
			return fmt.Errorf("the truth keeps %v, a copy of an earlier frame with its IP ID", d)
		}
	}
	var ifs [2][3]int // per client bool: the interface of each point of the path
	var errList []error
	for _, s := range segs {
		want := [3]int{64, 63, 63} // the client's: routed after eth0
		in, who := 0, "server"
		if s.client {
			in, who = 1, "client"
		} else {
			want = [3]int{64, 64, 63} // the server's: routed after br0
		}
		errList = append(errList, s.checkPath(want, &ifs[in], who)...)
	}
	errList = append(errList, reversedPaths(ifs)...)
	if b.syn.seq != a.syn.seq || b.synack.seq != a.synack.seq {
		errList = append(errList, fmt.Errorf("ISNs %d/%d before translation, %d/%d after", b.syn.seq, b.synack.seq, a.syn.seq, a.synack.seq))
	}
	return errors.Join(append(errList, natPairOf(w, before, after))...)
}

// twiceNATBridgeNotes describes the three copies of every segment on the
// wire: their interfaces, TTLs (hop limits) and gaps, and which of the
// bridge's copies the truth keeps.
func twiceNATBridgeNotes(w *wire) []string {
	before, after, err := natViews(w)
	if err != nil {
		return nil
	}
	b, a := before.fl.inc, after.fl.inc
	segs, err := bridgeSegments(w, b, a)
	if err != nil {
		return nil
	}
	_, kept, _ := bridgeCopies(w.frames)
	v6 := w.frames[0].ipid < 0
	ttl, fields := "TTL", "window, IP ID"
	if v6 {
		ttl, fields = "hop limit", "window"
	}
	var nat, bridge []int64
	var ifc, ifs [3]int
	var zero []string
	dropped := 0
	for _, s := range segs {
		p := s.path
		if s.client {
			ifc = [3]int{p[0].ifindex, p[1].ifindex, p[2].ifindex}
			nat = append(nat, p[1].t-p[0].t)
			bridge = append(bridge, p[2].t-p[1].t)
			if !kept[p[2]] {
				dropped++
				if p[2].ipid == 0 {
					zero = append(zero, fmt.Sprintf("%d (a copy of %d)", p[2].no, p[1].no))
				}
			}
		} else {
			ifs = [3]int{p[0].ifindex, p[1].ifindex, p[2].ifindex}
			bridge = append(bridge, p[1].t-p[0].t)
			nat = append(nat, p[2].t-p[1].t)
			if !kept[p[1]] {
				dropped++
				if p[1].ipid == 0 {
					zero = append(zero, fmt.Sprintf("%d (a copy of %d)", p[1].no, p[0].no))
				}
			}
		}
	}
	us := func(x []int64) string {
		return fmt.Sprintf("%.0f to %.0f µs", float64(slices.Min(x))/1e3, float64(slices.Max(x))/1e3)
	}
	notes := []string{fmt.Sprintf("The capture holds %d TCP frames, %d segments each three times. The client's: on "+
		"%s-%s as it entered the router (ifindex %d, %s 64), then on %s-%s as it left through the bridge (%d, 63) "+
		"and on the bridge's port (%d, 63). The server's: on %s-%s as it entered on the port (%d, 64) and the bridge "+
		"(%d, 64), then on %s-%s as it left (%d, 63). A segment's two copies on the bridge's side are one packet, %s "+
		"apart; its translated copy came %s after the one before it. All three carry the same raw sequence and "+
		"acknowledgement numbers (ISNs %d and %d), %s and timestamps.",
		len(w.frames), len(segs), b.client, b.server, ifc[0], ttl, a.client, a.server, ifc[1], ifc[2],
		a.client, a.server, ifs[0], ifs[1], b.client, b.server, ifs[2], us(bridge), us(nat), b.syn.seq, b.synack.seq, fields)}
	drop := fmt.Sprintf("The truth drops %d of the bridge's second copies as capture duplicates (none translated: "+
		"the two views are flows of their own); every frame number it gives is a first copy's.", dropped)
	if v6 {
		drop = fmt.Sprintf("IPv6 has no IP ID, and the two copies have one hop limit: the truth drops the second as a "+
			"capture duplicate only when the other end sent nothing on that 4-tuple between the two, %d of %d times; "+
			"every frame number it gives is a first copy's.", dropped, len(segs))
	} else if len(zero) > 0 {
		drop += fmt.Sprintf(" Frames %s have IP ID 0 and one TTL with their first copies: the truth drops them because "+
			"the other end sent nothing on that 4-tuple between the two.", strings.Join(zero, ", "))
	}
	notes = append(notes, drop)
	if len(kept) > 0 {
		var pairs []string
		for _, d := range slices.SortedFunc(maps.Keys(kept), func(a, b *frame) int { return a.no - b.no }) {
			for _, s := range segs {
				if i := slices.Index(s.path[:], d); i > 0 {
					pairs = append(pairs, fmt.Sprintf("%d and %d", s.path[i-1].no, d.no))
				}
			}
		}
		notes = append(notes, fmt.Sprintf("Both copies of frames %s stay: without an IPv4 ID, with one %s, and with "+
			"a segment of the other end's between them, the second could have been a genuine repeat answering it.",
			strings.Join(pairs, ", "), ttl))
	}
	return notes
}

// checkPath compares the TTLs (hop limits) of s's three copies with want,
// and their interfaces with ifs, those of every other segment of who's
// (set from s when still zero): three interfaces, the same each time.
func (s *bridgeSegment) checkPath(want [3]int, ifs *[3]int, who string) []error {
	var errs []error
	var got, at [3]int
	for j, f := range s.path {
		got[j], at[j] = f.ttl, f.ifindex
	}
	if got != want {
		errs = append(errs, fmt.Errorf("%v, %v and %v: TTLs %v, want %v", s.path[0], s.path[1], s.path[2], got, want))
	}
	if *ifs == [3]int{} {
		*ifs = at
	}
	if at != *ifs || at[0] == at[1] || at[1] == at[2] || at[0] == at[2] || at[0] == 0 {
		errs = append(errs, fmt.Errorf("%v, %v and %v on interfaces %v, want three, those of every other %s's segment (%v)",
			s.path[0], s.path[1], s.path[2], at, who, *ifs))
	}
	return errs
}

// reversedPaths checks that the client's segments (ifs[1]) cross the
// interfaces the server's (ifs[0]) do, in reverse: eth0, br0, the port.
func reversedPaths(ifs [2][3]int) []error {
	if c, s := ifs[1], ifs[0]; c != [3]int{s[2], s[1], s[0]} {
		return []error{fmt.Errorf("the client's segments cross interfaces %v, the server's %v: want one path, reversed", c, s)}
	}
	return nil
}
