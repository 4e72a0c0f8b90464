package capture

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/teardown/teardown/flows"
)

const (
	// bufSize is the read buffer of each input. Records are read in place
	// from it, so it must hold the largest record we accept plus its
	// header (and, for pcapng, its options).
	bufSize = 512 << 10
	// maxRecord is the largest captured length accepted, libpcap's and
	// Wireshark's limit for ordinary link types.
	maxRecord = 256 << 10
	// maxBlock is the largest pcapng block taken at its word; a longer
	// length is corruption (libpcap's limit).
	maxBlock = 16 << 20
)

// headKind says what a file's head (its next item in time order) is.
type headKind uint8

const (
	headPacket   headKind = iota // a record to decode
	headRejected                 // a record read and thrown away (a malformed frame)
	headEnd                      // the file is finished
)

// head is the next item a file offers to the merge. data points into the
// file's read buffer and stays valid until the file is advanced.
type head struct {
	kind      headKind
	ts        int64
	data      []byte
	off       int // where data starts in its record (the file's pending bytes)
	wire      int
	link      link
	lt        uint32 // the LINKTYPE_ value link decodes
	truncated bool   // headEnd: the input ended inside a record
}

// file is one input: a pcap or pcapng stream, read in place from a large
// buffer.
type file struct {
	r      *Reader
	name   string // as shown in messages
	index  int
	closer io.Closer // nil for standard input
	br     *bufio.Reader
	// src is what br reads from (the decompressed stream, for a
	// compressed input), counting its bytes; in counts the bytes read
	// from the input itself, and is src unless it is compressed; outer is
	// the buffer the decompressor reads from, comp the compression and
	// release what frees its decompressor.
	src, in *countingReader
	outer   *bufio.Reader
	comp    *codec
	release func()
	path    string // the name to open again, when parked; "" if it is no regular file
	ng      bool
	be      bool // big-endian fields

	// classic pcap
	recHdr  int    // record header size: 16, or 24 for the Kuznetzov variant
	fracMul int64  // nanoseconds per unit of the timestamp fraction
	fracMax uint32 // units in a second
	snaplen uint32
	link    link
	lt      uint32 // the LINKTYPE_ value of link

	// pcapng
	ifaces       []iface
	sawIface     bool // an interface was declared before the first packet
	supported    bool // one of those had a link type we decode
	firstIfaceLT uint32
	gotPacket    bool // a packet block was read
	undeclared   bool // warned about a packet on an undeclared interface

	pending int // bytes of the current record to discard before reading on
	head    head
	// A parked file is closed until the merge reaches its head: pos is
	// where its head's record starts in src, dataLen the length of the
	// head's data (see park).
	parked  bool
	pos     int64
	dataLen int
	prevTS  int64
	seen    bool     // prevTS is set
	notes   []string // warnings waiting for the frame number of the next head

	warnings, hidden int // warnings shown, and not shown (over maxWarnings)

	// Damage summed up in one warning when the file ends (see summary).
	backs    uint64 // records whose timestamp steps back by more than maxStepBack
	backBy   uint64 // how far the first of them steps back, in nanoseconds
	backPrev uint64 // the frame of the record before it (it is the next frame)
	cuts     uint64 // records cut by snaplen inside their TCP header
	cutFrame uint64 // the first of them
	cutHave  int    // its captured bytes
	cutNeed  int    // the bytes that hold its TCP header
	cutExact bool   // cutNeed is exact, not a lower bound
	// UDP datagrams on Linux's VXLAN port that look like VXLAN, not
	// decoded (the port was not named), and the first of them.
	vxlans, vxlanFrame uint64
	// frags reassembles the input's IP fragments.
	frags fragTable
	// TCP segments, those with none of SYN, FIN and RST, and whether a
	// SYN-ACK and a FIN were among them: a capture of connections that
	// were set up and closed with no plain segment at all was filtered
	// on TCP flags (see summary).
	tcp, plain     uint64
	synAck, anyFIN bool
	done           bool // the file has ended and its summary is in Info.Warnings
	// stopped is when the capture stopped, as the file's interface
	// statistics record it (the latest isb_endtime), 0 if they do not.
	stopped int64
}

// minFiltered is the fewest TCP segments in which no plain one (no SYN,
// FIN or RST) means the capture was filtered on TCP flags.
const minFiltered = 4

// segmentFlags counts a TCP segment with flags fl for the filter check.
func (f *file) segmentFlags(fl flows.Flags) {
	f.tcp++
	switch {
	case fl&(flows.SYN|flows.FIN|flows.RST) == 0:
		f.plain++
	case fl&(flows.SYN|flows.ACK) == flows.SYN|flows.ACK:
		f.synAck = true
	case fl&flows.FIN != 0:
		f.anyFIN = true
	}
}

