package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// Baseline is what `teardown check` compares a result with: either a full
// `teardown --format json` output, or a hand-written expectations file
// (a lab truth file is one) that lists partial flows and capture-wide
// limits. A key the baseline omits is not compared.
type Baseline struct {
	// Exhaustive is set for a full teardown/v1 output: a flow in the
	// result that the baseline does not list is then a difference too.
	Exhaustive bool
	Limits     Limits
	// The flows, partial teardown/v1 flow objects identified by client,
	// server and incarnation, are kept as their JSON text, compacted, in
	// blocks (flow i is spans[i]), and decoded one at a time when
	// compared: a saved output's flows take a fraction of the memory they
	// would as decoded objects. Past baselineMemory bytes, full blocks
	// go to a temporary file (removed at once where the system allows,
	// else by Close), and their flows are read back when compared.
	keys    []string
	blocks  [][]byte
	spans   []span
	first   int       // the first span in the last block
	inMem   int       // bytes of blocks in memory
	file    *TempFile // the temporary file, once needed
	size    int64     // bytes written to it
	noFile  bool      // making or writing it failed: keep the blocks in memory
	scratch []byte    // a flow read back from the file
}

// span is where a baseline flow's text is: block c, bytes [s, e); with c
// at -1, bytes [s, e) of the temporary file.
type span struct{ c, s, e int }

// flowBlockSize is the size of the blocks a baseline's flows are kept in,
// and baselineMemory how many bytes of them stay in memory (variables for
// the tests).
var (
	flowBlockSize  = 1 << 20
	baselineMemory = 16 << 20
)

// store keeps the compacted text of one more flow.
func (b *Baseline) store(z []byte) {
	n := len(b.blocks) - 1
	if n < 0 || len(b.blocks[n])+len(z) > cap(b.blocks[n]) {
		if n >= 0 && b.inMem >= baselineMemory && b.spill(n) {
			b.blocks[n] = b.blocks[n][:0] // written: filled again
		} else {
			b.blocks = append(b.blocks, make([]byte, 0, max(flowBlockSize, len(z))))
			b.inMem += cap(b.blocks[len(b.blocks)-1])
			n++
		}
		b.first = len(b.spans)
	}
	s := len(b.blocks[n])
	b.blocks[n] = append(b.blocks[n], z...)
	b.spans = append(b.spans, span{n, s, len(b.blocks[n])})
}

// spill writes block n, the last, to the temporary file and points its
// flows there; false if no file could be made or written to.
func (b *Baseline) spill(n int) bool {
	if b.noFile {
		return false
	}
	if b.file == nil {
		f, err := NewTempFile("teardown-baseline-*")
		if err != nil {
			b.noFile = true
			return false
		}
		b.file = f
	}
	if _, err := b.file.WriteAt(b.blocks[n], b.size); err != nil {
		b.noFile = true // a full disk: the blocks stay in memory
		return false
	}
	for i := b.first; i < len(b.spans); i++ {
		sp := &b.spans[i]
		sp.c, sp.s, sp.e = -1, int(b.size)+sp.s, int(b.size)+sp.e
	}
	b.size += int64(len(b.blocks[n]))
	return true
}

// Close removes the temporary file, if any.
func (b *Baseline) Close() error {
	err := b.file.Close()
	b.file = nil
	return err
}

// text returns the compacted JSON text of b's flow i, valid until the
// next call.
func (b *Baseline) text(i int) ([]byte, error) {
	sp := b.spans[i]
	if sp.c >= 0 {
		return b.blocks[sp.c][sp.s:sp.e], nil
	}
	b.scratch = slices.Grow(b.scratch[:0], sp.e-sp.s)[:sp.e-sp.s]
	if _, err := b.file.ReadAt(b.scratch, int64(sp.s)); err != nil {
		return nil, fmt.Errorf("check: reading the baseline's flows back from a temporary file: %w", err)
	}
	return b.scratch, nil
}

// Len returns the number of flows b lists.
func (b *Baseline) Len() int { return len(b.keys) }

// Key returns the key of b's flow i (see FlowKey).
func (b *Baseline) Key(i int) string { return b.keys[i] }

// Flow returns b's flow i, decoded: numbers are float64, incarnation is 1
// when the baseline omits it, and, in a full output, the ids, which
// depend on ordering (flows are matched by 4-tuple and incarnation, reuse
// links by incarnation), are left out.
func (b *Baseline) Flow(i int) (map[string]any, error) {
	z, err := b.text(i)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(z))
	dec.UseNumber()
	var f map[string]any
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("check: a baseline flow that decoded once does not: %w", err)
	}
	f = normalize(f).(map[string]any)
	if _, ok := f["incarnation"]; !ok {
		f["incarnation"] = 1.0
	}
	if b.Exhaustive {
		delete(f, "id")
		if r, ok := f["reuse"].(map[string]any); ok {
			delete(r, "previous_id")
		}
	}
	return f, nil
}

