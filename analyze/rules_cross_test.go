package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// Rules that compare flows with one another, on literal segments of
// several connections.

// mergeWires interleaves the segments of several wires by time and
// numbers the frames again.
func mergeWires(ws ...*wire) []flows.Segment {
	var all []flows.Segment
	for _, w := range ws {
		all = append(all, w.segs...)
	}
	slices.SortStableFunc(all, func(a, b flows.Segment) int { return cmp.Compare(a.Time, b.Time) })
	for i := range all {
		all[i].Frame = uint64(i + 1)
	}
	return all
}

// client moves the wire's client to address a, before its first
// segment: another connection, with initial sequence numbers of its own
// (two connections with the same ones are one seen through a NAT).
func client(w *wire, a string) {
	w.addr[cli] = netip.MustParseAddrPort(a)
	h := uint32(w.addr[cli].Port())
	for _, b := range w.addr[cli].Addr().AsSlice() {
		h = h*16777619 ^ uint32(b)
	}
	w.isn = [2]uint32{w.isn[0] + h, w.isn[1] + h*7}
	w.nxt = w.isn
}

// TestTimeWaitIgnoresRSTs is KERNEL.md row 16: with tcp_rfc1337 = 1 the
// server's TIME_WAIT answers every SYN retry with its old ACK and outlives
// the client's RSTs.
func TestTimeWaitIgnoresRSTs(t *testing.T) {
	w := newWire(t)
	w.noTS = true
	closeFirst(w, srv)
	oldSrv, oldCli := w.nxt[srv], w.nxt[cli]
	w.newIncarnation(55555, 0)
	syn := w.send(cli, "S", 0, gap(1))
	for i, d := range []float64{1, 2, 4} {
		w.send(srv, ".", 0, seqNum(oldSrv), ackNum(oldCli), ipid(0))
		w.send(cli, "R", 0, seqNum(oldCli))
		if i < 2 {
			w.again(syn, d)
		}
	}
	res := runOpts(t, w.segs, Options{Sysctls: Sysctls{Values: map[string]string{SysRFC1337: "1", SysTimestamps: "0"}}})
	f := res.Flows[1]
	want := []string{"time-wait-rst-ignored net.ipv4.tcp_rfc1337 server", "time-wait-syn-refused net.ipv4.tcp_timestamps server"}
	if got := diagSet(f); !slices.Equal(got, want) {
		t.Fatalf("diagnoses %q, want %q", got, want)
	}
	if d := find(t, f, CodeTimeWaitRstIgnored); !strings.Contains(d.Message, "3 RSTs") || len(d.Checks) != 1 || !d.Checks[0].Agrees {
		t.Errorf("%s: %s %+v", d.Code, d.Message, d.Checks)
	}
	// The client's RSTs from SYN_SENT end nothing: the kernel re-arms its
	// SYN timer, and with no SYN-ACK the attempt is still open at the end.
	if f.Close.Kind != OpenAtEnd || f.Close.Initiator != NoRole || f.Close.Reset != nil {
		t.Errorf("close %+v, want open_at_end, no initiator, no reset", f.Close)
	}
	if got := states(f.Sides.Client); got != "SYN_SENT@11" {
		t.Errorf("client states %s", got)
	}
	if f.Reuse == nil || f.Reuse.Verdict != VerdictRefused {
		t.Errorf("reuse %+v, want verdict %s", f.Reuse, VerdictRefused)
	}
}

