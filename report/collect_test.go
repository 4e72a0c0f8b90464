package report

import (
	"cmp"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/teardown/teardown/analyze"
)

// The reference below is how the reports chose and counted flows when they
// held every flow: sort them all worst first, then walk them. A Collector
// takes flows one at a time in any order and keeps a bounded part of them;
// it must agree with the reference on every input.

func refByConcern(a, b *analyze.Flow) int {
	if c := cmp.Compare(b.WorstRank(), a.WorstRank()); c != 0 {
		return c
	}
	if aa, ba := Anomalous(a), Anomalous(b); aa != ba {
		if aa {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func refListed(res *analyze.Result, o Options) []*analyze.Flow {
	var fs []*analyze.Flow
	for _, f := range res.Flows {
		if o.Only == "all" || Anomalous(f) {
			fs = append(fs, f)
		}
	}
	slices.SortStableFunc(fs, refByConcern)
	return fs
}

func refDigest(res *analyze.Result) []codeDigest {
	flows := slices.Clone(res.Flows)
	slices.SortStableFunc(flows, refByConcern)
	var out []codeDigest
	index := map[string]int{}
	for _, f := range flows {
		seen := map[string]bool{}
		for _, d := range byRank(f.Diagnoses) {
			i, ok := index[d.Code]
			if !ok {
				i = len(out)
				index[d.Code] = i
				out = append(out, codeDigest{Code: d.Code, Severity: d.Severity, Example: f, Message: d.Message})
			}
			c := &out[i]
			if d.Severity.Rank() > c.Severity.Rank() {
				c.Severity = d.Severity
			}
			if d.Sysctl != "" && !slices.Contains(c.Sysctls, d.Sysctl) {
				c.Sysctls = append(c.Sysctls, d.Sysctl)
			}
			if !seen[d.Code] {
				seen[d.Code] = true
				c.Flows++
			}
			for _, b := range d.Bounds {
				if !slices.ContainsFunc(c.Bounds, func(x analyze.Bound) bool {
					return x.Host == b.Host && x.Sysctl == b.Sysctl && x.Of == b.Of && x.Assumes == b.Assumes
				}) {
					c.Bounds = append(c.Bounds, b)
				}
			}
			for _, k := range d.Checks {
				c.Checks = append(c.Checks, flowCheck{f.ID, d, k})
			}
		}
	}
	for i := range out {
		slices.SortStableFunc(out[i].Checks, func(a, b flowCheck) int {
			return cmp.Compare(boolRank(a.Check.Agrees), boolRank(b.Check.Agrees))
		})
	}
	if res.Summary != nil {
		for _, code := range sortedKeys(res.Summary.Diagnoses) {
			if _, ok := index[code]; !ok {
				out = append(out, codeDigest{Code: code, Flows: res.Summary.Diagnoses[code]})
			}
		}
	}
	slices.SortStableFunc(out, byDigestOrder)
	return out
}

func refKnobs(res *analyze.Result) []knobDigest {
	out := knobRows(refDigest(res), res.Summary)
	for i := range out {
		k := &out[i]
		flows := map[int]bool{}
		for _, f := range res.Flows {
			for _, d := range f.Diagnoses {
				if d.Sysctl != k.Sysctl || !slices.ContainsFunc(k.Codes, func(c codeDigest) bool { return c.Code == d.Code }) {
					continue
				}
				flows[f.ID] = true
				if h := knobHost(f, &d); h != "" && !slices.Contains(k.Hosts, h) {
					k.Hosts = append(k.Hosts, h)
				}
			}
		}
		k.Flows = len(flows)
		// The advice in the order of the row's codes.
		for _, c := range k.Codes {
			for _, f := range res.Flows {
				for _, d := range f.Diagnoses {
					if d.Sysctl == k.Sysctl && d.Code == c.Code && d.Advice != "" && !slices.Contains(k.Advice, d.Advice) {
						k.Advice = append(k.Advice, d.Advice)
					}
				}
			}
		}
	}
	return knobsDone(out)
}

// labAll analyses every real-kernel capture under ../testdata/lab in one
// run, comparing the diagnoses with settings when sys is not empty.
func labAll(t *testing.T, sys string) *analyze.Result {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "lab", "*.pcap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no lab captures: %v", err)
	}
	var o analyze.Options
	if sys != "" {
		if o.Sysctls, err = analyze.ParseSysctls(strings.NewReader(sys), "host.conf"); err != nil {
			t.Fatal(err)
		}
	}
	return analyseFiles(t, files, o)
}

// crowd is incidentResult's flows copied n times with new ids and start
// times: more listed flows than a Collector keeps, many of them equally
// severe. Each diagnosis compares with a setting, which a third of the
// copies (none of the first) contradict.
func crowd(n int) *analyze.Result {
	base := incidentResult()
	res := &analyze.Result{Schema: base.Schema, Capture: base.Capture, Summary: base.Summary}
	for i := range n {
		for _, f := range base.Flows {
			g := *f
			g.ID = len(res.Flows) + 1
			g.Start += analyze.Time(i % 7 * 1e6)
			g.Diagnoses = slices.Clone(f.Diagnoses)
			for j := range g.Diagnoses {
				d := &g.Diagnoses[j]
				d.Checks = []analyze.SettingCheck{{Host: "198.51.100.10", Sysctl: d.Sysctl, Value: strconv.Itoa(i), Agrees: i%3 != 1}}
			}
			res.Flows = append(res.Flows, &g)
		}
	}
	return res
}

type collectorCase struct {
	name string
	res  *analyze.Result
}

func collectorCases(t *testing.T) []collectorCase {
	return []collectorCase{
		{"incident", incidentResult()},
		{"edge", edgeResult()},
		{"empty", emptyResult()},
		{"crowd", crowd(40)},
		{"lab", labAll(t, "")},
		{"lab-sysctl", labAll(t, "net.ipv4.tcp_fin_timeout = 60\nnet.ipv4.tcp_orphan_retries = 0\nnet.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_max_syn_backlog = 4096\n")},
	}
}

var collectorOptions = []Options{{}, {Only: "all"}, {Verbose: true}, {Top: 2, Only: "all"}, {Top: 60}}

// shuffled gives res's flows to a new Collector in an order seed picks.
func shuffled(res *analyze.Result, o Options, seed uint64) *Collector {
	fs := slices.Clone(res.Flows)
	rand.New(rand.NewPCG(seed, 1)).Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	c := NewCollector(o)
	for _, f := range fs {
		c.Add(f)
	}
	return c
}

func TestCollectorAgreesWithReference(t *testing.T) {
	// The Collector keeps clones: equal flows, never the same memory.
	sameFlow := gocmp.Comparer(func(a, b *analyze.Flow) bool { return reflect.DeepEqual(a, b) })
	for _, tc := range collectorCases(t) {
		for _, o := range collectorOptions {
			c := shuffled(tc.res, o, 7)
			v := c.view(tc.res)
			ref := refListed(tc.res, o)
			keep := len(ref)
			if !o.Verbose {
				keep = min(keep, max(maxTextFlows, maxTableFlows, o.top()))
			}
			if len(c.kept) != keep {
				t.Errorf("%s %+v: kept %d flows, want %d", tc.name, o, len(c.kept), keep)
			}
			if diff := gocmp.Diff(ref[:keep], v.listed, sameFlow); diff != "" {
				t.Errorf("%s %+v: listed (-reference +collector):\n%s", tc.name, o, diff)
			}
			anomalies, idW, kindW, epW := 0, 0, 0, 0
			for _, f := range ref {
				if Anomalous(f) {
					anomalies++
				}
				idW = max(idW, len(strconv.Itoa(f.ID))+1)
				kindW = max(kindW, len(f.Close.Kind))
				epW = max(epW, len([]rune(endpoints(f))))
			}
			if got, want := [5]int{v.nListed, v.anomalies, v.idW, v.kindW, v.epW}, [5]int{len(ref), anomalies, idW, kindW, epW}; got != want {
				t.Errorf("%s %+v: listed, anomalies, widths %v, want %v", tc.name, o, got, want)
			}
			// The reports show a code's first check only.
			want := refDigest(tc.res)
			for i := range want {
				want[i].Checks = want[i].Checks[:min(1, len(want[i].Checks))]
			}
			if diff := gocmp.Diff(want, v.codes, sameFlow); diff != "" {
				t.Errorf("%s %+v: digest (-reference +collector):\n%s", tc.name, o, diff)
			}
			wantKnobs := refKnobs(tc.res)
			for i := range wantKnobs {
				for j := range wantKnobs[i].Codes {
					cs := &wantKnobs[i].Codes[j].Checks
					*cs = (*cs)[:min(1, len(*cs))]
				}
			}
			if diff := gocmp.Diff(wantKnobs, v.knobs, sameFlow); diff != "" {
				t.Errorf("%s %+v: knobs (-reference +collector):\n%s", tc.name, o, diff)
			}
		}
	}
}

// TestCollectorOrder: the reports are the same whatever order the flows
// arrive in.
func TestCollectorOrder(t *testing.T) {
	for _, tc := range collectorCases(t) {
		for _, o := range collectorOptions {
			o.Color, o.Width = "never", 100
			var first [3]string
			for seed := range uint64(4) {
				c := shuffled(tc.res, o, seed)
				var out [3]strings.Builder
				for i, write := range []func(io.Writer, *analyze.Result) error{c.Text, c.Markdown, c.HTML} {
					if err := write(&out[i], tc.res); err != nil {
						t.Fatal(err)
					}
				}
				for i, name := range []string{"text", "markdown", "html"} {
					if seed == 0 {
						first[i] = out[i].String()
					} else if out[i].String() != first[i] {
						t.Errorf("%s %+v: the %s report changes with the order of the flows", tc.name, o, name)
					}
				}
			}
		}
	}
}

// TestLargeCountsSeparated: the counts of listed flows are written with
// thousands separators like every other count of the reports.
func TestLargeCountsSeparated(t *testing.T) {
	res := crowd(300) // 4 anomalies each
	o := Options{Color: "never", Width: 100}
	var text, md, html strings.Builder
	c := collect(res, o)
	for _, w := range []struct {
		out   *strings.Builder
		write func(io.Writer, *analyze.Result) error
		want  []string
	}{
		{&text, c.Text, []string{"anomalies · 1,200 of", "… and 1,150 more flows"}},
		{&md, c.Markdown, []string{"### teardown: 1,200 of", "#### Flows with anomalies (1,200 of", "… and 1,180 more flows."}},
		{&html, c.HTML, []string{">1,200 of", "… and 1,180 more."}},
	} {
		if err := w.write(w.out, res); err != nil {
			t.Fatal(err)
		}
		for _, s := range w.want {
			if !strings.Contains(w.out.String(), s) {
				t.Errorf("no %q in the report", s)
			}
		}
	}
}

// scribble overwrites everything reachable from f, as building the next
// flow in its memory would (and more).
func scribble(f *analyze.Flow) {
	for _, s := range []*analyze.Side{f.Sides.Client, f.Sides.Server} {
		if s != nil {
			clear(s.Durations)
			for i := range s.States {
				s.States[i] = analyze.StateEntry{}
			}
			for i := range s.FinFrames {
				s.FinFrames[i] = 0
			}
			*s = analyze.Side{}
		}
	}
	for i := range f.Diagnoses {
		d := &f.Diagnoses[i]
		for j := range d.Bounds {
			if b := d.Bounds[j].Above; b != nil {
				*b = -1
			}
			if b := d.Bounds[j].Below; b != nil {
				*b = -1
			}
			d.Bounds[j] = analyze.Bound{}
		}
		for j := range d.Checks {
			d.Checks[j] = analyze.SettingCheck{}
		}
		for j := range d.Frames {
			d.Frames[j] = 0
		}
		*d = analyze.Diagnosis{}
	}
	for i := range f.Events {
		f.Events[i] = analyze.Event{}
	}
	if f.Close.Reset != nil {
		*f.Close.Reset = analyze.Reset{}
	}
	if f.Close.HalfClose != nil {
		*f.Close.HalfClose = analyze.HalfClose{}
	}
	if f.Reuse != nil {
		*f.Reuse = analyze.Reuse{}
	}
	*f = analyze.Flow{ID: -1}
}

// TestCollectorRecycled: a Collector given flows that are overwritten as
// soon as Add returns (analyze.Options.Recycle) writes the same reports.
func TestCollectorRecycled(t *testing.T) {
	for _, tc := range collectorCases(t) {
		for _, o := range append(collectorOptions, Options{FlowID: 3}, Options{FlowID: 3, Verbose: true}) {
			o.Color, o.Width = "never", 100
			want, got := collect(tc.res, o), NewCollector(o)
			for _, f := range tc.res.Flows {
				g := f.Clone()
				got.Add(g)
				scribble(g)
			}
			for i, write := range [][2]func(io.Writer, *analyze.Result) error{
				{want.Text, got.Text}, {want.Markdown, got.Markdown}, {want.HTML, got.HTML}} {
				var a, b strings.Builder
				errA, errB := write[0](&a, tc.res), write[1](&b, tc.res)
				if (errA == nil) != (errB == nil) || a.String() != b.String() {
					t.Errorf("%s %+v: report %d differs when the flows are recycled (errors %v, %v)", tc.name, o, i, errA, errB)
				}
			}
		}
	}
}
