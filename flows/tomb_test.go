package flows

import (
	"testing"
	"unsafe"
)

// TestRecordSizes checks that a tomb and a memory, one per lingering and
// per remembered connection, stay in the 80- and 96-byte size classes,
// and that each begins with its rec, as map entries assume.
func TestRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(tomb{}); n > 80 {
		t.Errorf("a tomb takes %d bytes, more than 80", n)
	}
	if n := unsafe.Sizeof(memory{}); n > 96 {
		t.Errorf("a memory takes %d bytes, more than 96", n)
	}
	if unsafe.Offsetof(tomb{}.rec) != 0 || unsafe.Offsetof(memory{}.rec) != 0 {
		t.Error("a tomb or a memory does not begin with its rec")
	}
}
