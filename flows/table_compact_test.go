package flows_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
)

// TestIdleCompaction puts connections to sleep after a tenth of a second
// idle, so that most sleep and wake many times in no particular order,
// and checks, with the idle connections' blocks compacted often and
// never: that each woke exactly as it slept, that the same connections
// left the table in the same order, equal, and that while compacted the
// blocks never held more than twice their encodings plus the slack and
// one block.
func TestIdleCompaction(t *testing.T) {
	data := testenv.Capture(t, synth.Config{Seed: 17, Packets: 150_000, Concurrency: 3000})
	run := func(slack int) ([]flows.Conn, flows.TableStats, int) {
		defer flows.SetIdleSlack(slack)()
		stop := flows.CheckSleep()
		var out []flows.Conn
		tb := flows.NewTable(flows.TableOptions{SleepIdle: 1e8, Finish: func(c *flows.Conn) error {
			out = append(out, snapshot(c))
			return nil
		}})
		r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		over := 0
		fillEach(t, tb, r, func() {
			if blocks, live := flows.IdleArena(tb); blocks > 2*live+slack+64<<10 {
				over++
			}
		})
		if err := stop(); err != nil {
			t.Fatalf("slack %d: %v", slack, err)
		}
		if blocks, live := flows.IdleArena(tb); live != 0 || blocks > 64*64<<10 {
			t.Errorf("slack %d: after Flush, %d bytes of encodings in %d bytes of blocks", slack, live, blocks)
		}
		return out, tb.Stats(), over
	}
	want, st0, _ := run(1 << 40)
	got, st, over := run(64 << 10)
	t.Logf("%d connections slept %d times; %d compactions (%d with no slack to speak of)", len(want), st.Slept, st0.Compactions, st.Compactions)
	if st0.Compactions != 0 {
		t.Errorf("%d compactions with a slack of a terabyte", st0.Compactions)
	}
	if st.Compactions < 5 || st.Slept < 2*len(want) {
		t.Errorf("%d compactions, %d sleeps of %d connections: the test covers too little", st.Compactions, st.Slept, len(want))
	}
	if over > 0 {
		t.Errorf("after %d segments the idle blocks held more than twice their encodings and the slack", over)
	}
	sameConns(t, fmt.Sprintf("with %d compactions", st.Compactions), got, want)
}
