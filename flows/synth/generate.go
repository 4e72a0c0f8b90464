package synth

import (
	"fmt"
	"io"
	"math"
)

// Generate writes the capture cfg describes to w and returns its truth.
// It writes through a buffer of its own and flushes it before returning;
// it does not close w. An error from w ends the capture early and is
// returned with the truth of what was generated.
func Generate(w io.Writer, cfg Config) (Truth, error) {
	c, err := cfg.resolved()
	if err != nil {
		return Truth{}, err
	}
	g := newGen(w, &c)
	err = g.run()
	return g.truth, err
}

// conn is one connection being written, or a pending TIME_WAIT reuse of a
// finished one's 4-tuple.
type conn struct {
	script []pkt
	pos    int

	v6   bool
	addr [2][16]byte // client, server; IPv4 in the first 4 bytes
	port [2]uint16
	ipid [2]uint16
	ttl  [2]uint8
	flow [2]uint32 // IPv6 flow labels
	// tsOff is the TCP timestamp offset of each side: per 4-tuple, so a
	// reuse continues the previous incarnation's TSvals.
	tsOff [2]uint32

	// reuse says the 4-tuple is used again once the script is written:
	// the conn then turns pending and waits in the heap until reuseAt,
	// when it starts again with the holder's ISN fingerprint.
	reuse     bool
	pending   bool
	reuseAt   int64
	holder    int
	holderFin uint32
	reserved  int // packets the pending reuse holds in the budget
}

// gen is one run of Generate.
type gen struct {
	cfg   *Config
	r     rng
	w     *writer
	truth Truth
	b     builder

	conns []conn
	free  []int32
	heap  connHeap

	weights [numScenarios]float64
	wsum    float64

	// Budget of the background traffic.
	tcpTarget int // planned TCP packets at which arrivals stop (Packets mode)
	planned   int // TCP packets planned so far (background)
	admitted  int // background connections started so far

	fresh    uint64 // background 4-tuples handed out
	open     int
	openTime int64 // summed first-to-last-packet times
	meanDur  float64
	durN     float64

	flood conn // scratch for SYN-flood packets
}

func newGen(w io.Writer, c *Config) *gen {
	g := &gen{cfg: c, w: newWriter(w, c), truth: newTruth()}
	g.r.s = uint64(c.Seed)
	g.weights = c.Mix.weights()
	for _, x := range g.weights {
		g.wsum += x
	}
	g.tcpTarget = int(math.Ceil(float64(c.Packets) * (1 - c.NonTCPFraction)))
	g.b.r = &g.r
	g.meanDur = float64(c.Lifetime)
	g.durN = 16 // weight of the prior guess of the mean duration
	return g
}

// budget reports whether another background connection may start.
func (g *gen) budget() bool {
	if g.cfg.Conns > 0 {
		return g.admitted < g.cfg.Conns
	}
	return g.planned < g.tcpTarget
}

func (g *gen) run() error {
	c := g.cfg
	start := c.Start.UnixNano() / us * us
	if err := g.w.fileHeader(); err != nil {
		return err
	}
	arrivals := c.Conns > 0 || c.Packets > 0
	nextArrival := start
	floodLeft, nextFlood := 0, start
	if c.Mode == SynFlood {
		floodLeft = c.Flood
	}
	if c.Mode == FinStorm {
		g.storm(start)
	}
	first := true
	var last int64
	emitted := func(t int64) {
		if first {
			g.truth.Start, first = timeOf(t), false
		}
		last = t
		g.truth.MaxOpen = max(g.truth.MaxOpen, g.open)
	}

	for {
		top := int64(math.MaxInt64)
		if len(g.heap) > 0 {
			top = g.heap[0].t
		}
		if arrivals && nextArrival <= top {
			if !g.budget() {
				arrivals = false
				continue
			}
			g.startFresh(nextArrival)
			nextArrival += 1 + int64(g.r.exp(g.meanDur/float64(c.Concurrency)))
			continue
		}
		if floodLeft > 0 && nextFlood <= top {
			if err := g.floodSYN(nextFlood); err != nil {
				return err
			}
			emitted(nextFlood)
			floodLeft--
			nextFlood += 1 + int64(g.r.exp(float64(s)/c.FloodRate))
			continue
		}
		if len(g.heap) == 0 {
			break
		}
		slot := g.heap[0].slot
		cn := &g.conns[slot]
		if cn.pending {
			cn.pending = false
			g.startReuse(cn)
			g.heap.fixTop(cn.script[0].t)
			continue
		}
		p := &cn.script[cn.pos]
		if err := g.emitTCP(cn, p); err != nil {
			return err
		}
		emitted(p.t)
		if err := g.noise(p.t); err != nil {
			return err
		}
		cn.pos++
		if cn.pos < len(cn.script) {
			g.heap.fixTop(cn.script[cn.pos].t)
			continue
		}
		g.open--
		if cn.reuse {
			cn.reuse, cn.pending = false, true
			g.heap.fixTop(cn.reuseAt)
			continue
		}
		g.heap.pop()
		g.free = append(g.free, slot)
	}
	if !first {
		g.truth.End = timeOf(last)
		if span := last - g.truth.Start.UnixNano(); span > 0 {
			g.truth.MeanOpen = float64(g.openTime) / float64(span)
		}
	}
	g.truth.Tuples = g.truth.Conns - g.truth.Reuses
	if err := g.w.flush(); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// newSlot returns a free conn slot.
func (g *gen) newSlot() int32 {
	if n := len(g.free); n > 0 {
		slot := g.free[n-1]
		g.free = g.free[:n-1]
		return slot
	}
	g.conns = append(g.conns, conn{script: make([]pkt, 0, 32)})
	return int32(len(g.conns) - 1)
}

// Address plan. Every background connection gets its own 4-tuple: the
// n-th one's client is host n mod clientHosts, its port a permutation of
// n / clientHosts over the Linux ephemeral range.
const (
	clientHosts = 4096
	portLo      = 32768
	portRange   = 60999 - portLo + 1
	servers     = 8
)

var serverPorts = [...]uint16{443, 80, 8080, 5432, 6379, 443, 8443, 80}

// setTuple fills c's addresses and ports for the n-th background tuple.
func (g *gen) setTuple(c *conn, n uint64) {
	h, e := n%clientHosts, n/clientHosts
	port := portLo + (e%portRange*7919+h*104729)%portRange
	host := h + e/portRange*clientHosts
	sv := uint64(g.r.intn(servers))
	c.port = [2]uint16{uint16(port), serverPorts[g.r.intn(len(serverPorts))]}
	c.addr = [2][16]byte{}
	if c.v6 {
		c.addr[cli] = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0c}
		be.PutUint64(c.addr[cli][8:], host+1)
		c.addr[srv] = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x05}
		be.PutUint64(c.addr[srv][8:], 10+sv)
	} else {
		be.PutUint32(c.addr[cli][:], 10<<24|uint32(host+1))
		be.PutUint32(c.addr[srv][:], 198<<24|51<<16|100<<8|uint32(10+sv))
	}
}

