//go:build !linux

package capture

import "os"

// mapFile maps nothing on this system: files are read through a buffer.
func mapFile(*os.File) []byte { return nil }

func release([]byte) {}

func unmap([]byte) {}
