//go:build linux

package main

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestDropDuplicates covers the capture duplicate rule (TRUTH-FORMAT.md)
// case by case: each case is a frame and the copy that follows it.
func TestDropDuplicates(t *testing.T) {
	const us = time.Microsecond
	c6 := netip.MustParseAddrPort("[2001:db8:1::10]:40000")
	s6 := netip.MustParseAddrPort("[2001:db8:2::80]:8080")
	v6 := func(f *frame) *frame {
		f.src, f.dst, f.ipid = c6, s6, -1
		return f
	}
	data := func(no int, at time.Duration) *frame { return seg(no, at, tcli, tsrv, fACK|fPSH, 1001, 7001, 100) }
	ack := func(no int, at time.Duration) *frame { return seg(no, at, tcli, tsrv, fACK, 1001, 7001, 0) }
	for name, c := range map[string]struct {
		orig, copy *frame
		dup        bool
	}{
		"data, TTL one lower":  {data(1, 0), func() *frame { f := data(2, 20*us); f.ttl = 63; return f }(), true},
		"FIN":                  {seg(1, 0, tcli, tsrv, fFIN|fACK, 1001, 7001, 0), seg(2, 20*us, tcli, tsrv, fFIN|fACK, 1001, 7001, 0), true},
		"SYN-ACK, IP ID 0":     {seg(1, 0, tsrv, tcli, fSYN|fACK, 7000, 1001, 0), seg(2, 20*us, tsrv, tcli, fSYN|fACK, 7000, 1001, 0), true},
		"pure ACK, IP ID":      {ack(1, 0), ack(2, 20*us), true},
		"same instant":         {data(1, 0), data(2, 0), true},
		"1 ms later":           {data(1, 0), data(2, time.Millisecond), false},
		"earlier":              {data(1, 20*us), data(2, 0), false},
		"other direction":      {data(1, 0), seg(2, 20*us, tsrv, tcli, fACK|fPSH, 1001, 7001, 100), false},
		"other IP ID":          {ack(1, 0), func() *frame { f := ack(2, 20*us); f.ipid = 2; return f }(), false},
		"other window":         {data(1, 0), func() *frame { f := data(2, 20*us); f.win--; return f }(), false},
		"other TSval":          {data(1, 0), func() *frame { f := data(2, 20*us); f.tsval = 9; return f }(), false},
		"other TSecr":          {data(1, 0), func() *frame { f := data(2, 20*us); f.tsecr = 9; return f }(), false},
		"other flags":          {data(1, 0), func() *frame { f := data(2, 20*us); f.flags = fACK; return f }(), false},
		"other length":         {data(1, 0), func() *frame { f := data(2, 20*us); f.len = 99; return f }(), false},
		"pure ACK, IP ID 0":    {func() *frame { f := ack(1, 0); f.ipid = 0; return f }(), func() *frame { f := ack(2, 20*us); f.ipid = 0; return f }(), true},
		"pure ACK, IPv6":       {v6(ack(1, 0)), v6(ack(2, 20*us)), true},
		"data, IPv6":           {v6(data(1, 0)), v6(data(2, 20*us)), true},
		"other seq":            {data(1, 0), seg(2, 20*us, tcli, tsrv, fACK|fPSH, 1101, 7001, 100), false},
		"other ack":            {data(1, 0), seg(2, 20*us, tcli, tsrv, fACK|fPSH, 1001, 7002, 100), false},
		"RST, no IP ID, no TS": {seg(1, 0, tsrv, tcli, fRST, 7001, 0, 0), seg(2, 20*us, tsrv, tcli, fRST, 7001, 0, 0), true},
	} {
		kept, of := dropDuplicates([]*frame{c.orig, c.copy}, (*frame).captureDuplicate)
		if got := of[c.copy] == c.orig; got != c.dup || len(kept)+len(of) != 2 {
			t.Errorf("%s: duplicate %v (kept %d), want %v", name, got, len(kept), c.dup)
		}
	}
	// A copy is compared with every earlier kept frame of its 4-tuple
	// less than 1 ms before it: a third copy is one too, and so is the
	// copy of a burst's first segment after the second came in. Without
	// an IP ID, a segment of the peer's between the two keeps the second
	// (it may answer that segment, as a SYN_RECV socket sends its SYN-ACK
	// again for a retransmitted SYN); with one, it does not.
	dup := (*frame).captureDuplicate
	const ms = time.Millisecond
	noID := func(f *frame) *frame { f.ipid = 0; return f }
	withTS := func(f *frame) *frame { f.ts, f.tsval, f.tsecr = true, 7000, 3000; return f }
	fromPeer := seg(2, 10*us, tsrv, tcli, fACK|fPSH, 7001, 1101, 100)
	for name, c := range map[string]struct {
		frames  []*frame
		dropped []int
	}{
		"three copies":                   {[]*frame{data(1, 0), data(2, 10*us), data(3, 20*us)}, []int{2, 3}},
		"a burst's copies interleaved":   {[]*frame{data(1, 0), seg(2, 5*us, tcli, tsrv, fACK|fFIN, 1101, 7001, 0), data(3, 20*us), seg(4, 25*us, tcli, tsrv, fACK|fFIN, 1101, 7001, 0)}, []int{3, 4}},
		"the peer between, IP ID":        {[]*frame{data(1, 0), fromPeer, data(3, 20*us)}, []int{3}},
		"the peer between, no IP ID":     {[]*frame{noID(data(1, 0)), fromPeer, noID(data(3, 20*us))}, nil},
		"the peer between, routed":       {[]*frame{noID(data(1, 0)), fromPeer, func() *frame { f := noID(data(3, 20*us)); f.ttl--; return f }()}, []int{3}},
		"the peer before, no IP ID":      {[]*frame{seg(1, 0, tsrv, tcli, fACK|fPSH, 7001, 1101, 100), noID(data(2, 10*us)), noID(data(3, 20*us))}, []int{3}},
		"a SYN-ACK again after the SYN":  {[]*frame{noID(seg(1, 0, tsrv, tcli, fSYN|fACK, 7000, 1001, 0)), syn(2, 10*us, tcli, 1000), noID(seg(3, 20*us, tsrv, tcli, fSYN|fACK, 7000, 1001, 0))}, nil},
		"another 4-tuple between":        {[]*frame{data(1, 0), seg(2, 10*us, netip.MustParseAddrPort("198.51.100.10:40001"), tsrv, fACK, 5, 5, 0), data(3, 20*us)}, []int{3}},
		"beyond 1 ms of the first frame": {[]*frame{data(1, 0), data(2, 999*us), data(3, 1001*us)}, []int{2}},
		// Captures of both ends merged: copies a one-way delay later
		// count with the timestamp option, whatever came between.
		"20 ms later, timestamps":    {[]*frame{withTS(noID(data(1, 0))), fromPeer, withTS(noID(data(3, 20*ms)))}, []int{3}},
		"20 ms later, no timestamps": {[]*frame{data(1, 0), data(2, 20*ms)}, nil},
		"a second later, timestamps": {[]*frame{withTS(data(1, 0)), withTS(data(2, time.Second))}, nil},
	} {
		kept, of := dropDuplicates(c.frames, dup)
		var got []int
		for _, f := range c.frames {
			if of[f] != nil {
				got = append(got, f.no)
			}
		}
		if !slices.Equal(got, c.dropped) || len(kept)+len(of) != len(c.frames) {
			t.Errorf("%s: dropped %v, want %v", name, got, c.dropped)
		}
	}
	// The truth counts them and derives nothing from them: the copy of the
	// SYN is no second transmission.
	sc := &scenario{name: "t"}
	frames := []*frame{syn(1, 0, tcli, 1000), syn(2, 20*us, tcli, 1000), seg(3, time.Millisecond, tsrv, tcli, fSYN|fACK, 7000, 1001, 0),
		seg(4, time.Millisecond+20*us, tsrv, tcli, fSYN|fACK, 7000, 1001, 0)}
	tf, err := deriveTruth(sc, frames, nil, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tf.Duplicates != 2 || tf.Flows[0].LastFrame != 3 || tf.Flows[0].inc.synCount() != 1 || tf.Flows[0].inc.synAckCount() != 1 {
		t.Errorf("duplicates %d, last frame %d, want 2 and 3", tf.Duplicates, tf.Flows[0].LastFrame)
	}
}
