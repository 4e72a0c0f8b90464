package report

import (
	"fmt"
	"strings"
	"testing"
)

// TestMiddleboxReset: a RST a router made in the server's name (the lab's
// rst-middlebox-idle, whose first connection lived through a shorter
// silence) is told as such, the server is not said to have closed, the
// knob, which is on the router, is not put on the server, and the summary
// brackets the router's idle timeout.
func TestMiddleboxReset(t *testing.T) {
	res := labResult(t, "rst-middlebox-idle.pcap")
	if len(res.Flows) != 2 || res.Flows[1].Close.Reset == nil {
		t.Fatalf("want a second flow that was reset: %+v", res.Flows)
	}
	rst := res.Flows[1].Close.Reset.Frame
	text := render(t, res, Options{Verbose: true})
	for _, want := range []string{
		fmt.Sprintf("RST in the server's name at #%d from a device on the path; the server\n  stayed in ESTABLISHED", rst),
		"╎◀───── RST (middlebox) ───│",
		// The knob too long for its column goes under the code.
		"  diagnoses     ▲ rst-middlebox  1 flow\n                  net.netfilter.nf_conntrack_tcp_timeout_established\n",
		"forgets connections\n                  conntrack holds in ESTABLISHED after between 1.2s and 3.5s\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "server closed first") {
		t.Errorf("text report says the server closed first:\n%s", text)
	}
	md := renderMarkdown(t, res, Options{})
	row := ""
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| `net.netfilter.nf_conntrack_tcp_timeout_established` |") {
			row = l
		}
	}
	cells := strings.Split(row, " | ")
	if confirm := cells[len(cells)-1]; strings.Contains(confirm, "198.51.100.") || !strings.HasPrefix(confirm, "on the device on the path: `conntrack -L -p tcp") {
		t.Errorf("knob row %q: want the firewall's commands and no host to confirm them on", row)
	}
	if !strings.Contains(row, "`rst-middlebox` on the path to `198.51.100.80` at ") {
		t.Errorf("knob row %q: want the finding on the path to the server", row)
	}
}

// TestMiddleboxResetAfterFIN: when the server had closed first and a
// device on the path then reset the client in its name, the report still
// says the server closed first.
func TestMiddleboxResetAfterFIN(t *testing.T) {
	res := labResult(t, "rst-middlebox-close-wait.pcap")
	text := render(t, res, Options{Verbose: true})
	want := "reset · server closed first · RST in the server's name at #"
	if !strings.Contains(text, want) {
		t.Errorf("text report lacks %q:\n%s", want, text)
	}
}
