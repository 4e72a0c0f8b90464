//go:build linux

package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dfClear has socket s send with DF clear: IP_MTU_DISCOVER set to
// IP_PMTUDISC_DONT, no path MTU discovery.
func dfClear(s *sock) { s.setInt(unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT) }

// fragmentsMTU is the MTU of ip-fragments' router link toward the client.
const fragmentsMTU = 1000

// ipFragments is a connection whose server sends with DF clear across a
// router with a smaller MTU toward the client: the router fragments the
// server's full-size segments, and the capture at the client holds the
// fragments.
func ipFragments() *scenario {
	return &scenario{
		name: "ip-fragments",
		summary: fmt.Sprintf("the server sends with DF clear (IP_PMTUDISC_DONT) across a router whose link toward the client "+
			"has MTU %d: the router fragments its full-size segments; client closes first", fragmentsMTU),
		desc: fmt.Sprintf("A router between the two ends has MTU %d on its link toward the client (every other link 1500). The "+
			"server's accepted socket sets IP_MTU_DISCOVER to IP_PMTUDISC_DONT, so its segments leave with DF clear, as "+
			"those of a host with net.ipv4.ip_no_pmtu_disc=1 do: the router fragments each one larger than its link "+
			"instead of dropping it and sending \"fragmentation needed\", and the client reassembles them. The client "+
			"sends a 100-byte request, reads the 4000-byte response and close()s; the server reads EOF and close()s "+
			"50 ms later. Default sysctls; captured at the client, where the fragments arrive, whole (-s 1600): tshark "+
			"reassembles no fragment that snaplen cut.", fragmentsMTU),
		vantage: vantageClient,
		framing: frameEthernet,
		// Whole frames: tshark reassembles no fragment that snaplen cut.
		snaplen: 1600,
		router:  true,
		run: func(e *env) {
			e.setMTU(e.topo.router, fragmentsMTU)
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			dfClear(s)
			c.write(100)
			s.read(100)
			s.write(4000)
			c.read(4000)
			c.close()
			passiveClose(e, s, 50*time.Millisecond)
		},
		check:     checkFragmented(rs, 2),
		wireNotes: func(w *wire) []string { return fragmentNotes(w, rs) },
	}
}

// checkFragmented checks a plain four-way close the client began in
// which at least least of side r's data segments came in IP fragments.
func checkFragmented(r, least int) func(*wire) error {
	return func(w *wire) error {
		c, err := w.one()
		if err != nil {
			return err
		}
		c.clientFirst()
		if frags, sent := fragmented(w, r); len(frags) < least {
			c.failf("%d of the %s's %d data segments came in IP fragments, want %d or more", len(frags), roleName[r], sent, least)
		}
		return c.err()
	}
}

// fragmented returns side r's data segments that came in IP fragments
// (or in a tunnel's fragmented datagram), and how many data segments r
// sent.
func fragmented(w *wire, r int) (frags []*frame, sent int) {
	in := w.truth.Flows[0].inc
	for _, f := range in.frames {
		if in.role(f) != r || f.len == 0 {
			continue
		}
		sent++
		if f.frags > 1 {
			frags = append(frags, f)
		}
	}
	return frags, sent
}

// fragmentNotes says which of side r's data segments came in fragments.
func fragmentNotes(w *wire, r int) []string {
	frags, sent := fragmented(w, r)
	var no []string
	for _, f := range frags {
		no = append(no, fmt.Sprintf("%d (%d bytes, %d fragments)", f.no, f.len, f.frags))
	}
	return []string{fmt.Sprintf("%d of the %s's %d data segments came in IP fragments, each numbered as the fragment "+
		"that completed it, as tshark reassembles them: frames %s. Every other segment came whole.",
		len(frags), roleName[r], sent, strings.Join(no, ", "))}
}

// vxlanUnderlayMTU is the MTU vxlan-fragments gives the VXLAN's underlay
// links, 50 bytes short of what the overlay's 1450 needs.
const vxlanUnderlayMTU = 1400

