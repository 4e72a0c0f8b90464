//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"

	"github.com/teardown/teardown/analyze"
)

// truthFile is testdata/lab/<scenario>.truth.json (TRUTH-FORMAT.md).
type truthFile struct {
	Scenario    string                       `json:"scenario"`
	Description string                       `json:"description"`
	Kernel      string                       `json:"kernel"`
	Vantage     string                       `json:"vantage"`
	Framing     string                       `json:"framing"`
	Capture     string                       `json:"capture"`
	Sysctls     map[string]map[string]string `json:"sysctls"`
	Notes       []string                     `json:"notes"`
	// Duplicates counts the capture duplicates dropped before anything
	// was derived, TCP segments (dropDuplicates) and ICMP errors
	// (dropICMPDuplicates); absent when there are none.
	Duplicates int `json:"duplicates,omitempty"`
	// NATPairs names the pairs of flows that are one connection seen
	// before and after address translation (natPairs); absent when there
	// are none.
	NATPairs [][2]truthFlowID `json:"nat_pairs,omitempty"`
	// NATPartial names the flows made of one side's segments half
	// translated, each with the flow of the SYN its SYN-ACK answers
	// (natPartial); absent when there are none.
	NATPartial []truthNATPartial `json:"nat_partial,omitempty"`
	// Untranslated names the flows of segments a NAT let through
	// untranslated, each with its connection's flow
	// (untranslatedPairs); absent when there are none.
	Untranslated []truthUntranslated `json:"untranslated,omitempty"`
	// UnmatchedICMP counts the ICMP errors, capture duplicates dropped,
	// that quote a segment of no flow of the capture (attachICMP), and
	// UnmatchedICMPFrames lists their frames in order; both keys are
	// absent when there are none.
	UnmatchedICMP       int          `json:"unmatched_icmp,omitempty"`
	UnmatchedICMPFrames []int        `json:"unmatched_icmp_frames,omitempty"`
	Flows               []*truthFlow `json:"flows"`
}

// truthFlowID names a flow of the truth file.
type truthFlowID struct {
	Client      string `json:"client"`
	Server      string `json:"server"`
	Incarnation int    `json:"incarnation"`
}

// truthNATPartial is an entry of nat_partial: Flow, whose first segment
// is a SYN-ACK, answers the SYN of Of.
type truthNATPartial struct {
	Flow truthFlowID `json:"flow"`
	Of   truthFlowID `json:"of"`
}

type truthFlow struct {
	Client      string       `json:"client"`
	Server      string       `json:"server"`
	Incarnation int          `json:"incarnation"`
	Roles       string       `json:"roles"`
	FirstFrame  int          `json:"first_frame"`
	LastFrame   int          `json:"last_frame"`
	Handshake   string       `json:"handshake"`
	Close       truthClose   `json:"close"`
	Sides       truthSides   `json:"sides"`
	Reuse       *truthReuse  `json:"reuse"`
	Diagnoses   []*truthDiag `json:"diagnoses"`
	// ICMP lists the ICMP errors that quote a segment of the flow, as
	// the output keeps them (all up to flows.MaxICMP, then the first
	// ones and the latest), and ICMPErrors counts them; both keys are
	// absent when there are none.
	ICMP       []*truthICMP `json:"icmp,omitempty"`
	ICMPErrors int          `json:"icmp_errors,omitempty"`

	inc *incarnation // the wire evidence this flow was derived from
	// partial: one side's segments half translated (nat_partial), whose
	// story is another flow's: only its frames and diagnoses are stated.
	partial bool
}

// MarshalJSON writes a partial flow's identity, frames and diagnoses
// alone, and every other flow whole.
func (fl *truthFlow) MarshalJSON() ([]byte, error) {
	type whole truthFlow
	if !fl.partial {
		return json.Marshal((*whole)(fl))
	}
	return json.Marshal(struct {
		Client      string       `json:"client"`
		Server      string       `json:"server"`
		Incarnation int          `json:"incarnation"`
		FirstFrame  int          `json:"first_frame"`
		LastFrame   int          `json:"last_frame"`
		Diagnoses   []*truthDiag `json:"diagnoses"`
	}{fl.Client, fl.Server, fl.Incarnation, fl.FirstFrame, fl.LastFrame, fl.Diagnoses})
}

type truthICMP struct {
	Frame int    `json:"frame"`
	To    string `json:"to"`   // the side whose segment it quotes
	From  string `json:"from"` // the ICMP packet's source address
	Type  int    `json:"type"`
	Code  int    `json:"code"`
}

type truthClose struct {
	Initiator string      `json:"initiator"`
	Kind      string      `json:"kind"`
	HalfClose *truthHalf  `json:"half_close"`
	Reset     *truthReset `json:"reset"`
}

type truthHalf struct {
	Sender     string  `json:"sender"`
	Bytes      uint64  `json:"bytes"`
	Duration   float64 `json:"duration"`
	ActiveUsed string  `json:"active_used"`
}

type truthReset struct {
	By    string `json:"by"`
	Frame int    `json:"frame"`
	State string `json:"state,omitempty"`
	Cause string `json:"cause"`
}

type truthSides struct {
	Client *truthSide `json:"client"`
	Server *truthSide `json:"server"`
}

type truthSide struct {
	States             []truthState `json:"states,omitempty"`
	FinFrames          []int        `json:"fin_frames"`
	FinRetransmissions int          `json:"fin_retransmissions"`
	FinTLP             *bool        `json:"fin_tlp,omitempty"`
	// FinDSACK is the frame of the peer's first segment whose first
	// SACK block is a D-SACK covering the side's FIN; absent when none.
	FinDSACK   *uint64 `json:"fin_dsack,omitempty"`
	FinalState string  `json:"final_state,omitempty"`
}

type truthState struct {
	State string `json:"state"`
	Frame int    `json:"frame"`
	Via   string `json:"via,omitempty"`
}

type truthReuse struct {
	Gap            float64 `json:"gap"`
	TimeWaitHolder string  `json:"time_wait_holder"`
	Timestamps     bool    `json:"timestamps"`
	Verdict        string  `json:"verdict"`
}

type truthDiag struct {
	Code   string `json:"code"`
	Sysctl string `json:"sysctl,omitempty"`
	Side   string `json:"side,omitempty"`
}

// closeWaitLong is the idle CLOSE_WAIT time from which a passive side is
// diagnosed close-wait-long (TRUTH-FORMAT.md).
const closeWaitLong = 1.0

// incarnation is one connection attempt on a 4-tuple: its frames, split
// from the previous incarnation at a SYN with a new client ISN.
type incarnation struct {
	client, server netip.AddrPort
	roles          string
	n              int // 1-based incarnation number on its 4-tuple
	frames         []*frame
	prev           *incarnation
	flow           *truthFlow

	// derived
	syn    *frame // the client's first SYN
	synack *frame
	hsAck  *frame
	// srvAck is the handshake ACK that established the server: hsAck,
	// or, when the server sent its SYN-ACK again after it (a listener
	// that dropped it: accept-queue-full), the client's first ACK after
	// the last SYN-ACK; nil if none came.
	srvAck    *frame
	fins      [2][]*frame // per role: every FIN transmission
	finEnd    [2]uint32   // ack value that covers the role's FIN
	ackOfFin  [2]*frame   // peer segment that acknowledged the FIN and arrived
	finArrive [2]*frame   // the FIN transmission that reached the peer
	rst       *frame      // the RST that ended the incarnation
	rstRole   int
	states    [2][]truthState
	tw        [2]bool // the role entered TIME_WAIT
	// overflow: the listener answered the client's segment with a reply
	// RST, having sent nothing but SYN-ACKs: its request socket never
	// left SYN_RECV. The RST is a listen overflow's (KERNEL.md row 18)
	// unless the request had expired first (requestExpired).
	overflow bool
	// missing: the role acknowledged sequence space the capture never
	// saw from its peer (the peer's highest sequence end, SYN and FIN
	// counted, is below the role's highest ACK).
	missing [2]bool
	// icmps are the ICMP errors quoting a segment of the incarnation;
	// aborted is the one that ended the client's SYN_SENT socket,
	// reqDropped the one that dropped the server's request (SYN_RECV).
	icmps      []*icmpErr
	aborted    *icmpErr
	reqDropped *icmpErr
	// finProven: the role's FIN is not in the capture, but the peer's
	// segment here acknowledges one past all of the role's data, and the
	// role sent nothing beyond it: only a FIN takes that sequence number
	// without the peer, which had closed, answering data with a RST.
	finProven [2]*frame
}

const (
	rc = 0 // client role index
	rs = 1 // server role index
)

var roleName = [2]string{"client", "server"}

func (in *incarnation) role(f *frame) int {
	if f.src == in.client {
		return rc
	}
	return rs
}

// tuple is a frame's 4-tuple, the same in both directions.
type tuple struct{ a, b netip.AddrPort }

func (f *frame) tuple() tuple {
	if f.src.Compare(f.dst) < 0 {
		return tuple{f.src, f.dst}
	}
	return tuple{f.dst, f.src}
}

// dupWindow is how soon after the frame it copies a capture duplicate
// comes: tcpdump -i any on a host that forwards a packet records it as it
// enters and as it leaves, microseconds apart. dupLate is how late one
// with the timestamp option may come: captures of both ends merged hold
// each segment as it left and as it arrived, a one-way delay apart.
const (
	dupWindow = 1_000_000     // ns
	dupLate   = 1_000_000_000 // ns
)

// sameSegment tells whether f repeats p, a frame before it on its
// 4-tuple, in every field a capture duplicate repeats (TRUTH-FORMAT.md):
// direction, sequence and acknowledgement numbers, flags, payload length,
// raw window, IPv4 ID, TSval and TSecr, less than dupWindow after it (or
// dupLate, with the timestamp option). The TTL (hop limit) is not
// compared: a router lowers it.
func (f *frame) sameSegment(p *frame) bool {
	d := f.t - p.t
	return d >= 0 && (d < dupWindow || d < dupLate && f.ts) && f.src == p.src && f.dst == p.dst && f.seq == p.seq && f.ack == p.ack &&
		f.flags == p.flags && f.len == p.len && f.win == p.win && f.ipid == p.ipid &&
		f.tsval == p.tsval && f.tsecr == p.tsecr
}

