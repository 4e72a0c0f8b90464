package analyze_test

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/testenv"
)

// The shared corpus holds real captures from Zeek's and Suricata's test
// suites, each with that project's own expected result. These tests map
// our per-side story onto their coarser vocabularies and assert agreement;
// where we disagree, the table below says why we are right (ANCHORS.md
// lists their blind spots), and the test fails if a listed disagreement
// stops being one.

// zeekDisagree: "<capture>|<orig>-><resp>|<conn_state>" -> why our
// reading differs.
var zeekDisagree = map[string]string{
	// SYN, the old connection's ACK, then a FIN and a RST from the
	// originator. Zeek credits the first FIN to it; our client never left
	// SYN_SENT (a socket in SYN_SENT sends no FIN, and its RST to a
	// TIME_WAIT's old ACK ends nothing: KERNEL.md rows 15, 16), so the
	// attempt is open at the end and nobody closed.
	"tcp__syn-then-stuff-then-rst.pcap|->|OTH": "a FIN from SYN_SENT closes nothing",
}

func init() {
	// Zeek expires a connection attempt the responder never answered
	// after tcp_attempt_delay (5 s) and logs the rest of the same
	// connection as a second record (DAF, SH). The capture holds only the
	// client's side; we keep one connection, SYN to FIN, whose mapping is
	// Zeek's second record.
	for _, tuple := range []string{
		"192.168.1.79:51880->131.159.21.1:22",
		"192.168.2.1:57189->192.168.2.158:22",
		"192.168.2.1:56594->192.168.2.158:22",
		"192.168.2.1:56875->192.168.2.158:22",
		"192.168.1.32:41164->128.2.10.238:22",
	} {
		zeekDisagree["ssh__ssh.client-side-half-duplex.pcap|"+tuple+"|S0"] = "Zeek split one connection at tcp_attempt_delay"
	}
}

// suricataDisagree: "<capture>|<src>-><dst>" -> why.
var suricataDisagree = map[string]string{
	// The test runs Suricata with stream.async-oneside: its session stays
	// established on a one-sided client FIN. The client did send its FIN
	// (frame 5); the server's side, which Suricata's state follows, is
	// what a client FIN makes close_wait.
	"stream-async__http__stream-async-6063-cli-01__http-request-header-async-cli.pcap|->": "async-oneside ignores the one-sided FIN",
}

// zeekRow is one conn.log row of an oracle.
type zeekRow struct {
	orig, resp string // "addr:port" as our flows print them
	state      string // conn_state, "" when the baseline does not log it
	history    string
}

func (z zeekRow) key() string { return z.orig + "->" + z.resp }

// hostPort renders an oracle's address and port like netip.AddrPort.
func hostPort(h, p string) string {
	a, err := netip.ParseAddr(h)
	if err != nil {
		return h + ":" + p
	}
	if a.Is6() {
		return "[" + a.String() + "]:" + p
	}
	return a.String() + ":" + p
}

// parseZeek reads the conn.log rows of a Zeek oracle. The
// conn_state-RST-behavior baseline prints "history, conn_state" per trace
// in the order of its TEST-EXEC lines; its row is matched by position.
func parseZeek(t *testing.T, path, pcap string) []zeekRow {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []zeekRow
	seen := map[zeekRow]bool{}
	var cols []string
	var execs []string
	printOut := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "########## "):
			cols = nil
			printOut = strings.Contains(line, "baseline:") && strings.Contains(line, "conn_state-RST-behavior/out")
			if strings.Contains(line, "btest script:") {
				execs = nil
			}
			continue
		case strings.HasPrefix(line, "# @TEST-EXEC: zeek"):
			for _, w := range strings.Fields(line) {
				if strings.HasPrefix(w, "$TRACES/") {
					execs = append(execs, filepath.Base(w))
				}
			}
			continue
		case strings.HasPrefix(line, "#fields\t"):
			cols = strings.Split(line, "\t")[1:]
			continue
		case strings.HasPrefix(line, "ts\tuid\t"):
			cols = strings.Split(line, "\t")
			continue
		case strings.HasPrefix(line, "#"):
			continue
		}
		if printOut && strings.Contains(line, ", ") {
			// "history, conn_state", one line per TEST-EXEC trace.
			i := len(rows)
			if slices.Index(execs, pcap) == i {
				h, st, _ := strings.Cut(line, ", ")
				rows = append(rows, zeekRow{history: h, state: st})
			} else {
				rows = append(rows, zeekRow{state: "skip"})
			}
			continue
		}
		if cols == nil {
			continue
		}
		v := strings.Split(line, "\t")
		if len(v) != len(cols) {
			continue
		}
		get := func(name string) string {
			if i := slices.Index(cols, name); i >= 0 {
				return v[i]
			}
			return ""
		}
		r := zeekRow{
			orig:    hostPort(get("id.orig_h"), get("id.orig_p")),
			resp:    hostPort(get("id.resp_h"), get("id.resp_p")),
			state:   get("conn_state"),
			history: get("history"),
		}
		if !seen[r] {
			seen[r] = true
			rows = append(rows, r)
		}
	}
	var out []zeekRow
	for _, r := range rows {
		if r.state != "skip" {
			out = append(out, r)
		}
	}
	return out
}