// vxlanFragments is a connection over a VXLAN whose underlay's MTU leaves
// no room for the overlay's: the VXLAN datagrams of full-size segments
// are fragmented on the underlay, where the capture is taken.
func vxlanFragments() *scenario {
	sc := &scenario{
		name: "vxlan-fragments",
		summary: fmt.Sprintf("over a VXLAN whose underlay links have MTU %d, too small for the overlay's 1450 and the "+
			"50 bytes of encapsulation: the client's full-size segments go out in fragmented VXLAN datagrams; "+
			"client closes first", vxlanUnderlayMTU),
		desc: fmt.Sprintf("After the VXLAN is up (its MTU 1450, from the underlay's 1500), both ends' underlay links are "+
			"set to MTU %d, as when an underlay's MTU shrinks under an overlay set up for a larger one. The VXLAN "+
			"sends its datagrams with DF clear (its default), so the kernel fragments those of the client's "+
			"full-size segments on the underlay, and the server's reassembles them; the VXLAN also lowers the "+
			"path MTU of the overlay's route (skb_tunnel_check_pmtu), after which the client's segments shrink to "+
			"fit. The client sends 20000 bytes, reads the server's 100-byte answer and close()s; the server reads "+
			"EOF and close()s 50 ms later. Captured on the server's underlay, whole (-s 1600), fragments included "+
			"(the filter 'udp port 4789' alone keeps no fragment but the first). Default sysctls.", vxlanUnderlayMTU),
		vantage: vantageServer,
		snaplen: 1600,
		filter:  "udp port 4789 or (udp and ip[6:2] & 0x1fff != 0)",
		run: func(e *env) {
			e.setMTU(e.topo.client, vxlanUnderlayMTU)
			e.setMTU(e.topo.server, vxlanUnderlayMTU)
			c, s := exchange(e, e.listen(), 20000, 100)
			c.close()
			passiveClose(e, s, 50*time.Millisecond)
		},
		check:     checkFragmented(rc, 1),
		wireNotes: func(w *wire) []string { return fragmentNotes(w, rc) },
	}
	sc.framing = frameVXLAN
	return sc
}

// fragmentsDropped is ip-fragments with every fragment but the first
// dropped before the client: the server's full-size segments never
// arrive.
func fragmentsDropped() *scenario {
	return &scenario{
		name: "fragments-dropped",
		summary: fmt.Sprintf("the server sends with DF clear across a router whose link toward the client has MTU %d, and "+
			"every fragment but the first is dropped before the client: its response never arrives; the client gives up "+
			"and closes", fragmentsMTU),
		desc: fmt.Sprintf("A router between the two ends has MTU %d on its link toward the client (every other link 1500). "+
			"The server's accepted socket sets IP_MTU_DISCOVER to IP_PMTUDISC_DONT, so its segments leave with DF "+
			"clear: the router fragments each full-size one, and no ICMP error says so (DF was clear). The client's "+
			"namespace drops every fragment but the first as it arrives (iptables -t raw -A PREROUTING -f -j DROP), as "+
			"a firewall in front of it that cannot match later fragments, which carry no ports, would: no full-size "+
			"segment is ever reassembled. The client sends a %d-byte request; the server answers %d bytes and "+
			"retransmits its first segment with exponential backoff. The client's read() times out after %s and it "+
			"close()s. Captured at the server; the capture stops %s after the server's write.",
			fragmentsMTU, blackHoleRequest, blackHoleResponse, seconds(blackHoleRead), seconds(blackHoleEnd)),
		vantage: vantageServer,
		framing: frameEthernet,
		router:  true,
		noQuiet: true,
		run: func(e *env) {
			e.setMTU(e.topo.router, fragmentsMTU)
			e.rule(sideClient, []string{"PREROUTING", "-t", "raw", "-f", "-j", "DROP"})
			stallResponse(e, e.listen(sndbuf(32<<10)), dfClear)
		},
		check: func(w *wire) error {
			if err := checkStalled(w, false); err != nil {
				return err
			}
			if tx, _ := headCopies(w.truth.Flows[0].inc); slices.ContainsFunc(tx, func(f *frame) bool { return f.df }) {
				return fmt.Errorf("a copy of the server's first bytes left with DF set: %v", tx)
			}
			return nil
		},
		wireNotes: func(w *wire) []string {
			tx, _ := headCopies(w.truth.Flows[0].inc)
			var no []string
			for _, f := range tx {
				no = append(no, strconv.Itoa(f.no))
			}
			return []string{fmt.Sprintf("The server's %d copies of its first %d bytes (frames %s) all left with DF clear, and "+
				"the capture holds no ICMP error.", len(tx), tx[0].len, strings.Join(no, ", "))}
		},
	}
}
