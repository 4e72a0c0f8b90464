//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/teardown/teardown/analyze"
)

// nat-expired-untranslated seen from elsewhere: the same run, rules and
// sysctls, captured inside the router with tcpdump -i any and at the
// server.

// natExpiredAt is nat-expired-untranslated captured at v: inside the
// router (tcpdump -i any) or at the server.
func natExpiredAt(v vantage) *scenario {
	sc := natExpiredUntranslated(false)
	sc.name += "-" + string(v)
	sc.vantage = v
	switch v {
	case vantageRouter:
		sc.framing = frameSLL2
		sc.summary = "nat-expired-untranslated captured with tcpdump -i any in the router: the service address's " +
			"view and the translated one of the connection (nat_pairs), and the untranslated segment and the " +
			"client's [R] on the translated view's 4-tuple, each twice, entering and leaving"
		sc.desc = natExpiredStory(false) + " tcpdump -i any runs in the router's namespace: it records every " +
			"packet twice, as it enters on one veth with its sender's TTL, 64, and as it leaves on the other with " +
			"63, microseconds later. Two flows, one connection (nat_pairs): the service address's view, on the " +
			"client's link, and the translated view, on the server's, with the same sequence numbers. The " +
			"untranslated segment and the client's [R] are translated by nothing: both copies of each are on the " +
			"translated view's 4-tuple (no source NAT, so the client's address and port are the same in both " +
			"views), and the truth drops the second of each as a capture duplicate; that flow has a SYN, so the " +
			"truth names no untranslated segments. Default sysctls at both ends; captured in the router."
		sc.run = func(e *env) {
			natExpiredRun(e)
			noteInterfaces(e)
		}
		sc.check, sc.wireNotes = checkNATExpiredRouter, natExpiredRouterNotes
	case vantageServer:
		sc.summary = "nat-expired-untranslated captured at the server: one flow on the server's own 4-tuple, " +
			"the server's write after the silence answered by the client's bare [R], then the client's write " +
			"answered by the server's [R]"
		sc.desc = natExpiredStory(false) + " One flow, on the server's own 4-tuple: the translation does not " +
			"show there, the untranslated segment is the server's next segment on it, and the client's later " +
			"write arrives DNATed as its earlier segments did. Default sysctls at both ends; captured at the " +
			"server, where the client's segments arrive with TTL 63."
		sc.check, sc.wireNotes = checkNATExpiredServer, natExpiredServerNotes
	default:
		panic("natExpiredAt: no vantage " + string(v))
	}
	sc.notes = nil
	return sc
}

// natExpiredSteps splits a flow of a nat-expired-untranslated capture
// (the frames the truth kept) at the silence: the server's last segment
// before it, every frame after it, and the end of what each side had
// sent before it.
type natExpiredSteps struct {
	before         *frame
	after          []*frame
	cliEnd, srvEnd uint32
}

func natExpiredSplit(in *incarnation) (*natExpiredSteps, error) {
	i := 1
	for i < len(in.frames) && in.frames[i].t-in.frames[i-1].t < 3e9 {
		i++
	}
	if i == len(in.frames) {
		return nil, fmt.Errorf("flow %s-%s: no silence of 3 s", in.client, in.server)
	}
	st := &natExpiredSteps{after: in.frames[i:]}
	var seen [2]bool
	for _, f := range in.frames[:i] {
		end := f.seq + f.len
		if f.has(fSYN) {
			end++
		}
		if in.role(f) == rc {
			st.cliEnd, seen[rc] = end, true
		} else {
			st.srvEnd, seen[rs] = end, true
			st.before = f
		}
	}
	if !seen[rc] || !seen[rs] {
		return nil, fmt.Errorf("flow %s-%s: not both sides before the silence", in.client, in.server)
	}
	return st, nil
}

// natExpiredServerFrames names the frames of a
// nat-expired-untranslated-server capture from the silence on: the
// server's segment, the client's [R], the client's write and the
// server's [R].
type natExpiredServerFrames struct {
	fl                         *flowCheck
	st                         *natExpiredSteps
	untrans, reply, write, rst *frame
}

