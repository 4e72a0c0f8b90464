package analyze_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/testenv"
	"github.com/teardown/teardown/report"
)

// compareDiagnoses switches on the comparison of truth files' "diagnoses"
// (a set of {code, sysctl, side}). It stays off until diagnosis rules
// exist; the diagnosis work turns it on.
const compareDiagnoses = true

// labDir is $TEARDOWN_LAB_DIR, or testdata/lab.
func labDir(t *testing.T) string {
	if d := os.Getenv("TEARDOWN_LAB_DIR"); d != "" {
		return d
	}
	return testenv.Lab(t)
}

// TestLabFixtures runs the analyzer on every real-kernel lab capture and
// compares its teardown/v1 output with the capture's truth file by the
// subset rules of testdata/lab/TRUTH-FORMAT.md.
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
			truth := readTruth(t, tf)
			got := analyzeFile(t, filepath.Join(dir, truthCapture(t, dir, name, truth)))
			for _, d := range compareFlows(truth["flows"], got["flows"]) {
				t.Error(d)
			}
		})
	}
}

func readTruth(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// truthCapture names the capture a truth file describes.
func truthCapture(t *testing.T, dir, name string, truth map[string]any) string {
	t.Helper()
	if c, ok := truth["capture"].(string); ok && c != "" {
		return c
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
	res, err := analyze.Run(r, analyze.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// analyzeFile runs the whole pipeline on one capture and returns its JSON
// output decoded as generic values.
func analyzeFile(t *testing.T, path string) map[string]any {
	t.Helper()
	res := runCapture(t, path)
	var buf bytes.Buffer
	if err := report.JSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// flowKey identifies a flow across truth and output.
func flowKey(f map[string]any) string {
	return fmt.Sprintf("%v -> %v #%v", f["client"], f["server"], f["incarnation"])
}

// compareFlows matches truth flows to output flows by client, server and
// incarnation and returns one line per difference. Output flows the truth
// does not list are differences too: a truth file lists every flow.
func compareFlows(truth, got any) []string {
	tf, _ := truth.([]any)
	gf, _ := got.([]any)
	byKey := map[string]map[string]any{}
	for _, g := range gf {
		m := g.(map[string]any)
		byKey[flowKey(m)] = m
	}
	var diffs []string
	seen := map[string]bool{}
	for _, x := range tf {
		want := x.(map[string]any)
		k := flowKey(want)
		seen[k] = true
		have, ok := byKey[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("flow %s: missing from the output", k))
			continue
		}
		for _, d := range subset("", want, have) {
			diffs = append(diffs, fmt.Sprintf("flow %s: %s", k, d))
		}
	}
	var extra []string
	for k := range byKey {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		diffs = append(diffs, fmt.Sprintf("flow %s: in the output, not in the truth", k))
	}
	return diffs
}

// toleranceOf gives the paths whose numbers match within 1 ms.
var toleranceOf = map[string]float64{
	"reuse.gap":                 0.001,
	"close.half_close.duration": 0.001,
}

// subset compares want (a truth value) with have (output) by the truth
// file's rules and returns "path: want X, got Y" lines.
func subset(path string, want, have any) []string {
	at := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want object, got %s", path, show(have))}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			if path == "" && k == "diagnoses" {
				if compareDiagnoses {
					out = append(out, diagnosisSet(w[k], h[k])...)
				}
				continue
			}
			hv, ok := h[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s: want %s, missing", at(k), show(w[k])))
				continue
			}
			out = append(out, subset(at(k), w[k], hv)...)
		}
		return out
	case []any:
		h, ok := have.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, show(want), show(have))}
		}
		if len(w) != len(h) {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, show(want), show(have))}
		}
		var out []string
		for i := range w {
			out = append(out, subset(fmt.Sprintf("%s[%d]", path, i), w[i], h[i])...)
		}
		return out
	case float64:
		h, ok := have.(float64)
		if ok && (h == w || math.Abs(h-w) <= toleranceOf[path]) {
			return nil
		}
		return []string{fmt.Sprintf("%s: want %s, got %s", path, show(want), show(have))}
	default:
		if want != have {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, show(want), show(have))}
		}
		return nil
	}
}

// diagnosisSet compares diagnoses as a set of {code, sysctl, side}
// triples, each key only when the truth entry has it.
func diagnosisSet(want, have any) []string {
	w, _ := want.([]any)
	h, _ := have.([]any)
	used := make([]bool, len(h))
	var out []string
	for _, x := range w {
		wd := x.(map[string]any)
		found := false
		for i, y := range h {
			if used[i] {
				continue
			}
			if len(subset("", wd, y)) == 0 {
				used[i], found = true, true
				break
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("diagnoses: want %s, not found in %s", show(wd), show(have)))
		}
	}
	for i, y := range h {
		if !used[i] {
			out = append(out, fmt.Sprintf("diagnoses: %s fired, not in the truth", show(y)))
		}
	}
	return out
}

func show(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// TestSubsetRules checks the comparison itself on small cases, so that a
// lab run that passes means what TRUTH-FORMAT.md says.
func TestSubsetRules(t *testing.T) {
	parse := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, want, have string
		diffs            int
	}{
		{"extra keys ignored", `{"a":1}`, `{"a":1,"b":2}`, 0},
		{"missing key", `{"a":1}`, `{"b":1}`, 1},
		{"null must be null", `{"a":null}`, `{"a":{"x":1}}`, 1},
		{"array length", `{"a":[1,2]}`, `{"a":[1]}`, 1},
		{"array elements by subset", `{"a":[{"s":"X"}]}`, `{"a":[{"s":"X","at":"t"}]}`, 0},
		{"numbers exact", `{"x":1}`, `{"x":1.0001}`, 1},
		{"gap within 1 ms", `{"reuse":{"gap":0.1}}`, `{"reuse":{"gap":0.1009}}`, 0},
		{"gap beyond 1 ms", `{"reuse":{"gap":0.1}}`, `{"reuse":{"gap":0.1011}}`, 1},
		{"diagnoses compared when switched on", `{"diagnoses":[{"code":"x"}]}`, `{"diagnoses":[]}`, map[bool]int{false: 0, true: 1}[compareDiagnoses]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := subset("", parse(tt.want), parse(tt.have))
			if len(got) != tt.diffs {
				t.Errorf("got %d differences %q, want %d", len(got), got, tt.diffs)
			}
		})
	}
	if d := diagnosisSet(parse(`[{"code":"a","side":"client"}]`), parse(`[{"code":"a","side":"client","sysctl":"x"},{"code":"b"}]`)); len(d) != 1 || !strings.Contains(d[0], `"b"`) {
		t.Errorf("diagnosis set: got %q, want one extra diagnosis b", d)
	}
	if slices.Contains(compareFlows(parse(`[{"client":"a","server":"b","incarnation":1}]`), parse(`[]`)), "") {
		t.Error("empty difference line")
	}
}