// TestPawsBehindNAT: SYNs from a second host behind the same address,
// with an older timestamp than the first host's connection a moment
// before, go unanswered.
func TestPawsBehindNAT(t *testing.T) {
	build := func(t *testing.T, synTS uint32) []flows.Segment {
		a := newWire(t)
		client(a, "203.0.113.5:40000")
		a.lastTS = 5_000_000
		closeFirst(a, srv)
		b := newWire(t)
		client(b, "203.0.113.5:40001")
		b.now = a.now + 2e9
		b.lastTS = synTS - 1
		syn := b.send(cli, "S", 0)
		b.again(syn, 1)
		b.again(syn, 2)
		return mergeWires(a, b)
	}
	t.Run("older timestamp", func(t *testing.T) {
		res := runOpts(t, build(t, 1000), Options{})
		// The SYNs went unanswered either way; the PAWS check says why.
		if got, want := diagSet(res.Flows[1]), []string{"paws-nat-syn-drop net.ipv4.tcp_tw_recycle server", "syn-unanswered net.ipv4.tcp_syn_retries client"}; !slices.Equal(got, want) {
			t.Fatalf("diagnoses %q, want %q", got, want)
		}
		d := find(t, res.Flows[1], CodePawsNat)
		for _, s := range []string{"3 SYNs", "203.0.113.5:40001", "timestamp 1000", "203.0.113.5:40000", "(NAT)"} {
			if !strings.Contains(d.Message, s) {
				t.Errorf("message lacks %q: %s", s, d.Message)
			}
		}
		if len(res.Flows[0].Diagnoses) != 0 || res.Summary.Diagnoses[CodePawsNat] != 1 {
			t.Errorf("first flow %q, summary %v", diagSet(res.Flows[0]), res.Summary.Diagnoses)
		}
	})
	t.Run("newer timestamp", func(t *testing.T) {
		res := runOpts(t, build(t, 6_000_000), Options{})
		if got, want := diagSet(res.Flows[1]), []string{"syn-unanswered net.ipv4.tcp_syn_retries client"}; !slices.Equal(got, want) {
			t.Errorf("diagnoses %q, want %q", got, want)
		}
	})
	t.Run("settings without tcp_tw_recycle", func(t *testing.T) {
		res := runOpts(t, build(t, 1000), Options{Sysctls: Sysctls{Source: "s", Values: map[string]string{SysTimestamps: "1"}}})
		d := find(t, res.Flows[1], CodePawsNat)
		if d.Sysctl != "" || !strings.Contains(d.Message, "something between the hosts") {
			t.Errorf("sysctl %q, message %s", d.Sysctl, d.Message)
		}
	})
}

// TestOrphanResetBurst: several orphans of one host reset at close()
// within one second make a summary finding.
func TestOrphanResetBurst(t *testing.T) {
	var ws []*wire
	for i := range 3 {
		w := newWire(t)
		client(w, netip.AddrPortFrom(netip.MustParseAddr("198.51.100.10"), uint16(40000+i)).String())
		w.now += int64(i) * 100e6
		w.handshake()
		w.exchange()
		w.send(cli, "F.", 0)
		w.send(cli, "R", 0, activeRST, gap(50e-6))
		ws = append(ws, w)
	}
	res := runOpts(t, mergeWires(ws...), Options{})
	if n := res.Summary.Diagnoses[CodeOrphanReset]; n != 3 {
		t.Fatalf("orphan-reset on %d flows, want 3", n)
	}
	var h *HostLoad
	for i := range res.Summary.Hosts {
		if res.Summary.Hosts[i].Host == "198.51.100.10" {
			h = &res.Summary.Hosts[i]
		}
	}
	if h == nil || h.OrphanResets.Count != 3 {
		t.Fatalf("host load %+v", h)
	}
	i := slices.IndexFunc(res.Summary.Findings, func(f Finding) bool { return f.Code == CodeOrphanReset })
	if i < 0 || res.Summary.Findings[i].Host != "198.51.100.10" || !strings.Contains(res.Summary.Findings[i].Message, "reset 3 orphans within one second") {
		t.Fatalf("findings %+v", res.Summary.Findings)
	}
	// The finding's time and the window it names hold every reset (each
	// flow ends with its own). Three orphans are far from the limit:
	// orphan slots or TCP memory, the wire cannot tell.
	f := res.Summary.Findings[i]
	if f.Confidence != ConfidenceMedium || !slices.Equal(f.Doubts, []string{bookDoubt(CodeOrphanReset)}) {
		t.Errorf("confidence %s, doubts %q; want medium, the rule book's", f.Confidence, f.Doubts)
	}
	// Settings that put the limit at what the host held decide it.
	for _, c := range []struct {
		max  string
		want Confidence
	}{{"0", ConfidenceHigh}, {"1", ConfidenceMedium}} {
		sys := Sysctls{Source: "host.conf", Values: map[string]string{SysMaxOrphans: c.max}}
		fs := runOpts(t, mergeWires(ws...), Options{Sysctls: sys}).Summary.Findings
		if i := slices.IndexFunc(fs, func(f Finding) bool { return f.Code == CodeOrphanReset }); i < 0 || fs[i].Confidence != c.want {
			t.Errorf("tcp_max_orphans = %s: findings %+v, want %s confidence", c.max, fs, c.want)
		}
	}
	for _, fl := range res.Flows {
		if fl.End < f.At || fl.End >= f.At+1e9 {
			t.Errorf("flow %d reset at %v, outside the second from the finding's %v", fl.ID, fl.End.Std(), f.At.Std())
		}
	}
	if w := f.At.Std().Format("15:04:05") + "–" + (f.At + 1e9).Std().Format("15:04:05 UTC"); !strings.Contains(f.Message, w) {
		t.Errorf("finding does not name the second %s: %s", w, f.Message)
	}
}
