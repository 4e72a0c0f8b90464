package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// maxTableFlows bounds the Markdown table of listed flows; the rest are
// counted in a line under it.
const maxTableFlows = 20

// Markdown writes the report an engineer pastes into a ticket: a heading
// and a one-paragraph verdict (the findings and diagnoses, most severe
// first), the sysctl table (each knob the diagnoses and findings name:
// what was seen and what the capture implies about its value, how many
// flows, the recommended direction from the analysis's advice, the rule
// reference's commands to confirm it on the host), the summary (counts,
// findings, per-host peaks beside the kernel's limits, ephemeral ports,
// distributions), a table of the listed flows, the
// detail of the first Options.Top of them (or of Options.FlowID) each with
// its ladder in a code block and a Mermaid sequenceDiagram, and the
// command that produced the report (Options.Command). It is plain
// CommonMark with GitHub tables: no ANSI codes, no raw HTML but <br> in
// table cells, and no "#N" outside code blocks (GitHub and GitLab would
// link it to an issue).
func Markdown(w io.Writer, res *analyze.Result, opt Options) error {
	return collect(res, opt).Markdown(w, res)
}

// Markdown writes the Markdown report of res with the flows c was given
// in place of res.Flows.
func (c *Collector) Markdown(w io.Writer, res *analyze.Result) error {
	opt := c.opt
	if err := opt.check(); err != nil {
		return err
	}
	v := c.view(res)
	detail, err := v.detailed(opt)
	if err != nil {
		return err
	}
	m := &mdReport{oneFile: len(res.Capture.Files) == 1}
	m.verdict(v)
	m.knobTable(v)
	m.summary(v)
	m.flowTable(v, opt)
	for _, f := range detail {
		m.flow(f, res.Summary, v.links)
	}
	if opt.Command != "" {
		m.p("---")
		m.p("Produced by:")
		m.p("```sh\n" + opt.Command + "\n```")
	}
	_, err = io.WriteString(w, strings.TrimRight(m.b.String(), "\n")+"\n")
	return err
}

type mdReport struct {
	b strings.Builder
	// oneFile: the capture is one file (see displayFilter).
	oneFile bool
}

// p writes a block followed by a blank line.
func (m *mdReport) p(block string) {
	m.b.WriteString(block)
	m.b.WriteString("\n\n")
}

// files names the capture's files in code spans.
func files(c analyze.Capture) string {
	if len(c.Files) == 0 {
		return "the capture"
	}
	quoted := make([]string, len(c.Files))
	for i, f := range fileNames(c) {
		quoted[i] = code(f)
	}
	return strings.Join(quoted, ", ")
}