// maxStepBack is how far, in nanoseconds, a record's timestamp may step
// back from the one before it in the same file before a warning says so.
// tcpdump -i any routinely writes records a few microseconds out of order
// (packets stamped on different CPUs or interfaces reach the capture in
// another order; the lab's tw-rst-ignored-rfc1337.pcap steps back 9 µs):
// that is harmless and must not warn. A clock stepped back, or pcapng
// interfaces whose clocks differ, step back by far more than this.
const maxStepBack = uint64(time.Millisecond)

func (f *file) u16(b []byte) uint16 {
	if f.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (f *file) u32(b []byte) uint32 {
	if f.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (f *file) u64(b []byte) uint64 {
	if f.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// codec is a compression an input may come in: its name for messages,
// its magic number, and how to start a decompressor over r (release, if
// not nil, frees it).
type codec struct {
	name  string
	magic []byte
	open  func(r io.Reader) (dec io.Reader, release func(), err error)
}

var codecs = []codec{
	{"gzip", []byte{0x1f, 0x8b}, func(r io.Reader) (io.Reader, func(), error) {
		z, err := gzip.NewReader(r)
		return z, nil, err
	}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, func(r io.Reader) (io.Reader, func(), error) {
		// One block at a time, on the reading goroutine: the others have
		// the analysis to do. Windows up to 128 MB (zstd --ultra -22,
		// --long=27); a larger one is refused, not allocated.
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}, func(r io.Reader) (io.Reader, func(), error) {
		z, err := xz.NewReader(r)
		return z, nil, err
	}},
	{"bzip2", []byte{'B', 'Z', 'h'}, func(r io.Reader) (io.Reader, func(), error) {
		return bzip2.NewReader(r), nil, nil
	}},
}

const (
	pcapMicro     = 0xa1b2c3d4
	pcapNano      = 0xa1b23c4d
	pcapKuznetzov = 0xa1b2cd34 // Alexey Kuznetzov's patched libpcap: 24-byte record headers
	ngSHB         = 0x0a0d0d0a
	ngBOM         = 0x1a2b3c4d
)

// closedReader is what a closed file reads: nothing, from a small buffer
// instead of its own.
var closedReader = bufio.NewReaderSize(bytes.NewReader(nil), 16)

// countingReader counts the bytes read through it, and adds them to a
// shared counter, if any, for progress reports: once per buffer refill,
// never per packet.
type countingReader struct {
	r    io.Reader
	n    *atomic.Int64
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}

// buffer returns a read buffer over src, one a closed file left if
// there is one.
func (r *Reader) buffer(src io.Reader) *bufio.Reader {
	if n := len(r.spare); n > 0 {
		b := r.spare[n-1]
		r.spare = r.spare[:n-1]
		b.Reset(src)
		return b
	}
	return bufio.NewReaderSize(src, bufSize)
}

// keepBuffers keeps f's read buffers for the next file to open.
func (r *Reader) keepBuffers(f *file) {
	for _, b := range []*bufio.Reader{f.br, f.outer} {
		if b != nil && b != closedReader && b.Size() == bufSize {
			b.Reset(nil)
			r.spare = append(r.spare, b)
		}
	}
	f.br, f.outer = closedReader, nil
}

// openFile opens one input and reads its file header.
func (r *Reader) openFile(index int, name string, opts Options) (*file, error) {
	f := &file{r: r, name: name, index: index}
	f.frags.vxlan, f.frags.left = r.vxlan, &r.fragsLeft
	if r.keepFrags {
		f.frags.rec = &f.head
	}
	var src io.Reader
	if name == "-" {
		f.name = "stdin"
		src = opts.Stdin
		if src == nil {
			src = os.Stdin
		}
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return nil, f.fatal(0, err)
		}
		f.closer = fh
		src = fh
		// Only a regular file can be opened again where it was left (a
		// pipe, a FIFO or /dev/fd/N of a process substitution cannot).
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			f.path = name
		}
	}
	f.in = &countingReader{r: src, n: &r.read}
	f.src = f.in
	f.br = r.buffer(f.src)
	if err := f.sniff(); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// codecFor returns the compression a file starting with magic (its first
// six bytes, or all if fewer) is in, or nil.
func codecFor(magic []byte) *codec {
	if i := slices.IndexFunc(codecs, func(c codec) bool { return bytes.HasPrefix(magic, c.magic) }); i >= 0 {
		return &codecs[i]
	}
	return nil
}

// sniff identifies the format by its magic number, decompressing the
// input first if it is compressed, and reads the file header.
func (f *file) sniff() error {
	magic, err := f.br.Peek(6)
	if len(magic) == 0 {
		if err == io.EOF {
			return f.fatal(0, ErrEmpty)
		}
		return f.fatal(0, err)
	}
	if f.comp = codecFor(magic); f.comp != nil {
		dec, release, err := f.comp.open(f.br)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return f.fatal(0, fmt.Errorf("%w (%s header cut short)", ErrTruncatedHeader, f.comp.name))
		}
		if err != nil {
			return f.fatal(0, fmt.Errorf("bad %s stream: %w", f.comp.name, err))
		}
		f.release = release
		f.outer, f.src = f.br, &countingReader{r: dec}
		f.br = f.r.buffer(f.src)
		magic, err = f.br.Peek(4)
		if len(magic) == 0 {
			switch err {
			case io.EOF:
				return f.fatal(0, fmt.Errorf("%w (after decompression)", ErrEmpty))
			case io.ErrUnexpectedEOF:
				return f.fatal(0, fmt.Errorf("%w (%s stream cut short)", ErrTruncatedHeader, f.comp.name))
			}
			return f.readErr(0, err)
		}
	}
	magic = magic[:min(len(magic), 4)]
	if len(magic) < 4 {
		return f.fatal(0, notCapture(magic, true))
	}
	switch le := binary.LittleEndian.Uint32(magic); {
	case le == ngSHB:
		return f.readSHBHeader()
	case le == pcapMicro || le == pcapNano || le == pcapKuznetzov:
		return f.readPcapHeader(false)
	case binary.BigEndian.Uint32(magic) == pcapMicro,
		binary.BigEndian.Uint32(magic) == pcapNano,
		binary.BigEndian.Uint32(magic) == pcapKuznetzov:
		return f.readPcapHeader(true)
	}
	return f.fatal(0, notCapture(magic, false))
}

// notCapture explains what a file that is not a capture looks like.
// short says the input ended within its first four bytes.
func notCapture(magic []byte, short bool) error {
	if short {
		for _, m := range [][]byte{
			{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4},
			{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d},
			{0x0a, 0x0d, 0x0d, 0x0a},
		} {
			if bytes.HasPrefix(m, magic) {
				return ErrTruncatedHeader
			}
		}
	}
	for _, c := range []struct {
		magic []byte
		what  string
	}{{[]byte{0x04, 0x22, 0x4d, 0x18}, "it is lz4-compressed: decompress it first"}, {[]byte{'P', 'K', 3, 4}, "it is a zip archive: extract the capture first"}} {
		if bytes.HasPrefix(magic, c.magic) || bytes.HasPrefix(c.magic, magic) && len(magic) >= 3 {
			return fmt.Errorf("%w (%s)", ErrNotCapture, c.what)
		}
	}
	return fmt.Errorf("%w (it starts with % x)", ErrNotCapture, magic)
}

// peekHeader returns the first n bytes of a file header, or the error
// that stopped them.
func (f *file) peekHeader(n int) ([]byte, error) {
	h, err := f.br.Peek(n)
	if len(h) < n {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, f.fatal(0, ErrTruncatedHeader)
		}
		return nil, f.readErr(0, err)
	}
	return h, nil
}

