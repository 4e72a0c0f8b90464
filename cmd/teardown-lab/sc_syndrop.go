//go:build linux

package main

import (
	"fmt"
	"os"
	"time"

	"github.com/teardown/teardown/analyze"
)

// synDropCounters are the server's counters of a listener that drops a
// SYN (nstat names): tcp_conn_request() counts ListenOverflows when the
// accept queue is full, and every drop in ListenDrops (tcp_listendrop);
// the others would move had SYN cookies or a full SYN queue been
// involved.
var synDropCounters = []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtSyncookiesSent",
	"TcpExtTCPReqQFullDoCookies", "TcpExtTCPReqQFullDrop"}

// synDropAfter is how long after the second connection's SYN the server
// accept()s the first.
const synDropAfter = 300 * time.Millisecond

func synDroppedAcceptQueue() *scenario {
	return &scenario{
		name: "syn-dropped-accept-queue",
		summary: "listen() backlog 0, accept queue full: a second client's SYN is dropped and its retransmission, " +
			"1 s later, is answered once the server has accept()ed the first; connect() took 1 s longer",
		desc: "The server listens with backlog 0 (one connection may wait in the accept queue) and does not accept() " +
			"at first. A first connection completes its handshake and fills the accept queue (ss -ltn: Recv-Q 1). " +
			"50 ms later the client connects again: with the accept queue full the server's kernel drops the SYN " +
			"(tcp_conn_request: ListenOverflows, ListenDrops), with no SYN-ACK and no RST. 300 ms after that SYN " +
			"the server accept()s the first connection, which carries a 100-byte request and a 100-byte response and " +
			"closes, client first. The client's SYN retransmission, 1 s after its first SYN (the initial RTO), finds " +
			"room and is answered with a SYN-ACK at once; the server accept()s that connection too, 100 bytes go " +
			"each way and the client closes first. Default sysctls: net.ipv4.tcp_syncookies at its default 1 sends no " +
			"cookie, the SYN queue not being full (with 2, cookies always, the SYN is dropped the same way while the " +
			"accept queue is full, and the other two SYNs are answered with cookies). Captured at the client.",
		vantage:  vantageClient,
		framing:  frameEthernet,
		synRetry: true,
		run: func(e *env) {
			ln := e.listenBacklog(0)
			cnt0 := e.nstat(sideServer, synDropCounters...)
			c1 := e.dial(0)
			e.acceptQueue(ln, 1)
			cnt1 := e.nstat(sideServer, synDropCounters...)
			e.sleep(50 * time.Millisecond)
			var c2, s1 *sock
			var cnt2 map[string]int64
			var took time.Duration
			start := time.Now()
			together(func() {
				c2 = e.dial(0)
				took = time.Since(start)
			}, func() {
				e.until(time.Second, "the server to drop the second connection's SYN", func() (bool, error) {
					n := e.nstat(sideServer, "TcpExtListenDrops")
					return n["TcpExtListenDrops"] > cnt1["TcpExtListenDrops"], nil
				})
				cnt2 = e.nstat(sideServer, synDropCounters...)
				e.sleep(time.Until(start.Add(synDropAfter)))
				s1 = ln.accept()
				c1.write(100)
				s1.read(100)
				s1.write(100)
				c1.read(100)
				c1.close()
				passiveClose(e, s1, 150*time.Millisecond)
			})
			e.acceptQueue(ln, 1)
			s2 := ln.accept()
			c2.write(100)
			s2.read(100)
			s2.write(100)
			c2.read(100)
			c2.close()
			passiveClose(e, s2, 150*time.Millisecond)
			e.quiet(5 * time.Second)
			cnt3 := e.nstat(sideServer, synDropCounters...)
			if e.failed() != nil {
				return
			}
			d := func(a, b map[string]int64) map[string]int64 {
				m := map[string]int64{}
				for _, k := range synDropCounters {
					m[k] = b[k] - a[k]
				}
				return m
			}
			first, drop, rest := d(cnt0, cnt1), d(cnt1, cnt2), d(cnt2, cnt3)
			fmt.Fprintf(os.Stderr, "teardown-lab: connect() of the second connection took %v; server counters: "+
				"first connection %v, second SYN %v, after it %v\n", took.Round(time.Millisecond), first, drop, rest)
			zero := func(m map[string]int64) bool {
				for _, v := range m {
					if v != 0 {
						return false
					}
				}
				return true
			}
			if !zero(first) || !zero(rest) || drop["TcpExtListenOverflows"] != 1 || drop["TcpExtListenDrops"] != 1 ||
				drop["TcpExtSyncookiesSent"] != 0 || drop["TcpExtTCPReqQFullDoCookies"] != 0 || drop["TcpExtTCPReqQFullDrop"] != 0 {
				e.fail(fmt.Errorf("%w: the server's counters moved by %v over the first connection, %v over the "+
					"second one's SYN and %v after it; want ListenOverflows and ListenDrops +1 at the SYN alone",
					errRetry, first, drop, rest))
				return
			}
			if took < 900*time.Millisecond || took > 1300*time.Millisecond {
				e.fail(fmt.Errorf("%w: the second connect() took %v, want about 1 s", errRetry, took))
				return
			}
			e.notes = append(e.notes, fmt.Sprintf("Counted (nstat, the server's namespace): over the first "+
				"connection's handshake no counter of %v moved; between the second connection's connect() and "+
				"the accept() of the first, TcpExtListenOverflows +1 and TcpExtListenDrops +1 (%d and %d after), with "+
				"TcpExtSyncookiesSent, TcpExtTCPReqQFullDoCookies and TcpExtTCPReqQFullDrop +0: the accept queue "+
				"was full, the SYN queue was not, and no SYN cookie was sent. From then to the end nothing moved. "+
				"The second connect() returned %d ms after it was called.",
				synDropCounters, cnt2["TcpExtListenOverflows"], cnt2["TcpExtListenDrops"], took.Milliseconds()))
		},
		check:     checkSynDroppedAcceptQueue,
		wireNotes: synDroppedAcceptQueueNotes,
	}
}

