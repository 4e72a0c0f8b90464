package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
)

// refRead is how a baseline was read with encoding/json's Decoder before
// jsonReader: the reference for read. It decodes the baseline object of r, as encoding/json would decode it
// into a struct of schema, flows and limits (keys matched whatever their
// case, the last of a repeated key kept, others skipped), storing its
// flows one at a time.
func refRead(b *Baseline, r io.Reader, name string, schema *string, limits **Limits) error {
	bad := func(err error) error { return fmt.Errorf("%s: not a baseline: %w", name, err) }
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expectDelim(dec, '{', "an object"); err != nil {
		return bad(err)
	}
	var z bytes.Buffer
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		switch key, _ := t.(string); {
		case strings.EqualFold(key, "schema"):
			err = dec.Decode(schema)
		case strings.EqualFold(key, "limits"):
			*limits = nil
			err = dec.Decode(limits)
		case strings.EqualFold(key, "flows"):
			b.keys, b.blocks, b.spans = nil, nil, nil
			err = refReadFlows(b, dec, name, &z)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			if _, ok := err.(*flowError); ok {
				return err
			}
			return bad(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return bad(err)
	}
	return nil
}

// refReadFlows reads the flows array (or null), checking that each flow
// names its client and server, and stores each compacted, with its key.
func refReadFlows(b *Baseline, dec *json.Decoder, name string, z *bytes.Buffer) error {
	t, err := dec.Token()
	if err != nil || t == nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("flows: want an array, not %v", t)
	}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		// What identifies the flow, decoded as the whole flow would be.
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			return fmt.Errorf("flows[%d]: %w", i, err)
		}
		id := map[string]any{"incarnation": 1.0}
		for _, k := range []string{"client", "server", "incarnation"} {
			if v, ok := top[k]; ok {
				var x any
				if err := json.Unmarshal(v, &x); err != nil {
					return fmt.Errorf("flows[%d]: %q: %w", i, k, err)
				}
				id[k] = x
			}
			if _, ok := id[k].(string); !ok && k != "incarnation" {
				return &flowError{fmt.Sprintf("%s: flows[%d]: %q is required", name, i, k)}
			}
		}
		b.keys = append(b.keys, FlowKey(id))
		z.Reset()
		if err := json.Compact(z, raw); err != nil {
			return err
		}
		b.store(z.Bytes())
	}
	_, err = dec.Token()
	return err
}

// expectDelim reads delimiter d, described by what, from dec.
func expectDelim(dec *json.Decoder, d json.Delim, what string) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := t.(json.Delim); !ok || got != d {
		return fmt.Errorf("want %s, not %v", what, t)
	}
	return nil
}

// readBoth reads data with read and with refRead and fails unless both
// refuse it or both give the same flows (keys and compacted text),
// schema and limits. It returns read's error.
func readBoth(t *testing.T, data []byte, r io.Reader) error {
	t.Helper()
	var got, want Baseline
	var gs, ws string
	var gl, wl *Limits
	if r == nil {
		r = bytes.NewReader(data)
	}
	gerr := got.read(r, "b.json", &gs, &gl)
	werr := refRead(&want, bytes.NewReader(data), "b.json", &ws, &wl)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("read(%q): %v; encoding/json's Decoder: %v", data, gerr, werr)
	}
	// A flow refused for what it holds is refused with the same words.
	// (Text that is not JSON may be refused for another reason first: the
	// Decoder takes "null" from "null0" and refuses that flow, read the
	// whole "null0" and refuses the text.)
	_, gFlow := gerr.(*flowError)
	_, wFlow := werr.(*flowError)
	if gFlow && wFlow && gerr.Error() != werr.Error() || gFlow != wFlow && json.Valid(data) {
		t.Fatalf("read(%q): %v; encoding/json's Decoder: %v", data, gerr, werr)
	}
	if gerr != nil {
		if !strings.HasPrefix(gerr.Error(), "b.json: ") {
			t.Fatalf("read(%q): %v: the error does not name the file", data, gerr)
		}
		return gerr
	}
	if !reflect.DeepEqual(got.keys, want.keys) || gs != ws || !reflect.DeepEqual(gl, wl) {
		t.Fatalf("read(%q): keys %q, schema %q, limits %+v; encoding/json's Decoder: %q, %q, %+v", data, got.keys, gs, gl, want.keys, ws, wl)
	}
	for i := range got.keys {
		g, gerr := got.text(i) // got and want read into buffers of their own
		w, werr := want.text(i)
		if gerr != nil || werr != nil || !bytes.Equal(g, w) {
			t.Fatalf("read(%q): flow %d is %s (%v); encoding/json's Decoder: %s (%v)", data, i, g, gerr, w, werr)
		}
	}
	return nil
}

