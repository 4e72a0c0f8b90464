package analyze_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/synth"
	"github.com/teardown/teardown/flows/testenv"
	"github.com/teardown/teardown/report"
)

// The per-side state machine, once, from DESIGN.md and KERNEL.md: the
// states a side may be first seen in (a capture may start at any point of a
// connection's life), and the moves out of each state. A RST (sent or
// received) moves any state to CLOSED; that edge is not listed. An ICMP
// error moves SYN_SENT (and a request in SYN_RECV) to CLOSED, and no
// other state. The three-way close passes FIN_WAIT2 (for zero time):
// FIN_WAIT1 never moves straight to TIME_WAIT.
var (
	firstStates = []analyze.State{
		analyze.SynSent,     // the client's SYN
		analyze.SynRecv,     // the server's SYN-ACK, or a SYN it answered
		analyze.Established, // the handshake is before the capture
		analyze.FinWait1,    // the side's first segment in the capture is its FIN
		analyze.CloseWait,   // the peer's FIN is the first the capture proves of this side
	}
	moves = map[analyze.State][]analyze.State{
		analyze.SynSent:     {analyze.Established, analyze.Closed},                                      // an ICMP error aborts connect() (tcp_v4_err: tcp_done)
		analyze.SynRecv:     {analyze.Established, analyze.FinWait1, analyze.CloseWait, analyze.Closed}, // tcp_fin() takes SYN_RECV to CLOSE_WAIT too; an ICMP error drops a request (tcp_req_err)
		analyze.Established: {analyze.FinWait1, analyze.CloseWait},
		analyze.FinWait1:    {analyze.FinWait2, analyze.Closing},
		analyze.FinWait2:    {analyze.TimeWait},
		analyze.Closing:     {analyze.TimeWait},
		analyze.CloseWait:   {analyze.LastAck},
		analyze.LastAck:     {analyze.Closed}, // the ACK of its FIN
		analyze.TimeWait:    nil,              // expiry is not a transition the capture shows
		analyze.Closed:      nil,
	}
)

// closeStates are the states a side reports a duration for.
var closeStates = []analyze.State{analyze.FinWait1, analyze.FinWait2, analyze.Closing, analyze.TimeWait, analyze.CloseWait, analyze.LastAck}

var (
	kinds = []analyze.Kind{analyze.FourWay, analyze.ThreeWay, analyze.SimultaneousKind, analyze.ResetKind,
		analyze.HalfClosedAtEnd, analyze.OpenAtEnd, analyze.Rejected}
	initiators = []analyze.Role{analyze.Client, analyze.Server, analyze.Simultaneous, analyze.NoRole}
	handshakes = []string{analyze.HandshakeComplete, analyze.HandshakeSynOnly, analyze.HandshakeSynSynAck, analyze.HandshakeNotSeen}
	finNotes   = []string{analyze.NoteFIN, analyze.NoteFINRetransmission, analyze.NoteFINTLP}
)

// legalPath returns what is wrong with a side's state sequence, or "".
func legalPath(states []analyze.StateEntry) string {
	for i, e := range states {
		if e.Via != "" && (e.Via != "rst" || e.State != analyze.Closed) {
			return fmt.Sprintf("entry %d: %s via %q (only CLOSED is entered via rst)", i, e.State, e.Via)
		}
		if i == 0 {
			if !slices.Contains(firstStates, e.State) && e.Via != "rst" {
				return fmt.Sprintf("first state %s", e.State)
			}
			continue
		}
		prev := states[i-1].State
		switch {
		case prev == analyze.Closed:
			return fmt.Sprintf("entry %d: %s after CLOSED", i, e.State)
		case e.Via == "rst":
		case !slices.Contains(moves[prev], e.State):
			return fmt.Sprintf("entry %d: %s -> %s is not a move of the state machine", i, prev, e.State)
		}
	}
	return ""
}

// TestLegalPath checks the checker: paths the kernel takes pass, paths
// it cannot take are named.
func TestLegalPath(t *testing.T) {
	st := func(spec string) []analyze.StateEntry {
		var out []analyze.StateEntry
		for i, w := range strings.Fields(spec) {
			name, via, _ := strings.Cut(w, "/")
			s, ok := analyze.ParseState(name)
			if !ok {
				t.Fatalf("bad state %q", name)
			}
			out = append(out, analyze.StateEntry{State: s, Frame: uint64(i + 1), Via: via})
		}
		return out
	}
	for _, tt := range []struct {
		path  string
		legal bool
	}{
		{"SYN_SENT ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT", true},
		{"SYN_RECV ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED", true},
		{"SYN_RECV CLOSE_WAIT LAST_ACK CLOSED", true},
		{"ESTABLISHED FIN_WAIT1 CLOSING TIME_WAIT", true},
		{"ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSED/rst", true},
		{"SYN_SENT CLOSED/rst", true},
		{"SYN_SENT CLOSED", true}, // an ICMP error rejected the SYN
		{"CLOSE_WAIT CLOSED/rst", true},
		{"ESTABLISHED FIN_WAIT1 TIME_WAIT", false}, // the three-way close passes FIN_WAIT2
		{"ESTABLISHED CLOSED", false},              // only a RST closes from ESTABLISHED
		{"ESTABLISHED FIN_WAIT1/rst", false},
		{"SYN_SENT CLOSED/rst ESTABLISHED", false},
		{"TIME_WAIT", false},
		{"ESTABLISHED CLOSE_WAIT FIN_WAIT1", false},
		{"SYN_SENT SYN_RECV", false},
	} {
		if why := legalPath(st(tt.path)); (why == "") != tt.legal {
			t.Errorf("%s: legal %v, checker says %q", tt.path, tt.legal, why)
		}
	}
}