// natExpiredServerWire finds the frames of natExpiredServerFrames and
// checks what the wire must show of them.
func natExpiredServerWire(w *wire) (*natExpiredServerFrames, error) {
	fl, err := w.one()
	if err != nil {
		return nil, err
	}
	in := fl.fl.inc
	srv := netip.AddrPortFrom(serverAddr4, serverPort)
	if in.server != srv || in.client.Addr() != clientAddr4 || in.roles != analyze.RolesHandshake {
		return nil, fmt.Errorf("flow %s-%s (roles %s), want %v:port-%v from a handshake", in.client, in.server, in.roles, clientAddr4, srv)
	}
	if len(in.frames) != len(w.frames) {
		return nil, fmt.Errorf("the truth keeps %d of the %d frames, want all", len(in.frames), len(w.frames))
	}
	st, err := natExpiredSplit(in)
	if err != nil {
		return nil, err
	}
	if len(st.after) != 4 {
		return nil, fmt.Errorf("%d frames after the silence, want the server's segment, the client's [R], the client's "+
			"write and the server's [R]", len(st.after))
	}
	x := &natExpiredServerFrames{fl: fl, st: st, untrans: st.after[0], reply: st.after[1], write: st.after[2], rst: st.after[3]}
	ut, rp, wr, sr := x.untrans, x.reply, x.write, x.rst
	switch {
	case ut.src != srv || ut.flags&^fPSH != fACK || ut.len != 100 || ut.seq != st.srvEnd || ut.ack != st.cliEnd || ut.ttl != 64:
		return nil, fmt.Errorf("%v (TTL %d) is not the server's 100 bytes after the exchange, seq %d ack %d, sent here",
			ut, ut.ttl, st.srvEnd, st.cliEnd)
	case ut.t-st.before.t < 3e9:
		return nil, fmt.Errorf("the server's segment came %.2f s after its last, want the 3.5 s silence", float64(ut.t-st.before.t)/1e9)
	case rp.src != in.client || rp.flags != fRST || rp.seq != ut.ack || rp.ttl != 63 || rp.ts || rp.ipid != 0 || rp.t-ut.t > 50e6:
		return nil, fmt.Errorf("%v (TTL %d, IP ID %d) is not the client kernel's bare [R] with seq %d at once, one hop away",
			rp, rp.ttl, rp.ipid, ut.ack)
	case wr.src != in.client || wr.flags&^fPSH != fACK || wr.len != 100 || wr.seq != st.cliEnd || wr.ack != ut.seq ||
		wr.ttl != 63 || wr.t-ut.t < 100e6 || wr.t-ut.t > 300e6:
		return nil, fmt.Errorf("%v (TTL %d) is not the client's 100 bytes, seq %d ack %d, 100-300 ms after the server's",
			wr, wr.ttl, st.cliEnd, ut.seq)
	case sr.src != srv || sr.flags != fRST || sr.seq != wr.ack || sr.ttl != 64 || sr.ts || sr.ipid != 0 || sr.t-wr.t > 50e6:
		return nil, fmt.Errorf("%v (TTL %d, IP ID %d) is not the server kernel's bare [R] with seq %d at once", sr, sr.ttl, sr.ipid, wr.ack)
	}
	for _, f := range in.frames {
		if want := 64 - 1 + in.role(f); f.ttl != want {
			return nil, fmt.Errorf("%v: TTL %d, want %d", f, f.ttl, want)
		}
	}
	return x, nil
}

// closedAt checks that role r's last state is CLOSED at frame no.
func (c *flowCheck) closedAt(r, no int) *flowCheck {
	if s := c.side(r).States; len(s) == 0 || s[len(s)-1].State != "CLOSED" || s[len(s)-1].Frame != no {
		c.failf("%s states %v, want the last CLOSED at frame %d", roleName[r], s, no)
	}
	return c
}

// resetAt checks that the flow's ending RST is frame no.
func (c *flowCheck) resetAt(no int) *flowCheck {
	if r := c.fl.Close.Reset; r == nil || r.Frame != no {
		c.failf("reset %+v, want frame %d", r, no)
	}
	return c
}

