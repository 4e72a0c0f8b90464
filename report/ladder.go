package report

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/teardown/teardown/analyze"
)

// A ladder draws a flow's close as two vertical lanes, client on the left
// and server on the right, with one arrow per close-related segment
// (analyze.Flow.Events) and each side's state written beside its lane on
// the row of the frame that evidences the transition.
//
// The rows are built once (ladderRows) and drawn three ways: plain text
// (Ladder, shared by the terminal and Markdown reports, coloured by the
// terminal report through a painter), Mermaid, and SVG.

// ladderRow is one arrow of a ladder, or one lane-only row for a state
// entry whose frame is not among the flow's events.
type ladderRow struct {
	frame uint64
	at    analyze.Time
	ev    *analyze.Event // nil on a lane-only row
	// states holds the states each side entered on this row: [0] client,
	// [1] server, in the side's sequence order.
	states [2][]string
	// lanes is each side's state once this row's transitions are done.
	lanes [2]analyze.State
	// retx numbers a FIN retransmission among its sender's (1 = the first
	// retransmission, a tail-loss probe included); 0 otherwise.
	retx int
	// via is the source of an ICMP error that is not the address of the
	// side whose lane it is drawn from (a router's, a firewall's).
	via string
}

// arrowKind says how an arrow is drawn and coloured.
type arrowKind int

const (
	arrowPlain arrowKind = iota // handshake, ACKs
	arrowFin                    // a FIN's first transmission
	arrowRetx                   // a FIN retransmission or tail-loss probe
	arrowRst                    // a RST
	arrowData                   // data after a FIN
)

// gapSeconds is the pause between two rows above which the ladder draws a
// row saying how much time passed.
const gapSeconds = 1.0

// stateLabel is how a state entry is written on a lane.
// An inferred state (no captured segment shows the transition) is marked
// with inferredMark.
func stateLabel(e analyze.StateEntry) string {
	s := e.State.String()
	if e.Inferred {
		s += inferredMark
	}
	if e.Via == "rst" {
		s += " (rst)"
	}
	return s
}

const inferredMark = "*"

// ladderRows merges a flow's events and both sides' state entries into
// display rows in frame order. A state is written on the row of the event
// with its frame; a state whose frame has no event gets a lane-only row at
// its place in frame order. A side's states keep their sequence order on
// the ladder: a state stamped with a frame before the side's previous state
// (crossed FINs seen from one end) is written just after that state.
func ladderRows(f *analyze.Flow) []ladderRow {
	rows := make([]ladderRow, 0, len(f.Events))
	retx := map[analyze.Role]int{}
	for i := range f.Events {
		ev := &f.Events[i]
		r := ladderRow{frame: ev.Frame, at: ev.At, ev: ev}
		if ev.Note == "fin-retransmission" || ev.Note == "fin-tlp" {
			retx[ev.From]++
			r.retx = retx[ev.From]
		}
		if ev.Flags == icmpFlags {
			r.via = icmpVia(f, ev)
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return before(rows[i], rows[j]) })

	for side, s := range [2]*analyze.Side{f.Sides.Client, f.Sides.Server} {
		if s == nil {
			continue
		}
		last := -1 // row of the side's previous state
		for _, e := range s.States {
			idx, insert := placeState(rows, last, e)
			if insert {
				rows = append(rows, ladderRow{})
				copy(rows[idx+1:], rows[idx:])
				rows[idx] = ladderRow{frame: e.Frame, at: e.At}
			}
			rows[idx].states[side] = append(rows[idx].states[side], stateLabel(e))
			last = idx
		}
	}

	// Each lane's state after each row, for drawing TIME_WAIT and no-socket
	// lanes.
	for side, s := range [2]*analyze.Side{f.Sides.Client, f.Sides.Server} {
		if s == nil {
			continue
		}
		var cur analyze.State
		for i := range rows {
			if n := len(rows[i].states[side]); n > 0 {
				cur = labelState(rows[i].states[side][n-1])
			}
			rows[i].lanes[side] = cur
		}
	}
	return rows
}

// labelState is the state a lane label names.
func labelState(label string) analyze.State {
	s, _ := analyze.ParseState(strings.TrimSuffix(strings.TrimSuffix(label, " (rst)"), inferredMark))
	return s
}

// before orders rows by frame, or by time where a frame is unknown (0).
func before(a, b ladderRow) bool {
	if a.frame != 0 && b.frame != 0 {
		return a.frame < b.frame
	}
	return a.at < b.at
}

