package analyze

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/teardown/teardown/flows"
)

// The capture-wide summary: counts by close kind, final state and
// diagnosis; per host the sockets held at once in TIME_WAIT, CLOSE_WAIT
// and as orphans; ephemeral-port pressure per client and server address;
// distributions; the bounds the flows give on tcp_fin_timeout and
// tcp_orphan_retries per host; findings across flows. Every part merges
// across shards exactly (summary_types.go); peaks and findings are read
// after merging.

// Caps on what the summary tracks: past them the flows still count, but
// their hosts (or address pairs) are not tracked (UntrackedFlows).
const (
	maxSummaryHosts      = 1024
	maxSummaryPorts      = 1024
	maxSummaryCloseWaits = 1024
)

// summaryBuilder is the summarizer Run uses. Before counting a flow it
// runs the rules that need other flows or the host's settings.
type summaryBuilder struct {
	sys   Sysctls
	s     Summary
	hosts map[netip.Addr]*hostAcc
	ports map[portKey]seriesAcc
	cw    map[cwKey]*CloseWaitLoad
	paws  pawsIndex
	nat   natIndex
	untr  untranslatedIndex
	// stacks counts the flows in which each host showed a stack other
	// than Linux's, by stack.
	stacks map[hostStackKey]int
	// durHist caches s.CloseDurations by state.
	durHist [Closed + 1]*Histogram
}

// portKey is a client's IP address and a server's address and port.
type portKey struct {
	client netip.Addr
	server netip.AddrPort
}

// cwKey is an application that held CLOSE_WAIT: the side, and the
// server's address and port.
type cwKey struct {
	holder Role
	server netip.AddrPort
}

// hostAcc accumulates one host's part.
type hostAcc struct {
	tw, cw, orphans, resets, closeResets seriesAcc
	bounds                               []HostBound
	pathIdle                             []PathIdle
	ttl                                  HostTTL
	refused                              Refused
	lastSent                             Time
}

func newSummaryBuilder(sys Sysctls) *summaryBuilder {
	return &summaryBuilder{
		sys:   sys,
		s:     emptySummary(),
		hosts: map[netip.Addr]*hostAcc{},
		ports: map[portKey]seriesAcc{},
		cw:    map[cwKey]*CloseWaitLoad{},
		paws:  pawsIndex{},
	}
}

func emptySummary() Summary {
	return Summary{
		CloseKinds: map[string]int{}, FinalStates: map[string]int{}, Diagnoses: map[string]int{},
		FinRetransmissions: newHistogram(UnitCount),
		CloseDurations:     map[string]*Histogram{},
		ReuseGaps:          newHistogram(UnitSeconds),
		ClientRTT:          newHistogram(UnitSeconds),
		ServerRTT:          newHistogram(UnitSeconds),
	}
}

