package analyze

import (
	"slices"
	"strconv"
	"time"
)

// Schema is the version tag of the JSON output contract.
const Schema = "teardown/v1"

// Time is a capture timestamp in nanoseconds since the Unix epoch. It
// marshals as RFC 3339 UTC with nine fractional digits.
type Time int64

// TimeLayout is the layout every timestamp in the output uses.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Std returns t as a time.Time in UTC.
func (t Time) Std() time.Time { return time.Unix(0, int64(t)).UTC() }

// MarshalText implements encoding.TextMarshaler.
func (t Time) MarshalText() ([]byte, error) {
	return t.Std().AppendFormat(nil, TimeLayout), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	*t = Time(v.UnixNano())
	return nil
}

// Seconds returns the duration from t to u in seconds.
func (t Time) Seconds(u Time) float64 { return float64(u-t) / 1e9 }

// String renders t in the output layout.
func (t Time) String() string { b, _ := t.MarshalText(); return string(b) }

// Result is everything teardown concluded about one run: the top-level
// object of `--format json`.
type Result struct {
	Schema  string   `json:"schema"`
	Capture Capture  `json:"capture"`
	Flows   []*Flow  `json:"flows"`
	Summary *Summary `json:"summary"`
}

// Capture describes the input files.
type Capture struct {
	Files     []string `json:"files"`
	Format    string   `json:"format"`
	LinkTypes []string `json:"link_types"`
	// Tunnels are the kinds of tunnel TCP segments came out of (VXLAN,
	// GRE, ...), and Tunnelled counts those segments; the reports show
	// them, the teardown/v1 document does not.
	Tunnels    []string `json:"-"`
	Tunnelled  uint64   `json:"-"`
	Packets    uint64   `json:"packets"`
	TCPPackets uint64   `json:"tcp_packets"`
	// ICMPErrors counts the ICMP errors that quoted a TCP segment (each
	// is listed in its connection's Flow.ICMP).
	ICMPErrors uint64 `json:"icmp_errors,omitempty"`
	// Reassembled counts the TCP segments (among TCPPackets) reassembled
	// from IP fragments, directly or in a tunnel's datagram: each is
	// numbered as the fragment that completed it, as in Wireshark.
	Reassembled uint64  `json:"reassembled,omitempty"`
	Skipped     Skipped `json:"skipped"`
	Truncated   bool    `json:"truncated"`
	First       Time    `json:"first"`
	Last        Time    `json:"last"`
	// Stopped is when the capture stopped, where the input records it
	// (pcapng interface statistics) and that was after Last: the states
	// left open at Last run to it.
	Stopped Time `json:"stopped,omitempty"`
	// UnreadFrom is the time of the record at which the reading stopped
	// early, that record being past --until: it and the rest of the
	// input were not read, and the counts above leave them out.
	UnreadFrom Time `json:"unread_from,omitempty"`
	// OutOfOrder counts records whose timestamp was earlier than the
	// record before them in the same file; they are analysed in file order.
	OutOfOrder uint64 `json:"out_of_order,omitempty"`
	// Warnings are one-line notes about the input (a truncated last record,
	// out-of-order timestamps, ...), each naming the file and frame.
	Warnings []string `json:"warnings,omitempty"`
}

// Skipped counts packets that were read but not analysed.
type Skipped struct {
	NonTCP    uint64 `json:"non_tcp"`
	Malformed uint64 `json:"malformed"`
	Fragments uint64 `json:"fragments"`
}

// Role names a side of a connection.
type Role string

// Roles of a connection's sides, and the non-side values close fields use.
const (
	Client       Role = "client"
	Server       Role = "server"
	Simultaneous Role = "simultaneous"
	NoRole       Role = "none"
)

// Values of Flow.Roles.
const (
	RolesHandshake = "handshake"
	RolesInferred  = "inferred"
)

// Values of Flow.Handshake.
const (
	HandshakeComplete  = "complete"
	HandshakeSynOnly   = "syn_only"
	HandshakeSynSynAck = "syn_synack"
	HandshakeNotSeen   = "not_seen"
)

// Kind is how a connection ended.
type Kind string

