package analyze

import (
	"fmt"

	"github.com/teardown/teardown/flows"
)

// Rules about how the close states ended: orphan resets, FIN_WAIT2
// timeouts, TCP_LINGER2 < 0, a TIME_WAIT that was not there, a long
// CLOSE_WAIT (KERNEL.md rows 2, 3, 4, 9, 12, 20).

// closeWaitIdle is how long a side may sit in CLOSE_WAIT without sending
// before its application counts as not closing.
const closeWaitIdle = 1e9

// orphanReset: a full socket reset its own connection right after its
// FIN, or in place of a FIN retransmission: tcp_check_oom() found too
// many orphans or too little TCP memory (KERNEL.md row 2).
func orphanReset(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseOrphanLimit)
	if !ok {
		return
	}
	sx := c.s.sides[x]
	f := c.finSeries(x)
	which := "too many orphans (tcp_max_orphans) or too little TCP memory (tcp_mem); the capture cannot tell which"
	frames := append(f.frames(), r.ev.Frame)
	if f.count <= 1 {
		c.add(CodeOrphanReset, x, SysMaxOrphans, "raise it (and tcp_mem), or find what piles up orphans", frames,
			"the %s sent its FIN (frame %d) and %s later a RST+ACK from the same socket (frame %d): the kernel reset the new orphan at close() for %s",
			c.name(x), sx.finFirst.Frame, dur(sx.finFirst.Time, r.ev.Time), r.ev.Frame, which)
		return
	}
	c.add(CodeOrphanReset, x, SysMaxOrphans, "raise it (and tcp_mem), or find what piles up orphans", frames,
		"the %s sent its FIN %s (%s), then a RST+ACK from the same socket where the next retransmission was due (frame %d, +%s): the kernel reset the orphan at a retransmission timeout for %s",
		c.name(x), times(f.count), f.copies(), r.ev.Frame, dur(f.marks[0].Time, r.ev.Time), which)
}

// finWait2Timeout: the closer's orphaned FIN_WAIT2 ran out before the
// peer's FIN came, which a reply-RST answered (KERNEL.md row 3), or the
// socket reset the connection itself when its FIN_WAIT2 time ran out
// (row 20). A late FIN inside the 3.5 RTO floor cannot be a timeout: the
// FIN_WAIT2 was never kept (row 12).
func finWait2Timeout(c *ruleCtx) {
	r, x, fw2, ok := c.resetFrom(CauseFinWait2Timeout, FinWait2)
	if !ok {
		return
	}
	hy := &c.conn().Dir[1-x]
	advice := "leave; make the peer close() sooner (raising it only hides the late close)"
	if c.s.activeReset(r.ev) {
		c.add(CodeFinWait2Timeout, x, SysFinTimeout, advice, markFrames(flows.Mark{Frame: fw2.Frame}, r.ev.Mark()),
			"the %s reset the connection from a live socket (frame %d) %s after entering FIN_WAIT2 (frame %d): its orphaned FIN_WAIT2 ran out on the keepalive-timer path, so tcp_fin_timeout (or TCP_LINGER2) is about %s",
			c.name(x), r.ev.Frame, dur(int64(fw2.At), r.ev.Time), fw2.Frame, dur(int64(fw2.At), r.ev.Time))
		return
	}
	if !hy.FinSeen || hy.FinFirst.Frame > r.ev.Frame {
		return
	}
	late := hy.FinFirst
	g := secs(late.Time - int64(fw2.At))
	frames := markFrames(flows.Mark{Frame: fw2.Frame}, late, r.ev.Mark())
	if g <= finTimeoutFloor {
		c.add(CodeTimeWaitMissing, x, SysMaxTwBuckets, "raise it", frames,
			"the %s answered the %s's FIN (frame %d) with a RST from no socket only %s after its own FIN was acknowledged (frame %d), inside the %s floor under any tcp_fin_timeout: its FIN_WAIT2 was never kept — the timewait table was full (tcp_max_tw_buckets)",
			c.name(x), c.name(1-x), late.Frame, FormatSeconds(g), fw2.Frame, FormatSeconds(finTimeoutFloor))
		return
	}
	d := c.add(CodeFinWait2Timeout, x, SysFinTimeout, advice, frames,
		"the %s's orphaned FIN_WAIT2 expired: the %s's FIN came %s after the %s's FIN was acknowledged (frame %d → %d) and met no socket, so a RST answered it (frame %d); tcp_fin_timeout (or TCP_LINGER2) on the %s is %s (a full tcp_max_tw_buckets, which drops the FIN_WAIT2 at once, would look the same)",
		c.name(x), c.name(1-x), FormatSeconds(g), c.name(x), fw2.Frame, late.Frame, r.ev.Frame, c.name(x), describeLifetimeBelow(g))
	d.Bounds = append(d.Bounds, Bound{Host: c.host(x), Sysctl: SysFinTimeout, Of: OfLifetime, Below: ptr(g)})
}

