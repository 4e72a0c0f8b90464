package report

import "testing"

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
