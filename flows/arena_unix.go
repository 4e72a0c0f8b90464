//go:build unix && !linux

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

// releaseBlock does nothing here: the pages of a block given back stay
// the process's until its chunk is unmapped (on Linux they are released).
func releaseBlock([]byte) {}
