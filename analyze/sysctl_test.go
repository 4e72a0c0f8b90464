package analyze

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/testenv"
)

// sysctlA is an excerpt of `sysctl -a` as a host prints it, standard
// error included.
const sysctlA = `abi.vsyscall32 = 1
dev.cdrom.info = CD-ROM information, Id: cdrom.c 3.20 2003/12/17
dev.cdrom.info = drive name:	sr0
kernel.hostname = web-7
sysctl: permission denied on key 'fs.protected_hardlinks'
net.ipv4.ip_local_port_range = 32768	60999
net.ipv4.tcp_fin_timeout = 60
net.ipv4.tcp_mem = 188253	251006	376506
net.ipv4.tcp_orphan_retries = 0
net.ipv4.tcp_tw_reuse = 2

# sysctl.conf forms
net/ipv4/tcp_max_tw_buckets=262144
; another comment
net.ipv6.conf.eth0.stable_secret =
`

func TestParseSysctls(t *testing.T) {
	s, err := ParseSysctls(strings.NewReader(sysctlA), "web-7.sysctl")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		SysLocalPortRange: "32768 60999", SysFinTimeout: "60", SysMem: "188253 251006 376506",
		SysOrphanRetries: "0", SysTwReuse: "2", SysMaxTwBuckets: "262144",
	}
	if len(s.Values) != len(want) {
		t.Errorf("values %v, want %v", s.Values, want)
	}
	for k, v := range want {
		if s.Values[k] != v {
			t.Errorf("%s = %q, want %q", k, s.Values[k], v)
		}
	}
	if v, ok := s.Int(SysMaxTwBuckets); !ok || v != 262144 {
		t.Errorf("Int: %d %v", v, ok)
	}
	if v, ok := s.Ints(SysLocalPortRange); !ok || !slices.Equal(v, []int64{32768, 60999}) {
		t.Errorf("Ints: %v %v", v, ok)
	}
	if _, ok := s.Int(SysMem); ok {
		t.Error("Int of a three-value setting")
	}
	if s.Source != "web-7.sysctl" || !s.For("198.51.100.10") {
		t.Errorf("source %q, For", s.Source)
	}
	s.Hosts = []netip.Addr{netip.MustParseAddr("198.51.100.80")}
	if s.For("198.51.100.10") || !s.For("198.51.100.80") || !s.For("::ffff:198.51.100.80") {
		t.Error("For with Hosts")
	}
	if (Sysctls{}).For("198.51.100.10") {
		t.Error("empty settings describe a host")
	}
}

func TestParseSysctlsErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no equals sign", "net.ipv4.tcp_fin_timeout = 60\nnet.ipv4.tcp_fin_timeout 60\n", `h.sysctl:2: "net.ipv4.tcp_fin_timeout 60": want KEY = VALUE`},
		{"space in key", "net ipv4 = 1\n", `h.sysctl:1: "net ipv4 = 1": want KEY = VALUE`},
		{"not an integer", "\n\nnet.ipv4.tcp_fin_timeout = sixty\n", `h.sysctl:3: "net.ipv4.tcp_fin_timeout = sixty": net.ipv4.tcp_fin_timeout takes 1 integer(s)`},
		{"one of two", "net.ipv4.ip_local_port_range = 32768\n", `h.sysctl:1: "net.ipv4.ip_local_port_range = 32768": net.ipv4.ip_local_port_range takes 2 integer(s)`},
		{"nothing", "# only a comment\n\n", "h.sysctl: no settings in it (want the output of sysctl -a)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSysctls(strings.NewReader(tt.in), "h.sysctl")
			if err == nil || !errors.Is(err, ErrSysctlSyntax) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want %s...", err, tt.want)
			}
		})
	}
}

// labTruth is the part of a lab truth file the settings tests read.
type labTruth struct {
	Capture string                       `json:"capture"`
	Sysctls map[string]map[string]string `json:"sysctls"`
	Flows   []struct {
		Client string `json:"client"`
		Server string `json:"server"`
	} `json:"flows"`
}