func (m *mdReport) verdict(v *view) {
	res := v.res
	total, c, anomalies := v.flowCount(), res.Capture, v.anomalies
	names := fileList(c)
	switch {
	case total == 0:
		m.p(fmt.Sprintf("### teardown: no TCP connection in %s", mdText(names)))
	case anomalies == 0:
		m.p(fmt.Sprintf("### teardown: no anomaly in %s (%s)", plural(total, "connection", "connections"), mdText(names)))
	default:
		m.p(fmt.Sprintf("### teardown: %s of %s closed with an anomaly (%s)",
			thousands(anomalies), plural(total, "connection", "connections"), mdText(names)))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s", files(c))
	var kind []string
	if c.Format != "" {
		kind = append(kind, c.Format)
	}
	kind = append(kind, c.LinkTypes...)
	if len(kind) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(kind, ", "))
	}
	fmt.Fprintf(&b, " holds %s", plural(total, "TCP connection", "TCP connections"))
	if c.First != 0 || c.Last != 0 {
		fmt.Fprintf(&b, " over %s", span(c.First, c.Last))
	}
	for _, f := range endFacts(c) {
		b.WriteString("; " + mdText(f))
	}
	b.WriteString(".")
	if c.Tunnelled > 0 {
		fmt.Fprintf(&b, " %s came out of %s.", plural(int(c.Tunnelled), "TCP segment", "TCP segments"), strings.Join(c.Tunnels, " and "))
	}
	if c.Reassembled > 0 {
		fmt.Fprintf(&b, " %s came in IP fragments, reassembled.", plural(int(c.Reassembled), "TCP segment", "TCP segments"))
	}
	if c.ICMPErrors > 0 {
		fmt.Fprintf(&b, " %s quoted its segments.", plural(int(c.ICMPErrors), "ICMP error", "ICMP errors"))
	}
	if c.Skipped.Malformed > 0 {
		fmt.Fprintf(&b, " %s malformed and skipped.", plural(int(c.Skipped.Malformed), "packet was", "packets were"))
	}
	serious, rest := verdictItems(v)
	for i, it := range serious {
		if i == 0 {
			b.WriteString(" Worst first: ")
		} else {
			b.WriteString(" Then ")
		}
		b.WriteString(it.Long)
		if i == 0 && it.Advice != "" {
			fmt.Fprintf(&b, " Advice: %s.", mdText(it.Advice))
		}
	}
	if len(rest) > 0 {
		items := make([]string, len(rest))
		for i, it := range rest {
			items[i] = it.Short
		}
		if len(serious) > 0 {
			b.WriteString(" Also seen: ")
		} else {
			b.WriteString(" Seen: ")
		}
		b.WriteString(strings.Join(items, ", ") + ".")
	}
	m.p(b.String())
	for _, w := range captureWarnings(res) {
		m.p("> **Warning:** " + mdText(w))
	}
}

// maxVerdictItems bounds the findings and diagnoses the verdict tells in
// full; the others are named after them.
const maxVerdictItems = 3

// verdictItem is a finding or a diagnosis code told in the verdict.
type verdictItem struct {
	Rank   int
	Long   string // a sentence with the numbers, the sysctl and the message
	Short  string // "`code` (severity, N flows)"
	Advice string
}

// verdictItems are the summary's findings and the diagnosis codes, most
// severe first (a finding before a code of the same severity: it speaks
// for several flows), split into those told in full (warnings and errors,
// at most maxVerdictItems) and the rest. A code that a finding tells is
// only named among the rest.
func verdictItems(v *view) (serious, rest []verdictItem) {
	res := v.res
	var items []verdictItem
	for _, f := range findings(res.Summary) {
		sysctl := "no sysctl"
		if f.Sysctl != "" {
			sysctl = code(f.Sysctl)
		}
		items = append(items, verdictItem{
			Rank: f.Severity.Rank(),
			Long: fmt.Sprintf("**%s** %s (%s, across flows, %s): %s.", code(f.Code), findingWhere(f, code), f.Severity,
				sysctl, mdText(strings.TrimSuffix(f.Message, "."))),
			Short:  fmt.Sprintf("%s %s (%s)", code(f.Code), findingWhere(f, code), f.Severity),
			Advice: f.Advice,
		})
	}
	for _, d := range v.codes {
		it := verdictItem{Rank: d.Severity.Rank(),
			Short: fmt.Sprintf("%s (%s, %s)", code(d.Code), d.Severity, plural(d.Flows, "flow", "flows"))}
		// A code a finding tells across flows is only named.
		told := res.Summary != nil && slices.ContainsFunc(res.Summary.Findings, func(f analyze.Finding) bool { return f.Code == d.Code })
		if d.Example != nil && !told {
			it.Long = fmt.Sprintf("**%s** (%s, %s, %s): in flow %d, %s.", code(d.Code), d.Severity,
				plural(d.Flows, "flow", "flows"), knobText(d.Sysctls), d.Example.ID, mdText(strings.TrimSuffix(d.Message, ".")))
			for _, dg := range d.Example.Diagnoses {
				if dg.Code == d.Code {
					it.Advice = dg.Advice
					break
				}
			}
		}
		items = append(items, it)
	}
	slices.SortStableFunc(items, func(a, b verdictItem) int { return cmp.Compare(b.Rank, a.Rank) })
	for _, it := range items {
		if it.Rank >= analyze.Warning.Rank() && it.Long != "" && len(serious) < maxVerdictItems {
			serious = append(serious, it)
		} else {
			rest = append(rest, it)
		}
	}
	return serious, rest
}

