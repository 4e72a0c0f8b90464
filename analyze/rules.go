package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/teardown/teardown/flows"
)

// The diagnosis rules. Each reads one flow's close story (the Flow the
// engine built and the story's evidence) and adds at most a few
// diagnoses; KERNEL.md is the source of truth for every one. Rules that
// need other flows or the host's settings run later, when the flow is
// added to the summary (summary.go, sysctl_check.go).

// flowRules is the rule table, in the order the diagnoses are listed.
// Every code has its reference entry in ruleBook (rules_ref.go).
var flowRules = []struct {
	code  string
	check func(c *ruleCtx)
}{
	{CodeFinRetransmitted, finRetransmitted},
	{CodeFinNeverAcked, finNeverAcked},
	{CodeFinBlockedZeroWindow, finBlockedZeroWindow},
	{CodeOrphanReset, orphanReset},
	{CodeFinWait2Timeout, finWait2Timeout},
	{CodeLinger2Negative, linger2Negative},
	{CodeTimeWaitMissing, timeWaitMissing},
	{CodeCloseWaitLong, closeWaitLong},
	{CodeRstUnreadData, rstUnreadData},
	{CodeRstLingerZero, rstLingerZero},
	{CodeRstDataAfterClose, rstDataAfterClose},
	{CodeKeepaliveReset, keepaliveReset},
	{CodeListenOverflow, listenOverflow},
	{CodeAcceptQueueFull, acceptQueueFull},
	{CodeConnectionRefused, connectionRefused},
	{CodeSynRejectedICMP, synRejectedICMP},
	{CodeSynUnanswered, synUnanswered},
	{CodeSynRetransmitted, synRetransmitted},
	{CodeSynAckUnanswered, synAckUnanswered},
	{CodeSynCookie, synCookie},
	{CodeRstMiddlebox, rstMiddlebox},
	{CodeRstNoSocket, rstNoSocket},
	{CodeSynProbe, synProbe},
	{CodeNoAnswerAfterIdle, noAnswerAfterIdle},
	{CodeNATUntranslated, natUntranslatedHere},
	{CodeDataUnanswered, dataUnanswered},
	{CodePMTUBlackHole, pmtuBlackHole},
	{CodeTimeWaitReuse, timeWaitReuse},
	{CodeTimeWaitSynRefused, timeWaitSynRefused},
	{CodeTimeWaitRstIgnored, timeWaitRstIgnored},
	{CodeCaptureStartedMidFlow, captureStartedMidFlow},
	{CodeCaptureEndedMidClose, captureEndedMidClose},
	{CodeCaptureMissingPackets, captureMissingPackets},
}

// runRules applies every flow rule to f, with c for context, and
// leaves in f.Wire (pointed at w) what the capture-wide rules will need.
// The diagnoses it returns are f's own: c keeps none of them.
func runRules(c *ruleCtx, f *Flow, s *story, w *WireFacts) []Diagnosis {
	c.f, c.s, c.out = f, s, c.out[:0]
	for _, r := range flowRules {
		r.check(c)
	}
	c.settleKnobs()
	doubtCapture(f, c.out)
	c.wireFacts(w)
	f.Wire = w
	out := []Diagnosis{}
	if len(c.out) > 0 {
		out = make([]Diagnosis, len(c.out))
		copy(out, c.out)
		clear(c.out)
	}
	c.f, c.s = nil, nil
	return out
}

// ruleCtx is what a rule reads, and where it adds its diagnoses. A
// builder reuses one from flow to flow.
type ruleCtx struct {
	f   *Flow
	s   *story
	out []Diagnosis
}

// noSide marks a diagnosis about the capture rather than a side.
const noSide = -1

// add appends a diagnosis with the severity the rule book gives code and
// returns it for the rule to complete. side is a side index or noSide;
// the frames are sorted.
func (c *ruleCtx) add(code string, side int, sysctl, advice string, frames []uint64, format string, args ...any) *Diagnosis {
	d := bookDiagnosis(code)
	d.Sysctl, d.Message, d.Frames, d.Advice = sysctl, fmt.Sprintf(format, args...), frames, advice
	if d.Frames == nil {
		d.Frames = []uint64{}
	}
	slices.Sort(d.Frames)
	d.Frames = slices.Compact(d.Frames)
	if side != noSide {
		d.Side = sideRole(side)
	}
	c.out = append(c.out, d)
	return &c.out[len(c.out)-1]
}

// Doubts the capture itself raises about a flow's diagnoses (other than
// the capture caveats, which are about it).
const (
	doubtMissing = "the capture missed packets of this connection: a segment it lacks could change the story"
	doubtMidFlow = "the capture began after the connection was set up: what came before is unknown"
	doubtEvicted = "the flow cap evicted the connection before it ended: its later segments were not read with it"
)

