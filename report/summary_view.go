package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// What the text, Markdown and HTML summaries read from analyze.Summary and
// the rule reference: per-host peaks beside their limits, ephemeral-port
// load, the distributions, the findings, and the words for a diagnosis's
// bounds and setting checks. All of it selects, orders and formats what
// analyze concluded.

// rules indexes the rule reference (analyze.Rules) by code.
var rules = func() map[string]analyze.RuleInfo {
	m := map[string]analyze.RuleInfo{}
	for _, r := range analyze.Rules() {
		m[r.Code] = r
	}
	return m
}()

// ruleTitle is a code's title in the rule reference, "" for an unknown
// code.
func ruleTitle(code string) string { return rules[code].Title }

// confirmCommands are the commands that confirm a knob row's diagnoses
// and findings, each once, in the order of the codes: the rule
// reference's for a diagnosis, and a finding's own when it has them.
// They are Linux's: none when every host the row names is not Linux.
func confirmCommands(k knobDigest) []string {
	if len(k.Hosts) == 0 && len(k.Others) > 0 && len(k.Findings) == 0 {
		return nil
	}
	var out []string
	add := func(cmds []string) {
		for _, cmd := range cmds {
			if !slices.Contains(out, cmd) {
				out = append(out, cmd)
			}
		}
	}
	for _, c := range k.Codes {
		add(rules[c.Code].Confirm)
	}
	for _, f := range k.Findings {
		if len(f.Confirm) > 0 {
			add(f.Confirm)
		} else {
			add(rules[f.Code].Confirm)
		}
	}
	return out
}

// shortKnob drops the "net.ipv4." of a sysctl for running text.
func shortKnob(s string) string { return strings.TrimPrefix(s, "net.ipv4.") }

// findings are the summary's findings, most severe first, keeping the
// summary's order among equals.
func findings(s *analyze.Summary) []analyze.Finding {
	if s == nil {
		return nil
	}
	out := slices.Clone(s.Findings)
	slices.SortStableFunc(out, func(a, b analyze.Finding) int {
		return cmp.Compare(b.Severity.Rank(), a.Severity.Rank())
	})
	return out
}

// clockSecond renders a whole-second capture time (a peak's): 13:51:59.
func clockSecond(t analyze.Time) string { return t.Std().Format("15:04:05") }

// clockWindow renders the second up to a rate peak's whole second t (a
// count per second is of the events in the second before t):
// 13:51:58–13:51:59.
func clockWindow(t analyze.Time) string {
	return clockSecond(t-analyze.Time(1e9)) + "–" + clockSecond(t)
}

// highest is the highest count of a host's peaks (sockets held at once,
// resets at close() in one second).
func highest(h analyze.HostLoad) int64 {
	return max(h.TimeWait.Count, h.CloseWait.Count, h.Orphans.Count, h.CloseResets.Count)
}

// busyHosts are the hosts of the summary that held any socket in a close
// state (or reset any at close()), highest peak first, then in the
// summary's order; at most n, and how many more there are.
func busyHosts(s *analyze.Summary, n int) ([]analyze.HostLoad, int) {
	if s == nil {
		return nil, 0
	}
	var out []analyze.HostLoad
	for _, h := range s.Hosts {
		if highest(h) > 0 {
			out = append(out, h)
		}
	}
	slices.SortStableFunc(out, func(a, b analyze.HostLoad) int { return cmp.Compare(highest(b), highest(a)) })
	if len(out) > n {
		return out[:n], len(out) - n
	}
	return out, 0
}

// peakItems are a host's peaks in words: "TIME_WAIT 5 at 12:00:07",
// "orphans 2 at 12:00:03", "resets at close() 60/s in
// 13:51:58–13:51:59". A peak of zero is left out.
func peakItems(h analyze.HostLoad, s *analyze.Summary) []string {
	var out []string
	for _, p := range []struct {
		name string
		p    analyze.Peak
	}{{"TIME_WAIT", h.TimeWait}, {"CLOSE_WAIT", h.CloseWait}, {"orphans", h.Orphans}} {
		if p.p.Count > 0 {
			out = append(out, fmt.Sprintf("%s %s at %s", p.name, thousands(p.p.Count), clockSecond(p.p.At)))
		}
	}
	if r := h.CloseResets; r.Count > 0 {
		out = append(out, fmt.Sprintf("resets at close() %s/s in %s", thousands(r.Count), clockWindow(r.At)))
	}
	if r := h.OrphanResets; r.Count > 0 {
		out = append(out, fmt.Sprintf("orphan resets %s/s in %s", thousands(r.Count), clockWindow(r.At)))
	}
	if notLinuxHost(s, h.Host) {
		out = append(out, notLinuxPeaks)
	}
	return out
}