// knobText names sysctls in code spans, or says there is none.
func knobText(sysctls []string) string {
	if len(sysctls) == 0 {
		return "no sysctl"
	}
	q := make([]string, len(sysctls))
	for i, s := range sysctls {
		q[i] = code(s)
	}
	return strings.Join(q, ", ")
}

func (m *mdReport) knobTable(v *view) {
	res, ks := v.res, v.knobs
	if len(ks) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("| sysctl | seen | flows | direction | confirm on the host |\n")
	b.WriteString("|---|---|--:|---|---|")
	for _, k := range ks {
		name := k.label()
		if k.Sysctl != "" {
			name = code(k.Sysctl)
		}
		direction := "—"
		if len(k.Advice) > 0 {
			advice := make([]string, len(k.Advice))
			for i, a := range k.Advice {
				advice[i] = mdText(a)
			}
			direction = strings.Join(advice, "<br>")
		}
		flows := "—"
		if len(k.Codes) > 0 {
			flows = thousands(k.Flows)
		}
		fmt.Fprintf(&b, "\n| %s | %s | %s | %s | %s |", name, cell(strings.Join(knobSeen(k, res.Summary, code, mdText), "<br>")),
			flows, cell(direction), cell(confirmation(k)))
	}
	m.p(b.String())
}

// confirmation is the "confirm on the host" cell of a knob: the rule
// reference's commands for its codes, and the hosts whose sides the
// diagnoses (and findings) name.
func confirmation(k knobDigest) string {
	cmds := confirmCommands(k)
	if len(cmds) == 0 && len(k.Others) > 0 {
		return "— (" + othersText(k, code) + ")"
	}
	if len(cmds) == 0 {
		return "—"
	}
	q := make([]string, len(cmds))
	for i, c := range cmds {
		q[i] = code(c)
	}
	s := strings.Join(q, ", ")
	switch codes := k.codes(); {
	case len(k.Hosts) > 0 && len(k.Others) > 0:
		s = "on " + k.hostsText(code) + ": " + s + " (" + othersText(k, code) + ")"
	case len(k.Hosts) > 0:
		s = "on " + k.hostsText(code) + ": " + s
	case len(codes) > 0 && !slices.ContainsFunc(codes, func(c string) bool { return !onPath(c) }):
		s = "on the device on the path: " + s
	}
	return s
}

// summary writes the capture-wide counts, then the findings, the per-host
// peaks beside the kernel's limits (and the knob values the capture
// implies on each host), the ephemeral ports in TIME_WAIT, the
// applications that held CLOSE_WAIT and the distributions.
func (m *mdReport) summary(v *view) {
	s := v.res.Summary
	facts, codes := summaryFacts(s), v.codes
	fs := findings(s)
	hosts, rest := busyHosts(s, maxHostPeaks)
	ports, morePorts := portLoads(s, 0, maxPortLoads)
	cws, moreCWs := closeWaits(s, maxCloseWaits)
	ics, moreICs := idleCloses(s, maxCloseWaits)
	uts, moreUTs := untranslated(s, maxCloseWaits)
	cds, moreCDs := connectDelays(s, maxCloseWaits)
	dists := distributions(s)
	if len(facts) == 0 && len(codes) == 0 && len(fs) == 0 && len(hosts) == 0 && len(dists) == 0 {
		return
	}
	m.p("#### Summary")
	var b strings.Builder
	for _, f := range facts {
		items := make([]string, len(f.Items))
		for i, c := range f.Items {
			items[i] = fmt.Sprintf("%s %s", code(c.Name), thousands(c.N))
		}
		fmt.Fprintf(&b, "- **%s**: %s\n", f.Label, strings.Join(items, " · "))
	}
	if len(codes) > 0 {
		items := make([]string, len(codes))
		for i, c := range codes {
			items[i] = fmt.Sprintf("%s %s %s", severityMark(c.Severity), code(c.Code), thousands(c.Flows))
		}
		fmt.Fprintf(&b, "- **diagnoses** (flows): %s\n", strings.Join(items, " · "))
	}
	if b.Len() > 0 {
		m.p(strings.TrimSuffix(b.String(), "\n"))
	}
	m.findings(fs)
	m.hosts(hosts, rest, s)
	m.ports(ports, morePorts)
	m.closeWaits(cws, moreCWs)
	m.idleCloses(ics, moreICs)
	m.untranslated(uts, moreUTs)
	m.connectDelays(cds, moreCDs)
	m.distributions(dists)
	if v := captureVantage(s); v != "" {
		m.p("**captured** " + v)
	}
}

