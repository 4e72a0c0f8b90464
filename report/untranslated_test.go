package report

import (
	"html"
	"io"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
)

// TestUntranslatedReport: the lab's untranslated segment shows in every
// report's summary with its service, the address it came from and the
// silence, in the detail of both flows of the pair, and in the flow
// list under the flow that does not carry the diagnosis.
func TestUntranslatedReport(t *testing.T) {
	res := labResult(t, "nat-expired-untranslated.pcap")
	checkReports(t, "nat-expired-untranslated", res, []string{
		// The connection's detail, whose flow does not carry the link.
		"nat: flow 2 holds the server's segment of this connection that a NAT let through untranslated, from 198.51.100.80:8080 instead of 198.51.100.150:80 (frame 8, reset at frame 9)",
		// The untranslated segment's detail.
		"nat: the server's segment of flow 1's connection that a NAT let through untranslated",
		"the connection had been silent 3.5s, and the NAT's conntrack had forgotten it",
		"net.netfilter.nf_conntrack_tcp_timeout_established",
	}, nil)
	for name, write := range map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "html": HTML} {
		var b strings.Builder
		if err := write(&b, res, Options{}); err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
		for _, s := range []string{
			"198.51.100.150:80 ← 198.51.100.80:8080",
			"1 connection reset: the server's segments left the NAT untranslated, 1 after 3.5s idle (the NAT's conntrack entry expired)",
			// The flow list, under the flow that does not carry it.
			"nat-untranslated at flow 2: this connection's server's segment, let through untranslated",
		} {
			if !strings.Contains(out, s) {
				t.Errorf("the %s report lacks %q", name, s)
			}
		}
	}
	var b strings.Builder
	if err := Markdown(&b, res, Options{}); err != nil {
		t.Fatal(err)
	}
	if row := "| `198.51.100.150:80` | `198.51.100.80:8080` | 1 | 1 | 3.5s | 0 |"; !strings.Contains(b.String(), row) {
		t.Errorf("the Markdown summary lacks %q", row)
	}
	// At the server the pair is one flow: the client's RST came from its
	// kernel, and its socket did not close first.
	checkReports(t, "nat-expired-untranslated-server", labResult(t, "nat-expired-untranslated-server.pcap"), []string{
		"for a segment on another 4-tuple; the client's socket stayed in ESTABLISHED",
		"the client went on sending on the connection",
	}, []string{"client closed first"})
}

// TestConnectDelaysReport: a server's connections answered only at a
// retransmitted SYN show in every report's summary, once there are two
// (the lab's syn-dropped-accept-queue merged with itself, as two shards
// of a capture would be); one is left to its own diagnosis.
func TestConnectDelaysReport(t *testing.T) {
	one := labResult(t, "syn-dropped-accept-queue.pcap")
	checkReports(t, "syn-dropped-accept-queue", one, []string{"syn-retransmitted"}, []string{"SYN retried ", "answered only at a retransmitted SYN,"})
	two := labResult(t, "syn-dropped-accept-queue.pcap")
	two.Summary.Merge(labResult(t, "syn-dropped-accept-queue.pcap").Summary)
	for name, write := range map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "html": HTML} {
		var b strings.Builder
		if err := write(&b, two, Options{}); err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
		if s := "198.51.100.80:8080: 2 connections answered only at a retransmitted SYN, 1.0s after the first"; name == "text" && !strings.Contains(out, "SYN retried "+s) ||
			!strings.Contains(out, "2 connections answered only at a retransmitted SYN, 1.0s after the first") {
			t.Errorf("the %s summary lacks the server's connect delays", name)
		}
	}
	var b strings.Builder
	if err := Markdown(&b, two, Options{}); err != nil {
		t.Fatal(err)
	}
	if row := "| `198.51.100.80:8080` | 2 | 1.0s | 0 |"; !strings.Contains(b.String(), row) {
		t.Errorf("the Markdown summary lacks %q", row)
	}
	// With the lab's accept-queue-full capture of the same server (its
	// listener ignored a handshake ACK) as another shard, the reports
	// give the likeliest reason.
	two.Summary.Merge(labResult(t, "accept-queue-full.pcap").Summary)
	for name, write := range map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "html": HTML, "markdown": Markdown} {
		var b strings.Builder
		if err := write(&b, two, Options{}); err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
		want := "2 connections answered only at a retransmitted SYN, 1.0s after the first; its accept queue was full on 1 other connection (accept-queue-full, listen-overflow)"
		if name == "markdown" {
			want = "| `198.51.100.80:8080` | 2 | 1.0s | 1 |"
		}
		if !strings.Contains(out, want) {
			t.Errorf("the %s summary lacks %q", name, want)
		}
	}
}
