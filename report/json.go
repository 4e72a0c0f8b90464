package report

import (
	"bufio"
	"encoding/json"
	"io"

	"github.com/teardown/teardown/analyze"
)

// JSON writes res as one indented teardown/v1 document followed by a
// newline. Empty lists and maps are written as [] and {}, never null.
func JSON(w io.Writer, res *analyze.Result) error {
	out := *res
	if out.Schema == "" {
		out.Schema = analyze.Schema
	}
	out.Flows = make([]*analyze.Flow, len(res.Flows))
	for i, f := range res.Flows {
		out.Flows[i] = normalFlow(f)
	}
	out.Capture = normalCapture(res.Capture)
	out.Summary = normalSummary(res.Summary)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(&out)
}

// JSONL streams teardown/v1 as JSON Lines: one flow object per line as
// flows finish, then one summary line.
type JSONL struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewJSONL returns a JSONL writer on w. Call Flow for each flow and
// Summary once at the end; Summary flushes.
func NewJSONL(w io.Writer) *JSONL {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONL{w: bw, enc: enc}
}

// Flow writes one flow line.
func (j *JSONL) Flow(f *analyze.Flow) error {
	return j.enc.Encode(normalFlow(f))
}

// summaryLine is the last line of a JSONL stream.
type summaryLine struct {
	Type    string          `json:"type"`
	Schema  string          `json:"schema"`
	Capture analyze.Capture `json:"capture"`
	*analyze.Summary
}

// Summary writes the closing {"type":"summary", ...} line — the schema,
// the capture description and the summary counts — and flushes.
func (j *JSONL) Summary(res *analyze.Result) error {
	line := summaryLine{Type: "summary", Schema: analyze.Schema, Capture: normalCapture(res.Capture), Summary: normalSummary(res.Summary)}
	if err := j.enc.Encode(&line); err != nil {
		return err
	}
	return j.w.Flush()
}

// normalFlow returns f, or a shallow copy of it with nil lists and maps
// replaced by empty ones, so that they encode as [] and {}.
func normalFlow(f *analyze.Flow) *analyze.Flow {
	if f.Diagnoses != nil && normalSide(f.Sides.Client) == f.Sides.Client && normalSide(f.Sides.Server) == f.Sides.Server {
		ok := true
		for _, d := range f.Diagnoses {
			if d.Frames == nil {
				ok = false
			}
		}
		if ok {
			return f
		}
	}
	g := *f
	g.Sides.Client, g.Sides.Server = normalSide(f.Sides.Client), normalSide(f.Sides.Server)
	g.Diagnoses = make([]analyze.Diagnosis, len(f.Diagnoses))
	for i, d := range f.Diagnoses {
		if d.Frames == nil {
			d.Frames = []uint64{}
		}
		g.Diagnoses[i] = d
	}
	return &g
}

func normalSide(s *analyze.Side) *analyze.Side {
	if s == nil || (s.States != nil && s.FinFrames != nil && s.Durations != nil) {
		return s
	}
	t := *s
	if t.States == nil {
		t.States = []analyze.StateEntry{}
	}
	if t.FinFrames == nil {
		t.FinFrames = []uint64{}
	}
	if t.Durations == nil {
		t.Durations = map[string]float64{}
	}
	return &t
}

func normalCapture(c analyze.Capture) analyze.Capture {
	if c.Files == nil {
		c.Files = []string{}
	}
	if c.LinkTypes == nil {
		c.LinkTypes = []string{}
	}
	return c
}

func normalSummary(s *analyze.Summary) *analyze.Summary {
	if s == nil {
		s = &analyze.Summary{}
	}
	if s.CloseKinds != nil && s.FinalStates != nil && s.Diagnoses != nil {
		return s
	}
	t := *s
	if t.CloseKinds == nil {
		t.CloseKinds = map[string]int{}
	}
	if t.FinalStates == nil {
		t.FinalStates = map[string]int{}
	}
	if t.Diagnoses == nil {
		t.Diagnoses = map[string]int{}
	}
	return &t
}