// captureDuplicate tells whether f is a capture duplicate of p
// (TRUTH-FORMAT.md): the same segment (sameSegment), and a millisecond or
// more after p (its TSval the same: sent in the same millisecond), or
// with an IPv4 ID other than 0, or a lower TTL (routed), or with nothing
// from the peer since p (peerSpoke false): a host sends a segment again
// within a millisecond only to answer one, and with its own TTL.
func (f *frame) captureDuplicate(p *frame, peerSpoke bool) bool {
	return f.sameSegment(p) && (f.t-p.t >= dupWindow || f.ipid > 0 || f.ttl < p.ttl || !peerSpoke)
}

// dropDuplicates returns frames without those that dup tells repeat an
// earlier frame of their 4-tuple that was kept, less than dupLate before
// them (the latest such first), and maps each one dropped to that frame. dup is told whether the other direction sent a kept frame after
// that one.
func dropDuplicates(frames []*frame, dup func(f, p *frame, peerSpoke bool) bool) (kept []*frame, of map[*frame]*frame) {
	recent := map[tuple][]*frame{} // kept frames, latest last
	of = map[*frame]*frame{}
	for _, f := range frames {
		k := f.tuple()
		r := recent[k]
		var orig *frame
		var peer int64 = -1 << 63 // the latest kept frame from the other end
		for i := len(r) - 1; i >= 0 && f.t-r[i].t < dupLate; i-- {
			if p := r[i]; p.src == f.dst {
				peer = max(peer, p.t)
			} else if dup(f, p, peer > p.t) {
				orig = p
				break
			}
		}
		if orig != nil {
			of[f] = orig
			continue
		}
		for len(r) > 0 && f.t-r[0].t >= dupLate {
			r = r[1:]
		}
		recent[k] = append(r, f)
		kept = append(kept, f)
	}
	return kept, of
}

// captureDuplicate tells whether m is a capture duplicate of p, one of
// the capture's icmpRecent latest ICMP errors before it that were not
// (TRUTH-FORMAT.md): the same message (type, code, source address,
// next-hop MTU), the same IPv4 ID of its own (IPv6 has none), and the
// same quoted segment (addresses, ports, sequence and acknowledgement
// numbers, flags), less than dupWindow after p. The TTL (hop limit) is
// not compared: a router lowers it.
func (m *icmpErr) captureDuplicate(p *icmpErr) bool {
	d := m.t - p.t
	return d >= 0 && d < dupWindow && m.v6 == p.v6 && m.typ == p.typ && m.code == p.code && m.from == p.from &&
		m.mtu == p.mtu && m.ipid == p.ipid && m.src == p.src && m.dst == p.dst && m.seq == p.seq && m.ack == p.ack &&
		m.flags == p.flags
}

// icmpRecent is how many of the latest kept errors an ICMP error is
// compared with.
const icmpRecent = 4

// dropICMPDuplicates returns errs without the capture duplicates among
// them, each compared with the icmpRecent latest ones kept before it,
// and maps each one dropped to the one it repeats.
func dropICMPDuplicates(errs []*icmpErr) (kept []*icmpErr, of map[*icmpErr]*icmpErr) {
	of = map[*icmpErr]*icmpErr{}
	for _, m := range errs {
		var orig *icmpErr
		for _, p := range kept[max(0, len(kept)-icmpRecent):] {
			if m.captureDuplicate(p) {
				orig = p
				break
			}
		}
		if orig != nil {
			of[m] = orig
			continue
		}
		kept = append(kept, m)
	}
	return kept, of
}

// splitFlows groups frames into incarnations in order of first frame.
func splitFlows(frames []*frame) []*incarnation {
	cur := map[tuple]*incarnation{}
	var all []*incarnation
	for _, f := range frames {
		k := f.tuple()
		in := cur[k]
		pureSyn := f.has(fSYN) && !f.has(fACK)
		if in == nil || (pureSyn && (in.syn == nil || in.syn.seq != f.seq || in.syn.src != f.src)) {
			n := &incarnation{n: 1, prev: in}
			if in != nil {
				n.n = in.n + 1
			}
			switch {
			case pureSyn:
				n.client, n.server, n.roles = f.src, f.dst, analyze.RolesHandshake
				n.syn = f
			case f.has(fSYN | fACK):
				n.client, n.server, n.roles = f.dst, f.src, analyze.RolesHandshake
			default:
				n.client, n.server, n.roles = f.src, f.dst, analyze.RolesInferred
				if f.src.Port() < f.dst.Port() {
					n.client, n.server = f.dst, f.src
				}
			}
			cur[k] = n
			all = append(all, n)
			in = n
		}
		in.frames = append(in.frames, f)
	}
	return all
}

// deriveTruth computes every flow's truth from the TCP frames and the
// ICMP errors quoting TCP segments by the rules of TRUTH-FORMAT.md;
// stopped is when the capture stopped, where the file records it (ns
// since the epoch, 0 if it does not).
func deriveTruth(sc *scenario, frames []*frame, icmps []*icmpErr, stopped int64, kernel string, notes []string) (*truthFile, error) {
	tf := &truthFile{
		Scenario:    sc.name,
		Description: sc.desc,
		Kernel:      kernel,
		Vantage:     string(sc.vantage),
		Framing:     string(sc.framing),
		Capture:     sc.captureName(),
		Sysctls:     map[string]map[string]string{"client": {}, "server": {}},
		Notes:       append(slices.Clone(sc.notes), notes...),
		Flows:       []*truthFlow{},
	}
	if tf.Notes == nil {
		tf.Notes = []string{}
	}
	for s, m := range sc.sysctls {
		if tf.Sysctls[s.String()] == nil {
			tf.Sysctls[s.String()] = map[string]string{}
		}
		for k, v := range m {
			tf.Sysctls[s.String()][k] = v
		}
	}
	if len(sc.host) > 0 {
		tf.Sysctls["host"] = maps.Clone(sc.host)
	}
	// A capture duplicate is no evidence of anything: its first copy
	// stands for both. An ICMP error's too.
	frames, dups := dropDuplicates(frames, (*frame).captureDuplicate)
	for f, orig := range dups {
		if f.has(fRST) && f.ttl != orig.ttl && (orig.copyTTL == 0 || f.no < orig.copyNo) {
			orig.copyTTL, orig.copyNo = f.ttl, f.no
		}
	}
	icmps, idups := dropICMPDuplicates(icmps)
	tf.Duplicates = len(dups) + len(idups)
	if len(frames) == 0 {
		return nil, fmt.Errorf("the capture holds no TCP segment")
	}
	last := frames[len(frames)-1]
	all := splitFlows(frames)
	unmatched, err := attachICMP(all, icmps)
	if err != nil {
		return nil, err
	}
	for _, m := range unmatched {
		tf.UnmatchedICMPFrames = append(tf.UnmatchedICMPFrames, m.no)
	}
	tf.UnmatchedICMP = len(unmatched)
	end := max(last.t, stopped)
	if len(icmps) > 0 {
		end = max(end, icmps[len(icmps)-1].t)
	}
	for _, in := range all {
		in.handshake() // the ICMP errors' story needs the SYN-ACK
		if err := in.icmpStory(frames, end); err != nil {
			return nil, fmt.Errorf("flow %s-%s #%d: %w", in.client, in.server, in.n, err)
		}
		fl, err := in.derive(sc, last)
		if err != nil {
			return nil, fmt.Errorf("flow %s-%s #%d: %w", in.client, in.server, in.n, err)
		}
		tf.Flows = append(tf.Flows, fl)
	}
	tf.NATPairs = natPairs(all)
	tf.Untranslated = untranslatedPairs(all)
	for _, p := range natPartial(all) {
		// Its story is the other flows': it may diagnose nothing, and
		// the states its half of the segments suggest are not stated.
		p[0].flow.Diagnoses, p[0].flow.partial = []*truthDiag{}, true
		tf.NATPartial = append(tf.NATPartial, truthNATPartial{Flow: p[0].id(), Of: p[1].id()})
	}
	return tf, nil
}

// id names the incarnation in the truth file.
func (in *incarnation) id() truthFlowID {
	return truthFlowID{Client: in.client.String(), Server: in.server.String(), Incarnation: in.n}
}

// natPartialWindow is how soon after the SYN it answers the SYN-ACK
// that starts a half-translated flow comes.
const natPartialWindow = 1_000_000_000 // ns

// natPartial finds the flows made of one side's segments half
// translated (TRUTH-FORMAT.md): an incarnation whose first segment is a
// SYN-ACK (no SYN on its 4-tuple) acknowledging the ISN of another
// incarnation's client SYN less than natPartialWindow before it. Each
// is paired with the incarnation of the latest such SYN before the
// SYN-ACK, in the order of the flows' first frames.
func natPartial(all []*incarnation) [][2]*incarnation {
	var out [][2]*incarnation
	for _, in := range all {
		sa := in.frames[0]
		if in.syn != nil || !sa.has(fSYN|fACK) || sa.has(fRST) {
			continue
		}
		var of *incarnation
		var latest *frame
		for _, o := range all {
			if o == in || o.syn == nil {
				continue
			}
			for _, f := range o.frames {
				if f.no >= sa.no {
					break
				}
				if f.src == o.client && f.has(fSYN) && !f.has(fACK) && f.seq == o.syn.seq && f.seq+1 == sa.ack &&
					sa.t-f.t < natPartialWindow && (latest == nil || f.no > latest.no) {
					of, latest = o, f
				}
			}
		}
		if of != nil {
			out = append(out, [2]*incarnation{in, of})
		}
	}
	return out
}

// natPairs pairs the incarnations that are one connection seen before
// and after address translation (TRUTH-FORMAT.md): two of different
// 4-tuples, both with a SYN and a SYN-ACK seen, whose client ISNs are
// equal and whose server ISNs are equal. The incarnation whose SYN came
// first is first in its pair, and the pairs are in the order of their
// first SYN, then their second.
func natPairs(all []*incarnation) [][2]truthFlowID {
	type pair [2]*incarnation
	var pairs []pair
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a.syn == nil || a.synack == nil || b.syn == nil || b.synack == nil || a.syn.tuple() == b.syn.tuple() ||
				a.syn.seq != b.syn.seq || a.synack.seq != b.synack.seq {
				continue
			}
			if b.syn.no < a.syn.no {
				pairs = append(pairs, pair{b, a})
			} else {
				pairs = append(pairs, pair{a, b})
			}
		}
	}
	slices.SortFunc(pairs, func(p, q pair) int {
		if c := p[0].syn.no - q[0].syn.no; c != 0 {
			return c
		}
		return p[1].syn.no - q[1].syn.no
	})
	var ids [][2]truthFlowID
	for _, p := range pairs {
		ids = append(ids, [2]truthFlowID{p[0].id(), p[1].id()})
	}
	return ids
}

