//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/teardown/teardown/flows"
)

// Lines tshark 4.0 printed for ICMP scenarios' captures (readICMP's
// fields and options): ICMPv4 port unreachable from the server
// (syn-rejected-icmp), ICMPv6 administratively prohibited from the
// router (syn-rejected-icmp-router-v6), and a router's fragmentation
// needed quoting a GSO super-segment of the server's
// (pmtu-black-hole-host-firewall). tsharkTooBig is made by hand on the
// pattern of tsharkICMP6: an ICMPv6 packet too big from the router,
// quoting the server's data; no capture of the lab holds one.
const (
	tsharkICMP4      = "2|1795962210.157850000|3|3|||198.51.100.80,198.51.100.10||198.51.100.10,198.51.100.80||52894|8080|1771685914|0x0002|||0x10bc,0x10ab|0|63,63|"
	tsharkICMP6      = "2|1795962212.584396000|||1|1||2001:db8:1::1,2001:db8:1::10||2001:db8:1::10,2001:db8:2::80|57800|8080|1123961785|0x0002||||0||64,63"
	tsharkFragNeeded = "7|1795969976.096844000|3|4|||198.51.100.65,198.51.100.80||198.51.100.80,198.51.100.10||8080|53498|1396119079|0x0018|1000||0x59b1,0x32bf|2868753473|64,64|"
	tsharkTooBig     = "9|1795969824.000000000|||2|0||2001:db8:2::1,2001:db8:2::80||2001:db8:2::80,2001:db8:1::10|8080|54618|268037791|0x0010||1280||4018242101||64,63"
)

func TestParseICMP(t *testing.T) {
	for _, c := range []struct {
		line, want string
		mtu, ipid  int
		ack        int64
		ttl        int
	}{
		{tsharkICMP4, "frame 2 ICMP type 3 code 3 from 198.51.100.80 quoting 198.51.100.10:52894 > 198.51.100.80:8080 [S] seq 1771685914", 0, 0x10bc, 0, 63},
		{tsharkICMP6, "frame 2 ICMPv6 type 1 code 1 from 2001:db8:1::1 quoting [2001:db8:1::10]:57800 > [2001:db8:2::80]:8080 [S] seq 1123961785", 0, -1, 0, 64},
		{tsharkFragNeeded, "frame 7 ICMP type 3 code 4 from 198.51.100.65 quoting 198.51.100.80:8080 > 198.51.100.10:53498 [P.] seq 1396119079, next-hop MTU 1000", 1000, 0x59b1, 2868753473, 64},
		{tsharkTooBig, "frame 9 ICMPv6 type 2 code 0 from 2001:db8:2::1 quoting [2001:db8:2::80]:8080 > [2001:db8:1::10]:54618 [.] seq 268037791, next-hop MTU 1280", 1280, -1, 4018242101, 64},
	} {
		m, err := parseICMP(c.line)
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		if got := m.String(); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.line, got, c.want)
		}
		if !icmpErrorType(m.v6, m.typ, m.code) {
			t.Errorf("%v is not taken as an ICMP error", m)
		}
		if m.mtu != c.mtu || m.pathMTU() != (c.mtu > 0) {
			t.Errorf("%v: MTU %d, path MTU message %v; want MTU %d", m, m.mtu, m.pathMTU(), c.mtu)
		}
		// The outer header's IPv4 ID and TTL, not the quoted one's.
		if m.ipid != c.ipid || m.ack != c.ack || m.ttl != c.ttl {
			t.Errorf("%v: IP ID %d, ack %d, TTL %d; want %d, %d, %d", m, m.ipid, m.ack, m.ttl, c.ipid, c.ack, c.ttl)
		}
	}
	if m, err := parseICMP(strings.Replace(tsharkFragNeeded, "|2868753473|", "||", 1)); err != nil {
		t.Errorf("a quote without an acknowledgement number: %v", err)
	} else if m.ack != -1 {
		t.Errorf("a quote without an acknowledgement number: ack %d, want -1", m.ack)
	}
	if _, err := parseICMP(strings.Replace(tsharkICMP4, "1771685914", "", 1)); err == nil {
		t.Error("a quote without a sequence number parsed")
	}
	if !icmpErrorType(false, 3, 4) || !icmpErrorType(true, 2, 0) {
		t.Error("fragmentation needed or packet too big not taken as an ICMP error")
	}
	if icmpErrorType(false, 0, 0) || icmpErrorType(false, 8, 0) || icmpErrorType(true, 128, 0) || icmpErrorType(true, 129, 0) {
		t.Error("an echo request or reply taken as an ICMP error")
	}
	for _, c := range []struct {
		v6        bool
		typ, code int
		want      bool
	}{{false, 3, 4, true}, {true, 2, 0, true}, {false, 3, 3, false}, {false, 3, 1, false}, {true, 1, 4, false}, {true, 3, 0, false}} {
		if got := pathMTU(c.v6, c.typ, c.code); got != c.want {
			t.Errorf("pathMTU(v6 %v, type %d, code %d) = %v, want %v", c.v6, c.typ, c.code, got, c.want)
		}
	}
}

