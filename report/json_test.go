package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/testenv"
)

// sampleResult is a small result with the nil lists and maps a careless
// producer might leave.
func sampleResult() *analyze.Result {
	t0 := analyze.Time(1_700_000_000_123_456_789)
	f := &analyze.Flow{
		ID: 1, Incarnation: 2, Client: "198.51.100.10:40000", Server: "198.51.100.80:8080",
		Roles: analyze.RolesHandshake, FirstFrame: 1, LastFrame: 10, Start: t0, End: t0 + 5e6,
		Handshake: analyze.HandshakeComplete,
		RTT:       &analyze.RTT{Server: new(0.0241)},
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
	want := []string{"client", "close", "diagnoses", "end", "first_frame", "handshake", "id", "incarnation", "last_frame", "reuse", "roles", "rtt", "server", "sides", "start", "zeek_state"}
	if got := keys(flow); !slices.Equal(got, want) {
		t.Errorf("flow keys %v, want %v", got, want)
	}
	if got := compact(t, flow["rtt"]); got != `{"client":null,"server":0.0241}` {
		t.Errorf("rtt = %s, want the client's null", got)
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

// fill sets every field of the value v points to, recursively, to a
// non-zero value (lists and maps get two elements, strings the characters
// JSON must escape), so that a field the flow encoder does not know shows.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 6 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"b\t", "a<&>"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, depth+1)
			m.SetMapIndex(reflect.ValueOf(k), e)
		}
		v.Set(m)
	case reflect.String:
		v.SetString("x\"\\\x01\u2028é<&>\xff")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1_700_000_000_123_456_789 % (1 << (8*v.Type().Size() - 2)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(3) // a valid State, and a small frame number
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5e-7)
	}
}

