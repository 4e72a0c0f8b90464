//go:build linux

package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Scenarios of a capture that holds every packet twice: tcpdump -i any on
// a host that forwards them records each as it enters and as it leaves.

// captureTwiceRouter is client-active-close captured with tcpdump -i any
// inside the router between the two ends.
func captureTwiceRouter(v6 bool) *scenario {
	ttl := "TTL"
	if v6 {
		ttl = "hop limit"
	}
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
// of both copies a pure ACK without an IPv4 ID.
func checkTwice(check func(*wire) error) func(*wire) error {
	return func(w *wire) error {
		if err := check(w); err != nil {
			return err
		}
		dropped, kept := copies(w.frames)
		if w.truth.Duplicates != len(dropped) {
			return fmt.Errorf("the truth counts %d capture duplicates, the capture holds %d", w.truth.Duplicates, len(dropped))
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
	var gaps []int64
	for _, m := range []map[*frame]*frame{dropped, kept} {
		for d, p := range m {
			gaps = append(gaps, d.t-p.t)
		}
	}
	v6 := w.frames[0].ipid < 0
	ttl := "TTL"
	if v6 {
		ttl = "hop limit"
	}
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
