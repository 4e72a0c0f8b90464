package analyze

import "slices"

// RuleInfo is the reference entry of one diagnosis code: what it means,
// the knob that governs it and what moving that knob does, and how to
// confirm the finding on the host. `teardown explain` prints it and
// rules.md is generated from it.
type RuleInfo struct {
	Code  string
	Title string
	// Severity is the severity the rule usually gives.
	Severity Severity
	// Sysctl is the knob the diagnosis names (a full dotted sysctl or a
	// socket option), empty when none governs it; Also lists other knobs
	// the diagnosis may name instead, or that move the same effect.
	Sysctl string
	Also   []string
	// Default is the knob's default on a current kernel (KERNEL.md §c).
	Default string
	// Raise and Lower say what moving the knob does.
	Raise, Lower string
	// Meaning says what the capture showed and what it cannot tell apart.
	Meaning string
	// Confirm lists commands that confirm the finding on the host.
	Confirm []string
	// Kernel names the KERNEL.md rows and sections the rule rests on.
	Kernel string
	// CrossFlow is set for rules that need several flows (or the host's
	// settings) and fire when a flow is added to the summary; Scope, when
	// set, says instead how the rule draws on flows.
	CrossFlow bool
	Scope     string
	// OnPath is set when the knob is on a device on the path between the
	// hosts (a firewall), not on either host: Confirm runs there.
	OnPath bool
	// Doubt, when set, is what the wire cannot tell apart for this rule
	// (KERNEL.md's "cannot tell" columns): its diagnoses start with it as
	// a doubt, at medium confidence. With Settled, host settings that
	// agree with the knob the diagnosis names (--sysctl) take it away.
	Doubt   string
	Settled bool
	// Governs, for a rule with no knob, says what governs its diagnoses
	// instead when it is not the application: the reports' sysctl table
	// gives them a row of their own.
	Governs string
}

// ConfirmWhere says where a rule's Confirm commands run.
func (r *RuleInfo) ConfirmWhere() string {
	if r.OnPath {
		return "the device on the path"
	}
	return "the host"
}

// Rules returns the reference entry of every diagnosis code, in the
// order `teardown explain` lists them. The caller owns the slice.
func Rules() []RuleInfo {
	out := slices.Clone(ruleBook)
	for i := range out {
		out[i].Also = slices.Clone(out[i].Also)
		out[i].Confirm = slices.Clone(out[i].Confirm)
	}
	return out
}

// ruleInfo returns code's entry.
// IsCode reports whether code is a diagnosis code of the rule book.
func IsCode(code string) bool {
	_, ok := ruleInfo(code)
	return ok
}

func ruleInfo(code string) (RuleInfo, bool) {
	i := slices.IndexFunc(ruleBook, func(r RuleInfo) bool { return r.Code == code })
	if i < 0 {
		return RuleInfo{}, false
	}
	return ruleBook[i], true
}

// ruleSeverity is code's usual severity (warning for an unknown code).
func ruleSeverity(code string) Severity {
	if r, ok := ruleInfo(code); ok {
		return r.Severity
	}
	return Warning
}

const (
	confirmOrphans = "cat /proc/net/sockstat   # orphan and tw counts"
	confirmStrace  = "strace -f -e trace=setsockopt -p PID"
)

