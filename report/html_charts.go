package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"

	"github.com/teardown/teardown/analyze"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The HTML report's charts, drawn with gonum.org/v1/plot as inline SVG
// from what analyze.Summary holds: each host's socket counts over time
// (HostLoad.Series) and the summary's histograms.

// hostLine is a line of the per-host chart: one of a host's series.
type hostLine struct {
	Name  string
	Color color.Color
	Of    func(analyze.HostLoad) (analyze.Series, analyze.Peak)
}

var hostLines = []hostLine{
	{"TIME_WAIT", color.RGBA{0x2f, 0x6d, 0xb5, 0xff},
		func(h analyze.HostLoad) (analyze.Series, analyze.Peak) { return h.Series.TimeWait, h.TimeWait }},
	{"CLOSE_WAIT", color.RGBA{0xd9, 0x6c, 0x1e, 0xff},
		func(h analyze.HostLoad) (analyze.Series, analyze.Peak) { return h.Series.CloseWait, h.CloseWait }},
	{"orphans (FIN_WAIT1/2, CLOSING, LAST_ACK)", color.RGBA{0x7b, 0x3f, 0xa0, 0xff},
		func(h analyze.HostLoad) (analyze.Series, analyze.Peak) { return h.Series.Orphans, h.Orphans }},
}

// maxHostCharts bounds the per-host charts; the hosts with the highest
// peaks are drawn.
const maxHostCharts = 6

// steps turns a series (changes on whole seconds) into the points of a
// step line, x in seconds from first: the count from each change on, from
// 0 at first to the last change or end, whichever is later.
func steps(s analyze.Series, first, end analyze.Time) plotter.XYs {
	xy := plotter.XYs{{X: 0, Y: 0}}
	n := int64(0)
	for _, c := range s {
		n += c[1]
		x := first.Seconds(analyze.Time(c[0] * 1e9))
		if p := &xy[len(xy)-1]; p.X == x {
			p.Y = float64(n)
		} else {
			xy = append(xy, plotter.XY{X: x, Y: float64(n)})
		}
	}
	if x := first.Seconds(end); x > xy[len(xy)-1].X {
		xy = append(xy, plotter.XY{X: x, Y: float64(n)})
	}
	return xy
}

// newPlot makes a plot in the report's style: sans-serif text, a light
// grid, no title (the figure caption carries it).
func newPlot(xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	sans := func(s *draw.TextStyle) { s.Font.Variant = "Sans" }
	for _, s := range []*draw.TextStyle{
		&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle,
	} {
		sans(s)
	}
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.X.Label.TextStyle.Font.Size = vg.Points(9)
	p.Y.Label.TextStyle.Font.Size = vg.Points(9)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{0xe4}
	grid.Horizontal.Color = color.Gray{0xe4}
	p.Add(grid)
	return p
}

// svgOf draws p into an SVG of w×h points, without the XML declaration so
// it can sit inside HTML.
func svgOf(p *plot.Plot, w, h vg.Length) (string, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return s, nil
}

// integerTicks marks whole counts on a count axis.
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	step := math.Max(1, math.Ceil((max-min)/5))
	var ts []plot.Tick
	for v := math.Ceil(min); v <= max; v += step {
		// math.Ceil(-0.5) is -0, which would print as "-0".
		ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprint(v + 0)})
	}
	return ts
}

// hostChart draws one host's socket counts over the capture: a line per
// state group that held any socket.
func hostChart(h analyze.HostLoad, res *analyze.Result) (string, error) {
	p := newPlot("seconds since "+clock(res.Capture.First)+" UTC", "sockets")
	p.Y.Min = 0
	p.Y.Tick.Marker = integerTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	for _, hl := range hostLines {
		series, peak := hl.Of(h)
		if peak.Count == 0 {
			continue
		}
		l, err := plotter.NewLine(steps(series, res.Capture.First, res.Capture.Last))
		if err != nil {
			return "", err
		}
		l.StepStyle = plotter.PostStep
		l.Color = hl.Color
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (peak %d)", hl.Name, peak.Count), l)
	}
	p.Y.Max = math.Max(p.Y.Max*1.25, 1) // room for the legend
	return svgOf(p, 26*vg.Centimeter, 7*vg.Centimeter)
}

// perDoubling is the number of buckets per doubling of an
// analyze.Histogram in seconds: bucket b > 0 holds values from
// 1 µs·2^((b−1)/8) up to 1 µs·2^(b/8), bucket 0 those under 1 µs.
const perDoubling = 8

