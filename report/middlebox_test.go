package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
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
	row := onPathRow(t, res)
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

// TestMiddleboxDrop: segments a router dropped after it forgot the idle
// connection (the lab's no-answer-after-idle) are told as unanswered,
// with the router's knob confirmed on the path, and the summary brackets
// its idle timeout between the silence the first connection lived
// through and the one after which the second went unanswered.
func TestMiddleboxDrop(t *testing.T) {
	res := labResult(t, "no-answer-after-idle.pcap")
	text := render(t, res, Options{Verbose: true})
	for _, want := range []string{
		"✖ no-answer-after-idle · client\n",
		"after 3.5s of silence the client sent 100 bytes",
		"a device on the path to 198.51.100.80 forgets connections\n                  conntrack holds in ESTABLISHED after between 1.2s and 3.5s\n",
		// -v writes the finding whole, with its confidence and advice:
		// the server was not heard from after, so it may have gone down.
		"1.2s silent and lived on\n                  confidence medium: the wire cannot tell a device that forgot\n",
		"from a peer host that went down\n                  advice: raise the device's idle timeout",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	if short := render(t, res, Options{}); strings.Contains(short, "lived on") || strings.Contains(short, "advice: raise") {
		t.Errorf("without -v the finding is not clipped:\n%s", short)
	}
	if row := onPathRow(t, res); !strings.Contains(row, "`no-answer-after-idle` on the path to `198.51.100.80` at ") {
		t.Errorf("knob row %q: want the finding on the path to the server", row)
	}
}

// onPathRow returns the Markdown report's row of conntrack's established
// timeout, and checks that it gives the firewall's commands to confirm it
// and no host to run them on.
func onPathRow(t *testing.T, res *analyze.Result) string {
	t.Helper()
	row := ""
	for _, l := range strings.Split(renderMarkdown(t, res, Options{}), "\n") {
		if strings.HasPrefix(l, "| `net.netfilter.nf_conntrack_tcp_timeout_established` |") {
			row = l
		}
	}
	cells := strings.Split(row, " | ")
	if confirm := cells[len(cells)-1]; strings.Contains(confirm, "198.51.100.") || !strings.HasPrefix(confirm, "on the device on the path: `conntrack -L -p tcp") {
		t.Errorf("knob row %q: want the firewall's commands and no host to confirm them on", row)
	}
	return row
}

// TestMiddleboxRefused: a SYN a router refused in the server's name (the
// lab's rst-middlebox-refused, whose first connection the server
// accepted) is said to be the device's, with the device's policy in a
// row of its own apart from the application's.
func TestMiddleboxRefused(t *testing.T) {
	res := labResult(t, "rst-middlebox-refused.pcap")
	md := renderMarkdown(t, res, Options{})
	for _, want := range []string{
		"arrived with TTL 64, where 198.51.100.80's own segments in the connection it accepted arrived with 63 (1 hop nearer the capture point): a device on the path refused them",
		"\n| none (a device's policy on the path) | `rst-middlebox` on the path to `198.51.100.80` at ",
		// The refusal's own commands: the device's REJECT rules, not its
		// conntrack table.
		"| on the device on the path: `iptables -S \\| grep -i -e REJECT -e tcp-reset`, `nft list ruleset \\| grep -i reject` |\n",
		"\n| none (application) | `connection-refused` (1 flow, e.g. flow 2): the SYN was refused | 1 | leave the sysctls; start the service or connect to the right port, or find the firewall rule that refuses it | on `198.51.100.80`: `ss -ltn` |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown report lacks %q:\n%s", want, md)
		}
	}
}
