package report

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/teardown/teardown/analyze"
)

// The JSON primitives of the flow encoder: each appends one value as
// encoding/json writes it (HTML escaping off), without allocating.

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// quotedStates holds every State's name in quotes, as appendString writes
// it, and stateEntryHeads the start of a state entry in that state.
var quotedStates, stateEntryHeads = func() (q, h [256]string) {
	for i := range q {
		q[i] = string(appendString(nil, analyze.State(i).String()))
		h[i] = `{"state":` + q[i] + `,"frame":`
	}
	return q, h
}()

// appendState writes the state's name (an invalid state, which
// encoding/json would refuse, as "INVALID").
func appendState(b []byte, s analyze.State) []byte {
	return append(b, quotedStates[s]...)
}

// timeWriter writes timestamps as analyze.Time.MarshalText does (RFC
// 3339, UTC, nine fractional digits, trailing zeros kept), by arithmetic
// for times from 1970 to 9999. It remembers the date and the second of the
// last one: the times of a flow are mostly of one day, and the times of
// its close of one second. The zero value is ready to use.
type timeWriter struct {
	day  uint64   // days since 1970-01-01 of head, plus one; 0 for none
	sec  uint64   // seconds since 1970-01-01 of head, plus one; 0 for none
	head [21]byte // `"2006-01-02T15:04:05.`
}

func (w *timeWriter) append(b []byte, t analyze.Time) []byte {
	if t < 0 {
		s, _ := t.MarshalText()
		return appendString(b, string(s))
	}
	// Unsigned arithmetic: division by a constant is a multiplication.
	u := uint64(t)
	secs, ns := u/1e9, u%1e9
	if secs+1 != w.sec && !w.setSecond(secs) {
		s, _ := t.MarshalText()
		return appendString(b, string(s))
	}
	var d *[32]byte // "2006-01-02T15:04:05.000000000Z" quoted
	b, d = extend32(b)
	*(*[21]byte)(d[:21]) = w.head
	hi, lo := uint32(ns/1e5), uint32(ns%1e5) // 4 and 5 digits
	put2(d[21:], uint64(hi/100))
	put2(d[23:], uint64(hi%100))
	d[25] = byte('0' + lo/1e4)
	lo %= 1e4
	put2(d[26:], uint64(lo/100))
	put2(d[28:], uint64(lo%100))
	d[30], d[31] = 'Z', '"'
	return b
}

// extend32 extends b by 32 bytes and returns them.
func extend32(b []byte) ([]byte, *[32]byte) {
	n := len(b)
	b = slices.Grow(b, 32)[:n+32]
	return b, (*[32]byte)(b[n:])
}

// setSecond sets the head to secs since 1970-01-01, or reports false for
// a year past 9999.
func (w *timeWriter) setSecond(secs uint64) bool {
	days, rem := secs/86400, secs%86400
	if days+1 != w.day && !w.setDay(days) {
		return false
	}
	w.sec = secs + 1
	w.head[11] = 'T'
	put2(w.head[12:], rem/3600)
	w.head[14] = ':'
	put2(w.head[15:], rem/60%60)
	w.head[17] = ':'
	put2(w.head[18:], rem%60)
	w.head[20] = '.'
	return true
}

// setDay sets the date of the head to days since 1970-01-01, or reports
// false for a year past 9999.
func (w *timeWriter) setDay(days uint64) bool {
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
		return false
	}
	w.day = days + 1
	w.head[0] = '"'
	put2(w.head[1:], y/100)
	put2(w.head[3:], y%100)
	w.head[5] = '-'
	put2(w.head[6:], m)
	w.head[8] = '-'
	put2(w.head[9:], d)
	return true
}

// appendUint is strconv.AppendUint(b, v, 10), written in place in
// groups of four digits, whose halves are converted independently.
func appendUint(b []byte, v uint64) []byte {
	b = slices.Grow(b, 20)
	switch {
	case v < 1e4:
		return putUpTo4(b, uint32(v))
	case v < 1e8:
		return put4(putUpTo4(b, uint32(v/1e4)), uint32(v%1e4))
	case v < 1e12:
		hi, lo := v/1e8, v%1e8
		return put8(putUpTo4(b, uint32(hi)), uint32(lo))
	case v < 1e16:
		hi, lo := v/1e8, v%1e8
		return put8(put4(putUpTo4(b, uint32(hi/1e4)), uint32(hi%1e4)), uint32(lo))
	}
	hi, lo := v/1e16, v%1e16
	return put8(put8(putUpTo4(b, uint32(hi)), uint32(lo/1e8)), uint32(lo%1e8))
}

