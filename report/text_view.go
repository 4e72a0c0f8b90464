// Package report renders an [analyze.Result] for people: the terminal
// report ([Text]), the Markdown report for tickets ([Markdown]), a
// self-contained HTML page with charts ([HTML]) and the plain-text ladder
// diagram they share ([Ladder]); and as JSON for programs. It decides
// nothing about a capture: it selects, orders, counts and draws what
// package analyze concluded.
package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
)

// This file holds what the text, Markdown and HTML reports share: choosing
// and ordering flows for display, and the summary digests. None of it
// judges a flow; it sorts, selects and counts what analyze concluded.

// Options control the text, Markdown and HTML reports.
type Options struct {
	Color   string // "auto" (or ""), "always" or "never"; text only
	Width   int    // text columns; 0 = the terminal's width, or 80
	Verbose bool   // text: per-flow detail for every listed flow
	FlowID  int    // 0 = none; otherwise the detail of that flow only
	Only    string // "anomalies" (or ""), "all", or diagnosis codes joined by commas: which flows are listed
	Top     int    // Markdown/HTML: flows shown in detail; 0 = 5
	Command string // the command line that produced the report (Markdown footer)
}

// defaultTop is the number of flows Markdown and HTML show in detail when
// Options.Top is 0.
const defaultTop = 5

func (o Options) check() error {
	switch o.Color {
	case "", "auto", "always", "never":
	default:
		return fmt.Errorf("report: color must be auto, always or never, not %q", o.Color)
	}
	for _, c := range o.codes() {
		if !analyze.IsCode(c) {
			return fmt.Errorf("report: only must be anomalies, all or diagnosis codes, not %q", o.Only)
		}
	}
	if o.Top < 0 {
		return fmt.Errorf("report: top must not be negative, got %d", o.Top)
	}
	if o.Width < 0 {
		return fmt.Errorf("report: width must not be negative, got %d", o.Width)
	}
	return nil
}

// codes are the diagnosis codes Only names, nil for "anomalies" or "all".
func (o Options) codes() []string {
	switch o.Only {
	case "", "anomalies", "all":
		return nil
	}
	return strings.Split(o.Only, ",")
}

// Lists reports whether the reports list flow f: every flow with Only
// "all", one with a diagnosis Only names, else an anomalous one.
func (o Options) Lists(f *analyze.Flow) bool {
	switch codes := o.codes(); {
	case o.Only == "all":
		return true
	case codes != nil:
		return slices.ContainsFunc(f.Diagnoses, func(d analyze.Diagnosis) bool { return slices.Contains(codes, d.Code) })
	}
	return Anomalous(f)
}

// listed names the flows listed, after what: "anomalies", "flows" or
// "flows with fin-retransmitted or close-wait-long", each code through
// code (Markdown's backquotes).
func (o Options) listed(anomalies string, code func(string) string) string {
	switch codes := o.codes(); {
	case o.Only == "all":
		return "flows"
	case codes != nil:
		quoted := make([]string, len(codes))
		for i, c := range codes {
			quoted[i] = code(c)
		}
		return "flows with " + strings.Join(quoted, " or ")
	}
	return anomalies
}

func (o Options) top() int {
	if o.Top == 0 {
		return defaultTop
	}
	return o.Top
}

// Anomalous reports whether a flow is listed as an anomaly: it has at least
// one diagnosis of severity warning or error, or it ended by a reset
// (close kind reset) or was left half-closed when the capture ended (close
// kind half_closed_at_end). Info diagnoses alone (a legal TIME_WAIT reuse,
// a capture caveat) and clean closes (four-way, three-way, simultaneous),
// connections still open at the end, rejected SYNs and the resets of
// half-open probes (syn-probe) are not anomalies. It only reads what
// analyze concluded.
func Anomalous(f *analyze.Flow) bool {
	if f.NAT != nil && f.NAT.OneSide != "" {
		return false // half a story, which another flow tells whole
	}
	if f.Close.Kind == analyze.ResetKind && !probe(f) || f.Close.Kind == analyze.HalfClosedAtEnd {
		return true
	}
	return f.WorstRank() >= analyze.Warning.Rank()
}

// probe reports whether f is a half-open probe's (syn-probe).
func probe(f *analyze.Flow) bool {
	return slices.ContainsFunc(f.Diagnoses, func(d analyze.Diagnosis) bool { return d.Code == analyze.CodeSynProbe })
}

// byRank sorts diagnoses most severe first, keeping analyze's order among
// equals.
func byRank(ds []analyze.Diagnosis) []analyze.Diagnosis {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b analyze.Diagnosis) int {
		return cmp.Compare(b.Severity.Rank(), a.Severity.Rank())
	})
	return out
}

