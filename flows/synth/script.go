package synth

import (
	"math"

	"github.com/teardown/teardown/flows"
)

// scenario is how a background connection closes.
type scenario uint8

const (
	scClientClose scenario = iota
	scServerClose
	scThreeWay
	scSimultaneous
	scHalfClose
	scFinRetransmit
	scFinNeverAcked
	scCloseWait
	scReset
	scRejected
	scOpen
	numScenarios
)

// Sides of a connection, as indices.
const (
	cli = 0
	srv = 1
)

var sideNames = [2]string{cli: SideClient, srv: SideServer}

// TCP flags, in the header's bit order.
const (
	fFIN = flows.FIN
	fSYN = flows.SYN
	fRST = flows.RST
	fPSH = flows.PSH
	fACK = flows.ACK
)

// Bits of pkt.attr.
const (
	aServer = 1 << iota // sent by the server (else by the client)
	aNoTS               // carries no TCP options at all (a reply-RST)
	aIPID0              // IPv4 ID 0: sent by the kernel's control socket
)

// pkt is one planned segment of a connection.
type pkt struct {
	t            int64 // capture time, ns since the Unix epoch
	seq, ack     uint32
	tsval, tsecr uint32
	plen         uint16
	flags        flows.Flags
	attr         uint8
}

// Time constants, in nanoseconds.
const (
	us = int64(1000)
	ms = 1000 * us
	s  = 1000 * ms

	delackMin = 40 * ms // TCP_DELACK_MIN
	rtoMin    = 200 * ms
)

// outcome is what planning a connection decided, for the truth and for a
// later TIME_WAIT reuse.
type outcome struct {
	kind      string
	initiator string // FIN-based kinds only
	resetBy   string // reset only
	halfClose bool
	finRetx   int // FIN transmissions after the first
	finTLP    bool
	// twHolder is the side left alone in TIME_WAIT (cli or srv), or -1.
	twHolder int
	twEntry  int64  // time of the frame that put twHolder into TIME_WAIT
	holdFin  uint32 // twHolder's FIN sequence number
}

// builder plans the packets of one connection into p. Every side keeps
// its own view (what it sent, the TSval it echoes), and the code below is
// written in each side's causal order; the packets are sorted by time at
// the end.
type builder struct {
	r   *rng
	p   []pkt
	snd [2]uint32 // next sequence number each side sends
	// rx is the TSval each side echoes: that of the latest segment it
	// took in.
	rx    [2]uint32
	tsOff [2]uint32
	// delay is, for each side, the time from a segment passing the
	// capture point to that side's answer passing it.
	delay [2]int64
	rto   int64
	mss   int
	gaps  []int64 // scratch for backoff
}

func (b *builder) ts(d int, t int64) uint32 { return b.tsOff[d] + uint32(t/ms) }

// hear records that side d took in a segment its peer sent at t.
func (b *builder) hear(d int, t int64) { b.rx[d] = b.ts(1-d, t) }

func (b *builder) add(t int64, d int, flags flows.Flags, seq, ack uint32, plen int, attr uint8) {
	p := pkt{t: t, seq: seq, ack: ack, plen: uint16(plen), flags: flags, attr: attr}
	if d == srv {
		p.attr |= aServer
	}
	if attr&aNoTS == 0 {
		p.tsval = b.ts(d, t)
		p.tsecr = b.rx[d]
	}
	b.p = append(b.p, p)
}

// send adds a segment from d with its current sequence and ack numbers
// and advances d's sequence number past it.
func (b *builder) send(t int64, d int, flags flows.Flags, plen int) {
	b.add(t, d, flags, b.snd[d], b.snd[1-d], plen, 0)
	b.snd[d] += uint32(plen)
	if flags&(fSYN|fFIN) != 0 {
		b.snd[d]++
	}
}

// serialization is the wire time of a frame with plen payload bytes at
// 1 Gb/s.
func serialization(plen int) int64 { return int64(plen+78) * 8 }

// handshake plans SYN, SYN-ACK, ACK from t and returns the time of the ACK.
func (b *builder) handshake(syn int64, isn [2]uint32) int64 {
	b.rx = [2]uint32{}
	b.snd = isn
	b.add(syn, cli, fSYN, isn[cli], 0, 0, 0)
	b.snd[cli]++
	b.hear(srv, syn)
	synack := syn + b.delay[srv]
	b.send(synack, srv, fSYN|fACK, 0)
	b.hear(cli, synack)
	ack := synack + b.delay[cli]
	b.send(ack, cli, fACK, 0)
	return ack
}