func readLabTruth(t *testing.T, path string) labTruth {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tr labTruth
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tr
}

// runLab analyses a lab capture with options.
func runLab(t *testing.T, path string, opts Options) *Result {
	t.Helper()
	r, err := capture.Open([]string{path}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	opts.CaptureEnd = func() int64 { return r.Info().End() }
	res, err := Run(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// labSettings are a truth file's settings of one side, for that side's
// host only; the "host" side's (global sysctls, set in the lab machine's
// own namespace) hold for every host.
func labSettings(tr labTruth, side string) Sysctls {
	if side == "host" {
		return Sysctls{Source: side + ".sysctl", Values: tr.Sysctls[side]}
	}
	ap := netip.MustParseAddrPort(tr.Flows[0].Client)
	if side == "server" {
		ap = netip.MustParseAddrPort(tr.Flows[0].Server)
	}
	return Sysctls{Source: side + ".sysctl", Values: tr.Sysctls[side], Hosts: []netip.Addr{ap.Addr()}}
}

// TestLabSettingsAgree gives each lab capture the settings its truth file
// says the lab set, side by side: no comparison may contradict them, and
// every diagnosis whose knob was set must compare with it.
func TestLabSettingsAgree(t *testing.T) {
	dir := testenv.Lab(t)
	truths, _ := filepath.Glob(filepath.Join(dir, "*.truth.json"))
	compared := 0
	for _, path := range truths {
		tr := readLabTruth(t, path)
		for _, side := range []string{"client", "server", "host"} {
			sys := labSettings(tr, side)
			if len(sys.Values) == 0 {
				continue
			}
			t.Run(filepath.Base(path)+"/"+side, func(t *testing.T) {
				res := runLab(t, filepath.Join(dir, tr.Capture), Options{Sysctls: sys})
				for _, f := range res.Flows {
					for _, d := range f.Diagnoses {
						for _, c := range d.Checks {
							compared++
							if !c.Agrees {
								t.Errorf("flow %d %s: %s = %s contradicted: %s", f.ID, d.Code, c.Sysctl, c.Value, d.Message)
							}
						}
						if _, set := sys.Values[d.Sysctl]; set && len(d.Checks) == 0 && sys.For(hostOf(f, d.Side)) {
							t.Errorf("flow %d %s: %s is set but not compared", f.ID, d.Code, d.Sysctl)
						}
					}
				}
			})
		}
	}
	if compared < 5 {
		t.Errorf("only %d comparisons over the lab", compared)
	}
}

// TestLabSettingsDecide: settings that contradict the capture's first
// reading change the knob named.
func TestLabSettingsDecide(t *testing.T) {
	dir := testenv.Lab(t)
	tests := []struct {
		fixture, code string
		values        map[string]string
		sysctl, says  string
	}{
		{"fin-never-acked-orphan-retries-3", CodeFinNeverAcked, map[string]string{SysOrphanRetries: "1"}, SysRetries2, "was no orphan"},
		{"fin-never-acked-orphan-retries-3", CodeFinNeverAcked, map[string]string{SysOrphanRetries: "3"}, SysOrphanRetries, "its budget of 3.0s fits"},
		{"tw-reuse-ephemeral", CodeTimeWaitReuse, map[string]string{SysTwReuse: "0"}, "", "bind()s the port explicitly"},
		{"tw-reuse-ephemeral", CodeTimeWaitReuse, map[string]string{SysTwReuse: "1", SysTwReuseDelay: "2000"}, "", "under tcp_tw_reuse_delay (2000 ms)"},
		{"tw-reuse-bind", CodeTimeWaitReuse, map[string]string{SysTwReuse: "1", SysTwReuseDelay: "50"}, SysTwReuse, "tcp_tw_reuse or an explicit bind()"},
		{"fin-wait-2-timeout", CodeFinWait2Timeout, map[string]string{SysFinTimeout: "60"}, OptLinger2, "shorter TCP_LINGER2"},
		// Four SYN-ACKs, two drawn by the client's two retransmitted SYNs:
		// one came from the request's timer.
		{"synack-unanswered", CodeSynAckUnanswered, map[string]string{SysSynAckRetries: "5"}, SysSynAckRetries, "tcp_synack_retries = 5: at least 1 retransmission came from the request's timer, which fits it"},
		{"synack-unanswered", CodeSynAckUnanswered, map[string]string{SysSynAckRetries: "0"}, SysSynAckRetries, "tcp_synack_retries = 0: yet the server retransmitted its SYN-ACK once more than the client's SYNs account for"},
		// The client's data went out at 0.011s and its last copy at
		// 6.818s: tcp_retries2 = 5 allows 12.6s from the first RTO
		// retransmission, 3 only 3.0s.
		{"data-unanswered", CodeDataUnanswered, map[string]string{SysRetries2: "5"}, SysRetries2, "tcp_retries2 = 5: its budget of 12.6s from the first RTO retransmission outlasts the 6.8s the copies span"},
		{"data-unanswered", CodeDataUnanswered, map[string]string{SysRetries2: "3"}, SysRetries2, "tcp_retries2 = 3: it allows 3.0s of retransmissions, yet the copies span 6.8s"},
		// The client only shut down: its FIN went six times over 3.3s and
		// the capture ran on 6.3s past the last copy, past the next one
		// due (+6.7s), so the socket gave up within 6.3s of its first RTO
		// retransmission. An orphan would have had 102.2s; tcp_retries2 = 3
		// gives 3.0s... 6.3s, and governed it.
		{"fin-never-acked-shutdown-retries2-3", CodeFinNeverAcked, map[string]string{SysOrphanRetries: "0", SysRetries2: "3"}, SysRetries2, "gave up within 6.3s, so the socket was no orphan"},
		{"fin-never-acked-shutdown-retries2-3", CodeFinNeverAcked, map[string]string{SysOrphanRetries: "0", SysRetries2: "15"}, SysOrphanRetries, "or a lower tcp_retries2 if the socket was no orphan"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+tt.values[SysOrphanRetries]+tt.values[SysTwReuse]+tt.values[SysFinTimeout]+tt.values[SysSynAckRetries]+tt.values[SysRetries2], func(t *testing.T) {
			tr := readLabTruth(t, filepath.Join(dir, tt.fixture+".truth.json"))
			res := runLab(t, filepath.Join(dir, tr.Capture), Options{Sysctls: Sysctls{Source: "host.sysctl", Values: tt.values}})
			f := res.Flows[len(res.Flows)-1]
			d := find(t, f, tt.code)
			if d.Sysctl != tt.sysctl || !strings.Contains(d.Message, tt.says) {
				t.Errorf("sysctl %q (want %q), message:\n%s", d.Sysctl, tt.sysctl, d.Message)
			}
		})
	}
}

// TestLabSynAckBound: the lab's unanswered SYN-ACKs bound
// tcp_synack_retries from below by the one copy the request's timer sent
// (frame 3, before the client's first retransmitted SYN; frames 5 and 7
// answer that SYN and the next).
func TestLabSynAckBound(t *testing.T) {
	dir := testenv.Lab(t)
	tr := readLabTruth(t, filepath.Join(dir, "synack-unanswered.truth.json"))
	res := runLab(t, filepath.Join(dir, tr.Capture), Options{})
	d := find(t, res.Flows[0], CodeSynAckUnanswered)
	if len(d.Bounds) != 1 {
		t.Fatalf("bounds %+v", d.Bounds)
	}
	b := d.Bounds[0]
	if b.Sysctl != SysSynAckRetries || b.Of != OfValue || b.Host != "198.51.100.80" || b.Above == nil || *b.Above != 0 || b.Below != nil {
		t.Errorf("bound %+v", b)
	}
}

// TestLabPortRange: the one-port ephemeral range the lab set for
// tw-reuse-ephemeral makes its TIME_WAIT port a finding.
func TestLabPortRange(t *testing.T) {
	dir := testenv.Lab(t)
	tr := readLabTruth(t, filepath.Join(dir, "tw-reuse-ephemeral.truth.json"))
	res := runLab(t, filepath.Join(dir, tr.Capture), Options{Sysctls: labSettings(tr, "client")})
	if len(res.Summary.Ports) != 1 {
		t.Fatalf("ports %+v", res.Summary.Ports)
	}
	p := res.Summary.Ports[0]
	if p.TimeWait.Count != 1 || p.TimeWait.Limit != 1 || p.TimeWait.LimitFrom != "client.sysctl" {
		t.Errorf("port load %+v", p.TimeWait)
	}
	i := slices.IndexFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodePortPressure })
	if i < 0 || res.Summary.Findings[i].Severity != Error || !strings.Contains(res.Summary.Findings[i].Message, "100% of its 1 ephemeral ports") ||
		res.Summary.Findings[i].Confidence != ConfidenceHigh {
		t.Errorf("findings %+v", res.Summary.Findings)
	}
}

// TestLabPortsExhausted: the lab filled a client's eight-port ephemeral
// range with TIME_WAIT towards one server (one more connect() failed
// with EADDRNOTAVAIL). With the client's settings the summary finds every
// port of the range held; with none (the default range) it finds nothing.
func TestLabPortsExhausted(t *testing.T) {
	dir := testenv.Lab(t)
	tr := readLabTruth(t, filepath.Join(dir, "ephemeral-ports-exhausted.truth.json"))
	var lo, hi int64
	if _, err := fmt.Sscanf(tr.Sysctls["client"][SysLocalPortRange], "%d %d", &lo, &hi); err != nil {
		t.Fatal(err)
	}
	ports := map[string]bool{}
	for _, f := range tr.Flows {
		ports[f.Client] = true
	}
	client := netip.MustParseAddrPort(tr.Flows[0].Client).Addr().String()
	path := filepath.Join(dir, tr.Capture)

	res := runLab(t, path, Options{Sysctls: labSettings(tr, "client")})
	i := slices.IndexFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodePortPressure })
	if i < 0 || res.Summary.Findings[i].Host != client || res.Summary.Findings[i].Severity != Error {
		t.Fatalf("findings %+v, want an error-level %s on %s", res.Summary.Findings, CodePortPressure, client)
	}
	j := slices.IndexFunc(res.Summary.Ports, func(p PortLoad) bool { return p.Client == client })
	if j < 0 {
		t.Fatalf("ports %+v", res.Summary.Ports)
	}
	if p := res.Summary.Ports[j].TimeWait; p.Count != int64(len(ports)) || p.Limit != hi-lo+1 {
		t.Errorf("%d ports in TIME_WAIT of %d, want %d of %d", p.Count, p.Limit, len(ports), hi-lo+1)
	}

	res = runLab(t, path, Options{})
	if slices.ContainsFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodePortPressure }) {
		t.Errorf("findings %+v: %d ports of the default range is no pressure", res.Summary.Findings, len(ports))
	}
}

