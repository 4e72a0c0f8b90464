//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestNATPartial covers the flows made of one side's segments half
// translated (TRUTH-FORMAT.md): a first segment that is a SYN-ACK
// answering, less than 1 s later, a SYN of another flow, named with the
// flow of the latest such SYN, and diagnosed with nothing.
func TestNATPartial(t *testing.T) {
	const us, ms = time.Microsecond, time.Millisecond
	svc := netip.MustParseAddrPort("198.51.100.150:80")
	masq := netip.MustParseAddrPort("198.51.100.65:40000")
	const isn, srvISN = 1000, 7000
	// half is the server's segments on the half translated 4-tuple
	// (tsrv to tcli), starting at at: its SYN-ACK to ack, 300 bytes, its
	// FIN.
	half := func(at time.Duration, ack uint32) []*frame {
		return []*frame{
			seg(0, at, tsrv, tcli, fSYN|fACK, srvISN, ack, 0),
			seg(0, at+time.Millisecond, tsrv, tcli, fPSH|fACK, srvISN+1, ack+100, 300),
			seg(0, at+150*time.Millisecond, tsrv, tcli, fFIN|fACK, srvISN+301, ack+101, 0),
		}
	}
	// views is the handshake before translation (tcli to svc) and after
	// it (masq to tsrv), the client's SYN at at.
	views := func(at time.Duration) []*frame {
		return []*frame{
			seg(0, at, tcli, svc, fSYN, isn, 0, 0),
			seg(0, at+10*us, masq, tsrv, fSYN, isn, 0, 0),
			seg(0, at+20*us, tsrv, masq, fSYN|fACK, srvISN, isn+1, 0),
			seg(0, at+30*us, svc, tcli, fSYN|fACK, srvISN, isn+1, 0),
			seg(0, at+40*us, tcli, svc, fACK, isn+1, srvISN+1, 0),
			seg(0, at+50*us, masq, tsrv, fACK, isn+1, srvISN+1, 0),
		}
	}
	derive := func(frames []*frame) (*truthFile, string) {
		tf, err := deriveTruth(&scenario{name: "t"}, frames, nil, 0, "k", nil)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, p := range tf.NATPartial {
			s = append(s, fmt.Sprintf("%s-%s#%d<%s-%s#%d", p.Flow.Client, p.Flow.Server, p.Flow.Incarnation,
				p.Of.Client, p.Of.Server, p.Of.Incarnation))
		}
		return tf, strings.Join(s, " ")
	}
	partial := "198.51.100.10:40000-198.51.100.80:8080#1"
	after := "198.51.100.65:40000-198.51.100.80:8080#1"
	before := "198.51.100.10:40000-198.51.100.150:80#1"
	for name, c := range map[string]struct {
		frames []*frame
		want   string
	}{
		// The latest SYN with the ISN is the translated one.
		"half translated": {interleave(views(0), half(25*us, isn+1)), partial + "<" + after},
		// Before translation alone: the client's view.
		"one view":    {interleave(views(0)[:1], half(25*us, isn+1)), partial + "<" + before},
		"another ISN": {interleave(views(0), half(25*us, isn+2)), ""},
		// The SYN came a second or more before the SYN-ACK.
		"a second later": {interleave(views(0)[:2], half(time.Second+10*us, isn+1)), ""},
		// A retransmitted SYN counts: the latest transmission is 1 s
		// before it.
		"a SYN again": {interleave(views(0)[:1], []*frame{seg(0, time.Second, tcli, svc, fSYN, isn, 0, 0)},
			half(time.Second+25*us, isn+1)), partial + "<" + before},
		// A SYN after the SYN-ACK is answered by no SYN-ACK before it.
		"SYN after": {interleave(half(0, isn+1), views(10 * ms)[:1]), ""},
		// Its 4-tuple's first segment is not a SYN-ACK.
		"data first": {interleave(views(0), half(25*us, isn+1)[1:]), ""},
	} {
		tf, got := derive(c.frames)
		if got != c.want {
			t.Errorf("%s: nat_partial %q, want %q", name, got, c.want)
		}
		for _, fl := range tf.Flows {
			id := fmt.Sprintf("%s-%s#%d", fl.Client, fl.Server, fl.Incarnation)
			var codes []string
			for _, d := range fl.Diagnoses {
				codes = append(codes, d.Code)
			}
			switch {
			case id == partial && c.want != "" && len(codes) > 0:
				t.Errorf("%s: the half translated flow is diagnosed %v, want none", name, codes)
			case id == partial && c.want == "" && len(codes) == 0:
				// Without the mark, the rules read a capture that
				// missed packets.
				t.Errorf("%s: the unmarked flow has no diagnosis", name)
			}
		}
		js, err := json.Marshal(tf)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(js), `"nat_partial"`); has != (c.want != "") {
			t.Errorf("%s: the key nat_partial present %v, want %v", name, has, c.want != "")
		}
	}
}
