package flows

import (
	"syscall"
	"unsafe"
)

const canMap = true

// mapBlock maps n bytes of anonymous memory, aligned to n when n is a
// power of two, or returns nil. The kernel may back the block with huge
// pages (MADV_HUGEPAGE): a 2 MB block then costs one page fault, not 512,
// when it is first written. To align it, twice n is mapped and the rest
// unmapped by hand: syscall.Munmap only unmaps what syscall.Mmap mapped
// whole.
func mapBlock(n int) []byte {
	m, err := syscall.Mmap(-1, 0, 2*n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	off := 0
	if n&(n-1) == 0 {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
		off = int((uintptr(n) - base&(uintptr(n)-1)) & (uintptr(n) - 1))
	}
	if off > 0 {
		unmapBlock(m[:off])
	}
	unmapBlock(m[off+n:])
	b := m[off : off+n : off+n]
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	return b
}

// unmapBlock unmaps b, all or part of a mapping mapBlock made.
func unmapBlock(b []byte) {
	_, _, _ = syscall.Syscall(syscall.SYS_MUNMAP, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0)
}

// releaseBlock gives the pages of mapped block b back to the system; b
// stays mapped and reads as zeros.
func releaseBlock(b []byte) { _ = syscall.Madvise(b, syscall.MADV_DONTNEED) }