// placeState returns the row a state entry is written on, given the row of
// the side's previous state (last, -1 for none): the first row from there
// on with the entry's frame; the previous state's own row when the entry
// is stamped with an earlier frame; otherwise the index where a lane-only
// row must be inserted (insert true).
func placeState(rows []ladderRow, last int, e analyze.StateEntry) (idx int, insert bool) {
	if last >= 0 && e.Frame != 0 && rows[last].frame > e.Frame {
		return last, false
	}
	at := ladderRow{frame: e.Frame, at: e.At}
	for i := max(last, 0); i < len(rows); i++ {
		if e.Frame != 0 && rows[i].frame == e.Frame {
			return i, false
		}
		if before(at, rows[i]) {
			return max(i, last+1), true
		}
	}
	return len(rows), true
}

// flagWords spells tcpdump-style flags ("F.", "S.", "R", "FP.") the way a
// ladder labels them: "FIN, ACK".
func flagWords(flags string) string {
	if flags == icmpFlags {
		return flags
	}
	var words []string
	ack := false
	for _, c := range flags {
		switch c {
		case 'S':
			words = append(words, "SYN")
		case 'F':
			words = append(words, "FIN")
		case 'R':
			words = append(words, "RST")
		case 'P':
			words = append(words, "PSH")
		case 'U':
			words = append(words, "URG")
		case 'E':
			words = append(words, "ECE")
		case 'W':
			words = append(words, "CWR")
		case '.':
			ack = true
		}
	}
	if ack {
		words = append(words, "ACK")
	}
	if len(words) == 0 {
		return "none"
	}
	return strings.Join(words, ", ")
}

// icmpFlags are the flags of an ICMP error among a flow's events.
const icmpFlags = "ICMP"

// icmpVia returns the source of the flow's ICMP error ev when it is not
// the address of the side the error is drawn from (ev.From), "" when it
// is, or when the flow does not list it.
func icmpVia(f *analyze.Flow, ev *analyze.Event) string {
	for i := range f.ICMP {
		if e := &f.ICMP[i]; e.Frame == ev.Frame {
			side := f.Client
			if ev.From == analyze.Server {
				side = f.Server
			}
			if ap, err := netip.ParseAddrPort(side); err == nil && ap.Addr().Unmap().String() == e.From {
				return ""
			}
			return e.From
		}
	}
	return ""
}

// noteTags are the words an arrow's label adds for its event's note.
var noteTags = map[string]string{
	"fin-tlp":            "TLP",
	"syn-retransmission": "retx",
	"old-ack":            "old ACK",
	"rst-ignored":        "ignored",
	"rst-middlebox":      "middlebox",
	"rst-challenged":     "challenged",
	"challenge-ack":      "challenge",
	"after-rst":          "after RST",
	"zero-window":        "win 0",
	"window-open":        "window open",
	"keepalive":          "keepalive",
	"retransmission":     "retx",
	"dsack-of-fin":       "D-SACK",
}

// arrow returns the labels an event's arrow may carry, longest first, and
// how the arrow is drawn. The caller uses the first label that fits. A
// label is the flags in words, the size (bytes, or ×N segments when
// several were folded into the event) and, in brackets, what the note
// says: "FIN, ACK (retx 2)", "data ×34", "RST (ignored)".
func (r ladderRow) arrow() ([]string, arrowKind) {
	ev := r.ev
	if name, ok := strings.CutPrefix(ev.Note, analyze.NoteICMP); ok && ev.Flags == icmpFlags {
		// "ICMP port-unreachable", "ICMP": an error, drawn as a RST is;
		// a router's names the router.
		if r.via != "" {
			return []string{"ICMP " + name + " from " + r.via, "ICMP from " + r.via, "ICMP " + name + " (router)", "ICMP (router)", "ICMP"}, arrowRst
		}
		return []string{"ICMP " + name, "ICMP"}, arrowRst
	}
	words := flagWords(ev.Flags)
	kind := arrowPlain
	switch {
	case strings.ContainsRune(ev.Flags, 'R'):
		kind = arrowRst
	case ev.Note == analyze.NoteRetransmission:
		kind, words = arrowRetx, "data"
	case r.retx > 0 || ev.Note == "syn-retransmission":
		kind = arrowRetx
	case ev.Note == "data-after-fin":
		kind, words = arrowData, "data"
	case strings.ContainsRune(ev.Flags, 'F'):
		kind = arrowFin
	}
	tag := noteTags[ev.Note]
	if ev.Note == "fin-retransmission" {
		tag = fmt.Sprintf("retx %d", r.retx)
	}
	size := ""
	switch {
	case ev.Count > 1:
		size = fmt.Sprintf(" ×%d", ev.Count)
	case ev.Len > 0:
		size = fmt.Sprintf(" %d B", ev.Len)
	}
	first, _, _ := strings.Cut(words, ",")
	if tag == "" {
		return []string{words + size, words, first}, kind
	}
	tag = " (" + tag + ")"
	return []string{words + size + tag, words + tag, first + tag, first}, kind
}

