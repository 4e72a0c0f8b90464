package analyze

// Reset causes: the values of close.reset.cause. KERNEL.md rows named in
// brackets.
const (
	CauseUnreadData      = "unread-data"        // [R.] at close(), ack covers unread peer data (row 5)
	CauseLingerZero      = "linger-zero"        // [R.] at close(), nothing unread: SO_LINGER {1,0} (row 6b)
	CauseDataAfterClose  = "data-after-close"   // [R] reply to peer data after our FIN from close() (row 6c)
	CauseFinWait2Timeout = "fin-wait-2-timeout" // [R] reply to the peer's late FIN after FIN_WAIT2 expired (row 3)
	CauseTimeWaitMissing = "time-wait-missing"  // [R] reply to a FIN/ACK a TIME_WAIT should have absorbed (row 12)
	CauseLinger2Negative = "linger2-negative"   // [R] right after our FIN was ACKed: TCP_LINGER2 < 0 (row 4)
	CauseOrphanLimit     = "orphan-limit"       // FIN then [R.] at once, or [R.] replacing a retransmission (row 2)
	CauseKeepalive       = "keepalive"          // keepalive probes then [R.] (row 19)
	CauseListenOverflow  = "listen-overflow"    // [R] to the handshake ACK (row 18)
	CauseRefused         = "refused"            // SYN answered by RST: nothing listening
	CauseMiddlebox       = "middlebox"          // the RST bears the sender's address but not its TTL
	CauseNoSocket        = "no-socket"          // [R] reply to the peer's segment from a side that never closed: its socket was gone
	CauseUnknown         = "unknown"
)

// Reuse verdicts: the values of reuse.verdict (KERNEL.md rows 13-16).
const (
	// VerdictClientReuse: the client consumed its own TIME_WAIT (new ISN =
	// old FIN seq + 65538): tcp_tw_reuse or an explicit bind().
	VerdictClientReuse = "client-time-wait-reused"
	// VerdictServerAccept: the server accepted the SYN through its TIME_WAIT
	// (SYN-ACK ISN = server's old FIN seq + 65538; RFC 6191 path).
	VerdictServerAccept = "server-time-wait-accepted"
	// VerdictRefused: a TIME_WAIT answered the SYN with its old ACK, the
	// client reset it and retried.
	VerdictRefused = "time-wait-refused"
	// VerdictExpired: the gap is at least TCP_TIMEWAIT_LEN (60 s).
	VerdictExpired = "time-wait-expired"
	// VerdictNoTimeWait: no side of the previous incarnation entered
	// TIME_WAIT (it ended by RST, or never closed).
	VerdictNoTimeWait = "no-time-wait"
	// VerdictUnproven: inside 60 s of a TIME_WAIT, accepted, but without the
	// kernel's ISN fingerprint (TIME_WAIT killed, or a non-Linux stack).
	VerdictUnproven = "reuse-without-fingerprint"
)

// Values of half_close.active_used.
const (
	ActiveUsedShutdown = "shutdown"
	ActiveUsedClose    = "close"
	ActiveUsedUnknown  = "unknown"
)

