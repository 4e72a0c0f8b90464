package analyze

import (
	"net/netip"
)

// A connection captured on both sides of an address translation: tcpdump
// -i any on a host that forwards with NAT (a Kubernetes node's kube-proxy
// DNAT to a pod, Docker's published ports, a NAT gateway, a load balancer
// that rewrites addresses) records each packet as it came in and as it
// went out, with other addresses or ports. The copies have other 4-tuples,
// so they make two flows, but NAT leaves the sequence numbers alone: both
// flows have the same two initial sequence numbers, 64 bits no two
// unrelated connections share. The summary links the flow built second to
// the first one.

// NATView links a flow to the flow that holds the same connection with
// other addresses.
type NATView struct {
	// Of is the other flow's id.
	Of int `json:"of"`
	// Lag is how long after the other flow's SYN this flow's was captured
	// (seconds; negative when it came first).
	Lag float64 `json:"lag"`
	// Rewritten says whose address or port differs between the two:
	// NATClient (source NAT), NATServer (destination NAT) or NATBoth;
	// empty with OneSide.
	Rewritten string `json:"rewritten,omitempty"`
	// OneSide is set when the flow holds only that side's segments of
	// the other flow's connection, translated halfway: a bridge in the
	// translating host with br_netfilter calling iptables for bridged
	// packets records the server's between the bridge and the NAT, on a
	// 4-tuple of their own that starts with the SYN-ACK (the flow table
	// links it by the ISN the SYN-ACK acknowledges, Conn.NATOf). Lag is
	// then the time from the other flow's SYN to the SYN-ACK. The flow
	// has no diagnoses, and the summary counts it only in Flows,
	// NATCopies, its close kind and final states: its story is the other
	// flow's.
	OneSide Role `json:"one_side,omitempty"`
}

// NATView.Rewritten values.
const (
	NATClient = "client"
	NATServer = "server"
	NATBoth   = "both"
)

// Counts reports whether the summary counts side r of a flow linked by v
// at its host (always when v is nil: no NAT copy). A side the translation
// left alone is one socket at one address, which the other flow counted.
// A rewritten side counts in the view that shows its socket's own
// address: the client's in the view whose SYN came first (before the
// translation, on the host that translates as between captures of the
// two ends), the server's in the later one; a translated address holds
// no socket. The other flow, counted before the link was known, counts
// its translated side all the same.
func (v *NATView) Counts(r Role) bool {
	switch {
	case v == nil:
		return true
	case v.OneSide != "":
		return false
	case v.Rewritten != NATBoth && v.Rewritten != string(r):
		return false
	case v.Lag > 0:
		return r == Server
	case v.Lag < 0:
		return r == Client
	}
	return true
}

// natWindow bounds the time between two flows' SYNs for them to be one
// connection: a translating host forwards within microseconds, captures
// of both its sides merged differ by a path's delay.
const natWindow = 1e9

// natBits sets how many recent handshakes natIndex remembers: it looks a
// flow's ISN pair up in a direct-mapped table of 1<<natBits slots. The
// two flows of a connection finish within moments of each other; another
// handshake in the same slot between them loses the link.
const natBits = 12

// natSlot is a built flow's handshake: its ISN pair, its SYN's time and
// timestamp, each side's last segment's time, its id and addresses.
type natSlot struct {
	isn   [2]uint32
	tsval uint32
	ts    bool
	at    int64
	last  [2]int64
	id    int
	addr  [2]netip.AddrPort
}

// natIndex finds flows that are one connection with other addresses.
type natIndex struct{ slots []natSlot }

// check links f to an earlier-built flow with the same ISN pair and SYN
// timestamp (or none in both), other addresses, and SYNs and each side's
// last segments less than natWindow apart; otherwise it remembers f's
// handshake. addr holds f's client and server addresses.
func (n *natIndex) check(f *Flow, addr *[2]netip.AddrPort, w *WireFacts) {
	if w == nil || !w.Handshake {
		return
	}
	if n.slots == nil {
		n.slots = make([]natSlot, 1<<natBits)
	}
	h := (w.ISN[0]*0x9e3779b1 ^ w.ISN[1]) * 0x85ebca6b
	s := &n.slots[h>>(32-natBits)]
	if s.id != 0 && s.isn == w.ISN && s.addr != *addr && s.ts == w.SYNHasTS && s.tsval == w.SYNTSval &&
		natNear(s.at, w.SYNAt) && natNear(s.last[0], w.Last[0]) && natNear(s.last[1], w.Last[1]) {
		v := &NATView{Of: s.id, Lag: float64(w.SYNAt-s.at) / 1e9, Rewritten: NATBoth}
		switch {
		case s.addr[0] == addr[0]:
			v.Rewritten = NATServer
		case s.addr[1] == addr[1]:
			v.Rewritten = NATClient
		}
		f.NAT = v
		return
	}
	*s = natSlot{isn: w.ISN, tsval: w.SYNTSval, ts: w.SYNHasTS, at: w.SYNAt, last: w.Last, id: f.ID, addr: *addr}
}

// natNear reports whether times a and b are less than natWindow apart.
func natNear(a, b int64) bool { return a-b < natWindow && b-a < natWindow }
