//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestUntranslatedPairs covers the pairing of a flow of segments a NAT
// let through untranslated with its connection (TRUTH-FORMAT.md): the
// stray segment continues the connection's server's sequence numbers
// exactly and acknowledges all its client sent, and the client's only
// answers are bare RSTs.
func TestUntranslatedPairs(t *testing.T) {
	const ms = time.Millisecond
	svc := netip.MustParseAddrPort("198.51.100.150:80")
	// conn is a handshake and 100 bytes each way between tcli and the
	// service address: the client's next sequence number is 1101, the
	// server's 7301.
	conn := func() []*frame {
		return []*frame{
			seg(1, 0, tcli, svc, fSYN, 1000, 0, 0),
			seg(2, 1*ms, svc, tcli, fSYN|fACK, 7000, 1001, 0),
			seg(3, 2*ms, tcli, svc, fACK, 1001, 7001, 0),
			seg(4, 3*ms, tcli, svc, fACK, 1001, 7001, 100),
			seg(5, 4*ms, svc, tcli, fACK, 7001, 1101, 300),
			seg(6, 5*ms, tcli, svc, fACK, 1101, 7301, 0),
		}
	}
	// stray is the server's segment from its own address after silence,
	// with seq and ack, and the client's answer with flags.
	stray := func(silence time.Duration, seq, ack uint32, answer int) []*frame {
		at := 5*ms + silence
		return []*frame{
			seg(7, at, tsrv, tcli, fACK, seq, ack, 100),
			seg(8, at+30*time.Microsecond, tcli, tsrv, answer, ack, 0, 0),
		}
	}
	pairs := func(frames []*frame) (string, error) {
		tf, err := deriveTruth(&scenario{name: "t"}, frames, nil, 0, "k", nil)
		if err != nil {
			return "", err
		}
		var s []string
		for _, u := range tf.Untranslated {
			s = append(s, fmt.Sprintf("%s-%s=%s-%s %d,%d,%d %.3f %s", u.Connection.Client, u.Connection.Server,
				u.Segments.Client, u.Segments.Server, u.Frame, u.Reset, u.Count, u.Idle, u.State))
		}
		return strings.Join(s, " "), nil
	}
	pair := "198.51.100.10:40000-198.51.100.150:80=198.51.100.10:40000-198.51.100.80:8080 7,8,1"
	for name, c := range map[string]struct {
		frames []*frame
		want   string
	}{
		"after a silence":         {append(conn(), stray(3500*ms, 7301, 1101, fRST)...), pair + " 3.500 ESTABLISHED"},
		"with none":               {append(conn(), stray(50*ms, 7301, 1101, fRST)...), pair + " 0.000 "},
		"another server sequence": {append(conn(), stray(3500*ms, 7302, 1101, fRST)...), ""},
		"another acknowledgement": {append(conn(), stray(3500*ms, 7301, 1100, fRST)...), ""},
		"answered by [R.]":        {append(conn(), stray(3500*ms, 7301, 1101, fRST|fACK)...), ""},
		"answered by an ACK":      {append(conn(), stray(3500*ms, 7301, 1101, fACK)...), ""},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := pairs(c.frames)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("untranslated %q, want %q", got, c.want)
			}
		})
	}
}
