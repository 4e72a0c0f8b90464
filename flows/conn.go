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
	// MaxICMP is how many ICMP errors per connection are kept.
	MaxICMP = 4
	// MaxEvents bounds the event list of one connection.
	MaxEvents = 2*(MaxSYNs+2*MaxFINs+MaxRSTs+2*MaxZeroWindows+4) + MaxHandshake
)

// MinTSLag is how far, in nanoseconds, the server's latest SYN-ACK's
// TSval must run behind its next segment's (as a millisecond clock reads
// the time between them) for the table to keep that segment
// (Detail.TSAfterSYN): twice the timestamps' rounding.
const MinTSLag = 2e6

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
	WhyStall                        // third or fourth copy of a stall, or its first shorter copy (see Stall)
	WhyFinDSACK                     // first of its sender's segments whose D-SACK reports a duplicate of the peer's FIN
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
	// CopyTTL is, for a RST the capture held twice (tcpdump -i any on a
	// host that forwards it: as it came in and, with a lower TTL, as it
	// went out), the TTL of the copy the table dropped as a capture
	// duplicate; 0 otherwise.
	CopyTTL uint8
	Why     Why
	// Count is the number of segments folded into this event (at least
	// 1): consecutive payload segments after the peer's FIN are kept as
	// one event.
	Count uint32
}

// ICMPEvent is an ICMP error that quoted a segment of a connection.
type ICMPEvent struct {
	Mark
	ICMPError
	// Dir is the sender of the quoted segment: the side the error was
	// sent to.
	Dir uint8
	// TTL is the ICMP packet's TTL (hop limit).
	TTL uint8
	// Flags, Seq and Ack are the quoted segment's (Flags and Ack only
	// when ICMPError.QuotedFlags, QuotedAck are set).
	Flags    Flags
	Seq, Ack uint32
}

