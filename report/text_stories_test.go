package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/teardown/teardown/analyze"
)

// The stories below are hand-made results of the kind analyze produces,
// each internally consistent: frame numbers and times come from one
// timeline per capture, so an event, a state entry and a diagnosis that
// name frame 17 all mean the same packet at the same time. The behaviour
// follows KERNEL.md (Linux 6.18, veth lab): delayed ACK of a FIN in
// CLOSE_WAIT (40 ms), the three-way close, FIN_WAIT2 expiry answered by a
// reply-RST, a tail-loss probe then RTO backoff for a lost FIN, crossed
// FINs through CLOSING, and TIME_WAIT reuse with the ISN fingerprint.

// timeline maps a capture's frame numbers to their offsets in seconds from
// its base time.
type timeline struct {
	base   time.Time
	offset map[uint64]float64
}

func (tl timeline) at(frame uint64) analyze.Time {
	s, ok := tl.offset[frame]
	if !ok {
		panic(fmt.Sprintf("frame %d is not on the timeline", frame))
	}
	return tl.time(s)
}

func (tl timeline) time(sec float64) analyze.Time {
	return analyze.Time(tl.base.UnixNano() + int64(math.Round(sec*1e9)))
}

func (tl timeline) ev(frame uint64, from analyze.Role, flags, note string) analyze.Event {
	return analyze.Event{Frame: frame, At: tl.at(frame), From: from, Flags: flags, Note: note}
}

// handshake returns the three events of a handshake on frames n, n+1, n+2.
func (tl timeline) handshake(n uint64) []analyze.Event {
	return []analyze.Event{
		tl.ev(n, analyze.Client, "S", "syn"),
		tl.ev(n+1, analyze.Server, "S.", "syn-ack"),
		tl.ev(n+2, analyze.Client, ".", "ack"),
	}
}

func (tl timeline) st(s analyze.State, frame uint64) analyze.StateEntry {
	return analyze.StateEntry{State: s, Frame: frame, At: tl.at(frame)}
}

func (tl timeline) rst(s analyze.State, frame uint64) analyze.StateEntry {
	e := tl.st(s, frame)
	e.Via = "rst"
	return e
}

// inferred is a state entry no captured segment shows: the handshake
// before the capture began, proven by frame.
func (tl timeline) inferred(s analyze.State, frame uint64) analyze.StateEntry {
	e := tl.st(s, frame)
	e.Inferred = true
	return e
}

// openEnded marks a side whose final state outlasted the capture.
func openEnded(s *analyze.Side) *analyze.Side {
	s.OpenEnded = true
	return s
}

func side(final analyze.State, durations map[string]float64, fins []uint64, states ...analyze.StateEntry) *analyze.Side {
	return &analyze.Side{
		States:     states,
		FinFrames:  fins,
		Durations:  durations,
		FinalState: final,
	}
}

// fourWay is a clean close the client starts, to 198.51.100.2:8080: the
// handshake on frames syn to syn+2, the client's FIN at fin, the server's
// ACK of it, its FIN and the client's ACK on the three frames after.
func (tl timeline) fourWay(id int, client string, syn, fin uint64, clientDur, serverDur map[string]float64) *analyze.Flow {
	c, s := analyze.Client, analyze.Server
	return &analyze.Flow{
		ID: id, Incarnation: 1, Client: client, Server: "198.51.100.2:8080",
		Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
		FirstFrame: syn, LastFrame: fin + 3, Start: tl.at(syn), End: tl.at(fin + 3),
		Close: analyze.Close{Initiator: c, Kind: analyze.FourWay},
		Sides: analyze.Sides{
			Client: side(analyze.TimeWait, clientDur, []uint64{fin},
				tl.st(analyze.SynSent, syn), tl.st(analyze.Established, syn+1), tl.st(analyze.FinWait1, fin),
				tl.st(analyze.FinWait2, fin+1), tl.st(analyze.TimeWait, fin+2)),
			Server: side(analyze.Closed, serverDur, []uint64{fin + 2},
				tl.st(analyze.SynRecv, syn), tl.st(analyze.Established, syn+2), tl.st(analyze.CloseWait, fin),
				tl.st(analyze.LastAck, fin+2), tl.st(analyze.Closed, fin+3)),
		},
		Diagnoses: []analyze.Diagnosis{},
		Events: append(tl.handshake(syn),
			tl.ev(fin, c, "F.", "fin"), tl.ev(fin+1, s, ".", "ack-of-fin"),
			tl.ev(fin+2, s, "F.", "fin"), tl.ev(fin+3, c, ".", "ack-of-fin")),
	}
}

