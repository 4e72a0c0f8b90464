//go:build linux

package main

import (
	"testing"
	"time"
)

// TestPMTUBlackHole runs the pmtu-black-hole rule (TRUTH-FORMAT.md) on
// made-up connections: the server answers a request with a GSO
// super-segment that the path drops, then sends copies of its first bytes;
// "c" steps are client segments between the copies.
func TestPMTUBlackHole(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps []any // uint32: a server copy of that size; string: "ack" (past the head), "fin", "rst", "dup" (a client ACK of nothing new), "nodf" (the copies after it leave with DF clear)
		want  bool
		// frag: every counted copy left with DF clear.
		frag bool
	}{
		{"shrink through, acknowledged", []any{uint32(1448), uint32(1448), uint32(1024), uint32(512), "ack"}, true, false},
		{"shrink through, answered by a RST", []any{uint32(1448), uint32(1448), uint32(1448), uint32(1024), "fin", uint32(512), "rst"}, true, false},
		{"the first shorter copy after a single full one, a shorter one through later", []any{uint32(1448), uint32(1024), uint32(512), "ack"}, true, false},
		{"the only shorter copy after a single full one", []any{uint32(1448), uint32(1024), uint32(1024), "ack"}, false, false},
		{"shrink, never answered", []any{uint32(1448), uint32(1448), uint32(1024)}, false, false},
		{"peer up: a FIN after the second copy", []any{uint32(1448), uint32(1448), "fin", uint32(1448)}, true, false},
		{"a duplicate ACK after the second copy is no sign of the peer", []any{uint32(1448), uint32(1448), "dup", uint32(1448)}, false, false},
		{"the peer's FIN after the first copy only", []any{uint32(1448), "fin", uint32(1448), uint32(1448)}, false, false},
		{"copies of 512 bytes or less", []any{uint32(512), uint32(512), "fin", uint32(512)}, false, false},
		{"two copies", []any{uint32(1448), "fin", uint32(1448)}, false, false},
		{"the third copy after the answer", []any{uint32(1448), uint32(1448), "ack", uint32(1448)}, false, false},
		{"peer up, then a full-size copy acknowledged", []any{uint32(1448), uint32(1448), "fin", uint32(1448), "ack"}, false, false},
		{"peer up, every copy with DF clear", []any{"nodf", uint32(1448), uint32(1448), "fin", uint32(1448)}, true, true},
		{"peer up, DF clear from the second copy on", []any{uint32(1448), "nodf", uint32(1448), "fin", uint32(1448)}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := blackHoleFrames(t, c.steps)
			if got, frag := in.pmtuBlackHole(rs); got != c.want || frag != c.frag {
				t.Errorf("server: pmtu-black-hole %v, fragmentable %v; want %v, %v", got, frag, c.want, c.frag)
			}
			if hole, _ := in.pmtuBlackHole(rc); hole {
				t.Error("client: pmtu-black-hole, want none")
			}
		})
	}
}

// blackHoleFrames builds the made-up connection of TestPMTUBlackHole: a
// handshake, a 12-byte request, the server's 7240-byte answer the path
// drops, then steps, 200 ms apart: uint32, a server copy of its first
// bytes of that size; "ack" (a client ACK past them), "fin", "rst",
// "dup" (a client ACK of nothing new); a time.Duration, that much more
// time before the next frame.
func blackHoleFrames(t *testing.T, steps []any) *incarnation {
	t.Helper()
	const (
		cISN = 100
		sISN = 1000
		head = sISN + 1
	)
	var frames []*frame
	at := time.Duration(0)
	df := true // as Linux sends TCP, with path MTU discovery
	add := func(src, dst bool, flags int, seq, ack, n uint32) {
		at += 200 * time.Millisecond
		f := &frame{no: len(frames) + 1, t: int64(at), src: tcli, dst: tsrv, flags: flags, seq: seq, ack: ack, len: n,
			win: 64240, ttl: 64, df: df}
		if src {
			f.src, f.dst = tsrv, tcli
		}
		frames = append(frames, f)
	}
	const cli, srv = false, true
	add(cli, srv, fSYN, cISN, 0, 0)
	add(srv, cli, fSYN|fACK, sISN, cISN+1, 0)
	add(cli, srv, fACK, cISN+1, head, 0)
	add(cli, srv, fACK|fPSH, cISN+1, head, 12)
	add(srv, cli, fACK, head, cISN+13, 0)
	add(srv, cli, fACK|fPSH, head, cISN+13, 7240)
	cseq := uint32(cISN + 13)
	for _, s := range steps {
		switch s := s.(type) {
		case uint32:
			add(srv, cli, fACK, head, cISN+13, s)
		case time.Duration:
			at += s
		case string:
			switch s {
			case "ack":
				add(cli, srv, fACK, cseq, head+512, 0)
			case "fin":
				add(cli, srv, fACK|fFIN, cseq, head, 0)
				cseq++
			case "finack":
				add(srv, cli, fACK, head+7240, cseq, 0)
			case "rst":
				add(cli, srv, fRST, cseq, 0, 0)
			case "dup":
				add(cli, srv, fACK, cseq, head, 0)
			case "nodf":
				df = false
			}
		}
	}
	all := splitFlows(frames)
	if len(all) != 1 {
		t.Fatalf("%d incarnations", len(all))
	}
	in := all[0]
	in.handshake()
	return in
}

// TestBlackHoleGoesOn: copies that go on into a black hole after the
// peer's last segment are no silence of the peer's own: neither
// no-answer-after-idle nor data-unanswered (TRUTH-FORMAT.md) takes them.
func TestBlackHoleGoesOn(t *testing.T) {
	full, second := uint32(1448), 1500*time.Millisecond
	for _, c := range []struct {
		name  string
		steps []any
		idle  bool // no-answer-after-idle expected
	}{
		{"copies on into the black hole", []any{full, full, full, full, "fin", "finack", second, full, 3 * second, full}, false},
		{"small copies after the client's FIN", []any{uint32(300), uint32(300), uint32(300), "fin", "finack", second, uint32(300), 3 * second, uint32(300)}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := blackHoleFrames(t, c.steps)
			if r, f := in.unansweredAfterIdle(); (f != nil) != c.idle || f != nil && r != rs {
				t.Errorf("no-answer-after-idle: role %d from %v, want %v", r, f, c.idle)
			}
			if _, f := in.dataUnanswered(); f != nil {
				t.Errorf("data-unanswered from frame %d", f.no)
			}
		})
	}
}
