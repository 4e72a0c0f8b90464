package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/teardown/teardown/flows"
)

// Options configures [Open].
type Options struct {
	// Stdin is read for the name "-"; nil means os.Stdin.
	Stdin io.Reader
	// VXLANPorts are UDP ports that carry VXLAN besides 4789, which
	// always does (Linux's own default is 8472, which flannel and Cilium
	// use).
	VXLANPorts []uint16
	// StopAfter, when not nil, lets a time window end the reading early.
	// It is called once, with the time of the first TCP segment, and
	// returns a time (Unix ns; 0: none): at the first record stamped
	// later than that, Next returns io.EOF, and neither that record nor
	// anything after it in the inputs is read ([Info.Unread]).
	StopAfter func(first int64) int64
	// KeepFragments keeps the records of the IP fragments a segment is
	// reassembled from, for [Reader.Fragments] (a copy of each, until the
	// segment is whole: up to 64 KiB for each datagram being reassembled).
	KeepFragments bool
}

// Fragment is a record that held an IP fragment.
type Fragment struct {
	LinkType uint32 // a LINKTYPE_ value
	Time     int64  // Unix ns
	Data     []byte // the bytes captured
	Wire     int    // its length on the wire
}

// Info describes what a [Reader] has read so far. It is complete once
// Next has returned io.EOF.
type Info struct {
	// Files are the names given to Open, in order.
	Files []string
	// Format is "pcap", "pcapng", or "pcap+pcapng" when the inputs mix
	// them; compression does not change it.
	Format string
	// LinkTypes are the distinct link types of the inputs, in order of
	// first appearance, as upper-case names: "ETHERNET", "LINUX_SLL",
	// "LINUX_SLL2", "NULL", "LOOP", "RAW", "IPV4", "IPV6", "C_HDLC",
	// "PPP"; others are named after their LINKTYPE_ constant. A pcap
	// file's link type counts from its header; a pcapng interface's from
	// the first packet read on it (interfaces without packets do not
	// count).
	LinkTypes []string
	// Tunnels are the kinds of tunnel TCP segments were decoded from, in
	// order of first appearance: "IP-in-IP", "GRE", "ERSPAN", "PPTP",
	// "VXLAN", "Geneve"; Tunnelled counts those segments (a segment in
	// nested tunnels counts once, under each kind).
	Tunnels   []string
	Tunnelled uint64

	// Packets counts every record read; it is the last frame number.
	// Packets = TCPPackets + ICMPErrors + NonTCP + Malformed + Fragments.
	Packets uint64
	// TCPPackets counts the TCP segments Next delivered.
	TCPPackets uint64
	// ICMPErrors counts the ICMP errors quoting a TCP segment that Next
	// delivered (Segment.ICMP set).
	ICMPErrors uint64
	// NonTCP counts records that are not TCP (ARP, UDP, other ICMP, and
	// ICMP errors that quote too little of a TCP header among them).
	NonTCP uint64
	// Malformed counts records whose headers claim more bytes than the
	// packet has, that snaplen cut before the end of the TCP header (one
	// warning per input counts those), or that were rejected whole (see
	// Warnings).
	Malformed uint64
	// Fragments counts IP fragments of TCP, and of the tunnels that may
	// carry it (UDP, GRE), that delivered nothing themselves: the
	// fragment that completes a datagram delivers its segment, and is
	// counted as it; the others, copies, and the fragments of datagrams
	// that never completed are counted here (and, when the datagram
	// turns out to carry no TCP, moved to NonTCP).
	Fragments uint64
	// Reassembled counts the TCP segments (among TCPPackets) that came
	// in IP fragments, or in a tunnel's datagram that did.
	Reassembled uint64
	// OutOfOrder counts records whose timestamp is earlier than the one
	// before it in the same file, by however little. Those earlier by
	// more than 1 ms are also counted in one warning per input.
	OutOfOrder uint64
	// Truncated is set when an input ended inside a record.
	Truncated bool
	// First and Last are the timestamps, in Unix nanoseconds, of the first
	// and the last record delivered (0 when there were none).
	First, Last int64
	// Stopped is when the capture stopped, where a pcapng file records
	// it (the latest isb_endtime of its interface statistics, as dumpcap
	// writes them) and that is after Last; 0 otherwise. Whatever state a
	// connection was in at Last it was still in then.
	Stopped int64
	// Unread is the timestamp of the record at which Options.StopAfter
	// ended the reading: it and the rest of the inputs were not read,
	// and the counts above leave them out. 0 when the inputs were read
	// to their end.
	Unread int64
	// Warnings describe damaged input that was skipped, one line each,
	// naming the file and the frame: "x.pcap: frame 1201: truncated record
	// (37 bytes of 74); everything before it was read". Damage spread
	// over an input (timestamps that step back, TCP headers cut by
	// snaplen) is one line per input that names the first frame and
	// counts the records; before the end it counts those read so far.
	// One more line per input counts UDP datagrams on Linux's VXLAN port
	// (8472) that look like VXLAN but were not decoded, that port not
	// being among Options.VXLANPorts.
	Warnings []string
}

