package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// read decodes the baseline object of r, as encoding/json would decode it
// into a struct of schema, flows and limits (keys matched whatever their
// case, the last of a repeated key kept, others skipped), storing its
// flows one at a time. The flows, most of a saved output, are scanned
// once each, compacted on the way, and checked with json.Valid; the
// other values go through encoding/json.
func (b *Baseline) read(r io.Reader, name string, schema *string, limits **Limits) error {
	bad := func(err error) error { return fmt.Errorf("%s: not a baseline: %w", name, err) }
	j := &jsonReader{r: r}
	c, err := j.next()
	if err != nil {
		return bad(err)
	}
	if c != '{' {
		v, err := j.value(nil)
		if err == nil {
			if err = valid(v); err == nil {
				err = fmt.Errorf("want an object, not %s", v)
			}
		}
		return bad(err)
	}
	j.pos++
	var raw []byte
	for n := 0; ; n++ {
		c, err := j.next()
		if err != nil {
			return bad(err)
		}
		if c == '}' {
			j.pos++
			return nil
		}
		if n > 0 {
			if c != ',' {
				return bad(fmt.Errorf("invalid character %q after object key:value pair", c))
			}
			j.pos++
			if c, err = j.next(); err != nil {
				return bad(err)
			}
		}
		if c != '"' {
			return bad(fmt.Errorf("invalid character %q looking for beginning of object key string", c))
		}
		if raw, err = j.value(raw[:0]); err != nil {
			return bad(err)
		}
		var key string
		if err := json.Unmarshal(raw, &key); err != nil {
			return bad(err)
		}
		if c, err = j.next(); err != nil {
			return bad(err)
		}
		if c != ':' {
			return bad(fmt.Errorf("invalid character %q after object key", c))
		}
		j.pos++
		if strings.EqualFold(key, "flows") {
			b.keys, b.blocks, b.spans, b.first, b.inMem = nil, nil, nil, 0, 0
			if err := b.readFlows(j, name); err != nil {
				if _, ok := err.(*flowError); ok {
					return err
				}
				return bad(err)
			}
			continue
		}
		if raw, err = j.value(raw[:0]); err == nil {
			switch {
			case strings.EqualFold(key, "schema"):
				err = json.Unmarshal(raw, schema)
			case strings.EqualFold(key, "limits"):
				*limits = nil
				err = json.Unmarshal(raw, limits)
			default:
				err = valid(raw)
			}
		}
		if err != nil {
			return bad(err)
		}
	}
}

// flowError is a flow of a well-formed baseline that is not one.
type flowError struct{ msg string }

func (e *flowError) Error() string { return e.msg }

// readFlows reads the flows array (or null), checking that each flow
// names its client and server, and stores each compacted, with its key.
func (b *Baseline) readFlows(j *jsonReader, name string) error {
	c, err := j.next()
	if err != nil {
		return err
	}
	if c != '[' {
		v, err := j.value(nil)
		if err == nil {
			if err = valid(v); err == nil && string(v) != "null" {
				err = fmt.Errorf("flows: want an array, not %s", v)
			}
		}
		return err
	}
	j.pos++
	var z []byte
	for i := 0; ; i++ {
		c, err := j.next()
		if err != nil {
			return err
		}
		if c == ']' {
			j.pos++
			return nil
		}
		if i > 0 {
			if c != ',' {
				return fmt.Errorf("invalid character %q after array element", c)
			}
			j.pos++
		}
		if z, err = j.value(z[:0]); err != nil {
			return err
		}
		if err := valid(z); err != nil {
			return fmt.Errorf("flows[%d]: %w", i, err)
		}
		key, err := flowKeyOf(z, i, name)
		if err != nil {
			return err
		}
		b.keys = append(b.keys, key)
		b.store(z)
	}
}

// flowKeyOf returns the key of flow i, the valid compacted JSON text z,
// decoded as the whole flow would be (FlowKey), or a flowError if it
// lacks its client or server.
func flowKeyOf(z []byte, i int, name string) (string, error) {
	top, ok := topValues(z)
	if !ok {
		// Not an object, or keys written with escapes: decode it.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(z, &m); err != nil {
			return "", fmt.Errorf("flows[%d]: %w", i, err)
		}
		top = [3][]byte{m["client"], m["server"], m["incarnation"]}
	}
	id := map[string]any{"incarnation": 1.0}
	for n, k := range idKeys {
		if v := top[n]; v != nil {
			var x any
			// A string of no escapes and valid UTF-8 decodes to itself.
			if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
				x = string(v[1 : len(v)-1])
			} else if err := json.Unmarshal(v, &x); err != nil {
				return "", fmt.Errorf("flows[%d]: %q: %w", i, k, err)
			}
			id[k] = x
		}
		if _, ok := id[k].(string); !ok && k != "incarnation" {
			return "", &flowError{fmt.Sprintf("%s: flows[%d]: %q is required", name, i, k)}
		}
	}
	return FlowKey(id), nil
}

