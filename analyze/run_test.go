package analyze

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teardown/teardown/flows"
)

// interleaved files n connections that overlap in time: each opens,
// exchanges and closes, and the i-th closes only after the (i+1)-th
// opened, so flows finish out of ID order.
func interleaved(t *testing.T, n int) []flows.Segment {
	var segs []flows.Segment
	ws := make([]*wire, n)
	for i := range ws {
		ws[i] = newWire(t)
		ws[i].addr[cli] = netip.AddrPortFrom(ws[i].addr[cli].Addr(), uint16(30000+i))
	}
	frame := 0
	take := func(w *wire) {
		s := w.segs[len(w.segs)-1]
		frame++
		s.Frame, s.Time = uint64(frame), int64(frame)*1e6
		segs = append(segs, s)
	}
	for i, w := range ws {
		w.send(cli, "S", 0)
		take(w)
		w.send(srv, "S.", 0)
		take(w)
		if i > 0 {
			p := ws[i-1]
			for _, f := range []func(){
				func() { p.send(cli, "F.", 0) },
				func() { p.send(srv, "F.", 0) },
				func() { p.send(cli, ".", 0) },
			} {
				f()
				take(p)
			}
		}
	}
	return segs
}

func TestStreamingMatchesBatch(t *testing.T) {
	segs := interleaved(t, 6)
	batch, err := Run(&sliceSource{segs: segs}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var streamed []*Flow
	res, err := Run(&sliceSource{segs: segs}, Options{Emit: func(f *Flow) error {
		streamed = append(streamed, f)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) != 0 {
		t.Errorf("streaming run kept %d flows", len(res.Flows))
	}
	if len(streamed) != 6 || len(batch.Flows) != 6 {
		t.Fatalf("streamed %d, batch %d flows, want 6", len(streamed), len(batch.Flows))
	}
	for i, f := range batch.Flows {
		if f.ID != i+1 {
			t.Errorf("batch flow %d has id %d", i, f.ID)
		}
	}
	// Every flow but the last finishes at the end of the capture, in ID
	// order; the streamed set equals the batch set.
	byID := map[int]*Flow{}
	for _, f := range streamed {
		byID[f.ID] = f
	}
	for _, f := range batch.Flows {
		if d := cmp.Diff(f, byID[f.ID]); d != "" {
			t.Errorf("flow %d differs between batch and streaming (-batch +stream):\n%s", f.ID, d)
		}
	}
	if d := cmp.Diff(batch.Summary, res.Summary); d != "" {
		t.Errorf("summaries differ (-batch +stream):\n%s", d)
	}
	if batch.Summary.Flows != 6 || batch.Summary.CloseKinds[string(ThreeWay)] != 5 || batch.Summary.CloseKinds[string(OpenAtEnd)] != 1 {
		t.Errorf("summary %+v", batch.Summary)
	}
}

func TestMaxFlowsEvicts(t *testing.T) {
	segs := interleaved(t, 6)
	res, err := Run(&sliceSource{segs: segs}, Options{MaxFlows: 1})
	if err != nil {
		t.Fatal(err)
	}
	evicted := 0
	for _, f := range res.Flows {
		if f.Evicted {
			evicted++
		}
	}
	if evicted == 0 || res.Summary.Evicted != evicted {
		t.Errorf("evicted flows %d, summary says %d", evicted, res.Summary.Evicted)
	}
}

func TestEmitErrorStops(t *testing.T) {
	boom := errors.New("disk full")
	_, err := Run(&sliceSource{segs: interleaved(t, 3)}, Options{Emit: func(*Flow) error { return boom }})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the Emit error", err)
	}
}

// failing yields its segments, then a read error.
type failing struct{ sliceSource }

var errRead = errors.New("truncated record")

func (f *failing) Next() (flows.Segment, error) {
	s, err := f.sliceSource.Next()
	if err == io.EOF {
		return s, errRead
	}
	return s, err
}

func TestReadErrorKeepsWhatWasRead(t *testing.T) {
	res, err := Run(&failing{sliceSource{segs: interleaved(t, 3)}}, Options{})
	if !errors.Is(err, errRead) || res == nil || len(res.Flows) != 3 {
		t.Errorf("got %v with %v, want the read error and the 3 flows read before it", err, res)
	}
}

// TestDeterministic: the same input gives the same result, run after run.
func TestDeterministic(t *testing.T) {
	segs := interleaved(t, 20)
	first, err := Run(&sliceSource{segs: segs}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		again, err := Run(&sliceSource{segs: segs}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(first, again); d != "" {
			t.Fatalf("run %d differs:\n%s", i, d)
		}
	}
	if got := fmt.Sprint(first.Flows[0].Events[0].Note); got != NoteSYN {
		t.Errorf("first event note %q", got)
	}
}

// batchSource hands out segs in batches of varying size (flows.Batcher).
type batchSource struct {
	sliceSource
	n int
}

func (b *batchSource) NextBatch() ([]flows.Segment, error) {
	if b.i >= len(b.segs) {
		return nil, io.EOF
	}
	b.n = b.n%5 + 1
	end := min(b.i+b.n, len(b.segs))
	out := b.segs[b.i:end]
	b.i = end
	return out, nil
}

// TestBatchesMatchSegments: a source read a batch at a time gives the
// result of the same segments read one by one.
func TestBatchesMatchSegments(t *testing.T) {
	segs := interleaved(t, 12)
	one, err := Run(&sliceSource{segs: segs}, Options{MaxFlows: 5})
	if err != nil {
		t.Fatal(err)
	}
	bs := &batchSource{sliceSource: sliceSource{segs: segs}}
	batched, err := Run(bs, Options{MaxFlows: 5})
	if err != nil {
		t.Fatal(err)
	}
	if bs.i != len(segs) {
		t.Fatalf("read %d of %d segments through NextBatch", bs.i, len(segs))
	}
	if d := cmp.Diff(one, batched); d != "" {
		t.Errorf("batched run differs:\n%s", d)
	}
}

// TestSegmentPanic: a panic while a segment is filed (here in Emit, which
// runs there when the flow table evicts and flows are built on the
// filing goroutine) comes out of Run as a *SegmentPanic naming the
// segment's frame, with the original value and the stack it was raised
// on.
func TestSegmentPanic(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	segs := interleaved(t, 3)
	for _, src := range []flows.Source{&sliceSource{segs: segs}, &batchSource{sliceSource: sliceSource{segs: segs}}} {
		func() {
			defer func() {
				p, ok := recover().(*SegmentPanic)
				if !ok {
					t.Fatalf("%T: recovered no *SegmentPanic", src)
				}
				// Frame 3, the second connection's SYN, evicts the first.
				if p.Frame != 3 || p.Value != "boom" || !strings.Contains(string(p.Stack), "TestSegmentPanic") {
					t.Errorf("%T: frame %d, value %v, stack:\n%s", src, p.Frame, p.Value, p.Stack)
				}
			}()
			Run(src, Options{MaxFlows: 1, Emit: func(*Flow) error { panic("boom") }})
		}()
	}
}

// TestHelperWaitsForPrevious: with two CPUs the helper goroutine builds
// only batches whose connections' previous incarnations are built: here
// every connection supersedes one in the batch before it (64 4-tuples,
// each sent a SYN with a new ISN 40 times over, the i-th round's SYNs
// ending the round before's connections), so each flow's reuse verdict
// reads the memo its predecessor's build left, and the run must equal
// the one-CPU run that builds everything in order.
func TestHelperWaitsForPrevious(t *testing.T) {
	const tuples, rounds = 64, 40
	srv := netip.MustParseAddrPort("198.51.100.2:80")
	var segs []flows.Segment
	for j := range rounds {
		for i := range tuples {
			n := len(segs) + 1
			segs = append(segs, flows.Segment{
				Frame: uint64(n), Time: int64(n) * 1e6,
				Src: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(40000+i)), Dst: srv,
				Seq: uint32(j)<<26 + uint32(i), Flags: flows.SYN, Window: 64240, WScale: -1,
			})
		}
	}
	run := func(procs int) *Result {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		res, err := Run(&sliceSource{segs: segs}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	one := run(1)
	reused := 0
	for _, f := range one.Flows {
		if f.Reuse != nil {
			reused++
		}
	}
	if len(one.Flows) != tuples*rounds || reused != tuples*(rounds-1) {
		t.Fatalf("%d flows, %d reusing a 4-tuple; want %d and %d", len(one.Flows), reused, tuples*rounds, tuples*(rounds-1))
	}
	for range 5 {
		if d := cmp.Diff(one, run(2)); d != "" {
			t.Fatalf("two CPUs differ from one:\n%s", d)
		}
	}
}

// TestFlowPanic: with two CPUs flows are built on other goroutines; a
// panic there (here in Emit) comes out of Run on the caller's goroutine
// as a *FlowPanic naming the flow and its frames, with the original value
// and the stack it was raised on, instead of ending the process.
func TestFlowPanic(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(old)
	segs := interleaved(t, 3)
	var first *Flow
	func() {
		defer func() {
			p, ok := recover().(*FlowPanic)
			if !ok {
				t.Fatal("recovered no *FlowPanic")
			}
			if first == nil || p.Flow != first.ID || p.First != first.FirstFrame || p.Last != first.LastFrame || p.Value != "boom" || !strings.Contains(string(p.Stack), "TestFlowPanic") {
				t.Errorf("flow %d frames %d-%d, value %v (first flow emitted: %+v), stack:\n%s", p.Flow, p.First, p.Last, p.Value, first, p.Stack)
			}
		}()
		Run(&sliceSource{segs: segs}, Options{Emit: func(f *Flow) error {
			first = f
			panic("boom")
		}})
	}()
}
