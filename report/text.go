package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/teardown/teardown/analyze"
)

// Text writes the terminal report: the capture's facts, the summary (close
// kinds; diagnoses with their sysctl and what the capture implies about
// its value; findings across flows; per-host peaks beside the kernel's
// limits; ephemeral ports in TIME_WAIT when a notable share; the
// distributions; final states), and the table of listed flows, worst
// first. With Options.Verbose every listed flow is
// followed by its detail (both sides' states with durations, FINs,
// diagnoses, ladder); with Options.FlowID the report is that flow's detail
// alone, after the capture's facts.
//
// Colour is decided by one lipgloss renderer tied to w (see
// Options.Color); a w that is not a terminal gets no escape codes unless
// Color is "always". Lines fit Options.Width columns (the terminal's width
// or 80 by default), ladders 80.
func Text(w io.Writer, res *analyze.Result, opt Options) error {
	return collect(res, opt).Text(w, res)
}

// Text writes the text report of res with the flows c was given in
// place of res.Flows.
func (c *Collector) Text(w io.Writer, res *analyze.Result) error {
	opt := c.opt
	if err := opt.check(); err != nil {
		return err
	}
	v := c.view(res)
	t := &textReport{
		st:      newStyles(newRenderer(w, opt.Color)),
		width:   textWidth(w, opt),
		verbose: opt.Verbose,
		oneFile: len(res.Capture.Files) == 1,
	}
	t.header(v)
	if opt.FlowID != 0 {
		f, err := v.byID(opt.FlowID)
		if err != nil {
			return err
		}
		t.detail(f, res.Summary, v.links)
	} else {
		t.summary(v)
		t.table(v, opt)
		if opt.Verbose {
			for _, f := range v.listed {
				t.detail(f, res.Summary, v.links)
			}
		}
	}
	_, err := io.WriteString(w, t.out.String())
	return err
}

type textReport struct {
	st    *styles
	width int
	out   strings.Builder
	// verbose: the findings, and what the capture implies of a knob's
	// value, are written whole, the findings with their advice.
	verbose bool
	// oneFile: the capture is one file (see displayFilter).
	oneFile bool
}

// conclusionLines bounds the lines of a finding, or of what the capture
// implies of a knob's value: none with -v.
func (t *textReport) conclusionLines() int {
	if t.verbose {
		return 0
	}
	return maxConclusionLines
}

// line collects one output line twice: as plain text, to measure it, and
// styled, to print it.
type line struct {
	plain strings.Builder
	shown strings.Builder
}

func (l *line) add(style lipgloss.Style, s string) *line {
	if s == "" {
		return l
	}
	l.plain.WriteString(s)
	l.shown.WriteString(style.Render(s))
	return l
}

// padded adds s in style, then spaces (unstyled) up to w columns.
func (l *line) padded(style lipgloss.Style, s string, w int) *line {
	l.add(style, s)
	return l.text(strings.Repeat(" ", max(0, w-lipgloss.Width(s))))
}

func (l *line) text(s string) *line {
	l.plain.WriteString(s)
	l.shown.WriteString(s)
	return l
}

func (l *line) width() int { return lipgloss.Width(l.plain.String()) }

func (t *textReport) newLine() *line { return &line{} }

func (t *textReport) emit(l *line) {
	t.out.WriteString(strings.TrimRight(l.shown.String(), " "))
	t.out.WriteByte('\n')
}

func (t *textReport) blank() { t.out.WriteByte('\n') }

// wrapped writes text word-wrapped to the report width, each line indented
// by indent columns, in style.
func (t *textReport) wrapped(indent int, style lipgloss.Style, text string) {
	t.wrappedClip(indent, style, text, 0)
}

// wrappedClip is wrapped with at most n lines (0: no limit), the last
// one cut with "…" when text is longer.
func (t *textReport) wrappedClip(indent int, style lipgloss.Style, text string, n int) {
	for _, s := range clip(wrap(words(text), " ", t.width-indent), t.width-indent, n) {
		t.emit(t.newLine().text(strings.Repeat(" ", indent)).add(style, s))
	}
}

