package analyze

import (
	"fmt"
	"net/netip"
	"strings"
)

// Findings the summary draws across flows, read again after every merge.

// CodePortPressure: a client held a large share of its ephemeral ports
// in TIME_WAIT towards one server address (net.ipv4.ip_local_port_range).
const CodePortPressure = "ephemeral-port-pressure"

// closeResetBurst is how many resets at close() within one second make a
// burst worth a finding.
const closeResetBurst = 10

// nearLimit is the share of a kernel limit from which a count is worth a
// finding.
const nearLimit = 0.9

// clock renders a peak's time in findings.
func clock(t Time) string { return t.Std().Format("15:04:05 UTC") }

// secondTo renders the second up to a rate peak's whole second t, of whose
// events the peak is the count: "13:51:58–13:51:59 UTC".
func secondTo(t Time) string {
	return (t - Time(1e9)).Std().Format("15:04:05") + "–" + clock(t)
}

// percent is n as a share of of.
func percent(n, of int64) string {
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// hostFindings compares a host's peaks with its limits and looks for
// bursts of orphan resets.
func hostFindings(h *HostLoad) []Finding {
	var out []Finding
	if r := h.OrphanResets; r.Count >= 2 {
		// Orphans near the limit (0 with settings that say so) decide
		// between the two.
		doubt := bookDoubt(CodeOrphanReset)
		if o := h.Orphans; o.LimitFrom != "" && float64(o.Count) >= nearLimit*float64(o.Limit) {
			doubt = ""
		}
		out = append(out, Finding{
			Code: CodeOrphanReset, Severity: Error, Host: h.Host, Sysctl: SysMaxOrphans, At: r.At - Time(1e9),
			Advice: "raise it (and tcp_mem), or find what piles up orphans",
			Message: fmt.Sprintf("%s reset %d orphans within one second (%s): it was out of orphan slots (tcp_max_orphans, %s) or TCP memory (tcp_mem); %s",
				h.Host, r.Count, secondTo(r.At), limitText(h.Orphans), orphansSeen(h.Orphans)),
		}.graded(doubt))
	}
	if r := h.CloseResets; r.Count >= closeResetBurst && h.OrphanResets.Count < 2 {
		out = append(out, Finding{
			Code: CodeRstLingerZero, Severity: Warning, Host: h.Host, Sysctl: OptLinger, At: r.At - Time(1e9),
			Advice: "check the application's SO_LINGER first; if it does not set {1, 0}, check tcp_max_orphans and tcp_mem",
			Message: fmt.Sprintf("%s reset %d connections at close() within one second (%s), with nothing unread: SO_LINGER {1, 0} in the application, or, if it does not set that, the kernel resetting orphans whose FIN never left the send queue for lack of orphan slots (tcp_max_orphans) or TCP memory (tcp_mem)",
				h.Host, r.Count, secondTo(r.At)),
		}.graded(closeResetDoubt))
	}
	for _, p := range h.PathIdle {
		if f, ok := pathIdleFinding(h.Host, p, h.LastSent); ok {
			out = append(out, f)
		}
	}
	if f, ok := refusedOnPath(h); ok {
		out = append(out, f)
	}
	if f, ok := limitFinding(h.Host, h.Orphans, CodeOrphanReset, SysMaxOrphans, "orphans", "close() resets connections instead of closing them", "raise it (and tcp_mem), or find what piles up orphans"); ok {
		out = append(out, f)
	}
	if f, ok := limitFinding(h.Host, h.TimeWait, CodeTimeWaitMissing, SysMaxTwBuckets, "sockets in TIME_WAIT", "closes skip TIME_WAIT (TcpExtTCPTimeWaitOverflow)", "raise it"); ok {
		out = append(out, f)
	}
	return out
}

// closeResetDoubt is the doubt of a finding of resets at close().
const closeResetDoubt = "the wire cannot tell SO_LINGER {1, 0} from orphans reset before their FIN left, for lack of orphan slots or TCP memory"

// limitText is a limit and where its value came from: "131072 by
// default", "1024 in host.conf".
func limitText(p Peak) string {
	if p.LimitFrom == "" || p.LimitFrom == "default" {
		return fmt.Sprintf("%d by default", p.Limit)
	}
	return fmt.Sprintf("%d in %s", p.Limit, p.LimitFrom)
}

// orphansSeen weighs the orphans the capture shows a host holding
// against its tcp_max_orphans.
func orphansSeen(p Peak) string {
	held := "none of its orphans held across a whole second"
	if p.Count == 1 {
		held = "it holding at most 1 orphan at once (at " + clock(p.At) + ")"
	} else if p.Count > 1 {
		held = fmt.Sprintf("it holding at most %d orphans at once (at %s)", p.Count, clock(p.At))
	}
	if p.Limit > 0 && float64(p.Count) < nearLimit*float64(p.Limit) {
		return "the capture shows " + held + ", far below that: the limit was set lower, or sockets the capture did not see filled it (it counts every socket of the host), or TCP memory ran out"
	}
	return "the capture shows " + held + ", and the limit counts every socket of the host"
}

// limitFinding reports a peak that reached nearLimit of its limit.
func limitFinding(host string, p Peak, code, sysctl, what, past, advice string) (Finding, bool) {
	if p.Limit <= 0 || float64(p.Count) < nearLimit*float64(p.Limit) {
		return Finding{}, false
	}
	return Finding{
		Code: code, Severity: severityAt(p), Host: host, Sysctl: sysctl, At: p.At, Advice: advice,
		Message: fmt.Sprintf("%s held %d %s at once (at %s), %s of %s (%d, from %s): past it, %s",
			host, p.Count, what, clock(p.At), percent(p.Count, p.Limit), strings.TrimPrefix(sysctl, "net.ipv4."), p.Limit, p.LimitFrom, past),
	}.graded(), true
}

// severityAt is an error at the limit, a warning near it.
func severityAt(p Peak) Severity {
	if p.Count >= p.Limit {
		return Error
	}
	return Warning
}

// portShare is the share of the ephemeral ports in TIME_WAIT towards one
// server address from which the summary warns.
const portShare = 0.5

// portFinding warns when a client's TIME_WAIT ports towards one server
// address take a large share of its ephemeral range.
func portFinding(p *PortLoad) (Finding, bool) {
	t := p.TimeWait
	if t.Limit <= 0 || float64(t.Count) < portShare*float64(t.Limit) {
		return Finding{}, false
	}
	sev := Warning
	if float64(t.Count) >= nearLimit*float64(t.Limit) {
		sev = Error
	}
	return Finding{
		Code: CodePortPressure, Severity: sev, Host: p.Client, Sysctl: SysLocalPortRange, At: t.At,
		Advice: "widen it, or let connect() reuse TIME_WAIT ports (tcp_tw_reuse = 1 with timestamps), or reuse connections",
		Message: fmt.Sprintf("%s held %d source ports in TIME_WAIT towards %s at once (at %s), %s of its %d ephemeral ports (ip_local_port_range, %s): once they run out connect() to that address fails with EADDRNOTAVAIL",
			p.Client, t.Count, p.Server, clock(t.At), percent(t.Count, t.Limit), t.Limit, t.LimitFrom),
	}.graded(), true
}

// pathIdleFinding brackets the idle timeout of the device on the path to
// host that forgot connections after a silence — reset them
// (rst-middlebox) or dropped their next segments (no-answer-after-idle) —
// between the longest silence another connection in the same conntrack
// state lived through and the shortest one after which one was forgotten.
// A reset in the host's name with another TTL is a device's own word;
// unanswered segments are also what a peer that went away leaves, so
// they count only when several of them all came after silences longer
// than one a connection lived through, or when the host sent segments
// (in other connections) well after the first of them went unanswered:
// it was up, and a host that is up answers, with a RST if nothing else.
func pathIdleFinding(host string, p PathIdle, lastSent Time) (Finding, bool) {
	alive := p.Drops > 0 && p.FirstDrop != 0 && lastSent > p.FirstDrop+aliveAfter
	drops := p.Drops >= 2 && p.SurvivedStart != 0 && p.Survived < p.DropAfter || alive
	if p.Resets == 0 && !drops {
		return Finding{}, false
	}
	knob := strings.TrimPrefix(p.Sysctl, "net.netfilter.")
	var what []string
	if p.Resets > 0 {
		what = append(what, forgot(p.Resets, "reset a connection", "reset %d connections", p.ResetAfter, p.ResetAt))
	}
	if drops {
		what = append(what, forgot(p.Drops, "", "left the segments of %d connections unanswered", p.DropAfter, p.DropAt))
	}
	forget, at, code := p.ResetAfter, p.ResetAt, CodeRstMiddlebox
	if drops && (p.Resets == 0 || p.DropAfter < p.ResetAfter) {
		forget, at, code = p.DropAfter, p.DropAt, CodeNoAnswerAfterIdle
	}
	did := strings.Join(what, "; ")
	lived := fmt.Sprintf("a connection begun at %s went %s silent and lived on", clock(p.SurvivedStart), FormatSeconds(p.Survived))
	var msg string
	var doubts []string
	if code == CodeNoAnswerAfterIdle && !alive {
		doubts = append(doubts, bookDoubt(code))
	}
	switch {
	case p.SurvivedStart == 0:
		msg = fmt.Sprintf("a device on the path to %s forgets connections conntrack holds in %s after less than %s idle (on a Linux firewall, %s): %s; no other in that state went that long silent and lived on",
			host, p.State, FormatSeconds(forget), knob, did)
	case p.Survived < forget:
		msg = fmt.Sprintf("a device on the path to %s forgets connections conntrack holds in %s after between %s and %s idle (on a Linux firewall, %s): %s, and %s",
			host, p.State, FormatSeconds(p.Survived), FormatSeconds(forget), knob, did, lived)
	default:
		why := "several devices or paths, a timeout that is not of idle time, or a host that went away"
		if alive {
			why = "several devices or paths, or a timeout that is not of idle time"
		}
		msg = fmt.Sprintf("a device on the path to %s forgot connections conntrack holds in %s after a silence, yet %s for longer: which connections it forgot does not follow the silence alone (%s); %s",
			host, p.State, lived, why, did)
		doubts = append(doubts, "the silences do not bracket one idle timeout")
	}
	if alive {
		msg += fmt.Sprintf("; %s itself sent segments until %s, %s after the first unanswered ones (at %s): it was up, so the device dropped them, not a host that went away",
			host, clock(lastSent), FormatSeconds(secs(int64(lastSent-p.FirstDrop))), clock(p.FirstDrop))
	}
	return Finding{
		Code: code, Severity: ruleSeverity(code), Host: host, Sysctl: p.Sysctl, At: at, Message: msg,
		Advice: "raise the device's idle timeout above the connections' silences, or keep them busy (TCP keepalive, application pings) more often than it",
	}.graded(doubts...), true
}

// aliveAfter is how long after a connection's segments went unanswered
// the host must still have sent to be counted up: past the round trip and
// the segments in flight.
const aliveAfter = Time(1e9)

// forgot says what a device did to n connections after a silence, the
// shortest after secs seconds, at time at: one says it of one (n = 1),
// many (a format with the count) of several.
func forgot(n int, one, many string, secs float64, at Time) string {
	if n > 1 {
		return fmt.Sprintf("it "+many+" after a silence, the shortest %s (at %s)", n, FormatSeconds(secs), clock(at))
	}
	return fmt.Sprintf("it %s after %s of silence (at %s)", one, FormatSeconds(secs), clock(at))
}

// refusedOnPath: the RSTs that refused SYNs to the host arrived with a
// TTL (hop limit) none of the host's own segments, in the connections it
// accepted, arrived with: a host's kernel gives its reply-RSTs its
// sockets' TTL, so a device on the path refused them, and the host may
// well have been listening.
func refusedOnPath(h *HostLoad) (Finding, bool) {
	r, t := h.Refused, h.TTL
	if r == nil || t == nil || r.TTL.Varied || t.Varied || r.TTL.Value == t.Value {
		return Finding{}, false
	}
	ttl := "TTL"
	if a, err := netip.ParseAddr(h.Host); err == nil && !a.Unmap().Is4() {
		ttl = "hop limit"
	}
	refused := "the RST that refused a connection"
	if r.Count > 1 {
		refused = fmt.Sprintf("the RSTs that refused %d connections", r.Count)
	}
	accepted := "the connection it accepted"
	if t.Flows > 1 {
		accepted = fmt.Sprintf("the %d connections it accepted", t.Flows)
	}
	return Finding{
		Code: CodeRstMiddlebox, Severity: Warning, Host: h.Host, At: r.First,
		Advice:  "read the policy of the device on the path for those ports (a REJECT rule, a load balancer's backends) before restarting the service",
		Confirm: []string{"iptables -S | grep -i -e REJECT -e tcp-reset", "nft list ruleset | grep -i reject"},
		Message: fmt.Sprintf("%s to %s (connection-refused, the first at %s) arrived with %s %d, where %s's own segments in %s arrived with %d%s: a device on the path refused them — a firewall's REJECT with tcp-reset, a load balancer with no backend — not %s's kernel, which may well have been listening",
			refused, h.Host, clock(r.First), ttl, r.TTL.Value, h.Host, accepted, t.Value, hopsApart(int(r.TTL.Value), int(t.Value)), h.Host),
	}.graded(), true
}

// probeScan is how many half-open probes from one address make a finding.
const probeScan = 10

// probesFinding: an address that sent probeScan or more half-open probes
// (syn-probe) is a scanner or a health checker: a finding says so, so
// that its connections are not taken for the application's.
func probesFinding(l ProbeLoad) (Finding, bool) {
	if l.Flows < probeScan {
		return Finding{}, false
	}
	refused := ""
	if l.Refused > 0 {
		refused = fmt.Sprintf(", %d of them to ports nothing listened on", l.Refused)
	}
	what, like := l.targets()
	if what != "" {
		what = " to " + what
	}
	return Finding{
		Code: CodeSynProbe, Severity: Info, Host: l.Host, At: l.First,
		Advice: "leave the hosts' settings; if the address is not a known scanner or health checker, find who probes the servers",
		Message: fmt.Sprintf("%s sent %d half-open probes%s between %s and %s — SYNs from no connect(), each reset at the SYN-ACK or refused%s: %s; those connections were never an application's",
			l.Host, l.Flows, what, l.First.Std().Format("15:04:05"), clock(l.Last), refused, like),
	}.graded(bookDoubt(CodeSynProbe)), true
}

// lostSocketsFinding: a host that reset two or more connections it had
// held and never closed, for want of their sockets (rst-no-socket).
// Sockets that vanish together point at the host (a restart, a
// failover) or a device in front of it, unless each gave up on its own
// retransmissions (a path that stopped carrying the peer's
// acknowledgements).
func lostSocketsFinding(l LostSocketLoad) (Finding, bool) {
	if l.Flows < 2 {
		return Finding{}, false
	}
	var how []string
	if l.GaveUp > 0 {
		how = append(how, fmt.Sprintf("%d after its own retransmissions went unanswered until tcp_retries2 (or TCP_USER_TIMEOUT) closed the socket", l.GaveUp))
	}
	if l.Unreachable > 0 {
		how = append(how, fmt.Sprintf("%d after the peer's segments had gone unanswered (it was down or cut off)", l.Unreachable))
	}
	if l.AfterSilence > 0 {
		how = append(how, fmt.Sprintf("%d at the first segment after a silence", l.AfterSilence))
	}
	if l.ConnectGaveUp > 0 {
		how = append(how, fmt.Sprintf("%d whose connect() had given up before the server's SYN-ACK came", l.ConnectGaveUp))
	}
	if l.RequestExpired > 0 {
		how = append(how, fmt.Sprintf("%d whose request had expired after its SYN-ACKs (tcp_synack_retries) before the client's segment came", l.RequestExpired))
	}
	if rest := l.Flows - l.GaveUp - l.Unreachable - l.AfterSilence - l.ConnectGaveUp - l.RequestExpired; rest > 0 {
		how = append(how, fmt.Sprintf("%d with no trace on the wire", rest))
	}
	when := "at " + clock(l.First)
	if l.Last != l.First {
		when = "between " + l.First.Std().Format("15:04:05") + " and " + clock(l.Last)
	}
	f := Finding{
		Code: CodeRstNoSocket, Severity: Error, Host: l.Host, At: l.First,
		Advice: "find what happened to the host then (its uptime, failover or deployment logs, a load balancer's backend changes)",
		Message: fmt.Sprintf("%s, the %s of %d connections it had never closed, reset them from no socket (a RST without ACK from its kernel's reply path, answering the peer's next segment) %s: %s. When the sockets of several connections are gone together, the host restarted, its address moved to another host (a failover), or a NAT or load balancer in front of it lost the connections",
			l.Host, l.Side, l.Flows, when, strings.Join(how, "; ")),
	}
	if l.ConnectGaveUp == l.Flows {
		f.Severity = Warning
		f.Advice = "give connect() a timeout longer than the servers take to answer (past the SYN's first retransmission, 1 s later), and find why their answers came late"
		f.Message = fmt.Sprintf("%s gave up on connect() %d times %s before the server's SYN-ACK came, and its kernel reset each late SYN-ACK from no socket: the application's connect timeout is shorter than the handshake took (a SYN or SYN-ACK lost costs at least the 1 s of the SYN's first retransmission)",
			l.Host, l.Flows, when)
	}
	if l.RequestExpired == l.Flows {
		f.Sysctl = SysSomaxconn
		f.Advice = "accept() faster, or raise the listen() backlog (and net.core.somaxconn, which caps it); tcp_abort_on_overflow = 1 would tell the clients at once"
		f.Message = fmt.Sprintf("%s never completed %d connections whose clients had completed the handshake, and reset each client's next segment from its listener %s: every request expired after its SYN-ACK retransmissions (tcp_synack_retries) while the client's ACKs went unheeded, as they are while the accept queue is full (tcp_abort_on_overflow = 0). The clients' applications wrote on connections the server never accept()ed",
			l.Host, l.Flows, when)
	}
	if l.GaveUp == l.Flows {
		f.Sysctl = SysRetries2
		f.Advice = "find why the peers' acknowledgements stopped reaching the host (the path, a firewall); lower tcp_retries2 or set TCP_USER_TIMEOUT for its applications to learn of it sooner"
		f.Message = fmt.Sprintf("%s, the %s of %d connections it had never closed, reset them from no socket %s: every one after its own retransmissions went unanswered until tcp_retries2 (or TCP_USER_TIMEOUT) closed the socket silently. The peers' acknowledgements stopped reaching the host: a path or firewall that dropped them for longer than the retry budget",
			l.Host, l.Side, l.Flows, when)
	}
	// Each connection whose own story says where its socket went (given
	// up, connect() given up, the request expired) settles the doubt.
	if l.GaveUp+l.ConnectGaveUp+l.RequestExpired == l.Flows {
		return f.graded(), true
	}
	return f.graded(bookDoubt(CodeRstNoSocket)), true
}