// setHost draws what belongs to one incarnation: IP IDs, TTLs, flow
// labels.
func (g *gen) setHost(c *conn) {
	c.ipid = [2]uint16{uint16(g.r.u32()), uint16(g.r.u32())}
	c.ttl = [2]uint8{uint8(64 - 1 - g.r.intn(20)), 64}
	c.flow = [2]uint32{g.r.u32() & 0xfffff, g.r.u32() & 0xfffff}
}

// timing draws a round-trip time and sets the builder's delays and RTO.
func (g *gen) timing(v6 bool) {
	rtt := 0.1e6 * math.Pow(500, g.r.float()) // 0.1 ms to 50 ms, log-uniform
	ds := rtt * (0.02 + 0.48*g.r.float())
	g.b.delay = [2]int64{int64(rtt - ds), int64(ds)}
	g.b.rto = rtoMin + int64(rtt) + g.r.between(0, 8*ms)
	g.b.mss = 1448
	if v6 {
		g.b.mss = 1428
	}
}

// pickScenario draws a close scenario from the mix. A reuse of a server's
// TIME_WAIT is never rejected: the SYN is accepted through the TIME_WAIT
// or, with no listener, answered with its old ACK, never with a RST.
func (g *gen) pickScenario(noReject bool) scenario {
	sum := g.wsum
	if noReject {
		sum -= g.weights[scRejected]
		if sum <= 0 {
			return scOpen
		}
	}
	x := g.r.float() * sum
	last := scOpen
	for i, w := range g.weights {
		if w == 0 || (noReject && scenario(i) == scRejected) {
			continue
		}
		if x < w {
			return scenario(i)
		}
		x -= w
		last = scenario(i)
	}
	return last
}

// startFresh starts a background connection on a new 4-tuple at t.
func (g *gen) startFresh(t int64) {
	slot := g.newSlot()
	c := &g.conns[slot]
	c.v6 = g.r.chance(g.cfg.IPv6Fraction)
	g.setTuple(c, g.fresh)
	g.fresh++
	c.tsOff = [2]uint32{g.r.u32(), g.r.u32()}
	g.plan(c, t, [2]uint32{g.r.u32(), g.r.u32()}, false)
	g.heap.push(t, slot)
}

// startReuse starts the pending TIME_WAIT reuse c at c.reuseAt.
func (g *gen) startReuse(c *conn) {
	isn := [2]uint32{g.r.u32(), g.r.u32()}
	isn[c.holder] = c.holderFin + 65538
	g.truth.Reuses++
	g.truth.ReuseByHolder[sideNames[c.holder]]++
	g.planned -= c.reserved
	g.plan(c, c.reuseAt, isn, true)
}