// codeDigest is one diagnosis code across the capture.
type codeDigest struct {
	Code     string
	Severity analyze.Severity // the most severe seen with this code
	Sysctls  []string         // distinct, in order of appearance
	Flows    int              // flows with at least one such diagnosis
	Example  *analyze.Flow    // the worst-first first flow with it
	Message  string           // that flow's message for it
	// Bounds are the distinct bounds its diagnoses put on knobs (by
	// host, knob, effect and assumption), in order of appearance.
	Bounds []analyze.Bound
	// Checks are its comparisons with the hosts' settings, those that
	// disagree first.
	Checks []flowCheck
}

// flowCheck is one comparison of a flow's diagnosis with a host setting.
type flowCheck struct {
	Flow  int
	D     analyze.Diagnosis
	Check analyze.SettingCheck
}

// knobDigest is one sysctl (or socket option, or none) across the capture:
// a row of the Markdown sysctl table.
type knobDigest struct {
	Sysctl  string       // "" for diagnoses no knob governs
	Path    bool         // no knob either: findings of a device on the path, apart from the application's
	Governs string       // no knob either: what governs the codes instead (RuleInfo.Governs)
	Codes   []codeDigest // the codes attributed to it, worst first
	Flows   int          // distinct flows
	Advice  []string     // distinct Diagnosis.Advice and Finding.Advice values
	Hosts   []string     // hosts of the sides the diagnoses name and of the findings, at most maxHosts
	More    int          // hosts beyond those
	Others  []string     // hosts the diagnoses name that are not Linux (Summary.NotLinux), left out of Hosts
	Example *analyze.Flow
	// Findings are the summary's findings that name the knob.
	Findings []analyze.Finding
}

// codes lists the diagnosis codes of the knob's row, then its findings'.
func (k knobDigest) codes() []string {
	var out []string
	for _, c := range k.Codes {
		out = append(out, c.Code)
	}
	for _, f := range k.Findings {
		if !slices.Contains(out, f.Code) {
			out = append(out, f.Code)
		}
	}
	return out
}

// maxHosts bounds knobDigest.Hosts.
const maxHosts = 3

// hostsText lists a knob's hosts: "a, b, c and 2 more".
func (k knobDigest) hostsText(quote func(string) string) string {
	hosts := make([]string, len(k.Hosts))
	for i, h := range k.Hosts {
		hosts[i] = quote(h)
	}
	s := strings.Join(hosts, ", ")
	if k.More > 0 {
		s += fmt.Sprintf(" and %d more", k.More)
	}
	return s
}

// othersText names the hosts of a knob's row that are not Linux: "not
// Linux: 192.168.10.31".
func othersText(k knobDigest, quote func(string) string) string {
	hosts := make([]string, len(k.Others))
	for i, h := range k.Others {
		hosts[i] = quote(h)
	}
	return "not Linux: " + strings.Join(hosts, ", ")
}

