//go:build linux

package main

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUnmatchedICMPTruth covers ICMP errors that quote a segment of no
// flow of the capture (TRUTH-FORMAT.md): counted in unmatched_icmp and
// listed in unmatched_icmp_frames, capture duplicates dropped, given to
// no flow, and absent from the file when there are none.
func TestUnmatchedICMPTruth(t *testing.T) {
	const ms = time.Millisecond
	sc := &scenario{name: "t", vantage: vantageClient, framing: frameEthernet}
	// A connection to port 8080, and the server's port unreachables for
	// the client's SYN to port 9090, sent twice 1 s apart, which the
	// capture's filter left out.
	frames := []*frame{
		syn(1, 0, tcli, 1000),
		seg(2, ms, tsrv, tcli, fSYN|fACK, 7000, 1001, 0),
		seg(3, 2*ms, tcli, tsrv, fACK, 1001, 7001, 0),
		seg(6, 1500*ms, tcli, tsrv, fFIN|fACK, 1001, 7001, 0),
		seg(7, 1501*ms, tsrv, tcli, fFIN|fACK, 7001, 1002, 0),
		seg(8, 1502*ms, tcli, tsrv, fACK, 1002, 7002, 0),
	}
	rejected := &frame{src: tcli2, dst: netip.AddrPortFrom(tsrv.Addr(), 9090), flags: fSYN, seq: 5000}
	e1, e2 := unreach(4, 10*ms, tsrv.Addr(), rejected), unreach(5, 1010*ms, tsrv.Addr(), rejected)
	e1.ipid, e2.ipid = 0x100, 0x101
	// A copy of e1 captured twice: a capture duplicate, not counted.
	dup := *e1
	dup.no, dup.t = 5, e1.t+int64(3*time.Microsecond)
	e2.no = 6
	for i := 3; i < len(frames); i++ {
		frames[i].no++
	}
	tf, err := deriveTruth(sc, frames, []*icmpErr{e1, &dup, e2}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	fl := tf.Flows[0]
	if tf.UnmatchedICMP != 2 || !slices.Equal(tf.UnmatchedICMPFrames, []int{4, 6}) || tf.Duplicates != 1 ||
		len(tf.Flows) != 1 || fl.ICMP != nil || fl.ICMPErrors != 0 || fl.LastFrame != 9 || fl.Close.Kind != "three_way" {
		t.Errorf("unmatched %d %v, duplicates %d, %d flows, the flow's ICMP %+v (%d), last frame %d, kind %s; "+
			"want 2 [4 6], 1, 1 flow without ICMP errors, last frame 9, three_way",
			tf.UnmatchedICMP, tf.UnmatchedICMPFrames, tf.Duplicates, len(tf.Flows), fl.ICMP, fl.ICMPErrors, fl.LastFrame, fl.Close.Kind)
	}
	js, err := json.Marshal(tf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"unmatched_icmp":2,"unmatched_icmp_frames":[4,6],"flows":`) {
		t.Errorf("the truth file reads %s", js)
	}

	// An error quoting the server's side of a flow's 4-tuple is the
	// flow's; none unmatched, and the keys are absent.
	m := unreach(10, 1600*ms, tcli.Addr(), frames[4])
	tf, err = deriveTruth(sc, frames, []*icmpErr{m}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if js, _ = json.Marshal(tf); tf.UnmatchedICMP != 0 || strings.Contains(string(js), "unmatched") || len(tf.Flows[0].ICMP) != 1 {
		t.Errorf("an error of the flow: %s", js)
	}

	// An error quoting a 4-tuple whose segments all come after it is
	// neither unmatched nor any flow's: refused.
	later := syn(9, 2*time.Second, tcli2, 5000)
	if _, err := deriveTruth(sc, append(slices.Clone(frames[:3]), later), []*icmpErr{unreach(4, 10*ms, trtr, later)}, 0, "k", nil); err == nil {
		t.Error("an error quoting a connection the capture shows only after it: a truth derived")
	}
}
