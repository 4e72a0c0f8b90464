package analyze

import (
	"cmp"
	"strings"
	"testing"
)

// TestPathIdle: a connection that lived through a 2 s silence and the next
// one on the 4-tuple, reset in the server's name by a device on the path
// after 5 s of silence, bracket that device's idle timeout in the
// summary; a connection alone, or one that lived through the longer
// silence, says less. Connections left unanswered after a silence count
// only when there are several, after silences longer than any lived
// through (one may be a peer that went away), or when the server sent
// segments well after the first went unanswered (it was up); then the
// shortest silence after which a connection was forgotten, reset or
// unanswered, bounds it.
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
	// drop leaves the client's data after the silence unanswered, and
	// returns its time.
	drop := func(w *wire, silence float64) Time {
		w.handshake()
		w.exchange()
		req := w.send(cli, "P.", 100, gap(silence))
		w.again(req, 0.4)
		w.again(req, 0.8)
		return Time(w.segs[req-1].Time)
	}
	var dropAt Time
	for _, tt := range []struct {
		name  string
		build func(w *wire)
		want  []string // in the finding's message; none: no finding
		code  string   // the finding's, rst-middlebox if empty
	}{
		{"bracket", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			reset(w, 5)
		}, []string{"forgets connections conntrack holds in ESTABLISHED after between 2.0s and 5.0s idle (on a Linux firewall, nf_conntrack_tcp_timeout_established): it reset a connection after 5.0s of silence"}, ""},
		{"reset alone", func(w *wire) { reset(w, 5) },
			[]string{"after less than 5.0s idle", "no other in that state went that long silent and lived on"}, ""},
		{"a longer silence lived through", func(w *wire) {
			survive(w, 8)
			w.newIncarnation(5000000, 6000000)
			reset(w, 5)
		}, []string{"went 8.0s silent and lived on for longer: which connections it forgot does not follow the silence alone"}, ""},
		{"no reset", func(w *wire) { survive(w, 8) }, nil, ""},
		{"one connection unanswered: a peer may have gone", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			drop(w, 5)
		}, nil, ""},
		{"two unanswered after longer silences than one lived through", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 5)
			w.newIncarnation(7000000, 8000000)
			drop(w, 6)
		}, []string{"after between 2.0s and 5.0s idle", "it left the segments of 2 connections unanswered after a silence, the shortest 5.0s"}, CodeNoAnswerAfterIdle},
		{"two unanswered, yet a longer silence lived through", func(w *wire) {
			survive(w, 8)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 4)
			w.newIncarnation(7000000, 8000000)
			drop(w, 5)
		}, []string{"which connections it forgot does not follow the silence alone (several devices or paths, or a timeout that is not of idle time)", "it was up, so the device dropped them"}, CodeNoAnswerAfterIdle},
		{"two unanswered, a longer silence lived through, the server heard from within a second only", func(w *wire) {
			survive(w, 8)
			w.newIncarnation(5000000, 6000000)
			req := w.send(cli, "P.", 100, gap(4))
			w.again(req, 0.4)
			w.newIncarnation(7000000, 8000000)
			drop(w, 5)
		}, nil, ""},
		{"one unanswered, and the server answered a connection after", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 5)
			w.newIncarnation(7000000, 8000000)
			w.handshake()
		}, []string{"after between 2.0s and 5.0s idle", "198.51.100.80 itself sent segments until", "1.2s after the first unanswered ones", "it was up, so the device dropped them"}, CodeNoAnswerAfterIdle},
		{"reset and unanswered: the shorter silence bounds it", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(3000000, 4000000)
			reset(w, 6)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 4)
			w.newIncarnation(7000000, 8000000)
			drop(w, 9)
		}, []string{"after between 2.0s and 4.0s idle", "it reset a connection after 6.0s of silence", "it left the segments of 2 connections unanswered after a silence, the shortest 4.0s"}, CodeNoAnswerAfterIdle},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			dropAt = 0
			tt.build(w)
			code := cmp.Or(tt.code, CodeRstMiddlebox)
			s := runOpts(t, w.segs, Options{}).Summary
			var msgs []string
			for _, f := range s.Findings {
				if f.Code == CodeRstMiddlebox || f.Code == CodeNoAnswerAfterIdle {
					msgs = append(msgs, f.Message)
					if f.Code != code || f.Sysctl != SysCtEstablished || f.Host != "198.51.100.80" || f.At == 0 || dropAt != 0 && f.At != dropAt {
						t.Errorf("finding %+v, want code %s at %d", f, code, dropAt)
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
