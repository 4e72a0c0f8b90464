//go:build linux

package main

import (
	"fmt"
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
		vantage: vantageClient,
		framing: frameEthernet,
		sysctls: sysctls(nil, map[string]string{"net.ipv4.tcp_syncookies": "2"}),
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
			c.kind(analyze.FourWay).initiator(analyze.Client).handshake(analyze.HandshakeComplete).
				fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").halfClose("", "").
				states(rc, activeStates...).states(rs, passiveStates...).
				diags(analyze.CodeSynCookie).diagSide(analyze.CodeSynCookie, "server")
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
