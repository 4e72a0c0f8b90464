package capture

import (
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// TestFilteredOnFlags: a capture of connections set up and closed in which
// no segment lacks SYN, FIN or RST was taken with a filter on TCP flags,
// and a warning says what that hides; one plain segment, or a capture of
// SYNs alone (a flood), is no such capture.
func TestFilteredOnFlags(t *testing.T) {
	seg := func(fl flows.Flags) tcpSpec {
		s := basic()
		s.flags, s.payload = fl, 0
		return s
	}
	capture := func(flags ...flows.Flags) string {
		var recs []rec
		for i, fl := range flags {
			recs = append(recs, rec{ts: int64(i+1) * 1e9, data: ethFrame(t, seg(fl))})
		}
		return tempFile(t, pcapFile(t, 1, false, recs...))
	}
	ctl := []flows.Flags{flows.SYN, flows.SYN | flows.ACK, flows.FIN | flows.ACK, flows.FIN | flows.ACK}
	file := capture(ctl...)
	_, info := readAll(t, []string{file}, Options{})
	want := file + ": every one of its 4 TCP segments carries SYN, FIN or RST: it was captured with a filter on TCP flags (such as 'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0'), so pure ACKs and data are missing: the ACK of a FIN, TIME_WAIT and half-closes do not show, closes read as three-way and states stop short"
	if !slices.Equal(info.Warnings, []string{want}) {
		t.Errorf("control segments only: warnings %q, want %q", info.Warnings, want)
	}
	for name, flags := range map[string][]flows.Flags{
		"one plain ACK":  append(slices.Clone(ctl), flows.ACK),
		"one data":       append(slices.Clone(ctl), flows.PSH|flows.ACK),
		"SYNs alone":     slices.Repeat([]flows.Flags{flows.SYN}, 20),
		"no FIN":         {flows.SYN, flows.SYN | flows.ACK, flows.RST, flows.SYN, flows.SYN | flows.ACK, flows.RST},
		"three segments": ctl[:3],
	} {
		if _, info := readAll(t, []string{capture(flags...)}, Options{}); slices.ContainsFunc(info.Warnings, func(w string) bool {
			return strings.Contains(w, "filter on TCP flags")
		}) {
			t.Errorf("%s: warnings %q", name, info.Warnings)
		}
	}
}
