//go:build linux

package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/teardown/teardown/analyze"
)

// cookieCounters are the server's SYN cookie counters (nstat names).
var cookieCounters = []string{"TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed",
	"TcpExtTCPReqQFullDoCookies"}

// cookieConns is how many connections the syn-cookies scenarios make.
const cookieConns = 3

// synCookies answers every SYN with a SYN cookie (tcp_syncookies = 2 at
// the server): the SYN-ACK a full SYN queue draws with the default 1.
// With timestamps the cookie's TSval runs behind the server's clock;
// without them the SYN-ACK drops window scaling and SACK.
func synCookies(timestamps bool) *scenario {
	sc := &scenario{
		name: "syn-cookies",
		summary: "net.ipv4.tcp_syncookies=2 at the server: every SYN-ACK is a SYN cookie, whose TSval runs up to 63 ms " +
			"behind the server's clock",
		desc: fmt.Sprintf("net.ipv4.tcp_syncookies=2 at the server: the listener answers every SYN with a SYN cookie, "+
			"the SYN-ACK a listener whose SYN queue is full sends with the default 1. %d connections, %d ms apart: the "+
			"client sends 100 bytes, reads 300 and close()s, the server close()s 150 ms after EOF. Timestamps on: the "+
			"cookie keeps the SYN's options (window scale 7, SACK) in the low 6 bits of the SYN-ACK's TSval "+
			"(cookie_init_timestamp), so the SYN-ACK still carries them. Captured at the client.", cookieConns, 37),
		vantage:  vantageClient,
		framing:  frameEthernet,
		sysctls:  sysctls(nil, map[string]string{"net.ipv4.tcp_syncookies": "2"}),
		attempts: 3,
	}
	if !timestamps {
		sc.name += "-no-timestamps"
		sc.summary = "as syn-cookies with net.ipv4.tcp_timestamps=0 at the client: the cookie's SYN-ACK carries the " +
			"MSS alone, no window scale and no SACK"
		sc.desc = strings.Replace(sc.desc, "Timestamps on: the cookie keeps the SYN's options (window scale 7, SACK) "+
			"in the low 6 bits of the SYN-ACK's TSval (cookie_init_timestamp), so the SYN-ACK still carries them. "+
			"Captured at the client.",
			"net.ipv4.tcp_timestamps=0 at the client: its SYN offers window scaling and SACK without timestamps, "+
				"and a cookie has nowhere to keep them, so the SYN-ACK carries the MSS alone. Captured at the server.", 1)
		sc.vantage = vantageServer
		sc.sysctls[sideClient] = map[string]string{"net.ipv4.tcp_timestamps": "0"}
	}
	sc.run = func(e *env) {
		ln := e.listen()
		before := e.nstat(sideServer, cookieCounters...)
		for i := range cookieConns {
			if i > 0 {
				e.sleep(37 * time.Millisecond)
			}
			c, s := exchange(e, ln, 100, 300)
			c.close()
			passiveClose(e, s, 150*time.Millisecond)
		}
		e.quiet(time.Second)
		after := e.nstat(sideServer, cookieCounters...)
		if e.failed() != nil {
			return
		}
		var moved []string
		for _, k := range cookieCounters {
			moved = append(moved, fmt.Sprintf("%s +%d", k, after[k]-before[k]))
		}
		if after["TcpExtSyncookiesSent"]-before["TcpExtSyncookiesSent"] != cookieConns ||
			after["TcpExtSyncookiesRecv"]-before["TcpExtSyncookiesRecv"] != cookieConns ||
			after["TcpExtSyncookiesFailed"] != before["TcpExtSyncookiesFailed"] {
			e.fail(fmt.Errorf("the server's cookie counters moved %s, want %d cookies sent and received", strings.Join(moved, ", "), cookieConns))
			return
		}
		e.notes = append(e.notes, fmt.Sprintf("Counted (nstat, the server's namespace) over the %d connections: %s: "+
			"every SYN-ACK a cookie, every handshake ACK a valid one (tcp_syn_flood_action() counts "+
			"TCPReqQFullDoCookies for every cookie, with tcp_syncookies = 2 as with a full SYN queue).", cookieConns, strings.Join(moved, ", ")))
	}
	sc.check = func(w *wire) error {
		cs, err := w.flows(cookieConns)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := cookieFlow(c, timestamps); err != nil {
				return err
			}
			in := c.fl.inc
			if in.syn == nil || in.synack == nil {
				c.failf("no SYN or SYN-ACK")
				continue
			}
			sa := in.synack
			if opts := sa.wscale >= 0 && sa.sackPerm; in.syn.ts != timestamps || sa.ts != timestamps || opts != timestamps {
				c.failf("SYN timestamps %v; SYN-ACK timestamps %v, window scale %d, SACK-permitted %v", in.syn.ts, sa.ts, sa.wscale, sa.sackPerm)
			}
		}
		return checkAll(cs...)
	}
	sc.wireNotes = func(w *wire) []string {
		var lags []string
		for _, fl := range w.truth.Flows {
			in := fl.inc
			for _, f := range in.frames {
				if timestamps && f.no > in.synack.no && in.role(f) == rs && f.ts {
					lags = append(lags, fmt.Sprintf("%.1f ms (frames %d and %d)",
						float64(int32(f.tsval-in.synack.tsval))-float64(f.t-in.synack.t)/1e6, in.synack.no, f.no))
					break
				}
			}
		}
		if !timestamps {
			return []string{"On the wire: each client SYN carries MSS, SACK-permitted and window scale 7 and no " +
				"timestamps; each SYN-ACK the MSS alone."}
		}
		return []string{"On the wire: each SYN-ACK's TSval runs behind the server's clock as its next segment reads it " +
			"(TSval difference less the time between them) by " + strings.Join(lags, ", ") + "; the client's SYN " +
			"and the SYN-ACK are microseconds apart."}
	}
	return sc
}

