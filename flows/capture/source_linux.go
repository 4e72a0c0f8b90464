package capture

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"syscall"
)

// mapFile maps a regular file's content read-only, or returns nil when it
// does not (not a regular file, empty, gzip-compressed, too large for the
// address space): the file is then read through a buffer.
func mapFile(fh *os.File) []byte {
	fi, err := fh.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() <= 0 || fi.Size() > maxMap {
		return nil
	}
	var magic [2]byte
	if _, err := fh.ReadAt(magic[:], 0); err != nil || bytes.HasPrefix(magic[:], magicGzip) {
		return nil
	}
	m, err := syscall.Mmap(int(fh.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	_ = syscall.Madvise(m, syscall.MADV_SEQUENTIAL)
	return m
}

// maxMap is the largest file mapped: on a 64-bit system any, on a 32-bit
// one 256 MB, lest a large capture take the address space the analysis
// needs.
const maxMap = 1<<28 + (math.MaxInt-1<<28)*(strconv.IntSize/64)

// release gives the pages of m back to the system; the file's content
// stays in the page cache, and reading m again would fault it back in.
func release(m []byte) { _ = syscall.Madvise(m, syscall.MADV_DONTNEED) }

func unmap(m []byte) { _ = syscall.Munmap(m) }
