//go:build unix

package flows

import "syscall"

const canMap = true

// mapBlock maps n bytes of anonymous memory, or returns nil.
func mapBlock(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return b
}

func unmapBlock(b []byte) { _ = syscall.Munmap(b) }

// releaseBlock gives the pages of mapped block b back to the system; b
// stays mapped and reads as zeros.
func releaseBlock(b []byte) { _ = syscall.Madvise(b, syscall.MADV_DONTNEED) }