// Close kinds (DESIGN.md, closed vocabulary).
const (
	FourWay          Kind = "four_way"
	ThreeWay         Kind = "three_way"
	SimultaneousKind Kind = "simultaneous"
	ResetKind        Kind = "reset"
	HalfClosedAtEnd  Kind = "half_closed_at_end"
	OpenAtEnd        Kind = "open_at_end"
	Rejected         Kind = "rejected"
)

// Flow is one incarnation of one 4-tuple: the unit of the report.
type Flow struct {
	ID          int    `json:"id"`
	Incarnation int    `json:"incarnation"`
	Client      string `json:"client"`
	Server      string `json:"server"`
	Roles       string `json:"roles"`
	FirstFrame  uint64 `json:"first_frame"`
	LastFrame   uint64 `json:"last_frame"`
	Start       Time   `json:"start"`
	End         Time   `json:"end"`
	Handshake   string `json:"handshake"`
	// ZeekState is the conn_state Zeek's conn.log would give the
	// connection, the client as originator (ZeekConnState): for joining
	// teardown's flows with Zeek's records.
	ZeekState string `json:"zeek_state"`
	// RTT is the capture point's round trip to each side, from the
	// handshake; nil when it shows neither.
	RTT   *RTT   `json:"rtt"`
	Close Close  `json:"close"`
	Sides Sides  `json:"sides"`
	Reuse *Reuse `json:"reuse"`
	// Diagnoses is never nil in output: an empty list is "[]".
	Diagnoses []Diagnosis `json:"diagnoses"`
	// Evicted is set when --max-flows pushed the flow out of the table
	// before its story was complete.
	Evicted bool `json:"evicted,omitempty"`
	// ICMP lists the ICMP errors that quoted the flow's segments (past
	// flows.MaxICMP of them, the first ones and the latest); ICMPErrors
	// counts them all.
	ICMP       []ICMP `json:"icmp,omitempty"`
	ICMPErrors int    `json:"icmp_errors,omitempty"`
	// NAT is set when the flow is a connection the capture also holds as
	// an earlier-built flow with other addresses: captured before and
	// after a device translated them (nat.go).
	NAT *NATView `json:"nat,omitempty"`
	// Untranslated is set when the flow is one of a pair: a connection
	// and the segments of it a NAT passed on untranslated, with the RSTs
	// that answered them (untranslated.go). The flow of the two the
	// summary adds second carries it, with a nat-untranslated diagnosis.
	Untranslated *UntranslatedLink `json:"untranslated,omitempty"`
	// Wire carries what the capture-wide rules read from the segments
	// when the flow is added to the summary, which then drops it: it is
	// nil in every flow Run returns or emits, and never output.
	Wire *WireFacts `json:"-"`
	// Events are the close-related segments in frame order (handshake,
	// FINs and their retransmissions, ACKs of FINs, RSTs, the first data
	// after a FIN), bounded in number: what a ladder diagram draws.
	Events []Event `json:"events,omitempty"`
}

// WorstRank is the Rank of f's most severe diagnosis, 0 without any.
func (f *Flow) WorstRank() int {
	w := 0
	for _, d := range f.Diagnoses {
		w = max(w, d.Severity.Rank())
	}
	return w
}

// Event is one close-related segment of a flow.
type Event struct {
	Frame uint64 `json:"frame"`
	At    Time   `json:"at"`
	// From is the side that sent the segment.
	From  Role   `json:"from"`
	Flags string `json:"flags"` // tcpdump style: "S", "S.", "F.", "R", "."
	Seq   uint32 `json:"seq"`
	Ack   uint32 `json:"ack"`
	Len   uint32 `json:"len"`
	// Note says why the segment matters: "fin", "fin-retransmission",
	// "fin-tlp", "ack-of-fin", "rst", "data-after-fin" (with Count when
	// several were folded into one event), "syn", "syn-ack", ...
	Note  string `json:"note"`
	Count int    `json:"count,omitempty"`
}

// Close is the close story of a flow.
type Close struct {
	Initiator Role       `json:"initiator"`
	Kind      Kind       `json:"kind"`
	HalfClose *HalfClose `json:"half_close"`
	Reset     *Reset     `json:"reset"`
}

// HalfClose describes data the passive side sent after the active FIN.
type HalfClose struct {
	Sender   Role    `json:"sender"`
	Bytes    uint64  `json:"bytes"`
	Duration float64 `json:"duration"`
	// ActiveUsed is "shutdown", "close" or "unknown".
	ActiveUsed string `json:"active_used"`
}