// Add runs the capture-wide rules on f, compares its diagnoses with the
// host's settings, and counts it.
func (b *summaryBuilder) Add(f *Flow) {
	w := f.Wire
	f.Wire = nil
	if f.NAT != nil && f.NAT.OneSide != "" {
		// Counted as a flow (its close kind and final states with it)
		// and nothing else: its story is the other flow's.
		b.s.Flows++
		b.s.NATCopies++
		b.s.CloseKinds[string(f.Close.Kind)]++
		for _, r := range [...]Role{Client, Server} {
			if sd := sideOf(f, r); sd != nil {
				b.s.FinalStates[sd.FinalState.String()]++
			}
		}
		return
	}
	addr := flowAddrs(f, w)
	b.paws.check(f, &addr, w)
	b.nat.check(f, &addr, w)
	b.untr.check(f, &addr, w)
	notLinux(f, &addr, w)
	checkSettings(f, &addr, b.sys, w)

	s := &b.s
	s.Flows++
	if f.NAT != nil {
		s.NATCopies++
	}
	s.CloseKinds[string(f.Close.Kind)]++
	for i := range f.Diagnoses {
		if code := f.Diagnoses[i].Code; !codeIn(f.Diagnoses[:i], code) {
			s.Diagnoses[code]++
		}
	}
	untracked := false
	for x, r := range [...]Role{Client, Server} {
		sd := sideOf(f, r)
		if sd == nil {
			continue
		}
		if sd.Stack != nil && f.NAT.Counts(r) {
			b.countStack(hostAddr(addr[x]), sd.Stack.OS)
		}
		s.FinalStates[sd.FinalState.String()]++
		if len(sd.FinFrames) > 0 && !sd.FinInferred {
			s.FinRetransmissions.add(float64(sd.FinRetransmissions))
		}
		durs := builtDurations(w, x, sd)
		if durs != nil {
			for i, st := range closeStates {
				if durs.set[x]&(1<<i) != 0 && !(sd.OpenEnded && st == sd.FinalState) {
					b.closeDurations(st).add(durs.d[x][i])
				}
			}
		} else {
			for st, d := range sd.Durations {
				if sd.OpenEnded && st == sd.FinalState.String() {
					continue
				}
				h := s.CloseDurations[st]
				if h == nil {
					h = newHistogram(UnitSeconds)
					s.CloseDurations[st] = h
				}
				h.add(d)
			}
		}
		if !f.NAT.Counts(r) {
			continue
		}
		h := b.host(sideAddr(&addr, r))
		if h == nil {
			untracked = true
			continue
		}
		if w != nil {
			h.lastSent = max(h.lastSent, Time(w.Last[x]))
		}
		eachCloseState(f, x, durs, func(st State, a, z int64) {
			switch {
			case st == TimeWait:
				h.tw.interval(a, z)
				if r == Client && !b.portInterval(&addr, a, z) {
					untracked = true
				}
			case st == CloseWait:
				h.cw.interval(a, z)
			default:
				h.orphans.interval(a, z)
			}
		})
	}
	if f.Reuse != nil {
		s.ReuseGaps.add(f.Reuse.Gap)
	}
	if v, ok := f.RTT.Of(Client); ok {
		s.ClientRTT.add(v)
	}
	if v, ok := f.RTT.Of(Server); ok {
		s.ServerRTT.add(v)
	}
	for _, d := range f.Diagnoses {
		if (d.Code == CodeOrphanReset || d.Code == CodeRstLingerZero) && len(d.Frames) > 0 && f.NAT.Counts(d.Side) {
			if h := b.host(sideAddr(&addr, d.Side)); h != nil {
				// The reset is the diagnosis's last frame.
				at := eventTime(f, d.Frames[len(d.Frames)-1])
				h.closeResets.interval(at, at+1e9)
				if d.Code == CodeOrphanReset {
					h.resets.interval(at, at+1e9)
				}
			}
		}
		if d.Code == CodeCloseWaitLong && !b.closeWait(f, &addr, d.Side) {
			untracked = true
		}
		b.bound(d.Bounds)
	}
	if w != nil {
		b.bound(w.Bounds)
		if w.IdleClose > 0 && f.NAT == nil {
			// A NAT copy's idle close is its first view's.
			idle := math.Round(float64(w.IdleClose)*1e3) / 1e3 // float32's digits, in ms
			l := IdleCloseLoad{Closer: sideRole(int(w.IdleCloser)), Server: addr[flows.FromServer].String(), Flows: 1, IdleMin: idle, IdleMax: idle}
			if w.IdleStale {
				l.Stale = 1
			} else {
				l.Raced = 1
			}
			s.IdleCloses = mergeIdleCloses(s.IdleCloses, []IdleCloseLoad{l})
		}
		if f.NAT == nil {
			// A NAT copy's delay is its first view's.
			var l ConnectDelayLoad
			if w.SYNDelay > 0 {
				d := math.Round(float64(w.SYNDelay)*1e3) / 1e3 // float32's digits, in ms
				l.Flows, l.DelayMin, l.DelayMax = 1, d, d
			}
			if codeIn(f.Diagnoses, CodeAcceptQueueFull) || codeIn(f.Diagnoses, CodeListenOverflow) {
				l.QueueFull = 1
			}
			if l.Flows > 0 || l.QueueFull > 0 {
				l.Server = addr[flows.FromServer].String()
				s.ConnectDelays = mergeConnectDelays(s.ConnectDelays, []ConnectDelayLoad{l})
			}
		}
		if l := f.Untranslated; l != nil {
			s.Untranslated = mergeUntranslated(s.Untranslated, []UntranslatedLoad{untranslatedLoad(l)})
		}
		if r := f.Close.Reset; r != nil && f.NAT == nil && codeIn(f.Diagnoses, CodeSynProbe) {
			at := Time(eventTime(f, r.Frame))
			l := ProbeLoad{Host: addr[flows.FromClient].Addr().String(), Flows: 1, First: at, Last: at,
				Targets: []netip.AddrPort{addr[flows.FromServer]}}
			if r.Cause == CauseRefused {
				l.Refused = 1
			}
			s.Probes = mergeProbes(s.Probes, []ProbeLoad{l})
		}
		if r := f.Close.Reset; w.NoSocket != lostNone && w.NoSocket != lostProbe && r != nil && f.NAT == nil {
			// A NAT copy's reset is its first view's.
			x := flows.FromClient
			if r.By == Server {
				x = flows.FromServer
			}
			at := Time(eventTime(f, r.Frame))
			l := LostSocketLoad{Host: addr[x].Addr().String(), Side: r.By, Flows: 1, First: at, Last: at}
			switch w.NoSocket {
			case lostGaveUp:
				l.GaveUp = 1
			case lostUnreachable:
				l.Unreachable = 1
			case lostAfterSilence:
				l.AfterSilence = 1
			case lostConnect:
				l.ConnectGaveUp = 1
			case lostRequest:
				l.RequestExpired = 1
			}
			s.LostSockets = mergeLostSockets(s.LostSockets, []LostSocketLoad{l})
		}
		if (w.Silence > 0 || w.ServerTTL != 0 || w.RefusedTTL != 0) && f.NAT.Counts(Server) {
			if h := b.host(addr[1].Addr()); h != nil {
				if w.Silence > 0 {
					h.pathIdle = mergePathIdle(h.pathIdle, w.pathIdle(f))
				}
				if w.ServerTTL != 0 {
					h.ttl.add(w.ServerTTL)
				}
				if w.RefusedTTL != 0 {
					h.refused.merge(Refused{Count: 1, First: Time(eventTime(f, f.Close.Reset.Frame)), TTL: HostTTL{Value: w.RefusedTTL, Flows: 1}})
				}
			}
		}
	}
	if untracked {
		s.UntrackedFlows++
	}
}

