//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// serverPort is the port every scenario's server listens on.
const serverPort = 8080

// ioTimeout bounds every blocking socket call (SO_RCVTIMEO/SO_SNDTIMEO).
const ioTimeout = 20 * time.Second

// sock is a blocking kernel socket driven with plain system calls, so that
// every socket option and every shutdown/close is exactly what the
// scenario asks for.
type sock struct {
	fd   int
	name string
	env  *env
}

// sockets tracks every descriptor a run opened, so that all are closed
// before the namespaces are deleted.
type sockets struct {
	mu   sync.Mutex
	open map[int]bool
}

func (ss *sockets) add(fd int) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.open == nil {
		ss.open = map[int]bool{}
	}
	ss.open[fd] = true
}

func (ss *sockets) remove(fd int) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.open[fd] {
		return false
	}
	delete(ss.open, fd)
	return true
}

func (ss *sockets) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for fd := range ss.open {
		unix.Close(fd)
	}
	ss.open = nil
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// newSock creates a TCP socket inside the namespace of side s.
func (e *env) newSock(s side) *sock {
	k := &sock{fd: -1, name: s.String(), env: e}
	if e.failed() != nil {
		return k
	}
	family := unix.AF_INET
	if e.topo.v6 {
		family = unix.AF_INET6
	}
	err := inNS(e.topo.ns(s), func() error {
		var err error
		k.fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		return err
	})
	if err != nil {
		e.fail(fmt.Errorf("%s socket: %w", s, err))
		return k
	}
	e.socks.add(k.fd)
	tv := unix.NsecToTimeval(ioTimeout.Nanoseconds())
	e.fail(unix.SetsockoptTimeval(k.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	e.fail(unix.SetsockoptTimeval(k.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv))
	return k
}

// listen opens the server's listening socket on serverPort.
func (e *env) listen(opts ...func(*sock)) *sock {
	return e.listenBacklog(1024, opts...)
}

// listenBacklog opens the server's listening socket with the given
// listen() backlog.
func (e *env) listenBacklog(backlog int, opts ...func(*sock)) *sock {
	s := e.newSock(sideServer)
	s.name = "listener"
	for _, o := range opts {
		o(s)
	}
	s.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	s.do("bind", func() error { return unix.Bind(s.fd, sockaddr(netip.AddrPortFrom(e.topo.serverIP, serverPort))) })
	s.do("listen", func() error { return unix.Listen(s.fd, backlog) })
	return s
}

// connectRefused tries to connect to a port nobody listens on and
// expects ECONNREFUSED.
func (e *env) connectRefused(port int) {
	e.connectFails(port, unix.ECONNREFUSED, "connect to a closed port")
}

// connectFails connects a new client socket to the server's port and
// expects connect() to fail with want.
func (e *env) connectFails(port int, want unix.Errno, what string) {
	s := e.newSock(sideClient)
	s.do("connect", func() error {
		err := unix.Connect(s.fd, sockaddr(netip.AddrPortFrom(e.topo.serverIP, uint16(port))))
		if errors.Is(err, want) {
			return nil
		}
		return fmt.Errorf("%s: %v, want %s", what, err, unix.ErrnoName(want))
	})
	s.close()
}

// connectRejected connects a new client socket to the server and expects
// connect() to fail with want in less than limit: the SYN was answered by
// an ICMP error, which ends a SYN_SENT socket at once. The socket stays
// open (in CLOSE) for the caller to close.
func (e *env) connectRejected(want unix.Errno, limit time.Duration) *sock {
	return e.connectRejectedPort(serverPort, want, limit)
}

// connectRejectedPort is connectRejected to the server's port port.
func (e *env) connectRejectedPort(port int, want unix.Errno, limit time.Duration) *sock {
	s := e.newSock(sideClient)
	// A connect() still in progress after 3 s returns EINPROGRESS.
	tv := unix.NsecToTimeval((3 * time.Second).Nanoseconds())
	s.do("SO_SNDTIMEO", func() error { return unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) })
	s.do("connect", func() error {
		start := time.Now()
		err := unix.Connect(s.fd, sockaddr(netip.AddrPortFrom(e.topo.serverIP, uint16(port))))
		took := time.Since(start)
		if !errors.Is(err, want) || took >= limit {
			return fmt.Errorf("connect to a server whose SYN is answered by an ICMP error: %v after %v, want %s within %v",
				err, took, unix.ErrnoName(want), limit)
		}
		fmt.Fprintf(os.Stderr, "teardown-lab: connect() failed with %s (%v) after %v\n", unix.ErrnoName(want), err, took)
		return nil
	})
	return s
}

// connectTimedOut connects a new client socket to the server and expects
// connect() to fail with ETIMEDOUT within limit (SO_SNDTIMEO bounds the
// wait: a connect() still in progress then is an error).
func (e *env) connectTimedOut(limit time.Duration) {
	s := e.newSock(sideClient)
	tv := unix.NsecToTimeval(limit.Nanoseconds())
	s.do("SO_SNDTIMEO", func() error { return unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) })
	s.do("connect", func() error {
		err := unix.Connect(s.fd, sockaddr(netip.AddrPortFrom(e.topo.serverIP, serverPort)))
		if errors.Is(err, unix.ETIMEDOUT) {
			return nil
		}
		return fmt.Errorf("connect to a server that drops SYNs: %v, want ETIMEDOUT within %v", err, limit)
	})
	s.close()
}

