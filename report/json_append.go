package report

import (
	"encoding/json"
	"math"
	"math/bits"
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
// for times from 1970 to 9999. It remembers the date of the last one: the
// times of a flow are mostly of one day. The zero value is ready to use.
type timeWriter struct {
	day  uint64   // days since 1970-01-01 of date, plus one; 0 for none
	date [11]byte // `"2006-01-02`
}

func (w *timeWriter) append(b []byte, t analyze.Time) []byte {
	if t < 0 {
		s, _ := t.MarshalText()
		return appendString(b, string(s))
	}
	// Unsigned arithmetic: division by a constant is a multiplication.
	u := uint64(t)
	secs, ns := u/1e9, u%1e9
	days, rem := secs/86400, secs%86400
	if days+1 != w.day && !w.setDay(days) {
		s, _ := t.MarshalText()
		return appendString(b, string(s))
	}
	var d *[32]byte // "2006-01-02T15:04:05.000000000Z" quoted
	b, d = extend32(b)
	copy(d[:11], w.date[:])
	d[11] = 'T'
	h, ms := rem/3600, rem%3600
	put2(d[12:], h)
	d[14] = ':'
	put2(d[15:], ms/60)
	d[17] = ':'
	put2(d[18:], ms%60)
	d[20] = '.'
	hi, lo := ns/1e5, ns%1e5 // 4 and 5 digits
	put2(d[21:], hi/100)
	put2(d[23:], hi%100)
	d[25] = byte('0' + lo/1e4)
	lo %= 1e4
	put2(d[26:], lo/100)
	put2(d[28:], lo%100)
	d[30], d[31] = 'Z', '"'
	return b
}

// extend32 extends b by 32 bytes and returns them.
func extend32(b []byte) ([]byte, *[32]byte) {
	n := len(b)
	b = slices.Grow(b, 32)[:n+32]
	return b, (*[32]byte)(b[n:])
}

// setDay sets the date to days since 1970-01-01, or reports false for a
// year past 9999.
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
	w.date[0] = '"'
	put2(w.date[1:], y/100)
	put2(w.date[3:], y%100)
	w.date[5] = '-'
	put2(w.date[6:], m)
	w.date[8] = '-'
	put2(w.date[9:], d)
	return true
}

// appendUint is strconv.AppendUint(b, v, 10), written in place two
// digits at a time.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	// Digits: floor(log10(v)) + 1, from the bit length (1233/4096 is
	// just above log10(2)).
	n := int(uint(bits.Len64(v))*1233) >> 12
	if v >= pow10[n] {
		n++
	}
	l := len(b)
	b = slices.Grow(b, n)[:l+n]
	d := b[l:]
	i := n
	for v >= 100 {
		r := v % 100
		v /= 100
		i -= 2
		put2(d[i:], r)
	}
	if v < 10 {
		d[0] = byte('0' + v)
	} else {
		put2(d, v)
	}
	return b
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

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
