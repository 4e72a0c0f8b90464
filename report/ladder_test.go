package report

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/teardown/teardown/analyze"
)

func storyFlows() []*analyze.Flow {
	return append(incidentResult().Flows, edgeResult().Flows...)
}

func flowOf(t *testing.T, res *analyze.Result, id int) *analyze.Flow {
	t.Helper()
	for _, f := range res.Flows {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no flow %d", id)
	return nil
}

// rowStates returns, per frame, the states written on each side, in the
// order the rows are drawn.
func rowStates(rows []ladderRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join([]string{
			frameText(r.frame),
			strings.Join(r.states[0], ">"),
			strings.Join(r.states[1], ">"),
		}, " "))
	}
	return out
}

func TestLadderRows(t *testing.T) {
	res := incidentResult()
	for _, tt := range []struct {
		name string
		f    *analyze.Flow
		want []string
	}{
		{
			// Three-way close: the client passes FIN_WAIT2 and enters
			// TIME_WAIT on the server's FIN+ACK, two states on one row.
			"three-way", flowOf(t, res, 2),
			[]string{
				"#19 SYN_SENT SYN_RECV", "#20 ESTABLISHED ", "#21  ESTABLISHED",
				"#24 FIN_WAIT1 CLOSE_WAIT", "#25 FIN_WAIT2>TIME_WAIT LAST_ACK", "#26  CLOSED",
			},
		},
		{
			// Crossed FINs: the server's CLOSING is stamped with frame 45,
			// before its FIN_WAIT1 at 46; it is drawn after it.
			"simultaneous", flowOf(t, res, 5),
			[]string{
				"#40 SYN_SENT SYN_RECV", "#41 ESTABLISHED ", "#42  ESTABLISHED",
				"#45 FIN_WAIT1 ", "#46 CLOSING FIN_WAIT1>CLOSING", "#47  TIME_WAIT", "#48 TIME_WAIT ",
			},
		},
		{
			// A state entry without an event gets a lane-only row.
			"state without event", edgeResult().Flows[0],
			[]string{"#1 ESTABLISHED* ESTABLISHED*", "#3  FIN_WAIT1", "#4  ", "#5  ", "#6  ", "#7  "},
		},
		{
			"reset", flowOf(t, res, 9),
			[]string{
				"#120 SYN_SENT SYN_RECV", "#121 ESTABLISHED ", "#122  ESTABLISHED",
				"#124 CLOSED (rst) CLOSED (rst)",
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, rowStates(ladderRows(tt.f))); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLadderRowsInsertsByFrame(t *testing.T) {
	// A state stamped on a frame between two events, with no event of its
	// own, lands between them.
	tl := incident
	f := &analyze.Flow{
		Events: []analyze.Event{tl.ev(8, analyze.Client, "F.", "fin"), tl.ev(11, analyze.Client, ".", "ack-of-fin")},
		Sides: analyze.Sides{
			Client: &analyze.Side{States: []analyze.StateEntry{tl.st(analyze.FinWait1, 8), tl.st(analyze.TimeWait, 10)}},
			Server: &analyze.Side{States: []analyze.StateEntry{tl.st(analyze.CloseWait, 8), tl.st(analyze.LastAck, 10), tl.st(analyze.Closed, 11)}},
		},
	}
	want := []string{"#8 FIN_WAIT1 CLOSE_WAIT", "#10 TIME_WAIT LAST_ACK", "#11  CLOSED"}
	if diff := cmp.Diff(want, rowStates(ladderRows(f))); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestFlagWords(t *testing.T) {
	for flags, want := range map[string]string{
		"S": "SYN", "S.": "SYN, ACK", "F.": "FIN, ACK", "FP.": "FIN, PSH, ACK",
		"R": "RST", "R.": "RST, ACK", ".": "ACK", "": "none", "SEW": "SYN, ECE, CWR",
	} {
		if got := flagWords(flags); got != want {
			t.Errorf("flagWords(%q) = %q, want %q", flags, got, want)
		}
	}
}

// TestLadderShape checks every story's ladder: it fits 80 columns, has no
// trailing spaces, keeps both lanes in the same columns on every line,
// draws each event once with its frame number, and writes each side's
// states in its sequence order on its own side of the lanes.
func TestLadderShape(t *testing.T) {
	for _, f := range storyFlows() {
		lines := Ladder(f)
		if len(lines) < 2 {
			t.Fatalf("flow %d: %d lines", f.ID, len(lines))
		}
		laneCols := map[int]bool{}
		var client, server []string
		for i, l := range lines {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Errorf("flow %d line %d is %d columns: %q", f.ID, i, n, l)
			}
			if strings.TrimRight(l, " ") != l {
				t.Errorf("flow %d line %d has trailing spaces: %q", f.ID, i, l)
			}
			legend := i == len(lines)-1 && (strings.Contains(l, laneClosed+" no socket") ||
				strings.Contains(l, laneTimeWait+" TIME_WAIT") || strings.Contains(l, inferredMark+" inferred"))
			if i == 0 || legend {
				continue
			}
			var cols []int
			for col, r := range []rune(l) {
				if s := string(r); s == laneOpen || s == laneTimeWait || s == laneClosed {
					cols = append(cols, col)
				}
			}
			if len(cols) != 2 {
				t.Fatalf("flow %d line %d has %d lanes: %q", f.ID, i, len(cols), l)
			}
			laneCols[cols[0]*1000+cols[1]] = true
			runes := []rune(l)
			var words []string
			for _, w := range strings.Fields(string(runes[:cols[0]])) {
				if !strings.HasPrefix(w, "#") && !strings.HasPrefix(w, "+") {
					words = append(words, w)
				}
			}
			if len(words) > 0 {
				client = append(client, strings.Join(words, " "))
			}
			if s := strings.TrimSpace(string(runes[cols[1]+1:])); s != "" {
				server = append(server, s)
			}
		}
		if len(laneCols) != 1 {
			t.Errorf("flow %d: lanes move between lines: %v", f.ID, laneCols)
		}
		var wantClient, wantServer []string
		for _, e := range f.Sides.Client.States {
			wantClient = append(wantClient, stateLabel(e))
		}
		for _, e := range f.Sides.Server.States {
			wantServer = append(wantServer, stateLabel(e))
		}
		if diff := cmp.Diff(wantClient, client); diff != "" {
			t.Errorf("flow %d client states on the ladder (-want +got):\n%s", f.ID, diff)
		}
		if diff := cmp.Diff(wantServer, server); diff != "" {
			t.Errorf("flow %d server states on the ladder (-want +got):\n%s", f.ID, diff)
		}
		text := strings.Join(lines, "\n")
		for _, ev := range f.Events {
			if n := strings.Count("\n"+text, "\n"+frameText(ev.Frame)+" "); n != 1 {
				t.Errorf("flow %d: frame %d starts %d lines", f.ID, ev.Frame, n)
			}
		}
	}
}

func TestLadderLinesLanes(t *testing.T) {
	// The three-way close's client enters FIN_WAIT2 and TIME_WAIT on frame
	// 25: its lane is a full socket's on the first line, TIME_WAIT's on
	// the second, and stays TIME_WAIT after.
	lines := ladderLines(ladderRows(flowOf(t, incidentResult(), 2)))
	var got []string
	for _, l := range lines {
		if l.row != nil && l.row.frame >= 25 {
			got = append(got, fmt.Sprintf("#%d %q %s %s", l.row.frame, l.state[0], l.lanes[0], l.lanes[1]))
		}
	}
	want := []string{
		`#25 "FIN_WAIT2" FIN_WAIT2 LAST_ACK`,
		`#25 "TIME_WAIT" TIME_WAIT LAST_ACK`,
		`#26 "" TIME_WAIT CLOSED`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestLadderNamesRouterICMP: an ICMP error is drawn from the lane of the
// side it was not sent to; one from another address than that side's (a
// router's, a firewall's) says so, and the Mermaid ladder, which has the
// room, names the address.
func TestLadderNamesRouterICMP(t *testing.T) {
	for _, tc := range []struct {
		capture string
		text    string // the text ladder's ICMP arrow label
		mermaid string // in the Mermaid ladder, "" for no address
	}{
		{"syn-rejected-icmp.pcap", "── ICMP ──", ""},
		{"syn-rejected-icmp-router-v6.pcap", "── ICMP (router) ──", "ICMP admin-prohibited from 2001:db8:"},
		{"pmtu-black-hole-host-firewall.pcap", "── ICMP (router) ──", "ICMP fragmentation-needed from 198.51.100.65"},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			var f *analyze.Flow
			for _, g := range labResult(t, tc.capture).Flows {
				if len(g.ICMP) > 0 && f == nil {
					f = g
				}
			}
			if f == nil {
				t.Fatal("no flow with an ICMP error")
			}
			text := strings.Join(Ladder(f), "\n")
			if !strings.Contains(text, tc.text) {
				t.Errorf("text ladder lacks %q:\n%s", tc.text, text)
			}
			if tc.text == "── ICMP ──" && strings.Contains(text, "(router)") {
				t.Errorf("the server's own error drawn as a router's:\n%s", text)
			}
			m := strings.Join(mermaid(f), "\n")
			if tc.mermaid != "" && !strings.Contains(m, tc.mermaid) || tc.mermaid == "" && strings.Contains(m, " from ") {
				t.Errorf("Mermaid ladder, want %q:\n%s", tc.mermaid, m)
			}
		})
	}
}