func (in *incarnation) derive(sc *scenario, last *frame) (*truthFlow, error) {
	fl := &truthFlow{
		Client:      in.client.String(),
		Server:      in.server.String(),
		Incarnation: in.n,
		Roles:       in.roles,
		FirstFrame:  in.frames[0].no,
		LastFrame:   in.frames[len(in.frames)-1].no,
		Diagnoses:   []*truthDiag{},
		ICMP:        in.icmpList(),
		ICMPErrors:  len(in.icmps),
		inc:         in,
	}
	if n := len(in.icmps); n > 0 {
		fl.LastFrame = max(fl.LastFrame, in.icmps[n-1].no)
	}
	in.flow = fl
	fl.Handshake = in.handshakeName()
	in.finsAndAcks()
	in.findRST()
	in.findMissing()
	in.simulate()
	if m := in.aborted; m != nil {
		// The ICMP error ended the client's SYN_SENT socket (tcp_v4_err,
		// tcp_v6_err): no RST, so no via.
		if s := in.states[rc]; len(s) != 1 || s[0].State != "SYN_SENT" {
			return nil, fmt.Errorf("%v: it aborted the client's connect(), yet the client's states are %v", m, s)
		}
		in.states[rc] = append(in.states[rc], truthState{State: "CLOSED", Frame: m.no})
	}
	if m := in.reqDropped; m != nil {
		// The ICMP error dropped the server's request (tcp_req_err):
		// no RST, so no via.
		if s := in.states[rs]; len(s) != 1 || s[0].State != "SYN_RECV" {
			return nil, fmt.Errorf("%v: it dropped the server's request, yet the server's states are %v", m, s)
		}
		in.states[rs] = append(in.states[rs], truthState{State: "CLOSED", Frame: m.no})
	}
	for r := range 2 {
		s := &truthSide{States: in.states[r], FinFrames: []int{}}
		for _, f := range in.fins[r] {
			s.FinFrames = append(s.FinFrames, f.no)
		}
		if n := len(in.fins[r]); n > 0 {
			s.FinRetransmissions = n - 1
		}
		if tlp, ok := in.finTLP(r); ok {
			s.FinTLP = &tlp
		}
		if f := in.finDSACK(r); f != nil {
			no := uint64(f.no)
			s.FinDSACK = &no
		}
		if len(s.States) > 0 {
			s.FinalState = s.States[len(s.States)-1].State
		}
		if r == rc {
			fl.Sides.Client = s
		} else {
			fl.Sides.Server = s
		}
	}
	in.closeStory(fl)
	if err := in.reuse(fl); err != nil {
		return nil, err
	}
	in.diagnose(sc, fl, last)
	return fl, nil
}

func (in *incarnation) handshake() {
	if in.syn == nil {
		return
	}
	for _, f := range in.frames {
		// A SYN-ACK acknowledges the SYN, and the data it carried when
		// the server took it (TCP Fast Open).
		if in.synack == nil && f.src == in.server && f.has(fSYN|fACK) && (f.ack == in.syn.seq+1 || in.syn.len > 0 && f.ack == in.syn.seq+1+in.syn.len) {
			in.synack = f
			continue
		}
		if in.synack != nil && f.src == in.client && f.has(fACK) && !f.has(fSYN) && !f.has(fRST) && seqGE(f.ack, in.synack.seq+1) {
			in.hsAck = f
			break
		}
	}
	in.srvAck = in.hsAck
	if in.hsAck == nil {
		return
	}
	for _, f := range in.frames {
		switch {
		case f.no <= in.hsAck.no:
		case f.src == in.server && f.has(fSYN|fACK) && f.seq == in.synack.seq:
			in.srvAck = nil // a SYN-ACK again: the ACK before it did not count
		case in.srvAck == nil && f.src == in.client && f.has(fACK) && !f.has(fSYN) && !f.has(fRST) && seqGE(f.ack, in.synack.seq+1):
			in.srvAck = f
		}
	}
}

// synCount is the number of transmissions of the client's SYN.
func (in *incarnation) synCount() int {
	n := 0
	for _, f := range in.frames {
		if in.syn != nil && f.src == in.client && f.has(fSYN) && !f.has(fACK) && f.seq == in.syn.seq {
			n++
		}
	}
	return n
}

// synRetransmitted reports whether the server's first frame is its
// SYN-ACK, answering the client's SYN sent at least twice (same sequence
// number), every transmission before it, with no client RST before it
// (TRUTH-FORMAT.md).
func (in *incarnation) synRetransmitted() bool {
	if in.syn == nil || in.synack == nil {
		return false
	}
	n := 0
	for _, f := range in.frames {
		switch {
		case f == in.synack:
			return n >= 2
		case in.role(f) == rs || f.has(fRST):
			return false
		case f.has(fSYN) && !f.has(fACK) && f.seq == in.syn.seq:
			n++
		}
	}
	return false
}

func (in *incarnation) handshakeName() string {
	switch {
	case in.syn == nil:
		return analyze.HandshakeNotSeen
	case in.synack == nil:
		return analyze.HandshakeSynOnly
	case in.hsAck == nil:
		return analyze.HandshakeSynSynAck
	}
	return analyze.HandshakeComplete
}

// finsAndAcks finds each role's FIN transmissions, the one that reached
// the peer (the last before the peer's first acknowledgement of it, or
// the one before that when that acknowledgement's D-SACK reports the FIN
// received twice) and
// the acknowledgement that reached the FIN's sender (the first after the
// sender's last transmission: a retransmission after an ACK proves that
// ACK was lost).
func (in *incarnation) finsAndAcks() {
	for _, f := range in.frames {
		if f.has(fFIN) && !f.has(fRST) {
			r := in.role(f)
			in.fins[r] = append(in.fins[r], f)
		}
	}
	for r := range 2 {
		if len(in.fins[r]) == 0 {
			continue
		}
		first := in.fins[r][0]
		in.finEnd[r] = first.seq + first.len + 1
		lastTx := in.fins[r][len(in.fins[r])-1]
		for _, f := range in.frames {
			if in.role(f) == r || !f.has(fACK) || !seqGE(f.ack, in.finEnd[r]) {
				continue
			}
			if in.finArrive[r] == nil {
				var before []*frame
				for _, g := range in.fins[r] {
					if g.no < f.no {
						before = append(before, g)
					}
				}
				if n := len(before); n > 0 {
					in.finArrive[r] = before[n-1]
					// A D-SACK of the FIN on this acknowledgement: the
					// latest copy was a duplicate, an earlier one arrived
					// first (the latest of them it can have been).
					if n > 1 && f.dsacks(first.seq+first.len) {
						in.finArrive[r] = before[n-2]
					}
				}
			}
			if in.ackOfFin[r] == nil && f.no > lastTx.no && !f.has(fRST) {
				in.ackOfFin[r] = f
			}
		}
	}
}

// finDSACK returns the other role's first segment whose first SACK block
// is a D-SACK (RFC 2883) covering role r's FIN: its left edge at or
// below the sequence number the FIN occupies (seq + payload length of
// r's first FIN segment), its right edge above it. nil when r sent no
// FIN or no such segment came.
func (in *incarnation) finDSACK(r int) *frame {
	if len(in.fins[r]) == 0 {
		return nil
	}
	fin := in.fins[r][0].seq + in.fins[r][0].len
	for _, f := range in.frames {
		if in.role(f) != r && f.dsacks(fin) {
			return f
		}
	}
	return nil
}

// dsacks reports whether f's first SACK block is a D-SACK covering
// sequence number seq.
func (f *frame) dsacks(seq uint32) bool {
	return f.dsack && seqGE(seq, f.dsackLE) && seqGT(f.dsackRE, seq)
}

// findRST finds the RST that ended the incarnation. A RST sent by a side
// that then sends a SYN again (the answer to a TIME_WAIT's old ACK) is
// part of the handshake, not an end; so is a client's RST before any
// SYN-ACK: a SYN_SENT socket answers an unacceptable ACK with a RST and
// keeps retrying its SYN (KERNEL.md rows 15, 16), even when the capture
// ends before the next one.
func (in *incarnation) findRST() {
	defer in.listenOverflow()
	for i, f := range in.frames {
		if !f.has(fRST) {
			continue
		}
		if in.syn != nil && in.role(f) == rc && (in.synack == nil || f.no < in.synack.no) {
			continue
		}
		retried := false
		for _, g := range in.frames[i+1:] {
			if g.src == f.src && g.has(fSYN) {
				retried = true
			}
		}
		if !retried {
			in.rst, in.rstRole = f, in.role(f)
			return
		}
	}
}

// listenOverflow sets in.overflow: the server sent nothing but its
// SYN-ACK(s) and a reply RST (no ACK flag) after the client had
// completed the handshake (KERNEL.md row 18).
func (in *incarnation) listenOverflow() {
	if in.rst == nil || in.rstRole != rs || in.synack == nil || in.hsAck == nil || in.rst.has(fACK) {
		return
	}
	for _, f := range in.frames {
		if f.src == in.server && f != in.rst && !f.has(fSYN|fACK) {
			return
		}
	}
	in.overflow = true
}

// keepalives lists role r's keepalive probes before frame end: pure ACKs
// of at most one byte whose seq is one below the role's highest sequence
// sent so far (tcp_xmit_probe_skb), with no data from r after the last.
func (in *incarnation) keepalives(r int, end *frame) []*frame {
	var probes []*frame
	var top uint32
	have := false
	for _, f := range in.frames {
		if f.no >= end.no {
			break
		}
		if in.role(f) != r {
			continue
		}
		e := f.seq + f.len
		if f.has(fSYN) || f.has(fFIN) {
			e++
		}
		if have && f.flags&^fPSH == fACK && f.len <= 1 && f.seq == top-1 {
			probes = append(probes, f)
			continue
		}
		if f.len > 0 {
			probes = nil
		}
		if !have || seqGT(e, top) {
			top, have = e, true
		}
	}
	return probes
}