// noNATLinks checks that the truth pairs no flows: no nat_pairs,
// nat_partial or untranslated entries.
func noNATLinks(w *wire) error {
	if t := w.truth; len(t.NATPairs)+len(t.NATPartial)+len(t.Untranslated) != 0 {
		return fmt.Errorf("nat_pairs %v, nat_partial %v, untranslated %v: want none", t.NATPairs, t.NATPartial, t.Untranslated)
	}
	return nil
}

// foreignReset checks flow c as the truth derives a connection whose
// server's segment a NAT let through untranslated after its conntrack
// entry expired, seen where the connection has its own addresses: a
// handshake, reset by the client kernel's foreign [R] at frame reply,
// which closes the server; the client closed by the server's [R] at
// frame rst; nat-untranslated on the server's side, naming the
// established timeout.
func foreignReset(c *flowCheck, reply, rst int) {
	c.kind(analyze.ResetKind).initiator(analyze.Client).handshake(analyze.HandshakeComplete).
		fins(rc, 0, 0).fins(rs, 0, 0).reset("client", analyze.CauseUnknown).resetAt(reply).
		diags(analyze.CodeNATUntranslated).diagSide(analyze.CodeNATUntranslated, "server").halfClose("", "").
		states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED").
		closedAt(rc, rst).closedAt(rs, reply)
	for _, d := range c.fl.Diagnoses {
		if want := ctEstablished; d.Sysctl != want {
			c.failf("%s names %q, want %s", d.Code, d.Sysctl, want)
		}
	}
}

// checkNATExpiredServer checks the one flow of
// nat-expired-untranslated-server as the truth derives it: a handshake,
// reset by the client's bare [R] (cause unknown), which closes the
// server; the client's data after it, at the [R]'s sequence number, shows
// the [R] foreign (its kernel's, for want of a socket on another
// 4-tuple), so the client stays ESTABLISHED until the server's [R];
// nat-untranslated on the server's side, after the silence.
func checkNATExpiredServer(w *wire) error {
	x, err := natExpiredServerWire(w)
	if err != nil {
		return err
	}
	foreignReset(x.fl, x.reply.no, x.rst.no)
	if w.truth.Duplicates != 0 {
		return fmt.Errorf("%d capture duplicates, want none", w.truth.Duplicates)
	}
	if err := noNATLinks(w); err != nil {
		return err
	}
	return checkAll(x.fl)
}

// natExpiredServerNotes describes the wire frame by frame from the
// silence on, and what the truth makes of the client's [R].
func natExpiredServerNotes(w *wire) []string {
	x, err := natExpiredServerWire(w)
	if err != nil {
		return nil
	}
	ut, rp, wr, sr := x.untrans, x.reply, x.write, x.rst
	return []string{fmt.Sprintf("Frame %d, %.2f s after the server's last segment before the silence (frame %d): the "+
		"server's 100 bytes to %v, seq %d ack %d (TTL 64). Frame %d, %.0f µs later: the client kernel's bare [R] from "+
		"%v, seq %d (TTL 63, IP ID 0), which crossed the router unchanged, on the untranslated segment's 4-tuple, "+
		"the server's own. Frame %d, %.0f ms after frame %d: the client's 100 bytes, seq %d ack %d (TTL 63), DNATed "+
		"to the server again, its ack where the server had left off before the silence: the server's 100 bytes "+
		"never reached the client's socket. Frame %d, %.0f µs later: the server kernel's bare [R], seq %d (TTL 64, "+
		"IP ID 0).",
		ut.no, float64(ut.t-x.st.before.t)/1e9, x.st.before.no, ut.dst, ut.seq, ut.ack,
		rp.no, float64(rp.t-ut.t)/1e3, rp.src, rp.seq,
		wr.no, float64(wr.t-ut.t)/1e6, ut.no, wr.seq, wr.ack,
		sr.no, float64(sr.t-wr.t)/1e3, sr.seq),
		fmt.Sprintf("The client's [R] of frame %d (cause unknown: a bare [R]) closes the server's socket. Its "+
			"sender was the client's kernel, not the client's socket: it answered a segment from the server's own "+
			"address, for which it had no socket, and the client's socket, connected to the service address, "+
			"stayed ESTABLISHED (frame %d, the client's data at the [R]'s sequence number) until the server's [R] "+
			"of frame %d reached it (its Tcp EstabResets, above): the truth's foreign RST.",
			rp.no, wr.no, sr.no)}
}

