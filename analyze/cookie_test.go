package analyze

import (
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// tsBack moves a segment's TSval ms milliseconds back, as a SYN cookie's
// runs behind the clock.
func tsBack(ms uint32) opt { return func(_ *wire, s *flows.Segment) { s.TSval -= ms } }

// tsAt sets a segment's TSval.
func tsAt(v uint32) opt { return func(_ *wire, s *flows.Segment) { s.TSval = v } }

// bareSynAck drops the SYN-ACK's window scale and SACK-permitted options.
func bareSynAck(_ *wire, s *flows.Segment) { s.WScale, s.SACKPerm = -1, false }

// TestSynCookie: a SYN-ACK whose TSval runs behind the server's clock by
// more than the capture point's round trip to the server explains, and
// at most 63 ms more, is a SYN cookie; so, with a doubt, is a SYN-ACK
// without timestamps that drops the window scale and SACK the SYN
// offered. The wire's clock ticks once a segment, a millisecond apart:
// every other SYN-ACK is on it.
func TestSynCookie(t *testing.T) {
	tests := []struct {
		name  string
		noTS  bool
		whole bool // build sends the whole connection
		build func(w *wire)
		// want is the syn-cookie message's fragment; "" for none.
		want  string
		doubt bool
		sys   string // tcp_syncookies, when given
		check string // the comparison's "sysctl=agrees"
	}{
		{name: "on the clock", build: func(w *wire) { w.send(srv, "S.", 0) }},
		{
			name:  "40 ms behind, 1 ms from the server",
			build: func(w *wire) { w.send(srv, "S.", 0, tsBack(40)) },
			want:  "the server's SYN-ACK (frame 2) carried a TSval 40ms behind the server's own clock as its next segment with a timestamp (frame 5, 3.0ms later) reads it, more than the capture point's 1.0ms round trip",
		},
		{
			// The SYN-ACK may have been 40 ms on its way back: the
			// capture point is 50 ms from the server.
			name:  "40 ms behind, 50 ms from the server",
			build: func(w *wire) { w.send(srv, "S.", 0, gap(0.05), tsBack(40)) },
		},
		{
			name:  "70 ms behind: more than a cookie's 63",
			build: func(w *wire) { w.send(srv, "S.", 0, tsBack(70)) },
		},
		{
			// The server's clock ticks a thousand times a millisecond
			// (microsecond timestamps): its segment 45 µs after the
			// SYN-ACK reads 45 ticks on, as a cookie's would, but its
			// FIN 200 ms later reads 200,000.
			name:  "a microsecond clock",
			whole: true,
			build: func(w *wire) {
				x := w.lastTS + 1
				w.send(srv, "S.", 0)
				w.send(srv, ".", 0, gap(0.000045), tsAt(x+45))
				w.send(cli, ".", 0)
				w.send(cli, "F.", 0)
				w.send(srv, "F.", 0, gap(0.2), tsAt(x+200_045))
				w.send(cli, ".", 0)
			},
		},
		{
			name:  "tcp_syncookies 1",
			build: func(w *wire) { w.send(srv, "S.", 0, tsBack(40)) },
			want:  "a SYN cookie", sys: "1", check: SysSyncookies + "=true",
		},
		{
			name:  "tcp_syncookies 0: a SYN proxy answered",
			build: func(w *wire) { w.send(srv, "S.", 0, tsBack(40)) },
			want:  "something in front of it answered the SYN", sys: "0", check: SysSyncookies + "=false",
		},
		{name: "no timestamps, options echoed", noTS: true, build: func(w *wire) { w.send(srv, "S.", 0) }},
		{
			name: "no timestamps, options dropped", noTS: true,
			build: func(w *wire) { w.send(srv, "S.", 0, bareSynAck) },
			want:  "the client's SYN (frame 1) offered window scaling and SACK without timestamps, and the server's SYN-ACK (frame 2) carried neither, its MSS alone",
			doubt: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			w.noTS = tt.noTS
			w.send(cli, "S", 0)
			tt.build(w)
			if tt.whole {
				f := runOpts(t, w.segs, Options{}).Flows[0]
				if slices.ContainsFunc(f.Diagnoses, func(d Diagnosis) bool { return d.Code == CodeSynCookie }) {
					t.Fatalf("syn-cookie in %v", diagSet(f))
				}
				return
			}
			w.send(cli, ".", 0)
			w.send(cli, "P.", 100)
			w.send(srv, ".", 0)
			w.send(cli, "F.", 0)
			w.send(srv, "F.", 0)
			w.send(cli, ".", 0)
			var opts Options
			if tt.sys != "" {
				opts.Sysctls = Sysctls{Source: "host.sysctl", Values: map[string]string{SysSyncookies: tt.sys}}
			}
			f := runOpts(t, w.segs, opts).Flows[0]
			i := slices.IndexFunc(f.Diagnoses, func(d Diagnosis) bool { return d.Code == CodeSynCookie })
			if tt.want == "" {
				if i >= 0 {
					t.Fatalf("syn-cookie: %s", f.Diagnoses[i].Message)
				}
				return
			}
			if i < 0 {
				t.Fatalf("no syn-cookie in %v", diagSet(f))
			}
			d := f.Diagnoses[i]
			if d.Side != Server || d.Sysctl != SysSyncookies || !strings.Contains(d.Message, tt.want) {
				t.Errorf("side %s sysctl %s message %q, want %q", d.Side, d.Sysctl, d.Message, tt.want)
			}
			if got := d.Confidence == ConfidenceMedium; got != tt.doubt {
				t.Errorf("confidence %s doubts %q", d.Confidence, d.Doubts)
			}
			var checks []string
			for _, c := range d.Checks {
				checks = append(checks, c.Sysctl+"="+map[bool]string{true: "true", false: "false"}[c.Agrees])
			}
			if tt.check != "" && !slices.Equal(checks, []string{tt.check}) {
				t.Errorf("checks %v, want %s", checks, tt.check)
			}
		})
	}
}
