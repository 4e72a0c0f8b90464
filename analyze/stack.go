package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/teardown/teardown/flows"
)

// Stack is what a side's segments say of its TCP stack when it is not
// Linux: the diagnoses read the wire as Linux writes it and name Linux's
// settings, which do not govern another stack. Side.Stack is nil when
// the side is Linux or the capture cannot tell.
type Stack struct {
	// OS is the stack the evidence points to (StackWindows, StackBSD,
	// StackOther).
	OS string `json:"os"`
	// TTL is the TTL (IPv6 hop limit) the side's segments arrived with,
	// RSTs aside (0 when they came with several), and InitialTTL the
	// usual initial TTL it counts down from: 64 (Linux, macOS, the BSDs),
	// 128 (Windows) or 255 (network equipment, Solaris).
	TTL        int `json:"ttl,omitempty"`
	InitialTTL int `json:"initial_ttl,omitempty"`
	// SYNOptions is the option layout of the side's SYN (or SYN-ACK),
	// its first eight options in p0f's notation, "" when the capture
	// holds none.
	SYNOptions string `json:"syn_options,omitempty"`
	// By says what the verdict rests on: "syn_options" (the layout is not
	// one Linux writes) or "ttl" (the initial TTL is not Linux's 64).
	By string `json:"by"`
}

// Stack.OS values.
const (
	// StackWindows: MSS, then window scale (before SACK-permitted and
	// timestamps), and initial TTL 128.
	StackWindows = "windows"
	// StackBSD: MSS, then window scale, timestamps later, and initial
	// TTL 64: macOS, iOS, FreeBSD.
	StackBSD = "bsd"
	// StackOther: not Linux, nothing more said.
	StackOther = "other"
)

// initialTTL returns the usual initial TTL a segment that arrived with
// ttl started from.
func initialTTL(ttl uint8) int {
	switch {
	case ttl <= 64:
		return 64
	case ttl <= 128:
		return 128
	}
	return 255
}

// layoutVerdict is what a SYN option layout says of Linux.
type layoutVerdict int

const (
	layoutNone     layoutVerdict = iota // no layout, or too little to tell
	layoutLinux                         // the layout Linux writes
	layoutNotLinux                      // a layout Linux never writes
)

// linuxLayout judges a SYN (or SYN-ACK) option layout by the order in
// which Linux's tcp_options_write() writes options: an MD5 or AO option
// first, then MSS (always), then SACK-permitted and timestamps together
// ("sok,ts") or timestamps after two NOPs, or SACK-permitted alone after
// two NOPs, then window scale after one NOP, then Fast Open, MPTCP and
// experimental options. AccECN options are let pass wherever they are.
// A layout of MSS alone (or nothing) fits Linux and every other stack.
func linuxLayout(l flows.Options) layoutVerdict {
	if l == flows.LinuxSYN {
		return layoutLinux
	}
	c := dropAccECN(l)
	if c == 0 {
		return layoutNone
	}
	if !at(&c, flows.OptNOP, flows.OptNOP, flows.OptMD5) {
		for at(&c, flows.OptNOP) {
		}
		at(&c, flows.OptAO)
	}
	if !at(&c, flows.OptMSS) {
		return layoutNotLinux
	}
	telling := at(&c, flows.OptSOK, flows.OptTS) || at(&c, flows.OptNOP, flows.OptNOP, flows.OptTS) ||
		at(&c, flows.OptNOP, flows.OptNOP, flows.OptSOK)
	if at(&c, flows.OptNOP, flows.OptWS) {
		telling = true
	}
	for ; c != 0; c >>= 4 {
		switch c & 15 {
		case flows.OptNOP, flows.OptTFO, flows.OptExp, flows.OptMPTCP:
		default:
			return layoutNotLinux
		}
	}
	if !telling {
		return layoutNone
	}
	return layoutLinux
}

// dropAccECN returns layout l without its AccECN options.
func dropAccECN(l flows.Options) flows.Options {
	var out flows.Options
	for i := 0; l != 0; l >>= 4 {
		if c := l & 15; c != flows.OptAccECN {
			out |= c << (4 * i)
			i++
		}
	}
	return out
}

// hasOption reports whether layout l holds option code o.
func hasOption(l, o flows.Options) bool {
	for ; l != 0; l >>= 4 {
		if l&15 == o {
			return true
		}
	}
	return false
}

// at consumes seq from the start of layout *l when it begins with it.
func at(l *flows.Options, seq ...flows.Options) bool {
	v := *l
	for _, x := range seq {
		if v&15 != x {
			return false
		}
		v >>= 4
	}
	*l = v
	return true
}

// stackOf returns what side h's segments say of its stack when it is not
// Linux, or nil. A layout Linux writes settles it (whatever the TTL: a
// Linux socket may raise it, as BGP's TTL security does); a layout it
// never writes, or, without a telling layout, an initial TTL other than
// 64, says another stack sent them.
func stackOf(h *flows.Half) *Stack {
	if h.Packets == 0 {
		return nil
	}
	var layout flows.Options
	if h.SYNCount > 0 && h.Detail != nil {
		layout = h.SYNOptions
	}
	v := linuxLayout(layout)
	ttl := 0
	if h.TTL != 0 && !h.TTLVaried {
		ttl = initialTTL(h.TTL)
	}
	if v == layoutLinux || v == layoutNone && ttl <= 64 {
		return nil
	}
	st := &Stack{SYNOptions: layout.String(), InitialTTL: ttl}
	if ttl != 0 {
		st.TTL = int(h.TTL)
	}
	if v == layoutNotLinux {
		st.By, st.OS = "syn_options", StackOther
		if c := layout; at(&c, flows.OptMSS, flows.OptNOP, flows.OptWS) {
			switch {
			case st.InitialTTL == 128:
				st.OS = StackWindows
			case st.InitialTTL == 64 && hasOption(c, flows.OptTS):
				st.OS = StackBSD
			}
		}
		return st
	}
	st.By, st.OS = "ttl", StackOther
	return st
}

