//go:build linux

package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
)

// vantage is where tcpdump ran.
type vantage string

const (
	vantageClient vantage = "client"
	vantageServer vantage = "server"
	vantageRouter vantage = "router"
	// vantageEnds is a capture at the client and one at the server at
	// once, merged in time order into one pcapng file with an interface
	// for each.
	vantageEnds vantage = "ends"
)

// framing is the link layer (or file format) of a capture.
type framing string

const (
	frameEthernet framing = "ethernet"
	frameSLL      framing = "sll"  // -i any -y LINUX_SLL
	frameSLL2     framing = "sll2" // -i any
	frameVLAN     framing = "vlan" // Ethernet with an 802.1Q tag inserted afterwards
	framePcapng   framing = "pcapng"
	// frameDumpcap is pcapng as dumpcap writes it, which records when the
	// capture stopped (interface statistics, isb_endtime).
	frameDumpcap framing = "dumpcap"
	frameVXLAN   framing = "vxlan" // on the underlay of a VXLAN (UDP 4789) joining the two
)

// scenario is one capture of the fixture set.
type scenario struct {
	name    string
	summary string // one line for list and the README
	desc    string // the truth file's description
	v6      bool
	vantage vantage
	framing framing
	snaplen int
	sysctls map[side]map[string]string
	// host holds sysctls that no namespace has its own of
	// (net.ipv4.tcp_max_orphans): they are set in the host's namespace
	// for the run and set back after it, so they change the whole
	// machine meanwhile.
	host  map[string]string
	notes []string
	// pre runs before tcpdump starts (a connection the capture joins
	// mid-flow); it may leave sockets in env.kept for run.
	pre func(*env)
	// run drives the sockets while tcpdump records.
	run func(*env)
	// check asserts the scenario's intent against the truth derived from
	// the wire, and may trim the truth where the wire cannot decide.
	check func(*wire) error
	// tail keeps recording this long after the kernels went quiet.
	tail time.Duration
	// noQuiet stops the capture without waiting for the kernels.
	noQuiet bool
	// attempts > 1 reruns a scenario whose timing is not under control.
	attempts int
	// finSysctls overrides the sysctl of fin-retransmitted per role.
	finSysctls [2]string
	// reuseSysctl is the sysctl named by a client time-wait-reuse.
	reuseSysctl string
	// cut names one frame of the finished capture (1-based) that is then
	// removed with editcap, to model a frame the capture lost; the truth
	// describes the edited file.
	cut func([]*frame) (int, error)
	// synRetry allows a client to send its SYN more than once; anywhere
	// else a repeated SYN means the lab's path misbehaved.
	synRetry bool
	// forward, when set, puts a router between the two ends (wherever
	// tcpdump runs) and is an iptables rule of its FORWARD chain,
	// installed before sysctls[sideRouter] are set.
	forward []string
	// router puts a router between the two ends, with no rule of its
	// own, when nothing else does (forward, delay, vantage).
	router bool
	// bridge puts a router between the two ends whose side of the
	// server's link is a port of a bridge that holds its address there
	// (newTopology).
	bridge bool
	// clientB puts a second client behind the router (topology.addClientB),
	// which router must then be set for.
	clientB bool
	// icmp records the ICMP errors the TCP segments provoke too
	// (icmpFilter), not TCP alone.
	icmp bool
	// filter, when set, is the capture filter, in place of the one
	// framing and icmp choose.
	filter string
	// delay, when set, puts a router between the two ends that holds
	// every packet it forwards this long (delay.go): a path of round
	// trip 2·delay.
	delay time.Duration
	// wireNotes, when set, adds notes that a run's capture gives (what
	// the kernel did, measured on the wire) to the truth file, after
	// check accepted it; truth keeps them as it keeps every note.
	wireNotes func(*wire) []string
}

func (sc *scenario) finSysctl(r int) string {
	if sc.finSysctls[r] != "" {
		return sc.finSysctls[r]
	}
	return "net.ipv4.tcp_orphan_retries"
}

// pcapng reports whether the scenario's capture is a pcapng file.
func (sc *scenario) pcapng() bool { return sc.framing == framePcapng || sc.framing == frameDumpcap }

func (sc *scenario) captureName() string {
	if sc.pcapng() {
		return sc.name + ".pcapng"
	}
	return sc.name + ".pcap"
}

