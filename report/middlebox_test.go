package report

import (
	"strings"
	"testing"
)

// TestMiddleboxReset: a RST a router made in the server's name (the lab's
// rst-middlebox-idle) is told as such, the server is not said to have
// closed, and the knob, which is on the router, is not put on the server.
func TestMiddleboxReset(t *testing.T) {
	res := labResult(t, "rst-middlebox-idle.pcap")
	text := render(t, res, Options{Verbose: true})
	for _, want := range []string{
		"RST in the server's name at #9 from a device on the path; the server\n  stayed in ESTABLISHED",
		"╎◀───── RST (middlebox) ───│",
		"server  SYN_RECV",
		// The knob too long for its column goes under the code.
		"  diagnoses     ▲ rst-middlebox  1 flow\n                  net.netfilter.nf_conntrack_tcp_timeout_established\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "closed first") {
		t.Errorf("text report says someone closed first:\n%s", text)
	}
	md := renderMarkdown(t, res, Options{})
	row := ""
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| `net.netfilter.nf_conntrack_tcp_timeout_established` |") {
			row = l
		}
	}
	if row == "" || strings.Contains(row, "198.51.100.") || !strings.Contains(row, "# on the firewall") {
		t.Errorf("knob row %q: want the firewall's commands and no host", row)
	}
}