// dialAsync starts connecting a new client socket to the server without
// waiting for the handshake (a non-blocking connect()); the socket is
// blocking again once it returns. opts run on the socket before connect.
func (e *env) dialAsync(opts ...func(*sock)) *sock {
	s := e.newSock(sideClient)
	for _, o := range opts {
		o(s)
	}
	s.do("O_NONBLOCK", func() error { return unix.SetNonblock(s.fd, true) })
	s.do("connect", func() error {
		err := unix.Connect(s.fd, sockaddr(netip.AddrPortFrom(e.topo.serverIP, serverPort)))
		if err == nil || errors.Is(err, unix.EINPROGRESS) {
			return nil
		}
		return err
	})
	s.do("O_NONBLOCK", func() error { return unix.SetNonblock(s.fd, false) })
	return s
}

// dial connects a new client socket to the server. A non-zero port binds
// the client to it first (with SO_REUSEADDR, as an application that pins
// its source port does). opts run on the socket before connect.
func (e *env) dial(port int, opts ...func(*sock)) *sock {
	s := e.newSock(sideClient)
	for _, o := range opts {
		o(s)
	}
	if port != 0 {
		s.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		s.do("bind", func() error {
			return unix.Bind(s.fd, sockaddr(netip.AddrPortFrom(e.topo.clientIP, uint16(port))))
		})
	}
	s.do("connect", func() error {
		return unix.Connect(s.fd, sockaddr(netip.AddrPortFrom(e.topo.serverIP, serverPort)))
	})
	return s
}

// do runs a system call on s unless the run already failed, retrying on
// EINTR, and records its error.
func (s *sock) do(what string, f func() error) {
	if s.env.failed() != nil {
		return
	}
	for {
		err := f()
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			s.env.fail(fmt.Errorf("%s %s: %w", s.name, what, err))
		}
		return
	}
}

// accept takes the next connection from a listener.
func (s *sock) accept() *sock {
	k := &sock{fd: -1, name: "server", env: s.env}
	s.do("accept", func() error {
		fd, _, err := unix.Accept4(s.fd, unix.SOCK_CLOEXEC)
		if err == nil {
			k.fd = fd
			s.env.socks.add(fd)
		}
		return err
	})
	return k
}

func (s *sock) setInt(level, opt, v int) {
	s.do("setsockopt", func() error { return unix.SetsockoptInt(s.fd, level, opt, v) })
}

// rcvbuf sets SO_RCVBUF (the kernel doubles it).
func rcvbuf(n int) func(*sock) {
	return func(s *sock) { s.setInt(unix.SOL_SOCKET, unix.SO_RCVBUF, n) }
}

// sndbuf sets SO_SNDBUF (the kernel doubles it).
func sndbuf(n int) func(*sock) {
	return func(s *sock) { s.setInt(unix.SOL_SOCKET, unix.SO_SNDBUF, n) }
}

// deferAccept sets TCP_DEFER_ACCEPT: the listener ignores a bare
// handshake ACK and completes the connection on the first data.
func deferAccept(secs int) func(*sock) {
	return func(s *sock) { s.setInt(unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, secs) }
}

// keepalive sets TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT, then
// SO_KEEPALIVE, which arms the keepalive timer.
func (s *sock) keepalive(idle, intvl, cnt int) {
	s.setInt(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, idle)
	s.setInt(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, intvl)
	s.setInt(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, cnt)
	s.setInt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
}

