//go:build linux

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
)

// icmpErr is an ICMP error of a capture that quotes a TCP segment, as
// tshark decoded it.
type icmpErr struct {
	no         int
	t          int64      // ns since the epoch
	from       netip.Addr // the ICMP packet's source
	v6         bool
	typ, code  int            // ICMPv6 numbers when v6
	src, dst   netip.AddrPort // the quoted segment's
	seq        uint32
	ack        int64 // -1 when the quote ends before the acknowledgement number
	flags      int   // -1 when the quote ends before the TCP flags
	mtu        int   // a path MTU message's next-hop MTU; 0 for any other
	ipid       int   // the ICMP packet's own IPv4 ID; -1 for IPv6
	ttl        int   // the ICMP packet's own TTL (IPv6: hop limit)
	inc        *incarnation
	clientSide bool // the quoted segment is the client's
}

func (m *icmpErr) String() string {
	fl := "?"
	if m.flags >= 0 {
		fl = (&frame{flags: m.flags}).flagString()
	}
	s := fmt.Sprintf("frame %d ICMP%s type %d code %d from %s quoting %s > %s [%s] seq %d",
		m.no, map[bool]string{false: "", true: "v6"}[m.v6], m.typ, m.code, m.from, m.src, m.dst, fl, m.seq)
	if m.pathMTU() {
		s += fmt.Sprintf(", next-hop MTU %d", m.mtu)
	}
	return s
}

// icmpErrorType tells whether an ICMP message of type and code is one of
// the errors teardown attaches to the connection of the segment it
// quotes: destination unreachable, time exceeded and parameter problem,
// and ICMPv6's packet too big (IPv4's fragmentation needed is a
// destination unreachable, code 4). The path MTU messages among them
// (pathMTU) are no errors to the socket.
func icmpErrorType(v6 bool, typ, code int) bool {
	if v6 {
		return typ >= 1 && typ <= 4
	}
	return typ == 3 || typ == 11 || typ == 12
}

// pathMTU tells whether an ICMP message of type and code is path MTU
// discovery's: IPv4's fragmentation needed (type 3 code 4) or ICMPv6's
// packet too big (type 2). It ends no socket and drops no request:
// tcp_v4_err takes ICMP_FRAG_NEEDED's MTU (tcp_v4_mtu_reduced) and
// returns, tcp_v6_err does so for ICMPV6_PKT_TOOBIG
// (tcp_v6_mtu_reduced), and for a request socket both pass tcp_req_err
// no abort.
func pathMTU(v6 bool, typ, code int) bool {
	if v6 {
		return typ == 2
	}
	return typ == 3 && code == 4
}

// pathMTU tells whether m is a path MTU message.
func (m *icmpErr) pathMTU() bool { return pathMTU(m.v6, m.typ, m.code) }

// icmpFilter is the capture filter of a scenario that records ICMP
// errors: TCP, and the ICMP and ICMPv6 errors icmpErrorType takes.
const icmpFilter = "tcp or (icmp and (icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-timxceed or " +
	"icmp[icmptype] == icmp-paramprob)) or (icmp6 and (ip6[40] == 1 or ip6[40] == 2 or ip6[40] == 3 or ip6[40] == 4))"

// icmpFields are the tshark fields readICMP reads, every occurrence of
// each: ip.src and ip.dst (ipv6.src, ipv6.dst) list the ICMP packet's
// header, then the quoted one, and so do ip.id and ip.ttl (ipv6.hlim),
// of which readICMP takes the first, the ICMP packet's own; the tcp
// fields are the quoted segment's; icmp.mtu (icmpv6.mtu) is a path MTU
// message's next-hop MTU.
// tshark 4.0 has no tcp.seq_raw in a TCP header quoted by ICMPv4 (it has
// in one quoted by ICMPv6): readICMP reads tcp.seq with relative sequence
// numbers off.
var icmpFields = []string{
	"frame.number", "frame.time_epoch",
	"icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
	"ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
	"tcp.srcport", "tcp.dstport", "tcp.seq", "tcp.flags",
	"icmp.mtu", "icmpv6.mtu",
	"ip.id", "tcp.ack", "ip.ttl", "ipv6.hlim",
}

// readICMP decodes every ICMP error of file that quotes a TCP segment
// (icmpErrorType) with tshark.
func readICMP(ctx context.Context, file string) ([]*icmpErr, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := []string{"-n", "-r", file, "-o", "tcp.relative_sequence_numbers:FALSE", "-Y", "(icmp || icmpv6) && tcp", "-T", "fields",
		"-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range icmpFields {
		args = append(args, "-e", f)
	}
	out, err := exec.CommandContext(ctx, "tshark", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("tshark %s: %w", file, err)
	}
	var errs []*icmpErr
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		m, err := parseICMP(line)
		if err != nil {
			return nil, fmt.Errorf("tshark %s: %q: %w", file, line, err)
		}
		if icmpErrorType(m.v6, m.typ, m.code) {
			errs = append(errs, m)
		}
	}
	return errs, nil
}

