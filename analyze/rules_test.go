package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows"
)

// Rules no lab fixture can fire (global sysctls the lab cannot set,
// keepalive, listen overflow, PAWS behind NAT, ...) and the edges of those
// it can, on literal segment sequences built to KERNEL.md's description
// of the wire. Frames: the handshake is 1-3, the exchange 4-6.

// diagSet renders a flow's diagnoses as sorted "code sysctl side" lines.
func diagSet(f *Flow) []string {
	var out []string
	for _, d := range f.Diagnoses {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s", d.Code, d.Sysctl, d.Side)))
	}
	slices.Sort(out)
	return out
}

// find returns f's diagnosis with code.
func find(t *testing.T, f *Flow, code string) Diagnosis {
	t.Helper()
	for _, d := range f.Diagnoses {
		if d.Code == code {
			return d
		}
	}
	t.Fatalf("no %s in %v", code, diagSet(f))
	return Diagnosis{}
}

// window sets the advertised window.
func window(v uint16) opt { return func(_ *wire, s *flows.Segment) { s.Window = v } }

// ackOf acknowledges n bytes of frame f's payload.
func ackOf(w *wire, f int, n uint32) opt {
	seq := w.segs[f-1].Seq
	return func(_ *wire, s *flows.Segment) { s.Ack = seq + n }
}

// activeRST makes a RST+ACK look like a full socket's: live IPv4 ID and
// the TS option (the wire's default), sequence number snd_nxt.
func activeRST(w *wire, s *flows.Segment) { s.Flags |= flows.ACK }

// lateSegment ends observation d seconds after the wire's last segment
// with a SYN on another 4-tuple (another connection the capture holds).
func lateSegment(w *wire, d float64) {
	w.now += int64(d * 1e9)
	w.segs = append(w.segs, flows.Segment{
		Frame: uint64(len(w.segs) + 1), Time: w.now,
		Src: netip.MustParseAddrPort("192.0.2.99:50000"), Dst: netip.MustParseAddrPort("192.0.2.98:443"),
		Seq: 1, Flags: flows.SYN, Window: 64240, WScale: -1,
	})
	w.after = append(w.after, w.nxt)
}

// finRetransmissions sends side x's FIN, then copies of it at the given
// offsets from it (seconds); it returns the FIN's frame.
func finRetransmissions(w *wire, x int, offsets ...float64) int {
	fin := w.send(x, "F.", 0)
	prev := 0.0
	for _, o := range offsets {
		w.again(fin, o-prev)
		prev = o
	}
	return fin
}

// dataCopies sends n bytes from side x 50 ms after the last segment, then
// copies of them d seconds after the one before, for each d; it returns
// the first transmission's frame.
func dataCopies(w *wire, x int, n uint32, ds ...float64) int {
	f := w.send(x, "P.", n, gap(0.05))
	for _, d := range ds {
		w.again(f, d)
	}
	return f
}

// dfClear sends a segment with DF clear (IP_PMTUDISC_DONT).
func dfClear(_ *wire, s *flows.Segment) { s.DF = false }

// clientGivesUp has the client close 3 s on, its FIN acknowledging none
// of the server's data from frame resp on, and the server acknowledge
// that FIN; it returns the FIN's frame.
func clientGivesUp(w *wire, resp int) int {
	fin := w.send(cli, "F.", 0, gap(3), ackOf(w, resp, 0))
	w.send(srv, ".", 0, gap(0.04))
	return fin
}

// synSeries sends the client's SYN n times, 1 s apart.
func synSeries(w *wire, n int) {
	syn := w.send(cli, "S", 0)
	for range n - 1 {
		w.again(syn, 1)
	}
}

