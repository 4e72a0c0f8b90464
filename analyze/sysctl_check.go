package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/teardown/teardown/flows"
)

// Turning inferences into comparisons: with the host's settings
// (Options.Sysctls), each diagnosis whose knob the settings hold says
// whether the capture fits them, and narrows its cause when they decide
// what the capture alone could not (a reuse under tcp_tw_reuse = 0 was an
// explicit bind(); more FIN retransmissions than tcp_orphan_retries
// allows mean the socket was no orphan).

// SettingCheck is one comparison of a diagnosis with the host's setting
// of a knob (from Options.Sysctls).
type SettingCheck struct {
	Host   string `json:"host"`
	Sysctl string `json:"sysctl"`
	Value  string `json:"value"`
	// Agrees is false when the capture contradicts the setting: another
	// cause (a socket option, another socket state, another host) must
	// then be at work, which the diagnosis says.
	Agrees bool `json:"agrees"`
}

// settingCheckers compare one kind of diagnosis with the settings.
var settingCheckers = map[string]func(k *checker){
	CodeFinRetransmitted:     checkRetryBudget,
	CodeFinNeverAcked:        checkRetryBudget,
	CodeFinWait2Timeout:      checkFinTimeout,
	CodeTimeWaitReuse:        checkTwReuse,
	CodeTimeWaitSynRefused:   checkSynRefused,
	CodeTimeWaitRstIgnored:   func(k *checker) { k.rfc1337(1) },
	CodeTimeWaitAssassinated: func(k *checker) { k.rfc1337(0) },
	CodeTimeWaitMissing:      checkTwBuckets,
	CodeOrphanReset:          checkMaxOrphans,
	CodeListenOverflow:       checkAbortOnOverflow,
	CodeKeepaliveReset:       checkKeepalive,
	CodePawsNat:              checkTwRecycle,
	CodeSynUnanswered:        checkSynRetries,
	CodeSynAckUnanswered:     checkSynAckRetries,
	CodeSynCookie:            checkSyncookies,
	CodeDataUnanswered:       checkDataRetries,
	CodeRstNoSocket:          func(k *checker) { checkRetryBudget(k); checkSynAckRetries(k) },
	CodePMTUBlackHole:        func(k *checker) { checkMTUProbing(k); checkNoPMTUDisc(k) },
}

// checkSettings compares f's diagnoses with the settings of the hosts
// they are about; addr holds f's client and server addresses, w its wire
// facts (nil when the flow has none).
func checkSettings(f *Flow, addr *[2]netip.AddrPort, sys Sysctls, w *WireFacts) {
	if sys.Empty() {
		return
	}
	for i := range f.Diagnoses {
		d := &f.Diagnoses[i]
		fn := settingCheckers[d.Code]
		if sd := sideOf(f, d.Side); fn == nil || sd != nil && sd.Stack != nil {
			// No check, or a side whose stack is not Linux's.
			continue
		}
		a := sideAddr(addr, d.Side)
		if !sys.forAddr(a) {
			continue
		}
		host := ""
		if a.IsValid() {
			host = a.String()
		}
		fn(&checker{f: f, d: d, sys: sys, host: host, client: addr[flows.FromClient], w: w})
		settled(d)
	}
}

// settled takes the rule's doubt out of d when the rule lets settings
// settle it (RuleInfo.Settled) and every comparison agreed, one of them
// with the knob d names: the host's settings decided what the wire
// could not.
func settled(d *Diagnosis) {
	r, ok := ruleInfo(d.Code)
	if !ok || !r.Settled || r.Doubt == "" || len(d.Checks) == 0 || d.Sysctl == "" {
		return
	}
	named := false
	for _, c := range d.Checks {
		if !c.Agrees {
			return
		}
		named = named || c.Sysctl == d.Sysctl
	}
	if named {
		d.settle(r.Doubt)
	}
}

// checker compares one diagnosis.
type checker struct {
	f    *Flow
	d    *Diagnosis
	sys  Sysctls
	host string
	// client is the flow's client address.
	client netip.AddrPort
	// w holds the flow's wire facts, or is nil.
	w *WireFacts
}

