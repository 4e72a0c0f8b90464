//go:build linux

package main

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// TCP flag bits as they sit in the header's 14th byte.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// rawSeg is one IPv4 TCP segment the lab writes itself, from a raw socket
// inside a namespace; the kernels' reactions to it are their own.
type rawSeg struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    byte
	// mss, when set, is the segment's one option: MSS, as a SYN scan's
	// SYN carries it (nmap -sS).
	mss uint16
	// win is the window, 502 when 0 (a RST's is 0).
	win uint16
}

// bytes builds the IPv4 and TCP headers (no options but mss, no
// payload). The IP ID is left 0 and the kernel fills it (IP_HDRINCL).
func (s rawSeg) bytes() []byte {
	tl := 20
	if s.mss != 0 {
		tl += 4
	}
	b := make([]byte, 20+tl)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[6:], 0x4000) // DF
	b[8] = 64
	b[9] = unix.IPPROTO_TCP
	sa, da := s.src.Addr().As4(), s.dst.Addr().As4()
	copy(b[12:], sa[:])
	copy(b[16:], da[:])
	binary.BigEndian.PutUint16(b[10:], csum(b[:20], 0))
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], s.src.Port())
	binary.BigEndian.PutUint16(t[2:], s.dst.Port())
	binary.BigEndian.PutUint32(t[4:], s.seq)
	binary.BigEndian.PutUint32(t[8:], s.ack)
	t[12] = byte(tl/4) << 4
	t[13] = s.flags
	if s.flags&tcpRST == 0 {
		binary.BigEndian.PutUint16(t[14:], cmp.Or(s.win, 502))
	}
	if s.mss != 0 {
		t[20], t[21] = 2, 4
		binary.BigEndian.PutUint16(t[22:], s.mss)
	}
	var pseudo uint32
	for _, a := range [][4]byte{sa, da} {
		pseudo += (uint32(a[0])<<8 | uint32(a[1])) + (uint32(a[2])<<8 | uint32(a[3]))
	}
	pseudo += unix.IPPROTO_TCP + uint32(tl)
	binary.BigEndian.PutUint16(t[16:], csum(t, pseudo))
	return b
}

// csum is the Internet checksum of b, starting from sum.
func csum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// sendRaw writes seg from side s's namespace through an IPPROTO_RAW socket.
func (e *env) sendRaw(s side, seg rawSeg) {
	if e.failed() != nil {
		return
	}
	if e.topo.v6 {
		e.fail(fmt.Errorf("raw segments are IPv4 only"))
		return
	}
	err := inNS(e.topo.ns(s), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, seg.bytes(), 0, &unix.SockaddrInet4{Addr: seg.dst.Addr().As4()})
	})
	if err != nil {
		e.fail(fmt.Errorf("raw send: %w", err))
	}
}

// tcpSniffer receives a copy of every IPv4 TCP segment side s's host
// receives (a raw IPPROTO_TCP socket), to learn sequence numbers.
type tcpSniffer struct {
	fd int
	e  *env
}

func (e *env) sniff(s side) *tcpSniffer {
	k := &tcpSniffer{fd: -1, e: e}
	if e.failed() != nil {
		return k
	}
	err := inNS(e.topo.ns(s), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			return err
		}
		k.fd = fd
		e.socks.add(fd)
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		e.fail(fmt.Errorf("raw sniffer: %w", err))
	}
	return k
}

// await returns the first received segment from port src with all of
// flags set, within d.
func (k *tcpSniffer) await(src uint16, flags byte, d time.Duration) (seq, ack uint32) {
	e := k.e
	buf := make([]byte, 65536)
	for end := time.Now().Add(d); e.failed() == nil; {
		if time.Now().After(end) || e.ctx.Err() != nil {
			e.fail(fmt.Errorf("no segment from port %d with flags %#x within %v", src, flags, d))
			return
		}
		n, _, err := unix.Recvfrom(k.fd, buf, 0)
		if err != nil {
			continue // timeout or EINTR: look at the clock again
		}
		ihl := int(buf[0]&0x0f) * 4
		if n < ihl+20 {
			continue
		}
		t := buf[ihl:n]
		if binary.BigEndian.Uint16(t[0:]) == src && t[13]&flags == flags {
			return binary.BigEndian.Uint32(t[4:]), binary.BigEndian.Uint32(t[8:])
		}
	}
	return
}

func (k *tcpSniffer) close() {
	if k.fd >= 0 && k.e.socks.remove(k.fd) {
		unix.Close(k.fd)
	}
}

// localPort is the port a socket is bound to.
func (s *sock) localPort() uint16 {
	var p uint16
	s.do("getsockname", func() error {
		sa, err := unix.Getsockname(s.fd)
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			p = uint16(a.Port)
		case *unix.SockaddrInet6:
			p = uint16(a.Port)
		}
		return err
	})
	return p
}