// wire is what a scenario's check sees: the frames and the derived truth.
type wire struct {
	frames []*frame
	// icmps are the capture's ICMP errors that quote a TCP segment,
	// capture duplicates included.
	icmps []*icmpErr
	truth *truthFile
	// stopped is when the capture stopped, as a dumpcap pcapng file
	// records it (isb_endtime), in ns since the epoch; 0 when the file
	// does not say.
	stopped int64
}

// flows checks the number of flows and returns a checker per flow.
func (w *wire) flows(n int) ([]*flowCheck, error) {
	if len(w.truth.Flows) != n {
		var s []string
		for _, f := range w.truth.Flows {
			s = append(s, fmt.Sprintf("%s-%s#%d", f.Client, f.Server, f.Incarnation))
		}
		return nil, fmt.Errorf("%d flows on the wire (%s), want %d", len(w.truth.Flows), strings.Join(s, " "), n)
	}
	var c []*flowCheck
	for _, f := range w.truth.Flows {
		c = append(c, &flowCheck{fl: f})
	}
	return c, nil
}

// one checks that the capture holds exactly one flow.
func (w *wire) one() (*flowCheck, error) {
	c, err := w.flows(1)
	if err != nil {
		return nil, err
	}
	return c[0], nil
}

// flowCheck collects every way a flow's wire differs from the intent.
type flowCheck struct {
	fl   *truthFlow
	errs []error
}

func (c *flowCheck) failf(format string, args ...any) *flowCheck {
	c.errs = append(c.errs, fmt.Errorf("flow %s-%s#%d: %s", c.fl.Client, c.fl.Server, c.fl.Incarnation, fmt.Sprintf(format, args...)))
	return c
}

func (c *flowCheck) err() error { return errors.Join(c.errs...) }

func (c *flowCheck) side(r int) *truthSide {
	if r == rc {
		return c.fl.Sides.Client
	}
	return c.fl.Sides.Server
}

// clientFirst checks a plain four-way close the client began: a
// complete handshake, one FIN each way, no reset, diagnosis or
// half-close, and each side's usual states.
func (c *flowCheck) clientFirst() *flowCheck {
	return c.kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeComplete).
		fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").diags().halfClose("", "").
		states(rc, activeStates...).states(rs, passiveStates...)
}

func (c *flowCheck) kind(k analyze.Kind) *flowCheck {
	if c.fl.Close.Kind != string(k) {
		c.failf("close kind %s, want %s", c.fl.Close.Kind, k)
	}
	return c
}

func (c *flowCheck) initiator(r analyze.Role) *flowCheck {
	if c.fl.Close.Initiator != string(r) {
		c.failf("initiator %s, want %s", c.fl.Close.Initiator, r)
	}
	return c
}

func (c *flowCheck) handshake(h string) *flowCheck {
	if c.fl.Handshake != h {
		c.failf("handshake %s, want %s", c.fl.Handshake, h)
	}
	return c
}

// fins checks the number of FIN transmissions of role r, in [lo, hi].
func (c *flowCheck) fins(r, lo, hi int) *flowCheck {
	if n := len(c.side(r).FinFrames); n < lo || n > hi {
		c.failf("%s sent its FIN %d times, want %d..%d", roleName[r], n, lo, hi)
	}
	return c
}

// states checks role r's state names in order.
func (c *flowCheck) states(r int, want ...string) *flowCheck {
	var got []string
	for _, s := range c.side(r).States {
		got = append(got, s.State)
	}
	if !slices.Equal(got, want) {
		c.failf("%s states %v, want %v", roleName[r], got, want)
	}
	return c
}

// reset checks the ending RST; by "" means no RST.
func (c *flowCheck) reset(by, cause string) *flowCheck {
	r := c.fl.Close.Reset
	switch {
	case by == "" && r != nil:
		c.failf("ended by a RST from the %s (frame %d), want no RST", r.By, r.Frame)
	case by != "" && r == nil:
		c.failf("no RST, want one from the %s", by)
	case by != "" && (r.By != by || r.Cause != cause):
		c.failf("RST by %s cause %s, want by %s cause %s", r.By, r.Cause, by, cause)
	}
	return c
}

// diags checks the set of diagnosis codes.
func (c *flowCheck) diags(codes ...string) *flowCheck {
	var got []string
	for _, d := range c.fl.Diagnoses {
		got = append(got, d.Code)
	}
	slices.Sort(got)
	slices.Sort(codes)
	if !slices.Equal(got, codes) {
		c.failf("diagnoses %v, want %v", got, codes)
	}
	return c
}

