package analyze

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// What the kernel does with the knobs a capture can bound (KERNEL.md §b,
// §c and (d)3), and the Bound type that carries an inference from a flow
// to the summary and to the comparison with the host's settings.

// Sysctl names the rules use.
const (
	SysOrphanRetries    = "net.ipv4.tcp_orphan_retries"
	SysRetries2         = "net.ipv4.tcp_retries2"
	SysMTUProbing       = "net.ipv4.tcp_mtu_probing"
	SysNoPMTUDisc       = "net.ipv4.ip_no_pmtu_disc"
	SysBaseMSS          = "net.ipv4.tcp_base_mss"
	SysRetries1         = "net.ipv4.tcp_retries1"
	SysMaxOrphans       = "net.ipv4.tcp_max_orphans"
	SysMem              = "net.ipv4.tcp_mem"
	SysFinTimeout       = "net.ipv4.tcp_fin_timeout"
	SysMaxTwBuckets     = "net.ipv4.tcp_max_tw_buckets"
	SysTwReuse          = "net.ipv4.tcp_tw_reuse"
	SysTwReuseDelay     = "net.ipv4.tcp_tw_reuse_delay"
	SysTimestamps       = "net.ipv4.tcp_timestamps"
	SysRFC1337          = "net.ipv4.tcp_rfc1337"
	SysTwRecycle        = "net.ipv4.tcp_tw_recycle"
	SysAbortOnOverflow  = "net.ipv4.tcp_abort_on_overflow"
	SysKeepaliveTime    = "net.ipv4.tcp_keepalive_time"
	SysKeepaliveIntvl   = "net.ipv4.tcp_keepalive_intvl"
	SysKeepaliveProbes  = "net.ipv4.tcp_keepalive_probes"
	SysLocalPortRange   = "net.ipv4.ip_local_port_range"
	SysEarlyRetrans     = "net.ipv4.tcp_early_retrans"
	SysSynRetries       = "net.ipv4.tcp_syn_retries"
	SysSomaxconn        = "net.core.somaxconn"
	SysSynAckRetries    = "net.ipv4.tcp_synack_retries"
	SysSyncookies       = "net.ipv4.tcp_syncookies"
	SysCtEstablished    = "net.netfilter.nf_conntrack_tcp_timeout_established"
	SysCtFinWait        = "net.netfilter.nf_conntrack_tcp_timeout_fin_wait"
	SysCtCloseWait      = "net.netfilter.nf_conntrack_tcp_timeout_close_wait"
	SysCtLastAck        = "net.netfilter.nf_conntrack_tcp_timeout_last_ack"
	SysCtTimeWait       = "net.netfilter.nf_conntrack_tcp_timeout_time_wait"
	SysCtLoose          = "net.netfilter.nf_conntrack_tcp_loose"
	SysCtMax            = "net.netfilter.nf_conntrack_max"
	SysCtBeLiberal      = "net.netfilter.nf_conntrack_tcp_be_liberal"
	OptLinger           = "SO_LINGER"
	OptLinger2          = "TCP_LINGER2"
	OptMTUDiscover      = "IP_MTU_DISCOVER"
	defaultPortRangeLo  = 32768
	defaultPortRangeHi  = 60999
	defaultMaxTwBuckets = 131072 // ehash_entries/2 on the lab's machine; scales with memory
	defaultMaxOrphans   = 131072 // likewise
)

// rtoMinModel is TCP_RTO_MIN, the 200 ms the kernel's retry budget is
// modelled on whatever the real RTO (retransmits_timed_out()).
const rtoMinModel = 0.2

// rtoMax is TCP_RTO_MAX (tcp_rto_max_ms default), in seconds.
const rtoMax = 120.0

// retryBudget is T(N), the time tcp_orphan_retries or tcp_retries2 = n
// lets a socket retransmit, counted from its first RTO retransmission
// (tcp_model_timeout, KERNEL.md §b).
func retryBudget(n int) float64 {
	if n < 0 {
		// The kernel takes the value as unsigned (retransmits_timed_out's
		// boundary): a negative one is a budget of billions of RTOs.
		n = int(uint32(n))
	}
	if n <= 9 {
		return float64(int(1)<<(n+1)-1) * rtoMinModel
	}
	return 1023*rtoMinModel + float64(n-9)*rtoMax
}

// orphanRetriesInEffect is the value tcp_orphan_retries() uses for an
// orphan whose RTO has not reached rto_max: 0 means 8.
func orphanRetriesInEffect(n int) int {
	if n == 0 {
		return 8
	}
	return n
}

