package analyze_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/testenv"
)

// labDir is $TEARDOWN_LAB_DIR, or testdata/lab.
func labDir(t *testing.T) string {
	if d := os.Getenv("TEARDOWN_LAB_DIR"); d != "" {
		return d
	}
	return testenv.Lab(t)
}

// TestLabFixtures runs the analyzer on every real-kernel lab capture and
// compares its teardown/v1 output with the capture's truth file by the
// subset rules of testdata/lab/TRUTH-FORMAT.md (analyze.Check, the rules
// `teardown check` applies to an expectations file). A truth file lists
// every flow of its capture, so a flow it does not list is a difference
// too.
func TestLabFixtures(t *testing.T) {
	dir := labDir(t)
	truths, err := filepath.Glob(filepath.Join(dir, "*.truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(truths) == 0 {
		t.Skipf("no lab fixtures in %s", dir)
	}
	for _, tf := range truths {
		name := strings.TrimSuffix(filepath.Base(tf), ".truth.json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(tf)
			if err != nil {
				t.Fatal(err)
			}
			var truth struct {
				Capture string           `json:"capture"`
				Flows   []map[string]any `json:"flows"`
				// Duplicates: the capture duplicates dropped (absent: none).
				Duplicates int `json:"duplicates"`
				// NATPairs: flows that are one connection seen before and
				// after an address translation, the earlier SYN first.
				NATPairs [][2]map[string]any `json:"nat_pairs"`
				// NATPartial: flows of one side's segments translated
				// halfway, each with the flow whose connection it is.
				NATPartial []struct {
					Flow map[string]any `json:"flow"`
					Of   map[string]any `json:"of"`
				} `json:"nat_partial"`
				// UnmatchedICMP: ICMP errors quoting a segment of no flow
				// (absent: none), and their frames when listed.
				UnmatchedICMP       int      `json:"unmatched_icmp"`
				UnmatchedICMPFrames []uint64 `json:"unmatched_icmp_frames"`
				// Untranslated: a connection's flow and the flow of its
				// segments a NAT let through untranslated, with the
				// first such segment's frame, the RST's that answered
				// it, how many there were, and the silence before them
				// (seconds, 0 for none) in a conntrack state.
				Untranslated []struct {
					Connection map[string]any `json:"connection"`
					Segments   map[string]any `json:"segments"`
					Frame      uint64         `json:"frame"`
					Reset      uint64         `json:"reset"`
					Count      int            `json:"count"`
					Idle       float64        `json:"idle"`
					State      string         `json:"state"`
				} `json:"untranslated"`
			}
			if err := json.Unmarshal(data, &truth); err != nil {
				t.Fatalf("%s: %v", tf, err)
			}
			b, err := analyze.ParseBaseline(data, tf)
			if err != nil {
				t.Fatal(err)
			}
			res := runCapture(t, filepath.Join(dir, truthCapture(t, dir, name, truth.Capture)))
			byKey := map[string]*analyze.Flow{}
			for _, f := range res.Flows {
				byKey[analyze.FlowKey(map[string]any{"client": f.Client, "server": f.Server, "incarnation": float64(f.Incarnation)})] = f
			}
			// The flow of an untranslated pair the summary added second
			// carries the link and its nat-untranslated diagnosis, which
			// the truth's flows leave out: the truth cannot know that
			// order. Checked here, then set aside for Check.
			linked := map[int]bool{}
			for _, u := range truth.Untranslated {
				c, sg := byKey[analyze.FlowKey(u.Connection)], byKey[analyze.FlowKey(u.Segments)]
				if c == nil || sg == nil {
					t.Errorf("untranslated pair %v: not both in the output", u)
					continue
				}
				if (c.Untranslated == nil) == (sg.Untranslated == nil) {
					t.Errorf("untranslated pair %d, %d: links %+v, %+v, want one", c.ID, sg.ID, c.Untranslated, sg.Untranslated)
					continue
				}
				on := c
				if on.Untranslated == nil {
					on = sg
				}
				l := on.Untranslated
				linked[on.ID] = true
				if l.Connection != c.ID || l.Segments != sg.ID || l.Sender != analyze.Server || l.From != sg.Server ||
					l.Service != c.Server || l.Frame != u.Frame || l.Reset != u.Reset || l.Count != u.Count ||
					l.State != u.State || math.Abs(l.Idle-u.Idle) > 1e-3 {
					t.Errorf("flow %d: link %+v, the truth %+v", on.ID, *l, u)
				}
				n := len(on.Diagnoses)
				on.Diagnoses = slices.DeleteFunc(on.Diagnoses, func(d analyze.Diagnosis) bool {
					return d.Code == analyze.CodeNATUntranslated && slices.Equal(d.Frames, []uint64{u.Frame, u.Reset})
				})
				if len(on.Diagnoses) != n-1 {
					t.Errorf("flow %d: %d %s diagnoses of frames %d, %d; want one", on.ID, n-len(on.Diagnoses), analyze.CodeNATUntranslated, u.Frame, u.Reset)
				}
			}
			for _, f := range res.Flows {
				if f.Untranslated != nil && !linked[f.ID] {
					t.Errorf("flow %d: an untranslated link %+v the truth does not have", f.ID, *f.Untranslated)
				}
			}
			ms, err := analyze.Check(res, b)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				t.Errorf("flow %s: %s", m.Flow, m.What)
			}
			if got := res.Summary.Duplicates; got != truth.Duplicates {
				t.Errorf("%d capture duplicates dropped, the truth %d", got, truth.Duplicates)
			}
			var stray []uint64
			if u := res.Summary.UnmatchedICMP; u != nil {
				if u.Count != truth.UnmatchedICMP {
					t.Errorf("%d unmatched ICMP errors, the truth %d", u.Count, truth.UnmatchedICMP)
				}
				for _, e := range u.First {
					stray = append(stray, e.Frame)
				}
			} else if truth.UnmatchedICMP != 0 {
				t.Errorf("no unmatched ICMP errors, the truth %d", truth.UnmatchedICMP)
			}
			// The output keeps the first flows.MaxUnmatchedICMP.
			if want := truth.UnmatchedICMPFrames; want != nil && !slices.Equal(stray, want[:min(len(want), flows.MaxUnmatchedICMP)]) {
				t.Errorf("unmatched ICMP frames %v, the truth %v", stray, want)
			}
			// Each pair is linked, one way or the other, and nothing else.
			pairs := map[[2]int]bool{}
			for _, p := range truth.NATPairs {
				a, z := byKey[analyze.FlowKey(p[0])], byKey[analyze.FlowKey(p[1])]
				if a == nil || z == nil {
					t.Errorf("NAT pair %v: not both in the output", p)
					continue
				}
				pairs[[2]int{a.ID, z.ID}], pairs[[2]int{z.ID, a.ID}] = true, true
				if (a.NAT == nil) == (z.NAT == nil) {
					t.Errorf("NAT pair %d, %d: links %+v, %+v, want one", a.ID, z.ID, a.NAT, z.NAT)
					continue
				}
				rewritten := analyze.NATBoth
				switch {
				case a.Client == z.Client:
					rewritten = analyze.NATServer
				case a.Server == z.Server:
					rewritten = analyze.NATClient
				}
				// The truth lists the earlier SYN first.
				v, lagSign := z.NAT, 1.0
				if v == nil {
					v, lagSign = a.NAT, -1
				}
				if v.Rewritten != rewritten || v.Lag*lagSign <= 0 {
					t.Errorf("NAT pair %d, %d: link %+v, want rewritten %s and the later SYN's lag positive", a.ID, z.ID, *v, rewritten)
				}
			}
			for _, p := range truth.NATPartial {
				f, of := byKey[analyze.FlowKey(p.Flow)], byKey[analyze.FlowKey(p.Of)]
				switch {
				case f == nil || of == nil:
					t.Errorf("one-sided NAT flow %v of %v: not both in the output", p.Flow, p.Of)
				case f.NAT == nil || f.NAT.Of != of.ID || f.NAT.OneSide != analyze.Server:
					t.Errorf("flow %d: link %+v, want flow %d's, the server's side", f.ID, f.NAT, of.ID)
				default:
					pairs[[2]int{f.ID, of.ID}] = true
				}
			}
			for _, f := range res.Flows {
				if f.NAT != nil && !pairs[[2]int{f.ID, f.NAT.Of}] {
					t.Errorf("flow %d: linked to flow %d, which the truth does not pair with it", f.ID, f.NAT.Of)
				}
			}
			if got, want := res.Summary.NATCopies, len(truth.NATPairs)+len(truth.NATPartial); got != want {
				t.Errorf("%d NAT copies, the truth %d pairs and %d one-sided flows", got, len(truth.NATPairs), len(truth.NATPartial))
			}
			listed := map[string]bool{}
			for i := range b.Len() {
				listed[b.Key(i)] = true
			}
			for _, f := range res.Flows {
				if k := analyze.FlowKey(map[string]any{"client": f.Client, "server": f.Server, "incarnation": float64(f.Incarnation)}); !listed[k] {
					t.Errorf("flow %s (id %d): in the output, not in the truth", k, f.ID)
				}
			}
		})
	}
}

