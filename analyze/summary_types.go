package analyze

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
)

// The capture-wide summary's mergeable parts. Everything here adds up
// across shards exactly: counts, histograms with fixed buckets, and
// per-host counts as changes on whole seconds, whose peaks are read only
// after merging (Summary.Merge).

// Series is a count over capture time, kept as changes on whole seconds:
// [unix second, change] pairs in order of the second. The count at second
// s is the sum of the changes at or before s: the number of sockets that
// held a state at that instant. Series of shards add up exactly.
type Series [][2]int64

// seriesAcc accumulates a Series.
type seriesAcc map[int64]int64

// ceilSec is the first whole second at or after ns.
func ceilSec(ns int64) int64 {
	s := ns / 1e9
	if ns%1e9 > 0 {
		s++
	}
	return s
}

// interval counts a state held from a to b (nanoseconds, b excluded) at
// every whole second it covers.
func (m seriesAcc) interval(a, b int64) {
	sa, sb := ceilSec(a), ceilSec(b)
	if sa >= sb {
		return
	}
	m[sa]++
	m[sb]--
}

// series returns the changes in order, without zero changes.
func (m seriesAcc) series() Series {
	if len(m) == 0 {
		return nil
	}
	out := make(Series, 0, len(m))
	for s, d := range m {
		if d != 0 {
			out = append(out, [2]int64{s, d})
		}
	}
	slices.SortFunc(out, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	return out
}

// mergeSeries adds two series.
func mergeSeries(a, b Series) Series {
	if len(b) == 0 {
		return a
	}
	acc := seriesAcc{}
	for _, s := range [...]Series{a, b} {
		for _, p := range s {
			acc[p[0]] += p[1]
		}
	}
	return acc.series()
}

// peak returns the highest count of s and the first second it was
// reached.
func (s Series) peak() (count, at int64) {
	var n int64
	for _, p := range s {
		n += p[1]
		if n > count {
			count, at = n, p[0]
		}
	}
	return count, at
}

// Histogram is a mergeable distribution: the exact count, minimum and
// maximum, and counts in fixed buckets from which the median and 99th
// percentile are read. Unit "s" has logarithmic buckets, eight per
// doubling from 1 µs (bucket 0 holds values under 1 µs), so a quantile is
// within 5% of the true value; unit "count" has one bucket per integer,
// so its quantiles are exact.
type Histogram struct {
	Unit   string  `json:"unit"`
	Count  int64   `json:"count"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
	// Buckets are [bucket, count] pairs in bucket order.
	Buckets [][2]int64 `json:"buckets"`
}

// Histogram units.
const (
	UnitSeconds = "s"
	UnitCount   = "count"
)

// perDoubling is the number of log buckets per doubling.
const perDoubling = 8

func newHistogram(unit string) *Histogram { return &Histogram{Unit: unit, Buckets: [][2]int64{}} }

// bucket returns v's bucket.
func (h *Histogram) bucket(v float64) int64 {
	if h.Unit == UnitCount {
		return int64(math.Max(0, math.Round(v)))
	}
	if v < 1e-6 {
		return 0
	}
	return 1 + logBucket(v/1e-6)
}

// logBucket returns math.Floor(perDoubling*math.Log2(x)) for x >= 1,
// the same value, without the logarithm unless x is within a billionth
// of a bucket's bound (where the rounding of the formula decides).
func logBucket(x float64) int64 {
	frac, exp := math.Frexp(x) // x = frac * 2^exp, 0.5 <= frac < 1
	if exp < 1 || exp > 1000 {
		return int64(math.Floor(perDoubling * math.Log2(x)))
	}
	// frac lies in [bounds[k], bounds[k+1]): perDoubling*log2(frac) is
	// in [k-perDoubling, k+1-perDoubling).
	k := 0
	for k < perDoubling-1 && frac >= logBounds[k+1] {
		k++
	}
	if frac-logBounds[k] < 1e-9 || logBounds[k+1]-frac < 1e-9 {
		return int64(math.Floor(perDoubling * math.Log2(x)))
	}
	return int64(perDoubling*exp + k - perDoubling)
}

// logBounds are 2^(k/perDoubling - 1) for k = 0..perDoubling: the
// bounds of the buckets within one doubling, scaled to [0.5, 1].
var logBounds = func() (b [perDoubling + 1]float64) {
	for k := range b {
		b[k] = math.Exp2(float64(k)/perDoubling - 1)
	}
	return b
}()

// value is the value a quantile falling in bucket b reads: the integer,
// or the geometric middle of the bucket, kept within [Min, Max].
func (h *Histogram) value(b int64) float64 {
	var v float64
	switch {
	case h.Unit == UnitCount:
		v = float64(b)
	case b > 0:
		v = 1e-6 * math.Exp2((float64(b)-0.5)/perDoubling)
	}
	return math.Min(math.Max(v, h.Min), h.Max)
}

// add files one value.
func (h *Histogram) add(v float64) {
	h.addBucket(h.bucket(v), 1)
	if h.Count == 0 || v < h.Min {
		h.Min = v
	}
	if h.Count == 0 || v > h.Max {
		h.Max = v
	}
	h.Count++
}

func (h *Histogram) addBucket(b, n int64) {
	bs := h.Buckets
	// Buckets without gaps from the first one are at b minus the first.
	if len(bs) > 0 {
		if i := b - bs[0][0]; i >= 0 && i < int64(len(bs)) && bs[i][0] == b {
			bs[i][1] += n
			return
		}
	}
	// The first bucket at or past b (sort.Search, without its closure).
	i, j := 0, len(bs)
	for i < j {
		m := int(uint(i+j) >> 1)
		if bs[m][0] < b {
			i = m + 1
		} else {
			j = m
		}
	}
	if i < len(bs) && bs[i][0] == b {
		bs[i][1] += n
		return
	}
	h.Buckets = slices.Insert(bs, i, [2]int64{b, n})
}

// quantile reads the q-quantile (nearest rank).
func (h *Histogram) quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(h.Count))), 1)
	var n int64
	for _, b := range h.Buckets {
		n += b[1]
		if n >= rank {
			return h.value(b[0])
		}
	}
	return h.Max
}

// derive reads the quantiles from the buckets.
func (h *Histogram) derive() {
	if h != nil {
		h.Median, h.P99 = h.quantile(0.5), h.quantile(0.99)
	}
}

// merge adds o to h (same unit).
func (h *Histogram) merge(o *Histogram) {
	if o == nil || o.Count == 0 {
		return
	}
	for _, b := range o.Buckets {
		h.addBucket(b[0], b[1])
	}
	if h.Count == 0 || o.Min < h.Min {
		h.Min = o.Min
	}
	if h.Count == 0 || o.Max > h.Max {
		h.Max = o.Max
	}
	h.Count += o.Count
}

// Peak is the most sockets a host held at once in a state (at a whole
// second of capture time), and the limit the kernel holds that count
// against, when there is one.
type Peak struct {
	Count int64 `json:"count"`
	// At is the first whole second the count was reached.
	At Time `json:"at,omitempty"`
	// Limit is the kernel's limit for the count (tcp_max_tw_buckets,
	// tcp_max_orphans, the ephemeral ports of ip_local_port_range) and
	// LimitFrom says where it comes from: "default" or the settings'
	// source; "" when there is no limit. A limit of 0 is one (see
	// MarshalJSON).
	Limit     int64  `json:"limit,omitempty"`
	LimitFrom string `json:"limit_from,omitempty"`
}

// MarshalJSON writes the limit whenever it is known, 0 included: a
// tcp_max_tw_buckets of 0 keeps no TIME_WAIT at all, a tcp_max_orphans
// of 0 no orphan.
func (p Peak) MarshalJSON() ([]byte, error) {
	v := struct {
		Count     int64  `json:"count"`
		At        Time   `json:"at,omitempty"`
		Limit     *int64 `json:"limit,omitempty"`
		LimitFrom string `json:"limit_from,omitempty"`
	}{Count: p.Count, At: p.At, LimitFrom: p.LimitFrom}
	if p.Limit != 0 || p.LimitFrom != "" {
		v.Limit = &p.Limit
	}
	return json.Marshal(v)
}

func (p *Peak) read(s Series) {
	n, at := s.peak()
	p.Count, p.At = n, 0
	if n > 0 {
		p.At = Time(at * 1e9)
	}
}

// HostLoad is one host's (IP address's) sockets over the capture.
type HostLoad struct {
	Host string `json:"host"`
	// TimeWait, CloseWait and Orphans are the peaks of Series: sockets
	// in TIME_WAIT (60 s after the segment that started it, even past
	// the end of the capture), in CLOSE_WAIT, and in FIN_WAIT1,
	// FIN_WAIT2, CLOSING or LAST_ACK (orphans, unless the side is known
	// to have only shut down).
	TimeWait  Peak `json:"time_wait"`
	CloseWait Peak `json:"close_wait"`
	Orphans   Peak `json:"orphans"`
	// OrphanResets is the most orphans reset within one second
	// (orphan-reset diagnoses; its At is the whole second that ends the
	// second counted); CloseResets the most connections reset
	// from a live socket at close() within one second (orphan-reset and
	// rst-linger-zero: the wire cannot tell SO_LINGER {1, 0} from an
	// orphan reset whose FIN never left the send queue).
	OrphanResets Peak `json:"orphan_resets"`
	CloseResets  Peak `json:"close_resets"`
	// Bounds are the tightest bounds the host's flows give on
	// tcp_fin_timeout and tcp_orphan_retries (or tcp_retries2).
	Bounds []HostBound `json:"bounds,omitempty"`
	// PathIdle says, per conntrack state, what the flows to this host
	// (as server) tell of the idle timeout of a stateful device on the
	// path: the shortest silence after which it reset one (rst-middlebox)
	// or one went unanswered (no-answer-after-idle), and the longest one
	// a flow went through and lived on.
	PathIdle []PathIdle `json:"path_idle,omitempty"`
	// TTL is what the host's segments as a server (RSTs aside) arrived
	// with; Refused the RSTs in its name that refused SYNs to it
	// (connection-refused). When those came with another TTL than all of
	// its own segments, a device on the path made them.
	TTL     *HostTTL `json:"ttl,omitempty"`
	Refused *Refused `json:"refused,omitempty"`
	// LastSent is the time of the host's latest segment in the capture,
	// in any connection: a host that sent after a connection's segments
	// to it went unanswered was up then.
	LastSent Time       `json:"last_sent,omitempty"`
	Series   HostSeries `json:"series"`
}

// HostTTL is the TTL (IPv6 hop limit) a host's segments arrived with in
// Flows connections, each one whose segments all came with one TTL:
// Value when it was the same in all of them (Varied false).
type HostTTL struct {
	Value  uint8 `json:"value,omitempty"`
	Varied bool  `json:"varied"`
	Flows  int   `json:"flows"`
}

// Refused counts connections whose SYN a RST in the host's name refused,
// the first at First, with the TTL (hop limit) those RSTs arrived with
// when they all had one.
type Refused struct {
	Count int     `json:"count"`
	TTL   HostTTL `json:"ttl"`
	First Time    `json:"first"`
}

// add counts one connection whose segments arrived with ttl.
func (t *HostTTL) add(ttl uint8) {
	if t.Flows > 0 && ttl != t.Value {
		t.Varied = true
	}
	if !t.Varied {
		t.Value = ttl
	} else {
		t.Value = 0
	}
	t.Flows++
}

// merge folds o into t.
func (t *HostTTL) merge(o HostTTL) {
	switch {
	case o.Flows == 0:
	case t.Flows == 0:
		*t = o
	default:
		t.Varied = t.Varied || o.Varied || t.Value != o.Value
		if t.Varied {
			t.Value = 0
		}
		t.Flows += o.Flows
	}
}

// merge folds o into r.
func (r *Refused) merge(o Refused) {
	if r.Count == 0 || o.First < r.First {
		r.First = o.First
	}
	r.Count += o.Count
	r.TTL.merge(o.TTL)
}

// PathIdle is one conntrack state's entry of HostLoad.PathIdle: the
// device's idle timeout for connections in that state is below
// ResetAfter (when Resets > 0) and DropAfter (when Drops > 0) and, if it
// is a timeout of idle time alone, at least Survived. Times of silence in
// seconds; ResetAt and DropAt are when the shortest-silence reset and
// unanswered segment came, SurvivedStart when the connection that lived
// through the longest silence began (times, not flow IDs, which differ
// between shards of a capture).
type PathIdle struct {
	State         string  `json:"state"`
	Sysctl        string  `json:"sysctl"`
	Resets        int     `json:"resets"`
	ResetAfter    float64 `json:"reset_after,omitempty"`
	ResetAt       Time    `json:"reset_at,omitempty"`
	Drops         int     `json:"drops"`
	DropAfter     float64 `json:"drop_after,omitempty"`
	DropAt        Time    `json:"drop_at,omitempty"`
	Survived      float64 `json:"survived,omitempty"`
	SurvivedStart Time    `json:"survived_start,omitempty"`
	// FirstDrop is when the segments of the first connection that went
	// unanswered began.
	FirstDrop Time `json:"first_drop,omitempty"`
}

// merge folds o, of the same state, into p: the shortest reset and drop
// silences and the longest survived one, the earlier between equals.
func (p *PathIdle) merge(o PathIdle) {
	if o.Resets > 0 && (p.Resets == 0 || o.ResetAfter < p.ResetAfter || o.ResetAfter == p.ResetAfter && o.ResetAt < p.ResetAt) {
		p.ResetAfter, p.ResetAt = o.ResetAfter, o.ResetAt
	}
	p.Resets += o.Resets
	if o.Drops > 0 && (p.Drops == 0 || o.DropAfter < p.DropAfter || o.DropAfter == p.DropAfter && o.DropAt < p.DropAt) {
		p.DropAfter, p.DropAt = o.DropAfter, o.DropAt
	}
	p.Drops += o.Drops
	if o.FirstDrop != 0 && (p.FirstDrop == 0 || o.FirstDrop < p.FirstDrop) {
		p.FirstDrop = o.FirstDrop
	}
	if o.SurvivedStart != 0 && (p.SurvivedStart == 0 || o.Survived > p.Survived || o.Survived == p.Survived && o.SurvivedStart < p.SurvivedStart) {
		p.Survived, p.SurvivedStart = o.Survived, o.SurvivedStart
	}
}

// HostSeries are a host's counts over time.
type HostSeries struct {
	TimeWait     Series `json:"time_wait,omitempty"`
	CloseWait    Series `json:"close_wait,omitempty"`
	Orphans      Series `json:"orphans,omitempty"`
	OrphanResets Series `json:"orphan_resets,omitempty"`
	CloseResets  Series `json:"close_resets,omitempty"`
}

// HostBound is the intersection of one host's bounds on a knob: Bound's
// Above is the highest lower bound, Below the lowest upper bound. Values
// says which settings fit, in words; Flows counts the flows that gave a
// bound.
type HostBound struct {
	Bound
	Flows  int    `json:"flows"`
	Values string `json:"values"`
}

// PortLoad is one client address's ephemeral ports towards one server
// address: how many it held in TIME_WAIT at once, each a distinct
// source port that connect() to that server cannot use (unless
// tcp_tw_reuse lets it), against the ports of ip_local_port_range.
type PortLoad struct {
	Client   string `json:"client"`
	Server   string `json:"server"`
	TimeWait Peak   `json:"time_wait"`
	Series   Series `json:"series"`
}

// CloseWaitLoad is the CLOSE_WAIT one application held: the flows in
// which side Holder, talking to (or serving as) Server, received its
// peer's FIN and did not close() (close-wait-long). With Holder "server"
// the service at Server left them; with "client", the clients of Server
// on Hosts (a pool that keeps connections the server has closed, say):
// the lowest maxCloseWaitHosts of their addresses in order, MoreHosts set
// when there were more. OpenAtEnd of the flows were still in CLOSE_WAIT
// when the capture ended; Longest is the longest time one spent in it (up
// to the end of the capture for those).
type CloseWaitLoad struct {
	Holder    Role     `json:"holder"`
	Server    string   `json:"server"`
	Hosts     []string `json:"hosts,omitempty"`
	MoreHosts bool     `json:"more_hosts,omitempty"`
	Flows     int      `json:"flows"`
	OpenAtEnd int      `json:"open_at_end"`
	Longest   float64  `json:"longest"`
}

// maxCloseWaitHosts is how many holders' addresses a CloseWaitLoad
// names.
const maxCloseWaitHosts = 8

// addHosts adds hosts to c's, keeping the lowest maxCloseWaitHosts.
func (c *CloseWaitLoad) addHosts(hosts []string, more bool) {
	for _, h := range hosts {
		i, found := slices.BinarySearchFunc(c.Hosts, h, compareAddr)
		if !found {
			c.Hosts = slices.Insert(c.Hosts, i, h)
		}
	}
	if len(c.Hosts) > maxCloseWaitHosts {
		c.Hosts, more = c.Hosts[:maxCloseWaitHosts:maxCloseWaitHosts], true
	}
	c.MoreHosts = c.MoreHosts || more
}

// merge adds o, the same application's CLOSE_WAIT in another shard.
func (c *CloseWaitLoad) merge(o CloseWaitLoad) {
	c.Flows += o.Flows
	c.OpenAtEnd += o.OpenAtEnd
	c.Longest = max(c.Longest, o.Longest)
	c.addHosts(o.Hosts, o.MoreHosts)
}

// Finding is a capture-wide conclusion the summary draws from several
// flows or from a host's counts against its limits. At is the whole
// second of the peak it reports: the instant of a count of sockets held,
// or the start of the second a burst of resets fell in.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Host     string   `json:"host"`
	Sysctl   string   `json:"sysctl,omitempty"`
	Message  string   `json:"message"`
	At       Time     `json:"at,omitempty"`
	Advice   string   `json:"advice,omitempty"`
	// Confirm lists commands that confirm this finding, where its code's
	// reference entry (RuleInfo.Confirm) would offer others.
	Confirm []string `json:"confirm,omitempty"`
	// Confidence and Doubts grade the finding as a diagnosis's do: a
	// count of the capture's is certain; an attribution the wire cannot
	// tell from another is not, unless the flows behind it decide it.
	Confidence Confidence `json:"confidence"`
	Doubts     []string   `json:"doubts,omitempty"`
}

// graded returns f with the doubts that are not "" and the confidence
// they leave.
func (f Finding) graded(doubts ...string) Finding {
	for _, d := range doubts {
		if d != "" {
			f.Doubts = append(f.Doubts, d)
		}
	}
	f.Confidence = gradeOf(f.Doubts)
	return f
}

// DuplicateGaps are how far capture duplicates of TCP segments came after
// their first copies, in seconds: microseconds for tcpdump -i any on a
// host that forwards them, a one-way delay for captures taken at both
// ends. Apart counts the copies a millisecond or more after theirs.
type DuplicateGaps struct {
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Apart int     `json:"apart"`
}

// merge adds o's gaps to g's.
func (g *DuplicateGaps) merge(o *DuplicateGaps) *DuplicateGaps {
	switch {
	case o == nil:
		return g
	case g == nil:
		c := *o
		return &c
	}
	return &DuplicateGaps{Min: min(g.Min, o.Min), Max: max(g.Max, o.Max), Apart: g.Apart + o.Apart}
}

// IdleCloseLoad is a service one side of whose connections closed them
// after a silence (an idle or keep-alive timeout) and then met the
// peer's write (rst-data-after-close): the closer, the server's address
// and port, how many flows, how many of the writes came on a connection
// whose FIN the peer had acknowledged (Stale) or crossed the FIN in
// flight (Raced), and the shortest and longest silence before the close,
// in seconds.
type IdleCloseLoad struct {
	Closer  Role    `json:"closer"`
	Server  string  `json:"server"`
	Flows   int     `json:"flows"`
	Stale   int     `json:"stale"`
	Raced   int     `json:"raced"`
	IdleMin float64 `json:"idle_min"`
	IdleMax float64 `json:"idle_max"`
}

// add adds o, more flows of l's service.
func (l *IdleCloseLoad) add(o IdleCloseLoad) {
	widen(&l.IdleMin, &l.IdleMax, l.Flows, o.IdleMin, o.IdleMax, o.Flows)
	l.Flows += o.Flows
	l.Stale += o.Stale
	l.Raced += o.Raced
}

// ConnectDelayLoad is a server some of whose connections were answered
// only at a retransmitted SYN (syn-retransmitted): its address and port,
// how many, and the shortest and longest time from the client's first
// SYN to the server's SYN-ACK, in seconds. QueueFull counts the server's
// connections whose listener showed its accept queue full
// (accept-queue-full, listen-overflow), the likeliest reason it dropped
// SYNs; a server with only those has Flows 0.
type ConnectDelayLoad struct {
	Server    string  `json:"server"`
	Flows     int     `json:"flows"`
	DelayMin  float64 `json:"delay_min"`
	DelayMax  float64 `json:"delay_max"`
	QueueFull int     `json:"queue_full,omitempty"`
}

// add adds o, more flows of l's server.
func (l *ConnectDelayLoad) add(o ConnectDelayLoad) {
	widen(&l.DelayMin, &l.DelayMax, l.Flows, o.DelayMin, o.DelayMax, o.Flows)
	l.Flows += o.Flows
	l.QueueFull += o.QueueFull
}

// LostSocketLoad is a host whose kernel reset connections it had held
// and never closed, for want of their sockets (rst-no-socket): its
// address, its side in them, how many, when the first and the latest of
// those RSTs came, and how many of them after its own retransmissions
// went unanswered (GaveUp: tcp_retries2 closed the socket), after the
// peer's did (Unreachable: the host was down or cut off), after a
// silence (AfterSilence), or, as a client, when the server's SYN-ACK came
// after its connect() had given up (ConnectGaveUp), or, as a server,
// when the client's segment came after the listener's request for the
// connection had expired (RequestExpired); the rest left no trace on
// the wire.
type LostSocketLoad struct {
	Host          string `json:"host"`
	Side          Role   `json:"side"`
	Flows         int    `json:"flows"`
	First         Time   `json:"first"`
	Last          Time   `json:"last"`
	GaveUp        int    `json:"gave_up,omitempty"`
	Unreachable   int    `json:"unreachable,omitempty"`
	AfterSilence  int    `json:"after_silence,omitempty"`
	ConnectGaveUp int    `json:"connect_gave_up,omitempty"`
	// RequestExpired: the listener's request expired before the
	// client's segment came.
	RequestExpired int `json:"request_expired,omitempty"`
}

// add adds o, more flows of l's host and side.
func (l *LostSocketLoad) add(o LostSocketLoad) {
	widenSpan(&l.First, &l.Last, l.Flows, o.First, o.Last)
	l.Flows += o.Flows
	l.GaveUp += o.GaveUp
	l.Unreachable += o.Unreachable
	l.AfterSilence += o.AfterSilence
	l.ConnectGaveUp += o.ConnectGaveUp
	l.RequestExpired += o.RequestExpired
}

// ProbeLoad is a client address that sent half-open probes (syn-probe):
// how many connections, how many of them to a port nothing listened on
// (Refused), when the first and the latest of their resets came, and
// what they probed: Targets, the server addresses and ports, in order,
// the first maxProbeTargets of them (MoreTargets: there were more), so
// that one port probed again and again (a health check) stands apart from
// many (a scan), exactly whichever way summaries are merged.
type ProbeLoad struct {
	Host        string           `json:"host"`
	Flows       int              `json:"flows"`
	Refused     int              `json:"refused,omitempty"`
	First       Time             `json:"first"`
	Last        Time             `json:"last"`
	Targets     []netip.AddrPort `json:"targets"`
	MoreTargets bool             `json:"more_targets,omitempty"`
}

// maxProbeTargets bounds ProbeLoad.Targets.
const maxProbeTargets = 16

// add adds o, more probes of l's host.
func (l *ProbeLoad) add(o ProbeLoad) {
	widenSpan(&l.First, &l.Last, l.Flows, o.First, o.Last)
	l.Flows += o.Flows
	l.Refused += o.Refused
	t := slices.Concat(l.Targets, o.Targets)
	slices.SortFunc(t, netip.AddrPort.Compare)
	t = slices.Compact(t)
	l.MoreTargets = l.MoreTargets || o.MoreTargets || len(t) > maxProbeTargets
	l.Targets = slices.Clip(t[:min(len(t), maxProbeTargets)])
}

// targets describes what l probed, and what that suggests: one address
// and port, one port of several servers, several ports of one, or more.
func (l *ProbeLoad) targets() (what, like string) {
	const scan = "a SYN scan (nmap -sS, masscan, zmap)"
	if l.MoreTargets {
		return fmt.Sprintf("more than %d addresses and ports", maxProbeTargets), scan
	}
	addrs, ports := map[netip.Addr]bool{}, map[uint16]bool{}
	for _, t := range l.Targets {
		addrs[t.Addr()], ports[t.Port()] = true, true
	}
	switch {
	case len(l.Targets) == 0:
		return "", scan + " or a load balancer's half-open health checks"
	case len(l.Targets) == 1:
		return l.Targets[0].String(), "a load balancer's half-open health checks (one port, again and again), or a scan of that port"
	case len(ports) == 1:
		return fmt.Sprintf("port %d of %d servers", l.Targets[0].Port(), len(addrs)), "a sweep of one port (zmap, masscan), or a load balancer's half-open health checks of a pool"
	case len(addrs) == 1:
		return fmt.Sprintf("%d ports of %s", len(ports), l.Targets[0].Addr()), scan
	}
	return fmt.Sprintf("%d ports of %d servers", len(ports), len(addrs)), scan
}

// widenSpan widens the span [*first, *last] of n events to take in
// [oFirst, oLast]; a span of no events is replaced.
func widenSpan(first, last *Time, n int, oFirst, oLast Time) {
	if n == 0 || oFirst < *first {
		*first = oFirst
	}
	*last = max(*last, oLast)
}

// maxProbes bounds the hosts Summary.Probes counts.
const maxProbes = 256

// mergeProbes adds the hosts o to s, within maxProbes.
func mergeProbes(s, o []ProbeLoad) []ProbeLoad {
	return mergeKeyed(s, o, maxProbes, func(a, b *ProbeLoad) bool { return a.Host == b.Host })
}

// maxLostSockets bounds the hosts Summary.LostSockets counts.
const maxLostSockets = 256

// mergeLostSockets adds the hosts o to s, within maxLostSockets.
func mergeLostSockets(s, o []LostSocketLoad) []LostSocketLoad {
	return mergeKeyed(s, o, maxLostSockets, func(a, b *LostSocketLoad) bool { return a.Host == b.Host && a.Side == b.Side })
}

// widen widens the range [*lo, *hi] of n values to take in the range
// [olo, ohi] of on more; a range of no values takes nothing, and is
// replaced by the other.
func widen(lo, hi *float64, n int, olo, ohi float64, on int) {
	switch {
	case on == 0:
	case n == 0:
		*lo, *hi = olo, ohi
	default:
		*lo, *hi = min(*lo, olo), max(*hi, ohi)
	}
}

// maxConnectDelays bounds the servers Summary.ConnectDelays counts.
const maxConnectDelays = 256

// mergeConnectDelays adds the servers o to s, within maxConnectDelays.
func mergeConnectDelays(s, o []ConnectDelayLoad) []ConnectDelayLoad {
	return mergeKeyed(s, o, maxConnectDelays, func(a, b *ConnectDelayLoad) bool { return a.Server == b.Server })
}

// maxIdleCloses bounds the services Summary.IdleCloses counts.
const maxIdleCloses = 256

// mergeIdleCloses adds the services o to s, within maxIdleCloses.
func mergeIdleCloses(s, o []IdleCloseLoad) []IdleCloseLoad {
	return mergeKeyed(s, o, maxIdleCloses, func(a, b *IdleCloseLoad) bool { return a.Closer == b.Closer && a.Server == b.Server })
}

// mergeKeyed adds each entry of o to the entry of s that is the same one
// (same), or appends it while s has fewer than n entries.
func mergeKeyed[T any, P interface {
	*T
	add(T)
}](s, o []T, n int, same func(a, b *T) bool) []T {
	for _, l := range o {
		i := slices.IndexFunc(s, func(x T) bool { return same(&x, &l) })
		switch {
		case i >= 0:
			P(&s[i]).add(l)
		case len(s) < n:
			s = append(s, l)
		}
	}
	return s
}
