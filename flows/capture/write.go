package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Writer writes records, as [Reader.Record] returns them, into a new
// capture: a classic pcap with nanosecond timestamps, whose one link type
// is the first record's, or a pcapng with an interface for each link type
// (gopacket's writers take 8-bit link types, which LINKTYPE_LINUX_SLL2,
// 276, is not). Records keep their bytes, wire length and time. Call
// Flush at the end.
type Writer struct {
	w     *bufio.Writer
	ng    bool
	lt    uint32         // pcap: the file's link type, once its header is written
	ifc   map[uint32]int // pcapng: interface index by link type
	begun bool
	buf   [32]byte
}

// NewWriter returns a Writer into w; ng chooses pcapng.
func NewWriter(w io.Writer, ng bool) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 1<<16), ng: ng, ifc: map[uint32]int{}}
}

// writeSnaplen is the snapshot length the files written declare.
const writeSnaplen = 262144

// Write appends one record. A classic pcap takes one link type: a record
// of another is an error.
func (w *Writer) Write(linkType uint32, ts int64, data []byte, wire int) error {
	if w.ng {
		return w.writeNg(linkType, ts, data, wire)
	}
	le := binary.LittleEndian
	if !w.begun {
		b := w.buf[:24]
		le.PutUint32(b, 0xa1b23c4d) // nanosecond resolution
		le.PutUint16(b[4:], 2)
		le.PutUint16(b[6:], 4)
		le.PutUint64(b[8:], 0) // thiszone, sigfigs
		le.PutUint32(b[16:], writeSnaplen)
		le.PutUint32(b[20:], linkType)
		if _, err := w.w.Write(b); err != nil {
			return err
		}
		w.begun, w.lt = true, linkType
	}
	if linkType != w.lt {
		return fmt.Errorf("a pcap file has one link type; these records have %d and %d: write pcapng", w.lt, linkType)
	}
	b := w.buf[:16]
	le.PutUint32(b, uint32(ts/1e9))
	le.PutUint32(b[4:], uint32(ts%1e9))
	le.PutUint32(b[8:], uint32(len(data)))
	le.PutUint32(b[12:], uint32(max(wire, len(data))))
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}

// writeNg appends a record to a pcapng section, declaring its link
// type's interface first if it is new (with nanosecond timestamps).
func (w *Writer) writeNg(linkType uint32, ts int64, data []byte, wire int) error {
	le := binary.LittleEndian
	if !w.begun {
		// Section header block: byte-order magic, version 1.0, length
		// unknown (-1), no options.
		b := w.buf[:28]
		le.PutUint32(b, 0x0a0d0d0a)
		le.PutUint32(b[4:], 28)
		le.PutUint32(b[8:], 0x1a2b3c4d)
		le.PutUint16(b[12:], 1)
		le.PutUint16(b[14:], 0)
		le.PutUint64(b[16:], ^uint64(0))
		le.PutUint32(b[24:], 28)
		if _, err := w.w.Write(b); err != nil {
			return err
		}
		w.begun = true
	}
	id, ok := w.ifc[linkType]
	if !ok {
		// Interface description block with if_tsresol = 9 (ns).
		b := w.buf[:32]
		le.PutUint32(b, 1)
		le.PutUint32(b[4:], 32)
		le.PutUint16(b[8:], uint16(linkType))
		le.PutUint16(b[10:], 0)
		le.PutUint32(b[12:], writeSnaplen)
		le.PutUint16(b[16:], 9) // if_tsresol
		le.PutUint16(b[18:], 1)
		b[20], b[21], b[22], b[23] = 9, 0, 0, 0
		le.PutUint32(b[24:], 0) // opt_endofopt
		le.PutUint32(b[28:], 32)
		if _, err := w.w.Write(b); err != nil {
			return err
		}
		id = len(w.ifc)
		w.ifc[linkType] = id
	}
	pad := (4 - len(data)%4) % 4
	n := 32 + len(data) + pad
	b := w.buf[:28]
	le.PutUint32(b, 6) // enhanced packet block
	le.PutUint32(b[4:], uint32(n))
	le.PutUint32(b[8:], uint32(id))
	le.PutUint32(b[12:], uint32(uint64(ts)>>32))
	le.PutUint32(b[16:], uint32(ts))
	le.PutUint32(b[20:], uint32(len(data)))
	le.PutUint32(b[24:], uint32(max(wire, len(data))))
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	if _, err := w.w.Write(data); err != nil {
		return err
	}
	var tail [8]byte
	le.PutUint32(tail[pad:], uint32(n))
	_, err := w.w.Write(tail[:pad+4])
	return err
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }
