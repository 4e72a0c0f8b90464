package report

import (
	"fmt"
	"html"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// SVG ladder geometry, in pixels.
const (
	svgWidth   = 720
	svgClientX = 230
	svgServerX = 590
	svgTop     = 58 // first line's centre
	svgLineH   = 30
	svgCharW   = 7.2 // monospace at 12px
)

// arrowStyles colour and dash each kind of arrow.
var arrowStyles = [...]struct {
	name, color, dash string
}{
	arrowPlain: {"plain", "#56606b", ""},
	arrowFin:   {"fin", "#0f7d68", ""},
	arrowRetx:  {"retx", "#c77700", "7 4"},
	arrowRst:   {"rst", "#c0392b", ""},
	arrowData:  {"data", "#8a939c", "2 4"},
}

// stateColors are the fill and text colours of a state's label.
func stateColors(state string) (fill, text string) {
	switch strings.TrimSuffix(state, " (rst)") {
	case "FIN_WAIT1", "FIN_WAIT2", "CLOSING":
		return "#efe4f7", "#5b2c83"
	case "CLOSE_WAIT", "LAST_ACK":
		return "#fdebd9", "#8a4510"
	case "TIME_WAIT":
		return "#dde9f7", "#1f4f8a"
	case "CLOSED":
		return "#eceeef", "#3d4449"
	}
	return "#f3f4f5", "#3d4449"
}

// ladderSVG draws f's ladder as an SVG: the same rows and lines as the
// text ladder, with arrows slanting down the time they stand for, a
// tooltip on each arrow (flags, sequence numbers, length, why it matters),
// each state in a coloured label beside its lane, lanes drawn thick while
// a side is in TIME_WAIT and dashed once it has no socket, and a legend of
// what the drawing uses. IDs are prefixed with id so several ladders can
// share a page.
func ladderSVG(f *analyze.Flow, id string) string {
	rows := ladderRows(f)
	lines := ladderLines(rows)
	height := svgTop + len(lines)*svgLineH + 34
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="ladder" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="ladder diagram of flow %d">`,
		svgWidth, height, svgWidth, height, f.ID)
	b.WriteString("\n<defs>")
	for _, st := range arrowStyles {
		fmt.Fprintf(&b, `<marker id="%s-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`,
			id, st.name, st.color)
	}
	b.WriteString("</defs>\n")

	// Lane headers.
	for _, h := range []struct {
		x          int
		role, addr string
	}{{svgClientX, "client", f.Client}, {svgServerX, "server", f.Server}} {
		fmt.Fprintf(&b, `<text x="%d" y="16" class="lane-role" text-anchor="middle">%s</text>`, h.x, h.role)
		fmt.Fprintf(&b, `<text x="%d" y="32" class="lane-addr" text-anchor="middle">%s</text>`+"\n", h.x, esc(h.addr))
	}

	base := analyze.Time(0)
	if len(rows) > 0 {
		base = rows[0].at
	}
	used := map[string]bool{}
	for i, l := range lines {
		y := svgTop + i*svgLineH
		top, bottom := y-svgLineH/2, y+svgLineH/2
		if i == 0 {
			top = 40
		}
		for side, x := range [2]int{svgClientX, svgServerX} {
			class := laneClass(l.lanes[side])
			used[class] = true
			if l.gap > 0 {
				class = "lane-gap"
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="%s"/>`, x, top, x, bottom, class)
		}
		b.WriteString("\n")
		if l.gap > 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="gap" text-anchor="middle">%s later</text>`+"\n",
				(svgClientX+svgServerX)/2, y+4, esc(seconds(l.gap)))
			continue
		}
		r := l.row
		if l.first && (r.ev != nil || r.frame != 0) {
			fmt.Fprintf(&b, `<text x="8" y="%d" class="frame">%s</text><text x="62" y="%d" class="time">%s</text>`,
				y+4, esc(frameText(r.frame)), y+4, esc(relTime(r.at-base)))
		}
		if l.first && r.ev != nil {
			kind := svgArrow(&b, *r, id, y)
			used[arrowStyles[kind].name] = true
		}
		for side, x := range [2]int{svgClientX - 10, svgServerX + 10} {
			if s := l.state[side]; s != "" {
				svgState(&b, s, x, y, side == 0)
			}
		}
		b.WriteString("\n")
	}
	used["inferred"] = inferred(rows)
	svgLegend(&b, id, height-14, used)
	b.WriteString("</svg>")
	return b.String()
}

