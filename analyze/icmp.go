package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/teardown/teardown/flows"
)

// ICMP is an ICMP error that quoted one of a flow's segments (teardown/v1
// added field "icmp", present when a flow had any).
type ICMP struct {
	Frame uint64 `json:"frame"`
	At    Time   `json:"at"`
	// To is the side whose segment the error quoted: the side it was
	// sent to.
	To Role `json:"to"`
	// From is the error's source address: the other side's, or a router's
	// or firewall's on the way.
	From string `json:"from"`
	// Type and Code are the message's (ICMPv6 numbers for IPv6), Name
	// says what they mean: "port-unreachable", "admin-prohibited", ...
	Type uint8  `json:"type"`
	Code uint8  `json:"code"`
	Name string `json:"name"`
	// MTU is the next-hop MTU a path MTU message ("fragmentation-needed",
	// "packet-too-big") carries; absent from the JSON when 0.
	MTU uint16 `json:"mtu,omitempty"`
}

// UnmatchedICMP counts the ICMP errors that quoted a TCP segment of no
// connection the analysis held — none on that 4-tuple was in the
// capture, or it had finished minutes before — and keeps the first
// flows.MaxUnmatchedICMP of them, in frame order.
type UnmatchedICMP struct {
	Count int         `json:"count"`
	First []StrayICMP `json:"first"`
}

// StrayICMP is an ICMP error that quoted a segment of no connection the
// analysis held: ICMP's fields, and the quoted segment's sender,
// receiver and flags (tcpdump style, absent when the quote ends before
// them).
type StrayICMP struct {
	Frame uint64 `json:"frame"`
	At    Time   `json:"at"`
	From  string `json:"from"`
	Type  uint8  `json:"type"`
	Code  uint8  `json:"code"`
	Name  string `json:"name"`
	MTU   uint16 `json:"mtu,omitempty"`
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Flags string `json:"flags,omitempty"`
}

// unmatchedICMP renders the table's count and first few of the ICMP
// errors it matched to no connection (nil when there were none).
func unmatchedICMP(st flows.TableStats) *UnmatchedICMP {
	if st.ICMPUnmatched == 0 {
		return nil
	}
	u := &UnmatchedICMP{Count: st.ICMPUnmatched, First: make([]StrayICMP, len(st.ICMPUnmatchedFirst))}
	for i := range st.ICMPUnmatchedFirst {
		e := &st.ICMPUnmatchedFirst[i]
		s := StrayICMP{
			Frame: e.Frame, At: Time(e.Time), From: e.From.Unmap().String(),
			Type: e.Type, Code: e.Code, Name: icmpName(&e.ICMPError), MTU: e.MTU,
		}
		s.Src, s.Dst = addrStrings([2]netip.AddrPort{e.Src, e.Dst})
		if e.QuotedFlags {
			s.Flags = flagNames[e.Flags]
		}
		u.First[i] = s
	}
	return u
}

// merge adds o, another shard's, to u: the counts add up and the first
// errors of both are kept, in frame order, up to flows.MaxUnmatchedICMP.
func (u *UnmatchedICMP) merge(o *UnmatchedICMP) *UnmatchedICMP {
	switch {
	case o == nil:
		return u
	case u == nil:
		u = &UnmatchedICMP{}
	}
	u.Count += o.Count
	u.First = append(u.First, o.First...)
	slices.SortStableFunc(u.First, func(a, b StrayICMP) int { return cmp.Compare(a.Frame, b.Frame) })
	if len(u.First) > flows.MaxUnmatchedICMP {
		u.First = u.First[:flows.MaxUnmatchedICMP]
	}
	return u
}

// NoteICMP begins the note of an ICMP error among a flow's events,
// followed by its name: "icmp-port-unreachable". The event's Flags is
// "ICMP", its From the side the error did not quote (where it came
// from, or from that direction), its Seq and Ack the quoted segment's.
const NoteICMP = "icmp-"

