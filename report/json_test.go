package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
)

// sampleResult is a small result with the nil lists and maps a careless
// producer might leave.
func sampleResult() *analyze.Result {
	t0 := analyze.Time(1_700_000_000_123_456_789)
	f := &analyze.Flow{
		ID: 1, Incarnation: 2, Client: "198.51.100.10:40000", Server: "198.51.100.80:8080",
		Roles: analyze.RolesHandshake, FirstFrame: 1, LastFrame: 10, Start: t0, End: t0 + 5e6,
		Handshake: analyze.HandshakeComplete,
		Close:     analyze.Close{Initiator: analyze.Client, Kind: analyze.FourWay},
		Sides: analyze.Sides{
			Client: &analyze.Side{
				States: []analyze.StateEntry{
					{State: analyze.Established, Frame: 2, At: t0},
					{State: analyze.FinWait1, Frame: 7, At: t0 + 1e6},
				},
				FinFrames: []uint64{7}, FinalState: analyze.FinWait1,
				Durations: map[string]float64{"FIN_WAIT1": 0.004},
			},
			Server: &analyze.Side{FinalState: analyze.Closed},
		},
		Reuse: &analyze.Reuse{PreviousID: 7, Gap: 1.25, TimeWaitHolder: analyze.Client, Timestamps: true, Verdict: analyze.VerdictClientReuse},
	}
	return &analyze.Result{
		Capture: analyze.Capture{Files: []string{"x.pcap"}, Format: "pcap", Packets: 10, TCPPackets: 10, First: t0, Last: t0 + 5e6},
		Flows:   []*analyze.Flow{f},
		Summary: &analyze.Summary{Flows: 1, CloseKinds: map[string]int{"four_way": 1}},
	}
}

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := JSON(&buf, sampleResult()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasSuffix(out, "}\n") || !strings.HasPrefix(out, "{\n  \"schema\": \"teardown/v1\",\n") {
		t.Errorf("not an indented document with a trailing newline:\n%.200s", out)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if got := keys(doc); !slices.Equal(got, []string{"capture", "flows", "schema", "summary"}) {
		t.Errorf("top-level keys %v", got)
	}
	flow := doc["flows"].([]any)[0].(map[string]any)
	want := []string{"client", "close", "diagnoses", "end", "first_frame", "handshake", "id", "incarnation", "last_frame", "reuse", "roles", "server", "sides", "start"}
	if got := keys(flow); !slices.Equal(got, want) {
		t.Errorf("flow keys %v, want %v", got, want)
	}
	if got := keys(flow["close"].(map[string]any)); !slices.Equal(got, []string{"half_close", "initiator", "kind", "reset"}) {
		t.Errorf("close keys %v", got)
	}
	server := flow["sides"].(map[string]any)["server"].(map[string]any)
	for k, want := range map[string]string{"states": "[]", "fin_frames": "[]", "durations": "{}"} {
		if got := compact(t, server[k]); got != want {
			t.Errorf("server %s = %s, want %s", k, got, want)
		}
	}
	if got := compact(t, flow["diagnoses"]); got != "[]" {
		t.Errorf("diagnoses = %s, want []", got)
	}
	if got := keys(flow["reuse"].(map[string]any)); !slices.Equal(got, []string{"gap", "previous_id", "time_wait_holder", "timestamps", "verdict"}) {
		t.Errorf("reuse keys %v", got)
	}
	if got := flow["start"]; got != "2023-11-14T22:13:20.123456789Z" {
		t.Errorf("start %v, want RFC 3339 UTC with nanoseconds", got)
	}
	state := flow["sides"].(map[string]any)["client"].(map[string]any)["states"].([]any)[1]
	if got := compact(t, state); got != `{"at":"2023-11-14T22:13:20.124456789Z","frame":7,"state":"FIN_WAIT1"}` {
		t.Errorf("state entry %s", got)
	}
	sum := doc["summary"].(map[string]any)
	if compact(t, sum["diagnoses"]) != "{}" || compact(t, sum["final_states"]) != "{}" {
		t.Errorf("summary maps not {}: %s", compact(t, sum))
	}
	if compact(t, doc["capture"].(map[string]any)["link_types"]) != "[]" {
		t.Error("capture link_types not []")
	}
}

// TestJSONDoesNotChangeTheResult: normalising empty lists for output
// works on copies.
func TestJSONDoesNotChangeTheResult(t *testing.T) {
	res := sampleResult()
	if err := JSON(&bytes.Buffer{}, res); err != nil {
		t.Fatal(err)
	}
	if s := res.Flows[0].Sides.Server; s.States != nil || s.FinFrames != nil || s.Durations != nil || res.Flows[0].Diagnoses != nil {
		t.Error("JSON filled the caller's result")
	}
}

func TestJSONIsByteIdentical(t *testing.T) {
	res := sampleResult()
	res.Summary.FinalStates = map[string]int{"TIME_WAIT": 3, "CLOSED": 2, "FIN_WAIT1": 1, "LAST_ACK": 4}
	var a, b bytes.Buffer
	if err := JSON(&a, res); err != nil {
		t.Fatal(err)
	}
	if err := JSON(&b, res); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes of one result differ")
	}
	if i, j := strings.Index(a.String(), `"CLOSED"`), strings.Index(a.String(), `"TIME_WAIT"`); i < 0 || j < i {
		t.Error("map keys not in sorted order")
	}
}

func TestJSONL(t *testing.T) {
	res := sampleResult()
	second := *res.Flows[0]
	second.ID = 2
	var buf bytes.Buffer
	j := NewJSONL(&buf)
	for _, f := range []*analyze.Flow{res.Flows[0], &second} {
		if err := j.Flow(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Summary(res); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", len(lines)+1, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	if lines[0]["id"] != 1.0 || lines[1]["id"] != 2.0 || lines[0]["type"] != nil {
		t.Errorf("flow lines %v %v", lines[0]["id"], lines[1]["id"])
	}
	last := lines[2]
	if last["type"] != "summary" || last["schema"] != analyze.Schema || last["flows"] != 1.0 || last["capture"] == nil {
		t.Errorf("summary line %v", last)
	}
	// A flow line carries the same object as the JSON document.
	var doc bytes.Buffer
	if err := JSON(&doc, res); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(doc.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if a, b := compact(t, d["flows"].([]any)[0]), compact(t, lines[0]); a != b {
		t.Errorf("flow line differs from the document's flow:\n%s\n%s", a, b)
	}
}

func keys(m map[string]any) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