// dialStalled binds a client socket to port and connects with a send
// timeout of d, expecting the connection not to complete: connect()
// returns EINPROGRESS when the timeout passes and the kernel keeps
// retrying the SYN until the socket is closed.
func (e *env) dialStalled(port int, d time.Duration) *sock {
	s := e.newSock(sideClient)
	tv := unix.NsecToTimeval(d.Nanoseconds())
	s.do("SO_SNDTIMEO", func() error { return unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) })
	s.setInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	s.do("bind", func() error {
		return unix.Bind(s.fd, sockaddr(netip.AddrPortFrom(e.topo.clientIP, uint16(port))))
	})
	start := time.Now()
	s.do("connect", func() error {
		err := unix.Connect(s.fd, sockaddr(netip.AddrPortFrom(e.topo.serverIP, serverPort)))
		if errors.Is(err, unix.EINPROGRESS) || errors.Is(err, unix.EALREADY) {
			return nil
		}
		return fmt.Errorf("connect: %v, want it still in progress after %v", err, d)
	})
	// A connect() interrupted and called again returns EALREADY at once.
	e.sleep(time.Until(start.Add(d)))
	return s
}

// linger2 sets TCP_LINGER2 (the orphaned FIN_WAIT2 lifetime; < 0 resets).
func (s *sock) linger2(secs int) {
	s.setInt(unix.IPPROTO_TCP, unix.TCP_LINGER2, secs)
}

// lingerZero sets SO_LINGER {1, 0}: close() resets the connection.
func (s *sock) lingerZero() {
	s.do("SO_LINGER", func() error {
		return unix.SetsockoptLinger(s.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
}

var payload = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

// write sends n bytes.
func (s *sock) write(n int) {
	for n > 0 && s.env.failed() == nil {
		s.do("write", func() error {
			w, err := unix.Write(s.fd, payload[:min(n, len(payload))])
			n -= max(w, 0)
			return err
		})
	}
}

// read reads exactly n bytes.
func (s *sock) read(n int) {
	buf := make([]byte, 64<<10)
	for n > 0 && s.env.failed() == nil {
		s.do("read", func() error {
			r, err := unix.Read(s.fd, buf[:min(n, len(buf))])
			if err == nil && r == 0 {
				return fmt.Errorf("early EOF, %d bytes missing", n)
			}
			n -= max(r, 0)
			return err
		})
	}
}

// readEOF reads until the peer's FIN and returns the byte count.
func (s *sock) readEOF() int {
	buf := make([]byte, 64<<10)
	total := 0
	for eof := false; !eof && s.env.failed() == nil; {
		s.do("read to EOF", func() error {
			r, err := unix.Read(s.fd, buf)
			eof = err == nil && r == 0
			total += max(r, 0)
			return err
		})
	}
	return total
}

// readFails blocks in read() until the kernel gives up on the connection,
// and expects read() to fail with want between lo and hi after since (the
// client's unanswered write, say); SO_RCVTIMEO bounds the wait. It notes
// the errno and the time it took.
func (s *sock) readFails(want unix.Errno, since time.Time, lo, hi time.Duration) {
	tv := unix.NsecToTimeval(time.Until(since.Add(hi)).Nanoseconds())
	s.do("SO_RCVTIMEO", func() error { return unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) })
	s.do("read", func() error {
		buf := make([]byte, 1024)
		n, err := unix.Read(s.fd, buf)
		if errors.Is(err, unix.EINTR) {
			return err
		}
		took := time.Since(since)
		if !errors.Is(err, want) || took < lo || took > hi {
			return fmt.Errorf("read() on a connection the kernel should give up on: %d, %v after %v, want %s after %v to %v",
				n, err, took.Round(time.Millisecond), unix.ErrnoName(want), lo, hi)
		}
		fmt.Fprintf(os.Stderr, "teardown-lab: read() failed with %s (%v) %v after the write\n", unix.ErrnoName(want), err, took.Round(time.Millisecond))
		s.env.notes = append(s.env.notes, fmt.Sprintf("The client's blocking read() failed with %s (%q) %.2f s after it "+
			"wrote the unanswered 100 bytes.", unix.ErrnoName(want), err.Error(), took.Seconds()))
		return nil
	})
}

// soError checks that the socket's pending error (SO_ERROR) is want: what
// the application learns of a connection the kernel gave up on.
func (s *sock) soError(want unix.Errno) {
	s.do("SO_ERROR", func() error {
		n, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && unix.Errno(n) != want {
			err = fmt.Errorf("pending error %v, want %s", unix.Errno(n), unix.ErrnoName(want))
		}
		return err
	})
}

// shutdownWR sends a FIN and keeps the socket open for reading.
func (s *sock) shutdownWR() {
	s.do("shutdown", func() error { return unix.Shutdown(s.fd, unix.SHUT_WR) })
}

// close closes the descriptor; the kernel carries on with the connection
// as an orphan.
func (s *sock) close() {
	if s.fd < 0 || !s.env.socks.remove(s.fd) {
		return
	}
	s.do("close", func() error { return unix.Close(s.fd) })
}
