//go:build linux

package main

import "strings"

// Segments a NAT let through untranslated (TRUTH-FORMAT.md): the
// server's segments of a connection to a service address that reach the
// client from the server's own address, answered by the client kernel's
// bare RSTs, make a flow of their own on another 4-tuple.

// truthUntranslated is an entry of untranslated: the connection's flow,
// the flow of its untranslated segments, the first segment's frame, the
// first RST's, how many segments, and the silence before the first
// (seconds; 0 and no state when under a second) with the conntrack
// state the connection was in (conntrackState, in capitals as the
// analyzer names it).
type truthUntranslated struct {
	Connection truthFlowID `json:"connection"`
	Segments   truthFlowID `json:"segments"`
	Frame      int         `json:"frame"`
	Reset      int         `json:"reset"`
	Count      int         `json:"count"`
	Idle       float64     `json:"idle"`
	State      string      `json:"state,omitempty"`
}

// untranslatedIdle is the silence from which the connection's conntrack
// entry is taken to have expired: the analyzer's idleBeforeReset.
const untranslatedIdle = 1_000_000_000 // ns

// untranslatedPairs finds each incarnation with no SYN whose first
// segment is one side's, answered only by the other side's bare RSTs
// (no ACK), and pairs it with the incarnation, its handshake seen,
// whose client is the RSTs' sender and whose server is another address:
// the one whose server had sent, before the stray segment, exactly up
// to the stray segment's sequence number, and whose client exactly up
// to its acknowledgement number. NAT leaves sequence numbers alone.
func untranslatedPairs(all []*incarnation) []truthUntranslated {
	var out []truthUntranslated
	for _, in := range all {
		u, ok := strayOf(in)
		if !ok {
			continue
		}
		seg := in.frames[0]
		for _, c := range all {
			if c == in || c.syn == nil || c.synack == nil || c.client != seg.dst || c.server == seg.src {
				continue
			}
			var end [2]uint32
			var seen [2]bool
			var before *frame
			fins := 0
			for _, f := range c.frames {
				if f.no > seg.no {
					break
				}
				before = f
				r := rc
				if f.src == c.server {
					r = rs
				}
				e := f.seq + f.len
				if f.has(fSYN) {
					e++
				}
				if f.has(fFIN) {
					e++
					fins++
				}
				if !seen[r] || seqGT(e, end[r]) {
					end[r], seen[r] = e, true
				}
			}
			if !seen[rc] || !seen[rs] || end[rs] != seg.seq || end[rc] != seg.ack {
				continue
			}
			u.Connection, u.Segments = c.id(), in.id()
			if idle := seg.t - before.t; idle >= untranslatedIdle {
				u.Idle = float64(idle) / 1e9
				u.State = strings.ToUpper(c.conntrackState(seg))
			}
			out = append(out, u)
			break
		}
	}
	return out
}

// strayOf returns the untranslated entry of incarnation in, but its
// flows, when its first segment is one side's (no SYN, no RST) and the
// other side sent only bare RSTs, the first after that segment.
func strayOf(in *incarnation) (truthUntranslated, bool) {
	seg := in.frames[0]
	if seg.has(fSYN) || seg.has(fRST) {
		return truthUntranslated{}, false
	}
	var u truthUntranslated
	for _, f := range in.frames {
		switch {
		case f.has(fSYN):
			return truthUntranslated{}, false
		case f.src == seg.src:
			if f.has(fRST) {
				return truthUntranslated{}, false
			}
			u.Count++
		case !f.has(fRST) || f.has(fACK):
			return truthUntranslated{}, false
		case u.Reset == 0:
			u.Reset = f.no
		}
	}
	u.Frame = seg.no
	return u, u.Reset != 0
}
