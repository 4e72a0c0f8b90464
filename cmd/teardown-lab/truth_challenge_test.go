//go:build linux

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestChallengeACKCapture reads rst-challenge-ack's capture: its close
// is the client's dropped 1000 bytes, its [R.] 1000 beyond the server's
// rcv_nxt, the server's challenge ACK and the client's kernel's bare [R]
// at the challenge's ack; and the scenario's check accepts the truth in
// which the first RST closes the client and the second the server.
func TestChallengeACKCapture(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("no tshark")
	}
	sc := rstChallengeACK()
	file := filepath.Join("..", "..", "testdata", "lab", sc.captureName())
	frames, err := readFrames(context.Background(), file, sc.framing)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := deriveTruth(sc, frames, nil, 0, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{frames: frames, truth: tf}
	_, x, err := challengeWire(w)
	if err != nil {
		t.Fatal(err)
	}
	if x.data.no != 8 || x.rst1.no != 9 || x.ack.no != 10 || x.rst2.no != 11 || len(frames) != 11 {
		t.Errorf("%d frames, the close at %d, %d, %d, %d: want 11, the close at 8 to 11", len(frames),
			x.data.no, x.rst1.no, x.ack.no, x.rst2.no)
	}
	if err := sc.check(w); err != nil {
		t.Error(err)
	}
}