// findings lists the summary's findings, worst first, with their advice.
func (m *mdReport) findings(fs []analyze.Finding) {
	if len(fs) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("**Findings** across flows:\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "\n- %s **%s** %s", severityMark(f.Severity), code(f.Code), findingWhere(f, code))
		if f.Sysctl != "" {
			fmt.Fprintf(&b, ", %s", code(f.Sysctl))
		}
		fmt.Fprintf(&b, ": %s", mdText(f.Message))
		if c := confidenceText(f.Confidence, f.Doubts); c != "" {
			fmt.Fprintf(&b, ". Confidence %s", mdText(c))
		}
		if f.Advice != "" {
			fmt.Fprintf(&b, ". Advice: %s", mdText(f.Advice))
		}
	}
	m.p(b.String())
}

// hosts writes the per-host table: the most sockets held at once in
// TIME_WAIT and as orphans beside the limit each is held against, in
// CLOSE_WAIT, the most resets at close() in one second, and the knob
// values the capture implies on the host when it implies any.
func (m *mdReport) hosts(hosts []analyze.HostLoad, rest int, sum *analyze.Summary) {
	if len(hosts) == 0 {
		return
	}
	withBounds := slices.ContainsFunc(hosts, func(h analyze.HostLoad) bool { return len(h.Bounds) > 0 })
	var b strings.Builder
	b.WriteString("**Per host**, the most sockets at once (at whole seconds, UTC) and the kernel's limit:\n\n")
	b.WriteString("| host | TIME_WAIT (`tcp_max_tw_buckets`) | CLOSE_WAIT | orphans (`tcp_max_orphans`) | resets at close() |")
	if withBounds {
		b.WriteString(" the capture implies |")
	}
	b.WriteString("\n|---|---|---|---|---|")
	if withBounds {
		b.WriteString("---|")
	}
	for _, h := range hosts {
		host := code(h.Host)
		if notLinuxHost(sum, h.Host) {
			host += ", " + notLinuxPeaks
		}
		fmt.Fprintf(&b, "\n| %s | %s | %s | %s | %s |", host, peakCell(h.TimeWait, false), peakCell(h.CloseWait, false),
			peakCell(h.Orphans, false), peakCell(h.CloseResets, true))
		if withBounds {
			var bs []string
			for _, hb := range h.Bounds {
				t := code(shortKnob(hb.Sysctl)) + " " + mdText(hb.Values)
				if hb.Assumes != "" {
					t += " (if " + mdText(hb.Assumes) + ")"
				}
				bs = append(bs, t)
			}
			fmt.Fprintf(&b, " %s |", cell(strings.Join(bs, "<br>")))
		}
	}
	if rest > 0 {
		fmt.Fprintf(&b, "\n\n… and %s with lower peaks.", plural(rest, "host", "hosts"))
	}
	m.p(b.String())
}

