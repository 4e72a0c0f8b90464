package capture

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/teardown/teardown/flows/testenv"
)

// TestBytesRead: by the end of an input, the progress counter has seen
// every byte of the file, and it grows as records are read.
func TestBytesRead(t *testing.T) {
	path := filepath.Join(testenv.Lab(t), "many-connections.pcapng")
	fi, err := os.Stat(path)
	if err != nil {
		t.Skip(err)
	}
	r, err := Open([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := r.BytesRead()
	if first <= 0 || first > fi.Size() {
		t.Fatalf("after Open: %d bytes read of %d", first, fi.Size())
	}
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := r.BytesRead(); got != fi.Size() {
		t.Errorf("at EOF: %d bytes read, want the file's %d", got, fi.Size())
	}
}
