//go:build linux

package main

import (
	"fmt"
	"slices"
	"time"
)

// Scenarios of captures taken at both ends of a path and merged: every
// packet shows twice, as it left its sender and as it reached the
// receiver, a one-way path delay apart.

// endsDelay is how long the router between the two ends holds every
// packet: far more than the 1 ms within which a router's own two copies
// (capture-twice-router) come.
const endsDelay = 20 * time.Millisecond

// captureBothEnds is client-active-close across a router that holds
// every packet endsDelay, captured at the client and at the server at
// once, the two files merged in time order.
func captureBothEnds(v6 bool) *scenario {
	ttl := ttlName(v6)
	desc := fmt.Sprintf("A Linux router joins the two ends and holds every packet it forwards for %v (its FORWARD chain "+
		"queues them to NFQUEUE and the lab gives each its ACCEPT verdict %v later: this kernel has no netem). tcpdump "+
		"runs at both ends at once, on the client's interface and on the server's, and the two files are merged in "+
		"time order (mergecap) into one pcapng file with an Ethernet interface for each, as the captures of an "+
		"incident taken at both ends are: every packet is in it twice, as it left its sender (%s 64) and, %v later, "+
		"as it reached the receiver (63). The client sends a 100-byte request, reads the 300-byte response and "+
		"close()s; the server reads EOF, its delayed ACK of the FIN goes out alone, and it close()s 150 ms later: a "+
		"four-way close. Every copy carries the TCP timestamp option, and the truth drops the receiver's copies, "+
		"capture duplicates, before it derives anything. Default sysctls.", endsDelay, endsDelay, ttl, endsDelay)
	sc := clientActiveClose()
	sc.name = "capture-both-ends"
	sc.summary = fmt.Sprintf("captures at the client and at the server, across a router that holds every packet %v, "+
		"merged: every segment twice, as it left its sender (%s 64) and as it arrived (63); once the capture "+
		"duplicates are dropped, a four-way close, client first", endsDelay, ttl)
	sc.desc = desc
	sc.vantage, sc.framing = vantageEnds, framePcapng
	sc.delay = endsDelay
	sc.check = checkEnds(sc.check)
	sc.wireNotes = endsNotes
	if v6 {
		return ipv6(sc, framePcapng, vantageEnds, "")
	}
	return sc
}

// endPairs pairs each frame of a capture taken at both ends with the
// earlier frame it copies: the same segment (sameSegment, at any
// distance in time). Frames that copy none are left out.
func endPairs(frames []*frame) map[*frame]*frame {
	of := map[*frame]*frame{}
	paired := map[*frame]bool{}
	for i, f := range frames {
		for _, p := range frames[:i] {
			at := *f
			at.t = p.t
			if !paired[p] && f.t >= p.t && at.sameSegment(p) {
				of[f], paired[p], paired[f] = p, true, true
				break
			}
		}
	}
	return of
}

// checkEnds adds to check that the capture holds every TCP segment
// twice: first as its sender sent it (TTL or hop limit 64, which only the
// sender's link shows), then at least endsDelay later as the receiver got
// it (63); that the truth counts every second copy a capture duplicate;
// and that every frame the truth names is a sender's copy.
func checkEnds(check func(*wire) error) func(*wire) error {
	return func(w *wire) error {
		if err := check(w); err != nil {
			return err
		}
		of := endPairs(w.frames)
		if 2*len(of) != len(w.frames) {
			return fmt.Errorf("%d of the capture's %d TCP frames copy one before them, want half", len(of), len(w.frames))
		}
		if w.truth.Duplicates != len(of) {
			return fmt.Errorf("the truth counts %d capture duplicates, the capture holds %d second copies", w.truth.Duplicates, len(of))
		}
		sent := map[int]bool{}
		for d, p := range of {
			if gap := time.Duration(d.t - p.t); p.ttl != 64 || d.ttl != 63 || gap < endsDelay || gap >= time.Second {
				return fmt.Errorf("%v (TTL %d) copies %v (TTL %d) %v later, want TTL 64 then 63, %v to 1 s apart",
					d, d.ttl, p, p.ttl, gap, endsDelay)
			}
			sent[p.no] = true
		}
		for _, fl := range w.truth.Flows {
			for _, no := range truthFrames(fl) {
				if !sent[no] {
					return fmt.Errorf("flow %s-%s#%d: the truth names frame %d, which is no sender's copy", fl.Client, fl.Server, fl.Incarnation, no)
				}
			}
		}
		return nil
	}
}

// truthFrames lists every frame number a flow's truth gives: its first
// and last frames, its states' and its FIN transmissions'.
func truthFrames(fl *truthFlow) []int {
	nos := []int{fl.FirstFrame, fl.LastFrame}
	for _, s := range []*truthSide{fl.Sides.Client, fl.Sides.Server} {
		if s == nil {
			continue
		}
		for _, st := range s.States {
			nos = append(nos, st.Frame)
		}
		nos = append(nos, s.FinFrames...)
	}
	return nos
}

// endsNotes describes the copies on the wire: how many in each end's
// file, their TTLs and how far apart.
func endsNotes(w *wire) []string {
	of := endPairs(w.frames)
	gaps := copyGaps(of)
	ttl := ttlName(w.frames[0].ipid < 0)
	return []string{fmt.Sprintf("The capture holds %d TCP frames, %d from each end's file: every segment twice, as it "+
		"left its sender (%s 64, on the sender's link) and, %.3f to %.3f ms later, as it reached the receiver (63, "+
		"one router hop). The truth drops the %d second copies as capture duplicates; every frame number it gives "+
		"is a sender's copy.", len(w.frames), len(w.frames)/2, ttl,
		float64(slices.Min(gaps))/1e6, float64(slices.Max(gaps))/1e6, w.truth.Duplicates)}
}