// notLinuxPeaks qualifies the peaks of a host that is not Linux.
const notLinuxPeaks = "not Linux (its TIME_WAIT counted as Linux's 60 s)"

// notLinuxHost reports whether the summary found host not Linux
// (Summary.NotLinux).
func notLinuxHost(s *analyze.Summary, host string) bool {
	return s != nil && slices.ContainsFunc(s.NotLinux, func(n analyze.HostStack) bool { return n.Host == host })
}

// limitSource says where a limit comes from: "default", or "from FILE".
func limitSource(from string) string {
	if from == "" || from == "default" {
		return "default"
	}
	return "from " + from
}

// limitsText names the limits the hosts' TIME_WAIT and orphan counts are
// held against, each knob once when the hosts share its value:
// "tcp_max_tw_buckets 131,072 · tcp_max_orphans 131,072 (default)",
// "tcp_max_tw_buckets 32,768 on 198.51.100.1 (from client.conf), 131,072
// on 198.51.100.2 (default) · …".
func limitsText(hosts []analyze.HostLoad) string {
	type group struct {
		limit int64
		from  string
		hosts []string
	}
	var knobs [][]group
	for _, k := range []func(analyze.HostLoad) analyze.Peak{
		func(h analyze.HostLoad) analyze.Peak { return h.TimeWait },
		func(h analyze.HostLoad) analyze.Peak { return h.Orphans },
	} {
		var gs []group
		for _, h := range hosts {
			p := k(h)
			if p.LimitFrom == "" {
				continue
			}
			i := slices.IndexFunc(gs, func(g group) bool { return g.limit == p.Limit && g.from == p.LimitFrom })
			if i < 0 {
				gs = append(gs, group{limit: p.Limit, from: p.LimitFrom})
				i = len(gs) - 1
			}
			gs[i].hosts = append(gs[i].hosts, h.Host)
		}
		knobs = append(knobs, gs)
	}
	names := []string{"tcp_max_tw_buckets", "tcp_max_orphans"}
	// One source for everything is said once, at the end.
	var from []string
	for _, gs := range knobs {
		for _, g := range gs {
			if !slices.Contains(from, g.from) {
				from = append(from, g.from)
			}
		}
	}
	var items []string
	for k, gs := range knobs {
		var parts []string
		for _, g := range gs {
			t := thousands(g.limit)
			if len(gs) > 1 {
				t += " on " + strings.Join(g.hosts, ", ")
			}
			if len(from) > 1 {
				t += " (" + limitSource(g.from) + ")"
			}
			parts = append(parts, t)
		}
		if len(parts) > 0 {
			items = append(items, names[k]+" "+strings.Join(parts, ", "))
		}
	}
	if len(items) == 0 {
		return ""
	}
	s := strings.Join(items, " · ")
	if len(from) == 1 {
		s += " (" + limitSource(from[0]) + ")"
	}
	return s
}

