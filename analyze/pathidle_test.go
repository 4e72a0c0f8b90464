package analyze

import (
	"cmp"
	"slices"
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
		// doubts is how many the finding has: one when the silences do
		// not bracket a timeout (unanswered segments that may be a host
		// that went away count only when it was heard from after them:
		// TestPathIdleDoubts).
		doubts int
	}{
		{"bracket", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			reset(w, 5)
		}, []string{"forgets connections conntrack holds in ESTABLISHED after between 2.0s and 5.0s idle (on a Linux firewall, nf_conntrack_tcp_timeout_established): it reset a connection after 5.0s of silence"}, "", 0},
		{"reset alone", func(w *wire) { reset(w, 5) },
			[]string{"after less than 5.0s idle", "no other in that state went that long silent and lived on"}, "", 0},
		{"a longer silence lived through", func(w *wire) {
			survive(w, 8)
			w.newIncarnation(5000000, 6000000)
			reset(w, 5)
		}, []string{"went 8.0s silent and lived on for longer: which connections it forgot does not follow the silence alone"}, "", 1},
		{"no reset", func(w *wire) { survive(w, 8) }, nil, "", 0},
		{"one connection unanswered: a peer may have gone", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			drop(w, 5)
		}, nil, "", 0},
		{"two unanswered after longer silences than one lived through", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 5)
			w.newIncarnation(7000000, 8000000)
			drop(w, 6)
		}, []string{"after between 2.0s and 5.0s idle", "it left the segments of 2 connections unanswered after a silence, the shortest 5.0s"}, CodeNoAnswerAfterIdle, 0},
		{"two unanswered, yet a longer silence lived through", func(w *wire) {
			survive(w, 8)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 4)
			w.newIncarnation(7000000, 8000000)
			drop(w, 5)
		}, []string{"which connections it forgot does not follow the silence alone (several devices or paths, or a timeout that is not of idle time)", "it was up, so the device dropped them"}, CodeNoAnswerAfterIdle, 1},
		{"two unanswered, a longer silence lived through, the server heard from within a second only", func(w *wire) {
			survive(w, 8)
			w.newIncarnation(5000000, 6000000)
			req := w.send(cli, "P.", 100, gap(4))
			w.again(req, 0.4)
			w.newIncarnation(7000000, 8000000)
			drop(w, 5)
		}, nil, "", 0},
		{"one unanswered, and the server answered a connection after", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 5)
			w.newIncarnation(7000000, 8000000)
			w.handshake()
		}, []string{"after between 2.0s and 5.0s idle", "198.51.100.80 itself sent segments until", "1.2s after the first unanswered ones", "it was up, so the device dropped them"}, CodeNoAnswerAfterIdle, 0},
		{"reset and unanswered: the shorter silence bounds it", func(w *wire) {
			survive(w, 2)
			w.newIncarnation(3000000, 4000000)
			reset(w, 6)
			w.newIncarnation(5000000, 6000000)
			dropAt = drop(w, 4)
			w.newIncarnation(7000000, 8000000)
			drop(w, 9)
		}, []string{"after between 2.0s and 4.0s idle", "it reset a connection after 6.0s of silence", "it left the segments of 2 connections unanswered after a silence, the shortest 4.0s"}, CodeNoAnswerAfterIdle, 0},
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
			for _, f := range s.Findings {
				if (f.Code == CodeRstMiddlebox || f.Code == CodeNoAnswerAfterIdle) && (len(f.Doubts) != tt.doubts || f.Confidence != gradeOf(f.Doubts)) {
					t.Errorf("confidence %s, doubts %q: want %d\n%s", f.Confidence, f.Doubts, tt.doubts, f.Message)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(msgs[0], w) {
					t.Errorf("finding lacks %q: %s", w, msgs[0])
				}
			}
		})
	}
}

// TestPathIdleDoubts: connections left unanswered after a silence, from
// a host the capture did not hear from after them, may be a host that
// went away: the finding keeps the rule book's doubt. Heard from after
// them, it has none, or the one of a longer silence lived through.
func TestPathIdleDoubts(t *testing.T) {
	p := PathIdle{State: "ESTABLISHED", Sysctl: SysCtEstablished, Drops: 2, DropAfter: 5, DropAt: 10e9, FirstDrop: 10e9,
		Survived: 2, SurvivedStart: 1e9}
	for _, c := range []struct {
		survived float64
		lastSent Time
		doubts   []string
	}{
		{2, 10e9, []string{bookDoubt(CodeNoAnswerAfterIdle)}},
		{2, 12e9, nil},
		{8, 12e9, []string{"the silences do not bracket one idle timeout"}},
	} {
		p.Survived = c.survived
		f, ok := pathIdleFinding("198.51.100.80", p, c.lastSent)
		if !ok || !slices.Equal(f.Doubts, c.doubts) || f.Confidence != gradeOf(c.doubts) {
			t.Errorf("survived %v, last sent %v: finding %v, doubts %q, confidence %s; want doubts %q",
				c.survived, c.lastSent, ok, f.Doubts, f.Confidence, c.doubts)
		}
	}
}