// incident is the main story: 9 connections between 198.51.100.0/24 hosts
// over 72.8 s of one capture.
var incident = timeline{
	base: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
	offset: map[uint64]float64{
		// flow 1: four-way close, the server's ACK of the client's FIN
		// delayed 40 ms (CLOSE_WAIT pingpong), its FIN 46 ms later.
		1: 0.000000, 2: 0.000105, 3: 0.000160, 4: 0.000300, 5: 0.000410, 6: 0.411800, 7: 0.411900,
		8: 0.412310, 9: 0.452551, 10: 0.498120, 11: 0.498161,
		// flow 3: FIN_WAIT2 timeout; its late FIN and RST are 125, 126.
		12: 1.000000, 13: 1.000101, 14: 1.000155, 15: 1.000400, 16: 1.002100, 17: 1.210000, 18: 1.250230,
		// flow 2: three-way close (the server's FIN+ACK acknowledges).
		19: 2.100000, 20: 2.100098, 21: 2.100150, 22: 2.100300, 23: 2.204800, 24: 2.205000, 25: 2.205090, 26: 2.205130,
		// flow 4: FIN, TLP at +205 ms, RTOs at +412 ms, +842 ms, +1.672 s.
		27: 3.000000, 28: 3.000420, 29: 3.000470, 30: 3.000900, 31: 3.050000,
		32: 3.100000, 33: 3.305000, 34: 3.512000, 35: 3.942000, 36: 4.772000, 37: 4.812410, 38: 4.830000, 39: 4.830400,
		// flow 5: crossed FINs, simultaneous close through CLOSING.
		40: 5.000000, 41: 5.000100, 42: 5.000150, 43: 5.000300, 44: 5.100000, 45: 5.300000, 46: 5.300020, 47: 5.300065, 48: 5.300080,
		// flow 6: four-way close; the client's TIME_WAIT is reused by flow 7.
		49: 6.000000, 50: 6.000100, 51: 6.000150, 52: 6.000300, 53: 6.399000, 54: 6.400000, 55: 6.440100, 56: 6.441000, 57: 6.441050,
		// flow 7: the same 4-tuple 1.02 s after frame 57, still open at the end.
		58: 7.461050, 59: 7.461150, 60: 7.461200, 61: 7.500000, 62: 7.600000,
		// flow 8: the client shuts down its write side after its request;
		// the server sends 34 segments (48,213 B) until frame 118, the
		// client ACKs them (frames 69-119), then nothing.
		63: 8.000000, 64: 8.000100, 65: 8.000150, 66: 8.000300, 67: 8.000400, 68: 8.000500, 69: 8.001000,
		118: 10.500000, 119: 10.500050,
		// flow 9: the server closes with the client's request unread: RST.
		120: 11.000000, 121: 11.000100, 122: 11.000150, 123: 11.000300, 124: 11.020000,
		// flow 3, continued: the server's FIN 71.3 s after the client's,
		// answered by a reply-RST; then three ARP frames.
		125: 72.510000, 126: 72.510061, 127: 72.600000, 128: 72.700000, 129: 72.800000,
	},
}

