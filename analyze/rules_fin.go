package analyze

import (
	"fmt"
	"strings"

	"github.com/teardown/teardown/flows"
)

// Rules about a side's FIN: retransmitted, never acknowledged, held back
// by the peer's zero window (KERNEL.md rows 1, 8, §b).

// finSeries is side x's FIN transmissions as the capture shows them.
type finSeries struct {
	marks []flows.Mark // the kept transmissions, first first
	count int          // every transmission
	tlp   bool         // the first retransmission was a tail-loss probe
	last  flows.Mark   // the latest transmission
	// steady is set when ICMP errors undid the backoff (RFC 6069): the
	// retransmissions kept the pace of the last gap.
	steady bool
}

func (c *ruleCtx) finSeries(x int) finSeries {
	sx := c.s.sides[x]
	return finSeries{marks: sx.fins, count: sx.finCount, tlp: sx.tlp, last: c.conn().Dir[x].FinLast}
}

// rto1 is the first RTO retransmission: the budget of KERNEL.md §b counts
// from it.
func (f finSeries) rto1() (flows.Mark, bool) {
	i := 1
	if f.tlp {
		i = 2
	}
	if i >= len(f.marks) {
		return flows.Mark{}, false
	}
	return f.marks[i], true
}

// nextDue estimates when the retransmission after the latest was due:
// RTO backoff doubles the last gap, up to rto_max (or keeps it, when
// steady). ok is false when the gap is unknown (the kept list was cut
// short).
func (f finSeries) nextDue() (int64, bool) {
	n := len(f.marks)
	if n < 2 || f.count != n {
		return 0, false
	}
	gap := f.marks[n-1].Time - f.marks[n-2].Time
	if !f.steady {
		gap *= 2
	}
	gap = min(gap, int64(rtoMax*1e9))
	return f.marks[n-1].Time + gap, true
}