// units are the words that stay on the line of the number before them.
var units = map[string]bool{"s": true, "ms": true, "µs": true, "B": true, "bytes": true, "flows": true, "frames": true}

// words splits text at spaces for wrapping, keeping "71.3 s" together.
func words(text string) []string {
	var out []string
	for _, w := range strings.Fields(text) {
		if n := len(out); n > 0 && units[strings.TrimRight(w, ",.;:)")] {
			if p := out[n-1]; p[len(p)-1] >= '0' && p[len(p)-1] <= '9' {
				out[n-1] += " " + w
				continue
			}
		}
		out = append(out, w)
	}
	return out
}

// wrap joins items with sep into lines of at most width columns; an item
// longer than width gets a line of its own.
func wrap(items []string, sep string, width int) []string {
	var out []string
	cur := ""
	for _, it := range items {
		switch {
		case cur == "":
			cur = it
		case lipgloss.Width(cur+sep+it) <= width:
			cur += sep + it
		default:
			out = append(out, cur)
			cur = it
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

func (t *textReport) header(v *view) {
	res := v.res
	c := res.Capture
	t.emit(t.newLine().add(t.st.title, "teardown").text(" · ").add(t.st.title, fileList(c)))

	var facts []string
	if c.Format != "" {
		facts = append(facts, c.Format)
	}
	if len(c.LinkTypes) > 0 {
		facts = append(facts, strings.Join(c.LinkTypes, ", "))
	}
	facts = append(facts, packetsFact(c))
	if f := tunnelFact(c); f != "" {
		facts = append(facts, f)
	}
	facts = append(facts, plural(v.flowCount(), "flow", "flows"))
	for _, s := range wrap(facts, " · ", t.width-2) {
		t.emit(t.newLine().text("  " + s))
	}
	if c.Last != 0 || c.First != 0 {
		t.emit(t.newLine().text("  " + span(c.First, c.Last)))
	}
	for _, f := range endFacts(c) {
		for _, s := range wrap(words(f), " ", t.width-2) {
			t.emit(t.newLine().text("  " + s))
		}
	}
	var skipped []string
	for _, k := range []struct {
		n    uint64
		what string
	}{{c.Skipped.NonTCP, "non-TCP"}, {c.Skipped.Malformed, "malformed"}, {c.Skipped.Fragments, "fragments"}} {
		if k.n > 0 {
			skipped = append(skipped, thousands(k.n)+" "+k.what)
		}
	}
	if len(skipped) > 0 {
		t.emit(t.newLine().text("  skipped " + strings.Join(skipped, " · ")))
	}
	for _, w := range captureWarnings(res) {
		t.warning(w)
	}
}

// warning writes a capture warning, wrapped, marked ▲.
func (t *textReport) warning(text string) {
	for i, s := range wrap(words(text), " ", t.width-4) {
		l := t.newLine().text("  ")
		if i == 0 {
			l.add(t.st.warn, "▲ ")
		} else {
			l.text("  ")
		}
		t.emit(l.add(t.st.warn, s))
	}
}

// section starts a titled section: a blank line, then the title.
func (t *textReport) section(title, note string) {
	t.blank()
	l := t.newLine().add(t.st.heading, title)
	if note != "" {
		l.text(" · ").add(t.st.dim, note)
	}
	t.emit(l)
}

const labelWidth = 14 // "final states" and two spaces

// maxTextFlows bounds the flow table without -v.
const maxTextFlows = 50

// Bounds on the text and Markdown summaries: findings (text only), hosts
// and address pairs listed, lines of an example message, and of a finding
// or of what the capture implies about a knob's value.
const (
	maxFindings        = 6
	maxHostPeaks       = 5
	maxPortLoads       = 3
	maxCloseWaits      = 3
	maxExampleLines    = 2
	maxConclusionLines = 3
)

// summary writes the summary, in the order a reader needs it: close
// kinds, the diagnoses with their sysctl and what the capture says about
// its value, the findings across flows, the per-host peaks beside the
// kernel's limits, the ephemeral ports in TIME_WAIT when a notable share,
// the applications that held CLOSE_WAIT, the distributions, and the final
// states.
func (t *textReport) summary(v *view) {
	s := v.res.Summary
	facts := summaryFacts(s)
	codes := v.codes
	fs := findings(s)
	hosts, rest := busyHosts(s, maxHostPeaks)
	ports, morePorts := portLoads(s, notablePorts, maxPortLoads)
	cws, moreCWs := closeWaits(s, maxCloseWaits)
	ics, moreICs := idleCloses(s, maxCloseWaits)
	uts, moreUTs := untranslated(s, maxCloseWaits)
	cds, moreCDs := connectDelays(s, maxCloseWaits)
	dists := distributions(s)
	if len(facts) == 0 && len(codes) == 0 && len(fs) == 0 && len(hosts) == 0 && len(dists) == 0 {
		return
	}
	t.section("summary", "")
	n := min(1, len(facts))
	t.facts(facts[:n])
	t.diagnoses(codes, s)
	t.findings(fs)
	t.hostPeaks(hosts, rest, s)
	t.limits(hosts)
	t.ports(ports, morePorts)
	t.closeWaits(cws, moreCWs)
	t.idleCloses(ics, moreICs)
	t.untranslated(uts, moreUTs)
	t.connectDelays(cds, moreCDs)
	t.distributions(dists)
	if v := captureVantage(s); v != "" {
		t.labelled("captured", t.st.plain, v, 0)
	}
	t.facts(facts[n:])
}

// labelled writes text word-wrapped after a label (on the first line
// only), at most maxLines lines (0: no limit), the last one cut with "…".
func (t *textReport) labelled(label string, style lipgloss.Style, text string, maxLines int) {
	indent := 2 + labelWidth
	lines := clip(wrap(words(text), " ", t.width-indent), t.width-indent, maxLines)
	for i, s := range lines {
		t.emit(t.lead(i, label).add(style, s))
	}
}

// lead starts line i of a labelled block: the label on the first line
// only, then the column the block's text starts in.
func (t *textReport) lead(i int, label string) *line {
	if i > 0 {
		label = ""
	}
	return t.newLine().text("  ").padded(t.st.label, label, labelWidth)
}

// clip keeps at most n of lines (all with n 0), ending the last kept one
// with "…" when lines were dropped; width is the lines' width.
func clip(lines []string, width, n int) []string {
	if n == 0 || len(lines) <= n {
		return lines
	}
	lines = slices.Clone(lines[:n])
	last := lines[n-1]
	for lipgloss.Width(last)+2 > width {
		i := strings.LastIndexByte(last, ' ')
		if i < 0 {
			break
		}
		last = last[:i]
	}
	lines[n-1] = strings.TrimRight(last, ",;:") + " …"
	return lines
}

// facts writes labelled lines of counts, wrapped.
func (t *textReport) facts(facts []fact) {
	for _, f := range facts {
		items := make([]string, len(f.Items))
		for i, c := range f.Items {
			items[i] = c.Name + " " + thousands(c.N)
		}
		for i, s := range wrap(items, " · ", t.width-2-labelWidth) {
			t.emit(t.lead(i, f.Label).text(s))
		}
	}
}

// diagnoses writes one line per diagnosis code, worst first, with its
// flows and sysctl; under it what the capture says about the knob's value
// on the hosts (the summary's bounds), else an example message for the
// warnings and errors; and a comparison with a host's setting when there
// is one, one that disagrees first.
func (t *textReport) diagnoses(codes []codeDigest, s *analyze.Summary) {
	indent := 2 + labelWidth
	codeW, flowsW := 0, 0
	for _, c := range codes {
		codeW = max(codeW, len(c.Code))
		flowsW = max(flowsW, len(plural(c.Flows, "flow", "flows")))
	}
	for i, c := range codes {
		l := t.lead(i, "diagnoses").
			add(t.st.sev(c.Severity), severityMark(c.Severity)).text(" ").
			padded(t.st.code, c.Code, codeW).text("  ").text(pad(plural(c.Flows, "flow", "flows"), flowsW))
		knob := t.knob(c.Sysctls)
		if l.width()+2+knob.width() > t.width {
			// On a line of its own, in the knob column, or under the
			// code when it is too long for that too.
			t.emit(l)
			col := indent + 2 + codeW + 2 + flowsW
			if col+2+knob.width() > t.width {
				col = indent
			}
			l = t.newLine().text(strings.Repeat(" ", col))
		}
		l.text("  ")
		l.plain.WriteString(knob.plain.String())
		l.shown.WriteString(knob.shown.String())
		t.emit(l)
		bounds := hostBounds(c, s)
		for _, b := range bounds {
			t.wrappedClip(indent+2, t.st.dim, b, t.conclusionLines())
		}
		if len(bounds) == 0 && c.Example != nil && c.Message != "" && c.Severity.Rank() >= analyze.Warning.Rank() {
			t.wrappedClip(indent+2, t.st.dim, fmt.Sprintf("e.g. flow %d: %s", c.Example.ID, c.Message), maxExampleLines)
		}
		if len(c.Checks) > 0 {
			k := c.Checks[0]
			t.wrappedClip(indent+2, t.st.dim, fmt.Sprintf("setting %s (flow %d)", checkText(k.D, k.Check), k.Flow), maxExampleLines)
		}
	}
}

// maxBoundHosts bounds the hosts whose bounds a diagnosis code's summary
// line names.
const maxBoundHosts = 2

// hostBounds are what the summary concludes about the knob values of the
// hosts a code's diagnoses bound, in words, for at most maxBoundHosts
// hosts.
func hostBounds(c codeDigest, s *analyze.Summary) []string {
	var out []string
	hosts := map[string]bool{}
	for _, b := range c.Bounds {
		hb, ok := hostBound(s, b)
		if !ok || hb.Values == "" {
			continue
		}
		if !hosts[b.Host] && len(hosts) == maxBoundHosts {
			break
		}
		hosts[b.Host] = true
		t := hostBoundText(b.Host, hb)
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// findings writes the summary's findings, worst first: code, host and
// sysctl, then the message (clipped), and with -v the advice. Without
// -v, findings of one code, severity and sysctl on several hosts are one
// entry, the first one's message standing for them all and the other
// hosts named after it, and only the first maxFindings entries are
// written: a burst on every host of a pool takes one entry, not the
// room of the findings after it.
func (t *textReport) findings(fs []analyze.Finding) {
	indent := 2 + labelWidth
	var groups [][]analyze.Finding
	rest := 0
	if t.verbose {
		for _, f := range fs {
			groups = append(groups, []analyze.Finding{f})
		}
	} else {
		groups = groupFindings(fs)
		for _, g := range groups[min(len(groups), maxFindings):] {
			rest += len(g)
		}
		groups = groups[:min(len(groups), maxFindings)]
	}
	for i, g := range groups {
		f := g[0]
		where := f.Host
		if len(g) > 1 {
			where = fmt.Sprintf("%d hosts", len(g))
		}
		l := t.lead(i, "findings").
			add(t.st.sev(f.Severity), severityMark(f.Severity)).text(" ").
			add(t.st.code, f.Code).text(" · " + where)
		t.emit(t.confidenceAfter(t.knobAfter(l, indent+2, f.Sysctl), indent+2, f.Confidence))
		t.wrappedClip(indent+2, t.st.dim, f.Message, t.conclusionLines())
		if len(g) > 1 {
			t.wrappedClip(indent+2, t.st.dim, likewiseOn(g[1:]), 2)
		}
		if c := confidenceText(f.Confidence, f.Doubts); t.verbose && c != "" {
			t.wrappedClip(indent+2, t.st.dim, "confidence "+c, 0)
		}
		if t.verbose && f.Advice != "" {
			t.wrappedClip(indent+2, t.st.dim, "advice: "+f.Advice, 0)
		}
	}
	if rest > 0 {
		t.emit(t.newLine().text(strings.Repeat(" ", indent)).add(t.st.dim, "and "+more(rest, "finding", "findings")+"; --format markdown lists them all"))
	}
}

// groupFindings gathers findings of one code, severity, sysctl and
// confidence, in the order of the first of each.
func groupFindings(fs []analyze.Finding) [][]analyze.Finding {
	var out [][]analyze.Finding
	at := map[[4]string]int{}
	for _, f := range fs {
		k := [4]string{f.Code, string(f.Severity), f.Sysctl, string(f.Confidence)}
		if i, ok := at[k]; ok {
			out[i] = append(out[i], f)
			continue
		}
		at[k] = len(out)
		out = append(out, []analyze.Finding{f})
	}
	return out
}

// likewiseOn names the hosts of the other findings of a group: "likewise
// on 198.51.100.11, 198.51.100.12, 198.51.100.13 and 4 more hosts".
func likewiseOn(fs []analyze.Finding) string {
	const named = 3
	var hosts []string
	for _, f := range fs[:min(len(fs), named)] {
		hosts = append(hosts, f.Host)
	}
	if len(fs) > named {
		hosts = append(hosts, more(len(fs)-named, "host", "hosts"))
	}
	return "likewise on " + andList(hosts)
}

// hostPeaks writes the "per host" lines: the most sockets each host held
// at once in TIME_WAIT, CLOSE_WAIT and as orphans, and the most resets
// at close() in one second.
func (t *textReport) hostPeaks(hosts []analyze.HostLoad, rest int, sum *analyze.Summary) {
	hostW := 0
	for _, h := range hosts {
		hostW = max(hostW, len(h.Host))
	}
	indent := 2 + labelWidth + hostW + 2
	for i, h := range hosts {
		label := ""
		if i == 0 {
			label = "per host"
		}
		for k, s := range wrap(peakItems(h, sum), " · ", t.width-indent) {
			l := t.newLine()
			if k == 0 {
				l.text("  ").padded(t.st.label, label, labelWidth).padded(t.st.code, h.Host, hostW+2)
			} else {
				l.text(strings.Repeat(" ", indent))
			}
			t.emit(l.text(s))
		}
	}
	if rest > 0 {
		t.emit(t.newLine().text(strings.Repeat(" ", 2+labelWidth)).add(t.st.dim, fmt.Sprintf("and %s with lower peaks", plural(rest, "host", "hosts"))))
	}
}

// limits writes the kernel limits the listed hosts' peaks are held
// against.
func (t *textReport) limits(hosts []analyze.HostLoad) {
	if l := limitsText(hosts); l != "" {
		t.labelled("limits", t.st.plain, l, 0)
	}
}

// ports writes the client → server address pairs whose source ports sat
// in TIME_WAIT in a notable share of the ephemeral range.
func (t *textReport) ports(ports []analyze.PortLoad, rest int) {
	for i, p := range ports {
		label := "ports"
		if i > 0 {
			label = ""
		}
		t.labelled(label, t.st.plain, fmt.Sprintf("%s → %s: %s in TIME_WAIT", p.Client, p.Server, portText(p)), 0)
	}
	if rest > 0 {
		t.emit(t.newLine().text(strings.Repeat(" ", 2+labelWidth)).add(t.st.dim, "and "+more(rest, "address pair", "address pairs")))
	}
}

// closeWaits writes the applications that held CLOSE_WAIT, most flows
// first.
func (t *textReport) closeWaits(cws []analyze.CloseWaitLoad, rest int) {
	for i, c := range cws {
		label := "CLOSE_WAIT"
		if i > 0 {
			label = ""
		}
		t.labelled(label, t.st.plain, closeWaitWho(c, 2)+": "+closeWaitText(c), 0)
	}
	if rest > 0 {
		t.emit(t.newLine().text(strings.Repeat(" ", 2+labelWidth)).add(t.st.dim, "and "+more(rest, "application", "applications")))
	}
}

// idleCloses writes the services whose idle connections were closed and
// then written on, most flows first.
func (t *textReport) idleCloses(ics []analyze.IdleCloseLoad, rest int) {
	lines := make([]string, len(ics))
	for i, l := range ics {
		lines[i] = idleCloseWho(l) + ": " + idleCloseText(l)
	}
	t.labelledList("idle closes", lines, rest)
}

// labelledList writes lines, the first after label, then "and 3 more
// services" when rest more were left out.
func (t *textReport) labelledList(label string, lines []string, rest int) {
	for i, l := range lines {
		if i > 0 {
			label = ""
		}
		t.labelled(label, t.st.plain, l, 0)
	}
	if rest > 0 {
		t.emit(t.newLine().text(strings.Repeat(" ", 2+labelWidth)).add(t.st.dim, "and "+more(rest, "service", "services")))
	}
}

// connectDelays writes the servers some of whose connections were
// answered only at a retransmitted SYN, most flows first.
func (t *textReport) connectDelays(cds []analyze.ConnectDelayLoad, rest int) {
	lines := make([]string, len(cds))
	for i, l := range cds {
		lines[i] = l.Server + ": " + connectDelayText(l)
	}
	t.labelledList("SYN retried", lines, rest)
}

// untranslated writes the services whose servers' segments a NAT let
// through untranslated, most flows first.
func (t *textReport) untranslated(uts []analyze.UntranslatedLoad, rest int) {
	lines := make([]string, len(uts))
	for i, l := range uts {
		lines[i] = untranslatedWho(l) + ": " + untranslatedText(l)
	}
	t.labelledList("untranslated", lines, rest)
}

// distributions writes the summary's histograms, one line each under a
// header: how many, the least, the median, the 99th percentile and the
// most.
func (t *textReport) distributions(ds []distribution) {
	if len(ds) == 0 {
		return
	}
	labelW := labelWidth
	for _, d := range ds {
		labelW = max(labelW, len(d.Label)+2)
	}
	// columns right-aligns a row's five figures.
	columns := func(v [5]string) string {
		var b strings.Builder
		for i, s := range v {
			w := 9
			if i == 0 {
				w = 6
			}
			b.WriteString(padLeft(s, w))
		}
		return b.String()
	}
	t.emit(t.newLine().text("  ").padded(t.st.label, "distributions", labelW).
		add(t.st.label, columns([5]string{"count", "min", "median", "p99", "max"})))
	for _, d := range ds {
		t.emit(t.newLine().text("  ").padded(t.st.label, d.Label, labelW).text(columns(d.figures())))
	}
}

// padLeft right-aligns s in w columns.
func padLeft(s string, w int) string {
	return strings.Repeat(" ", max(0, w-lipgloss.Width(s))) + s
}

// knob renders a list of sysctls, or "no sysctl".
func (t *textReport) knob(sysctls []string) *line {
	l := t.newLine()
	if len(sysctls) == 0 {
		return l.add(t.st.dim, "no sysctl")
	}
	for i, s := range sysctls {
		if i > 0 {
			l.text(", ")
		}
		l.add(t.st.sysctl, s)
	}
	return l
}

func (t *textReport) table(v *view, o Options) {
	what := o.listed("anomalies", func(c string) string { return c })
	n := v.flowCount()
	if n == 0 {
		t.section("flows", "none: the capture holds no TCP connection")
		return
	}
	if v.nListed == 0 {
		t.section(what, "none of "+plural(n, "flow", "flows"))
		none := "  no connection shows an anomaly; --only all lists them"
		if o.codes() != nil {
			none = "  no connection was diagnosed so; --only all lists them"
		}
		t.emit(t.newLine().add(t.st.dim, none))
		return
	}
	t.section(what, fmt.Sprintf("%s of %s, worst first", thousands(v.nListed), plural(n, "flow", "flows")))

	idW := max(len("flow"), v.idW)
	kindW := max(len("close"), v.kindW)
	epW := max(len("client → server"), v.epW)
	const timeW = len("15:04:05.000")
	oneLine := 2+idW+2+timeW+2+kindW+2+epW <= t.width
	head := t.newLine().text("  ").padded(t.st.label, "flow", idW+2).padded(t.st.label, "start", timeW+2)
	if oneLine {
		head.padded(t.st.label, "close", kindW+2).add(t.st.label, "client → server")
	} else {
		head.add(t.st.label, "close")
	}
	t.emit(head)
	diagIndent := 2 + idW + 2
	shown := v.listed
	if !o.Verbose && len(shown) > maxTextFlows {
		shown = shown[:maxTextFlows]
	}
	for _, f := range shown {
		l := t.newLine().text("  ").padded(t.st.code, "#"+strconv.Itoa(f.ID), idW+2).
			text(clock(f.Start)).text("  ")
		if oneLine {
			t.emit(l.text(pad(string(f.Close.Kind), kindW)).text("  ").text(endpoints(f)))
		} else {
			t.emit(l.text(string(f.Close.Kind)))
			t.emit(t.newLine().text(strings.Repeat(" ", diagIndent)).text(endpoints(f)))
		}
		for _, d := range byRank(f.Diagnoses) {
			t.diagnosisLine(diagIndent, d)
		}
		if f.NAT != nil {
			t.emit(t.newLine().text(strings.Repeat(" ", diagIndent)).add(t.st.dim, natCopyOf(f.NAT)))
		}
		if p := untranslatedPartner(f, v.links); p != "" {
			t.emit(t.newLine().text(strings.Repeat(" ", diagIndent)).add(t.st.dim, p))
		}
	}
	if n := v.nListed - len(shown); n > 0 {
		t.emit(t.newLine().add(t.st.dim, "  … and "+more(n, "flow", "flows")+"; --format json lists every flow"))
	}
	if !o.Verbose {
		t.blank()
		t.emit(t.newLine().add(t.st.dim, "  -v shows findings whole and each listed flow's ladder; --flow ID one flow's"))
	}
}

// diagnosisLine writes "▲ code · side · sysctl", breaking before the
// sysctl when the line would be too wide.
func (t *textReport) diagnosisLine(indent int, d analyze.Diagnosis) {
	l := t.newLine().text(strings.Repeat(" ", indent)).
		add(t.st.sev(d.Severity), severityMark(d.Severity)).text(" ").
		add(t.st.code, d.Code)
	if d.Side != "" {
		l.text(" · " + string(d.Side))
	}
	t.emit(t.confidenceAfter(t.knobAfter(l, indent+2, d.Sysctl), indent+2, d.Confidence))
}

// confidenceAfter adds " · medium confidence" to l when c is medium or
// low, or, when the line would be too wide, writes l and puts it on a
// new line indented by indent; it returns the line to go on with.
func (t *textReport) confidenceAfter(l *line, indent int, c analyze.Confidence) *line {
	if c != analyze.ConfidenceMedium && c != analyze.ConfidenceLow {
		return l
	}
	s := string(c) + " confidence"
	if l.width()+3+len(s) > t.width {
		t.emit(l)
		return t.newLine().text(strings.Repeat(" ", indent)).add(t.st.dim, s)
	}
	return l.add(t.st.dim, " · "+s)
}

// knobAfter adds " · sysctl" to l, or, when the line would be too wide,
// writes l and puts sysctl on a new line indented by indent; it returns
// the line to finish. An empty sysctl adds nothing.
func (t *textReport) knobAfter(l *line, indent int, sysctl string) *line {
	if sysctl == "" {
		return l
	}
	if l.width()+3+len(sysctl) > t.width {
		t.emit(l)
		l = t.newLine().text(strings.Repeat(" ", indent))
	} else {
		l.text(" · ")
	}
	return l.add(t.st.sysctl, sysctl)
}

// detail writes one flow's detail: what closed how, both sides' states
// with durations, FINs, half-close and reuse, diagnoses (each with the
// bounds it puts on its knob, the comparisons with the host's settings
// and the advice), and the ladder. s gives the values that fit each
// bound on its host.
func (t *textReport) detail(f *analyze.Flow, s *analyze.Summary, links map[int]*analyze.UntranslatedLink) {
	t.blank()
	title := "flow " + strconv.Itoa(f.ID)
	if f.Incarnation > 1 {
		title += fmt.Sprintf(" (incarnation %d)", f.Incarnation)
	}
	t.emit(t.newLine().add(t.st.heading, title).text(" · ").text(endpoints(f)))
	t.wrapped(2, t.st.plain, strings.Join(closeFacts(f, hashFrame), " · "))
	t.emit(t.newLine().text(fmt.Sprintf("  frames #%d–#%d · %s → %s (%s)",
		f.FirstFrame, f.LastFrame, clock(f.Start), clock(f.End), seconds(f.Start.Seconds(f.End)))))

	for _, side := range []struct {
		name string
		s    *analyze.Side
	}{{"client", f.Sides.Client}, {"server", f.Sides.Server}} {
		t.states(side.name, spans(side.s))
	}
	for _, s := range append(finFacts(f, hashFrame), extraFacts(f, s, links)...) {
		t.wrapped(2, t.st.plain, s)
	}
	if df := displayFilter(f, t.oneFile); df != "" {
		t.wrapped(2, t.st.dim, "Wireshark: "+df)
	}
	for _, d := range byRank(f.Diagnoses) {
		t.diagnosisLine(2, d)
		t.wrapped(4, t.st.plain, d.Message)
		if len(d.Frames) > 0 {
			t.wrapped(4, t.st.dim, "frames "+frameList(d.Frames, hashFrame))
		}
		for _, b := range d.Bounds {
			t.wrapped(4, t.st.dim, "bound: "+boundText(s, b))
		}
		for _, c := range d.Checks {
			t.wrapped(4, t.st.dim, "checked: "+checkText(d, c))
		}
		if c := confidenceText(d.Confidence, d.Doubts); c != "" {
			t.wrapped(4, t.st.dim, "confidence "+c)
		}
		if d.Advice != "" {
			t.wrapped(4, t.st.dim, "advice: "+d.Advice)
		}
	}
	if lines := drawLadder(f, t.st.paint); len(lines) > 0 {
		t.blank()
		for _, s := range lines {
			t.out.WriteString(s)
			t.out.WriteByte('\n')
		}
	}
}

// states writes "client  SYN_SENT 101µs → ESTABLISHED 0.2s → …", wrapped
// with the arrows leading the continuation lines.
func (t *textReport) states(name string, ss []stateSpan) {
	if len(ss) == 0 {
		return
	}
	type item struct{ plain, shown string }
	items := make([]item, len(ss))
	for i, s := range ss {
		it := item{stateLabel(s.Entry), t.st.state.Render(stateLabel(s.Entry))}
		if d := s.dur(); d != "" {
			it.plain += " " + d
			it.shown += " " + t.st.dim.Render(d)
		}
		if i > 0 {
			it.plain = "→ " + it.plain
			it.shown = "→ " + it.shown
		}
		items[i] = it
	}
	const indent = 2 + 8
	l := t.newLine().text("  ").padded(t.st.label, name, 8)
	for i, it := range items {
		if i > 0 && l.width()+1+lipgloss.Width(it.plain) > t.width {
			t.emit(l)
			l = t.newLine().text(strings.Repeat(" ", indent))
		} else if i > 0 {
			l.text(" ")
		}
		l.plain.WriteString(it.plain)
		l.shown.WriteString(it.shown)
	}
	t.emit(l)
}
