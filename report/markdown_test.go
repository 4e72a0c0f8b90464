package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/analyze"
)

func renderMarkdown(t *testing.T, res *analyze.Result, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Markdown(&b, res, o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestMarkdown(t *testing.T) {
	for _, tt := range []struct {
		name string
		res  *analyze.Result
		o    Options
	}{
		{"default", incidentResult(), Options{Command: "teardown --format markdown incident.pcap"}},
		{"flow5", incidentResult(), Options{FlowID: 5}},
		{"all_top2", incidentResult(), Options{Only: "all", Top: 2}},
		{"edge", edgeResult(), Options{}},
		{"empty", emptyResult(), Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, t.Name(), []byte(renderMarkdown(t, tt.res, tt.o)))
		})
	}
}

// outsideCode returns the lines of a Markdown document that are not inside
// fenced code blocks, with code spans removed.
func outsideCode(md string) []string {
	var out []string
	fenced := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, codeSpan.ReplaceAllString(l, "CODE"))
		}
	}
	return out
}

var codeSpan = regexp.MustCompile("`[^`]*`")

// cells counts the cells of a table row: the pipes that are not escaped,
// less one.
func cells(row string) int {
	n := 0
	for i := 0; i < len(row); i++ {
		if row[i] == '|' && (i == 0 || row[i-1] != '\\') {
			n++
		}
	}
	return n - 1
}

func TestMarkdownShape(t *testing.T) {
	for _, res := range []*analyze.Result{incidentResult(), edgeResult(), emptyResult()} {
		md := renderMarkdown(t, res, Options{Only: "all", Top: 100, Command: "teardown --format markdown x.pcap"})
		if strings.Contains(md, "\x1b") {
			t.Error("escape codes in Markdown")
		}
		// Tables keep their shape: every row has as many cells as its
		// header, whatever the messages hold ("|" in the edge story).
		header := 0
		for _, l := range strings.Split(md, "\n") {
			switch {
			case !strings.HasPrefix(l, "|"):
				header = 0
			case header == 0:
				header = cells(l)
			case cells(l) != header:
				t.Errorf("row with %d cells under a header of %d: %s", cells(l), header, l)
			}
		}
		for _, l := range outsideCode(md) {
			if issueRef.MatchString(l) {
				t.Errorf("an issue reference outside code: %s", l)
			}
		}
		if !strings.HasSuffix(md, "```sh\nteardown --format markdown x.pcap\n```\n") {
			t.Error("the command is not at the end")
		}
	}
}

var issueRef = regexp.MustCompile(`(^|[^\\])#[0-9]`)

func TestMarkdownTop(t *testing.T) {
	res := incidentResult()
	for _, tt := range []struct {
		o    Options
		want []string
	}{
		{Options{}, []string{"9", "3", "4", "8"}},
		{Options{Top: 2}, []string{"9", "3"}},
		{Options{Only: "all", Top: 6}, []string{"9", "3", "4", "8", "7", "1"}},
		{Options{FlowID: 6}, []string{"6"}},
	} {
		md := renderMarkdown(t, res, tt.o)
		var got []string
		for _, m := range flowHeading.FindAllStringSubmatch(md, -1) {
			got = append(got, m[1])
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%+v: flows in detail (-want +got):\n%s", tt.o, diff)
		}
		if n := strings.Count(md, "```mermaid\nsequenceDiagram\n"); n != len(tt.want) {
			t.Errorf("%+v: %d Mermaid diagrams for %d flows", tt.o, n, len(tt.want))
		}
		if strings.Contains(md, "Produced by") {
			t.Errorf("%+v: a footer without a command", tt.o)
		}
	}
}

var flowHeading = regexp.MustCompile(`(?m)^#### Flow ([0-9]+)`)

func TestMdText(t *testing.T) {
	for in, want := range map[string]string{
		"tcp_fin_timeout":        "tcp_fin_timeout",
		"a _b_ c":                `a \_b\_ c`,
		"x | y":                  `x \| y`,
		"frame #3 <b>":           `frame \#3 \<b\>`,
		"*bold* `code` [l](u)":   "\\*bold\\* \\`code\\` \\[l\\](u)",
		"back\\slash":            `back\\slash`,
		"connection reset by p.": "connection reset by p.",
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKnobs(t *testing.T) {
	res := &analyze.Result{}
	for i := 1; i <= 5; i++ {
		res.Flows = append(res.Flows, &analyze.Flow{
			ID: i, Client: fmt.Sprintf("198.51.100.%d:4000%d", i, i), Server: "198.51.100.80:8080",
			Diagnoses: []analyze.Diagnosis{
				{Code: analyze.CodeFinWait2Timeout, Severity: analyze.Warning, Side: analyze.Client,
					Sysctl: "net.ipv4.tcp_fin_timeout", Message: "m", Advice: "leave it"},
				// A capture caveat names no knob and is not an
				// application's bug: it gets no row.
				{Code: analyze.CodeCaptureEndedMidClose, Severity: analyze.Info},
			},
		})
	}
	ks := collect(res, Options{}).view(res).knobs
	if len(ks) != 1 {
		t.Fatalf("%d knobs, want 1: %+v", len(ks), ks)
	}
	k := ks[0]
	if k.Sysctl != "net.ipv4.tcp_fin_timeout" || k.Flows != 5 || len(k.Advice) != 1 {
		t.Errorf("knob %s: %d flows, advice %q", k.Sysctl, k.Flows, k.Advice)
	}
	if got, want := k.hostsText(code), "`198.51.100.1`, `198.51.100.2`, `198.51.100.3` and 2 more"; got != want {
		t.Errorf("hosts %q, want %q", got, want)
	}
}