// peakCell is a peak in a table cell: "60 at 13:51:59 of 131,072
// (default)", or for a rate, "60/s in 13:51:58–13:51:59"; "—" when there
// was none and no limit.
func peakCell(p analyze.Peak, rate bool) string {
	s := "—"
	switch {
	case p.Count > 0 && rate:
		s = fmt.Sprintf("%s/s in %s", thousands(p.Count), clockWindow(p.At))
	case p.Count > 0:
		s = fmt.Sprintf("%s at %s", thousands(p.Count), clockSecond(p.At))
	case p.LimitFrom != "":
		s = "0"
	}
	if p.LimitFrom != "" {
		s += fmt.Sprintf(" of %s (%s)", thousands(p.Limit), mdText(limitSource(p.LimitFrom)))
	}
	return s
}

// ports writes the client → server address pairs with the most source
// ports in TIME_WAIT at once, against the client's ephemeral range.
func (m *mdReport) ports(ports []analyze.PortLoad, rest int) {
	rows := make([]string, len(ports))
	for i, p := range ports {
		t := p.TimeWait
		of := "—"
		if t.Limit > 0 {
			of = fmt.Sprintf("%s (%s, %s)", thousands(t.Limit), share(t), mdText(limitSource(t.LimitFrom)))
		}
		rows[i] = fmt.Sprintf("| %s | %s | %s at %s | %s |", code(p.Client), code(p.Server), thousands(t.Count), clockSecond(t.At), of)
	}
	m.table("**Ephemeral ports** in TIME_WAIT at once, by client and server address (`net.ipv4.ip_local_port_range`):",
		"| client | server | in TIME_WAIT | of the ephemeral ports |\n|---|---|--:|---|", rows, rest, "address pair", "address pairs")
}

// closeWaits writes the applications that held CLOSE_WAIT, most flows
// first.
func (m *mdReport) closeWaits(cws []analyze.CloseWaitLoad, rest int) {
	rows := make([]string, len(cws))
	for i, c := range cws {
		who := "the service " + code(c.Server)
		if c.Holder == analyze.Client {
			who = "the clients of " + code(c.Server)
			if len(c.Hosts) > 0 {
				who += " on " + mdText(hostList(c, len(c.Hosts)))
			}
		}
		rows[i] = fmt.Sprintf("| %s | %s | %s | %s |", who, thousands(c.Flows), seconds(c.Longest), thousands(c.OpenAtEnd))
	}
	m.table("**CLOSE_WAIT held** by the application that did not close() (`close-wait-long`):",
		"| held by | flows | longest | still in CLOSE_WAIT at the end |\n|---|--:|--:|--:|", rows, rest, "application", "applications")
}

// idleCloses writes the services whose idle connections were closed and
// then written on, most flows first.
func (m *mdReport) idleCloses(ics []analyze.IdleCloseLoad, rest int) {
	rows := make([]string, len(ics))
	for i, l := range ics {
		who := "the service " + code(l.Server)
		if l.Closer == analyze.Client {
			who = "the clients of " + code(l.Server)
		}
		rows[i] = fmt.Sprintf("| %s | %s | %s | %s | %s |", who, thousands(l.Flows), idleRange(l), thousands(l.Stale), thousands(l.Raced))
	}
	m.table("**Idle connections closed, then written on** (`rst-data-after-close` after a keep-alive or idle timeout):",
		"| closed by | flows | idle before the close | stale pooled connection | raced the FIN |\n|---|--:|--:|--:|--:|", rows, rest, "service", "services")
}

// connectDelays writes the servers some of whose connections were
// answered only at a retransmitted SYN, most flows first.
func (m *mdReport) connectDelays(cds []analyze.ConnectDelayLoad, rest int) {
	rows := make([]string, len(cds))
	for i, l := range cds {
		rows[i] = fmt.Sprintf("| %s | %s | %s | %s |", code(l.Server), thousands(l.Flows), secondsRange(l.DelayMin, l.DelayMax), thousands(l.QueueFull))
	}
	m.table("**Connections answered only at a retransmitted SYN** (`syn-retransmitted`: `connect()` took that much longer):",
		"| server | connections | SYN-ACK after the first SYN | connections with the accept queue full |\n|---|--:|--:|--:|", rows, rest, "server", "servers")
}

