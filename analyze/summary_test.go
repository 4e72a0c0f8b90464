package analyze

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/testenv"
)

func TestSeriesCountsWholeSeconds(t *testing.T) {
	acc := seriesAcc{}
	acc.interval(500e6, 2500e6)  // held at seconds 1 and 2
	acc.interval(1000e6, 1001e6) // held at second 1
	acc.interval(1200e6, 1900e6) // at no whole second
	acc.interval(2000e6, 5000e6) // 2, 3, 4
	s := acc.series()
	// Counts 2, 2, 1, 1 at seconds 1-4: the second interval leaves as the
	// fourth comes.
	want := Series{{1, 2}, {3, -1}, {5, -1}}
	if !cmp.Equal(s, want) {
		t.Errorf("series %v, want %v", s, want)
	}
	if n, at := s.peak(); n != 2 || at != 1 {
		t.Errorf("peak %d at %d, want 2 at 1", n, at)
	}
	// Two shards' series add up.
	other := seriesAcc{}
	other.interval(2000e6, 3000e6)
	if n, at := mergeSeries(s, other.series()).peak(); n != 3 || at != 2 {
		t.Errorf("merged peak %d at %d, want 3 at 2", n, at)
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram(UnitSeconds)
	var vals []float64
	for i := 1; i <= 1000; i++ {
		v := float64(i) * 0.001
		vals = append(vals, v)
		h.add(v)
	}
	h.add(0) // under 1 µs
	vals = append(vals, 0)
	h.derive()
	slices.Sort(vals)
	median, p99 := vals[(len(vals)+1)/2-1], vals[int(math.Ceil(0.99*float64(len(vals))))-1]
	if h.Count != 1001 || h.Min != 0 || h.Max != 1 {
		t.Errorf("count %d min %g max %g", h.Count, h.Min, h.Max)
	}
	for _, q := range []struct{ got, want float64 }{{h.Median, median}, {h.P99, p99}} {
		if math.Abs(q.got-q.want) > 0.05*q.want {
			t.Errorf("quantile %g, want %g within 5%%", q.got, q.want)
		}
	}
	c := newHistogram(UnitCount)
	for _, v := range []float64{0, 0, 0, 1, 5} {
		c.add(v)
	}
	c.derive()
	if c.Median != 0 || c.P99 != 5 || c.Max != 5 {
		t.Errorf("count histogram median %g p99 %g", c.Median, c.P99)
	}
}

// truthFlow is what the summary test reads of a truth file's flow.
type truthFlow struct {
	Client, Server string
	Close          struct {
		Kind  string
		Reset *struct {
			By    string
			Frame uint64
		}
	}
	Sides map[string]struct {
		States []struct {
			State string
			Frame uint64
		}
		FinFrames          []uint64 `json:"fin_frames"`
		FinRetransmissions int      `json:"fin_retransmissions"`
		FinalState         string   `json:"final_state"`
	}
	Diagnoses []struct{ Code string }
}

// frameTimes reads every segment of a capture: its frames' times, and the
// segments themselves.
func frameTimes(t *testing.T, path string) (map[uint64]int64, []flows.Segment) {
	t.Helper()
	r, err := capture.Open([]string{path}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	at := map[uint64]int64{}
	var segs []flows.Segment
	for {
		s, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		at[s.Frame] = s.Time
		segs = append(segs, s)
	}
	return at, segs
}

// sampledPeak is the most intervals [a, z) holding a whole second, and
// the first such second.
func sampledPeak(iv [][2]int64) (int64, int64) {
	var best, bestAt int64
	if len(iv) == 0 {
		return 0, 0
	}
	lo, hi := iv[0][0], iv[0][1]
	for _, x := range iv {
		lo, hi = min(lo, x[0]), max(hi, x[1])
	}
	for s := lo / 1e9; s*1e9 <= hi; s++ {
		var n int64
		for _, x := range iv {
			if x[0] <= s*1e9 && s*1e9 < x[1] {
				n++
			}
		}
		if n > best {
			best, bestAt = n, s
		}
	}
	return best, bestAt
}

// TestLogBucket checks logBucket against the formula it stands for,
// math.Floor(perDoubling*math.Log2(x)), on random values from 1 to 2^62
// and on the floats nearest every bucket bound (where the formula's
// rounding, not the true logarithm, decides).
func TestLogBucket(t *testing.T) {
	want := func(x float64) int64 { return int64(math.Floor(perDoubling * math.Log2(x))) }
	check := func(x float64) {
		t.Helper()
		if got, w := logBucket(x), want(x); got != w {
			t.Fatalf("logBucket(%v) = %d, the formula gives %d", x, got, w)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		check(math.Exp2(r.Float64() * 62))
		check(1 + float64(r.IntN(1e9))/1e3) // microseconds, as durations are
	}
	for e := range 63 {
		for k := range perDoubling + 1 {
			b := math.Ldexp(math.Exp2(float64(k)/perDoubling), e)
			for _, x := range []float64{b, b * (1 - 1e-9), b * (1 + 1e-9), b * (1 - 2e-9), b * (1 + 2e-9)} {
				check(x)
				up, down := x, x
				for range 4 {
					up, down = math.Nextafter(up, math.Inf(1)), math.Nextafter(down, 0)
					if down >= 1 {
						check(down)
					}
					check(up)
				}
			}
		}
	}
}

// TestSummaryManyConnections checks the summary of the 240-connection lab
// capture against figures computed here from its truth file and the
// capture's frame times.
func TestSummaryManyConnections(t *testing.T) {
	dir := testenv.Lab(t)
	b, err := os.ReadFile(filepath.Join(dir, "many-connections.truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth struct{ Flows []truthFlow }
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "many-connections.pcapng")
	at, _ := frameTimes(t, path)
	s := runLab(t, path, Options{}).Summary

	kinds, finals, codes := map[string]int{}, map[string]int{}, map[string]int{}
	type key struct{ host, state string }
	held := map[key][][2]int64{}
	ports := map[[2]string][][2]int64{}
	var finRtx []float64
	var fw1 []float64
	ip := func(a string) string { return netip.MustParseAddrPort(a).Addr().String() }
	resets := map[string][][2]int64{} // resets at close() from a live socket, per host
	for _, f := range truth.Flows {
		kinds[f.Close.Kind]++
		seen := map[string]bool{}
		for _, d := range f.Diagnoses {
			if !seen[d.Code] {
				seen[d.Code] = true
				codes[d.Code]++
			}
			if d.Code == CodeRstLingerZero || d.Code == CodeOrphanReset {
				host := ip(f.Client)
				if f.Close.Reset.By == "server" {
					host = ip(f.Server)
				}
				a := at[f.Close.Reset.Frame]
				resets[host] = append(resets[host], [2]int64{a, a + 1e9})
			}
		}
		for role, sd := range f.Sides {
			finals[sd.FinalState]++
			host, peer := ip(f.Client), "server"
			if role == "server" {
				host, peer = ip(f.Server), "client"
			}
			if len(sd.FinFrames) > 0 {
				finRtx = append(finRtx, float64(sd.FinRetransmissions))
			}
			for i, e := range sd.States {
				if !slices.Contains([]string{"FIN_WAIT1", "FIN_WAIT2", "CLOSING", "LAST_ACK", "TIME_WAIT", "CLOSE_WAIT"}, e.State) {
					continue
				}
				a, z := at[e.Frame], int64(0)
				switch {
				case i+1 < len(sd.States):
					z = at[sd.States[i+1].Frame]
				case e.State == "TIME_WAIT":
					// 60 s after the peer FIN that last (re)started it.
					restart := a
					for _, fr := range f.Sides[peer].FinFrames {
						restart = max(restart, at[fr])
					}
					z = restart + 60e9
				default:
					t.Fatalf("flow %s: final state %s: the capture closes every connection", f.Client, e.State)
				}
				switch e.State {
				case "FIN_WAIT1", "FIN_WAIT2", "CLOSING", "LAST_ACK":
					held[key{host, "orphans"}] = append(held[key{host, "orphans"}], [2]int64{a, z})
					if e.State == "FIN_WAIT1" {
						fw1 = append(fw1, float64(z-a)/1e9)
					}
				case "TIME_WAIT", "CLOSE_WAIT":
					held[key{host, e.State}] = append(held[key{host, e.State}], [2]int64{a, z})
					if e.State == "TIME_WAIT" && role == "client" {
						k := [2]string{host, f.Server}
						ports[k] = append(ports[k], [2]int64{a, z})
					}
				}
			}
		}
	}
	if s.Flows != len(truth.Flows) || !cmp.Equal(s.CloseKinds, kinds) || !cmp.Equal(s.FinalStates, finals) || !cmp.Equal(s.Diagnoses, codes) {
		t.Errorf("counts: flows %d kinds %v finals %v diagnoses %v\nwant %d %v %v %v", s.Flows, s.CloseKinds, s.FinalStates, s.Diagnoses, len(truth.Flows), kinds, finals, codes)
	}
	if len(s.Hosts) != 2 {
		t.Fatalf("hosts %d, want 2", len(s.Hosts))
	}
	peakTW := int64(0)
	for _, h := range s.Hosts {
		for state, p := range map[string]Peak{"TIME_WAIT": h.TimeWait, "CLOSE_WAIT": h.CloseWait, "orphans": h.Orphans, "resets": h.CloseResets} {
			iv := held[key{h.Host, state}]
			if state == "resets" {
				iv = resets[h.Host]
			}
			n, sec := sampledPeak(iv)
			if p.Count != n || (n > 0 && p.At != Time(sec*1e9)) {
				t.Errorf("%s %s: peak %d at %s, want %d at %s", h.Host, state, p.Count, p.At, n, Time(sec*1e9))
			}
		}
		peakTW = max(peakTW, h.TimeWait.Count)
		if h.TimeWait.Limit != defaultMaxTwBuckets || h.TimeWait.LimitFrom != "default" {
			t.Errorf("%s: limit %d from %s", h.Host, h.TimeWait.Limit, h.TimeWait.LimitFrom)
		}
	}
	if peakTW < 50 {
		t.Errorf("TIME_WAIT peak %d: the capture closes 120 connections at once", peakTW)
	}
	// The 60 SO_LINGER resets at once make a finding that names both
	// causes the wire cannot tell apart.
	var burst []string
	for _, f := range s.Findings {
		burst = append(burst, f.Code+" "+f.Host)
	}
	if n, _ := sampledPeak(resets["198.51.100.10"]); n < closeResetBurst || !slices.Equal(burst, []string{CodeRstLingerZero + " 198.51.100.10"}) {
		t.Errorf("findings %q with %d resets at once", burst, n)
	} else if f := s.Findings[0]; f.Confidence != ConfidenceMedium || !slices.Equal(f.Doubts, []string{closeResetDoubt}) {
		t.Errorf("burst finding: confidence %s, doubts %q; want medium, the orphans' doubt", f.Confidence, f.Doubts)
	}
	if len(s.Ports) != len(ports) {
		t.Fatalf("ports %d, want %d", len(s.Ports), len(ports))
	}
	for _, p := range s.Ports {
		n, _ := sampledPeak(ports[[2]string{p.Client, p.Server}])
		if p.TimeWait.Count != n || p.TimeWait.Limit != defaultPortRangeHi-defaultPortRangeLo+1 {
			t.Errorf("ports %s → %s: %+v, want %d", p.Client, p.Server, p.TimeWait, n)
		}
	}
	slices.Sort(finRtx)
	if h := s.FinRetransmissions; h.Count != int64(len(finRtx)) || h.Min != finRtx[0] || h.Max != finRtx[len(finRtx)-1] || h.Median != finRtx[(len(finRtx)+1)/2-1] {
		t.Errorf("FIN retransmissions %+v, want %d values %v…%v", *h, len(finRtx), finRtx[0], finRtx[len(finRtx)-1])
	}
	slices.Sort(fw1)
	h := s.CloseDurations["FIN_WAIT1"]
	med := fw1[(len(fw1)+1)/2-1]
	if h == nil || h.Count != int64(len(fw1)) || math.Abs(h.Min-fw1[0]) > 1e-9 || math.Abs(h.Max-fw1[len(fw1)-1]) > 1e-9 || math.Abs(h.Median-med) > 0.05*med {
		t.Errorf("FIN_WAIT1 durations %+v, want %d values, min %g, median %g, max %g", h, len(fw1), fw1[0], med, fw1[len(fw1)-1])
	}
}

// TestSummaryMergesShards: the capture split in two by 4-tuple, each part
// analysed alone, gives the whole capture's summary once merged.
func TestSummaryMergesShards(t *testing.T) {
	dir := testenv.Lab(t)
	var all []flows.Segment
	// The newest captures, moved back a year: one that ended the whole
	// would end one shard alone and cut the other's last TIME_WAIT short.
	back := map[string]int64{"no-answer-after-idle.pcap": 365, "rst-middlebox-refused.pcap": 366}
	for _, name := range []string{"many-connections.pcapng", "fin-never-acked-orphan-retries-1.pcap", "tw-reuse-ephemeral.pcap", "rst-middlebox-idle.pcap", "no-answer-after-idle.pcap", "rst-middlebox-refused.pcap", "close-wait-long.pcapng"} {
		_, segs := frameTimes(t, filepath.Join(dir, name))
		if days := back[name]; days > 0 {
			for i := range segs {
				segs[i].Time -= days * 86400e9
			}
		}
		all = append(all, segs...)
	}
	slices.SortStableFunc(all, func(a, b flows.Segment) int { return int(a.Time - b.Time) })
	var shards [2][]flows.Segment
	for i, s := range all {
		s.Frame = uint64(i + 1)
		all[i] = s
		// Linux picks even ephemeral ports for connect(): split on the
		// next bit.
		k := (int(s.Src.Port()) + int(s.Dst.Port())) / 2 % 2
		shards[k] = append(shards[k], s)
	}
	whole := runOpts(t, all, Options{}).Summary
	merged := runOpts(t, shards[0], Options{}).Summary
	if cmp.Equal(merged, whole) {
		t.Fatal("one shard alone already gives the whole summary")
	}
	merged.Merge(runOpts(t, shards[1], Options{}).Summary)
	if d := cmp.Diff(whole, merged); d != "" {
		t.Errorf("merged shards differ from the whole (-whole +merged):\n%s", d)
	}
	pathIdle := slices.ContainsFunc(whole.Hosts, func(h HostLoad) bool {
		return slices.ContainsFunc(h.PathIdle, func(p PathIdle) bool { return p.Resets > 0 && p.Drops > 0 && p.SurvivedStart != 0 })
	})
	refused := slices.ContainsFunc(whole.Hosts, func(h HostLoad) bool { return h.Refused != nil && h.TTL != nil })
	if len(whole.Hosts) == 0 || len(whole.CloseWaits) == 0 || whole.FinRetransmissions.Max == 0 || whole.ReuseGaps.Count == 0 || whole.ClientRTT.Count == 0 || whole.ServerRTT.Count == 0 || !pathIdle || !refused {
		t.Errorf("the merge test covers too little: %+v", whole)
	}
}

// TestTimeWaitOutlivesTheCapture: a TIME_WAIT that began 10 s before the
// end of the capture still counts 50 s after it.
func TestTimeWaitOutlivesTheCapture(t *testing.T) {
	w := newWire(t)
	w.handshake()
	w.exchange()
	w.fourWay(cli, "F.")
	lateSegment(w, 10)
	s := runOpts(t, w.segs, Options{}).Summary
	tw := w.segs[8].Time // the server's FIN: the client's TIME_WAIT starts there
	i := slices.IndexFunc(s.Hosts, func(h HostLoad) bool { return h.Host == "198.51.100.10" })
	if i < 0 {
		t.Fatalf("no client host in %+v", s.Hosts)
	}
	ser := s.Hosts[i].Series.TimeWait
	count := func(sec int64) int64 {
		var n int64
		for _, p := range ser {
			if p[0] <= sec {
				n += p[1]
			}
		}
		return n
	}
	end := tw/1e9 + 60
	if count(end-1) != 1 || count(end+1) != 0 || count(tw/1e9+50) != 1 {
		t.Errorf("TIME_WAIT series %v around %d", ser, end)
	}
}

// TestSummaryCapsHosts: past the cap hosts are not tracked, and counted.
func TestSummaryCapsHosts(t *testing.T) {
	var ws []*wire
	n := maxSummaryHosts + 10
	for i := range n {
		w := newWire(t)
		client(w, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000).String())
		w.now += int64(i) * 1e6
		w.handshake()
		w.fourWay(cli, "F.")
		ws = append(ws, w)
	}
	s := runOpts(t, mergeWires(ws...), Options{}).Summary
	// One server and maxSummaryHosts-1 clients are tracked.
	if len(s.Hosts) != maxSummaryHosts || s.UntrackedFlows != n-(maxSummaryHosts-1) || s.Flows != n {
		t.Errorf("hosts %d, untracked flows %d, flows %d", len(s.Hosts), s.UntrackedFlows, s.Flows)
	}
}

// TestCloseWaitLoads: the close-wait-long flows broken down by the
// application that held CLOSE_WAIT. Ten clients of one service that never
// close after its FIN are one entry, naming the numerically lowest eight
// of their addresses; a server that closes late is another, after it.
func TestCloseWaitLoads(t *testing.T) {
	var ws []*wire
	for i := range 10 {
		w := newWire(t)
		client(w, fmt.Sprintf("10.0.0.%d:%d", i+1, 40000+i))
		w.now += int64(i) * 10e6
		w.handshake()
		w.exchange()
		w.send(srv, "F.", 0)
		w.send(cli, ".", 0)
		ws = append(ws, w)
	}
	w := newWire(t)
	client(w, "10.0.1.1:41000")
	w.handshake()
	w.exchange()
	w.send(cli, "F.", 0)
	w.send(srv, ".", 0)
	w.now += 1.5e9
	w.send(srv, "F.", 0)
	w.send(cli, ".", 0)
	lateSegment(w, 2)
	ws = append(ws, w)
	res := runOpts(t, mergeWires(ws...), Options{})
	cws := res.Summary.CloseWaits
	if len(cws) != 2 {
		t.Fatalf("close waits %+v, want 2", cws)
	}
	var longest float64
	for _, f := range res.Flows {
		if f.Sides.Client != nil && f.Sides.Client.FinalState == CloseWait {
			longest = max(longest, f.Sides.Client.Durations["CLOSE_WAIT"])
		}
	}
	want := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8"}
	if c := cws[0]; c.Holder != Client || c.Flows != 10 || c.OpenAtEnd != 10 || !c.MoreHosts || !slices.Equal(c.Hosts, want) || c.Longest != longest || longest == 0 {
		t.Errorf("clients' entry %+v, want 10 flows open at the end, hosts %v and more, longest %v", c, want, longest)
	}
	if c := cws[1]; c.Holder != Server || c.Flows != 1 || c.OpenAtEnd != 0 || c.Hosts != nil || c.Server != cws[0].Server {
		t.Errorf("server's entry %+v", c)
	}
	if n := cws[0].Flows + cws[1].Flows; n != res.Summary.Diagnoses[CodeCloseWaitLong] {
		t.Errorf("%d flows in the entries, %d close-wait-long", n, res.Summary.Diagnoses[CodeCloseWaitLong])
	}

	// Five clients in each of two shards, which end at the same instant
	// (the last wire's late segment in both), merge into the same entries.
	a := mergeWires(ws[:5]...)
	a = append(a, ws[len(ws)-1].segs[len(ws[len(ws)-1].segs)-1])
	merged := runOpts(t, a, Options{}).Summary
	merged.Merge(runOpts(t, mergeWires(ws[5:]...), Options{}).Summary)
	if d := cmp.Diff(cws, merged.CloseWaits); d != "" {
		t.Errorf("merged shards differ from the whole (-whole +merged):\n%s", d)
	}
}

// TestDuplicateGapsMerge: the gaps of two shards' duplicates merge to
// the least and the most of both, the copies apart added.
func TestDuplicateGapsMerge(t *testing.T) {
	a := &Summary{Duplicates: 3, DuplicateGaps: &DuplicateGaps{Min: 1e-6, Max: 0.02, Apart: 2}}
	a.Merge(&Summary{Duplicates: 2, DuplicateGaps: &DuplicateGaps{Min: 5e-7, Max: 0.01, Apart: 1}})
	if g := a.DuplicateGaps; a.Duplicates != 5 || *g != (DuplicateGaps{Min: 5e-7, Max: 0.02, Apart: 3}) {
		t.Errorf("merged %d, %+v", a.Duplicates, *g)
	}
	b := &Summary{}
	b.Merge(&Summary{Duplicates: 1, DuplicateGaps: &DuplicateGaps{Min: 1e-6, Max: 1e-6}})
	b.Merge(&Summary{})
	if g := b.DuplicateGaps; g == nil || *g != (DuplicateGaps{Min: 1e-6, Max: 1e-6}) {
		t.Errorf("merged into none: %+v", g)
	}
}