// icmp checks every ICMP error of the flow on the wire (its truth lists
// a bounded few): each of want is "to from type/code"
// ("client 198.51.100.80 3/3"), in frame order.
func (c *flowCheck) icmp(want ...string) *flowCheck {
	var got []string
	for _, m := range c.fl.inc.icmps {
		to := roleName[rs]
		if m.clientSide {
			to = roleName[rc]
		}
		got = append(got, fmt.Sprintf("%s %s %d/%d", to, m.from, m.typ, m.code))
	}
	if !slices.Equal(got, want) {
		c.failf("ICMP errors %q, want %q", got, want)
	}
	return c
}

// diagSide checks the side named by the diagnosis code ("" for none).
func (c *flowCheck) diagSide(code, side string) *flowCheck {
	for _, d := range c.fl.Diagnoses {
		if d.Code == code && d.Side != side {
			c.failf("diagnosis %s names side %q, want %q", code, d.Side, side)
		}
	}
	return c
}

// diagSysctl checks the knob named by the diagnosis code ("" for none).
func (c *flowCheck) diagSysctl(code, sysctl string) *flowCheck {
	for _, d := range c.fl.Diagnoses {
		if d.Code == code && d.Sysctl != sysctl {
			c.failf("diagnosis %s names %q, want %q", code, d.Sysctl, sysctl)
		}
	}
	return c
}

// halfClose checks the half-close sender and how the active side closed.
func (c *flowCheck) halfClose(sender, used string) *flowCheck {
	h := c.fl.Close.HalfClose
	switch {
	case sender == "" && h != nil:
		c.failf("half-close by %s, want none", h.Sender)
	case sender != "" && h == nil:
		c.failf("no half-close, want one by the %s", sender)
	case sender != "" && (h.Sender != sender || h.ActiveUsed != used):
		c.failf("half-close by %s (%s), want by %s (%s)", h.Sender, h.ActiveUsed, sender, used)
	}
	return c
}

// reuse checks the reuse verdict ("" means no previous incarnation).
func (c *flowCheck) reuse(verdict, holder string) *flowCheck {
	u := c.fl.Reuse
	switch {
	case verdict == "" && u != nil:
		c.failf("reuse %s, want none", u.Verdict)
	case verdict != "" && u == nil:
		c.failf("no reuse, want %s", verdict)
	case verdict != "" && (u.Verdict != verdict || u.TimeWaitHolder != holder):
		c.failf("reuse %s held by %s, want %s held by %s", u.Verdict, u.TimeWaitHolder, verdict, holder)
	}
	return c
}

func checkAll(cs ...*flowCheck) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.err())
	}
	return errors.Join(errs...)
}

// sysctls builds a scenario's per-side sysctl table.
func sysctls(client, server map[string]string) map[side]map[string]string {
	return map[side]map[string]string{sideClient: client, sideServer: server}
}

// ipv6 turns sc into its IPv6 variant, captured with framing fr at v; desc
// replaces the description when the original names another capture setup.
func ipv6(sc *scenario, fr framing, v vantage, desc string) *scenario {
	sc.name += "-v6"
	sc.v6 = true
	sc.summary += " (IPv6)"
	sc.framing, sc.vantage = fr, v
	if desc != "" {
		sc.desc = desc
	}
	sc.desc = "IPv6. " + sc.desc
	if v == vantageRouter {
		sc.desc += " Captured at a router between the two."
	}
	return sc
}

// delayed turns sc into its variant across a router that holds every
// packet d (a path of round trip 2·d), captured where sc is.
func delayed(sc *scenario, d time.Duration) *scenario {
	sc.name += "-delay"
	sc.summary += fmt.Sprintf(" (across a router that holds every packet %v)", d)
	sc.desc += fmt.Sprintf(" A router between the two holds every packet it forwards for %v (NFQUEUE; this kernel has no netem).", d)
	sc.delay = d
	return sc
}

// overVXLAN turns sc into its variant between two ends joined by a VXLAN,
// captured on its underlay.
func overVXLAN(sc *scenario) *scenario {
	sc.name += "-vxlan"
	sc.summary += " (over VXLAN)"
	sc.framing = frameVXLAN
	sc.desc += " The two ends are joined by a Linux VXLAN (VNI 42, UDP port 4789) over " + underlayC4.String() +
		" and " + underlayS4.String() + ", and the capture is taken on the underlay: every segment is in a VXLAN datagram."
	return sc
}

