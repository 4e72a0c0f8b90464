package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// maxTableFlows bounds the Markdown table of listed flows; the rest are
// counted in a line under it.
const maxTableFlows = 20

// Markdown writes the report an engineer pastes into a ticket: a heading
// and a one-paragraph verdict, the sysctl table (each knob the diagnoses
// name: what was seen, how many flows, the recommended direction, how to
// confirm it on the host), the summary, a table of the listed flows, the
// detail of the first Options.Top of them (or of Options.FlowID) each with
// its ladder in a code block and a Mermaid sequenceDiagram, and the
// command that produced the report (Options.Command). It is plain
// CommonMark with GitHub tables: no ANSI codes, no raw HTML but <br> in
// table cells, and no "#N" outside code blocks (GitHub and GitLab would
// link it to an issue).
func Markdown(w io.Writer, res *analyze.Result, opt Options) error {
	if err := opt.check(); err != nil {
		return err
	}
	detail, err := detailed(res, opt)
	if err != nil {
		return err
	}
	m := &mdReport{}
	fs := listed(res, opt)
	m.verdict(res, fs)
	m.knobTable(res)
	m.summary(res)
	m.flowTable(res, fs, opt)
	for _, f := range detail {
		m.flow(f)
	}
	if opt.Command != "" {
		m.p("---")
		m.p("Produced by:")
		m.p("```sh\n" + opt.Command + "\n```")
	}
	_, err = io.WriteString(w, strings.TrimRight(m.b.String(), "\n")+"\n")
	return err
}

type mdReport struct{ b strings.Builder }

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

