package report

import (
	"strings"
	"testing"
)

// TestNoSocketReport: a flow the server's kernel reset for want of a
// socket says so in every report, and does not say the server closed
// first: its socket was gone, it never closed.
func TestNoSocketReport(t *testing.T) {
	checkReports(t, "socket-lost", labResult(t, "socket-lost.pcap"), []string{
		"RST by the server's kernel at",
		"its socket was already gone, never closed",
		"rst-no-socket",
		"Nothing on the wire says where the socket went",
	}, []string{"server closed first"})
	checkReports(t, "socket-lost-retries2", labResult(t, "socket-lost-retries2.pcap"), []string{
		"its socket was already gone, never closed",
		"net.ipv4.tcp_retries2",
		"It had given up retransmitting",
	}, []string{"server closed first"})
}

// TestNoSocketKnobRow: with no knob to name, a lost socket's row in the
// sysctl table says the host (or what is in front of it) governs it, not
// the application.
func TestNoSocketKnobRow(t *testing.T) {
	md := renderMarkdown(t, labResult(t, "socket-lost.pcap"), Options{})
	if !strings.Contains(md, "\n| none (the host, or what is in front of it) | `rst-no-socket` (1 flow, e.g. flow 1)") || strings.Contains(md, "none (application)") {
		t.Errorf("the sysctl table:\n%s", md)
	}
}