// share is a peak as a share of its limit: "0.2%", "<0.1%".
func share(p analyze.Peak) string {
	if p.Limit <= 0 {
		return ""
	}
	v := 100 * float64(p.Count) / float64(p.Limit)
	switch {
	case v == 0:
		return "0%"
	case v < 0.1:
		return "<0.1%"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "%"
}

// portShare is a port load's share of its ephemeral range, 0 without a
// range.
func portShare(p analyze.PortLoad) float64 {
	if p.TimeWait.Limit <= 0 {
		return 0
	}
	return float64(p.TimeWait.Count) / float64(p.TimeWait.Limit)
}

// portLoads are the client → server address pairs whose TIME_WAIT ports
// reached at least minShare of the client's ephemeral range (any pair
// that held one, with minShare 0), largest share first; at most n, and
// how many more there are.
func portLoads(s *analyze.Summary, minShare float64, n int) ([]analyze.PortLoad, int) {
	if s == nil {
		return nil, 0
	}
	var out []analyze.PortLoad
	for _, p := range s.Ports {
		if p.TimeWait.Count > 0 && portShare(p) >= minShare {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b analyze.PortLoad) int {
		return cmp.Or(cmp.Compare(portShare(b), portShare(a)), cmp.Compare(b.TimeWait.Count, a.TimeWait.Count))
	})
	if len(out) > n {
		return out[:n], len(out) - n
	}
	return out, 0
}

// portText is a port load in words: "32 of 28,232 ephemeral ports (0.1%,
// default) at 13:51:59".
func portText(p analyze.PortLoad) string {
	t := p.TimeWait
	s := thousands(t.Count)
	if t.Limit > 0 {
		s += fmt.Sprintf(" of %s ephemeral ports (%s, %s)", thousands(t.Limit), share(t), limitSource(t.LimitFrom))
	}
	return s + " at " + clockSecond(t.At)
}

// closeWaits are the applications that held CLOSE_WAIT (close-wait-long),
// most flows first as the summary orders them; at most n, and how many
// more there are. A single such flow is left to its own diagnosis.
func closeWaits(s *analyze.Summary, n int) ([]analyze.CloseWaitLoad, int) {
	if s == nil || len(s.CloseWaits) == 0 || (len(s.CloseWaits) == 1 && s.CloseWaits[0].Flows == 1) {
		return nil, 0
	}
	if len(s.CloseWaits) > n {
		return s.CloseWaits[:n], len(s.CloseWaits) - n
	}
	return s.CloseWaits, 0
}

// closeWaitWho names the application that held CLOSE_WAIT, with at most
// n of the clients' addresses: "the service 198.51.100.80:8080", "the
// clients of 198.51.100.80:8080 on 198.51.100.10", "… on 198.51.100.10,
// 198.51.100.11 and more".
func closeWaitWho(c analyze.CloseWaitLoad, n int) string {
	if c.Holder == analyze.Server {
		return "the service " + c.Server
	}
	s := "the clients of " + c.Server
	if len(c.Hosts) == 0 {
		return s
	}
	return s + " on " + hostList(c, n)
}

// hostList lists at most n addresses of the clients that held CLOSE_WAIT.
func hostList(c analyze.CloseWaitLoad, n int) string {
	hosts := c.Hosts
	if len(hosts) > n || c.MoreHosts {
		return strings.Join(hosts[:min(n, len(hosts))], ", ") + " and more"
	}
	return andList(hosts)
}

// andList joins items in words: "a", "a and b", "a, b and c".
func andList(items []string) string {
	if k := len(items); k > 1 {
		return strings.Join(items[:k-1], ", ") + " and " + items[k-1]
	}
	return strings.Join(items, "")
}

// closeWaitText is what an application's CLOSE_WAIT came to: "12 flows,
// up to 3.0s, 2 still in CLOSE_WAIT at the end", "1 flow, 3.0s".
func closeWaitText(c analyze.CloseWaitLoad) string {
	s := plural(c.Flows, "flow", "flows") + ", up to " + seconds(c.Longest)
	if c.Flows == 1 {
		s = "1 flow, " + seconds(c.Longest)
	}
	if c.OpenAtEnd > 0 {
		s += ", " + thousands(c.OpenAtEnd) + " still in CLOSE_WAIT at the end"
	}
	return s
}

// idleCloses are the services whose connections were closed after a
// silence and then written on (Summary.IdleCloses), most flows first; at
// most n, and how many more there are. A single such flow is left to its
// own diagnosis.
func idleCloses(s *analyze.Summary, n int) ([]analyze.IdleCloseLoad, int) {
	if s == nil || len(s.IdleCloses) == 1 && s.IdleCloses[0].Flows == 1 {
		return nil, 0
	}
	return firstN(s.IdleCloses, n)
}

// firstN is the first n of l, and how many more there are.
func firstN[T any](l []T, n int) ([]T, int) {
	if len(l) > n {
		return l[:n], len(l) - n
	}
	return l, 0
}

// idleCloseWho names the side that closed idle connections: "the
// service 198.51.100.80:8080", "the clients of 198.51.100.80:8080".
func idleCloseWho(l analyze.IdleCloseLoad) string {
	if l.Closer == analyze.Server {
		return "the service " + l.Server
	}
	return "the clients of " + l.Server
}

// idleCloseText is what the idle closes came to: "2 connections closed
// after 1.0s idle and written on: 1 by a stale pooled connection, 1
// raced the FIN".
func idleCloseText(l analyze.IdleCloseLoad) string {
	var how []string
	if l.Stale > 0 {
		how = append(how, thousands(l.Stale)+" on a stale pooled connection (the FIN acknowledged)")
	}
	if l.Raced > 0 {
		how = append(how, thousands(l.Raced)+" raced the FIN")
	}
	return fmt.Sprintf("%s closed after %s idle and written on: %s", plural(l.Flows, "connection", "connections"), idleRange(l), andList(how))
}

// idleRange is the silence before the closes: "1.0s", "1.0s–5.0s".
func idleRange(l analyze.IdleCloseLoad) string { return secondsRange(l.IdleMin, l.IdleMax) }

// secondsRange is a range of durations: "1.0s", "1.0s–5.0s".
func secondsRange(lo, hi float64) string {
	s := seconds(lo)
	if h := seconds(hi); h != s {
		s += "–" + h
	}
	return s
}

// connectDelays are the servers some of whose connections were answered
// only at a retransmitted SYN (Summary.ConnectDelays), most flows first;
// at most n, and how many more there are. A single such flow is left to
// its own diagnosis.
func connectDelays(s *analyze.Summary, n int) ([]analyze.ConnectDelayLoad, int) {
	if s == nil {
		return nil, 0
	}
	// Servers with a full accept queue but no delayed connection come
	// last (fewest flows).
	l := s.ConnectDelays
	if i := slices.IndexFunc(l, func(c analyze.ConnectDelayLoad) bool { return c.Flows == 0 }); i >= 0 {
		l = l[:i]
	}
	if len(l) == 1 && l[0].Flows == 1 {
		return nil, 0
	}
	return firstN(l, n)
}

// connectDelayText is what a server's delayed connections came to: "3
// connections answered only at a retransmitted SYN, 1.0s–3.0s after the
// first".
func connectDelayText(l analyze.ConnectDelayLoad) string {
	s := fmt.Sprintf("%s answered only at a retransmitted SYN, %s after the first", plural(l.Flows, "connection", "connections"),
		secondsRange(l.DelayMin, l.DelayMax))
	if l.QueueFull > 0 {
		s += fmt.Sprintf("; its accept queue was full on %s (accept-queue-full, listen-overflow): the likeliest reason it dropped the SYNs",
			plural(l.QueueFull, "other connection", "other connections"))
	}
	return s
}

// untranslated are the services whose servers' segments a NAT let
// through untranslated (Summary.Untranslated), most flows first; at most
// n, and how many more there are.
func untranslated(s *analyze.Summary, n int) ([]analyze.UntranslatedLoad, int) {
	if s == nil {
		return nil, 0
	}
	return firstN(s.Untranslated, n)
}

// untranslatedWho names the service and the address its segments came
// from: "198.51.100.150:80 ← 198.51.100.80:8080".
func untranslatedWho(l analyze.UntranslatedLoad) string { return l.Service + " ← " + l.From }

// untranslatedText is what the untranslated segments came to: "1
// connection reset: its server's segments left the NAT untranslated, 1
// after 3.5s idle (the conntrack entry expired)".
func untranslatedText(l analyze.UntranslatedLoad) string {
	var how []string
	if l.Expired > 0 {
		how = append(how, fmt.Sprintf("%s after %s idle (the NAT's conntrack entry expired)", thousands(l.Expired), secondsRange(l.IdleMin, l.IdleMax)))
	}
	if l.Invalid > 0 {
		how = append(how, thousands(l.Invalid)+" with no silence (conntrack found them INVALID)")
	}
	return fmt.Sprintf("%s reset: the server's segments left the NAT untranslated, %s",
		plural(l.Flows, "connection", "connections"), andList(how))
}

// notablePorts is the share of the ephemeral range from which the text
// summary lists an address pair's TIME_WAIT ports.
const notablePorts = 0.01

// distribution is one of the summary's histograms with its label.
type distribution struct {
	Label string // "FIN retx", "in FIN_WAIT2", "reuse gap"
	What  string // what is counted: "sides", "flows"
	H     *analyze.Histogram
}

// distributions lists the summary's histograms that hold data: FIN
// retransmissions per side that sent a FIN, the time spent in each close
// state (in the states' order), TIME_WAIT reuse gaps, the capture point's
// round trips to the clients and to the servers.
func distributions(s *analyze.Summary) []distribution {
	if s == nil {
		return nil
	}
	var out []distribution
	add := func(label, what string, h *analyze.Histogram) {
		if h != nil && h.Count > 0 {
			out = append(out, distribution{label, what, h})
		}
	}
	add("FIN retx", "sides", s.FinRetransmissions)
	for _, st := range sortedStates(s.CloseDurations) {
		add("in "+st, "sides", s.CloseDurations[st])
	}
	add("reuse gap", "flows", s.ReuseGaps)
	add("client RTT", "flows", s.ClientRTT)
	add("server RTT", "flows", s.ServerRTT)
	return out
}

// sortedStates orders state names as the states follow each other, then
// names outside the vocabulary by name.
func sortedStates[V any](m map[string]V) []string {
	names := sortedKeys(m)
	pos := func(n string) int {
		if i := slices.Index(stateOrder, n); i >= 0 {
			return i
		}
		return len(stateOrder)
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(pos(a), pos(b)) })
	return names
}