func laneClass(s analyze.State) string {
	switch s {
	case analyze.TimeWait:
		return "lane-tw"
	case analyze.Closed:
		return "lane-closed"
	}
	return "lane"
}

// svgArrow draws r's arrow across line y, sloping down from the sender,
// with its label above the middle and a tooltip.
func svgArrow(b *strings.Builder, r ladderRow, id string, y int) arrowKind {
	labels, kind := r.arrow()
	st := arrowStyles[kind]
	x1, x2 := svgClientX+3, svgServerX-3
	if r.ev.From == analyze.Server {
		x1, x2 = x2, x1
	}
	ev := r.ev
	tip := fmt.Sprintf("frame %d · %s · %s from the %s · seq %d ack %d len %d · %s",
		ev.Frame, ev.At.Std().Format("15:04:05.000000"), flagWords(ev.Flags), ev.From, ev.Seq, ev.Ack, ev.Len, ev.Note)
	if ev.Count > 1 {
		tip += fmt.Sprintf(" (%d segments folded)", ev.Count)
	}
	fmt.Fprintf(b, `<g class="arrow arrow-%s"><title>%s</title>`, st.name, esc(tip))
	dash := ""
	if st.dash != "" {
		dash = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.8"%s marker-end="url(#%s-%s)"/>`,
		x1, y-7, x2, y+7, st.color, dash, id, st.name)
	if kind == arrowRst {
		// A cross near the receiving end: the RST ends the connection.
		cx := x2 - 24
		if x2 < x1 {
			cx = x2 + 24
		}
		cy := y + 7 - 14*abs(x2-cx)/abs(x2-x1) // on the sloping line
		fmt.Fprintf(b, `<path d="M%d,%d l8,8 m0,-8 l-8,8" stroke="%s" stroke-width="2"/>`, cx-4, cy-4, st.color)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" class="arrow-label" text-anchor="middle" fill="%s">%s</text></g>`,
		(svgClientX+svgServerX)/2, y-9, st.color, esc(labels[0]))
	return kind
}

// svgState draws a state label beside a lane: right-aligned to x on the
// client's side, left-aligned on the server's.
func svgState(b *strings.Builder, state string, x, y int, right bool) {
	fill, text := stateColors(state)
	w := int(float64(len(state))*svgCharW) + 12
	left := x
	if right {
		left = x - w
	}
	stroke := "none"
	if strings.HasSuffix(state, " (rst)") {
		stroke = arrowStyles[arrowRst].color
	}
	fmt.Fprintf(b, `<g class="state"><rect x="%d" y="%d" width="%d" height="18" rx="9" fill="%s" stroke="%s"/><text x="%d" y="%d" fill="%s" text-anchor="middle">%s</text></g>`,
		left, y-9, w, fill, stroke, left+w/2, y+4, text, esc(state))
}

// svgLegend explains the lanes and arrows the ladder uses.
func svgLegend(b *strings.Builder, id string, y int, used map[string]bool) {
	x := 8
	item := func(draw string, label string) {
		b.WriteString(draw)
		fmt.Fprintf(b, `<text x="%d" y="%d" class="legend">%s</text>`, x+26, y+4, label)
		x += 26 + int(float64(len(label))*6.2) + 18
	}
	lane := func(class, label string) {
		item(fmt.Sprintf(`<line x1="%d" y1="%d" x2="%d" y2="%d" class="%s"/>`, x+10, y-8, x+10, y+8, class), label)
	}
	arrow := func(k arrowKind, label string) {
		st := arrowStyles[k]
		dash := ""
		if st.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
		}
		item(fmt.Sprintf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.8"%s marker-end="url(#%s-%s)"/>`,
			x, y, x+20, y, st.color, dash, id, st.name), label)
	}
	if used["inferred"] {
		item("", inferredMark+" inferred state")
	}
	if used["lane-tw"] {
		lane("lane-tw", "TIME_WAIT")
	}
	if used["lane-closed"] {
		lane("lane-closed", "no socket")
	}
	if used["fin"] {
		arrow(arrowFin, "FIN")
	}
	if used["retx"] {
		arrow(arrowRetx, "retransmitted FIN")
	}
	if used["rst"] {
		arrow(arrowRst, "RST")
	}
	if used["data"] {
		arrow(arrowData, "data after FIN")
	}
}

func abs(n int) int { return max(n, -n) }

// esc escapes text for SVG inside HTML.
func esc(s string) string { return html.EscapeString(s) }