// Quiet is a silence within a connection: Gap nanoseconds passed with no
// segment before segment End.
type Quiet struct {
	Gap int64
	End Mark
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
// counts and marks, never a packet list. The fields most segments touch are
// Half's own, packed into two cache lines; the rest are in its [Detail].
type Half struct {
	Packets uint64
	// Bytes counts payload bytes, retransmissions included.
	Bytes uint64
	// Last is the latest segment of this direction.
	Last Mark

	// Sequence space. End is the highest sequence number just past any
	// segment sent (SYN and FIN count one); DataEnd the highest end of a
	// payload- or SYN-bearing segment; FirstSeq the first sequence number
	// seen (the ISN once a SYN was).
	FirstSeq, End, DataEnd uint32
	// ISN is the sequence number of the first SYN (or SYN-ACK).
	ISN uint32
	// SYNCount, FinCount and RSTCount count SYN (or SYN-ACK), FIN and RST
	// transmissions; FinCount only those with the FIN at FinSeq, the
	// sequence number it occupies (seq + payload length of the FIN
	// segment).
	SYNCount, FinCount, RSTCount        uint32
	FinSeq                              uint32
	SeqSeen, DataSeen, AckSeen, FinSeen bool
	// ZeroWindowOpen is set while this direction advertises window 0.
	ZeroWindowOpen bool
	// TSSeen is set when any segment carried the timestamp option.
	TSSeen bool
	// Options of the first SYN.
	SYNHasTS, SACKPerm bool
	WScale             int8
	// hsAcked: HandshakeAck and HandshakeAckAfter are both set.
	hsAcked bool
	// TTL is the IPv4 TTL (IPv6 hop limit) of this direction's first
	// segment that was not a RST; TTLVaried is set when a later such
	// segment arrived with another.
	TTL       uint8
	TTLVaried bool
	// tsChecked is set once the server's first segment after its SYN-ACK
	// with a timestamp was held against the SYN-ACK's (Detail.TSAfterSYN);
	// tsKept when it was kept.
	tsChecked, tsKept bool
	// FinDSACKed is set once the peer reported, with a D-SACK block (RFC
	// 2883), that it had received this direction's FIN twice: a
	// transmission before the latest had arrived. That peer segment is
	// kept as an event (WhyFinDSACK).
	FinDSACKed bool
	// Window is the last window advertised (raw, unscaled).
	Window uint16
	// stalled is set while Stalls.Cur goes on.
	stalled bool

	// MaxAck is the highest acknowledgement this direction sent. Only
	// acknowledgements of something the peer could have sent count
	// (BadAcks counts the others, such as a TIME_WAIT's ACK of the
	// previous connection).
	MaxAck uint32
	// Timestamps: TSval and TSecr of the latest segment that had the
	// option.
	TSval, TSecr uint32
	// LastData is the latest segment that carried payload; MaxAckAt the
	// first segment that carried MaxAck.
	LastData, MaxAckAt Mark

	*Detail
}

// Detail is the part of a [Half] that only some segments touch: the
// handshake and FIN marks, payload after the peer's FIN, zero windows,
// keepalives.
type Detail struct {
	// SYN is the first SYN transmission, SYNLast the latest.
	SYN, SYNLast Mark
	// SYNOptions is the first SYN's option layout.
	SYNOptions Options
	// TSAfterSYN is, for the server's direction, its first segment after
	// its SYN-ACK that carried the timestamp option, and TSAfterSYNVal its
	// TSval: the clock the SYN-ACK's own TSval can be held against. A SYN
	// cookie's runs up to 63 ms behind it, any other SYN-ACK's is on it:
	// the segment is kept only when the latest SYN-ACK's TSval ran at least
	// MinTSLag behind it (the TSval difference less the time between
	// them). The client's direction keeps none.
	TSAfterSYN    Mark
	TSAfterSYNVal uint32
	// HandshakeAck is the first segment that acknowledged the peer's SYN
	// (ack = peer ISN + 1); HandshakeAckAfter the first one sent after
	// the peer's latest SYN transmission.
	HandshakeAck, HandshakeAckAfter Mark

	// FinFirst and FinLast are the first and latest FIN transmissions.
	FinFirst, FinLast Mark
	// FinAcked is the first peer segment that acknowledged the FIN
	// (ack >= FinSeq + 1, a RST+ACK included); FinArrived the FIN
	// transmission that segment followed (the one that reached the peer);
	// FinAckedAfter the first peer acknowledgement (not a RST) sent after
	// the latest FIN transmission.
	FinAcked, FinArrived, FinAckedAfter Mark
	// FinAcks counts peer segments that acknowledged the FIN.
	FinAcks uint32
	// FinDuplicates counts FIN segments identical to the previous
	// transmission and less than a millisecond after it: the capture path
	// duplicated them (they are not counted in FinCount).
	FinDuplicates uint32
	// FinSeqChanges counts FIN segments whose FIN sat at a different
	// sequence number than the first one (the newer one is kept).
	FinSeqChanges uint32
	finAck        uint32
	finIPID       uint16

	BadAcks uint32
	badAck  uint32

	// Payload this direction sent after the peer's FIN was first seen.
	AfterPeerFIN AfterFIN

	// RSTInWindow counts RSTs whose sequence number was acceptable to the
	// receiver as the capture evidences it.
	RSTInWindow uint32
	// RSTAnswered is the peer's latest segment before this direction's
	// first RST: the one a reply RST answers, even when the peer's
	// segments in flight arrive after it.
	RSTAnswered Mark
	// SegmentsAfterRST counts segments sent after any RST of the
	// connection.
	SegmentsAfterRST uint32

	// ZeroWindows counts the zero-window episodes this direction
	// advertised; Episodes keeps the first MaxZeroWindows of them (nil
	// until the first).
	ZeroWindows uint32
	// Keepalives counts keepalive probes (seq = snd_nxt - 1, no new data);
	// LastKeepalive is the latest.
	Keepalives    uint32
	Episodes      *[MaxZeroWindows]ZeroWindow
	LastKeepalive Mark

	// Stalls is nil until this direction retransmits data at the peer's
	// highest acknowledgement.
	Stalls *Stalls
}

// Stall is a run of retransmissions of a direction's oldest
// unacknowledged data: copies of the payload at the sequence number the
// peer had acknowledged up to, until the peer acknowledged past it. A path
// that drops packets above some size while smaller ones pass (a path MTU
// black hole) leaves a stall the peer outlives: it goes on sending, or a
// shorter copy of the same bytes gets through.
type Stall struct {
	// Seq is where the copies start: the peer's highest acknowledgement.
	Seq uint32
	// Copies counts the retransmissions at Seq (the first transmission is
	// not one); First, Second and Last are the first, second and latest.
	Copies              uint32
	First, Second, Last Mark
	// MaxLen and MinLen are the longest and the shortest copy's payload.
	MaxLen, MinLen uint32
	// Shrink is the first copy, after at least two, shorter than every
	// copy before it; ShrinkLen is its payload, LongLen the shortest of
	// the copies before it.
	Shrink             Mark
	ShrinkLen, LongLen uint32
	// PeerSegs counts the peer's segments with payload, FIN or RST sent
	// after the second copy that did not acknowledge past Seq; PeerFirst
	// is the first.
	PeerSegs  uint32
	PeerFirst Mark
	// Answer is the peer's first segment that acknowledged past Seq, or
	// its RST after Shrink (AnswerRST); zero while the stall goes on.
	// LastLen is the latest copy's payload.
	Answer    Mark
	LastLen   uint32
	AnswerRST bool
	// Fragmentable is set when every copy was an IPv4 packet with DF
	// clear: a router with a smaller link fragments such copies instead
	// of answering "fragmentation needed", so what stops them on the path
	// is lost fragments, not ICMP.
	Fragmentable bool
}

// BlackHoleMinLen is the longest payload a black hole's copies may all
// stay within when the peer outlives them with no shorter copy getting
// through: every IPv4 path carries 576-byte packets.
const BlackHoleMinLen = 512

// BlackHole reports whether st shows a path dropping this direction's
// segments by their size: at least three copies, and either a shorter
// copy got through (Shrink, then Answer), or the peer sent segments after
// the second copy while copies longer than BlackHoleMinLen went
// unanswered to the end (an answer to a copy as long as the others shows
// the path carries them).
func (st *Stall) BlackHole() bool {
	if st.Copies < 3 {
		return false
	}
	if st.Answer.Seen() {
		return st.Shrink.Seen()
	}
	return st.MaxLen > BlackHoleMinLen && st.PeerSegs > 0
}

// Stalls holds a direction's latest stall and the first one that showed
// a black hole.
type Stalls struct {
	Cur, Found Stall
}

// Evidence returns the first stall that showed a black hole, or nil.
func (ss *Stalls) Evidence() *Stall {
	switch {
	case ss == nil:
		return nil
	case ss.Found.Copies > 0:
		return &ss.Found
	case ss.Cur.BlackHole():
		return &ss.Cur
	}
	return nil
}

// keep files the current stall as the black hole found, unless one was.
func (ss *Stalls) keep() {
	if ss.Found.Copies == 0 && ss.Cur.BlackHole() {
		ss.Found = ss.Cur
	}
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
	// Dir holds each direction's evidence, indexed by the sender. It
	// comes first so that each Half fills two whole cache lines.
	Dir [2]Half
	// The table's own bookkeeping and the other fields every segment
	// touches, in the next cache line.
	st connState
	// Last is the connection's latest segment.
	Last Mark
	// HandshakeDone is set once the client acknowledged the server's SYN.
	HandshakeDone bool
	more          connMore
	// Events are the kept segments in frame order; EventsDropped counts
	// those that did not fit in MaxEvents.
	Events        []Event
	EventsDropped int

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
	// First is the connection's first segment.
	First Mark
	// Quiet is the connection's longest silence: the segment that ended
	// it, and how long no segment of the connection came before it.
	Quiet Quiet
	// Tail is the latest segment that asked the other side for an answer
	// (payload, SYN, FIN or a keepalive probe) and was the first to since
	// that side's latest segment, with the silence before it: when the
	// other side sent nothing after it, nothing from Tail.End on was
	// answered.
	Tail Quiet
	// End says why the connection left the table, at capture time EndTime
	// (the time of the segment that made it leave, or the last segment of
	// the capture).
	End     EndReason
	EndTime int64
	// Prior is what the table keeps of this connection for the next
	// incarnation on its 4-tuple (whose Prev it becomes). It is set before
	// the Finish callback runs; the callback may store its own summary in
	// Prior.Memo, then or later (from another goroutine too), as long as
	// it does so before it handles the next incarnation: the table never
	// reads Memo.
	Prior *Prior

	// NATOf is, for a connection whose first segment is a SYN-ACK, the
	// ID of the connection whose SYN, on another 4-tuple less than
	// natPartialWindow before it, carries the ISN the SYN-ACK
	// acknowledges; NATAt is that SYN's time. This connection then holds
	// the server's segments of that one, translated halfway: a bridge in
	// a host that translates addresses, with br_netfilter calling
	// iptables for bridged packets, records them between the bridge and
	// the NAT (Table.natPartial). 0 otherwise.
	NATOf int
	NATAt int64

	// ICMP lists the ICMP errors that quoted the connection's segments, in
	// frame order: all of them up to MaxICMP, then the first MaxICMP-1
	// and the latest; ICMPCount counts them all.
	// They are not segments of the connection: no count, mark or
	// silence above includes them.
	ICMP      []ICMPEvent
	ICMPCount int

	// z holds the rest of a connection handed over asleep (see
	// TableOptions.LateWake) until Wake decodes it; zs is the block it
	// is in, given back to the table by Release.
	z  []byte
	zs *slab
}

// Asleep reports whether c was handed over asleep and Wake has not
// decoded it yet.
func (c *Conn) Asleep() bool { return c.z != nil }

// Wake decodes a connection handed over asleep (see
// TableOptions.LateWake); on any other connection it does nothing. It may
// run on any goroutine, once the connection is the callee's.
func (c *Conn) Wake() {
	if c.z == nil {
		return
	}
	live := c.st.live
	r := decodeHead(c, c.z, &c.st.key)
	decodeRest(c, &r)
	c.z, c.st.live = nil, live
}

// newConn allocates a connection with its two halves' details in one
// block.
func newConn() *Conn {
	b := new(struct {
		c Conn
		d [2]Detail
	})
	b.c.Dir[0].Detail, b.c.Dir[1].Detail = &b.d[0], &b.d[1]
	b.c.Dir[0].WScale, b.c.Dir[1].WScale = -1, -1
	return &b.c
}

// reset empties c for reuse, keeping its details and its event list's
// storage.
func (c *Conn) reset() {
	d0, d1 := c.Dir[0].Detail, c.Dir[1].Detail
	ev := c.Events[:0]
	ic := c.ICMP[:0]
	*d0, *d1 = Detail{}, Detail{}
	*c = Conn{}
	c.Dir[0].Detail, c.Dir[1].Detail = d0, d1
	c.Dir[0].WScale, c.Dir[1].WScale = -1, -1
	if cap(ev) > 0 {
		c.Events = ev
	}
	if cap(ic) > 0 {
		c.ICMP = ic
	}
}

// Prior is what the table keeps of a finished incarnation for the next one
// on the same 4-tuple. The table remembers one for each connection that
// left it in the last two minutes (Remember), the most numerous record it
// keeps: its fields are ordered, and sized, so that with the key it takes
// 112 bytes (see memory).
type Prior struct {
	ID   int
	Last Mark
	// Memo is whatever the Finish callback stored for the next
	// incarnation, in a layout of its own.
	Memo        Memo
	Incarnation int32
	// clientIsA says whether the client was the key's lower endpoint.
	clientIsA bool
}

// Memo is room in a Prior for what the Finish callback keeps of a
// connection for the next incarnation on its 4-tuple. It is a value, not
// a pointer, so that the table's remembered connections hold no pointer
// for the garbage collector to follow and cost no allocation of their own.
type Memo [5]uint64

// WasClient reports whether side x of c, a later incarnation on the same
// 4-tuple, had the client's address in the connection p describes.
func (p *Prior) WasClient(c *Conn, x int) bool {
	k := &c.st.key
	if k.a == k.b && k.pa == k.pb {
		return true // a connection to itself: one address
	}
	return (x == FromClient) == (c.st.clientIsA == p.clientIsA)
}

// Client returns the client's address.
func (c *Conn) Client() netip.AddrPort { return c.Addr[FromClient] }

// Server returns the server's address.
func (c *Conn) Server() netip.AddrPort { return c.Addr[FromServer] }