// note records the comparison with key and adds what it shows to the
// message.
func (k *checker) note(key string, agrees bool, format string, args ...any) {
	k.d.Checks = append(k.d.Checks, SettingCheck{Host: k.host, Sysctl: key, Value: k.sys.Values[key], Agrees: agrees})
	k.d.Message += fmt.Sprintf("; %s has %s = %s: ", k.sys.source(), strings.TrimPrefix(key, "net.ipv4."), k.sys.Values[key]) + fmt.Sprintf(format, args...)
}

// bound returns the diagnosis's bound on effect of.
func (k *checker) bound(of string) (Bound, bool) {
	for _, b := range k.d.Bounds {
		if b.Of == of {
			return b, true
		}
	}
	return Bound{}, false
}

// adviceNoOrphan is the advice for a FIN never acknowledged by the peer
// of a socket that had only shut down.
const adviceNoOrphan = "find what drops the FIN; the application, which only shut down, gets ETIMEDOUT once tcp_retries2 runs out"

// checkRetryBudget compares the retry budget a FIN's retransmissions
// show with tcp_orphan_retries (or tcp_retries2).
func checkRetryBudget(k *checker) {
	b, ok := k.bound(OfBudget)
	if !ok || b.Above == nil {
		return
	}
	key := k.d.Sysctl
	v, ok := k.sys.Int(key)
	if !ok {
		return
	}
	orphan := key == SysOrphanRetries
	eff := int(v)
	if orphan {
		eff = orphanRetriesInEffect(eff)
	}
	budget := retryBudget(eff)
	above := *b.Above
	what := "the FIN was"
	if k.d.Code == CodeRstNoSocket {
		what = "its data was"
	}
	switch {
	case budget <= above:
		if !orphan {
			k.note(key, false, "it allows %s of retransmissions, yet %s still retransmitted %s into its budget: TCP_USER_TIMEOUT on the socket set a longer limit", FormatSeconds(budget), what, FormatSeconds(above))
			return
		}
		k.note(key, false, "it allows an orphan %s of retransmissions, yet the FIN was still retransmitted %s into its budget, so the socket was no orphan (the application had only shut down, not closed)", FormatSeconds(budget), FormatSeconds(above))
		r2 := int64(15)
		if v, ok := k.sys.Int(SysRetries2); ok {
			r2 = v
		}
		if b2 := retryBudget(int(r2)); b2 > above && (b.Below == nil || b.Assumes != "" || b2 <= *b.Below) {
			k.d.Sysctl, k.d.Advice = SysRetries2, adviceNoOrphan
			k.d.Message += fmt.Sprintf(": tcp_retries2 = %d (%s) governed it", r2, FormatSeconds(b2))
			return
		}
		k.d.Message += fmt.Sprintf(", and tcp_retries2 = %d does not fit either: TCP_USER_TIMEOUT on the socket set the limit", r2)
	case b.Below != nil && b.Assumes == "" && budget > *b.Below:
		if r2, ok := k.sys.Int(SysRetries2); ok && orphan {
			if b2 := retryBudget(int(r2)); b2 > above && b2 <= *b.Below {
				// An orphan would have gone on; a socket that only shut
				// down gives up on tcp_retries2's budget, which fits.
				k.note(key, false, "it allows an orphan %s of retransmissions, yet the socket gave up within %s, so the socket was no orphan (the application had only shut down, not closed)", FormatSeconds(budget), FormatSeconds(*b.Below))
				k.d.Sysctl, k.d.Advice = SysRetries2, adviceNoOrphan
				k.note(SysRetries2, true, "its budget of %s fits and governed it", FormatSeconds(b2))
				return
			}
		}
		k.note(key, false, "it allows %s of retransmissions, yet the socket gave up within %s: TCP_USER_TIMEOUT on the socket, an ICMP error (which ends an orphan's retries once its RTO is at the maximum), or a lower tcp_retries2 if the socket was no orphan", FormatSeconds(budget), FormatSeconds(*b.Below))
	default:
		k.note(key, true, "its budget of %s fits", FormatSeconds(budget))
	}
}