// TestStoppedAfterTheLastSegment: a capture that records running on
// after its last segment (Options.CaptureEnd) shows the silence after a FIN
// that was never acknowledged. Ending at the last copy, the lab's orphan
// may still have been retransmitting; 10 s later, past the copy that was
// due, it had given up, and its FIN_WAIT1 lasted until then.
func TestStoppedAfterTheLastSegment(t *testing.T) {
	path := filepath.Join(testenv.Lab(t), "fin-never-acked-orphan-retries-1.pcap")
	run := func(after int64) (*Flow, int64) {
		t.Helper()
		r, err := capture.Open([]string{path}, capture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res, err := Run(r, Options{CaptureEnd: func() int64 { return r.Info().Last + after }})
		if err != nil {
			t.Fatal(err)
		}
		return res.Flows[0], r.Info().Last
	}
	for _, after := range []int64{0, 10e9} {
		f, last := run(after)
		d := find(t, f, CodeFinNeverAcked)
		gaveUp := strings.Contains(d.Message, "no copy came when the next was due") && strings.Contains(d.Message, "the socket gave up silently")
		if gaveUp != (after > 0) || len(d.Bounds) != 1 || (d.Bounds[0].Assumes == "") != (after > 0) {
			t.Errorf("stopped %v s after the last segment: %s (bounds %+v)", float64(after)/1e9, d.Message, d.Bounds)
		}
		c := f.Sides.Client
		entered := c.States[len(c.States)-1].At
		if want := float64(last+after-int64(entered)) / 1e9; c.FinalState != FinWait1 || !c.OpenEnded || math.Abs(c.Durations["FIN_WAIT1"]-want) > 1e-9 {
			t.Errorf("stopped %v s after: client %s open-ended %v, FIN_WAIT1 %v s, want %v", float64(after)/1e9, c.FinalState, c.OpenEnded, c.Durations["FIN_WAIT1"], want)
		}
	}

	// A client TIME_WAIT open at the last segment: still open 10 s on,
	// over (60 s, as Linux holds it) 70 s on.
	path = filepath.Join(testenv.Lab(t), "client-active-close.pcap")
	for _, after := range []int64{10e9, 70e9} {
		c := func() *Side { f, _ := run(after); return f.Sides.Client }()
		tw := c.Durations["TIME_WAIT"]
		if open := after < 60e9; c.FinalState != TimeWait || c.OpenEnded != open || (!open && tw != 60) || (open && !(tw > 10 && tw < 60)) {
			t.Errorf("stopped %v s after: client %s open-ended %v, TIME_WAIT %v s", float64(after)/1e9, c.FinalState, c.OpenEnded, tw)
		}
	}
}

// TestLimitZero: the lab's tw-buckets-overflow client ran with
// tcp_max_tw_buckets = 0. With its settings the summary holds that limit
// as 0 from them, in the JSON too (where an unknown limit is left out),
// and a shard that knows only the default does not replace it.
func TestLimitZero(t *testing.T) {
	dir := testenv.Lab(t)
	tr := readLabTruth(t, filepath.Join(dir, "tw-buckets-overflow.truth.json"))
	sys := labSettings(tr, "client")
	if sys.Values[SysMaxTwBuckets] != "0" {
		t.Fatalf("the truth file's client settings: %v", sys.Values)
	}
	client := sys.Hosts[0].String()
	res := runLab(t, filepath.Join(dir, tr.Capture), Options{Sysctls: sys})
	other := runLab(t, filepath.Join(dir, tr.Capture), Options{})
	s := res.Summary
	s.Merge(other.Summary)
	for _, h := range s.Hosts {
		want := Peak{Limit: defaultMaxTwBuckets, LimitFrom: "default"}
		if h.Host == client {
			want = Peak{Limit: 0, LimitFrom: "client.sysctl"}
		}
		if h.TimeWait.Limit != want.Limit || h.TimeWait.LimitFrom != want.LimitFrom {
			t.Errorf("%s: TIME_WAIT limit %d from %q, want %d from %q", h.Host, h.TimeWait.Limit, h.TimeWait.LimitFrom, want.Limit, want.LimitFrom)
		}
		b, err := json.Marshal(h.TimeWait)
		if err != nil {
			t.Fatal(err)
		}
		wantJSON := fmt.Sprintf(`{"count":%d,"limit":%d,"limit_from":%q}`, h.TimeWait.Count, want.Limit, want.LimitFrom)
		if h.TimeWait.Count > 0 || string(b) != wantJSON {
			t.Errorf("%s: TIME_WAIT peak %s, want %s", h.Host, b, wantJSON)
		}
	}
	if b, _ := json.Marshal(Peak{Count: 3}); string(b) != `{"count":3}` {
		t.Errorf("a peak without a limit: %s", b)
	}
}