var ruleBook = []RuleInfo{
	{
		Code: CodeFinRetransmitted, Title: "a FIN was retransmitted before it was acknowledged", Severity: Warning,
		Sysctl: SysOrphanRetries, Also: []string{SysRetries2, "TCP_USER_TIMEOUT"},
		Default: "0, which acts as 8 while the RTO is under 120 s: a budget of 102.2 s (tcp_retries2: 15, 924.6 s)",
		Raise:   "an orphan keeps retransmitting its FIN longer before it gives up silently, and holds its memory that long",
		Lower:   "an orphan gives up sooner; on a lossy path its peer may then never learn of the close and stay ESTABLISHED",
		Meaning: "The side's FIN went out more than once (the first retransmission is often a tail-loss probe about one RTO later, then RTO backoff doubles the gaps) and was finally acknowledged: the FIN, or the acknowledgements of it, were lost. " +
			"With SACK negotiated (and the peer's tcp_dsack, on by default) a peer that receives the FIN twice reports it in a D-SACK block (RFC 2883): then a copy before the latest had arrived, the retransmissions were needless, and the loss was on the way back (JSON fin_dsack). " +
			"The retry budget is tcp_orphan_retries for a socket the application close()d and tcp_retries2 for one it only shut down; the wire looks the same, so the diagnosis names tcp_retries2 only when the side acknowledged the peer's data after its FIN (shutdown). " +
			"The budget is a time, T(N) = (2^(N+1)−1)·200 ms counted from the first RTO retransmission, so a long series puts a lower bound on N.",
		Confirm: []string{"sysctl net.ipv4.tcp_orphan_retries net.ipv4.tcp_retries2", "nstat -az TcpExtTCPLossProbes TcpExtTCPAbortOnTimeout TcpExtTCPDSACKRecv", "ss -tano state fin-wait-1"},
		Kernel:  "row 1, §b, (d)1",
		Doubt:   "the wire cannot tell an orphan, which tcp_orphan_retries bounds, from a socket only shut down, which tcp_retries2 bounds",
		Settled: true,
	},
	{
		Code: CodeFinNeverAcked, Title: "a FIN was never acknowledged and the retransmissions stopped silently", Severity: Error,
		Sysctl: SysOrphanRetries, Also: []string{SysRetries2, "TCP_USER_TIMEOUT"},
		Default: "0, which acts as 8 while the RTO is under 120 s: a budget of 102.2 s (tcp_retries2: 15, 924.6 s)",
		Raise:   "the orphan retransmits longer before it vanishes; its memory stays held that long",
		Lower:   "the orphan vanishes sooner (no RST is ever sent), freeing memory; the peer keeps its end open either way",
		Meaning: "The side's FIN went out several times, nothing acknowledged it, and the copies stopped without a RST: the kernel destroyed the socket when its retry budget ran out (tcp_write_err, TcpExtTCPAbortOnTimeout). The peer never saw the close. " +
			"The budget T(N) = (2^(N+1)−1)·200 ms runs from the first RTO retransmission (a tail-loss probe does not count), so the time of the last copy and of the next one that never came bracket N; 0 acts as 8. " +
			"An orphan with tcp_orphan_retries N and an open socket with tcp_retries2 N look the same on the wire; with the host's settings, an orphan's budget too long for when the socket gave up and a tcp_retries2 that fits mean it had only shut down. " +
			"A capture that ends before the next copy was due gives only a lower bound; the silence after the last copy counts up to the capture's last record of any kind, or to when it stopped where a pcapng file records that (dumpcap does).",
		Confirm: []string{"sysctl net.ipv4.tcp_orphan_retries net.ipv4.tcp_retries2", "nstat -az TcpExtTCPAbortOnTimeout TcpExtTCPLossProbes", "ss -tano state fin-wait-1"},
		Kernel:  "row 1, §b, (d)1, (d)2",
		Doubt:   "the wire cannot tell an orphan, which tcp_orphan_retries bounds, from a socket only shut down, which tcp_retries2 bounds",
		Settled: true,
	},
	{
		Code: CodeFinBlockedZeroWindow, Title: "the peer's zero window held a FIN back", Severity: Warning,
		Sysctl: SysOrphanRetries, Also: []string{SysMaxOrphans, SysRetries2},
		Default: "0 (acts as 8); tcp_max_orphans: about half the TCP hash size (131072 on the lab machine)",
		Raise:   "little effect while the peer answers probes: an orphan behind a zero window gives up once the backed-off probe interval reaches 120 s, about 340 s after close()",
		Lower:   "little effect with a responsive peer (see raise); against a silent peer the persist timer gives up after that many unanswered probes",
		Meaning: "The peer advertised a zero window while the side still had data queued, so its FIN (which needs one byte of window) waited behind the data: FIN_WAIT1 held by the persist timer, with window probes. " +
			"If the application had close()d, that socket is an orphan that counts against tcp_max_orphans for as long as the window stays shut; a socket still open probes for ever. The fix is on the receiving side: it stopped reading.",
		Confirm: []string{"ss -tmi state fin-wait-1   # Send-Q stays full", "nstat -az TcpExtTCPWinProbe TcpExtTCPAbortOnTimeout", confirmOrphans},
		Kernel:  "row 8, (d)14",
		Doubt:   "the wire cannot tell an orphan, which tcp_orphan_retries bounds, from a socket only shut down, which tcp_retries2 bounds",
		Settled: true,
	},
	{
		Code: CodeOrphanReset, Title: "an orphan was reset for lack of orphan slots or TCP memory", Severity: Error,
		Sysctl: SysMaxOrphans, Also: []string{SysMem},
		Default: "about half the TCP hash size (131072 on the lab machine); tcp_mem is set from RAM",
		Raise:   "more orphans may exist at once (each can pin up to about 64 KB of unswappable memory) before close() resets them",
		Lower:   "closes turn into resets sooner under load",
		Meaning: "The side sent its FIN and microseconds later a RST+ACK from the same (full) socket, or a RST+ACK where its next FIN retransmission was due: tcp_check_oom() found too many orphans or too little TCP memory and reset the orphan (TcpExtTCPAbortOnMemory, with a ratelimited \"too many orphaned sockets\" or \"out of memory -- consider tuning tcp_mem\" log line). " +
			"The wire cannot tell tcp_max_orphans from tcp_mem. Both are global: a container cannot tune them. The summary counts these resets per host and second.",
		Confirm: []string{"sysctl net.ipv4.tcp_max_orphans net.ipv4.tcp_mem", confirmOrphans, "nstat -az TcpExtTCPAbortOnMemory", "dmesg | grep -e 'too many orphaned sockets' -e 'consider tuning tcp_mem'"},
		Kernel:  "row 2, (d)13",
		Doubt:   "the wire cannot tell a lack of orphan slots (tcp_max_orphans) from a lack of TCP memory (tcp_mem)",
	},
	{
		Code: CodeFinWait2Timeout, Title: "an orphaned FIN_WAIT2 expired before the peer's FIN came", Severity: Warning,
		Sysctl: SysFinTimeout, Also: []string{OptLinger2, SysMaxTwBuckets},
		Default: "60 s (TCP_LINGER2 0: use the sysctl)",
		Raise:   "an orphan waits longer for a late FIN; above 60 s it lives 2·(t−60) s, so 60 < t < 120 is shorter than configured",
		Lower:   "orphaned FIN_WAIT2 sockets go sooner, and a peer that closes later gets a RST (its close() or write fails)",
		Meaning: "The side's FIN was acknowledged, and the peer's FIN came later and was answered by a RST from no socket (IPv4 ID 0, no timestamps): the side had close()d, and its FIN_WAIT2 ran out first. " +
			"tcp_fin_timeout (or TCP_LINGER2 on the socket) is therefore below that gap; other flows of the host bracket it further. A full timewait table (tcp_max_tw_buckets) drops the FIN_WAIT2 at once and looks the same, except inside the 3.5 RTO floor no timeout can go below, which names tcp_max_tw_buckets instead. " +
			"The timeout governs orphans only: a socket that only shut down waits in FIN_WAIT2 for ever. The peer's late close is usually the bug.",
		Confirm: []string{"sysctl net.ipv4.tcp_fin_timeout", "ss -tano state fin-wait-2", confirmStrace + "   # TCP_LINGER2"},
		Kernel:  "rows 3, 20, (d)3, (d)4",
		Doubt:   "the wire cannot tell tcp_fin_timeout from the socket's TCP_LINGER2, nor, within tcp_fin_time()'s floor, from a full TIME_WAIT table",
	},
	{
		Code: CodeLinger2Negative, Title: "TCP_LINGER2 < 0: reset as soon as the FIN was acknowledged", Severity: Warning,
		Sysctl:  OptLinger2,
		Default: "0: use tcp_fin_timeout",
		Raise:   "0 or more restores FIN_WAIT2: the side then waits for the peer's FIN",
		Lower:   "below 0 an orphan answers the acknowledgement of its FIN with a RST and skips FIN_WAIT2",
		Meaning: "The side sent its FIN, the peer acknowledged it, and the side answered that acknowledgement at once with a RST from no socket: the socket had TCP_LINGER2 < 0 (TcpExtTCPAbortOnData; TcpExtTCPAbortOnLinger when close() came in FIN_WAIT2). Anything the peer still sends is lost.",
		Confirm: []string{confirmStrace + "   # TCP_LINGER2", "nstat -az TcpExtTCPAbortOnData TcpExtTCPAbortOnLinger"},
		Kernel:  "row 4, (d)5",
	},
	{
		Code: CodeTimeWaitMissing, Title: "a TIME_WAIT that should have been there was not", Severity: Error,
		Sysctl:  SysMaxTwBuckets,
		Default: "about half the TCP hash size (131072 on the lab machine)",
		Raise:   "more TIME_WAIT (and orphaned FIN_WAIT2) sockets are kept; each is a small timewait socket",
		Lower:   "closes skip TIME_WAIT once the table is full: a retransmitted FIN gets a RST and old duplicates are no longer absorbed",
		Meaning: "The side acknowledged the peer's FIN as a TIME_WAIT does, yet answered the peer's next segment (typically its retransmitted FIN, whose ACK was lost) with a RST from no socket: the TIME_WAIT was never created because the timewait table was full (TcpExtTCPTimeWaitOverflow; current kernels log nothing). " +
			"A RST to a late FIN inside the 3.5 RTO floor of tcp_fin_timeout is the same overflow seen from FIN_WAIT2.",
		Confirm: []string{"sysctl net.ipv4.tcp_max_tw_buckets", "ss -tan state time-wait | wc -l", "nstat -az TcpExtTCPTimeWaitOverflow"},
		Kernel:  "row 12, (d)6",
		Doubt:   "the wire cannot always tell a full TIME_WAIT table from an orphaned FIN_WAIT2 that expired under a tiny tcp_fin_timeout",
	},
	{
		Code: CodeCloseWaitLong, Title: "CLOSE_WAIT held long: the application did not close()", Severity: Warning,
		Raise:   "no sysctl shortens CLOSE_WAIT",
		Lower:   "no sysctl shortens CLOSE_WAIT; SO_KEEPALIVE or TCP_USER_TIMEOUT end it only when the peer is gone",
		Meaning: "The side acknowledged the peer's FIN and then sent nothing for at least a second before its own FIN (or a RST, or the end of the capture). The kernel has no CLOSE_WAIT timer: the application did not call close() when read() returned 0. A long leak shows as sockets piling up in `ss` and file descriptors in the process; the peer's orphaned FIN_WAIT2 may time out meanwhile (fin-wait-2-timeout).",
		Confirm: []string{"ss -tanp state close-wait", "ls /proc/PID/fd | wc -l"},
		Kernel:  "row 9",
	},
	{
		Code: CodeRstUnreadData, Title: "reset at close() with unread data", Severity: Warning,
		Raise:   "no sysctl governs it",
		Lower:   "no sysctl governs it",
		Meaning: "The side sent a RST+ACK instead of a FIN, acknowledging data from the peer that it never answered: its application closed with data unread, which the kernel must signal with a reset (RFC 2525 §2.17, TcpExtTCPAbortOnClose). The peer sees \"connection reset by peer\". Without visible unread data the same packet means SO_LINGER {1, 0} (rst-linger-zero). The wire cannot show whether the application read that data: one that read it and closed with SO_LINGER {1, 0} sends the same packet, and so does a socket destroyed from outside (ss -K, or a BPF program's bpf_sock_destroy, as Cilium's socket load balancer does to the connections of a deleted backend), whose application gets ECONNABORTED (in the lab, ss -K after the whole response was read: lab rst-sock-destroy). The side's counters tell them apart: TcpExtTCPAbortOnClose counts a close() with data unread, TcpExtTCPAbortOnData one with SO_LINGER {1, 0}, and a destroyed socket moves neither, only TcpOutRsts.",
		Confirm: []string{"nstat -az TcpExtTCPAbortOnClose TcpExtTCPAbortOnData TcpOutRsts   # unread data; SO_LINGER {1, 0}; neither for ss -K"},
		Kernel:  "row 5",
		Doubt:   "the wire cannot tell data never read from data read before a close() with SO_LINGER {1, 0}, or before the socket was destroyed from outside (ss -K)",
	},
	{
		Code: CodeRstLingerZero, Title: "reset at close() with SO_LINGER {1, 0}", Severity: Warning,
		Sysctl:  OptLinger,
		Default: "off (close() sends a FIN)",
		Raise:   "l_linger > 0 only makes close() block; the wire is a normal close",
		Lower:   "{l_onoff 1, l_linger 0} makes close() send a RST and skip TIME_WAIT",
		Meaning: "The side sent a RST+ACK instead of a FIN with nothing unread: the socket set SO_LINGER {1, 0} (TcpExtTCPAbortOnData, not AbortOnLinger). Applications do this to avoid TIME_WAIT; the peer sees \"connection reset by peer\". Load balancers' health checks are the commonest case: HAProxy resets each check's connection once it has the answer (so a backend's capture shows one such client reset per check, and its application may log each as a reset). In LAST_ACK or CLOSING with everything sent it sends nothing, and the peer's next segment gets a RST from no socket. A socket destroyed from outside (ss -K, bpf_sock_destroy) resets the same way from ESTABLISHED or CLOSE_WAIT, counted in TcpOutRsts alone.",
		Confirm: []string{confirmStrace + "   # SO_LINGER", "nstat -az TcpExtTCPAbortOnData TcpOutRsts   # SO_LINGER {1, 0}; TcpOutRsts alone for ss -K"},
		Kernel:  "row 6b, (d)5",
		Doubt:   "the wire cannot tell SO_LINGER {1, 0} from a close() with unread data the capture did not show, or from a socket destroyed from outside (ss -K)",
	},
	{
		Code: CodeRstDataAfterClose, Title: "the peer wrote after the side had closed", Severity: Warning,
		Raise: "no sysctl governs it",
		Lower: "no sysctl governs it",
		Meaning: "The side had sent its FIN from close() and the peer kept sending data, which the side answered with a RST (RFC 1122): the application protocol let the peer write to a closed connection, and that data is lost. A side that only shut down its sending side would have acknowledged the data instead. " +
			"After a second or more of silence before the close it is a pool's keep-alive failure: the peer wrote on a connection whose FIN it had acknowledged (stale), or its write crossed the FIN (the race). " +
			"TcpExtTCPAbortOnData counts the reset from a full socket (FIN_WAIT1, or FIN_WAIT2 before the orphan became a timewait socket); an orphaned FIN_WAIT2 already held as a timewait socket resets without it, counted only in TcpOutRsts.",
		Confirm: []string{"nstat -az TcpExtTCPAbortOnData TcpOutRsts"},
		Kernel:  "row 6c",
	},
	{
		Code: CodeKeepaliveReset, Title: "keepalive gave up on a silent peer", Severity: Warning,
		Sysctl: SysKeepaliveTime, Also: []string{SysKeepaliveIntvl, SysKeepaliveProbes, "SO_KEEPALIVE"},
		Default: "7200 s idle, then probes 75 s apart, 9 of them",
		Raise:   "dead peers are noticed later",
		Lower:   "dead peers (or connections a middlebox forgot) are noticed sooner",
		Meaning: "The side sent keepalive probes that went unanswered and then reset the connection: unlike RTO or persist exhaustion, keepalive death sends a RST. The peer vanished or a middlebox dropped the connection's state. TCP_KEEPIDLE/KEEPINTVL/KEEPCNT override the sysctls per socket.",
		Confirm: []string{"sysctl net.ipv4.tcp_keepalive_time net.ipv4.tcp_keepalive_intvl net.ipv4.tcp_keepalive_probes", "ss -tano state established   # timer:(keepalive,...)", "nstat -az TcpExtTCPAbortOnTimeout"},
		Kernel:  "row 19",
	},
	{
		Code: CodeRstMiddlebox, Title: "a device on the path reset the connection", Severity: Warning,
		Sysctl: SysCtEstablished, Also: ctAlso, Default: ctDefault,
		Raise:   "the firewall remembers idle connections longer (more conntrack entries held)",
		Lower:   "idle connections are forgotten sooner; where mid-stream segments are refused, their next segment is reset",
		Meaning: "The RST bears one side's address but arrived with a TTL (hop limit) none of that side's other segments had: a host's kernel gives its resets the TTL its sockets use, so another device made it — a firewall's REJECT with tcp-reset, a load balancer, an IPS — and the side whose address it bears never closed its socket. When the RST answers the first segment after a long silence, a stateful device forgot the idle connection: on a Linux firewall the timeout of the state conntrack held it in ran out (established, or a shorter one once FINs were seen: a half-closed connection is forgotten after close_wait's 60 s) and the next segment, with no SYN, was refused. The knob is on the device, not on either host; keepalives shorter than its timeout keep the connection known.",
		Confirm: []string{"conntrack -L -p tcp   # is the connection still tracked?", "sysctl net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_loose", "iptables -S | grep -i -e reject -e INVALID"},
		Kernel:  "—",
		OnPath:  true,
	},
	{
		Code: CodeRstNoSocket, Title: "a side reset a connection it never closed: its socket was gone", Severity: Error,
		Governs: "the host, or what is in front of it",
		Also:    []string{SysRetries2, "TCP_USER_TIMEOUT", SysSynAckRetries, SysCtEstablished, SysCtLoose},
		Meaning: "One side answered its peer's segment with a RST from its kernel's reply path — no ACK flag, its sequence number the acknowledgement of the segment it answers, no timestamp option, IPv4 ID 0 — in a connection it had never closed, and sent nothing else after it. A socket in ESTABLISHED or CLOSE_WAIT never sends such a RST; the kernel sends one for a segment that meets no socket. So the side's socket was gone without a FIN or a RST of its own, and its peer's application gets ECONNRESET (\"connection reset by peer\") on its next read or write. When the side had been retransmitting data the peer never acknowledged, its socket gave up: tcp_retries2 (or TCP_USER_TIMEOUT) ran out, which closes a socket silently — the application got ETIMEDOUT — and the peer's next segment, after the path healed, met no socket (the diagnosis names tcp_retries2). When the RST answered the first segment after a silence, a NAT or load balancer whose entry for the idle connection had expired may have sent that segment on as a new connection, to a backend that never had it: Kubernetes Services and other DNAT with several backends, where on Linux nf_conntrack_tcp_loose = 1 (the default) lets a mid-stream segment make a new entry (the diagnosis names the conntrack timeout of the state the connection was in). A client that had sent nothing but SYNs and answers the server's SYN-ACK so had given up on connect(): the application's connect timeout closed the socket in SYN_SENT, which sends nothing (or TCP_SYNCNT, tcp_syn_retries ran out), before the late answer came. A server that had sent nothing but SYN-ACKs, whose listener resets a client segment that came 1 s or more after its latest SYN-ACK, had lost the request: the request's timer resends the SYN-ACK 1 s after each (twice as late each time) and drops the request after tcp_synack_retries of them, so with the client's ACKs ignored (a full accept queue with tcp_abort_on_overflow = 0, accept-queue-full) the client's connect() had succeeded on a connection the server never accept()ed, and its data, sent again and again, met the listener with no request (the diagnosis names tcp_synack_retries; the cause is the accept queue). Otherwise the wire does not say where the socket went: the host restarted (a crash or a reboot sends nothing), its address moved to another host (a VRRP or cloud failover), a load balancer changed backends, or the socket was destroyed (ss -K). A firewall rule on the side's own host that rejects the segment with a tcp-reset (iptables REJECT, often for conntrack INVALID segments) makes the same RST, with the same TTL, while the socket lives on: a side that sends anything after the RST is not counted, but one that stays silent cannot be told apart. A RST with another TTL than the side's segments is rst-middlebox instead.",
		Confirm: []string{"uptime; journalctl --list-boots   # on the side that sent the RST: did it restart?", "iptables -S | grep -e REJECT -e INVALID   # on that side: a tcp-reset rule?", "nstat -az TcpExtTCPAbortOnTimeout TcpOutRsts   # silent timeouts and reply RSTs", "conntrack -L -p tcp   # on a NAT: is the connection still tracked, and to which backend?"},
		Kernel:  "§0 (the [R] row), row 1",
		Doubt:   "the wire does not say where the socket went",
	},
	{
		Code: CodeSynProbe, Title: "a half-open probe: the SYN came from no connect()", Severity: Info,
		Governs: "a scanner or a health checker, not the hosts' settings",
		Meaning: "The client's SYN carried neither the SACK-permitted nor the window-scale option, which the connect() of every current operating system sends, and the client answered the server's SYN-ACK with a RST from its kernel's reply path (no ACK flag, its sequence number the SYN-ACK's acknowledgement): no socket of the client's had sent that SYN. A program wrote it on a raw socket — a SYN scan (nmap -sS, masscan, zmap) or a load balancer's half-open health check — and the client's kernel, finding no connection for the SYN-ACK, reset it. The server was listening and answered; nothing was lost, and no setting of either host is at fault. A small TCP stack (lwIP on an embedded device) or a Linux host with tcp_sack and tcp_window_scaling both 0 sends such SYNs from connect() as well: then it is a connect() that gave up (rst-no-socket's story) or was refused. Such a SYN that the server refuses (nothing listens on the port) is a probe too, not an application's failed connect(). Many of them from one address are a scan; a steady few to one port, a health check.",
		Confirm: []string{"tshark -r CAPTURE -Y 'tcp.flags.syn==1 && tcp.flags.ack==0 && !tcp.options.sack_perm' -T fields -e ip.src -e tcp.dstport | sort | uniq -c | sort -rn | head   # who sends such SYNs, to which ports"},
		Kernel:  "§0 (the [R] row)",
		Doubt:   "a small TCP stack (an embedded device's) or a host with SACK and window scaling both turned off sends such a SYN from connect() too",
	},
	{
		Code: CodeNoAnswerAfterIdle, Title: "after a silence, one side's segments were never answered", Severity: Error,
		Sysctl: SysCtEstablished, Also: ctAlso, Default: ctDefault,
		Raise:   "the firewall remembers idle connections longer (more conntrack entries held)",
		Lower:   "idle connections are forgotten sooner; where mid-stream segments are dropped, the next one vanishes and its sender retransmits until it gives up",
		Meaning: "After a silence one side sent data, its FIN or keepalive probes and retransmitted them until the capture ended, and the other side never sent another segment. A host that is up answers every segment of a connection, with a RST when it no longer has the socket, so the segments never reached it: the peer's host is down or cut off, or a stateful firewall, NAT or load balancer forgot the idle connection and drops what comes next (on a Linux firewall, the conntrack timeout of the state it held the connection in ran out — established, or a shorter one once FINs were seen — and segments without SYN that create no entry are dropped: nf_conntrack_tcp_loose = 0, or a rule that drops new segments without SYN or INVALID ones). If the peer's host answered other connections after the silence, it is the device. The sender retransmits until tcp_retries2 (tcp_orphan_retries for an orphan's FIN) runs out and then gives up without a RST, so the application waits up to 15 minutes for ETIMEDOUT. Across flows to the same server, when several went unanswered after silences longer than any that others lived through, the two bracket the device's timeout.",
		Confirm: []string{"conntrack -L -p tcp   # is the connection still tracked?", "sysctl net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_loose", "iptables -S | grep -i -e DROP -e INVALID"},
		Kernel:  "row 1",
		OnPath:  true,
		Doubt:   "the wire cannot tell a device that forgot the idle connection from a peer host that went down",
	},
	{
		Code: CodeDataUnanswered, Title: "one side's data was retransmitted and never answered", Severity: Error,
		Sysctl: SysRetries2, Also: []string{"TCP_USER_TIMEOUT"},
		Default: "15: about 924.6 s of retransmissions from a 200 ms RTO",
		Raise:   "a sender keeps retransmitting to a vanished peer longer, and its application waits longer for ETIMEDOUT",
		Lower:   "a vanished peer is given up on sooner; a path that only loses segments for a while may break connections that would have recovered",
		Meaning: "One side sent data and retransmitted it until the capture ended, and the other side never sent another segment, with no silence before (after one, no-answer-after-idle applies). A host that is up answers every segment of a connection, with a RST when it no longer has the socket, and its kernel acknowledges data even when the application stops reading (then advertises a zero window): silence means the segments stopped reaching it. The peer's host went down or was cut off (a crash, a reboot, a link, a route or firewall change), or a device on the path began to drop the connection. The sender retransmits with exponential backoff until tcp_retries2 runs out (TCP_USER_TIMEOUT replaces it per socket) and then gives up without a RST; the application gets ETIMEDOUT, up to 15 minutes later with the defaults. When a router answers the copies with ICMP errors (host unreachable: it cannot reach the peer), Linux keeps retransmitting, a net or host unreachable undoes a step of the backoff each time (RFC 6069: the copies come at a steady pace, as often as the RTO), and the application gets the error the ICMP left, EHOSTUNREACH (\"No route to host\"), instead of ETIMEDOUT.",
		Confirm: []string{"ss -tino state established   # timer:(on,...) and retrans on the sender", "nstat -az TcpExtTCPTimeouts TcpExtTCPAbortOnTimeout", "sysctl net.ipv4.tcp_retries2"},
		Kernel:  "row 1",
		Doubt:   "the wire cannot tell a peer host that went down from a path that began to drop the connection",
	},
	{
		Code: CodePMTUBlackHole, Title: "one side's large segments stopped on the path: a path MTU black hole", Severity: Error,
		Sysctl: SysMTUProbing, Also: []string{"net.ipv4.tcp_base_mss", "net.ipv4.tcp_retries1", SysNoPMTUDisc, OptMTUDiscover, "net.ipv4.ipfrag_high_thresh"},
		Default: "0: Linux keeps its segment size however long the copies go unanswered",
		Raise:   "1: after tcp_retries1 (3) retransmission timeouts Linux lowers the segment size to tcp_base_mss (1024) and halves it at each later one, so a connection through a black hole stalls for seconds instead of dying; 2: every connection starts at tcp_base_mss and probes upwards",
		Lower:   "0: a connection whose full-size segments are dropped retransmits them unchanged until tcp_retries2 ends it",
		Meaning: "One side retransmitted its oldest unacknowledged data again and again, and the other side never acknowledged it though it was up: it went on sending (data, a FIN, a RST) across the same path, or a shorter copy of the same bytes got through at last. Packets that large stopped on the path while smaller ones passed: a link on it has a smaller MTU (a tunnel, a VPN, a cloud overlay, PPPoE) and the ICMP \"fragmentation needed\" (IPv6 \"packet too big\") its router sends back does not reach the sender, because a firewall drops ICMP, so path MTU discovery never learns the smaller size. Linux does not lower its segment size on timeouts unless tcp_mtu_probing is set (RFC 4821 black hole detection, net/ipv4/tcp_timer.c): with 1, after tcp_retries1 timeouts it sends tcp_base_mss, then halves; a copy that shrank and then got through shows that on the wire. Duplicate ACKs do not count as the peer going on (they are what loss looks like), nor do copies of 512 bytes or less, which every path carries; a device that drops this connection's data for its content looks the same as a black hole when no shorter copy was sent. When the capture holds the router's messages quoting the copies, they came as far as the capture point and were dropped after it: with the capture taken on the sender, by its own firewall (tcpdump sees a packet before netfilter's INPUT chain does). Copies that all left with DF clear (IPv4) are another story, and the diagnosis names net.ipv4.ip_no_pmtu_disc instead: the sender does no path MTU discovery (that sysctl not 0, or IP_PMTUDISC_DONT on the socket), a router with a smaller link fragments the copies instead of answering, and the copies vanish because their fragments do not all arrive: a firewall or security group that matches ports (only a first fragment carries them) drops the rest, or the receiver's reassembly gives up (ipfrag_high_thresh, ipfrag_time) (lab fragments-dropped).",
		Confirm: []string{"ping -M do -s 1472 <peer address>   # 1500-byte packets with DF: silence, and no \"Frag needed\", is the black hole; lower -s until replies come", "ip route get <peer address>   # mtu, and the PMTU cached once an ICMP got through", "sysctl net.ipv4.tcp_mtu_probing net.ipv4.tcp_base_mss net.ipv4.ip_no_pmtu_disc", "iptables -S | grep -i icmp   # on the hosts and firewalls between", "nstat -az IpReasmFails IpReasmTimeout   # on the receiver, when the copies left with DF clear: fragments that never made a datagram"},
		Kernel:  "— (net/ipv4/tcp_timer.c: tcp_write_timeout, tcp_mtu_probing)",
	},
	{
		Code: CodeListenOverflow, Title: "the listener reset a completed handshake: accept queue full", Severity: Error,
		Sysctl: SysAbortOnOverflow, Also: []string{"net.core.somaxconn"},
		Default: "0",
		Raise:   "1: a full accept queue answers the handshake ACK with a RST (the client sees a reset)",
		Lower:   "0: a full accept queue drops the ACK; the server retransmits its SYN-ACK and the client retries",
		Meaning: "The listener answered the client's handshake ACK (or its first data) with a RST right after the handshake: the accept queue was full and tcp_abort_on_overflow = 1. The application accepts too slowly or its backlog is too small. Not a close, though it looks like one.",
		Confirm: []string{"ss -ltn   # Recv-Q against the backlog", "nstat -az TcpExtListenOverflows TcpExtListenDrops", "sysctl net.ipv4.tcp_abort_on_overflow net.core.somaxconn"},
		Kernel:  "row 18",
	},
	{
		Code: CodeAcceptQueueFull, Title: "the listener ignored the handshake ACK: accept queue full", Severity: Warning,
		Sysctl: SysSomaxconn, Also: []string{"listen() backlog", SysAbortOnOverflow, "net.ipv4.tcp_synack_retries"},
		Default: "4096 (Linux 5.4 and later; 128 before); tcp_abort_on_overflow 0; tcp_synack_retries 5",
		Raise:   "a larger listen() backlog can take effect (somaxconn caps it): bursts wait in the queue instead of in SYN-ACK retransmissions",
		Lower:   "smaller backlogs: more connections wait on SYN-ACK retransmissions, or, past tcp_synack_retries, fail",
		Meaning: "The server sent its SYN-ACK again after the client had acknowledged it: the listener ignored the handshake ACK. With tcp_abort_on_overflow = 0, the default, a listener whose accept queue is full drops that ACK (TcpExtListenOverflows) and keeps the request, retransmitting its SYN-ACK (1 s, 2 s, 4 s ... apart, up to tcp_synack_retries) until an ACK finds room; the client believes the connection is open meanwhile, and its first data waits too. The application accept()s too slowly for its listen() backlog, which net.core.somaxconn caps. A capture at the client cannot tell this from handshake ACKs lost on the way; one at the server can. With tcp_abort_on_overflow = 1 the listener resets instead (listen-overflow).",
		Confirm: []string{"ss -ltn   # Recv-Q against Send-Q (the backlog)", "nstat -az TcpExtListenOverflows TcpExtListenDrops", "sysctl net.core.somaxconn net.ipv4.tcp_abort_on_overflow"},
		Kernel:  "row 18",
		Doubt:   "a handshake ACK lost on its way to the server looks the same",
	},
	{
		Code: CodeConnectionRefused, Title: "the SYN was refused", Severity: Warning,
		Raise:   "no sysctl governs it",
		Lower:   "no sysctl governs it",
		Meaning: "The server answered the SYN with a RST: nothing listened on that address and port (connect() fails with ECONNREFUSED).",
		Confirm: []string{"ss -ltn"},
		Kernel:  "—",
	},
	{
		Code: CodeSynRejectedICMP, Title: "the SYN was rejected by an ICMP error", Severity: Warning,
		Raise:   "no sysctl governs it",
		Lower:   "no sysctl governs it",
		Meaning: "An ICMP destination unreachable (or time exceeded, or parameter problem) quoting the client's SYN came back, and the client sent nothing more: Linux aborts a socket in SYN_SENT on such an error (tcp_v4_err, tcp_v6_err), so connect() failed at once, without the SYN retransmissions a dropped SYN gets. Port unreachable means ECONNREFUSED and comes from a firewall's REJECT rule (iptables' default --reject-with; a Linux host with nothing listening answers with a RST instead); admin- or host-prohibited a firewall's policy (EHOSTUNREACH; EACCES over IPv6); host or net unreachable a router with no way on. The error's source address says who: the server's own (its host firewall), or a router's or firewall's on the path. An error that the client's later SYNs outlived did not abort it (it arrived while the socket was busy, or never reached it) and is only listed.",
		Confirm: []string{"iptables -S | grep -i reject; nft list ruleset | grep -i reject   # on the host that sent the ICMP", "ip route get <server address>   # on the router that sent an unreachable"},
		Kernel:  "—",
		OnPath:  true, // a firewall's rule or a router's route: no application's, nor a socket's
	},
	{
		Code: CodeSynUnanswered, Title: "the SYN was never answered", Severity: Warning,
		Sysctl: SysSynRetries, Also: []string{"net.ipv4.tcp_syn_linear_timeouts", "TCP_SYNCNT", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies", SysCtMax},
		Default: "6 (about 127 s of exponential backoff from a 1 s RTO); tcp_syn_linear_timeouts 4 on kernels that have it",
		Raise:   "connect() keeps retrying longer before ETIMEDOUT",
		Lower:   "connect() fails sooner; nothing changes why the SYN went unanswered",
		Meaning: "The client retransmitted its SYN and nothing came back, not even a RST: the SYN, or the answer, was dropped. A firewall that DROPs instead of REJECTing, a stateful firewall or NAT whose conntrack table stays full (nf_conntrack_max: it cannot track the new connection and drops its SYNs, logging \"nf_conntrack: table full, dropping packet\"), a server host that is down or unreachable, or a listener whose SYN queue overflowed (tcp_max_syn_backlog with tcp_syncookies off) all look like this; a listening host that is up answers with a SYN-ACK, a closed port with a RST. connect() fails with ETIMEDOUT once tcp_syn_retries retransmissions (TCP_SYNCNT per socket) are spent; kernels with tcp_syn_linear_timeouts send the first ones 1 s apart (in the lab, tcp_syn_retries 2 with it at 4 gave 6 SYNs 1 s apart), and the application's own connect timeout often ends it sooner. The knob is the client's, but the cause is on the path or at the server.",
		Confirm: []string{"sysctl net.ipv4.tcp_syn_retries net.ipv4.tcp_syn_linear_timeouts", "nstat -az TcpExtListenDrops TcpExtListenOverflows TcpExtTCPReqQFullDrop   # on the server", "iptables -S | grep -i drop   # on the server and the firewalls between", "dmesg | grep 'nf_conntrack: table full'; conntrack -S   # drop, on the server and the firewalls or NATs between"},
		Kernel:  "—",
	},
	{
		Code: CodeSynRetransmitted, Title: "the SYN was answered only when sent again: connect() was delayed", Severity: Warning,
		Sysctl: SysSomaxconn, Also: []string{"net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies", "net.ipv4.tcp_syn_linear_timeouts", SysCtMax},
		Default: "4096 (net.core.somaxconn, on kernels since 5.4; 128 before), capping the backlog the application passes to listen()",
		Raise:   "a longer accept queue absorbs bursts of connections while the application is slow to accept() them",
		Lower:   "the queue fills sooner, and SYNs are dropped while it is full",
		Meaning: "The client sent its SYN more than once and the server's first answer was a SYN-ACK to a retransmission, with nothing from the server before it: the first SYNs were dropped on their way to the listener or by it, and connect() took the SYN retransmission timeout longer (1 s on a current kernel; doubling after tcp_syn_linear_timeouts, 3 s on kernels before 3.1). A listener drops SYNs, without a word, while its accept queue is full (tcp_conn_request(): the application accept()s too slowly for its listen() backlog, which net.core.somaxconn caps; TcpExtListenOverflows and TcpExtListenDrops count each drop) and while its SYN queue is full with SYN cookies off (tcp_max_syn_backlog, tcp_syncookies 0; TcpExtTCPReqQFullDrop). If those counters did not grow, the path lost the SYNs: a firewall, a busy link, a stateful firewall or NAT — or the server's own conntrack, on a Kubernetes node — whose conntrack table was full (net.netfilter.nf_conntrack_max: it drops the SYN of a connection it cannot track, logging \"nf_conntrack: table full, dropping packet\", and conntrack -S counts drop; in the lab a router at its limit dropped a SYN and its first retransmission, and the second, once there was room, was answered), or a NAT whose conntrack could not insert the new connection (conntrack -S insert_failed, the source-port race that MASQUERADE --random-fully avoids).",
		Confirm: []string{"nstat -az TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDrop   # on the server", "ss -ltn   # Recv-Q against Send-Q (the backlog) of the listener", "sysctl net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.ipv4.tcp_syncookies", "conntrack -S; dmesg | grep 'nf_conntrack: table full'   # drop and insert_failed, on the server and on a firewall or NAT between them"},
		Kernel:  "—",
		Doubt:   "a SYN lost on its way to the server, or a SYN-ACK lost on its way back, looks the same as a SYN its listener dropped",
	},
	{
		Code: CodeSynCookie, Title: "the server answered with a SYN cookie: its SYN queue was full", Severity: Warning,
		Sysctl: SysSyncookies, Also: []string{SysSomaxconn, "net.ipv4.tcp_max_syn_backlog"},
		Default: "1: cookies only while a listener's SYN queue is full (2: always; 0: never, and SYNs are dropped then)",
		Raise:   "2 answers every SYN with a cookie, full queue or not",
		Lower:   "0 drops the SYNs a full SYN queue cannot hold: connect() waits a SYN retransmission timeout or fails (syn-retransmitted, syn-unanswered)",
		Meaning: "A Linux listener keeps each handshake in progress as a request in its SYN queue, which holds as many as its listen() backlog (capped by net.core.somaxconn). When the queue is full, tcp_syncookies = 1 answers a SYN from no request at all: the SYN-ACK's sequence number is a cookie the handshake ACK gives back, and the kernel logs \"Possible SYN flooding on port …:N. Sending cookies.\" once per listener (nstat TcpExtTCPReqQFullDoCookies and TcpExtSyncookiesSent count the cookies; with tcp_syncookies = 2 they count every SYN-ACK, and nothing is logged). The queue fills under a SYN flood (spoofed SYNs whose SYN-ACKs nobody answers: synack-unanswered), when connections arrive faster than their handshakes complete, or, with backlog 0, as soon as one handshake is pending; tcp_syncookies = 2 sends cookies always. The wire shows the cookie two ways. With timestamps, cookie_init_timestamp() keeps the SYN's options in the low 6 bits of the SYN-ACK's TSval, taking the largest value with those bits not ahead of the clock: the TSval runs 0 to 63 ms behind the server's clock, where every other SYN-ACK's is on it (in the lab's captures, 12 to 59 ms for the seven cookies, −1.3 to +1.0 ms for the 367 other SYN-ACKs). The rule holds it against the server's next segment with a timestamp, and counts only a lag beyond the capture point's round trip to the server, which bounds what the path could add, so cookies are missed more often far from the server. Without timestamps the options have nowhere to go: the SYN-ACK carries the MSS alone though the SYN offered window scaling and SACK, and the connection runs without them (a 64 KB window at most); a host with tcp_window_scaling and tcp_sack both 0, or one that is not Linux, sends that SYN-ACK too. A SYN proxy in front of the server (iptables SYNPROXY) answers with cookies of its own.",
		Confirm: []string{"nstat -az TcpExtTCPReqQFullDoCookies TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtSyncookiesFailed   # on the server", "dmesg | grep 'Possible SYN flooding'", "ss -ltn   # the listener's Send-Q is its backlog", "sysctl net.ipv4.tcp_syncookies net.core.somaxconn"},
		Kernel:  "— (net/ipv4/syncookies.c: cookie_init_timestamp; net/ipv4/tcp_input.c: tcp_conn_request, tcp_syn_flood_action)",
	},
	{
		Code: CodeSynAckUnanswered, Title: "the SYN-ACK was never acknowledged", Severity: Warning,
		Sysctl: SysSynAckRetries, Also: []string{"net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog"},
		Default: "5 (about 63 s of SYN-ACK retransmissions from a 1 s RTO); tcp_syncookies 1",
		Raise:   "half-open requests live longer and hold their place in the SYN queue longer",
		Lower:   "half-open requests are dropped sooner (useful under a SYN flood); a client behind a slow path may fail to connect",
		Meaning: "The server answered the SYN and retransmitted its SYN-ACK, and nothing acknowledged it and nothing reset: the SYN-ACKs did not reach the client, or reached nothing. A firewall or an asymmetric route that drops traffic on the way back, a NAT that lost the mapping, or a spoofed SYN (a SYN flood, where tcp_syncookies keeps the SYN queue from filling) look like this. A client that got them would have answered with an ACK, or a RST if it had given up. The server keeps the request in SYN_RECV for tcp_synack_retries retransmissions (the listener's TCP_SYNCNT or TCP_DEFER_ACCEPT replace it), sent by the request's timer; each retransmitted SYN that reaches the request draws one more copy, not counted against the limit. The copies no retransmitted SYN drew are a lower bound on the setting, which --sysctl checks.",
		Confirm: []string{"ss -tan state syn-recv", "nstat -az TcpExtTCPReqQFullDrop TcpExtSyncookiesSent", "sysctl net.ipv4.tcp_synack_retries net.ipv4.tcp_syncookies"},
		Kernel:  "—",
		Doubt:   "a SYN-ACK lost on its way back, and a spoofed SYN, look the same",
	},
	{
		Code: CodeTimeWaitReuse, Title: "a 4-tuple was reused inside a TIME_WAIT", Severity: Info,
		Sysctl: SysTwReuse, Also: []string{SysTwReuseDelay, SysTimestamps},
		Default: "2 (loopback only); tcp_tw_reuse_delay 1000 ms; tcp_timestamps 1",
		Raise:   "1: connect() may take a port whose TIME_WAIT to the same destination is older than tcp_tw_reuse_delay, when timestamps are on",
		Lower:   "0: connect() never reuses a TIME_WAIT; an explicit bind() still can",
		Meaning: "A new SYN used a 4-tuple less than 60 s after a side of the previous connection entered TIME_WAIT, and the TIME_WAIT let it through. " +
			"On the client the new ISN is the old FIN's sequence number + 65538: tcp_tw_reuse (after tcp_tw_reuse_delay) or an explicit bind() (no delay, no sysctl) — a gap under the delay means bind(). " +
			"On the server the SYN-ACK's ISN is its old FIN's sequence number + 65538: its TIME_WAIT accepted a SYN with a newer timestamp (RFC 6191) or a higher sequence number (RFC 1122). Both are legal. " +
			"A reuse without that fingerprint means the TIME_WAIT was already gone, or the host is not Linux.",
		Confirm: []string{"sysctl net.ipv4.tcp_tw_reuse net.ipv4.tcp_tw_reuse_delay net.ipv4.tcp_timestamps", "nstat -az TcpExtTWRecycled", "ss -tan state time-wait"},
		Kernel:  "rows 13, 14, (d)7, (d)8",
	},
	{
		Code: CodeTimeWaitSynRefused, Title: "a TIME_WAIT refused a new SYN", Severity: Warning,
		Sysctl: SysTimestamps, Also: []string{SysRFC1337},
		Default: "1",
		Raise:   "1 (on): a TIME_WAIT accepts a SYN whose timestamp is newer",
		Lower:   "0 (off): a TIME_WAIT accepts only a SYN whose sequence number is above the old connection's",
		Meaning: "The SYN met the server's TIME_WAIT, which answered with the old connection's ACK; the client reset it and sent its SYN again about 10 ms later. " +
			"The SYN was not acceptable: no timestamps and a sequence number not above the old one, or a timestamp older than the old connection's (PAWS: several hosts behind one NAT address, which hands a port out again within the server's 60 s; the diagnosis then names no sysctl, the server did what RFC 7323 asks). " +
			"When the retry is accepted at once, the client's RST killed the TIME_WAIT: tcp_rfc1337 = 0 on the server.",
		Confirm: []string{"sysctl net.ipv4.tcp_timestamps net.ipv4.tcp_rfc1337", "nstat -az TcpExtPAWSTimewait TcpExtTCPACKSkippedTimeWait", "ss -tan state time-wait"},
		Kernel:  "row 15, (d)11",
	},
	{
		Code: CodeTimeWaitRstIgnored, Title: "a TIME_WAIT ignored RSTs: tcp_rfc1337 = 1", Severity: Warning,
		Sysctl:  SysRFC1337,
		Default: "0 (an in-window RST kills a TIME_WAIT)",
		Raise:   "1: RSTs in TIME_WAIT are ignored (RFC 1337), so it lives its full 60 s; a client refused by it stalls until then",
		Lower:   "0: an in-window RST kills the TIME_WAIT (TIME_WAIT assassination)",
		Meaning: "The TIME_WAIT holder kept refusing SYNs through the client's RSTs until its 60 s ran out, or still acknowledged a segment after an in-window RST reached it: tcp_rfc1337 = 1. The ip-sysctl wording reads backwards; the code is what counts.",
		Confirm: []string{"sysctl net.ipv4.tcp_rfc1337", "nstat -az TcpExtTCPACKSkippedTimeWait"},
		Kernel:  "rows 16, 17, (d)11, (d)12",
	},
	{
		Code: CodeTimeWaitAssassinated, Title: "a RST killed a TIME_WAIT: tcp_rfc1337 = 0", Severity: Warning,
		Sysctl:  SysRFC1337,
		Default: "0 (an in-window RST kills a TIME_WAIT)",
		Raise:   "1: RSTs in TIME_WAIT are ignored (RFC 1337)",
		Lower:   "0: an in-window RST kills the TIME_WAIT",
		Meaning: "An in-window RST reached a TIME_WAIT, and the holder answered the next segment with a RST from no socket: the RST had killed the TIME_WAIT (tcp_rfc1337 = 0), leaving the 4-tuple unprotected against old duplicates.",
		Confirm: []string{"sysctl net.ipv4.tcp_rfc1337"},
		Kernel:  "row 17, (d)12",
	},
	{
		Code: CodeNATUntranslated, Title: "a NAT let a segment through untranslated, and its receiver reset the connection", Severity: Error,
		Sysctl: SysCtEstablished, Also: []string{SysCtBeLiberal, SysCtLoose, SysCtCloseWait, SysCtFinWait},
		Default:   "nf_conntrack_tcp_timeout_established 432000 s (5 days), nf_conntrack_tcp_be_liberal 0, on the NAT",
		Raise:     "a longer timeout keeps idle connections translated (more conntrack entries held); be_liberal 1 makes conntrack accept segments outside the window it tracked, so they stay translated",
		Lower:     "idle connections are forgotten sooner: the server's next segment after a longer silence leaves untranslated and the connection is reset",
		Meaning:   "A segment of a connection arrived from the address behind a NAT (a Kubernetes pod behind a service address, a container behind a published port) instead of the address the connection has, with sequence numbers in that connection's spaces: the NAT let it through untranslated, which it does when conntrack no longer tracks the connection (its entry expired over a silence; with nf_conntrack_tcp_loose 1 the segment is picked up as a new connection, which no DNAT rule matches) or found the segment INVALID (outside the window it tracked, nf_conntrack_tcp_be_liberal 0) and no rule dropped it. The receiver's kernel had no socket for that 4-tuple and answered with a RST, which went back to the sender and killed its socket; the connection's next segment then met a RST and the application got ECONNRESET (the Kubernetes \"connection reset by peer\"). At the client the segment and the RST make a flow of their own, with no SYN, on another 4-tuple, which the summary pairs with the connection (whichever of the two it adds second carries the diagnosis); at the server, or in the translated view on the NAT's host, they are on the connection's own 4-tuple, where the client's bare RST (its kernel's reply path) is followed by more of the client's data continuing its sequence numbers, which a kernel that had the socket never sends. After a silence of a second or more the rule names the conntrack timeout of the state the connection was in; with none, be_liberal, though an entry deleted or flushed (conntrack -D or -F, a reload of the NAT's rules) looks the same on the wire. Dropping INVALID packets on the NAT (kube-proxy installs such a rule) turns the INVALID case into a retransmission; it does not help an expired entry with nf_conntrack_tcp_loose 1.",
		Confirm:   []string{"conntrack -L -p tcp --orig-dst SERVICE_ADDR   # still tracked?", "conntrack -S   # invalid counts", "sysctl net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_be_liberal net.netfilter.nf_conntrack_tcp_loose", "iptables -S | grep -i INVALID"},
		Kernel:    "—",
		CrossFlow: true,
		Scope:     "one flow where the connection has its own addresses; at the client two, which the summary pairs",
		OnPath:    true,
	},
	{
		Code: CodePawsNat, Title: "SYNs from a NAT address dropped by a per-host timestamp check", Severity: Error,
		Sysctl:    SysTwRecycle,
		Default:   "removed in Linux 4.12 (there is no such key on current kernels)",
		Raise:     "1 (kernels before 4.12 only): a server drops SYNs whose timestamp is older than the last one it saw from that address, which breaks clients behind NAT",
		Lower:     "0: no per-host timestamp check",
		Meaning:   "The server silently dropped repeated SYNs from one address whose timestamps were older than those of another connection from the same address shortly before, while it accepted others: a per-host PAWS check, which only tcp_tw_recycle (removed in 4.12 by 4396e46187ca) or a middlebox performs. Several hosts share that address (NAT). A current kernel randomises timestamp offsets per connection and has no such check.",
		Confirm:   []string{"uname -r", "sysctl net.ipv4.tcp_tw_recycle", "nstat -az TcpExtPAWSPassive"},
		Kernel:    "§5 (tcp_tw_recycle), (c)",
		CrossFlow: true,
		Doubt:     "a middlebox that makes the same per-host timestamp check looks the same",
	},
	{
		Code: CodePortPressure, Title: "a client's ephemeral ports towards one server address sat in TIME_WAIT", Severity: Warning,
		Sysctl: SysLocalPortRange, Also: []string{SysTwReuse},
		Default:   "32768 60999 (28232 ports)",
		Raise:     "a wider range gives connect() more source ports per destination address and port",
		Lower:     "fewer ports: TIME_WAIT pile-ups exhaust them sooner",
		Meaning:   "The client held many connections in TIME_WAIT towards one server address and port at once, each pinning a source port that connect() cannot use for that destination (unless tcp_tw_reuse = 1 lets it take a TIME_WAIT older than tcp_tw_reuse_delay). When the range runs out connect() fails with EADDRNOTAVAIL. The summary counts the distinct ports in TIME_WAIT at each second against the range.",
		Confirm:   []string{"sysctl net.ipv4.ip_local_port_range net.ipv4.tcp_tw_reuse", "ss -tan state time-wait dst ADDR | wc -l"},
		Kernel:    "row 13, (c)",
		CrossFlow: true,
	},
	{
		Code: CodeCaptureStartedMidFlow, Title: "the capture began after the connection was set up", Severity: Info,
		Meaning: "No SYN or SYN-ACK: the roles are inferred (the well-known or lower port is the server) and nothing before the first frame is known.",
		Kernel:  "—",
	},
	{
		Code: CodeCaptureEndedMidClose, Title: "the capture ended in the middle of the close", Severity: Info,
		Meaning: "One side's FIN was sent once and not yet acknowledged, or acknowledged while the peer had not closed, when the capture (or the flow table) stopped: the last states are where the close stood then.",
		Kernel:  "—",
	},
	{
		Code: CodeCaptureMissingPackets, Title: "the capture missed packets of this connection", Severity: Info,
		Meaning: "A side acknowledged data or a FIN the capture never saw from its peer, or one direction is missing entirely: the capture dropped packets or saw only one path, so states around the gap are inferred.",
		Kernel:  "—",
	},
}

// ctAlso and ctDefault are what the rules whose knob is a conntrack
// timeout on a device on the path say of the other timeouts and of the
// defaults.
var (
	ctAlso    = []string{SysCtFinWait, SysCtCloseWait, SysCtLastAck, SysCtTimeWait, SysCtLoose}
	ctDefault = "432000 s (5 days), on the firewall; after one FIN fin_wait 120 s, once it is acknowledged close_wait 60 s, after the second FIN last_ack 30 s, then time_wait 120 s; nf_conntrack_tcp_loose 1 (a forgotten connection is picked up again)"
)
