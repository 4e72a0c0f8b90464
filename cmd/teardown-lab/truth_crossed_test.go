//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/teardown/teardown/analyze"
)

// TestCrossedDataTruth covers the reset cause of a RST that answers peer
// data which crossed the sender's FIN (TRUTH-FORMAT.md, Close): the
// capture shows the data before the FIN, which does not acknowledge it.
func TestCrossedDataTruth(t *testing.T) {
	const ms = time.Millisecond
	sc := &scenario{name: "t", vantage: vantageClient, framing: frameEthernet}
	exchange := func() []*frame {
		return []*frame{
			syn(1, 0, tcli, 1000),
			seg(2, 40*ms, tsrv, tcli, fSYN|fACK, 7000, 1001, 0),
			seg(3, 40*ms, tcli, tsrv, fACK, 1001, 7001, 0),
			seg(4, 60*ms, tcli, tsrv, fACK|fPSH, 1001, 7001, 100),
			seg(5, 100*ms, tsrv, tcli, fACK|fPSH, 7001, 1101, 300),
			seg(6, 100*ms, tcli, tsrv, fACK, 1101, 7301, 0),
		}
	}
	cause := func(frames []*frame) string {
		t.Helper()
		tf, err := deriveTruth(sc, frames, nil, 0, "k", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := tf.Flows[0].Close.Reset; r != nil {
			return r.Cause
		}
		return ""
	}

	// The client's request leaves before the server's FIN arrives, which
	// does not acknowledge it; the server's reply-RST answers it.
	crossed := append(exchange(),
		seg(7, 1105*ms, tcli, tsrv, fACK|fPSH, 1101, 7301, 100),
		seg(8, 1120*ms, tsrv, tcli, fFIN|fACK, 7301, 1101, 0),
		seg(9, 1145*ms, tsrv, tcli, fRST, 7301, 0, 0))
	if c := cause(crossed); c != analyze.CauseDataAfterClose {
		t.Errorf("data that crossed the FIN: cause %q, want %q", c, analyze.CauseDataAfterClose)
	}

	// The FIN acknowledges the request (it arrived before close()): the
	// RST answers nothing the wire shows.
	acked := append(exchange(),
		seg(7, 1105*ms, tcli, tsrv, fACK|fPSH, 1101, 7301, 100),
		seg(8, 1120*ms, tsrv, tcli, fFIN|fACK, 7301, 1201, 0),
		seg(9, 1145*ms, tsrv, tcli, fRST, 7302, 0, 0))
	if c := cause(acked); c == analyze.CauseDataAfterClose {
		t.Errorf("data the FIN acknowledged: cause %q", c)
	}

	// A segment of the server's acknowledges the request before the RST.
	later := append(exchange(),
		seg(7, 1105*ms, tcli, tsrv, fACK|fPSH, 1101, 7301, 100),
		seg(8, 1120*ms, tsrv, tcli, fFIN|fACK, 7301, 1101, 0),
		seg(9, 1125*ms, tsrv, tcli, fACK, 7302, 1201, 0),
		seg(10, 1145*ms, tsrv, tcli, fRST, 7302, 0, 0))
	if c := cause(later); c == analyze.CauseDataAfterClose {
		t.Errorf("data the server acknowledged after its FIN: cause %q", c)
	}
}
