//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teardown/teardown/analyze"
)

// Scenarios that end in a RST, that reuse a 4-tuple inside TIME_WAIT,
// and the many-connection mix.

func rstLingerZero() *scenario {
	return &scenario{
		name:    "rst-linger-zero",
		summary: "the client close()s with SO_LINGER {1,0}: RST instead of FIN",
		desc: "The client sends a 100-byte request, which the server reads, then sets SO_LINGER {on, 0 s} and close()s: " +
			"the kernel sends [R.] instead of a FIN, with nothing unread on either side. Default sysctls; 802.1Q VLAN 100 " +
			"tag inserted after the capture (this kernel has no 802.1Q devices).",
		vantage: vantageServer,
		framing: frameVLAN,
		run: func(e *env) {
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			c.write(100)
			s.read(100)
			e.sleep(50 * time.Millisecond)
			c.lingerZero()
			c.close()
			e.sleep(50 * time.Millisecond)
			s.close()
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.ResetKind).initiator(analyze.Client).fins(rc, 0, 0).fins(rs, 0, 0).
				reset("client", analyze.CauseLingerZero).diags(analyze.CodeRstLingerZero).
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED")
		}),
	}
}

func rstUnreadData() *scenario {
	return &scenario{
		name:    "rst-unread-data",
		summary: "the server close()s with 200 request bytes unread: RST instead of FIN",
		desc: "The client sends 100 bytes, which the server reads, then 200 more, which it does not; the server close()s " +
			"and the kernel sends [R.] whose ack covers the unread bytes. Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			c.write(100)
			s.read(100)
			c.write(200)
			e.sleep(100 * time.Millisecond)
			s.close()
			e.sleep(50 * time.Millisecond)
			c.close()
		},
		check: oneFlow(func(c *flowCheck) *flowCheck {
			return c.kind(analyze.ResetKind).initiator(analyze.Server).fins(rc, 0, 0).fins(rs, 0, 0).
				reset("server", analyze.CauseUnreadData).diags(analyze.CodeRstUnreadData).
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSED").states(rs, "SYN_RECV", "ESTABLISHED", "CLOSED")
		}),
	}
}

// reuseCheck checks a two-incarnation capture: the first closed cleanly,
// the second reused its 4-tuple with verdict, held by holder.
func reuseCheck(verdict, holder string, diag string) func(*wire) error {
	return func(w *wire) error {
		cs, err := w.flows(2)
		if err != nil {
			return err
		}
		if cs[1].fl.Client != cs[0].fl.Client || cs[1].fl.Incarnation != 2 {
			return fmt.Errorf("the second connection did not reuse the first one's 4-tuple")
		}
		cs[0].reuse("", "").reset("", "")
		cs[1].reuse(verdict, holder).diags(diag).handshake(analyze.HandshakeComplete)
		return checkAll(cs...)
	}
}

func twReuseBind() *scenario {
	return &scenario{
		name:    "tw-reuse-bind",
		summary: "the client bind()s its old port again 100 ms after its active close: its TIME_WAIT is reused",
		desc: "The client bind()s port 40000 (SO_REUSEADDR), exchanges a request and close()s first, so it holds TIME_WAIT; " +
			"100 ms later a new socket bind()s the same port and connects: the kernel reuses the TIME_WAIT (tcp_twsk_unique, " +
			"no tcp_tw_reuse needed on this path) and the new ISN is the old FIN's seq + 65538. Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			for range 2 {
				c := e.dial(40000)
				s := ln.accept()
				c.write(100)
				s.read(100)
				s.write(100)
				c.read(100)
				c.close()
				s.readEOF()
				s.close()
				e.has(sideClient, "TIME-WAIT", 2*time.Second)
				e.sleep(100 * time.Millisecond)
			}
		},
		check: reuseCheck(analyze.VerdictClientReuse, "client", analyze.CodeTimeWaitReuse),
	}
}

func twReuseEphemeral() *scenario {
	return &scenario{
		name:    "tw-reuse-ephemeral",
		summary: "tcp_tw_reuse=1 and a one-port ephemeral range: connect() reuses the client's TIME_WAIT after 1.3 s",
		desc: "The client's ip_local_port_range is the single port 40000 and tcp_tw_reuse=1; it closes first (TIME_WAIT) and " +
			"connects again 1.3 s later, past tcp_tw_reuse_delay (1000 ms): the kernel reuses the TIME_WAIT and the new ISN is " +
			"the old FIN's seq + 65538. SLL2 framing (-i any at the client).",
		vantage:     vantageClient,
		framing:     frameSLL2,
		reuseSysctl: "net.ipv4.tcp_tw_reuse",
		sysctls: sysctls(map[string]string{
			"net.ipv4.tcp_tw_reuse":        "1",
			"net.ipv4.ip_local_port_range": "40000 40000",
		}, nil),
		run: func(e *env) {
			ln := e.listen()
			for range 2 {
				c, s := exchange(e, ln, 100, 100)
				c.close()
				s.readEOF()
				s.close()
				e.has(sideClient, "TIME-WAIT", 2*time.Second)
				e.sleep(1300 * time.Millisecond)
			}
		},
		check: reuseCheck(analyze.VerdictClientReuse, "client", analyze.CodeTimeWaitReuse),
	}
}

