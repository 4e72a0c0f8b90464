package analyze

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/testenv"
)

// layout packs option codes as flows.PackOptions does.
func layout(codes ...flows.Options) flows.Options {
	var l flows.Options
	for i, c := range codes {
		l |= c << (4 * i)
	}
	return l
}

const (
	nop, mss, ws, sok, ts, eol = flows.OptNOP, flows.OptMSS, flows.OptWS, flows.OptSOK, flows.OptTS, flows.OptEOL
)

// TestLinuxLayout: every layout Linux's tcp_options_write() produces for
// a SYN or SYN-ACK (timestamps and SACK on or off, window scaling on or
// off, MD5 and AO, Fast Open, MPTCP) is Linux's, and the layouts of other
// stacks, as p0f's signatures and the corpus captures have them, are not.
func TestLinuxLayout(t *testing.T) {
	if l := layout(mss, sok, ts, nop, ws); l != flows.LinuxSYN {
		t.Errorf("flows.LinuxSYN is %s, want %s", flows.LinuxSYN, l)
	}
	for _, tt := range []struct {
		name string
		l    flows.Options
		want layoutVerdict
	}{
		{"all on", layout(mss, sok, ts, nop, ws), layoutLinux},
		{"no SACK", layout(mss, nop, nop, ts, nop, ws), layoutLinux},
		{"no timestamps", layout(mss, nop, nop, sok, nop, ws), layoutLinux},
		{"no window scaling", layout(mss, sok, ts), layoutLinux},
		{"timestamps only", layout(mss, nop, nop, ts), layoutLinux},
		{"window scaling only", layout(mss, nop, ws), layoutLinux},
		{"MD5", layout(nop, nop, flows.OptMD5, mss, sok, ts, nop, ws), layoutLinux},
		{"AO", layout(flows.OptAO, mss, sok, ts, nop, ws), layoutLinux},
		{"Fast Open cookie", layout(mss, sok, ts, nop, ws, flows.OptTFO, nop, nop), layoutLinux},
		{"Fast Open, experimental form", layout(mss, sok, ts, nop, ws, flows.OptExp), layoutLinux},
		{"MPTCP", layout(mss, sok, ts, nop, ws, flows.OptMPTCP), layoutLinux},
		{"AccECN let pass", layout(mss, sok, ts, flows.OptAccECN, nop, ws), layoutLinux},
		{"MSS alone tells nothing", layout(mss), layoutNone},
		{"nothing tells nothing", 0, layoutNone},
		{"Windows", layout(mss, nop, ws, nop, nop, sok), layoutNotLinux},
		{"Windows with timestamps, FreeBSD", layout(mss, nop, ws, sok, ts), layoutNotLinux},
		{"macOS", layout(mss, nop, ws, nop, nop, ts, sok, eol), layoutNotLinux},
		{"no MSS first", layout(ws, eol), layoutNotLinux},
		{"SACK-permitted without its NOPs", layout(mss, sok, eol), layoutNotLinux},
		{"both SACK-permitted forms", layout(mss, nop, nop, ts, nop, nop, sok, nop, ws), layoutNotLinux},
		{"window scale before timestamps", layout(mss, nop, ws, nop, nop, ts), layoutNotLinux},
		{"end of options", layout(mss, sok, ts, nop, ws, eol), layoutNotLinux},
	} {
		if got := linuxLayout(tt.l); got != tt.want {
			t.Errorf("%s (%s): %d, want %d", tt.name, tt.l, got, tt.want)
		}
	}
}

