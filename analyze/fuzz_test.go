package analyze

import (
	"encoding/binary"
	"math"
	"net/netip"
	"testing"

	"github.com/teardown/teardown/flows"
)

// fuzzSegments turns bytes into segments on three 4-tuples: 12 bytes a
// segment (tuple and direction, flags, time step, sequence and
// acknowledgement offsets, payload length, window), with sequence numbers
// near each side's running numbers so that closes, resets and reuses
// happen often.
func fuzzSegments(data []byte) []flows.Segment {
	tuples := [3][2]netip.AddrPort{
		{netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")},
		{netip.MustParseAddrPort("10.0.0.1:40001"), netip.MustParseAddrPort("10.0.0.2:80")},
		{netip.MustParseAddrPort("[2001:db8::1]:5000"), netip.MustParseAddrPort("[2001:db8::2]:443")},
	}
	var nxt [3][2]uint32
	var segs []flows.Segment
	now := int64(1e18)
	for len(data) >= 12 {
		b := data[:12]
		data = data[12:]
		t, dir := int(b[0]%3), int(b[0]>>7)
		now += int64(binary.LittleEndian.Uint16(b[2:])) * int64(1+b[0]>>4&7) * 1e5
		s := flows.Segment{
			Frame: uint64(len(segs) + 1), Time: now,
			Src: tuples[t][dir], Dst: tuples[t][1-dir],
			Flags:      flows.Flags(b[1]),
			Seq:        nxt[t][dir] + uint32(int8(b[4])),
			Ack:        nxt[t][1-dir] + uint32(int8(b[5])),
			PayloadLen: uint32(b[6]) * 10,
			Window:     binary.LittleEndian.Uint16(b[7:]),
			HasTS:      b[9]&1 != 0, TSval: uint32(len(segs)),
			SACKPerm: b[9]&2 != 0, WScale: int8(b[9]>>4) - 1,
			IPID: uint16(b[10]), DF: b[10]&1 != 0,
			TTL: 64 - b[11]&1, // a RST one hop nearer reads as a middlebox's
		}
		if b[11] == 0xff {
			s.Seq = binary.LittleEndian.Uint32(b[4:8]) // a far jump: a new ISN
		}
		if e := s.End(); flows.SeqLess(nxt[t][dir], e) || b[11] == 0xff {
			nxt[t][dir] = e
		}
		segs = append(segs, s)
	}
	return segs
}

// FuzzRun feeds arbitrary segment sequences through the table and the
// close engine: nothing may panic, and every flow must come out whole.
func FuzzRun(f *testing.F) {
	f.Add([]byte("\x00\x02\x01\x00\x00\x00\x00\x00\x10\x03\x00\x00\x80\x12\x01\x00\x00\x00\x00\x00\x10\x03\x00\x00\x00\x10\x01\x00\x00\x00\x00\x00\x10\x03\x00\x00\x00\x11\x01\x00\x00\x00\x00\x00\x10\x03\x00\x00\x80\x11\x01\x00\x00\x00\x00\x00\x10\x03\x00\x00"))
	f.Add([]byte("\x01\x02\x01\x00\x00\x00\x05\x00\x10\x00\x00\x00\x81\x14\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x02\x00\x10\x05\x00\x00\x00\x00\x00\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs := fuzzSegments(data)
		for _, maxFlows := range []int{0, 1} {
			res, err := Run(&sliceSource{segs: segs}, Options{MaxFlows: maxFlows})
			if err != nil {
				t.Fatal(err)
			}
			for i, fl := range res.Flows {
				if fl.ID != i+1 && maxFlows == 0 {
					t.Fatalf("flow %d has id %d", i+1, fl.ID)
				}
				for _, sd := range []*Side{fl.Sides.Client, fl.Sides.Server} {
					if sd == nil || sd.FinalState == 0 || sd.Durations == nil || sd.FinFrames == nil || sd.States == nil {
						t.Fatalf("flow %d: incomplete side %+v", fl.ID, sd)
					}
					if n := len(sd.States); n > 0 && sd.States[n-1].State != sd.FinalState {
						t.Fatalf("flow %d: final state %s is not the last entry %s", fl.ID, sd.FinalState, sd.States[n-1].State)
					}
					for k, d := range sd.Durations {
						if d < 0 || d != d {
							t.Fatalf("flow %d: %s lasted %v", fl.ID, k, d)
						}
					}
				}
				if fl.Close.Kind == "" || fl.Close.Initiator == "" {
					t.Fatalf("flow %d: close %+v", fl.ID, fl.Close)
				}
				if r := fl.RTT; r != nil && r.Client == nil && r.Server == nil {
					t.Fatalf("flow %d: an RTT with neither round trip", fl.ID)
				}
				for _, x := range []Role{Client, Server} {
					rtt, ok := fl.RTT.Of(x)
					if ok && !(rtt >= 0) {
						t.Fatalf("flow %d: round trip to the %s %v", fl.ID, x, rtt)
					}
					// A side lives each span at most its round trip
					// longer or shorter than the capture shows it.
					for _, sp := range Lived(fl, x) {
						if !(sp.Seen >= 0) || !(sp.Lived >= 0) || math.Abs(sp.Lived-sp.Seen) > rtt+1e-9 {
							t.Fatalf("flow %d: the %s lived %+v with round trip %v", fl.ID, x, sp, rtt)
						}
					}
				}
				if (fl.Close.Kind == ResetKind || fl.Close.Kind == Rejected) != (fl.Close.Reset != nil) {
					t.Fatalf("flow %d: kind %s with reset %+v", fl.ID, fl.Close.Kind, fl.Close.Reset)
				}
				if fl.FirstFrame > fl.LastFrame || fl.Diagnoses == nil {
					t.Fatalf("flow %d: frames %d..%d, diagnoses %v", fl.ID, fl.FirstFrame, fl.LastFrame, fl.Diagnoses)
				}
			}
		}
	})
}
