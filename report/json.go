package report

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/teardown/teardown/analyze"
)

// JSON writes res as one indented teardown/v1 document followed by a
// newline. Empty lists and maps are written as [] and {}, never null.
func JSON(w io.Writer, res *analyze.Result) error {
	d := NewJSONDoc()
	defer d.Close()
	for _, f := range res.Flows {
		if err := d.Add(f); err != nil {
			return err
		}
	}
	return d.Write(w, res)
}

// A JSONDoc writes the teardown/v1 document of flows given to it one at a
// time, in any order (as [analyze.Options.Emit], with Recycle: it keeps
// nothing of a flow but its encoding, some 2.4 KB of compact JSON). Its
// output is [JSON]'s for a result holding the same flows, sorted by id.
//
// The first docMemory bytes of encodings stay in memory; the rest go to
// a temporary file (in os.TempDir, removed at once where the system
// allows, else by Close), or stay in memory too when no file can be made
// or written to.
type JSONDoc struct {
	buf    []byte            // the flow being encoded
	cur    []byte            // the chunk being filled
	spare  []byte            // memory for the next one, if the last went to the file
	chunks []docChunk        // the full ones
	inMem  int               // bytes of the chunks kept in memory
	file   *analyze.TempFile // the temporary file, once needed
	size   int64             // bytes written to it
	noFile bool              // making or writing it failed: keep the next chunks in memory
	index  []docFlow
}

// docChunk is a full chunk of encodings: in memory (mem), or at off in
// the temporary file.
type docChunk struct {
	mem []byte
	off int64
}

// docFlow is where a flow's encoding is: bytes start to end of chunk
// (len(JSONDoc.chunks) for the one being filled when it was added). It
// takes 24 bytes, one per flow of the document.
type docFlow struct {
	id                int
	chunk, start, end int32
}

// Sizes of a JSONDoc's chunks and of the encodings it keeps in memory
// before using a file (variables for the tests).
var (
	docChunkSize = 4 << 20
	docMemory    = 16 << 20
)

// NewJSONDoc returns an empty JSONDoc.
func NewJSONDoc() *JSONDoc { return &JSONDoc{} }

// Add encodes f.
func (d *JSONDoc) Add(f *analyze.Flow) error {
	b, err := appendFlow(d.buf[:0], f)
	if err != nil {
		return err
	}
	d.buf = b
	if len(d.cur)+len(b) > cap(d.cur) {
		if err := d.retire(); err != nil {
			return err
		}
		if len(b) > cap(d.spare) {
			d.spare = make([]byte, 0, max(docChunkSize, len(b)))
		}
		d.cur, d.spare = d.spare[:0], nil
	}
	start := len(d.cur)
	d.cur = append(d.cur, b...)
	d.index = append(d.index, docFlow{f.ID, int32(len(d.chunks)), int32(start), int32(len(d.cur))})
	return nil
}

// retire files the chunk being filled: in memory up to docMemory, then
// in the temporary file.
func (d *JSONDoc) retire() error {
	if d.cur == nil {
		return nil
	}
	if d.inMem+len(d.cur) <= docMemory || d.noFile {
		d.chunks = append(d.chunks, docChunk{mem: d.cur})
		d.inMem += len(d.cur)
		return nil
	}
	if d.file == nil {
		f, err := analyze.NewTempFile("teardown-json-*")
		if err != nil {
			d.noFile = true
			return d.retire()
		}
		d.file = f
	}
	if _, err := d.file.Write(d.cur); err != nil {
		// A full disk (or a small tmpfs): this chunk and the next stay
		// in memory; those in the file are still there to read.
		d.noFile = true
		return d.retire()
	}
	d.chunks = append(d.chunks, docChunk{off: d.size})
	d.size += int64(len(d.cur))
	d.spare = d.cur // written: the next chunk is filled in its memory
	return nil
}

// Close removes the temporary file, if any.
func (d *JSONDoc) Close() error {
	err := d.file.Close()
	d.file = nil
	return err
}

