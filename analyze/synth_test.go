package analyze_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/report"
)

// TestSynthTruth runs the analyzer on generated captures and compares its
// counts with what the generator says it wrote: close kinds, initiators,
// who reset, half-closes, FIN retransmissions and tail-loss probes, and
// TIME_WAIT reuses with the holder and the kernel's ISN fingerprint.
func TestSynthTruth(t *testing.T) {
	for _, cfg := range []synth.Config{
		{Seed: 7, Conns: 4000, Concurrency: 300},
		{Seed: 8, Conns: 3000, Concurrency: 200, Format: synth.PCAPNG, Mix: synth.Mix{ThreeWay: 1, Simultaneous: 1, HalfClose: 1, FinRetransmit: 1, Reset: 1, ClientClose: 1, Reuse: 0.3}},
	} {
		t.Run(cfg.Format.String(), func(t *testing.T) {
			var buf bytes.Buffer
			truth, err := synth.Generate(&buf, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := capture.Open([]string{"-"}, capture.Options{Stdin: &buf})
			if err != nil {
				t.Fatal(err)
			}
			res, err := analyze.Run(r, analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := synth.Truth{
				ByKind: map[string]int{}, ByInitiator: map[string]int{},
				ResetBy: map[string]int{}, ReuseByHolder: map[string]int{},
			}
			for _, f := range res.Flows {
				got.Conns++
				got.ByKind[string(f.Close.Kind)]++
				switch f.Close.Kind {
				case analyze.FourWay, analyze.ThreeWay, analyze.SimultaneousKind, analyze.HalfClosedAtEnd:
					got.ByInitiator[string(f.Close.Initiator)]++
				case analyze.ResetKind:
					got.ResetBy[string(f.Close.Reset.By)]++
				}
				if f.Close.HalfClose != nil {
					got.HalfCloses++
				}
				for _, s := range []*analyze.Side{f.Sides.Client, f.Sides.Server} {
					got.FinRetransmissions += s.FinRetransmissions
					if s.FinTLP {
						got.FinTLPs++
					}
				}
				if u := f.Reuse; u != nil && (u.Verdict == analyze.VerdictClientReuse || u.Verdict == analyze.VerdictServerAccept) {
					got.Reuses++
					got.ReuseByHolder[string(u.TimeWaitHolder)]++
				}
			}
			want := synth.Truth{
				Conns: truth.Conns, ByKind: truth.ByKind, ByInitiator: truth.ByInitiator, ResetBy: truth.ResetBy,
				HalfCloses: truth.HalfCloses, FinRetransmissions: truth.FinRetransmissions, FinTLPs: truth.FinTLPs,
				Reuses: truth.Reuses, ReuseByHolder: truth.ReuseByHolder,
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("analyzer counts differ from the generator's truth (-truth +analyzer):\n%s", d)
			}
		})
	}
}

// TestRecycledFlows: with Options.Recycle the flows are built in memory
// reused from flow to flow, and every line written, and the summary, is
// what a run that allocates each flow writes.
func TestRecycledFlows(t *testing.T) {
	var capBuf bytes.Buffer
	cfg := synth.Config{Seed: 9, Conns: 6000, Concurrency: 200, Mix: synth.Mix{ThreeWay: 1, Simultaneous: 1, HalfClose: 1, FinRetransmit: 1, Reset: 1, ClientClose: 1, Reuse: 0.3}}
	if _, err := synth.Generate(&capBuf, cfg); err != nil {
		t.Fatal(err)
	}
	run := func(recycle bool) (out []byte, distinct int) {
		r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(capBuf.Bytes())})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		jl := report.NewJSONL(&buf)
		seen := map[*analyze.Flow]bool{}
		res, err := analyze.Run(r, analyze.Options{Recycle: recycle, Emit: func(f *analyze.Flow) error {
			seen[f] = true
			return jl.Flow(f)
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := jl.Summary(res); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes(), len(seen)
	}
	fresh, nFresh := run(false)
	recycled, nRecycled := run(true)
	if !bytes.Equal(fresh, recycled) {
		a, b := bytes.Split(fresh, []byte("\n")), bytes.Split(recycled, []byte("\n"))
		for i := range min(len(a), len(b)) {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("line %d differs when flows are recycled:\n%s\n---\n%s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("%d lines, %d recycled", len(a), len(b))
	}
	// Recycled, only the flows in flight at once are distinct: with more
	// than one CPU, up to a batch of 64 for each batch there can be (16
	// in the builder's queue, the one it builds, 16 given back, the one
	// being filled).
	if nFresh < 6000 || nRecycled > 34*64 {
		t.Errorf("%d distinct Flows emitted fresh, %d recycled: want one per flow (6000 or more) fresh, and at most 2,176 recycled", nFresh, nRecycled)
	}
}
