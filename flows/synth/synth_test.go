package synth_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/flows/synth"
)

func generate(t testing.TB, cfg synth.Config) ([]byte, synth.Truth) {
	t.Helper()
	var buf bytes.Buffer
	tr, err := synth.Generate(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), tr
}

func TestDeterministic(t *testing.T) {
	for _, format := range []synth.Format{synth.PCAP, synth.PCAPNG} {
		t.Run(format.String(), func(t *testing.T) {
			cfg := synth.Config{Seed: 7, Conns: 500, Concurrency: 50, Format: format}
			a, ta := generate(t, cfg)
			b, tb := generate(t, cfg)
			if !bytes.Equal(a, b) {
				t.Error("same config, different bytes")
			}
			if diff := cmp.Diff(ta, tb); diff != "" {
				t.Errorf("same config, different truth (-first +second):\n%s", diff)
			}
			cfg.Seed = 8
			c, _ := generate(t, cfg)
			if bytes.Equal(a, c) {
				t.Error("seeds 7 and 8 wrote the same bytes")
			}
		})
	}
}

// TestWireMatchesTruth reads each capture back with pcapgo, checks the
// record framing and timestamps, and re-derives the truth from the
// decoded packets.
func TestWireMatchesTruth(t *testing.T) {
	start := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	for _, tc := range []struct {
		name string
		cfg  synth.Config
	}{
		{"pcap", synth.Config{Seed: 1, Conns: 3000, Concurrency: 300}},
		{"pcapng", synth.Config{Seed: 2, Conns: 3000, Concurrency: 300, Format: synth.PCAPNG}},
		{"pcap-ns-full", synth.Config{Seed: 3, Conns: 1000, Concurrency: 100, Nanoseconds: true, Snaplen: 65535, Start: start}},
		{"pcapng-ns", synth.Config{Seed: 4, Conns: 1000, Concurrency: 100, Nanoseconds: true, Format: synth.PCAPNG, Start: start}},
		{"packets", synth.Config{Seed: 5, Packets: 30000, Concurrency: 1000}},
		{"reuse-heavy", synth.Config{Seed: 6, Conns: 2000, Concurrency: 50, Mix: synth.Mix{ClientClose: 1, ServerClose: 1, ThreeWay: 1, Reuse: 0.5}}},
		{"synflood", synth.Config{Seed: 7, Conns: 200, Mode: synth.SynFlood, Flood: 5000}},
		{"finstorm", synth.Config{Seed: 8, Mode: synth.FinStorm, Storm: 3000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, want := generate(t, tc.cfg)
			recs, link := readAll(t, b, tc.cfg.Format)
			if link != 1 {
				t.Errorf("link type %v, want Ethernet", link)
			}
			if len(recs) != want.Packets {
				t.Fatalf("read %d records, truth says %d", len(recs), want.Packets)
			}
			snap := tc.cfg.Snaplen
			if snap == 0 {
				snap = synth.DefaultSnaplen
			}
			for i, r := range recs {
				if i > 0 && r.ci.Timestamp.Before(recs[i-1].ci.Timestamp) {
					t.Fatalf("frame %d: time %v before frame %d's %v", i+1, r.ci.Timestamp, i, recs[i-1].ci.Timestamp)
				}
				if r.ci.CaptureLength != min(r.ci.Length, snap) || len(r.data) != r.ci.CaptureLength {
					t.Fatalf("frame %d: captured %d of %d bytes (data %d), snaplen %d", i+1, r.ci.CaptureLength, r.ci.Length, len(r.data), snap)
				}
			}
			if !tc.cfg.Nanoseconds {
				want = truncate(want)
			}
			got := wireTruth(t, recs)
			if diff := cmp.Diff(comparable(want), comparable(got)); diff != "" {
				t.Errorf("truth differs from the wire (-truth +wire):\n%s", diff)
			}
			sum := 0
			for _, n := range want.ByKind {
				sum += n
			}
			if sum != want.Conns {
				t.Errorf("ByKind sums to %d, Conns is %d", sum, want.Conns)
			}
			if !tc.cfg.Start.IsZero() && !want.Start.Equal(tc.cfg.Start.Truncate(time.Microsecond)) {
				t.Errorf("first frame at %v, Start is %v", want.Start, tc.cfg.Start)
			}
		})
	}
}

