package flows_test

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/teardown/teardown/flows"
)

// tableInput turns fuzz bytes into table options and segments. The first
// four bytes choose MaxFlows (0 to 3) and the linger, remember and
// handshake-idle times (in seconds, 0 for the default); bit 2 of the first
// sets LateWake, bit 3 EncodeAhead, bit 4 compacting the idle connections'
// blocks at every sleep (FuzzTable), bit 7 of the fourth a SleepIdle of
// 1 s; then every 8 bytes are one segment:
//
//	0    bits 0-1 sender host, 2 receiver host (of the sender's family),
//	     4-5 sender port, 6-7 receiver port
//	1    TCP flags
//	2    sequence number: the sender's next, moved by (int8) × 1000; 0x80
//	     repeats the sender's previous one (a retransmission)
//	3    payload length ÷ 10; 0xff makes the record an ICMP error
//	     quoting a segment of the sender's (flags, sequence and
//	     acknowledgement as above), from the other host
//	4    acknowledgement: the receiver's next, moved by (int8) × 1000
//	5    clock step in ms (int8: it may go back)
//	6-7  window
//
// Four hosts and four ports make 4-tuples collide, so that incarnations,
// reuse and eviction all happen.
func tableInput(data []byte) (flows.TableOptions, []flows.Segment) {
	var opts flows.TableOptions
	if len(data) < 4 {
		return opts, nil
	}
	opts.MaxFlows = int(data[0] % 4)
	opts.Linger = int64(data[1]%128) * 1e9
	opts.Remember = int64(data[2]%128) * 1e9
	opts.HandshakeIdle = int64(data[3]%128) * 1e9
	opts.LateWake = data[0]&4 != 0
	opts.EncodeAhead = data[0]&8 != 0
	if data[3]&0x80 != 0 {
		opts.SleepIdle = 1e9
	}
	// Two IPv4 and two IPv6 hosts. (An IPv4 address and its IPv4-mapped
	// IPv6 form share a table key; a packet never carries one of each.)
	hosts := [4]netip.Addr{
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"),
	}
	ports := [4]uint16{80, 443, 40000, 40001}
	nxt, last := map[netip.AddrPort]uint32{}, map[netip.AddrPort]uint32{}
	now := int64(1_700_000_000e9)
	var segs []flows.Segment
	for r := data[4:]; len(r) >= 8; r = r[8:] {
		src := netip.AddrPortFrom(hosts[r[0]&3], ports[r[0]>>4&3])
		dst := netip.AddrPortFrom(hosts[r[0]&2|r[0]>>2&1], ports[r[0]>>6&3])
		now += int64(int8(r[5])) * 1e6
		s := flows.Segment{
			Frame: uint64(len(segs) + 1), Time: now, Src: src, Dst: dst,
			Flags:      flows.Flags(r[1]),
			Seq:        nxt[src] + uint32(int32(int8(r[2]))*1000),
			Ack:        nxt[dst] + uint32(int32(int8(r[4]))*1000),
			PayloadLen: uint32(r[3]) * 10,
			Window:     uint16(r[6]) | uint16(r[7])<<8,
			WScale:     -1, TTL: 64 - r[7]&1, IPv6: !src.Addr().Is4(),
		}
		if r[3] == 0xff {
			s.PayloadLen = 0
			s.ICMP = &flows.ICMPError{Type: 3, Code: r[6] & 15, V6: s.IPv6, QuotedAck: true, QuotedFlags: true, From: dst.Addr()}
			segs = append(segs, s)
			continue
		}
		if r[2] == 0x80 {
			s.Seq = last[src]
		}
		last[src] = s.Seq
		if e := s.End(); s.Flags&flows.RST == 0 && flows.SeqLess(nxt[src], e) {
			nxt[src] = e
		}
		segs = append(segs, s)
	}
	return opts, segs
}