// builtDurations returns the durations the builder left in w, nil when
// it left none or side x's map sd no longer matches them.
func builtDurations(w *WireFacts, x int, sd *Side) *durations {
	if w == nil || !w.built() || w.durs.len(x) != len(sd.Durations) {
		return nil
	}
	return &w.durs
}

// closeDurations returns the distribution of close state st's
// durations.
func (b *summaryBuilder) closeDurations(st State) *Histogram {
	h := b.durHist[st]
	if h == nil {
		name := st.String()
		if h = b.s.CloseDurations[name]; h == nil {
			h = newHistogram(UnitSeconds)
			b.s.CloseDurations[name] = h
		}
		b.durHist[st] = h
	}
	return h
}

// host returns host's accumulator, nil for the zero Addr and past the
// cap.
func (b *summaryBuilder) host(host netip.Addr) *hostAcc {
	if !host.IsValid() {
		return nil
	}
	h := b.hosts[host]
	if h == nil {
		if len(b.hosts) >= maxSummaryHosts {
			return nil
		}
		h = &hostAcc{tw: seriesAcc{}, cw: seriesAcc{}, orphans: seriesAcc{}, resets: seriesAcc{}, closeResets: seriesAcc{}}
		b.hosts[host] = h
	}
	return h
}

// closeWait counts flow f, whose side x held CLOSE_WAIT long, for the
// application that held it (addr holds the flow's addresses); false past
// the cap.
func (b *summaryBuilder) closeWait(f *Flow, addr *[2]netip.AddrPort, x Role) bool {
	sd := sideOf(f, x)
	if sd == nil {
		return true
	}
	k := cwKey{holder: x, server: addr[flows.FromServer]}
	c := b.cw[k]
	if c == nil {
		if len(b.cw) >= maxSummaryCloseWaits {
			return false
		}
		c = &CloseWaitLoad{Holder: x, Server: k.server.String()}
		b.cw[k] = c
	}
	c.Flows++
	if sd.OpenEnded && sd.FinalState == CloseWait {
		c.OpenAtEnd++
	}
	c.Longest = max(c.Longest, sd.Durations[CloseWait.String()])
	if h := sideAddr(addr, x); x == Client && h.IsValid() {
		c.addHosts([]string{h.String()}, false)
	}
	return true
}

// portInterval counts a client TIME_WAIT towards the flow's server
// address (addr holds the flow's addresses); false past the cap.
func (b *summaryBuilder) portInterval(addr *[2]netip.AddrPort, a, z int64) bool {
	k := portKey{client: hostAddr(addr[flows.FromClient]), server: addr[flows.FromServer]}
	acc := b.ports[k]
	if acc == nil {
		if len(b.ports) >= maxSummaryPorts {
			return false
		}
		acc = seriesAcc{}
		b.ports[k] = acc
	}
	acc.interval(a, z)
	return true
}

// boundKnobs are the knobs whose bounds the summary intersects per host.
var boundKnobs = []string{SysFinTimeout, SysOrphanRetries, SysRetries2}

// bound files bounds into their hosts' intersections.
func (b *summaryBuilder) bound(bs []Bound) {
	for _, x := range bs {
		if !slices.Contains(boundKnobs, x.Sysctl) {
			continue
		}
		host, err := netip.ParseAddr(x.Host)
		if err != nil {
			continue
		}
		if h := b.host(host); h != nil {
			h.bounds = intersectBound(h.bounds, HostBound{Bound: x, Flows: 1})
		}
	}
}

