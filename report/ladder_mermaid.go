package report

import (
	"fmt"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// mermaid draws f's ladder as a Mermaid sequenceDiagram, which GitHub and
// GitLab render: one message per close-related segment (solid for a first
// transmission, dashed for a retransmission or data after a FIN, a cross
// for a RST), labelled with the flags, the frame number and the time from
// the first row, and a note beside a side's lifeline whenever its state
// changes. Text is limited to what Mermaid reads literally: no '#' or ';'.
func mermaid(f *analyze.Flow) []string {
	rows := ladderRows(f)
	out := []string{
		"sequenceDiagram",
		"  participant C as client " + mermaidText(f.Client),
		"  participant S as server " + mermaidText(f.Server),
	}
	if len(rows) == 0 {
		return out
	}
	base := rows[0].at
	for _, l := range ladderLines(rows) {
		if l.gap > 0 {
			out = append(out, "  Note over C,S: "+seconds(l.gap)+" later")
			continue
		}
		r := l.row
		where := fmt.Sprintf("frame %d, %s s", r.frame, relTime(r.at-base))
		if l.first && r.ev != nil {
			labels, kind := r.arrow()
			from, to := "C", "S"
			if r.ev.From == analyze.Server {
				from, to = "S", "C"
			}
			arrow := "->>"
			switch kind {
			case arrowRetx, arrowData:
				arrow = "-->>"
			case arrowRst:
				arrow = "-x"
			}
			out = append(out, fmt.Sprintf("  %s%s%s: %s · %s", from, arrow, to, mermaidText(labels[0]), where))
		}
		for side, pos := range [2]string{"left of C", "right of S"} {
			if l.state[side] == "" {
				continue
			}
			note := l.state[side]
			if r.ev == nil && r.frame != 0 {
				note += " (frame " + fmt.Sprint(r.frame) + ")"
			}
			out = append(out, "  Note "+pos+": "+mermaidText(note))
		}
	}
	return out
}

// mermaidText keeps Mermaid from reading s as syntax: '#' starts an entity
// code and ';' ends a statement in Mermaid's sequence diagrams.
func mermaidText(s string) string {
	return strings.NewReplacer("#", "no. ", ";", ",").Replace(s)
}