// putUpTo4 appends v < 10000 without leading zeros.
func putUpTo4(b []byte, v uint32) []byte {
	switch {
	case v < 10:
		return append(b, byte('0'+v))
	case v < 100:
		p := &digitPairs[v]
		return append(b, p[0], p[1])
	case v < 1000:
		p := &digitPairs[v%100]
		return append(b, byte('0'+v/100), p[0], p[1])
	}
	return put4(b, v)
}

// put4 appends v < 10000 as four digits, b having room for them.
func put4(b []byte, v uint32) []byte {
	n := len(b)
	b = b[:n+4]
	d := (*[4]byte)(b[n:])
	hi, lo := &digitPairs[v/100], &digitPairs[v%100]
	d[0], d[1], d[2], d[3] = hi[0], hi[1], lo[0], lo[1]
	return b
}

// put8 appends v < 1e8 as eight digits, b having room for them.
func put8(b []byte, v uint32) []byte {
	return put4(put4(b, v/1e4), v%1e4)
}

// appendInt is strconv.AppendInt(b, int64(v), 10).
func appendInt(b []byte, v int) []byte {
	if v < 0 {
		return appendUint(append(b, '-'), -uint64(v))
	}
	return appendUint(b, uint64(v))
}

// digitPairs holds the two digits of 0 to 99.
var digitPairs = func() (p [100][2]byte) {
	for i := range p {
		p[i] = [2]byte{byte('0' + i/10), byte('0' + i%10)}
	}
	return p
}()

// put2 writes v (0-99) as two digits.
func put2(b []byte, v uint64) {
	p := &digitPairs[v]
	b[0], b[1] = p[0], p[1]
}

// appendFloat formats f as encoding/json does; like it, it refuses NaN and
// infinities.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	if out, ok := appendNanos(b, f); ok {
		return out, nil
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

// appendNanos is the fast path of appendFloat for what most floats of the
// output are, durations in seconds computed from nanoseconds: f is the
// double nearest n/1e9 for an integer n. It reports false, writing
// nothing, when f is not such a value or lies outside [1e-6, 1e6).
//
// In that range n/1e9 has at most 15 significant digits. Distinct
// decimals of at most 15 digits round to distinct doubles (DBL_DIG is
// 15), so no other decimal as short rounds to f: n/1e9 with the trailing
// zeros of its fraction dropped is the shortest representation, which
// strconv.AppendFloat(f, 'f', -1, 64) writes.
func appendNanos(b []byte, f float64) ([]byte, bool) {
	neg := f < 0
	if neg {
		f = -f
	}
	if !(f >= 1e-6 && f < 1e6) {
		return b, false
	}
	n := uint64(f*1e9 + 0.5)
	if float64(n)/1e9 != f {
		return b, false
	}
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, n/1e9, 10)
	frac := n % 1e9
	if frac == 0 {
		return b, true
	}
	var buf [10]byte
	buf[0] = '.'
	hi, lo := frac/1e5, frac%1e5
	put2(buf[1:], hi/100)
	put2(buf[3:], hi%100)
	buf[5] = byte('0' + lo/1e4)
	lo %= 1e4
	put2(buf[6:], lo/100)
	put2(buf[8:], lo%100)
	end := len(buf)
	for buf[end-1] == '0' {
		end--
	}
	return append(b, buf[:end]...), true
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the bytes a JSON string holds as they are: printable
// ASCII but the quote and the backslash.
var safeASCII = func() (s [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		s[c] = c != '"' && c != '\\'
	}
	return s
}()

// appendString quotes s as encoding/json does with HTML escaping off.
// Most strings of the output (addresses, codes, messages) need no
// escaping and are copied whole after a check eight bytes at a time.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for ; i+8 <= len(s); i += 8 {
		c := s[i : i+8]
		x := uint64(c[0]) | uint64(c[1])<<8 | uint64(c[2])<<16 | uint64(c[3])<<24 |
			uint64(c[4])<<32 | uint64(c[5])<<40 | uint64(c[6])<<48 | uint64(c[7])<<56
		if !safe8(x) {
			break
		}
	}
	for ; i < len(s); i++ {
		if !safeASCII[s[i]] {
			return appendEscaped(b, s, i)
		}
	}
	b = append(b, s...)
	return append(b, '"')
}

// safe8 reports whether the eight bytes of x are all safeASCII: none is
// 0x80 or above, below 0x20, a quote or a backslash.
func safe8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := (x - 0x20*ones) & ^x // a byte below 0x20 sets its high bit
	quote := x ^ '"'*ones
	quote = (quote - ones) & ^quote // a zero byte (a quote) sets its high bit
	bs := x ^ '\\'*ones
	bs = (bs - ones) & ^bs
	return (x|ctl|quote|bs)&highs == 0
}

// appendEscaped finishes appendString from s[i], the first byte that is
// not safeASCII.
func appendEscaped(b []byte, s string, i int) []byte {
	start := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if safeASCII[c] {
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