// TestCounts checks what the config asks for against what was made.
func TestCounts(t *testing.T) {
	t.Run("conns", func(t *testing.T) {
		_, tr := generate(t, synth.Config{Seed: 1, Conns: 2500, Concurrency: 200})
		if tr.Conns != 2500 {
			t.Errorf("Conns = %d, want 2500", tr.Conns)
		}
	})
	t.Run("packets", func(t *testing.T) {
		const want = 100_000
		_, tr := generate(t, synth.Config{Seed: 1, Packets: want, Concurrency: 2000})
		// Connections stop starting at the target; those open finish.
		if math.Abs(float64(tr.Packets-want)) > 0.01*want {
			t.Errorf("Packets = %d, want within 1%% of %d", tr.Packets, want)
		}
	})
	// Enough connections for the concurrency to be reached (arrivals over
	// ten lifetimes) and for the shares to be measured.
	const conc = 500
	big, err := synth.Generate(io.Discard, synth.Config{Seed: 3, Conns: 20 * conc, Concurrency: conc})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("mix", func(t *testing.T) {
		tr := big
		w := synth.DefaultMix
		total := w.ClientClose + w.ServerClose + w.ThreeWay + w.Simultaneous + w.HalfClose +
			w.FinRetransmit + w.FinNeverAcked + w.CloseWait + w.Reset + w.Rejected + w.Open
		for kind, weight := range map[string]float64{
			synth.KindFourWay:         w.ClientClose + w.ServerClose + w.HalfClose + w.FinRetransmit,
			synth.KindThreeWay:        w.ThreeWay,
			synth.KindSimultaneous:    w.Simultaneous,
			synth.KindHalfClosedAtEnd: w.FinNeverAcked + w.CloseWait,
			synth.KindReset:           w.Reset,
			synth.KindRejected:        w.Rejected,
			synth.KindOpenAtEnd:       w.Open,
		} {
			share := float64(tr.ByKind[kind]) / float64(tr.Conns)
			want := weight / total
			// Four standard deviations of a binomial share.
			if tol := 4 * math.Sqrt(want*(1-want)/float64(tr.Conns)); math.Abs(share-want) > tol {
				t.Errorf("%s: share %.4f, want %.4f ± %.4f", kind, share, want, tol)
			}
		}
		v6 := float64(tr.IPv6Packets) / float64(tr.Packets)
		if math.Abs(v6-synth.DefaultIPv6Fraction) > 0.02 {
			t.Errorf("IPv6 share of packets %.3f, want about %.2f", v6, synth.DefaultIPv6Fraction)
		}
		udp := float64(tr.UDPPackets) / float64(tr.Packets)
		if math.Abs(udp-synth.DefaultNonTCPFraction) > 0.002 {
			t.Errorf("UDP share %.4f, want about %.4f", udp, synth.DefaultNonTCPFraction)
		}
		if tr.Reuses == 0 || tr.ReuseByHolder[synth.SideClient] == 0 || tr.ReuseByHolder[synth.SideServer] == 0 {
			t.Errorf("reuses %d by holder %v: want both holders", tr.Reuses, tr.ReuseByHolder)
		}
	})
	t.Run("concurrency", func(t *testing.T) {
		// The peak is near Concurrency, not far above.
		if tr := big; tr.MaxOpen < conc*9/10 || tr.MaxOpen > conc*13/10 {
			t.Errorf("MaxOpen = %d, want about %d", tr.MaxOpen, conc)
		}
	})
	t.Run("no-ipv6-no-noise", func(t *testing.T) {
		_, tr := generate(t, synth.Config{Seed: 1, Conns: 500, IPv6Fraction: -1, NonTCPFraction: -1})
		if tr.IPv6Packets != 0 || tr.UDPPackets != 0 {
			t.Errorf("IPv6 %d, UDP %d packets, want none", tr.IPv6Packets, tr.UDPPackets)
		}
	})
	t.Run("synflood", func(t *testing.T) {
		_, tr := generate(t, synth.Config{Seed: 1, Mode: synth.SynFlood, Flood: 10000})
		if tr.SynOnly != 10000 || tr.Tuples != 10000 || tr.Packets != 10000 || tr.ByKind[synth.KindOpenAtEnd] != 10000 {
			t.Errorf("flood of 10000: truth %+v", tr)
		}
	})
	t.Run("finstorm", func(t *testing.T) {
		_, tr := generate(t, synth.Config{Seed: 1, Mode: synth.FinStorm, Storm: 5000})
		if tr.Conns != 1 || tr.FINs != 5000 || tr.FinRetransmissions != 4999 {
			t.Errorf("storm of 5000: conns %d, FINs %d, retransmissions %d", tr.Conns, tr.FINs, tr.FinRetransmissions)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  synth.Config
	}{
		{"nothing", synth.Config{}},
		{"negative-conns", synth.Config{Conns: -1}},
		{"ipv6-above-1", synth.Config{Conns: 1, IPv6Fraction: 1.5}},
		{"nan-noise", synth.Config{Conns: 1, NonTCPFraction: math.NaN()}},
		{"all-noise", synth.Config{Conns: 1, NonTCPFraction: 1}},
		{"negative-weight", synth.Config{Conns: 1, Mix: synth.Mix{ClientClose: -1, Reset: 2}}},
		{"reuse-only", synth.Config{Conns: 1, Mix: synth.Mix{Reuse: 0.5}}},
		{"reuse-above-1", synth.Config{Conns: 1, Mix: synth.Mix{Reset: 1, Reuse: 2}}},
		{"snaplen", synth.Config{Conns: 1, Snaplen: synth.MaxSnaplen + 1}},
		{"format", synth.Config{Conns: 1, Format: 9}},
		{"mode", synth.Config{Conns: 1, Mode: 9}},
		{"lifetime", synth.Config{Conns: 1, Lifetime: -time.Second}},
		{"flood-rate", synth.Config{Mode: synth.SynFlood, FloodRate: math.Inf(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := synth.Generate(&buf, tc.cfg)
			if !errors.Is(err, synth.ErrConfig) {
				t.Errorf("error %v, want one wrapping ErrConfig", err)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes for a bad config", buf.Len())
			}
		})
	}
}

// failWriter fails once more than n bytes have been written.
type failWriter struct{ n int }

var errFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	for _, n := range []int{0, 100, 3 << 20} {
		tr, err := synth.Generate(&failWriter{n: n}, synth.Config{Seed: 1, Packets: 200_000})
		if !errors.Is(err, errFull) {
			t.Errorf("writer full after %d bytes: error %v, want %v", n, err, errFull)
		}
		if tr.Packets >= 200_000 {
			t.Errorf("writer full after %d bytes: still generated %d packets", n, tr.Packets)
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, f := range []synth.Format{synth.PCAP, synth.PCAPNG} {
		if got, err := synth.ParseFormat(f.String()); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f, got, err)
		}
	}
	for _, m := range []synth.Mode{synth.Normal, synth.SynFlood, synth.FinStorm} {
		if got, err := synth.ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := synth.ParseFormat("erf"); err == nil {
		t.Error("ParseFormat(erf) succeeded")
	}
	if _, err := synth.ParseMode("ddos"); err == nil {
		t.Error("ParseMode(ddos) succeeded")
	}
}
