package flows_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
)

// runTable files every segment of the capture in r into a table with
// opts and returns its statistics and how many connections finished.
func runTable(t *testing.T, r *capture.Reader, opts flows.TableOptions) (flows.TableStats, int) {
	t.Helper()
	n := 0
	opts.Finish = func(*flows.Conn) error { n++; return nil }
	tb := flows.NewTable(opts)
	fill(t, tb, r)
	return tb.Stats(), n
}

// feed files every segment of the pcap in data into table tb.
func feed(t *testing.T, tb *flows.Table, data []byte) {
	t.Helper()
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fill(t, tb, r)
}

// fill files every segment of r into table tb, then flushes it.
func fill(t *testing.T, tb *flows.Table, r *capture.Reader) { fillEach(t, tb, r, nil) }

// fillEach is fill, calling each (when not nil) after each segment.
func fillEach(t *testing.T, tb *flows.Table, r *capture.Reader, each func()) {
	t.Helper()
	for {
		s, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Add(&s); err != nil {
			t.Fatal(err)
		}
		if each != nil {
			each()
		}
	}
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestSleepWakesIdentical checks, on a generated capture with every kind
// of close and on every lab capture, that each connection the table put to
// sleep woke exactly as it was, and that most connections did sleep;
// with complete connections encoded on the table's goroutine and ahead
// of it (EncodeAhead).
func TestSleepWakesIdentical(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 7, Packets: 200_000, Concurrency: 3000})
	files, _ := filepath.Glob(filepath.Join(testenv.Lab(t), "*.pcap*"))
	if len(files) == 0 {
		t.Fatal("no lab captures")
	}
	for _, ahead := range []bool{false, true} {
		stop := flows.CheckSleep()
		r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		st, n := runTable(t, r, flows.TableOptions{MaxFlows: 2000, EncodeAhead: ahead})
		if err := stop(); err != nil {
			t.Fatalf("EncodeAhead %v: %v", ahead, err)
		}
		t.Logf("synthetic, EncodeAhead %v: %d connections, slept %d times, evicted %d", ahead, n, st.Slept, st.Evicted)
		if st.Slept < n/2 {
			t.Errorf("only %d of %d connections slept", st.Slept, n)
		}
		if st.Evicted == 0 {
			t.Errorf("no eviction under MaxFlows 2000: the test does not cover waking to evict")
		}

		for _, f := range files {
			stop := flows.CheckSleep()
			r, err := capture.Open([]string{f}, capture.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// A short SleepIdle so that idle connections sleep too.
			runTable(t, r, flows.TableOptions{SleepIdle: 1e8, EncodeAhead: ahead})
			r.Close()
			if err := stop(); err != nil {
				t.Fatalf("%s, EncodeAhead %v: %v", filepath.Base(f), ahead, err)
			}
		}
	}
}

// TestEncodeAheadChangesNothing checks that the same connections leave
// the table, in the same order and equal, whether complete ones are
// encoded to sleep on the table's goroutine or ahead of it, handed over
// asleep (LateWake) or not, with and without evictions; and that some
// woke while their encoding was still pending, which the test would not
// cover otherwise.
func TestEncodeAheadChangesNothing(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 13, Packets: 150_000, Concurrency: 2000})
	run := func(opts flows.TableOptions) ([]*flows.Conn, *flows.Table) {
		var out []*flows.Conn
		opts.Finish = func(c *flows.Conn) error {
			c.Wake()
			out = append(out, c)
			return nil
		}
		tb := flows.NewTable(opts)
		feed(t, tb, data)
		return out, tb
	}
	woken := 0
	for _, late := range []bool{false, true} {
		for _, maxFlows := range []int{0, 500} {
			opts := flows.TableOptions{LateWake: late, MaxFlows: maxFlows}
			want, _ := run(opts)
			opts.EncodeAhead = true
			got, tb := run(opts)
			what := fmt.Sprintf("ahead (LateWake %v, MaxFlows %d)", late, maxFlows)
			// Conns are reused in another order (one sleeping ahead is
			// free once encoded): a fresh one has nil Events, a reused
			// one an empty list.
			for _, cs := range [][]*flows.Conn{got, want} {
				for _, c := range cs {
					if c.Events == nil {
						c.Events = []flows.Event{}
					}
				}
			}
			sameConns(t, what, got, want)
			if maxFlows > 0 && tb.Stats().Evicted == 0 {
				t.Errorf("%s: nothing evicted", what)
			}
			woken += flows.PendingWoken(tb)
		}
	}
	if woken == 0 {
		t.Error("no connection woke while its encoding was pending")
	}
}