func (m *mdReport) verdict(res *analyze.Result, fs []*analyze.Flow) {
	total, c := flowCount(res), res.Capture
	anomalies := 0
	for _, f := range fs {
		if Anomalous(f) {
			anomalies++
		}
	}
	names := fileList(c)
	switch {
	case total == 0:
		m.p(fmt.Sprintf("### teardown: no TCP connection in %s", mdText(names)))
	case anomalies == 0:
		m.p(fmt.Sprintf("### teardown: no anomaly in %s (%s)", plural(total, "connection", "connections"), mdText(names)))
	default:
		m.p(fmt.Sprintf("### teardown: %d of %s closed with an anomaly (%s)",
			anomalies, plural(total, "connection", "connections"), mdText(names)))
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
	b.WriteString(".")
	if c.Skipped.Malformed > 0 {
		fmt.Fprintf(&b, " %s malformed and skipped.", plural(int(c.Skipped.Malformed), "packet was", "packets were"))
	}
	codes := digest(res)
	var serious, rest []codeDigest
	for _, d := range codes {
		if d.Severity.Rank() >= analyze.Warning.Rank() && d.Example != nil && len(serious) < 3 {
			serious = append(serious, d)
		} else {
			rest = append(rest, d)
		}
	}
	for i, d := range serious {
		if i == 0 {
			b.WriteString(" Worst first: ")
		} else {
			b.WriteString(" Then ")
		}
		fmt.Fprintf(&b, "**%s** (%s, %s, %s): in flow %d, %s.", code(d.Code), d.Severity,
			plural(d.Flows, "flow", "flows"), knobText(d.Sysctls), d.Example.ID, mdText(strings.TrimSuffix(d.Message, ".")))
	}
	if len(rest) > 0 {
		items := make([]string, len(rest))
		for i, d := range rest {
			items[i] = fmt.Sprintf("%s (%s, %s)", code(d.Code), d.Severity, plural(d.Flows, "flow", "flows"))
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

func (m *mdReport) knobTable(res *analyze.Result) {
	ks := knobs(res)
	if len(ks) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("| sysctl | seen | flows | direction | confirm on the host |\n")
	b.WriteString("|---|---|--:|---|---|")
	for _, k := range ks {
		name := "none (application)"
		if k.Sysctl != "" {
			name = code(k.Sysctl)
		}
		var seen []string
		for _, c := range k.Codes {
			s := code(c.Code)
			if c.Example != nil && c.Message != "" {
				s += fmt.Sprintf(" (flow %d): %s", c.Example.ID, mdText(c.Message))
			}
			seen = append(seen, s)
		}
		direction := "—"
		if len(k.Advice) > 0 {
			advice := make([]string, len(k.Advice))
			for i, a := range k.Advice {
				advice[i] = mdText(a)
			}
			direction = strings.Join(advice, "<br>")
		}
		confirm := confirmation(k)
		fmt.Fprintf(&b, "\n| %s | %s | %d | %s | %s |", name, cell(strings.Join(seen, "<br>")), k.Flows, cell(direction), cell(confirm))
	}
	m.p(b.String())
}

// confirmation is the "confirm on the host" cell of a knob: the commands
// from the reference, and the hosts whose sides the diagnoses name.
func confirmation(k knobDigest) string {
	var cmds []string
	if k.Sysctl == "" {
		for _, c := range k.Codes {
			cmds = append(cmds, codeChecks[c.Code]...)
		}
	} else {
		cmds = knobChecks(k.Sysctl)
	}
	if len(cmds) == 0 {
		return "—"
	}
	q := make([]string, len(cmds))
	for i, c := range cmds {
		q[i] = code(c)
	}
	s := strings.Join(q, ", ")
	if len(k.Hosts) > 0 {
		s = "on " + k.hostsText(code) + ": " + s
	}
	return s
}

func (m *mdReport) summary(res *analyze.Result) {
	v := summarize(res)
	if v.empty() {
		return
	}
	facts, codes, peaks, rest := v.facts, v.codes, v.peaks, v.rest
	m.p("#### Summary")
	var b strings.Builder
	for _, f := range facts {
		items := make([]string, len(f.Items))
		for i, c := range f.Items {
			items[i] = fmt.Sprintf("%s %s", code(c.Name), thousands(c.N))
		}
		fmt.Fprintf(&b, "- **%s**: %s\n", f.Label, strings.Join(items, " · "))
	}
	if len(peaks) > 0 {
		items := make([]string, len(peaks))
		for i, p := range peaks {
			items[i] = code(p.Host) + " " + strings.Join(p.Items, ", ")
		}
		s := strings.Join(items, "; ")
		if rest > 0 {
			s += fmt.Sprintf("; and %s with lower peaks", plural(rest, "host", "hosts"))
		}
		fmt.Fprintf(&b, "- **per host** (most sockets at once): %s\n", s)
	}
	if len(codes) > 0 {
		items := make([]string, len(codes))
		for i, c := range codes {
			items[i] = fmt.Sprintf("%s %s %s", severityMark(c.Severity), code(c.Code), thousands(c.Flows))
		}
		fmt.Fprintf(&b, "- **diagnoses** (flows): %s\n", strings.Join(items, " · "))
	}
	m.p(strings.TrimSuffix(b.String(), "\n"))
}

func (m *mdReport) flowTable(res *analyze.Result, fs []*analyze.Flow, o Options) {
	if len(fs) == 0 {
		return
	}
	title := "Flows with anomalies"
	if o.Only == "all" {
		title = "Flows"
	}
	m.p(fmt.Sprintf("#### %s (%d of %d, worst first)", title, len(fs), flowCount(res)))
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
		fmt.Fprintf(&b, "\n| %d | %s | %s | %s | %s |", f.ID, clock(f.Start), f.Close.Kind,
			cell(mdText(endpoints(f))), cell(strings.Join(ds, "<br>")))
	}
	if n := len(fs) - maxTableFlows; n > 0 {
		fmt.Fprintf(&b, "\n\n… and %s.", more(n, "flow", "flows"))
	}
	m.p(b.String())
}

func (m *mdReport) flow(f *analyze.Flow) {
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
	}
	for _, s := range append(finFacts(f, wordFrame), extraFacts(f)...) {
		fmt.Fprintf(&b, "- %s\n", mdText(s))
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