// fatal wraps err as an *Error of this file.
func (f *file) fatal(frame uint64, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the file name is already in the message
	}
	return &Error{File: f.name, Frame: frame, Err: err}
}

// readErr classifies a read error that is not a plain end of input: past
// the file header, a damaged gzip stream is bad input, which ends the file
// with a warning (and returns nil); anything else (the operating system
// failed to read) is fatal.
func (f *file) readErr(frame uint64, err error) error {
	var pe *fs.PathError
	if f.comp != nil && !errors.As(err, &pe) {
		if frame == 0 {
			return f.fatal(0, fmt.Errorf("corrupt %s stream: %w", f.comp.name, err))
		}
		f.end(false, fmt.Sprintf("corrupt %s stream (%v); everything before it was read", f.comp.name, err))
		return nil
	}
	return f.fatal(frame, err)
}

// atEnd handles the read of a record's first bytes: n bytes were there,
// err says why not more. It reports whether the input ended cleanly, at a
// record boundary, and if so ends the file.
func (f *file) atEnd(n int, err error) bool {
	if n == 0 && err == io.EOF {
		f.end(false, "")
		return true
	}
	return false
}

// short handles a read that stopped before want bytes of a record (or
// block) were available: got bytes were there, err says why. It ends the
// file with a warning or returns a fatal error.
func (f *file) short(what string, got, want int, err error) error {
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if got == 0 && f.comp != nil {
			// the compressed stream ended early, at a record boundary
			f.end(true, "truncated "+f.comp.name+" stream; everything before it was read")
		} else {
			f.end(true, fmt.Sprintf("truncated %s (%d bytes of %d); everything before it was read", what, got, want))
		}
	default:
		return f.readErr(f.r.info.Packets+1, err)
	}
	return nil
}

