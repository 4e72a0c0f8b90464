package flows

import "net/netip"

// Direction indexes of a connection: segments sent by the client travel in
// direction [FromClient], segments sent by the server in [FromServer]. Every
// per-direction array in this package is indexed by the sender.
const (
	FromClient = 0
	FromServer = 1
)

// Caps on the evidence one connection keeps. Counts keep going past a cap;
// only the lists stop growing.
const (
	// MaxFINs is how many FIN transmissions per direction are kept as events.
	MaxFINs = 16
	// MaxRSTs is how many RST segments per direction are kept as events.
	MaxRSTs = 4
	// MaxSYNs is how many SYN transmissions per direction are kept as events.
	MaxSYNs = 4
	// MaxHandshake is how many other segments are kept while the handshake
	// is incomplete (a TIME_WAIT's old ACK, the client's RST, ...).
	MaxHandshake = 8
	// MaxZeroWindows is how many zero-window episodes per direction are kept.
	MaxZeroWindows = 4
	// MaxEvents bounds the event list of one connection.
	MaxEvents = 2*(MaxSYNs+2*MaxFINs+MaxRSTs+2*MaxZeroWindows+4) + MaxHandshake
)

// Mark is one segment's place in the capture: its frame number and time.
// The zero Mark means "none".
type Mark struct {
	Frame uint64
	Time  int64
}

// Seen reports whether m refers to a segment.
func (m Mark) Seen() bool { return m.Frame != 0 }

func markOf(s *Segment) Mark { return Mark{s.Frame, s.Time} }

// Why says why a segment was kept as an [Event]. A segment may be kept for
// several reasons.
type Why uint16

// Reasons for keeping a segment.
const (
	WhySYN          Why = 1 << iota // carries SYN
	WhyHandshake                    // sent while the handshake was incomplete
	WhyFIN                          // carries FIN
	WhyFINAck                       // first of its sender's segments to acknowledge the peer's FIN (transmission)
	WhyRST                          // carries RST
	WhyDataAfterFIN                 // first payload from its sender after the peer's FIN
	WhyAfterRST                     // first segment of its sender after a RST
	WhyZeroWindow                   // starts a zero-window episode of its sender
	WhyWindowOpen                   // ends a zero-window episode of its sender
	WhyKeepalive                    // keepalive probe (seq = snd_nxt - 1, no new data)
	WhyRSTAccepted                  // a RST the receiver would take (see Table)
	WhyBadAck                       // acknowledges nothing its peer sent (an old connection's ACK)
)

// Event is one segment a connection kept as evidence: the close-related
// segments, in frame order. Events hold values only.
type Event struct {
	Frame        uint64
	Time         int64
	Seq, Ack     uint32
	Len          uint32
	TSval, TSecr uint32
	Win          uint16
	IPID         uint16
	// Dir is the sender: FromClient or FromServer.
	Dir   uint8
	Flags Flags
	HasTS bool
	DF    bool
	TTL   uint8
	Why   Why
	// Count is the number of segments folded into this event (at least
	// 1): consecutive payload segments after the peer's FIN are kept as
	// one event.
	Count uint32
}

// Mark returns the event's frame and time.
func (e *Event) Mark() Mark { return Mark{e.Frame, e.Time} }

func eventOf(s *Segment, dir int, why Why) Event {
	return Event{
		Frame: s.Frame, Time: s.Time,
		Seq: s.Seq, Ack: s.Ack, Len: s.PayloadLen,
		TSval: s.TSval, TSecr: s.TSecr,
		Win: s.Window, IPID: s.IPID,
		Dir: uint8(dir), Flags: s.Flags,
		HasTS: s.HasTS, DF: s.DF, TTL: s.TTL,
		Why: why, Count: 1,
	}
}

