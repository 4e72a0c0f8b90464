package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// pcapng block types.
const (
	blkSHB = ngSHB
	blkIDB = 1
	blkPB  = 2 // obsolete Packet Block
	blkSPB = 3
	blkNRB = 4
	blkISB = 5
	blkEPB = 6
)

// minBlock is the smallest valid total length of a block type.
func minBlock(typ uint32) uint32 {
	switch typ {
	case blkSHB:
		return 28
	case blkIDB:
		return 20
	case blkPB, blkEPB:
		return 32
	case blkSPB, blkNRB:
		return 16
	case blkISB:
		return 24
	}
	return 12
}

// knownBlock reports whether typ is one of the standard block types, the
// only ones resynchronisation accepts as a landing place.
func knownBlock(typ uint32) bool {
	return typ == blkSHB || typ >= blkIDB && typ <= blkEPB
}

// validBlock reports whether a block's total length is possible.
func validBlock(typ, n uint32) bool {
	return n >= minBlock(typ) && n%4 == 0 && n <= maxBlock
}

// iface is a pcapng interface: its link type and timestamp units.
type iface struct {
	link    link
	lt      uint32
	name    string
	snaplen uint32
	binary  bool   // units are 2^-exp seconds (else 10^-exp)
	exp     uint8  // binary exponent
	mul     int64  // decimal units coarser than 1 ns: nanoseconds per unit
	div     uint64 // decimal units finer than 1 ns: units per nanosecond
	offset  int64  // if_tsoffset, in nanoseconds
	warned  bool   // about its unsupported link type
	used    bool   // a packet was read on it
}

// setResolution applies an if_tsresol value.
func (i *iface) setResolution(v uint8) {
	if v&0x80 != 0 {
		if e := v & 0x7f; e < 64 {
			i.binary, i.exp = true, e
		}
		return
	}
	if v > 19 { // 10^20 units do not fit in 64 bits
		return
	}
	i.binary, i.mul, i.div = false, 1, 1
	p := int64(1)
	for range max(int(v), 9) - min(int(v), 9) {
		p *= 10
	}
	if v <= 9 {
		i.mul = p
	} else {
		i.div = uint64(p)
	}
}

// nanos converts a timestamp in the interface's units to Unix nanoseconds.
func (i *iface) nanos(t uint64) int64 {
	var ns int64
	switch {
	case i.binary:
		sec := t >> i.exp
		hi, lo := bits.Mul64(t&(1<<i.exp-1), 1e9)
		ns = int64(sec)*1e9 + int64(lo>>i.exp|hi<<(64-i.exp))
	case i.div > 1:
		ns = int64(t / i.div)
	default:
		ns = int64(t) * i.mul
	}
	return ns + i.offset
}

// setOrder sets the byte order from a section header's byte-order magic.
func (f *file) setOrder(bom []byte) bool {
	switch binary.LittleEndian.Uint32(bom) {
	case ngBOM:
		f.be = false
	case 0x4d3c2b1a:
		f.be = true
	default:
		return false
	}
	return true
}

// readSHBHeader reads the first section header block of a pcapng file.
func (f *file) readSHBHeader() error {
	f.ng = true
	h, err := f.peekHeader(28)
	if err != nil {
		return err
	}
	if !f.setOrder(h[8:12]) {
		return f.fatal(0, fmt.Errorf("%w (bad pcapng byte-order magic % x)", ErrNotCapture, h[8:12]))
	}
	n := f.u32(h[4:])
	if !validBlock(blkSHB, n) {
		return f.fatal(0, fmt.Errorf("%w (bad pcapng section header length %d)", ErrNotCapture, n))
	}
	if err := f.section(h); err != nil {
		return f.fatal(0, err)
	}
	if int(n) <= f.br.Size() {
		blk, err := f.peekHeader(int(n))
		if err != nil {
			return err
		}
		if f.u32(blk[n-4:]) != n {
			return f.fatal(0, fmt.Errorf("%w (bad pcapng section header length %d)", ErrNotCapture, n))
		}
	}
	if d, err := f.br.Discard(int(n)); d < int(n) {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return f.fatal(0, ErrTruncatedHeader)
		}
		return f.readErr(0, err)
	}
	return nil
}