// icmpNames name ICMPv4 destination unreachable codes (RFC 792, 1122,
// 1812).
var icmpNames = [...]string{
	"net-unreachable", "host-unreachable", "protocol-unreachable", "port-unreachable",
	"fragmentation-needed", "source-route-failed", "net-unknown", "host-unknown",
	"host-isolated", "net-prohibited", "host-prohibited", "net-unreachable-for-tos",
	"host-unreachable-for-tos", "admin-prohibited", "host-precedence-violation", "precedence-cutoff",
}

// icmp6Names name ICMPv6 destination unreachable codes (RFC 4443).
var icmp6Names = [...]string{
	"no-route", "admin-prohibited", "beyond-scope", "address-unreachable",
	"port-unreachable", "source-policy-failed", "reject-route", "source-routing-header-error",
}

// icmpName names an ICMP error message.
func icmpName(e *flows.ICMPError) string {
	switch {
	case !e.V6 && e.Type == 3 && int(e.Code) < len(icmpNames):
		return icmpNames[e.Code]
	case e.V6 && e.Type == 1 && int(e.Code) < len(icmp6Names):
		return icmp6Names[e.Code]
	case e.V6 && e.Type == 2:
		return "packet-too-big"
	case !e.V6 && e.Type == 3, e.V6 && e.Type == 1:
		return "unreachable"
	case !e.V6 && e.Type == 11, e.V6 && e.Type == 3:
		return "time-exceeded"
	}
	return "parameter-problem"
}

// icmpErrno is what connect() fails with when e aborts a SYN_SENT socket
// (the kernel's icmp_err_convert and icmpv6_err_convert).
func icmpErrno(e *flows.ICMPError) string {
	switch {
	case !e.V6 && e.Type == 3:
		switch e.Code {
		case 0, 6, 9, 11:
			return "ENETUNREACH"
		case 2:
			return "ENOPROTOOPT"
		case 3:
			return "ECONNREFUSED"
		case 5:
			return "EOPNOTSUPP"
		case 7:
			return "EHOSTDOWN"
		case 8:
			return "ENONET"
		}
		return "EHOSTUNREACH"
	case e.V6 && e.Type == 1:
		switch e.Code {
		case 0:
			return "ENETUNREACH"
		case 2, 3:
			return "EHOSTUNREACH"
		case 1, 5, 6:
			return "EACCES"
		case 4:
			return "ECONNREFUSED"
		}
		return "EPROTO"
	case !e.V6 && e.Type == 11, e.V6 && e.Type == 3:
		return "EHOSTUNREACH"
	}
	return "EPROTO"
}

// abortsSynSent reports whether Linux aborts a socket in SYN_SENT on e
// (tcp_v4_err, tcp_v6_err): every destination unreachable (IPv4 codes up
// to 15; "fragmentation needed" and "packet too big" are not errors
// here), time exceeded and parameter problem.
func abortsSynSent(e *flows.ICMPError) bool {
	if e.PMTU() {
		return false
	}
	if !e.V6 && e.Type == 3 {
		return e.Code <= 15
	}
	return true
}

// synRetryWithin is how long after an ICMP error the capture must go on,
// with no segment from the client, to prove the error aborted its
// connect(): the SYN's first retransmission timeout (TCP_TIMEOUT_INIT).
const synRetryWithin = 1e9

// icmpAbort returns the ICMP error that aborted the client's connect()
// in SYN_SENT, or nil: an error quoting the client's SYN, before any
// answer from the server, after which the client sent nothing though the
// capture went on long enough for a SYN retransmission.
func (s *story) icmpAbort() *flows.ICMPEvent {
	c := s.conn
	cl, sv := &c.Dir[flows.FromClient], &c.Dir[flows.FromServer]
	if len(c.ICMP) == 0 || c.Roles != flows.RolesSYN || sv.Packets > 0 || s.run[flows.FromClient].state != SynSent {
		return nil
	}
	for i := range c.ICMP {
		e := &c.ICMP[i]
		if e.Dir != flows.FromClient || e.Seq != cl.ISN || (e.QuotedFlags && e.Flags&(flows.SYN|flows.ACK) != flows.SYN) ||
			!abortsSynSent(&e.ICMPError) {
			continue
		}
		switch {
		case cl.Last.Frame > e.Frame:
			// The client sent its SYN again: the error arrived while the
			// connecting process held the socket, and was only recorded.
			continue
		case s.end-e.Time >= synRetryWithin:
			return e
		}
		return nil
	}
	return nil
}

