package report

import (
	"html"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
)

// TestIdleClosesReport: the two keep-alive captures together make one
// service in every report's summary, with its idle time and how each
// connection was written on; one capture alone leaves its flow to its
// own diagnosis.
func TestIdleClosesReport(t *testing.T) {
	dir := filepath.Join("..", "testdata", "lab")
	both := analyseFiles(t, []string{filepath.Join(dir, "keepalive-idle-stale.pcap"), filepath.Join(dir, "keepalive-idle-race.pcap")}, analyze.Options{})
	checkReports(t, "keepalive-idle-*", both, []string{"198.51.100.80:8080", "raced the FIN", "stale pooled connection"}, nil)
	for name, write := range map[string]func(io.Writer, *analyze.Result, Options) error{"text": Text, "html": HTML} {
		var b strings.Builder
		if err := write(&b, both, Options{}); err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
		for _, s := range []string{"the service 198.51.100.80:8080", "2 connections closed after 1.0s idle and written on: 1 on a stale pooled connection (the FIN acknowledged) and 1 raced the FIN"} {
			if !strings.Contains(out, s) {
				t.Errorf("the %s summary lacks %q", name, s)
			}
		}
	}
	checkReports(t, "keepalive-idle-stale", labResult(t, "keepalive-idle-stale.pcap"), []string{"wrote on it anyway"}, []string{"raced the FIN", "Idle connections closed", "idle closes"})
	var b strings.Builder
	if err := Markdown(&b, both, Options{}); err != nil {
		t.Fatal(err)
	}
	if row := "| the service `198.51.100.80:8080` | 2 | 1.0s | 1 | 1 |"; !strings.Contains(b.String(), row) {
		t.Errorf("the Markdown summary lacks %q", row)
	}
}