// portsExhausted: a client's small ephemeral range all in TIME_WAIT
// towards one server, so that connect() finds no port.
func portsExhausted() *scenario {
	const n = 8
	return &scenario{
		name:    "ephemeral-ports-exhausted",
		summary: fmt.Sprintf("an %d-port ephemeral range and tcp_tw_reuse=0: %d client-active closes fill it with TIME_WAIT, the next connect() fails with EADDRNOTAVAIL", n, n),
		desc: fmt.Sprintf("The client's ip_local_port_range is 40000-%d and tcp_tw_reuse=0. %d connections in turn exchange 100 bytes "+
			"each way; the client closes first (TIME_WAIT) and the server 150 ms later. With every port of the range in "+
			"TIME_WAIT towards the server, one more connect() to it fails with EADDRNOTAVAIL and sends nothing. Captured at the client.",
			40000+n-1, n),
		vantage: vantageClient,
		framing: frameEthernet,
		sysctls: sysctls(map[string]string{
			"net.ipv4.tcp_tw_reuse":        "0",
			"net.ipv4.ip_local_port_range": fmt.Sprintf("40000 %d", 40000+n-1),
		}, nil),
		run: func(e *env) {
			ln := e.listen()
			for range n {
				c, s := exchange(e, ln, 100, 100)
				c.close()
				passiveClose(e, s, 150*time.Millisecond)
			}
			e.until(2*time.Second, fmt.Sprintf("%d TIME-WAIT at the client", n), func() (bool, error) {
				st, err := e.states(sideClient)
				return count(st, "TIME-WAIT") == n, err
			})
			e.connectFails(serverPort, unix.EADDRNOTAVAIL, "connect with every ephemeral port in TIME_WAIT")
		},
		check: func(w *wire) error {
			fl, err := w.flows(n)
			if err != nil {
				return err
			}
			var errs []error
			ports := map[uint16]bool{}
			for _, c := range fl {
				p := netip.MustParseAddrPort(c.fl.Client).Port()
				if p < 40000 || p >= 40000+n || ports[p] {
					errs = append(errs, fmt.Errorf("client port %d: outside the range or used twice", p))
				}
				ports[p] = true
				errs = append(errs, c.kind(analyze.FourWay).initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 1, 1).
					reset("", "").diags().states(rc, activeStates...).states(rs, passiveStates...).err())
			}
			return errors.Join(errs...)
		},
	}
}

// serverCloseTwice runs two connections from client port 40000 in which
// the server closes first, gap apart, after the client sent req bytes.
func serverCloseTwice(req int, gap time.Duration) func(*env) {
	return func(e *env) {
		ln := e.listen()
		for range 2 {
			c := e.dial(40000)
			s := ln.accept()
			together(func() { c.write(req) }, func() { s.read(req) })
			s.write(100)
			s.close()
			c.read(100)
			c.readEOF()
			c.close()
			e.has(sideServer, "TIME-WAIT", 2*time.Second)
			e.sleep(gap)
		}
	}
}

// together runs fs concurrently and waits for all of them.
func together(fs ...func()) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	wg.Wait()
}

func twServerAccept() *scenario {
	return &scenario{
		name:    "tw-server-accept",
		summary: "a SYN on the 4-tuple the server holds in TIME_WAIT is accepted (SYN-ACK ISN = old FIN seq + 65538)",
		desc: "The client (bound to port 40000) sends a request; the server answers and closes first, so it holds TIME_WAIT; " +
			"200 ms later the client connects again from the same port: the SYN's newer timestamp lets the server's TIME_WAIT " +
			"accept it, and its SYN-ACK ISN is its old FIN's seq + 65538. Default sysctls; captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		run:     serverCloseTwice(100, 200*time.Millisecond),
		check:   reuseCheck(analyze.VerdictServerAccept, "server", analyze.CodeTimeWaitReuse),
	}
}