// violations checks a result against every invariant the engine promises,
// whatever its input, and returns what it breaks.
func violations(res *analyze.Result) []string {
	var out []string
	bad := func(f *analyze.Flow, format string, a ...any) {
		p := ""
		if f != nil {
			p = fmt.Sprintf("flow %d: ", f.ID)
		}
		out = append(out, p+fmt.Sprintf(format, a...))
	}
	byID := map[int]*analyze.Flow{}
	evicted := 0
	for i, f := range res.Flows {
		if i > 0 && f.ID <= res.Flows[i-1].ID {
			bad(f, "id after flow %d", res.Flows[i-1].ID)
		}
		byID[f.ID] = f
		if f.Evicted {
			evicted++
		}
		flowViolations(f, func(format string, a ...any) { bad(f, format, a...) })
	}
	for _, f := range res.Flows {
		if r := f.Reuse; r != nil {
			p := byID[r.PreviousID]
			switch {
			case p == nil:
				bad(f, "reuse of flow %d, which is not in the result", r.PreviousID)
			case r.PreviousID >= f.ID:
				bad(f, "reuse of a later flow %d", r.PreviousID)
			case f.Incarnation != p.Incarnation+1:
				bad(f, "incarnation %d after flow %d's %d", f.Incarnation, p.ID, p.Incarnation)
			case !sameTuple(f, p):
				bad(f, "reuse of flow %d on another 4-tuple", p.ID)
			}
		}
	}
	s := res.Summary
	if s == nil {
		bad(nil, "no summary")
		return out
	}
	if s.Evicted != evicted {
		bad(nil, "summary counts %d evicted flows, %d flows say so", s.Evicted, evicted)
	}
	if s.Flows != len(res.Flows) {
		bad(nil, "summary counts %d flows of %d", s.Flows, len(res.Flows))
	}
	if n := sum(s.CloseKinds); n != s.Flows {
		bad(nil, "close kinds add up to %d of %d flows", n, s.Flows)
	}
	if n := sum(s.FinalStates); n != 2*s.Flows {
		bad(nil, "final states add up to %d for %d flows", n, s.Flows)
	}
	cw := 0
	for _, c := range s.CloseWaits {
		cw += c.Flows
		if c.OpenAtEnd > c.Flows || !(c.Longest >= 0) || (c.Holder == analyze.Server && len(c.Hosts) > 0) {
			bad(nil, "close wait %+v", c)
		}
	}
	// Every side that held CLOSE_WAIT long counts once (a flow whose
	// sides both did counts twice), unless the summary stopped tracking.
	sides := 0
	for _, f := range res.Flows {
		for _, d := range f.Diagnoses {
			if d.Code == analyze.CodeCloseWaitLong {
				sides++
			}
		}
	}
	if cw != sides && s.UntrackedFlows == 0 {
		bad(nil, "close waits hold %d sides of %d with close-wait-long", cw, sides)
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sameTuple(a, b *analyze.Flow) bool {
	return (a.Client == b.Client && a.Server == b.Server) || (a.Client == b.Server && a.Server == b.Client)
}

// flowViolations checks one flow.
func flowViolations(f *analyze.Flow, bad func(string, ...any)) {
	if f.FirstFrame == 0 || f.LastFrame < f.FirstFrame {
		bad("frames %d..%d", f.FirstFrame, f.LastFrame)
	}
	if f.Incarnation < 1 {
		bad("incarnation %d", f.Incarnation)
	}
	if !slices.Contains(handshakes, f.Handshake) {
		bad("handshake %q", f.Handshake)
	}
	if !slices.Contains(kinds, f.Close.Kind) || !slices.Contains(initiators, f.Close.Initiator) {
		bad("close %q by %q", f.Close.Kind, f.Close.Initiator)
	}
	// A reset ends a flow that closed by one or was rejected by one; a
	// SYN is rejected by a RST, or by an ICMP error the flow lists.
	switch k := f.Close.Kind; {
	case f.Close.Reset != nil && k != analyze.ResetKind && k != analyze.Rejected,
		f.Close.Reset == nil && (k == analyze.ResetKind || k == analyze.Rejected && len(f.ICMP) == 0):
		bad("close kind %s with reset %+v", f.Close.Kind, f.Close.Reset)
	}
	for _, e := range f.ICMP {
		if e.Frame < f.FirstFrame || e.Frame > f.LastFrame || e.To != analyze.Client && e.To != analyze.Server {
			bad("ICMP error %+v outside %d..%d", e, f.FirstFrame, f.LastFrame)
		}
	}
	if r := f.Close.Reset; r != nil && (r.Frame < f.FirstFrame || r.Frame > f.LastFrame) {
		bad("reset at frame %d outside %d..%d", r.Frame, f.FirstFrame, f.LastFrame)
	}
	if h := f.Close.HalfClose; h != nil && !(h.Duration >= 0) {
		bad("half-close duration %v", h.Duration)
	}
	for i := 1; i < len(f.Events); i++ {
		if f.Events[i].Frame <= f.Events[i-1].Frame {
			bad("event frame %d after %d", f.Events[i].Frame, f.Events[i-1].Frame)
		}
	}
	for _, role := range []analyze.Role{analyze.Client, analyze.Server} {
		sd := f.Sides.Client
		if role == analyze.Server {
			sd = f.Sides.Server
		}
		if sd == nil {
			bad("no %s side", role)
			continue
		}
		sideViolations(f, role, sd, func(format string, a ...any) { bad(string(role)+": "+format, a...) })
	}
	if f.Close.Kind == analyze.ThreeWay {
		active := f.Sides.Client
		if f.Close.Initiator == analyze.Server {
			active = f.Sides.Server
		}
		for i, e := range active.States {
			if e.State == analyze.TimeWait && (i == 0 || active.States[i-1].State != analyze.FinWait2 || active.States[i-1].Frame != e.Frame) {
				bad("three-way close: the active side's TIME_WAIT at frame %d does not follow a zero-length FIN_WAIT2 on that frame", e.Frame)
			}
		}
	}
}

// sideViolations checks one side's states, durations and FIN accounting.
func sideViolations(f *analyze.Flow, role analyze.Role, sd *analyze.Side, bad func(string, ...any)) {
	if why := legalPath(sd.States); why != "" {
		bad("%s: %s", why, statesString(sd.States))
	}
	final := analyze.Closed
	if n := len(sd.States); n > 0 {
		final = sd.States[n-1].State
	}
	if sd.FinalState != final {
		bad("final state %s, last entry %s", sd.FinalState, final)
	}
	seen := map[string]bool{}
	for _, e := range sd.States {
		if e.Frame < f.FirstFrame || e.Frame > f.LastFrame {
			bad("%s at frame %d outside %d..%d", e.State, e.Frame, f.FirstFrame, f.LastFrame)
		}
		if slices.Contains(closeStates, e.State) {
			seen[e.State.String()] = true
		}
	}
	for name, d := range sd.Durations {
		if !(d >= 0) || math.IsInf(d, 0) {
			bad("duration of %s is %v: %s", name, d, statesString(sd.States))
		}
		if !seen[name] {
			bad("duration of %s, a state it never entered", name)
		}
	}
	for name := range seen {
		if _, ok := sd.Durations[name]; !ok {
			bad("no duration for %s", name)
		}
	}

	// FIN accounting: the frames listed are the FIN transmissions kept as
	// events, in order, at most flows.MaxFINs of them; the count goes on.
	var evFINs []uint64
	for _, e := range f.Events {
		if e.From == role && slices.Contains(finNotes, e.Note) {
			evFINs = append(evFINs, e.Frame)
		}
	}
	if !slices.Equal(evFINs, sd.FinFrames) {
		bad("fin_frames %v, FIN events %v", sd.FinFrames, evFINs)
	}
	if len(sd.FinFrames) > flows.MaxFINs {
		bad("%d fin_frames, more than the cap %d", len(sd.FinFrames), flows.MaxFINs)
	}
	if sd.FinRetransmissions < 0 || (len(sd.FinFrames) > 0 && sd.FinRetransmissions+1 < len(sd.FinFrames)) {
		bad("%d retransmissions for %d FIN frames", sd.FinRetransmissions, len(sd.FinFrames))
	}
	// Unless the flow's event list overflowed (then it is full), every
	// transmission up to the cap is listed.
	if len(f.Events) < flows.MaxEvents && (sd.FinRetransmissions > 0 || len(sd.FinFrames) > 0) &&
		len(sd.FinFrames) != min(sd.FinRetransmissions+1, flows.MaxFINs) {
		bad("%d fin_frames for %d transmissions (cap %d)", len(sd.FinFrames), sd.FinRetransmissions+1, flows.MaxFINs)
	}
	if sd.FinInferred && len(sd.FinFrames) > 0 {
		bad("inferred FIN with fin_frames %v", sd.FinFrames)
	}
	if sd.FinTLP && sd.FinRetransmissions == 0 {
		bad("fin_tlp without a retransmission")
	}
}

func statesString(st []analyze.StateEntry) string {
	var b []string
	for _, e := range st {
		x := fmt.Sprintf("%s@%d", e.State, e.Frame)
		if e.Via != "" {
			x += "/" + e.Via
		}
		b = append(b, x)
	}
	return "[" + strings.Join(b, " ") + "]"
}

// checkResult fails the test for every invariant res breaks.
func checkResult(t testing.TB, res *analyze.Result) {
	t.Helper()
	for _, v := range violations(res) {
		t.Error(v)
	}
}

// reportJSON renders res as the JSON report.
func reportJSON(t testing.TB, res *analyze.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.JSON(&buf, res); err != nil {
		t.Fatalf("report.JSON: %v", err)
	}
	return buf.Bytes()
}

// jsonOf renders res as the JSON report, checking that the document is
// valid JSON that reads back into the same flows.
func jsonOf(t testing.TB, res *analyze.Result) []byte {
	t.Helper()
	doc := reportJSON(t, res)
	var back analyze.Result
	if err := json.Unmarshal(doc, &back); err != nil {
		t.Fatalf("report.JSON wrote invalid JSON: %v", err)
	}
	// What it says equals what encoding/json says of the same flows.
	want, err := json.Marshal(res.Flows)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(back.Flows)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) == 0 && len(back.Flows) == 0 {
		want, got = nil, nil
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("the JSON report does not read back into the flows (-result +json):\n%s", gocmp.Diff(string(want), string(got)))
	}
	return doc
}

// pipeline runs the whole analysis on the named captures (stdin for "-")
// the way the command does, and returns the result with its capture
// description. A capture error after the start is returned with the result.
func pipeline(names []string, stdin io.Reader, opts analyze.Options) (*analyze.Result, error) {
	r, err := capture.Open(names, capture.Options{Stdin: stdin})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	opts.CaptureEnd = func() int64 { return r.Info().End() }
	res, err := analyze.Run(r, opts)
	if res != nil {
		res.Capture = captureOf(r.Info())
	}
	return res, err
}

// prefetched is pipeline with the reader prefetched and its segments
// filed a batch at a time, as the teardown command reads them.
func prefetched(names []string, stdin io.Reader, opts analyze.Options) (*analyze.Result, error) {
	r, err := capture.Open(names, capture.Options{Stdin: stdin})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pf := flows.Prefetch(r)
	opts.CaptureEnd = func() int64 { return r.Info().End() }
	res, err := analyze.Run(pf, opts)
	pf.Stop()
	if res != nil {
		res.Capture = captureOf(r.Info())
	}
	return res, err
}

func captureOf(in capture.Info) analyze.Capture {
	return analyze.Capture{
		Files: in.Files, Format: in.Format, LinkTypes: in.LinkTypes,
		Packets: in.Packets, TCPPackets: in.TCPPackets,
		Skipped:   analyze.Skipped{NonTCP: in.NonTCP, Malformed: in.Malformed, Fragments: in.Fragments},
		Truncated: in.Truncated, First: analyze.Time(in.First), Last: analyze.Time(in.Last), Stopped: analyze.Time(in.Stopped),
		Warnings: in.Warnings,
	}
}

// inputs lists the real captures the invariant tests run on: the lab
// fixtures and, when present, the shared corpus.
func inputs(t *testing.T) []string {
	t.Helper()
	files := captures(t, testenv.Lab(t))
	if dir, ok := corpusDir(t); ok {
		files = append(files, captures(t, dir)...)
	}
	return files
}

// corpusDir returns the shared corpus folder, if it is there, without
// skipping the test.
func corpusDir(t testing.TB) (string, bool) {
	dir := filepath.Join(filepath.Dir(testenv.Root(t)), "shared", "corpus")
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

// captures lists the pcap and pcapng files under dir.
func captures(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestInvariantsOnRealCaptures runs every real capture through the
// pipeline twice: the invariants hold, and the JSON is byte-identical.
func TestInvariantsOnRealCaptures(t *testing.T) {
	for _, path := range inputs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			res, err := pipeline([]string{path}, nil, analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res)
			first := jsonOf(t, res)
			again, err := pipeline([]string{path}, nil, analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if second := jsonOf(t, again); !bytes.Equal(first, second) {
				t.Errorf("two runs give different JSON:\n%s", gocmp.Diff(string(first), string(second)))
			}
		})
	}
}

// TestInvariantsOnSynth runs generated captures of every close scenario,
// with TIME_WAIT reuse, through the pipeline.
func TestInvariantsOnSynth(t *testing.T) {
	for _, cfg := range []synth.Config{
		{Seed: 1, Conns: 3000, Concurrency: 300, Mix: synth.Mix{ClientClose: 1, ServerClose: 1, ThreeWay: 1, Simultaneous: 1,
			HalfClose: 1, FinRetransmit: 1, FinNeverAcked: 1, CloseWait: 1, Reset: 1, Rejected: 1, Open: 1, Reuse: 0.3}},
		{Seed: 2, Conns: 2000, Concurrency: 2000, Format: synth.PCAPNG, Nanoseconds: true},
	} {
		t.Run(fmt.Sprint(cfg.Seed), func(t *testing.T) {
			data := testenv.Capture(t, cfg)
			res, err := pipeline([]string{"-"}, bytes.NewReader(data), analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Flows) < cfg.Conns {
				t.Fatalf("%d flows from %d connections", len(res.Flows), cfg.Conns)
			}
			checkResult(t, res)
		})
	}
}

// record is one packet of a capture.
type record struct {
	ts   int64 // Unix nanoseconds
	wire uint32
	data []byte
}

// readRecords reads every record of a pcap or pcapng capture held in
// memory, with its link type. (gopacket's readers keep link types in a
// byte, which cannot hold LINUX_SLL2.)
func readRecords(t testing.TB, data []byte) ([]record, uint32) {
	t.Helper()
	if len(data) < 24 {
		t.Fatal("not a capture")
	}
	if le.Uint32(data) == 0x0a0d0d0a {
		return readPcapng(t, data)
	}
	var o binary.ByteOrder = binary.LittleEndian
	if binary.BigEndian.Uint32(data) == 0xa1b2c3d4 || binary.BigEndian.Uint32(data) == 0xa1b23c4d {
		o = binary.BigEndian
	}
	frac := int64(1000)
	if o.Uint32(data) == 0xa1b23c4d {
		frac = 1
	}
	lt := o.Uint32(data[20:]) & 0xffff
	var recs []record
	for b := data[24:]; len(b) >= 16; {
		n := int(o.Uint32(b[8:]))
		if 16+n > len(b) {
			t.Fatalf("record cut short")
		}
		recs = append(recs, record{int64(o.Uint32(b))*1e9 + int64(o.Uint32(b[4:]))*frac, o.Uint32(b[12:]), b[16 : 16+n]})
		b = b[16+n:]
	}
	return recs, lt
}

// readPcapng reads the enhanced packet blocks of a pcapng capture whose
// interfaces share one link type and use the default microsecond or
// nanosecond resolution.
func readPcapng(t testing.TB, data []byte) ([]record, uint32) {
	t.Helper()
	var o binary.ByteOrder = binary.LittleEndian
	var lts []uint32
	var res []int64
	var recs []record
	for b := data; len(b) >= 12; {
		if binary.LittleEndian.Uint32(b) == 0x0a0d0d0a {
			o = binary.LittleEndian
			if binary.BigEndian.Uint32(b[8:]) == 0x1a2b3c4d {
				o = binary.BigEndian
			}
		}
		typ, n := o.Uint32(b), int(o.Uint32(b[4:]))
		if n < 12 || n > len(b) {
			t.Fatalf("bad block")
		}
		body := b[8 : n-4]
		switch typ {
		case 1: // interface description
			lts = append(lts, uint32(o.Uint16(body)))
			unit := int64(1000)
			for opt := body[8:]; len(opt) >= 4; {
				code, l := o.Uint16(opt), int(o.Uint16(opt[2:]))
				if code == 0 || 4+l > len(opt) {
					break
				}
				if code == 9 && l == 1 {
					switch opt[4] {
					case 6:
					case 9:
						unit = 1
					default:
						t.Skipf("timestamp resolution %d", opt[4])
					}
				}
				opt = opt[4+(l+3)&^3:]
			}
			res = append(res, unit)
		case 6: // enhanced packet
			i := o.Uint32(body)
			ts := int64(o.Uint32(body[4:]))<<32 | int64(o.Uint32(body[8:]))
			c := int(o.Uint32(body[12:]))
			recs = append(recs, record{ts * res[i], o.Uint32(body[16:]), body[20 : 20+c]})
		}
		b = b[n:]
	}
	for _, lt := range lts[1:] {
		if lt != lts[0] {
			t.Skip("interfaces of several link types")
		}
	}
	return recs, lts[0]
}

var le = binary.LittleEndian

// writePcap writes records as a nanosecond pcap file.
func writePcap(t testing.TB, path string, lt uint32, recs []record) {
	t.Helper()
	b := le.AppendUint32(nil, 0xa1b23c4d)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint32(b, 262144)
	b = le.AppendUint32(b, lt)
	for _, r := range recs {
		b = le.AppendUint32(b, uint32(r.ts/1e9))
		b = le.AppendUint32(b, uint32(r.ts%1e9))
		b = le.AppendUint32(b, uint32(len(r.data)))
		b = le.AppendUint32(b, r.wire)
		b = append(b, r.data...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSplitCaptureMatchesWhole splits captures by time into two files at
// several points and passes both to the reader: the result is the whole
// capture's, byte for byte but for the file names.
func TestSplitCaptureMatchesWhole(t *testing.T) {
	type input struct {
		name string
		data []byte
	}
	var ins []input
	for _, path := range captures(t, testenv.Lab(t)) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, input{filepath.Base(path), b})
	}
	ins = append(ins,
		input{"synth-reuse", testenv.Capture(t, synth.Config{Seed: 3, Conns: 600, Concurrency: 100, Mix: synth.Mix{
			ClientClose: 3, ServerClose: 3, ThreeWay: 2, Simultaneous: 1, FinRetransmit: 1, Reset: 1, CloseWait: 1, Reuse: 0.5}}),
		},
		input{"synth-default", testenv.Capture(t, synth.Config{Seed: 4, Conns: 600, Concurrency: 300, Format: synth.PCAPNG})},
	)
	for _, in := range ins {
		t.Run(in.name, func(t *testing.T) {
			recs, lt := readRecords(t, in.data)
			if len(recs) < 2 {
				t.Skip("fewer than two packets")
			}
			// The merge orders by time; a capture whose timestamps go
			// backwards is compared in time order.
			slices.SortStableFunc(recs, func(a, b record) int { return cmp.Compare(a.ts, b.ts) })
			dir := t.TempDir()
			whole := filepath.Join(dir, "whole.pcap")
			writePcap(t, whole, lt, recs)
			want, err := pipeline([]string{whole}, nil, analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, want)
			wantJSON := jsonOf(t, want)
			for _, q := range []int{1, 2, 3} {
				at := recs[len(recs)*q/4].ts
				cut := slices.IndexFunc(recs, func(r record) bool { return r.ts >= at })
				if cut == 0 {
					continue
				}
				a, b := filepath.Join(dir, fmt.Sprintf("a%d.pcap", q)), filepath.Join(dir, fmt.Sprintf("b%d.pcap", q))
				writePcap(t, a, lt, recs[:cut])
				writePcap(t, b, lt, recs[cut:])
				// Both orders of naming: the merge is by time.
				for _, names := range [][]string{{a, b}, {b, a}} {
					got, err := pipeline(names, nil, analyze.Options{})
					if err != nil {
						t.Fatal(err)
					}
					got.Capture.Files = want.Capture.Files
					if w, g := wantJSON, reportJSON(t, got); !bytes.Equal(w, g) {
						t.Errorf("split at frame %d (%s), files %s: result differs from the whole:\n%s",
							cut+1, analyze.Time(at), strings.Join([]string{filepath.Base(names[0]), filepath.Base(names[1])}, ", "),
							gocmp.Diff(string(w), string(g)))
					}
				}
			}
		})
	}
}

// The structured fuzzer feeds the close engine one 4-tuple's segments: a
// valid flow taken from a real or generated capture, encoded compactly,
// then mutated by a list of operations — reorder, duplicate, drop, flip a
// flag, move a sequence or acknowledgement number, make the clock jump,
// change a payload length — with both sides' sequence numbers offset so
// that they can wrap across 2^32 anywhere in the flow.
//
// A flow is a header byte followed by one 18-byte record per segment:
//
//	0      bit 0 sender (0: endpoint A, 1: endpoint B), bit 1 TS option,
//	       bit 2 IPv4 ID 0, bit 3 DF, bit 4 SACK permitted, bit 5 window scale
//	1      TCP flags
//	2-5    sequence number relative to the sender's base
//	6-9    acknowledgement number relative to the receiver's base
//	10-11  payload length
//	12-15  microseconds since the previous segment
//	16-17  window
//
// The header's bit 0 selects IPv6, bit 1 puts the well-known port on
// endpoint A.
const recordLen = 18

// maxFuzzSegments bounds a mutated flow.
const maxFuzzSegments = 2048

var (
	endpointsV4 = [2]netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.80")}
	endpointsV6 = [2]netip.Addr{netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db8::80")}
)

// encodeFlow encodes the segments of one 4-tuple, endpoint A being the
// sender of the first.
func encodeFlow(segs []flows.Segment) []byte {
	if len(segs) == 0 {
		return nil
	}
	a := segs[0].Src
	var hdr byte
	if segs[0].IPv6 {
		hdr |= 1
	}
	if a.Port() < segs[0].Dst.Port() {
		hdr |= 2
	}
	var base [2]uint32
	var known [2]bool
	out := []byte{hdr}
	prev := segs[0].Time
	for _, s := range segs {
		d := 0
		if s.Src != a {
			d = 1
		}
		if !known[d] {
			base[d], known[d] = s.Seq, true
		}
		if !known[1-d] && s.Flags&flows.ACK != 0 {
			base[1-d], known[1-d] = s.Ack, true
		}
		bits := byte(d)
		for i, ok := range []bool{s.HasTS, s.IPID == 0, s.DF, s.SACKPerm, s.WScale >= 0} {
			if ok {
				bits |= 2 << i
			}
		}
		dt := max(0, min((s.Time-prev)/1e3, 1<<32-1))
		prev = s.Time
		r := []byte{bits, byte(s.Flags)}
		r = binary.LittleEndian.AppendUint32(r, s.Seq-base[d])
		r = binary.LittleEndian.AppendUint32(r, s.Ack-base[1-d])
		r = binary.LittleEndian.AppendUint16(r, uint16(min(s.PayloadLen, 65535)))
		r = binary.LittleEndian.AppendUint32(r, uint32(dt))
		r = binary.LittleEndian.AppendUint16(r, s.Window)
		out = append(out, r...)
	}
	return out
}

// decodeFlow decodes an encoded flow with the senders' bases at shift and
// ^shift. Frames are left zero.
func decodeFlow(b []byte, shift uint32) []flows.Segment {
	if len(b) == 0 {
		return nil
	}
	hdr := b[0]
	addrs := endpointsV4
	if hdr&1 != 0 {
		addrs = endpointsV6
	}
	ports := [2]uint16{40000, 8080}
	if hdr&2 != 0 {
		ports = [2]uint16{443, 40000}
	}
	ep := [2]netip.AddrPort{netip.AddrPortFrom(addrs[0], ports[0]), netip.AddrPortFrom(addrs[1], ports[1])}
	base := [2]uint32{shift, ^shift}
	var ipid [2]uint16
	var tsval [2]uint32
	now := int64(1_700_000_000e9)
	var segs []flows.Segment
	for r := b[1:]; len(r) >= recordLen && len(segs) < maxFuzzSegments; r = r[recordLen:] {
		d := int(r[0] & 1)
		now += int64(binary.LittleEndian.Uint32(r[12:])) * 1e3
		s := flows.Segment{
			Time: now, Src: ep[d], Dst: ep[1-d],
			Seq:        base[d] + binary.LittleEndian.Uint32(r[2:]),
			Ack:        base[1-d] + binary.LittleEndian.Uint32(r[6:]),
			Flags:      flows.Flags(r[1]),
			PayloadLen: uint32(binary.LittleEndian.Uint16(r[10:])),
			Window:     binary.LittleEndian.Uint16(r[16:]),
			IPv6:       hdr&1 != 0, TTL: 64, WScale: -1,
			HasTS: r[0]&2 != 0, DF: r[0]&8 != 0, SACKPerm: r[0]&16 != 0,
		}
		if r[0]&32 != 0 {
			s.WScale = 7
		}
		if s.Flags&flows.SYN != 0 {
			s.MSS = 1460
		}
		if s.HasTS {
			tsval[d] = uint32(now/1e6) + uint32(d)*0x40000000
			s.TSval, s.TSecr = tsval[d], tsval[1-d]
		}
		if r[0]&4 == 0 && !s.IPv6 {
			ipid[d]++
			s.IPID = ipid[d]
		}
		segs = append(segs, s)
	}
	return segs
}

// mutate applies the operations in ops, two bytes each: an operation
// (low 3 bits) with a parameter (high 5 bits), and the segment it applies
// to (modulo the number of segments). It numbers the frames.
func mutate(segs []flows.Segment, ops []byte) []flows.Segment {
	for ; len(ops) >= 2 && len(segs) > 0; ops = ops[2:] {
		op, p := ops[0]&7, int(ops[0]>>3)
		i := int(ops[1]) % len(segs)
		j := min(i+1, len(segs)-1)
		s := &segs[i]
		switch op {
		case 0: // reorder, the timestamps with the segments: time goes back
			segs[i], segs[j] = segs[j], segs[i]
		case 1: // reorder, the timestamps staying in order
			segs[i].Time, segs[j].Time = segs[j].Time, segs[i].Time
			segs[i], segs[j] = segs[j], segs[i]
		case 2: // duplicate, p µs later
			if len(segs) < maxFuzzSegments {
				d := *s
				d.Time += int64(p) * 1e3
				segs = slices.Insert(segs, i+1, d)
			}
		case 3: // drop
			segs = slices.Delete(segs, i, i+1)
		case 4: // flip a flag
			s.Flags ^= 1 << (p % 8)
		case 5: // move the sequence or the acknowledgement number
			delta := uint32((p>>1 - 8) * 1460)
			if p&1 == 0 {
				s.Seq += delta
			} else {
				s.Ack += delta
			}
		case 6: // the clock jumps, up to a minute either way
			s.Time += int64(p-16) * 4e9
		case 7: // payload length, or a zero window
			if p == 31 {
				s.Window = 0
			} else {
				s.PayloadLen = uint32(p) * 97
			}
		}
	}
	for i := range segs {
		segs[i].Frame = uint64(i + 1)
	}
	return segs
}

// groupFlows splits a capture's segments by 4-tuple, in order of first
// appearance, keeping at most the last limit segments of each.
func groupFlows(segs []flows.Segment, limit int) [][]flows.Segment {
	type key struct{ a, b netip.AddrPort }
	idx := map[key]int{}
	var out [][]flows.Segment
	for _, s := range segs {
		k := key{s.Src, s.Dst}
		if s.Dst.Addr().Less(s.Src.Addr()) || (s.Dst.Addr() == s.Src.Addr() && s.Dst.Port() < s.Src.Port()) {
			k = key{s.Dst, s.Src}
		}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	for i, g := range out {
		if len(g) > limit {
			out[i] = g[len(g)-limit:]
		}
	}
	return out
}

// readSegments reads every TCP segment of a capture in memory.
func readSegments(tb testing.TB, data []byte) []flows.Segment {
	tb.Helper()
	r, err := capture.Open([]string{"-"}, capture.Options{Stdin: bytes.NewReader(data)})
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var segs []flows.Segment
	for {
		s, err := r.Next()
		if errors.Is(err, io.EOF) {
			return segs
		}
		if err != nil {
			tb.Fatal(err)
		}
		segs = append(segs, s)
	}
}

// seedCaptures returns the captures the fuzzers start from: the lab
// fixtures, the shared corpus when present (files up to maxSize bytes),
// and small generated captures of every close scenario.
func seedCaptures(tb testing.TB, maxSize int64) [][]byte {
	tb.Helper()
	files := captures(tb, testenv.Lab(tb))
	if dir, ok := corpusDir(tb); ok {
		files = append(files, captures(tb, dir)...)
	}
	var out [][]byte
	for _, p := range files {
		if fi, err := os.Stat(p); err != nil || fi.Size() > maxSize {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	all := synth.Mix{ClientClose: 1, ServerClose: 1, ThreeWay: 1, Simultaneous: 1, HalfClose: 1, FinRetransmit: 1,
		FinNeverAcked: 1, CloseWait: 1, Reset: 1, Rejected: 1, Open: 1, Reuse: 0.5}
	out = append(out,
		testenv.Capture(tb, synth.Config{Seed: 7, Conns: 40, Concurrency: 5, Mix: all}),
		testenv.Capture(tb, synth.Config{Seed: 8, Conns: 20, Concurrency: 20, Mix: all, Format: synth.PCAPNG, Snaplen: 65535}),
		testenv.Capture(tb, synth.Config{Seed: 9, Mode: synth.FinStorm, Storm: 40}),
	)
	return out
}

// FuzzFlowMutations runs mutated valid flows through the engine: no
// panic, every invariant of [violations], the same JSON run after run, a
// streamed run equal to a collected one, and renderers that do not fail.
func FuzzFlowMutations(f *testing.F) {
	for _, data := range seedCaptures(f, 256<<10) {
		for _, g := range groupFlows(readSegments(f, data), 400) {
			flow := encodeFlow(g)
			f.Add(flow, uint32(1_000_000), []byte{}, uint8(0))
			// Wrap endpoint A's sequence numbers across 2^32 in the
			// middle of its data (and B's, at ^shift, near the start).
			var span uint32
			for _, s := range g {
				if s.Src == g[0].Src {
					span = max(span, s.Seq+s.PayloadLen-g[0].Seq)
				}
			}
			f.Add(flow, -span/2-1, []byte{}, uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, flow []byte, shift uint32, ops []byte, maxFlows uint8) {
		segs := mutate(decodeFlow(flow, shift), ops)
		checkSegments(t, segs, int(maxFlows%4))
	})
}

// checkSegments runs segments through the engine and checks everything
// the fuzzers check.
func checkSegments(t *testing.T, segs []flows.Segment, maxFlows int) {
	t.Helper()
	res, err := analyze.Run(replay(segs), analyze.Options{MaxFlows: maxFlows})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkResult(t, res)
	first := jsonOf(t, res)

	var streamed []*analyze.Flow
	again, err := analyze.Run(replay(segs), analyze.Options{MaxFlows: maxFlows, Emit: func(f *analyze.Flow) error {
		streamed = append(streamed, f)
		return nil
	}})
	if err != nil {
		t.Fatalf("Run streaming: %v", err)
	}
	slices.SortFunc(streamed, func(a, b *analyze.Flow) int { return a.ID - b.ID })
	again.Flows = streamed
	if second := reportJSON(t, again); !bytes.Equal(first, second) {
		t.Fatalf("a streamed run differs from a collected one:\n%s\n---\n%s", first, second)
	}
	// JSONL as teardown writes it, flows built in fresh memory and in
	// the memory of the flow before (Options.Recycle).
	lines := func(recycle bool) []byte {
		var buf bytes.Buffer
		jl := report.NewJSONL(&buf)
		res, err := analyze.Run(replay(segs), analyze.Options{MaxFlows: maxFlows, Recycle: recycle, Emit: jl.Flow})
		if err != nil {
			t.Fatalf("Run streaming, Recycle %v: %v", recycle, err)
		}
		if err := jl.Summary(res); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if fresh, recycled := lines(false), lines(true); !bytes.Equal(fresh, recycled) {
		t.Fatalf("recycled flows write different lines:\n%s\n---\n%s", fresh, recycled)
	}
	render(t, res)
}

// render runs the text and Markdown renderers on res.
func render(t *testing.T, res *analyze.Result) {
	t.Helper()
	opt := report.Options{Color: "never", Verbose: true, Only: "all", Width: 100}
	if err := report.Text(io.Discard, res, opt); err != nil {
		t.Fatalf("report.Text: %v", err)
	}
	if err := report.Markdown(io.Discard, res, opt); err != nil {
		t.Fatalf("report.Markdown: %v", err)
	}
}

// nextFunc is a flows.Source made of its Next method.
type nextFunc func() (flows.Segment, error)

func (f nextFunc) Next() (flows.Segment, error) { return f() }

// replay returns a source that yields segs, then io.EOF.
func replay(segs []flows.Segment) flows.Source {
	return nextFunc(func() (flows.Segment, error) {
		if len(segs) == 0 {
			return flows.Segment{}, io.EOF
		}
		s := segs[0]
		segs = segs[1:]
		return s, nil
	})
}

// FuzzCapture runs arbitrary bytes through the whole pipeline — capture
// reader, decoders, flow table, close engine, JSON report — twice, the
// second time read ahead a batch at a time as the teardown command does:
// no panic, only *capture.Error errors, every invariant, byte-identical
// JSON.
func FuzzCapture(f *testing.F) {
	for _, data := range seedCaptures(f, 64<<10) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := pipeline([]string{"-"}, bytes.NewReader(data), analyze.Options{})
		var ce *capture.Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error %v (%T) is not a *capture.Error", err, err)
		}
		if res == nil {
			return
		}
		checkResult(t, res)
		first := jsonOf(t, res)
		again, _ := prefetched([]string{"-"}, bytes.NewReader(data), analyze.Options{})
		if second := reportJSON(t, again); !bytes.Equal(first, second) {
			t.Fatalf("a run read ahead, a batch at a time, gives different JSON:\n%s\n---\n%s", first, second)
		}
	})
}

// hostSettings is `sysctl -a` output of a default 6.18 host (KERNEL.md
// §c), the keys teardown reads among others.
const hostSettings = `net.core.somaxconn = 4096
net.ipv4.ip_local_port_range = 32768	60999
net.ipv4.tcp_abort_on_overflow = 0
net.ipv4.tcp_early_retrans = 3
net.ipv4.tcp_fin_timeout = 60
net.ipv4.tcp_invalid_ratelimit = 500
net.ipv4.tcp_keepalive_intvl = 75
net.ipv4.tcp_keepalive_probes = 9
net.ipv4.tcp_keepalive_time = 7200
net.ipv4.tcp_max_orphans = 131072
net.ipv4.tcp_max_tw_buckets = 131072
net.ipv4.tcp_mem = 287901	383868	575802
net.ipv4.tcp_orphan_retries = 0
net.ipv4.tcp_retries1 = 3
net.ipv4.tcp_retries2 = 15
net.ipv4.tcp_rfc1337 = 0
net.ipv4.tcp_rto_max_ms = 120000
net.ipv4.tcp_rto_min_us = 200000
net.ipv4.tcp_syn_retries = 6
net.ipv4.tcp_timestamps = 1
net.ipv4.tcp_tw_reuse = 2
net.ipv4.tcp_tw_reuse_delay = 1000
net.ipv4.tcp_window_scaling = 1
sysctl: permission denied on key "net.ipv4.tcp_fastopen_key"
`

// FuzzSysctls runs arbitrary text through ParseSysctls: an error is one
// line naming the file; settings read are integers as the kernel prints
// them and read back the same; and the analysis of captures whose closes
// the settings bound (FIN retransmissions, FIN_WAIT2 timeouts, TIME_WAIT
// reuse, every generated scenario) keeps its invariants with them.
func FuzzSysctls(f *testing.F) {
	f.Add([]byte(hostSettings))
	for _, v := range []string{"-2", "-1", "0", "1", "8", "9", "10", "63", "64", "2147483647", "-2147483648", "9223372036854775807", "-9223372036854775808"} {
		var b strings.Builder
		for _, k := range []string{analyze.SysOrphanRetries, analyze.SysRetries2, analyze.SysFinTimeout, analyze.SysMaxTwBuckets,
			analyze.SysMaxOrphans, analyze.SysTwReuse, analyze.SysTwReuseDelay, analyze.SysTimestamps, analyze.SysRFC1337,
			analyze.SysKeepaliveTime, analyze.SysKeepaliveIntvl, analyze.SysKeepaliveProbes, analyze.SysEarlyRetrans, analyze.SysAbortOnOverflow,
			"net.ipv4.tcp_rto_min_us", "net.ipv4.tcp_rto_max_ms", "net.ipv4.tcp_syn_retries"} {
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
		fmt.Fprintf(&b, "%s = %s %s %s\n%s = %s 1\n", analyze.SysMem, v, v, v, analyze.SysLocalPortRange, v)
		f.Add([]byte(b.String()))
	}
	f.Add([]byte("net/ipv4/tcp_fin_timeout=5\n# comment\n; comment\n\n"))
	f.Add([]byte("net.ipv4.tcp_fin_timeout = 5 6\n"))
	f.Add([]byte("just words\n"))

	var caps [][]flows.Segment
	for _, name := range []string{"fin-never-acked-orphan-retries-1.pcap", "fin-wait-2-timeout.pcap", "tw-reuse-bind.pcap", "fin-zero-window.pcap"} {
		b, err := os.ReadFile(filepath.Join(testenv.Lab(f), name))
		if err != nil {
			f.Fatal(err)
		}
		caps = append(caps, readSegments(f, b))
	}
	caps = append(caps, readSegments(f, testenv.Capture(f, synth.Config{Seed: 10, Conns: 60, Concurrency: 10, Mix: synth.Mix{
		ClientClose: 1, ServerClose: 1, ThreeWay: 1, Simultaneous: 1, HalfClose: 1, FinRetransmit: 3, FinNeverAcked: 3,
		CloseWait: 1, Reset: 1, Rejected: 1, Open: 1, Reuse: 0.5}})))

	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "host.sysctl"
		s, err := analyze.ParseSysctls(bytes.NewReader(data), name)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, name+":") || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
			return
		}
		if s.Source != name {
			t.Errorf("Source %q", s.Source)
		}
		var again strings.Builder
		for _, k := range slices.Sorted(maps.Keys(s.Values)) {
			v := s.Values[k]
			if _, ok := s.Ints(k); !ok || v != strings.Join(strings.Fields(v), " ") {
				t.Errorf("%s = %q is not integers as the kernel prints them", k, v)
			}
			fmt.Fprintf(&again, "%s = %s\n", k, v)
		}
		if len(s.Values) > 0 {
			back, err := analyze.ParseSysctls(strings.NewReader(again.String()), name)
			if err != nil || !maps.Equal(back.Values, s.Values) {
				t.Fatalf("settings do not read back: %v %v, want %v", err, back.Values, s.Values)
			}
		}
		for _, segs := range caps {
			res, err := analyze.Run(replay(segs), analyze.Options{Sysctls: s})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res)
			jsonOf(t, res)
			render(t, res)
		}
	})
}

// clockSegs builds segments between a client and a server from a compact
// spec, one per entry: sender ("c" or "s"), flags, payload length, seq and
// ack, and time in seconds (which may go back).
func clockSegs(entries ...string) []flows.Segment {
	c := netip.MustParseAddrPort("198.51.100.7:40000")
	s := netip.MustParseAddrPort("198.51.100.80:8080")
	var out []flows.Segment
	for i, e := range entries {
		var who, flags string
		var n, seq, ack uint32
		var at float64
		if _, err := fmt.Sscanf(e, "%s %s %d %d %d %g", &who, &flags, &n, &seq, &ack, &at); err != nil {
			panic(fmt.Sprintf("%q: %v", e, err))
		}
		seg := flows.Segment{Frame: uint64(i + 1), Time: 1_700_000_000e9 + int64(at*1e9), Src: c, Dst: s,
			Seq: seq, Ack: ack, PayloadLen: n, Window: 502, WScale: -1, TTL: 64}
		if who == "s" {
			seg.Src, seg.Dst = s, c
		}
		for _, f := range flags {
			seg.Flags |= map[rune]flows.Flags{'S': flows.SYN, 'F': flows.FIN, 'R': flows.RST, 'P': flows.PSH, '.': flows.ACK}[f]
		}
		out = append(out, seg)
	}
	return out
}

// TestClockJumpsBack: captures whose clock steps back (interfaces with
// their own clocks, a clock set back mid-capture) give no negative
// duration, half-close duration included. Found by FuzzFlowMutations.
func TestClockJumpsBack(t *testing.T) {
	for _, tt := range []struct {
		name string
		segs []flows.Segment
	}{
		{"half-close data before the FIN's time", clockSegs(
			"c S 0 100 0 0", "s S. 0 500 101 0.001", "c . 0 101 501 0.002",
			"s F. 0 501 101 10", "c . 0 101 502 10.001",
			"c P. 50 101 502 4", // the client's data, stamped 6 s before the server's FIN
		)},
		{"FIN_WAIT1 ended by a new SYN stamped before it", clockSegs(
			"c S 0 100 0 0", "s S. 0 500 101 0.001", "c . 0 101 501 0.002",
			"c F. 0 101 501 100", "s P. 10 501 101 10", "c S 0 9000 0 20",
		)},
		{"TIME_WAIT lingering past a step back", clockSegs(
			"c S 0 100 0 0", "s S. 0 500 101 0.001", "c . 0 101 501 0.002",
			"c F. 0 101 501 200", "s F. 0 501 102 200.001", "c . 0 102 502 200.002",
			"s . 0 502 102 5", "c . 0 102 502 300",
		)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := analyze.Run(replay(tt.segs), analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res)
		})
	}
}