var baselineSeeds = []string{
	`{}`, `{"flows":null}`, `{"flows":[]}`, ` { "flows" : [ { "client" : "a:1" , "server" : "b:2" } ] } trailing`,
	`{"flows":[{"client":"a:1","server":"b:2","incarnation":2,"x":[1, 2.5e3 ,true,false,null,{"y":"\\\" {}[],:"}]}]}`,
	`{"flows":[{"client":"a:1","server":"b:2","client":"c:3"}]}`,
	`{"flows":[{"cl\u0069ent":"a:1","server":"b:\u0032"}]}`,
	`{"FLOWS":[{"client":"a:1","server":"b:2"}],"fl\u006fws":[{"client":"c:1","server":"d:2","incarnation":"x"}]}`,
	`{"flows":[{"server":"b:2"}]}`, `{"flows":[{"client":1,"server":"b:2"}]}`, `{"flows":[null]}`, `{"flows":[1]}`,
	`{"flows":[[]]}`, `{"flows":{}}`, `{"flows":"x"}`, `{"flows":5}`,
	`{"schema":"teardown/v1","limits":{"max_diagnoses":{"x":2},"min_reuse_gap":1.5},"summary":{"a":[1,{"b":null}]}}`,
	`{"Schema":5}`, `{"limits":[]}`, `{"limits":{"max_fin_retransmissions":1.5}}`,
	`{"flows":[{"client":"a:1","server":"b:2","x":[1 2]}]}`, `{"flows":[{"client":"a:1","server":"b:2","x":tru e}]}`,
	`{"flows":[{"client":"a:1","server":"b:2"},]}`, `{"flows":[{"client":"a:1","server":"b:2"} {"client":"a:1","server":"b:2"}]}`,
	`{"flows":[{"client":"a:1","server":"b:2"}]`, `{"flows":[{"client":"a:1","server":"b:2"`, `{"flows":[{"client":"a:1`,
	`{"a":1 "b":2}`, `{"a" 1}`, `{1:2}`, `{"a":}`, `{"a":01}`, `{"a":"\x"}`, `{"a":"` + "\t\x01" + `"}`,
	`[]`, `"x"`, `not json`, ``, ` `, `{`, `}`, `{"flows":[}`,
}

func TestReadBaselineLikeDecoder(t *testing.T) {
	for _, s := range baselineSeeds {
		readBoth(t, []byte(s), nil)
	}
	// Saved outputs and the lab's expectation files, whole and read a
	// byte at a time, and cut short anywhere.
	docs := [][]byte{}
	truths, _ := filepath.Glob(filepath.Join(testenv.Lab(t), "*.truth.json"))
	for _, tf := range truths {
		data, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, data)
	}
	res := synthResult(t, synth.Config{Seed: 22, Conns: 300, Concurrency: 50, Mix: synth.Mix{ClientClose: 1, Reset: 1, FinRetransmit: 1, Reuse: 0.5}})
	full, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, full)
	for _, data := range docs {
		if err := readBoth(t, data, nil); err != nil {
			t.Fatalf("a valid baseline refused: %v", err)
		}
		if err := readBoth(t, data, &oneByte{data: data}); err != nil {
			t.Fatalf("a valid baseline read a byte at a time refused: %v", err)
		}
		for _, n := range []int{1, len(data) / 3, len(data) / 2, len(data) - 2} {
			if n > 0 && n < len(data) {
				readBoth(t, data[:n], nil)
			}
		}
	}
	// A reader that never gives anything ends with an error, not a hang.
	var b Baseline
	var s string
	var l *Limits
	if err := b.read(&oneByte{stall: true}, "b.json", &s, &l); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("a stalled reader: %v, want io.ErrNoProgress", err)
	}
}

// oneByte reads data one byte at a time (stall: nothing, ever).
type oneByte struct {
	data  []byte
	stall bool
}

func (o *oneByte) Read(p []byte) (int, error) {
	if o.stall {
		return 0, nil
	}
	if len(o.data) == 0 {
		return 0, io.EOF
	}
	p[0] = o.data[0]
	o.data = o.data[1:]
	return 1, nil
}

func FuzzReadBaseline(f *testing.F) {
	for _, s := range baselineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		readBoth(t, data, nil)
	})
}
