package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/teardown/teardown/analyze"
)

// JSON writes res as one indented teardown/v1 document followed by a
// newline. Empty lists and maps are written as [] and {}, never null.
func JSON(w io.Writer, res *analyze.Result) error {
	rest := *res
	if rest.Schema == "" {
		rest.Schema = analyze.Schema
	}
	rest.Flows = nil
	rest.Capture = normalCapture(res.Capture)
	rest.Summary = normalSummary(res.Summary)
	doc, err := marshal(&rest)
	if err != nil {
		return err
	}
	// Splice the flows, written by the fast encoder, where encoding/json
	// put the null.
	at := bytes.Index(doc, []byte(`"flows":null`))
	if at < 0 {
		return errors.New("report: flows missing from the result document")
	}
	at += len(`"flows":`)
	out := make([]byte, 0, len(doc)+len(res.Flows)*2048)
	out = append(out, doc[:at]...)
	out = append(out, '[')
	for i, f := range res.Flows {
		if i > 0 {
			out = append(out, ',')
		}
		if out, err = appendFlow(out, f); err != nil {
			return err
		}
	}
	out = append(out, ']')
	out = append(out, doc[at+len("null"):]...)
	var ind bytes.Buffer
	ind.Grow(len(out) * 2)
	if err := json.Indent(&ind, out, "", "  "); err != nil {
		return err
	}
	ind.WriteByte('\n')
	_, err = w.Write(ind.Bytes())
	return err
}

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
	w   *bufio.Writer
	buf []byte
}

// NewJSONL returns a JSONL writer on w. Call Flow for each flow and
// Summary once at the end; Summary flushes.
func NewJSONL(w io.Writer) *JSONL {
	return &JSONL{w: bufio.NewWriterSize(w, 64<<10)}
}