// Describe says in words why the side is not Linux: "not Linux (Windows,
// by its SYN options mss,nop,ws,nop,nop,sok and initial TTL 128)".
func (st *Stack) Describe() string {
	var what string
	switch st.OS {
	case StackWindows:
		what = "Windows, by its SYN options"
	case StackBSD:
		what = "macOS, iOS or FreeBSD, by its SYN options"
	default:
		what = "another stack"
	}
	switch st.By {
	case "syn_options":
		s := fmt.Sprintf("not Linux (%s %s", what, st.SYNOptions)
		if st.InitialTTL != 0 {
			s += fmt.Sprintf(" and initial TTL %d", st.InitialTTL)
		}
		return s + ")"
	}
	s := fmt.Sprintf("not Linux (its segments arrive with TTL %d, counted down from %d", st.TTL, st.InitialTTL)
	if st.InitialTTL == 128 {
		s += ", as Windows starts"
	} else {
		s += ", as network equipment and Solaris start"
	}
	return s + "; or a Linux socket with IP_TTL raised)"
}

// notLinux qualifies f's diagnoses about a side that is not Linux
// (Side.Stack): each says so, a Linux setting named (a sysctl, a Linux
// socket option) is taken out with its advice, bounds and checks, and the
// bounds the flow gives without a diagnosis on that side's host are
// dropped. Diagnoses about a device on the path (a middlebox's reset, a
// silence it caused) and about the capture stay as they are. addr holds
// f's client and server addresses.
func notLinux(f *Flow, addr *[2]netip.AddrPort, w *WireFacts) {
	var st [2]*Stack
	for x, r := range [...]Role{Client, Server} {
		if sd := sideOf(f, r); sd != nil {
			st[x] = sd.Stack
		}
	}
	if st[0] == nil && st[1] == nil {
		return
	}
	for i := range f.Diagnoses {
		d := &f.Diagnoses[i]
		x := roleIndex(d.Side)
		if x < 0 || st[x] == nil || d.Code == CodeRstMiddlebox || d.Code == CodeNoAnswerAfterIdle {
			continue
		}
		if linuxSetting(d.Sysctl) {
			d.Message += fmt.Sprintf("; the %s is %s: %s does not govern it, and this reading takes Linux's behaviour for granted", d.Side, st[x].Describe(), d.Sysctl)
			d.Sysctl, d.Bounds, d.Checks = "", nil, nil
			d.Advice = "look at the " + string(d.Side) + "'s own stack and its settings: the Linux one does not apply"
			d.doubt(doubtNotLinux(d.Side))
			continue
		}
		d.Message += fmt.Sprintf("; the %s is %s: this reading takes Linux's behaviour for granted", d.Side, st[x].Describe())
		d.doubt(doubtNotLinux(d.Side))
	}
	if w == nil || len(w.Bounds) == 0 {
		return
	}
	kept := w.Bounds[:0]
	for _, b := range w.Bounds {
		if !(st[0] != nil && b.Host == hostAddr(addr[0]).String() || st[1] != nil && b.Host == hostAddr(addr[1]).String()) {
			kept = append(kept, b)
		}
	}
	w.Bounds = kept
}

// doubtNotLinux is the doubt a diagnosis about side r, which is not
// Linux, carries.
func doubtNotLinux(r Role) string {
	return "the " + string(r) + " is not Linux: the reading takes Linux's behaviour for granted"
}

// linuxSetting reports whether knob is a Linux host's setting or a
// Linux-only socket option: not a device's (conntrack), not a portable
// socket option (SO_LINGER).
func linuxSetting(knob string) bool {
	return strings.HasPrefix(knob, "net.") && !strings.HasPrefix(knob, "net.netfilter.") || strings.HasPrefix(knob, "TCP_")
}

// roleIndex is role r's side index, -1 for no side.
func roleIndex(r Role) int {
	switch r {
	case Client:
		return flows.FromClient
	case Server:
		return flows.FromServer
	}
	return -1
}

// HostStack is a host that showed a TCP stack other than Linux's in
// Flows flows (Summary.NotLinux).
type HostStack struct {
	Host  string `json:"host"`
	OS    string `json:"os"`
	Flows int    `json:"flows"`
}

// maxStackHosts bounds the host and stack pairs the summary counts.
const maxStackHosts = 1024

// hostStackKey is a host and the stack it showed.
type hostStackKey struct {
	host netip.Addr
	os   string
}

// countStack counts a flow in which host showed stack os.
func (b *summaryBuilder) countStack(host netip.Addr, os string) {
	k := hostStackKey{host, os}
	if _, ok := b.stacks[k]; !ok && len(b.stacks) >= maxStackHosts {
		return
	}
	if b.stacks == nil {
		b.stacks = map[hostStackKey]int{}
	}
	b.stacks[k]++
}

// mergeStacks adds the host counts o to s, within maxStackHosts pairs.
func mergeStacks(s, o []HostStack) []HostStack {
	for _, h := range o {
		i := slices.IndexFunc(s, func(x HostStack) bool { return x.Host == h.Host && x.OS == h.OS })
		switch {
		case i >= 0:
			s[i].Flows += h.Flows
		case len(s) < maxStackHosts:
			s = append(s, h)
		}
	}
	return s
}
