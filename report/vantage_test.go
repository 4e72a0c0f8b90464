package report

import (
	"html"
	"io"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
)

// TestPathFact: a capture taken next to the server sees the client's FIN
// acknowledged 0.1 ms after it; the client itself waited a round trip
// (24 ms) in FIN_WAIT1, and the fact says so. Changes under a millisecond
// (the server's, 0.1 ms away) are left out.
func TestPathFact(t *testing.T) {
	t0 := analyze.Time(1_700_000_000e9)
	ms := func(x float64) analyze.Time { return t0 + analyze.Time(x*1e6) }
	st := func(s analyze.State, frame uint64, at analyze.Time) analyze.StateEntry {
		return analyze.StateEntry{State: s, Frame: frame, At: at}
	}
	ev := func(frame uint64, at analyze.Time, from analyze.Role, flags string) analyze.Event {
		return analyze.Event{Frame: frame, At: at, From: from, Flags: flags}
	}
	f := &analyze.Flow{
		RTT: &analyze.RTT{Client: new(0.024), Server: new(0.0001)},
		Sides: analyze.Sides{
			Client: &analyze.Side{States: []analyze.StateEntry{
				st(analyze.Established, 2, ms(0)), st(analyze.FinWait1, 7, ms(10)),
				st(analyze.FinWait2, 8, ms(10.1)), st(analyze.TimeWait, 9, ms(510.1)),
			}, FinalState: analyze.TimeWait},
			Server: &analyze.Side{States: []analyze.StateEntry{
				st(analyze.Established, 3, ms(1)), st(analyze.CloseWait, 7, ms(10)),
				st(analyze.LastAck, 9, ms(510.1)), st(analyze.Closed, 10, ms(534.1)),
			}, FinalState: analyze.Closed},
		},
		Events: []analyze.Event{
			ev(7, ms(10), analyze.Client, "F."), ev(8, ms(10.1), analyze.Server, "."),
			ev(9, ms(510.1), analyze.Server, "F."), ev(10, ms(534.1), analyze.Client, "."),
		},
	}
	want := "path: round trip 24.0ms to the client, 100µs to the server (from the handshake): captured near the server; " +
		"the client lived FIN_WAIT1 for 24.1ms (seen 100µs)"
	if got := pathFact(f, nil); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	f.RTT = &analyze.RTT{Server: new(0.0001)}
	if got, want := pathFact(f, nil), "path: round trip 100µs to the server (from the handshake)"; got != want {
		t.Errorf("server's round trip only:\n got %s\nwant %s", got, want)
	}
	f.RTT = nil
	if got := pathFact(f, nil); got != "" {
		t.Errorf("no round trip: %q, want none", got)
	}
}

func TestCaptureVantage(t *testing.T) {
	h := func(median float64) *analyze.Histogram { return &analyze.Histogram{Count: 10, Median: median} }
	for _, tt := range []struct {
		client, server float64
		want           string
	}{
		{0.0002, 0.030, "near the clients: median round trip 200µs to them, 30.0ms to the servers"},
		{0.030, 0.0002, "near the servers: median round trip 200µs to them, 30.0ms to the clients"},
		{0.010, 0.020, "between clients and servers: median round trip 10.0ms to the clients, 20.0ms to the servers"},
		// A local path: the hosts' own delays, not where the capture was.
		{0.00002, 0.0004, ""},
	} {
		s := &analyze.Summary{ClientRTT: h(tt.client), ServerRTT: h(tt.server)}
		if got := captureVantage(s); got != tt.want {
			t.Errorf("client %v, server %v: got %q, want %q", tt.client, tt.server, got, tt.want)
		}
	}
	if got := captureVantage(&analyze.Summary{ClientRTT: h(0.01)}); got != "" {
		t.Errorf("without the servers' round trips: %q", got)
	}
}

// TestVantageInReports: each report format says where the capture was
// taken, and the flow's detail gives its round trips.
func TestVantageInReports(t *testing.T) {
	res := sampleResult()
	res.Summary.ClientRTT = &analyze.Histogram{Unit: analyze.UnitSeconds, Count: 1, Min: 0.0241, Median: 0.0241, P99: 0.0241, Max: 0.0241}
	res.Summary.ServerRTT = &analyze.Histogram{Unit: analyze.UnitSeconds, Count: 1, Min: 0.0001, Median: 0.0001, P99: 0.0001, Max: 0.0001}
	res.Flows[0].RTT = &analyze.RTT{Client: new(0.0241), Server: new(0.0001)}
	want := []string{
		"near the servers: median round trip 100µs to them, 24.1ms to the clients",
		"path: round trip 24.1ms to the client, 100µs to the server (from the handshake): captured near the server",
	}
	for name, write := range map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "markdown": Markdown, "html": HTML} {
		var b strings.Builder
		if err := write(&b, res, Options{Only: "all", Verbose: true}); err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(b.String()), " ")
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s report lacks %q", name, w)
			}
		}
	}
}

// TestBothEndsVantage: captures taken at the client and at the server,
// merged, hold each packet twice a one-way delay apart (the lab's router
// holds packets 20 ms): every report says the capture was taken at both
// ends and that its round trips are one-way delays, and gives the gaps.
// A router's tcpdump -i any, whose copies are microseconds apart, is no
// such capture.
func TestBothEndsVantage(t *testing.T) {
	for _, c := range []struct {
		capture   string
		want, not []string
	}{
		{"capture-both-ends.pcapng", []string{
			"at both ends: 11 packets seen leaving and arriving, 20.2ms–20.9ms apart (one-way delays)",
			"(from the handshake): captured at both ends, each packet as it left, so these are one-way delays and each end's answer time",
			"each was read once (the segments' copies 20.2ms–20.9ms after the first)",
		}, []string{"captured between them", "between clients and servers"}},
		{"capture-twice-router.pcap", []string{
			"each was read once (the segments' copies 1µs–24µs after the first)",
		}, []string{"at both ends"}},
	} {
		checkReports(t, c.capture, labResult(t, c.capture), c.want, c.not)
	}
}

// checkReports writes res (of capture) in text, Markdown and HTML, every
// flow's detail with it, and checks that each report, its words joined
// by single spaces, holds every string of want and none of not.
func checkReports(t *testing.T, capture string, res *analyze.Result, want, not []string) {
	t.Helper()
	for name, write := range map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "markdown": Markdown, "html": HTML} {
		var b strings.Builder
		if err := write(&b, res, Options{Only: "all", Verbose: true}); err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s, %s report: lacks %q", capture, name, w)
			}
		}
		for _, w := range not {
			if strings.Contains(out, w) {
				t.Errorf("%s, %s report: says %q", capture, name, w)
			}
		}
	}
}