// knobSeen is the "seen" cell of a knob's row, one item per code: its
// title from the rule reference with an example flow, what the summary
// concludes about the knob's value on the hosts, and a comparison with a
// host's setting; then the findings that name the knob. quote writes
// codes, addresses and sysctls; text escapes free text.
func knobSeen(k knobDigest, s *analyze.Summary, quote, text func(string) string) []string {
	var seen []string
	for _, c := range k.Codes {
		t := quote(c.Code)
		if c.Example != nil {
			t += fmt.Sprintf(" (%s, e.g. flow %d)", plural(c.Flows, "flow", "flows"), c.Example.ID)
		}
		if title := ruleTitle(c.Code); title != "" {
			t += ": " + text(title)
		}
		for _, hb := range hostBounds(c, s) {
			t += "; " + text(hb)
		}
		if len(c.Checks) > 0 {
			ch := c.Checks[0]
			t += fmt.Sprintf("; setting %s (flow %d)", text(checkText(ch.D, ch.Check)), ch.Flow)
		}
		seen = append(seen, t)
	}
	for _, f := range k.Findings {
		t := fmt.Sprintf("%s %s at %s UTC, across flows", quote(f.Code), findingWhere(f, quote), clockSecond(f.At))
		listed := slices.ContainsFunc(k.Codes, func(c codeDigest) bool { return c.Code == f.Code })
		if title := ruleTitle(f.Code); title != "" && !listed {
			t += ": " + text(title)
		}
		seen = append(seen, t+" (see the findings)")
	}
	return seen
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sideHost is the address of f's side r, "" for no side.
func sideHost(f *analyze.Flow, r analyze.Role) string {
	switch r {
	case analyze.Client:
		return host(f.Client)
	case analyze.Server:
		return host(f.Server)
	}
	return ""
}

// onPath reports whether diagnosis code's knob is on a device on the path
// between the hosts, not on a host (the rule reference's OnPath).
func onPath(code string) bool { return rules[code].OnPath }

// findingWhere says where finding f was made: on its host, or, for a
// device on the path, on the path to it.
func findingWhere(f analyze.Finding, quote func(string) string) string {
	if onPath(f.Code) {
		return "on the path to " + quote(f.Host)
	}
	return "on " + quote(f.Host)
}

// knobHost is the host whose setting diagnosis d of f names: its side's,
// or none when the knob is on a device on the path.
func knobHost(f *analyze.Flow, d *analyze.Diagnosis) string {
	if onPath(d.Code) {
		return ""
	}
	return sideHost(f, d.Side)
}

func knobsOf(c codeDigest) []string {
	if len(c.Sysctls) == 0 {
		return []string{""}
	}
	return c.Sysctls
}

// count is one "name N" item of a summary line.
type count struct {
	Name string
	N    int
}

// counts orders a summary map by count, largest first, then by the order
// of names in vocab (the closed vocabulary), then by name.
func counts(m map[string]int, vocab []string) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		out = append(out, count{k, v})
	}
	pos := func(name string) int {
		if i := slices.Index(vocab, name); i >= 0 {
			return i
		}
		return len(vocab)
	}
	slices.SortFunc(out, func(a, b count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		if c := cmp.Compare(pos(a.Name), pos(b.Name)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

var kindOrder = []string{
	string(analyze.FourWay), string(analyze.ThreeWay), string(analyze.SimultaneousKind),
	string(analyze.ResetKind), string(analyze.HalfClosedAtEnd), string(analyze.OpenAtEnd), string(analyze.Rejected),
}

var stateOrder = func() []string {
	var names []string
	for s := analyze.SynSent; s <= analyze.Closed; s++ {
		names = append(names, s.String())
	}
	return names
}()

// fact is one labelled line of the capture summary.
type fact struct {
	Label string
	Items []count
}

// summaryFacts lists the summary's count lines in display order. Each new
// count field of analyze.Summary is one more entry here; text, Markdown
// and HTML render every fact the same way.
func summaryFacts(s *analyze.Summary) []fact {
	if s == nil {
		return nil
	}
	var out []fact
	add := func(label string, m map[string]int, vocab []string) {
		if len(m) > 0 {
			out = append(out, fact{label, counts(m, vocab)})
		}
	}
	add("close kinds", s.CloseKinds, kindOrder)
	add("final states", s.FinalStates, stateOrder)
	return out
}

// captureWarnings are the notes about the input every report shows
// before anything else: a truncated file, damaged records, flows the flow
// cap pushed out early.
func captureWarnings(res *analyze.Result) []string {
	var out []string
	if res.Capture.Truncated {
		out = append(out, "capture truncated: the last record is cut short; everything before it was analysed")
	}
	out = append(out, res.Capture.Warnings...)
	if s := res.Summary; s != nil && s.Evicted > 0 {
		out = append(out, fmt.Sprintf("%s evicted early by the flow cap (--max-flows): their stories may be incomplete",
			plural(s.Evicted, "flow was", "flows were")))
	}
	if s := res.Summary; s != nil && s.Forgotten > 0 {
		out = append(out, fmt.Sprintf("%s forgotten early by the flow cap (--max-flows), which bounds the closed connections remembered too: a later SYN on their 4-tuples was not linked to them",
			plural(s.Forgotten, "closed connection was", "closed connections were")))
	}
	if s := res.Summary; s != nil && s.Duplicates > 0 {
		note := fmt.Sprintf("%s twice, the same segment or ICMP error again within a millisecond (tcpdump -i any on a host that forwards or bridges them, once per interface) or the same segment with the same TSval up to a second later (captures of both ends merged): each was read once",
			plural(s.Duplicates, "packet was captured", "packets were captured"))
		if g := s.DuplicateGaps; g != nil {
			note += fmt.Sprintf(" (the segments' copies %s–%s after the first)", seconds(g.Min), seconds(g.Max))
		}
		out = append(out, note)
	}
	if s := res.Summary; s != nil && s.UnmatchedICMP != nil && s.UnmatchedICMP.Count > 0 {
		out = append(out, unmatchedICMPNote(s.UnmatchedICMP))
	}
	if s := res.Summary; s != nil && len(s.NotLinux) > 0 {
		out = append(out, notLinuxNote(s.NotLinux))
	}
	if s := res.Summary; s != nil && s.NATCopies > 0 {
		out = append(out, fmt.Sprintf("%s a connection another flow holds too, captured on both sides of an address translation (NAT: kube-proxy, Docker's published ports, a NAT gateway, tcpdump -i any on the host that translates) with other addresses and the same sequence numbers: each names the flow built before it (nat.of); the per-host counts take its sides only where it shows an untranslated address, every other count both",
			plural(s.NATCopies, "flow holds", "flows hold")))
	}
	return out
}

// notLinuxNote names the hosts that showed a stack other than Linux's,
// each once with the stack most of its flows showed and all its flows,
// the first five of them.
func notLinuxNote(hs []analyze.HostStack) string {
	type host struct {
		name, os string
		flows    int
	}
	var list []*host
	byName := map[string]*host{}
	for _, h := range hs { // most flows first
		x := byName[h.Host]
		if x == nil {
			x = &host{name: h.Host, os: h.OS}
			byName[h.Host] = x
			list = append(list, x)
		}
		x.flows += h.Flows
	}
	slices.SortStableFunc(list, func(a, b *host) int { return cmp.Compare(b.flows, a.flows) })
	var names []string
	for i, x := range list {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(list)-5))
			break
		}
		what := plural(x.flows, "flow", "flows")
		switch x.os {
		case analyze.StackWindows:
			what = "Windows, " + what
		case analyze.StackBSD:
			what = "macOS, iOS or FreeBSD, " + what
		}
		names = append(names, x.name+" ("+what+")")
	}
	return fmt.Sprintf("%s a TCP stack other than Linux's (SYN options in an order Linux never writes them, or an initial TTL of 128 or 255): %s; the diagnoses about their sides take Linux's behaviour for granted and name no Linux setting (stack in the JSON)",
		plural(len(list), "host showed", "hosts showed"), strings.Join(names, ", "))
}