// natExpiredRouterFrames names the frames of a
// nat-expired-untranslated-router capture from the silence on, each
// with its copy: the untranslated segment and the client's [R], both on
// the translated view's 4-tuple (the copy a capture duplicate), and the
// client's write and the server's [R], each on both views.
type natExpiredRouterFrames struct {
	svc, tr      *flowCheck
	cliIf, srvIf int
	sv           *natExpiredSteps
	// on the translated view's 4-tuple, each with its second copy
	untrans, untransCopy, reply, replyCopy *frame
	// the client's write on the service address's view, its copy on the
	// translated one; the server's [R] on the translated view, its copy
	// on the service address's
	write, writeCopy, rst, rstCopy *frame
	nat                            map[*frame]*frame
}

// natExpiredRouterWire finds the frames of natExpiredRouterFrames and
// checks what the wire must show of them.
func natExpiredRouterWire(w *wire) (*natExpiredRouterFrames, error) {
	fs, err := w.flows(2)
	if err != nil {
		return nil, err
	}
	x := &natExpiredRouterFrames{svc: fs[0], tr: fs[1]}
	srv := netip.AddrPortFrom(serverAddr4, serverPort)
	s, t := x.svc.fl.inc, x.tr.fl.inc
	if s.server != serviceAddr4 || s.client.Addr() != clientAddr4 || t.server != srv || t.client != s.client ||
		s.roles != analyze.RolesHandshake || t.roles != analyze.RolesHandshake {
		return nil, fmt.Errorf("flows %s-%s (%s) and %s-%s (%s), want %v:port-%v and the same client with %v, both from a "+
			"handshake", s.client, s.server, s.roles, t.client, t.server, t.roles, clientAddr4, serviceAddr4, srv)
	}
	if s.syn.seq != t.syn.seq || s.synack.seq != t.synack.seq {
		return nil, fmt.Errorf("ISNs %d/%d on the service address's view, %d/%d on the translated one",
			s.syn.seq, s.synack.seq, t.syn.seq, t.synack.seq)
	}
	// Copies: the truth drops the second copies of the untranslated
	// segment and of the client's [R] (their 4-tuple's); every other
	// frame is a segment's copy on one view or the other.
	dropped, kept := copies(w.frames)
	x.nat = natCopies(w.frames)
	if len(dropped) != 2 || len(kept) != 0 || w.truth.Duplicates != 2 {
		return nil, fmt.Errorf("%d capture duplicates (the truth %d), %d same-4-tuple copies kept: want 2, the "+
			"untranslated segment's and the [R]'s second copies, and none kept", len(dropped), w.truth.Duplicates, len(kept))
	}
	if 2*len(x.nat)+2*len(dropped) != len(w.frames) {
		return nil, fmt.Errorf("%d translated copies and %d capture duplicates of %d frames, want every frame one of a pair",
			len(x.nat), len(dropped), len(w.frames))
	}
	// The client's SYN entered on the client's link; its copy left on
	// the server's.
	syn, synCopy := w.frames[0], w.frames[1]
	if syn != s.syn || x.nat[synCopy] != syn || syn.ifindex == 0 || synCopy.ifindex == 0 || syn.ifindex == synCopy.ifindex {
		return nil, fmt.Errorf("frames 1 and 2 (ifindex %d, %d) are not the client's SYN and its translated copy on "+
			"another interface", syn.ifindex, synCopy.ifindex)
	}
	x.cliIf, x.srvIf = syn.ifindex, synCopy.ifindex
	linkOf := func(a netip.AddrPort) int {
		if a == s.client {
			return x.cliIf
		}
		return x.srvIf
	}
	otherLink := func(i int) int {
		if i == x.cliIf {
			return x.srvIf
		}
		return x.cliIf
	}
	for d, p := range x.nat {
		// A client's segment enters on the service address's view, a
		// server's on the translated one.
		first, second := s, t
		if p.src.Addr() == serverAddr4 {
			first, second = t, s
		}
		if !slices.Contains(first.frames, p) || !slices.Contains(second.frames, d) || first.role(p) != second.role(d) ||
			p.ttl != 64 || d.ttl != 63 || p.ifindex != linkOf(p.src) || d.ifindex != otherLink(p.ifindex) {
			return nil, fmt.Errorf("%v (TTL %d, ifindex %d) copies %v (TTL %d, ifindex %d): want a %s's segment as it "+
				"entered on %s-%s (64, its link) and left on %s-%s (63, the other)", d, d.ttl, d.ifindex, p, p.ttl,
				p.ifindex, roleName[first.role(p)], first.client, first.server, second.client, second.server)
		}
	}
	for _, f := range s.frames {
		if f.ifindex != x.cliIf {
			return nil, fmt.Errorf("%v on ifindex %d, want the service address's view on the client's link, %d", f, f.ifindex, x.cliIf)
		}
	}
	sv, err := natExpiredSplit(s)
	if err != nil {
		return nil, err
	}
	tv, err := natExpiredSplit(t)
	if err != nil {
		return nil, err
	}
	x.sv = sv
	if len(sv.after) != 2 || len(tv.after) != 4 {
		return nil, fmt.Errorf("%d frames after the silence on the service address's view and %d on the translated "+
			"one, want 2 (the client's write, the server's [R]) and 4 (the untranslated segment, the client's [R], "+
			"the write, the [R])", len(sv.after), len(tv.after))
	}
	if sv.cliEnd != tv.cliEnd || sv.srvEnd != tv.srvEnd {
		return nil, fmt.Errorf("before the silence the views stop at %d/%d and %d/%d", sv.cliEnd, sv.srvEnd, tv.cliEnd, tv.srvEnd)
	}
	x.write, x.rstCopy = sv.after[0], sv.after[1]
	x.untrans, x.reply, x.writeCopy, x.rst = tv.after[0], tv.after[1], tv.after[2], tv.after[3]
	for d, p := range dropped {
		switch p {
		case x.untrans:
			x.untransCopy = d
		case x.reply:
			x.replyCopy = d
		}
	}
	ut, rp, wr, sr := x.untrans, x.reply, x.write, x.rst
	switch {
	case x.untransCopy == nil || x.replyCopy == nil:
		return nil, errors.New("the capture duplicates are not the untranslated segment's and the client's [R]'s copies")
	case ut.src != srv || ut.dst != s.client || ut.flags&^fPSH != fACK || ut.len != 100 || ut.seq != sv.srvEnd ||
		ut.ack != sv.cliEnd || ut.ttl != 64 || ut.ifindex != x.srvIf:
		return nil, fmt.Errorf("%v (TTL %d, ifindex %d) is not the server's 100 bytes after the exchange, seq %d ack %d, "+
			"entering from the server", ut, ut.ttl, ut.ifindex, sv.srvEnd, sv.cliEnd)
	case ut.t-sv.before.t < 3e9:
		return nil, fmt.Errorf("the untranslated segment came %.2f s after the server's last, want the 3.5 s silence",
			float64(ut.t-sv.before.t)/1e9)
	case x.untransCopy.ttl != 63 || x.untransCopy.ifindex != x.cliIf || x.untransCopy.src != srv:
		return nil, fmt.Errorf("%v (TTL %d, ifindex %d) is not the untranslated segment leaving toward the client",
			x.untransCopy, x.untransCopy.ttl, x.untransCopy.ifindex)
	case rp.src != s.client || rp.dst != srv || rp.flags != fRST || rp.seq != ut.ack || rp.ttl != 64 || rp.ts ||
		rp.ipid != 0 || rp.ifindex != x.cliIf || rp.t-ut.t > 50e6:
		return nil, fmt.Errorf("%v (TTL %d, IP ID %d, ifindex %d) is not the client kernel's bare [R] with seq %d "+
			"entering from the client at once", rp, rp.ttl, rp.ipid, rp.ifindex, ut.ack)
	case x.replyCopy.ttl != 63 || x.replyCopy.ifindex != x.srvIf:
		return nil, fmt.Errorf("%v (TTL %d, ifindex %d) is not the client's [R] leaving toward the server",
			x.replyCopy, x.replyCopy.ttl, x.replyCopy.ifindex)
	case wr.src != s.client || wr.len != 100 || wr.seq != sv.cliEnd || wr.ack != ut.seq || wr.t-ut.t < 100e6 ||
		wr.t-ut.t > 300e6 || x.nat[x.writeCopy] != wr:
		return nil, fmt.Errorf("%v is not the client's 100 bytes, seq %d ack %d, 100-300 ms after the untranslated "+
			"segment, translated in %v", wr, sv.cliEnd, ut.seq, x.writeCopy)
	case sr.src != srv || sr.flags != fRST || sr.seq != wr.ack || sr.ts || sr.ipid != 0 || x.nat[x.rstCopy] != sr ||
		x.rstCopy.src != serviceAddr4 || x.rstCopy.no != len(w.frames):
		return nil, fmt.Errorf("%v is not the server kernel's bare [R] with seq %d, translated back in the capture's "+
			"last frame %v", sr, wr.ack, x.rstCopy)
	}
	return x, nil
}