// plan plans a background connection on c's 4-tuple from t, counts it in
// the truth and decides whether its 4-tuple is reused. reuse says c is
// itself a reuse, already in the budget.
func (g *gen) plan(c *conn, t int64, isn [2]uint32, reuse bool) {
	g.setHost(c)
	g.timing(c.v6)
	sc := g.pickScenario(reuse && c.holder == srv)
	exchanges := 1
	for exchanges < 50 && g.r.chance(0.5) {
		exchanges++
	}
	b := &g.b
	b.p, b.tsOff = c.script[:0], c.tsOff
	o := b.plan(t, sc, isn, exchanges, float64(g.cfg.Lifetime))
	c.script, c.pos = b.p, 0
	g.count(o)
	if !reuse {
		g.admitted++
	}
	g.planned += len(c.script)
	g.opened(c.script)

	// A reuse takes its place in the budget now, with the mean packet
	// count of a connection, so that it is always started.
	c.reuse = false
	if o.twHolder >= 0 && g.budget() && g.r.chance(g.cfg.Mix.Reuse) {
		c.reserved = g.planned / g.admitted
		g.admitted++
		g.planned += c.reserved
		var gap int64
		switch {
		case o.twHolder == srv:
			gap = g.r.between(10*ms, 55*s)
		case g.r.chance(0.8): // tcp_tw_reuse, after tcp_tw_reuse_delay
			gap = g.r.between(1050*ms, 55*s)
		default: // an explicit bind(): any gap
			gap = g.r.between(20*ms, 1*s)
		}
		c.reuse, c.reuseAt = true, o.twEntry+gap
		c.holder, c.holderFin = o.twHolder, o.holdFin
	}
}

// opened accounts for a planned script's time on the wire.
func (g *gen) opened(p []pkt) {
	d := p[len(p)-1].t - p[0].t
	g.open++
	g.openTime += d
	g.durN++
	g.meanDur += (float64(d) - g.meanDur) / g.durN
}

func (g *gen) count(o outcome) {
	tr := &g.truth
	tr.Conns++
	tr.ByKind[o.kind]++
	if o.initiator != "" {
		tr.ByInitiator[o.initiator]++
	}
	if o.resetBy != "" {
		tr.ResetBy[o.resetBy]++
	}
	if o.halfClose {
		tr.HalfCloses++
	}
	tr.FinRetransmissions += o.finRetx
	if o.finTLP {
		tr.FinTLPs++
	}
}

// storm starts the FinStorm connection at t: a handshake, one exchange,
// then the client's FIN sent cfg.Storm times, 1 ms apart, never ACKed.
func (g *gen) storm(t int64) {
	slot := g.newSlot()
	c := &g.conns[slot]
	n := g.fresh
	g.fresh++
	g.setTuple(c, n)
	c.tsOff = [2]uint32{g.r.u32(), g.r.u32()}
	g.setHost(c)
	g.timing(false)
	b := &g.b
	b.p, b.tsOff = nil, c.tsOff
	t = b.handshake(t, [2]uint32{g.r.u32(), g.r.u32()})
	t = b.exchange(t+10*us) + 10*ms
	seq := b.snd[cli]
	b.send(t, cli, fFIN|fACK, 0)
	for range g.cfg.Storm - 1 {
		t += ms
		b.add(t, cli, fFIN|fACK, seq, b.snd[srv], 0, 0)
	}
	sortPackets(b.p)
	c.script, c.pos = b.p, 0
	b.p = nil
	g.count(outcome{kind: KindHalfClosedAtEnd, initiator: SideClient, finRetx: g.cfg.Storm - 1})
	g.opened(c.script)
	g.heap.push(c.script[0].t, slot)
}

// floodSYN writes the next SYN of the flood at t: a new spoofed source
// each time, to the first server's port 80.
func (g *gen) floodSYN(t int64) error {
	c := &g.flood
	n := uint64(g.truth.SynOnly)
	c.v6 = g.r.chance(g.cfg.IPv6Fraction)
	c.addr = [2][16]byte{}
	if c.v6 {
		c.addr[cli] = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0f}
		be.PutUint64(c.addr[cli][8:], n+1)
		c.addr[srv] = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x05}
		be.PutUint64(c.addr[srv][8:], 10)
	} else {
		// 100.64.0.0/10: n's low 22 bits, permuted, pick the address;
		// the rest, with a hash of the address, the port.
		low := n & (1<<22 - 1)
		be.PutUint32(c.addr[cli][:], 100<<24|64<<16|uint32(low*2654435761)&(1<<22-1))
		be.PutUint32(c.addr[srv][:], 198<<24|51<<16|100<<8|10)
	}
	c.port = [2]uint16{uint16(1024 + (n>>22+mix64(n&(1<<22-1))%64511)%64511), 80}
	c.ipid = [2]uint16{uint16(g.r.u32()), 0}
	c.ttl = [2]uint8{uint8(40 + g.r.intn(25)), 64}
	c.flow = [2]uint32{g.r.u32() & 0xfffff, 0}
	p := pkt{t: t, seq: g.r.u32(), flags: fSYN, tsval: g.r.u32()}
	g.truth.SynOnly++
	g.truth.Conns++
	g.truth.ByKind[KindOpenAtEnd]++
	return g.emitTCP(c, &p)
}