// fromPeer reports whether ICMP error e came from the address of the side
// it did not quote.
func fromPeer(c *flows.Conn, e *flows.ICMPEvent) bool {
	return e.From.Unmap() == c.Addr[1-int(e.Dir)].Addr().Unmap()
}

// icmpList renders the flow's ICMP errors.
func (s *story) icmpList() []ICMP {
	c := s.conn
	if len(c.ICMP) == 0 {
		return nil
	}
	out := make([]ICMP, len(c.ICMP))
	for i := range c.ICMP {
		e := &c.ICMP[i]
		out[i] = ICMP{
			Frame: e.Frame, At: Time(e.Time), To: sideRole(int(e.Dir)), From: e.From.Unmap().String(),
			Type: e.Type, Code: e.Code, Name: icmpName(&e.ICMPError), MTU: e.MTU,
		}
	}
	return out
}

// icmpEvents merges the flow's ICMP errors into its events, in frame
// order.
func (s *story) icmpEvents(evs []Event) []Event {
	c := s.conn
	for i := range c.ICMP {
		e := &c.ICMP[i]
		ev := Event{
			Frame: e.Frame, At: Time(e.Time), From: sideRole(1 - int(e.Dir)),
			Flags: "ICMP", Seq: e.Seq, Ack: e.Ack, Note: NoteICMP + icmpName(&e.ICMPError),
		}
		j := len(evs)
		for j > 0 && evs[j-1].Frame > e.Frame {
			j--
		}
		evs = append(evs, Event{})
		copy(evs[j+1:], evs[j:])
		evs[j] = ev
	}
	return evs
}

// synRejectedICMP: an ICMP error answered the client's SYN and ended its
// connect() at once.
func synRejectedICMP(c *ruleCtx) {
	e := c.s.icmp
	if e == nil {
		return
	}
	conn := c.conn()
	name := icmpName(&e.ICMPError)
	side, who, advice := noSide, "from "+e.From.Unmap().String()+", a router or firewall on the path (not the server)",
		"find the device by its address and read its policy (a REJECT rule, an ACL, a missing route)"
	if fromPeer(conn, e) {
		side, who = flows.FromServer, "from the server's own address"
		advice = "read the server's firewall rules (iptables -S, nft list ruleset) for the REJECT that matches, or a device that answers in its name"
	}
	why := "a firewall's REJECT rule answered it"
	switch name {
	case "port-unreachable":
		why = "a firewall's REJECT rule answered it (iptables' REJECT sends port-unreachable unless told --reject-with tcp-reset; a Linux host with no listener answers with a RST, never with ICMP)"
	case "admin-prohibited", "host-prohibited", "net-prohibited":
		why = "a firewall's policy refused it (iptables' --reject-with icmp-admin-prohibited or icmp-host-prohibited, firewalld's default reject, a router ACL)"
	case "host-unreachable", "net-unreachable", "no-route", "address-unreachable":
		why = "a router had no way to the server (no route, or no answer to ARP / neighbour discovery on its last hop), or a REJECT rule said so"
	case "time-exceeded":
		why = "its TTL ran out on the way (a routing loop, or a TTL set too low)"
	}
	frames := []uint64{conn.Dir[flows.FromClient].SYN.Frame, e.Frame}
	earlier := ""
	for i := range conn.ICMP {
		if p := &conn.ICMP[i]; p.Frame < e.Frame && p.Dir == flows.FromClient {
			frames = append(frames, p.Frame)
			earlier = fmt.Sprintf(" (the same error at frame %d had not: it came while the connecting process held the socket, when Linux only records it, and the SYN was sent again)", p.Frame)
		}
	}
	c.add(CodeSynRejectedICMP, side, "", advice, frames,
		"the client's SYN was answered by ICMP %s (type %d code %d, frame %d) %s: %s. Linux aborts a connect() in SYN_SENT on such an error: connect() failed then with %s, and no SYN followed%s",
		name, e.Type, e.Code, e.Frame, who, why, icmpErrno(&e.ICMPError), earlier)
}