// encoding returns flow f's encoding: in d's memory, or read from the
// file into buf (grown as needed, and returned to be used again).
func (d *JSONDoc) encoding(f docFlow, buf []byte) (enc, scratch []byte, err error) {
	c := d.chunks[f.chunk]
	start, end := int(f.start), int(f.end)
	if c.mem != nil {
		return c.mem[start:end], buf, nil
	}
	buf = slices.Grow(buf[:0], end-start)[:end-start]
	if _, err := d.file.ReadAt(buf, c.off+int64(start)); err != nil {
		return nil, buf, fmt.Errorf("report: json: reading the flows back from a temporary file: %w", err)
	}
	return buf, buf, nil
}

// Write writes the document: res with the flows d was given in place of
// res.Flows, sorted by id, indented as encoding/json's Indent does it.
func (d *JSONDoc) Write(w io.Writer, res *analyze.Result) error {
	rest := *res
	if rest.Schema == "" {
		rest.Schema = analyze.Schema
	}
	rest.Flows = []*analyze.Flow{}
	rest.Capture = normalCapture(res.Capture)
	rest.Summary = normalSummary(res.Summary)
	doc, err := marshal(&rest)
	if err != nil {
		return err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, doc, "", "  "); err != nil {
		return err
	}
	ind.WriteByte('\n')
	out := ind.Bytes()
	// Splice the flows, written by the fast encoder, into the empty
	// list encoding/json wrote.
	at := bytes.Index(out, []byte(`"flows": []`))
	if at < 0 {
		return errors.New("report: flows missing from the result document")
	}
	at += len(`"flows": [`)
	if len(d.index) == 0 {
		_, err = w.Write(out)
		return err
	}
	if err := d.retire(); err != nil {
		return err
	}
	d.cur = nil
	slices.SortStableFunc(d.index, func(a, b docFlow) int { return cmp.Compare(a.id, b.id) })
	head := append(make([]byte, 0, 256<<10), out[:at]...)
	if err := d.writeFlows(w, head); err != nil {
		return err
	}
	_, err = w.Write(append([]byte("\n  "), out[at:]...))
	return err
}

// docBatch is the number of flows indented at a time: 256 flows are
// about 1 MB of indented JSON. At most docWorkers goroutines indent them,
// two batches each at most: past a few, writing the output is the limit.
var docBatch = 256

const docWorkers = 8

