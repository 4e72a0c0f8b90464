package report

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/teardown/teardown/analyze"
)

// A Collector takes the flows of a capture one at a time, in any order,
// and keeps only what the text, Markdown and HTML reports show of them:
// the worst listed flows (every listed flow with Options.Verbose), the
// flow Options.FlowID names, and per diagnosis code and per sysctl the
// counts, examples and first appearances the summary tables need. Given
// to [analyze.Options.Emit] (Recycle allowed: it keeps clones) it lets
// those reports stream: memory follows the flows open at once, not the
// capture.
//
// Its reports are those [Text], [Markdown] and [HTML] write for a result
// holding the same flows, byte for byte.
type Collector struct {
	opt   Options
	total int // flows added

	keep   int      // listed flows kept (worst first); < 0: all
	kept   flowHeap // the least concerning on top while bounded
	listed int      // flows listed
	anom   int      // of them anomalous
	// Widths of the text table's columns over every listed flow.
	idW, kindW, epW int

	flow *analyze.Flow // Options.FlowID's

	codes map[string]*codeAcc
	uses  map[use]*useAcc
	// combos counts flows per sysctl and per set of codes diagnosed with
	// it in a flow (codes sorted, joined by NUL).
	combos map[string]map[string]int
	// links are the untranslated links (Flow.Untranslated) seen, by the
	// ids of both their flows: the flow that does not carry its link
	// is told of it too. At most maxLinks of them.
	links map[int]*analyze.UntranslatedLink
}

// maxLinks bounds the untranslated links a Collector keeps.
const maxLinks = 4096

// NewCollector returns a Collector for reports with opt.
func NewCollector(opt Options) *Collector {
	keep := max(maxTextFlows, maxTableFlows, opt.top())
	if opt.Verbose {
		keep = -1
	}
	return &Collector{opt: opt, keep: keep, codes: map[string]*codeAcc{},
		uses: map[use]*useAcc{}, combos: map[string]map[string]int{}}
}

// collect gives every flow of res to a new Collector.
func collect(res *analyze.Result, opt Options) *Collector {
	c := NewCollector(opt)
	for _, f := range res.Flows {
		c.Add(f)
	}
	return c
}

// Add takes one flow. It keeps nothing of f itself (what it keeps of it
// is cloned), so f may be reused once Add returns. The error is always
// nil (Add is an [analyze.Options.Emit]).
func (c *Collector) Add(f *analyze.Flow) error {
	c.total++
	var own *analyze.Flow
	keep := func() *analyze.Flow { // f's clone, made once at most
		if own == nil {
			own = f.Clone()
		}
		return own
	}
	if c.opt.FlowID != 0 && f.ID == c.opt.FlowID {
		c.flow = keep()
	}
	if l := f.Untranslated; l != nil && len(c.links) < maxLinks {
		if c.links == nil {
			c.links = map[int]*analyze.UntranslatedLink{}
		}
		own := *l
		c.links[l.Connection], c.links[l.Segments] = &own, &own
	}
	k := concernOf(f)
	if c.opt.Lists(f) {
		c.list(f, k, keep)
	}
	if len(f.Diagnoses) > 0 {
		c.diagnosed(f, k, keep)
	}
	return nil
}

// concern is a flow's place in byConcern order.
type concern struct {
	worst     int
	anomalous bool
	start     analyze.Time
	id        int
}

func concernOf(f *analyze.Flow) concern {
	return concern{f.WorstRank(), Anomalous(f), f.Start, f.ID}
}