// scenarios is the fixture set, in the order of the README.
func scenarios() []*scenario {
	return []*scenario{
		clientActiveClose(),
		serverActiveClose(),
		threeWayClose(),
		simultaneousClose(),
		halfCloseShutdown(),
		halfCloseReset(),
		finRetransmitted(),
		finNeverAcked("1", 4, frameEthernet, vantageClient),
		finNeverAcked("3", 6, framePcapng, vantageServer),
		finNeverAckedShutdown(),
		orphanLimitReset(),
		finWait2Timeout(),
		closeWaitLongScenario(),
		closeWaitPool(),
		lastAckAbsorbed(),
		finZeroWindow(),
		captureEndsMidClose(),
		rstLingerZero(),
		rstUnreadData(),
		rstSockDestroy(),
		twReuseBind(),
		twReuseEphemeral(),
		portsExhausted(),
		twServerAccept(),
		twSynRefused(),
		twBucketsOverflow(),
		ipv6(clientActiveClose(), frameSLL2, vantageClient, ""),
		ipv6(finRetransmitted(), frameEthernet, vantageServer, ""),
		ipv6(rstLingerZero(), frameEthernet, vantageClient,
			"The client sends a 100-byte request, which the server reads, then sets SO_LINGER {on, 0 s} and "+
				"close()s: the kernel sends [R.] instead of a FIN. Default sysctls."),
		ipv6(twReuseBind(), frameEthernet, vantageRouter, ""),
		overVXLAN(clientActiveClose()),
		manyConnections(),
		linger2Negative(),
		connectionRefused(),
		synUnanswered(),
		synAckUnanswered(),
		acceptQueueFull(),
		acceptQueueExpired(),
		ipv6(acceptQueueExpired(), frameEthernet, vantageServer, ""),
		synDroppedAcceptQueue(),
		synCookies(true),
		synCookies(false),
		synFloodCookie(),
		synDroppedConntrackFull(),
		ipFragments(),
		vxlanFragments(),
		fragmentsDropped(),
		captureStartsMidFlow(),
		keepaliveReset(),
		listenOverflow(),
		twRstIgnored(),
		twAssassinated(),
		captureMissingPackets(),
		middleboxIdleReset(),
		middleboxCloseWait(),
		ipv6(middleboxReject(), frameEthernet, vantageClient, ""),
		middleboxRefused(),
		synRejectedICMP(),
		synRejectedICMPRouterV6(),
		dropAfterIdle("no-answer-after-idle", false),
		dropAfterIdle("no-answer-after-idle-fin", true),
		dataUnanswered(),
		dataUnansweredICMP(),
		finNeverAckedICMP(),
		synackICMPSpoofed(),
		pmtuBlackHole(blackHole4),
		pmtuBlackHoleProbing(),
		pmtuBlackHoleHostFirewall(blackHole4),
		pmtuBlackHole(blackHole6),
		pmtuBlackHoleHostFirewall(blackHole6),
		pathDelay(),
		delayed(finRetransmitted(), 20*time.Millisecond),
		delayed(finNeverAcked("1", 4, frameEthernet, vantageClient), 20*time.Millisecond),
		delayed(finWait2Timeout(), 20*time.Millisecond),
		delayed(simultaneousClose(), 20*time.Millisecond),
		delayed(twServerAccept(), 20*time.Millisecond),
		finAckLost(),
		ipv6(finAckLost(), frameEthernet, vantageClient, ""),
		captureTwiceRouter(false),
		captureTwiceRouter(true),
		captureTwiceRouterICMP(false),
		captureTwiceRouterICMP(true),
		captureBothEnds(false),
		captureBothEnds(true),
		captureTwiceNAT(false),
		captureTwiceNAT(true),
		captureTwiceNATBridge(false),
		captureTwiceNATBridge(true),
		captureTwiceNATBrNF(false),
		captureTwiceNATBrNF(true),
		twSynRefusedPAWSNAT(),
		icmpUnmatched(),
		keepaliveIdleStale(),
		keepaliveIdleRace(),
		natExpiredUntranslated(false),
		natExpiredUntranslated(true),
		natExpiredAt(vantageRouter),
		natExpiredAt(vantageServer),
		rstChallengeACK(),
		socketLost(),
		ipv6(socketLost(), frameEthernet, vantageClient, ""),
		socketLostRetries2(),
		socketLostBurst(),
		natExpiredOtherBackend(),
		connectTimeoutLateSynAck(),
		synProbe(),
		tcpFastOpen(),
	}
}