func parseICMP(line string) (*icmpErr, error) {
	v := strings.Split(line, "|")
	if len(v) != len(icmpFields) {
		return nil, fmt.Errorf("%d fields, want %d", len(v), len(icmpFields))
	}
	// one is the only occurrence of a field; last two its last two.
	one := func(i int) (uint64, error) {
		s := v[i]
		if strings.Contains(s, ",") || s == "" {
			return 0, fmt.Errorf("%s: %q, want one value", icmpFields[i], s)
		}
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			return strconv.ParseUint(h, 16, 64)
		}
		return strconv.ParseUint(s, 10, 64)
	}
	lastTwo := func(i4, i6 int) (outer, quoted netip.Addr, err error) {
		s := v[i4]
		if s == "" {
			s = v[i6]
		}
		a := strings.Split(s, ",")
		if len(a) < 2 {
			return outer, quoted, fmt.Errorf("%s: %q, want the ICMP packet's and the quoted one's", icmpFields[i4], s)
		}
		if outer, err = netip.ParseAddr(a[len(a)-2]); err != nil {
			return outer, quoted, err
		}
		quoted, err = netip.ParseAddr(a[len(a)-1])
		return outer, quoted, err
	}
	// first is the first occurrence of a field: the ICMP packet's own.
	first := func(i int) (uint64, error) {
		s, _, _ := strings.Cut(v[i], ",")
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			return strconv.ParseUint(h, 16, 64)
		}
		return strconv.ParseUint(s, 10, 64)
	}
	m := &icmpErr{flags: -1, ack: -1, ipid: -1}
	n, err := one(0)
	if err != nil {
		return nil, err
	}
	m.no = int(n)
	if m.t, err = parseEpoch(v[1]); err != nil {
		return nil, err
	}
	ti, ci := 2, 3
	if v[2] == "" {
		m.v6, ti, ci = true, 4, 5
	}
	if n, err = one(ti); err != nil {
		return nil, err
	}
	m.typ = int(n)
	if n, err = one(ci); err != nil {
		return nil, err
	}
	m.code = int(n)
	from, qsrc, err := lastTwo(6, 7)
	if err != nil {
		return nil, err
	}
	_, qdst, err := lastTwo(8, 9)
	if err != nil {
		return nil, err
	}
	m.from = from
	sp, err := one(10)
	if err != nil {
		return nil, err
	}
	dp, err := one(11)
	if err != nil {
		return nil, err
	}
	m.src, m.dst = netip.AddrPortFrom(qsrc, uint16(sp)), netip.AddrPortFrom(qdst, uint16(dp))
	if n, err = one(12); err != nil {
		return nil, err
	}
	m.seq = uint32(n)
	if v[13] != "" {
		if n, err = one(13); err != nil {
			return nil, err
		}
		m.flags = int(n)
	}
	mi := 14
	if m.v6 {
		mi = 15
	}
	if v[mi] != "" {
		if n, err = one(mi); err != nil {
			return nil, err
		}
		m.mtu = int(n)
	}
	if !m.v6 {
		if n, err = first(16); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", icmpFields[16], v[16], err)
		}
		m.ipid = int(n)
	}
	if v[17] != "" {
		if n, err = one(17); err != nil {
			return nil, err
		}
		m.ack = int64(n)
	}
	ti = 18
	if m.v6 {
		ti = 19
	}
	if n, err = first(ti); err != nil {
		return nil, fmt.Errorf("%s: %q: %w", icmpFields[ti], v[ti], err)
	}
	m.ttl = int(n)
	return m, nil
}

// parseEpoch reads tshark's frame.time_epoch as ns since the epoch.
func parseEpoch(s string) (int64, error) {
	sec, frac, _ := strings.Cut(s, ".")
	t, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, err
	}
	frac = (frac + "000000000")[:9]
	ns, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	return t*1e9 + ns, nil
}

// synRetryAfter is how soon after its SYN a SYN_SENT socket that an ICMP
// error did not abort sends the SYN again: the initial RTO, 1 s.
const synRetryAfter = int64(time.Second)