// Reset describes the RST that ended a flow.
type Reset struct {
	By    Role   `json:"by"`
	Frame uint64 `json:"frame"`
	State State  `json:"state"`
	Cause string `json:"cause"`
}

// Sides holds the per-side close story.
type Sides struct {
	Client *Side `json:"client"`
	Server *Side `json:"server"`
}

// Side is one side's state sequence and FIN accounting.
type Side struct {
	States             []StateEntry       `json:"states"`
	FinFrames          []uint64           `json:"fin_frames"`
	FinRetransmissions int                `json:"fin_retransmissions"`
	FinTLP             bool               `json:"fin_tlp"`
	Durations          map[string]float64 `json:"durations"`
	FinalState         State              `json:"final_state"`
	// OpenEnded is set when the capture ended (or the flow was evicted)
	// before the final state did: its duration is a lower bound.
	OpenEnded bool `json:"open_ended,omitempty"`
	// FinInferred is set when the side's FIN is not in the capture but
	// the peer acknowledged it (ack = FIN seq + 1 past all data seen).
	FinInferred bool `json:"fin_inferred,omitempty"`
	// FinDSACK is the frame of the peer's first segment whose D-SACK
	// block (RFC 2883) reported this side's FIN received twice: a
	// transmission before the latest had arrived, so the retransmission
	// was needless (0 when none).
	FinDSACK uint64 `json:"fin_dsack,omitempty"`
	// IgnoredRSTs counts RSTs this side sent that the receiver could not
	// accept (sequence number outside its window): they changed nothing.
	IgnoredRSTs int32 `json:"ignored_rsts,omitempty"`
	// ChallengedRSTs counts RSTs this side sent inside the receiver's
	// window but not at the sequence number it expected next: the
	// receiver answered with a challenge ACK (RFC 5961) and lived on
	// (challengedRST).
	ChallengedRSTs int32 `json:"challenged_rsts,omitempty"`
	// ZeroWindowFinHeld counts the peer's zero-window episodes that held
	// this side's FIN back (the FIN left only once the window opened).
	ZeroWindowFinHeld int `json:"zero_window_fin_held,omitempty"`
	// Stack is set when the side's segments show a TCP stack other than
	// Linux's (its SYN's option layout, or its TTL): the Linux settings
	// the diagnoses would name do not govern it.
	Stack *Stack `json:"stack,omitempty"`
}

// StateEntry is one transition of a side into State, evidenced by Frame.
type StateEntry struct {
	State State  `json:"state"`
	Frame uint64 `json:"frame"`
	At    Time   `json:"at"`
	// Via is "rst" when a RST (sent or received) caused the transition.
	Via string `json:"via,omitempty"`
	// Inferred is set when no captured segment shows the transition
	// itself (a FIN the capture missed, a handshake before the capture
	// began); Frame is then the first segment that proves it.
	Inferred bool `json:"inferred,omitempty"`
}

// Reuse links incarnation n+1 of a 4-tuple to incarnation n.
type Reuse struct {
	PreviousID     int     `json:"previous_id"`
	Gap            float64 `json:"gap"`
	TimeWaitHolder Role    `json:"time_wait_holder"`
	Timestamps     bool    `json:"timestamps"`
	Verdict        string  `json:"verdict"`
}

// Severity ranks a diagnosis.
type Severity string

// Severities, lowest first.
const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

// Rank orders severities: info 1, warning 2, error 3, unknown 0.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 1
	case Warning:
		return 2
	case Error:
		return 3
	}
	return 0
}