// copies renders the transmissions as offsets from the first:
// "+211.6ms (tail-loss probe), +424.0ms, +847.6ms".
func (f finSeries) copies() string {
	const show = 8
	var b []string
	for i, m := range f.marks[1:] {
		if i == show {
			b = append(b, "…")
			break
		}
		s := "+" + dur(f.marks[0].Time, m.Time)
		if i == 0 && f.tlp {
			s += " as a tail-loss probe"
		}
		b = append(b, s)
	}
	if f.count > len(f.marks) {
		b = append(b, fmt.Sprintf("+%s as the %s", dur(f.marks[0].Time, f.last.Time), ordinal(f.count)))
	}
	return strings.Join(b, ", ")
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// frames lists the transmissions' frames.
func (f finSeries) frames() []uint64 {
	out := markFrames(f.marks...)
	if f.count > len(f.marks) && f.last.Seen() {
		out = append(out, f.last.Frame)
	}
	return out
}

// retryKnob says which sysctl bounds side x's retransmissions: the
// orphan's tcp_orphan_retries unless the capture proves the side only
// shut down (it acknowledged the peer's data after its FIN), and a
// clause saying what the capture shows.
func (c *ruleCtx) retryKnob(x int) (sysctl, why string) {
	if hc := c.f.Close.HalfClose; hc != nil && hc.Sender == sideRole(1-x) {
		switch hc.ActiveUsed {
		case ActiveUsedShutdown:
			return SysRetries2, fmt.Sprintf("the %s only shut down its sending side (it acknowledged the %s's data after its FIN), so tcp_retries2 bounds it, not tcp_orphan_retries", c.name(x), c.name(1-x))
		case ActiveUsedClose:
			return SysOrphanRetries, fmt.Sprintf("the %s had close()d (it reset the %s's data after its FIN): an orphan, bounded by tcp_orphan_retries", c.name(x), c.name(1-x))
		}
	}
	return SysOrphanRetries, "tcp_orphan_retries bounds it if the application had close()d, tcp_retries2 if it only shut down: the wire cannot tell which"
}

// finBudgetBound is the lower bound a retransmission series puts on the
// side's retry budget: at its latest copy the budget, counted from the
// first RTO retransmission, had not run out.
func (c *ruleCtx) finBudgetBound(x int, f finSeries, sysctl string) (Bound, bool) {
	r1, ok := f.rto1()
	if !ok || f.last.Time <= r1.Time {
		return Bound{}, false
	}
	return Bound{Host: c.host(x), Sysctl: sysctl, Of: OfBudget, Above: ptr(secs(f.last.Time - r1.Time))}, true
}

// finRetransmitted: a side's FIN went out more than once and was
// acknowledged (KERNEL.md row 1, §b).
func finRetransmitted(c *ruleCtx) {
	for x := range 2 {
		sx := c.s.sides[x]
		if !sx.fin || sx.finInferred || sx.finCount < 2 || !sx.peerAckedAt.Seen() {
			continue
		}
		f := c.finSeries(x)
		sysctl, why := c.retryKnob(x)
		ack, dsack := sx.peerAckedAt, sx.dsack
		frames, advice := append(f.frames(), ack.Frame), "leave; look for loss between the hosts (the FIN got through)"
		var how string
		switch {
		case ack.Frame < f.last.Frame:
			how = fmt.Sprintf("though the %s acknowledged it at frame %d, %s after the first: the acknowledgements were lost on the way back", c.name(1-x), ack.Frame, dur(f.marks[0].Time, ack.Time))
			if dsack.Seen() {
				how += fmt.Sprintf(" (its D-SACK at frame %d reports the FIN received twice)", dsack.Frame)
			}
		case dsack.Seen():
			// Two copies arrived: with two sent, both; with more, one
			// before the latest at least.
			arrived, needless, lost := "the first copy had arrived, so the retransmission was needless", "its acknowledgement was", "it"
			if f.count > 2 {
				arrived, needless, lost = "a copy before the latest had arrived, so the last retransmission at least was needless", "an acknowledgement of the "+c.name(1-x)+"'s was", "one"
			}
			how = fmt.Sprintf("before the %s acknowledged it at frame %d, %s after the first; but the %s's D-SACK at frame %d reports the FIN received twice: %s — %s lost on the way back, or %s came later than the retransmission timer",
				c.name(1-x), ack.Frame, dur(f.marks[0].Time, ack.Time), c.name(1-x), dsack.Frame, arrived, needless, lost)
			advice = fmt.Sprintf("leave; look for loss on the path from the %s to the %s (the FIN got through, its acknowledgement did not)", c.name(1-x), c.name(x))
		default:
			how = fmt.Sprintf("before the %s acknowledged it at frame %d, %s after the first", c.name(1-x), ack.Frame, dur(f.marks[0].Time, ack.Time))
		}
		if dsack.Seen() {
			frames = append(frames, dsack.Frame)
		}
		d := c.add(CodeFinRetransmitted, x, sysctl, advice, frames,
			"%s FIN sent %s (%s) %s; %s", c.name(x), times(f.count), f.copies(), how, why)
		if b, ok := c.finBudgetBound(x, f, sysctl); ok {
			d.Bounds = append(d.Bounds, b)
		}
	}
}

// finNeverAcked: a side's FIN went out more than once, was never
// acknowledged, and its retransmissions stopped without a RST: the
// socket gave up silently once its retry budget ran out (KERNEL.md row 1,
// §b). The budget is inverted into the values of the sysctl that fit.
func finNeverAcked(c *ruleCtx) {
	if c.s.rst != nil {
		return
	}
	for x := range 2 {
		sx := c.s.sides[x]
		if !sx.fin || sx.finInferred || sx.finCount < 2 || sx.peerAckedAt.Seen() {
			continue
		}
		orphan := c.finNeverAckedBy(x)
		c.withICMP(&c.out[len(c.out)-1], x, sx.finFirst.Frame-1, !orphan)
	}
}

// finNeverAckedBy adds finNeverAcked's diagnosis of side x and reports
// whether the side was taken for an orphan.
func (c *ruleCtx) finNeverAckedBy(x int) (orphan bool) {
	f := c.finSeries(x)
	sysctl, why := c.retryKnob(x)
	orphan = sysctl == SysOrphanRetries
	knob := strings.TrimPrefix(sysctl, "net.ipv4.")
	first := f.marks[0]
	head := fmt.Sprintf("%s FIN sent %s over %s (%s) and never acknowledged", c.name(x), times(f.count), dur(first.Time, f.last.Time), f.copies())
	advice := "leave (lower it to free orphans sooner); find what drops the FIN"
	if c.revertingICMP(x, first.Frame-1) {
		// Each net or host unreachable undid a step of the backoff: the
		// next copy was due one gap after the last, not two.
		f.steady = true
		head += " (the ICMP errors its copies drew undid the retransmission backoff: the copies kept a steady pace)"
	}
	r1, ok := f.rto1()
	if !ok {
		c.add(CodeFinNeverAcked, x, sysctl, advice, f.frames(),
			"%s; after the tail-loss probe no RTO retransmission followed, though the first one always goes out: the capture missed the rest, or something else destroyed the socket", head)
		return orphan
	}
	above := secs(f.last.Time - r1.Time)
	due, known := f.nextDue()
	d := c.add(CodeFinNeverAcked, x, sysctl, advice, f.frames(), "%s", head)
	b := Bound{Host: c.host(x), Sysctl: sysctl, Of: OfBudget, Above: ptr(above)}
	if !known {
		d.Message += fmt.Sprintf("; its budget outlasted %s from the first RTO retransmission, which fits %s %s; %s",
			FormatSeconds(above), knob, describeRetries(retriesFitting(above, 0, orphan), true, orphan), why)
		d.Bounds = append(d.Bounds, b)
		return orphan
	}
	below := secs(due - r1.Time)
	fit := describeRetries(retriesFitting(above, below, orphan), false, orphan)
	alt := describeRetries(retriesFitting(above, below, !orphan), false, !orphan)
	b.Below = ptr(below)
	other := "a socket that only shut down would need tcp_retries2 " + alt + " (the default 15 allows 924.6s)"
	if !orphan {
		other = "an orphan would need tcp_orphan_retries " + alt
	}
	if c.s.end >= due {
		d.Message += fmt.Sprintf(", and no copy came when the next was due (+%s): the socket gave up silently, its budget %s–%s from the first RTO retransmission, which fits %s %s; %s",
			dur(first.Time, due), FormatSeconds(above), FormatSeconds(below), knob, fit, other)
	} else {
		b.Assumes = "the socket gave up when its next retransmission was due, after the capture ended"
		d.Message += fmt.Sprintf("; %s, before the next copy was due (+%s): if the socket gave up then (silently, as orphans do), its budget was %s–%s from the first RTO retransmission, which fits %s %s (the capture alone shows %s); %s",
			captureEnd(f.last.Time, c.s.end, "the last copy"), dur(first.Time, due), FormatSeconds(above), FormatSeconds(below), knob, fit,
			describeRetries(retriesFitting(above, 0, orphan), true, orphan), other)
	}
	d.Bounds = append(d.Bounds, b)
	return orphan
}

// zeroWindowHold is the minimum time a peer's zero window must have held
// a side's data for its FIN to count as held back.
const zeroWindowHold = 500e6

// finBlockedZeroWindow: the peer's zero window held a side's data, and so
// its FIN, back: FIN_WAIT1 kept alive by the persist timer (KERNEL.md row
// 8, (d)14).
func finBlockedZeroWindow(c *ruleCtx) {
sides:
	for x := range 2 {
		sx := c.s.sides[x]
		p := &c.conn().Dir[1-x]
		eps := zeroWindows(p)
		n := len(eps)
		for i := range eps {
			z := &eps[i]
			switch {
			case sx.fin && !sx.finInferred:
				// Held: the episode began before the FIN, lasted long
				// enough, and the FIN left within a second of it ending.
				if !(z.Start.Frame < sx.finFirst.Frame && z.End.Seen() && z.End.Frame <= sx.finFirst.Frame &&
					z.End.Time-z.Start.Time >= zeroWindowHold && sx.finFirst.Time-z.End.Time <= 1e9) {
					continue
				}
				c.add(CodeFinBlockedZeroWindow, x, SysOrphanRetries, "leave; make the receiver read (its window stayed full)",
					markFrames(z.Start, z.End, sx.finFirst),
					"the %s's zero window (frames %d–%d, %s, %d probes into it) held the %s's data and FIN back: the FIN left at frame %d, %s after the window opened; while it waits the closer sits in FIN_WAIT1 on the persist timer, an orphan (if close()d) bounded by tcp_orphan_retries (about 340 s with a peer that answers probes) and counted against tcp_max_orphans",
					c.name(1-x), z.Start.Frame, z.End.Frame, dur(z.Start.Time, z.End.Time), z.Probes, c.name(x), sx.finFirst.Frame, dur(z.End.Time, sx.finFirst.Time))
				continue sides
			case !sx.fin && i == n-1 && p.ZeroWindowOpen && z.Probes > 0 && c.s.end-z.Start.Time >= zeroWindowHold:
				// Still closed at the end, probes going: if the
				// application has closed, its FIN waits behind the data.
				c.add(CodeFinBlockedZeroWindow, x, SysOrphanRetries, "leave; make the receiver read (its window stayed full)",
					markFrames(z.Start),
					"the %s's window has been zero since frame %d (%s to the end of the capture, %d probes into it) and the %s sent no FIN: if its application has close()d, the FIN waits behind the unsent data in FIN_WAIT1 — an orphan there gives up after about 340 s of answered probes (tcp_orphan_retries, counted against tcp_max_orphans), a socket still open probes for ever",
					c.name(1-x), z.Start.Frame, dur(z.Start.Time, c.s.end), z.Probes, c.name(x))
				continue sides
			}
		}
	}
}
