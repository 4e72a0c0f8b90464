package analyze

import (
	"fmt"

	"github.com/teardown/teardown/flows"
)

// Capture caveats: what the capture did not see, so that a reader knows
// how far to trust a flow.

// captureStartedMidFlow: no SYN and no SYN-ACK: the connection was set up
// before the capture began.
func captureStartedMidFlow(c *ruleCtx) {
	cl, sv := &c.conn().Dir[flows.FromClient], &c.conn().Dir[flows.FromServer]
	if cl.SYNCount > 0 || sv.SYNCount > 0 {
		return
	}
	c.add(CodeCaptureStartedMidFlow, noSide, "", "start the capture before the connections open", []uint64{c.f.FirstFrame},
		"the capture began after this connection was set up (no SYN or SYN-ACK before frame %d): the roles are inferred (the well-known or lower port is taken as the server) and nothing before that frame is known", c.f.FirstFrame)
}

// captureEndedMidClose: one side's FIN, sent once and never
// acknowledged, or acknowledged while the peer never closed, and no RST:
// the capture (or the flow table) stopped before the close finished.
func captureEndedMidClose(c *ruleCtx) {
	s := c.s
	end := s.conn.End
	if s.rst != nil || s.sides[0].fin == s.sides[1].fin || (end != flows.EndOfCapture && end != flows.EndEvicted) {
		return
	}
	x := flows.FromClient
	if s.sides[1].fin {
		x = flows.FromServer
	}
	sx := s.sides[x]
	if sx.finCount > 1 && !sx.peerAckedAt.Seen() {
		return // fin-never-acked tells this one
	}
	last, what := sx.finFirst, "its FIN"
	var state string
	if sx.peerAckedAt.Seen() {
		last, what = sx.peerAckedAt, "the acknowledgement"
		state = fmt.Sprintf("the %s's FIN (frame %d) was acknowledged (frame %d) but the %s had not closed yet", c.name(x), sx.finFirst.Frame, last.Frame, c.name(1-x))
	} else {
		state = fmt.Sprintf("the %s's FIN (frame %d) was neither acknowledged nor retransmitted yet", c.name(x), last.Frame)
	}
	stop := captureEnd(last.Time, s.end, what)
	if end == flows.EndEvicted {
		stop = "the flow table evicted the connection (--max-flows)"
	}
	c.add(CodeCaptureEndedMidClose, noSide, "", "capture until the closes finish (60 s past the last FIN covers TIME_WAIT)", markFrames(sx.finFirst, sx.peerAckedAt),
		"%s when %s: the last states are where the close stood then, not where it ended", state, stop)
}

// missingAdvice is how to get a capture without the gaps.
const missingAdvice = "capture on one of the hosts, with a larger buffer (tcpdump -B) and a filter on the connections of interest"

// captureMissingPackets: a side acknowledged sequence space the capture
// never saw from its peer (an ACK of unseen data, or of a FIN that is not
// in the capture): segments are missing.
func captureMissingPackets(c *ruleCtx) {
	for x := range 2 {
		hx, hy := &c.conn().Dir[x], &c.conn().Dir[1-x]
		if !hx.AckSeen {
			continue
		}
		if !hy.SeqSeen {
			// Only an acknowledged handshake proves the peer sent
			// something: an idle peer sends nothing either.
			if hx.SYNCount > 0 {
				c.add(CodeCaptureMissingPackets, noSide, "", missingAdvice, markFrames(hx.MaxAckAt),
					"the capture holds no segment from the %s, though the %s acknowledged its SYN-ACK (frame %d): one direction is missing (asymmetric routing, or a filter), so the %s's states are inferred",
					c.name(1-x), c.name(x), hx.MaxAckAt.Frame, c.name(1-x))
				return
			}
			continue
		}
		if !flows.SeqLess(hy.End, hx.MaxAck) {
			continue
		}
		what := fmt.Sprintf("%d bytes", flows.SeqDiff(hy.End, hx.MaxAck))
		if c.s.sides[1-x].finInferred {
			what = "a FIN"
		}
		c.add(CodeCaptureMissingPackets, noSide, "", missingAdvice, markFrames(hx.MaxAckAt),
			"the %s acknowledged %s from the %s that the capture never saw (frame %d): segments are missing (capture drops, or a second path), so the states around them are inferred",
			c.name(x), what, c.name(1-x), hx.MaxAckAt.Frame)
		return
	}
}