// section starts a new section from the first 16 bytes of its header
// block (the byte order is already set).
func (f *file) section(h []byte) error {
	if major, minor := f.u16(h[12:]), f.u16(h[14:]); major != 1 {
		return fmt.Errorf("%w: pcapng %d.%d", ErrUnsupportedVersion, major, minor)
	}
	f.ifaces = f.ifaces[:0]
	return nil
}

// addIface reads an interface description block.
func (f *file) addIface(blk []byte) {
	lt := uint32(f.u16(blk[8:]))
	lk, name := linkFor(lt)
	ifc := iface{link: lk, lt: lt, name: name, snaplen: f.u32(blk[12:])}
	ifc.setResolution(6)
	for o := blk[16 : len(blk)-4]; len(o) >= 4; {
		code, n := f.u16(o), int(f.u16(o[2:]))
		padded := (n + 3) &^ 3
		if code == 0 || 4+padded > len(o) {
			break
		}
		switch v := o[4 : 4+n]; {
		case code == 9 && n == 1: // if_tsresol
			ifc.setResolution(v[0])
		case code == 14 && n == 8: // if_tsoffset, in seconds
			ifc.offset = int64(f.u64(v)) * 1e9
		}
		o = o[4+padded:]
	}
	f.ifaces = append(f.ifaces, ifc)
	if !f.gotPacket {
		if !f.sawIface {
			f.firstIfaceLT = lt
		}
		f.sawIface = true
		f.supported = f.supported || lk != linkUnsupported
	}
}

// stats reads an interface statistics block for isb_endtime, when the
// capture on that interface stopped (dumpcap writes one per interface as
// it finishes). The option is in the interface's time units, except that
// dumpcap writes microseconds whatever they are (Wireshark's
// writecap/pcapio.c): a time that falls before the file's last packet in
// the interface's units, but within a day after it in microseconds, is
// read as microseconds.
func (f *file) stats(blk []byte) {
	ifid := f.u32(blk[8:])
	if int(ifid) >= len(f.ifaces) {
		return
	}
	ifc := &f.ifaces[ifid]
	for o := blk[20 : len(blk)-4]; len(o) >= 4; {
		code, n := f.u16(o), int(f.u16(o[2:]))
		padded := (n + 3) &^ 3
		if code == 0 || 4+padded > len(o) {
			break
		}
		if v := o[4 : 4+n]; code == 3 && n == 8 { // isb_endtime
			ts := uint64(f.u32(v))<<32 | uint64(f.u32(v[4:]))
			t := ifc.nanos(ts)
			if us := int64(ts)*1e3 + ifc.offset; f.seen && t < f.prevTS && ts < 1<<53 && us >= f.prevTS && us-f.prevTS <= 86400e9 {
				t = us
			}
			f.stopped = max(f.stopped, t)
		}
		o = o[4+padded:]
	}
}