// Limits are capture-wide rules an expectations file may set.
type Limits struct {
	// ForbidDiagnoses: no flow may carry any of these codes.
	ForbidDiagnoses []string `json:"forbid_diagnoses,omitempty"`
	// MaxDiagnoses: at most N flows may carry the code.
	MaxDiagnoses map[string]int `json:"max_diagnoses,omitempty"`
	// MaxSeverity: no diagnosis may be more severe than this.
	MaxSeverity Severity `json:"max_severity,omitempty"`
	// ForbidCloseKinds: no flow may end with one of these close kinds.
	ForbidCloseKinds []Kind `json:"forbid_close_kinds,omitempty"`
	// ForbidFinalStates: no side may end in one of these states.
	ForbidFinalStates []string `json:"forbid_final_states,omitempty"`
	// MinReuseGap: every TIME_WAIT reuse gap must be at least this many
	// seconds.
	MinReuseGap *float64 `json:"min_reuse_gap,omitempty"`
	// MaxFinRetransmissions: no side may retransmit its FIN more often.
	MaxFinRetransmissions *int `json:"max_fin_retransmissions,omitempty"`
}

// ParseBaseline reads a baseline. name is used in error messages.
func ParseBaseline(data []byte, name string) (*Baseline, error) {
	return ReadBaseline(bytes.NewReader(data), name)
}

// ReadBaseline reads a baseline from r, a flow at a time. name is used in
// error messages.
func ReadBaseline(r io.Reader, name string) (*Baseline, error) {
	b := &Baseline{}
	var schema string
	var limits *Limits
	if err := b.read(r, name, &schema, &limits); err != nil {
		return nil, err
	}
	b.Exhaustive = schema == Schema
	if schema != "" && schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q or an expectations file without one", name, schema, Schema)
	}
	if limits != nil {
		b.Limits = *limits
		if s := b.Limits.MaxSeverity; s != "" && s.Rank() == 0 {
			return nil, fmt.Errorf("%s: limits.max_severity %q: want info, warning or error", name, s)
		}
	}
	if b.Len() == 0 && limits == nil {
		return nil, fmt.Errorf("%s: no flows and no limits: nothing to check", name)
	}
	return b, nil
}

// normalize turns json.Number values into float64 so that baseline and
// result compare alike.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return v
}

// Mismatch is one difference between a result and its baseline.
type Mismatch struct {
	// Flow identifies the flow ("client -> server #incarnation"), empty for
	// a capture-wide limit.
	Flow string
	// ID is the flow's id in the result, 0 when the result lacks the flow.
	ID int
	// What is "path: want X, got Y", or the broken limit.
	What string
}

// toleranceOf lists the paths whose numbers match within 1 ms: durations
// measured between two frames, where float formatting is the only noise.
var toleranceOf = map[string]float64{
	"reuse.gap":                 0.001,
	"close.half_close.duration": 0.001,
}

// Check compares res with b and returns the differences, flows first in
// baseline order, then limits.
func Check(res *Result, b *Baseline) ([]Mismatch, error) {
	c := NewChecker(b)
	for _, f := range res.Flows {
		if err := c.Add(f); err != nil {
			return nil, err
		}
	}
	return c.Mismatches(), nil
}

// Checker compares flows with a baseline as they are given to Add, in any
// order, keeping only what the differences need: for each baseline flow
// the result's flow of the same key (the one with the highest id, as in
// a whole result), for each limit the number of flows that broke it and
// the eight lowest ids, and, against a full output, the keys of the
// result's flows the baseline lacks. So `teardown check` streams: a
// capture of any size is checked in the memory of its analysis and of
// the baseline.
type Checker struct {
	// Encode, when set, writes a flow as `teardown --format json` does,
	// compacted (report.AppendFlow): a flow whose text is its baseline
	// flow's, byte for byte, is then matched without decoding either,
	// and the others are compared with what Encode wrote. Unset, flows
	// are encoded with encoding/json.
	Encode func(dst []byte, f *Flow) ([]byte, error)
	// Same counts the comparisons Encode's text settled alone.
	Same int

	b   *Baseline
	idx map[string][]int // baseline flow key -> indexes of b's flows
	// Per baseline flow: the id of the result's flow (0: none yet) and
	// its differences.
	ids   []int
	diffs [][]string
	extra map[string]int // exhaustive: key -> id of result flows not in the baseline

	buf []byte // the flow being compared, encoded

	codes        map[string]*idSet // the codes the limits name
	sev, kinds   idSet
	states, gaps idSet
	fins         idSet
}