// checkFinTimeout compares an orphaned FIN_WAIT2 that expired with
// tcp_fin_timeout.
func checkFinTimeout(k *checker) {
	b, ok := k.bound(OfLifetime)
	if !ok || b.Below == nil {
		return
	}
	t, ok := k.sys.Int(SysFinTimeout)
	if !ok {
		return
	}
	life := finWait2Lifetime(float64(t))
	if life < *b.Below {
		k.note(SysFinTimeout, true, "an orphaned FIN_WAIT2 lives %s with it, which fits", FormatSeconds(life))
		return
	}
	k.note(SysFinTimeout, false, "an orphaned FIN_WAIT2 lives %s with it, yet this one was gone within %s", FormatSeconds(life), FormatSeconds(*b.Below))
	if v, ok := k.sys.Int(SysMaxTwBuckets); ok && v == 0 {
		k.d.Sysctl = SysMaxTwBuckets
		k.d.Message += ": tcp_max_tw_buckets = 0 there, so the FIN_WAIT2 was never kept"
		return
	}
	k.d.Sysctl = OptLinger2
	k.d.Message += ": the socket set a shorter TCP_LINGER2, or a full tcp_max_tw_buckets dropped it at once"
}

// checkTwReuse decides between tcp_tw_reuse and an explicit bind() for a
// client's reuse, and checks tcp_timestamps for a server's.
func checkTwReuse(k *checker) {
	r := k.f.Reuse
	if r == nil {
		return
	}
	if r.Verdict == VerdictServerAccept {
		if v, ok := k.sys.Int(SysTimestamps); ok && r.Timestamps {
			k.note(SysTimestamps, v != 0, "%s", map[bool]string{true: "it fits", false: "yet the SYNs carry timestamps: these settings are not the server's"}[v != 0])
		}
		return
	}
	if r.Verdict != VerdictClientReuse {
		return
	}
	reuse, ok := k.sys.Int(SysTwReuse)
	if !ok {
		return
	}
	delay, hasDelay := k.sys.Int(SysTwReuseDelay)
	if !hasDelay {
		delay = twReuseDelayMs // before the sysctl: 1-2 s
	}
	allowed := reuse == 1 || (reuse == 2 && k.client.Addr().IsLoopback())
	gap := r.Gap * 1000
	switch {
	case !allowed:
		k.d.Sysctl = ""
		k.note(SysTwReuse, true, "connect() may not reuse a TIME_WAIT with that, so the application bind()s the port explicitly")
	case gap < float64(delay):
		k.d.Sysctl = ""
		k.note(SysTwReuse, true, "but the reuse came %s after the TIME_WAIT began, under tcp_tw_reuse_delay (%d ms), so the application bind()s the port explicitly", FormatSeconds(r.Gap), delay)
	case k.d.Sysctl == "":
		k.d.Sysctl = SysTwReuse
		k.note(SysTwReuse, true, "with tcp_tw_reuse_delay %d ms connect() may reuse it too, so tcp_tw_reuse or an explicit bind()", delay)
	default:
		k.note(SysTwReuse, true, "it fits")
	}
}

// checkSynRefused compares a refused SYN with tcp_timestamps, and what
// the client's RST did with tcp_rfc1337.
func checkSynRefused(k *checker) {
	if v, ok := k.sys.Int(SysTimestamps); ok {
		switch {
		case v == 0:
			k.note(SysTimestamps, true, "without timestamps the TIME_WAIT accepts only a SYN with a higher sequence number")
		case k.f.Reuse != nil && !k.f.Reuse.Timestamps:
			k.note(SysTimestamps, true, "the server has them on, so the client (whose SYN carries none) has them off")
		default:
			k.note(SysTimestamps, true, "so the SYN's timestamp was older than the old connection's")
		}
	}
	if v, ok := k.sys.Int(SysRFC1337); ok && k.f.Handshake == HandshakeComplete && !hasCode(k.f, CodeTimeWaitRstIgnored) {
		k.note(SysRFC1337, v == 0, "%s", map[bool]string{true: "the client's RST killed the TIME_WAIT, which fits", false: "which keeps a TIME_WAIT through RSTs, yet the client's RST killed this one: these settings are not the server's"}[v == 0])
	}
}

