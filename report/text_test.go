package report

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/muesli/termenv"

	"github.com/teardown/teardown/analyze"
)

func render(t *testing.T, res *analyze.Result, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Text(&b, res, o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestText(t *testing.T) {
	t.Setenv("CLICOLOR_FORCE", "")
	for _, tt := range []struct {
		name string
		res  *analyze.Result
		o    Options
	}{
		{"default", incidentResult(), Options{}},
		{"verbose", incidentResult(), Options{Verbose: true, Color: "never"}},
		{"flow3", incidentResult(), Options{FlowID: 3}},
		{"all_width100", incidentResult(), Options{Only: "all", Width: 100}},
		{"color", incidentResult(), Options{Verbose: true, Color: "always"}},
		{"edge", edgeResult(), Options{Verbose: true}},
		{"empty", emptyResult(), Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, t.Name(), []byte(render(t, tt.res, tt.o)))
		})
	}
}

func TestTextColor(t *testing.T) {
	t.Setenv("CLICOLOR_FORCE", "")
	res := incidentResult()
	o := Options{Verbose: true}
	for _, tt := range []struct {
		name    string
		color   string
		tty     bool
		noColor string
		want    bool
	}{
		{"auto on a pipe", "auto", false, "", false},
		{"never", "never", true, "", false},
		{"always on a pipe", "always", false, "", true},
		{"always with NO_COLOR", "always", false, "1", true},
		{"auto on a terminal", "auto", true, "", true},
		{"auto on a terminal with NO_COLOR", "auto", true, "1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TERM", "xterm-256color")
			t.Setenv("NO_COLOR", tt.noColor)
			t.Setenv("CI", "")
			if tt.tty {
				termenvOptions = []termenv.OutputOption{termenv.WithTTY(true)}
				defer func() { termenvOptions = nil }()
			}
			o.Color = tt.color
			got := strings.Contains(render(t, res, o), "\x1b[")
			if got != tt.want {
				t.Errorf("escape codes: %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTextWidth checks that every line of the text report, ladders
// included, fits the width it is given.
func TestTextWidth(t *testing.T) {
	for _, res := range []*analyze.Result{incidentResult(), edgeResult()} {
		for _, w := range []int{80, 100, 120} {
			out := render(t, res, Options{Verbose: true, Only: "all", Width: w})
			for i, l := range strings.Split(out, "\n") {
				if n := utf8.RuneCountInString(l); n > w {
					t.Errorf("width %d: line %d is %d columns: %q", w, i+1, n, l)
				}
			}
		}
	}
}

func TestTextErrors(t *testing.T) {
	for _, o := range []Options{{Color: "sometimes"}, {Only: "some"}, {FlowID: 42}, {Top: -1}} {
		if err := Text(io.Discard, incidentResult(), o); err == nil {
			t.Errorf("Text with %+v: no error", o)
		}
	}
}

func TestAnomalous(t *testing.T) {
	want := map[int]bool{1: false, 2: false, 3: true, 4: true, 5: false, 6: false, 7: false, 8: true, 9: true}
	for _, f := range incidentResult().Flows {
		if got := Anomalous(f); got != want[f.ID] {
			t.Errorf("flow %d (%s, %d diagnoses): Anomalous = %v, want %v", f.ID, f.Close.Kind, len(f.Diagnoses), got, want[f.ID])
		}
	}
	// A reset or a half-close left at the end is an anomaly without any
	// diagnosis; an info diagnosis alone is not.
	for _, tt := range []struct {
		f    analyze.Flow
		want bool
	}{
		{analyze.Flow{Close: analyze.Close{Kind: analyze.ResetKind}}, true},
		{analyze.Flow{Close: analyze.Close{Kind: analyze.HalfClosedAtEnd}}, true},
		{analyze.Flow{Close: analyze.Close{Kind: analyze.Rejected}}, false},
		{analyze.Flow{Close: analyze.Close{Kind: analyze.FourWay}, Diagnoses: []analyze.Diagnosis{{Severity: analyze.Info}}}, false},
		{analyze.Flow{Close: analyze.Close{Kind: analyze.FourWay}, Diagnoses: []analyze.Diagnosis{{Severity: analyze.Info}, {Severity: analyze.Error}}}, true},
		// A half-open probe's reset is no anomaly, unless something else is.
		{analyze.Flow{Close: analyze.Close{Kind: analyze.ResetKind}, Diagnoses: []analyze.Diagnosis{{Code: analyze.CodeSynProbe, Severity: analyze.Info}}}, false},
		{analyze.Flow{Close: analyze.Close{Kind: analyze.ResetKind}, Diagnoses: []analyze.Diagnosis{{Code: analyze.CodeSynProbe, Severity: analyze.Info}, {Severity: analyze.Warning}}}, true},
	} {
		if got := Anomalous(&tt.f); got != tt.want {
			t.Errorf("Anomalous(%s with %v) = %v", tt.f.Close.Kind, tt.f.Diagnoses, got)
		}
	}
}

func TestTextOrder(t *testing.T) {
	// Worst first: the error (flow 9), then the warnings by start time.
	var ids []int
	res := incidentResult()
	for _, f := range collect(res, Options{}).view(res).listed {
		ids = append(ids, f.ID)
	}
	if diff := cmp.Diff([]int{9, 3, 4, 8}, ids); diff != "" {
		t.Errorf("listed flows (-want +got):\n%s", diff)
	}
	out := render(t, incidentResult(), Options{})
	last := -1
	for _, id := range ids {
		i := strings.Index(out, "\n  #"+strconv.Itoa(id)+" ")
		if i < 0 || i < last {
			t.Errorf("flow %d is missing from the table or out of order", id)
		}
		last = i
	}
}

// TestNATFact: a NAT copy's detail names the other flow, the lag and
// whose address was rewritten.
func TestNATFact(t *testing.T) {
	for _, c := range []struct {
		v    analyze.NATView
		want string
	}{
		{analyze.NATView{Of: 3, Lag: 21e-6, Rewritten: analyze.NATServer}, "nat: the same connection as flow 3, captured 21µs later with the server's address or port rewritten (destination NAT)"},
		{analyze.NATView{Of: 8, Lag: -0.0203, Rewritten: analyze.NATClient}, "nat: the same connection as flow 8, captured 20.3ms earlier with the client's address or port rewritten (source NAT)"},
		{analyze.NATView{Of: 1, Lag: 0, Rewritten: analyze.NATBoth}, "nat: the same connection as flow 1, captured 0s later with both sides' addresses or ports rewritten (source and destination NAT)"},
		{analyze.NATView{Of: 2, Lag: 0.00012, OneSide: analyze.Server}, "nat: the server's segments of flow 2's connection, from 120µs after its SYN, translated halfway: " +
			"a bridge in the host that translates, whose br_netfilter calls iptables for bridged packets (net.bridge.bridge-nf-call-iptables = 1), records them between the bridge and the NAT; flow 2 tells the story"},
	} {
		f := &analyze.Flow{NAT: &c.v}
		if got := extraFacts(f, nil, nil); len(got) != 1 || got[0] != c.want {
			t.Errorf("%+v: %q, want %q", c.v, got, c.want)
		}
		if got := natCopyOf(&c.v); c.v.OneSide != "" && got != "the server's segments of flow 2's connection, translated halfway" {
			t.Errorf("%+v: list line %q", c.v, got)
		}
	}
}

func TestFacts(t *testing.T) {
	f := &analyze.Flow{Sides: analyze.Sides{
		Client: &analyze.Side{FinInferred: true, ZeroWindowFinHeld: 1},
		Server: &analyze.Side{FinFrames: []uint64{9, 10}, FinRetransmissions: 1, FinTLP: true, FinDSACK: 11, IgnoredRSTs: 2},
	}}
	want := []string{
		"client FIN not in the capture; the server's ACK proves it was sent",
		"client FIN held back by the server's zero window (1 time)",
		"server FIN #9 #10 (1 retransmission, the first a tail-loss probe)",
		"client's D-SACK #11 reports the server FIN received twice: a copy before the latest had arrived",
		"server sent 2 RSTs the client could not accept (outside its window)",
	}
	if diff := cmp.Diff(want, finFacts(f, hashFrame)); diff != "" {
		t.Errorf("finFacts (-want +got):\n%s", diff)
	}
	res := &analyze.Result{Capture: analyze.Capture{Truncated: true, Warnings: []string{"x.pcap: frame 3: bad"}},
		Summary: &analyze.Summary{Evicted: 1, Duplicates: 12, NATCopies: 2, UnmatchedICMP: &analyze.UnmatchedICMP{Count: 3, First: []analyze.StrayICMP{
			{Frame: 12, From: "198.51.100.1", Name: "port-unreachable", Src: "198.51.100.10:41000", Dst: "198.51.100.90:443", Flags: "S"},
		}}}}
	want = []string{
		"capture truncated: the last record is cut short; everything before it was analysed",
		"x.pcap: frame 3: bad",
		"1 flow was evicted early by the flow cap (--max-flows): their stories may be incomplete",
		"12 packets were captured twice, the same segment or ICMP error again within a millisecond (tcpdump -i any on a host that forwards or bridges them, once per interface) or the same segment with the same TSval up to a second later (captures of both ends merged): each was read once",
		"3 ICMP errors quote TCP segments (the first: #12, port-unreachable from 198.51.100.1 about 198.51.100.10:41000 → 198.51.100.90:443 [S]) of no connection the analysis held; the capture has none on those 4-tuples, or they had ended minutes before: the capture was taken on another path or behind a filter, or the errors answer segments others sent in these addresses' names",
		"2 flows hold a connection another flow holds too, captured on both sides of an address translation (NAT: kube-proxy, Docker's published ports, a NAT gateway, tcpdump -i any on the host that translates) with other addresses and the same sequence numbers: each names the flow built before it (nat.of); the per-host counts take its sides only where it shows an untranslated address, every other count both",
	}
	if diff := cmp.Diff(want, captureWarnings(res)); diff != "" {
		t.Errorf("captureWarnings (-want +got):\n%s", diff)
	}
}

func TestTextTableCap(t *testing.T) {
	res := incidentResult()
	reset := *res.Flows[8] // flow 9, reset by the server
	res.Flows = nil
	for i := range maxTextFlows + 10 {
		f := reset
		f.ID = i + 1
		res.Flows = append(res.Flows, &f)
	}
	res.Summary = nil
	out := render(t, res, Options{})
	if n := strings.Count(out, "✖ rst-unread-data · server"); n != maxTextFlows {
		t.Errorf("%d rows, want %d", n, maxTextFlows)
	}
	if !strings.Contains(out, "… and 10 more flows;") {
		t.Errorf("no line counting the flows left out:\n%s", out[max(0, len(out)-300):])
	}
	if n := strings.Count(render(t, res, Options{Verbose: true}), "✖ rst-unread-data · server"); n != 2*(maxTextFlows+10) {
		t.Errorf("verbose: %d diagnosis lines, want a table row and a detail for each of %d flows", n, maxTextFlows+10)
	}
}

// TestTextFindingsBounded: the terminal report shows findings worst
// first, those of one code, severity and sysctl on several hosts as one
// entry that names the other hosts, the first maxFindings entries, then
// how many findings more; -v shows each; Markdown lists every one.
func TestTextFindingsBounded(t *testing.T) {
	res := incidentResult()
	s := *res.Summary
	s.Findings = nil
	for i := range 9 {
		sev, hosts := analyze.Warning, 2
		if i == 8 {
			sev, hosts = analyze.Error, 1 // listed first, though last in the summary
		}
		for h := range hosts {
			s.Findings = append(s.Findings, analyze.Finding{Code: "rst-linger-zero", Severity: sev,
				Host: fmt.Sprintf("198.51.100.%d", 10+2*i+h), Sysctl: fmt.Sprintf("knob.%d", i), Message: fmt.Sprintf("burst %d on %d", i, h)})
		}
	}
	res.Summary = &s
	out := render(t, res, Options{Width: 100})
	if n := strings.Count(out, "rst-linger-zero · "); n != maxFindings {
		t.Errorf("%d findings shown, want %d entries:\n%s", n, maxFindings, out)
	}
	for _, want := range []string{
		"✖ rst-linger-zero · 198.51.100.26", "▲ rst-linger-zero · 2 hosts", "burst 0 on 0", "likewise on 198.51.100.11",
		"burst 4 on 0", "likewise on 198.51.100.19", "and 6 more findings; --format markdown lists them all",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "burst 0 on 1") || strings.Contains(out, "burst 5 on 0") {
		t.Errorf("a grouped or a later finding shown whole:\n%s", out)
	}
	if n := strings.Count(render(t, res, Options{Width: 100, Verbose: true}), "rst-linger-zero · 198.51.100."); n != 17 {
		t.Errorf("-v: %d findings shown, want all 17", n)
	}
	md := renderMarkdown(t, res, Options{})
	for i := range 8 {
		for h := range 2 {
			if !strings.Contains(md, fmt.Sprintf("burst %d on %d", i, h)) {
				t.Errorf("Markdown leaves out finding %d on %d", i, h)
			}
		}
	}
}
