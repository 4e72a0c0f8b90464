//go:build linux

package main

import (
	"net/netip"
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
		"pure ACK, IP ID 0":    {func() *frame { f := ack(1, 0); f.ipid = 0; return f }(), func() *frame { f := ack(2, 20*us); f.ipid = 0; return f }(), false},
		"pure ACK, IPv6":       {v6(ack(1, 0)), v6(ack(2, 20*us)), false},
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
	// A copy is compared with the last frame of its 4-tuple that was
	// kept: a third copy is one too, and a frame in between of the same
	// 4-tuple, either way, ends the run.
	kept, of := dropDuplicates([]*frame{data(1, 0), data(2, 10*us), data(3, 20*us)}, (*frame).captureDuplicate)
	if len(kept) != 1 || kept[0].no != 1 || len(of) != 2 {
		t.Errorf("three copies: kept %d, dropped %d, want the first kept", len(kept), len(of))
	}
	kept, _ = dropDuplicates([]*frame{data(1, 0), ack(2, 10*us), data(3, 20*us)}, (*frame).captureDuplicate)
	if len(kept) != 3 {
		t.Errorf("a copy after another frame of its 4-tuple: kept %d of 3", len(kept))
	}
	other := seg(2, 10*us, netip.MustParseAddrPort("198.51.100.10:40001"), tsrv, fACK, 5, 5, 0)
	kept, _ = dropDuplicates([]*frame{data(1, 0), other, data(3, 20*us)}, (*frame).captureDuplicate)
	if len(kept) != 2 {
		t.Errorf("a copy after a frame of another 4-tuple: kept %d of 3, want 2", len(kept))
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