// checkNATExpiredRouter checks nat-expired-untranslated-router's two
// flows as the truth derives them. The service address's view: a
// handshake, reset by the server's reply [R] (cause no-socket). The
// translated view: a handshake, ended by the client's [R], whose kept
// copy (entering from the client, TTL 64) differs in TTL from every
// other client segment there (translated copies leaving toward the
// server, 63) but whose dropped copy (leaving, 63) does not: the
// client's kernel's, foreign (the client's data follows at its sequence
// number), so the client stays ESTABLISHED until the server's [R];
// nat-untranslated on the server's side. The truth pairs the two views (nat_pairs) and names no untranslated
// segments: they are on the translated view's flow, which has a SYN.
func checkNATExpiredRouter(w *wire) error {
	x, err := natExpiredRouterWire(w)
	if err != nil {
		return err
	}
	x.svc.kind(analyze.ResetKind).initiator(analyze.Server).handshake(analyze.HandshakeComplete).
		fins(rc, 0, 0).fins(rs, 0, 0).reset("server", analyze.CauseNoSocket).resetAt(x.rstCopy.no).
		diags(analyze.CodeRstNoSocket).diagSide(analyze.CodeRstNoSocket, "server").diagSysctl(analyze.CodeRstNoSocket, ctEstablished).
		halfClose("", "").states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED").
		closedAt(rc, x.rstCopy.no).closedAt(rs, x.rstCopy.no)
	foreignReset(x.tr, x.reply.no, x.rst.no)
	if err := checkAll(x.svc, x.tr); err != nil {
		return err
	}
	if len(w.truth.NATPartial)+len(w.truth.Untranslated) != 0 {
		return fmt.Errorf("nat_partial %v, untranslated %v: want none (the untranslated segment is on the "+
			"translated view's flow, which has a SYN)", w.truth.NATPartial, w.truth.Untranslated)
	}
	return natPairOf(w, x.svc, x.tr)
}