// End is the last time the inputs show the capture was still running:
// their last record of any kind read, or, later, when they record it
// stopped, or the record the reading stopped at (Unread).
func (i Info) End() int64 { return max(i.Last, i.Stopped, i.Unread) }

// Reader yields the TCP segments of one or more captures in time order.
// It implements [flows.Source]. A Reader is not safe for concurrent use.
type Reader struct {
	files []*file
	heap  []*file // files with a head, ordered by (head time, file index)
	cur   *file   // the file whose head Next delivered last
	info  Info
	// tunSeen holds the tunnel kinds named in info.Tunnels.
	tunSeen uint8
	// vxlan holds Options.VXLANPorts.
	vxlan []uint16
	// fragsLeft holds the IP datagrams inputs that ended left unfinished.
	fragsLeft fragLeft
	// keepFrags is Options.KeepFragments.
	keepFrags bool
	// spare holds the read buffers of inputs closed, for the next to open.
	spare []*bufio.Reader
	// stopAfter is Options.StopAfter until the first TCP segment, and
	// stopAt what it returned then.
	stopAfter func(first int64) int64
	stopAt    int64
	err       error
	// read counts the bytes read from the inputs (compressed bytes for
	// a compressed input); it is the only field safe to read concurrently.
	read atomic.Int64
}

// BytesRead returns how many bytes have been read from the inputs so far
// (before decompression), for progress reports. Unlike every other method
// it is safe to call from another goroutine while Next runs.
func (r *Reader) BytesRead() int64 { return r.read.Load() }

var _ flows.Source = (*Reader)(nil)

// Open opens the named captures ("-" means opts.Stdin) and returns a Reader
// that yields their TCP segments; several files are merged into one
// time-ordered stream (k-way merge by timestamp, ties by file order).
//
// Each input may be pcap (either byte order, microsecond or nanosecond
// timestamps) or pcapng, plain or compressed with gzip, zstd, xz or
// bzip2; the format is sniffed from the content, never from the name.
// Open reads each file header and the first record of each input; when
// there are several, it then closes each regular file until the merge
// reaches it, so that a rotation of thousands of files holds one open at
// a time (an input removed or cut short in between is an error when it
// is reached). An input that cannot be opened, is not a capture, or has
// an unsupported link type is an [*Error] naming it; Open then closes
// what it opened.
func Open(names []string, opts Options) (*Reader, error) {
	if len(names) == 0 {
		return nil, ErrNoInput
	}
	r := &Reader{info: Info{Files: slices.Clone(names)}, vxlan: slices.Clone(opts.VXLANPorts), stopAfter: opts.StopAfter,
		keepFrags: opts.KeepFragments}
	if countStdin(names) > 1 {
		return nil, &Error{File: "stdin", Err: ErrStdinTwice}
	}
	var pcap, ng bool
	for i, name := range names {
		f, err := r.openFile(i, name, opts)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.files = append(r.files, f)
		if err := f.advance(); err != nil {
			r.Close()
			return nil, err
		}
		if f.ng && f.sawIface && !f.supported {
			r.Close()
			_, name := linkFor(f.firstIfaceLT)
			return nil, f.fatal(0, unsupportedLink(f.firstIfaceLT, name))
		}
		if len(names) > 1 && parkInputs {
			if err := f.park(); err != nil {
				r.Close()
				return nil, err
			}
		}
		pcap, ng = pcap || !f.ng, ng || f.ng
		r.push(f)
	}
	switch {
	case pcap && ng:
		r.info.Format = "pcap+pcapng"
	case ng:
		r.info.Format = "pcapng"
	default:
		r.info.Format = "pcap"
	}
	return r, nil
}

// parkInputs says whether Open parks its named inputs when there are
// several (see file.park); tests compare reading them either way.
var parkInputs = true

