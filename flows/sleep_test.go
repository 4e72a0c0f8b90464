package flows_test

import (
	"bytes"
	"io"
	"path/filepath"
	"reflect"
	"testing"

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
	}
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	return tb.Stats(), n
}

// TestSleepWakesIdentical checks, on a generated capture with every kind
// of close and on every lab capture, that each connection the table put to
// sleep woke exactly as it was, and that most connections did sleep.
func TestSleepWakesIdentical(t *testing.T) {
	var buf bytes.Buffer
	truth, err := synth.Generate(&buf, synth.Config{Seed: 7, Packets: 200_000, Concurrency: 3000})
	if err != nil {
		t.Fatal(err)
	}
	stop := flows.CheckSleep()
	defer stop()
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: &buf})
	if err != nil {
		t.Fatal(err)
	}
	st, n := runTable(t, r, flows.TableOptions{MaxFlows: 2000})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("synthetic: %d connections (%d in the truth), slept %d times, evicted %d", n, truth.Conns, st.Slept, st.Evicted)
	if st.Slept < n/2 {
		t.Errorf("only %d of %d connections slept", st.Slept, n)
	}
	if st.Evicted == 0 {
		t.Errorf("no eviction under MaxFlows 2000: the test does not cover waking to evict")
	}

	files, _ := filepath.Glob(filepath.Join(testenv.Lab(t), "*.pcap*"))
	if len(files) == 0 {
		t.Fatal("no lab captures")
	}
	for _, f := range files {
		stop := flows.CheckSleep()
		r, err := capture.Open([]string{f}, capture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// A short SleepIdle so that idle connections sleep too.
		runTable(t, r, flows.TableOptions{SleepIdle: 1e8})
		r.Close()
		if err := stop(); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
	}
}

// TestLateWake checks that connections handed over asleep (LateWake) and
// woken later by the callee equal those the table woke itself.
func TestLateWake(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 8, Packets: 100_000, Concurrency: 2000}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
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
		r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		for {
			s, err := r.Next()
			if err != nil {
				break
			}
			if err := tb.Add(&s); err != nil {
				t.Fatal(err)
			}
		}
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		if late && asleep < len(out)/2 {
			t.Errorf("only %d of %d connections handed over asleep", asleep, len(out))
		}
		if !late && asleep > 0 {
			t.Errorf("%d connections handed over asleep without LateWake", asleep)
		}
		for _, c := range out {
			c.Wake()
			if len(c.Events) == 0 {
				c.Events = nil
			}
		}
		return out
	}
	now, late := finished(false), finished(true)
	if len(now) != len(late) {
		t.Fatalf("%d connections woken by the table, %d late", len(now), len(late))
	}
	for i := range now {
		if !reflect.DeepEqual(now[i], late[i]) {
			t.Fatalf("connection %d differs when woken late:\n%+v\n%+v", now[i].ID, now[i], late[i])
		}
	}
}
