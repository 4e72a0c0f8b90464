package report

import (
	"encoding/json"
	"math"
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
