//go:build linux

package main

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// rstSockDestroy is a connection whose client socket is destroyed from
// outside (ss -K, SOCK_DESTROY) after a complete request and response:
// the kernel's reset has the shape of a close() with the response unread.
func rstSockDestroy() *scenario {
	return &scenario{
		name: "rst-sock-destroy",
		summary: "ss -K destroys the client's socket 200 ms after it read the whole response: [R.], the shape of a close() " +
			"with data unread",
		desc: "The client sends a 100-byte request and reads the whole 300-byte response; 200 ms later ss -K (SOCK_DESTROY, " +
			"what a BPF program's bpf_sock_destroy does too, as Cilium's socket load balancer to connections to a deleted " +
			"backend) destroys the client's socket from its namespace: tcp_abort() sends [R.] from ESTABLISHED, the " +
			"client's application gets ECONNABORTED and the server ECONNRESET. Nothing was left unread and no SO_LINGER " +
			"was set, yet the wire is that of a close() with the response unread: the client acknowledged data it never " +
			"answered, then reset. Default sysctls; captured at the client.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			before := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			c, s := exchange(e, ln, 100, 300)
			e.sleep(200 * time.Millisecond)
			killed := e.killSocket(sideClient)
			e.sleep(50 * time.Millisecond)
			c.soError(unix.ECONNABORTED)
			s.soError(unix.ECONNRESET)
			after := [2]map[string]int64{e.tcpCounters(sideClient), e.tcpCounters(sideServer)}
			// tcp_abort() counts its reset in TcpOutRsts alone: neither
			// TcpExtTCPAbortOnClose (a close() with data unread) nor
			// TcpExtTCPAbortOnData (SO_LINGER {1, 0}) moves.
			moves := e.tcpMoves(before, after, [2]map[string]int64{
				{"TcpOutRsts": 1, "TcpExtTCPAbortOnClose": 0, "TcpExtTCPAbortOnData": 0},
				{"TcpEstabResets": 1}})
			c.close()
			s.close()
			if e.failed() != nil {
				return
			}
			e.notes = append(e.notes, "ss -K in the client's namespace destroyed one socket ("+killed+"): nothing "+
				"unread.", "nstat -az (absolute; the namespaces are new) over the connection: "+moves+
				"; TcpExtTCPAbortOnClose and TcpExtTCPAbortOnData stayed, as they would not after a close() with data "+
				"unread or with SO_LINGER {1, 0}.")
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.ResetKind).initiator(analyze.Client).fins(rc, 0, 0).fins(rs, 0, 0).
				reset("client", analyze.CauseUnreadData).diags(analyze.CodeRstUnreadData).
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED")
		}),
	}
}