// settleKnobs takes the rule book's doubt out of the FIN rules'
// diagnoses of a side the half-close showed to have close()d (an orphan)
// or only shut down: retryKnob named the one knob that bounds it.
func (c *ruleCtx) settleKnobs() {
	hc := c.f.Close.HalfClose
	if hc == nil || hc.ActiveUsed != ActiveUsedShutdown && hc.ActiveUsed != ActiveUsedClose {
		return
	}
	for i := range c.out {
		d := &c.out[i]
		switch d.Code {
		case CodeFinRetransmitted, CodeFinNeverAcked, CodeFinBlockedZeroWindow:
			if d.Side != "" && d.Side != hc.Sender {
				d.settleBook()
			}
		}
	}
}

// bookDiagnosis starts a diagnosis of code with what the rule book
// gives it: its severity (warning for an unknown code) and, for a rule
// with a Doubt, that doubt.
func bookDiagnosis(code string) Diagnosis {
	d := Diagnosis{Code: code, Severity: Warning}
	if r, ok := ruleInfo(code); ok {
		d.Severity = r.Severity
		if r.Doubt != "" {
			d.Doubts = []string{r.Doubt}
		}
	}
	d.grade()
	return d
}

// doubtCapture adds to diagnoses ds of flow f the doubts its capture
// raises: packets missed, a start after the handshake, an early
// eviction. Adding them again changes nothing.
func doubtCapture(f *Flow, ds []Diagnosis) {
	missing := slices.ContainsFunc(ds, func(d Diagnosis) bool { return d.Code == CodeCaptureMissingPackets })
	for i := range ds {
		d := &ds[i]
		if strings.HasPrefix(d.Code, "capture-") {
			continue
		}
		if missing {
			d.doubt(doubtMissing)
		}
		if f.Roles == RolesInferred {
			d.doubt(doubtMidFlow)
		}
		if f.Evicted {
			d.doubt(doubtEvicted)
		}
	}
}

// conn returns the connection's evidence.
func (c *ruleCtx) conn() *flows.Conn { return c.s.conn }

// name is how messages call side x: "client" or "server".
func (c *ruleCtx) name(x int) string { return string(sideRole(x)) }

// addr is side x's IP address.
func (c *ruleCtx) addr(x int) netip.Addr { return c.s.conn.Addr[x].Addr().Unmap() }

// host is side x's IP address as text, as bounds and the summary key it.
func (c *ruleCtx) host(x int) string { return c.addr(x).String() }

// dur renders the time from a to b (nanoseconds) as messages show it.
func dur(a, b int64) string { return FormatSeconds(float64(b-a) / 1e9) }

// secs converts nanoseconds to seconds.
func secs(ns int64) float64 { return float64(ns) / 1e9 }

// markFrames lists the frames of ms, skipping unseen marks.
func markFrames(ms ...flows.Mark) []uint64 {
	out := make([]uint64, 0, len(ms))
	for _, m := range ms {
		if m.Seen() {
			out = append(out, m.Frame)
		}
	}
	return out
}

// frameList renders frames for messages: "frame 8", "frames 8, 9 and 10".
func frameList(frames []uint64) string {
	switch len(frames) {
	case 0:
		return "no frame"
	case 1:
		return fmt.Sprintf("frame %d", frames[0])
	}
	parts := make([]string, len(frames))
	for i, f := range frames {
		parts[i] = fmt.Sprint(f)
	}
	return "frames " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// times renders a count the way messages say it: "once", "twice", "4 times".
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// stateAt returns side x's state entry for st (the first one), if any.
func (c *ruleCtx) stateAt(x int, st State) (StateEntry, int, bool) {
	states := c.s.run[x].states
	for i := range states {
		if states[i].State == st {
			return states[i], i, true
		}
	}
	return StateEntry{}, -1, false
}

// stateEnd is when side x left the state entry at index i: the next
// entry, or the end of observation (open is then set).
func (c *ruleCtx) stateEnd(x, i int) (end int64, open bool) {
	st := c.s.run[x].states
	if i+1 < len(st) {
		return int64(st[i+1].At), false
	}
	return c.s.end, true
}

// resetWith returns the RST that ended the flow when its cause is one of
// causes, and its sender.
func (c *ruleCtx) resetWith(causes ...string) (*rstStory, int, bool) {
	r := c.s.rst
	if r == nil {
		return nil, 0, false
	}
	for _, k := range causes {
		if r.cause == k {
			return r, r.by, true
		}
	}
	return nil, 0, false
}

// captureEnd says how the capture ends relative to what (a segment at
// time at): "the capture ends 2.0s after the last copy", or "the capture
// ends with the last copy" when nothing followed it.
func captureEnd(at, end int64, what string) string {
	if end-at < 1e6 {
		return "the capture ends with " + what
	}
	return fmt.Sprintf("the capture ends %s after %s", dur(at, end), what)
}

// resetFrom returns the RST that ended the flow with cause, its sender,
// and the sender's entry into st.
func (c *ruleCtx) resetFrom(cause string, st State) (*rstStory, int, StateEntry, bool) {
	r, x, ok := c.resetWith(cause)
	if !ok {
		return nil, 0, StateEntry{}, false
	}
	e, _, ok := c.stateAt(x, st)
	return r, x, e, ok
}