func hasCode(f *Flow, code string) bool { return codeIn(f.Diagnoses, code) }

// codeIn reports whether one of ds has code.
func codeIn(ds []Diagnosis, code string) bool {
	for i := range ds {
		if ds[i].Code == code {
			return true
		}
	}
	return false
}

// rfc1337 compares what a TIME_WAIT did with a RST with tcp_rfc1337.
func (k *checker) rfc1337(want int64) {
	k.expect(SysRFC1337, want, fmt.Sprintf("yet the TIME_WAIT behaved as with %d: these settings are not the TIME_WAIT holder's", want))
}

// expect notes whether key is set to want, with what it means when it is
// not; it reports whether key was set and matched.
func (k *checker) expect(key string, want int64, otherwise string) (set, matched bool) {
	v, ok := k.sys.Int(key)
	if !ok {
		return false, false
	}
	if v == want {
		k.note(key, true, "it fits")
		return true, true
	}
	k.note(key, false, "%s", otherwise)
	return true, false
}

// checkTwBuckets reads tcp_max_tw_buckets for a missing TIME_WAIT.
func checkTwBuckets(k *checker) {
	v, ok := k.sys.Int(SysMaxTwBuckets)
	if !ok {
		return
	}
	if v == 0 {
		k.note(SysMaxTwBuckets, true, "no TIME_WAIT is ever kept there")
		return
	}
	k.note(SysMaxTwBuckets, true, "the table counts every TIME_WAIT of the host's network namespace, so other connections filled it")
}

// checkMaxOrphans reads tcp_max_orphans for an orphan reset.
func checkMaxOrphans(k *checker) {
	if _, ok := k.sys.Int(SysMaxOrphans); ok {
		k.note(SysMaxOrphans, true, "every orphan of the host counts against it (an orphan that stopped sending counts double or more)")
	}
}

// checkAbortOnOverflow compares a listener's reset with
// tcp_abort_on_overflow.
func checkAbortOnOverflow(k *checker) {
	k.expect(SysAbortOnOverflow, 1, "with it a full accept queue drops the ACK instead, so this RST came from somewhere else (a middlebox, or another host)")
}

// checkSyncookies reads tcp_syncookies for a SYN cookie: 1 sends them
// while the SYN queue is full, 2 always, 0 never (a SYN proxy in front of
// the host sent it then).
func checkSyncookies(k *checker) {
	v, ok := k.sys.Int(SysSyncookies)
	if !ok {
		return
	}
	switch v {
	case 1:
		k.note(SysSyncookies, true, "cookies while the SYN queue is full, so it was")
	case 2:
		k.note(SysSyncookies, true, "a cookie answers every SYN, full queue or not, so this one says nothing of the queue")
	default:
		k.note(SysSyncookies, false, "the host sends no cookies, so something in front of it answered the SYN (a SYN proxy: iptables SYNPROXY, a load balancer)")
	}
}

// checkKeepalive compares the probes' spacing with tcp_keepalive_intvl.
func checkKeepalive(k *checker) {
	v, ok := k.sys.Int(SysKeepaliveIntvl)
	if !ok {
		return
	}
	var probes []Time
	for _, e := range k.f.Events {
		if e.Note == NoteKeepalive && e.From == k.d.Side {
			probes = append(probes, e.At)
		}
	}
	if len(probes) < 2 {
		return
	}
	gap := probes[0].Seconds(probes[1])
	if math.Abs(gap-float64(v)) <= 0.25*float64(v) {
		k.note(SysKeepaliveIntvl, true, "the probes' spacing fits")
		return
	}
	k.note(SysKeepaliveIntvl, false, "yet the probes came %s apart: the socket sets TCP_KEEPINTVL", FormatSeconds(gap))
}

// checkTwRecycle looks for tcp_tw_recycle in the settings.
func checkTwRecycle(k *checker) {
	set, matched := k.expect(SysTwRecycle, 1, "so something between the hosts does the check")
	if !set {
		k.d.Message += fmt.Sprintf("; %s has no tcp_tw_recycle (Linux 4.12 or later), so something between the hosts does the check", k.sys.source())
	}
	if !matched {
		k.d.Sysctl = ""
	}
}

