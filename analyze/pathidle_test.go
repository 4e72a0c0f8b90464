package analyze

import (
	"strings"
	"testing"
)

// TestPathIdle: a connection that lived through a 2 s silence and the next
// one on the 4-tuple, reset in the server's name by a device on the path
// after 5 s of silence, bracket that device's idle timeout in the summary;
// a connection alone, or one that lived through the longer silence, says
// less.
func TestPathIdle(t *testing.T) {
	survive := func(w *wire, silence float64) {
		w.handshake()
		w.exchange()
		w.send(cli, "P.", 10, gap(silence))
		w.send(srv, "P.", 10)
		w.fourWay(cli, "F.")
	}
	reset := func(w *wire, silence float64) {
		w.handshake()
		w.exchange()
		w.send(cli, "P.", 100, gap(silence))
		w.send(srv, "R", 0, replyRST, ackNum(0), ttl(63))
	}
	for _, tt := range []struct {
		name  string
		build func(w *wire)
		want  []string // in the finding's message; none: no finding
	}{
		{"bracket", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			reset(w, 5)
		}, []string{"forgets connections conntrack holds in ESTABLISHED after between 2.0s and 5.0s idle (on a Linux firewall, nf_conntrack_tcp_timeout_established): it reset a connection after 5.0s of silence"}},
		{"reset alone", func(w *wire) { reset(w, 5) },
			[]string{"after less than 5.0s idle", "no other in that state went that long silent and lived on"}},
		{"a longer silence lived through", func(w *wire) {
			survive(w, 8)
			w.newIncarnation(5000000, 6000000)
			reset(w, 5)
		}, []string{"went 8.0s silent and lived on for longer: the resets do not follow the silence alone"}},
		{"no reset", func(w *wire) { survive(w, 8) }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			tt.build(w)
			s := runOpts(t, w.segs, Options{}).Summary
			var msgs []string
			for _, f := range s.Findings {
				if f.Code == CodeRstMiddlebox {
					msgs = append(msgs, f.Message)
					if f.Sysctl != SysCtEstablished || f.Host != "198.51.100.80" || f.At == 0 {
						t.Errorf("finding %+v", f)
					}
				}
			}
			if len(tt.want) == 0 {
				if len(msgs) > 0 {
					t.Errorf("findings %q, want none", msgs)
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("findings %q, want one", msgs)
			}
			for _, w := range tt.want {
				if !strings.Contains(msgs[0], w) {
					t.Errorf("finding lacks %q: %s", w, msgs[0])
				}
			}
		})
	}
}
