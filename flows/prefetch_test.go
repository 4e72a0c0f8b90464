package flows_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
)

// counting yields n numbered segments, then err (io.EOF when nil). It
// implements ReadSegments only when wrapped in batching.
type counting struct {
	n, i  int
	err   error
	panic int // panic when segment number panic (1-based) is due
}

func (c *counting) Next() (flows.Segment, error) {
	if c.i == c.n {
		if c.err != nil {
			return flows.Segment{}, c.err
		}
		return flows.Segment{}, io.EOF
	}
	c.i++
	if c.i == c.panic {
		panic("boom")
	}
	return flows.Segment{Frame: uint64(c.i), Time: int64(c.i) * 1000, Seq: uint32(c.i)}, nil
}

type batching struct{ *counting }

func (b batching) ReadSegments(dst []flows.Segment) (int, error) {
	for i := range dst {
		s, err := b.Next()
		if err != nil {
			return i, err
		}
		dst[i] = s
	}
	return len(dst), nil
}

// withProcs runs f with GOMAXPROCS at n.
func withProcs(t *testing.T, n int, f func()) {
	t.Helper()
	old := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(old)
	f()
}

// drainAll reads src to its error.
func drainAll(src flows.Source) ([]flows.Segment, error) {
	var out []flows.Segment
	for {
		s, err := src.Next()
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
}

// drainBatches reads b to its error a batch at a time, or, with mixed
// set, alternating Next and NextBatch.
func drainBatches(b flows.Batcher, mixed bool) ([]flows.Segment, error) {
	var out []flows.Segment
	for i := 0; ; i++ {
		if mixed && i%2 == 1 {
			s, err := b.Next()
			if err != nil {
				return out, err
			}
			out = append(out, s)
			continue
		}
		segs, err := b.NextBatch()
		if err != nil {
			if len(segs) > 0 {
				return out, fmt.Errorf("%d segments with error %w", len(segs), err)
			}
			return out, err
		}
		if len(segs) == 0 {
			return out, errors.New("an empty batch and no error")
		}
		out = append(out, segs...)
	}
}

// firstDiff describes the first difference between two segment lists, or
// returns "": the key a Prefetcher caches in a segment is not compared,
// but must be the segment's own.
func firstDiff(want, got []flows.Segment) string {
	for i := range min(len(want), len(got)) {
		w, _ := flows.Uncached(want[i])
		g, own := flows.Uncached(got[i])
		if !own {
			return fmt.Sprintf("segment %d (%+v) carries a key not its own", i, g)
		}
		if w != g {
			return fmt.Sprintf("segment %d is %+v, want %+v", i, g, w)
		}
	}
	if len(want) != len(got) {
		return fmt.Sprintf("%d segments, want %d", len(got), len(want))
	}
	return ""
}

func TestPrefetchDeliversTheSource(t *testing.T) {
	bad := errors.New("disk on fire")
	for _, procs := range []int{1, 2} {
		for _, n := range []int{0, 1, 255, 256, 257, 1023, 1024, 1025, 5000, 4 * 1024, 5 * 1024} {
			for _, end := range []error{nil, bad} {
				for _, batch := range []bool{false, true} {
					want, wantErr := drainAll(&counting{n: n, err: end})
					var src flows.Source = &counting{n: n, err: end}
					if batch {
						src = batching{&counting{n: n, err: end}}
					}
					for _, mixed := range []bool{false, true} {
						var bsrc flows.Source = &counting{n: n, err: end}
						if batch {
							bsrc = batching{&counting{n: n, err: end}}
						}
						withProcs(t, procs, func() {
							p := flows.Prefetch(bsrc)
							got, err := drainBatches(p, mixed)
							if !errors.Is(err, wantErr) {
								t.Errorf("NextBatch (mixed %v), procs %d, %d segments, batch %v: error %v, want %v", mixed, procs, n, batch, err, wantErr)
							}
							if segs, again := p.NextBatch(); again != err || len(segs) != 0 {
								t.Errorf("NextBatch, procs %d, %d segments: error not sticky: %v then %d segments, %v", procs, n, err, len(segs), again)
							}
							if d := firstDiff(want, got); d != "" {
								t.Errorf("NextBatch (mixed %v), procs %d, %d segments, batch %v: %s", mixed, procs, n, batch, d)
							}
							p.Stop()
						})
					}
					withProcs(t, procs, func() {
						p := flows.Prefetch(src)
						got, err := drainAll(p)
						if !errors.Is(err, wantErr) {
							t.Errorf("procs %d, %d segments, batch %v: error %v, want %v", procs, n, batch, err, wantErr)
						}
						if _, again := p.Next(); again != err {
							t.Errorf("procs %d, %d segments: error not sticky: %v then %v", procs, n, err, again)
						}
						if d := firstDiff(want, got); d != "" {
							t.Errorf("procs %d, %d segments, batch %v: %s", procs, n, batch, d)
						}
						p.Stop()
					})
				}
			}
		}
	}
}

// TestPrefetchCapture compares a capture read through the prefetcher with
// the same capture read directly: the same segments and the same Info.
func TestPrefetchCapture(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 3, Packets: 20000, Concurrency: 200})
	open := func() *capture.Reader {
		r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	direct := open()
	want, err := drainAll(direct)
	if err != io.EOF {
		t.Fatal(err)
	}
	withProcs(t, 2, func() {
		r := open()
		p := flows.Prefetch(r)
		got, err := drainAll(p)
		if err != io.EOF {
			t.Fatal(err)
		}
		if d := firstDiff(want, got); d != "" {
			t.Errorf("prefetched: %s", d)
		}
		if diff := cmp.Diff(direct.Info(), r.Info()); diff != "" {
			t.Errorf("Info differs (-direct +prefetched)\n%s", diff)
		}
	})
}

