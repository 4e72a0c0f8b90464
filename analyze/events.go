package analyze

import "github.com/teardown/teardown/flows"

// Event notes (Event.Note).
const (
	NoteSYN               = "syn"
	NoteSYNAck            = "syn-ack"
	NoteSYNRetransmission = "syn-retransmission"
	NoteHandshake         = "handshake"
	NoteBadAck            = "old-ack"
	NoteFIN               = "fin"
	NoteFINRetransmission = "fin-retransmission"
	NoteFINTLP            = "fin-tlp"
	NoteAckOfFIN          = "ack-of-fin"
	NoteRST               = "rst"
	NoteRSTIgnored        = "rst-ignored"
	NoteRSTMiddlebox      = "rst-middlebox" // the ending RST, made by a device on the path
	// NoteRSTChallenged: a RST inside the receiver's window but not at
	// its rcv_nxt, which the receiver answered with a challenge ACK
	// (NoteChallengeACK, RFC 5961) and outlived.
	NoteRSTChallenged = "rst-challenged"
	NoteChallengeACK  = "challenge-ack"
	NoteDataAfterFIN  = "data-after-fin"
	NoteAfterRST      = "after-rst"
	NoteZeroWindow    = "zero-window"
	NoteWindowOpen    = "window-open"
	NoteKeepalive     = "keepalive"
	// NoteRetransmission: a copy of data the peer had not acknowledged,
	// kept as the evidence of a stall (flows.Stall).
	NoteRetransmission = "retransmission"
	// NoteDSACKOfFIN: the segment's D-SACK block reports the peer's FIN
	// received twice.
	NoteDSACKOfFIN = "dsack-of-fin"
)

// flagNames caches flows.Flags.String for every flag byte.
var flagNames = func() (n [256]string) {
	for i := range n {
		n[i] = flows.Flags(i).String()
	}
	return n
}()

// plainNotes name the reasons that need no counting, most telling first.
var plainNotes = []struct {
	why  flows.Why
	note string
}{
	{flows.WhyFinDSACK, NoteDSACKOfFIN},
	{flows.WhyFINAck, NoteAckOfFIN},
	{flows.WhyStall, NoteRetransmission},
	{flows.WhyDataAfterFIN, NoteDataAfterFIN},
	{flows.WhyBadAck, NoteBadAck},
	{flows.WhyZeroWindow, NoteZeroWindow},
	{flows.WhyWindowOpen, NoteWindowOpen},
	{flows.WhyKeepalive, NoteKeepalive},
	{flows.WhyAfterRST, NoteAfterRST},
}

// events renders the kept segments for ladder diagrams, each with the
// note that says why it matters (the most telling reason when several
// apply), into buf when they fit (its length is 0).
func (s *story) events(buf []Event) []Event {
	c := s.conn
	if len(c.Events) == 0 {
		return nil
	}
	var out []Event
	if len(c.Events) <= cap(buf) {
		out = buf[:0:len(c.Events)]
	} else {
		out = make([]Event, 0, len(c.Events))
	}
	var fins, syns [2]int
	for i := range c.Events {
		e := &c.Events[i]
		ev := Event{
			Frame: e.Frame, At: Time(e.Time), From: sideRole(int(e.Dir)),
			Flags: flagNames[e.Flags], Seq: e.Seq, Ack: e.Ack, Len: e.Len,
		}
		if e.Count > 1 {
			ev.Count = int(e.Count)
		}
		w := e.Why
		switch {
		case w&flows.WhyRST != 0:
			ev.Note = NoteRST
			if w&flows.WhyRSTAccepted == 0 {
				ev.Note = NoteRSTIgnored
			} else if s.rst != nil && s.rst.forged && s.rst.ev == e {
				ev.Note = NoteRSTMiddlebox
			} else if s.challenge(e, 0) {
				ev.Note = NoteRSTChallenged
			}
		case w&flows.WhyFIN != 0:
			ev.Note = NoteFIN
			if fins[e.Dir] > 0 {
				ev.Note = NoteFINRetransmission
				if fins[e.Dir] == 1 && s.sides[e.Dir].tlp {
					ev.Note = NoteFINTLP
				}
			}
			fins[e.Dir]++
		case w&flows.WhySYN != 0:
			ev.Note = NoteSYN
			if e.Flags&flows.ACK != 0 {
				ev.Note = NoteSYNAck
			}
			if syns[e.Dir] > 0 {
				ev.Note = NoteSYNRetransmission
			}
			syns[e.Dir]++
		case s.challenge(e, 1):
			ev.Note = NoteChallengeACK
		default:
			ev.Note = NoteHandshake
			for _, n := range plainNotes {
				if w&n.why != 0 {
					ev.Note = n.note
					break
				}
			}
		}
		out = append(out, ev)
	}
	return out
}

// challenge reports whether e is a challenged RST (i 0) or a challenge
// ACK (i 1) of the flow's.
func (s *story) challenge(e *flows.Event, i int) bool {
	for _, c := range s.challenges[:s.nChallenges] {
		if c[i] == e {
			return true
		}
	}
	return false
}
