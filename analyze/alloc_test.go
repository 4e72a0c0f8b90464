package analyze

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/synth"
)

// Allocation guards for building a flow and adding it to the summary:
// a change that brings back per-flow scratch, a map or text the summary
// parses fails here before it shows in a profile.

// tableOf feeds segments through a flow table and returns the
// connections it finished, in order.
func tableOf(t *testing.T, segs []flows.Segment) []*flows.Conn {
	t.Helper()
	var out []*flows.Conn
	tb := flows.NewTable(flows.TableOptions{Finish: func(c *flows.Conn) error {
		out = append(out, c)
		return nil
	}})
	for i := range segs {
		if err := tb.Add(&segs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fourWayConn is a connection with a handshake, one exchange and a
// four-way close the client began: no diagnosis.
func fourWayConn(t *testing.T) *flows.Conn {
	w := newWire(t)
	w.handshake()
	w.exchange()
	w.fourWay(cli, "F.")
	cs := tableOf(t, w.segs)
	if len(cs) != 1 {
		t.Fatalf("%d connections, want 1", len(cs))
	}
	return cs[0]
}

func TestBuildAllocs(t *testing.T) {
	c := fourWayConn(t)
	var b builder
	if f := b.build(c); len(f.Diagnoses) != 0 || len(f.Events) != 7 || len(f.Sides.Client.States)+len(f.Sides.Server.States) != 10 {
		t.Fatalf("the four-way close has %d diagnoses, %d events, %d states; want 0, 7 and 10",
			len(f.Diagnoses), len(f.Events), len(f.Sides.Client.States)+len(f.Sides.Server.States))
	}
	// The flow's block (the Flow, its sides, wire facts, states, events
	// and FIN frames), the text of its two addresses, the two sides'
	// Durations maps with their tables, and the memo for the next
	// incarnation.
	const want = 7
	if n := testing.AllocsPerRun(100, func() { b.build(c) }); n > want {
		t.Errorf("building a four-way close allocates %v times, want at most %d", n, want)
	}
}

func TestBuildAllocsGenerated(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Config{Seed: 3, Conns: 2000, Concurrency: 100}); err != nil {
		t.Fatal(err)
	}
	cs, err := tableConns(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var b builder
	n := testing.AllocsPerRun(1, func() {
		for _, c := range cs {
			b.build(c)
		}
	})
	// The default mix: most flows allocate as the four-way close does, a
	// fifth of them have a diagnosis (its message, its frames, the list):
	// 9.7 a flow (10.6 under the race detector), 19 before the builder
	// reused its scratch space.
	const want = 11
	if per := n / float64(len(cs)); per > want {
		t.Errorf("building the flows of a generated capture allocates %.2f times a flow, want at most %d", per, want)
	}
}

func TestSummaryAddAllocs(t *testing.T) {
	var b builder
	f := b.build(fourWayConn(t))
	w := f.Wire
	sum := newSummaryBuilder(Sysctls{})
	// Once the flow's hosts, seconds and buckets are known, adding it
	// again allocates nothing: no address is parsed or rendered.
	if n := testing.AllocsPerRun(100, func() {
		f.Wire = w
		sum.Add(f)
	}); n != 0 {
		t.Errorf("adding a flow to the summary allocates %v times, want 0", n)
	}
}

// TestFlowBlockSize: the block a flow is built in, with the 8-byte
// header the allocator gives an object of more than 512 bytes that holds
// pointers, fits the 2,048-byte size class (with the handshake's round
// trips it outgrew the 1,792-byte one by 40 bytes); a field more than
// 216 bytes moves every flow to the 2,304-byte one.
func TestFlowBlockSize(t *testing.T) {
	if n := unsafe.Sizeof(flowBlock{}) + 8; n > 2048 {
		t.Errorf("flowBlock takes %d bytes with its header, want at most 2048", n)
	}
}