// intersectBound adds x to the host's bounds: the same knob, effect and
// assumption intersect.
func intersectBound(bs []HostBound, x HostBound) []HostBound {
	i := slices.IndexFunc(bs, func(h HostBound) bool {
		return h.Sysctl == x.Sysctl && h.Of == x.Of && h.Assumes == x.Assumes
	})
	if i < 0 {
		x.Above, x.Below = clonePtr(x.Above), clonePtr(x.Below)
		return append(bs, x)
	}
	h := &bs[i]
	if x.Above != nil && (h.Above == nil || *x.Above > *h.Above) {
		h.Above = ptr(*x.Above)
	}
	if x.Below != nil && (h.Below == nil || *x.Below < *h.Below) {
		h.Below = ptr(*x.Below)
	}
	h.Flows += x.Flows
	return bs
}

func clonePtr(p *float64) *float64 {
	if p == nil {
		return nil
	}
	return ptr(*p)
}

// Summary returns the summary of the flows added so far.
func (b *summaryBuilder) Summary() *Summary {
	s := b.s
	s.CloseKinds, s.FinalStates, s.Diagnoses = cloneMap(s.CloseKinds), cloneMap(s.FinalStates), cloneMap(s.Diagnoses)
	s.Hosts, s.Ports = nil, nil
	for host, h := range b.hosts {
		hl := HostLoad{Host: host.String(), Series: HostSeries{
			TimeWait: h.tw.series(), CloseWait: h.cw.series(), Orphans: h.orphans.series(),
			OrphanResets: h.resets.series(), CloseResets: h.closeResets.series(),
		}}
		for _, x := range h.bounds {
			hl.Bounds = intersectBound(hl.Bounds, x)
		}
		hl.PathIdle = slices.Clone(h.pathIdle)
		hl.LastSent = h.lastSent
		if h.ttl.Flows > 0 {
			t := h.ttl
			hl.TTL = &t
		}
		if h.refused.Count > 0 {
			r := h.refused
			hl.Refused = &r
		}
		hl.TimeWait.Limit, hl.TimeWait.LimitFrom = b.limit(host, SysMaxTwBuckets, defaultMaxTwBuckets)
		hl.Orphans.Limit, hl.Orphans.LimitFrom = b.limit(host, SysMaxOrphans, defaultMaxOrphans)
		s.Hosts = append(s.Hosts, hl)
	}
	for k, acc := range b.ports {
		p := PortLoad{Client: k.client.String(), Server: k.server.String(), Series: acc.series()}
		p.TimeWait.Limit, p.TimeWait.LimitFrom = b.portRange(k.client)
		s.Ports = append(s.Ports, p)
	}
	s.IdleCloses = slices.Clone(s.IdleCloses)
	s.Untranslated = slices.Clone(s.Untranslated)
	s.ConnectDelays = slices.Clone(s.ConnectDelays)
	s.LostSockets = slices.Clone(s.LostSockets)
	s.Probes = slices.Clone(s.Probes)
	s.NotLinux = nil
	for k, n := range b.stacks {
		s.NotLinux = append(s.NotLinux, HostStack{Host: k.host.String(), OS: k.os, Flows: n})
	}
	s.CloseWaits = nil
	for _, c := range b.cw {
		cc := *c
		cc.Hosts = slices.Clone(c.Hosts)
		s.CloseWaits = append(s.CloseWaits, cc)
	}
	s.FinRetransmissions = cloneHistogram(s.FinRetransmissions)
	s.ReuseGaps = cloneHistogram(s.ReuseGaps)
	s.ClientRTT = cloneHistogram(s.ClientRTT)
	s.ServerRTT = cloneHistogram(s.ServerRTT)
	durs := map[string]*Histogram{}
	for k, h := range s.CloseDurations {
		durs[k] = cloneHistogram(h)
	}
	s.CloseDurations = durs
	s.derive()
	return &s
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneHistogram(h *Histogram) *Histogram {
	if h == nil {
		return nil
	}
	c := *h
	c.Buckets = slices.Clone(h.Buckets)
	return &c
}

// limit is a host's setting of key, or the default.
func (b *summaryBuilder) limit(host netip.Addr, key string, def int64) (int64, string) {
	if b.sys.forAddr(host) {
		if v, ok := b.sys.Int(key); ok {
			return v, b.sys.source()
		}
	}
	return def, "default"
}

// portRange is the number of ephemeral ports of a client address.
func (b *summaryBuilder) portRange(host netip.Addr) (int64, string) {
	if b.sys.forAddr(host) {
		if v, ok := b.sys.Ints(SysLocalPortRange); ok && len(v) == 2 && v[1] >= v[0] {
			return v[1] - v[0] + 1, b.sys.source()
		}
	}
	return defaultPortRangeHi - defaultPortRangeLo + 1, "default"
}

// Merge adds o, the summary of another shard of the same capture (split
// by 4-tuple or by time), to s; peaks, quantiles and findings are read
// again from the merged counts. Hosts beyond the cap are left out of the
// merge and counted in UntrackedFlows.
func (s *Summary) Merge(o *Summary) {
	if o == nil {
		return
	}
	s.Flows += o.Flows
	s.Evicted += o.Evicted
	s.Forgotten += o.Forgotten
	s.Duplicates += o.Duplicates
	s.DuplicateGaps = s.DuplicateGaps.merge(o.DuplicateGaps)
	s.NATCopies += o.NATCopies
	s.NotLinux = mergeStacks(s.NotLinux, o.NotLinux)
	s.IdleCloses = mergeIdleCloses(s.IdleCloses, o.IdleCloses)
	s.Untranslated = mergeUntranslated(s.Untranslated, o.Untranslated)
	s.ConnectDelays = mergeConnectDelays(s.ConnectDelays, o.ConnectDelays)
	s.LostSockets = mergeLostSockets(s.LostSockets, o.LostSockets)
	s.Probes = mergeProbes(s.Probes, o.Probes)
	s.UnmatchedICMP = s.UnmatchedICMP.merge(o.UnmatchedICMP)
	s.UntrackedFlows += o.UntrackedFlows
	addCounts(&s.CloseKinds, o.CloseKinds)
	addCounts(&s.FinalStates, o.FinalStates)
	addCounts(&s.Diagnoses, o.Diagnoses)
	s.FinRetransmissions = mergeHistogram(s.FinRetransmissions, o.FinRetransmissions)
	s.ReuseGaps = mergeHistogram(s.ReuseGaps, o.ReuseGaps)
	s.ClientRTT = mergeHistogram(s.ClientRTT, o.ClientRTT)
	s.ServerRTT = mergeHistogram(s.ServerRTT, o.ServerRTT)
	if len(o.CloseDurations) > 0 && s.CloseDurations == nil {
		s.CloseDurations = map[string]*Histogram{}
	}
	for k, h := range o.CloseDurations {
		s.CloseDurations[k] = mergeHistogram(s.CloseDurations[k], h)
	}
	for _, oh := range o.Hosts {
		i := indexOrAdd(&s.Hosts, maxSummaryHosts, func(h HostLoad) bool { return h.Host == oh.Host },
			HostLoad{Host: oh.Host, TimeWait: oh.TimeWait, Orphans: oh.Orphans})
		if i < 0 {
			s.UntrackedFlows++
			continue
		}
		h := &s.Hosts[i]
		h.Series.TimeWait = mergeSeries(h.Series.TimeWait, oh.Series.TimeWait)
		h.Series.CloseWait = mergeSeries(h.Series.CloseWait, oh.Series.CloseWait)
		h.Series.Orphans = mergeSeries(h.Series.Orphans, oh.Series.Orphans)
		h.Series.OrphanResets = mergeSeries(h.Series.OrphanResets, oh.Series.OrphanResets)
		h.Series.CloseResets = mergeSeries(h.Series.CloseResets, oh.Series.CloseResets)
		for _, x := range oh.Bounds {
			h.Bounds = intersectBound(h.Bounds, x)
		}
		for _, x := range oh.PathIdle {
			h.PathIdle = mergePathIdle(h.PathIdle, x)
		}
		h.LastSent = max(h.LastSent, oh.LastSent)
		if oh.TTL != nil {
			h.TTL = mergedCopy(h.TTL, *oh.TTL)
		}
		if oh.Refused != nil {
			h.Refused = mergedCopy(h.Refused, *oh.Refused)
		}
		mergeLimit(&h.TimeWait, oh.TimeWait)
		mergeLimit(&h.Orphans, oh.Orphans)
	}
	for _, op := range o.Ports {
		i := indexOrAdd(&s.Ports, maxSummaryPorts, func(p PortLoad) bool { return p.Client == op.Client && p.Server == op.Server },
			PortLoad{Client: op.Client, Server: op.Server, TimeWait: op.TimeWait})
		if i < 0 {
			s.UntrackedFlows++
			continue
		}
		s.Ports[i].Series = mergeSeries(s.Ports[i].Series, op.Series)
		mergeLimit(&s.Ports[i].TimeWait, op.TimeWait)
	}
	for _, oc := range o.CloseWaits {
		i := indexOrAdd(&s.CloseWaits, maxSummaryCloseWaits, func(c CloseWaitLoad) bool {
			return c.Holder == oc.Holder && c.Server == oc.Server
		}, CloseWaitLoad{Holder: oc.Holder, Server: oc.Server})
		if i < 0 {
			s.UntrackedFlows += oc.Flows
			continue
		}
		s.CloseWaits[i].merge(oc)
	}
	s.derive()
}

// mergedCopy returns a new value holding *dst (the zero value when nil)
// with o merged into it; *dst is left as it was.
func mergedCopy[T any, P interface {
	*T
	merge(T)
}](dst *T, o T) *T {
	var t T
	if dst != nil {
		t = *dst
	}
	P(&t).merge(o)
	return &t
}

// addCounts adds src's counts to *dst.
func addCounts(dst *map[string]int, src map[string]int) {
	if *dst == nil {
		*dst = map[string]int{}
	}
	for k, v := range src {
		(*dst)[k] += v
	}
}

// indexOrAdd returns the index of the entry of *list that same accepts,
// appending fresh when there is none and the list is under its cap; -1
// past the cap.
func indexOrAdd[T any](list *[]T, capacity int, same func(T) bool, fresh T) int {
	if i := slices.IndexFunc(*list, same); i >= 0 {
		return i
	}
	if len(*list) >= capacity {
		return -1
	}
	*list = append(*list, fresh)
	return len(*list) - 1
}

// mergeLimit keeps a limit read from settings over a default one, and
// either over none (LimitFrom ""; a limit of 0 from settings is one).
func mergeLimit(p *Peak, o Peak) {
	if p.LimitFrom == "" || (p.LimitFrom == "default" && o.LimitFrom != "default" && o.LimitFrom != "") {
		p.Limit, p.LimitFrom = o.Limit, o.LimitFrom
	}
}

func mergeHistogram(h, o *Histogram) *Histogram {
	if o == nil {
		return h
	}
	if h == nil {
		h = newHistogram(o.Unit)
	}
	h.merge(o)
	return h
}

// derive reads the peaks, quantiles, bound descriptions and findings
// from the mergeable counts, and puts everything in a stable order.
func (s *Summary) derive() {
	slices.SortFunc(s.IdleCloses, func(a, b IdleCloseLoad) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), compareAddr(a.Server, b.Server), strings.Compare(string(a.Closer), string(b.Closer)))
	})
	slices.SortFunc(s.ConnectDelays, func(a, b ConnectDelayLoad) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), compareAddr(a.Server, b.Server))
	})
	slices.SortFunc(s.Probes, func(a, b ProbeLoad) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), compareAddr(a.Host, b.Host))
	})
	slices.SortFunc(s.LostSockets, func(a, b LostSocketLoad) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), compareAddr(a.Host, b.Host), strings.Compare(string(a.Side), string(b.Side)))
	})
	slices.SortFunc(s.Untranslated, func(a, b UntranslatedLoad) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), compareAddr(a.Service, b.Service), compareAddr(a.From, b.From))
	})
	slices.SortFunc(s.NotLinux, func(a, b HostStack) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), compareAddr(a.Host, b.Host), strings.Compare(a.OS, b.OS))
	})
	slices.SortFunc(s.Hosts, func(a, b HostLoad) int { return compareAddr(a.Host, b.Host) })
	slices.SortFunc(s.Ports, func(a, b PortLoad) int {
		if c := compareAddr(a.Client, b.Client); c != 0 {
			return c
		}
		return strings.Compare(a.Server, b.Server)
	})
	for i := range s.CloseWaits {
		if len(s.CloseWaits[i].Hosts) == 0 {
			s.CloseWaits[i].Hosts = nil
		}
	}
	slices.SortFunc(s.CloseWaits, func(a, b CloseWaitLoad) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), cmp.Compare(b.Longest, a.Longest), strings.Compare(string(a.Holder), string(b.Holder)),
			strings.Compare(a.Server, b.Server))
	})
	s.FinRetransmissions.derive()
	s.ReuseGaps.derive()
	s.ClientRTT.derive()
	s.ServerRTT.derive()
	for _, h := range s.CloseDurations {
		h.derive()
	}
	s.Findings = nil
	for i := range s.Hosts {
		h := &s.Hosts[i]
		h.TimeWait.read(h.Series.TimeWait)
		h.CloseWait.read(h.Series.CloseWait)
		h.Orphans.read(h.Series.Orphans)
		h.OrphanResets.read(h.Series.OrphanResets)
		h.CloseResets.read(h.Series.CloseResets)
		slices.SortFunc(h.Bounds, func(a, b HostBound) int {
			return cmp.Or(strings.Compare(a.Sysctl, b.Sysctl), strings.Compare(a.Of, b.Of), strings.Compare(a.Assumes, b.Assumes))
		})
		for j := range h.Bounds {
			h.Bounds[j].Values = describeBound(h.Bounds[j].Bound)
		}
		s.Findings = append(s.Findings, hostFindings(h)...)
	}
	for _, l := range s.LostSockets {
		if f, ok := lostSocketsFinding(l); ok {
			s.Findings = append(s.Findings, f)
		}
	}
	for _, l := range s.Probes {
		if f, ok := probesFinding(l); ok {
			s.Findings = append(s.Findings, f)
		}
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		p.TimeWait.read(p.Series)
		if f, ok := portFinding(p); ok {
			s.Findings = append(s.Findings, f)
		}
	}
}

