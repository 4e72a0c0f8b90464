package analyze

import (
	"fmt"
	"net/netip"

	"github.com/teardown/teardown/flows"
)

// The per-host PAWS check of tcp_tw_recycle (kernels before 4.12): a
// server that remembered the latest timestamp of an address dropped, for
// 60 s (TCP_PAWS_MSL), every SYN from that address whose timestamp was
// older. Behind NAT several hosts with unrelated clocks share one
// address, so some of them could not connect. The rule compares flows:
// it runs when the summary adds a flow.

// pawsWindow is TCP_PAWS_MSL: how long the remembered timestamp counted.
const pawsWindow = 60e9

// maxPawsAddrs bounds the address pairs the check remembers.
const maxPawsAddrs = 4096

// pawsSeen is the latest timestamp a client address sent a server
// address on an accepted connection.
type pawsSeen struct {
	client string // address and port of the connection
	tsval  uint32
	at     int64
}

// pawsIndex maps (client address, server address) to the latest
// accepted connection's timestamp.
type pawsIndex map[[2]netip.Addr]*pawsSeen

// check diagnoses f when its SYNs went unanswered while an accepted
// connection from the same address to the same server had sent a newer
// timestamp shortly before; otherwise it remembers f's timestamps. addr
// holds f's client and server addresses.
func (p pawsIndex) check(f *Flow, addr *[2]netip.AddrPort, w *WireFacts) {
	if w == nil {
		return
	}
	k := [2]netip.Addr{hostAddr(addr[flows.FromClient]), hostAddr(addr[flows.FromServer])}
	if w.SYNs >= 2 && !w.Answered && w.SYNHasTS {
		seen := p[k]
		if seen == nil || seen.client == f.Client || w.SYNAt < seen.at || w.SYNAt-seen.at >= pawsWindow || int32(seen.tsval-w.SYNTSval) <= 1 {
			return
		}
		var frames []uint64
		for _, e := range f.Events {
			if e.From == Client && (e.Note == NoteSYN || e.Note == NoteSYNRetransmission) {
				frames = append(frames, e.Frame)
			}
		}
		d := bookDiagnosis(CodePawsNat)
		d.Side, d.Sysctl, d.Advice, d.Frames = Server, SysTwRecycle, "set it to 0, or upgrade: Linux 4.12 removed it", frames
		d.Message = fmt.Sprintf("the server never answered %d SYNs from %s (no SYN-ACK, no RST), whose timestamp %d is older than the %d that %s sent it %s before: a per-host timestamp check dropped them — tcp_tw_recycle on a kernel before 4.12, or a middlebox doing the same — and several hosts share the address %s (NAT)",
			w.SYNs, f.Client, w.SYNTSval, seen.tsval, seen.client, FormatSeconds(float64(w.SYNAt-seen.at)/1e9), hostText(k[0]))
		f.Diagnoses = append(f.Diagnoses, d)
		doubtCapture(f, f.Diagnoses)
		return
	}
	if !w.Answered || !w.ClientTS || !k[0].IsValid() {
		return
	}
	seen := p[k]
	switch {
	case seen == nil && len(p) >= maxPawsAddrs, seen != nil && seen.at > w.ClientTSAt:
		return
	case seen == nil:
		seen = &pawsSeen{}
		p[k] = seen
	}
	*seen = pawsSeen{client: f.Client, tsval: w.ClientTSval, at: w.ClientTSAt}
}
