package analyze_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
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
			}
			if err := json.Unmarshal(data, &truth); err != nil {
				t.Fatalf("%s: %v", tf, err)
			}
			b, err := analyze.ParseBaseline(data, tf)
			if err != nil {
				t.Fatal(err)
			}
			res := runCapture(t, filepath.Join(dir, truthCapture(t, dir, name, truth.Capture)))
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