// compareAddr orders addresses numerically, text that is not an address
// last.
func compareAddr(a, b string) int {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return x.Compare(y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// describeBound says which settings fit a bound, in words.
func describeBound(b Bound) string {
	switch b.Of {
	case OfBudget:
		orphan := b.Sysctl == SysOrphanRetries
		above, below := 0.0, 0.0
		if b.Above != nil {
			above = *b.Above
		}
		if b.Below != nil {
			below = *b.Below
		}
		ns := retriesFitting(above, below, orphan)
		if len(ns) == 0 && b.Above != nil && b.Below != nil {
			return noBudgetFits(above, below)
		}
		return describeRetries(ns, b.Below == nil, orphan)
	case OfLifetime:
		return describeLifetime(b.Above, b.Below)
	}
	return ""
}

// noBudgetFits says why no retries value gives a budget above above and
// at most below seconds, the intersection of a host's flows' bounds
// (KERNEL.md §b): the flows contradict each other, or the budget falls
// between two that the model's 200 ms RTO gives.
func noBudgetFits(above, below float64) string {
	if above >= below {
		return fmt.Sprintf("no value (one flow's socket retransmitted for more than %s and another's gave up within %s: the sockets differ — TCP_USER_TIMEOUT, a route rto_min, or shutdown() under tcp_retries2 beside close() under tcp_orphan_retries)",
			FormatSeconds(above), FormatSeconds(below))
	}
	return fmt.Sprintf("no value (the flows put the budget above %s and within %s, between those of two counts with the 200 ms minimum RTO: a higher RTO — a route rto_min, tcp_rto_min_us — or TCP_USER_TIMEOUT)",
		FormatSeconds(above), FormatSeconds(below))
}

// describeLifetime says which tcp_fin_timeout values give an orphaned
// FIN_WAIT2 a lifetime of at least above and under below seconds.
func describeLifetime(above, below *float64) string {
	switch {
	case above == nil && below == nil:
		return "any value"
	case above == nil:
		return describeLifetimeBelow(*below)
	}
	a := *above
	if below == nil {
		if a > 60 {
			return fmt.Sprintf("at least %s s", trimFloat(60+a/2))
		}
		return fmt.Sprintf("at least %s, but not between 60 and %s s, where an orphaned FIN_WAIT2 lives only 2·(t−60) s", FormatSeconds(a), trimFloat(60+a/2))
	}
	z := *below
	if a >= z {
		return fmt.Sprintf("no value (an orphaned FIN_WAIT2 outlived %s on one flow and expired within %s on another: TCP_LINGER2 differs between sockets, or a full tcp_max_tw_buckets dropped some)", FormatSeconds(a), FormatSeconds(z))
	}
	var parts []string
	if a <= 60 {
		parts = append(parts, fmt.Sprintf("%s to under %s", FormatSeconds(a), FormatSeconds(min(z, 60))))
	}
	if lo, hi := 60+a/2, 60+z/2; hi > max(lo, 60) {
		parts = append(parts, fmt.Sprintf("%s to under %s s (above 60 s an orphaned FIN_WAIT2 lives 2·(t−60) s)", trimFloat(max(lo, 60)), trimFloat(hi)))
	}
	return strings.Join(parts, ", or ")
}

// sideOf returns f's side r.
func sideOf(f *Flow, r Role) *Side {
	switch r {
	case Client:
		return f.Sides.Client
	case Server:
		return f.Sides.Server
	}
	return nil
}

// flowAddrs returns f's client and server addresses: those the builder
// left in w, or, for a flow built otherwise, those f's text gives (the
// zero AddrPort for text that is no address).
func flowAddrs(f *Flow, w *WireFacts) [2]netip.AddrPort {
	if w != nil && w.built() {
		return w.addr
	}
	var a [2]netip.AddrPort
	a[flows.FromClient], _ = netip.ParseAddrPort(f.Client)
	a[flows.FromServer], _ = netip.ParseAddrPort(f.Server)
	return a
}

// built reports whether the builder left its addresses and durations in
// w.
func (w *WireFacts) built() bool { return w.addr[flows.FromClient].IsValid() }

// hostAddr is the IP address of a side's address, as the summary keys
// hosts: an IPv4-mapped IPv6 address is the IPv4 one.
func hostAddr(a netip.AddrPort) netip.Addr { return a.Addr().Unmap() }

// sideAddr is the IP address of side r, the zero Addr for no side.
func sideAddr(addr *[2]netip.AddrPort, r Role) netip.Addr {
	switch r {
	case Client:
		return hostAddr(addr[flows.FromClient])
	case Server:
		return hostAddr(addr[flows.FromServer])
	}
	return netip.Addr{}
}

// hostText is a host's address as text, "" for the zero Addr.
func hostText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// hostOf is the IP address of f's side r, "" for no side.
func hostOf(f *Flow, r Role) string {
	var a string
	switch r {
	case Client:
		a = f.Client
	case Server:
		a = f.Server
	default:
		return ""
	}
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().String()
}

// orphanStates are the states an orphan (a socket the application has
// closed) can be in.
var orphanStates = []State{FinWait1, FinWait2, Closing, LastAck}

// eachCloseState calls fn for each interval [a, z) (nanoseconds) side r
// of f spent in TIME_WAIT, CLOSE_WAIT or an orphan state. A final
// TIME_WAIT lasts 60 s after the peer's FIN that last (re)started it even
// past the end of the capture; a side known to have only shut down is no
// orphan. durs, when not nil, holds what side x's Durations map does.
func eachCloseState(f *Flow, x int, durs *durations, fn func(st State, a, z int64)) {
	r := sideRole(x)
	sd := sideOf(f, r)
	shutdown := f.Close.HalfClose != nil && f.Close.HalfClose.Sender != r && f.Close.HalfClose.ActiveUsed == ActiveUsedShutdown
	for i, e := range sd.States {
		if e.State != TimeWait && e.State != CloseWait && !slices.Contains(orphanStates, e.State) {
			continue
		}
		if shutdown && (e.State == FinWait1 || e.State == FinWait2) {
			continue
		}
		a := int64(e.At)
		var z int64
		switch {
		case i+1 < len(sd.States):
			z = int64(sd.States[i+1].At)
		case e.State == TimeWait && sd.OpenEnded:
			z = max(a, lastPeerFIN(f, r)) + TimeWaitLen
		case durs != nil:
			z = a + int64(durs.get(x, e.State)*1e9)
		default:
			z = a + int64(sd.Durations[e.State.String()]*1e9)
		}
		if z > a {
			fn(e.State, a, z)
		}
	}
}

// lastPeerFIN is the time of the latest FIN transmission of r's peer.
func lastPeerFIN(f *Flow, r Role) int64 {
	var t int64
	for _, e := range f.Events {
		if e.From != r && (e.Note == NoteFIN || e.Note == NoteFINRetransmission || e.Note == NoteFINTLP) {
			t = max(t, int64(e.At))
		}
	}
	return t
}

// eventTime is the time of f's event at frame, or of its last frame.
func eventTime(f *Flow, frame uint64) int64 {
	for _, e := range f.Events {
		if e.Frame == frame {
			return int64(e.At)
		}
	}
	return int64(f.End)
}

// pathIdle is the PathIdle entry flow f's silence gives (see
// WireFacts.Silence).
func (w *WireFacts) pathIdle(f *Flow) PathIdle {
	ct := ctStates[w.SilenceState]
	p := PathIdle{State: ct.name, Sysctl: ct.sysctl}
	silence := math.Round(float64(w.Silence)*1e3) / 1e3 // float32's digits, in ms
	has := func(code string) bool {
		return slices.ContainsFunc(f.Diagnoses, func(d Diagnosis) bool { return d.Code == code && d.Sysctl != "" })
	}
	switch {
	case has(CodeNoAnswerAfterIdle):
		p.Drops, p.DropAfter, p.DropAt = 1, silence, f.End-Time(math.Round(float64(w.SilenceEnd)*1e6)*1e3)
		p.FirstDrop = p.DropAt
	case has(CodeRstMiddlebox):
		p.Resets, p.ResetAfter, p.ResetAt = 1, silence, Time(eventTime(f, f.Close.Reset.Frame))
	default:
		p.Survived, p.SurvivedStart = silence, f.Start
	}
	return p
}

// mergePathIdle folds x into the entry of its state in list, kept in the
// order of conntrack's states.
func mergePathIdle(list []PathIdle, x PathIdle) []PathIdle {
	i := slices.IndexFunc(list, func(p PathIdle) bool { return p.State == x.State })
	if i < 0 {
		list = append(list, PathIdle{State: x.State, Sysctl: x.Sysctl})
		slices.SortFunc(list, func(a, b PathIdle) int { return cmp.Compare(ctOrder(a.State), ctOrder(b.State)) })
		i = slices.IndexFunc(list, func(p PathIdle) bool { return p.State == x.State })
	}
	list[i].merge(x)
	return list
}