// TestStackOf: a layout Linux writes settles it whatever the TTL; a
// layout it never writes names the stack the layout and the initial TTL
// point to; without a telling layout only an initial TTL other than 64
// says anything.
func TestStackOf(t *testing.T) {
	half := func(ttl uint8, varied bool, l flows.Options, syn bool) *flows.Half {
		h := &flows.Half{Packets: 3, TTL: ttl, TTLVaried: varied, Detail: &flows.Detail{}}
		if syn {
			h.SYNCount, h.SYNOptions = 1, l
		}
		return h
	}
	for _, tt := range []struct {
		name string
		h    *flows.Half
		want *Stack
	}{
		{"Linux", half(52, false, layout(mss, sok, ts, nop, ws), true), nil},
		{"Linux with IP_TTL 255", half(254, false, layout(mss, sok, ts, nop, ws), true), nil},
		{"Windows", half(121, false, layout(mss, nop, ws, nop, nop, sok), true),
			&Stack{OS: StackWindows, TTL: 121, InitialTTL: 128, SYNOptions: "mss,nop,ws,nop,nop,sok", By: "syn_options"}},
		{"macOS", half(64, false, layout(mss, nop, ws, nop, nop, ts, sok, eol), true),
			&Stack{OS: StackBSD, TTL: 64, InitialTTL: 64, SYNOptions: "mss,nop,ws,nop,nop,ts,sok,eol", By: "syn_options"}},
		{"Windows's layout from 64", half(64, false, layout(mss, nop, ws, nop, nop, sok), true),
			&Stack{OS: StackOther, TTL: 64, InitialTTL: 64, SYNOptions: "mss,nop,ws,nop,nop,sok", By: "syn_options"}},
		{"a router's", half(239, false, layout(mss, nop, ws, nop, nop, sok), true),
			&Stack{OS: StackOther, TTL: 239, InitialTTL: 255, SYNOptions: "mss,nop,ws,nop,nop,sok", By: "syn_options"}},
		{"TTLs varied", half(60, true, layout(mss, nop, ws, nop, nop, sok), true),
			&Stack{OS: StackOther, SYNOptions: "mss,nop,ws,nop,nop,sok", By: "syn_options"}},
		{"MSS alone from 255", half(255, false, layout(mss), true),
			&Stack{OS: StackOther, TTL: 255, InitialTTL: 255, SYNOptions: "mss", By: "ttl"}},
		{"MSS alone from 64", half(61, false, layout(mss), true), nil},
		{"no SYN, from 128", half(125, false, 0, false), &Stack{OS: StackOther, TTL: 125, InitialTTL: 128, By: "ttl"}},
		{"no SYN, from 64", half(50, false, 0, false), nil},
		{"no SYN, TTLs varied", half(125, true, 0, false), nil},
		{"no segment", &flows.Half{}, nil},
	} {
		got := stackOf(tt.h)
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestLabStacksAreLinux: every SYN and SYN-ACK a Linux kernel sent in
// the lab's captures has a layout judged Linux's (not merely one that
// tells nothing), and no side of any lab flow is judged another stack.
func TestLabStacksAreLinux(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testenv.Lab(t), "*.pcap*"))
	if len(files) == 0 {
		t.Skip("no lab captures")
	}
	syns := 0
	for _, path := range files {
		r, err := capture.Open([]string{path}, capture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			s, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if s.Flags&flows.SYN != 0 && s.ICMP == nil {
				syns++
				// synack-icmp-spoofed's SYN and SYN-ACKs are crafted: a
				// SYN without options and SYN-ACKs with MSS alone; so are
				// syn-probe's SYNs (MSS alone), which the server's
				// SYN-ACK answers with MSS alone; so are syn-flood-cookie's
				// spoofed SYNs. A SYN cookie sent without timestamps carries
				// MSS alone too (syn-cookies-no-timestamps).
				v := linuxLayout(s.SYNOptions)
				crafted := slices.ContainsFunc([]string{"synack-icmp-spoofed.", "syn-probe.", "syn-flood-cookie.", "syn-cookies-no-timestamps."},
					func(p string) bool { return strings.HasPrefix(filepath.Base(path), p) })
				if v != layoutLinux && !(v == layoutNone && crafted) {
					t.Errorf("%s: frame %d: SYN options %s judged %d", filepath.Base(path), s.Frame, s.SYNOptions, v)
				}
			}
		}
		r.Close()
		r, err = capture.Open([]string{path}, capture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(r, Options{})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Flows {
			for _, sd := range []*Side{f.Sides.Client, f.Sides.Server} {
				if sd != nil && sd.Stack != nil {
					t.Errorf("%s: flow %d: judged %+v", filepath.Base(path), f.ID, *sd.Stack)
				}
			}
		}
	}
	if syns < 500 {
		t.Errorf("only %d SYNs in the lab's captures", syns)
	}
}

// TestNotLinuxDiagnoses: a diagnosis about a side that is not Linux says
// so and names no Linux setting (its advice, bounds and checks go with
// it); a portable socket option and a device's setting stay, and so does
// a diagnosis about the other side.
func TestNotLinuxDiagnoses(t *testing.T) {
	win := &Stack{OS: StackWindows, TTL: 128, InitialTTL: 128, SYNOptions: "mss,nop,ws,nop,nop,sok", By: "syn_options"}
	above := 1.0
	f := &Flow{
		Client: "198.51.100.1:50000", Server: "198.51.100.2:80",
		Sides: Sides{Client: &Side{Stack: win}, Server: &Side{}},
		Diagnoses: []Diagnosis{
			{Code: CodeSynUnanswered, Side: Client, Sysctl: SysSynRetries, Advice: "raise it", Message: "m",
				Bounds: []Bound{{Host: "198.51.100.1", Sysctl: SysSynRetries, Above: &above}}},
			{Code: CodeRstLingerZero, Side: Client, Sysctl: OptLinger, Message: "m"},
			{Code: CodeLinger2Negative, Side: Client, Sysctl: OptLinger2, Message: "m"},
			{Code: CodeRstMiddlebox, Side: Client, Sysctl: SysCtEstablished, Message: "m"},
			{Code: CodeFinRetransmitted, Side: Server, Sysctl: SysOrphanRetries, Message: "m"},
			{Code: CodeCaptureStartedMidFlow, Message: "m"},
		},
	}
	w := &WireFacts{Bounds: []Bound{{Host: "198.51.100.1", Sysctl: SysFinTimeout}, {Host: "198.51.100.2", Sysctl: SysFinTimeout}}}
	addr := flowAddrs(f, nil)
	notLinux(f, &addr, w)
	d := f.Diagnoses
	if d[0].Sysctl != "" || d[0].Bounds != nil || d[0].Advice == "raise it" ||
		!strings.Contains(d[0].Message, "client is not Linux (Windows, by its SYN options mss,nop,ws,nop,nop,sok and initial TTL 128): net.ipv4.tcp_syn_retries does not govern it") {
		t.Errorf("syn-unanswered: %+v", d[0])
	}
	if d[1].Sysctl != OptLinger || !strings.Contains(d[1].Message, "client is not Linux") {
		t.Errorf("SO_LINGER: %+v", d[1])
	}
	if d[2].Sysctl != "" {
		t.Errorf("TCP_LINGER2 is Linux's: %+v", d[2])
	}
	for _, i := range []int{3, 4, 5} {
		if d[i].Message != "m" || d[i].Sysctl == "" && i != 5 {
			t.Errorf("%s changed: %+v", d[i].Code, d[i])
		}
	}
	if len(w.Bounds) != 1 || w.Bounds[0].Host != "198.51.100.2" {
		t.Errorf("bounds without a diagnosis: %+v", w.Bounds)
	}
	// Each diagnosis about the client doubts its reading of Linux's
	// behaviour; the others keep their confidence.
	for i, want := range []int{1, 1, 1, 0, 0, 0} {
		if len(d[i].Doubts) != want || want == 1 && (d[i].Confidence != ConfidenceMedium || d[i].Doubts[0] != doubtNotLinux(Client)) {
			t.Errorf("%s: confidence %q, doubts %q, want %d doubt", d[i].Code, d[i].Confidence, d[i].Doubts, want)
		}
	}
}
