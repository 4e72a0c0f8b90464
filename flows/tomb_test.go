package flows

import (
	"testing"
	"unsafe"
)

// TestTombSize checks that a tomb, one per lingering and per remembered
// connection, stays in the 80-byte size class.
func TestTombSize(t *testing.T) {
	if n := unsafe.Sizeof(tomb{}); n > 80 {
		t.Errorf("a tomb takes %d bytes, more than 80", n)
	}
}