// TestLateWake checks that connections handed over asleep (LateWake) and
// woken later by the callee equal those the table woke itself.
func TestLateWake(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 8, Packets: 100_000, Concurrency: 2000})
	finished := func(late bool) []*flows.Conn {
		var out []*flows.Conn
		asleep := 0
		tb := flows.NewTable(flows.TableOptions{LateWake: late, Finish: func(c *flows.Conn) error {
			if c.Asleep() {
				asleep++
			}
			out = append(out, c)
			return nil
		}})
		feed(t, tb, data)
		if late && asleep < len(out)/2 {
			t.Errorf("only %d of %d connections handed over asleep", asleep, len(out))
		}
		if !late && asleep > 0 {
			t.Errorf("%d connections handed over asleep without LateWake", asleep)
		}
		for _, c := range out {
			c.Wake()
			flows.DropBlock(c)
			if len(c.Events) == 0 {
				c.Events = nil
			}
		}
		return out
	}
	sameConns(t, "woken late", finished(true), finished(false))
}

// sameConns fails t unless got and want hold equal connections in the
// same order; what says how got was made.
func sameConns[C flows.Conn | *flows.Conn](t *testing.T, what string, got, want []C) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d connections %s, %d otherwise", len(got), what, len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("connection %d of %d differs %s:\n%+v\n%+v", i+1, len(want), what, got[i], want[i])
		}
	}
}

// TestEvictionDeterministic checks that under a MaxFlows that evicts, the
// same capture makes the same connections leave in the same order, though
// each table hashes its 4-tuples with a new random seed.
func TestEvictionDeterministic(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 9, Packets: 150_000, Concurrency: 3000})
	type left struct {
		id, packets int
		end         flows.EndReason
		at          int64
	}
	run := func() ([]left, flows.TableStats) {
		var out []left
		tb := flows.NewTable(flows.TableOptions{MaxFlows: 400, LateWake: true, Finish: func(c *flows.Conn) error {
			c.Wake()
			out = append(out, left{c.ID, int(c.Dir[0].Packets + c.Dir[1].Packets), c.End, c.EndTime})
			return nil
		}})
		feed(t, tb, data)
		return out, tb.Stats()
	}
	first, st := run()
	if st.Evicted < 1000 {
		t.Fatalf("only %d evictions: the test does not cover them", st.Evicted)
	}
	for range 3 {
		again, _ := run()
		if len(again) != len(first) {
			t.Fatalf("%d connections left the table, then %d", len(first), len(again))
		}
		for i := range first {
			if first[i] != again[i] {
				t.Fatalf("connection %d to leave: %+v, then %+v", i, first[i], again[i])
			}
		}
	}
}

// TestHandOverOwnership hands every finished connection, asleep or awake,
// to another goroutine that wakes it at once, while the table goes on: run
// with -race, it fails if the table touches a connection after handing it
// over.
func TestHandOverOwnership(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 10, Packets: 60_000, Concurrency: 2000})
	work := make(chan *flows.Conn)
	done := make(chan int)
	go func() {
		n := 0
		for c := range work {
			c.Wake()
			c.Events = append(c.Events, flows.Event{}) // a write too
			n++
		}
		done <- n
	}()
	tb := flows.NewTable(flows.TableOptions{MaxFlows: 300, LateWake: true, SleepIdle: 1e9, Finish: func(c *flows.Conn) error {
		work <- c
		return nil
	}})
	feed(t, tb, data)
	close(work)
	st := tb.Stats()
	if n := <-done; n != st.Flows || st.Evicted == 0 || st.Slept == 0 {
		t.Errorf("%d of %d connections handed over; %d evicted, %d slept: the test does not cover eviction and sleep", n, st.Flows, st.Evicted, st.Slept)
	}
}

// snapshot copies what c holds, the storage Release lets the table reuse
// (its details and its event list) included, but not the block of
// encodings it was handed over in.
func snapshot(c *flows.Conn) flows.Conn {
	s := *c
	flows.DropBlock(&s)
	for x := range s.Dir {
		d := *c.Dir[x].Detail
		s.Dir[x].Detail = &d
	}
	s.Events = nil // a reused list is empty, not nil
	if len(c.Events) > 0 {
		s.Events = slices.Clone(c.Events)
	}
	return s
}

// TestReleaseReuses checks that connections given back with Release are
// reused, and that reuse changes nothing the table hands over.
func TestReleaseReuses(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 11, Packets: 100_000, Concurrency: 2000})
	run := func(release bool) (out []flows.Conn, reused int) {
		seen := map[*flows.Conn]bool{}
		var tb *flows.Table
		tb = flows.NewTable(flows.TableOptions{MaxFlows: 500, LateWake: true, Finish: func(c *flows.Conn) error {
			c.Wake()
			if seen[c] {
				reused++
			}
			seen[c] = true
			out = append(out, snapshot(c))
			if release {
				tb.Release(c)
			}
			return nil
		}})
		feed(t, tb, data)
		return out, reused
	}
	want, _ := run(false)
	got, reused := run(true)
	if reused < len(got)/2 {
		t.Errorf("only %d of %d connections handed over were reused ones", reused, len(got))
	}
	sameConns(t, "when connections are reused", got, want)
}