// nextNg reads blocks up to the next packet block and makes it f.head.
func (f *file) nextNg() error {
	for {
		h, err := f.br.Peek(12)
		if len(h) < 12 {
			if f.atEnd(len(h), err) {
				return nil
			}
			want := 12
			if len(h) >= 8 {
				want = int(f.u32(h[4:]))
			}
			return f.short("block", len(h), want, err)
		}
		typ := f.u32(h)
		if typ == blkSHB && !f.setOrder(h[8:12]) {
			if err := f.skipBad(typ, 0); err != nil || f.ended() {
				return err
			}
			continue
		}
		ln := f.u32(h[4:])
		if !validBlock(typ, ln) {
			if err := f.skipBad(typ, ln); err != nil || f.ended() {
				return err
			}
			continue
		}
		n := int(ln)
		if n > f.br.Size() {
			// Only a block to skip, or a packet to reject, is this long.
			if typ == blkEPB || typ == blkPB || typ == blkSPB {
				if err := f.largePacket(typ, n); err != nil || f.ended() || f.head.kind == headRejected {
					return err
				}
				continue
			}
			if d, err := f.br.Discard(n); d < n {
				return f.short("block", d, n, err)
			}
			continue
		}
		blk, err := f.br.Peek(n)
		if len(blk) < n {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				return f.readErr(f.r.info.Packets+1, err)
			}
			// Either the input was cut inside this block or its length is
			// damaged: a valid block after it tells the two apart.
			got, cutTS := len(blk), f.cutTime(typ, blk)
			skipped, found, rerr := f.resync()
			if rerr != nil {
				return rerr
			}
			if found {
				f.note("bad block (type %#x, length %d); skipped %d bytes to the next block", typ, ln, skipped)
				continue
			}
			if f.ended() {
				return nil
			}
			err := f.short("block", got, n, err)
			f.head.ts = cutTS // the cut record's place in a merge
			return err
		}
		if f.u32(blk[n-4:]) != ln {
			if err := f.skipBad(typ, ln); err != nil || f.ended() {
				return err
			}
			continue
		}
		switch typ {
		case blkSHB:
			if err := f.section(blk); err != nil {
				f.end(false, fmt.Sprintf("%v; stopped reading this file, everything before it was read", err))
				return nil
			}
		case blkIDB:
			f.addIface(blk)
		case blkISB:
			f.stats(blk)
		case blkEPB, blkPB, blkSPB:
			f.packet(typ, blk)
			f.pending = n
			return nil
		}
		_, _ = f.br.Discard(n)
	}
}

// skipBad resynchronises after a damaged block at the current position, or
// ends the file when nothing valid follows it.
func (f *file) skipBad(typ, ln uint32) error {
	skipped, found, err := f.resync()
	if err != nil {
		return err
	}
	if found {
		f.note("bad block (type %#x, length %d); skipped %d bytes to the next block", typ, ln, skipped)
		return nil
	}
	if f.ended() {
		return nil
	}
	f.end(false, fmt.Sprintf("bad block (type %#x, length %d) and no valid block after it; stopped reading this file, everything before it was read", typ, ln))
	return nil
}

// resync discards bytes up to the next plausible block after the current
// position: a standard block type with a valid length, whose trailing
// length copy matches. found reports whether there was one; if not,
// everything left was discarded.
func (f *file) resync() (skipped int, found bool, err error) {
	size := f.br.Size()
	start := 1 // skip the damaged block's first byte
	for {
		win, err := f.br.Peek(size)
		eof := false
		if len(win) < size {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				return skipped, false, f.readErr(f.r.info.Packets+1, err)
			}
			eof = true
		}
		i, more := start, false
		for ; i+12 <= len(win); i++ {
			var ok bool
			if ok, more = f.plausible(win[i:], eof); ok {
				_, _ = f.br.Discard(i)
				return skipped + i, true, nil
			}
			if more {
				break
			}
		}
		if eof && !more {
			_, _ = f.br.Discard(len(win))
			return skipped + len(win), false, nil
		}
		_, _ = f.br.Discard(i)
		skipped += i
		start = 0
	}
}

// plausible reports whether b starts with a valid block. more says that
// the block may be valid but extends past b, which is not the end of the
// input.
func (f *file) plausible(b []byte, eof bool) (ok, more bool) {
	order := binary.ByteOrder(binary.LittleEndian)
	if f.be {
		order = binary.BigEndian
	}
	typ := order.Uint32(b)
	if !knownBlock(typ) {
		return false, false
	}
	if typ == blkSHB {
		switch binary.LittleEndian.Uint32(b[8:]) {
		case ngBOM:
			order = binary.LittleEndian
		case 0x4d3c2b1a:
			order = binary.BigEndian
		default:
			return false, false
		}
	}
	ln := order.Uint32(b[4:])
	if !validBlock(typ, ln) {
		return false, false
	}
	if int(ln) > len(b) {
		return false, !eof && int(ln) <= f.br.Size()
	}
	if order.Uint32(b[ln-4:]) != ln {
		return false, false
	}
	if typ == blkEPB || typ == blkPB {
		if order.Uint32(b[20:]) > ln-32 {
			return false, false
		}
	}
	return true, false
}

