package main

import (
	"testing"

	"github.com/teardown/teardown/flows/capture"
)

// TestSourceEnd: the analysis ends at the capture's last record, or at
// the later time a pcapng file says it stopped, but never past --until.
func TestSourceEnd(t *testing.T) {
	const s = int64(1e9)
	in := capture.Info{First: 100 * s, Last: 110 * s, Stopped: 130 * s}
	for _, tt := range []struct {
		name string
		src  *source
		info capture.Info
		want int64
	}{
		{"no stop recorded", &source{relHi: -1}, capture.Info{First: 100 * s, Last: 110 * s}, 110 * s},
		{"stopped after the last record", &source{relHi: -1}, in, 130 * s},
		{"--until before the stop", &source{hi: 120 * s, relHi: -1}, in, 120 * s},
		{"--until after the stop", &source{hi: 150 * s, relHi: -1}, in, 130 * s},
		{"--until 25 s from the first segment", &source{relHi: 25 * s, base: 101 * s}, in, 126 * s},
	} {
		if got := tt.src.end(tt.info); got != tt.want {
			t.Errorf("%s: end %d s, want %d s", tt.name, got/s, tt.want/s)
		}
	}
}