// errnoText is what strerror says of the errnos ICMP errors leave.
var errnoText = map[string]string{
	"EHOSTUNREACH": "No route to host", "ENETUNREACH": "Network is unreachable", "ECONNREFUSED": "Connection refused",
	"EACCES": "Permission denied", "EHOSTDOWN": "Host is down", "ENONET": "Machine is not on the network",
	"ENOPROTOOPT": "Protocol not available", "EOPNOTSUPP": "Operation not supported", "EPROTO": "Protocol error",
}

// withICMP completes d, a finding that side x's segments from frame from
// on went unanswered, with the ICMP errors they drew, if any: who sent
// them and what they say, that Linux takes them as soft errors in a
// connection it has established, and the error the application gets when
// the retransmissions run out, the ICMP's rather than ETIMEDOUT.
func (c *ruleCtx) withICMP(d *Diagnosis, x int, from uint64, app bool) {
	conn := c.conn()
	var first, last *flows.ICMPEvent
	n := 0
	for i := range conn.ICMP {
		if e := &conn.ICMP[i]; int(e.Dir) == x && e.Frame > from && !e.PMTU() {
			if first == nil {
				first = e
			}
			last = e
			n++
		}
	}
	if first == nil {
		return
	}
	if n == len(conn.ICMP) {
		n = conn.ICMPCount // those not kept came later still
	}
	name, errno := icmpName(&last.ICMPError), icmpErrno(&last.ICMPError)
	who := "the " + c.name(1-x) + "'s own address"
	if !fromPeer(conn, last) {
		who = last.From.Unmap().String() + ", a router or firewall on the path"
	}
	revert := ""
	if n > 1 && reverts(&last.ICMPError) {
		revert = " (each net or host unreachable undoes a step of the retransmission backoff, RFC 6069, so the copies come at a steady pace)"
	}
	// Where the finding says the application gets ETIMEDOUT, it says so
	// no more.
	const timedOut = "the application gets ETIMEDOUT"
	gets := fmt.Sprintf("the application gets %s (%q), the error the ICMP left, rather than ETIMEDOUT", errno, errnoText[errno])
	if before, after, ok := strings.Cut(d.Message, timedOut); ok {
		d.Message, gets = before+gets+after, ""
	}
	d.Message += fmt.Sprintf(". Its segments drew %d ICMP error%s (%s, %s) from %s: it has no way on to the %s, or a REJECT rule answers for it. Linux keeps retransmitting on such an error once past the handshake%s",
		n, plural(n), name, frameSpan(first, last), who, c.name(1-x), revert)
	if gets != "" && app {
		d.Message += "; when it gives up, " + gets
	}
	d.Frames = append(d.Frames, first.Frame)
	if last != first {
		d.Frames = append(d.Frames, last.Frame)
	}
	slices.Sort(d.Frames)
	d.Frames = slices.Compact(d.Frames)
}

// frameSpan says "frame 8", or "frames 8 to 16".
func frameSpan(first, last *flows.ICMPEvent) string {
	if first == last {
		return fmt.Sprintf("frame %d", first.Frame)
	}
	return fmt.Sprintf("frames %d to %d", first.Frame, last.Frame)
}