// natCopyOf is a NAT copy's line in the flow lists: "flow 1's
// connection, seen after NAT" (its SYN came later: the translated view),
// "before NAT" (earlier), or "through NAT".
func natCopyOf(v *analyze.NATView) string {
	if v.OneSide != "" {
		return fmt.Sprintf("the %s's segments of flow %d's connection, translated halfway", v.OneSide, v.Of)
	}
	when := "through"
	switch {
	case v.Lag > 0:
		when = "after"
	case v.Lag < 0:
		when = "before"
	}
	return fmt.Sprintf("flow %d's connection, seen %s NAT", v.Of, when)
}

// natFact says which flow holds f's connection with other addresses:
// "nat: the same connection as flow 3, captured 21µs later with the
// server's address rewritten (destination NAT)".
func natFact(v *analyze.NATView) string {
	if v.OneSide != "" {
		return fmt.Sprintf("nat: the %s's segments of flow %d's connection, from %s after its SYN, translated halfway: "+
			"a bridge in the host that translates, whose br_netfilter calls iptables for bridged packets "+
			"(net.bridge.bridge-nf-call-iptables = 1), records them between the bridge and the NAT; flow %d tells the story",
			v.OneSide, v.Of, seconds(v.Lag), v.Of)
	}
	when := seconds(v.Lag) + " later"
	if v.Lag < 0 {
		when = seconds(-v.Lag) + " earlier"
	}
	what := "the server's address or port rewritten (destination NAT)"
	switch v.Rewritten {
	case analyze.NATClient:
		what = "the client's address or port rewritten (source NAT)"
	case analyze.NATBoth:
		what = "both sides' addresses or ports rewritten (source and destination NAT)"
	}
	return fmt.Sprintf("nat: the same connection as flow %d, captured %s with %s", v.Of, when, what)
}

// untranslatedOf is the untranslated link of flow f: its own, or the
// other flow's of its pair, from links (nil for none).
func untranslatedOf(f *analyze.Flow, links map[int]*analyze.UntranslatedLink) *analyze.UntranslatedLink {
	if f.Untranslated != nil {
		return f.Untranslated
	}
	return links[f.ID]
}

