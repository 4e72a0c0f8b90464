package report

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
)

// TestCloseWaitsInReports: every report lists the applications that held
// CLOSE_WAIT, the clients of a service by their addresses (text: two, then
// "and more"), a service by its address and port; a lone close-wait-long
// flow is left to its diagnosis.
func TestCloseWaitsInReports(t *testing.T) {
	res := sampleResult()
	res.Summary.CloseWaits = []analyze.CloseWaitLoad{
		{Holder: analyze.Client, Server: "198.51.100.80:8080", Hosts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.10"}, MoreHosts: true, Flows: 1200, OpenAtEnd: 30, Longest: 1805},
		{Holder: analyze.Server, Server: "198.51.100.81:443", Flows: 2, Longest: 3.2},
	}
	want := map[string][]string{
		"text": {
			"the clients of 198.51.100.80:8080 on 10.0.0.1, 10.0.0.2 and more: 1,200 flows, up to 30m05s, 30 still in CLOSE_WAIT at the end",
			"the service 198.51.100.81:443: 2 flows, up to 3.2s",
		},
		"markdown": {
			"| the clients of `198.51.100.80:8080` on 10.0.0.1, 10.0.0.2, 10.0.0.10 and more | 1,200 | 30m05s | 30 |",
			"| the service `198.51.100.81:443` | 2 | 3.2s | 0 |",
		},
		"html": {
			"<th>the clients of 198.51.100.80:8080 on 10.0.0.1, 10.0.0.2, 10.0.0.10 and more</th><td>1,200 flows, up to 30m05s, 30 still in CLOSE_WAIT at the end</td>",
			"<th>the service 198.51.100.81:443</th><td>2 flows, up to 3.2s</td>",
		},
	}
	writers := map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "markdown": Markdown, "html": HTML}
	for name, write := range writers {
		var b strings.Builder
		if err := write(&b, res, Options{Only: "all"}); err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(b.String()), " ")
		for _, w := range want[name] {
			if !strings.Contains(out, w) {
				t.Errorf("%s report lacks %q", name, w)
			}
		}
	}

	res.Summary.CloseWaits = res.Summary.CloseWaits[1:]
	res.Summary.CloseWaits[0].Flows = 1
	for name, write := range writers {
		var b strings.Builder
		if err := write(&b, res, Options{Only: "all"}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "the service 198.51.100.81:443") {
			t.Errorf("%s report lists a lone close-wait-long flow's service", name)
		}
	}
}

// TestStoppedInReports: every report says when recording stopped after
// the last packet where the capture records it (the lab's dumpcap capture
// of a client pool), and none does where it does not.
func TestStoppedInReports(t *testing.T) {
	writers := map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "markdown": Markdown, "html": HTML}
	for file, recorded := range map[string]bool{"close-wait-pool.pcapng": true, "close-wait-long.pcapng": false, "client-active-close.pcap": false} {
		res := labResult(t, file)
		c := res.Capture
		if (c.Stopped > c.Last) != recorded {
			t.Fatalf("%s: stopped %v, last %v", file, c.Stopped, c.Last)
		}
		want := "recording stopped"
		if recorded {
			want = fmt.Sprintf("recording stopped %s after the last packet, at %s UTC", seconds(c.Last.Seconds(c.Stopped)), c.Stopped.Std().Format("15:04:05.000"))
		}
		for name, write := range writers {
			var b strings.Builder
			if err := write(&b, res, Options{}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(strings.Join(strings.Fields(b.String()), " "), want); got != recorded {
				t.Errorf("%s, %s report: %q said %v, want %v", file, name, want, got, recorded)
			}
		}
	}
}