// retryLead measures, in seconds, how long after side x's first
// unanswered transmission (the connection's Tail) its second
// retransmission went out, from the ICMP errors its copies drew: when an
// error answered each, the errors are as far apart as the copies. 0 when
// fewer than three such errors are kept.
func retryLead(conn *flows.Conn, x int) float64 {
	var at []int64
	var seq uint32
	for i := range conn.ICMP {
		e := &conn.ICMP[i]
		if int(e.Dir) != x || e.Frame < conn.Tail.End.Frame || e.PMTU() || len(at) > 0 && e.Seq != seq {
			continue
		}
		seq = e.Seq
		if at = append(at, e.Time); len(at) == 3 {
			return secs(at[2] - at[0])
		}
	}
	return 0
}

// reverts reports whether Linux undoes a step of a retransmitting
// socket's backoff on e (tcp_ld_RTO_revert, RFC 6069): an IPv4 net or
// host unreachable, an ICMPv6 no route.
func reverts(e *flows.ICMPError) bool {
	if e.V6 {
		return e.Type == 1 && e.Code == 0
	}
	return e.Type == 3 && e.Code <= 1
}

// revertingICMP reports whether an error that undoes the backoff quoted
// side x's segments after frame from.
func (c *ruleCtx) revertingICMP(x int, from uint64) bool {
	for i := range c.conn().ICMP {
		if e := &c.conn().ICMP[i]; int(e.Dir) == x && e.Frame > from && reverts(&e.ICMPError) {
			return true
		}
	}
	return false
}

// dropsRequest reports whether Linux drops a listener's request (a
// server in SYN_RECV whose SYN-ACK e quotes) on e (tcp_req_err): IPv4
// net or host unreachable, time exceeded and parameter problem; ICMPv6
// errors icmpv6_err_convert calls fatal (destination unreachable but for
// no route, beyond scope and address unreachable; parameter problem).
func dropsRequest(e *flows.ICMPError) bool {
	if e.V6 {
		return e.Type == 1 && e.Code != 0 && e.Code != 2 && e.Code != 3 || e.Type == 4
	}
	return e.Type == 3 && e.Code <= 1 || e.Type == 11 || e.Type == 12
}

// icmpRequestDrop returns the ICMP error that made the server drop its
// request, or nil: an error quoting the server's SYN-ACK before the
// client acknowledged it, after which neither side sent anything though
// the capture went on until the next SYN-ACK was due.
func (s *story) icmpRequestDrop() *flows.ICMPEvent {
	c := s.conn
	cl, sv := &c.Dir[flows.FromClient], &c.Dir[flows.FromServer]
	if len(c.ICMP) == 0 || sv.SYNCount == 0 || cl.HandshakeAck.Seen() || s.run[flows.FromServer].state != SynRecv {
		return nil
	}
	for i := range c.ICMP {
		e := &c.ICMP[i]
		if e.Dir != flows.FromServer || e.Seq != sv.ISN || (e.QuotedFlags && e.Flags&(flows.SYN|flows.ACK) != flows.SYN|flows.ACK) ||
			!dropsRequest(&e.ICMPError) {
			continue
		}
		switch {
		case sv.Last.Frame > e.Frame:
			continue // the request outlived it
		case c.Last.Frame < e.Frame && s.end >= s.synAckDue():
			return e
		}
		return nil
	}
	return nil
}

// synAckDue is when the server's next SYN-ACK retransmission was due:
// the request's timer starts at 1 s (TCP_TIMEOUT_INIT) and doubles.
func (s *story) synAckDue() int64 {
	c := s.conn
	sv := &c.Dir[flows.FromServer]
	if sv.SYNCount < 2 {
		return sv.SYN.Time + synRetryWithin
	}
	prev := sv.SYN
	for i := range c.Events {
		if e := &c.Events[i]; e.Dir == flows.FromServer && e.Why&flows.WhySYN != 0 && e.Frame < sv.SYNLast.Frame {
			prev = e.Mark()
		}
	}
	return sv.SYNLast.Time + 2*(sv.SYNLast.Time-prev.Time)
}