// idSet counts flow ids and keeps the lowest few, in order.
type idSet struct {
	n   int
	low []int
}

const idsShown = 8

func (s *idSet) add(id int) {
	s.n++
	i, _ := slices.BinarySearch(s.low, id)
	if i < idsShown {
		s.low = slices.Insert(s.low, i, id)
		if len(s.low) > idsShown {
			s.low = s.low[:idsShown]
		}
	}
}

// NewChecker returns a Checker of flows against b.
func NewChecker(b *Baseline) *Checker {
	n := b.Len()
	c := &Checker{b: b, idx: make(map[string][]int, n), ids: make([]int, n),
		diffs: make([][]string, n), extra: map[string]int{}, codes: map[string]*idSet{}}
	for i := range n {
		k := b.Key(i)
		c.idx[k] = append(c.idx[k], i)
	}
	for _, code := range b.Limits.ForbidDiagnoses {
		c.codes[code] = &idSet{}
	}
	for code := range b.Limits.MaxDiagnoses {
		c.codes[code] = &idSet{}
	}
	return c
}

// Add compares flow f; it keeps nothing of f itself.
func (c *Checker) Add(f *Flow) error {
	k := flowKey(f.Client, f.Server, f.Incarnation)
	if is, ok := c.idx[k]; ok {
		if f.ID > c.ids[is[0]] {
			var err error
			if c.Encode != nil {
				c.buf, err = c.Encode(c.buf[:0], f)
			} else {
				c.buf, err = json.Marshal(f)
			}
			if err != nil {
				return err
			}
			var have any
			decoded := false
			for _, i := range is {
				c.ids[i] = f.ID
				if c.Encode != nil {
					z, err := c.b.text(i)
					if err != nil {
						return err
					}
					if bytes.Equal(z, c.buf) {
						// The same text, ids too: the same values.
						c.diffs[i] = nil
						c.Same++
						continue
					}
				}
				if !decoded {
					if err := json.Unmarshal(c.buf, &have); err != nil {
						return err
					}
					decoded = true
				}
				want, err := c.b.Flow(i)
				if err != nil {
					return err
				}
				c.diffs[i] = Subset("", want, have)
			}
		}
	} else if c.b.Exhaustive && f.ID > c.extra[k] {
		c.extra[k] = f.ID
	}
	c.limits(f)
	return nil
}

// limits counts the limits f breaks.
func (c *Checker) limits(f *Flow) {
	l := &c.b.Limits
	sev := false
	for i, d := range f.Diagnoses {
		if s := c.codes[d.Code]; s != nil && !codeIn(f.Diagnoses[:i], d.Code) {
			s.add(f.ID)
		}
		if l.MaxSeverity != "" && d.Severity.Rank() > l.MaxSeverity.Rank() && !sev {
			sev = true
			c.sev.add(f.ID)
		}
	}
	if slices.Contains(l.ForbidCloseKinds, f.Close.Kind) {
		c.kinds.add(f.ID)
	}
	for _, s := range []*Side{f.Sides.Client, f.Sides.Server} {
		if s != nil && slices.Contains(l.ForbidFinalStates, s.FinalState.String()) {
			c.states.add(f.ID)
			break
		}
	}
	for _, s := range []*Side{f.Sides.Client, f.Sides.Server} {
		if s != nil && l.MaxFinRetransmissions != nil && s.FinRetransmissions > *l.MaxFinRetransmissions {
			c.fins.add(f.ID)
			break
		}
	}
	if f.Reuse != nil && l.MinReuseGap != nil && f.Reuse.Gap < *l.MinReuseGap {
		c.gaps.add(f.ID)
	}
}

// Mismatches returns the differences found in the flows given so far,
// flows first in baseline order, then limits.
func (c *Checker) Mismatches() []Mismatch {
	var out []Mismatch
	for i := range c.b.Len() {
		k := c.b.Key(i)
		if c.ids[i] == 0 {
			out = append(out, Mismatch{Flow: k, What: "missing from the result"})
			continue
		}
		for _, d := range c.diffs[i] {
			out = append(out, Mismatch{Flow: k, ID: c.ids[i], What: d})
		}
	}
	extra := make([]string, 0, len(c.extra))
	for k := range c.extra {
		extra = append(extra, k)
	}
	sort.Slice(extra, func(i, j int) bool { return c.extra[extra[i]] < c.extra[extra[j]] })
	for _, k := range extra {
		out = append(out, Mismatch{Flow: k, ID: c.extra[k], What: "in the result, not in the baseline"})
	}
	return append(out, c.limitMismatches()...)
}

