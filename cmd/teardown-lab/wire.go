//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"

	capfile "github.com/teardown/teardown/flows/capture"
)

// TCP header flags as tshark prints them in tcp.flags.
const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
)

// frame is one TCP segment of a capture as tshark decoded it.
type frame struct {
	no       int
	t        int64 // ns since the epoch
	src, dst netip.AddrPort
	flags    int
	seq, ack uint32
	len      uint32
	win      int
	ipid     int // -1 for IPv6
	ts       bool
	tsval    uint32
	tsecr    uint32
	ttl      int // IPv4 TTL or IPv6 hop limit
	// dsack: the segment's first SACK block is a D-SACK (RFC 2883), as
	// tshark reads it, covering dsackLE up to dsackRE (absolute
	// sequence numbers).
	dsack            bool
	dsackLE, dsackRE uint32
	// ifindex is the interface the packet was seen on, as a Linux
	// cooked v2 (SLL2) header records it; 0 in other framings.
	ifindex int
	// copyTTL is, for a RST the capture held twice with another TTL (the
	// copy dropped as a capture duplicate: tcpdump -i any on a host that
	// forwards it), that copy's TTL; 0 otherwise.
	copyTTL, copyNo int
	// sackPerm and wscale: the segment carried the SACK-permitted
	// option, and the window-scale option's shift (-1 without one).
	sackPerm bool
	wscale   int
	// frags is how many IP fragments tshark reassembled the segment (or
	// the tunnel datagram it came in) from; 0 when it came whole.
	frags int
	// df is the IPv4 don't-fragment bit (false for IPv6).
	df bool
}

func (f *frame) has(fl int) bool { return f.flags&fl == fl }

// flagString renders flags the tcpdump way ("S", "F.", "R").
func (f *frame) flagString() string {
	var b strings.Builder
	for _, x := range []struct {
		f int
		c byte
	}{{fSYN, 'S'}, {fFIN, 'F'}, {fRST, 'R'}, {fPSH, 'P'}} {
		if f.flags&x.f != 0 {
			b.WriteByte(x.c)
		}
	}
	if f.flags&fACK != 0 {
		b.WriteByte('.')
	}
	return b.String()
}

func (f *frame) String() string {
	return fmt.Sprintf("frame %d %s > %s [%s] seq %d ack %d len %d", f.no, f.src, f.dst, f.flagString(), f.seq, f.ack, f.len)
}

// seqGE reports a >= b in sequence space.
func seqGE(a, b uint32) bool { return int32(a-b) >= 0 }

// seqGT reports a > b in sequence space.
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

var tsharkFields = []string{
	"frame.number", "frame.time_epoch",
	"ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
	"tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.window_size_value",
	"ip.id", "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr", "ip.ttl", "ipv6.hlim",
	"tcp.options.sack.dsack_le", "tcp.options.sack.dsack_re", "sll.ifindex",
	"tcp.options.sack_perm", "tcp.options.wscale.shift", "ip.fragment.count", "ip.flags.df",
}

// tcpOnly is the display filter of the TCP segments: tshark's "tcp" also
// matches an ICMP error that quotes a TCP header, whose tcp fields are the
// quoted segment's (readICMP reads those), and the first fragment of a
// fragmented segment, whose TCP header it reads before the fragment that
// completes the segment, which it reassembles, comes.
const tcpOnly = "tcp && !icmp && !icmpv6 && !(ip.flags.mf == 1) && !(ipv6.fraghdr.more == 1)"

// readFrames decodes every TCP segment of file with tshark. Frame numbers
// are tshark's, which are Wireshark's.
func readFrames(ctx context.Context, file string, fr framing) ([]*frame, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// A tunnel's segments are the innermost IP's: the last occurrence of
	// each field.
	occ := "occurrence=f"
	if fr == frameVXLAN {
		occ = "occurrence=l"
	}
	// Absolute sequence numbers: the D-SACK's edges are relative
	// otherwise (tcp.seq_raw and tcp.ack_raw are absolute either way).
	args := []string{"-n", "-r", file, "-o", "tcp.relative_sequence_numbers:FALSE", "-Y", tcpOnly,
		"-T", "fields", "-E", "separator=|", "-E", occ}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	out, err := exec.CommandContext(ctx, "tshark", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("tshark %s: %w", file, err)
	}
	var frames []*frame
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		f, err := parseFrame(line)
		if err != nil {
			return nil, fmt.Errorf("tshark %s: %q: %w", file, line, err)
		}
		frames = append(frames, f)
	}
	return frames, nil
}