// reference encodes f with encoding/json the way the flow encoder must:
// nil lists and maps as empty ones, HTML escaping off.
func reference(t *testing.T, f *analyze.Flow) string {
	t.Helper()
	g := *f
	if g.Diagnoses == nil {
		g.Diagnoses = []analyze.Diagnosis{}
	}
	g.Diagnoses = slices.Clone(g.Diagnoses)
	for i := range g.Diagnoses {
		if g.Diagnoses[i].Frames == nil {
			g.Diagnoses[i].Frames = []uint64{}
		}
	}
	for _, s := range []**analyze.Side{&g.Sides.Client, &g.Sides.Server} {
		if *s == nil {
			continue
		}
		c := **s
		if c.States == nil {
			c.States = []analyze.StateEntry{}
		}
		if c.FinFrames == nil {
			c.FinFrames = []uint64{}
		}
		if c.Durations == nil {
			c.Durations = map[string]float64{}
		}
		*s = &c
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&g); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestFlowEncoderMatchesEncodingJSON(t *testing.T) {
	var full analyze.Flow
	fill(reflect.ValueOf(&full).Elem(), 0)
	flows := map[string]*analyze.Flow{
		"every field set": &full,
		"sample":          sampleResult().Flows[0],
		"zero":            {Sides: analyze.Sides{Client: &analyze.Side{FinalState: analyze.Closed}}},
	}
	// Times around edges of the calendar arithmetic.
	for _, ts := range []string{"1970-01-01T00:00:00Z", "2000-02-29T23:59:59.999999999Z", "2024-12-31T12:00:00.5Z", "2100-03-01T00:00:00Z", "1969-12-31T23:59:59Z"} {
		var tm analyze.Time
		if err := tm.UnmarshalText([]byte(ts)); err != nil {
			t.Fatal(err)
		}
		f := *sampleResult().Flows[0]
		f.Start, f.End = tm, tm
		flows["time "+ts] = &f
	}
	for name, f := range flows {
		t.Run(name, func(t *testing.T) {
			got, err := appendFlow(nil, f)
			if err != nil {
				t.Fatal(err)
			}
			if want := reference(t, f); string(got) != want {
				t.Errorf("flow encoder differs from encoding/json:\n got %s\nwant %s", got, want)
			}
		})
	}
	if _, err := appendFloat(nil, math.NaN()); err == nil {
		t.Error("NaN encoded without an error")
	}
}

// TestFlowEncoderOnLabFlows compares the two encoders on every flow the
// analyzer finds in the lab captures.
func TestFlowEncoderOnLabFlows(t *testing.T) {
	caps, _ := filepath.Glob(filepath.Join(testenv.Lab(t), "*.pcap*"))
	if len(caps) == 0 {
		t.Skip("no lab captures")
	}
	n := 0
	for _, c := range caps {
		r, err := capture.Open([]string{c}, capture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := analyze.Run(r, analyze.Options{})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Flows {
			got, err := appendFlow(nil, f)
			if err != nil {
				t.Fatal(err)
			}
			if want := reference(t, f); string(got) != want {
				t.Fatalf("%s flow %d: encoders differ:\n got %s\nwant %s", c, f.ID, got, want)
			}
			n++
		}
	}
	t.Logf("%d flows compared", n)
}

// TestAppendFlowDoesNotAllocate: into a buffer with room, the flow
// encoder allocates nothing, whatever the flow holds.
func TestAppendFlowDoesNotAllocate(t *testing.T) {
	var full analyze.Flow
	fill(reflect.ValueOf(&full).Elem(), 0)
	// Durations as a side has them: more keys than fill gives.
	full.Sides.Server.Durations = map[string]float64{"ESTABLISHED": 12.5, "FIN_WAIT1": 0.0002, "FIN_WAIT2": 0.0011, "TIME_WAIT": 60, "CLOSED": 1.5e-7}
	for name, f := range map[string]*analyze.Flow{"every field set": &full, "sample": sampleResult().Flows[0]} {
		buf := make([]byte, 0, 64<<10)
		if n := testing.AllocsPerRun(100, func() {
			var err error
			if buf, err = appendFlow(buf[:0], f); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations a flow, want 0", name, n)
		}
	}
}

// TestFlowEncoderSortsDurations: keys come out sorted however many a
// side has (past the encoder's stack room too).
func TestFlowEncoderSortsDurations(t *testing.T) {
	for n := range 40 {
		f := sampleResult().Flows[0]
		d := map[string]float64{}
		for i := range n {
			d[strings.Repeat("Z", i%3)+string(rune('A'+(i*7)%26))+strings.Repeat("a", i/26)] = float64(i) / 7
		}
		f.Sides.Client.Durations = d
		got, err := appendFlow(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, f); string(got) != want {
			t.Fatalf("%d durations: flow encoder differs from encoding/json:\n got %s\nwant %s", n, got, want)
		}
	}
	// Every set of the close states (the keys looked up in order), and
	// each with a state of another name besides.
	states := []string{"TIME_WAIT", "FIN_WAIT1", "CLOSE_WAIT", "LAST_ACK", "FIN_WAIT2", "CLOSING"}
	for set := range 1 << len(states) {
		for _, other := range []string{"", "ESTABLISHED", "A", "ZZ"} {
			d := map[string]float64{}
			for i, st := range states {
				if set&(1<<i) != 0 {
					d[st] = float64(i+1) / 1000
				}
			}
			if other != "" {
				d[other] = 2.5
			}
			f := sampleResult().Flows[0]
			f.Sides.Server.Durations = d
			got, err := appendFlow(nil, f)
			if err != nil {
				t.Fatal(err)
			}
			if want := reference(t, f); string(got) != want {
				t.Fatalf("durations %v: flow encoder differs from encoding/json:\n got %s\nwant %s", d, got, want)
			}
		}
	}
}

// TestAppendFloatMatchesEncodingJSON compares appendFloat, its
// nanosecond fast path included, with encoding/json on durations as the
// analyzer computes them and on arbitrary doubles.
func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(f float64) {
		t.Helper()
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendFloat(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("appendFloat(%b) = %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{0, 1, -1, 1e-6, 1e-6 - 1e-22, 999999.999999999, 1e6, 1e6 - 1e-10, 1e21, 1.5e-7, 0.1, 0.2, 0.3, 1.0 / 3, 60, 0.0002, 12.5, math.SmallestNonzeroFloat64, math.MaxFloat64} {
		check(f)
		check(-f)
	}
	for range 50_000 {
		// A duration between two nanosecond timestamps, of any magnitude.
		n := rng.Int64N(int64(1) << rng.IntN(63))
		check(analyze.Time(0).Seconds(analyze.Time(n)))
		check(float64(n) / 1e9)
		if _, ok := appendNanos(nil, float64(n)/1e9); !ok && n >= 1000 && n < 1e15 {
			t.Fatalf("%d ns: not on the fast path", n)
		}
		check(float64(n) / 1e6)
		check(float64(n%1_000_000_000_000_000) / 1e9)
		// Nearby doubles, and any double at all.
		f := float64(n) / 1e9
		check(math.Nextafter(f, 0))
		check(math.Nextafter(f, math.Inf(1)))
		if g := math.Float64frombits(rng.Uint64()); !math.IsNaN(g) && !math.IsInf(g, 0) {
			check(g)
		}
		check(rng.Float64() * 1e6)
	}
}

// TestAppendTimeMatchesMarshalText compares the time writer with
// analyze.Time.MarshalText over the whole range of times, each written by
// a fresh writer and by one that wrote a time before, near or far.
func TestAppendTimeMatchesMarshalText(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var shared timeWriter
	var prev analyze.Time
	for i := range 200_000 {
		var tm analyze.Time
		switch i % 5 {
		case 0:
			tm = analyze.Time(rng.Int64())
		case 1:
			tm = analyze.Time(rng.Int64N(4102444800e9)) // to 2100
		case 2:
			tm = prev + analyze.Time(rng.Int64N(172800e9)) - 86400e9 // a day either side
		case 3:
			tm = prev + analyze.Time(rng.Int64N(2e9)) - 1e9 // a second either side
		default:
			tm = analyze.Time(-rng.Int64N(1e18))
		}
		prev = tm
		want, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		var fresh timeWriter
		if got := fresh.append(nil, tm); string(got) != string(want) {
			t.Fatalf("time %d = %s, want %s", tm, got, want)
		}
		if got := shared.append(nil, tm); string(got) != string(want) {
			t.Fatalf("time %d after others = %s, want %s", tm, got, want)
		}
	}
}

func TestAppendIntMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 100_000 {
		u := rng.Uint64() >> rng.IntN(64)
		if i < 1000 {
			u = uint64(i)
		}
		if p, k := uint64(1), i-1000; k >= 0 && k < 3*20 {
			for range k / 3 {
				p *= 10
			}
			u = p + uint64(k%3) - 1 // 10^n - 1, 10^n, 10^n + 1
		}
		if got, want := appendUint(nil, u), strconv.FormatUint(u, 10); string(got) != want {
			t.Fatalf("appendUint(%d) = %s", u, got)
		}
		v := int(int64(u))
		for _, v := range []int{v, -v, math.MinInt64, math.MaxInt64} {
			if got, want := appendInt(nil, v), strconv.Itoa(v); string(got) != want {
				t.Fatalf("appendInt(%d) = %s", v, got)
			}
		}
	}
}

// TestAppendStringMatchesEncodingJSON compares appendString with
// encoding/json on strings with a character to escape anywhere, or none.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	special := []string{"\"", "\\", "\x00", "\x1f", "\n", "\t", "\x7f", "\u2028", "\u2029", "é", "\xff", "\xe2\x80", "<", "&", " "}
	for range 100_000 {
		var sb strings.Builder
		for range rng.IntN(40) {
			sb.WriteByte(byte(0x20 + rng.IntN(0x5f)))
		}
		s := sb.String()
		if rng.IntN(2) == 0 {
			at := rng.IntN(len(s) + 1)
			s = s[:at] + special[rng.IntN(len(special))] + s[at:]
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want.String())
		}
	}
}

// countingWriter records the writes it is given, and fails from the
// failAt-th on when failAt is positive.
type countingWriter struct {
	bytes.Buffer
	writes, failAt int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.failAt > 0 && w.writes >= w.failAt {
		return 0, errors.New("disk full")
	}
	return w.Buffer.Write(p)
}

// TestJSONLStream: the stream is every flow line then the summary line,
// written in chunks of whole lines; a write error stops it and comes
// back from every later call.
func TestJSONLStream(t *testing.T) {
	res := sampleResult()
	var want []byte
	var w countingWriter
	j := NewJSONL(&w)
	const n = 500
	for i := range n {
		f := *res.Flows[0]
		f.ID = i + 1
		line, err := appendFlow(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		want = append(append(want, line...), '\n')
		if err := j.Flow(&f); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Summary(res); err != nil {
		t.Fatal(err)
	}
	got := w.String()
	if !strings.HasPrefix(got, string(want)) || !strings.HasPrefix(got[len(want):], `{"type":"summary",`) || strings.Count(got, "\n") != n+1 {
		t.Errorf("stream is not the flow lines then the summary line")
	}
	if w.writes < 2 || w.writes > len(got)/jsonlChunk+1 {
		t.Errorf("%d writes for %d bytes", w.writes, len(got))
	}

	bad := &countingWriter{failAt: 1}
	j = NewJSONL(bad)
	var err error
	for i := 0; i < n && err == nil; i++ {
		err = j.Flow(res.Flows[0])
	}
	if err == nil || j.Flow(res.Flows[0]) == nil || j.Summary(res) == nil {
		t.Errorf("write error not returned: %v", err)
	}
}

// TestJSONLFlowDoesNotAllocate: streaming a flow allocates nothing.
func TestJSONLFlowDoesNotAllocate(t *testing.T) {
	f := sampleResult().Flows[0]
	j := NewJSONL(io.Discard)
	if n := testing.AllocsPerRun(1000, func() {
		if err := j.Flow(f); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations a flow, want 0", n)
	}
}

// TestFlowEncoderDurations compares the two encoders on sides with
// durations of random states, which the side may or may not have gone
// through.
func TestFlowEncoderDurations(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		f := sampleResult().Flows[0]
		side := f.Sides.Client
		side.States = nil
		for range rng.IntN(8) {
			side.States = append(side.States, analyze.StateEntry{State: analyze.State(1 + rng.IntN(10)), Frame: 1})
		}
		side.Durations = map[string]float64{}
		for range rng.IntN(6) {
			side.Durations[analyze.State(1+rng.IntN(10)).String()] = float64(rng.IntN(1e9)) / 1e9
		}
		if rng.IntN(4) == 0 {
			side.Durations["other"] = 1
		}
		got, err := appendFlow(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, f); string(got) != want {
			t.Fatalf("flow encoder differs from encoding/json:\n got %s\nwant %s", got, want)
		}
	}
}

// TestCheckByText: checked against the JSON document written of the same
// flows, with AppendFlow as its encoder, a Checker settles every flow by
// its text alone and finds no difference; a flow changed after the
// document was written is compared value by value, and the difference
// reported.
func TestCheckByText(t *testing.T) {
	all := labAll(t, "net.ipv4.tcp_fin_timeout = 60\n")
	// The lab's captures reuse 4-tuples: keep the flows whose key
	// (client, server, incarnation) is theirs alone.
	key := func(f *analyze.Flow) string { return fmt.Sprint(f.Client, f.Server, f.Incarnation) }
	n := map[string]int{}
	for _, f := range all.Flows {
		n[key(f)]++
	}
	res := *all
	res.Flows = nil
	for _, f := range all.Flows {
		if n[key(f)] == 1 {
			res.Flows = append(res.Flows, f)
		}
	}
	if len(res.Flows) < 20 {
		t.Fatalf("only %d lab flows of a 4-tuple and incarnation of their own", len(res.Flows))
	}
	var doc bytes.Buffer
	if err := JSON(&doc, &res); err != nil {
		t.Fatal(err)
	}
	b, err := analyze.ParseBaseline(doc.Bytes(), "baseline.json")
	if err != nil {
		t.Fatal(err)
	}
	c := analyze.NewChecker(b)
	c.Encode = AppendFlow
	changed := res.Flows[len(res.Flows)/2].Clone()
	changed.Sides.Client.FinRetransmissions += 7
	for _, f := range res.Flows {
		if f.ID == changed.ID {
			f = changed
		}
		if err := c.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	ms := c.Mismatches()
	if len(ms) != 1 || ms[0].ID != changed.ID || !strings.Contains(ms[0].What, "sides.client.fin_retransmissions") {
		t.Errorf("mismatches %+v, want the one in flow %d's sides.client.fin_retransmissions", ms, changed.ID)
	}
	if c.Same != len(res.Flows)-1 {
		t.Errorf("%d of %d flows settled by their text, want all but the changed one", c.Same, len(res.Flows))
	}
}