// truthCapture names the capture a truth file describes: its "capture"
// key, or the scenario's name with a capture extension.
func truthCapture(t *testing.T, dir, name, capture string) string {
	t.Helper()
	if capture != "" {
		return capture
	}
	for _, ext := range []string{".pcap", ".pcapng", ".pcap.gz"} {
		if _, err := os.Stat(filepath.Join(dir, name+ext)); err == nil {
			return name + ext
		}
	}
	t.Fatalf("no capture for %s", name)
	return ""
}

// runCapture runs the pipeline on one capture file.
func runCapture(t *testing.T, path string) *analyze.Result {
	t.Helper()
	r, err := capture.Open([]string{path}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := analyze.Run(r, analyze.Options{CaptureEnd: func() int64 { return r.Info().End() }})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestLabTimeWaitRefusals: the server's TIME_WAIT refused a SYN without
// timestamps (tcp_timestamps is the knob), and one whose timestamp was
// older, from a second host behind the client's NAT (PAWS: no knob of
// the server's; the NAT's port reuse is the cause).
func TestLabTimeWaitRefusals(t *testing.T) {
	dir := labDir(t)
	for _, c := range []struct {
		capture, sysctl string
		says            []string
	}{
		{"tw-syn-refused-no-timestamps.pcap", analyze.SysTimestamps, []string{"timestamps are off (the SYN carries none)"}},
		{"tw-syn-refused-paws-nat.pcap", "", []string{"(PAWS): another host behind the same address (NAT)", "MASQUERADE --random-fully"}},
	} {
		t.Run(c.capture, func(t *testing.T) {
			res := runCapture(t, filepath.Join(dir, c.capture))
			var got []analyze.Diagnosis
			for _, f := range res.Flows {
				for _, d := range f.Diagnoses {
					if d.Code == analyze.CodeTimeWaitSynRefused {
						got = append(got, d)
					}
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d time-wait-syn-refused diagnoses, want 1", len(got))
			}
			d := got[0]
			if d.Sysctl != c.sysctl {
				t.Errorf("sysctl %q, want %q", d.Sysctl, c.sysctl)
			}
			for _, s := range c.says {
				if !strings.Contains(d.Message+" "+d.Advice, s) {
					t.Errorf("%q not in %s / %s", s, d.Message, d.Advice)
				}
			}
		})
	}
}

// TestLabKeepAliveIdleClose: the server of both captures close()s a
// connection idle for 1 s (its keep-alive timeout) and the client writes
// on it; in one the client's kernel had acknowledged the FIN half a
// second before (a stale pooled connection), in the other its request
// crossed the FIN on a 20 ms path (the race). The diagnosis tells which,
// with the idle time, the FIN, the client's write and the RST as its
// frames.
func TestLabKeepAliveIdleClose(t *testing.T) {
	dir := labDir(t)
	for _, c := range []struct {
		capture   string
		write     uint64 // the client's late data, by tshark
		says, not []string
	}{
		{"keepalive-idle-stale.pcap", 10, []string{"close()d the connection after 1.0s without traffic", "wrote on it anyway (frame 10; its kernel had acknowledged that FIN (frame 9)", "check a pooled connection for EOF"}, []string{"keep-alive race"}},
		{"keepalive-idle-race.pcap", 8, []string{"close()d the connection after 1.0s without traffic", "its data (frame 8) left before the FIN reached it", "the keep-alive race", "retry an idempotent request"}, []string{"anyway"}},
	} {
		t.Run(c.capture, func(t *testing.T) {
			res := runCapture(t, filepath.Join(dir, c.capture))
			if len(res.Flows) != 1 || len(res.Flows[0].Diagnoses) != 1 || res.Flows[0].Diagnoses[0].Code != analyze.CodeRstDataAfterClose {
				t.Fatalf("want one flow with rst-data-after-close alone, got %d flows", len(res.Flows))
			}
			f := res.Flows[0]
			d, text := f.Diagnoses[0], f.Diagnoses[0].Message+" "+f.Diagnoses[0].Advice
			for _, s := range c.says {
				if !strings.Contains(text, s) {
					t.Errorf("%q not in %s", s, text)
				}
			}
			for _, s := range c.not {
				if strings.Contains(text, s) {
					t.Errorf("%q in %s", s, text)
				}
			}
			want := []uint64{f.Sides.Server.FinFrames[0], c.write, f.Close.Reset.Frame}
			slices.Sort(want)
			if !slices.Equal(d.Frames, want) {
				t.Errorf("frames %v, want %v (the FIN, the client's write, the RST)", d.Frames, want)
			}
		})
	}
}

// TestLabIdleClosesSummary: analysed together, the two keep-alive
// captures make one service entry, the server 198.51.100.80:8080 that
// closed two idle connections: one then written on stale, one raced;
// the silences are the server's 1 s timeout plus at most the race's
// 20 ms path, the race's the longer (its response reached the capture
// point, the client, 20 ms after it left). Analysed apart and merged,
// the summaries say the same.
func TestLabIdleClosesSummary(t *testing.T) {
	dir := labDir(t)
	stale, race := filepath.Join(dir, "keepalive-idle-stale.pcap"), filepath.Join(dir, "keepalive-idle-race.pcap")
	r, err := capture.Open([]string{stale, race}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := analyze.Run(r, analyze.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Summary.IdleCloses
	if len(got) != 1 {
		t.Fatalf("idle closes %+v, want one service", got)
	}
	l := got[0]
	if l.Closer != analyze.Server || l.Server != "198.51.100.80:8080" || l.Flows != 2 || l.Stale != 1 || l.Raced != 1 {
		t.Errorf("idle closes %+v", l)
	}
	if l.IdleMin < 1 || l.IdleMax > 1.05 || l.IdleMin >= l.IdleMax {
		t.Errorf("idle %v–%v s, want within 1–1.05 s, the race's longer", l.IdleMin, l.IdleMax)
	}
	merged := runCapture(t, stale).Summary
	merged.Merge(runCapture(t, race).Summary)
	if !slices.Equal(merged.IdleCloses, got) {
		t.Errorf("merged %+v, together %+v", merged.IdleCloses, got)
	}
}

// TestLabSockDestroy: a socket destroyed from outside (ss -K) after its
// application read everything resets as a close() with data unread
// would; the diagnosis says rst-unread-data, as the wire does, at medium
// confidence, its doubt naming both other causes, and its confirmation
// the counters that tell them apart on the host.
func TestLabSockDestroy(t *testing.T) {
	res := runCapture(t, filepath.Join(labDir(t), "rst-sock-destroy.pcap"))
	if len(res.Flows) != 1 || len(res.Flows[0].Diagnoses) != 1 {
		t.Fatalf("want one flow with one diagnosis, got %d flows", len(res.Flows))
	}
	d := res.Flows[0].Diagnoses[0]
	if d.Code != analyze.CodeRstUnreadData || d.Side != analyze.Client || d.Confidence != analyze.ConfidenceMedium ||
		len(d.Doubts) != 1 || !strings.Contains(d.Doubts[0], "SO_LINGER {1, 0}") || !strings.Contains(d.Doubts[0], "ss -K") {
		t.Fatalf("diagnosis %+v", d)
	}
	rules := analyze.Rules()
	r := rules[slices.IndexFunc(rules, func(r analyze.RuleInfo) bool { return r.Code == analyze.CodeRstUnreadData })]
	if !slices.ContainsFunc(r.Confirm, func(c string) bool {
		return strings.Contains(c, "TcpExtTCPAbortOnClose") && strings.Contains(c, "TcpExtTCPAbortOnData")
	}) {
		t.Errorf("confirm %q: no counters that tell the causes apart", r.Confirm)
	}
}
