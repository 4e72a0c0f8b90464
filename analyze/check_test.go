package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
)

func checkFixture() *Result {
	mk := func(id int, kind Kind, codes ...string) *Flow {
		f := &Flow{ID: id, Incarnation: 1, Client: "198.51.100.10:4000" + string(rune('0'+id)), Server: "198.51.100.80:8080",
			Close: Close{Kind: kind}, Diagnoses: []Diagnosis{}}
		for _, c := range codes {
			f.Diagnoses = append(f.Diagnoses, Diagnosis{Code: c, Severity: Warning, Frames: []uint64{}})
		}
		f.Sides.Client = &Side{FinalState: TimeWait, FinRetransmissions: id}
		f.Sides.Server = &Side{FinalState: Closed}
		return f
	}
	r := &Result{Flows: []*Flow{mk(1, FourWay), mk(2, ResetKind, "rst-unread-data"), mk(3, FourWay, "fin-retransmitted")}}
	r.Flows[2].Reuse = &Reuse{Gap: 0.4}
	return r
}

func TestCheckLimits(t *testing.T) {
	tests := []struct {
		limits string
		want   []string // substrings, one per expected mismatch
	}{
		{`{"forbid_diagnoses":["rst-unread-data"]}`, []string{"rst-unread-data fired on: 1 flow (#2)"}},
		{`{"forbid_diagnoses":["fin-never-acked"]}`, nil},
		{`{"max_diagnoses":{"fin-retransmitted":0}}`, []string{"fin-retransmitted allows 0, fired on: 1 flow (#3)"}},
		{`{"max_diagnoses":{"fin-retransmitted":1}}`, nil},
		{`{"max_severity":"info"}`, []string{"worse than info on: 2 flows (#2, #3)"}},
		{`{"max_severity":"warning"}`, nil},
		{`{"forbid_close_kinds":["reset"]}`, []string{"forbidden close kind on: 1 flow (#2)"}},
		{`{"forbid_final_states":["TIME_WAIT"]}`, []string{"forbidden final state on: 3 flows (#1, #2, #3)"}},
		{`{"min_reuse_gap":1}`, []string{"reuse sooner than 1s on: 1 flow (#3)"}},
		{`{"min_reuse_gap":0.3}`, nil},
		{`{"max_fin_retransmissions":1}`, []string{"more than 1 on: 2 flows (#2, #3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.limits, func(t *testing.T) {
			b, err := ParseBaseline([]byte(`{"limits":`+tt.limits+`}`), "x.json")
			if err != nil {
				t.Fatal(err)
			}
			got, err := Check(checkFixture(), b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d mismatches %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Flow != "" || !strings.Contains(got[i].What, w) {
					t.Errorf("mismatch %d = %+v, want a limit containing %q", i, got[i], w)
				}
			}
		})
	}
}

func TestCheckFlows(t *testing.T) {
	res := checkFixture()
	// A partial flow: compared keys only; incarnation defaults to 1.
	b, err := ParseBaseline([]byte(`{"flows":[
		{"client":"198.51.100.10:40002","server":"198.51.100.80:8080","close":{"kind":"four_way"},"diagnoses":[{"code":"rst-unread-data"}]},
		{"client":"198.51.100.10:40003","server":"198.51.100.80:8080","diagnoses":[]},
		{"client":"198.51.100.10:40009","server":"198.51.100.80:8080"}]}`), "x.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Check(res, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`close.kind: want "four_way", got "reset"`,
		`diagnoses: {"code":"fin-retransmitted"`,
		`missing from the result`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %d mismatches", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i].What, w) {
			t.Errorf("mismatch %d = %q, want it to contain %q", i, got[i].What, w)
		}
	}
	if got[0].ID != 2 || got[2].ID != 0 {
		t.Errorf("ids %d, %d: want 2 (found) and 0 (missing)", got[0].ID, got[2].ID)
	}
}

func TestParseBaselineErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`not json`, "not a baseline"},
		{`{"schema":"teardown/v9","flows":[]}`, `schema "teardown/v9"`},
		{`{"flows":[{"server":"x"}]}`, `flows[0]: "client" is required`},
		{`{}`, "nothing to check"},
		{`{"limits":{"max_severity":"fatal"}}`, "max_severity"},
	} {
		_, err := ParseBaseline([]byte(tt.in), "b.json")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "b.json: ") {
			t.Errorf("ParseBaseline(%s) = %v, want an error naming b.json and containing %q", tt.in, err, tt.want)
		}
	}
}