func twSynRefused() *scenario {
	return &scenario{
		name:    "tw-syn-refused-no-timestamps",
		summary: "tcp_timestamps=0: the server's TIME_WAIT answers a new SYN with its old ACK; RST; SYN retry",
		desc: "Timestamps off on both sides. The client (port 40000) sends 8 MB so that the server's TIME_WAIT rcv_nxt is " +
			"ahead of the client's next ISN; the server closes first. 100 ms later the client connects from the same port: " +
			"the TIME_WAIT cannot accept the SYN (no timestamps, seq not after rcv_nxt) and answers with its old ACK, the " +
			"client resets it (tcp_rfc1337=0 lets the RST kill the TIME_WAIT) and its SYN retry ~10 ms later is accepted. " +
			"Captured at the server, snaplen 96.",
		vantage:  vantageServer,
		framing:  frameEthernet,
		snaplen:  96,
		sysctls:  sysctls(map[string]string{"net.ipv4.tcp_timestamps": "0"}, map[string]string{"net.ipv4.tcp_timestamps": "0"}),
		run:      serverCloseTwice(8<<20, 100*time.Millisecond),
		synRetry: true,
		check:    reuseCheck(analyze.VerdictRefused, "server", analyze.CodeTimeWaitSynRefused),
	}
}

func twBucketsOverflow() *scenario {
	return &scenario{
		name:    "tw-buckets-overflow",
		summary: "tcp_max_tw_buckets=0 at the client: no TIME_WAIT, the server's retransmitted FIN gets RST",
		desc: "The client has net.ipv4.tcp_max_tw_buckets=0 and calls shutdown(SHUT_WR); the server reads EOF and close()s. " +
			"The client ACKs the server's FIN but cannot create its TIME_WAIT (TCPTimeWaitOverflow) and its socket is gone; " +
			"an iptables rule at the server drops that ACK, so the server retransmits its FIN, which the client answers with RST.",
		vantage: vantageClient,
		framing: frameEthernet,
		sysctls: sysctls(map[string]string{"net.ipv4.tcp_max_tw_buckets": "0"}, nil),
		notes: []string{"The client's kernel never held TIME_WAIT: it went from FIN_WAIT2 to CLOSED when the server's FIN " +
			"arrived, though it ACKed that FIN as a TIME_WAIT would. The wire cannot show this, so the truth leaves the " +
			"client's state sequence out."},
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.shutdownWR()
			s.readEOF()
			e.sleep(100 * time.Millisecond)
			e.drop(sideServer, "--tcp-flags", "ALL", "ACK")
			s.close()
			e.sleep(time.Second)
			e.undrop()
			c.close()
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			c.fl.Sides.Client.States = nil
			c.fl.Sides.Client.FinalState = "CLOSED"
			if r := c.fl.Close.Reset; r != nil {
				r.State = ""
			}
			return c.kind(analyze.ResetKind).initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 2, 2).
				reset("client", analyze.CauseTimeWaitMissing).
				diags(analyze.CodeTimeWaitMissing, analyze.CodeFinRetransmitted).
				states(rs, "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED").err()
		},
	}
}

func manyConnections() *scenario {
	const n = 240
	return &scenario{
		name:    "many-connections",
		summary: fmt.Sprintf("%d concurrent short connections: client-active, server-active, SO_LINGER RST and unread-data RST", n),
		desc: fmt.Sprintf("%d connections are opened before any closes; each carries a 50-byte request, then all close at "+
			"once, a quarter each way: the client closes first; the server answers 200 bytes and closes first; the client "+
			"resets with SO_LINGER {1,0}; the server closes with 30 bytes unread (RST). Default sysctls; pcapng at the server.", n),
		vantage: vantageServer,
		framing: framePcapng,
		snaplen: 96,
		run: func(e *env) {
			ln := e.listen()
			cs := make([]*sock, n)
			ss := make([]*sock, n)
			for i := range n {
				cs[i] = e.dial(0)
				ss[i] = ln.accept()
			}
			for i := range n {
				cs[i].write(50)
				ss[i].read(50)
			}
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func(c, s *sock) {
					defer wg.Done()
					switch i % 4 {
					case 0:
						c.close()
						s.readEOF()
						s.close()
					case 1:
						s.write(200)
						s.close()
						c.readEOF()
						e.sleep(50 * time.Millisecond)
						c.close()
					case 2:
						c.lingerZero()
						c.close()
						e.sleep(100 * time.Millisecond)
						s.close()
					case 3:
						c.write(30)
						e.sleep(50 * time.Millisecond)
						s.close()
						e.sleep(50 * time.Millisecond)
						c.close()
					}
				}(cs[i], ss[i])
			}
			wg.Wait()
		},
		check: func(w *wire) error {
			cs, err := w.flows(n)
			if err != nil {
				return err
			}
			count := map[string]int{}
			for _, c := range cs {
				c.handshake(analyze.HandshakeComplete)
				count[c.fl.Close.Kind]++
				if r := c.fl.Close.Reset; r != nil {
					count[r.Cause]++
				}
			}
			if count[analyze.CauseLingerZero] != n/4 || count[analyze.CauseUnreadData] != n/4 ||
				count[string(analyze.FourWay)]+count[string(analyze.ThreeWay)] != n/2 {
				return fmt.Errorf("outcomes %v, want %d of each RST cause and %d orderly closes", count, n/4, n/2)
			}
			return checkAll(cs...)
		},
	}
}