// maxSynLinear is the most retransmissions tcp_syn_linear_timeouts adds
// to tcp_syn_retries where the settings do not give it: its default.
const maxSynLinear = 4

// checkSynRetries compares the client's SYN retransmissions with
// tcp_syn_retries: a series may stop sooner (the application's connect
// timeout, or the end of the capture), but not go on past what the
// kernel allows, tcp_syn_retries plus, on kernels that have it,
// tcp_syn_linear_timeouts (in the lab, 2 and 4 gave 5 retransmissions).
func checkSynRetries(k *checker) {
	n, ok := k.sys.Int(SysSynRetries)
	if !ok || k.w == nil {
		return
	}
	linear, known := k.sys.Int("net.ipv4.tcp_syn_linear_timeouts")
	if !known {
		linear = maxSynLinear
	}
	sent := int64(k.w.SYNs) - 1
	if sent <= n+linear {
		k.note(SysSynRetries, true, "%s fits it", retransmissions(sent))
		return
	}
	k.note(SysSynRetries, false, "yet the client retransmitted its SYN %d times, more than it allows: the socket set TCP_SYNCNT, or these settings are not the client's", sent)
}

// checkSynAckRetries compares the lower bound the server's SYN-ACK
// retransmissions put on tcp_synack_retries (synAckUnanswered) with the
// setting: the request's timer retransmits at most that many times (fewer
// when the SYN queue is more than half full of old requests), and the
// copies that retransmitted SYNs draw are not counted against it. In the
// lab, tcp_synack_retries 5 and two SYN retransmissions gave one timer
// copy and two drawn ones before the capture ended.
func checkSynAckRetries(k *checker) {
	b, ok := k.bound(OfValue)
	if !ok || b.Above == nil {
		return
	}
	n, ok := k.sys.Int(SysSynAckRetries)
	if !ok {
		return
	}
	timer := int64(*b.Above) + 1
	if n >= timer {
		k.note(SysSynAckRetries, true, "at least %s came from the request's timer, which fits it", retransmissions(timer))
		return
	}
	k.note(SysSynAckRetries, false, "yet the server retransmitted its SYN-ACK %s more than the client's SYNs account for, more than it allows: the listener set TCP_SYNCNT or TCP_DEFER_ACCEPT, or these settings are not the server's", times(int(timer)))
}

// checkDataRetries compares data retransmitted unanswered with
// tcp_retries2. Its budget counts from the first RTO retransmission, at
// least rtoMinModel after the first copy, so a budget that outlasts the
// copies' span less that fits; a shorter one does not, unless the first
// retransmission came that much later.
func checkDataRetries(k *checker) {
	if k.w == nil || k.w.SilenceEnd <= 0 {
		return
	}
	n, ok := k.sys.Int(SysRetries2)
	if !ok {
		return
	}
	span := float64(k.w.SilenceEnd)
	budget := retryBudget(int(n))
	// The budget runs from the first RTO retransmission: at least
	// rtoMinModel after the data, and no later than the second
	// retransmission (after a tail-loss probe) when the wire shows it.
	lead := max(rtoMinModel, float64(k.w.RetryLead))
	if budget >= span-lead {
		if lead > rtoMinModel {
			k.note(SysRetries2, true, "its budget of %s from the first RTO retransmission, which went out at most %s after the data (the ICMP errors its copies drew date them), covers the %s the copies span, which fits",
				FormatSeconds(budget), FormatSeconds(lead), FormatSeconds(span))
			return
		}
		k.note(SysRetries2, true, "its budget of %s from the first RTO retransmission outlasts the %s the copies span, which fits", FormatSeconds(budget), FormatSeconds(span))
		return
	}
	k.note(SysRetries2, false, "it allows %s of retransmissions, yet the copies span %s: TCP_USER_TIMEOUT on the socket set a longer limit, the first retransmission came over %s after the data (a retransmission timeout that long), or these settings are not the sender's", FormatSeconds(budget), FormatSeconds(span), FormatSeconds(span-budget))
}