func countStdin(names []string) int {
	n := 0
	for _, name := range names {
		if name == "-" {
			n++
		}
	}
	return n
}

// Next returns the next TCP segment in time order. It returns io.EOF at the
// end of the input; any other error is an [*Error] and is returned again by
// every later call. Records that are not TCP, or are damaged, are counted
// in [Info] and skipped.
func (r *Reader) Next() (flows.Segment, error) {
	var one [1]flows.Segment
	_, err := r.ReadSegments(one[:])
	return one[0], err
}

// ReadSegments fills dst from its start with the next TCP segments, as
// many calls of Next would, and returns how many it filled. When it fills
// fewer than len(dst) it also returns why: io.EOF at the end of the
// input, or the error Next would return. It is the batch form of Next for
// [flows.Prefetch], which saves a call and a copy of each segment.
func (r *Reader) ReadSegments(dst []flows.Segment) (int, error) {
	for n := range dst {
		if err := r.next(&dst[n]); err != nil {
			return n, err
		}
	}
	return len(dst), nil
}

// next decodes the next TCP segment into *seg, which it overwrites
// whatever the outcome.
func (r *Reader) next(seg *flows.Segment) (err error) {
	for r.err == nil {
		if f := r.cur; f != nil {
			r.cur = nil
			if err = f.advance(); err != nil {
				r.err = err
				break
			}
			r.down(0)
		}
		if len(r.heap) == 0 {
			r.info.Warnings = append(r.info.Warnings, r.fragsLeft.warnings()...)
			r.err = io.EOF
			break
		}
		f := r.heap[0]
		if f.parked {
			if err = f.unpark(); err != nil {
				r.err = err
				break
			}
		}
		h := &f.head
		if h.kind == headEnd {
			f.frags.end(f.name)
			r.info.Warnings = append(r.info.Warnings, f.summary()...)
			f.done = true
			r.flushNotes(f, r.info.Packets+1, false)
			if f.hidden > 0 {
				r.info.Warnings = append(r.info.Warnings, fmt.Sprintf("%s: %d more warnings like these not shown", f.name, f.hidden))
			}
			r.info.Truncated = r.info.Truncated || h.truncated
			r.pop()
			if err = f.close(); err != nil {
				r.err = err
			}
			continue
		}
		if r.stopAt != 0 && h.ts > r.stopAt {
			r.info.Unread = h.ts
			r.err = io.EOF
			break
		}
		r.info.Packets++
		frame := r.info.Packets
		if frame == 1 {
			r.info.First = h.ts
		}
		r.info.Last = h.ts
		r.cur = f
		if len(f.notes) > 0 {
			r.flushNotes(f, frame, true)
		}
		if h.kind == headRejected {
			r.info.Malformed++
			continue
		}
		f.frags.now, f.frags.frame, f.frags.whole, f.frags.moved = h.ts, frame, false, 0
		res, tun := decodeTunnelled(h.link, h.data, h.wire, seg, r.vxlan, &f.frags)
		switch res {
		case resTCP:
			if r.stopAfter != nil {
				r.stopAt, r.stopAfter = r.stopAfter(h.ts), nil
			}
			seg.Frame = frame
			seg.Time = h.ts
			r.info.TCPPackets++
			if f.frags.whole {
				r.info.Reassembled++
			}
			f.segmentFlags(seg.Flags)
			if tun != 0 {
				r.tunnelled(tun)
			}
			return nil
		case resICMP:
			seg.Frame = frame
			seg.Time = h.ts
			r.info.ICMPErrors++
			if tun != 0 {
				r.tunnelled(tun)
			}
			return nil
		case resNonTCP:
			r.info.NonTCP++
			// The fragments before the one that completed a datagram
			// carrying no TCP were counted as fragments of it.
			r.info.Fragments -= f.frags.moved
			r.info.NonTCP += f.frags.moved
			if tun&hintVXLAN != 0 {
				f.vxlanLike(frame)
			}
		case resMalformed:
			r.info.Malformed++
		case resCut:
			r.info.Malformed++
			f.snapCut(frame, h)
		case resFragment:
			r.info.Fragments++
		}
	}
	*seg = flows.Segment{}
	return r.err
}

