package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"github.com/teardown/teardown/analyze"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The HTML report's charts, drawn with gonum.org/v1/plot as inline SVG.
// They are computed from the flows' state timelines (see spans): counting
// and binning what analyze measured, for display.

// stateGroup is a line of the per-host chart.
type stateGroup struct {
	Name   string
	States []analyze.State
	Color  color.Color
}

var stateGroups = []stateGroup{
	{"TIME_WAIT", []analyze.State{analyze.TimeWait}, color.RGBA{0x2f, 0x6d, 0xb5, 0xff}},
	{"CLOSE_WAIT", []analyze.State{analyze.CloseWait}, color.RGBA{0xd9, 0x6c, 0x1e, 0xff}},
	{"FIN_WAIT1/2", []analyze.State{analyze.FinWait1, analyze.FinWait2}, color.RGBA{0x7b, 0x3f, 0xa0, 0xff}},
}

// maxHostCharts bounds the per-host charts; the hosts with the highest
// peaks are drawn.
const maxHostCharts = 6

// hostLoad is how many sockets one host held in each state group over the
// capture: a step series per group, and its peak.
type hostLoad struct {
	Host   string
	Steps  [][]plotter.XY // per stateGroups entry; x in seconds from the capture's start
	Peak   []int
	PeakAt []float64      // seconds from the capture's start
	When   []analyze.Time // the same instants as capture times
}

func (h hostLoad) maxPeak() int { return slices.Max(h.Peak) }

// hostLoads counts, for every host (the address of a side), the sides it
// held in each state group at every moment of the capture. A state lasts
// its span's duration; a final state whose duration analyze did not
// measure lasts to the end of the capture. Hosts are ordered by highest
// peak, then address; hosts that never held such a state are left out.
func hostLoads(res *analyze.Result) []hostLoad {
	// Changes are kept in nanoseconds, so that one state's end and the
	// next state's start compare equal.
	type change struct {
		at    analyze.Time
		delta int
	}
	first, last := res.Capture.First, res.Capture.Last
	end := first.Seconds(last)
	changes := map[string][][]change{}
	for _, f := range res.Flows {
		for _, side := range []struct {
			host string
			s    *analyze.Side
		}{{host(f.Client), f.Sides.Client}, {host(f.Server), f.Sides.Server}} {
			ss := spans(side.s)
			for i, sp := range ss {
				g := slices.IndexFunc(stateGroups, func(g stateGroup) bool { return slices.Contains(g.States, sp.Entry.State) })
				if g < 0 {
					continue
				}
				from, to := sp.Entry.At, last
				switch {
				case sp.Dur >= 0:
					to = min(from+analyze.Time(math.Round(sp.Dur*1e9)), last)
				case i < len(ss)-1:
					continue // unmeasured and not final: unknown
				}
				if changes[side.host] == nil {
					changes[side.host] = make([][]change, len(stateGroups))
				}
				changes[side.host][g] = append(changes[side.host][g], change{from, +1}, change{to, -1})
			}
		}
	}
	var out []hostLoad
	for _, h := range sortedKeys(changes) {
		load := hostLoad{Host: h, Steps: make([][]plotter.XY, len(stateGroups)),
			Peak: make([]int, len(stateGroups)), PeakAt: make([]float64, len(stateGroups)),
			When: make([]analyze.Time, len(stateGroups))}
		for g, cs := range changes[h] {
			// Ends before starts at the same instant: a socket leaving a
			// state as another enters it is not a peak of two.
			slices.SortStableFunc(cs, func(a, b change) int {
				if c := cmp.Compare(a.at, b.at); c != 0 {
					return c
				}
				return cmp.Compare(a.delta, b.delta)
			})
			steps := []plotter.XY{{X: 0, Y: 0}}
			n := 0
			for _, c := range cs {
				n += c.delta
				at := first.Seconds(c.at)
				if p := &steps[len(steps)-1]; p.X == at {
					p.Y = float64(n)
				} else {
					steps = append(steps, plotter.XY{X: at, Y: float64(n)})
				}
				if n > load.Peak[g] {
					load.Peak[g], load.PeakAt[g], load.When[g] = n, at, c.at
				}
			}
			load.Steps[g] = append(steps, plotter.XY{X: end, Y: float64(n)})
		}
		if load.maxPeak() > 0 {
			out = append(out, load)
		}
	}
	slices.SortStableFunc(out, func(a, b hostLoad) int { return cmp.Compare(b.maxPeak(), a.maxPeak()) })
	return out
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
		ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	return ts
}

