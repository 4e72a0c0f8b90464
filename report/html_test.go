package report

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gonum.org/v1/plot/plotter"

	"github.com/teardown/teardown/analyze"
)

func renderHTML(t *testing.T, res *analyze.Result, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := HTML(&b, res, o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	figureAttr  = regexp.MustCompile(`data-figure="([^"]*)"`)
	figureCount = regexp.MustCompile(`data-figures="([0-9]+)"`)
	// Anything a browser would fetch: src and href values that are not
	// in-page anchors, CSS url() and @import other than data: and
	// in-document references.
	fetch = regexp.MustCompile(`(?i)(src|href)\s*=\s*"[^#"]|url\((?:["']?)[^#"')d]|@import`)
)

func TestHTMLStructure(t *testing.T) {
	for _, tt := range []struct {
		name    string
		res     *analyze.Result
		o       Options
		figures []string
	}{
		{"incident", incidentResult(), Options{Command: "teardown --format html incident.pcap"}, []string{
			"host 198.51.100.1", "host 198.51.100.2",
			"phase FIN_WAIT1", "phase FIN_WAIT2", "phase CLOSING", "phase TIME_WAIT", "phase CLOSE_WAIT", "phase LAST_ACK",
			"fin retransmissions", "reuse gaps", "ladder 9", "ladder 3", "ladder 4", "ladder 8",
		}},
		{"one flow", incidentResult(), Options{FlowID: 5}, []string{
			"host 198.51.100.1", "host 198.51.100.2",
			"phase FIN_WAIT1", "phase FIN_WAIT2", "phase CLOSING", "phase TIME_WAIT", "phase CLOSE_WAIT", "phase LAST_ACK",
			"fin retransmissions", "reuse gaps", "ladder 5",
		}},
		// No summary: the flows are drawn, not counted again.
		{"edge", edgeResult(), Options{}, []string{"ladder 1"}},
		{"empty", emptyResult(), Options{}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page := renderHTML(t, tt.res, tt.o)
			var got []string
			for _, m := range figureAttr.FindAllStringSubmatch(page, -1) {
				got = append(got, m[1])
			}
			if strings.Join(got, "\n") != strings.Join(tt.figures, "\n") {
				t.Errorf("figures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.figures, "\n"))
			}
			if m := figureCount.FindStringSubmatch(page); m == nil || m[1] != strconv.Itoa(len(tt.figures)) {
				t.Errorf("data-figures = %v, want %d", m, len(tt.figures))
			}
			if loc := fetch.FindStringIndex(page); loc != nil {
				t.Errorf("the page fetches something: %q", page[max(0, loc[0]-40):min(len(page), loc[1]+40)])
			}
			if strings.Contains(page, "\x1b") || strings.Contains(page, "<?xml") {
				t.Error("escape codes or an XML declaration in the page")
			}
			if got, want := strings.Count(page, "Wireshark: <code>"), strings.Count(strings.Join(tt.figures, " "), "ladder "); got != want {
				t.Errorf("%d display filters, want one for each of the %d flows drawn", got, want)
			}
		})
	}
}

// TestHTMLCharts checks the step lines drawn from the summary's series
// against the story: 198.51.100.1 holds flow 1's TIME_WAIT from 12:00:01,
// flow 2's from :03, flow 4's from :05, flow 5's from :06 and flow 6's at
// :07 only (flow 7 reuses it at 07.461); flow 1's ends at 12:01:01, the
// last, flow 5's, at 12:01:06; the line runs on at 0 to the end of the
// capture.
func TestHTMLCharts(t *testing.T) {
	res := incidentResult()
	var h analyze.HostLoad
	for _, x := range res.Summary.Hosts {
		if x.Host == "198.51.100.1" {
			h = x
		}
	}
	got := steps(h.Series.TimeWait, res.Capture.First, res.Capture.Last)
	want := plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}, {X: 3, Y: 2}, {X: 5, Y: 3}, {X: 6, Y: 4}, {X: 7, Y: 5}, {X: 8, Y: 4},
		{X: 61, Y: 3}, {X: 63, Y: 2}, {X: 65, Y: 1}, {X: 66, Y: 0}, {X: 72.8, Y: 0}}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("TIME_WAIT steps of 198.51.100.1 (-want +got):\n%s", diff)
	}
	if h.TimeWait.Count != 5 || clockSecond(h.TimeWait.At) != "12:00:07" {
		t.Errorf("TIME_WAIT peak %d at %s, want 5 at 12:00:07", h.TimeWait.Count, clockSecond(h.TimeWait.At))
	}
	// A series that ends before the capture does is carried to its end.
	got = steps(analyze.Series{{incident.time(2).Std().Unix(), 1}, {incident.time(4).Std().Unix(), -1}}, res.Capture.First, res.Capture.Last)
	want = plotter.XYs{{X: 0, Y: 0}, {X: 2, Y: 1}, {X: 4, Y: 0}, {X: 72.8, Y: 0}}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("steps carried to the end (-want +got):\n%s", diff)
	}
}

// TestHistogramBins checks the regrouping of the summary's buckets: eight
// per doubling in seconds become one bin per doubling (values under 1 µs
// in the first), counts one bar per integer.
func TestHistogramBins(t *testing.T) {
	h := histogram(analyze.UnitSeconds, 0, 0.5e-6, 1e-6, 1.9e-6, 2.1e-6, 1.5)
	bins := doublingBins(h)
	// 1.5 s is 1.5e6 µs: doubling 20 (2^20 µs ≈ 1.05 s).
	if len(bins) != 21 {
		t.Fatalf("%d bins, want 21 (doublings 0 to 20)", len(bins))
	}
	for k, want := range map[int]float64{0: 4, 1: 1, 20: 1} {
		if bins[k].Weight != want {
			t.Errorf("doubling %d: %g values, want %g", k, bins[k].Weight, want)
		}
	}
	if lo := math.Pow(10, bins[20].Min); math.Abs(lo-1.048576) > 1e-9 {
		t.Errorf("doubling 20 starts at %g s, want 1.048576", lo)
	}
	c := countBins(histogram(analyze.UnitCount, 0, 0, 3))
	if len(c) != 4 || c[0].Weight != 2 || c[3].Weight != 1 || c[1].Weight != 0 {
		t.Errorf("count bins %+v", c)
	}
}

// TestHTMLInChromium loads the page in headless Chromium, checks that its
// script saw every figure draw, and takes a screenshot. Set
// TEARDOWN_SCREENSHOT to a file name to keep the screenshot.
func TestHTMLInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium): the page is not checked in a browser")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	page := renderHTML(t, incidentResult(), Options{Command: "teardown --format html incident.pcap"})
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1200,2400"}
		cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	dom := string(run("--dump-dom", "file://"+file))
	m := regexp.MustCompile(`<html[^>]*data-rendered="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil || m[1] != "ok" {
		t.Fatalf("the page did not render: data-rendered = %v", m)
	}

	shot := filepath.Join(dir, "report.png")
	if keep := os.Getenv("TEARDOWN_SCREENSHOT"); keep != "" {
		shot, _ = filepath.Abs(keep)
	}
	run("--screenshot="+shot, "file://"+file)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// A page that drew something has many colours, not a blank canvas.
	colours := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colours) < 50 {
		t.Errorf("the screenshot has %d colours: the page looks blank", len(colours))
	}
}