// runOpts analyses segments with options.
func runOpts(t *testing.T, segs []flows.Segment, opts Options) *Result {
	t.Helper()
	res, err := Run(&sliceSource{segs: segs}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// measuredN3 is KERNEL.md §b's measured FIN timeline of an orphan with
// tcp_orphan_retries 3: the FIN, a tail-loss probe, four RTO
// retransmissions, then silence.
var measuredN3 = []float64{0.206, 0.414, 0.858, 1.686, 3.350}

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		// bare cases start from nothing, the others after the handshake
		// and an exchange.
		bare  bool
		build func(w *wire)
		// want is the exact set of "code sysctl side" lines of the first
		// flow, or with some a subset of them.
		want []string
		some bool
		// says are fragments the named diagnoses' messages must hold.
		says map[string][]string
		sys  map[string]string
		// checks are the diagnoses' "sysctl=agrees" comparisons.
		checks map[string][]string
	}{
		{
			name: "FIN never acknowledged, silence proven: the budget brackets tcp_orphan_retries",
			build: func(w *wire) {
				finRetransmissions(w, cli, measuredN3...)
				lateSegment(w, 10)
			},
			want: []string{"fin-never-acked net.ipv4.tcp_orphan_retries client"},
			says: map[string][]string{CodeFinNeverAcked: {"6 times", "gave up silently", "tcp_orphan_retries 3–4", "tail-loss probe"}},
		},
		{
			name: "more retransmissions than tcp_orphan_retries allows: no orphan, tcp_retries2 governed",
			build: func(w *wire) {
				finRetransmissions(w, cli, measuredN3...)
				lateSegment(w, 10)
			},
			sys:    map[string]string{SysOrphanRetries: "2", SysRetries2: "3"},
			want:   []string{"fin-never-acked net.ipv4.tcp_retries2 client"},
			says:   map[string][]string{CodeFinNeverAcked: {"was no orphan", "tcp_retries2 = 3 (3.0s) governed it"}},
			checks: map[string][]string{CodeFinNeverAcked: {SysOrphanRetries + "=false"}},
		},
		{
			name: "the host's tcp_orphan_retries fits the budget",
			build: func(w *wire) {
				finRetransmissions(w, cli, measuredN3...)
				lateSegment(w, 10)
			},
			sys:    map[string]string{SysOrphanRetries: "3"},
			want:   []string{"fin-never-acked net.ipv4.tcp_orphan_retries client"},
			checks: map[string][]string{CodeFinNeverAcked: {SysOrphanRetries + "=true"}},
		},
		{
			name: "FIN retransmitted by a socket that only shut down: tcp_retries2",
			build: func(w *wire) {
				fin := w.send(cli, "F.", 0)      // 7
				w.again(fin, 0.205)              // 8: tail-loss probe
				w.send(srv, ".", 0, gap(0.05))   // 9: ACK of the FIN
				w.send(srv, "P.", 500, gap(0.1)) // 10: half-close data
				w.send(cli, ".", 0)              // 11: ACKed: shutdown(SHUT_WR)
				w.send(srv, "F.", 0, gap(0.1))   // 12
				w.send(cli, ".", 0)              // 13
			},
			want: []string{"fin-retransmitted net.ipv4.tcp_retries2 client"},
			says: map[string][]string{CodeFinRetransmitted: {"twice", "only shut down"}},
		},
		{
			name: "orphan reset at close(): FIN, then RST+ACK from the same socket",
			build: func(w *wire) {
				w.send(cli, "F.", 0)                       // 7
				w.send(cli, "R", 0, activeRST, gap(50e-6)) // 8: seq = FIN seq + 1
			},
			want: []string{"orphan-reset net.ipv4.tcp_max_orphans client"},
			says: map[string][]string{CodeOrphanReset: {"at close()", "tcp_mem"}},
		},
		{
			name: "orphan reset where a FIN retransmission was due",
			build: func(w *wire) {
				finRetransmissions(w, cli, 0.206, 0.414)
				w.send(cli, "R", 0, activeRST, gap(0.87)) // RTO 2 was due
			},
			want: []string{"orphan-reset net.ipv4.tcp_max_orphans client"},
			says: map[string][]string{CodeOrphanReset: {"where the next retransmission was due", "3 times"}},
		},
		{
			name: "data after a silence never answered: a device on the path forgot the connection",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(30)) // 7
				for _, d := range []float64{0.21, 0.42, 0.84, 1.68} {
					w.again(req, d)
				}
			},
			want: []string{"no-answer-after-idle net.netfilter.nf_conntrack_tcp_timeout_established client"},
			says: map[string][]string{CodeNoAnswerAfterIdle: {"after 30.0s of silence the client sent 100 bytes (frame 7)", "retransmitting for 3.1s (to frame 11)", "tracked it as ESTABLISHED", "tcp_retries2", "host is down"}},
		},
		{
			name: "a FIN after a silence never answered: the orphan gives up too",
			build: func(w *wire) {
				w.now += 600e9
				finRetransmissions(w, cli, measuredN3...)
			},
			want: []string{"fin-never-acked net.ipv4.tcp_orphan_retries client", "no-answer-after-idle net.netfilter.nf_conntrack_tcp_timeout_established client"},
			says: map[string][]string{CodeNoAnswerAfterIdle: {"after 600.0s of silence the client sent its FIN (frame 7)", "tcp_orphan_retries"}},
		},
		{
			name: "half-closed, then silent: conntrack's CLOSE_WAIT timeout",
			build: func(w *wire) {
				w.send(srv, "F.", 0)                  // 7
				w.send(cli, ".", 0)                   // 8
				req := w.send(cli, "P.", 50, gap(90)) // 9
				w.again(req, 0.3)                     // 10
				w.again(req, 0.9)                     // 11
			},
			want: []string{"no-answer-after-idle net.netfilter.nf_conntrack_tcp_timeout_close_wait client"},
			some: true,
			says: map[string][]string{CodeNoAnswerAfterIdle: {"50 bytes", "tracked it as CLOSE_WAIT"}},
		},
		{
			name: "keepalive probes after a silence, unanswered to the end of the capture",
			build: func(w *wire) {
				w.send(cli, ".", 0, seqNum(w.nxt[cli]-1), gap(7200))
				w.send(cli, ".", 0, seqNum(w.nxt[cli]-1), gap(75))
			},
			want: []string{"no-answer-after-idle net.netfilter.nf_conntrack_tcp_timeout_established client"},
			says: map[string][]string{CodeNoAnswerAfterIdle: {"the client sent keepalive probes", "tcp_keepalive_probes"}},
		},
		{
			name: "retransmissions after a silence that the server answers in the end",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(30))
				w.again(req, 0.21)
				w.again(req, 0.84)
				w.send(srv, ".", 0)
			},
		},
		{
			name: "a short silence before the unanswered data",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(0.5))
				w.again(req, 0.21)
				w.again(req, 0.84)
			},
		},
		{
			name: "data retransmitted and never answered, with no silence before",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(0.05))
				w.again(req, 0.2)
				w.again(req, 0.4)
				w.again(req, 0.8)
				w.again(req, 1.6)
				w.send(cli, "P.", 50, gap(0.01)) // new data, unanswered too
			},
			want: []string{"data-unanswered net.ipv4.tcp_retries2 client"},
			says: map[string][]string{CodeDataUnanswered: {"the client sent 150 bytes the server never acknowledged (from frame 7, 51.0ms after the server's latest segment) and went on retransmitting for 3.0s (to frame 12)", "the segments stopped reaching it", "ETIMEDOUT"}},
		},
		{
			name: "data retransmitted and answered by a router's ICMP host unreachable",
			build: func(w *wire) {
				router := netip.MustParseAddr("198.51.100.1")
				req := w.send(cli, "P.", 100, gap(0.05))
				w.icmp(router, req, 3, 1, 0.0001)
				for range 4 {
					again := w.again(req, 0.8)
					w.icmp(router, again, 3, 1, 0.0001)
				}
			},
			want: []string{"data-unanswered net.ipv4.tcp_retries2 client"},
			says: map[string][]string{CodeDataUnanswered: {
				"the application gets EHOSTUNREACH (\"No route to host\"), the error the ICMP left, rather than ETIMEDOUT; TCP_USER_TIMEOUT",
				"Its segments drew 5 ICMP errors (host-unreachable, frames 8 to 16) from 198.51.100.1, a router or firewall on the path: it has no way on to the server, or a REJECT rule answers for it",
				"RFC 6069",
			}},
		},
		{
			name: "a FIN whose copies drew a router's host unreachable",
			build: func(w *wire) {
				router := netip.MustParseAddr("198.51.100.1")
				// The lab's fin-never-acked-icmp (tcp_orphan_retries 1):
				// a tail-loss probe, then RTO retransmissions that do not
				// back off.
				fin := w.send(cli, "F.", 0, gap(0.05))
				w.icmp(router, fin, 3, 1, 0.0001)
				for range 4 {
					again := w.again(fin, 0.245)
					w.icmp(router, again, 3, 1, 0.0001)
				}
				w.later(3)
			},
			want: []string{"fin-never-acked net.ipv4.tcp_orphan_retries client"},
			says: map[string][]string{CodeFinNeverAcked: {
				"client FIN sent 5 times over 980.4ms",
				"and never acknowledged (the ICMP errors its copies drew undid the retransmission backoff: the copies kept a steady pace), and no copy came when the next was due (+1.2s): the socket gave up silently, its budget 490.2ms–735.3ms from the first RTO retransmission, which fits tcp_orphan_retries 1",
				"Its segments drew 5 ICMP errors (host-unreachable, frames 8 to 16) from 198.51.100.1",
				"RFC 6069, so the copies come at a steady pace)",
			}},
		},
		{
			// The lab's pmtu-black-hole: tcp_mtu_probing = 0, the
			// client's read times out and it closes.
			name: "full-size copies the client outlives: a path MTU black hole",
			build: func(w *wire) {
				resp := dataCopies(w, srv, 1448, 0.2, 0.4, 0.8, 1.6)
				clientGivesUp(w, resp)
				w.again(resp, 5.2)
			},
			want: []string{"capture-ended-mid-close", "pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
			says: map[string][]string{CodePMTUBlackHole: {
				"the server retransmitted its oldest unacknowledged data 5 times from frame 8 to frame 14 (copies of 1448 bytes), and the client never acknowledged it though it was up: it went on sending, and its segment after the second copy (frame 12) came through",
				"its tcp_mtu_probing is 0 (the default)",
				"(the server's own acknowledgement of the client's FIN, frame 13, reached it: no copy of that FIN followed in the 5.2s the capture went on, so small segments crossed the path this way too;",
			}},
		},
		{
			// The lab's fragments-dropped: every copy with DF clear, so
			// no router answers them; their fragments did not all
			// arrive.
			name: "full-size copies with DF clear",
			build: func(w *wire) {
				resp := w.send(srv, "P.", 1448, gap(0.05), dfClear)
				for _, d := range []float64{0.2, 0.4, 0.8, 1.6} {
					w.again(resp, d)
				}
				clientGivesUp(w, resp)
				w.again(resp, 5.2)
			},
			want: []string{"capture-ended-mid-close", "pmtu-black-hole net.ipv4.ip_no_pmtu_disc server"},
			says: map[string][]string{CodePMTUBlackHole: {
				"every copy left with DF clear, for the server does no path MTU discovery on this connection (net.ipv4.ip_no_pmtu_disc not 0, or IP_MTU_DISCOVER set to IP_PMTUDISC_DONT on the socket), so a router whose link is smaller fragments the copies instead of answering",
			}},
		},
		{
			// With ip_no_pmtu_disc = 0 the socket cleared DF itself.
			name: "full-size copies with DF clear, ip_no_pmtu_disc = 0",
			build: func(w *wire) {
				resp := w.send(srv, "P.", 1448, gap(0.05), dfClear)
				for _, d := range []float64{0.2, 0.4, 0.8, 1.6} {
					w.again(resp, d)
				}
				clientGivesUp(w, resp)
			},
			sys:    map[string]string{SysNoPMTUDisc: "0"},
			want:   []string{"capture-ended-mid-close", "pmtu-black-hole IP_MTU_DISCOVER server"},
			says:   map[string][]string{CodePMTUBlackHole: {"with 0 TCP sets DF, yet the copies left without it: the socket set IP_MTU_DISCOVER to IP_PMTUDISC_DONT"}},
			checks: map[string][]string{CodePMTUBlackHole: {SysNoPMTUDisc + "=false"}},
		},
		{
			// The client's FIN sent again after the server's ACK of
			// it: nothing shows the server's small segments arrive.
			name: "full-size copies, and the client's FIN sent again",
			build: func(w *wire) {
				resp := dataCopies(w, srv, 1448, 0.2, 0.4, 0.8, 1.6)
				fin := clientGivesUp(w, resp)
				w.again(fin, 0.3)
				w.again(resp, 5.2)
			},
			want: []string{"capture-ended-mid-close", "fin-retransmitted net.ipv4.tcp_orphan_retries client", "pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
			says: map[string][]string{CodePMTUBlackHole: {"or a path that stopped carrying this direction alone, would look the same"}},
		},
		{
			// The lab's pmtu-black-hole-host-firewall: the router's
			// fragmentation needed reach the capture point on the
			// server's host, and its INPUT chain drops them.
			name: "a black hole whose fragmentation needed the capture holds",
			build: func(w *wire) {
				router := netip.MustParseAddr("198.51.100.126")
				resp := w.send(srv, "P.", 1448, gap(0.05))
				w.pmtu(w.icmp(router, resp, 3, 4, 0.0001), 1000)
				for _, d := range []float64{0.2, 0.4, 0.8, 1.6} {
					w.pmtu(w.icmp(router, w.again(resp, d), 3, 4, 0.0001), 1000)
				}
				clientGivesUp(w, resp)
			},
			want: []string{"capture-ended-mid-close", "pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
			says: map[string][]string{CodePMTUBlackHole: {
				"Yet the capture holds 5 ICMP fragmentation-needed (frames 8 to 16, next-hop MTU 1000) from 198.51.100.126 quoting the server's segments: the messages came as far as the capture point, and the server did not act on them",
			}},
		},
		{
			name: "full-size copies for longer than tcp_mtu_probing = 1 allows",
			build: func(w *wire) {
				resp := dataCopies(w, srv, 1448, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)
				w.send(cli, "F.", 0, gap(1), ackOf(w, resp, 0))
			},
			sys:    map[string]string{SysMTUProbing: "1"},
			want:   []string{"capture-ended-mid-close", "pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
			says:   map[string][]string{CodePMTUBlackHole: {"black-hole detection would have shrunk the copies at a timeout past 3.0s (tcp_retries1 = 3), yet they kept their size for 12.4s"}},
			checks: map[string][]string{CodePMTUBlackHole: {SysMTUProbing + "=false"}},
		},
		{
			// With 2 no segment outgrows tcp_base_mss but a probe: a
			// stall of full-size copies is not that sender's.
			name: "full-size copies with tcp_mtu_probing = 2",
			build: func(w *wire) {
				resp := dataCopies(w, srv, 1448, 0.2, 0.4, 0.8)
				w.send(cli, "F.", 0, gap(1), ackOf(w, resp, 0))
			},
			sys:    map[string]string{SysMTUProbing: "2", SysBaseMSS: "1200"},
			want:   []string{"capture-ended-mid-close", "pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
			says:   map[string][]string{CodePMTUBlackHole: {"with 2 Linux starts every connection at tcp_base_mss (1200 bytes) and sends longer segments only as probes, whose loss stalls nothing, yet copies of 1448 bytes went unanswered"}},
			checks: map[string][]string{CodePMTUBlackHole: {SysMTUProbing + "=false"}},
		},
		{
			// At 2 with a path narrower than tcp_base_mss the copies
			// shrink as at 1.
			name: "copies of tcp_base_mss with tcp_mtu_probing = 2",
			build: func(w *wire) {
				resp := dataCopies(w, srv, 1024, 0.2, 0.4, 0.8)
				w.send(cli, "F.", 0, gap(1), ackOf(w, resp, 0))
			},
			sys:    map[string]string{SysMTUProbing: "2"},
			want:   []string{"capture-ended-mid-close", "pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
			checks: map[string][]string{CodePMTUBlackHole: {SysMTUProbing + "=true"}},
		},
		{
			// The same, captured for long after the client's FIN: the
			// copies' silence is the black hole's, not a vanished peer's
			// or a forgetful firewall's.
			name: "full-size copies long after the client's FIN",
			build: func(w *wire) {
				resp := dataCopies(w, srv, 1448, 0.2, 0.4, 0.8, 1.6)
				clientGivesUp(w, resp)
				for _, d := range []float64{5.2, 13.6, 27.2} {
					w.again(resp, d)
				}
			},
			want: []string{"capture-ended-mid-close", "pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
		},
		{
			// tcp_mtu_probing = 1: 1024 bytes are still too many, 512
			// get through.
			name: "a shorter copy gets through: a path MTU black hole recovered",
			build: func(w *wire) {
				resp := dataCopies(w, srv, 1448, 0.2, 0.4, 0.8, 1.6, 3.4, 6.8)
				w.segs[len(w.segs)-2].PayloadLen = 1024
				w.segs[len(w.segs)-1].PayloadLen = 512
				w.send(cli, ".", 0, gap(0.001), ackOf(w, resp, 512))
			},
			want:   []string{"pmtu-black-hole net.ipv4.tcp_mtu_probing server"},
			sys:    map[string]string{SysMTUProbing: "1", SysRetries1: "2"},
			checks: map[string][]string{CodePMTUBlackHole: {SysMTUProbing + "=true"}},
			says: map[string][]string{CodePMTUBlackHole: {
				"the first shorter copy came 6.2s after the first, at a timeout past the 1.4s tcp_retries1 = 2 sets",
				"6 times from frame 8 to frame 13 (copies of 1448 down to 512 bytes), and the client acknowledged it only after a copy of 512 bytes (frame 14, 13.0s after the first copy), when 1448-byte copies and a shorter one of 1024 (frame 12) had gone unanswered",
				"Linux began to shrink the copies (frame 12)",
			}},
		},
		{
			// After the client's close only a copy of earlier data came.
			name: "a RST for a retransmission after the FIN",
			build: func(w *wire) {
				resp := w.send(srv, "P.", 1448, gap(0.05))
				clientGivesUp(w, resp)
				w.again(resp, 5)
				w.send(cli, "R", 0, gap(5e-5))
			},
			want: []string{"rst-data-after-close  client"},
			says: map[string][]string{CodeRstDataAfterClose: {"the server kept writing (retransmitting data sent before that FIN: frame 10, 5.0s after it)"}},
		},
		{
			// A stale pooled connection: the client had the server's
			// FIN and wrote on the connection anyway.
			name: "the server closed after 2 s idle, the client wrote later",
			build: func(w *wire) {
				w.send(srv, "F.", 0, gap(2))     // 7: idle timeout
				w.send(cli, ".", 0)              // 8: the client's kernel ACKs it
				w.send(cli, "P.", 100, gap(0.5)) // 9: the pool reuses it
				w.send(srv, "R", 0, replyRST)    // 10
			},
			want: []string{"rst-data-after-close  server"},
			says: map[string][]string{CodeRstDataAfterClose: {
				"the server close()d the connection after 2.0s without traffic (frame 7; an idle or keep-alive timeout) and the client wrote on it anyway (frame 9; its kernel had acknowledged that FIN (frame 8) 500.0ms before)",
				"without checking it for EOF",
			}},
		},
		{
			// The keep-alive race, captured at the client: its request
			// leaves before the server's FIN arrives.
			name: "the server closed after 2 s idle as the client wrote: at the client",
			build: func(w *wire) {
				w.send(cli, "P.", 100, gap(2))                                  // 7: the request
				w.send(srv, "F.", 0, gap(0.015), acking(6))                     // 8: the FIN, which has not seen it
				w.send(cli, ".", 0)                                             // 9
				w.send(srv, "R", 0, gap(0.025), replyRST, seqNum(w.nxt[srv]-1)) // 10: the request's answer
			},
			want: []string{"rst-data-after-close  server"},
			says: map[string][]string{CodeRstDataAfterClose: {
				"the server close()d the connection after 2.0s without traffic (frame 8; an idle or keep-alive timeout) just as the client wrote on it: its data (frame 7) left before the FIN reached it",
				"the keep-alive race",
			}},
		},
		{
			// The same race captured at the server: the request arrives
			// after the FIN left and does not acknowledge it.
			name: "the server closed after 2 s idle as the client wrote: at the server",
			build: func(w *wire) {
				w.send(srv, "F.", 0, gap(2))                            // 7
				w.send(cli, "P.", 100, gap(0.03), ackNum(w.nxt[srv]-1)) // 8: crossed the FIN
				w.send(srv, "R", 0, replyRST, seqNum(w.nxt[srv]-1))     // 9
			},
			want: []string{"rst-data-after-close  server"},
			says: map[string][]string{CodeRstDataAfterClose: {"after 2.0s without traffic (frame 7;", "its data (frame 8) left before the FIN reached it", "the keep-alive race"}},
		},
		{
			// Closed 100 ms after its last answer: no idle timeout.
			name: "the server closed at once, the client wrote later",
			build: func(w *wire) {
				w.send(srv, "F.", 0, gap(0.1))   // 7
				w.send(cli, ".", 0)              // 8
				w.send(cli, "P.", 100, gap(0.5)) // 9
				w.send(srv, "R", 0, replyRST)    // 10
			},
			want: []string{"rst-data-after-close  server"},
			says: map[string][]string{CodeRstDataAfterClose: {"the server had close()d (FIN, frame 7) but the client kept writing (100 bytes from frame 9 on, 501.0ms after that FIN)"}},
		},
		{
			// Loss, then the third copy gets through: no black hole.
			name: "full-size copies, the third acknowledged",
			build: func(w *wire) {
				resp := w.send(srv, "P.", 1448, gap(0.05))
				w.again(resp, 0.2)
				w.send(cli, "P.", 10, gap(0.1), ackOf(w, resp, 0))
				w.again(resp, 0.3)
				w.again(resp, 0.8)
				w.send(cli, ".", 0, gap(0.001), ackOf(w, resp, 1448))
			},
			want: []string{},
		},
		{
			name: "the server's data retransmitted and never answered",
			build: func(w *wire) {
				req := w.send(srv, "P.", 100, gap(0.05))
				w.again(req, 0.3)
				w.again(req, 0.9)
				w.again(req, 2.1)
			},
			want: []string{"data-unanswered net.ipv4.tcp_retries2 server"},
			says: map[string][]string{CodeDataUnanswered: {"the server sent 100 bytes the client never acknowledged"}},
		},
		{
			name: "data retransmitted for less than three seconds",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(0.05))
				w.again(req, 0.2)
				w.again(req, 0.6)
				w.again(req, 1.4)
			},
		},
		{
			name: "data retransmitted, then acknowledged",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(0.05))
				w.again(req, 0.2)
				w.again(req, 0.6)
				w.again(req, 2.6)
				w.send(srv, ".", 0)
			},
		},
		{
			name: "data retransmitted, then a RST from the peer",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(0.05))
				w.again(req, 0.2)
				w.again(req, 0.6)
				w.again(req, 2.6)
				w.send(srv, "R", 0)
			},
			want: []string{"rst-no-socket  server"},
		},
		{
			name: "acknowledged data and a FIN retransmitted, never answered: the FIN rules'",
			build: func(w *wire) {
				fin := w.send(cli, "F.", 0, gap(0.05))
				w.again(fin, 0.2)
				w.again(fin, 0.6)
				w.again(fin, 2.6)
			},
			want: []string{"fin-never-acked net.ipv4.tcp_orphan_retries client"},
		},
		{
			name: "unanswered for less than a second",
			build: func(w *wire) {
				req := w.send(cli, "P.", 100, gap(30))
				w.again(req, 0.21)
				w.again(req, 0.42)
			},
		},
		{
			name: "pure ACKs after a silence ask for no answer",
			build: func(w *wire) {
				w.send(cli, ".", 0, gap(30))
				w.send(cli, ".", 0, gap(2))
			},
		},
		{
			name: "SYN retransmitted, never answered",
			bare: true,
			build: func(w *wire) {
				syn := w.send(cli, "S", 0)
				w.again(syn, 1)
				w.again(syn, 2)
			},
			want: []string{"syn-unanswered net.ipv4.tcp_syn_retries client"},
			says: map[string][]string{CodeSynUnanswered: {"the client sent its SYN 3 times over 3.0s (+1.0s, +3.0s) and nothing answered it, not even a RST", "ETIMEDOUT"}},
		},
		{
			name:  "more SYNs than the events keep: the last one still counts",
			bare:  true,
			build: func(w *wire) { synSeries(w, 6) },
			want:  []string{"syn-unanswered net.ipv4.tcp_syn_retries client"},
			says:  map[string][]string{CodeSynUnanswered: {"6 times over 5.0s (+1.0s, +2.0s, +3.0s, …, +5.0s)"}},
		},
		{
			name:   "more SYN retransmissions than the client's settings allow",
			bare:   true,
			build:  func(w *wire) { synSeries(w, 6) },
			sys:    map[string]string{SysSynRetries: "2", "net.ipv4.tcp_syn_linear_timeouts": "0"},
			want:   []string{"syn-unanswered net.ipv4.tcp_syn_retries client"},
			says:   map[string][]string{CodeSynUnanswered: {"retransmitted its SYN 5 times, more than it allows: the socket set TCP_SYNCNT"}},
			checks: map[string][]string{CodeSynUnanswered: {SysSynRetries + "=false"}},
		},
		{
			name:   "SYN retransmissions the client's settings allow",
			bare:   true,
			build:  func(w *wire) { synSeries(w, 6) },
			sys:    map[string]string{SysSynRetries: "2"},
			want:   []string{"syn-unanswered net.ipv4.tcp_syn_retries client"},
			checks: map[string][]string{CodeSynUnanswered: {SysSynRetries + "=true"}},
		},
		{
			name: "SYN-ACK sent again after the client acknowledged it: accept queue full",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)   // 1
				w.send(srv, "S.", 0)  // 2
				w.send(cli, ".", 0)   // 3: dropped by the listener
				w.again(2, 1)         // 4
				w.again(3, 0.001)     // 5
				w.again(2, 2)         // 6
				w.again(3, 0.001)     // 7: finds room
				w.send(srv, "P.", 10) // 8
			},
			want: []string{"accept-queue-full net.core.somaxconn server"},
			says: map[string][]string{CodeAcceptQueueFull: {"the client acknowledged the server's SYN-ACK (frame 3), yet the server sent its SYN-ACK again twice (frames 4 and 6, the first 1.0s later)", "the client's ACK of the last one (frame 7), 3.0s after its first, completed the connection"}},
		},
		{
			name: "SYN-ACK retransmitted, never acknowledged",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)  // 1
				w.send(srv, "S.", 0) // 2
				w.again(2, 1)        // 3
				w.again(1, 0.001)    // 4
				w.again(2, 0.001)    // 5
			},
			want: []string{"synack-unanswered net.ipv4.tcp_synack_retries server"},
			says: map[string][]string{CodeSynAckUnanswered: {"a SYN-ACK 3 times over 1.0s (frames 2 to 5) and the client never acknowledged it", "The client sent its SYN twice"}},
		},
		{
			name: "SYN-ACK retransmissions the server's settings allow, one drawn by a SYN",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)  // 1
				w.send(srv, "S.", 0) // 2
				w.again(2, 1)        // 3: the request's timer
				w.again(1, 0.001)    // 4
				w.again(2, 0.001)    // 5: drawn by the SYN
			},
			sys:    map[string]string{SysSynAckRetries: "1"},
			want:   []string{"synack-unanswered net.ipv4.tcp_synack_retries server"},
			says:   map[string][]string{CodeSynAckUnanswered: {"tcp_synack_retries = 1: at least 1 retransmission came from the request's timer, which fits it"}},
			checks: map[string][]string{CodeSynAckUnanswered: {SysSynAckRetries + "=true"}},
		},
		{
			name: "more SYN-ACK retransmissions than the server's settings allow",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)  // 1
				w.send(srv, "S.", 0) // 2
				w.again(2, 1)        // 3
				w.again(2, 2)        // 4
				w.again(1, 0.001)    // 5
				w.again(2, 0.001)    // 6
			},
			sys:    map[string]string{SysSynAckRetries: "1"},
			want:   []string{"synack-unanswered net.ipv4.tcp_synack_retries server"},
			says:   map[string][]string{CodeSynAckUnanswered: {"tcp_synack_retries = 1: yet the server retransmitted its SYN-ACK twice more than the client's SYNs account for, more than it allows: the listener set TCP_SYNCNT or TCP_DEFER_ACCEPT"}},
			checks: map[string][]string{CodeSynAckUnanswered: {SysSynAckRetries + "=false"}},
		},
		{
			name: "SYN-ACK retransmitted before the client's ACK",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.send(srv, "S.", 0)
				w.again(2, 1)
				w.send(cli, ".", 0)
			},
		},
		{
			name: "SYN retransmitted, then answered",
			bare: true,
			build: func(w *wire) {
				syn := w.send(cli, "S", 0)
				w.again(syn, 1)
				w.send(srv, "S.", 0)
				w.send(cli, ".", 0)
			},
			want: []string{"syn-retransmitted net.core.somaxconn server"},
			says: map[string][]string{CodeSynRetransmitted: {"only at its 2nd transmission (SYN-ACK at frame 3), 1.0s after the first (frame 1; sent again at +1.0s)", "TcpExtListenDrops"}},
		},
		{
			name: "SYN sent again after the SYN-ACK",
			bare: true,
			build: func(w *wire) {
				syn := w.send(cli, "S", 0)
				w.send(srv, "S.", 0)
				w.again(syn, 1)
				w.again(2, 0.001)
				w.send(cli, ".", 0)
			},
		},
		{
			name:  "one SYN, and the capture ends",
			bare:  true,
			build: func(w *wire) { w.send(cli, "S", 0) },
		},
		{
			name: "keepalive probes unanswered, then the prober's RST",
			build: func(w *wire) {
				for i := range 3 {
					d := 75.0
					if i == 0 {
						d = 7200
					}
					w.send(cli, ".", 0, seqNum(w.nxt[cli]-1), gap(d))
				}
				w.send(cli, "R", 0, activeRST, gap(75))
			},
			sys:    map[string]string{SysKeepaliveIntvl: "75"},
			want:   []string{"keepalive-reset net.ipv4.tcp_keepalive_time client"},
			says:   map[string][]string{CodeKeepaliveReset: {"3 keepalive probes 75.0s apart", "TCP_KEEPINTVL"}},
			checks: map[string][]string{CodeKeepaliveReset: {SysKeepaliveIntvl + "=true"}},
		},
		{
			name: "keepalive spacing the host's tcp_keepalive_intvl does not give: a socket option",
			build: func(w *wire) {
				w.send(cli, ".", 0, seqNum(w.nxt[cli]-1), gap(30))
				w.send(cli, ".", 0, seqNum(w.nxt[cli]-1), gap(5))
				w.send(cli, "R", 0, activeRST, gap(5))
			},
			sys:    map[string]string{SysKeepaliveIntvl: "75"},
			want:   []string{"keepalive-reset net.ipv4.tcp_keepalive_time client"},
			checks: map[string][]string{CodeKeepaliveReset: {SysKeepaliveIntvl + "=false"}},
		},
		{
			name: "a late FIN inside tcp_fin_time()'s floor: no FIN_WAIT2 was kept",
			build: func(w *wire) {
				w.send(cli, "F.", 0)                  // 7
				w.send(srv, ".", 0, gap(0.04))        // 8
				w.send(srv, "F.", 0, gap(0.3))        // 9
				w.send(cli, "R", 0, replyRST, gap(0)) // 10
			},
			want: []string{"time-wait-missing net.ipv4.tcp_max_tw_buckets client"},
			says: map[string][]string{CodeTimeWaitMissing: {"300.0ms", "floor"}},
		},
		{
			name: "FIN_WAIT2 timeout the host's tcp_fin_timeout does not give: TCP_LINGER2",
			build: func(w *wire) {
				w.send(cli, "F.", 0)                  // 7
				w.send(srv, ".", 0, gap(0.04))        // 8
				w.send(srv, "F.", 0, gap(3))          // 9
				w.send(cli, "R", 0, replyRST, gap(0)) // 10
			},
			sys:    map[string]string{SysFinTimeout: "60"},
			want:   []string{"close-wait-long  server", "fin-wait-2-timeout TCP_LINGER2 client"},
			checks: map[string][]string{CodeFinWait2Timeout: {SysFinTimeout + "=false"}},
		},
		{
			name: "FIN_WAIT2 timeout with tcp_fin_timeout above 60 s: the 2·(t−60) quirk fits",
			build: func(w *wire) {
				w.send(cli, "F.", 0)                  // 7
				w.send(srv, ".", 0, gap(0.04))        // 8
				w.send(srv, "F.", 0, gap(30))         // 9: KERNEL.md (d)3, fin_timeout 70
				w.send(cli, "R", 0, replyRST, gap(0)) // 10
			},
			sys:    map[string]string{SysFinTimeout: "70"},
			want:   []string{"close-wait-long  server", "fin-wait-2-timeout net.ipv4.tcp_fin_timeout client"},
			says:   map[string][]string{CodeFinWait2Timeout: {"below 30.0s — or between 60 and 75 s"}},
			checks: map[string][]string{CodeFinWait2Timeout: {SysFinTimeout + "=true"}},
		},
		{
			name: "listener resets the handshake ACK: accept queue full, tcp_abort_on_overflow 1",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)
				w.send(srv, "S.", 0)
				w.send(cli, ".", 0)
				w.send(srv, "R", 0, replyRST)
			},
			sys:    map[string]string{SysAbortOnOverflow: "0"},
			want:   []string{"listen-overflow net.ipv4.tcp_abort_on_overflow server"},
			checks: map[string][]string{CodeListenOverflow: {SysAbortOnOverflow + "=false"}},
		},
		{
			name: "data held behind the peer's zero window, no FIN yet",
			build: func(w *wire) {
				w.send(cli, "P.", 1000)                             // 7
				w.send(srv, ".", 0, window(0))                      // 8: zero window
				w.send(cli, ".", 0, seqNum(w.nxt[cli]-1), gap(0.5)) // 9: probe
				w.send(srv, ".", 0, window(0))                      // 10
				w.send(cli, ".", 0, seqNum(w.nxt[cli]-1), gap(1))   // 11: probe
				w.send(srv, ".", 0, window(0))                      // 12
			},
			want: []string{"fin-blocked-zero-window net.ipv4.tcp_orphan_retries client"},
			says: map[string][]string{CodeFinBlockedZeroWindow: {"no FIN", "probes for ever"}},
		},
		{
			name: "the server acknowledges bytes the capture never saw",
			build: func(w *wire) {
				w.send(cli, "P.", 100)                       // 7
				w.send(srv, ".", 0, ackNum(w.nxt[cli]+1400)) // 8
			},
			want: []string{"capture-missing-packets"},
			says: map[string][]string{CodeCaptureMissingPackets: {"1400 bytes"}},
		},
		{
			name: "one direction missing: the client acknowledges a SYN-ACK the capture lacks",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "S", 0)                                   // 1
				w.send(cli, ".", 0, ackNum(w.isn[srv]+1), gap(0.001)) // 2
				w.send(cli, "P.", 100, ackNum(w.isn[srv]+1))          // 3
			},
			want: []string{"capture-missing-packets"},
			says: map[string][]string{CodeCaptureMissingPackets: {"no segment from the server", "SYN-ACK"}},
		},
		{
			name: "an idle peer is not a missing direction",
			bare: true,
			build: func(w *wire) {
				w.send(cli, ".", 0, ackNum(5000), seqNum(100)) // a keepalive-like ACK, mid-flow
				w.send(cli, ".", 0, ackNum(5000), seqNum(100), gap(75))
			},
			want: []string{"capture-started-mid-flow"},
		},
		{
			name: "an in-window RST kills a TIME_WAIT; the next FIN meets no socket",
			build: func(w *wire) {
				w.fourWay(cli, "F.")                               // 7-10: client TIME_WAIT
				w.send(srv, "R", 0, gap(1))                        // 11: in window
				w.send(srv, "F.", 0, seqNum(w.nxt[srv]-1), gap(1)) // 12: the FIN again
				w.send(cli, "R", 0, replyRST, seqNum(w.nxt[cli]))  // 13
			},
			sys: map[string]string{SysRFC1337: "0"},
			// The RST and the FIN after it also read as the server's own
			// (rst-linger-zero, fin-retransmitted): the wire cannot tell
			// a middlebox's RST from the server's.
			want:   []string{"time-wait-assassinated net.ipv4.tcp_rfc1337 client"},
			some:   true,
			checks: map[string][]string{CodeTimeWaitAssassinated: {SysRFC1337 + "=true"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wireOf(t, tt.bare, tt.build)
			opts := Options{}
			if tt.sys != nil {
				opts.Sysctls = Sysctls{Source: "host.sysctl", Values: tt.sys}
			}
			res := runOpts(t, w.segs, opts)
			f := res.Flows[0]
			got := diagSet(f)
			if tt.some {
				got = slices.DeleteFunc(got, func(d string) bool { return !slices.Contains(tt.want, d) })
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("diagnoses:\n got %q\nwant %q", got, tt.want)
			}
			for code, frags := range tt.says {
				m := find(t, f, code).Message
				for _, s := range frags {
					if !strings.Contains(m, s) {
						t.Errorf("%s message lacks %q:\n%s", code, s, m)
					}
				}
			}
			for code, want := range tt.checks {
				var got []string
				for _, c := range find(t, f, code).Checks {
					got = append(got, fmt.Sprintf("%s=%v", c.Sysctl, c.Agrees))
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s checks: got %q, want %q", code, got, want)
				}
			}
			for _, f := range res.Flows {
				if f.Wire != nil {
					t.Errorf("flow %d kept its wire facts", f.ID)
				}
			}
		})
	}
}

// TestLingerZeroHealthCheck: a client's reset at close() with nothing
// unread says that load balancers' health checks close so on purpose;
// a server's does not.
func TestLingerZeroHealthCheck(t *testing.T) {
	for _, by := range []int{cli, srv} {
		// The resetting side spoke last: nothing of the peer's unread.
		w := wireOf(t, true, func(w *wire) {
			w.handshake()
			w.send(1-by, "P.", 100)
			w.send(by, "P.", 100)
			w.send(by, "R.", 0, gap(0.01))
		})
		f := runOpts(t, w.segs, Options{}).Flows[0]
		d := find(t, f, CodeRstLingerZero)
		if says := strings.Contains(d.Message, "HAProxy resets each check's connection"); says != (by == cli) {
			t.Errorf("reset by %v: message names health checks %v:\n%s", d.Side, says, d.Message)
		}
	}
}