// maxRetries bounds the values the inversion considers: retryBudget(30)
// is 45 minutes, longer than any capture a budget is read from.
const maxRetries = 30

// finTimeoutFloor is the least FIN_WAIT2 lifetime tcp_fin_time() allows
// (3.5 RTO with the 200 ms minimum RTO), in seconds.
const finTimeoutFloor = 3.5 * rtoMinModel

// finWait2Lifetime is how long an orphaned FIN_WAIT2 lives with
// tcp_fin_timeout (or TCP_LINGER2) t seconds: t up to 60 s; above it the
// socket waits t-60 s as a full socket and t-60 s more as a timewait
// socket, 2(t-60) in all (KERNEL.md (d)3). tcp_fin_time() floors it at
// 3.5 RTO.
func finWait2Lifetime(t float64) float64 {
	l := t
	if t > 60 {
		l = 2 * (t - 60)
	}
	return math.Max(l, finTimeoutFloor)
}

// Bound is what a capture says about one knob on one host: the effect
// the knob sets lies above Above and below Below (either may be absent).
// Of says which effect: "value" (the setting itself), "budget" (seconds
// an orphan may retransmit: retryBudget), "lifetime" (seconds an orphaned
// FIN_WAIT2 lives: finWait2Lifetime) or "gap" (ms a TIME_WAIT must have
// aged before reuse). Bounds from several flows of one host intersect
// (the summary does), so they are kept in the effect's own units.
type Bound struct {
	Host   string   `json:"host"`
	Sysctl string   `json:"sysctl"`
	Of     string   `json:"of"`
	Above  *float64 `json:"above,omitempty"`
	Below  *float64 `json:"below,omitempty"`
	// Assumes names what the bound takes for granted that the capture
	// does not show ("the socket gave up at the next retransmission").
	Assumes string `json:"assumes,omitempty"`
}

// Effects a Bound can bound.
const (
	OfValue    = "value"
	OfBudget   = "budget"
	OfLifetime = "lifetime"
)

func ptr(v float64) *float64 { return &v }

// retriesFitting lists the values of a retries sysctl whose budget lies
// in (above, below]; below <= 0 means no upper bound. orphan applies the
// "0 means 8" rule of tcp_orphan_retries.
func retriesFitting(above, below float64, orphan bool) []int {
	var out []int
	for n := 0; n <= maxRetries; n++ {
		eff := n
		if orphan {
			eff = orphanRetriesInEffect(n)
		}
		b := retryBudget(eff)
		if b > above && (below <= 0 || b <= below) {
			out = append(out, n)
		}
	}
	return out
}

// describeRetries renders the values retriesFitting found: "3", "3–4",
// "at least 3"; with the orphan rule a fitting 0 is named apart.
func describeRetries(ns []int, open, orphan bool) string {
	if len(ns) == 0 {
		return "no value"
	}
	zero := orphan && ns[0] == 0
	if zero {
		ns = ns[1:]
	}
	var s string
	switch {
	case len(ns) == 0:
	case open && ns[len(ns)-1] == maxRetries:
		s = fmt.Sprintf("at least %d", ns[0])
	case len(ns) == 1 || ns[0] == ns[len(ns)-1]:
		s = strconv.Itoa(ns[0])
	default:
		s = fmt.Sprintf("%d–%d", ns[0], ns[len(ns)-1])
	}
	if zero {
		if s == "" {
			return "0 (the default, which acts as 8)"
		}
		return s + ", or 0 (the default, which acts as 8)"
	}
	return s
}

// describeLifetimeBelow renders what an orphaned FIN_WAIT2 that lived
// less than g seconds says about tcp_fin_timeout: below g, or (the (d)3
// quirk) between 60 and 60+g/2.
func describeLifetimeBelow(g float64) string {
	if g <= finTimeoutFloor {
		return fmt.Sprintf("no value (%s is under the %s floor of 3.5 RTO)", FormatSeconds(g), FormatSeconds(finTimeoutFloor))
	}
	if g > 60 {
		return fmt.Sprintf("below %s s (above 60 s an orphaned FIN_WAIT2 lives 2·(t−60) s)", trimFloat(60+g/2))
	}
	return fmt.Sprintf("below %s — or between 60 and %s s, because above 60 s an orphaned FIN_WAIT2 lives 2·(t−60) s", FormatSeconds(g), trimFloat(60+g/2))
}

// trimFloat renders v with at most two decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
