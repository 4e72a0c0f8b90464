//go:build unix

package capture

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/teardown/teardown/flows"
)

// TestFIFOsStayOpen: inputs that cannot be opened again where they were
// left — FIFOs here, pipes of a shell's process substitution alike — are
// read open, merged like files.
func TestFIFOsStayOpen(t *testing.T) {
	dir := t.TempDir()
	frame := ethFrame(t, basic())
	var names []string
	var datas [][]byte
	for i := range 2 {
		name := filepath.Join(dir, fmt.Sprintf("fifo%d", i))
		if err := syscall.Mkfifo(name, 0o600); err != nil {
			t.Skipf("no FIFO here: %v", err)
		}
		names = append(names, name)
		ts := base + int64(i)*10e9
		datas = append(datas, pcapFile(t, 1, false, rec{ts: ts, data: frame}, rec{ts: ts + 1e9, data: frame}))
	}
	for i, name := range names {
		go func() {
			w, err := os.OpenFile(name, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer w.Close()
			w.Write(datas[i])
		}()
	}
	type result struct {
		segs []flows.Segment
		info Info
		err  error
	}
	done := make(chan result, 1)
	go func() {
		r, err := Open(names, Options{})
		if err != nil {
			done <- result{err: err}
			return
		}
		defer r.Close()
		segs, err := drain(r)
		done <- result{segs, r.Info(), err}
	}()
	select {
	case r := <-done:
		if len(r.segs) != 4 || r.info.Packets != 4 || r.err != io.EOF {
			t.Errorf("%d segments of %d records, then %v; want 4 of 4, then EOF", len(r.segs), r.info.Packets, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading two FIFOs hangs: one was closed and is waited on for a writer again")
	}
}
