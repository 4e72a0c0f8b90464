package synth

import (
	"bufio"
	"encoding/binary"
	"io"
)

// Capture file constants.
const (
	linkEthernet  = 1
	pcapMagicUsec = 0xa1b2c3d4
	pcapMagicNsec = 0xa1b23c4d
	pcapRecHdr    = 16
	ngEPBHdr      = 28 // block type, length, interface, ts high, ts low, caplen, origlen
	ngBlockSHB    = 0x0a0d0d0a
	ngBlockIDB    = 1
	ngBlockEPB    = 6
	ngByteOrder   = 0x1a2b3c4d
	ngOptTSResol  = 9

	// maxFrame bounds every frame the generator builds: Ethernet, IPv6,
	// a TCP header with 40 bytes of options, and a full-sized segment.
	maxFrame = 14 + 40 + 60 + 1500
)

var le = binary.LittleEndian

// writer writes capture records. Each frame is built in place after the
// record header in buf, so a record costs one copy into the bufio.Writer.
type writer struct {
	bw      *bufio.Writer
	format  Format
	nanos   bool
	snaplen int
	hdr     int    // record header length: where the frame starts in buf
	buf     []byte // record header, frame, pcapng padding and trailer
}

func newWriter(w io.Writer, c *Config) *writer {
	wr := &writer{
		bw:      bufio.NewWriterSize(w, 1<<20),
		format:  c.Format,
		nanos:   c.Nanoseconds,
		snaplen: c.Snaplen,
		hdr:     pcapRecHdr,
	}
	if c.Format == PCAPNG {
		wr.hdr = ngEPBHdr
	}
	wr.buf = make([]byte, wr.hdr+maxFrame+8)
	return wr
}

// frame returns the buffer a frame is built in: its bytes past the
// headers a builder writes must be cleared by the builder (see payload).
func (w *writer) frame() []byte { return w.buf[w.hdr : w.hdr+maxFrame] }

// fileHeader writes the pcap file header, or the pcapng section header and
// interface description blocks.
func (w *writer) fileHeader() error {
	var b []byte
	switch w.format {
	case PCAP:
		magic := uint32(pcapMagicUsec)
		if w.nanos {
			magic = pcapMagicNsec
		}
		b = le.AppendUint32(b, magic)
		b = le.AppendUint16(b, 2)
		b = le.AppendUint16(b, 4)
		b = le.AppendUint32(b, 0) // thiszone
		b = le.AppendUint32(b, 0) // sigfigs
		b = le.AppendUint32(b, uint32(w.snaplen))
		b = le.AppendUint32(b, linkEthernet)
	case PCAPNG:
		b = le.AppendUint32(b, ngBlockSHB)
		b = le.AppendUint32(b, 28)
		b = le.AppendUint32(b, ngByteOrder)
		b = le.AppendUint16(b, 1)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint64(b, ^uint64(0)) // section length unknown
		b = le.AppendUint32(b, 28)

		idbLen := uint32(20)
		if w.nanos {
			idbLen += 12 // if_tsresol (8 with padding) and opt_endofopt
		}
		b = le.AppendUint32(b, ngBlockIDB)
		b = le.AppendUint32(b, idbLen)
		b = le.AppendUint16(b, linkEthernet)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint32(b, uint32(w.snaplen))
		if w.nanos {
			b = le.AppendUint16(b, ngOptTSResol)
			b = le.AppendUint16(b, 1)
			b = append(b, 9, 0, 0, 0)
			b = le.AppendUint32(b, 0)
		}
		b = le.AppendUint32(b, idbLen)
	}
	_, err := w.bw.Write(b)
	return err
}