func (a concern) cmp(b concern) int {
	if c := cmp.Compare(b.worst, a.worst); c != 0 {
		return c
	}
	if a.anomalous != b.anomalous {
		if a.anomalous {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

type rankedFlow struct {
	k concern
	f *analyze.Flow
}

// flowHeap holds the worst flows seen, the least concerning of them on
// top, to be replaced by a worse one.
type flowHeap []rankedFlow

func (h flowHeap) Len() int           { return len(h) }
func (h flowHeap) Less(i, j int) bool { return h[i].k.cmp(h[j].k) > 0 }
func (h flowHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *flowHeap) Push(x any)        { *h = append(*h, x.(rankedFlow)) }
func (h *flowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (c *Collector) list(f *analyze.Flow, k concern, keep func() *analyze.Flow) {
	c.listed++
	if k.anomalous {
		c.anom++
	}
	c.idW = max(c.idW, len(strconv.Itoa(f.ID))+1)
	c.kindW = max(c.kindW, len(f.Close.Kind))
	c.epW = max(c.epW, lipgloss.Width(endpoints(f)))
	switch {
	case c.keep < 0 || len(c.kept) < c.keep:
		heap.Push(&c.kept, rankedFlow{k, keep()})
	case c.keep > 0 && k.cmp(c.kept[0].k) < 0:
		c.kept[0] = rankedFlow{k, keep()}
		heap.Fix(&c.kept, 0)
	}
}

// place orders first appearances: by flow (in byConcern order, or by id
// alone with the rest of the concern zero), then by diagnosis, then by
// item of the diagnosis.
type place struct {
	k          concern
	diag, item int
}

func (a place) cmp(b place) int {
	if c := a.k.cmp(b.k); c != 0 {
		return c
	}
	if c := cmp.Compare(a.diag, b.diag); c != 0 {
		return c
	}
	return cmp.Compare(a.item, b.item)
}

// codeAcc gathers one diagnosis code; digest's loop over flows in
// byConcern order, diagnoses in byRank order, gives the same result.
type codeAcc struct {
	d       codeDigest // Code, Severity, Flows, Example, Message
	example place
	sysctls map[string]place
	bounds  map[boundKey]placedBound
	check   *flowCheck
	checkAt place
	agrees  bool
}

type boundKey struct{ host, sysctl, of, assumes string }

type placedBound struct {
	at place
	b  analyze.Bound
}

// use is a sysctl (or "") and a code diagnosed with it.
type use struct{ sysctl, code string }

// useAcc gathers a use's first appearances in flow id order, diagnoses
// in the flow's order: what knobs reads from every flow.
type useAcc struct {
	advice map[string]place
	hosts  map[string]place
}

func (c *Collector) diagnosed(f *analyze.Flow, k concern, keep func() *analyze.Flow) {
	var codes []string // distinct, this flow
	for i, d := range byRank(f.Diagnoses) {
		at := place{k, i, 0}
		a := c.codes[d.Code]
		if a == nil {
			a = &codeAcc{d: codeDigest{Code: d.Code, Severity: d.Severity, Example: keep(), Message: d.Message},
				example: at, sysctls: map[string]place{}, bounds: map[boundKey]placedBound{}}
			c.codes[d.Code] = a
		} else if at.cmp(a.example) < 0 {
			a.d.Example, a.d.Message, a.example = keep(), d.Message, at
		}
		if d.Severity.Rank() > a.d.Severity.Rank() {
			a.d.Severity = d.Severity
		}
		if !slices.Contains(codes, d.Code) {
			codes = append(codes, d.Code)
			a.d.Flows++
		}
		if d.Sysctl != "" {
			earliest(a.sysctls, d.Sysctl, at)
		}
		for j, b := range d.Bounds {
			bk := boundKey{b.Host, b.Sysctl, b.Of, b.Assumes}
			bat := place{k, i, j}
			if p, ok := a.bounds[bk]; !ok || bat.cmp(p.at) < 0 {
				a.bounds[bk] = placedBound{bat, b.Clone()}
			}
		}
		for j, ch := range d.Checks {
			cat := place{k, i, j}
			// Disagreements first, then in order of appearance.
			if a.check == nil || boolRank(ch.Agrees) < boolRank(a.agrees) ||
				(ch.Agrees == a.agrees && cat.cmp(a.checkAt) < 0) {
				a.check = &flowCheck{f.ID, d.Clone(), ch}
				a.checkAt, a.agrees = cat, ch.Agrees
			}
		}
	}

	bySysctl := map[string][]string{}
	for i, d := range f.Diagnoses {
		if !slices.Contains(bySysctl[d.Sysctl], d.Code) {
			bySysctl[d.Sysctl] = append(bySysctl[d.Sysctl], d.Code)
		}
		u := c.uses[use{d.Sysctl, d.Code}]
		if u == nil {
			u = &useAcc{advice: map[string]place{}, hosts: map[string]place{}}
			c.uses[use{d.Sysctl, d.Code}] = u
		}
		at := place{concern{id: f.ID}, i, 0}
		if d.Advice != "" {
			earliest(u.advice, d.Advice, at)
		}
		if h := knobHost(f, &d); h != "" {
			earliest(u.hosts, h, at)
		}
	}
	for s, codes := range bySysctl {
		slices.Sort(codes)
		m := c.combos[s]
		if m == nil {
			m = map[string]int{}
			c.combos[s] = m
		}
		m[strings.Join(codes, "\x00")]++
	}
}

// earliest records at as k's place in m unless an earlier one is there.
func earliest[K comparable](m map[K]place, k K, at place) {
	if p, ok := m[k]; !ok || at.cmp(p) < 0 {
		m[k] = at
	}
}

// inOrder lists m's keys by their places.
func inOrder[K comparable](m map[K]place) []K {
	var keys []K
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return m[a].cmp(m[b]) })
	return keys
}

// view is what a report shows of a result's flows, gathered by a
// Collector.
type view struct {
	res   *analyze.Result
	total int // flows
	// listed are the listed flows worst first: all of them, or the
	// first kept; nListed counts them all, anomalies those anomalous.
	listed             []*analyze.Flow
	nListed, anomalies int
	idW, kindW, epW    int
	codes              []codeDigest
	knobs              []knobDigest
	flow               *analyze.Flow // Options.FlowID's, if seen
	links              map[int]*analyze.UntranslatedLink
}

// view completes what c gathered with res's summary.
func (c *Collector) view(res *analyze.Result) *view {
	v := &view{res: res, total: c.total, nListed: c.listed, anomalies: c.anom,
		idW: c.idW, kindW: c.kindW, epW: c.epW, flow: c.flow, links: c.links}
	kept := slices.Clone(c.kept)
	slices.SortFunc(kept, func(a, b rankedFlow) int { return a.k.cmp(b.k) })
	for _, r := range kept {
		v.listed = append(v.listed, r.f)
	}
	v.codes = c.digest(res.Summary)
	v.knobs = c.knobs(v.codes, res.Summary)
	return v
}

// digest gathers the diagnoses of all flows by code, most severe first,
// then most flows, then code. Codes counted in the summary but carried
// by no flow are added with the summary's count.
func (c *Collector) digest(s *analyze.Summary) []codeDigest {
	var out []codeDigest
	for _, a := range c.codes {
		d := a.d
		d.Sysctls = inOrder(a.sysctls)
		bounds := make([]placedBound, 0, len(a.bounds))
		for _, b := range a.bounds {
			bounds = append(bounds, b)
		}
		slices.SortFunc(bounds, func(x, y placedBound) int { return x.at.cmp(y.at) })
		for _, b := range bounds {
			d.Bounds = append(d.Bounds, b.b)
		}
		if a.check != nil {
			d.Checks = []flowCheck{*a.check}
		}
		out = append(out, d)
	}
	if s != nil {
		for _, code := range sortedKeys(s.Diagnoses) {
			if _, ok := c.codes[code]; !ok {
				out = append(out, codeDigest{Code: code, Flows: s.Diagnoses[code]})
			}
		}
	}
	slices.SortFunc(out, byDigestOrder)
	return out
}

// byDigestOrder orders codes most severe first, then by most flows, then
// by code.
func byDigestOrder(a, b codeDigest) int {
	if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Flows, a.Flows); c != 0 {
		return c
	}
	return cmp.Compare(a.Code, b.Code)
}

// knobs groups diagnoses by the knob that governs them (knobRows), with
// the flows, advice and hosts each row's diagnoses name.
func (c *Collector) knobs(codes []codeDigest, s *analyze.Summary) []knobDigest {
	out := knobRows(codes, s)
	for i := range out {
		k := &out[i]
		// The advice follows the row's codes (worst first), so that it
		// lines up with what the row says was seen.
		hosts := map[string]place{}
		k.Advice = nil
		for _, cd := range k.Codes {
			u := c.uses[use{k.Sysctl, cd.Code}]
			if u == nil {
				continue
			}
			for _, a := range inOrder(u.advice) {
				if !slices.Contains(k.Advice, a) {
					k.Advice = append(k.Advice, a)
				}
			}
			for h, at := range u.hosts {
				earliest(hosts, h, at)
			}
		}
		k.Hosts, k.Others = linuxHosts(inOrder(hosts), s)
		for combo, n := range c.combos[k.Sysctl] {
			if slices.ContainsFunc(k.Codes, func(cd codeDigest) bool {
				return slices.Contains(strings.Split(combo, "\x00"), cd.Code)
			}) {
				k.Flows += n
			}
		}
	}
	return knobsDone(out)
}

// linuxHosts splits hosts into those the commands of a Linux host can be
// run on and those the summary found not Linux (Summary.NotLinux).
func linuxHosts(hosts []string, s *analyze.Summary) (linux, others []string) {
	if s == nil || len(s.NotLinux) == 0 {
		return hosts, nil
	}
	for _, h := range hosts {
		if slices.ContainsFunc(s.NotLinux, func(n analyze.HostStack) bool { return n.Host == h }) {
			others = append(others, h)
		} else {
			linux = append(linux, h)
		}
	}
	return linux, others
}

// knobRows are the rows of the sysctl table: the knobs governing the
// codes, in the order of the worst code of each, with diagnoses no knob
// governs last. Those are listed only when they are warnings or errors
// (an application's bug, not a capture caveat). The summary's findings
// join the row of the knob they name, or add one after the diagnoses'
// knobs; those of a device on the path that name none share a row of
// their own.
func knobRows(codes []codeDigest, s *analyze.Summary) []knobDigest {
	var out []knobDigest
	index := map[string]int{}
	for _, cd := range codes {
		for _, k := range knobsOf(cd) {
			if k == "" && cd.Severity.Rank() < analyze.Warning.Rank() {
				continue
			}
			// A device's diagnosis that names no knob is not the
			// application's either, nor is one its rule says the host
			// governs.
			key, path, governs := noKnobKey(k, cd.Code)
			i, ok := index[key]
			if !ok {
				i = len(out)
				index[key] = i
				out = append(out, knobDigest{Sysctl: k, Example: cd.Example, Path: path, Governs: governs})
			}
			out[i].Codes = append(out[i].Codes, cd)
		}
	}
	for _, f := range findings(s) {
		// A device's finding that names no knob is not the
		// application's: it gets a row of its own.
		key, path, governs := noKnobKey(f.Sysctl, f.Code)
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, knobDigest{Sysctl: f.Sysctl, Path: path, Governs: governs})
		}
		out[i].Findings = append(out[i].Findings, f)
	}
	return out
}

