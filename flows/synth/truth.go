package synth

import "time"

// Close kinds, the exact strings of DESIGN.md's close.kind vocabulary: the
// keys of [Truth.ByKind].
const (
	KindFourWay         = "four_way"
	KindThreeWay        = "three_way"
	KindSimultaneous    = "simultaneous"
	KindReset           = "reset"
	KindHalfClosedAtEnd = "half_closed_at_end"
	KindOpenAtEnd       = "open_at_end"
	KindRejected        = "rejected"
)

// Side names, the keys of [Truth.ByInitiator], [Truth.ResetBy] and
// [Truth.ReuseByHolder].
const (
	SideClient       = "client"
	SideServer       = "server"
	SideSimultaneous = "simultaneous"
)

// Truth is what a generated capture holds, counted the way DESIGN.md
// defines each quantity.
type Truth struct {
	// Packets is the number of frames written; TCPPackets, IPv6Packets
	// and UDPPackets count them by protocol.
	Packets     int `json:"packets"`
	TCPPackets  int `json:"tcp_packets"`
	UDPPackets  int `json:"udp_packets"`
	IPv6Packets int `json:"ipv6_packets"`
	// SYNs, FINs and RSTs count TCP segments with that flag set, every
	// transmission included.
	SYNs int `json:"syns"`
	FINs int `json:"fins"`
	RSTs int `json:"rsts"`

	// Conns is the number of connections (incarnations): background,
	// flood and storm connections, TIME_WAIT reuses included. Tuples is
	// the number of distinct 4-tuples: Conns - Reuses.
	Conns  int `json:"conns"`
	Tuples int `json:"tuples"`
	// ByKind counts connections by close kind. Every connection is in
	// exactly one kind; kinds with no connection are absent.
	ByKind map[string]int `json:"by_kind"`
	// ByInitiator counts the connections whose close is FIN-based
	// (four_way, three_way, simultaneous, half_closed_at_end) by the side
	// that sent the first FIN, "simultaneous" for simultaneous closes.
	ByInitiator map[string]int `json:"by_initiator"`
	// ResetBy counts reset connections by the side that sent the RST.
	ResetBy map[string]int `json:"reset_by"`
	// HalfCloses counts connections in which the passive side sent data
	// after the active FIN (and the active side ACKed it).
	HalfCloses int `json:"half_closes"`
	// FinRetransmissions counts FIN transmissions after a side's first,
	// summed over all sides and connections. FinTLPs counts the sides
	// whose first FIN retransmission is a tail-loss probe: all of them
	// but the storm flow's.
	FinRetransmissions int `json:"fin_retransmissions"`
	FinTLPs            int `json:"fin_tlps"`
	// Reuses counts connections that reuse the 4-tuple of the previous
	// one within 60 s of its TIME_WAIT, carrying the kernel's ISN
	// fingerprint; ReuseByHolder splits them by the side that held the
	// TIME_WAIT.
	Reuses        int            `json:"reuses"`
	ReuseByHolder map[string]int `json:"reuse_by_holder"`
	// SynOnly counts connections of which the capture holds one SYN and
	// nothing else (the SYN flood's); they are in ByKind as open_at_end.
	SynOnly int `json:"syn_only"`

	// Start and End are the times of the first and last frame.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// MaxOpen is the largest number of connections that were at once
	// between their first and last packet; MeanOpen is the mean of that
	// number over the whole capture, whose first Lifetime or so is the
	// ramp-up from none and whose end drains the last connections (FIN
	// retransmissions, TIME_WAIT reuses), so it is below Concurrency
	// unless the capture is many lifetimes long.
	MaxOpen  int     `json:"max_open"`
	MeanOpen float64 `json:"mean_open"`
}

func newTruth() Truth {
	return Truth{
		ByKind:        map[string]int{},
		ByInitiator:   map[string]int{},
		ResetBy:       map[string]int{},
		ReuseByHolder: map[string]int{},
	}
}