// TestSynFloodSleeps checks that a SYN flood's half-open connections go to
// sleep about a second after their SYN once an eighth of MaxFlows are
// awake, instead of filling the table at full size until evicted, and
// that those evicted asleep are woken and handed over like the others.
func TestSynFloodSleeps(t *testing.T) {
	const syns, rate, maxFlows = 200_000, 20_000, 50_000
	data := testenv.Capture(t, synth.Config{Seed: 12, Mode: synth.SynFlood, Flood: syns, FloodRate: rate})
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	st, n := runTable(t, r, flows.TableOptions{MaxFlows: maxFlows})
	t.Logf("%d connections, %d evicted, peak %d live, %d awake, slept %d times", n, st.Evicted, st.PeakLive, st.PeakAwake, st.Slept)
	if n < syns || st.Evicted < syns-maxFlows-1000 {
		t.Fatalf("%d connections handed over, %d evicted: the flood did not fill the table", n, st.Evicted)
	}
	// An eighth of MaxFlows, plus the SYNs of the last second.
	if limit := maxFlows/8 + rate + 1000; st.PeakAwake > limit {
		t.Errorf("peak %d connections awake, want at most %d", st.PeakAwake, limit)
	}
	if st.Slept < syns/2 {
		t.Errorf("only %d of %d half-open connections slept", st.Slept, syns)
	}
}

// TestAheadChangesNothing files the segments of a generated capture with
// and without Table.Ahead run ahead of them (as analyze.Run does) and
// checks that the same connections leave the table, equal.
func TestAheadChangesNothing(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 10, Packets: 60_000, Concurrency: 1500})
	run := func(ahead bool) []*flows.Conn {
		var out []*flows.Conn
		tb := flows.NewTable(flows.TableOptions{Finish: func(c *flows.Conn) error {
			out = append(out, c)
			return nil
		}})
		r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		p := flows.Prefetch(r)
		defer p.Stop()
		for {
			segs, err := p.NextBatch()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range segs {
				if ahead && i%16 == 0 {
					n := len(segs)
					tb.Ahead(segs[i:min(i+16, n)], segs[min(i+16, n):min(i+32, n)])
				}
				if err := tb.Add(&segs[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := run(false)
	if len(want) < 1000 {
		t.Fatalf("only %d connections", len(want))
	}
	sameConns(t, "with Ahead", run(true), want)
}

// TestBlocksReused hands lingering connections over asleep and wakes and
// releases them a few batches later, as analyze's builder does, and checks
// that the blocks their encodings were in are reused (recycled blocks are
// overwritten, so a block reused while a connection in it was still
// asleep would wake that connection different) and that every connection
// equals the one a table handing everything over awake finishes.
func TestBlocksReused(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 12, Packets: 300_000, Concurrency: 200})
	const batch, behind = 64, 3
	run := func(late, release bool) ([]flows.Conn, flows.TableStats) {
		var out []flows.Conn
		var pending []*flows.Conn
		var tb *flows.Table
		settle := func(cs []*flows.Conn) {
			for _, c := range cs {
				c.Wake()
				out = append(out, snapshot(c))
				if release {
					tb.Release(c)
				}
			}
		}
		tb = flows.NewTable(flows.TableOptions{LateWake: late, Finish: func(c *flows.Conn) error {
			pending = append(pending, c)
			if len(pending) == batch*behind {
				settle(pending[:batch])
				pending = append(pending[:0], pending[batch:]...)
			}
			return nil
		}})
		feed(t, tb, data)
		settle(pending)
		return out, tb.Stats()
	}
	want, _ := run(false, false)
	kept, st0 := run(true, false)
	got, st := run(true, true)
	sameConns(t, "released late", got, want)
	sameConns(t, "never released", kept, want)
	if st.Slept < 10_000 || st.Blocks*3 > st0.Blocks {
		t.Errorf("%d connections slept in %d blocks, %d without Release: blocks are not reused", st.Slept, st.Blocks, st0.Blocks)
	}
}

// TestEncoderEndsWithTable checks that the encoding goroutine of a table
// under EncodeAhead ends when the table is flushed, and also when it is
// dropped unflushed (as Run drops it after an error) and collected.
func TestEncoderEndsWithTable(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 14, Packets: 20_000, Concurrency: 500})
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	segs, err := drainAll(r)
	r.Close()
	if err != io.EOF {
		t.Fatal(err)
	}
	settled := func(n int) bool {
		for range 100 {
			runtime.GC()
			if runtime.NumGoroutine() <= n {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}
	before := runtime.NumGoroutine()
	for _, flush := range []bool{true, false} {
		func() {
			tb := flows.NewTable(flows.TableOptions{EncodeAhead: true})
			for i := range segs {
				if err := tb.Add(&segs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if runtime.NumGoroutine() <= before {
				t.Fatal("no encoding goroutine started: the test tests nothing")
			}
			if flush {
				if err := tb.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}()
		if !settled(before) {
			t.Errorf("flushed %v: %d goroutines, %d before the table", flush, runtime.NumGoroutine(), before)
		}
	}
}