// Flow writes one flow line.
func (j *JSONL) Flow(f *analyze.Flow) error {
	b, err := appendFlow(j.buf[:0], f)
	if err != nil {
		return err
	}
	j.buf = append(b, '\n')
	_, err = j.w.Write(j.buf)
	return err
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
	b, err := marshal(&line)
	if err != nil {
		return err
	}
	if _, err := j.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return j.w.Flush()
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
// reflection except for diagnoses (few, and their type grows with the
// rules): flows are most of the output and this is the hot path of
// --format jsonl. TestFlowEncoderMatchesEncodingJSON fills every field of
// a Flow by reflection and compares the two, so a field added to the
// result types and not here fails it.

// appendFlow appends the compact JSON of f.
func appendFlow(b []byte, f *analyze.Flow) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(f.ID), 10)
	b = append(b, `,"incarnation":`...)
	b = strconv.AppendInt(b, int64(f.Incarnation), 10)
	b = append(b, `,"client":`...)
	b = appendString(b, f.Client)
	b = append(b, `,"server":`...)
	b = appendString(b, f.Server)
	b = append(b, `,"roles":`...)
	b = appendString(b, f.Roles)
	b = append(b, `,"first_frame":`...)
	b = strconv.AppendUint(b, f.FirstFrame, 10)
	b = append(b, `,"last_frame":`...)
	b = strconv.AppendUint(b, f.LastFrame, 10)
	b = append(b, `,"start":`...)
	b = appendTime(b, f.Start)
	b = append(b, `,"end":`...)
	b = appendTime(b, f.End)
	b = append(b, `,"handshake":`...)
	b = appendString(b, f.Handshake)
	b = append(b, `,"close":`...)
	if b, err = appendClose(b, &f.Close); err != nil {
		return b, err
	}
	b = append(b, `,"sides":{"client":`...)
	if b, err = appendSide(b, f.Sides.Client); err != nil {
		return b, err
	}
	b = append(b, `,"server":`...)
	if b, err = appendSide(b, f.Sides.Server); err != nil {
		return b, err
	}
	b = append(b, `},"reuse":`...)
	if r := f.Reuse; r == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"previous_id":`...)
		b = strconv.AppendInt(b, int64(r.PreviousID), 10)
		b = append(b, `,"gap":`...)
		if b, err = appendFloat(b, r.Gap); err != nil {
			return b, err
		}
		b = append(b, `,"time_wait_holder":`...)
		b = appendString(b, string(r.TimeWaitHolder))
		b = append(b, `,"timestamps":`...)
		b = strconv.AppendBool(b, r.Timestamps)
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
	if len(f.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i := range f.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEvent(b, &f.Events[i])
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
		b = strconv.AppendUint(b, h.Bytes, 10)
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
		b = strconv.AppendUint(b, r.Frame, 10)
		b = append(b, `,"state":`...)
		b = appendState(b, r.State)
		b = append(b, `,"cause":`...)
		b = appendString(b, r.Cause)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendSide(b []byte, s *analyze.Side) ([]byte, error) {
	if s == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"states":[`...)
	{
		for i := range s.States {
			e := &s.States[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"state":`...)
			b = appendState(b, e.State)
			b = append(b, `,"frame":`...)
			b = strconv.AppendUint(b, e.Frame, 10)
			b = append(b, `,"at":`...)
			b = appendTime(b, e.At)
			if e.Via != "" {
				b = append(b, `,"via":`...)
				b = appendString(b, e.Via)
			}
			if e.Inferred {
				b = append(b, `,"inferred":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"fin_frames":`...)
	b = appendFrames(b, s.FinFrames)
	b = append(b, `,"fin_retransmissions":`...)
	b = strconv.AppendInt(b, int64(s.FinRetransmissions), 10)
	b = append(b, `,"fin_tlp":`...)
	b = strconv.AppendBool(b, s.FinTLP)
	b = append(b, `,"durations":`...)
	{
		keys := make([]string, 0, len(s.Durations))
		for k := range s.Durations {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendFloat(b, s.Durations[k]); err != nil {
				return b, err
			}
		}
		b = append(b, '}')
	}
	b = append(b, `,"final_state":`...)
	b = appendState(b, s.FinalState)
	if s.OpenEnded {
		b = append(b, `,"open_ended":true`...)
	}
	if s.FinInferred {
		b = append(b, `,"fin_inferred":true`...)
	}
	if s.IgnoredRSTs != 0 {
		b = append(b, `,"ignored_rsts":`...)
		b = strconv.AppendInt(b, int64(s.IgnoredRSTs), 10)
	}
	if s.ZeroWindowFinHeld != 0 {
		b = append(b, `,"zero_window_fin_held":`...)
		b = strconv.AppendInt(b, int64(s.ZeroWindowFinHeld), 10)
	}
	return append(b, '}'), nil
}

// appendDiagnosis writes d with encoding/json: diagnoses are few, and
// their type grows with the rules.
func appendDiagnosis(b []byte, d *analyze.Diagnosis) ([]byte, error) {
	if d.Frames == nil {
		c := *d
		c.Frames = []uint64{}
		d = &c
	}
	j, err := marshal(d)
	return append(b, j...), err
}

func appendEvent(b []byte, e *analyze.Event) []byte {
	b = append(b, `{"frame":`...)
	b = strconv.AppendUint(b, e.Frame, 10)
	b = append(b, `,"at":`...)
	b = appendTime(b, e.At)
	b = append(b, `,"from":`...)
	b = appendString(b, string(e.From))
	b = append(b, `,"flags":`...)
	b = appendString(b, e.Flags)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, uint64(e.Seq), 10)
	b = append(b, `,"ack":`...)
	b = strconv.AppendUint(b, uint64(e.Ack), 10)
	b = append(b, `,"len":`...)
	b = strconv.AppendUint(b, uint64(e.Len), 10)
	b = append(b, `,"note":`...)
	b = appendString(b, e.Note)
	if e.Count != 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(e.Count), 10)
	}
	return append(b, '}')
}

func appendFrames(b []byte, fs []uint64) []byte {
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, f, 10)
	}
	return append(b, ']')
}

// appendState writes the state's name (an invalid state, which
// encoding/json would refuse, as "INVALID").
func appendState(b []byte, s analyze.State) []byte {
	return appendString(b, s.String())
}

// appendTime writes t as analyze.Time.MarshalText does (RFC 3339, UTC,
// nine fractional digits), by arithmetic for times from 1970 to 9999.
func appendTime(b []byte, t analyze.Time) []byte {
	if t < 0 {
		s, _ := t.MarshalText()
		return appendString(b, string(s))
	}
	secs, ns := int64(t)/1e9, int64(t)%1e9
	days, rem := secs/86400, secs%86400
	// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	if y > 9999 {
		s, _ := t.MarshalText()
		return appendString(b, string(s))
	}
	var buf [32]byte // "2006-01-02T15:04:05.000000000Z" quoted
	buf[0] = '"'
	put2(buf[1:], y/100)
	put2(buf[3:], y%100)
	buf[5] = '-'
	put2(buf[6:], m)
	buf[8] = '-'
	put2(buf[9:], d)
	buf[11] = 'T'
	put2(buf[12:], rem/3600)
	buf[14] = ':'
	put2(buf[15:], rem/60%60)
	buf[17] = ':'
	put2(buf[18:], rem%60)
	buf[20] = '.'
	buf[21] = byte('0' + ns/1e8)
	put2(buf[22:], ns/1e6%100)
	put2(buf[24:], ns/1e4%100)
	put2(buf[26:], ns/100%100)
	put2(buf[28:], ns%100)
	buf[30], buf[31] = 'Z', '"'
	return append(b, buf[:]...)
}

const pairs = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" + "30313233343536373839" + "40414243444546474849" +
	"50515253545556575859" + "60616263646566676869" + "70717273747576777879" + "80818283848586878889" + "90919293949596979899"

// put2 writes v (0-99) as two digits.
func put2(b []byte, v int64) { b[0], b[1] = pairs[2*v], pairs[2*v+1] }

// appendFloat formats f as encoding/json does; like it, it refuses NaN and
// infinities.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does with HTML escaping off.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
