package report

import (
	"io"
	"os"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"
	"github.com/muesli/termenv"
	"github.com/teardown/teardown/analyze"
)

// termenvOptions are passed to every renderer's termenv output. Tests set
// termenv.WithTTY(true) to see what "auto" does on a terminal.
var termenvOptions []termenv.OutputOption

// newRenderer builds the single renderer of one text report, tied to w:
// with "auto" termenv picks the profile from w (no colour when w is not a
// terminal, or NO_COLOR is set); "always" pins 256 colours and "never"
// plain ASCII. It never touches lipgloss's global renderer.
func newRenderer(w io.Writer, color string) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(w, termenvOptions...)
	switch color {
	case "always":
		r.SetColorProfile(termenv.ANSI256)
	case "never":
		r.SetColorProfile(termenv.Ascii)
	}
	return r
}

// Width limits of the text report.
const (
	defaultWidth = 80
	minWidth     = 60  // narrower terminals get this; lines may wrap
	maxWidth     = 120 // wider terminals get this; longer lines read badly
)

// textWidth is the width the text report fills: Options.Width, else the
// terminal's width when w is one, else 80; kept within minWidth..maxWidth.
func textWidth(w io.Writer, o Options) int {
	n := o.Width
	if n == 0 {
		n = defaultWidth
		if f, ok := w.(*os.File); ok && term.IsTerminal(f.Fd()) {
			if cols, _, err := term.GetSize(f.Fd()); err == nil && cols > 0 {
				n = cols
			}
		}
	}
	return min(max(n, minWidth), maxWidth)
}

// styles are the text report's styles, all made by one renderer. The
// colours are the terminal's own 16 so they follow its theme.
type styles struct {
	plain, title, heading, label, dim, code, sysctl, state, warn lipgloss.Style

	severity map[analyze.Severity]lipgloss.Style
	parts    map[ladderPart]lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) *styles {
	var (
		red     = lipgloss.Color("1")
		green   = lipgloss.Color("2")
		yellow  = lipgloss.Color("3")
		blue    = lipgloss.Color("4")
		magenta = lipgloss.Color("5")
		cyan    = lipgloss.Color("6")
	)
	dim := r.NewStyle().Faint(true)
	s := &styles{
		plain:   r.NewStyle(),
		title:   r.NewStyle().Bold(true),
		heading: r.NewStyle().Bold(true).Foreground(blue),
		label:   dim,
		dim:     dim,
		code:    r.NewStyle().Bold(true),
		sysctl:  r.NewStyle().Foreground(green),
		state:   r.NewStyle().Foreground(magenta),
		warn:    r.NewStyle().Foreground(yellow),
		severity: map[analyze.Severity]lipgloss.Style{
			analyze.Error:   r.NewStyle().Bold(true).Foreground(red),
			analyze.Warning: r.NewStyle().Foreground(yellow),
			analyze.Info:    r.NewStyle().Foreground(cyan),
		},
	}
	s.parts = map[ladderPart]lipgloss.Style{
		partFrame:      dim,
		partTime:       dim,
		partState:      s.state,
		partLane:       r.NewStyle(),
		partGap:        dim,
		partHeader:     r.NewStyle().Bold(true),
		partArrowPlain: r.NewStyle(),
		partArrowFin:   r.NewStyle().Bold(true).Foreground(cyan),
		partArrowRetx:  r.NewStyle().Foreground(yellow),
		partArrowRst:   r.NewStyle().Bold(true).Foreground(red),
		partArrowData:  dim,
	}
	return s
}

// paint is the ladder painter of the text report.
func (s *styles) paint(part ladderPart, text string) string {
	return s.parts[part].Render(text)
}

// sev is the style of a severity's mark; plain for an unknown severity.
func (s *styles) sev(v analyze.Severity) lipgloss.Style {
	if st, ok := s.severity[v]; ok {
		return st
	}
	return s.plain
}

// severityMark is a severity's mark: ✖ error, ▲ warning, ● info.
func severityMark(v analyze.Severity) string {
	switch v {
	case analyze.Error:
		return "✖"
	case analyze.Warning:
		return "▲"
	case analyze.Info:
		return "●"
	}
	return "·"
}