// hostChart draws one host's state counts over the capture.
func hostChart(load hostLoad, res *analyze.Result) (string, error) {
	p := newPlot("seconds since "+clock(res.Capture.First)+" UTC", "sockets")
	p.Y.Min = 0
	p.Y.Tick.Marker = integerTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	for g, sg := range stateGroups {
		if load.Peak[g] == 0 {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs(load.Steps[g]))
		if err != nil {
			return "", err
		}
		l.StepStyle = plotter.PostStep
		l.Color = sg.Color
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (peak %d)", sg.Name, load.Peak[g]), l)
	}
	p.Y.Max = math.Max(p.Y.Max*1.25, 1) // room for the legend
	return svgOf(p, 26*vg.Centimeter, 7*vg.Centimeter)
}

// Log-scale bins for durations: three per decade from 1 µs to 1000 s.
const (
	binsPerDecade = 3
	minDecade     = -6 // 1 µs
	maxDecade     = 3  // 1000 s
)

// logBins counts durations (seconds) into log10 bins, three per decade.
// Durations under 1 µs (a zero-length FIN_WAIT2 in a three-way close)
// count in the first bin; the bins span the decades the data covers.
func logBins(values []float64) []plotter.HistogramBin {
	lo, hi := math.Inf(1), math.Inf(-1)
	logs := make([]float64, len(values))
	for i, v := range values {
		l := math.Log10(math.Max(v, 1e-6))
		l = math.Min(l, maxDecade-1e-9)
		logs[i] = l
		lo, hi = math.Min(lo, l), math.Max(hi, l)
	}
	from, to := math.Floor(lo), math.Floor(hi)+1
	n := int(to-from) * binsPerDecade
	bins := make([]plotter.HistogramBin, n)
	for i := range bins {
		bins[i].Min = from + float64(i)/binsPerDecade
		bins[i].Max = from + float64(i+1)/binsPerDecade
	}
	for _, l := range logs {
		i := min(int((l-from)*binsPerDecade), n-1)
		bins[i].Weight++
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

// histogramChart draws durations (seconds) on a log axis, counting ylabel
// (sides, flows) on the other. A non-zero mark
// draws a dashed vertical line there, labelled markLabel.
func histogramChart(values []float64, ylabel string, fill color.Color, mark float64, markLabel string) (string, error) {
	bins := logBins(values)
	p := newPlot("duration", ylabel)
	h := &plotter.Histogram{Bins: bins, Width: 1.0 / binsPerDecade, FillColor: fill, LineStyle: draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}}
	p.Add(h)
	p.X.Tick.Marker = decadeTicks{}
	p.Y.Tick.Marker = integerTicks{}
	p.Y.Min = 0
	maxY := 0.0
	for _, b := range bins {
		maxY = math.Max(maxY, b.Weight)
	}
	p.Y.Max = math.Max(maxY*1.3, 1)
	if mark > 0 {
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

// closePhases are the states whose durations the HTML report histograms.
var closePhases = []analyze.State{
	analyze.FinWait1, analyze.FinWait2, analyze.Closing, analyze.CloseWait, analyze.LastAck, analyze.TimeWait,
}

// phaseDurations collects the known durations of each close phase over
// all sides of all flows.
func phaseDurations(res *analyze.Result) map[analyze.State][]float64 {
	out := map[analyze.State][]float64{}
	for _, f := range res.Flows {
		for _, s := range []*analyze.Side{f.Sides.Client, f.Sides.Server} {
			for _, sp := range spans(s) {
				if sp.Dur >= 0 && slices.Contains(closePhases, sp.Entry.State) {
					out[sp.Entry.State] = append(out[sp.Entry.State], sp.Dur)
				}
			}
		}
	}
	return out
}

// reuseGaps collects the TIME_WAIT reuse gaps of all flows.
func reuseGaps(res *analyze.Result) []float64 {
	var out []float64
	for _, f := range res.Flows {
		if f.Reuse != nil {
			out = append(out, f.Reuse.Gap)
		}
	}
	return out
}