// idKeys are the keys that identify a flow.
var idKeys = [3]string{"client", "server", "incarnation"}

// topValues returns the values of idKeys in the valid compacted JSON
// object z (nil where absent; the last of a repeated key), or false if z
// is not an object or one of its keys has an escape.
func topValues(z []byte) (top [3][]byte, ok bool) {
	if len(z) < 2 || z[0] != '{' {
		return top, false
	}
	for i := 1; z[i] != '}'; {
		k := i
		i = skipValue(z, i)
		key := z[k+1 : i-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return top, false
		}
		v := i + 1 // past the colon
		i = skipValue(z, v)
		for n, name := range idKeys {
			if string(key) == name {
				top[n] = z[v:i]
			}
		}
		if z[i] == ',' {
			i++
		}
	}
	return top, true
}

// skipValue returns the end of the value at z[i], in valid compacted JSON.
func skipValue(z []byte, i int) int {
	depth := 0
	for ; i < len(z); i++ {
		switch z[i] {
		case '"':
			for i++; z[i] != '"'; i++ {
				if z[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ':':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// valid returns nil if v is valid JSON, else encoding/json's error.
func valid(v []byte) error {
	if json.Valid(v) {
		return nil
	}
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// A jsonReader reads JSON text from r a value at a time, compacting it
// (spaces outside strings dropped) without checking it: the caller
// checks what it gets with json.Valid. A space that parted two bytes of
// values is kept, so that "1 2" stays invalid.
type jsonReader struct {
	r   io.Reader
	buf []byte
	pos int
	err error // what ended r, once buf is used up
}

// fill reads more of r into buf; false at its end.
func (j *jsonReader) fill() bool {
	if j.buf == nil {
		j.buf = make([]byte, 256<<10)
	}
	for tries := 0; j.err == nil; tries++ {
		if tries == 100 {
			j.err = io.ErrNoProgress
			break
		}
		n, err := j.r.Read(j.buf[:cap(j.buf)])
		j.buf, j.pos, j.err = j.buf[:n], 0, err
		if n > 0 {
			return true
		}
	}
	return false
}

// end is the error for text that ends where more was wanted.
func (j *jsonReader) end() error {
	if j.err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return j.err
}

// next skips spaces and returns the next byte, without taking it.
func (j *jsonReader) next() (byte, error) {
	c, _, err := j.nextAfterSpace()
	return c, err
}

// nextAfterSpace is next, and whether it skipped any space.
func (j *jsonReader) nextAfterSpace() (c byte, spaced bool, err error) {
	for {
		for ; j.pos < len(j.buf); j.pos++ {
			switch c := j.buf[j.pos]; c {
			case ' ', '\t', '\n', '\r':
				spaced = true
			default:
				return c, spaced, nil
			}
		}
		if !j.fill() {
			return 0, spaced, j.end()
		}
	}
}

// value appends the next value, compacted, to dst.
func (j *jsonReader) value(dst []byte) ([]byte, error) {
	c, err := j.next()
	if err != nil {
		return dst, err
	}
	switch c {
	case '"':
		j.pos++
		return j.str(append(dst, c))
	case '{', '[':
	case '}', ']', ',', ':':
		return dst, fmt.Errorf("invalid character %q looking for beginning of value", c)
	default:
		// A number or a literal: up to the next space or delimiter.
		for {
			for ; j.pos < len(j.buf); j.pos++ {
				switch c := j.buf[j.pos]; c {
				case ' ', '\t', '\n', '\r', ',', ':', '{', '}', '[', ']', '"':
					return dst, nil
				default:
					dst = append(dst, c)
				}
			}
			if !j.fill() {
				if j.err == io.EOF {
					return dst, nil
				}
				return dst, j.err
			}
		}
	}
	depth := 0
	prev := byte('{')
	for {
		c, spaced, err := j.nextAfterSpace()
		if err != nil {
			return dst, err
		}
		if spaced && !structural(prev) && !structural(c) {
			dst = append(dst, ' ')
		}
		j.pos++
		dst = append(dst, c)
		prev = c
		switch c {
		case '"':
			if dst, err = j.str(dst); err != nil {
				return dst, err
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return dst, nil
			}
		}
	}
}

// structural reports whether c is one of JSON's delimiters.
func structural(c byte) bool {
	switch c {
	case '{', '}', '[', ']', ',', ':':
		return true
	}
	return false
}

// str appends the rest of a string whose opening quote was taken, up to
// and with its closing quote.
func (j *jsonReader) str(dst []byte) ([]byte, error) {
	escaped := false
	for {
		w := j.buf[j.pos:]
		for i, c := range w {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				j.pos += i + 1
				return append(dst, w[:i+1]...), nil
			}
		}
		dst = append(dst, w...)
		j.pos = len(j.buf)
		if !j.fill() {
			return dst, j.end()
		}
	}
}