// firstFIN returns who sent the first FIN by a Zeek history string: the
// first F (originator) or f (responder).
func firstFIN(history string) string {
	for _, c := range history {
		switch c {
		case 'F':
			return "orig"
		case 'f':
			return "resp"
		}
	}
	return ""
}

func TestCorpusZeek(t *testing.T) {
	v := newVerdicts(t, "Zeek conn.log rows", zeekDisagree)
	eachCapture(t, "zeek", func(t *testing.T, oracle, pcap string) {
		name := filepath.Base(pcap)
		rows := parseZeek(t, oracle, name[strings.Index(name, "__")+2:])
		if len(rows) == 0 {
			t.Skip("the oracle logs no connection of this capture")
		}
		res := runCapture(t, pcap)
		for _, z := range rows {
			var f *analyze.Flow
			orig := analyze.Client
			for _, g := range res.Flows {
				switch {
				case z.orig == "" && len(res.Flows) == 1:
					f = g
				case g.Client == z.orig && g.Server == z.resp:
					f = g
				case g.Client == z.resp && g.Server == z.orig:
					f, orig = g, analyze.Server
				}
			}
			got, closer := "no flow", ""
			if f != nil {
				got = analyze.ZeekConnState(f, orig)
				switch f.Close.Initiator {
				case orig:
					closer = "orig"
				case analyze.Client, analyze.Server:
					closer = "resp"
				}
			}
			agree := (z.state == "" || got == z.state) && (firstFIN(z.history) == "" || f == nil || f.Close.Kind == analyze.SimultaneousKind || firstFIN(z.history) == closer)
			v.check(t, name+"|"+z.key()+"|"+z.state, agree,
				fmt.Sprintf("Zeek says %s (history %s), we map to %s, first FIN by %q", z.state, z.history, got, closer))
		}
	})
	v.done()
}

// verdicts tallies oracle comparisons against a table of known
// disagreements.
type verdicts struct {
	t        *testing.T
	what     string
	disagree map[string]string
	used     map[string]bool
	compared int
}

func newVerdicts(t *testing.T, what string, disagree map[string]string) *verdicts {
	return &verdicts{t: t, what: what, disagree: disagree, used: map[string]bool{}}
}

// check files one comparison: a disagreement must be listed, and a listed
// one must still disagree.
func (v *verdicts) check(t *testing.T, key string, agree bool, detail string) {
	t.Helper()
	v.compared++
	reason, listed := v.disagree[key]
	v.used[key] = v.used[key] || listed
	switch {
	case !agree && !listed:
		t.Errorf("%s: %s", key, detail)
	case agree && listed:
		t.Errorf("%s: listed as a disagreement (%s) but we agree now", key, reason)
	}
}

func (v *verdicts) done() {
	v.t.Logf("compared %d %s, %d listed disagreements", v.compared, v.what, len(v.disagree))
	for k := range v.disagree {
		if !v.used[k] {
			v.t.Errorf("disagreement %q matches nothing compared", k)
		}
	}
}