var (
	tcli  = netip.MustParseAddrPort("198.51.100.10:40000")
	tcli2 = netip.MustParseAddrPort("198.51.100.10:40002")
	tsrv  = netip.MustParseAddrPort("198.51.100.80:8080")
	trtr  = netip.MustParseAddr("198.51.100.1")
)

func syn(no int, at time.Duration, src netip.AddrPort, seq uint32) *frame {
	return &frame{no: no, t: int64(at), src: src, dst: tsrv, flags: fSYN, seq: seq, win: 64240, ipid: 1, ttl: 64}
}

func unreach(no int, at time.Duration, from netip.Addr, quoted *frame) *icmpErr {
	return &icmpErr{no: no, t: int64(at), from: from, typ: 3, code: 3, src: quoted.src, dst: quoted.dst,
		seq: quoted.seq, flags: quoted.flags}
}

// stateNames lists states as "STATE@frame", with the via after it.
func stateNames(ss []truthState) []string {
	var n []string
	for _, x := range ss {
		n = append(n, fmt.Sprintf("%s@%d%s", x.State, x.Frame, x.Via))
	}
	return n
}

// diagSides lists a flow's diagnoses as "code/side".
func diagSides(fl *truthFlow) []string {
	var n []string
	for _, d := range fl.Diagnoses {
		n = append(n, d.Code+"/"+d.Side)
	}
	return n
}

