//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNATPairs covers the pairing of flows that are one connection seen
// before and after address translation (TRUTH-FORMAT.md): different
// 4-tuples, a SYN and a SYN-ACK each, the same client and server ISNs.
func TestNATPairs(t *testing.T) {
	const us = time.Microsecond
	svc := netip.MustParseAddrPort("198.51.100.150:80")
	masq := netip.MustParseAddrPort("198.51.100.65:40000")
	other := netip.MustParseAddrPort("198.51.100.65:40001")
	// view is one handshake between c and s, starting at frame no and
	// time at: SYN, SYN-ACK, ACK.
	view := func(no int, at time.Duration, c, s netip.AddrPort, isn, srvISN uint32) []*frame {
		return []*frame{
			seg(no, at, c, s, fSYN, isn, 0, 0),
			seg(no+1, at+100*us, s, c, fSYN|fACK, srvISN, isn+1, 0),
			seg(no+2, at+200*us, c, s, fACK, isn+1, srvISN+1, 0),
		}
	}
	pairs := func(frames []*frame) (string, error) {
		tf, err := deriveTruth(&scenario{name: "t"}, frames, nil, 0, "k", nil)
		if err != nil {
			return "", err
		}
		var s []string
		for _, p := range tf.NATPairs {
			s = append(s, fmt.Sprintf("%s-%s#%d=%s-%s#%d", p[0].Client, p[0].Server, p[0].Incarnation,
				p[1].Client, p[1].Server, p[1].Incarnation))
		}
		return strings.Join(s, " "), nil
	}
	before := "198.51.100.10:40000-198.51.100.150:80#1"
	after := "198.51.100.65:40000-198.51.100.80:8080#1"
	for name, c := range map[string]struct {
		frames []*frame
		want   string
	}{
		"translated": {interleave(view(1, 0, tcli, svc, 1000, 7000), view(1, 10*us, masq, tsrv, 1000, 7000)), before + "=" + after},
		// The flow whose SYN came first is first, whatever its 4-tuple.
		"the translated SYN first": {interleave(view(1, 10*us, tcli, svc, 1000, 7000), view(1, 0, masq, tsrv, 1000, 7000)), after + "=" + before},
		"another client ISN":       {interleave(view(1, 0, tcli, svc, 1000, 7000), view(1, 10*us, masq, tsrv, 1001, 7000)), ""},
		"another server ISN":       {interleave(view(1, 0, tcli, svc, 1000, 7000), view(1, 10*us, masq, tsrv, 1000, 7001)), ""},
		"no SYN-ACK": {interleave(view(1, 0, tcli, svc, 1000, 7000),
			[]*frame{seg(1, 10*us, masq, tsrv, fSYN, 1000, 0, 0)}), ""},
		"no SYN": {interleave(view(1, 0, tcli, svc, 1000, 7000),
			[]*frame{seg(1, 110*us, tsrv, masq, fSYN|fACK, 7000, 1001, 0), seg(2, 210*us, masq, tsrv, fACK, 1001, 7001, 0)}), ""},
		// Three views of one connection (translated twice) make three
		// pairs.
		"three views": {interleave(view(1, 0, tcli, svc, 1000, 7000), view(1, 10*us, masq, tsrv, 1000, 7000),
			view(1, 20*us, other, tsrv, 1000, 7000)),
			before + "=" + after + " " + before + "=198.51.100.65:40001-198.51.100.80:8080#1 " +
				after + "=198.51.100.65:40001-198.51.100.80:8080#1"},
	} {
		got, err := pairs(c.frames)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != c.want {
			t.Errorf("%s: pairs %q, want %q", name, got, c.want)
		}
	}
	// Without a pair the key is absent.
	tf, err := deriveTruth(&scenario{name: "t"}, view(1, 0, tcli, tsrv, 1000, 7000), nil, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(tf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "nat_pairs") {
		t.Errorf("a truth without pairs has the key: %s", js)
	}
}

// interleave merges views in time order and numbers the frames again.
func interleave(views ...[]*frame) []*frame {
	var all []*frame
	for _, v := range views {
		all = append(all, v...)
	}
	slices.SortStableFunc(all, func(a, b *frame) int { return int(a.t - b.t) })
	for i, f := range all {
		f.no = i + 1
	}
	return all
}