// painter colours one piece of a ladder line. The plain painter returns the
// text unchanged; the terminal report's painter styles it.
type painter func(part ladderPart, text string) string

// ladderPart names the pieces of a ladder line a painter may colour.
type ladderPart int

const (
	partFrame ladderPart = iota
	partTime
	partState
	partLane
	partGap
	partHeader
	partArrowPlain
	partArrowFin
	partArrowRetx
	partArrowRst
	partArrowData
)

var arrowParts = [...]ladderPart{
	arrowPlain: partArrowPlain,
	arrowFin:   partArrowFin,
	arrowRetx:  partArrowRetx,
	arrowRst:   partArrowRst,
	arrowData:  partArrowData,
}

func plain(_ ladderPart, s string) string { return s }

// Lane glyphs: a side holding a full socket, one in TIME_WAIT, and one
// with no socket (CLOSED).
const (
	laneOpen     = "│"
	laneTimeWait = "┃"
	laneClosed   = "╎"
)

func laneGlyph(s analyze.State) string {
	switch s {
	case analyze.TimeWait:
		return laneTimeWait
	case analyze.Closed:
		return laneClosed
	}
	return laneOpen
}

// arrowWidth is the number of columns between the two lanes.
const arrowWidth = 26

// Ladder draws f's close as plain-text lines: a header naming the lanes,
// one line per close-related segment (frame number, time relative to the
// first row, the state each side entered, the arrow), a line where more
// than a second passes between two segments, lane-only lines for states
// stamped on frames that are not drawn, and a legend when the ladder uses
// a mark: ┃ a lane in TIME_WAIT, ╎ a side with no socket, * an inferred
// state (no captured segment shows the transition). Retransmitted FINs are
// labelled "(TLP)" or "(retx N)"; segments folded into one event show
// "×N". The lines have no trailing spaces, no colour, and fit 80 columns
// for frame numbers below ten million and times below a day.
func Ladder(f *analyze.Flow) []string {
	return drawLadder(f, plain)
}

// ladderLine is one line of a drawn ladder: the arrow line of a row, a
// continuation line for a side's second state on the same row, or a line
// saying how much time passed (gap > 0).
type ladderLine struct {
	row   *ladderRow // nil on a gap line
	first bool       // the row's first line: it carries the arrow, frame and time
	state [2]string  // the state written on each side of this line
	lanes [2]analyze.State
	gap   float64
}

// ladderLines lays rows out as lines: a gap line before a row that comes
// gapSeconds or more after the previous one, then one line per state a
// side entered on the row (at least one).
func ladderLines(rows []ladderRow) []ladderLine {
	var out []ladderLine
	for i := range rows {
		r := &rows[i]
		if i > 0 {
			if gap := rows[i-1].at.Seconds(r.at); gap >= gapSeconds {
				out = append(out, ladderLine{lanes: rows[i-1].lanes, gap: gap})
			}
		}
		for k := range max(len(r.states[0]), len(r.states[1]), 1) {
			l := ladderLine{
				row: r, first: k == 0, lanes: r.lanes,
				state: [2]string{nth(r.states[0], k), nth(r.states[1], k)},
			}
			// A side that enters two states on one row shows the first
			// on the row's line and the second on the next.
			for side := range 2 {
				if k < len(r.states[side])-1 {
					l.lanes[side] = labelState(r.states[side][k])
				}
			}
			out = append(out, l)
		}
	}
	return out
}

