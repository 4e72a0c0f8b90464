//go:build linux

package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// burstDelay is socket-lost-burst's one-way delay between the client and
// the server (the router's): the client's three segments are all on
// their way before the first RST reaches it.
const burstDelay = 20 * time.Millisecond

// socketLostBurst is socket-lost where the capture is at the server and
// the client is a round trip away: the client's next request is three
// segments in flight when its socket is gone, and the server's kernel
// answers each with a bare [R] as it arrives, so the client's later
// segments come after the first RST on the wire.
func socketLostBurst() *scenario {
	var wrote [2]time.Time // the client's first and last write
	return &scenario{
		name: "socket-lost-burst",
		summary: "as socket-lost with the client 40 ms away and the capture at the server: the client's next request " +
			"is three segments in flight, each met by a bare [R], the first RST before the client's second segment",
		desc: "A Linux router joins the two ends and holds every packet it forwards for 20 ms (NFQUEUE, as in " +
			"path-delay). The client sends a 100-byte request and the server answers 100 bytes, which the client reads. " +
			"Then the server's socket vanishes without a trace on the wire, as in socket-lost (an iptables OUTPUT rule " +
			"drops the RST, ss -K destroys the socket, the rule is removed; the server application keeps its descriptor). " +
			"The client, with TCP_NODELAY, then writes 100 bytes three times at once: three segments, all sent before the " +
			"first RST can reach it. At the server each meets no socket, and the kernel's reply path answers each with a " +
			"bare [R] (seq = the segment's ack, no timestamps, IP ID 0) as it arrives, so the capture shows the client's " +
			"second and third segments after the first RST; the client's read() fails with ECONNRESET. Default sysctls; " +
			"captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		delay:   burstDelay,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.setInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			e.sleep(100 * time.Millisecond)
			before := e.lostCount()
			killed := e.loseServerSocket(s)
			mid := e.lostCount()
			wrote[0] = time.Now()
			for range 3 {
				c.write(100)
			}
			wrote[1] = time.Now()
			c.readReset(time.Second)
			failed := time.Now()
			c.close()
			e.quiet(2 * time.Second)
			after := e.lostCount()
			s.close()
			if e.failed() != nil {
				return
			}
			if wrote[1].Sub(wrote[0]) >= burstDelay {
				e.fail(fmt.Errorf("%w: the client's three writes took %v, want them all before a round trip", errRetry, wrote[1].Sub(wrote[0])))
			}
			// As socket-lost's, with one reply [R] for each segment.
			moves := e.lostAbortMoves(before, mid, after, 3)
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes,
				fmt.Sprintf("ss -K in the server's namespace destroyed one socket (%s); the server's OUTPUT rule dropped 1 "+
					"RST, the abort's [R.].", killed),
				moves,
				fmt.Sprintf("The client's three write() calls took %.3f ms; its blocking read(), called after them, failed "+
					"with ECONNRESET %.1f ms after the first.", float64(wrote[1].Sub(wrote[0]))/1e6, float64(failed.Sub(wrote[0]))/1e6))
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			in := c.fl.inc
			if in.rst == nil {
				return c.failf("no RST").err()
			}
			var data, rsts, afterFirst []*frame
			for _, f := range in.frames {
				switch {
				case in.role(f) == rs && f.has(fRST):
					rsts = append(rsts, f)
				case in.role(f) == rc && f.len > 0 && f.no > in.rst.no:
					afterFirst = append(afterFirst, f)
					data = append(data, f)
				case in.role(f) == rc && f.len > 0:
					data = append(data, f)
				}
			}
			// The request and the three segments of the burst.
			if len(data) != 4 || len(rsts) != 3 {
				return c.failf("%d client data segments and %d server RSTs, want 4 and 3", len(data), len(rsts)).err()
			}
			for i, r := range rsts {
				d := data[i+1]
				if r.flags != fRST || r.seq != d.ack || r.ts || r.ipid != 0 || r.no < d.no || d.len != 100 || d.seq != data[i].seq+data[i].len {
					c.failf("%v is not the bare [R] answering %v", r, d)
				}
			}
			if len(afterFirst) == 0 {
				return fmt.Errorf("%w: the client's segments all came before the first RST: the burst did not interleave", errRetry)
			}
			return checkLost(&lostFrames{c: c, rst: rsts[0]}, "")
		},
	}
}
