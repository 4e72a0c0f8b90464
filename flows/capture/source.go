package capture

import (
	"bufio"
	"io"
	"os"
	"sync/atomic"
	"unsafe"
)

// source is a file's bytes as the parsers take them: Peek, Discard and
// Size with bufio.Reader's meaning. A regular file is mapped into memory
// where the system allows it, and its records are then read in place in
// the mapping (no copy through a read buffer); anything else (standard
// input, a pipe, a gzip stream) goes through a bufio.Reader.
type source struct {
	br *bufio.Reader // nil when mapped

	// A mapped file: m is the mapping, off the read position in it.
	m   []byte
	off int
	// done is where the pages already released end (the part of the
	// mapping behind the read position is given back to the system as
	// the file is read, so that the process's memory does not grow with
	// the file), counted the bytes reported read so far, and n the
	// shared progress counter.
	done, counted int
	n             *atomic.Int64
	touched       byte // see Peek
}

// mapStep is how far the read position of a mapped file moves between
// releases of the pages behind it and progress counts.
const mapStep = 4 << 20

var pageSize = os.Getpagesize()

func newBuffered(r io.Reader) source {
	return source{br: bufio.NewReaderSize(r, bufSize)}
}

// newMapped returns a source reading the mapping m, counting its progress
// in n. It counts the first step read at once: the file header and first
// record are read before anything else.
func newMapped(m []byte, n *atomic.Int64) source {
	s := source{m: m, n: n}
	s.count(min(len(m), mapStep))
	return s
}

// Size returns the most Peek returns: the read buffer's size, which a
// mapped file mimics, so that a file is parsed the same way whichever way
// it is read.
func (s *source) Size() int { return bufSize }

// Peek returns the next n bytes without consuming them, or fewer and the
// reason: bufio.ErrBufferFull when n is more than Size, io.EOF at the end.
func (s *source) Peek(n int) ([]byte, error) {
	if s.br != nil {
		return s.br.Peek(n)
	}
	rest := s.m[s.off:]
	switch {
	case n > bufSize:
		return rest[:min(len(rest), bufSize)], bufio.ErrBufferFull
	case n > len(rest):
		return rest, io.EOF
	case n > 0:
		// Read the last byte, so that a page the file no longer has
		// faults here, while the record is read and before it is
		// counted (see fault.go), not later while it is decoded.
		s.touched ^= rest[n-1]
	}
	return rest[:n:n], nil
}

// Discard skips the next n bytes, or as many as are left and io.EOF.
func (s *source) Discard(n int) (int, error) {
	if s.br != nil {
		return s.br.Discard(n)
	}
	var err error
	if rest := len(s.m) - s.off; n > rest {
		n, err = rest, io.EOF
	}
	s.off += n
	if s.off-s.done >= mapStep || err != nil {
		s.advanced()
	}
	return n, err
}

// advanced releases the pages behind the read position and counts the
// progress made since the last time.
func (s *source) advanced() {
	if end := s.off &^ (pageSize - 1); end > s.done {
		release(s.m[s.done:end])
		s.done = end
	}
	s.count(min(len(s.m), s.off+mapStep) - s.counted)
}

func (s *source) count(n int) {
	if n > 0 {
		s.counted += n
		s.n.Add(int64(n))
	}
}

// at reports whether addr is inside the mapping.
func (s *source) at(addr uintptr) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s.m)))
	return len(s.m) > 0 && addr >= base && addr-base < uintptr(len(s.m))
}

// close unmaps a mapped file; the source reads nothing after it.
func (s *source) close() {
	if s.m != nil {
		unmap(s.m)
	}
	*s = source{}
}