// writeFlows writes head, then the flows indented, separated by commas,
// in the order of d.index. Batches of docBatch flows are indented on up
// to GOMAXPROCS (and docWorkers) goroutines at once and written in order.
func (d *JSONDoc) writeFlows(w io.Writer, head []byte) error {
	batches := (len(d.index) + docBatch - 1) / docBatch
	indent := func(i int, buf, scratch []byte) (_, _ []byte, err error) {
		lo := i * docBatch
		for j, f := range d.index[lo:min(lo+docBatch, len(d.index))] {
			if lo+j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, "\n    "...)
			var enc []byte
			if enc, scratch, err = d.encoding(f, scratch); err != nil {
				return buf, scratch, err
			}
			buf = appendIndented(buf, enc, "    ")
		}
		return buf, scratch, nil
	}
	workers := min(runtime.GOMAXPROCS(0), docWorkers, batches)
	if workers <= 1 {
		buf, scratch := head, d.buf
		for i := range batches {
			var err error
			if buf, scratch, err = indent(i, buf, scratch); err != nil {
				return err
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		return nil
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	// Batch i is indented by worker i%workers into the buffer it takes
	// from free, and handed over on done[i%workers]: the writer takes
	// the batches in order, and each worker is at most two batches
	// ahead of it.
	type result struct {
		buf []byte
		err error
	}
	free := make(chan []byte, 2*workers)
	for range 2 * workers {
		free <- nil
	}
	done := make([]chan result, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := range workers {
		done[k] = make(chan result, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch []byte
			for i := k; i < batches; i += workers {
				var buf []byte
				select {
				case buf = <-free:
				case <-stop:
					return
				}
				r := result{}
				r.buf, scratch, r.err = indent(i, buf[:0], scratch)
				select {
				case done[k] <- r:
				case <-stop:
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer close(stop)
	for i := range batches {
		r := <-done[i%workers]
		if r.err != nil {
			return r.err
		}
		if _, err := w.Write(r.buf); err != nil {
			return err
		}
		free <- r.buf
	}
	return nil
}

// AppendFlow appends flow f as the JSON document and JSON lines write it,
// compact (the document indents it), without a newline.
func AppendFlow(dst []byte, f *analyze.Flow) ([]byte, error) { return appendFlow(dst, f) }

// appendIndented appends the compact JSON value src indented as
// json.Indent(dst, src, prefix, "  ") writes it: each element of an
// object or array on a line of its own, after prefix and two spaces per
// level, a space after each colon, empty objects and arrays as {} and [].
// src must be valid JSON; whitespace outside strings is dropped. Runs of
// other bytes (strings, numbers, literals) are copied whole.
func appendIndented(dst, src []byte, prefix string) []byte {
	// ind is a newline, the prefix and the indentation of the deepest
	// level so far, padded to whole words: a line break at the current
	// depth is its first n bytes, copied a word at a time.
	ind := make([]byte, 0, 64)
	ind = append(append(ind, '\n'), prefix...)
	n := len(ind)
	for len(ind)%8 != 0 {
		ind = append(ind, ' ')
	}
	// Room for the rest of src, a line break and a word more is made
	// before each step, so that bytes are stored without appends.
	k := len(dst)
	room := func(more int) {
		if k+more > cap(dst) {
			dst = slices.Grow(dst[:k], more+len(dst)/4)
		}
		dst = dst[:cap(dst)]
	}
	room(2*len(src) + len(ind) + 8)
	for i := 0; i < len(src); {
		if len(dst)-k < len(src)-i+len(ind)+8 {
			room(len(src) - i + len(ind) + 8)
		}
		c := src[i]
		switch jsonByte[c] {
		case jsonPlain:
			for ; i < len(src) && jsonByte[src[i]] == jsonPlain; i++ {
				dst[k] = src[i]
				k++
			}
			continue
		case jsonQuote:
			// Copy the string a word at a time up to its first quote
			// or backslash, then that byte by itself.
			dst[k] = c
			k++
			i++
			for i < len(src) {
				if i+8 <= len(src) {
					w := binary.LittleEndian.Uint64(src[i:])
					binary.LittleEndian.PutUint64(dst[k:], w)
					m := hasByte(w, '"') | hasByte(w, '\\')
					if m == 0 {
						i += 8
						k += 8
						continue
					}
					n := bits.TrailingZeros64(m) / 8
					i += n
					k += n
				}
				c := src[i]
				dst[k] = c
				k++
				i++
				if c == '"' {
					break
				}
				if c == '\\' && i < len(src) {
					dst[k] = src[i]
					k++
					i++
				}
			}
			continue
		case jsonOpen:
			i++
			if i < len(src) && jsonByte[src[i]] == jsonClose {
				dst[k], dst[k+1] = c, src[i]
				k += 2
				i++
				continue
			}
			dst[k] = c
			k++
			if n += 2; n > len(ind) {
				ind = append(ind, "        "...)
				room(len(src) - i + len(ind) + 8)
			}
		case jsonClose:
			n -= 2
			i++
		case jsonComma:
			dst[k] = ','
			k++
			i++
		case jsonColon:
			dst[k], dst[k+1] = ':', ' '
			k += 2
			i++
			continue
		default: // whitespace
			i++
			continue
		}
		// A line break at the new depth.
		for w := 0; w < n; w += 8 {
			binary.LittleEndian.PutUint64(dst[k+w:], binary.LittleEndian.Uint64(ind[w:]))
		}
		k += n
		if c == '}' || c == ']' {
			dst[k] = c
			k++
		}
	}
	return dst[:k]
}

// hasByte returns a word whose lowest set bit is the top bit of the
// first byte of w equal to c (bits above it may be set too), or 0 if no
// byte is.
func hasByte(w uint64, c byte) uint64 {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	x := w ^ (ones * uint64(c))
	return (x - ones) &^ x & tops
}

// The classes of bytes appendIndented tells apart.
const (
	jsonPlain = iota
	jsonQuote
	jsonOpen
	jsonClose
	jsonComma
	jsonColon
	jsonSpace
)

var jsonByte = func() (t [256]uint8) {
	for c, k := range map[byte]uint8{
		'"': jsonQuote, '{': jsonOpen, '[': jsonOpen, '}': jsonClose, ']': jsonClose,
		',': jsonComma, ':': jsonColon, ' ': jsonSpace, '\t': jsonSpace, '\n': jsonSpace, '\r': jsonSpace,
	} {
		t[c] = k
	}
	return t
}()

// marshal encodes v compactly with HTML escaping off, as the writers do.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// JSONL streams teardown/v1 as JSON Lines: one flow object per line as
// flows finish, then one summary line.
type JSONL struct {
	w io.Writer
	// buf holds whole lines not yet written: the flows are encoded into
	// it, and it is written out once it holds jsonlChunk bytes.
	buf []byte
	err error // the first write error, returned from then on
}

// jsonlChunk is how much JSONL writes at a time.
const jsonlChunk = 64 << 10

// NewJSONL returns a JSONL writer on w. Call Flow for each flow and
// Summary once at the end; Summary flushes.
func NewJSONL(w io.Writer) *JSONL {
	return &JSONL{w: w, buf: make([]byte, 0, jsonlChunk+16<<10)}
}

// Flow writes one flow line.
func (j *JSONL) Flow(f *analyze.Flow) error {
	if j.err != nil {
		return j.err
	}
	n := len(j.buf)
	b, err := appendFlow(j.buf, f)
	if err != nil {
		j.buf = b[:n]
		return err
	}
	j.buf = append(b, '\n')
	if len(j.buf) >= jsonlChunk {
		return j.flush()
	}
	return nil
}

// flush writes the buffered lines.
func (j *JSONL) flush() error {
	if j.err == nil && len(j.buf) > 0 {
		var n int
		n, j.err = j.w.Write(j.buf)
		if j.err == nil && n < len(j.buf) {
			j.err = io.ErrShortWrite
		}
		j.buf = j.buf[:0]
	}
	return j.err
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
	if j.err != nil {
		return j.err
	}
	line := summaryLine{Type: "summary", Schema: analyze.Schema, Capture: normalCapture(res.Capture), Summary: normalSummary(res.Summary)}
	b, err := marshal(&line)
	if err != nil {
		return err
	}
	j.buf = append(append(j.buf, b...), '\n')
	return j.flush()
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

// The flow encoder below writes exactly what encoding/json writes for an
// *analyze.Flow whose nil lists and maps are empty ones: field order and
// names from the struct tags, omitempty, sorted map keys, encoding/json's
// float and string formatting with HTML escaping off. It uses no
// reflection and, into a buffer with room, allocates nothing: flows are
// most of the output and this is the hot path of --format jsonl.
// TestFlowEncoderMatchesEncodingJSON fills every field of a Flow by
// reflection (diagnoses, bounds and checks included) and compares the two,
// so a field added to the result types and not here fails it.

// appendFlow appends the compact JSON of f.
func appendFlow(b []byte, f *analyze.Flow) ([]byte, error) {
	var err error
	var tw timeWriter
	b = append(b, `{"id":`...)
	b = appendInt(b, f.ID)
	b = append(b, `,"incarnation":`...)
	b = appendInt(b, f.Incarnation)
	b = append(b, `,"client":`...)
	b = appendString(b, f.Client)
	b = append(b, `,"server":`...)
	b = appendString(b, f.Server)
	b = append(b, `,"roles":`...)
	b = appendString(b, f.Roles)
	b = append(b, `,"first_frame":`...)
	b = appendUint(b, f.FirstFrame)
	b = append(b, `,"last_frame":`...)
	b = appendUint(b, f.LastFrame)
	b = append(b, `,"start":`...)
	b = tw.append(b, f.Start)
	b = append(b, `,"end":`...)
	b = tw.append(b, f.End)
	b = append(b, `,"handshake":`...)
	b = appendString(b, f.Handshake)
	b = append(b, `,"zeek_state":`...)
	b = appendString(b, f.ZeekState)
	b = append(b, `,"rtt":`...)
	if r := f.RTT; r == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"client":`...)
		if b, err = appendOptFloat(b, r.Client); err != nil {
			return b, err
		}
		b = append(b, `,"server":`...)
		if b, err = appendOptFloat(b, r.Server); err != nil {
			return b, err
		}
		b = append(b, '}')
	}
	b = append(b, `,"close":`...)
	if b, err = appendClose(b, &f.Close); err != nil {
		return b, err
	}
	b = append(b, `,"sides":{"client":`...)
	if b, err = appendSide(b, f.Sides.Client, &tw); err != nil {
		return b, err
	}
	b = append(b, `,"server":`...)
	if b, err = appendSide(b, f.Sides.Server, &tw); err != nil {
		return b, err
	}
	b = append(b, `},"reuse":`...)
	if r := f.Reuse; r == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"previous_id":`...)
		b = appendInt(b, r.PreviousID)
		b = append(b, `,"gap":`...)
		if b, err = appendFloat(b, r.Gap); err != nil {
			return b, err
		}
		b = append(b, `,"time_wait_holder":`...)
		b = appendString(b, string(r.TimeWaitHolder))
		b = append(b, `,"timestamps":`...)
		b = appendBool(b, r.Timestamps)
		b = append(b, `,"verdict":`...)
		b = appendString(b, r.Verdict)
		b = append(b, '}')
	}
	b = append(b, `,"diagnoses":[`...)
	for i := range f.Diagnoses {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendDiagnosis(b, &f.Diagnoses[i]); err != nil {
			return b, err
		}
	}
	b = append(b, ']')
	if f.Evicted {
		b = append(b, `,"evicted":true`...)
	}
	if len(f.ICMP) > 0 {
		b = append(b, `,"icmp":[`...)
		for i := range f.ICMP {
			e := &f.ICMP[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"frame":`...)
			b = appendUint(b, e.Frame)
			b = append(b, `,"at":`...)
			b = tw.append(b, e.At)
			b = append(b, `,"to":`...)
			b = appendString(b, string(e.To))
			b = append(b, `,"from":`...)
			b = appendString(b, e.From)
			b = append(b, `,"type":`...)
			b = appendUint(b, uint64(e.Type))
			b = append(b, `,"code":`...)
			b = appendUint(b, uint64(e.Code))
			b = append(b, `,"name":`...)
			b = appendString(b, e.Name)
			if e.MTU != 0 {
				b = append(b, `,"mtu":`...)
				b = appendUint(b, uint64(e.MTU))
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if f.ICMPErrors != 0 {
		b = append(b, `,"icmp_errors":`...)
		b = appendInt(b, f.ICMPErrors)
	}
	if v := f.NAT; v != nil {
		b = append(b, `,"nat":{"of":`...)
		b = appendInt(b, v.Of)
		b = append(b, `,"lag":`...)
		if b, err = appendFloat(b, v.Lag); err != nil {
			return b, err
		}
		if v.Rewritten != "" {
			b = append(b, `,"rewritten":`...)
			b = appendString(b, v.Rewritten)
		}
		if v.OneSide != "" {
			b = append(b, `,"one_side":`...)
			b = appendString(b, string(v.OneSide))
		}
		b = append(b, '}')
	}
	if l := f.Untranslated; l != nil {
		b = append(b, `,"untranslated":{"connection":`...)
		b = appendInt(b, l.Connection)
		b = append(b, `,"segments":`...)
		b = appendInt(b, l.Segments)
		b = append(b, `,"sender":`...)
		b = appendString(b, string(l.Sender))
		b = append(b, `,"from":`...)
		b = appendString(b, l.From)
		b = append(b, `,"service":`...)
		b = appendString(b, l.Service)
		b = append(b, `,"frame":`...)
		b = appendUint(b, l.Frame)
		b = append(b, `,"reset":`...)
		b = appendUint(b, l.Reset)
		b = append(b, `,"count":`...)
		b = appendInt(b, l.Count)
		b = append(b, `,"idle":`...)
		if b, err = appendFloat(b, l.Idle); err != nil {
			return b, err
		}
		if l.State != "" {
			b = append(b, `,"state":`...)
			b = appendString(b, l.State)
		}
		b = append(b, '}')
	}
	if len(f.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i := range f.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEvent(b, &f.Events[i], &tw)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendClose(b []byte, c *analyze.Close) ([]byte, error) {
	b = append(b, `{"initiator":`...)
	b = appendString(b, string(c.Initiator))
	b = append(b, `,"kind":`...)
	b = appendString(b, string(c.Kind))
	b = append(b, `,"half_close":`...)
	if h := c.HalfClose; h == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"sender":`...)
		b = appendString(b, string(h.Sender))
		b = append(b, `,"bytes":`...)
		b = appendUint(b, h.Bytes)
		b = append(b, `,"duration":`...)
		var err error
		if b, err = appendFloat(b, h.Duration); err != nil {
			return b, err
		}
		b = append(b, `,"active_used":`...)
		b = appendString(b, h.ActiveUsed)
		b = append(b, '}')
	}
	b = append(b, `,"reset":`...)
	if r := c.Reset; r == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"by":`...)
		b = appendString(b, string(r.By))
		b = append(b, `,"frame":`...)
		b = appendUint(b, r.Frame)
		b = append(b, `,"state":`...)
		b = appendState(b, r.State)
		b = append(b, `,"cause":`...)
		b = appendString(b, r.Cause)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendSide(b []byte, s *analyze.Side, tw *timeWriter) ([]byte, error) {
	if s == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"states":[`...)
	for i := range s.States {
		e := &s.States[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, stateEntryHeads[e.State]...)
		b = appendUint(b, e.Frame)
		b = append(b, `,"at":`...)
		b = tw.append(b, e.At)
		if e.Via != "" {
			b = append(b, `,"via":`...)
			b = appendString(b, e.Via)
		}
		if e.Inferred {
			b = append(b, `,"inferred":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"fin_frames":`...)
	b = appendFrames(b, s.FinFrames)
	b = append(b, `,"fin_retransmissions":`...)
	b = appendInt(b, s.FinRetransmissions)
	b = append(b, `,"fin_tlp":`...)
	b = appendBool(b, s.FinTLP)
	b = append(b, `,"durations":`...)
	var err error
	if b, err = appendDurations(b, s.Durations); err != nil {
		return b, err
	}
	b = append(b, `,"final_state":`...)
	b = appendState(b, s.FinalState)
	if s.OpenEnded {
		b = append(b, `,"open_ended":true`...)
	}
	if s.FinInferred {
		b = append(b, `,"fin_inferred":true`...)
	}
	if s.FinDSACK != 0 {
		b = append(b, `,"fin_dsack":`...)
		b = appendUint(b, s.FinDSACK)
	}
	if s.IgnoredRSTs != 0 {
		b = append(b, `,"ignored_rsts":`...)
		b = appendInt(b, int(s.IgnoredRSTs))
	}
	if s.ChallengedRSTs != 0 {
		b = append(b, `,"challenged_rsts":`...)
		b = appendInt(b, int(s.ChallengedRSTs))
	}
	if s.ZeroWindowFinHeld != 0 {
		b = append(b, `,"zero_window_fin_held":`...)
		b = appendInt(b, s.ZeroWindowFinHeld)
	}
	if st := s.Stack; st != nil {
		b = append(b, `,"stack":{"os":`...)
		b = appendString(b, st.OS)
		if st.TTL != 0 {
			b = append(b, `,"ttl":`...)
			b = appendInt(b, st.TTL)
		}
		if st.InitialTTL != 0 {
			b = append(b, `,"initial_ttl":`...)
			b = appendInt(b, st.InitialTTL)
		}
		if st.SYNOptions != "" {
			b = append(b, `,"syn_options":`...)
			b = appendString(b, st.SYNOptions)
		}
		b = append(b, `,"by":`...)
		b = appendString(b, st.By)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// durationKeys are the close states a side's durations are of, in the
// order of their names, each as its JSON key: appendDurations looks them
// up in that order rather than sorting what the map holds.
var durationKeys = func() (ks []durationKey) {
	for _, st := range analyze.CloseStates() {
		name := st.String()
		ks = append(ks, durationKey{name, string(appendString(nil, name)) + ":"})
	}
	slices.SortFunc(ks, func(a, b durationKey) int { return cmp.Compare(a.name, b.name) })
	return ks
}()

// durationKey is a close state's name and its JSON key.
type durationKey struct{ name, key string }

// appendDurations writes the map with its keys in sorted order, as
// encoding/json does.
// appendOptFloat appends *v, or null for nil.
func appendOptFloat(b []byte, v *float64) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	return appendFloat(b, *v)
}

func appendDurations(b []byte, m map[string]float64) ([]byte, error) {
	if len(m) <= len(durationKeys) {
		n, at := 0, len(b)
		b = append(b, '{')
		for _, k := range durationKeys {
			v, ok := m[k.name]
			if !ok {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, k.key...)
			var err error
			if b, err = appendFloat(b, v); err != nil {
				return b, err
			}
		}
		if n == len(m) {
			return append(b, '}'), nil
		}
		b = b[:at] // a state of another name: sorted below
	}
	return appendSortedDurations(b, m)
}

// appendSortedDurations is appendDurations for any keys. A side has a
// handful of durations: they are sorted on the stack.
func appendSortedDurations(b []byte, m map[string]float64) ([]byte, error) {
	type duration struct {
		state string
		secs  float64
	}
	ds := make([]duration, 0, 16)
	for k, v := range m {
		ds = append(ds, duration{k, v})
	}
	for i := 1; i < len(ds); i++ { // insertion sort
		for j := i; j > 0 && ds[j].state < ds[j-1].state; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	b = append(b, '{')
	for i := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ds[i].state)
		b = append(b, ':')
		var err error
		if b, err = appendFloat(b, ds[i].secs); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func appendDiagnosis(b []byte, d *analyze.Diagnosis) ([]byte, error) {
	b = append(b, `{"code":`...)
	b = appendString(b, d.Code)
	b = append(b, `,"severity":`...)
	b = appendString(b, string(d.Severity))
	if d.Side != "" {
		b = append(b, `,"side":`...)
		b = appendString(b, string(d.Side))
	}
	if d.Sysctl != "" {
		b = append(b, `,"sysctl":`...)
		b = appendString(b, d.Sysctl)
	}
	b = append(b, `,"message":`...)
	b = appendString(b, d.Message)
	b = append(b, `,"frames":`...)
	b = appendFrames(b, d.Frames)
	if d.Advice != "" {
		b = append(b, `,"advice":`...)
		b = appendString(b, d.Advice)
	}
	if len(d.Bounds) > 0 {
		b = append(b, `,"bounds":[`...)
		for i := range d.Bounds {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendBound(b, &d.Bounds[i]); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	if len(d.Checks) > 0 {
		b = append(b, `,"checks":[`...)
		for i := range d.Checks {
			c := &d.Checks[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"host":`...)
			b = appendString(b, c.Host)
			b = append(b, `,"sysctl":`...)
			b = appendString(b, c.Sysctl)
			b = append(b, `,"value":`...)
			b = appendString(b, c.Value)
			b = append(b, `,"agrees":`...)
			b = appendBool(b, c.Agrees)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"confidence":`...)
	b = appendString(b, string(d.Confidence))
	if len(d.Doubts) > 0 {
		b = append(b, `,"doubts":[`...)
		for i, s := range d.Doubts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendBound(b []byte, x *analyze.Bound) ([]byte, error) {
	var err error
	b = append(b, `{"host":`...)
	b = appendString(b, x.Host)
	b = append(b, `,"sysctl":`...)
	b = appendString(b, x.Sysctl)
	b = append(b, `,"of":`...)
	b = appendString(b, x.Of)
	if x.Above != nil {
		b = append(b, `,"above":`...)
		if b, err = appendFloat(b, *x.Above); err != nil {
			return b, err
		}
	}
	if x.Below != nil {
		b = append(b, `,"below":`...)
		if b, err = appendFloat(b, *x.Below); err != nil {
			return b, err
		}
	}
	if x.Assumes != "" {
		b = append(b, `,"assumes":`...)
		b = appendString(b, x.Assumes)
	}
	return append(b, '}'), nil
}

func appendEvent(b []byte, e *analyze.Event, tw *timeWriter) []byte {
	b = append(b, `{"frame":`...)
	b = appendUint(b, e.Frame)
	b = append(b, `,"at":`...)
	b = tw.append(b, e.At)
	switch e.From { // one append for the usual sides
	case analyze.Client:
		b = append(b, `,"from":"client","flags":`...)
	case analyze.Server:
		b = append(b, `,"from":"server","flags":`...)
	default:
		b = append(b, `,"from":`...)
		b = appendString(b, string(e.From))
		b = append(b, `,"flags":`...)
	}
	b = appendString(b, e.Flags)
	b = append(b, `,"seq":`...)
	b = appendUint(b, uint64(e.Seq))
	b = append(b, `,"ack":`...)
	b = appendUint(b, uint64(e.Ack))
	b = append(b, `,"len":`...)
	b = appendUint(b, uint64(e.Len))
	b = append(b, `,"note":`...)
	b = appendString(b, e.Note)
	if e.Count != 0 {
		b = append(b, `,"count":`...)
		b = appendInt(b, e.Count)
	}
	return append(b, '}')
}

func appendFrames(b []byte, fs []uint64) []byte {
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendUint(b, f)
	}
	return append(b, ']')
}
