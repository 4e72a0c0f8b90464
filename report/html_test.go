package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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
			"host 198.51.100.1", "host 198.51.100.2", "host 198.51.100.3", "host 198.51.100.5",
			"phase FIN_WAIT1", "phase FIN_WAIT2", "phase CLOSING", "phase CLOSE_WAIT", "phase LAST_ACK", "phase TIME_WAIT",
			"reuse gaps", "ladder 9", "ladder 3", "ladder 4", "ladder 8",
		}},
		{"one flow", incidentResult(), Options{FlowID: 5}, []string{
			"host 198.51.100.1", "host 198.51.100.2", "host 198.51.100.3", "host 198.51.100.5",
			"phase FIN_WAIT1", "phase FIN_WAIT2", "phase CLOSING", "phase CLOSE_WAIT", "phase LAST_ACK", "phase TIME_WAIT",
			"reuse gaps", "ladder 5",
		}},
		{"edge", edgeResult(), Options{}, []string{
			"host 2001:db8:85a3::8a2e:370:7334", "phase FIN_WAIT1", "ladder 1",
		}},
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
		})
	}
}

// TestHTMLCharts checks the per-host counts behind the charts against the
// story: the client host 198.51.100.1 holds TIME_WAIT for flows 1, 2, 4, 5
// and 6 at once (flow 6's ends when flow 7 reuses it); while flow 3 sits in
// FIN_WAIT2 and CLOSE_WAIT for 71 s, flow 2's close adds a second socket
// in each.
func TestHTMLCharts(t *testing.T) {
	loads := map[string]hostLoad{}
	for _, l := range hostLoads(incidentResult()) {
		loads[l.Host] = l
	}
	for _, tt := range []struct {
		host  string
		group int
		peak  int
		at    float64
	}{
		{"198.51.100.1", 0, 5, 6.441}, // TIME_WAIT: flow 6's client joins 1, 2, 4, 5
		{"198.51.100.1", 2, 2, 2.205}, // FIN_WAIT: flow 2's FIN while flow 3 waits
		{"198.51.100.2", 1, 2, 2.205}, // CLOSE_WAIT: flow 2's, while flow 3's lasts
		{"198.51.100.2", 0, 1, 5.300065},
		{"198.51.100.5", 2, 1, 8.0004},
	} {
		l, ok := loads[tt.host]
		if !ok {
			t.Errorf("no load for %s", tt.host)
			continue
		}
		if l.Peak[tt.group] != tt.peak || l.PeakAt[tt.group] < tt.at-1e-6 || l.PeakAt[tt.group] > tt.at+1e-6 {
			t.Errorf("%s %s: peak %d at %.6f, want %d at %.6f", tt.host, stateGroups[tt.group].Name,
				l.Peak[tt.group], l.PeakAt[tt.group], tt.peak, tt.at)
		}
	}
	if _, ok := loads["198.51.100.6"]; ok {
		t.Error("198.51.100.6 only ever reset: it should have no chart")
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
