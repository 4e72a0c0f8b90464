package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/teardown/teardown/flows"
)

// mapped maps the file name as Open would, or skips the test where files
// are not mapped.
func mapped(t *testing.T, name string) source {
	t.Helper()
	fh, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	m := mapFile(fh)
	if m == nil {
		t.Skip("files are not mapped on this system")
	}
	return newMapped(m, new(atomic.Int64))
}

// TestSourceMimicsBufio: a mapped file answers every Peek and Discard
// as a bufio.Reader of the read buffer's size over the same bytes does,
// so that a file is parsed the same way whichever way it is read.
func TestSourceMimicsBufio(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{2, 100, 4096, bufSize - 1, bufSize, bufSize + 1, 3*bufSize + 777, 2*mapStep + 5000} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		data[0] = 0 // not gzip's magic number
		m := mapped(t, tempFile(t, data))
		b := newBuffered(bytes.NewReader(data))
		for op := 0; op < 3000; op++ {
			var n int
			switch rng.IntN(4) {
			case 0:
				n = rng.IntN(64)
			case 1:
				n = bufSize - 100 + rng.IntN(200)
			default:
				n = rng.IntN(bufSize)
			}
			if rng.IntN(2) == 0 {
				got, gerr := m.Peek(n)
				want, werr := b.Peek(n)
				if !bytes.Equal(got, want) || gerr != werr {
					t.Fatalf("size %d, op %d: Peek(%d) = %d bytes, %v; bufio: %d bytes, %v", size, op, n, len(got), gerr, len(want), werr)
				}
			} else {
				got, gerr := m.Discard(n)
				want, werr := b.Discard(n)
				if got != want || gerr != werr {
					t.Fatalf("size %d, op %d: Discard(%d) = %d, %v; bufio: %d, %v", size, op, n, got, gerr, want, werr)
				}
			}
		}
		if got, _ := m.Peek(1); len(got) != 0 {
			t.Fatalf("size %d: not read to the end", size)
		}
		if got := m.n.Load(); got != int64(size) {
			t.Errorf("size %d: %d bytes counted read at the end", size, got)
		}
		m.close()
	}
}

// TestMappedFileShrinks: a mapped capture cut short while it is read
// ends where it was cut, with a warning naming the frame, as a capture
// read through a buffer ends at a truncated record; what was before the
// cut is all delivered, by Next and by ReadSegments alike.
func TestMappedFileShrinks(t *testing.T) {
	var specs []tcpSpec
	for range 400 {
		specs = append(specs, conversation()...)
	}
	recs, want := records(specs, base, 1000, func(s tcpSpec) []byte { return ethFrame(t, s) })
	data := pcapFile(t, 1, false, recs...)
	cut := 8 * pageSize
	// The records that end before the cut are read; the one across it is
	// the first frame lost.
	fit, end := 0, 24
	for _, r := range recs {
		if end += 16 + len(r.data); end > cut {
			break
		}
		fit++
	}
	if len(data) < 2*cut || fit < 100 {
		t.Fatalf("capture of %d bytes, %d records before the cut: too small for the test", len(data), fit)
	}
	for _, batch := range []bool{false, true} {
		name := tempFile(t, data)
		r, err := Open([]string{name}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.mapped {
			r.Close()
			t.Skip("files are not mapped on this system")
		}
		var got []flows.Segment
		read := func(n int) error {
			if !batch {
				for range n {
					s, err := r.Next()
					if err != nil {
						return err
					}
					got = append(got, s)
				}
				return nil
			}
			buf := make([]flows.Segment, n)
			k, err := r.ReadSegments(buf)
			got = append(got, buf[:k]...)
			return err
		}
		if err := read(50); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(name, int64(cut)); err != nil {
			t.Fatal(err)
		}
		for err == nil {
			err = read(64)
		}
		if err != io.EOF {
			t.Fatalf("batch=%v: %v, want io.EOF", batch, err)
		}
		if diff := slices.Compare(frames(got), frames(want[:fit])); diff != 0 {
			t.Errorf("batch=%v: read frames %v…, want the %d before the cut", batch, frames(got)[max(0, len(got)-3):], fit)
		}
		info := r.Info()
		checkCounts(t, info)
		if info.Packets != uint64(fit) || info.Malformed != 0 {
			t.Errorf("batch=%v: %d packets, %d malformed; want the %d before the cut, none malformed", batch, info.Packets, info.Malformed, fit)
		}
		warn := strings.Join(info.Warnings, "\n")
		if !info.Truncated || !strings.Contains(warn, fmt.Sprintf("frame %d: could not read the file past byte %d (it shrank from %d to %d bytes", fit+1, end-16-len(recs[fit].data), len(data), cut)) {
			t.Errorf("batch=%v: Truncated %v, warnings %q", batch, info.Truncated, info.Warnings)
		}
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if _, err := r.Next(); !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
	}
}

func frames(segs []flows.Segment) []uint64 {
	var f []uint64
	for _, s := range segs {
		f = append(f, s.Frame)
	}
	return f
}