// FuzzTable files arbitrary segment sequences into a flow table and checks
// what it hands out: every connection once, counts that add up, bounded
// evidence in frame order, the MaxFlows cap held at every step.
func FuzzTable(f *testing.F) {
	// A handshake, data, a four-way close; the same 4-tuple again (a new
	// incarnation); a RST; a SYN flood against MaxFlows 1; FINs repeated
	// past the cap.
	f.Add([]byte{0, 0, 0, 0,
		0x80, 0x02, 0, 0, 0, 1, 0xff, 0xff,
		0x22, 0x12, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x10, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x18, 0, 10, 0, 1, 0xff, 0xff,
		0x22, 0x11, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x11, 0, 0, 0, 1, 0xff, 0xff,
		0x22, 0x10, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x02, 5, 0, 0, 100, 0xff, 0xff,
		0x22, 0x14, 0, 0, 0, 1, 0, 0,
	})
	flood := []byte{1, 1, 1, 1}
	for i := range 40 {
		flood = append(flood, byte(i*37), 0x02, byte(i), 0, 0, 1, 0, 1)
	}
	f.Add(flood)
	storm := []byte{0, 60, 60, 60, 0x80, 0x18, 0, 5, 0, 1, 0, 1}
	for range 40 {
		storm = append(storm, 0x80, 0x11, 0x80, 0, 0, 3, 0, 1)
	}
	f.Add(storm)
	// ICMP errors: one quoting a SYN, one quoting a segment of the
	// closed connection lingering asleep, one quoting no connection.
	f.Add([]byte{4, 60, 60, 0,
		0x80, 0x02, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x02, 0x80, 0xff, 0, 1, 3, 0,
		0x22, 0x12, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x10, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x11, 0, 0, 0, 1, 0xff, 0xff,
		0x22, 0x11, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x10, 0, 0, 0, 1, 0xff, 0xff,
		0x22, 0x11, 0x80, 0xff, 0, 100, 1, 0,
		0x13, 0x02, 0, 0xff, 0, 1, 13, 0,
	})
	// Idle connections compacted at every sleep: a connection idle for
	// 1.5 s (SleepIdle 1 s) while another sends, then closing; then both
	// idle.
	idle := []byte{0x10, 0, 0, 0x80,
		0x80, 0x02, 0, 0, 0, 1, 0xff, 0xff,
		0x22, 0x12, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x10, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x18, 0, 10, 0, 1, 0xff, 0xff,
	}
	other := func() {
		for range 12 {
			idle = append(idle, 0x81, 0x10, 0, 1, 0, 127, 0xff, 0xff)
		}
	}
	other()
	idle = append(idle,
		0x22, 0x11, 0, 0, 0, 1, 0xff, 0xff,
		0x80, 0x11, 0, 0, 0, 1, 0xff, 0xff)
	other()
	idle = append(idle, 0x22, 0x10, 0, 0, 0, 1, 0xff, 0xff)
	other()
	f.Add(idle)
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, segs := tableInput(data)
		if len(data) > 0 && data[0]&0x10 != 0 {
			defer flows.SetIdleSlack(0)()
		}
		stop := flows.CheckSleep()
		checkTable(t, opts, segs)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// checkTable files segs into a table with opts and checks the
// connections it hands out.
func checkTable(t *testing.T, opts flows.TableOptions, segs []flows.Segment) {
	t.Helper()
	var got []*flows.Conn
	finished := map[int]bool{}
	opts.Finish = func(c *flows.Conn) error {
		c.Wake() // handed over asleep under LateWake
		if finished[c.ID] {
			t.Fatalf("connection %d finished twice", c.ID)
		}
		finished[c.ID] = true
		got = append(got, c)
		return nil
	}
	tab := flows.NewTable(opts)
	for i := range segs {
		if err := tab.Add(&segs[i]); err != nil {
			t.Fatalf("Add frame %d: %v", segs[i].Frame, err)
		}
		if st := tab.Stats(); opts.MaxFlows > 0 && st.Live > opts.MaxFlows {
			t.Fatalf("after frame %d: %d live connections, MaxFlows %d", segs[i].Frame, st.Live, opts.MaxFlows)
		}
		if i < 1000 || i%1000 == 0 {
			if v := tab.AwakeViolation(); v != "" {
				t.Fatalf("after frame %d: %s", segs[i].Frame, v)
			}
		}
	}
	if v := tab.AwakeViolation(); v != "" {
		t.Fatalf("at the end: %s", v)
	}
	if err := tab.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st := tab.Stats()
	if st.Live != 0 || st.Flows != len(got) {
		t.Fatalf("after Flush: %d live, %d started, %d finished", st.Live, st.Flows, len(got))
	}
	if opts.MaxFlows > 0 && st.PeakLive > opts.MaxFlows {
		t.Errorf("PeakLive %d over MaxFlows %d", st.PeakLive, opts.MaxFlows)
	}
	var packets, icmp uint64
	evicted := 0
	prevOf := map[int]bool{}
	addr := map[int][2]netip.AddrPort{}
	for _, c := range got {
		addr[c.ID] = c.Addr
	}
	for _, c := range got {
		packets += c.Dir[0].Packets + c.Dir[1].Packets
		icmp += uint64(c.ICMPCount)
		if n := len(c.ICMP); n > flows.MaxICMP || n != min(c.ICMPCount, flows.MaxICMP) ||
			!slices.IsSortedFunc(c.ICMP, func(a, b flows.ICMPEvent) int { return cmp.Compare(a.Frame, b.Frame) }) {
			t.Errorf("connection %d: %d ICMP errors counted, %d kept out of order or beyond MaxICMP", c.ID, c.ICMPCount, n)
		}
		if c.End == flows.EndEvicted {
			evicted++
		}
		if c.Prev != nil {
			prevOf[c.Prev.ID] = true
		}
		for _, v := range connViolations(c, addr) {
			t.Errorf("connection %d: %s", c.ID, v)
		}
	}
	for id := 1; id <= st.Flows; id++ {
		if !finished[id] {
			t.Errorf("connection %d never finished", id)
		}
	}
	for _, c := range got {
		if c.End == flows.EndSuperseded && !prevOf[c.ID] {
			t.Errorf("connection %d was superseded by no connection", c.ID)
		}
	}
	if packets+icmp+uint64(st.ICMPUnmatched+st.Duplicates) != uint64(len(segs)) {
		t.Errorf("connections hold %d packets and %d ICMP errors, %d unmatched, %d duplicates, of %d filed", packets, icmp, st.ICMPUnmatched, st.Duplicates, len(segs))
	}
	if evicted != st.Evicted {
		t.Errorf("%d connections evicted, Stats says %d", evicted, st.Evicted)
	}
}

// connViolations checks one connection's evidence; addr holds every
// connection's addresses by ID.
func connViolations(c *flows.Conn, addr map[int][2]netip.AddrPort) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if c.End < flows.EndLinger || c.End > flows.EndOfCapture {
		bad("end reason %d", c.End)
	}
	if !c.First.Seen() || c.Last.Frame < c.First.Frame {
		bad("first frame %d, last %d", c.First.Frame, c.Last.Frame)
	}
	switch p := c.Prev; {
	case p == nil && c.Incarnation != 1:
		bad("incarnation %d with no previous one", c.Incarnation)
	case p != nil && (p.ID >= c.ID || c.Incarnation != int(p.Incarnation)+1):
		bad("incarnation %d after connection %d's %d", c.Incarnation, p.ID, p.Incarnation)
	case p != nil && !(addr[p.ID] == c.Addr || addr[p.ID] == [2]netip.AddrPort{c.Addr[1], c.Addr[0]}):
		bad("previous incarnation on %v, this on %v", addr[p.ID], c.Addr)
	case p != nil && p.WasClient(c, flows.FromClient) != (addr[p.ID][flows.FromClient] == c.Addr[flows.FromClient]):
		bad("previous incarnation's client %v, this one's %v, WasClient %v", addr[p.ID][flows.FromClient], c.Addr[flows.FromClient], p.WasClient(c, flows.FromClient))
	case p != nil && p.Last.Frame >= c.First.Frame:
		bad("previous incarnation's last frame %d after this one's first %d", p.Last.Frame, c.First.Frame)
	}
	if len(c.Events) > flows.MaxEvents || (c.EventsDropped > 0 && len(c.Events) != flows.MaxEvents) {
		bad("%d events kept, %d dropped (MaxEvents %d)", len(c.Events), c.EventsDropped, flows.MaxEvents)
	}
	var fins, syns, rsts [2]int
	for i, e := range c.Events {
		if i > 0 && e.Frame <= c.Events[i-1].Frame {
			bad("event frame %d after %d", e.Frame, c.Events[i-1].Frame)
		}
		if e.Frame < c.First.Frame || e.Frame > c.Last.Frame {
			bad("event frame %d outside %d..%d", e.Frame, c.First.Frame, c.Last.Frame)
		}
		if e.Dir > 1 || e.Why == 0 || e.Count < 1 {
			bad("event at frame %d: dir %d, why %#x, count %d", e.Frame, e.Dir, e.Why, e.Count)
			continue
		}
		if e.Why&flows.WhyFIN != 0 {
			fins[e.Dir]++
		}
		if e.Why&flows.WhySYN != 0 {
			syns[e.Dir]++
		}
		if e.Why&flows.WhyRST != 0 {
			rsts[e.Dir]++
		}
	}
	for d := range 2 {
		h := &c.Dir[d]
		if fins[d] > flows.MaxFINs || syns[d] > flows.MaxSYNs || rsts[d] > flows.MaxRSTs {
			bad("direction %d keeps %d FIN, %d SYN, %d RST events", d, fins[d], syns[d], rsts[d])
		}
		if uint32(fins[d]) > h.FinCount || uint32(syns[d]) > h.SYNCount || uint32(rsts[d]) > h.RSTCount {
			bad("direction %d: %d/%d/%d FIN/SYN/RST events for counts %d/%d/%d", d, fins[d], syns[d], rsts[d], h.FinCount, h.SYNCount, h.RSTCount)
		}
		if c.EventsDropped == 0 && fins[d] != int(min(h.FinCount, flows.MaxFINs)) {
			bad("direction %d: %d FIN events for %d transmissions", d, fins[d], h.FinCount)
		}
		if h.FinCount > 0 && (!h.FinSeen || h.FinFirst.Frame > h.FinLast.Frame) {
			bad("direction %d: %d FINs, first %d, last %d", d, h.FinCount, h.FinFirst.Frame, h.FinLast.Frame)
		}
		if h.RSTInWindow > h.RSTCount {
			bad("direction %d: %d RSTs in window of %d", d, h.RSTInWindow, h.RSTCount)
		}
		if h.Packets > 0 && (h.Last.Frame < c.First.Frame || h.Last.Frame > c.Last.Frame) {
			bad("direction %d: last frame %d outside %d..%d", d, h.Last.Frame, c.First.Frame, c.Last.Frame)
		}
	}
	return out
}