// untranslatedPartner is a flow list's line under a flow whose
// untranslated pair's other flow carries the diagnosis: "nat-untranslated
// at flow 2: this connection's server's segment, let through
// untranslated"; "" for none.
func untranslatedPartner(f *analyze.Flow, links map[int]*analyze.UntranslatedLink) string {
	l := links[f.ID]
	if f.Untranslated != nil || l == nil {
		return ""
	}
	if f.ID == l.Connection {
		return fmt.Sprintf("%s at flow %d: this connection's %s's segment, let through untranslated", analyze.CodeNATUntranslated, l.Segments, l.Sender)
	}
	return fmt.Sprintf("%s at flow %d: its %s's segment, let through untranslated", analyze.CodeNATUntranslated, l.Connection, l.Sender)
}

// untranslatedFact says which flow holds the segments of flow id's
// connection a NAT let through untranslated, or which connection flow
// id's segments are: "nat: flow 2 holds the server's segment of this
// connection that a NAT let through untranslated, from
// 198.51.100.80:8080 instead of 198.51.100.150:80 (frame 8, reset at
// frame 9)".
func untranslatedFact(id int, l *analyze.UntranslatedLink) string {
	what := "segment"
	if l.Count > 1 {
		what = thousands(l.Count) + " segments"
	}
	how := fmt.Sprintf("from %s instead of %s (frame %d, reset at frame %d)", l.From, l.Service, l.Frame, l.Reset)
	if id == l.Connection {
		return fmt.Sprintf("nat: flow %d holds the %s's %s of this connection that a NAT let through untranslated, %s", l.Segments, l.Sender, what, how)
	}
	return fmt.Sprintf("nat: the %s's %s of flow %d's connection that a NAT let through untranslated, %s", l.Sender, what, l.Connection, how)
}

// unmatchedICMPNote says how many ICMP errors quoted no connection the
// analysis held, with the first of them.
func unmatchedICMPNote(u *analyze.UnmatchedICMP) string {
	what := plural(u.Count, "ICMP error quotes a TCP segment", "ICMP errors quote TCP segments")
	if len(u.First) > 0 {
		e := u.First[0]
		seg := e.Src + " → " + e.Dst
		if e.Flags != "" {
			seg += " [" + e.Flags + "]"
		}
		first := "the first"
		if u.Count == 1 {
			first = "it"
		}
		what += fmt.Sprintf(" (%s: #%d, %s from %s about %s)", first, e.Frame, e.Name, e.From, seg)
	}
	why := "none on those 4-tuples, or they had ended minutes before: the capture was taken on another path or behind a filter, or the errors answer segments others sent in these addresses' names"
	if u.Count == 1 {
		why = "none on that 4-tuple, or it had ended minutes before: the capture was taken on another path or behind a filter, or the error answers a segment another host sent in this address's name"
	}
	return what + " of no connection the analysis held; the capture has " + why
}

// fileNames are the capture's input names for display: "-" is standard
// input.
func fileNames(c analyze.Capture) []string {
	out := make([]string, len(c.Files))
	for i, f := range c.Files {
		if f == "-" {
			f = "standard input"
		}
		out[i] = f
	}
	return out
}

