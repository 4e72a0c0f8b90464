//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// vlanID is the 802.1Q VLAN id written into vlan-framed captures.
const vlanID = 100

// insertVLAN copies the Ethernet capture in to out with an 802.1Q tag
// (TPID 0x8100, priority 0, id vid) inserted after each frame's MAC
// addresses. This kernel has no 802.1Q devices, so the tag is added after
// the capture; the frames are otherwise byte for byte what tcpdump saw.
func insertVLAN(in, out string, vid uint16) error {
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	r, err := pcapgo.NewReader(src)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return fmt.Errorf("%s: link type %v, want Ethernet", in, r.LinkType())
	}
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	defer dst.Close()
	w := pcapgo.NewWriterNanos(dst)
	if err := w.WriteFileHeader(r.Snaplen()+4, layers.LinkTypeEthernet); err != nil {
		return err
	}
	tag := []byte{0x81, 0x00, byte(vid >> 8 & 0x0f), byte(vid)}
	for n := 1; ; n++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: packet %d: %w", in, n, err)
		}
		if len(data) < 14 {
			return fmt.Errorf("%s: packet %d: %d bytes, too short for Ethernet", in, n, len(data))
		}
		tagged := make([]byte, 0, len(data)+4)
		tagged = append(tagged, data[:12]...)
		tagged = append(tagged, tag...)
		tagged = append(tagged, data[12:]...)
		ci.CaptureLength += 4
		ci.Length += 4
		if err := w.WritePacket(ci, tagged); err != nil {
			return fmt.Errorf("%s: packet %d: %w", out, n, err)
		}
	}
	return dst.Close()
}