func incidentResult() *analyze.Result {
	tl := incident
	const (
		c = analyze.Client
		s = analyze.Server
	)
	flows := []*analyze.Flow{
		tl.fourWay(1, "198.51.100.1:39602", 1, 8,
			map[string]float64{"FIN_WAIT1": 0.040241, "FIN_WAIT2": 0.045569, "TIME_WAIT": 60},
			map[string]float64{"CLOSE_WAIT": 0.085810, "LAST_ACK": 0.000041}),
		{
			ID: 2, Incarnation: 1, Client: "198.51.100.1:39608", Server: "198.51.100.2:8080",
			Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
			FirstFrame: 19, LastFrame: 26, Start: tl.at(19), End: tl.at(26),
			Close: analyze.Close{Initiator: c, Kind: analyze.ThreeWay},
			Sides: analyze.Sides{
				Client: side(analyze.TimeWait, map[string]float64{"FIN_WAIT1": 0.000090, "FIN_WAIT2": 0, "TIME_WAIT": 60},
					[]uint64{24},
					tl.st(analyze.SynSent, 19), tl.st(analyze.Established, 20), tl.st(analyze.FinWait1, 24),
					tl.st(analyze.FinWait2, 25), tl.st(analyze.TimeWait, 25)),
				Server: side(analyze.Closed, map[string]float64{"CLOSE_WAIT": 0.000090, "LAST_ACK": 0.000040},
					[]uint64{25},
					tl.st(analyze.SynRecv, 19), tl.st(analyze.Established, 21), tl.st(analyze.CloseWait, 24),
					tl.st(analyze.LastAck, 25), tl.st(analyze.Closed, 26)),
			},
			Diagnoses: []analyze.Diagnosis{},
			Events: append(tl.handshake(19),
				tl.ev(24, c, "F.", "fin"), tl.ev(25, s, "F.", "fin"), tl.ev(26, c, ".", "ack-of-fin")),
		},
		{
			ID: 3, Incarnation: 1, Client: "198.51.100.1:39606", Server: "198.51.100.2:8080",
			Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
			FirstFrame: 12, LastFrame: 126, Start: tl.at(12), End: tl.at(126),
			Close: analyze.Close{Initiator: c, Kind: analyze.ResetKind,
				Reset: &analyze.Reset{By: c, Frame: 126, State: analyze.Closed, Cause: analyze.CauseFinWait2Timeout}},
			Sides: analyze.Sides{
				Client: side(analyze.Closed, map[string]float64{"FIN_WAIT1": 0.040230, "FIN_WAIT2": 71.259770},
					[]uint64{17},
					tl.st(analyze.SynSent, 12), tl.st(analyze.Established, 13), tl.st(analyze.FinWait1, 17),
					tl.st(analyze.FinWait2, 18), tl.st(analyze.Closed, 126)),
				Server: side(analyze.Closed, map[string]float64{"CLOSE_WAIT": 71.3, "LAST_ACK": 0.000061},
					[]uint64{125},
					tl.st(analyze.SynRecv, 12), tl.st(analyze.Established, 14), tl.st(analyze.CloseWait, 17),
					tl.st(analyze.LastAck, 125), tl.rst(analyze.Closed, 126)),
			},
			Diagnoses: []analyze.Diagnosis{
				{
					Code: analyze.CodeFinWait2Timeout, Severity: analyze.Warning, Side: c,
					Sysctl:  "net.ipv4.tcp_fin_timeout",
					Message: "the client's FIN_WAIT2 outlived tcp_fin_timeout: the server's FIN came 71.3 s after its ACK, and the client, with no socket left, answered it with RST; client.conf has tcp_fin_timeout = 60: an orphaned FIN_WAIT2 lives 60.0s with it, which fits",
					Frames:  []uint64{18, 125, 126},
					Advice:  "leave it at 60 s; make the server close() when read() returns 0",
					Bounds:  []analyze.Bound{{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_fin_timeout", Of: analyze.OfLifetime, Below: ptr(71.25977)}},
					Checks:  []analyze.SettingCheck{{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_fin_timeout", Value: "60", Agrees: true}},
				},
				{
					Code: analyze.CodeCloseWaitLong, Severity: analyze.Warning, Side: s,
					Message: "the server held CLOSE_WAIT for 71.3 s: the application did not close() after read() returned 0",
					Frames:  []uint64{17, 18, 125},
					Advice:  "fix the server: close() the socket when read() returns 0",
				},
			},
			Events: append(tl.handshake(12),
				tl.ev(17, c, "F.", "fin"), tl.ev(18, s, ".", "ack-of-fin"),
				tl.ev(125, s, "F.", "fin"), tl.ev(126, c, "R", "rst")),
		},
		{
			ID: 4, Incarnation: 1, Client: "198.51.100.1:39612", Server: "198.51.100.3:443",
			Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
			FirstFrame: 27, LastFrame: 39, Start: tl.at(27), End: tl.at(39),
			Close: analyze.Close{Initiator: c, Kind: analyze.FourWay},
			Sides: analyze.Sides{
				Client: &analyze.Side{
					States: []analyze.StateEntry{
						tl.st(analyze.SynSent, 27), tl.st(analyze.Established, 28), tl.st(analyze.FinWait1, 32),
						tl.st(analyze.FinWait2, 37), tl.st(analyze.TimeWait, 38)},
					FinFrames: []uint64{32, 33, 34, 35, 36}, FinRetransmissions: 4, FinTLP: true,
					Durations:  map[string]float64{"FIN_WAIT1": 1.712410, "FIN_WAIT2": 0.017590, "TIME_WAIT": 60},
					FinalState: analyze.TimeWait,
				},
				Server: side(analyze.Closed, map[string]float64{"CLOSE_WAIT": 0.058, "LAST_ACK": 0.0004},
					[]uint64{38},
					tl.st(analyze.SynRecv, 27), tl.st(analyze.Established, 29), tl.st(analyze.CloseWait, 36),
					tl.st(analyze.LastAck, 38), tl.st(analyze.Closed, 39)),
			},
			Diagnoses: []analyze.Diagnosis{{
				Code: analyze.CodeFinRetransmitted, Severity: analyze.Warning, Side: c,
				Sysctl:  "net.ipv4.tcp_orphan_retries",
				Message: "the client's FIN was sent 5 times over 1.7 s before the server acknowledged it; the first retransmission, 205 ms after the FIN, was a tail-loss probe; client.conf has tcp_orphan_retries = 0: its budget of 102.2s fits",
				Frames:  []uint64{32, 33, 34, 35, 36, 37},
				Advice:  "find the loss on the path first; lower it only to give up sooner on dead peers",
				Bounds:  []analyze.Bound{{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_orphan_retries", Of: analyze.OfBudget, Above: ptr(1.26)}},
				Checks:  []analyze.SettingCheck{{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_orphan_retries", Value: "0", Agrees: true}},
			}},
			Events: append(tl.handshake(27),
				tl.ev(32, c, "F.", "fin"), tl.ev(33, c, "F.", "fin-tlp"),
				tl.ev(34, c, "F.", "fin-retransmission"), tl.ev(35, c, "F.", "fin-retransmission"),
				tl.ev(36, c, "F.", "fin-retransmission"), tl.ev(37, s, ".", "ack-of-fin"),
				tl.ev(38, s, "F.", "fin"), tl.ev(39, c, ".", "ack-of-fin")),
		},
		{
			// Seen from near the client: the server's FIN (46) left before
			// the client's (45) reached it, so the server's CLOSING is
			// stamped with frame 45, before its own FIN_WAIT1.
			ID: 5, Incarnation: 1, Client: "198.51.100.1:39614", Server: "198.51.100.2:8080",
			Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
			FirstFrame: 40, LastFrame: 48, Start: tl.at(40), End: tl.at(48),
			Close: analyze.Close{Initiator: analyze.Simultaneous, Kind: analyze.SimultaneousKind},
			Sides: analyze.Sides{
				Client: side(analyze.TimeWait, map[string]float64{"FIN_WAIT1": 0.000020, "CLOSING": 0.000060, "TIME_WAIT": 60},
					[]uint64{45},
					tl.st(analyze.SynSent, 40), tl.st(analyze.Established, 41), tl.st(analyze.FinWait1, 45),
					tl.st(analyze.Closing, 46), tl.st(analyze.TimeWait, 48)),
				Server: side(analyze.TimeWait, map[string]float64{"CLOSING": 0.000045, "TIME_WAIT": 60},
					[]uint64{46},
					tl.st(analyze.SynRecv, 40), tl.st(analyze.Established, 42), tl.st(analyze.FinWait1, 46),
					tl.st(analyze.Closing, 45), tl.st(analyze.TimeWait, 47)),
			},
			Diagnoses: []analyze.Diagnosis{},
			Events: append(tl.handshake(40),
				tl.ev(45, c, "F.", "fin"), tl.ev(46, s, "F.", "fin"),
				tl.ev(47, c, ".", "ack-of-fin"), tl.ev(48, s, ".", "ack-of-fin")),
		},
		tl.fourWay(6, "198.51.100.1:39620", 49, 54,
			map[string]float64{"FIN_WAIT1": 0.040100, "FIN_WAIT2": 0.000900, "TIME_WAIT": 1.020050},
			map[string]float64{"CLOSE_WAIT": 0.041, "LAST_ACK": 0.00005}),
		{
			ID: 7, Incarnation: 2, Client: "198.51.100.1:39620", Server: "198.51.100.2:8080",
			Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
			FirstFrame: 58, LastFrame: 62, Start: tl.at(58), End: tl.at(62),
			Close: analyze.Close{Initiator: analyze.NoRole, Kind: analyze.OpenAtEnd},
			Sides: analyze.Sides{
				Client: openEnded(side(analyze.Established, nil, nil, tl.st(analyze.SynSent, 58), tl.st(analyze.Established, 59))),
				Server: openEnded(side(analyze.Established, nil, nil, tl.st(analyze.SynRecv, 58), tl.st(analyze.Established, 60))),
			},
			Reuse: &analyze.Reuse{PreviousID: 6, Gap: 1.02, TimeWaitHolder: c, Timestamps: true, Verdict: analyze.VerdictClientReuse},
			Diagnoses: []analyze.Diagnosis{{
				Code: analyze.CodeTimeWaitReuse, Severity: analyze.Info, Side: c,
				Sysctl:  "net.ipv4.tcp_tw_reuse",
				Message: "the 4-tuple of flow 6 was reused 1.02 s after the client entered TIME_WAIT; the new ISN is the old FIN's sequence number + 65538, so the client's kernel reused its own TIME_WAIT (timestamps on); client.conf has tcp_tw_reuse = 1: it fits",
				Frames:  []uint64{57, 58},
				Advice:  "nothing to change: a legal reuse with timestamps",
				Bounds: []analyze.Bound{
					{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_tw_reuse", Of: analyze.OfValue, Above: ptr(0), Assumes: "the application did not bind() the port itself"},
					{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_tw_reuse_delay", Of: analyze.OfValue, Below: ptr(1020), Assumes: "the application did not bind() the port itself"},
				},
				Checks: []analyze.SettingCheck{{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_tw_reuse", Value: "1", Agrees: true}},
			}},
			Events: tl.handshake(58),
		},
		{
			ID: 8, Incarnation: 1, Client: "198.51.100.5:51000", Server: "198.51.100.2:8080",
			Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
			FirstFrame: 63, LastFrame: 119, Start: tl.at(63), End: tl.at(119),
			Close: analyze.Close{Initiator: c, Kind: analyze.HalfClosedAtEnd,
				HalfClose: &analyze.HalfClose{Sender: s, Bytes: 48213, Duration: 2.4996, ActiveUsed: analyze.ActiveUsedShutdown}},
			Sides: analyze.Sides{
				Client: openEnded(side(analyze.FinWait2, map[string]float64{"FIN_WAIT1": 0.0001, "FIN_WAIT2": 64.7995},
					[]uint64{67},
					tl.st(analyze.SynSent, 63), tl.st(analyze.Established, 64), tl.st(analyze.FinWait1, 67),
					tl.st(analyze.FinWait2, 68))),
				Server: openEnded(side(analyze.CloseWait, map[string]float64{"CLOSE_WAIT": 64.7996},
					nil,
					tl.st(analyze.SynRecv, 63), tl.st(analyze.Established, 65), tl.st(analyze.CloseWait, 67))),
			},
			Diagnoses: []analyze.Diagnosis{
				{
					Code: analyze.CodeCloseWaitLong, Severity: analyze.Warning, Side: s,
					Message: "the server held CLOSE_WAIT for 64.8 s, to the end of the capture: it sent 48,213 bytes in the 2.5 s after the client's FIN, then neither sent more nor closed",
					Frames:  []uint64{67, 68, 118},
					Advice:  "fix the server: close() the socket once the response is sent",
				},
				{
					Code: analyze.CodeCaptureEndedMidClose, Severity: analyze.Info, Side: s,
					Message: "the capture ended before the server's FIN; the close may have completed later",
					Frames:  []uint64{},
				},
			},
			Events: append(tl.handshake(63),
				tl.ev(67, c, "F.", "fin"), tl.ev(68, s, ".", "ack-of-fin"),
				analyze.Event{Frame: 69, At: tl.at(69), From: s, Flags: "P.", Len: 1448, Note: "data-after-fin", Count: 34}),
		},
		{
			ID: 9, Incarnation: 1, Client: "198.51.100.6:40000", Server: "198.51.100.2:8080",
			Roles: analyze.RolesHandshake, Handshake: analyze.HandshakeComplete,
			FirstFrame: 120, LastFrame: 124, Start: tl.at(120), End: tl.at(124),
			Close: analyze.Close{Initiator: s, Kind: analyze.ResetKind,
				Reset: &analyze.Reset{By: s, Frame: 124, State: analyze.Established, Cause: analyze.CauseUnreadData}},
			Sides: analyze.Sides{
				Client: side(analyze.Closed, nil, nil,
					tl.st(analyze.SynSent, 120), tl.st(analyze.Established, 121), tl.rst(analyze.Closed, 124)),
				Server: side(analyze.Closed, nil, nil,
					tl.st(analyze.SynRecv, 120), tl.st(analyze.Established, 122), tl.rst(analyze.Closed, 124)),
			},
			Diagnoses: []analyze.Diagnosis{{
				Code: analyze.CodeRstUnreadData, Severity: analyze.Error, Side: s,
				Message: `the server reset the connection at close() with 310 bytes from the client unread: the client sees "connection reset by peer"`,
				Frames:  []uint64{123, 124},
				Advice:  "fix the server: read the request before close()",
			}},
			Events: append(tl.handshake(120), tl.ev(124, s, "R.", "rst")),
		},
	}
	return &analyze.Result{
		Schema: analyze.Schema,
		Capture: analyze.Capture{
			Files: []string{"incident.pcap"}, Format: "pcap", LinkTypes: []string{"ETHERNET"},
			Packets: 129, TCPPackets: 126, Skipped: analyze.Skipped{NonTCP: 3},
			First: tl.at(1), Last: tl.at(129),
		},
		Flows:   flows,
		Summary: incidentSummary(),
	}
}

// incidentSummary is the incident's summary as analyze builds it: its
// mergeable parts are written out below, and Summary.Merge reads the
// peaks, quantiles, bound descriptions and findings from them. The
// settings of 198.51.100.1 came from client.conf (tcp_max_tw_buckets =
// 32768, ip_local_port_range = 32768 60999, tcp_fin_timeout = 60,
// tcp_orphan_retries = 0, tcp_tw_reuse = 1); the other hosts have the
// defaults.
//
// Each close state counts at the whole seconds it covers. On
// 198.51.100.1: TIME_WAIT of flow 1 (12:00:00.498, 60 s), flow 2
// (02.205, 60 s), flow 4 (04.830, 60 s), flow 5 (05.300, 60 s) and flow 6
// (06.441 to its reuse at 07.461); flow 3's orphaned FIN_WAIT2 (01.250 to
// 72.510) and flow 4's FIN_WAIT1 (03.100 to 04.812). Flow 8's client
// only shut down: no orphan. On 198.51.100.2: flow 5's TIME_WAIT, the
// CLOSE_WAIT of flow 3 (01.210 to 72.510) and of flow 8 (08.000 to the
// end of the capture). The other close states last under a second
// without covering a whole one.
func incidentSummary() *analyze.Summary {
	tl := incident
	tw := 60.0
	def := int64(131072)
	ports := int64(60999 - 32768 + 1)
	raw := &analyze.Summary{
		Flows: 9,
		CloseKinds: map[string]int{
			"four_way": 3, "three_way": 1, "simultaneous": 1, "reset": 2, "half_closed_at_end": 1, "open_at_end": 1,
		},
		FinalStates: map[string]int{"TIME_WAIT": 6, "CLOSED": 8, "ESTABLISHED": 2, "FIN_WAIT2": 1, "CLOSE_WAIT": 1},
		Diagnoses: map[string]int{
			"close-wait-long": 2, "fin-wait-2-timeout": 1, "fin-retransmitted": 1,
			"time-wait-reuse": 1, "rst-unread-data": 1, "capture-ended-mid-close": 1,
		},
		Hosts: []analyze.HostLoad{
			{
				Host:     "198.51.100.1",
				TimeWait: analyze.Peak{Limit: 32768, LimitFrom: "client.conf"},
				Orphans:  analyze.Peak{Limit: def, LimitFrom: "default"},
				Series: analyze.HostSeries{
					TimeWait: tl.series(
						[2]float64{0.498120, 0.498120 + tw}, [2]float64{2.205090, 2.205090 + tw}, [2]float64{4.830000, 4.830000 + tw},
						[2]float64{5.300080, 5.300080 + tw}, [2]float64{6.441000, 7.461050}),
					Orphans: tl.series([2]float64{1.250230, 72.510000}, [2]float64{3.100000, 4.812410}),
				},
				Bounds: []analyze.HostBound{
					{Bound: analyze.Bound{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_fin_timeout", Of: analyze.OfLifetime, Below: ptr(71.25977)}, Flows: 1},
					{Bound: analyze.Bound{Host: "198.51.100.1", Sysctl: "net.ipv4.tcp_orphan_retries", Of: analyze.OfBudget, Above: ptr(1.26)}, Flows: 1},
				},
			},
			{
				Host:     "198.51.100.2",
				TimeWait: analyze.Peak{Limit: def, LimitFrom: "default"},
				Orphans:  analyze.Peak{Limit: def, LimitFrom: "default"},
				Series: analyze.HostSeries{
					TimeWait:  tl.series([2]float64{5.300065, 5.300065 + tw}),
					CloseWait: tl.series([2]float64{1.210000, 72.510000}, [2]float64{8.000400, 72.800000}),
				},
			},
		},
		Ports: []analyze.PortLoad{
			{
				Client: "198.51.100.1", Server: "198.51.100.2:8080",
				TimeWait: analyze.Peak{Limit: ports, LimitFrom: "client.conf"},
				Series: tl.series(
					[2]float64{0.498120, 0.498120 + tw}, [2]float64{2.205090, 2.205090 + tw},
					[2]float64{5.300080, 5.300080 + tw}, [2]float64{6.441000, 7.461050}),
			},
			{
				Client: "198.51.100.1", Server: "198.51.100.3:443",
				TimeWait: analyze.Peak{Limit: ports, LimitFrom: "client.conf"},
				Series:   tl.series([2]float64{4.830000, 4.830000 + tw}),
			},
		},
		// Every side that sent a FIN: flow 4's client retransmitted its 4 times.
		FinRetransmissions: histogram(analyze.UnitCount, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0),
		CloseDurations: map[string]*analyze.Histogram{
			"FIN_WAIT1":  histogram(analyze.UnitSeconds, 0.040241, 0.000090, 0.040230, 1.712410, 0.000020, 0.040100, 0.000100),
			"FIN_WAIT2":  histogram(analyze.UnitSeconds, 0.045569, 0, 71.259770, 0.017590, 0.000900),
			"CLOSING":    histogram(analyze.UnitSeconds, 0.000060, 0.000045),
			"TIME_WAIT":  histogram(analyze.UnitSeconds, tw, tw, tw, tw, tw, 1.020050),
			"CLOSE_WAIT": histogram(analyze.UnitSeconds, 0.085810, 0.000090, 71.3, 0.058, 0.041),
			"LAST_ACK":   histogram(analyze.UnitSeconds, 0.000041, 0.000040, 0.000061, 0.0004, 0.00005),
		},
		ReuseGaps: histogram(analyze.UnitSeconds, 1.02),
	}
	s := &analyze.Summary{}
	s.Merge(raw)
	return s
}

func ptr(v float64) *float64 { return &v }

// series is a count over the timeline as analyze keeps it: each interval
// [a, b) (seconds from the base) counts at the whole seconds it covers.
func (tl timeline) series(ivs ...[2]float64) analyze.Series {
	changes := map[int64]int64{}
	ceil := func(sec float64) int64 {
		ns := int64(tl.time(sec))
		s := ns / 1e9
		if ns%1e9 > 0 {
			s++
		}
		return s
	}
	for _, iv := range ivs {
		if a, b := ceil(iv[0]), ceil(iv[1]); a < b {
			changes[a]++
			changes[b]--
		}
	}
	var out analyze.Series
	for s, d := range changes {
		if d != 0 {
			out = append(out, [2]int64{s, d})
		}
	}
	slices.SortFunc(out, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	return out
}

// histogram files values as analyze.Histogram documents its buckets: one
// per integer for counts; for seconds eight per doubling from 1 µs, with
// bucket 0 for values under 1 µs. Summary.Merge reads the quantiles.
func histogram(unit string, values ...float64) *analyze.Histogram {
	h := &analyze.Histogram{Unit: unit, Buckets: [][2]int64{}}
	counts := map[int64]int64{}
	for i, v := range values {
		b := int64(v)
		if unit == analyze.UnitSeconds {
			b = 0
			if v >= 1e-6 {
				b = 1 + int64(math.Floor(8*math.Log2(v/1e-6)))
			}
		}
		counts[b]++
		if i == 0 || v < h.Min {
			h.Min = v
		}
		if i == 0 || v > h.Max {
			h.Max = v
		}
		h.Count++
	}
	for _, b := range slices.Sorted(maps.Keys(counts)) {
		h.Buckets = append(h.Buckets, [2]int64{b, counts[b]})
	}
	return h
}

// edge is a second capture: two files across midnight, a truncated last
// record, IPv6 addresses long enough to wrap, no summary, and a flow seen
// from the middle (roles inferred) whose server FIN is never acknowledged:
// an RTO backoff without TLP (SACK off), then silence.
var edge = timeline{
	base: time.Date(2026, 11, 26, 23, 59, 58, 0, time.UTC),
	offset: map[uint64]float64{
		1: 0.500000, 2: 0.600000,
		3: 1.000000, 4: 1.204000, 5: 1.612000, 6: 2.428000, 7: 4.060000,
		8: 10.000000, 9: 14.000000,
	},
}

func edgeResult() *analyze.Result {
	tl := edge
	s := analyze.Server
	return &analyze.Result{
		Schema: analyze.Schema,
		Capture: analyze.Capture{
			Files: []string{"edge-a.pcapng", "edge-b.pcapng.gz"}, Format: "pcapng",
			LinkTypes: []string{"LINUX_SLL2", "ETHERNET"},
			Packets:   9, TCPPackets: 7, Skipped: analyze.Skipped{NonTCP: 1, Malformed: 1},
			Truncated: true,
			First:     tl.at(1), Last: tl.at(9),
			Warnings: []string{"edge-b.pcapng.gz: frame 9: last record cut at 40 of 66 bytes"},
		},
		Flows: []*analyze.Flow{{
			ID: 1, Incarnation: 1,
			Client: "[2001:db8:85a3::8a2e:370:1]:51234", Server: "[2001:db8:85a3::8a2e:370:7334]:443",
			Roles: analyze.RolesInferred, Handshake: analyze.HandshakeNotSeen,
			FirstFrame: 1, LastFrame: 7, Start: tl.at(1), End: tl.at(7),
			Close: analyze.Close{Initiator: s, Kind: analyze.HalfClosedAtEnd},
			Sides: analyze.Sides{
				Client: openEnded(side(analyze.Established, nil, nil, tl.inferred(analyze.Established, 1))),
				Server: &analyze.Side{
					States:    []analyze.StateEntry{tl.inferred(analyze.Established, 1), tl.st(analyze.FinWait1, 3)},
					FinFrames: []uint64{3, 4, 5, 6, 7}, FinRetransmissions: 4,
					Durations:  map[string]float64{"FIN_WAIT1": 13},
					FinalState: analyze.FinWait1,
					OpenEnded:  true,
				},
			},
			Diagnoses: []analyze.Diagnosis{
				{
					Code: analyze.CodeFinNeverAcked, Severity: analyze.Warning, Side: s,
					Sysctl:  "net.ipv4.tcp_orphan_retries",
					Message: "the server's FIN was sent 5 times over 3.1 s and never acknowledged; the retransmissions stopped without a RST, as an orphan's do when it gives up",
					Frames:  []uint64{3, 4, 5, 6, 7},
				},
				{
					Code: analyze.CodeCaptureStartedMidFlow, Severity: analyze.Info,
					Message: "the capture started after the handshake | roles are guessed from the ports",
					Frames:  []uint64{1},
				},
			},
			Events: []analyze.Event{
				tl.ev(3, s, "F.", "fin"), tl.ev(4, s, "F.", "fin-retransmission"),
				tl.ev(5, s, "F.", "fin-retransmission"), tl.ev(6, s, "F.", "fin-retransmission"),
				tl.ev(7, s, "F.", "fin-retransmission"),
			},
		}},
	}
}

// emptyResult is a capture with no TCP flow at all.
func emptyResult() *analyze.Result {
	return &analyze.Result{
		Schema: analyze.Schema,
		Capture: analyze.Capture{
			Files: []string{"quiet.pcap"}, Format: "pcap", LinkTypes: []string{"ETHERNET"},
			Packets: 12, Skipped: analyze.Skipped{NonTCP: 12},
			First: incident.time(0), Last: incident.time(3.5),
		},
		Flows:   []*analyze.Flow{},
		Summary: &analyze.Summary{CloseKinds: map[string]int{}, FinalStates: map[string]int{}, Diagnoses: map[string]int{}},
	}
}