// synthResult analyses the capture cfg generates.
func synthResult(t *testing.T, cfg synth.Config) *Result {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: &buf})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkReference is how Check compared a whole result with a baseline
// before the Checker streamed: it decoded every flow into a map and
// listed each limit's flows. TestCheckerAgreesWithReference holds the
// Checker to it.
func checkReference(res *Result, b *Baseline) ([]Mismatch, error) {
	raw, err := json.Marshal(res.Flows)
	if err != nil {
		return nil, err
	}
	var got []any
	if err := json.Unmarshal(raw, &got); err != nil {
		return nil, err
	}
	byKey := map[string]map[string]any{}
	ids := map[string]int{}
	for i, g := range got {
		m := g.(map[string]any)
		k := FlowKey(m)
		byKey[k] = m
		ids[k] = res.Flows[i].ID
	}
	var out []Mismatch
	seen := map[string]bool{}
	for i := range b.Len() {
		want, err := b.Flow(i)
		if err != nil {
			return nil, err
		}
		k := FlowKey(want)
		seen[k] = true
		have, ok := byKey[k]
		if !ok {
			out = append(out, Mismatch{Flow: k, What: "missing from the result"})
			continue
		}
		for _, d := range Subset("", want, have) {
			out = append(out, Mismatch{Flow: k, ID: ids[k], What: d})
		}
	}
	if b.Exhaustive {
		var extra []string
		for k := range byKey {
			if !seen[k] {
				extra = append(extra, k)
			}
		}
		sort.Slice(extra, func(i, j int) bool { return ids[extra[i]] < ids[extra[j]] })
		for _, k := range extra {
			out = append(out, Mismatch{Flow: k, ID: ids[k], What: "in the result, not in the baseline"})
		}
	}
	return append(out, limitsReference(b.Limits, res)...), nil
}

func limitsReference(l Limits, res *Result) []Mismatch {
	var out []Mismatch
	broken := func(what string, ids []int) {
		if len(ids) == 0 {
			return
		}
		out = append(out, Mismatch{What: fmt.Sprintf("%s: %d flow%s (%s)", what, len(ids), plural(len(ids)), idListReference(ids))})
	}
	count := map[string][]int{}
	var sev, kinds, states, gaps, fins []int
	for _, f := range res.Flows {
		for _, d := range f.Diagnoses {
			if n := count[d.Code]; len(n) == 0 || n[len(n)-1] != f.ID {
				count[d.Code] = append(n, f.ID)
			}
			if l.MaxSeverity != "" && d.Severity.Rank() > l.MaxSeverity.Rank() && (len(sev) == 0 || sev[len(sev)-1] != f.ID) {
				sev = append(sev, f.ID)
			}
		}
		if slices.Contains(l.ForbidCloseKinds, f.Close.Kind) {
			kinds = append(kinds, f.ID)
		}
		for _, s := range []*Side{f.Sides.Client, f.Sides.Server} {
			if s == nil {
				continue
			}
			if slices.Contains(l.ForbidFinalStates, s.FinalState.String()) {
				states = append(states, f.ID)
				break
			}
		}
		for _, s := range []*Side{f.Sides.Client, f.Sides.Server} {
			if s != nil && l.MaxFinRetransmissions != nil && s.FinRetransmissions > *l.MaxFinRetransmissions {
				fins = append(fins, f.ID)
				break
			}
		}
		if f.Reuse != nil && l.MinReuseGap != nil && f.Reuse.Gap < *l.MinReuseGap {
			gaps = append(gaps, f.ID)
		}
	}
	for _, c := range l.ForbidDiagnoses {
		broken("forbid_diagnoses: "+c+" fired on", count[c])
	}
	codes := make([]string, 0, len(l.MaxDiagnoses))
	for c := range l.MaxDiagnoses {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		if n := len(count[c]); n > l.MaxDiagnoses[c] {
			broken(fmt.Sprintf("max_diagnoses: %s allows %d, fired on", c, l.MaxDiagnoses[c]), count[c])
		}
	}
	broken("max_severity: worse than "+string(l.MaxSeverity)+" on", sev)
	broken("forbid_close_kinds: forbidden close kind on", kinds)
	broken("forbid_final_states: forbidden final state on", states)
	if l.MinReuseGap != nil {
		broken(fmt.Sprintf("min_reuse_gap: reuse sooner than %gs on", *l.MinReuseGap), gaps)
	}
	if l.MaxFinRetransmissions != nil {
		broken(fmt.Sprintf("max_fin_retransmissions: more than %d on", *l.MaxFinRetransmissions), fins)
	}
	return out
}