// burst plans n segments from d, the last one last bytes long, from t on
// in slow-start flights; the peer ACKs every second segment, and the last
// one of a flight when more follow or when ackLast is set. It returns the
// time of the last segment and of the last packet of the burst.
func (b *builder) burst(d int, t int64, n, last int, ackLast bool) (lastSeg, end int64) {
	e := 1 - d
	cwnd := 10
	for sent := 0; sent < n; cwnd *= 2 {
		k := min(cwnd, n-sent)
		var ackT, unacked int64
		for i := range k {
			ln, fl := b.mss, fACK
			if sent+i == n-1 {
				ln, fl = last, fACK|fPSH
			}
			if i%2 == 0 {
				unacked = t
			}
			b.send(t, d, fl, ln)
			lastSeg, end = t, max(end, t)
			if i%2 == 1 || (i == k-1 && (sent+k < n || ackLast)) {
				ackT = t + b.delay[e]
				b.hear(e, unacked)
				b.send(ackT, e, fACK, 0)
				end = max(end, ackT)
			}
			t += serialization(ln)
		}
		sent += k
		if ackT != 0 {
			b.hear(d, ackT)
		}
		t = ackT + b.delay[d]
	}
	return lastSeg, end
}

// exchange plans a request from the client and the server's response from
// t on, and returns the time of its last packet.
func (b *builder) exchange(t int64) int64 {
	r := b.r
	reqSegs, reqLast := 1, 60+r.intn(840)
	if r.chance(0.1) {
		reqSegs = 2 + r.intn(7)
		reqLast = 1 + r.intn(b.mss)
	}
	lastReq, end := b.burst(cli, t, reqSegs, reqLast, false)
	// The server answers after its processing time; a slow one first
	// sends a delayed ACK of the request.
	proc := 20*us + int64(r.exp(float64(ms)))
	if r.chance(0.05) {
		proc = 20*ms + int64(r.exp(float64(100*ms)))
	}
	b.hear(srv, lastReq)
	if reqSegs%2 == 1 && proc > delackMin {
		at := lastReq + b.delay[srv] + delackMin + r.between(0, 4*ms)
		b.send(at, srv, fACK, 0)
		end = max(end, at)
	}
	respSegs := 1
	for respSegs < 64 && r.chance(0.6) {
		respSegs++
	}
	_, respEnd := b.burst(srv, max(lastReq+b.delay[srv]+proc, end+us), respSegs, 1+r.intn(b.mss), true)
	return max(end, respEnd)
}

// fin plans side d's FIN at t and any retransmissions of it at the given
// gaps, and returns the time of the last transmission.
func (b *builder) fin(t int64, d int, gaps []int64) int64 {
	seq := b.snd[d]
	b.send(t, d, fFIN|fACK, 0)
	for _, g := range gaps {
		t += g
		b.add(t, d, fFIN|fACK, seq, b.snd[1-d], 0, 0)
	}
	return t
}

// backoff returns the gaps of n FIN retransmissions in the Linux pattern:
// a tail-loss probe about one RTO after the FIN, the first RTO
// retransmission one RTO after that, then the interval doubling (capped at
// 120 s, TCP_RTO_MAX).
func (b *builder) backoff(n int) []int64 {
	gaps := b.gaps[:0]
	g := b.rto
	for i := range n {
		if i >= 2 {
			g = min(2*g, 120*s)
		}
		gaps = append(gaps, g+b.r.between(0, 4*ms))
	}
	b.gaps = gaps
	return gaps
}

// passiveAck plans the passive side p's ACK of the FIN it took in at fin
// (the delayed ACK of a CLOSE_WAIT socket in pingpong mode, or a quick
// one) and returns its time.
func (b *builder) passiveAck(fin int64, p int) int64 {
	at := fin + b.delay[p] + 5*us
	if b.r.chance(0.7) {
		at += delackMin + b.r.between(0, 4*ms)
	}
	b.hear(p, fin)
	b.send(at, p, fACK, 0)
	return at
}

// finish plans the passive side p's FIN at t and the active side's ACK of
// it, which puts the active side into TIME_WAIT; it fills o and returns.
func (b *builder) finish(t int64, p int, o *outcome) {
	a := 1 - p
	o.holdFin = b.snd[a] - 1
	b.send(t, p, fFIN|fACK, 0)
	at := t + b.delay[a]
	b.hear(a, t)
	b.send(at, a, fACK, 0)
	o.twHolder, o.twEntry = a, at
}