// Diagnosis codes. Each is stable: tickets and scripts key on them.
// The governing sysctl or socket option is given beside each.
const (
	// A side's FIN was sent more than once before it was acknowledged.
	// net.ipv4.tcp_orphan_retries (orphan) or net.ipv4.tcp_retries2.
	CodeFinRetransmitted = "fin-retransmitted"
	// A FIN was never acknowledged and its retransmissions stopped without
	// a RST: the orphan gave up. net.ipv4.tcp_orphan_retries.
	CodeFinNeverAcked = "fin-never-acked"
	// The closer's FIN was held back by the peer's zero window.
	// net.ipv4.tcp_orphan_retries (and tcp_max_orphans).
	CodeFinBlockedZeroWindow = "fin-blocked-zero-window"
	// FIN_WAIT2 expired: the peer's late FIN got a reply-RST.
	// net.ipv4.tcp_fin_timeout (or TCP_LINGER2).
	CodeFinWait2Timeout = "fin-wait-2-timeout"
	// TCP_LINGER2 < 0: RST right after our FIN was acknowledged.
	CodeLinger2Negative = "linger2-negative"
	// The passive side held CLOSE_WAIT for long: the application did not
	// close() after read() returned 0. No sysctl.
	CodeCloseWaitLong = "close-wait-long"
	// A 4-tuple was reused inside 60 s of a TIME_WAIT.
	// net.ipv4.tcp_tw_reuse (client side) / net.ipv4.tcp_timestamps.
	CodeTimeWaitReuse = "time-wait-reuse"
	// A SYN was refused by a TIME_WAIT (old ACK, RST, retry).
	// net.ipv4.tcp_timestamps (or tcp_rfc1337 when the RST did not kill it).
	CodeTimeWaitSynRefused = "time-wait-syn-refused"
	// A FIN the TIME_WAIT should have absorbed got RST: TIME_WAIT missing.
	// net.ipv4.tcp_max_tw_buckets.
	CodeTimeWaitMissing = "time-wait-missing"
	// RST at close() with unread data. Application; no sysctl.
	CodeRstUnreadData = "rst-unread-data"
	// RST at close() with nothing unread: SO_LINGER {1,0}.
	CodeRstLingerZero = "rst-linger-zero"
	// Peer data after our close() answered by RST. Application protocol.
	CodeRstDataAfterClose = "rst-data-after-close"
	// A side that never closed answered the peer with a reply-RST: its
	// socket was gone (restart, failover, another backend behind a NAT,
	// or a silent timeout).
	CodeRstNoSocket = "rst-no-socket"
	// The client's SYN came from no connect() (no SACK-permitted, no
	// window-scale option) and its kernel reset the SYN-ACK from no
	// socket: a SYN scan or a half-open health check. No knob.
	CodeSynProbe = "syn-probe"
	// Orphan limit or memory pressure reset: net.ipv4.tcp_max_orphans / tcp_mem.
	CodeOrphanReset = "orphan-reset"
	// Keepalive expiry reset: SO_KEEPALIVE / net.ipv4.tcp_keepalive_*.
	CodeKeepaliveReset = "keepalive-reset"
	// Listen queue overflow reset: net.ipv4.tcp_abort_on_overflow.
	CodeListenOverflow = "listen-overflow"
	// The listener dropped the handshake ACK (accept queue full,
	// tcp_abort_on_overflow = 0) and retransmitted its SYN-ACK:
	// net.core.somaxconn and the listen() backlog.
	CodeAcceptQueueFull = "accept-queue-full"
	// SYN answered by RST (nothing listening). No sysctl.
	CodeConnectionRefused = "connection-refused"
	// SYN answered by an ICMP error (a firewall's REJECT, no route): the
	// connect() failed at once. No sysctl.
	CodeSynRejectedICMP = "syn-rejected-icmp"
	// SYN retransmitted, never answered: connect() times out after
	// net.ipv4.tcp_syn_retries.
	CodeSynUnanswered = "syn-unanswered"
	// SYN retransmitted, then answered: the first SYNs were dropped
	// before the listener answered (a full accept queue, a full SYN
	// queue without cookies, or the path): net.core.somaxconn and the
	// listen() backlog.
	CodeSynRetransmitted = "syn-retransmitted"
	// SYN-ACK retransmitted, never acknowledged: the request lives
	// net.ipv4.tcp_synack_retries.
	CodeSynAckUnanswered = "synack-unanswered"
	// The server's SYN-ACK was a SYN cookie: its SYN queue was full (the
	// listen() backlog), or net.ipv4.tcp_syncookies is 2.
	CodeSynCookie = "syn-cookie"
	// A RST made by a device on the path, not by the host whose address
	// it bears (its TTL differs): after a silence,
	// net.netfilter.nf_conntrack_tcp_timeout_established on a Linux
	// firewall; otherwise no host knob.
	CodeRstMiddlebox = "rst-middlebox"
	// After a silence one side's segments were never answered: a device
	// on the path forgot the idle connection and drops them (on a Linux
	// firewall, the conntrack timeout of its state), or the peer is gone.
	CodeNoAnswerAfterIdle = "no-answer-after-idle"
	// One side's data was retransmitted and never answered, with no
	// silence before it: the peer's host went down or was cut off; the
	// sender gives up after net.ipv4.tcp_retries2.
	CodeDataUnanswered = "data-unanswered"
	// One side's segments were retransmitted at one size and never
	// acknowledged while the peer was up (it kept sending, or a smaller
	// copy of the same bytes got through): a path MTU black hole. The
	// sender lowers its segment size only with net.ipv4.tcp_mtu_probing.
	CodePMTUBlackHole = "pmtu-black-hole"
	// A NAT let one side's segments through untranslated (its conntrack
	// entry expired, or it found them INVALID) and the receiver's kernel
	// reset them, killing the sender's socket:
	// net.netfilter.nf_conntrack_tcp_timeout_established or
	// net.netfilter.nf_conntrack_tcp_be_liberal, on the NAT.
	CodeNATUntranslated = "nat-untranslated"
	// PAWS-style SYN drops from one NATed address: net.ipv4.tcp_tw_recycle
	// (historical, removed in Linux 4.12).
	CodePawsNat = "paws-nat-syn-drop"
	// Capture caveats.
	CodeCaptureStartedMidFlow = "capture-started-mid-flow"
	CodeCaptureEndedMidClose  = "capture-ended-mid-close"
	CodeCaptureMissingPackets = "capture-missing-packets"
)
