package report

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/analyze"
)

func TestBoundText(t *testing.T) {
	s := incidentResult().Summary
	const bind = "the application did not bind() the port itself"
	for _, tt := range []struct {
		b    analyze.Bound
		want string
	}{
		{analyze.Bound{Host: "198.51.100.1", Sysctl: analyze.SysFinTimeout, Of: analyze.OfLifetime, Below: ptr(71.25977)},
			"tcp_fin_timeout on 198.51.100.1: an orphaned FIN_WAIT2 lives below 71.3s; values that fit: below 95.63 s (above 60 s an orphaned FIN_WAIT2 lives 2·(t−60) s)"},
		// Another host: the summary has no intersection for it.
		{analyze.Bound{Host: "198.51.100.9", Sysctl: analyze.SysOrphanRetries, Of: analyze.OfBudget, Above: ptr(2.932441), Below: ptr(6.261355),
			Assumes: "the socket gave up when its next retransmission was due"},
			"tcp_orphan_retries on 198.51.100.9: retry budget above 2.9s and below 6.3s (if the socket gave up when its next retransmission was due)"},
		{analyze.Bound{Host: "198.51.100.1", Sysctl: analyze.SysTwReuseDelay, Of: analyze.OfValue, Below: ptr(1308.501), Assumes: bind},
			"tcp_tw_reuse_delay on 198.51.100.1: below 1308.5 (if the application did not bind() the port itself)"},
	} {
		if got := boundText(s, tt.b); got != tt.want {
			t.Errorf("boundText(%+v)\n got %q\nwant %q", tt.b, got, tt.want)
		}
	}
}

func TestCheckText(t *testing.T) {
	c := analyze.SettingCheck{Host: "198.51.100.10", Sysctl: analyze.SysFinTimeout, Value: "60"}
	for _, tt := range []struct {
		sysctl string
		agrees bool
		want   string
	}{
		{analyze.SysFinTimeout, true, "tcp_fin_timeout = 60 on 198.51.100.10 agrees"},
		// The comparison moved the diagnosis to another knob.
		{analyze.OptLinger2, false, "tcp_fin_timeout = 60 on 198.51.100.10 disagrees: the diagnosis names TCP_LINGER2 instead"},
		{"", false, "tcp_fin_timeout = 60 on 198.51.100.10 disagrees"},
	} {
		c.Agrees = tt.agrees
		if got := checkText(analyze.Diagnosis{Sysctl: tt.sysctl}, c); got != tt.want {
			t.Errorf("checkText: got %q, want %q", got, tt.want)
		}
	}
}

func TestLimitsText(t *testing.T) {
	host := func(name string, tw int64, twFrom string) analyze.HostLoad {
		return analyze.HostLoad{Host: name,
			TimeWait: analyze.Peak{Limit: tw, LimitFrom: twFrom},
			Orphans:  analyze.Peak{Limit: 131072, LimitFrom: "default"}}
	}
	a, b := host("192.0.2.1", 131072, "default"), host("192.0.2.2", 131072, "default")
	c := host("192.0.2.3", 4096, "fleet.conf")
	for _, tt := range []struct {
		hosts []analyze.HostLoad
		want  string
	}{
		{nil, ""},
		{[]analyze.HostLoad{a, b}, "tcp_max_tw_buckets 131,072 · tcp_max_orphans 131,072 (default)"},
		{[]analyze.HostLoad{c}, "tcp_max_tw_buckets 4,096 (from fleet.conf) · tcp_max_orphans 131,072 (default)"},
		{[]analyze.HostLoad{a, c, b}, "tcp_max_tw_buckets 131,072 on 192.0.2.1, 192.0.2.2 (default), 4,096 on 192.0.2.3 (from fleet.conf) · tcp_max_orphans 131,072 (default)"},
	} {
		if got := limitsText(tt.hosts); got != tt.want {
			t.Errorf("limitsText\n got %q\nwant %q", got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	lines := []string{"the client reset the", "connection from ESTABLISHED", "instead of sending a FIN"}
	for _, tt := range []struct {
		n    int
		want []string
	}{
		{0, lines},
		{3, lines},
		{2, []string{"the client reset the", "connection from …"}},
		{1, []string{"the client reset the …"}},
	} {
		if diff := cmp.Diff(tt.want, clip(lines, 27, tt.n)); diff != "" {
			t.Errorf("clip to %d lines (-want +got):\n%s", tt.n, diff)
		}
	}
}

// TestSummaryOrder checks what the summaries pick from analyze.Summary:
// busy hosts by their highest peak, ports by their share of the range,
// distributions in the order of the states.
func TestSummaryOrder(t *testing.T) {
	s := incidentResult().Summary
	hosts, rest := busyHosts(s, 1)
	if len(hosts) != 1 || hosts[0].Host != "198.51.100.1" || rest != 1 {
		t.Errorf("busiest host %v, %d more; want 198.51.100.1 and 1 more", hosts, rest)
	}
	ports, _ := portLoads(s, 0, 5)
	if len(ports) != 2 || ports[0].Server != "198.51.100.2:8080" {
		t.Errorf("ports %+v: want 198.51.100.2:8080 first", ports)
	}
	if ps, _ := portLoads(s, notablePorts, 5); len(ps) != 0 {
		t.Errorf("%d address pairs at 1%% of the ephemeral range, want none", len(ps))
	}
	var labels []string
	for _, d := range distributions(s) {
		labels = append(labels, d.Label)
	}
	want := []string{"FIN retx", "in FIN_WAIT1", "in FIN_WAIT2", "in CLOSING", "in TIME_WAIT", "in CLOSE_WAIT", "in LAST_ACK", "reuse gap"}
	if diff := cmp.Diff(want, labels); diff != "" {
		t.Errorf("distributions (-want +got):\n%s", diff)
	}
	if got := distributions(nil); got != nil {
		t.Errorf("distributions without a summary: %v", got)
	}
}