// eachCapture runs fn for every oracle under the corpus folder sub that
// has its capture beside it.
func eachCapture(t *testing.T, sub string, fn func(t *testing.T, oracle, pcap string)) {
	dir := filepath.Join(testenv.Corpus(t), sub)
	oracles, err := filepath.Glob(filepath.Join(dir, "*.oracle.txt"))
	if err != nil || len(oracles) == 0 {
		t.Skipf("no oracles in %s", dir)
	}
	for _, o := range oracles {
		base := strings.TrimSuffix(filepath.Base(o), ".oracle.txt")
		pcaps, _ := filepath.Glob(filepath.Join(dir, base+".pcap*"))
		if len(pcaps) == 0 {
			continue
		}
		t.Run(base, func(t *testing.T) { fn(t, o, pcaps[0]) })
	}
}

// suricataCheck is one eve "flow" check of a Suricata oracle.
type suricataCheck struct {
	src, dst string // "addr:port", empty when the check does not say
	state    string // tcp.state
}

// parseSuricata reads the flow checks with a tcp.state from the test.yaml
// section of a Suricata oracle, skipping checks for older versions.
func parseSuricata(t *testing.T, path string) []suricataCheck {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "/test.yaml")
	if i < 0 {
		return nil
	}
	text = text[i:]
	if j := strings.Index(text[1:], "\n########## "); j >= 0 {
		text = text[:j+1]
	}
	var out []suricataCheck
	for _, block := range strings.Split(text, "- filter:")[1:] {
		kv := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
			if ok {
				kv[k] = strings.Trim(v, `"`)
			}
		}
		if kv["event_type"] != "flow" || kv["tcp.state"] == "" || kv["lt-version"] != "" {
			continue
		}
		c := suricataCheck{state: kv["tcp.state"]}
		if kv["src_ip"] != "" {
			c.src = hostPort(kv["src_ip"], kv["src_port"])
			c.dst = hostPort(kv["dest_ip"], kv["dest_port"])
		}
		out = append(out, c)
	}
	return out
}

// suricataState maps a flow onto Suricata's single session state, which
// follows the server: a client FIN moves it to close_wait, a server FIN to
// fin_wait1, both FINs acknowledged (or a RST) to closed.
func suricataState(f *analyze.Flow) string {
	c, s := f.Sides.Client, f.Sides.Server
	fin := func(x *analyze.Side) bool { return len(x.FinFrames) > 0 || x.FinInferred }
	done := func(x *analyze.Side) bool { return x.FinalState == analyze.TimeWait || x.FinalState == analyze.Closed }
	switch {
	case f.Close.Kind == analyze.ResetKind || f.Close.Kind == analyze.Rejected:
		return "closed"
	case fin(c) && fin(s) && done(c) && done(s):
		return "closed"
	case fin(c) && fin(s):
		return strings.ToLower(s.FinalState.String())
	case fin(s):
		if s.FinalState == analyze.FinWait2 {
			return "fin_wait2"
		}
		return "fin_wait1"
	case fin(c):
		return "close_wait"
	case f.Handshake == analyze.HandshakeSynOnly:
		return "syn_sent"
	case f.Handshake == analyze.HandshakeSynSynAck:
		return "syn_recv"
	}
	return "established"
}

func TestCorpusSuricata(t *testing.T) {
	v := newVerdicts(t, "Suricata flow checks", suricataDisagree)
	eachCapture(t, "suricata-verify", func(t *testing.T, oracle, pcap string) {
		checks := parseSuricata(t, oracle)
		if len(checks) == 0 {
			t.Skip("the oracle checks no tcp.state")
		}
		res := runCapture(t, pcap)
		for _, c := range checks {
			var got []string
			for _, f := range res.Flows {
				if c.src == "" || (f.Client == c.src && f.Server == c.dst) || (f.Client == c.dst && f.Server == c.src) {
					got = append(got, suricataState(f))
				}
			}
			v.check(t, fmt.Sprintf("%s|%s->%s", filepath.Base(pcap), c.src, c.dst), slices.Contains(got, c.state),
				fmt.Sprintf("Suricata says %s, we map to %v", c.state, got))
		}
	})
	v.done()
}
