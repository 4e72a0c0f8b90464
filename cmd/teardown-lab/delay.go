//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A path delay without netem (this kernel has none): the router's FORWARD
// chain sends every packet to NFQUEUE queue delayQueue, and a netlink
// socket in the router's namespace gives each its ACCEPT verdict a fixed
// time after the kernel queued it, in order. The kernel still routes,
// checksums and forwards every packet itself; only the verdict waits.

const (
	delayQueue = 0

	nfnlSubsysQueue = 3 // NFNL_SUBSYS_QUEUE
	nfqnlMsgPacket  = 0 // NFQNL_MSG_PACKET
	nfqnlMsgVerdict = 1 // NFQNL_MSG_VERDICT
	nfqnlMsgConfig  = 2 // NFQNL_MSG_CONFIG
	nfqaPacketHdr   = 1 // NFQA_PACKET_HDR
	nfqaVerdictHdr  = 2 // NFQA_VERDICT_HDR
	nfqaCfgCmd      = 1 // NFQA_CFG_CMD
	nfqaCfgParams   = 2 // NFQA_CFG_PARAMS
	nfqnlCfgBind    = 1 // NFQNL_CFG_CMD_BIND
	nfqnlCopyMeta   = 1 // NFQNL_COPY_META
	nfAccept        = 1 // NF_ACCEPT
)

// delayer holds the packets of queue delayQueue for d each.
type delayer struct {
	fd   int
	d    time.Duration
	stop atomic.Bool
	due  chan held
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

type held struct {
	id uint32
	at time.Time
}

// startDelay binds queue delayQueue in namespace ns and starts holding
// its packets for d.
func startDelay(ns string, d time.Duration) (*delayer, error) {
	y := &delayer{fd: -1, d: d, due: make(chan held, 4096)}
	err := inNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		y.fd = fd
		return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	})
	if err == nil {
		// Wake the reader every 100 ms, so that it sees stop.
		err = unix.SetsockoptTimeval(y.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000})
	}
	if err == nil {
		var cmd [4]byte
		cmd[0] = nfqnlCfgBind
		binary.BigEndian.PutUint16(cmd[2:], unix.AF_INET)
		err = y.request(nfqnlMsgConfig, attr(nfqaCfgCmd, cmd[:]))
	}
	if err == nil {
		var params [5]byte // copy_range 0, copy_mode META: the id is all it needs
		params[4] = nfqnlCopyMeta
		err = y.request(nfqnlMsgConfig, attr(nfqaCfgParams, params[:]))
	}
	if err != nil {
		if y.fd >= 0 {
			unix.Close(y.fd)
		}
		return nil, fmt.Errorf("lab: path delay: %w", err)
	}
	y.wg.Add(2)
	go y.read()
	go y.release()
	return y, nil
}

// attr encodes one netlink attribute, padded to 4 bytes.
func attr(typ uint16, v []byte) []byte {
	b := make([]byte, 4+(len(v)+3)&^3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], v)
	return b
}

// message encodes a netlink message of the queue subsystem for queue
// delayQueue.
func message(msg uint16, flags uint16, attrs ...[]byte) []byte {
	b := make([]byte, 20)
	binary.NativeEndian.PutUint16(b[4:], nfnlSubsysQueue<<8|msg)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	b[16] = unix.AF_UNSPEC
	binary.BigEndian.PutUint16(b[18:], delayQueue)
	for _, a := range attrs {
		b = append(b, a...)
	}
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	return b
}

// request sends a configuration message and waits (bounded) for its
// acknowledgement.
func (y *delayer) request(msg uint16, attrs ...[]byte) error {
	if err := unix.Sendto(y.fd, message(msg, unix.NLM_F_ACK, attrs...), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(y.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n >= 20 && binary.NativeEndian.Uint16(buf[4:]) == unix.NLMSG_ERROR {
			if code := int32(binary.NativeEndian.Uint32(buf[16:])); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
	return errors.New("no answer from nfnetlink_queue")
}

// read takes each queued packet's id and schedules its verdict.
func (y *delayer) read() {
	defer y.wg.Done()
	defer close(y.due)
	buf := make([]byte, 1<<16)
	for !y.stop.Load() {
		n, _, err := unix.Recvfrom(y.fd, buf, 0)
		now := time.Now()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			y.fail(err)
			return
		}
		for b := buf[:n]; len(b) >= 16; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < 16 || l > len(b) {
				break
			}
			if binary.NativeEndian.Uint16(b[4:]) == nfnlSubsysQueue<<8|nfqnlMsgPacket {
				if id, ok := packetID(b[20:l]); ok {
					y.due <- held{id, now.Add(y.d)}
				}
			}
			b = b[(l+3)&^3:]
		}
	}
}

// packetID finds NFQA_PACKET_HDR among a packet message's attributes.
func packetID(a []byte) (uint32, bool) {
	for len(a) >= 4 {
		l := int(binary.NativeEndian.Uint16(a))
		if l < 4 || l > len(a) {
			return 0, false
		}
		if binary.NativeEndian.Uint16(a[2:])&0x3fff == nfqaPacketHdr && l >= 8 {
			return binary.BigEndian.Uint32(a[4:]), true
		}
		a = a[min((l+3)&^3, len(a)):]
	}
	return 0, false
}

// release gives each packet its verdict when its time comes.
func (y *delayer) release() {
	defer y.wg.Done()
	for h := range y.due {
		if w := time.Until(h.at); w > 0 {
			time.Sleep(w)
		}
		var v [8]byte
		binary.BigEndian.PutUint32(v[:], nfAccept)
		binary.BigEndian.PutUint32(v[4:], h.id)
		if err := unix.Sendto(y.fd, message(nfqnlMsgVerdict, 0, attr(nfqaVerdictHdr, v[:])), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			y.fail(err)
		}
	}
}

func (y *delayer) fail(err error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.err == nil {
		y.err = fmt.Errorf("lab: path delay: %w", err)
	}
}

// close releases what is held, stops, and returns the first error.
func (y *delayer) close() error {
	y.stop.Store(true)
	y.wg.Wait()
	unix.Close(y.fd)
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.err
}