// simulate runs both sides' state machines over the frames, applying a
// received segment only when the wire proves it arrived (TRUTH-FORMAT.md).
func (in *incarnation) simulate() {
	var st [2]string
	set := func(r int, s string, f *frame, via string) {
		st[r] = s
		in.states[r] = append(in.states[r], truthState{State: s, Frame: f.no, Via: via})
		if s == "TIME_WAIT" {
			in.tw[r] = true
		}
	}
	// A FIN that arrived is applied to its receiver when the wire
	// proves it had arrived: just before the receiver's first segment that
	// acknowledges it, or before a later segment of the FIN's sender
	// changes the receiver's state (segments arrive in the order they
	// were sent). Until then the receiver may still send segments that
	// do not acknowledge it: the FINs crossed.
	var pending [2]*frame // FIN of the peer, waiting to be applied at role r
	apply := func(r int) {
		f := pending[r]
		if f == nil {
			return
		}
		pending[r] = nil
		switch st[r] {
		case "ESTABLISHED":
			set(r, "CLOSE_WAIT", f, "")
		case "FIN_WAIT1":
			set(r, "CLOSING", f, "")
		case "FIN_WAIT2":
			set(r, "TIME_WAIT", f, "")
		}
	}
	for _, f := range in.frames {
		x := in.role(f)
		y := 1 - x
		if pending[x] != nil && f.has(fACK) && seqGE(f.ack, in.finEnd[y]) {
			apply(x)
		}
		if pending[y] != nil && (f == in.ackOfFin[y] || f == in.rst) {
			apply(y)
		}
		if f == in.rst {
			// A RST a device on the path made leaves its sender's
			// socket as it was, and so does one its kernel sent for
			// want of a socket while that socket lived on (foreign);
			// one its receiver challenged leaves the receiver's.
			foreign, challenged := in.foreign(), in.challenged()
			if st[x] != "" && st[x] != "CLOSED" && !in.forged() && !foreign {
				set(x, "CLOSED", f, "rst")
			}
			if st[y] != "" && st[y] != "CLOSED" && !challenged {
				set(y, "CLOSED", f, "rst")
			}
			if !foreign && !challenged {
				return
			}
			continue
		}
		if in.rst != nil && f.no > in.rst.no {
			// After a foreign RST the peer's next RST closes the
			// sender's live socket; after a challenged one the
			// sender's next RST, its answer to the challenge ACK,
			// closes the receiver.
			if f.has(fRST) && (x != in.rstRole) == in.foreign() {
				if s := st[y]; s != "" && s != "CLOSED" {
					set(y, "CLOSED", f, "rst")
				}
				return
			}
			continue
		}
		if f == in.syn {
			set(rc, "SYN_SENT", f, "")
		}
		if f == in.synack {
			var syn *frame
			for _, g := range in.frames {
				if g.no < f.no && g.src == in.client && g.has(fSYN) && !g.has(fACK) && g.seq == in.syn.seq {
					syn = g
				}
			}
			set(rs, "SYN_RECV", syn, "")
			if in.hsAck != nil {
				set(rc, "ESTABLISHED", f, "")
			}
		}
		if f == in.srvAck && !in.overflow {
			set(rs, "ESTABLISHED", f, "")
		}
		if in.syn == nil && st[x] == "" {
			// Started mid-flow: both sides are taken as established
			// from the first frame.
			set(rc, "ESTABLISHED", f, "")
			set(rs, "ESTABLISHED", f, "")
		}
		if p := in.finProven[y]; f == p {
			// The FIN the capture missed was sent, arrived and was
			// acknowledged: all of it is stamped with the proof.
			switch st[y] {
			case "ESTABLISHED":
				set(y, "FIN_WAIT1", f, "")
			case "CLOSE_WAIT":
				set(y, "LAST_ACK", f, "")
			}
			switch st[x] {
			case "ESTABLISHED":
				set(x, "CLOSE_WAIT", f, "")
			case "FIN_WAIT2":
				set(x, "TIME_WAIT", f, "")
			}
			switch st[y] {
			case "FIN_WAIT1":
				set(y, "FIN_WAIT2", f, "")
			case "LAST_ACK":
				set(y, "CLOSED", f, "")
			}
		}
		// ACK before FIN, as the kernel processes them.
		if f == in.ackOfFin[y] {
			switch st[y] {
			case "FIN_WAIT1":
				set(y, "FIN_WAIT2", f, "")
			case "CLOSING":
				set(y, "TIME_WAIT", f, "")
			case "LAST_ACK":
				set(y, "CLOSED", f, "")
			}
		}
		if len(in.fins[x]) > 0 && f == in.fins[x][0] {
			switch st[x] {
			case "ESTABLISHED":
				set(x, "FIN_WAIT1", f, "")
			case "CLOSE_WAIT":
				set(x, "LAST_ACK", f, "")
			}
		}
		if f == in.finArrive[x] {
			pending[y] = f
			if f.has(fACK) && len(in.fins[y]) > 0 && f == in.ackOfFin[y] {
				// A FIN+ACK acknowledging our FIN: processed at once.
				apply(y)
			}
		}
	}
}

// finTLP tells whether the first retransmission of role r's FIN was a
// tail-loss probe: it came about one RTO after the original and the next
// one about one RTO later again, where RTO backoff would have doubled the
// gap. With fewer than three transmissions the wire cannot tell (and the
// truth omits the key), except that no retransmission means no probe.
func (in *incarnation) finTLP(r int) (tlp, ok bool) {
	f := in.fins[r]
	switch {
	case len(f) == 1:
		return false, true
	case len(f) < 3:
		return false, false
	}
	g1 := float64(f[1].t - f[0].t)
	g2 := float64(f[2].t - f[1].t)
	return g2 < 1.5*g1, true
}

func (in *incarnation) closeStory(fl *truthFlow) {
	c := &fl.Close
	nc, ns := len(in.fins[rc]), len(in.fins[rs])
	if in.finProven[rc] != nil || in.finProven[rs] != nil {
		if in.finProven[rc] != nil && ns == 0 || in.finProven[rs] != nil && nc == 0 {
			// Which FIN came first is unknown: leave it to the scenario.
			c.Kind, c.Initiator = string(analyze.OpenAtEnd), string(analyze.NoRole)
			return
		}
		// The seen FIN came first (the other was proven after it).
		if in.finProven[rs] != nil {
			ns = 1
		} else {
			nc = 1
		}
	}
	active := -1
	switch {
	case in.finProven[rs] != nil:
		active = rc
	case in.finProven[rc] != nil:
		active = rs
	case nc > 0 && ns > 0:
		active = rc
		if in.fins[rs][0].no < in.fins[rc][0].no {
			active = rs
		}
	case nc > 0:
		active = rc
	case ns > 0:
		active = rs
	}
	simultaneous := false
	if nc > 0 && ns > 0 && in.finProven[rc] == nil && in.finProven[rs] == nil {
		p := 1 - active
		pf := in.fins[p][0]
		af := in.fins[active][0]
		simultaneous = !(pf.has(fACK) && seqGE(pf.ack, in.finEnd[active])) &&
			!(af.has(fACK) && seqGE(af.ack, in.finEnd[p]))
	}
	switch {
	case in.synack == nil && in.syn != nil && in.rst != nil && in.rstRole == rs, in.aborted != nil:
		c.Kind = string(analyze.Rejected)
	case in.rst != nil:
		c.Kind = string(analyze.ResetKind)
	case simultaneous:
		c.Kind = string(analyze.SimultaneousKind)
	case nc > 0 && ns > 0:
		c.Kind = string(analyze.FourWay)
		for _, f := range in.frames {
			if in.role(f) != active && f.has(fACK) && seqGE(f.ack, in.finEnd[active]) {
				if f.has(fFIN) {
					c.Kind = string(analyze.ThreeWay)
				}
				break
			}
		}
	case nc > 0 || ns > 0:
		c.Kind = string(analyze.HalfClosedAtEnd)
	default:
		c.Kind = string(analyze.OpenAtEnd)
	}
	switch {
	case simultaneous:
		c.Initiator = string(analyze.Simultaneous)
	case active >= 0:
		c.Initiator = roleName[active]
	case in.rst != nil:
		c.Initiator = roleName[in.rstRole]
	case in.aborted != nil:
		c.Initiator = string(in.icmpRole())
	default:
		c.Initiator = string(analyze.NoRole)
	}
	if active >= 0 && !simultaneous {
		c.HalfClose = in.halfClose(active)
	}
	if in.rst != nil {
		r := in.rstRole
		c.Reset = &truthReset{By: roleName[r], Frame: in.rst.no, Cause: in.rstCause()}
		// The sender's state is the one before its CLOSED entry (its
		// last one when a device on the path made the RST, its last
		// before the RST when it was foreign).
		if s := in.states[r]; in.forged() && len(s) > 0 {
			c.Reset.State = s[len(s)-1].State
		} else if in.foreign() {
			for _, e := range s {
				if e.Frame < in.rst.no {
					c.Reset.State = e.State
				}
			}
		} else if len(s) >= 2 {
			c.Reset.State = s[len(s)-2].State
		}
	}
}

