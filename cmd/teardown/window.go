package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/teardown/teardown/flows/capture"
)

// window parses --since and --until: seconds from the start of the
// capture ("12.5", "90s", "2m") or an absolute RFC 3339 time.
func (s *source) window(since, until string) error {
	s.relLo, s.relHi = -1, -1
	var err error
	if s.lo, s.relLo, err = parseWhen("--since", since); err != nil {
		return err
	}
	if s.hi, s.relHi, err = parseWhen("--until", until); err != nil {
		return err
	}
	return nil
}

func parseWhen(flag, v string) (abs, rel int64, err error) {
	if v == "" {
		return 0, -1, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		return 0, int64(f * 1e9), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return 0, int64(d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UnixNano(), -1, nil
	}
	return 0, -1, fmt.Errorf("%s %q: want seconds from the capture start (12.5, 90s, 2m) or an RFC 3339 time", flag, v)
}

// untilSlack is how far past --until the reading goes before it stops:
// a capture's timestamps may step back a little (packets from several
// CPUs or interfaces), and a segment stamped before the window's end may
// follow one stamped after it. Past the slack the rest is not read.
var untilSlack = int64(10e9)

// stopAfter tells the capture reader when to stop reading, given the
// time of the first TCP segment: untilSlack past the window's end; 0
// (read to the end) without --until.
func (s *source) stopAfter(first int64) int64 {
	switch {
	case s.hi != 0:
		return s.hi + untilSlack
	case s.relHi >= 0:
		return first + s.relHi + untilSlack
	}
	return 0
}

// end is the last time the capture shows it was still running: its last
// record of any kind, or, later, when it stopped where the input records
// that; within --until.
func (s *source) end(in capture.Info) int64 {
	t := in.End()
	switch {
	case s.hi != 0:
		t = min(t, s.hi)
	case s.relHi >= 0 && s.base != 0:
		t = min(t, s.base+s.relHi)
	}
	return t
}