// Diagnosis is one finding about a flow.
type Diagnosis struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Side     Role     `json:"side,omitempty"`
	// Sysctl is the full dotted sysctl name, a socket option, or empty when
	// no knob applies (the message then says whose bug it is).
	Sysctl  string   `json:"sysctl,omitempty"`
	Message string   `json:"message"`
	Frames  []uint64 `json:"frames"`
	// Advice says which way to move the knob, or what to fix instead
	// ("leave it; make the server close() when read() returns 0"), lower
	// case without a final period. Empty when the rule gives none; the
	// Markdown report's sysctl table shows it as the recommended direction.
	Advice string `json:"advice,omitempty"`
	// Bounds are what the capture says about the governing knob's value
	// on the side's host (tcp_orphan_retries from a FIN's retry budget,
	// tcp_fin_timeout from a FIN_WAIT2 that expired, ...).
	Bounds []Bound `json:"bounds,omitempty"`
	// Checks compare the diagnosis with the host's settings when they
	// were given (Options.Sysctls).
	Checks []SettingCheck `json:"checks,omitempty"`
	// Confidence is how far the diagnosis can be trusted: high with no
	// Doubts, medium with one, low with more. A doubt says what weakens
	// it: a cause the wire cannot tell from another (the rule book's
	// RuleInfo.Doubt), a capture that missed packets of the connection or
	// began after it, a side that is not Linux.
	Confidence Confidence `json:"confidence"`
	Doubts     []string   `json:"doubts,omitempty"`
}

// Confidence grades a diagnosis: ConfidenceHigh, ConfidenceMedium or
// ConfidenceLow.
type Confidence string

// Confidence levels.
const (
	ConfidenceHigh   Confidence = "high"
	ConfidenceMedium Confidence = "medium"
	ConfidenceLow    Confidence = "low"
)

// doubt adds why to d's doubts, once, and grades d again.
func (d *Diagnosis) doubt(why string) {
	if slices.Contains(d.Doubts, why) {
		return
	}
	d.Doubts = append(d.Doubts[:len(d.Doubts):len(d.Doubts)], why)
	d.grade()
}

// settle takes why out of d's doubts (the wire or the host's settings
// decided it) and grades d again.
func (d *Diagnosis) settle(why string) {
	if !slices.Contains(d.Doubts, why) {
		return
	}
	d.Doubts = slices.DeleteFunc(slices.Clone(d.Doubts), func(s string) bool { return s == why })
	if len(d.Doubts) == 0 {
		d.Doubts = nil
	}
	d.grade()
}

// settleBook takes the rule book's doubt about d's code out of d: the
// rule found what decides it.
func (d *Diagnosis) settleBook() {
	if r, ok := ruleInfo(d.Code); ok && r.Doubt != "" {
		d.settle(r.Doubt)
	}
}

// grade sets d's confidence from its doubts.
func (d *Diagnosis) grade() { d.Confidence = gradeOf(d.Doubts) }

// gradeOf is the confidence doubts leave: high with none, medium with
// one, low with more.
func gradeOf(doubts []string) Confidence {
	switch len(doubts) {
	case 0:
		return ConfidenceHigh
	case 1:
		return ConfidenceMedium
	}
	return ConfidenceLow
}

// bookDoubt is the rule book's doubt about code (RuleInfo.Doubt), ""
// when it has none.
func bookDoubt(code string) string {
	r, _ := ruleInfo(code)
	return r.Doubt
}