func TestPrefetchPanicReachesTheCaller(t *testing.T) {
	withProcs(t, 2, func() {
		p := flows.Prefetch(&counting{n: 5000, panic: 2600})
		n := 0
		func() {
			defer func() {
				if v := recover(); v != "boom" {
					t.Errorf("recovered %v, want the source's panic", v)
				}
			}()
			for {
				if _, err := p.Next(); err != nil {
					t.Errorf("error %v, want a panic", err)
					return
				}
				n++
			}
		}()
		if n != 2599 {
			t.Errorf("%d segments before the panic, want 2599", n)
		}
		if _, err := p.Next(); err == nil {
			t.Error("Next after the panic returned no error")
		}
		p.Stop()
	})
}

func TestPrefetchBatchPanicReachesTheCaller(t *testing.T) {
	for _, procs := range []int{1, 2} {
		withProcs(t, procs, func() {
			p := flows.Prefetch(&counting{n: 5000, panic: 2600})
			n := 0
			func() {
				defer func() {
					if v := recover(); v != "boom" {
						t.Errorf("procs %d: recovered %v, want the source's panic", procs, v)
					}
				}()
				for {
					segs, err := p.NextBatch()
					if err != nil {
						t.Errorf("procs %d: error %v, want a panic", procs, err)
						return
					}
					n += len(segs)
				}
			}()
			if n != 2599 {
				t.Errorf("procs %d: %d segments before the panic, want 2599", procs, n)
			}
			if _, err := p.NextBatch(); err == nil {
				t.Errorf("procs %d: NextBatch after the panic returned no error", procs)
			}
			p.Stop()
		})
	}
}

func TestPrefetchStop(t *testing.T) {
	for _, procs := range []int{1, 2} {
		withProcs(t, procs, func() {
			before := runtime.NumGoroutine()
			src := &counting{n: 1 << 20}
			p := flows.Prefetch(src)
			for range 3000 {
				if _, err := p.Next(); err != nil {
					t.Fatal(err)
				}
			}
			p.Stop()
			p.Stop()
			if _, err := p.Next(); !errors.Is(err, flows.ErrStopped) {
				t.Errorf("procs %d: Next after Stop: %v, want ErrStopped", procs, err)
			}
			// The source is the caller's again: reading it must not race
			// with the stopped goroutine (go test -race).
			if _, err := src.Next(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("procs %d: %d goroutines after Stop, %d before", procs, n, before)
			}
		})
	}
}

// TestPrefetchAllocatesNothing checks that prefetching a capture allocates
// nothing per segment once the batches exist.
func TestPrefetchAllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	data := testenv.Capture(t, synth.Config{Seed: 4, Packets: 200000, Concurrency: 200})
	withProcs(t, 2, func() {
		r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		p := flows.Prefetch(r)
		defer p.Stop()
		for range 10000 {
			if _, err := p.Next(); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(100000, func() {
			if _, err := p.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per segment, want 0", allocs)
		}
	})
}