// record writes the frame of origLen bytes built in w.frame() at time t
// (ns since the Unix epoch), cut at the snap length.
func (w *writer) record(t int64, origLen int) error {
	capLen := min(origLen, w.snaplen)
	b := w.buf
	var n int
	switch w.format {
	case PCAP:
		sec, frac := t/1e9, t%1e9
		if !w.nanos {
			frac /= 1000
		}
		le.PutUint32(b[0:], uint32(sec))
		le.PutUint32(b[4:], uint32(frac))
		le.PutUint32(b[8:], uint32(capLen))
		le.PutUint32(b[12:], uint32(origLen))
		n = pcapRecHdr + capLen
	case PCAPNG:
		ts := uint64(t)
		if !w.nanos {
			ts /= 1000
		}
		padded := (capLen + 3) &^ 3
		n = ngEPBHdr + padded + 4
		le.PutUint32(b[0:], ngBlockEPB)
		le.PutUint32(b[4:], uint32(n))
		le.PutUint32(b[8:], 0)
		le.PutUint32(b[12:], uint32(ts>>32))
		le.PutUint32(b[16:], uint32(ts))
		le.PutUint32(b[20:], uint32(capLen))
		le.PutUint32(b[24:], uint32(origLen))
		clear(b[ngEPBHdr+capLen : ngEPBHdr+padded])
		le.PutUint32(b[ngEPBHdr+padded:], uint32(n))
	}
	_, err := w.bw.Write(b[:n])
	return err
}

// payload clears frame[hl:end], the zero payload bytes that will be
// written after headers of hl bytes, so no earlier frame shows through.
func (w *writer) payload(frame []byte, hl, origLen int) {
	end := min(origLen, w.snaplen)
	if end > hl {
		clear(frame[hl:end])
	}
}

func (w *writer) flush() error { return w.bw.Flush() }

// Header builders. Each writes at the start of b and returns the length
// written.

var (
	macServer  = [6]byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01} // the capture host's NIC
	macGateway = [6]byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe} // its next hop
)

const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	protoTCP  = 6
	protoUDP  = 17
)

var be = binary.BigEndian

// putEthernet writes an Ethernet header; toServer picks the direction.
func putEthernet(b []byte, toServer bool, v6 bool) int {
	if toServer {
		copy(b[0:6], macServer[:])
		copy(b[6:12], macGateway[:])
	} else {
		copy(b[0:6], macGateway[:])
		copy(b[6:12], macServer[:])
	}
	et := uint16(etherIPv4)
	if v6 {
		et = etherIPv6
	}
	be.PutUint16(b[12:], et)
	return 14
}

// putIPv4 writes an IPv4 header with DF set and its checksum, and returns
// the pseudo-header sum for the transport checksum.
func putIPv4(b []byte, src, dst *[16]byte, id uint16, ttl, proto uint8, l4Len int) (int, uint32) {
	b[0] = 0x45
	b[1] = 0
	be.PutUint16(b[2:], uint16(20+l4Len))
	be.PutUint16(b[4:], id)
	be.PutUint16(b[6:], 0x4000)
	b[8] = ttl
	b[9] = proto
	b[10], b[11] = 0, 0
	copy(b[12:16], src[:4])
	copy(b[16:20], dst[:4])
	be.PutUint16(b[10:], ^fold(sum16(b[:20], 0)))
	pseudo := sum16(b[12:20], uint32(proto)+uint32(l4Len))
	return 20, pseudo
}

// putIPv6 writes an IPv6 header and returns the pseudo-header sum.
func putIPv6(b []byte, src, dst *[16]byte, flow uint32, hop, proto uint8, l4Len int) (int, uint32) {
	be.PutUint32(b[0:], 6<<28|flow&0xfffff)
	be.PutUint16(b[4:], uint16(l4Len))
	b[6] = proto
	b[7] = hop
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
	pseudo := sum16(b[8:40], uint32(proto)+uint32(l4Len))
	return 40, pseudo
}

// sum16 adds b as big-endian 16-bit words to acc (len(b) even). It adds
// 32-bit words into a 64-bit sum, which folds to the same one's-complement
// sum.
func sum16(b []byte, acc uint32) uint32 {
	a := uint64(acc)
	for len(b) >= 4 {
		a += uint64(be.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		a += uint64(be.Uint16(b))
	}
	a = a&0xffffffff + a>>32
	a = a&0xffffffff + a>>32
	return uint32(a)
}

// fold folds a one's-complement sum to 16 bits.
func fold(acc uint32) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}
