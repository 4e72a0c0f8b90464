//go:build linux

package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

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
			if _, err := nsExec(e.ctx, e.topo.router, "ip", "link", "set", "eth0", "mtu", strconv.Itoa(fragmentsMTU)); err != nil {
				e.fail(err)
				return
			}
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			s.setInt(unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
			c.write(100)
			s.read(100)
			s.write(4000)
			c.read(4000)
			c.close()
			passiveClose(e, s, 50*time.Millisecond)
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			c.clientFirst()
			frags, sent := fragmented(w)
			if len(frags) < 2 {
				c.failf("%d of the server's %d data segments came in IP fragments, want 2 or more", len(frags), sent)
			}
			return c.err()
		},
		wireNotes: func(w *wire) []string {
			frags, sent := fragmented(w)
			var no []string
			for _, f := range frags {
				no = append(no, fmt.Sprintf("%d (%d bytes, %d fragments)", f.no, f.len, f.frags))
			}
			return []string{fmt.Sprintf("%d of the server's %d data segments reached the client in IP fragments, "+
				"numbered as the fragment that completed each, as tshark reassembles them: frames %s. Every other "+
				"segment came whole.", len(frags), sent, strings.Join(no, ", "))}
		},
	}
}

// fragmented returns the server's data segments that came in IP
// fragments, and how many data segments the server sent.
func fragmented(w *wire) (frags []*frame, sent int) {
	in := w.truth.Flows[0].inc
	for _, f := range in.frames {
		if in.role(f) != rs || f.len == 0 {
			continue
		}
		sent++
		if f.frags > 1 {
			frags = append(frags, f)
		}
	}
	return frags, sent
}