// Record returns the record of the segment (or ICMP error) Next
// returned last: its link type (a LINKTYPE_ value), its time (Unix ns),
// the bytes captured and its length on the wire. data belongs to the
// Reader and is valid until the next call to Next.
func (r *Reader) Record() (linkType uint32, ts int64, data []byte, wire int) {
	if r.cur == nil || r.cur.head.kind != headPacket {
		return 0, 0, nil, 0
	}
	h := &r.cur.head
	return h.lt, h.ts, h.data, h.wire
}

// Fragments returns, when the segment Next returned last was reassembled
// from IP fragments and Options.KeepFragments is set, the records of its
// fragments but the one [Reader.Record] returns (the last to come), in
// the order they were read. They belong to the Reader until the next
// call to Next.
func (r *Reader) Fragments() []Fragment {
	if r.cur == nil || !r.cur.frags.whole || r.cur.frags.last == nil {
		return nil
	}
	return r.cur.frags.last.recs
}

// Info returns what has been read so far; it is complete after Next has
// returned io.EOF. The slices in it belong to the caller.
func (r *Reader) Info() Info {
	i := r.info
	i.Files = slices.Clone(i.Files)
	i.LinkTypes = slices.Clone(i.LinkTypes)
	i.Tunnels = slices.Clone(i.Tunnels)
	i.Warnings = slices.Clone(i.Warnings)
	for _, f := range r.files {
		if !f.done {
			// what the inputs not yet finished have to sum up so far
			i.Warnings = append(i.Warnings, f.summary()...)
		}
		if f.stopped > i.Last && f.stopped > i.Stopped {
			i.Stopped = f.stopped
		}
	}
	return i
}

// Close closes the files Open opened (never opts.Stdin). Next returns
// [ErrClosed] after it.
func (r *Reader) Close() error {
	var errs []error
	for _, f := range r.files {
		if err := f.close(); err != nil {
			errs = append(errs, err)
		}
	}
	r.heap, r.cur = nil, nil
	if r.err == nil || r.err == io.EOF {
		r.err = ErrClosed
	}
	return errors.Join(errs...)
}

// tunnelled counts a segment decoded from tunnels of the kinds tun, and
// names the kinds not seen before in Info.Tunnels.
func (r *Reader) tunnelled(tun uint8) {
	r.info.Tunnelled++
	for i, name := range tunnelNames {
		if bit := uint8(1) << i; tun&bit != 0 && r.tunSeen&bit == 0 {
			r.tunSeen |= bit
			r.info.Tunnels = append(r.info.Tunnels, name)
		}
	}
}

// addLinkType records a link type name in Info.LinkTypes.
func (r *Reader) addLinkType(name string) {
	if !slices.Contains(r.info.LinkTypes, name) {
		r.info.LinkTypes = append(r.info.LinkTypes, name)
	}
}

// maxWarnings bounds the warnings about damaged records of one input;
// the warning that ends an input is always shown.
const maxWarnings = 20

// flushNotes turns a file's pending notes into warnings at frame; capped
// says the notes count against maxWarnings.
func (r *Reader) flushNotes(f *file, frame uint64, capped bool) {
	for _, n := range f.notes {
		if capped {
			if f.warnings == maxWarnings {
				f.hidden++
				continue
			}
			f.warnings++
		}
		r.info.Warnings = append(r.info.Warnings, fmt.Sprintf("%s: frame %d: %s", f.name, frame, n))
	}
	f.notes = f.notes[:0]
}

// The merge is a binary min-heap of files ordered by their head's time,
// ties broken by file order, so that equal timestamps keep the order the
// files were named in.

func (r *Reader) less(i, j int) bool {
	a, b := r.heap[i], r.heap[j]
	if a.head.ts != b.head.ts {
		return a.head.ts < b.head.ts
	}
	return a.index < b.index
}

func (r *Reader) push(f *file) {
	r.heap = append(r.heap, f)
	for i := len(r.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if !r.less(i, p) {
			break
		}
		r.heap[i], r.heap[p] = r.heap[p], r.heap[i]
		i = p
	}
}

func (r *Reader) pop() {
	last := len(r.heap) - 1
	r.heap[0] = r.heap[last]
	r.heap[last] = nil
	r.heap = r.heap[:last]
	r.down(0)
}

func (r *Reader) down(i int) {
	for n := len(r.heap); ; {
		m := i
		if l := 2*i + 1; l < n && r.less(l, m) {
			m = l
		}
		if rt := 2*i + 2; rt < n && r.less(rt, m) {
			m = rt
		}
		if m == i {
			return
		}
		r.heap[i], r.heap[m] = r.heap[m], r.heap[i]
		i = m
	}
}