// doublingBins regroups a histogram in seconds into one bin per doubling
// from 1 µs, on a log10 axis; the values under 1 µs (a zero-length
// FIN_WAIT2 in a three-way close) count in the first bin. The bins span
// the doublings the data covers.
func doublingBins(h *analyze.Histogram) []plotter.HistogramBin {
	counts := map[int]float64{}
	lo, hi := math.MaxInt, math.MinInt
	for _, b := range h.Buckets {
		k := 0
		if b[0] > 0 {
			k = int((b[0] - 1) / perDoubling)
		}
		counts[k] += float64(b[1])
		lo, hi = min(lo, k), max(hi, k)
	}
	if lo > hi {
		return nil
	}
	edge := func(k int) float64 { return math.Log10(1e-6) + float64(k)*math.Log10(2) }
	bins := make([]plotter.HistogramBin, 0, hi-lo+1)
	for k := lo; k <= hi; k++ {
		bins = append(bins, plotter.HistogramBin{Min: edge(k), Max: edge(k + 1), Weight: counts[k]})
	}
	return bins
}

// countBins turns a histogram of counts into one bin per integer from 0
// to its maximum.
func countBins(h *analyze.Histogram) []plotter.HistogramBin {
	var top int64
	for _, b := range h.Buckets {
		top = max(top, b[0])
	}
	bins := make([]plotter.HistogramBin, top+1)
	for i := range bins {
		bins[i] = plotter.HistogramBin{Min: float64(i) - 0.5, Max: float64(i) + 0.5}
	}
	for _, b := range h.Buckets {
		bins[b[0]].Weight += float64(b[1])
	}
	return bins
}

// decadeTicks labels log10-second axes in time units.
type decadeTicks struct{}

// Over more than four decades only every second or third is labelled, so
// the labels of a small chart do not run into each other.
func (decadeTicks) Ticks(min, max float64) []plot.Tick {
	from, to := int(math.Ceil(min-1e-9)), int(math.Floor(max+1e-9))
	step := 1 + (to-from)/5
	var ts []plot.Tick
	for d := from; d <= to; d++ {
		t := plot.Tick{Value: float64(d)}
		if (d-from)%step == 0 {
			t.Label = decadeLabel(d)
		}
		ts = append(ts, t)
	}
	return ts
}

func decadeLabel(d int) string {
	switch {
	case d < -3:
		return fmt.Sprintf("%gµs", math.Pow10(d+6))
	case d < 0:
		return fmt.Sprintf("%gms", math.Pow10(d+3))
	}
	return fmt.Sprintf("%gs", math.Pow10(d))
}

// histogramChart draws one of the summary's histograms: durations on a
// log axis, one bin per doubling, or counts one bar per integer, with
// ylabel (sides, flows) on the other axis. A non-zero mark (seconds)
// draws a dashed vertical line there, labelled markLabel.
func histogramChart(h *analyze.Histogram, xlabel, ylabel string, fill color.Color, mark float64, markLabel string) (string, error) {
	var bins []plotter.HistogramBin
	p := newPlot(xlabel, ylabel)
	if h.Unit == analyze.UnitCount {
		bins = countBins(h)
		p.X.Tick.Marker = integerTicks{}
	} else {
		bins = doublingBins(h)
		p.X.Tick.Marker = decadeTicks{}
	}
	if len(bins) == 0 {
		return "", fmt.Errorf("report: html: an empty histogram")
	}
	hist := &plotter.Histogram{Bins: bins, Width: bins[0].Max - bins[0].Min, FillColor: fill,
		LineStyle: draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}}
	p.Add(hist)
	p.Y.Tick.Marker = integerTicks{}
	p.Y.Min = 0
	maxY := 0.0
	for _, b := range bins {
		maxY = math.Max(maxY, b.Weight)
	}
	p.Y.Max = math.Max(maxY*1.3, 1)
	if mark > 0 && h.Unit != analyze.UnitCount {
		x := math.Log10(mark)
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: p.Y.Max}})
		if err != nil {
			return "", err
		}
		l.Color = color.RGBA{0xb0, 0x20, 0x20, 0xff}
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(l)
		p.Legend.Add(markLabel, l)
		p.Legend.Top = true
		p.X.Min = math.Min(p.X.Min, x-0.2)
		p.X.Max = math.Max(p.X.Max, x+0.2)
	}
	return svgOf(p, 8*vg.Centimeter, 5*vg.Centimeter)
}