// cookieFlow checks c as a connection the client closed first, four-way,
// whose SYN-ACK was a SYN cookie. It returns errRetry when that cookie,
// with timestamps, ran too little behind the server's clock for the wire
// to tell it (the lag falls anywhere from 0 to 63 ms): the truth then has
// no syn-cookie, and another run will.
func cookieFlow(c *flowCheck, timestamps bool) error {
	if timestamps && !slices.ContainsFunc(c.fl.Diagnoses, func(d *truthDiag) bool { return d.Code == analyze.CodeSynCookie }) {
		return fmt.Errorf("%w: flow %s-%s#%d: its SYN cookie's TSval ran too little behind the clock to tell",
			errRetry, c.fl.Client, c.fl.Server, c.fl.Incarnation)
	}
	c.kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeComplete).
		fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").halfClose("", "").
		states(rc, activeStates...).states(rs, passiveStates...).
		diags(analyze.CodeSynCookie).diagSide(analyze.CodeSynCookie, "server")
	return nil
}

// floodSYNs is how many spoofed SYNs fill the syn-flood-cookie listener's
// SYN queue: with backlog 2 it is full once it holds 3 requests.
const floodSYNs = 3

// synFloodCookie fills a listener's SYN queue with spoofed SYNs whose
// SYN-ACKs vanish on the way back, as a SYN flood does, so that a real
// client's SYN draws a SYN cookie under the default tcp_syncookies = 1.
func synFloodCookie() *scenario {
	return &scenario{
		name: "syn-flood-cookie",
		summary: "three spoofed SYNs fill a backlog-2 listener's SYN queue (their SYN-ACKs dropped by the router): a real " +
			"client's SYN then draws a SYN cookie under the default tcp_syncookies=1",
		desc: fmt.Sprintf("A router joins the two ends and drops (iptables FORWARD, no ICMP) every packet to %s, an "+
			"address of the client's link that no interface holds. The server listens with backlog 2 and accept()s "+
			"at once. From the client's namespace the lab writes %d SYNs from %s (a raw socket, MSS the one option, "+
			"20 ms apart) to the listener: each becomes a request in its SYN queue, and their SYN-ACKs vanish at "+
			"the router, so the requests stay, retransmitting their SYN-ACKs. With %d requests the queue is full (more "+
			"than the backlog), and with net.ipv4.tcp_syncookies at its default 1 the client's real SYN is answered with "+
			"a SYN cookie; the client sends 100 bytes, reads 300 and close()s, the server close()s 150 ms after EOF. "+
			"The capture runs on until the flood's SYN-ACKs were each sent again. Captured at the server.",
			spoofedAddr4, floodSYNs, spoofedAddr4, floodSYNs),
		vantage:  vantageServer,
		framing:  frameEthernet,
		forward:  []string{"-d", spoofedAddr4.String(), "-p", "tcp", "-j", "DROP"},
		noQuiet:  true, // the flood's requests outlive the capture
		attempts: 3,
		run: func(e *env) {
			ln := e.listenBacklog(2)
			before := e.nstat(sideServer, cookieCounters...)
			port := uint16(32768 + rand.IntN(28000))
			dst := netip.AddrPortFrom(serverAddr4, serverPort)
			for i := range floodSYNs {
				e.sendRaw(sideClient, rawSeg{src: netip.AddrPortFrom(spoofedAddr4, port+uint16(i)), dst: dst,
					seq: rand.Uint32(), flags: tcpSYN, mss: 1460, win: 64240})
				e.sleep(20 * time.Millisecond)
			}
			e.until(time.Second, "the server to hold the flood's requests", func() (bool, error) {
				return len(e.synRecv()) == floodSYNs, nil
			})
			flooded := time.Now()
			c, s := exchange(e, ln, 100, 300)
			c.close()
			passiveClose(e, s, 150*time.Millisecond)
			e.sleep(time.Until(flooded.Add(1500 * time.Millisecond)))
			after := e.nstat(sideServer, cookieCounters...)
			left := len(e.synRecv())
			if e.failed() != nil {
				return
			}
			var moved []string
			for _, k := range cookieCounters {
				moved = append(moved, fmt.Sprintf("%s +%d", k, after[k]-before[k]))
			}
			if after["TcpExtSyncookiesSent"]-before["TcpExtSyncookiesSent"] != 1 ||
				after["TcpExtTCPReqQFullDoCookies"]-before["TcpExtTCPReqQFullDoCookies"] != 1 || left != floodSYNs {
				e.fail(fmt.Errorf("%w: the server's cookie counters moved %s, and %d requests are left; want one cookie "+
					"and the flood's %d requests", errRetry, strings.Join(moved, ", "), left, floodSYNs))
				return
			}
			e.notes = append(e.notes, fmt.Sprintf("Counted (nstat, the server's namespace) from before the flood to "+
				"the end: %s; ss listed the flood's %d requests in SYN-RECV before the client connected and at the end.",
				strings.Join(moved, ", "), floodSYNs))
		},
		check: func(w *wire) error {
			cs, err := w.flows(floodSYNs + 1)
			if err != nil {
				return err
			}
			for _, c := range cs[:floodSYNs] {
				c.kind(analyze.OpenAtEnd).handshake(analyze.HandshakeSynSynAck).reset("", "").
					diags(analyze.CodeSynAckUnanswered).states(rc, "SYN_SENT").states(rs, "SYN_RECV")
				if n := c.fl.inc.synAckCount(); n < 2 {
					c.failf("the server sent its SYN-ACK %d times, want it sent again", n)
				}
			}
			if err := cookieFlow(cs[floodSYNs], true); err != nil {
				return err
			}
			return checkAll(cs...)
		},
	}
}