func TestICMPTruth(t *testing.T) {
	sc := &scenario{name: "t", vantage: vantageClient, framing: frameEthernet}
	diags := diagSides
	states := func(fl *truthFlow) []string {
		var s []string
		for _, x := range fl.Sides.Client.States {
			s = append(s, x.State)
		}
		return s
	}

	// The server's ICMP error ends the client's SYN_SENT; a second
	// connection 1.5 s later shows the capture went on.
	s1 := syn(1, 0, tcli, 1000)
	tf, err := deriveTruth(sc, []*frame{s1, syn(3, 1500*time.Millisecond, tcli2, 5000)},
		[]*icmpErr{unreach(2, time.Millisecond, tsrv.Addr(), s1)}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	fl := tf.Flows[0]
	if fl.Close.Kind != "rejected" || fl.Close.Initiator != "server" || fl.Close.Reset != nil || fl.LastFrame != 2 ||
		!slices.Equal(states(fl), []string{"SYN_SENT", "CLOSED"}) || fl.Sides.Client.States[1].Frame != 2 ||
		fl.Sides.Server.States != nil || !slices.Equal(diags(fl), []string{"syn-rejected-icmp/server"}) ||
		len(fl.ICMP) != 1 || *fl.ICMP[0] != (truthICMP{Frame: 2, To: "client", From: "198.51.100.80", Type: 3, Code: 3}) {
		t.Errorf("aborted by the server: %+v %v %v %+v", fl.Close, states(fl), diags(fl), fl.ICMP)
	}
	if tf.Flows[1].ICMP != nil {
		t.Errorf("the second connection has ICMP errors: %+v", tf.Flows[1].ICMP)
	}

	// The capture's last record is the error, but the file records that
	// it stopped 1.2 s later.
	tf, err = deriveTruth(sc, []*frame{s1}, []*icmpErr{unreach(2, time.Millisecond, tsrv.Addr(), s1)}, int64(1200*time.Millisecond), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; fl.Close.Kind != "rejected" || !slices.Equal(states(fl), []string{"SYN_SENT", "CLOSED"}) {
		t.Errorf("aborted, the capture's stop time recorded: %+v %v", fl.Close, states(fl))
	}
	if _, err := deriveTruth(sc, []*frame{s1}, []*icmpErr{unreach(2, time.Millisecond, tsrv.Addr(), s1)}, 0, "k", nil); err == nil {
		t.Error("aborted, with no stop time and nothing after the error: a truth derived")
	}

	// From a router: no initiator, no side.
	tf, err = deriveTruth(sc, []*frame{s1, syn(3, 1500*time.Millisecond, tcli2, 5000)},
		[]*icmpErr{unreach(2, time.Millisecond, trtr, s1)}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; fl.Close.Initiator != "none" || !slices.Equal(diags(fl), []string{"syn-rejected-icmp/"}) {
		t.Errorf("aborted by a router: %+v %v", fl.Close, diags(fl))
	}

	// The client sent its SYN again: the ICMP error changed nothing.
	tf, err = deriveTruth(sc, []*frame{s1, syn(3, time.Second, tcli, 1000), syn(4, 5*time.Second, tcli2, 5000)},
		[]*icmpErr{unreach(2, time.Millisecond, trtr, s1)}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; fl.Close.Kind != "open_at_end" || fl.Close.Initiator != "none" ||
		!slices.Equal(states(fl), []string{"SYN_SENT"}) || !slices.Equal(diags(fl), []string{"syn-unanswered/client"}) ||
		len(fl.ICMP) != 1 || fl.LastFrame != 3 {
		t.Errorf("SYN sent again: %+v %v %v %+v", fl.Close, states(fl), diags(fl), fl.ICMP)
	}

	// The first error left the SYN to be sent again, the second ended it
	// (what a path with no delay shows: the first arrived while connect()
	// held the socket's lock).
	s3 := syn(3, time.Second, tcli, 1000)
	tf, err = deriveTruth(sc, []*frame{s1, s3, syn(5, 3*time.Second, tcli2, 5000)},
		[]*icmpErr{unreach(2, time.Millisecond, tsrv.Addr(), s1), unreach(4, time.Second+time.Millisecond, tsrv.Addr(), s3)}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; fl.Close.Kind != "rejected" || !slices.Equal(states(fl), []string{"SYN_SENT", "CLOSED"}) ||
		fl.Sides.Client.States[1].Frame != 4 || !slices.Equal(diags(fl), []string{"syn-rejected-icmp/server"}) ||
		len(fl.ICMP) != 2 || fl.LastFrame != 4 {
		t.Errorf("SYN sent again, then ended: %+v %v %v %+v", fl.Close, states(fl), diags(fl), fl.ICMP)
	}

	// Refused: the capture ends too soon; an error quoting anything but
	// the client's SYN; an error quoting a connection the capture shows
	// only after it (one quoting none is unmatched: TestUnmatchedICMPTruth).
	ack := &frame{no: 3, t: int64(time.Second), src: tsrv, dst: tcli, flags: fSYN | fACK, seq: 7000, ack: 1001, ttl: 64}
	otherAck := *ack
	otherAck.seq = 9000
	for name, c := range map[string]struct {
		frames []*frame
		icmps  []*icmpErr
	}{
		"too soon":    {[]*frame{s1, syn(3, 500*time.Millisecond, tcli2, 5000)}, []*icmpErr{unreach(2, time.Millisecond, trtr, s1)}},
		"server's":    {[]*frame{s1, ack}, []*icmpErr{unreach(4, 2*time.Second, trtr, &otherAck)}},
		"only later":  {[]*frame{s1, syn(3, 2*time.Second, tcli2, 9)}, []*icmpErr{unreach(2, time.Millisecond, trtr, syn(0, 0, tcli2, 9))}},
		"other ISN":   {[]*frame{s1, syn(3, 2*time.Second, tcli2, 5000)}, []*icmpErr{unreach(2, time.Millisecond, trtr, syn(0, 0, tcli, 9))}},
		"answered":    {[]*frame{s1, ack, syn(5, 3*time.Second, tcli2, 5000)}, []*icmpErr{unreach(4, 2*time.Second, trtr, s1)}},
		"data after":  {[]*frame{s1, {no: 3, t: int64(2 * time.Second), src: tcli, dst: tsrv, flags: fACK, seq: 1001, ttl: 64}}, []*icmpErr{unreach(2, time.Millisecond, trtr, s1)}},
		"next in 4-t": {[]*frame{s1, syn(3, 2*time.Second, tcli, 9000)}, []*icmpErr{unreach(2, time.Millisecond, trtr, s1)}},
	} {
		if _, err := deriveTruth(sc, c.frames, c.icmps, 0, "k", nil); err == nil {
			t.Errorf("%s: a truth derived", name)
		}
	}
}

func seg(no int, at time.Duration, src, dst netip.AddrPort, flags int, seq, ack, n uint32) *frame {
	return &frame{no: no, t: int64(at), src: src, dst: dst, flags: flags, seq: seq, ack: ack, len: n, win: 64240, ipid: 1, ttl: 64}
}

// TestICMPEstablished covers ICMP errors that quote segments of an
// established connection: listed, and nothing else changes.
func TestICMPEstablished(t *testing.T) {
	sc := &scenario{name: "t", vantage: vantageClient, framing: frameEthernet}
	// A handshake and 100 bytes each way, then the client's next 100
	// bytes sent every 250 ms for 6 s, each answered by a router's host
	// unreachable 20 ms later.
	handshake := func() []*frame {
		return []*frame{
			syn(1, 0, tcli, 1000),
			seg(2, time.Millisecond, tsrv, tcli, fSYN|fACK, 7000, 1001, 0),
			seg(3, 2*time.Millisecond, tcli, tsrv, fACK, 1001, 7001, 0),
			seg(4, 10*time.Millisecond, tcli, tsrv, fPSH|fACK, 1001, 7001, 100),
			seg(5, 11*time.Millisecond, tsrv, tcli, fPSH|fACK, 7001, 1101, 100),
			seg(6, 12*time.Millisecond, tcli, tsrv, fACK, 1101, 7101, 0),
		}
	}
	frames := handshake()
	var icmps []*icmpErr
	no := 7
	for at := 200 * time.Millisecond; at <= 6200*time.Millisecond; at += 250 * time.Millisecond {
		f := seg(no, at, tcli, tsrv, fPSH|fACK, 1101, 7101, 100)
		m := unreach(no+1, at+20*time.Millisecond, trtr, f)
		m.code = 1
		frames, icmps = append(frames, f), append(icmps, m)
		no += 2
	}
	tf, err := deriveTruth(sc, frames, icmps, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	fl := tf.Flows[0]
	var cs, ss []string
	for _, x := range fl.Sides.Client.States {
		cs = append(cs, x.State)
	}
	for _, x := range fl.Sides.Server.States {
		ss = append(ss, x.State)
	}
	var diags []string
	for _, d := range fl.Diagnoses {
		diags = append(diags, d.Code+"/"+d.Side+"/"+d.Sysctl)
	}
	if fl.Close.Kind != "open_at_end" || fl.Close.Initiator != "none" || fl.Close.Reset != nil ||
		!slices.Equal(cs, []string{"SYN_SENT", "ESTABLISHED"}) || !slices.Equal(ss, []string{"SYN_RECV", "ESTABLISHED"}) ||
		!slices.Equal(diags, []string{"data-unanswered/client/net.ipv4.tcp_retries2"}) ||
		fl.ICMPErrors != len(icmps) || len(fl.ICMP) != flows.MaxICMP || fl.LastFrame != no-1 {
		t.Errorf("errors quoting the client's data: %+v %v %v %v, %d errors (%d listed), last frame %d",
			fl.Close, cs, ss, diags, fl.ICMPErrors, len(fl.ICMP), fl.LastFrame)
	}
	// The output's bound: the first ones and the latest.
	for i, m := range fl.ICMP {
		frame := 8 + 2*i
		if i == len(fl.ICMP)-1 {
			frame = icmps[len(icmps)-1].no
		}
		if *m != (truthICMP{Frame: frame, To: "client", From: "198.51.100.1", Type: 3, Code: 1}) {
			t.Errorf("icmp[%d] = %+v", i, *m)
		}
	}

	// One quoting the server's data goes to the server.
	frames = handshake()
	m := unreach(7, 20*time.Millisecond, tcli.Addr(), frames[4])
	tf, err = deriveTruth(sc, append(frames, seg(8, 30*time.Millisecond, tsrv, tcli, fACK, 7101, 1101, 0)), []*icmpErr{m}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; len(fl.ICMP) != 1 || *fl.ICMP[0] != (truthICMP{Frame: 7, To: "server", From: "198.51.100.10", Type: 3, Code: 3}) ||
		fl.LastFrame != 8 || fl.Sides.Server.FinalState != "ESTABLISHED" {
		t.Errorf("an error quoting the server's data: %+v, last frame %d", fl.ICMP, fl.LastFrame)
	}

	// Refused: a quote of a segment the capture does not show (another
	// sequence number, other flags, or one it shows only after the
	// error), of a RST without ACK, or one that ends before the flags.
	data := seg(7, 200*time.Millisecond, tcli, tsrv, fPSH|fACK, 1101, 7101, 100)
	other := *data
	other.seq = 5000
	fin := *data
	fin.flags |= fFIN
	rst := seg(7, 200*time.Millisecond, tcli, tsrv, fRST, 1101, 0, 0)
	for name, c := range map[string]struct {
		quoted *frame
		at     time.Duration
		want   string
	}{
		"other seq":   {&other, 220 * time.Millisecond, "does not show"},
		"other flags": {&fin, 220 * time.Millisecond, "does not show"},
		"before it":   {data, 100 * time.Millisecond, "does not show"},
		"bare RST":    {rst, 220 * time.Millisecond, "without SYN or ACK"},
		"no flags":    {data, 220 * time.Millisecond, "before the TCP flags"},
	} {
		frames := append(handshake(), data)
		if name == "bare RST" {
			frames = append(handshake(), rst)
		}
		m := unreach(8, c.at, trtr, c.quoted)
		if name == "no flags" {
			m.flags = -1
		}
		if name == "before it" {
			m.no = 7
			frames[len(frames)-1] = seg(8, 200*time.Millisecond, tcli, tsrv, fPSH|fACK, 1101, 7101, 100)
		}
		if _, err := deriveTruth(sc, frames, []*icmpErr{m}, 0, "k", nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

func TestReqAbort(t *testing.T) {
	for _, c := range []struct {
		v6        bool
		typ, code int
		want      bool
	}{
		{false, 3, 0, true}, {false, 3, 1, true}, {false, 11, 0, true}, {false, 11, 1, true}, {false, 12, 0, true},
		{false, 3, 2, false}, {false, 3, 3, false}, {false, 3, 10, false}, {false, 3, 13, false},
		{true, 1, 0, false}, {true, 1, 1, true}, {true, 1, 2, false}, {true, 1, 3, false}, {true, 1, 4, true},
		{true, 1, 5, true}, {true, 1, 6, true}, {true, 1, 7, true}, {true, 3, 0, false}, {true, 3, 1, false},
		{true, 4, 0, true}, {true, 4, 1, true},
	} {
		if got := reqAbort(c.v6, c.typ, c.code); got != c.want {
			t.Errorf("reqAbort(v6 %v, type %d, code %d) = %v, want %v", c.v6, c.typ, c.code, got, c.want)
		}
	}
}

// TestICMPSynAck covers ICMP errors that quote the server's SYN-ACK: a
// spoofed SYN, the server's SYN-ACK and its retransmission 1 s later,
// and a router's host unreachable for each once its neighbour
// resolution gave up.
func TestICMPSynAck(t *testing.T) {
	sc := &scenario{name: "t", vantage: vantageServer, framing: frameDumpcap}
	spoof := netip.MustParseAddrPort("198.51.100.50:40000")
	rtr := netip.MustParseAddr("198.51.100.65")
	s1 := syn(1, 0, spoof, 1000)
	sa := func(no int, at time.Duration) *frame { return seg(no, at, tsrv, spoof, fSYN|fACK, 7000, 1001, 0) }
	icmp := func(no int, at time.Duration, typ, code int, quoted *frame) *icmpErr {
		m := unreach(no, at, rtr, quoted)
		m.typ, m.code = typ, code
		return m
	}
	const ms = time.Millisecond
	names := stateNames
	diags := func(fl *truthFlow) []string {
		var n []string
		for _, d := range fl.Diagnoses {
			n = append(n, d.Code+"/"+d.Side+"/"+d.Sysctl)
		}
		return n
	}

	// The wire of synack-icmp-spoofed: the first error drops the request.
	// The two errors came 11 µs apart, the second with the next IP ID:
	// two errors, not one captured twice.
	sa1, sa2 := sa(2, ms/10), sa(3, 1030*ms)
	frames := []*frame{s1, sa1, sa2}
	e5 := icmp(5, 1542*ms, 3, 1, sa2)
	e5.ipid++
	errs := []*icmpErr{icmp(4, 1542*ms, 3, 1, sa1), e5}
	tf, err := deriveTruth(sc, frames, errs, int64(4600*ms), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	fl := tf.Flows[0]
	if fl.Close.Kind != "open_at_end" || fl.Close.Initiator != "none" || fl.Close.Reset != nil || fl.Handshake != "syn_synack" ||
		!slices.Equal(names(fl.Sides.Client.States), []string{"SYN_SENT@1"}) ||
		!slices.Equal(names(fl.Sides.Server.States), []string{"SYN_RECV@1", "CLOSED@4"}) || fl.Sides.Server.FinalState != "CLOSED" ||
		!slices.Equal(diags(fl), []string{"synack-unanswered/server/net.ipv4.tcp_synack_retries"}) ||
		fl.LastFrame != 5 || fl.ICMPErrors != 2 || len(fl.ICMP) != 2 ||
		*fl.ICMP[0] != (truthICMP{Frame: 4, To: "server", From: "198.51.100.65", Type: 3, Code: 1}) {
		t.Errorf("request dropped: %+v %v %v %v, last frame %d, icmp %+v", fl.Close, names(fl.Sides.Client.States),
			names(fl.Sides.Server.States), diags(fl), fl.LastFrame, fl.ICMP)
	}

	// Every type that aborts a request, after a single SYN-ACK: no
	// synack-unanswered. Other types change nothing.
	for _, c := range []struct {
		typ, code int
		dropped   bool
	}{{3, 0, true}, {3, 1, true}, {11, 0, true}, {12, 0, true}, {3, 3, false}, {3, 13, false}} {
		tf, err := deriveTruth(sc, []*frame{s1, sa1}, []*icmpErr{icmp(3, 500*ms, c.typ, c.code, sa1)}, int64(1500*ms), "k", nil)
		if err != nil {
			t.Errorf("type %d code %d: %v", c.typ, c.code, err)
			continue
		}
		want := []string{"SYN_RECV@1"}
		if c.dropped {
			want = append(want, "CLOSED@3")
		}
		if fl := tf.Flows[0]; !slices.Equal(names(fl.Sides.Server.States), want) || len(fl.Diagnoses) != 0 ||
			fl.Close.Kind != "open_at_end" || len(fl.ICMP) != 1 || fl.LastFrame != 3 {
			t.Errorf("type %d code %d: %v %v %+v, want server states %v", c.typ, c.code, names(fl.Sides.Server.States),
				diags(fl), fl.Close, want)
		}
	}

	// An error that changes nothing, then the SYN-ACK again.
	tf, err = deriveTruth(sc, []*frame{s1, sa1, sa(4, 1000*ms)}, []*icmpErr{icmp(3, 500*ms, 3, 3, sa1)}, int64(5*time.Second), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; !slices.Equal(names(fl.Sides.Server.States), []string{"SYN_RECV@1"}) || fl.LastFrame != 4 {
		t.Errorf("port unreachable, then the SYN-ACK again: %v, last frame %d", names(fl.Sides.Server.States), fl.LastFrame)
	}

	// How long the capture must go on: until the next SYN-ACK was due,
	// 1 s after a single one, twice the last gap after two (3.09 s here),
	// by when it stopped or by its last record (another connection's).
	for _, c := range []struct {
		name    string
		frames  []*frame
		errs    []*icmpErr
		stopped time.Duration
		ok      bool
	}{
		{"one, 1 s on", []*frame{s1, sa1}, []*icmpErr{icmp(3, 500*ms, 3, 1, sa1)}, 1001 * ms, true},
		{"one, too soon", []*frame{s1, sa1}, []*icmpErr{icmp(3, 500*ms, 3, 1, sa1)}, 999 * ms, false},
		{"two, due", frames, errs, 3091 * ms, true},
		{"two, too soon", frames, errs, 3089 * ms, false},
		{"two, no stop time", frames, errs, 0, false},
		{"two, a later connection", append(slices.Clone(frames), syn(6, 3100*ms, tcli, 5000)), errs, 0, true},
	} {
		_, err := deriveTruth(sc, c.frames, c.errs, int64(c.stopped), "k", nil)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "next SYN-ACK was due")) {
			t.Errorf("%s: %v, want an error saying the capture ends too soon", c.name, err)
		}
	}

	// Refused: a quote of another ISN, of a SYN-ACK the client had
	// acknowledged or that the capture shows only after the error, and
	// an error that dropped the request followed by a segment.
	other := *sa1
	other.seq = 9000
	hsAck := seg(3, 2*ms, spoof, tsrv, fACK, 1001, 7001, 0)
	for name, c := range map[string]struct {
		frames []*frame
		errs   []*icmpErr
		want   string
	}{
		"other ISN":    {[]*frame{s1, sa1}, []*icmpErr{icmp(3, 500*ms, 3, 1, &other)}, "does not show"},
		"before it":    {[]*frame{s1, sa(3, 600*ms)}, []*icmpErr{icmp(2, 500*ms, 3, 1, sa1)}, "does not show"},
		"acknowledged": {[]*frame{s1, sa1, hsAck}, []*icmpErr{icmp(4, 500*ms, 3, 1, sa1)}, "had acknowledged"},
		"SYN-ACK after": {[]*frame{s1, sa1, sa(4, 1000*ms)}, []*icmpErr{icmp(3, 500*ms, 3, 1, sa1)},
			"yet frame 4"},
		"client after": {[]*frame{s1, sa1, seg(4, 800*ms, spoof, tsrv, fACK, 1001, 7001, 0)},
			[]*icmpErr{icmp(3, 500*ms, 3, 1, sa1)}, "yet frame 4"},
		"no SYN": {[]*frame{seg(1, 0, tsrv, spoof, fSYN|fACK, 7000, 1001, 0)}, []*icmpErr{icmp(2, 500*ms, 3, 1, sa1)},
			"whose SYN"},
	} {
		if _, err := deriveTruth(sc, c.frames, c.errs, int64(10*time.Second), "k", nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

// TestICMPPathMTU covers the path MTU messages: listed and counted like
// the other ICMP errors, but they end no socket and drop no request,
// whatever they quote.
func TestICMPPathMTU(t *testing.T) {
	sc := &scenario{name: "t", vantage: vantageClient, framing: frameEthernet}
	const ms = time.Millisecond
	fragNeeded := func(no int, at time.Duration, from netip.Addr, quoted *frame) *icmpErr {
		m := unreach(no, at, from, quoted)
		m.code, m.mtu = 4, 1000
		return m
	}
	names, diags := stateNames, diagSides

	// A fragmentation needed answers the client's SYN and nothing
	// follows on the 4-tuple, though the capture goes on: the SYN_SENT
	// socket was not aborted.
	s1 := syn(1, 0, tcli, 1000)
	tf, err := deriveTruth(sc, []*frame{s1, syn(3, 1500*ms, tcli2, 5000)}, []*icmpErr{fragNeeded(2, ms, trtr, s1)}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	fl := tf.Flows[0]
	if fl.Close.Kind != "open_at_end" || fl.Close.Initiator != "none" || fl.Handshake != "syn_only" ||
		!slices.Equal(names(fl.Sides.Client.States), []string{"SYN_SENT@1"}) || len(fl.Diagnoses) != 0 ||
		fl.ICMPErrors != 1 || len(fl.ICMP) != 1 || fl.LastFrame != 2 ||
		*fl.ICMP[0] != (truthICMP{Frame: 2, To: "client", From: "198.51.100.1", Type: 3, Code: 4}) {
		t.Errorf("fragmentation needed quoting the SYN: %+v %v %v %+v, last frame %d", fl.Close,
			names(fl.Sides.Client.States), diags(fl), fl.ICMP, fl.LastFrame)
	}

	// ICMPv6's packet too big likewise.
	c6 := netip.MustParseAddrPort("[2001:db8:1::10]:40000")
	c62 := netip.MustParseAddrPort("[2001:db8:1::10]:40002")
	s6 := netip.MustParseAddrPort("[2001:db8:2::80]:8080")
	syn6 := func(no int, at time.Duration, src netip.AddrPort, seq uint32) *frame {
		f := syn(no, at, src, seq)
		f.dst = s6
		return f
	}
	s61 := syn6(1, 0, c6, 1000)
	tooBig := unreach(2, ms, netip.MustParseAddr("2001:db8:1::1"), s61)
	tooBig.v6, tooBig.typ, tooBig.code, tooBig.mtu = true, 2, 0, 1280
	tf, err = deriveTruth(sc, []*frame{s61, syn6(3, 1500*ms, c62, 5000)}, []*icmpErr{tooBig}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; fl.Close.Kind != "open_at_end" || !slices.Equal(names(fl.Sides.Client.States), []string{"SYN_SENT@1"}) ||
		len(fl.Diagnoses) != 0 || len(fl.ICMP) != 1 || fl.ICMP[0].Type != 2 || fl.ICMP[0].Code != 0 {
		t.Errorf("packet too big quoting the SYN: %+v %v %v %+v", fl.Close, names(fl.Sides.Client.States), diags(fl), fl.ICMP)
	}

	// A host unreachable after it is the error that ends the socket.
	tf, err = deriveTruth(sc, []*frame{s1, syn(4, 1500*ms, tcli2, 5000)},
		[]*icmpErr{fragNeeded(2, ms, trtr, s1), unreach(3, 2*ms, trtr, s1)}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; fl.Close.Kind != "rejected" || !slices.Equal(names(fl.Sides.Client.States), []string{"SYN_SENT@1", "CLOSED@3"}) ||
		!slices.Equal(diags(fl), []string{"syn-rejected-icmp/"}) || fl.ICMPErrors != 2 {
		t.Errorf("fragmentation needed, then a port unreachable: %+v %v %v", fl.Close, names(fl.Sides.Client.States), diags(fl))
	}

	// A fragmentation needed quoting the server's SYN-ACK drops no
	// request, and the capture need not go on until the next SYN-ACK.
	ssc := &scenario{name: "t", vantage: vantageServer, framing: frameEthernet}
	sa := seg(2, ms/10, tsrv, tcli, fSYN|fACK, 7000, 1001, 0)
	tf, err = deriveTruth(ssc, []*frame{s1, sa}, []*icmpErr{fragNeeded(3, 500*ms, trtr, sa)}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; !slices.Equal(names(fl.Sides.Server.States), []string{"SYN_RECV@1"}) || fl.Handshake != "syn_synack" ||
		len(fl.Diagnoses) != 0 || fl.LastFrame != 3 || len(fl.ICMP) != 1 || fl.ICMP[0].To != "server" {
		t.Errorf("fragmentation needed quoting the SYN-ACK: %v %v %+v, last frame %d", names(fl.Sides.Server.States),
			diags(fl), fl.ICMP, fl.LastFrame)
	}

	// Established: one quoting the server's data goes to the server and
	// changes nothing; so do ones whose quote ends before the TCP flags
	// or quotes a segment the capture does not show.
	frames := []*frame{
		s1,
		seg(2, ms, tsrv, tcli, fSYN|fACK, 7000, 1001, 0),
		seg(3, 2*ms, tcli, tsrv, fACK, 1001, 7001, 0),
		seg(4, 10*ms, tcli, tsrv, fPSH|fACK, 1001, 7001, 100),
		seg(5, 11*ms, tsrv, tcli, fPSH|fACK, 7001, 1101, 1448),
	}
	noFlags := fragNeeded(7, 13*ms, trtr, frames[4])
	noFlags.flags = -1
	unseen := fragNeeded(8, 14*ms, trtr, seg(0, 0, tsrv, tcli, fACK, 9999, 1101, 1448))
	frames = append(frames, seg(9, 20*ms, tcli, tsrv, fACK, 1101, 8449, 0))
	tf, err = deriveTruth(ssc, frames, []*icmpErr{fragNeeded(6, 12*ms, trtr, frames[4]), noFlags, unseen}, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fl = tf.Flows[0]; fl.Sides.Server.FinalState != "ESTABLISHED" || fl.Sides.Client.FinalState != "ESTABLISHED" ||
		fl.Close.Kind != "open_at_end" || len(fl.Diagnoses) != 0 || fl.ICMPErrors != 3 || fl.LastFrame != 9 ||
		*fl.ICMP[0] != (truthICMP{Frame: 6, To: "server", From: "198.51.100.1", Type: 3, Code: 4}) {
		t.Errorf("fragmentation needed quoting the server's data: %+v %v %+v, %d errors, last frame %d", fl.Close,
			diags(fl), fl.ICMP, fl.ICMPErrors, fl.LastFrame)
	}
}
