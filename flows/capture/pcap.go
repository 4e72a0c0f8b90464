package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// readPcapHeader reads the 24-byte classic pcap file header.
func (f *file) readPcapHeader(be bool) error {
	f.be = be
	h, err := f.peekHeader(24)
	if err != nil {
		return err
	}
	f.recHdr = 16
	f.fracMul, f.fracMax = 1000, 1e6
	switch f.u32(h) {
	case pcapNano:
		f.fracMul, f.fracMax = 1, 1e9
	case pcapKuznetzov:
		f.recHdr = 24
	}
	if major, minor := f.u16(h[4:]), f.u16(h[6:]); major != 2 {
		return f.fatal(0, fmt.Errorf("%w: pcap %d.%d", ErrUnsupportedVersion, major, minor))
	}
	f.snaplen = f.u32(h[16:])
	// The upper bits of the link type field carry FCS information.
	lt := f.u32(h[20:]) & 0xffff
	lk, name := linkFor(lt)
	if lk == linkUnsupported {
		return f.fatal(0, unsupportedLink(lt, name))
	}
	f.link, f.lt = lk, lt
	f.r.addLinkType(name)
	_, _ = f.br.Discard(24)
	return nil
}

// unsupportedLink is the error for a link type this package cannot decode.
func unsupportedLink(lt uint32, name string) error {
	return fmt.Errorf("%w %s (%d)", ErrUnsupportedLinkType, name, lt)
}

// recordLimit returns why a record of caplen bytes is rejected, or "".
func recordLimit(caplen, snaplen uint32) string {
	switch {
	case caplen > maxRecord:
		return fmt.Sprintf("record of %d bytes is larger than %d; skipped", caplen, maxRecord)
	case snaplen != 0 && caplen > snaplen:
		return fmt.Sprintf("record of %d bytes exceeds the snapshot length %d; skipped", caplen, snaplen)
	}
	return ""
}

// pcapHeader reports whether b starts with a pcap 2.4 file header, and
// whether that header is big-endian. It runs on every record header, so
// it looks at the magic number first.
func pcapHeader(b []byte) (be, ok bool) {
	switch binary.LittleEndian.Uint32(b) {
	case pcapMicro, pcapNano, pcapKuznetzov:
		return false, binary.LittleEndian.Uint16(b[4:]) == 2 && binary.LittleEndian.Uint16(b[6:]) == 4
	case 0xd4c3b2a1, 0x4d3cb2a1, 0x34cdb2a1: // the same, big-endian
		return true, binary.BigEndian.Uint16(b[4:]) == 2 && binary.BigEndian.Uint16(b[6:]) == 4
	}
	return false, false
}

// nextPcap reads the next record of a classic pcap file into f.head.
func (f *file) nextPcap() error {
	hl := f.recHdr
	h, err := f.br.Peek(hl)
	for {
		if len(h) < hl {
			if f.atEnd(len(h), err) {
				return nil
			}
			return f.short("record header", len(h), hl, err)
		}
		be, ok := pcapHeader(h)
		if !ok {
			break
		}
		// A second file header: captures concatenated by hand (cat
		// a.pcap b.pcap). Read on in its byte order, resolution and
		// link type.
		if err := f.readPcapHeader(be); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Frame == 0 {
				err = e.Err
			}
			f.end(false, fmt.Sprintf("a second pcap file header (files concatenated?): %s; stopped reading this file, everything before it was read", strings.TrimPrefix(err.Error(), "capture: ")))
			return nil
		}
		f.note("a second pcap file header (files concatenated?); read on with its link type and resolution")
		hl = f.recHdr
		h, err = f.br.Peek(hl)
	}
	sec, frac := f.u32(h), f.u32(h[4:])
	caplen, wire := f.u32(h[8:]), f.u32(h[12:])
	if sec == 0 && frac == 0 && caplen == 0 && wire == 0 {
		// No packet is 0 bytes long: zeros where the file's end was
		// never written (a crash or a full disk).
		f.end(false, "zero bytes where a record should start (the rest of the file was never written); stopped reading this file, everything before it was read")
		return nil
	}
	if frac >= f.fracMax {
		// Not a record header: data that is not a record follows the
		// last good one (or the file is damaged here). There is no way
		// to find the next record reliably.
		f.end(false, fmt.Sprintf("not a record header (timestamp fraction %d out of range); stopped reading this file, everything before it was read", frac))
		return nil
	}
	ts := int64(sec)*1e9 + int64(frac)*f.fracMul
	if why := recordLimit(caplen, f.snaplen); why != "" {
		want := int64(hl) + int64(caplen)
		n, err := f.br.Discard(int(min(want, 1<<30)))
		if int64(n) < want {
			if err == nil {
				err = io.EOF
			}
			return f.short("record", n-hl, int(caplen), err)
		}
		f.stamp(ts)
		f.note("%s", why)
		f.head = head{kind: headRejected, ts: ts}
		return nil
	}
	n := hl + int(caplen)
	rec, err := f.br.Peek(n)
	if len(rec) < n {
		err := f.short("record", len(rec)-hl, int(caplen), err)
		f.head.ts = ts // the cut record's place in a merge
		return err
	}
	f.stamp(ts)
	f.pending = n
	f.head = head{kind: headPacket, ts: ts, data: rec[hl:], off: hl, wire: int(wire), link: f.link, lt: f.lt}
	return nil
}