// retransmissions says "1 retransmission" or "n retransmissions".
func retransmissions(n int64) string {
	if n == 1 {
		return "1 retransmission"
	}
	return fmt.Sprintf("%d retransmissions", n)
}

// mtuProbeAfter is when Linux's black-hole detection lowers the segment
// size with tcp_mtu_probing on: at the first retransmission timeout once
// the retransmissions have gone on for tcp_retries1's model time from the
// first (tcp_write_timeout, retransmits_timed_out: (2^(retries1+1) - 1)
// minimum RTOs), in seconds.
func mtuProbeAfter(retries1 int64) float64 {
	return float64(int64(2)<<min(max(retries1, 0), 30)-1) * rtoMinModel
}

// checkNoPMTUDisc compares a black hole whose copies all left with DF
// clear with ip_no_pmtu_disc: any value but 0 clears DF on every TCP
// socket the host opens (inet_create); with 0, the socket did it.
func checkNoPMTUDisc(k *checker) {
	if k.d.Sysctl != SysNoPMTUDisc {
		return
	}
	v, ok := k.sys.Int(SysNoPMTUDisc)
	if !ok {
		return
	}
	if v != 0 {
		k.note(SysNoPMTUDisc, true, "with it every TCP socket of the host sends with DF clear, which fits")
		return
	}
	k.note(SysNoPMTUDisc, false, "with 0 TCP sets DF, yet the copies left without it: the socket set IP_MTU_DISCOVER to IP_PMTUDISC_DONT, or these settings are not the sender's")
	k.d.Sysctl = OptMTUDiscover
}

// checkMTUProbing compares a black hole's copies with tcp_mtu_probing:
// at 0 they keep their size; on, they shrink at the first timeout past
// tcp_retries1's model time; at 2 no segment is longer than tcp_base_mss
// to begin with (tcp_mtup_init enables probing at once, and tcp_sync_mss
// caps the segment size at search_low, tcp_base_mss's MTU): only
// probes are, and a lost probe stalls nothing.
func checkMTUProbing(k *checker) {
	v, ok := k.sys.Int(SysMTUProbing)
	if !ok || k.w == nil {
		return
	}
	x := flows.FromClient
	if k.d.Side == Server {
		x = flows.FromServer
	}
	span, shrink := float64(k.w.StallSpan[x]), float64(k.w.StallShrink[x])
	r1, ok := k.sys.Int(SysRetries1)
	if !ok {
		r1 = 3
	}
	due := mtuProbeAfter(r1)
	base, ok := k.sys.Int(SysBaseMSS)
	if !ok {
		base = 1024
	}
	switch long := int64(k.w.StallLen[x]); {
	case v >= 2 && long > base:
		k.note(SysMTUProbing, false, "with 2 Linux starts every connection at tcp_base_mss (%d bytes) and sends longer segments only as probes, whose loss stalls nothing, yet copies of %d bytes went unanswered: these settings are not the sender's, or a probe had found that size before the path changed", base, long)
	case v == 0 && shrink > 0:
		k.note(SysMTUProbing, false, "with it Linux keeps its segment size on timeouts, yet a copy %s after the first was shorter: an ICMP \"fragmentation needed\" got through to the sender after all, or these settings are not the sender's", FormatSeconds(shrink))
	case v == 0:
		k.note(SysMTUProbing, true, "with it Linux keeps its segment size on timeouts, and the copies never shrank, which fits")
	case shrink > 0:
		k.note(SysMTUProbing, true, "the first shorter copy came %s after the first, at a timeout past the %s tcp_retries1 = %d sets before black-hole detection, which fits", FormatSeconds(shrink), FormatSeconds(due), r1)
	case span > 2*due:
		// The timeouts double: one past due comes by twice that.
		k.note(SysMTUProbing, false, "black-hole detection would have shrunk the copies at a timeout past %s (tcp_retries1 = %d), yet they kept their size for %s: these settings are not the sender's, or the sender is not Linux", FormatSeconds(due), r1, FormatSeconds(span))
	default:
		k.note(SysMTUProbing, true, "the copies span %s, before a timeout past the %s tcp_retries1 = %d sets would shrink them, which fits", FormatSeconds(span), FormatSeconds(due), r1)
	}
}