// packet makes a packet block (EPB, SPB or the obsolete PB) f.head.
func (f *file) packet(typ uint32, blk []byte) {
	f.gotPacket = true
	var (
		ifid         uint32
		ts           uint64
		caplen, wire uint32
		data         []byte
		off          int
		room         = uint32(len(blk) - 32)
	)
	switch typ {
	case blkEPB:
		ifid = f.u32(blk[8:])
	case blkPB:
		ifid = uint32(f.u16(blk[8:]))
	case blkSPB:
		// No interface id, no timestamp: interface 0, and the time of the
		// record before it.
		room = uint32(len(blk) - 16)
		wire = f.u32(blk[8:])
		caplen = min(wire, room)
		data, off = blk[12:], 12
	}
	if typ != blkSPB {
		ts = uint64(f.u32(blk[12:]))<<32 | uint64(f.u32(blk[16:]))
		caplen, wire = f.u32(blk[20:]), f.u32(blk[24:])
		data, off = blk[28:], 28
	}
	if int(ifid) >= len(f.ifaces) {
		if !f.undeclared {
			f.undeclared = true
			f.note("packet on undeclared interface %d; such packets are counted as malformed", ifid)
		}
		f.head = head{kind: headRejected, ts: f.prevTS}
		return
	}
	ifc := &f.ifaces[ifid]
	if !ifc.used {
		ifc.used = true
		f.r.addLinkType(ifc.name)
	}
	t := f.prevTS
	if typ == blkSPB {
		if ifc.snaplen != 0 {
			caplen = min(caplen, ifc.snaplen)
		}
	} else {
		t = ifc.nanos(ts)
	}
	f.stamp(t)
	if caplen > room {
		f.note("record claims %d captured bytes in a block with room for %d; skipped", caplen, room)
		f.head = head{kind: headRejected, ts: t}
		return
	}
	if why := recordLimit(caplen, ifc.snaplen); why != "" {
		f.note("%s", why)
		f.head = head{kind: headRejected, ts: t}
		return
	}
	if ifc.link == linkUnsupported && !ifc.warned {
		ifc.warned = true
		f.note("interface %d has unsupported link type %s (%d); its packets are counted as non-TCP", ifid, ifc.name, ifc.lt)
	}
	f.head = head{kind: headPacket, ts: t, data: data[:caplen], off: off, wire: int(wire), link: ifc.link, lt: ifc.lt}
}

// cutTime returns the timestamp of a packet block of which only the first
// bytes are there, or the time of the record before it.
func (f *file) cutTime(typ uint32, b []byte) int64 {
	if typ != blkEPB && typ != blkPB || len(b) < 20 {
		return f.prevTS
	}
	ifid := f.u32(b[8:])
	if typ == blkPB {
		ifid = uint32(f.u16(b[8:]))
	}
	if int(ifid) >= len(f.ifaces) {
		return f.prevTS
	}
	return f.ifaces[ifid].nanos(uint64(f.u32(b[12:]))<<32 | uint64(f.u32(b[16:])))
}

// largePacket handles a packet block too long for the read buffer. If it
// claims a record larger than any we accept, it skips the block and makes
// the record a rejected head; if not, the block length is damaged, and it
// resynchronises.
func (f *file) largePacket(typ uint32, n int) error {
	hdr, err := f.br.Peek(28)
	if len(hdr) < 28 {
		return f.short("block", len(hdr), n, err)
	}
	claimed := f.u32(hdr[20:]) // EPB and PB: captured length
	if typ == blkSPB {
		claimed = f.u32(hdr[8:]) // original length
	}
	if claimed <= maxRecord {
		return f.skipBad(typ, uint32(n))
	}
	t := f.cutTime(typ, hdr)
	if d, err := f.br.Discard(n); d < n {
		return f.short("block", d, n, err)
	}
	f.gotPacket = true
	f.stamp(t)
	f.note("block of %d bytes holds a record larger than %d; skipped", n, maxRecord)
	f.head = head{kind: headRejected, ts: t}
	return nil
}