// Summary is the capture-wide view. Its fields are filled by the summary
// code; every count in it is mergeable across shards.
type Summary struct {
	Flows       int            `json:"flows"`
	CloseKinds  map[string]int `json:"close_kinds"`
	FinalStates map[string]int `json:"final_states"`
	Diagnoses   map[string]int `json:"diagnoses"`
	// Evicted counts flows --max-flows pushed out of the table early.
	Evicted int `json:"evicted,omitempty"`
	// Forgotten counts closed connections --max-flows made the analysis
	// forget before their two minutes were up: a SYN reusing one of
	// their 4-tuples later was not linked to them.
	Forgotten int `json:"forgotten,omitempty"`
	// Duplicates counts the segments dropped as capture duplicates: the
	// same segment again within a millisecond, as tcpdump -i any records
	// a packet a host forwards or bridges once per interface, or with the
	// same TSval up to a second later, as captures of both ends merged
	// hold it (flows.Table).
	Duplicates int `json:"duplicates,omitempty"`
	// DuplicateGaps says how far the TCP duplicates came after their
	// first copies; nil without any.
	DuplicateGaps *DuplicateGaps `json:"duplicate_gaps,omitempty"`
	// UnmatchedICMP counts the ICMP errors that quoted a TCP segment of
	// no connection the analysis held, and keeps the first few.
	UnmatchedICMP *UnmatchedICMP `json:"unmatched_icmp,omitempty"`
	// NATCopies counts the flows that hold a connection another flow
	// holds with other addresses (Flow.NAT): captured on both sides of
	// an address translation. The per-host and per-port counts take a
	// copy's side only where it shows the socket's own address
	// (NATView.Counts); every other count includes both flows. Shards
	// split by 4-tuple link a pair only when it falls in one of them.
	NATCopies int `json:"nat_copies,omitempty"`
	// NotLinux lists the hosts whose segments, in some flow, showed a
	// TCP stack other than Linux's (Side.Stack), each with the stack and
	// how many flows showed it, most first: the diagnoses about their
	// sides name no Linux setting. At most maxStackHosts host and stack
	// pairs are kept.
	NotLinux []HostStack `json:"not_linux,omitempty"`
	// IdleCloses are the services whose connections were closed after a
	// silence of a second or more (an idle or keep-alive timeout) and
	// then written on by the peer, which met a RST (rst-data-after-close),
	// most flows first; at most maxIdleCloses of them.
	IdleCloses []IdleCloseLoad `json:"idle_closes,omitempty"`
	// ConnectDelays are the servers some of whose connections were
	// answered only at a retransmitted SYN (syn-retransmitted), or whose
	// listener showed its accept queue full, most flows first; at most
	// maxConnectDelays of them.
	ConnectDelays []ConnectDelayLoad `json:"connect_delays,omitempty"`
	// Untranslated are the services whose connections' segments a NAT
	// let through untranslated, and whose receiver reset them
	// (nat-untranslated), by the address they came from, most flows
	// first; at most maxUntranslated of them. A pair is counted when both
	// its flows are in one summary.
	Untranslated []UntranslatedLoad `json:"untranslated,omitempty"`
	// LostSockets are the hosts whose kernel reset connections they had
	// held and never closed, for want of their sockets (rst-no-socket),
	// by address and side, most flows first; at most maxLostSockets.
	LostSockets []LostSocketLoad `json:"lost_sockets,omitempty"`
	// Probes are the client addresses that sent half-open probes
	// (syn-probe), most flows first; at most maxProbes.
	Probes []ProbeLoad `json:"probes,omitempty"`
	// Hosts are the per-host socket counts over time with their peaks,
	// by address; Ports the ephemeral-port pressure per client address
	// and server address. Past a cap on the hosts (address pairs,
	// applications holding CLOSE_WAIT) tracked, UntrackedFlows counts the
	// flows left out of them.
	Hosts          []HostLoad `json:"hosts,omitempty"`
	Ports          []PortLoad `json:"ports,omitempty"`
	UntrackedFlows int        `json:"untracked_flows,omitempty"`
	// CloseWaits break the close-wait-long flows down by the application
	// that held CLOSE_WAIT, most flows first.
	CloseWaits []CloseWaitLoad `json:"close_waits,omitempty"`
	// FinRetransmissions is the distribution of FIN retransmissions per
	// side that sent a FIN; CloseDurations that of the time spent in each
	// close state (open-ended ones left out); ReuseGaps that of TIME_WAIT
	// reuse gaps.
	FinRetransmissions *Histogram            `json:"fin_retransmissions,omitempty"`
	CloseDurations     map[string]*Histogram `json:"close_durations,omitempty"`
	ReuseGaps          *Histogram            `json:"reuse_gaps,omitempty"`
	// ClientRTT and ServerRTT are the distributions of the capture
	// point's round trips to the clients and to the servers (Flow.RTT):
	// where the capture was taken.
	ClientRTT *Histogram `json:"client_rtt,omitempty"`
	ServerRTT *Histogram `json:"server_rtt,omitempty"`
	// Findings are the conclusions drawn across flows: bursts of orphan
	// resets, counts at a kernel limit, ephemeral ports running out.
	Findings []Finding `json:"findings,omitempty"`
}

// FormatSeconds renders a duration in seconds compactly for messages:
// "0.2ms", "41ms", "1.4s", "61.0s".
func FormatSeconds(s float64) string {
	switch {
	case s < 0.001:
		return strconv.FormatFloat(s*1e6, 'f', 0, 64) + "µs"
	case s < 1:
		return strconv.FormatFloat(s*1e3, 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	}
}