// value renders one of a histogram's values: an integer for counts, a
// duration for seconds.
func (d distribution) value(v float64) string {
	if d.H.Unit == analyze.UnitCount {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return seconds(v)
}

// count is how many values the histogram holds, with what they count:
// "120 sides".
func (d distribution) count() string {
	if d.What == "flows" {
		return plural(int(d.H.Count), "flow", "flows")
	}
	return plural(int(d.H.Count), "side", "sides")
}

// figures are the histogram's count, minimum, median, 99th percentile and
// maximum, rendered. A median or percentile of durations comes from
// logarithmic buckets, within 5% of the true value: it is marked "~".
func (d distribution) figures() [5]string {
	h := d.H
	approx := func(v float64) string {
		if h.Unit == analyze.UnitCount || v == h.Min || v == h.Max {
			return d.value(v)
		}
		return "~" + d.value(v)
	}
	return [5]string{thousands(h.Count), d.value(h.Min), approx(h.Median), approx(h.P99), d.value(h.Max)}
}

// boundRange renders a bound's two ends in words: "above 0.4s", "below
// 3.1s", "above 2.9s and below 6.3s"; f renders a value.
func boundRange(b analyze.Bound, f func(float64) string) string {
	var parts []string
	if b.Above != nil {
		parts = append(parts, "above "+f(*b.Above))
	}
	if b.Below != nil {
		parts = append(parts, "below "+f(*b.Below))
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " and ")
}

// trimNumber renders a setting's value: at most two decimals, no trailing
// zeros.
func trimNumber(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// boundText says what one diagnosis's bound is about and where it lies:
// "tcp_fin_timeout on 198.51.100.10: an orphaned FIN_WAIT2 lives below
// 3.1s", followed by the values of the knob that fit on that host when
// the summary gives them.
func boundText(s *analyze.Summary, b analyze.Bound) string {
	var what string
	switch b.Of {
	case analyze.OfLifetime:
		what = "an orphaned FIN_WAIT2 lives " + boundRange(b, seconds)
	case analyze.OfBudget:
		what = "retry budget " + boundRange(b, seconds)
	case analyze.OfValue:
		what = boundRange(b, trimNumber)
	default:
		what = b.Of + " " + boundRange(b, trimNumber)
	}
	t := fmt.Sprintf("%s on %s: %s", shortKnob(b.Sysctl), b.Host, what)
	if b.Assumes != "" {
		t += " (if " + b.Assumes + ")"
	}
	if hb, ok := hostBound(s, b); ok && hb.Values != "" {
		if hb.Flows > 1 {
			t += fmt.Sprintf("; with the host's %d flows that bound it, values that fit: %s", hb.Flows, hb.Values)
		} else {
			t += "; values that fit: " + hb.Values
		}
	}
	return t
}

// hostBound is the summary's intersection of the bounds on b's knob and
// effect on b's host.
func hostBound(s *analyze.Summary, b analyze.Bound) (analyze.HostBound, bool) {
	if s == nil {
		return analyze.HostBound{}, false
	}
	for _, h := range s.Hosts {
		if h.Host != b.Host {
			continue
		}
		for _, hb := range h.Bounds {
			if hb.Sysctl == b.Sysctl && hb.Of == b.Of && hb.Assumes == b.Assumes {
				return hb, true
			}
		}
	}
	return analyze.HostBound{}, false
}

// hostBoundText is a host's intersected bound in words: "tcp_fin_timeout
// on 198.51.100.10: below 3.1s — or …".
func hostBoundText(host string, hb analyze.HostBound) string {
	t := fmt.Sprintf("%s on %s: %s", shortKnob(hb.Sysctl), host, hb.Values)
	if hb.Assumes != "" {
		t += " (if " + hb.Assumes + ")"
	}
	return t
}

// checkText is a diagnosis's comparison with a host setting:
// "tcp_fin_timeout = 60 on 198.51.100.10 disagrees: the diagnosis names
// TCP_LINGER2 instead". The diagnosis's message says why.
func checkText(d analyze.Diagnosis, c analyze.SettingCheck) string {
	t := fmt.Sprintf("%s = %s on %s ", shortKnob(c.Sysctl), c.Value, c.Host)
	if c.Agrees {
		return t + "agrees"
	}
	t += "disagrees"
	if d.Sysctl != "" && d.Sysctl != c.Sysctl {
		t += ": the diagnosis names " + d.Sysctl + " instead"
	}
	return t
}