// untranslated writes the services whose servers' segments a NAT let
// through untranslated, most flows first.
func (m *mdReport) untranslated(uts []analyze.UntranslatedLoad, rest int) {
	rows := make([]string, len(uts))
	for i, l := range uts {
		idle := "—"
		if l.Expired > 0 {
			idle = secondsRange(l.IdleMin, l.IdleMax)
		}
		rows[i] = fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", code(l.Service), code(l.From), thousands(l.Flows), thousands(l.Expired), idle, thousands(l.Invalid))
	}
	m.table("**Segments a NAT let through untranslated** (`nat-untranslated`: the client's kernel reset them, and with them the connection):",
		"| service | segments from | connections reset | after a silence (entry expired) | silence | with none (INVALID) |\n|---|---|--:|--:|--:|--:|", rows, rest, "service", "services")
}

// table writes a titled table of rows under head, then "… and 3 more
// address pairs." when rest rows (named one, many) were left out; nothing
// without rows.
func (m *mdReport) table(title, head string, rows []string, rest int, one, many string) {
	if len(rows) == 0 {
		return
	}
	s := title + "\n\n" + head + "\n" + strings.Join(rows, "\n")
	if rest > 0 {
		s += "\n\n… and " + more(rest, one, many) + "."
	}
	m.p(s)
}

// distributions writes the summary's histograms as one table.
func (m *mdReport) distributions(ds []distribution) {
	if len(ds) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("**Distributions** (a state still held at the end of the capture is left out; ~ marks a value read from logarithmic buckets, within 5%):\n\n")
	b.WriteString("| | count | min | median | p99 | max |\n|---|--:|--:|--:|--:|--:|")
	for _, d := range ds {
		f := d.figures()
		fmt.Fprintf(&b, "\n| %s | %s | %s | %s | %s | %s |", d.Label, d.count(), f[1], f[2], f[3], f[4])
	}
	m.p(b.String())
}

func (m *mdReport) flowTable(v *view, o Options) {
	fs := v.listed
	if v.nListed == 0 {
		return
	}
	title := upperFirst(o.listed("flows with anomalies", code))
	m.p(fmt.Sprintf("#### %s (%s of %s, worst first)", title, thousands(v.nListed), thousands(v.flowCount())))
	var b strings.Builder
	b.WriteString("| flow | start (UTC) | close | client → server | diagnoses |\n")
	b.WriteString("|--:|---|---|---|---|")
	for _, f := range fs[:min(len(fs), maxTableFlows)] {
		var ds []string
		for _, d := range byRank(f.Diagnoses) {
			s := severityMark(d.Severity) + " " + code(d.Code)
			if d.Sysctl != "" {
				s += " (" + code(d.Sysctl) + ")"
			}
			ds = append(ds, s)
		}
		if f.NAT != nil {
			ds = append(ds, natCopyOf(f.NAT))
		}
		if p := untranslatedPartner(f, v.links); p != "" {
			ds = append(ds, mdText(p))
		}
		fmt.Fprintf(&b, "\n| %d | %s | %s | %s | %s |", f.ID, clock(f.Start), f.Close.Kind,
			cell(mdText(endpoints(f))), cell(strings.Join(ds, "<br>")))
	}
	if n := v.nListed - maxTableFlows; n > 0 {
		fmt.Fprintf(&b, "\n\n… and %s.", more(n, "flow", "flows"))
	}
	m.p(b.String())
}