// linger2Negative: the closer reset the connection as soon as its FIN was
// acknowledged: TCP_LINGER2 < 0 (KERNEL.md row 4).
func linger2Negative(c *ruleCtx) {
	r, x, ok := c.resetWith(CauseLinger2Negative)
	if !ok {
		return
	}
	ack := c.s.sides[x].finAckedAt
	c.add(CodeLinger2Negative, x, OptLinger2, "set TCP_LINGER2 ≥ 0 unless the abort is intended",
		markFrames(c.s.sides[x].finFirst, ack, r.ev.Mark()),
		"the %s answered the %s's acknowledgement of its FIN (frame %d) with a RST %s later (frame %d) instead of waiting in FIN_WAIT2: TCP_LINGER2 < 0 on its socket makes an orphan skip FIN_WAIT2, and anything the %s still sends is lost",
		c.name(x), c.name(1-x), ack.Frame, dur(ack.Time, r.ev.Time), r.ev.Frame, c.name(1-x))
}

// timeWaitMissing: a side that had acknowledged the peer's FIN as a
// TIME_WAIT does answered the peer's next segment with a reply-RST: no
// TIME_WAIT was kept (KERNEL.md row 12, (d)6).
func timeWaitMissing(c *ruleCtx) {
	r, x, tw, ok := c.resetFrom(CauseTimeWaitMissing, TimeWait)
	if !ok {
		return
	}
	what := "segment"
	var trigger *flows.Event
	for i := range c.conn().Events {
		e := &c.conn().Events[i]
		if e.Frame >= r.ev.Frame {
			break
		}
		if int(e.Dir) == 1-x {
			trigger = e
		}
	}
	frames := []uint64{tw.Frame}
	if trigger != nil {
		frames = append(frames, trigger.Frame)
		switch {
		case trigger.Flags&flows.FIN != 0:
			what = "retransmitted FIN"
		case trigger.Len > 0:
			what = "data"
		default:
			what = "ACK"
		}
	}
	frames = append(frames, r.ev.Frame)
	c.add(CodeTimeWaitMissing, x, SysMaxTwBuckets, "raise it", frames,
		"the %s answered the %s's %s with a RST from no socket (frame %d) %s after it had acknowledged the %s's FIN as a TIME_WAIT does (frame %d): its TIME_WAIT was never kept — the timewait table was full (tcp_max_tw_buckets; TcpExtTCPTimeWaitOverflow counts it, no log line does)",
		c.name(x), c.name(1-x), what, r.ev.Frame, dur(int64(tw.At), r.ev.Time), c.name(1-x), tw.Frame)
}

// closeWaitLong: a side acknowledged the peer's FIN and then sent
// nothing for a long time before closing (or to the end of the capture):
// its application did not close() when read() returned 0. No kernel
// timer ends CLOSE_WAIT (KERNEL.md row 9).
func closeWaitLong(c *ruleCtx) {
	for x := range 2 {
		cw, i, ok := c.stateAt(x, CloseWait)
		if !ok {
			continue
		}
		from := int64(cw.At)
		var lastData uint64 // the frame of its last data after the FIN, if any
		if a := &c.conn().Dir[x].AfterPeerFIN; a.Segments > 0 && a.Last.Frame > cw.Frame && a.Last.Time > from {
			from, lastData = a.Last.Time, a.Last.Frame
		}
		end, open := c.stateEnd(x, i)
		if end-from < closeWaitIdle {
			continue
		}
		after := ""
		if lastData != 0 {
			after = fmt.Sprintf(" after its last data (frame %d)", lastData)
		}
		frames := []uint64{cw.Frame}
		var how string
		switch next := c.s.run[x].states; {
		case open:
			how = fmt.Sprintf("had still not closed when the capture ended, %s%s later", dur(from, end), after)
		case next[i+1].Via == "rst":
			frames = append(frames, next[i+1].Frame)
			how = fmt.Sprintf("was still in CLOSE_WAIT when a RST ended the connection (frame %d), %s%s later", next[i+1].Frame, dur(from, end), after)
		default:
			frames = append(frames, next[i+1].Frame)
			how = fmt.Sprintf("sent its own FIN only at frame %d, %s%s later", next[i+1].Frame, dur(from, end), after)
		}
		c.add(CodeCloseWaitLong, x, "", "leave the sysctls; make the application close() when read() returns 0", frames,
			"the %s received the %s's FIN (frame %d) and %s: its application did not close() when read() returned 0 (no sysctl ends CLOSE_WAIT)",
			c.name(x), c.name(1-x), cw.Frame, how)
	}
}