func parseFrame(line string) (*frame, error) {
	v := strings.Split(line, "|")
	if len(v) != len(tsharkFields) {
		return nil, fmt.Errorf("%d fields, want %d", len(v), len(tsharkFields))
	}
	num := func(s string, base int) (uint64, error) {
		s = strings.TrimPrefix(s, "0x")
		return strconv.ParseUint(s, base, 64)
	}
	f := &frame{ipid: -1, wscale: -1}
	n, err := num(v[0], 10)
	if err != nil {
		return nil, err
	}
	f.no = int(n)
	if f.t, err = parseEpoch(v[1]); err != nil {
		return nil, err
	}
	addr := func(a4, a6, port string) (netip.AddrPort, error) {
		a := a4
		if a == "" {
			a = a6
		}
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return netip.AddrPort{}, err
		}
		p, err := strconv.ParseUint(port, 10, 16)
		return netip.AddrPortFrom(ip, uint16(p)), err
	}
	if f.src, err = addr(v[2], v[3], v[4]); err != nil {
		return nil, err
	}
	if f.dst, err = addr(v[5], v[6], v[7]); err != nil {
		return nil, err
	}
	var x uint64
	if x, err = num(v[8], 16); err != nil {
		return nil, err
	}
	f.flags = int(x)
	if x, err = num(v[9], 10); err != nil {
		return nil, err
	}
	f.seq = uint32(x)
	if x, err = num(v[10], 10); err != nil {
		return nil, err
	}
	f.ack = uint32(x)
	if x, err = num(v[11], 10); err != nil {
		return nil, err
	}
	f.len = uint32(x)
	if x, err = num(v[12], 10); err != nil {
		return nil, err
	}
	f.win = int(x)
	if v[13] != "" {
		if x, err = num(v[13], 16); err != nil {
			return nil, err
		}
		f.ipid = int(x)
	}
	if v[14] != "" {
		if x, err = num(v[14], 10); err != nil {
			return nil, err
		}
		f.ts, f.tsval = true, uint32(x)
		if x, err = num(v[15], 10); err != nil {
			return nil, err
		}
		f.tsecr = uint32(x)
	}
	ttl := v[16]
	if ttl == "" {
		ttl = v[17]
	}
	if x, err = num(ttl, 10); err != nil {
		return nil, err
	}
	f.ttl = int(x)
	if v[18] != "" || v[19] != "" {
		if x, err = num(v[18], 10); err != nil {
			return nil, err
		}
		f.dsackLE = uint32(x)
		if x, err = num(v[19], 10); err != nil {
			return nil, err
		}
		f.dsack, f.dsackRE = true, uint32(x)
	}
	if v[20] != "" {
		if x, err = num(v[20], 10); err != nil {
			return nil, err
		}
		f.ifindex = int(x)
	}
	// tshark prints the SACK-permitted option's bytes: it has no value.
	f.sackPerm = v[21] != ""
	if v[22] != "" {
		if x, err = num(v[22], 10); err != nil {
			return nil, err
		}
		f.wscale = int(x)
	}
	if v[23] != "" {
		if x, err = num(v[23], 10); err != nil {
			return nil, err
		}
		f.frags = int(x)
	}
	f.df = v[24] == "1" || v[24] == "True"
	return f, nil
}

// captureStopped reads when the capture in file stopped, as a pcapng
// file's interface statistics record it (isb_endtime, which dumpcap
// writes as it stops): ns since the epoch, 0 when the file does not say.
// Neither tshark's fields nor capinfos show it, so this reads the file
// with teardown's own capture reader.
func captureStopped(file string) (int64, error) {
	r, err := capfile.Open([]string{file}, capfile.Options{})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, err
		}
	}
	return r.Info().Stopped, nil
}
