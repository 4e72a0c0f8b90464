//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/teardown/teardown/analyze"
)

// TestReplyRSTTruth covers the reset cause of a RST instead of a FIN
// (TRUTH-FORMAT.md, Close): a bare [R], from the kernel's reply path,
// that answers the peer's latest segment is no-socket (after a silence,
// naming the conntrack timeout), one that does not is unknown; an [R.]
// from a socket that had read the peer's data and sent none after it is
// unread-data.
func TestReplyRSTTruth(t *testing.T) {
	const ms = time.Millisecond
	sc := &scenario{name: "t", vantage: vantageClient, framing: frameEthernet}
	frames := func(rst int, seq uint32) []*frame {
		return []*frame{
			syn(1, 0, tcli, 1000),
			seg(2, 40*ms, tsrv, tcli, fSYN|fACK, 7000, 1001, 0),
			seg(3, 40*ms, tcli, tsrv, fACK, 1001, 7001, 0),
			seg(4, 60*ms, tcli, tsrv, fACK|fPSH, 1001, 7001, 100),
			seg(5, 100*ms, tsrv, tcli, fACK|fPSH, 7001, 1101, 300),
			seg(6, 100*ms, tcli, tsrv, fACK, 1101, 7301, 0),
			seg(7, 3600*ms, tcli, tsrv, fACK|fPSH, 1101, 7301, 100),
			seg(8, 3640*ms, tsrv, tcli, rst, seq, map[int]uint32{fRST: 0, fRST | fACK: 1201}[rst], 0),
		}
	}
	for _, c := range []struct {
		flags  int
		seq    uint32
		cause  string
		diags  []string
		sysctl string
	}{
		{fRST, 7301, analyze.CauseNoSocket, []string{analyze.CodeRstNoSocket}, "net.netfilter.nf_conntrack_tcp_timeout_established"},
		{fRST, 9000, analyze.CauseUnknown, nil, ""},
		{fRST | fACK, 7301, analyze.CauseUnreadData, []string{analyze.CodeRstUnreadData}, ""},
	} {
		tf, err := deriveTruth(sc, frames(c.flags, c.seq), nil, 0, "k", nil)
		if err != nil {
			t.Fatal(err)
		}
		fl := tf.Flows[0]
		var got []string
		for _, d := range fl.Diagnoses {
			got = append(got, d.Code)
		}
		if r := fl.Close.Reset; r == nil || r.By != "server" || r.Cause != c.cause || len(got) != len(c.diags) ||
			(len(got) > 0 && (got[0] != c.diags[0] || fl.Diagnoses[0].Sysctl != c.sysctl)) {
			t.Errorf("flags %#x: reset %+v, diagnoses %v, want by server, cause %q, diagnoses %v", c.flags, r, got, c.cause, c.diags)
		}
	}
}