// halfClose describes the data the passive side sent after the active
// side's first FIN transmission.
func (in *incarnation) halfClose(active int) *truthHalf {
	p := 1 - active
	fin := in.fins[active][0]
	start := uint32(0)
	if in.synack != nil {
		start = in.synack.seq + 1
		if p == rc {
			start = in.syn.seq + 1
		}
	}
	var end uint32
	var lastData *frame
	haveStart := in.synack != nil
	for _, f := range in.frames {
		if in.role(f) != p || f.len == 0 {
			continue
		}
		e := f.seq + f.len
		if f.no < fin.no {
			if !haveStart || seqGT(e, start) {
				start, haveStart = e, true
			}
			continue
		}
		if lastData == nil || seqGT(e, end) {
			end = e
		}
		lastData = f
	}
	if lastData == nil || !seqGT(end, start) {
		return nil
	}
	h := &truthHalf{
		Sender:     roleName[p],
		Bytes:      uint64(end - start),
		Duration:   round6(float64(lastData.t-fin.t) / 1e9),
		ActiveUsed: analyze.ActiveUsedUnknown,
	}
	for _, f := range in.frames {
		if in.role(f) != active || f.no < lastData.no && !f.has(fRST) {
			continue
		}
		if f.has(fRST) && f.no > fin.no {
			h.ActiveUsed = analyze.ActiveUsedClose
			break
		}
		if f.has(fACK) && seqGT(f.ack, start) && f.no > fin.no {
			h.ActiveUsed = analyze.ActiveUsedShutdown
			break
		}
	}
	return h
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// rstCause classifies the ending RST by what preceded it on the wire
// (KERNEL.md rows 3, 5, 6b, 6c, 12).
func (in *incarnation) rstCause() string {
	x := in.rstRole
	y := 1 - x
	rst := in.rst
	if in.forged() {
		return analyze.CauseMiddlebox
	}
	if in.synack == nil && x == rs {
		return analyze.CauseRefused
	}
	if in.overflow {
		if in.requestExpired() && in.noSocket() {
			return analyze.CauseNoSocket
		}
		return analyze.CauseListenOverflow
	}
	if in.assassinated() {
		// The sender had finished its close: no socket of its own
		// sends a bare RST then, and nothing on the wire provoked it.
		return analyze.CauseUnknown
	}
	if len(in.fins[x]) > 0 && in.fins[x][0].no < rst.no {
		// The sender had sent its FIN: what did the RST answer?
		fin := in.fins[x][0]
		for _, f := range in.frames {
			if f.no > fin.no && f.no < rst.no && in.role(f) == y && f.len > 0 {
				return analyze.CauseDataAfterClose
			}
		}
		if in.crossedFIN(x) != nil {
			return analyze.CauseDataAfterClose
		}
		if len(in.fins[y]) > 0 && in.fins[y][0].no < rst.no {
			for _, f := range in.frames {
				if f.no < rst.no && in.role(f) == x && f.has(fACK) && seqGE(f.ack, in.finEnd[y]) {
					return analyze.CauseTimeWaitMissing
				}
			}
			return analyze.CauseFinWait2Timeout
		}
		if in.ackOfFin[x] != nil && in.ackOfFin[x].no < rst.no {
			// Nothing but the ACK of the sender's FIN came before the
			// RST: TCP_LINGER2 < 0 (KERNEL.md row 4).
			return analyze.CauseLinger2Negative
		}
		if rst.has(fACK) {
			// [R.] from the sender's own socket while its FIN was still
			// unacknowledged and nothing of the peer's came in between:
			// tcp_check_oom() at close() or at a retransmission timeout
			// (KERNEL.md row 2).
			return analyze.CauseOrphanLimit
		}
		return analyze.CauseUnknown
	}
	// A bare [R] from a sender that sent no FIN: no socket sends a RST
	// without ACK (tcp_send_active_reset sets it); the kernel's reply
	// path (tcp_v4_send_reset, tcp_v6_send_reset) does, for a segment
	// with ACK that met no socket. When it answers the peer's latest
	// segment (its seq is that segment's ack, at most 500 ms later, and
	// the peer sends nothing after it), from
	// a sender that had sent other segments before it and sends nothing
	// but RSTs after it, the sender had held the connection and lost its
	// socket without closing it: no-socket. Otherwise the wire does not
	// say (a sender that only ever sent RSTs may never have had a socket
	// for the 4-tuple, nat-expired-untranslated's stray flow; one that
	// sends data after the RST still has one: foreign).
	if !rst.has(fACK) {
		if in.noSocket() {
			return analyze.CauseNoSocket
		}
		return analyze.CauseUnknown
	}
	// Keepalive probes, then [R.]: the keepalive timer gave up
	// (KERNEL.md row 19).
	if rst.has(fACK) && len(in.keepalives(x, rst)) > 0 {
		return analyze.CauseKeepalive
	}
	// RST instead of FIN: unread data if the sender acknowledged peer data
	// and sent no data of its own after it (KERNEL.md row 5).
	var lastPeerData *frame
	for _, f := range in.frames {
		if f.no < rst.no && in.role(f) == y && f.len > 0 {
			lastPeerData = f
		}
	}
	if lastPeerData == nil {
		return analyze.CauseLingerZero
	}
	for _, f := range in.frames {
		if f.no > lastPeerData.no && f.no < rst.no && in.role(f) == x && f.len > 0 {
			return analyze.CauseLingerZero
		}
	}
	return analyze.CauseUnreadData
}

// crossedFIN returns the first data segment of role x's peer that crossed
// x's FIN: one the capture shows before that FIN (at a vantage nearer the
// peer, which sent it before the FIN arrived there) that the FIN does not
// acknowledge, nor any segment of x before the ending RST. Data x had
// received before its FIN left would be acknowledged by it (data left
// unread makes close() send a RST, not a FIN): this reached x after its
// FIN left, after close(). nil when there is none.
func (in *incarnation) crossedFIN(x int) *frame {
	if len(in.fins[x]) == 0 || in.rst == nil || !in.fins[x][0].has(fACK) {
		return nil
	}
	fin := in.fins[x][0]
	for _, f := range in.frames {
		if f.no >= fin.no || in.role(f) == x || f.len == 0 || !seqGT(f.seq+f.len, fin.ack) {
			continue
		}
		acked := false
		for _, g := range in.frames {
			if g.no < in.rst.no && in.role(g) == x && g.has(fACK) && seqGE(g.ack, f.seq+f.len) {
				acked = true
				break
			}
		}
		if !acked {
			return f
		}
	}
	return nil
}

// forged tells whether the ending RST came from a device on the path
// rather than from the host whose address it bears: every other segment
// of its sender arrived with one TTL (hop limit) and the RST with another.
func (in *incarnation) forged() bool {
	r := in.rst
	if r == nil {
		return false
	}
	ttl := -1
	for _, f := range in.frames {
		if f.has(fRST) || in.role(f) != in.rstRole {
			continue
		}
		if ttl >= 0 && f.ttl != ttl {
			return false
		}
		ttl = f.ttl
	}
	// A RST captured twice (tcpdump -i any on a host that forwards it)
	// is its sender's when either copy has the sender's TTL.
	return ttl >= 0 && r.ttl != ttl && r.copyTTL != ttl
}

// challenged reports whether the receiver of the ending RST lived on
// (TRUTH-FORMAT.md): Linux takes a RST only at the sequence number it
// expects next (RFC 5961) and answers one elsewhere in its window with a
// challenge ACK. Not made by a device on the path, the RST's receiver's
// first frame after it is a pure ACK, less than 500 ms later, of less than
// the RST's sequence number, and the sender's first frame after that ACK
// is a bare RST (no ACK) at the ACK's acknowledgement number.
func (in *incarnation) challenged() bool {
	r := in.rst
	if r == nil || in.forged() {
		return false
	}
	var ack *frame
	for _, f := range in.frames {
		switch {
		case f.no <= r.no:
		case ack == nil && f.src == r.src:
		case ack == nil:
			if f.flags&(fACK|fRST|fSYN|fFIN) != fACK || f.len != 0 || f.t-r.t > 500e6 || !seqGT(r.seq, f.ack) {
				return false
			}
			ack = f
		case f.src == r.src:
			return f.has(fRST) && !f.has(fACK) && f.seq == ack.ack
		}
	}
	return false
}

// foreign reports whether the ending RST was its sender's kernel's
// answer to a segment that reached it on another 4-tuple while its
// socket on this one lived on (TRUTH-FORMAT.md): a bare RST (no ACK),
// not made by a device on the path, after which the sender's next
// segment carries data at the RST's sequence number.
func (in *incarnation) foreign() bool {
	r := in.rst
	if r == nil || r.has(fACK) || in.forged() {
		return false
	}
	for _, f := range in.frames {
		if f.no > r.no && f.src == r.src {
			return f.len > 0 && f.seq == r.seq && !f.has(fRST)
		}
	}
	return false
}

// noSocket reports whether the ending RST, a bare [R] from a sender that
// sent no FIN, answered the peer's latest segment (seq = that segment's
// ack, at most 500 ms after it), after which the peer sent nothing but
// frames that each drew a RST (in flight when the RST left: where the
// sender captures, a burst and the RSTs that answer it interleave), from
// a sender that had sent a segment other than a RST before it and sends
// nothing but RSTs after it.
func (in *incarnation) noSocket() bool {
	r := in.rst
	x := in.rstRole
	var before, peer *frame
	first := true // r is the sender's first RST
	later := 0    // the peer's frames after r
	answers := 0  // the sender's RSTs after r
	for _, f := range in.frames {
		switch {
		case f.no < r.no && in.role(f) == x && f.has(fRST):
			first = false
		case f.no < r.no && in.role(f) == x:
			before = f
		case f.no < r.no && in.role(f) != x:
			peer = f
		case f.no > r.no && in.role(f) == x && !f.has(fRST):
			return false
		case f.no > r.no && in.role(f) == x:
			answers++
		case f.no > r.no:
			later++
		}
	}
	// The peer's frames after r were in flight when it left (or sent
	// again when it was lost): each drew a RST of its own.
	if later > 0 && (!first || answers < later) {
		return false
	}
	return before != nil && peer != nil && peer.has(fACK) && r.seq == peer.ack && r.t-peer.t <= 500e6
}

// noSocketSysctl names the knob behind a no-socket RST: none for a
// client whose connect() had given up (connectGaveUp);
// tcp_synack_retries for a listener whose request had expired
// (requestExpired); tcp_retries2 when
// the sender had data the peer never acknowledged, which it had sent more
// than once (its socket gave up retransmitting, silently); none when the
// peer had data the sender never acknowledged, which it had sent more
// than once (the sender was down, and came back without the socket); the
// conntrack timeout of the state the connection was in when the RST
// answered the first segment after a silence of 1 s or more (a NAT's
// entry expired and the segment's new one led elsewhere); none otherwise.
func (in *incarnation) noSocketSysctl() string {
	x := in.rstRole
	var trigger *frame
	for _, f := range in.frames {
		if f.no < in.rst.no && in.role(f) != x {
			trigger = f
		}
	}
	if in.connectGaveUp() {
		return ""
	}
	if in.overflow && in.requestExpired() {
		return "net.ipv4.tcp_synack_retries"
	}
	if in.resent(x, trigger.ack) {
		return "net.ipv4.tcp_retries2"
	}
	var acked uint32 // the sender's highest acknowledgement before the RST
	for _, f := range in.frames {
		if f.no < in.rst.no && in.role(f) == x && f.has(fACK) && (acked == 0 || seqGT(f.ack, acked)) {
			acked = f.ack
		}
	}
	if in.resent(1-x, acked) {
		return ""
	}
	if _, end := in.idleBeforeRST(); end != nil {
		return "net.netfilter.nf_conntrack_tcp_timeout_" + in.conntrackState(end)
	}
	return ""
}

// connectGaveUp reports whether the ending no-socket RST is the client's
// answer to the server's SYN-ACK when the client had sent nothing but
// SYNs: its connect() had given up before the SYN-ACK came (the
// application's connect timeout), which no sysctl of the wire's names.
func (in *incarnation) connectGaveUp() bool {
	if in.rstRole != rc || in.synack == nil {
		return false
	}
	var trigger *frame
	for _, f := range in.frames {
		if f.no >= in.rst.no {
			break
		}
		if in.role(f) == rc && !f.has(fSYN) {
			return false
		}
		if in.role(f) == rs {
			trigger = f
		}
	}
	return trigger != nil && trigger.has(fSYN|fACK)
}

// requestExpired reports whether the listener's reply RST (overflow)
// answered a client segment that came 1 s or more after the server's
// latest SYN-ACK: the request socket's timer fires 1 s (TCP_TIMEOUT_INIT)
// after its first SYN-ACK and twice as late after each retransmission,
// and either sends the SYN-ACK again or, after tcp_synack_retries of
// them, drops the request. Nothing on the wire came from that last
// timer, so the request was gone and the listener, finding none, reset
// the segment (tcp_rcv_state_process in LISTEN). A listen overflow's RST
// (tcp_abort_on_overflow = 1) answers the client's ACK of a SYN-ACK.
func (in *incarnation) requestExpired() bool {
	var synack, trigger *frame
	for _, f := range in.frames {
		if f.no >= in.rst.no {
			break
		}
		if in.role(f) == rs && f.has(fSYN|fACK) {
			synack = f
		}
		if in.role(f) == rc {
			trigger = f
		}
	}
	return synack != nil && trigger != nil && trigger.t-synack.t >= 1e9
}

// probe reports whether the ending no-socket RST is the client's answer
// to the SYN-ACK (connectGaveUp) of a SYN with neither the
// SACK-permitted nor the window-scale option, which every current
// operating system's connect() sends: a raw socket's SYN, a scanner's or
// a half-open health check's.
func (in *incarnation) probe() bool {
	return in.connectGaveUp() && in.craftedSYN()
}

// craftedSYN reports whether the client's first SYN carried neither the
// SACK-permitted nor the window-scale option (probe).
func (in *incarnation) craftedSYN() bool {
	return in.syn != nil && !in.syn.sackPerm && in.syn.wscale < 0
}

// resent reports whether role r sent, before the ending RST, a data
// segment reaching past acked more than once (the same sequence number).
func (in *incarnation) resent(r int, acked uint32) bool {
	sent := map[uint32]int{}
	for _, f := range in.frames {
		if f.no < in.rst.no && in.role(f) == r && f.len > 0 && seqGT(f.seq+f.len, acked) {
			sent[f.seq]++
			if sent[f.seq] > 1 {
				return true
			}
		}
	}
	return false
}

// idleBeforeRST returns the incarnation's longest silence and the frame
// that ended it, when the silence lasted at least 1 s and the ending RST
// came at most 500 ms after that frame: the RST answered the first
// segment after an idle period.
func (in *incarnation) idleBeforeRST() (gap int64, end *frame) {
	if in.rst == nil {
		return 0, nil
	}
	var prev *frame
	for _, f := range in.frames {
		if prev != nil && f.t-prev.t > gap {
			gap, end = f.t-prev.t, f
		}
		prev = f
	}
	if end == nil || gap < 1e9 || end.no >= in.rst.no || in.rst.t-end.t > 500e6 {
		return 0, nil
	}
	return gap, end
}

// conntrackState names the state Linux conntrack held the incarnation in
// just before frame end (as its timeout sysctls spell it): established
// before any FIN, fin_wait after one, close_wait once the peer
// acknowledged it, last_ack after the second FIN, time_wait once both
// were acknowledged.
func (in *incarnation) conntrackState(end *frame) string {
	fins, acked := 0, 0
	for r := range 2 {
		if len(in.fins[r]) == 0 || in.fins[r][0].no >= end.no {
			continue
		}
		fins++
		for _, f := range in.frames {
			if f.no < end.no && in.role(f) != r && f.has(fACK) && seqGE(f.ack, in.finEnd[r]) {
				acked++
				break
			}
		}
	}
	switch {
	case fins == 0:
		return "established"
	case fins == 1 && acked == 0:
		return "fin_wait"
	case fins == 1:
		return "close_wait"
	case acked < 2:
		return "last_ack"
	}
	return "time_wait"
}

// reuse links the incarnation to the previous one on its 4-tuple.
func (in *incarnation) reuse(fl *truthFlow) error {
	p := in.prev
	if p == nil {
		return nil
	}
	if in.syn == nil {
		return fmt.Errorf("a new incarnation without a SYN")
	}
	r := &truthReuse{Timestamps: in.syn.ts && p.frames[0].ts}
	holder := -1
	switch {
	case len(p.fins[rc]) > 0 && in.syn.seq == p.finEnd[rc]-1+65538:
		holder, r.Verdict = rc, analyze.VerdictClientReuse
	case in.synack != nil && len(p.fins[rs]) > 0 && in.synack.seq == p.finEnd[rs]-1+65538:
		holder, r.Verdict = rs, analyze.VerdictServerAccept
	}
	if holder < 0 {
		for _, f := range in.frames {
			if in.synack != nil && f.no >= in.synack.no {
				break
			}
			if f.src == in.server && f.has(fACK) && !f.has(fSYN) && !f.has(fRST) {
				holder, r.Verdict = rs, analyze.VerdictRefused
				break
			}
		}
	}
	if holder < 0 {
		for x := range 2 {
			if p.tw[x] {
				holder = x
				break
			}
		}
	}
	var from *frame
	if holder >= 0 && p.tw[holder] {
		// The TIME_WAIT holder's first ACK of the peer's FIN.
		for _, f := range p.frames {
			if p.role(f) == holder && f.has(fACK) && seqGE(f.ack, p.finEnd[1-holder]) {
				from = f
				break
			}
		}
	}
	if from == nil {
		from = p.frames[len(p.frames)-1]
		if r.Verdict == "" {
			r.Verdict = analyze.VerdictNoTimeWait
		}
		if holder < 0 || !p.tw[holder] {
			r.TimeWaitHolder = string(analyze.NoRole)
		}
	}
	if r.TimeWaitHolder == "" {
		r.TimeWaitHolder = roleName[holder]
	}
	r.Gap = round6(float64(in.syn.t-from.t) / 1e9)
	switch {
	case r.Gap >= 60:
		r.Verdict = analyze.VerdictExpired
	case r.Verdict == "":
		r.Verdict = analyze.VerdictUnproven
	}
	fl.Reuse = r
	return nil
}

// diagnose lists the codes a correct analyzer must report for the flow.
func (in *incarnation) diagnose(sc *scenario, fl *truthFlow, last *frame) {
	add := func(code, sysctl string, r int) {
		d := &truthDiag{Code: code, Sysctl: sysctl}
		if r >= 0 {
			d.Side = roleName[r]
		}
		fl.Diagnoses = append(fl.Diagnoses, d)
	}
	for r := range 2 {
		if n := len(in.fins[r]); n > 0 {
			acked := false
			for _, f := range in.frames {
				if in.role(f) != r && f.has(fACK) && seqGE(f.ack, in.finEnd[r]) {
					acked = true
				}
			}
			switch {
			case acked && n > 1:
				add(analyze.CodeFinRetransmitted, sc.finSysctl(r), r)
			case !acked && in.rst == nil && n > 1:
				add(analyze.CodeFinNeverAcked, "net.ipv4.tcp_orphan_retries", r)
			case !acked && in.rst == nil, acked && len(in.fins[1-r]) == 0 && in.finProven[1-r] == nil && in.rst == nil:
				// A capture caveat: it names no side.
				add(analyze.CodeCaptureEndedMidClose, "", -1)
			}
			if in.zeroWindowBefore(r, in.fins[r][0]) {
				add(analyze.CodeFinBlockedZeroWindow, "net.ipv4.tcp_orphan_retries", r)
			}
		}
	}
	if in.syn == nil && in.synack == nil {
		add(analyze.CodeCaptureStartedMidFlow, "", -1)
	}
	if in.missing[rc] || in.missing[rs] {
		// A capture caveat: it names no side, and no knob helps.
		add(analyze.CodeCaptureMissingPackets, "", -1)
	}
	// Idle CLOSE_WAIT: from entering it (or the last data sent in it) to
	// the FIN, or to the end of the capture.
	for r := range 2 {
		var enter *frame
		for _, s := range in.states[r] {
			if s.State == "CLOSE_WAIT" {
				enter = frameNo(in.frames, s.Frame)
			}
		}
		if enter == nil {
			continue
		}
		from, to := enter.t, last.t
		for _, f := range in.frames {
			if f.no > enter.no && in.role(f) == r && f.len > 0 {
				from = f.t
			}
		}
		if len(in.fins[r]) > 0 {
			to = in.fins[r][0].t
		} else if in.rst != nil {
			to = in.rst.t
		}
		if float64(to-from)/1e9 >= closeWaitLong {
			add(analyze.CodeCloseWaitLong, "", r)
		}
	}
	if in.rst != nil {
		r := in.rstRole
		switch fl.Close.Reset.Cause {
		case analyze.CauseUnreadData:
			add(analyze.CodeRstUnreadData, "", r)
		case analyze.CauseLingerZero:
			add(analyze.CodeRstLingerZero, "SO_LINGER", r)
		case analyze.CauseDataAfterClose:
			add(analyze.CodeRstDataAfterClose, "", r)
		case analyze.CauseFinWait2Timeout:
			add(analyze.CodeFinWait2Timeout, "net.ipv4.tcp_fin_timeout", r)
		case analyze.CauseTimeWaitMissing:
			add(analyze.CodeTimeWaitMissing, "net.ipv4.tcp_max_tw_buckets", r)
		case analyze.CauseLinger2Negative:
			add(analyze.CodeLinger2Negative, "TCP_LINGER2", r)
		case analyze.CauseOrphanLimit:
			add(analyze.CodeOrphanReset, "net.ipv4.tcp_max_orphans", r)
		case analyze.CauseRefused:
			if in.craftedSYN() {
				// The probe is the client's.
				add(analyze.CodeSynProbe, "", rc)
			} else {
				add(analyze.CodeConnectionRefused, "", r)
			}
		case analyze.CauseKeepalive:
			add(analyze.CodeKeepaliveReset, "net.ipv4.tcp_keepalive_time", r)
		case analyze.CauseListenOverflow:
			add(analyze.CodeListenOverflow, "net.ipv4.tcp_abort_on_overflow", r)
		case analyze.CauseNoSocket:
			if in.probe() {
				add(analyze.CodeSynProbe, "", r)
			} else {
				add(analyze.CodeRstNoSocket, in.noSocketSysctl(), r)
			}
		case analyze.CauseMiddlebox:
			sysctl := ""
			if _, end := in.idleBeforeRST(); end != nil {
				sysctl = "net.netfilter.nf_conntrack_tcp_timeout_" + in.conntrackState(end)
			}
			add(analyze.CodeRstMiddlebox, sysctl, r)
		}
		if in.foreign() {
			// The peer's segment reached the RST's sender untranslated.
			sysctl := "net.netfilter.nf_conntrack_tcp_be_liberal"
			if _, end := in.idleBeforeRST(); end != nil {
				sysctl = "net.netfilter.nf_conntrack_tcp_timeout_" + in.conntrackState(end)
			}
			add(analyze.CodeNATUntranslated, sysctl, 1-r)
		}
	}
	if in.aborted != nil {
		// From the server's own address, the server's kernel (or a
		// firewall on it) refused the SYN; from elsewhere, a router
		// or firewall on the path: no side.
		r := -1
		if in.icmpByServer() {
			r = rs
		}
		add(analyze.CodeSynRejectedICMP, "", r)
	}
	if in.assassinated() {
		add(analyze.CodeTimeWaitAssassinated, "net.ipv4.tcp_rfc1337", 1-in.rstRole)
	}
	if in.synAckCount() >= 2 && in.rst == nil && !slices.ContainsFunc(in.frames, func(f *frame) bool {
		return in.role(f) == rc && f.has(fACK) && !f.has(fSYN) && f.ack == in.synack.seq+1
	}) {
		add(analyze.CodeSynAckUnanswered, "net.ipv4.tcp_synack_retries", rs)
	}
	if in.synAckAfterAck() > 0 {
		add(analyze.CodeAcceptQueueFull, "net.core.somaxconn", rs)
	}
	if in.synCookie() {
		add(analyze.CodeSynCookie, "net.ipv4.tcp_syncookies", rs)
	}
	// A SYN an ICMP error ended in the end was answered, though an
	// earlier error left it to be sent again.
	if in.synCount() >= 2 && in.aborted == nil && !slices.ContainsFunc(in.frames, func(f *frame) bool { return in.role(f) == rs }) {
		add(analyze.CodeSynUnanswered, "net.ipv4.tcp_syn_retries", rc)
	}
	if in.synRetransmitted() {
		add(analyze.CodeSynRetransmitted, "net.core.somaxconn", rs)
	}
	if r, first := in.unansweredAfterIdle(); first != nil {
		add(analyze.CodeNoAnswerAfterIdle, "net.netfilter.nf_conntrack_tcp_timeout_"+in.conntrackState(first), r)
	}
	if r, first := in.dataUnanswered(); first != nil {
		add(analyze.CodeDataUnanswered, "net.ipv4.tcp_retries2", r)
	}
	for r := range 2 {
		if hole, fragmentable := in.pmtuBlackHole(r); hole {
			knob := "net.ipv4.tcp_mtu_probing"
			if fragmentable {
				knob = "net.ipv4.ip_no_pmtu_disc"
			}
			add(analyze.CodePMTUBlackHole, knob, r)
		}
	}
	if u := fl.Reuse; u != nil {
		switch u.Verdict {
		case analyze.VerdictClientReuse:
			add(analyze.CodeTimeWaitReuse, sc.reuseSysctl, rc)
		case analyze.VerdictServerAccept:
			add(analyze.CodeTimeWaitReuse, "net.ipv4.tcp_timestamps", rs)
		case analyze.VerdictRefused:
			// Refused for want of timestamps, tcp_timestamps; by PAWS
			// (the SYN has them), no knob of the server's.
			sysctl := "net.ipv4.tcp_timestamps"
			if in.syn.ts {
				sysctl = ""
			}
			add(analyze.CodeTimeWaitSynRefused, sysctl, rs)
			if in.rstsIgnored() {
				add(analyze.CodeTimeWaitRstIgnored, "net.ipv4.tcp_rfc1337", rs)
			}
		}
	}
}

// synCookie reports whether the server answered the client's SYN with a
// SYN cookie as the wire shows one: with timestamps, a SYN-ACK whose
// TSval runs behind the server's clock (its next non-SYN segment with a
// timestamp) by more than the time from the client's first SYN to that
// SYN-ACK, plus 2 ms of rounding and 200 ppm of drift, and by at most 62
// ms more (a cookie keeps the SYN's options in the TSval's low 6 bits,
// never ahead of the clock); without, a SYN-ACK with neither window scale
// nor SACK-permitted though the SYN offered both.
func (in *incarnation) synCookie() bool {
	if in.syn == nil || in.synack == nil {
		return false
	}
	if !in.syn.ts && !in.synack.ts {
		return in.syn.wscale >= 0 && in.syn.sackPerm && in.synack.wscale < 0 && !in.synack.sackPerm
	}
	var next *frame
	for _, f := range in.frames {
		if f.no > in.synack.no && in.role(f) == rs && f.ts && !f.has(fSYN) {
			next = f
			break
		}
	}
	if next == nil {
		return false
	}
	for _, f := range in.frames {
		if f.no >= next.no {
			break
		}
		if in.role(f) != rs || !f.has(fSYN|fACK) || !f.ts || f.no < in.synack.no {
			continue
		}
		gap := float64(next.t-f.t) / 1e6
		lag := float64(int32(next.tsval-f.tsval)) - gap
		bound := float64(f.t-in.syn.t)/1e6 + 2 + gap*2e-4
		if lag >= bound && lag <= bound+62 {
			return true
		}
	}
	return false
}

// synAckCount is the number of transmissions of the server's SYN-ACK
// (its first one's sequence number).
func (in *incarnation) synAckCount() int {
	n := 0
	for _, f := range in.frames {
		if in.synack != nil && in.role(f) == rs && f.has(fSYN|fACK) && f.seq == in.synack.seq {
			n++
		}
	}
	return n
}

// synAckAfterAck counts the server's SYN-ACKs (its first one's sequence
// number) sent after a client segment that acknowledged the SYN-ACK (ack
// = server ISN + 1) and before the server sent anything else: the
// listener ignored the client's handshake ACK.
func (in *incarnation) synAckAfterAck() int {
	if in.synack == nil {
		return 0
	}
	n, acked := 0, false
	for _, f := range in.frames {
		switch {
		case in.role(f) == rc && f.has(fACK) && !f.has(fSYN) && !f.has(fRST) && f.ack == in.synack.seq+1:
			acked = true
		case in.role(f) == rs && f.has(fSYN|fACK) && f.seq == in.synack.seq:
			if acked {
				n++
			}
		case in.role(f) == rs:
			return n
		}
	}
	return n
}

// unansweredTail is what the frames after the other side's last one show
// when role r sent the incarnation's last frame: first is r's first
// frame after the other side's last one that carried data, SYN or FIN or
// was a keepalive probe (one below what r had sent, at most one byte),
// gap the time before it; owed says data or a FIN of r's was left
// unacknowledged, dataOwed data alone, probed that keepalive probes came
// after first, fin that r sent a FIN at or after first.
type unansweredTail struct {
	r                      int
	first, last            *frame
	gap                    int64
	owed, dataOwed, probed bool
	fin                    bool
}

// tail walks the incarnation for its unansweredTail; first is nil when
// it has a RST, fewer than two frames, or no such frame.
func (in *incarnation) tail() unansweredTail {
	var u unansweredTail
	if in.rst != nil || len(in.frames) < 2 {
		return u
	}
	u.last = in.frames[len(in.frames)-1]
	u.r = in.role(u.last)
	var sent, dataSent, acked uint32 // one past r's highest sequence number (of data); the other side's highest ACK
	var seen, dataSeen, ackSeen, answered bool
	for i, f := range in.frames {
		if in.role(f) != u.r {
			answered, u.first, u.probed, u.fin = true, nil, false, false
			if f.has(fACK) && (!ackSeen || seqGT(f.ack, acked)) {
				acked, ackSeen = f.ack, true
			}
			continue
		}
		probe := seen && f.len <= 1 && !f.has(fSYN) && !f.has(fFIN) && f.seq == sent-1
		if u.first == nil && answered && (f.len > 0 || f.has(fSYN) || f.has(fFIN) || probe) {
			u.first, u.gap = f, f.t-in.frames[i-1].t
		}
		u.probed = u.probed || u.first != nil && probe
		u.fin = u.fin || u.first != nil && f.has(fFIN)
		end := f.seq + f.len
		if f.len > 0 && (!dataSeen || seqGT(end, dataSent)) && !probe {
			dataSent, dataSeen = end, true
		}
		if f.has(fSYN) || f.has(fFIN) {
			end++
		}
		if !seen || seqGT(end, sent) {
			sent, seen = end, true
		}
	}
	u.owed = seen && (!ackSeen || seqGT(sent, acked))
	u.dataOwed = dataSeen && ackSeen && seqGT(dataSent, acked)
	return u
}

// unansweredAfterIdle finds the side whose segments the other never
// answered after a silence (no-answer-after-idle): the incarnation has no
// RST, its last frame is role r's, the other side sent before, and r's
// first frame of its unansweredTail came after at least a second with no
// frame, was followed by r's frames for at least a second more, and left
// data or a FIN of r's unacknowledged, or was one of keepalive probes,
// and r's last frame is no copy of a black hole that goes on
// (blackHoleGoesOn). It returns r and that first frame, or nil.
func (in *incarnation) unansweredAfterIdle() (int, *frame) {
	u := in.tail()
	if u.first != nil && u.gap >= 1e9 && u.last != u.first && u.last.t-u.first.t >= 1e9 && (u.owed || u.probed) &&
		!in.blackHoleGoesOn(u.r, u.last) {
		return u.r, u.first
	}
	return 0, nil
}

// dataUnanswered finds the side whose data the other never answered with
// no silence before it (data-unanswered): r's first frame of its
// unansweredTail came less than a second after the other side's last
// one, r's frames went on for at least three seconds more, its data was
// left unacknowledged, no FIN of r's was among them, and r's last frame is
// no copy of a black hole that goes on. It returns r and that first
// frame, or nil.
func (in *incarnation) dataUnanswered() (int, *frame) {
	u := in.tail()
	if u.first != nil && u.gap < 1e9 && u.last.t-u.first.t >= 3e9 && u.dataOwed && !u.fin && !in.blackHoleGoesOn(u.r, u.last) {
		return u.r, u.first
	}
	return 0, nil
}

// blackHoleSmall is the largest segment no path MTU black hole
// swallows: 512 bytes of payload, with IPv4's and TCP's headers and a
// timestamp option, fit the 576-byte datagram every IPv4 host must
// accept; it is also where tcp_mtu_probing's halving from tcp_base_mss
// (1024) stops first.
const blackHoleSmall = 512

// retransmissions returns role r's copies of each sequence number S at
// which it retransmitted payload: r's segments with payload whose seq is
// S, the highest ACK the other role had sent before them (snd_una as the
// wire shows it), sent after r had sent payload covering S (its first
// transmission is no copy). The copies are in frame order, and the
// sequence numbers in the order of their first copies.
func (in *incarnation) retransmissions(r int) ([]uint32, map[uint32][]*frame) {
	var order []uint32
	copies := map[uint32][]*frame{}
	var sent []*frame // r's segments with payload so far
	var una uint32
	acked := false
	for _, f := range in.frames {
		if in.role(f) != r {
			if f.has(fACK) && (!acked || seqGT(f.ack, una)) {
				una, acked = f.ack, true
			}
			continue
		}
		if f.len == 0 {
			continue
		}
		if acked && f.seq == una && slices.ContainsFunc(sent, func(g *frame) bool {
			return seqGE(f.seq, g.seq) && seqGT(g.seq+g.len, f.seq)
		}) {
			if copies[f.seq] == nil {
				order = append(order, f.seq)
			}
			copies[f.seq] = append(copies[f.seq], f)
		}
		sent = append(sent, f)
	}
	return order, copies
}

// countedCopies returns the copies tx of role r's sequence number s that
// came before answer, the other role's first segment with an ACK past s
// (nil when there is none: then all of them).
func (in *incarnation) countedCopies(r int, s uint32, tx []*frame) (counted []*frame, answer *frame) {
	for _, f := range in.frames {
		if in.role(f) != r && f.has(fACK) && seqGT(f.ack, s) {
			answer = f
			break
		}
	}
	for _, f := range tx {
		if answer == nil || f.no < answer.no {
			counted = append(counted, f)
		}
	}
	return counted, answer
}

// pmtuBlackHole tells whether role r retransmitted payload the way a
// path MTU black hole makes a sender do (TRUTH-FORMAT.md): at some
// sequence number, at least three copies before the peer acknowledged
// past it, and either a copy shorter than every one before it, after at
// least two, got through (the peer acknowledged it or answered it with a
// RST: shrink through), or the copies were larger than blackHoleSmall,
// the peer sent payload, a FIN or a RST after the second one, and no ACK
// past them came (peer up). fragmentable is set when every counted copy
// was an IPv4 packet with DF clear.
func (in *incarnation) pmtuBlackHole(r int) (hole, fragmentable bool) {
	order, copies := in.retransmissions(r)
	for _, s := range order {
		if counted, answer := in.countedCopies(r, s, copies[s]); in.blackHoleAt(r, counted, answer) {
			return true, !slices.ContainsFunc(counted, func(f *frame) bool { return f.df || f.ipid < 0 })
		}
	}
	return false, false
}

// blackHoleAt tells whether role r's counted copies of one sequence
// number, with the other role's answer (nil for none), show a black hole
// (pmtuBlackHole).
func (in *incarnation) blackHoleAt(r int, counted []*frame, answer *frame) bool {
	if len(counted) < 3 {
		return false
	}
	shortest, longest := counted[0].len, counted[0].len
	for i, f := range counted[1:] {
		if f.len < shortest && i+1 >= 2 {
			if answer != nil || slices.ContainsFunc(in.frames, func(g *frame) bool {
				return in.role(g) != r && g.no > f.no && g.has(fRST)
			}) {
				return true
			}
			break
		}
		shortest = min(shortest, f.len)
	}
	for _, f := range counted {
		longest = max(longest, f.len)
	}
	// The peer is up when it sends payload, a FIN or a RST: a duplicate
	// ACK is what loss looks like.
	return answer == nil && longest > blackHoleSmall && slices.ContainsFunc(in.frames, func(g *frame) bool {
		return in.role(g) != r && g.no > counted[1].no && (g.len > 0 || g.has(fFIN) || g.has(fRST))
	})
}

// blackHoleGoesOn tells whether role r's frame last is the latest copy
// of a black hole no answer ended: the silence after the other role's
// last frame is then the black hole's, not its own (TRUTH-FORMAT.md).
func (in *incarnation) blackHoleGoesOn(r int, last *frame) bool {
	order, copies := in.retransmissions(r)
	for _, s := range order {
		counted, answer := in.countedCopies(r, s, copies[s])
		if answer == nil && len(counted) > 0 && counted[len(counted)-1] == last && in.blackHoleAt(r, counted, answer) {
			return true
		}
	}
	return false
}

// assassinated tells whether the ending RST killed its receiver's
// TIME_WAIT (KERNEL.md row 17, tcp_rfc1337=0): the receiver was in
// TIME_WAIT, the RST's seq was its rcv_nxt (one past the sender's FIN),
// and the receiver answered the sender's next segment with a RST.
func (in *incarnation) assassinated() bool {
	r := in.rst
	if r == nil || len(in.fins[in.rstRole]) == 0 || r.seq != in.finEnd[in.rstRole] {
		return false
	}
	y := 1 - in.rstRole
	tw := false
	for _, s := range in.states[y] {
		if s.Frame < r.no {
			tw = s.State == "TIME_WAIT"
		}
	}
	if !tw {
		return false
	}
	next := false
	for _, f := range in.frames {
		if f.no <= r.no {
			continue
		}
		if in.role(f) == in.rstRole {
			next = true
		} else if next {
			return f.has(fRST)
		}
	}
	return false
}

// rstsIgnored tells whether the server's TIME_WAIT kept refusing the
// client's SYNs after the client's RST (KERNEL.md row 16: tcp_rfc1337=1):
// more than one client RST before any SYN-ACK, and no SYN-ACK within a
// second of the first RST (row 15's retry, accepted after the RST killed
// the TIME_WAIT, follows within about 10 ms).
func (in *incarnation) rstsIgnored() bool {
	var rsts []*frame
	for _, f := range in.frames {
		if in.synack != nil && f.no >= in.synack.no {
			break
		}
		if in.role(f) == rc && f.has(fRST) {
			rsts = append(rsts, f)
		}
	}
	if len(rsts) < 2 {
		return false
	}
	return in.synack == nil || in.synack.t-rsts[0].t >= 1e9
}

// zeroWindowHold is how long the peer's window must have stayed shut
// before a FIN for the FIN to count as held back by it.
const zeroWindowHold = 0.5

// zeroWindowBefore tells whether role r's peer kept its window at zero for
// at least zeroWindowHold before r's FIN went out: brief zero windows in a
// bulk transfer do not hold a FIN back.
func (in *incarnation) zeroWindowBefore(r int, fin *frame) bool {
	var shut *frame
	for _, f := range in.frames {
		if f.no > fin.no {
			break
		}
		if in.role(f) == r || f.has(fRST) || f.has(fSYN) {
			continue
		}
		switch {
		case f.win == 0 && shut == nil:
			shut = f
		case f.win > 0 && shut != nil:
			if float64(f.t-shut.t)/1e9 >= zeroWindowHold {
				return true
			}
			shut = nil
		}
	}
	return shut != nil && float64(fin.t-shut.t)/1e9 >= zeroWindowHold
}

func frameNo(frames []*frame, no int) *frame {
	for _, f := range frames {
		if f.no == no {
			return f
		}
	}
	return nil
}

// findMissing sets in.missing: a role's highest ACK (RSTs included) goes
// past the end of everything the capture holds from its peer.
func (in *incarnation) findMissing() {
	var end, maxAck [2]uint32
	var seen, acked [2]bool
	for _, f := range in.frames {
		r := in.role(f)
		e := f.seq + f.len
		if f.has(fSYN) {
			e++
		}
		if f.has(fFIN) {
			e++
		}
		if f.has(fRST) && f.len == 0 && !f.has(fSYN) && !f.has(fFIN) {
			// A bare RST occupies no sequence space.
			e = f.seq
		}
		if !seen[r] || seqGT(e, end[r]) {
			end[r], seen[r] = e, true
		}
		if f.has(fACK) && (!acked[r] || seqGT(f.ack, maxAck[r])) {
			maxAck[r], acked[r] = f.ack, true
		}
	}
	for r := range 2 {
		in.missing[r] = acked[r] && seen[1-r] && seqGT(maxAck[r], end[1-r])
		y := 1 - r
		if !in.missing[r] || maxAck[r] != end[y]+1 || len(in.fins[y]) > 0 || in.rst != nil || !in.sentData(y) {
			continue
		}
		for _, f := range in.frames {
			if in.role(f) == r && f.has(fACK) && f.ack == maxAck[r] {
				in.finProven[y], in.finEnd[y] = f, maxAck[r]
				break
			}
		}
	}
}

// sentData reports whether role r sent any payload.
func (in *incarnation) sentData(r int) bool {
	for _, f := range in.frames {
		if in.role(f) == r && f.len > 0 {
			return true
		}
	}
	return false
}