// close plans the close of scenario sc from t, after the data, and
// returns its outcome.
func (b *builder) close(t int64, sc scenario) outcome {
	r := b.r
	o := outcome{twHolder: -1}
	a := cli
	switch sc {
	case scServerClose:
		a = srv
	case scThreeWay, scHalfClose, scFinRetransmit, scFinNeverAcked, scCloseWait, scReset, scSimultaneous:
		if r.chance(0.5) {
			a = srv
		}
	}
	p := 1 - a
	o.initiator = sideNames[a]
	appClose := func() int64 { return 5*us + int64(r.exp(float64(10*ms))) }

	switch sc {
	case scClientClose, scServerClose:
		o.kind = KindFourWay
		b.fin(t, a, nil)
		ack := b.passiveAck(t, p)
		b.finish(ack+appClose(), p, &o)

	case scFinRetransmit:
		o.kind = KindFourWay
		o.finRetx = 1 + r.intn(5)
		o.finTLP = true
		last := b.fin(t, a, b.backoff(o.finRetx))
		ack := b.passiveAck(last, p)
		b.finish(ack+appClose(), p, &o)

	case scThreeWay:
		// The passive application closes within the delayed-ACK time, so
		// its FIN carries the ACK of the active FIN.
		o.kind = KindThreeWay
		b.fin(t, a, nil)
		b.hear(p, t)
		at := t + b.delay[p] + min(appClose(), delackMin-ms)
		b.finish(at, p, &o)

	case scSimultaneous:
		// p sends its FIN before a's has reached it: less than its own
		// reply delay after a's FIN passed the capture point.
		o.kind, o.initiator = KindSimultaneous, SideSimultaneous
		pf := t + 1 + int64(r.float()*0.9*float64(b.delay[p]))
		b.fin(t, a, nil)
		b.add(pf, p, fFIN|fACK, b.snd[p], b.snd[a]-1, 0, 0)
		b.snd[p]++
		// Each ACKs the other's FIN from CLOSING; both end in TIME_WAIT.
		b.hear(p, t)
		b.send(t+b.delay[p], p, fACK, 0)
		b.hear(a, pf)
		b.send(pf+b.delay[a], a, fACK, 0)

	case scHalfClose:
		// a shut down its sending side; p keeps sending, a ACKs the data.
		o.kind, o.halfClose = KindFourWay, true
		b.fin(t, a, nil)
		b.hear(p, t)
		segs := 1 + r.intn(6)
		start := t + b.delay[p] + 20*us + int64(r.exp(float64(2*ms)))
		_, end := b.burst(p, start, segs, 1+r.intn(b.mss), true)
		b.finish(end+appClose(), p, &o)

	case scFinNeverAcked:
		// The orphan retransmits (TLP, then tcp_orphan_retries' worth of
		// RTOs) and gives up without a RST.
		o.kind = KindHalfClosedAtEnd
		o.finRetx = 3 + r.intn(8)
		o.finTLP = true
		b.fin(t, a, b.backoff(o.finRetx))

	case scCloseWait:
		o.kind = KindHalfClosedAtEnd
		b.fin(t, a, nil)
		b.passiveAck(t, p)

	case scReset:
		o.kind, o.initiator, o.resetBy = KindReset, "", sideNames[a]
		b.add(t, a, fRST|fACK, b.snd[a], b.snd[p], 0, 0)

	case scOpen:
		o.kind, o.initiator = KindOpenAtEnd, ""
	}
	return o
}

// plan plans a whole connection of scenario sc starting at t with the
// given ISNs. exchanges and idle shape its data phase.
func (b *builder) plan(t int64, sc scenario, isn [2]uint32, exchanges int, idle float64) outcome {
	if sc == scRejected {
		b.rx = [2]uint32{}
		b.snd = isn
		b.add(t, cli, fSYN, isn[cli], 0, 0, 0)
		b.add(t+b.delay[srv], srv, fRST|fACK, 0, isn[cli]+1, 0, aNoTS|aIPID0)
		return outcome{kind: KindRejected, twHolder: -1}
	}
	t = b.handshake(t, isn) + 3*us + int64(b.r.exp(float64(50*us)))
	for i := range exchanges {
		t = b.exchange(t)
		gap := b.r.exp(idle / float64(exchanges))
		if i < exchanges-1 {
			t += 5*us + int64(gap)
		} else {
			// The server may close first: let it take in the client's
			// last ACK before.
			t += b.delay[srv] + 5*us + int64(math.Min(gap, float64(1000*s)))
		}
	}
	o := b.close(t, sc)
	sortPackets(b.p)
	return o
}

// sortPackets sorts p by time, keeping the planned order of equal times.
// The plans are nearly sorted already, so insertion sort is the fast one.
func sortPackets(p []pkt) {
	for i := 1; i < len(p); i++ {
		x := p[i]
		j := i
		for j > 0 && p[j-1].t > x.t {
			p[j] = p[j-1]
			j--
		}
		p[j] = x
	}
}