// natExpiredRouterNotes describes the two views and the wire frame by
// frame from the silence on, and what the truth makes of the client's
// [R].
func natExpiredRouterNotes(w *wire) []string {
	x, err := natExpiredRouterWire(w)
	if err != nil {
		return nil
	}
	s, t := x.svc.fl.inc, x.tr.fl.inc
	gaps := copyGaps(x.nat)
	ut, uc, rp, rpc, wr, wc, sr, rsc := x.untrans, x.untransCopy, x.reply, x.replyCopy, x.write, x.writeCopy, x.rst, x.rstCopy
	return []string{
		fmt.Sprintf("The capture holds %d TCP frames. Every segment of the connection up to the silence, and the "+
			"client's write and the server's [R] after it, shows once on each view: on %s-%s, the service address's "+
			"view, all on the client's link (ifindex %d), and on %s-%s, the translated view, all on the server's "+
			"link (ifindex %d); first as it entered the router (TTL 64: the client's segments on the first view, the server's on the "+
			"second) and, %.0f to %.0f µs later, as it left (63), with the same raw sequence and acknowledgement "+
			"numbers (ISNs %d and %d), window, IP ID and timestamps. The truth pairs the two views in nat_pairs.",
			len(w.frames), s.client, s.server, x.cliIf, t.client, t.server, x.srvIf,
			float64(slices.Min(gaps))/1e3, float64(slices.Max(gaps))/1e3, s.syn.seq, s.synack.seq),
		fmt.Sprintf("Frame %d, %.2f s after the server's last segment before the silence (frame %d, on the service "+
			"address's view): the server's 100 bytes from %v to %v, seq %d ack %d, entering on the server's link "+
			"(ifindex %d, TTL 64); frame %d, %.0f µs later, the same segment leaving on the client's link (ifindex %d, "+
			"TTL 63), untranslated: both on the translated view's 4-tuple, none on the service address's. Frame %d, "+
			"%.0f µs after frame %d: the client kernel's bare [R] to %v, seq %d, entering on the client's link "+
			"(ifindex %d, TTL 64, IP ID 0); frame %d, %.0f µs later, the same leaving on the server's link (ifindex "+
			"%d, TTL 63). The truth drops frames %d and %d as capture duplicates (duplicates %d). Frame %d, %.0f ms "+
			"after frame %d: the client's 100 bytes to %v, seq %d ack %d, entering (ifindex %d, TTL 64); frame %d, "+
			"%.0f µs later, DNATed to %v, leaving (ifindex %d, TTL 63). Frame %d, %.0f µs after frame %d: the server "+
			"kernel's bare [R] from %v, seq %d, entering (ifindex %d, TTL 64, IP ID 0); frame %d, %.0f µs later, "+
			"translated back to %v, leaving (ifindex %d, TTL 63), the capture's last frame.",
			ut.no, float64(ut.t-x.sv.before.t)/1e9, x.sv.before.no, ut.src, ut.dst, ut.seq, ut.ack, ut.ifindex,
			uc.no, float64(uc.t-ut.t)/1e3, uc.ifindex,
			rp.no, float64(rp.t-uc.t)/1e3, uc.no, rp.dst, rp.seq, rp.ifindex, rpc.no, float64(rpc.t-rp.t)/1e3, rpc.ifindex,
			uc.no, rpc.no, w.truth.Duplicates,
			wr.no, float64(wr.t-ut.t)/1e6, ut.no, wr.dst, wr.seq, wr.ack, wr.ifindex, wc.no, float64(wc.t-wr.t)/1e3,
			wc.dst, wc.ifindex,
			sr.no, float64(sr.t-wc.t)/1e3, wc.no, sr.src, sr.seq, sr.ifindex, rsc.no, float64(rsc.t-sr.t)/1e3, rsc.src,
			rsc.ifindex),
		fmt.Sprintf("On the translated view the client's other segments show only as they left toward the server "+
			"(TTL 63), while the client's [R] of frame %d shows as it came in (64) and as it left (frame %d, 63, "+
			"dropped as a capture duplicate): a copy with the client's TTL, so no device made it. The client's "+
			"kernel sent it (its Tcp OutRsts, above), for want of a socket on that 4-tuple, and it closes the "+
			"server's socket; the client's socket, connected to the service address, stayed ESTABLISHED (frame %d "+
			"translated as frame %d, the client's data at the [R]'s sequence number) until the server's [R] "+
			"(frame %d, frame %d once translated back) reached it: the truth's foreign RST, nat-untranslated on "+
			"the server's side. No untranslated entry: the untranslated segment is on the translated view's flow, "+
			"which has a SYN.",
			rp.no, rpc.no, wr.no, wc.no, sr.no, rsc.no),
	}
}