// noKnobKey is the sysctl table's row key of code when it names knob:
// the knob itself; with none, a row for a device's policy on the path
// (path), one for what the rule book says governs the code instead
// (governs), or the application's.
func noKnobKey(knob, code string) (key string, path bool, governs string) {
	switch {
	case knob != "":
		return knob, false, ""
	case onPath(code):
		return "\x00path", true, ""
	case rules[code].Governs != "":
		return "\x00" + rules[code].Governs, false, rules[code].Governs
	}
	return "", false, ""
}

// knobsDone adds the findings' advice and hosts to the rows' own, bounds
// the hosts, and puts the application's row last.
func knobsDone(out []knobDigest) []knobDigest {
	for i := range out {
		k := &out[i]
		for _, f := range k.Findings {
			if f.Advice != "" && !slices.Contains(k.Advice, f.Advice) {
				k.Advice = append(k.Advice, f.Advice)
			}
			if f.Host != "" && !onPath(f.Code) && !slices.Contains(k.Hosts, f.Host) {
				k.Hosts = append(k.Hosts, f.Host)
			}
		}
		if n := len(k.Hosts); n > maxHosts {
			k.Hosts, k.More = k.Hosts[:maxHosts], n-maxHosts
		}
	}
	slices.SortStableFunc(out, func(a, b knobDigest) int {
		return cmp.Compare(boolRank(a.Sysctl == "" && !a.Path && a.Governs == ""), boolRank(b.Sysctl == "" && !b.Path && b.Governs == ""))
	})
	return out
}

// flowCount is the number of flows: the summary's, or those added.
func (v *view) flowCount() int {
	if v.res.Summary != nil && v.res.Summary.Flows > 0 {
		return v.res.Summary.Flows
	}
	return v.total
}

// byID returns the flow Options.FlowID names.
func (v *view) byID(id int) (*analyze.Flow, error) {
	if v.flow == nil || v.flow.ID != id {
		return nil, fmt.Errorf("report: no flow with id %d in %d flows", id, v.total)
	}
	return v.flow, nil
}

// detailed returns the flows Markdown and HTML show in detail: the flow
// Options.FlowID names, or the first Options.Top listed flows.
func (v *view) detailed(o Options) ([]*analyze.Flow, error) {
	if o.FlowID != 0 {
		f, err := v.byID(o.FlowID)
		if err != nil {
			return nil, err
		}
		return []*analyze.Flow{f}, nil
	}
	return v.listed[:min(len(v.listed), o.top())], nil
}