// FlowKey identifies a decoded flow object: "client -> server #n".
func FlowKey(f map[string]any) string { return flowKey(f["client"], f["server"], f["incarnation"]) }

// flowKey is FlowKey of the flow with those client, server and
// incarnation (a decoded number is a float64).
func flowKey(client, server, inc any) string {
	if x, ok := inc.(float64); ok {
		inc = int(x)
	}
	return fmt.Sprintf("%v -> %v #%v", client, server, inc)
}

func (c *Checker) limitMismatches() []Mismatch {
	l := &c.b.Limits
	var out []Mismatch
	broken := func(what string, s *idSet) {
		if s == nil || s.n == 0 {
			return
		}
		out = append(out, Mismatch{What: fmt.Sprintf("%s: %d flow%s (%s)", what, s.n, plural(s.n), idList(s))})
	}
	for _, code := range l.ForbidDiagnoses {
		broken("forbid_diagnoses: "+code+" fired on", c.codes[code])
	}
	codes := make([]string, 0, len(l.MaxDiagnoses))
	for code := range l.MaxDiagnoses {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		if s := c.codes[code]; s.n > l.MaxDiagnoses[code] {
			broken(fmt.Sprintf("max_diagnoses: %s allows %d, fired on", code, l.MaxDiagnoses[code]), s)
		}
	}
	broken("max_severity: worse than "+string(l.MaxSeverity)+" on", &c.sev)
	broken("forbid_close_kinds: forbidden close kind on", &c.kinds)
	broken("forbid_final_states: forbidden final state on", &c.states)
	if l.MinReuseGap != nil {
		broken(fmt.Sprintf("min_reuse_gap: reuse sooner than %gs on", *l.MinReuseGap), &c.gaps)
	}
	if l.MaxFinRetransmissions != nil {
		broken(fmt.Sprintf("max_fin_retransmissions: more than %d on", *l.MaxFinRetransmissions), &c.fins)
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func idList(s *idSet) string {
	var b strings.Builder
	for i, id := range s.low {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "#%d", id)
	}
	if s.n > len(s.low) {
		fmt.Fprintf(&b, ", ... %d more", s.n-len(s.low))
	}
	return b.String()
}

// Subset compares want (a baseline value) with have (decoded output) by
// the baseline rules and returns "path: want X, got Y" lines: objects
// compare the keys want has; arrays compare length and elements; numbers
// are exact except the paths in toleranceOf; the top-level "diagnoses"
// compare as a set of partial objects.
func Subset(path string, want, have any) []string {
	at := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	differ := func() []string {
		return []string{fmt.Sprintf("%s: want %s, got %s", path, show(want), show(have))}
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return differ()
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			if path == "" && k == "diagnoses" {
				out = append(out, diagnosisSet(w[k], h[k])...)
				continue
			}
			hv, ok := h[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s: want %s, missing", at(k), show(w[k])))
				continue
			}
			out = append(out, Subset(at(k), w[k], hv)...)
		}
		return out
	case []any:
		h, ok := have.([]any)
		if !ok || len(w) != len(h) {
			return differ()
		}
		var out []string
		for i := range w {
			out = append(out, Subset(fmt.Sprintf("%s[%d]", path, i), w[i], h[i])...)
		}
		return out
	case float64:
		h, ok := have.(float64)
		if ok && (h == w || math.Abs(h-w) <= toleranceOf[path]) {
			return nil
		}
		return differ()
	default:
		if want != have {
			return differ()
		}
		return nil
	}
}

// diagnosisSet compares diagnoses as a set of partial objects: every
// wanted one must match a distinct fired one, and nothing else may fire.
func diagnosisSet(want, have any) []string {
	w, _ := want.([]any)
	h, _ := have.([]any)
	used := make([]bool, len(h))
	var out []string
	for _, x := range w {
		found := false
		for i, y := range h {
			if !used[i] && len(Subset("", x, y)) == 0 {
				used[i], found = true, true
				break
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("diagnoses: want %s, not among %s", show(x), show(have)))
		}
	}
	for i, y := range h {
		if !used[i] {
			out = append(out, fmt.Sprintf("diagnoses: %s fired, not in the baseline", show(y)))
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
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