func idListReference(ids []int) string {
	var b strings.Builder
	for i, id := range ids {
		if i == 8 {
			fmt.Fprintf(&b, ", ... %d more", len(ids)-8)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "#%d", id)
	}
	return b.String()
}

// TestCheckerAgreesWithReference feeds the flows of a generated capture
// to a Checker in shuffled order and compares its mismatches with the
// reference's on the whole result: against a full output with flows
// dropped, changed, added and listed twice, a result with two flows of
// one key, and an expectations file whose limits many flows break.
func TestCheckerAgreesWithReference(t *testing.T) {
	res := synthResult(t, synth.Config{Seed: 21, Conns: 2000, Concurrency: 300, Mix: synth.Mix{
		ClientClose: 2, ThreeWay: 1, Simultaneous: 1, HalfClose: 1, FinRetransmit: 2, FinNeverAcked: 1,
		CloseWait: 1, Reset: 2, Rejected: 1, Open: 1, Reuse: 0.3}})
	// Two pairs of flows of one key (the reference keeps the one of the
	// highest id): one pair is in the full baseline, the other not.
	n0 := len(res.Flows)
	for i, at := range []int{3, 7} {
		twin := res.Flows[at].Clone()
		twin.ID = n0 + 1 + i
		twin.Close.Kind = ResetKind
		if res.Flows[at].Close.Kind == ResetKind {
			twin.Close.Kind = FourWay
		}
		res.Flows = append(res.Flows, twin)
	}
	key := func(f *Flow) string { return fmt.Sprintf("%s -> %s #%d", f.Client, f.Server, f.Incarnation) }
	inBoth, inResult := key(res.Flows[3]), key(res.Flows[7])

	raw, err := json.Marshal(res.Flows)
	if err != nil {
		t.Fatal(err)
	}
	var full []map[string]any
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	var kept []map[string]any
	for i, f := range full {
		switch k := FlowKey(f); {
		case k == inBoth:
		case k == inResult, i%7 == 0:
			continue // in the result only
		case i%5 == 0:
			f["close"].(map[string]any)["kind"] = "simultaneous"
		case i%9 == 0:
			f["server"] = "198.51.100.200:1" // missing from the result
		case i%13 == 0:
			kept = append(kept, f) // listed twice
		}
		kept = append(kept, f)
	}
	fullDoc, err := json.Marshal(map[string]any{"schema": Schema, "flows": kept})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	for _, f := range res.Flows {
		for _, d := range f.Diagnoses {
			codes[d.Code]++
		}
	}
	common, n := "", 0
	for c, k := range codes {
		if k > n || k == n && c < common {
			common, n = c, k
		}
	}
	if n <= 2*idsShown {
		t.Fatalf("the most common diagnosis fired %d times: the test needs more than %d", n, 2*idsShown)
	}
	var partial []map[string]any
	for i, f := range full {
		if i%11 == 0 {
			partial = append(partial, map[string]any{"client": f["client"], "server": f["server"], "close": map[string]any{"kind": "four_way"}})
		}
	}
	expect, err := json.Marshal(map[string]any{"flows": partial, "limits": map[string]any{
		"forbid_diagnoses": []string{common, "no-such-code"}, "max_diagnoses": map[string]int{common: 3},
		"max_severity": "info", "forbid_close_kinds": []string{"reset", "three_way"},
		"forbid_final_states": []string{"TIME_WAIT"}, "min_reuse_gap": 1000, "max_fin_retransmissions": 0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range [][]byte{fullDoc, expect} {
		// Each Parse gets a baseline of its own: Check normalises it.
		want := func() []Mismatch {
			b, err := ParseBaseline(doc, "baseline")
			if err != nil {
				t.Fatal(err)
			}
			ms, err := checkReference(res, b)
			if err != nil {
				t.Fatal(err)
			}
			return ms
		}()
		if len(want) < 20 {
			t.Fatalf("only %d mismatches: the test does not exercise the checker", len(want))
		}
		b, err := ParseBaseline(doc, "baseline")
		if err != nil {
			t.Fatal(err)
		}
		// In the result's order, reversed (each twin first), shuffled.
		rng := rand.New(rand.NewPCG(1, 2))
		orders := [][]int{make([]int, len(res.Flows)), make([]int, len(res.Flows))}
		for i := range res.Flows {
			orders[0][i], orders[1][i] = i, len(res.Flows)-1-i
		}
		for range 3 {
			orders = append(orders, rng.Perm(len(res.Flows)))
		}
		for round, order := range orders {
			for _, encode := range []func([]byte, *Flow) ([]byte, error){nil, sortedKeys} {
				c := NewChecker(b)
				c.Encode = encode
				for _, i := range order {
					if err := c.Add(res.Flows[i]); err != nil {
						t.Fatal(err)
					}
				}
				if got := c.Mismatches(); !reflect.DeepEqual(got, want) {
					t.Fatalf("round %d, encoder %t: %d mismatches, the reference %d:\n%s\nwant\n%s", round, encode != nil, len(got), len(want), showMismatches(got), showMismatches(want))
				}
				// With an encoder that writes flows as the full baseline
				// has them, most of its flows are matched by their text.
				if same := c.Same > len(kept)/2; encode != nil && bytes.Equal(doc, fullDoc) != same {
					t.Errorf("round %d: %d of %d flows matched by their text", round, c.Same, len(kept))
				}
			}
		}
	}
}

// sortedKeys encodes f as the test's full baseline has its flows: with
// encoding/json, keys sorted.
func sortedKeys(dst []byte, f *Flow) ([]byte, error) {
	raw, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	raw, err = json.Marshal(v)
	return append(dst, raw...), err
}

func showMismatches(ms []Mismatch) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  %s (%d): %s\n", m.Flow, m.ID, m.What)
	}
	return b.String()
}

// parseReference is how ParseBaseline read a baseline's flows before it
// kept them as text: every flow decoded at once.
func parseReference(t *testing.T, data []byte) []map[string]any {
	var doc struct {
		Schema string           `json:"schema"`
		Flows  []map[string]any `json:"flows"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for i, f := range doc.Flows {
		f = normalize(f).(map[string]any)
		if _, ok := f["incarnation"]; !ok {
			f["incarnation"] = 1.0
		}
		if doc.Schema == Schema {
			delete(f, "id")
			if r, ok := f["reuse"].(map[string]any); ok {
				delete(r, "previous_id")
			}
		}
		doc.Flows[i] = f
	}
	return doc.Flows
}

// TestBaselineFlowsAsBefore checks that a baseline's flows, kept as text
// and decoded one at a time, and their keys, are what decoding the whole
// document gave: on every lab truth file, a full output of a generated
// capture, and flows whose incarnation is absent, null, a number or text.
func TestBaselineFlowsAsBefore(t *testing.T) {
	docs := map[string][]byte{
		"odd": []byte(`{"flows":[{"client":"a:1","server":"b:2"},{"client":"a:1","server":"b:2","incarnation":null,"id":7},` +
			`{"server":"b:2","client":"a:1","incarnation":3,"close":{"kind":"reset","x":[1,2.5,{"y":null}]}},{"client":"a:1","server":"b:2","incarnation":"2"}]}`),
		// Keys in any case and order, a repeated one (the last counts),
		// others skipped, the schema last.
		"keys": []byte(`{"capture":{"files":["x"]},"flows":[{"client":"gone:1","server":"b:2"}],"FLOWS":[{"client":"a:1","server":"b:2","id":3,` +
			`"reuse":{"previous_id":2,"gap":1.5}}],"Summary":{"flows":1},"Schema":"` + Schema + `"}`),
	}
	truths, _ := filepath.Glob(filepath.Join(testenv.Lab(t), "*.truth.json"))
	for _, tf := range truths {
		data, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(tf)] = data
	}
	res := synthResult(t, synth.Config{Seed: 22, Conns: 300, Concurrency: 50, Mix: synth.Mix{ClientClose: 1, Reset: 1, FinRetransmit: 1, Reuse: 0.5}})
	full, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	docs["full"] = full
	// With blocks of 512 bytes of which 2 KB stay in memory, the rest of
	// a saved output's flows go to a temporary file, or stay in memory
	// when none can be made.
	block, mem := flowBlockSize, baselineMemory
	t.Cleanup(func() { flowBlockSize, baselineMemory = block, mem })
	tmp := t.TempDir()
	for _, spill := range []string{"", tmp, filepath.Join(tmp, "missing")} {
		if spill != "" {
			flowBlockSize, baselineMemory = 512, 2048
			t.Setenv("TMPDIR", spill)
		}
		for name, data := range docs {
			b, err := ParseBaseline(data, name)
			if err != nil {
				t.Fatal(err)
			}
			if spilled := b.size > 0; name == "full" && spilled != (spill == tmp) {
				t.Errorf("TMPDIR %q: %d bytes of the full output in the temporary file", spill, b.size)
			}
			flowsAsBefore(t, name, data, b)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("left in TMPDIR: %v", left)
		}
	}
}

// flowsAsBefore checks baseline b, read from data, against parseReference.
func flowsAsBefore(t *testing.T, name string, data []byte, b *Baseline) {
	t.Helper()
	want := parseReference(t, data)
	if b.Len() != len(want) || len(want) == 0 {
		t.Fatalf("%s: %d flows, want %d", name, b.Len(), len(want))
	}
	for i, w := range want {
		if got, err := b.Flow(i); err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("%s: flow %d (%v):\n%v\nwant\n%v", name, i, err, got, w)
		}
		if b.Key(i) != FlowKey(w) {
			t.Fatalf("%s: flow %d: key %q, want %q", name, i, b.Key(i), FlowKey(w))
		}
	}
}

// TestCheckSpilledBaseline checks a result against its own saved flows
// kept mostly in a temporary file: every flow is read back and settled by
// its text, a changed one is compared value by value, and a file that
// cannot be read back any more is an error from Add, not a panic.
func TestCheckSpilledBaseline(t *testing.T) {
	res := synthResult(t, synth.Config{Seed: 22, Conns: 300, Concurrency: 50, Mix: synth.Mix{ClientClose: 1, Reset: 1, FinRetransmit: 1, Reuse: 0.5}})
	doc, err := json.Marshal(map[string]any{"schema": Schema, "flows": res.Flows})
	if err != nil {
		t.Fatal(err)
	}
	block, mem := flowBlockSize, baselineMemory
	t.Cleanup(func() { flowBlockSize, baselineMemory = block, mem })
	flowBlockSize, baselineMemory = 512, 2048
	t.Setenv("TMPDIR", t.TempDir())
	marshal := func(dst []byte, f *Flow) ([]byte, error) {
		b, err := json.Marshal(f)
		return append(dst, b...), err
	}
	b, err := ParseBaseline(doc, "baseline")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.size < int64(len(doc))/2 {
		t.Fatalf("%d of %d bytes in the temporary file", b.size, len(doc))
	}
	c := NewChecker(b)
	c.Encode = marshal
	changed := res.Flows[len(res.Flows)-1].Clone()
	changed.Close.Kind = ResetKind
	if res.Flows[len(res.Flows)-1].Close.Kind == ResetKind {
		changed.Close.Kind = FourWay
	}
	for _, f := range res.Flows[:len(res.Flows)-1] {
		if err := c.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Add(changed); err != nil {
		t.Fatal(err)
	}
	ms := c.Mismatches()
	if len(ms) != 1 || ms[0].ID != changed.ID || !strings.HasPrefix(ms[0].What, "close.kind:") || c.Same != len(res.Flows)-1 {
		t.Errorf("%d settled by text, mismatches %+v: want all but flow %d settled and its close.kind", c.Same, ms, changed.ID)
	}
	b.file.Close()
	for i, sp := range b.spans {
		if sp.c < 0 { // in the file
			if err := NewChecker(b).Add(res.Flows[i]); err == nil || !strings.Contains(err.Error(), "reading the baseline's flows back") {
				t.Errorf("Add with the temporary file closed: %v", err)
			}
			break
		}
	}
}
