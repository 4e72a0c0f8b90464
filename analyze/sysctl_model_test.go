package analyze

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestRetryBudget: T(N) = (2^(N+1)−1)·200 ms up to N = 9, then 120 s a
// step (KERNEL.md §b; §c: tcp_retries2 15 gives 924.6 s).
func TestRetryBudget(t *testing.T) {
	for n, want := range map[int]float64{0: 0.2, 1: 0.6, 2: 1.4, 3: 3.0, 7: 51.0, 8: 102.2, 9: 204.6, 10: 324.6, 15: 924.6} {
		if got := retryBudget(n); math.Abs(got-want) > 1e-9 {
			t.Errorf("T(%d) = %g, want %g", n, got, want)
		}
	}
	if orphanRetriesInEffect(0) != 8 || orphanRetriesInEffect(3) != 3 {
		t.Error("tcp_orphan_retries 0 acts as 8")
	}
}

// kernelFINs returns the FIN transmission times (seconds from the FIN) of
// an orphan with tcp_orphan_retries n whose FIN is never acknowledged, by
// KERNEL.md §b: the FIN, a tail-loss probe one RTO later, the first RTO
// retransmission one RTO after that, then firing k comes r·(2^k − 2)
// after the first, and the socket gives up (silently) at the first
// firing whose time since the first RTO retransmission reaches T(n). It
// also returns when the socket gave up.
func kernelFINs(n int, r float64) (fins []float64, gaveUp float64) {
	budget := retryBudget(orphanRetriesInEffect(n))
	rto1 := 2 * r
	fins = []float64{0, r, rto1}
	for k := 2; ; k++ {
		at := r * float64(int(1)<<k-2)
		if at >= budget {
			return fins, rto1 + at
		}
		fins = append(fins, rto1+at)
	}
}

// TestRetryInversionRecoversTheMeasuredValues: the FIN trains of KERNEL.md
// §b's measured table (R = 204 ms with a tail-loss probe) give the FIN
// counts measured on 6.18.44, and fin-never-acked reads each
// tcp_orphan_retries value back from its train.
func TestRetryInversionRecoversTheMeasuredValues(t *testing.T) {
	const r = 0.204
	measured := map[int]int{0: 10, 1: 4, 2: 5, 3: 6, 7: 9, 8: 10} // FIN transmissions
	fits := map[int]string{0: "8, or 0 (the default, which acts as 8)", 1: "1", 2: "2", 3: "3", 7: "7", 8: "8, or 0 (the default, which acts as 8)"}
	for n, count := range measured {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			fins, gaveUp := kernelFINs(n, r)
			if len(fins) != count {
				t.Fatalf("%d FINs, KERNEL.md measured %d", len(fins), count)
			}
			w := newWire(t)
			w.handshake()
			w.exchange()
			finRetransmissions(w, cli, fins[1:]...)
			lateSegment(w, gaveUp-fins[len(fins)-1]+10)
			f := w.run().Flows[0] // the late segment is a second flow
			d := find(t, f, CodeFinNeverAcked)
			if len(d.Bounds) != 1 || d.Bounds[0].Assumes != "" {
				t.Fatalf("bounds %+v", d.Bounds)
			}
			b := d.Bounds[0]
			got := describeRetries(retriesFitting(*b.Above, *b.Below, true), false, true)
			if got != fits[n] {
				t.Errorf("fits %q, want %q (budget %g–%g)", got, fits[n], *b.Above, *b.Below)
			}
			if !slices.Contains(retriesFitting(*b.Above, *b.Below, true), n) {
				t.Errorf("%d not among the values that fit", n)
			}
		})
	}
}

// TestBudgetNoValue: a host's flows whose retransmission budgets no
// tcp_orphan_retries value explains get the reason, not a bare "no value".
func TestBudgetNoValue(t *testing.T) {
	for _, tt := range []struct {
		above, below float64
		want         string
	}{
		{3.0, 1.4, "no value (one flow's socket retransmitted for more than 3.0s and another's gave up within 1.4s: the sockets differ — TCP_USER_TIMEOUT, a route rto_min, or shutdown() under tcp_retries2 beside close() under tcp_orphan_retries)"},
		// T(3) = 3.0 s and T(4) = 6.2 s: nothing in (3.1, 6.0].
		{3.1, 6.0, "no value (the flows put the budget above 3.1s and within 6.0s, between those of two counts with the 200 ms minimum RTO: a higher RTO — a route rto_min, tcp_rto_min_us — or TCP_USER_TIMEOUT)"},
		{3.1, 6.2, "4"},
	} {
		b := Bound{Sysctl: SysOrphanRetries, Of: OfBudget, Above: ptr(tt.above), Below: ptr(tt.below)}
		if got := describeBound(b); got != tt.want {
			t.Errorf("describeBound(%g, %g):\n got %q\nwant %q", tt.above, tt.below, got, tt.want)
		}
	}
}

func TestFinWait2Lifetime(t *testing.T) {
	// KERNEL.md (d)3: 70 gives 10 s + 10 s; up to 60 s it is the value,
	// floored at 3.5 RTO.
	for tmo, want := range map[float64]float64{70: 20, 60: 60, 5: 5, 2: 2, 0.1: finTimeoutFloor, 120: 120, 90: 60} {
		if got := finWait2Lifetime(tmo); math.Abs(got-want) > 1e-9 {
			t.Errorf("lifetime(%g) = %g, want %g", tmo, got, want)
		}
	}
	a, z := 3.0, 10.0
	for _, tt := range []struct {
		above, below *float64
		want         string
	}{
		{nil, &z, "below 10.0s — or between 60 and 65 s, because above 60 s an orphaned FIN_WAIT2 lives 2·(t−60) s"},
		{&a, nil, "at least 3.0s, but not between 60 and 61.5 s, where an orphaned FIN_WAIT2 lives only 2·(t−60) s"},
		{&a, &z, "3.0s to under 10.0s, or 61.5 to under 65 s (above 60 s an orphaned FIN_WAIT2 lives 2·(t−60) s)"},
		{&z, &a, "no value (an orphaned FIN_WAIT2 outlived 10.0s on one flow and expired within 3.0s on another: TCP_LINGER2 differs between sockets, or a full tcp_max_tw_buckets dropped some)"},
	} {
		if got := describeLifetime(tt.above, tt.below); got != tt.want {
			t.Errorf("describeLifetime: got %q\nwant %q", got, tt.want)
		}
	}
}