func (m *mdReport) flow(f *analyze.Flow, s *analyze.Summary, links map[int]*analyze.UntranslatedLink) {
	title := "Flow " + strconv.Itoa(f.ID)
	if f.Incarnation > 1 {
		title += fmt.Sprintf(" (incarnation %d)", f.Incarnation)
	}
	m.p(fmt.Sprintf("#### %s · %s", title, mdText(endpoints(f))))
	facts := closeFacts(f, wordFrame)
	facts = append(facts, fmt.Sprintf("frames %d–%d", f.FirstFrame, f.LastFrame),
		fmt.Sprintf("%s → %s UTC (%s)", clock(f.Start), clock(f.End), seconds(f.Start.Seconds(f.End))))
	m.p(mdText(strings.Join(facts, " · ")))

	var b strings.Builder
	for _, d := range byRank(f.Diagnoses) {
		fmt.Fprintf(&b, "- %s **%s**", severityMark(d.Severity), code(d.Code))
		if d.Side != "" {
			fmt.Fprintf(&b, " (%s)", d.Side)
		}
		if d.Sysctl != "" {
			fmt.Fprintf(&b, ", %s", code(d.Sysctl))
		}
		fmt.Fprintf(&b, ": %s", mdText(d.Message))
		if len(d.Frames) > 0 {
			fmt.Fprintf(&b, " (%s)", frameList(d.Frames, wordFrame))
		}
		if d.Advice != "" {
			fmt.Fprintf(&b, ". Advice: %s", mdText(d.Advice))
		}
		b.WriteString("\n")
		for _, bd := range d.Bounds {
			fmt.Fprintf(&b, "  - bound: %s\n", mdText(boundText(s, bd)))
		}
		for _, c := range d.Checks {
			fmt.Fprintf(&b, "  - checked: %s\n", mdText(checkText(d, c)))
		}
		if c := confidenceText(d.Confidence, d.Doubts); c != "" {
			fmt.Fprintf(&b, "  - confidence %s\n", mdText(c))
		}
	}
	for _, s := range append(finFacts(f, wordFrame), extraFacts(f, s, links)...) {
		fmt.Fprintf(&b, "- %s\n", mdText(s))
	}
	if df := displayFilter(f, m.oneFile); df != "" {
		fmt.Fprintf(&b, "- Wireshark display filter: `%s`\n", df)
	}
	if b.Len() > 0 {
		m.p(strings.TrimSuffix(b.String(), "\n"))
	}

	b.Reset()
	b.WriteString("| side | states and how long each lasted |\n|---|---|")
	for _, side := range []struct {
		name string
		s    *analyze.Side
	}{{"client", f.Sides.Client}, {"server", f.Sides.Server}} {
		var items []string
		for _, s := range spans(side.s) {
			it := code(stateLabel(s.Entry))
			if d := s.dur(); d != "" {
				it += " " + d
			}
			items = append(items, it)
		}
		if len(items) > 0 {
			fmt.Fprintf(&b, "\n| %s | %s |", side.name, strings.Join(items, " → "))
		}
	}
	m.p(b.String())

	if lines := Ladder(f); len(lines) > 0 {
		m.p("```text\n" + strings.Join(lines, "\n") + "\n```")
		m.p("```mermaid\n" + strings.Join(mermaid(f), "\n") + "\n```")
	}
}

// code writes s as a Markdown code span, with a longer fence when s holds
// backticks.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// mdText escapes free text (messages, warnings) so Markdown shows it as
// written: no emphasis, links, HTML or issue references.
func mdText(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\\', '`', '*', '[', ']', '<', '>', '#', '|', '~':
			b.WriteByte('\\')
		case '_':
			// Intraword underscores (tcp_fin_timeout) never emphasise.
			prev, next := i > 0 && isWordByte(s[i-1]), i+1 < len(s) && isWordByte(s[i+1])
			if !prev || !next {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// cell makes a table cell of Markdown: a pipe inside a code span must be
// escaped as well (GitHub reads the table first), and lines become <br>.
func cell(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '|' && (i == 0 || s[i-1] != '\\') {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return strings.ReplaceAll(b.String(), "\n", "<br>")
}