func drawLadder(f *analyze.Flow, paint painter) []string {
	rows := ladderRows(f)
	if len(rows) == 0 {
		return nil
	}
	base := rows[0].at
	frameW, timeW := 0, 0
	stateW := [2]int{len("client"), len("server")}
	for _, r := range rows {
		frameW = max(frameW, len(frameText(r.frame)))
		timeW = max(timeW, len(relTime(r.at-base)))
		for side := range 2 {
			for _, s := range r.states[side] {
				stateW[side] = max(stateW[side], len(s))
			}
		}
	}
	prefixW := frameW + 1 + timeW + 1 + stateW[0] + 1

	header := strings.Repeat(" ", prefixW-3) + "client" + strings.Repeat(" ", arrowWidth-4) + "server"
	out := []string{paint(partHeader, header)}
	blank := strings.Repeat(" ", arrowWidth)
	used := map[string]bool{}
	for _, l := range ladderLines(rows) {
		frame, at, middle := "", "", blank
		switch {
		case l.gap > 0:
			middle = paint(partGap, center(seconds(l.gap)+" later", arrowWidth))
		case l.first:
			if l.row.ev != nil || l.row.frame != 0 {
				frame, at = frameText(l.row.frame), relTime(l.row.at-base)
			}
			if l.row.ev != nil {
				middle = drawArrow(*l.row, paint)
			}
		}
		var b strings.Builder
		b.WriteString(paintPad(partFrame, frame, frameW+1, paint))
		b.WriteString(paintPad(partTime, at, timeW+1, paint))
		b.WriteString(padLeftPainted(l.state[0], stateW[0], paint))
		b.WriteByte(' ')
		b.WriteString(paint(partLane, laneGlyph(l.lanes[0])))
		b.WriteString(middle)
		b.WriteString(paint(partLane, laneGlyph(l.lanes[1])))
		if l.state[1] != "" {
			b.WriteByte(' ')
			b.WriteString(paint(partState, l.state[1]))
		}
		out = append(out, strings.TrimRight(b.String(), " "))
		for side := range 2 {
			used[laneGlyph(l.lanes[side])] = true
		}
	}

	var legend []string
	if inferred(rows) {
		legend = append(legend, inferredMark+" inferred")
	}
	if used[laneTimeWait] {
		legend = append(legend, laneTimeWait+" TIME_WAIT")
	}
	if used[laneClosed] {
		legend = append(legend, laneClosed+" no socket")
	}
	if len(legend) > 0 {
		out = append(out, paint(partHeader, strings.Repeat(" ", prefixW)+strings.Join(legend, "   ")))
	}
	return out
}

// inferred reports whether any state on the ladder is inferred.
func inferred(rows []ladderRow) bool {
	for _, r := range rows {
		for side := range 2 {
			for _, st := range r.states[side] {
				if strings.Contains(st, inferredMark) {
					return true
				}
			}
		}
	}
	return false
}

// drawArrow draws the arrowWidth columns between the lanes for r's event,
// with the label near the sender's lane.
func drawArrow(r ladderRow, paint painter) string {
	labels, kind := r.arrow()
	label := labels[len(labels)-1]
	for _, l := range labels {
		if utf8.RuneCountInString(l)+6 <= arrowWidth {
			label = l
			break
		}
	}
	fill := arrowWidth - utf8.RuneCountInString(label) - 2 - 1 // spaces, head
	lead := min(3, fill)
	part := arrowParts[kind]
	toServer := r.ev.From != analyze.Server
	var s string
	if toServer {
		s = strings.Repeat("─", lead) + " " + label + " " + strings.Repeat("─", fill-lead) + "▶"
	} else {
		s = "◀" + strings.Repeat("─", fill-lead) + " " + label + " " + strings.Repeat("─", lead)
	}
	return paint(part, s)
}

func nth(s []string, k int) string {
	if k < len(s) {
		return s[k]
	}
	return ""
}

func frameText(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("#%d", n)
}

// relTime renders a time offset in seconds with microseconds.
func relTime(t analyze.Time) string {
	return fmt.Sprintf("+%.6f", float64(t)/1e9)
}

// pad pads s with spaces on the right to w columns.
func pad(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// paintPad paints s, then pads it with spaces to w columns.
func paintPad(part ladderPart, s string, w int, paint painter) string {
	n := utf8.RuneCountInString(s)
	if s != "" {
		s = paint(part, s)
	}
	return s + strings.Repeat(" ", max(0, w-n))
}

// padLeftPainted right-aligns s in w columns and paints it as a state.
func padLeftPainted(s string, w int, paint painter) string {
	n := utf8.RuneCountInString(s)
	if s == "" {
		return strings.Repeat(" ", w)
	}
	return strings.Repeat(" ", max(0, w-n)) + paint(partState, s)
}

// center centres s in w columns.
func center(s string, w int) string {
	n := utf8.RuneCountInString(s)
	if n >= w {
		return s
	}
	left := (w - n) / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", w-n-left)
}