// attachICMP gives each ICMP error to the incarnation of the segment it
// quotes: the newest one on the quoted 4-tuple at the ICMP's frame. It
// returns the errors whose 4-tuple no incarnation of the capture has, in
// frame order: they quote a segment of no flow (the capture was taken on
// another path, or behind a filter). One whose 4-tuple only has
// incarnations after it is refused.
func attachICMP(all []*incarnation, errs []*icmpErr) (unmatched []*icmpErr, err error) {
	for _, m := range errs {
		var in *incarnation
		known := false
		for _, x := range all {
			same := x.client == m.src && x.server == m.dst || x.client == m.dst && x.server == m.src
			known = known || same
			if same && x.frames[0].no < m.no && (in == nil || x.frames[0].no > in.frames[0].no) {
				in = x
			}
		}
		if !known {
			unmatched = append(unmatched, m)
			continue
		}
		if in == nil {
			return nil, fmt.Errorf("%v: it quotes a segment of a TCP connection the capture shows only after it", m)
		}
		m.inc, m.clientSide = in, m.src == in.client
		in.icmps = append(in.icmps, m)
	}
	return unmatched, nil
}

// icmpStory decides what the incarnation's ICMP errors did (TRUTH-FORMAT.md):
// the first one that answers the client's SYN (a pure SYN with the
// client's ISN), with no client segment on the 4-tuple after it in the
// capture and the capture going on for at least synRetryAfter after it,
// aborted the client's SYN_SENT socket (in.aborted). One followed by the
// same SYN again changed nothing, and so did one quoting a segment
// without SYN (synchronized): a synchronized socket keeps such an error
// as a soft one (tcp_v4_err, tcp_v6_err). One quoting the server's
// SYN-ACK may drop its request (quotesSynAck). A path MTU message
// (pathMTU) did nothing to either socket, whatever it quotes: it is only
// listed. frames are the capture's, end when it ends: its last record,
// or when it stopped where the file says. The lab has no rule for any
// other ICMP error, and refuses it.
func (in *incarnation) icmpStory(frames []*frame, end int64) error {
	for _, m := range in.icmps {
		if m.pathMTU() {
			continue
		}
		if m.flags < 0 {
			return fmt.Errorf("%v: the quote ends before the TCP flags", m)
		}
		if m.flags&fSYN == 0 {
			if err := in.quotesSynchronized(m); err != nil {
				return err
			}
			continue
		}
		if !m.clientSide && m.flags&(fSYN|fACK|fRST|fFIN) == fSYN|fACK {
			if err := in.quotesSynAck(m, frames, end); err != nil {
				return err
			}
			continue
		}
		if !m.clientSide || m.flags&(fSYN|fACK|fRST|fFIN) != fSYN || in.syn == nil || m.seq != in.syn.seq {
			return fmt.Errorf("%v: the lab derives only ICMP errors that answer the client's SYN, quote the server's "+
				"SYN-ACK or quote a segment without SYN", m)
		}
		if in.aborted != nil {
			continue
		}
		for _, f := range in.frames {
			if f.src == in.server && f.no < m.no {
				return fmt.Errorf("%v: it answers a SYN the server had answered (frame %d)", m, f.no)
			}
		}
		retried := false
		for _, f := range frames {
			if f.no < m.no || f.src != m.src || f.dst != m.dst {
				continue
			}
			if !slices.Contains(in.frames, f) {
				return fmt.Errorf("%v: a later connection on its 4-tuple (frame %d)", m, f.no)
			}
			if !(f.has(fSYN) && !f.has(fACK) && f.seq == in.syn.seq) {
				return fmt.Errorf("%v: the client sent %v after it", m, f)
			}
			retried = true
		}
		if retried {
			continue
		}
		if end-m.t < synRetryAfter {
			return fmt.Errorf("%v: the capture ends %v after it, too soon to show that no SYN followed", m, time.Duration(end-m.t))
		}
		in.aborted = m
	}
	if m := in.aborted; m != nil {
		for _, f := range in.frames {
			if f.src == in.server {
				return fmt.Errorf("%v: it aborted the client's connect(), yet the server sent %v", m, f)
			}
		}
	}
	return nil
}

// reqAbort tells whether an ICMP error of type and code (ICMPv6 numbers
// when v6) drops a server's request, a socket in SYN_RECV (the kernel's
// TCP_NEW_SYN_RECV), when it quotes the request's SYN-ACK: tcp_v4_err
// passes tcp_req_err abort for IPv4's net and host unreachable (type 3
// codes 0 and 1), time exceeded (11) and parameter problem (12);
// tcp_v6_err passes it icmpv6_err_convert's fatal, which is set for
// destination unreachable (1) but for codes 0 (no route), 2 and 3
// (address unreachable), and for parameter problem (4), not for time
// exceeded (3).
func reqAbort(v6 bool, typ, code int) bool {
	if v6 {
		return typ == 4 || typ == 1 && code != 0 && code != 2 && code != 3
	}
	return typ == 3 && (code == 0 || code == 1) || typ == 11 || typ == 12
}