// Half is the bounded evidence about one direction of a connection: what
// its sender sent, and the marks at which the peer acknowledged it. It keeps
// counts and marks, never a packet list.
type Half struct {
	Packets uint64
	// Bytes counts payload bytes, retransmissions included.
	Bytes uint64

	// SYN (or SYN-ACK) transmissions.
	SYNCount uint32
	// SYN is the first SYN transmission, SYNLast the latest.
	SYN, SYNLast Mark
	ISN          uint32
	// Options of the first SYN.
	SYNHasTS bool
	SACKPerm bool
	WScale   int8

	// Sequence space. End is the highest sequence number just past any
	// segment sent (SYN and FIN count one); DataEnd the highest end of a
	// payload- or SYN-bearing segment.
	SeqSeen  bool
	DataSeen bool
	FirstSeq uint32
	End      uint32
	DataEnd  uint32
	// LastData is the latest segment that carried payload.
	LastData Mark

	// Acknowledgements this direction sent. Only acknowledgements of
	// something the peer could have sent count (BadAcks counts the others,
	// such as a TIME_WAIT's ACK of the previous connection).
	BadAcks uint32
	badAck  uint32
	AckSeen bool
	MaxAck  uint32
	// MaxAckAt is the first segment that carried MaxAck.
	MaxAckAt Mark
	// HandshakeAck is the first segment that acknowledged the peer's SYN
	// (ack = peer ISN + 1); HandshakeAckAfter the first one sent after
	// the peer's latest SYN transmission.
	HandshakeAck, HandshakeAckAfter Mark

	// Window is the last window advertised (raw, unscaled).
	Window uint16

	// FIN: FinSeq is the sequence number the FIN occupies (seq + payload
	// length of the FIN segment). FinCount counts every FIN transmission
	// with that sequence number; FinFirst and FinLast are the first and
	// latest of them.
	FinSeen           bool
	FinSeq            uint32
	FinCount          uint32
	FinFirst, FinLast Mark
	// FinDuplicates counts FIN segments identical to the previous
	// transmission and less than a millisecond after it: the capture path
	// duplicated them (they are not counted in FinCount).
	FinDuplicates uint32
	finAck        uint32
	finIPID       uint16
	// FinSeqChanges counts FIN segments whose FIN sat at a different
	// sequence number than the first one (the newer one is kept).
	FinSeqChanges uint32
	// FinAcked is the first peer segment that acknowledged the FIN
	// (ack >= FinSeq + 1, a RST+ACK included); FinArrived the FIN
	// transmission that segment followed (the one that reached the peer);
	// FinAckedAfter the first peer acknowledgement (not a RST) sent after
	// the latest FIN transmission.
	FinAcked, FinArrived, FinAckedAfter Mark
	// FinAcks counts peer segments that acknowledged the FIN.
	FinAcks uint32

	// Payload this direction sent after the peer's FIN was first seen.
	AfterPeerFIN AfterFIN

	// RSTCount counts RST segments; RSTInWindow those whose sequence
	// number was acceptable to the receiver as the capture evidences it.
	RSTCount    uint32
	RSTInWindow uint32

	// Timestamps: TSSeen when any segment carried the option; TSval and
	// TSecr of the latest one.
	TSSeen       bool
	TSval, TSecr uint32

	// Zero-window episodes this direction advertised (window 0). Probes
	// counts segments the peer sent into a zero window.
	ZeroWindows      uint32
	ZeroWindowOpen   bool
	ZeroWindow       [MaxZeroWindows]ZeroWindow
	Keepalives       uint32
	LastKeepalive    Mark
	Last             Mark
	LastIPID         uint16
	SegmentsAfterRST uint32
}

// AfterFIN measures payload a direction sent after the peer's FIN.
type AfterFIN struct {
	Bytes    uint64
	Segments uint32
	// First and Last are the first and latest payload segments.
	First, Last Mark
	// Start is the sequence number of the first of those bytes, End the
	// highest sequence number just past them.
	Start, End uint32
}

// ZeroWindow is one episode of a direction advertising a zero window.
type ZeroWindow struct {
	Start, End Mark // End is zero while the episode is open
	// Probes counts peer segments sent while the window was zero.
	Probes uint32
}

// Roles says how a connection's client and server were decided.
type Roles uint8

// Ways roles are decided.
const (
	// RolesSYN: the client sent the first SYN seen.
	RolesSYN Roles = iota + 1
	// RolesSYNACK: no SYN seen, but the server sent a SYN-ACK.
	RolesSYNACK
	// RolesInferred: no handshake seen; the well-known or lower port is
	// the server.
	RolesInferred
)

// EndReason says why a connection left the table.
type EndReason uint8

// Reasons a connection left the table.
const (
	// EndLinger: its story was complete (FINs acknowledged both ways, or a
	// RST) and it stayed quiet for the linger time.
	EndLinger EndReason = iota + 1
	// EndSuperseded: a new SYN started the next incarnation of its 4-tuple.
	EndSuperseded
	// EndIdleHandshake: a handshake that never completed went quiet.
	EndIdleHandshake
	// EndEvicted: the table was full and it was the longest idle.
	EndEvicted
	// EndOfCapture: the capture ended while it was in the table.
	EndOfCapture
)

// Conn is one incarnation of one 4-tuple, handed to the table's Finish
// callback when it leaves the table. The callee owns it.
type Conn struct {
	// ID numbers connections from 1 in the order of their first frame.
	ID int
	// Incarnation is 1 for the first connection on a 4-tuple the table
	// knows, n+1 for the one a new SYN started after incarnation n.
	Incarnation int
	// Prev is the previous incarnation of the 4-tuple, or nil.
	Prev *Prior
	// Addr holds the client's and the server's address.
	Addr  [2]netip.AddrPort
	Roles Roles
	// First and Last are the connection's first and latest segments.
	First, Last Mark
	Dir         [2]Half
	// Events are the kept segments in frame order; EventsDropped counts
	// those that did not fit in MaxEvents.
	Events        []Event
	EventsDropped int
	// HandshakeDone is set once the client acknowledged the server's SYN.
	HandshakeDone bool
	// End says why the connection left the table, at capture time EndTime
	// (the time of the segment that made it leave, or the last segment of
	// the capture).
	End     EndReason
	EndTime int64
	// Memo is free for the Finish callback: whatever it stores there is
	// kept with the 4-tuple and handed back as Prev.Memo to the next
	// incarnation.
	Memo any
}

// Prior is what the table keeps of a finished incarnation for the next one
// on the same 4-tuple.
type Prior struct {
	ID          int
	Incarnation int
	Addr        [2]netip.AddrPort
	Last        Mark
	// Memo is the finished connection's Memo.
	Memo any
}

// Client returns the client's address.
func (c *Conn) Client() netip.AddrPort { return c.Addr[FromClient] }

// Server returns the server's address.
func (c *Conn) Server() netip.AddrPort { return c.Addr[FromServer] }
