//go:build linux

package main

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestDropICMPDuplicates covers the capture duplicate rule of ICMP errors
// (TRUTH-FORMAT.md): an error that repeats one of the capture's four
// latest kept before it, less than 1 ms after it, in all but its TTL.
func TestDropICMPDuplicates(t *testing.T) {
	const us = time.Microsecond
	s1 := syn(1, 0, tcli, 1000)
	// err is the server's port unreachable for s1 at, with its IP ID
	// and TTL.
	err := func(no int, at time.Duration) *icmpErr {
		m := unreach(no, at, tsrv.Addr(), s1)
		m.ipid, m.ttl = 0x811c, 64
		return m
	}
	with := func(m *icmpErr, f func(*icmpErr)) *icmpErr { f(m); return m }
	v6 := func(m *icmpErr) {
		m.v6, m.typ, m.code, m.ipid = true, 1, 4, -1
		m.from = netip.MustParseAddr("2001:db8:2::80")
		m.src, m.dst = netip.MustParseAddrPort("[2001:db8:1::10]:40000"), netip.MustParseAddrPort("[2001:db8:2::80]:8080")
	}
	for name, c := range map[string]struct {
		orig, copy *icmpErr
		dup        bool
	}{
		"TTL one lower":       {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.ttl = 63 }), true},
		"same instant":        {err(1, 0), err(2, 0), true},
		"999 µs later":        {err(1, 0), err(2, 999*us), true},
		"1 ms later":          {err(1, 0), err(2, time.Millisecond), false},
		"earlier":             {err(1, 3*us), err(2, 0), false},
		"other IP ID":         {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.ipid++ }), false},
		"other type":          {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.typ = 11; m.code = 0 }), false},
		"other code":          {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.code = 1 }), false},
		"other source":        {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.from = trtr }), false},
		"other MTU":           {with(err(1, 0), func(m *icmpErr) { m.code, m.mtu = 4, 1000 }), with(err(2, 3*us), func(m *icmpErr) { m.code, m.mtu = 4, 1280 }), false},
		"other seq":           {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.seq++ }), false},
		"other ack":           {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.ack = 7001 }), false},
		"ack not quoted":      {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.ack = -1 }), false},
		"other flags":         {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.flags = fSYN | fACK }), false},
		"other port":          {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.src = tcli2 }), false},
		"other direction":     {err(1, 0), with(err(2, 3*us), func(m *icmpErr) { m.src, m.dst = m.dst, m.src }), false},
		"IPv6, no IP ID":      {with(err(1, 0), v6), with(err(2, 3*us), func(m *icmpErr) { v6(m); m.ttl = 63 }), true},
		"quotes without ACKs": {with(err(1, 0), func(m *icmpErr) { m.ack, m.flags = -1, -1 }), with(err(2, 3*us), func(m *icmpErr) { m.ack, m.flags = -1, -1 }), true},
	} {
		kept, of := dropICMPDuplicates([]*icmpErr{c.orig, c.copy})
		if got := of[c.copy] == c.orig; got != c.dup || len(kept)+len(of) != 2 {
			t.Errorf("%s: duplicate %v (kept %d), want %v", name, got, len(kept), c.dup)
		}
	}
	// Each error is compared with the four latest kept before it: a
	// third copy is one too, and so is a copy another error came between,
	// but not one four others came between.
	other := with(err(2, 2*us), func(m *icmpErr) { m.ipid++ })
	for name, c := range map[string]struct {
		errs    []*icmpErr
		dropped []int
	}{
		"three copies":          {[]*icmpErr{err(1, 0), err(2, 3*us), err(3, 6*us)}, []int{2, 3}},
		"another error between": {[]*icmpErr{err(1, 0), other, err(3, 4*us)}, []int{3}},
		"four errors between": {[]*icmpErr{err(1, 0),
			with(err(2, 1*us), func(m *icmpErr) { m.ipid += 1 }), with(err(3, 2*us), func(m *icmpErr) { m.ipid += 2 }),
			with(err(4, 3*us), func(m *icmpErr) { m.ipid += 3 }), with(err(5, 4*us), func(m *icmpErr) { m.ipid += 4 }),
			err(6, 5*us)}, nil},
		"two errors, twice":        {[]*icmpErr{err(1, 0), err(2, 3*us), with(err(3, time.Second), func(m *icmpErr) { m.ipid++ }), with(err(4, time.Second+3*us), func(m *icmpErr) { m.ipid++ })}, []int{2, 4}},
		"beyond 1 ms of the first": {[]*icmpErr{err(1, 0), err(2, 999*us), err(3, 1001*us)}, []int{2}},
	} {
		kept, of := dropICMPDuplicates(c.errs)
		var got []int
		for _, m := range c.errs {
			if of[m] != nil {
				got = append(got, m.no)
			}
		}
		if !slices.Equal(got, c.dropped) || len(kept)+len(of) != len(c.errs) {
			t.Errorf("%s: dropped %v, want %v", name, got, c.dropped)
		}
	}
	// The truth counts them with the TCP copies and derives nothing from
	// them: captured twice in a router, the SYN, its retransmission and
	// the server's port unreachable for each, the first of which arrived
	// while connect() held the socket's lock; a second connection 1.5 s
	// later shows that no SYN followed the second error.
	sc := &scenario{name: "t", vantage: vantageRouter, framing: frameSLL2}
	copyOf := func(f *frame, no int) *frame { c := *f; c.no, c.t, c.ttl = no, f.t+int64(20*us), 63; return &c }
	retry := syn(5, time.Second, tcli, 1000)
	retry.ipid = 2
	second := syn(9, 2500*time.Millisecond, tcli2, 5000)
	frames := []*frame{s1, copyOf(s1, 2), retry, copyOf(retry, 6), second, copyOf(second, 10)}
	e1, e2 := err(3, 200*us), with(err(7, time.Second+200*us), func(m *icmpErr) { m.ipid++ })
	icmps := []*icmpErr{e1, with(err(4, 203*us), func(m *icmpErr) { m.ttl = 63 }),
		e2, with(err(8, time.Second+203*us), func(m *icmpErr) { m.ipid, m.ttl = e2.ipid, 63 })}
	tf, derr := deriveTruth(sc, frames, icmps, 0, "k", nil)
	if derr != nil {
		t.Fatal(derr)
	}
	fl := tf.Flows[0]
	var got []int
	for _, m := range fl.ICMP {
		got = append(got, m.Frame)
	}
	if tf.Duplicates != 5 || !slices.Equal(got, []int{3, 7}) || fl.ICMPErrors != 2 || fl.LastFrame != 7 ||
		fl.Close.Kind != "rejected" || !slices.Equal(stateNames(fl.Sides.Client.States), []string{"SYN_SENT@1", "CLOSED@7"}) ||
		!slices.Equal(diagSides(fl), []string{"syn-rejected-icmp/server"}) {
		t.Errorf("duplicates %d, ICMP frames %v (%d), last frame %d, kind %s, client %v, diagnoses %v; "+
			"want 5, [3 7] (2), 7, rejected, [SYN_SENT@1 CLOSED@7], [syn-rejected-icmp/server]",
			tf.Duplicates, got, fl.ICMPErrors, fl.LastFrame, fl.Close.Kind, stateNames(fl.Sides.Client.States), diagSides(fl))
	}
}