// synAckRetryDue is when a request would have sent its SYN-ACK again,
// given its transmissions so far (at least one): the request timer
// starts at 1 s (TCP_TIMEOUT_INIT) and doubles at each retransmission
// (reqsk_timer_handler), so 1 s after the first SYN-ACK, and twice the gap
// between the last two after the last.
func synAckRetryDue(sent []*frame) int64 {
	last := sent[len(sent)-1]
	if len(sent) == 1 {
		return last.t + int64(time.Second)
	}
	return last.t + 2*(last.t-sent[len(sent)-2].t)
}

// quotesSynAck handles an ICMP error that quotes the server's SYN-ACK:
// its sequence number must be the server's ISN, of a SYN-ACK the capture
// shows before the error answering a SYN it shows, and no client segment may have acknowledged it
// before the error. The first one of a type that drops a request
// (reqAbort), with no segment on the 4-tuple after it in the capture and
// the capture going on until the server's next SYN-ACK was due
// (synAckRetryDue, from its SYN-ACKs before the error), dropped the
// server's request (in.reqDropped: tcp_req_err,
// inet_csk_reqsk_queue_drop). One of another type changes nothing:
// tcp_req_err only lets go of the request.
func (in *incarnation) quotesSynAck(m *icmpErr, frames []*frame, end int64) error {
	if in.syn == nil {
		return fmt.Errorf("%v: it quotes a SYN-ACK whose SYN the capture does not show", m)
	}
	if in.synack == nil || m.seq != in.synack.seq || in.synack.no > m.no {
		return fmt.Errorf("%v: it quotes a SYN-ACK the capture does not show the server sent before it", m)
	}
	if in.hsAck != nil && in.hsAck.no < m.no {
		return fmt.Errorf("%v: it quotes a SYN-ACK the client had acknowledged (frame %d)", m, in.hsAck.no)
	}
	if !reqAbort(m.v6, m.typ, m.code) || in.reqDropped != nil {
		return nil
	}
	for _, f := range frames {
		if f.no > m.no && (f.src == m.src && f.dst == m.dst || f.src == m.dst && f.dst == m.src) {
			return fmt.Errorf("%v: it dropped the server's request, yet %v followed", m, f)
		}
	}
	var sent []*frame
	for _, f := range in.frames {
		if f.no < m.no && f.src == in.server && f.has(fSYN|fACK) && f.seq == in.synack.seq {
			sent = append(sent, f)
		}
	}
	if due := synAckRetryDue(sent); end < due {
		return fmt.Errorf("%v: the capture ends %v after it, before the server's next SYN-ACK was due (%v after it)",
			m, time.Duration(end-m.t), time.Duration(due-m.t))
	}
	in.reqDropped = m
	return nil
}

// quotesSynchronized checks an ICMP error that quotes a segment without
// SYN: the segment must carry ACK (its sender's socket was synchronized,
// past SYN_SENT and SYN_RECV, where an error can end a socket) and be one
// the capture shows its side sent before the error (same sequence number
// and flags). Such an error changes no state.
func (in *incarnation) quotesSynchronized(m *icmpErr) error {
	if m.flags&fACK == 0 {
		return fmt.Errorf("%v: it quotes a segment without SYN or ACK", m)
	}
	for _, f := range in.frames {
		if f.no < m.no && f.src == m.src && f.dst == m.dst && f.seq == m.seq && f.flags == m.flags {
			return nil
		}
	}
	return fmt.Errorf("%v: it quotes a segment the capture does not show before it", m)
}

// icmpList is the flow's icmp key: every ICMP error attached to it, in
// frame order.
func (in *incarnation) icmpList() []*truthICMP {
	var l []*truthICMP
	kept := in.icmps
	if n := len(kept); n > flows.MaxICMP {
		// The output's bound: the first ones and the latest.
		kept = append(slices.Clip(kept[:flows.MaxICMP-1]), kept[n-1])
	}
	for _, m := range kept {
		to := roleName[rs]
		if m.clientSide {
			to = roleName[rc]
		}
		l = append(l, &truthICMP{Frame: m.no, To: to, From: m.from.String(), Type: m.typ, Code: m.code})
	}
	return l
}

// icmpByServer tells whether the ICMP error that aborted the client's
// SYN came from the server's own address.
func (in *incarnation) icmpByServer() bool {
	return in.aborted != nil && in.aborted.from == in.server.Addr()
}

// icmpRole is the close initiator of a SYN an ICMP error aborted: the
// server when it came from the server's address, else none.
func (in *incarnation) icmpRole() analyze.Role {
	if in.icmpByServer() {
		return analyze.Server
	}
	return analyze.NoRole
}
