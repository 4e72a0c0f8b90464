package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"slices"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// TIME_WAIT's length on Linux (TCP_TIMEWAIT_LEN, not tunable), marked on
// the reuse-gap histogram for reference.
const timeWaitLen = 60.0

// HTML writes one self-contained page: no fetches (a Content-Security-
// Policy forbids them), inline CSS, SVG and script. It shows the capture's
// facts, the diagnoses, the findings across flows and the sysctl table,
// the summary (counts, ephemeral ports, distributions), per-host charts of
// how many sockets were in TIME_WAIT, CLOSE_WAIT and orphaned over the
// capture, histograms of close-state durations, FIN retransmissions and
// TIME_WAIT reuse gaps, the listed flows, and the detail of the first
// Options.Top of them (or of Options.FlowID) with an SVG ladder each.
//
// When the page has rendered, its inline script sets data-rendered="ok"
// on the <html> element after checking that every figure drew a non-empty
// SVG; otherwise it sets data-rendered to "error: …".
func HTML(w io.Writer, res *analyze.Result, opt Options) error {
	return collect(res, opt).HTML(w, res)
}

// HTML writes the HTML report of res with the flows c was given in place
// of res.Flows.
func (c *Collector) HTML(w io.Writer, res *analyze.Result) error {
	opt := c.opt
	if err := opt.check(); err != nil {
		return err
	}
	v := c.view(res)
	detail, err := v.detailed(opt)
	if err != nil {
		return err
	}
	p, err := buildPage(v, opt, detail)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

type page struct {
	Title    string
	Files    string
	Facts    []string
	Warnings []string
	Headline string
	Codes    []htmlCode
	Findings []htmlFinding
	Knobs    []htmlKnob
	Summary  []htmlFact
	Ports    []htmlFact
	// CloseWaits are the applications that held CLOSE_WAIT.
	CloseWaits []htmlFact
	// IdleCloses are the services whose idle connections were closed and
	// then written on.
	IdleCloses []htmlFact
	// Untranslated are the services whose servers' segments a NAT let
	// through untranslated; ConnectDelays the servers some of whose
	// connections were answered only at a retransmitted SYN.
	Untranslated  []htmlFact
	ConnectDelays []htmlFact
	Dists         []htmlDist
	Hosts         []figure
	HostsMore     string // hosts not drawn, "" for none
	Phases        []figure
	Reuse         *figure
	ListTitle     string
	Listed        []htmlFlow
	More          string // listed flows not shown, "" for none
	Detail        []htmlFlow
	Command       string
	Figures       int
}

type figure struct {
	Name, Lead, Caption string
	SVG                 template.HTML
}

type htmlCode struct {
	Mark, Severity, Code, Flows, Sysctl string
	Example                             int
	Message                             string
}

type htmlFinding struct {
	Mark, Severity, Code, Host, Sysctl, Message, Advice string
	// Confidence is confidenceText's, "" when high.
	Confidence string
}

type htmlDist struct {
	Label, Count, Min, Median, P99, Max string
}

type htmlKnob struct {
	Sysctl, Flows string
	Seen          []string
	Advice        []string
	Hosts         string
	Checks        []string
	// Others names the row's hosts that are not Linux, whose commands
	// these are not.
	Others string
}

type htmlFact struct {
	Label string
	Items []string
}

type htmlFlow struct {
	ID, Start, Kind, Endpoints string
	Anchor, Title              string
	// NAT says, in the list, which flow a NAT copy repeats.
	NAT       string
	Diagnoses []htmlDiagnosis
	Facts     []string
	Notes     []string
	Filter    string
	States    []htmlSide
	Ladder    template.HTML
}

type htmlDiagnosis struct {
	Mark, Severity, Code, Side, Sysctl, Message, Frames, Advice string
	// Confidence is confidenceText's, "" when high.
	Confidence     string
	Bounds, Checks []string
}

type htmlSide struct {
	Name   string
	States []htmlState
}

type htmlState struct {
	Name, Dur, Class string
}

func buildPage(v *view, o Options, detail []*analyze.Flow) (*page, error) {
	res := v.res
	c := res.Capture
	p := &page{
		Files:   fileList(c),
		Command: o.Command,
	}
	p.Title = "teardown · " + p.Files
	if c.Format != "" {
		p.Facts = append(p.Facts, c.Format)
	}
	if len(c.LinkTypes) > 0 {
		p.Facts = append(p.Facts, strings.Join(c.LinkTypes, ", "))
	}
	p.Facts = append(p.Facts, packetsFact(c))
	if f := tunnelFact(c); f != "" {
		p.Facts = append(p.Facts, f)
	}
	p.Facts = append(p.Facts, plural(v.flowCount(), "flow", "flows"))
	if c.First != 0 || c.Last != 0 {
		p.Facts = append(p.Facts, span(c.First, c.Last))
	}
	p.Facts = append(p.Facts, endFacts(c)...)
	p.Warnings = captureWarnings(res)

	anomalies := v.anomalies
	switch total := v.flowCount(); {
	case total == 0:
		p.Headline = "No TCP connection in the capture"
	case anomalies == 0:
		p.Headline = fmt.Sprintf("No anomaly in %s", plural(total, "connection", "connections"))
	default:
		p.Headline = fmt.Sprintf("%s of %s closed with an anomaly", thousands(anomalies), plural(total, "connection", "connections"))
	}

	for _, d := range v.codes {
		hc := htmlCode{Mark: severityMark(d.Severity), Severity: string(d.Severity), Code: d.Code,
			Flows: thousands(d.Flows), Sysctl: strings.Join(d.Sysctls, ", "), Message: d.Message}
		if d.Example != nil {
			hc.Example = d.Example.ID
		}
		p.Codes = append(p.Codes, hc)
	}
	for _, f := range findings(res.Summary) {
		p.Findings = append(p.Findings, htmlFinding{Mark: severityMark(f.Severity), Severity: string(f.Severity),
			Code: f.Code, Host: f.Host, Sysctl: f.Sysctl, Message: f.Message, Advice: f.Advice, Confidence: confidenceText(f.Confidence, f.Doubts)})
	}
	same := func(s string) string { return s }
	for _, k := range v.knobs {
		hk := htmlKnob{Sysctl: k.label(), Flows: "—", Advice: k.Advice, Hosts: k.hostsText(same),
			Seen: knobSeen(k, res.Summary, same, same), Checks: confirmCommands(k)}
		if len(k.Others) > 0 {
			hk.Others = othersText(k, same)
		}
		if len(k.Codes) > 0 {
			hk.Flows = thousands(k.Flows)
		}
		p.Knobs = append(p.Knobs, hk)
	}
	for _, f := range summaryFacts(res.Summary) {
		hf := htmlFact{Label: f.Label}
		for _, c := range f.Items {
			hf.Items = append(hf.Items, c.Name+" "+thousands(c.N))
		}
		p.Summary = append(p.Summary, hf)
	}
	if v := captureVantage(res.Summary); v != "" {
		p.Summary = append(p.Summary, htmlFact{Label: "captured", Items: []string{v}})
	}
	ports, _ := portLoads(res.Summary, 0, maxPortLoads)
	for _, pl := range ports {
		p.Ports = append(p.Ports, htmlFact{Label: pl.Client + " → " + pl.Server, Items: []string{portText(pl)}})
	}
	cws, _ := closeWaits(res.Summary, maxCloseWaits)
	for _, c := range cws {
		p.CloseWaits = append(p.CloseWaits, htmlFact{Label: closeWaitWho(c, len(c.Hosts)), Items: []string{closeWaitText(c)}})
	}
	ics, _ := idleCloses(res.Summary, maxCloseWaits)
	for _, l := range ics {
		p.IdleCloses = append(p.IdleCloses, htmlFact{Label: idleCloseWho(l), Items: []string{idleCloseText(l)}})
	}
	cds, _ := connectDelays(res.Summary, maxCloseWaits)
	for _, l := range cds {
		p.ConnectDelays = append(p.ConnectDelays, htmlFact{Label: l.Server, Items: []string{connectDelayText(l)}})
	}
	uts, _ := untranslated(res.Summary, maxCloseWaits)
	for _, l := range uts {
		p.Untranslated = append(p.Untranslated, htmlFact{Label: untranslatedWho(l), Items: []string{untranslatedText(l)}})
	}
	for _, d := range distributions(res.Summary) {
		f := d.figures()
		p.Dists = append(p.Dists, htmlDist{Label: d.Label, Count: d.count(), Min: f[1], Median: f[2], P99: f[3], Max: f[4]})
	}

	if err := p.charts(res); err != nil {
		return nil, err
	}

	p.ListTitle = upperFirst(o.listed("flows with anomalies", func(c string) string { return c }))
	shown := v.listed[:min(len(v.listed), maxTableFlows)]
	if n := v.nListed - len(shown); n > 0 {
		p.More = thousands(n)
	}
	if o.FlowID != 0 {
		shown, p.More = nil, ""
	}
	for _, f := range shown {
		p.Listed = append(p.Listed, htmlFlowOf(f, res.Summary, slices.Contains(detail, f), v.links))
	}
	for _, f := range detail {
		hf := htmlFlowOf(f, res.Summary, true, v.links)
		hf.Filter = displayFilter(f, len(res.Capture.Files) == 1)
		hf.Ladder = template.HTML(ladderSVG(f, fmt.Sprintf("flow%d", f.ID)))
		p.Detail = append(p.Detail, hf)
		p.Figures++
	}
	return p, nil
}

// charts draws the per-host socket counts and the summary's histograms.
func (p *page) charts(res *analyze.Result) error {
	hosts, rest := busyHosts(res.Summary, maxHostCharts)
	if rest > 0 {
		p.HostsMore = thousands(rest)
	}
	for _, h := range hosts {
		svg, err := hostChart(h, res)
		if err != nil {
			return err
		}
		caption := strings.Join(peakItems(h, res.Summary), " · ")
		if l := limitsText([]analyze.HostLoad{h}); l != "" {
			caption += " · limits " + l
		}
		p.Hosts = append(p.Hosts, figure{Name: "host " + h.Host, Lead: h.Host, Caption: caption, SVG: template.HTML(svg)})
	}
	s := res.Summary
	if s == nil {
		return nil
	}
	add := func(h *analyze.Histogram, name, lead, xlabel, ylabel string, fill color.Color, mark float64, markLabel string) (*figure, error) {
		if h == nil || h.Count == 0 {
			return nil, nil
		}
		svg, err := histogramChart(h, xlabel, ylabel, fill, mark, markLabel)
		if err != nil {
			return nil, err
		}
		d := distribution{What: ylabel, H: h}
		f := d.figures()
		caption := fmt.Sprintf("%s · median %s · p99 %s · max %s", d.count(), f[2], f[3], f[4])
		return &figure{Name: name, Lead: lead, Caption: caption, SVG: template.HTML(svg)}, nil
	}
	for _, st := range sortedStates(s.CloseDurations) {
		f, err := add(s.CloseDurations[st], "phase "+st, st, "duration", "sides", phaseColor(st), 0, "")
		if err != nil {
			return err
		}
		if f != nil {
			p.Phases = append(p.Phases, *f)
		}
	}
	f, err := add(s.FinRetransmissions, "fin retransmissions", "FIN retransmissions", "retransmissions of a side's FIN", "sides",
		color.RGBA{0x2a, 0x9d, 0x8f, 0xff}, 0, "")
	if err != nil {
		return err
	}
	if f != nil {
		p.Phases = append(p.Phases, *f)
	}
	if p.Reuse, err = add(s.ReuseGaps, "reuse gaps", "TIME_WAIT reuse gaps", "gap", "flows",
		color.RGBA{0x2f, 0x6d, 0xb5, 0xff}, timeWaitLen, "TIME_WAIT length (60 s)"); err != nil {
		return err
	}
	p.Figures += len(p.Hosts) + len(p.Phases)
	if p.Reuse != nil {
		p.Figures++
	}
	return nil
}

// phaseColor is the colour of a close state's histogram: the colour of
// its line in the per-host charts.
func phaseColor(state string) color.Color {
	switch state {
	case "TIME_WAIT":
		return hostLines[0].Color
	case "CLOSE_WAIT":
		return hostLines[1].Color
	case "FIN_WAIT1", "FIN_WAIT2", "CLOSING", "LAST_ACK":
		return hostLines[2].Color
	}
	return color.Gray{0x70}
}

func htmlFlowOf(f *analyze.Flow, s *analyze.Summary, detailed bool, links map[int]*analyze.UntranslatedLink) htmlFlow {
	hf := htmlFlow{
		ID: fmt.Sprint(f.ID), Start: clock(f.Start), Kind: string(f.Close.Kind), Endpoints: endpoints(f),
		Facts: closeFacts(f, hashFrame),
	}
	if detailed {
		hf.Anchor = fmt.Sprintf("flow-%d", f.ID)
	}
	if f.NAT != nil {
		hf.NAT = natCopyOf(f.NAT)
	} else if p := untranslatedPartner(f, links); p != "" {
		hf.NAT = p
	}
	hf.Title = "Flow " + hf.ID
	if f.Incarnation > 1 {
		hf.Title += fmt.Sprintf(" (incarnation %d)", f.Incarnation)
	}
	hf.Facts = append(hf.Facts, fmt.Sprintf("frames #%d–#%d", f.FirstFrame, f.LastFrame),
		fmt.Sprintf("%s → %s UTC (%s)", clock(f.Start), clock(f.End), seconds(f.Start.Seconds(f.End))))
	for _, d := range byRank(f.Diagnoses) {
		hd := htmlDiagnosis{Mark: severityMark(d.Severity), Severity: string(d.Severity), Code: d.Code,
			Side: string(d.Side), Sysctl: d.Sysctl, Message: d.Message, Advice: d.Advice}
		if len(d.Frames) > 0 {
			hd.Frames = "frames " + frameList(d.Frames, hashFrame)
		}
		for _, b := range d.Bounds {
			hd.Bounds = append(hd.Bounds, boundText(s, b))
		}
		for _, c := range d.Checks {
			hd.Checks = append(hd.Checks, checkText(d, c))
		}
		hd.Confidence = confidenceText(d.Confidence, d.Doubts)
		hf.Diagnoses = append(hf.Diagnoses, hd)
	}
	hf.Notes = append(finFacts(f, hashFrame), extraFacts(f, s, links)...)
	for _, side := range []struct {
		name string
		s    *analyze.Side
	}{{"client", f.Sides.Client}, {"server", f.Sides.Server}} {
		hs := htmlSide{Name: side.name}
		for _, sp := range spans(side.s) {
			st := htmlState{Name: stateLabel(sp.Entry), Class: "st-" + strings.ToLower(sp.Entry.State.String())}
			st.Dur = sp.dur()
			hs.States = append(hs.States, st)
		}
		if len(hs.States) > 0 {
			hf.States = append(hf.States, hs)
		}
	}
	return hf
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en" data-rendered="pending" data-figures="{{.Figures}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{{.Title}}</title>
<style>
:root { --fg: #1d2327; --muted: #5f6b75; --line: #dde1e4; --bg: #fff; --soft: #f6f7f8;
  --error: #c0392b; --warning: #b86e00; --info: #2471a3; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 28px 0 6px; }
.facts { color: var(--muted); margin: 0; }
.facts span + span::before { content: " · "; }
.warning { border-left: 4px solid var(--warning); background: #fff6e8; padding: 6px 12px; margin: 8px 0; }
.headline { font-size: 20px; font-weight: 600; margin: 18px 0 8px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; }
td code, td.time { white-space: nowrap; }
td.endpoints { overflow-wrap: anywhere; }
td.wrap code { white-space: normal; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; font-size: 13px; }
.sev-error { color: var(--error); font-weight: 700; }
.sev-warning { color: var(--warning); }
.sev-info { color: var(--info); }
.muted { color: var(--muted); }
ul.plain { list-style: none; padding: 0; margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
figure.wide { flex: 1 1 100%; }
figure.small { flex: 0 1 340px; }
figure svg { display: block; width: 100%; height: auto; }
figure.wide svg:not(.ladder) { max-width: 1000px; }
figure svg:not(.ladder) text { font-family: "Liberation Sans", Arial, Helvetica, sans-serif !important; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
figcaption b { color: var(--fg); }
.states { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #f3f4f5; font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px; }
.state small { color: var(--muted); margin-left: 4px; }
.st-fin_wait1, .st-fin_wait2, .st-closing { background: #efe4f7; color: #5b2c83; }
.st-close_wait, .st-last_ack { background: #fdebd9; color: #8a4510; }
.st-time_wait { background: #dde9f7; color: #1f4f8a; }
.arrow-sep { color: var(--muted); }
.flow { border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 16px; margin: 18px 0; }
.flow h3 { margin-top: 12px; }
.diag { margin: 6px 0; }
figure svg.ladder { display: block; width: 720px; max-width: 100%; height: auto; margin: 10px auto 0; }
svg.ladder text { font: 12px ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; }
svg.ladder .lane-role { font: 600 14px system-ui, "Liberation Sans", Arial, sans-serif; fill: var(--fg); }
svg.ladder .lane-addr, svg.ladder .time, svg.ladder .legend { fill: var(--muted); font-size: 11px; }
svg.ladder .frame { font-weight: 700; fill: var(--fg); }
svg.ladder .gap { fill: var(--muted); font-style: italic; }
svg.ladder .arrow-label { paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
svg.ladder .lane { stroke: #9aa3ab; stroke-width: 2; }
svg.ladder .lane-tw { stroke: #2f6db5; stroke-width: 7; stroke-opacity: .55; }
svg.ladder .lane-closed { stroke: #b9c0c6; stroke-width: 2; stroke-dasharray: 3 4; }
svg.ladder .lane-gap { stroke: #c5cbd0; stroke-width: 2; stroke-dasharray: 1 5; }
svg.ladder g.arrow:hover line { stroke-width: 3; }
pre { background: var(--soft); padding: 10px 12px; border-radius: 6px; overflow-x: auto; }
</style>
</head>
<body>
<main>
<header>
<h1>{{.Title}}</h1>
<p class="facts">{{range .Facts}}<span>{{.}}</span>{{end}}</p>
{{range .Warnings}}<p class="warning">▲ {{.}}</p>
{{end}}</header>
<p class="headline" id="headline">{{.Headline}}</p>
{{if .Codes}}
<section id="diagnoses">
<h2>Diagnoses</h2>
<table>
<thead><tr><th></th><th>diagnosis</th><th class="num">flows</th><th>sysctl</th><th>for example</th></tr></thead>
<tbody>
{{range .Codes}}<tr><td class="sev-{{.Severity}}" title="{{.Severity}}">{{.Mark}}</td><td><code>{{.Code}}</code></td><td class="num">{{.Flows}}</td><td>{{if .Sysctl}}<code>{{.Sysctl}}</code>{{else}}<span class="muted">none</span>{{end}}</td><td>{{if .Example}}<a href="#flow-{{.Example}}">flow {{.Example}}</a>: {{.Message}}{{end}}</td></tr>
{{end}}</tbody>
</table>
</section>
{{end}}
{{if .Findings}}
<section id="findings">
<h2>Findings across flows</h2>
{{range .Findings}}<div class="diag"><span class="sev-{{.Severity}}">{{.Mark}}</span> <code>{{.Code}}</code> · {{.Host}}{{if .Sysctl}} · <code>{{.Sysctl}}</code>{{end}}<br>{{.Message}}{{if .Confidence}}<br><span class="muted">confidence</span> {{.Confidence}}{{end}}{{if .Advice}}<br><span class="muted">advice:</span> {{.Advice}}{{end}}</div>
{{end}}</section>
{{end}}
{{if .Knobs}}
<section id="sysctls">
<h2>Sysctls</h2>
<table>
<thead><tr><th>sysctl</th><th>seen</th><th class="num">flows</th><th>direction</th><th>confirm on the host</th></tr></thead>
<tbody>
{{range .Knobs}}<tr><td><code>{{.Sysctl}}</code></td><td><ul class="plain">{{range .Seen}}<li>{{.}}</li>{{end}}</ul></td><td class="num">{{.Flows}}</td><td>{{range .Advice}}<div>{{.}}</div>{{else}}<span class="muted">—</span>{{end}}</td><td class="wrap">{{if .Hosts}}<div class="muted">on {{.Hosts}}</div>{{end}}{{range .Checks}}<div><code>{{.}}</code></div>{{end}}{{if .Others}}<div class="muted">{{.Others}}</div>{{end}}</td></tr>
{{end}}</tbody>
</table>
</section>
{{end}}
{{if .Summary}}
<section id="summary">
<h2>Summary</h2>
<table>
{{range .Summary}}<tr><th>{{.Label}}</th><td>{{range $i, $e := .Items}}{{if $i}} · {{end}}<code>{{$e}}</code>{{end}}</td></tr>
{{end}}</table>
{{if .Ports}}<h3>Ephemeral ports in TIME_WAIT at once</h3>
<table>
{{range .Ports}}<tr><th class="mono">{{.Label}}</th><td>{{range .Items}}{{.}}{{end}}</td></tr>
{{end}}</table>
{{end}}{{if .CloseWaits}}<h3>CLOSE_WAIT held by the application that did not close()</h3>
<table>
{{range .CloseWaits}}<tr><th>{{.Label}}</th><td>{{range .Items}}{{.}}{{end}}</td></tr>
{{end}}</table>
{{end}}{{if .IdleCloses}}<h3>Idle connections closed, then written on</h3>
<table>
{{range .IdleCloses}}<tr><th>{{.Label}}</th><td>{{range .Items}}{{.}}{{end}}</td></tr>
{{end}}</table>
{{end}}{{if .Untranslated}}<h3>Segments a NAT let through untranslated</h3>
<table>
{{range .Untranslated}}<tr><th class="mono">{{.Label}}</th><td>{{range .Items}}{{.}}{{end}}</td></tr>
{{end}}</table>
{{end}}{{if .ConnectDelays}}<h3>Connections answered only at a retransmitted SYN</h3>
<table>
{{range .ConnectDelays}}<tr><th class="mono">{{.Label}}</th><td>{{range .Items}}{{.}}{{end}}</td></tr>
{{end}}</table>
{{end}}{{if .Dists}}<h3>Distributions</h3>
<table>
<thead><tr><th></th><th class="num">count</th><th class="num">min</th><th class="num">median</th><th class="num">p99</th><th class="num">max</th></tr></thead>
<tbody>
{{range .Dists}}<tr><th>{{.Label}}</th><td class="num">{{.Count}}</td><td class="num">{{.Min}}</td><td class="num">{{.Median}}</td><td class="num">{{.P99}}</td><td class="num">{{.Max}}</td></tr>
{{end}}</tbody>
</table>
{{end}}</section>
{{end}}
{{if .Hosts}}
<section id="hosts">
<h2>Sockets per host over the capture</h2>
<p class="muted">How many sockets each host held in TIME_WAIT, in CLOSE_WAIT and as orphans (FIN_WAIT1/2, CLOSING, LAST_ACK after close()) at each whole second; a TIME_WAIT counts for its 60 s even past the end of the capture.{{if .HostsMore}} {{.HostsMore}} more hosts with lower peaks are not drawn.{{end}}</p>
<div class="charts">
{{range .Hosts}}<figure class="wide" data-figure="{{.Name}}">{{.SVG}}<figcaption><b>{{.Lead}}</b> · {{.Caption}}</figcaption></figure>
{{end}}</div>
</section>
{{end}}
{{if or .Phases .Reuse}}
<section id="durations">
<h2>Durations</h2>
<p class="muted">How long sides stayed in each close state (log scale, one bin per doubling; durations under 1 µs count in the first bin; states still held at the end of the capture left out), how often a side retransmitted its FIN, and how soon 4-tuples were reused after TIME_WAIT.</p>
<div class="charts">
{{range .Phases}}<figure class="small" data-figure="{{.Name}}">{{.SVG}}<figcaption><b>{{.Lead}}</b> · {{.Caption}}</figcaption></figure>
{{end}}{{with .Reuse}}<figure class="small" data-figure="{{.Name}}">{{.SVG}}<figcaption><b>{{.Lead}}</b> · {{.Caption}}</figcaption></figure>
{{end}}</div>
</section>
{{end}}
{{if .Listed}}
<section id="flows">
<h2>{{.ListTitle}}</h2>
<table>
<thead><tr><th class="num">flow</th><th>start (UTC)</th><th>close</th><th>client → server</th><th>diagnoses</th></tr></thead>
<tbody>
{{range .Listed}}<tr><td class="num">{{if .Anchor}}<a href="#{{.Anchor}}">{{.ID}}</a>{{else}}{{.ID}}{{end}}</td><td class="mono time">{{.Start}}</td><td>{{.Kind}}</td><td class="mono endpoints">{{.Endpoints}}</td><td>{{range .Diagnoses}}<div><span class="sev-{{.Severity}}">{{.Mark}}</span> <code>{{.Code}}</code></div>{{end}}{{if .NAT}}<div>{{.NAT}}</div>{{end}}</td></tr>
{{end}}</tbody>
</table>
{{if .More}}<p class="muted">… and {{.More}} more.</p>{{end}}
</section>
{{end}}
{{range .Detail}}
<section class="flow" id="{{.Anchor}}">
<h3>{{.Title}} · <span class="mono">{{.Endpoints}}</span></h3>
<p class="facts">{{range .Facts}}<span>{{.}}</span>{{end}}</p>
{{range .Diagnoses}}<div class="diag"><span class="sev-{{.Severity}}">{{.Mark}}</span> <code>{{.Code}}</code>{{if .Side}} · {{.Side}}{{end}}{{if .Sysctl}} · <code>{{.Sysctl}}</code>{{end}}<br>{{.Message}}{{if .Frames}} <span class="muted">({{.Frames}})</span>{{end}}{{range .Bounds}}<br><span class="muted">bound:</span> {{.}}{{end}}{{range .Checks}}<br><span class="muted">checked:</span> {{.}}{{end}}{{if .Confidence}}<br><span class="muted">confidence</span> {{.Confidence}}{{end}}{{if .Advice}}<br><span class="muted">advice:</span> {{.Advice}}{{end}}</div>
{{end}}{{range .Notes}}<div class="muted">{{.}}</div>
{{end}}{{with .Filter}}<div class="muted">Wireshark: <code>{{.}}</code></div>
{{end}}<table>
{{range .States}}<tr><th>{{.Name}}</th><td><div class="states">{{range $i, $s := .States}}{{if $i}}<span class="arrow-sep">→</span>{{end}}<span class="state {{$s.Class}}">{{$s.Name}}{{if $s.Dur}}<small>{{$s.Dur}}</small>{{end}}</span>{{end}}</div></td></tr>
{{end}}</table>
<figure class="wide" data-figure="ladder {{.ID}}">{{.Ladder}}</figure>
</section>
{{end}}
{{if .Command}}<footer><h2>Produced by</h2><pre>{{.Command}}</pre></footer>{{end}}
</main>
<script>
(function () {
  var root = document.documentElement;
  function fail(msg) { root.setAttribute("data-rendered", "error: " + msg); }
  window.addEventListener("error", function (e) { fail(e.message); });
  try {
    var figures = document.querySelectorAll("[data-figure]");
    var want = Number(root.getAttribute("data-figures"));
    if (figures.length !== want) { return fail(figures.length + " figures, expected " + want); }
    for (var i = 0; i < figures.length; i++) {
      var svg = figures[i].querySelector("svg");
      var box = svg && svg.getBBox();
      if (!box || !(box.width > 0 && box.height > 0) || svg.getBoundingClientRect().width === 0) {
        return fail("figure " + figures[i].getAttribute("data-figure") + " did not draw");
      }
    }
    root.setAttribute("data-rendered", "ok");
  } catch (e) { fail(e.message); }
})();
</script>
</body>
</html>
`))