// synTx are the client's transmissions of its first SYN (its ISN).
func (in *incarnation) synTx() []*frame {
	var tx []*frame
	for _, f := range in.frames {
		if in.syn != nil && f.src == in.client && f.has(fSYN) && !f.has(fACK) && f.seq == in.syn.seq {
			tx = append(tx, f)
		}
	}
	return tx
}

func checkSynDroppedAcceptQueue(w *wire) error {
	cs, err := w.flows(2)
	if err != nil {
		return err
	}
	for _, c := range cs {
		c.handshake(analyze.HandshakeComplete).kind(analyze.FourWay).initiator(analyze.Client).reset("", "").
			fins(rc, 1, 1).fins(rs, 1, 1).states(rc, activeStates...).states(rs, passiveStates...)
	}
	// The first connection is plain; the second one's SYN was answered
	// only when sent again, by the listener that had dropped it.
	cs[0].diags()
	cs[1].diags(analyze.CodeSynRetransmitted).diagSide(analyze.CodeSynRetransmitted, "server")
	a, b := cs[0].fl.inc, cs[1].fl.inc
	if n := a.synCount(); n != 1 {
		cs[0].failf("the client sent its SYN %d times, want once", n)
	}
	if n := b.synAckCount(); n != 1 {
		cs[1].failf("the server sent its SYN-ACK %d times, want once", n)
	}
	syns := b.synTx()
	if len(syns) != 2 || a.hsAck == nil || b.synack == nil {
		cs[1].failf("%d SYN transmissions, want 2", len(syns))
		return checkAll(cs...)
	}
	if g := syns[0].t - a.hsAck.t; g < int64(30*time.Millisecond) || g > int64(200*time.Millisecond) {
		cs[1].failf("the first SYN came %d ms after the first connection's handshake ACK, want about 50", g/1e6)
	}
	if g := syns[1].t - syns[0].t; g < int64(900*time.Millisecond) || g > int64(1300*time.Millisecond) {
		cs[1].failf("the SYN was sent again %d ms after the first, want about 1000 (the initial RTO)", g/1e6)
	}
	for _, f := range b.frames {
		if f.src == b.server && f.no < syns[1].no {
			cs[1].failf("the server answered the first SYN: %v", f)
		}
	}
	if sa := b.synack; sa.no < syns[1].no || sa.t-syns[1].t > int64(50*time.Millisecond) {
		cs[1].failf("the SYN-ACK, %v, does not answer the retransmitted SYN at once", sa)
	}
	// The first connection's request goes out once the server accept()ed
	// it, about 300 ms after the second SYN.
	for _, f := range a.frames {
		if f.src == a.client && f.len > 0 {
			if g := f.t - syns[0].t; g < int64(synDropAfter-50*time.Millisecond) || f.t > syns[1].t {
				cs[0].failf("the first request came %d ms after the second connection's SYN, want about %d, before its retransmission",
					g/1e6, synDropAfter.Milliseconds())
			}
			break
		}
	}
	return checkAll(cs...)
}

// synDroppedAcceptQueueNotes gives the second connection's SYNs and the
// answer as the wire shows them.
func synDroppedAcceptQueueNotes(w *wire) []string {
	a, b := w.truth.Flows[0].inc, w.truth.Flows[1].inc
	syns := b.synTx()
	var req *frame
	for _, f := range a.frames {
		if f.src == a.client && f.len > 0 {
			req = f
			break
		}
	}
	ms := func(x, y *frame) float64 { return float64(y.t-x.t) / 1e6 }
	return []string{fmt.Sprintf("On the wire: the first connection's handshake ACK is frame %d; the second connection's "+
		"SYN, frame %d, %.1f ms later, is not answered; the first connection's request (frame %d) leaves %.1f ms after "+
		"that SYN, once the server accept()ed it; the SYN goes out again with the same ISN (%d) as frame %d, %.1f ms "+
		"after the first, and the SYN-ACK, frame %d, answers it %.3f ms later. The truth stamps the server's SYN_RECV "+
		"at frame %d, the last SYN before the SYN-ACK.",
		a.hsAck.no, syns[0].no, ms(a.hsAck, syns[0]), req.no, ms(syns[0], req), syns[0].seq, syns[1].no,
		ms(syns[0], syns[1]), b.synack.no, ms(syns[1], b.synack), w.truth.Flows[1].Sides.Server.States[0].Frame)}
}