// fileList joins the input names, or says there were none.
func fileList(c analyze.Capture) string {
	if len(c.Files) == 0 {
		return "no input"
	}
	return strings.Join(fileNames(c), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// stateSpan is one state a side held, with how long it held it.
type stateSpan struct {
	Entry analyze.StateEntry
	// Dur is the engine's measured duration of the state
	// (Side.Durations), else the time to the side's next state entry;
	// -1 when neither is known (the final state without a measurement,
	// or entries out of time order).
	Dur float64
	// AtLeast is set on the final state when the capture ended (or the
	// flow was evicted) before it did: Dur is a lower bound.
	AtLeast bool
}

// dur renders the span's duration, "≥64.8s" for a lower bound; "" when
// it is unknown.
func (s stateSpan) dur() string {
	switch {
	case s.Dur < 0:
		return ""
	case s.AtLeast:
		return "≥" + seconds(s.Dur)
	}
	return seconds(s.Dur)
}

// spans pairs a side's state entries with their durations.
func spans(s *analyze.Side) []stateSpan {
	if s == nil {
		return nil
	}
	out := make([]stateSpan, len(s.States))
	for i, e := range s.States {
		d := -1.0
		if v, ok := s.Durations[e.State.String()]; ok {
			d = v
		} else if i+1 < len(s.States) && s.States[i+1].At >= e.At {
			d = e.At.Seconds(s.States[i+1].At)
		}
		out[i] = stateSpan{Entry: e, Dur: d, AtLeast: s.OpenEnded && i == len(s.States)-1}
	}
	return out
}

// seconds renders a duration for people: "0s", "41µs", "40.2ms", "1.4s",
// "71.3s", "2m05s", "1h02m".
func seconds(s float64) string {
	switch {
	case s == 0:
		return "0s"
	case s < 100:
		return analyze.FormatSeconds(s)
	case s < 3600:
		m := int(s) / 60
		return fmt.Sprintf("%dm%02ds", m, int(s)-60*m)
	}
	h := int(s) / 3600
	return fmt.Sprintf("%dh%02dm", h, (int(s)-3600*h)/60)
}

// stoppedFact says when the capture stopped, where the input records it
// after its last packet: "recording stopped 54.1s after the last packet,
// at 12:35:18.021 UTC (open states run to it)"; "" otherwise.
func stoppedFact(c analyze.Capture) string {
	if c.Stopped <= c.Last || c.Last == 0 {
		return ""
	}
	return fmt.Sprintf("recording stopped %s after the last packet, at %s UTC (open states run to it)",
		seconds(c.Last.Seconds(c.Stopped)), clock(c.Stopped))
}

// unreadFact says where the reading stopped, past --until, when it did:
// "reading stopped at 12:35:30.000 UTC, past --until: the rest of the
// capture was not read"; "" otherwise.
func unreadFact(c analyze.Capture) string {
	if c.UnreadFrom == 0 {
		return ""
	}
	return fmt.Sprintf("reading stopped at %s UTC, past --until: the rest of the capture was not read", clock(c.UnreadFrom))
}

// endFacts are stoppedFact and unreadFact, those that say something.
func endFacts(c analyze.Capture) []string {
	var out []string
	for _, f := range []string{stoppedFact(c), unreadFact(c)} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// clock renders a capture time as a UTC time of day with milliseconds.
func clock(t analyze.Time) string { return t.Std().Format("15:04:05.000") }

// span renders the capture's time span: "2026-11-26 12:00:00.000 →
// 12:01:12.800 UTC (1m12.8s)", with the date on both ends when they differ.
func span(first, last analyze.Time) string {
	a, b := first.Std(), last.Std()
	end := clock(last)
	if a.Format(time.DateOnly) != b.Format(time.DateOnly) {
		end = b.Format(time.DateOnly) + " " + end
	}
	d := time.Duration(last - first).Round(time.Millisecond)
	return fmt.Sprintf("%s %s → %s UTC (%s)", a.Format(time.DateOnly), clock(first), end, d)
}

// thousands renders n with comma separators: 48,213.
// packetsFact counts the capture's packets, its TCP segments and the ICMP
// errors that quoted them.
func packetsFact(c analyze.Capture) string {
	f := fmt.Sprintf("%s packets, %s TCP", thousands(c.Packets), thousands(c.TCPPackets))
	if c.Reassembled > 0 {
		f += fmt.Sprintf(" (%s from IP fragments)", thousands(c.Reassembled))
	}
	if c.ICMPErrors > 0 {
		f += ", " + plural(int(c.ICMPErrors), "ICMP error", "ICMP errors")
	}
	return f
}

// tunnelFact says how many TCP segments came out of which tunnels, or
// nothing when none did.
func tunnelFact(c analyze.Capture) string {
	if c.Tunnelled == 0 {
		return ""
	}
	return fmt.Sprintf("%s TCP in %s", thousands(c.Tunnelled), strings.Join(c.Tunnels, ", "))
}

func thousands[N ~int | ~int64 | ~uint64](n N) string {
	s := fmt.Sprint(n)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	b.WriteString(sign)
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// plural renders "1 flow", "2 flows".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// more renders "1 more flow", "3 more flows".
func more(n int, one, many string) string {
	if n == 1 {
		return "1 more " + one
	}
	return thousands(n) + " more " + many
}

// host returns the address part of an "ip:port" endpoint.
func host(endpoint string) string {
	if ap, err := netip.ParseAddrPort(endpoint); err == nil {
		return ap.Addr().String()
	}
	if i := strings.LastIndexByte(endpoint, ':'); i > 0 {
		return strings.Trim(endpoint[:i], "[]")
	}
	return endpoint
}

// hashFrame writes a frame number as the text report and ladders do: #17.
func hashFrame(n uint64) string { return "#" + strconv.FormatUint(n, 10) }

// wordFrame writes a frame number for Markdown, where "#17" would link to
// issue 17: frame 17.
func wordFrame(n uint64) string { return "frame " + strconv.FormatUint(n, 10) }

// closeFacts describes a flow's close in a few words each: its kind, who
// closed first, the reset, the handshake when incomplete, inferred roles.
func closeFacts(f *analyze.Flow, frame func(uint64) string) []string {
	out := []string{string(f.Close.Kind)}
	r := f.Close.Reset
	forged := r != nil && r.Cause == analyze.CauseMiddlebox
	foreign := r != nil && !forged && foreignReset(f)
	lost := r != nil && r.Cause == analyze.CauseNoSocket
	switch f.Close.Initiator {
	case analyze.Client, analyze.Server:
		// With no FIN, the initiator is the RST's sender: not so when a
		// device on the path made the RST, its kernel sent it for
		// another 4-tuple, or for a socket already gone.
		sd := f.Sides.Client
		if f.Close.Initiator == analyze.Server {
			sd = f.Sides.Server
		}
		if !forged && !foreign && !lost || sd != nil && len(sd.FinFrames) > 0 {
			out = append(out, string(f.Close.Initiator)+" closed first")
		}
	case analyze.Simultaneous:
		out = append(out, "both closed at once")
	}
	switch {
	case forged:
		out = append(out, fmt.Sprintf("RST in the %s's name at %s from a device on the path; the %s stayed in %s", r.By, frame(r.Frame), r.By, r.State))
	case foreign:
		out = append(out, fmt.Sprintf("RST by the %s's kernel at %s for a segment on another 4-tuple; the %s's socket stayed in %s", r.By, frame(r.Frame), r.By, r.State))
	case lost && r.State == analyze.SynSent && probe(f):
		out = append(out, fmt.Sprintf("RST by the %s's kernel at %s: its SYN came from no connect() (a probe)", r.By, frame(r.Frame)))
	case lost && r.State == analyze.SynSent:
		out = append(out, fmt.Sprintf("RST by the %s's kernel at %s: its connect() had already given up", r.By, frame(r.Frame)))
	case lost && r.State == analyze.SynRecv:
		out = append(out, fmt.Sprintf("RST by the %s's listener at %s: its request had expired, never accepted", r.By, frame(r.Frame)))
	case lost:
		out = append(out, fmt.Sprintf("RST by the %s's kernel at %s: its socket was already gone, never closed", r.By, frame(r.Frame)))
	case r != nil:
		s := fmt.Sprintf("RST by %s at %s in %s", r.By, frame(r.Frame), r.State)
		if r.Cause != "" && r.Cause != analyze.CauseUnknown {
			s += " (" + r.Cause + ")"
		}
		out = append(out, s)
	}
	if f.Handshake != "" && f.Handshake != analyze.HandshakeComplete {
		out = append(out, "handshake "+strings.ReplaceAll(f.Handshake, "_", " "))
	}
	if f.Roles == analyze.RolesInferred {
		out = append(out, "roles inferred (no SYN seen)")
	}
	if f.Evicted {
		out = append(out, "evicted early by the flow cap: the story may be incomplete")
	}
	return out
}

// confidenceText says how far a diagnosis or finding can be trusted,
// when not fully, and why: "medium: the wire cannot tell ..."; "" when
// high.
func confidenceText(c analyze.Confidence, doubts []string) string {
	if c == "" || c == analyze.ConfidenceHigh {
		return ""
	}
	return string(c) + ": " + strings.Join(doubts, "; ")
}

// foreignReset reports whether f's reset was its sender's kernel's
// answer to a segment on another 4-tuple while its socket lived on: the
// flow's nat-untranslated diagnosis cites the reset's frame.
func foreignReset(f *analyze.Flow) bool {
	for _, d := range f.Diagnoses {
		if d.Code == analyze.CodeNATUntranslated && f.Untranslated == nil && slices.Contains(d.Frames, f.Close.Reset.Frame) {
			return true
		}
	}
	return false
}

// extraFacts are the path, NAT, half-close and reuse lines of a flow's
// detail; s is the capture's summary (nil for none).
func extraFacts(f *analyze.Flow, s *analyze.Summary, links map[int]*analyze.UntranslatedLink) []string {
	var out []string
	if p := pathFact(f, s); p != "" {
		out = append(out, p)
	}
	if v := f.NAT; v != nil {
		out = append(out, natFact(v))
	}
	if l := untranslatedOf(f, links); l != nil {
		out = append(out, untranslatedFact(f.ID, l))
	}
	for i, sd := range [...]*analyze.Side{f.Sides.Client, f.Sides.Server} {
		if sd != nil && sd.Stack != nil {
			r := [...]analyze.Role{analyze.Client, analyze.Server}[i]
			out = append(out, fmt.Sprintf("stack: the %s is %s; what this report reads by Linux's timers and settings may not hold for it, and no Linux setting is named for it", r, sd.Stack.Describe()))
		}
	}
	if h := f.Close.HalfClose; h != nil {
		peer := analyze.Client
		if h.Sender == analyze.Client {
			peer = analyze.Server
		}
		s := fmt.Sprintf("half-close: %s sent %s B for %s after the %s's FIN",
			h.Sender, thousands(h.Bytes), seconds(h.Duration), peer)
		switch h.ActiveUsed {
		case analyze.ActiveUsedShutdown:
			s += "; the " + string(peer) + " used shutdown()"
		case analyze.ActiveUsedClose:
			s += "; the " + string(peer) + " had close()d"
		}
		out = append(out, s)
	}
	if r := f.Reuse; r != nil {
		s := fmt.Sprintf("reuse: incarnation %d of this 4-tuple, %s after flow %d", f.Incarnation, seconds(r.Gap), r.PreviousID)
		if r.TimeWaitHolder == analyze.Client || r.TimeWaitHolder == analyze.Server {
			s += "; TIME_WAIT held by the " + string(r.TimeWaitHolder)
		}
		if r.Timestamps {
			s += "; timestamps on"
		} else {
			s += "; no timestamps"
		}
		if r.Verdict != "" {
			s += "; " + r.Verdict
		}
		out = append(out, s)
	}
	return out
}

// finFacts summarises each side's FIN transmissions and what else held or
// spoiled its close: "client FIN #17", "client FIN #32 #33 #34 (2
// retransmissions, the first a tail-loss probe)", a FIN the capture missed,
// a FIN held back by a zero window, RSTs the peer could not accept.
func finFacts(f *analyze.Flow, frame func(uint64) string) []string {
	var out []string
	for _, side := range []struct {
		name, peer string
		s          *analyze.Side
	}{{"client", "server", f.Sides.Client}, {"server", "client", f.Sides.Server}} {
		s := side.s
		if s == nil {
			continue
		}
		switch {
		case len(s.FinFrames) > 0:
			t := side.name + " FIN " + frameList(s.FinFrames, frame)
			if s.FinRetransmissions > 0 {
				t += fmt.Sprintf(" (%s", plural(s.FinRetransmissions, "retransmission", "retransmissions"))
				if s.FinTLP {
					t += ", the first a tail-loss probe"
				}
				t += ")"
			}
			out = append(out, t)
		case s.FinInferred:
			out = append(out, fmt.Sprintf("%s FIN not in the capture; the %s's ACK proves it was sent", side.name, side.peer))
		}
		if s.FinDSACK != 0 {
			out = append(out, fmt.Sprintf("%s's D-SACK %s reports the %s FIN received twice: a copy before the latest had arrived", side.peer, frame(s.FinDSACK), side.name))
		}
		if n := s.ZeroWindowFinHeld; n > 0 {
			out = append(out, fmt.Sprintf("%s FIN held back by the %s's zero window (%s)", side.name, side.peer, plural(n, "time", "times")))
		}
		if n := int(s.IgnoredRSTs); n > 0 {
			out = append(out, fmt.Sprintf("%s sent %s the %s could not accept (outside its window)", side.name, plural(n, "RST", "RSTs"), side.peer))
		}
		if n := int(s.ChallengedRSTs); n > 0 {
			out = append(out, fmt.Sprintf("%s sent %s the %s answered with a challenge ACK and outlived (inside its window, not at the sequence number it expected: RFC 5961)", side.name, plural(n, "RST", "RSTs"), side.peer))
		}
	}
	return out
}

// frameList writes frame numbers separated by spaces, or by commas after
// the first word-style one: "#3 #4 #5", "frames 3, 4, 5".
func frameList(frames []uint64, frame func(uint64) string) string {
	parts := make([]string, len(frames))
	for i, n := range frames {
		parts[i] = frame(n)
	}
	if len(frames) > 1 && strings.HasPrefix(parts[0], "frame ") {
		for i := range parts {
			parts[i] = strconv.FormatUint(frames[i], 10)
		}
		return "frames " + strings.Join(parts, ", ")
	}
	return strings.Join(parts, " ")
}

// endpoints renders "client → server".
func endpoints(f *analyze.Flow) string { return f.Client + " → " + f.Server }

// label names the knob of row k: its sysctl (or socket option), or what
// governs the row when no knob does.
func (k knobDigest) label() string {
	switch {
	case k.Sysctl != "":
		return k.Sysctl
	case k.Path:
		return "none (a device's policy on the path)"
	case k.Governs != "":
		return "none (" + k.Governs + ")"
	}
	return "none (application)"
}

// upperFirst capitalises s's first letter (ASCII).
func upperFirst(s string) string {
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