// end makes the file's head its end, with an optional warning.
func (f *file) end(truncated bool, note string) {
	if note != "" {
		f.notes = append(f.notes, note)
	}
	f.pending = 0
	f.head = head{kind: headEnd, ts: f.prevTS, truncated: truncated}
}

// ended reports whether the file's head is its end.
func (f *file) ended() bool { return f.head.kind == headEnd }

// note records a warning to be shown with the frame of the next head.
// Past maxWarnings it only counts it.
func (f *file) note(format string, args ...any) {
	if f.warnings+len(f.notes) >= maxWarnings {
		f.hidden++
		return
	}
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

// stamp records a record's timestamp: it counts timestamps that go
// backwards within the file, and notes those that go back by more than
// maxStepBack.
func (f *file) stamp(ts int64) {
	if f.seen && ts < f.prevTS {
		f.r.info.OutOfOrder++
		// The difference is positive; as a uint64 it cannot overflow.
		if d := uint64(f.prevTS - ts); d > maxStepBack {
			f.stepBack(d)
		}
	}
	f.prevTS, f.seen = ts, true
}

// stepBack counts a record whose timestamp is d nanoseconds earlier than
// the one before it, and remembers the first. It is called while the
// record is read, before it has a frame number, right after the record
// before it in this file was delivered (or rejected) as the last frame so
// far. Being earlier than that record, which was the earliest head of the
// merge, it is earlier than every other input's head too: it is the next
// frame, delivered in the same call of Next that reads it.
func (f *file) stepBack(d uint64) {
	f.backs++
	if f.backs == 1 {
		f.backBy, f.backPrev = d, f.r.info.Packets
	}
}

// snapCut counts a record cut by snaplen inside its TCP header, and
// remembers the first.
func (f *file) snapCut(frame uint64, h *head) {
	f.cuts++
	if f.cuts == 1 {
		f.cutFrame, f.cutHave = frame, len(h.data)
		f.cutNeed, f.cutExact = cutLength(h.link, h.data, h.wire, f.r.vxlan)
	}
}

// vxlanLike counts a UDP datagram on Linux's VXLAN port that looks like
// VXLAN, and remembers the first.
func (f *file) vxlanLike(frame uint64) {
	f.vxlans++
	if f.vxlans == 1 {
		f.vxlanFrame = frame
	}
}

// summary returns the warnings that sum up the file's damage so far, each
// naming the first frame concerned; they are not limited by maxWarnings.
func (f *file) summary() []string {
	var w []string
	if f.backs > 0 {
		w = append(w, fmt.Sprintf("%s: frame %d: timestamp %.6f s earlier than frame %d's; %s by more than %g ms (clock stepped back, or interfaces with different clocks): durations across them are unreliable",
			f.name, f.backPrev+1, float64(f.backBy)/1e9, f.backPrev, plural(f.backs, "record steps back", "records step back"), float64(maxStepBack)/1e6))
	}
	if f.cuts > 0 {
		of := ""
		if !f.cutExact {
			of = "at least "
		}
		w = append(w, fmt.Sprintf("%s: frame %d: TCP header cut by snaplen (%d of %s%d bytes captured); %s skipped (capture with a larger -s)",
			f.name, f.cutFrame, f.cutHave, of, f.cutNeed, plural(f.cuts, "such record", "such records")))
	}
	if f.vxlans > 0 {
		looks := "look"
		if f.vxlans == 1 {
			looks = "looks"
		}
		w = append(w, fmt.Sprintf("%s: frame %d: %s to or from UDP port %d (Linux's VXLAN port) %s like VXLAN, not decoded unless that port is named (teardown --vxlan-port %d)",
			f.name, f.vxlanFrame, plural(f.vxlans, "datagram", "datagrams"), portLinuxVXLAN, looks, portLinuxVXLAN))
	}
	if f.tcp > 0 && (f.link == linkNFLOG || slices.ContainsFunc(f.ifaces, func(i iface) bool { return i.link == linkNFLOG })) {
		w = append(w, fmt.Sprintf("%s: an NFLOG capture (tcpdump -i nflog): the kernel hands its log messages to tcpdump in batches (up to 100 of them, or a second's), and tcpdump stamps each as the batch arrives: the records' times are bunched and late, and durations measured from them are unreliable", f.name))
	}
	if f.plain == 0 && f.tcp >= minFiltered && f.synAck && f.anyFIN {
		w = append(w, fmt.Sprintf("%s: every one of its %d TCP segments carries SYN, FIN or RST: it was captured with a filter on TCP flags (such as 'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0'), so pure ACKs and data are missing: the ACK of a FIN, TIME_WAIT and half-closes do not show, closes read as three-way and states stop short",
			f.name, f.tcp))
	}
	return w
}

// plural renders a count and the singular or plural form of what it counts.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// advance discards the current record and reads the next head. It returns
// only fatal errors.
func (f *file) advance() error {
	if f.pending > 0 {
		// The bytes were peeked, so they are buffered and discarding them
		// cannot fail.
		_, _ = f.br.Discard(f.pending)
		f.pending = 0
	}
	f.head = head{}
	if f.ng {
		return f.nextNg()
	}
	return f.nextPcap()
}

// close releases the file and its buffers.
func (f *file) close() error {
	if f.release != nil {
		f.release()
		f.release = nil
	}
	f.r.keepBuffers(f)
	f.head.data = nil
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	if err != nil {
		return f.fatal(0, err)
	}
	return nil
}

// A rotated capture (tcpdump -C or -G) is hundreds or thousands of
// files, which the merge reads one after another. An open input holds a
// file descriptor and a 512 KB read buffer, so Open parks each named
// input once it has read its first record: closed, its head's time kept
// for the merge, and opened again, at that record, when the merge
// reaches it. Inputs whose times overlap stay open once reached.

// park closes f until the merge reaches its head (see unpark), if f is a
// regular file whose head is a record held in its read buffer; otherwise
// f stays open.
func (f *file) park() error {
	if f.path == "" || f.closer == nil || f.head.kind == headEnd || f.pending <= 0 || f.pending > f.br.Buffered() {
		return nil
	}
	f.pos = f.src.read - int64(f.br.Buffered())
	// What was read past the head is read again: for a compressed input,
	// the whole input up to it.
	if f.comp != nil {
		f.r.read.Add(-f.in.read)
	} else {
		f.r.read.Add(-int64(f.br.Buffered()))
	}
	f.dataLen = len(f.head.data)
	f.head.data = nil
	f.parked = true
	return f.close()
}

// unpark opens a parked file again and reads its head's record again.
func (f *file) unpark() error {
	fail := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the file name is already in the message
		}
		return &Error{File: f.name, Frame: f.r.info.Packets + 1, Err: fmt.Errorf("opening it again at byte %d: %w", f.pos, err)}
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return fail(err)
	}
	f.closer, f.parked = fh, false
	f.in = &countingReader{r: fh, n: &f.r.read}
	f.src = f.in
	if f.comp != nil {
		f.outer = f.r.buffer(f.in)
		dec, release, err := f.comp.open(f.outer)
		if err != nil {
			return fail(err)
		}
		f.release = release
		f.src = &countingReader{r: dec}
		if _, err := io.CopyN(io.Discard, f.src, f.pos); err != nil {
			return fail(err)
		}
	} else {
		if _, err := fh.Seek(f.pos, io.SeekStart); err != nil {
			return fail(err)
		}
		f.in.read = f.pos
	}
	f.br = f.r.buffer(f.src)
	rec, err := f.br.Peek(f.pending)
	if len(rec) < f.pending {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fail(fmt.Errorf("the file changed: %w", err))
	}
	if f.dataLen > 0 {
		f.head.data = rec[f.head.off : f.head.off+f.dataLen]
	}
	return nil
}

// Decompress reads r through the decompressor of the compression it
// starts with (gzip, zstd, xz, bzip2; name says which), or as it is (name
// ""), for other files than captures that may come compressed too, such
// as a saved report. done frees the decompressor.
func Decompress(r io.Reader) (out io.Reader, name string, done func(), err error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	c := codecFor(magic)
	if c == nil {
		return br, "", func() {}, nil
	}
	dec, release, err := c.open(br)
	if err != nil {
		return nil, c.name, func() {}, fmt.Errorf("bad %s stream: %w", c.name, err)
	}
	if release == nil {
		release = func() {}
	}
	return dec, c.name, release, nil
}
