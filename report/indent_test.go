package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/teardown/teardown/analyze"
)

var indentSeeds = []string{
	`{}`, `[]`, `{"a":[]}`, `{"a":{},"b":[{}]}`, `[1,-2.5e3,true,false,null]`,
	`{"s":"a\"b","t":"\\","u":"{[,:]}","v":"\\\"","w":"é\u2028"}`,
	`{"flows":[{"id":1,"sides":{"client":{"states":[{"state":"SYN_SENT"}]}}}],"n":0}`,
	`"just a string"`, `42`,
	// Quotes and backslashes on either side of a word boundary.
	`{"0123456\"":"0123456\\","x":"01234567\"9abcdef\\\\\"0123456789abcdef","y":["abcdefgh","","a\\"]}`,
}

// indentLikeStdlib checks appendIndented against json.Indent on the
// compact form of src.
func indentLikeStdlib(t *testing.T, src []byte) {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, src); err != nil {
		return
	}
	var want bytes.Buffer
	want.WriteString("head")
	if err := json.Indent(&want, compact.Bytes(), "    ", "  "); err != nil {
		t.Fatal(err)
	}
	if got := appendIndented([]byte("head"), compact.Bytes(), "    "); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("appendIndented(%s):\n%s\nwant (json.Indent):\n%s", compact.Bytes(), got, want.Bytes())
	}
}

func TestAppendIndented(t *testing.T) {
	for _, s := range indentSeeds {
		indentLikeStdlib(t, []byte(s))
	}
	// Every flow of the lab's captures, as the JSON document encodes it.
	res := labAll(t, "net.ipv4.tcp_fin_timeout = 60\n")
	if len(res.Flows) < 30 {
		t.Fatalf("only %d lab flows", len(res.Flows))
	}
	for _, f := range res.Flows {
		b, err := appendFlow(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		indentLikeStdlib(t, b)
	}
}

func FuzzAppendIndented(f *testing.F) {
	for _, s := range indentSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if json.Valid(src) {
			indentLikeStdlib(t, src)
		}
	})
}

// TestJSONDocSpills writes the JSON document of a few hundred flows with
// chunks of 8 KB (a few flows each) of which 16 KB stay in memory, the rest in a temporary
// file: the document is the one kept in memory gives, and no file is
// left behind. With no directory for the file, or a file that refuses
// writes, everything stays in memory.
func TestJSONDocSpills(t *testing.T) {
	res := crowd(50)
	chunk, mem, batch, procs := docChunkSize, docMemory, docBatch, runtime.GOMAXPROCS(0)
	t.Cleanup(func() { docChunkSize, docMemory, docBatch = chunk, mem, batch; runtime.GOMAXPROCS(procs) })
	// The reference: everything in memory, one batch, one goroutine.
	runtime.GOMAXPROCS(1)
	docBatch = len(res.Flows)
	var want bytes.Buffer
	if err := JSON(&want, res); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(want.Bytes(), []byte("\n      \"incarnation\": ")); n != len(res.Flows) {
		t.Fatalf("the reference document has %d flows, want %d", n, len(res.Flows))
	}
	docChunkSize, docMemory = 8<<10, 16<<10

	tmp := t.TempDir()
	for _, run := range []struct{ batch, procs int }{{256, 1}, {7, 1}, {7, 2}, {1, 4}, {3, 64}} {
		docBatch = run.batch
		runtime.GOMAXPROCS(run.procs)
		for _, dir := range []string{tmp, filepath.Join(tmp, "missing"), "read-only"} {
			t.Setenv("TMPDIR", dir)
			d := NewJSONDoc()
			if dir == "read-only" {
				// A file that cannot be written to, as a full disk would
				// refuse: the chunks stay in memory.
				f, err := os.Open(filepath.Join("..", "testdata", "lab", "README.md"))
				if err != nil {
					t.Fatal(err)
				}
				d.file = &analyze.TempFile{File: f}
			}
			for i := len(res.Flows) - 1; i >= 0; i-- { // out of order
				if err := d.Add(res.Flows[i]); err != nil {
					t.Fatal(err)
				}
			}
			var got bytes.Buffer
			if err := d.Write(&got, res); err != nil {
				t.Fatal(err)
			}
			if spilled := d.size > 0; spilled != (dir == tmp) {
				t.Errorf("TMPDIR %s: %d bytes in the temporary file", dir, d.size)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("batches of %d on %d CPUs, TMPDIR %s: the document differs from the one kept in memory", run.batch, run.procs, dir)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
		}
	}
}

// TestJSONDocWriteFails: when the flows cannot be read back from the
// temporary file, or the output refuses a write, Write returns the error,
// on one goroutine or several, and leaves no goroutine behind.
func TestJSONDocWriteFails(t *testing.T) {
	res := crowd(50)
	chunk, mem, batch, procs := docChunkSize, docMemory, docBatch, runtime.GOMAXPROCS(0)
	t.Cleanup(func() { docChunkSize, docMemory, docBatch = chunk, mem, batch; runtime.GOMAXPROCS(procs) })
	docChunkSize, docMemory, docBatch = 8<<10, 16<<10, 5
	t.Setenv("TMPDIR", t.TempDir())
	for _, p := range []int{1, 3} {
		runtime.GOMAXPROCS(p)
		for _, broken := range []string{"file", "output"} {
			d := NewJSONDoc()
			for _, f := range res.Flows {
				if err := d.Add(f); err != nil {
					t.Fatal(err)
				}
			}
			if d.file == nil {
				t.Fatal("nothing went to the temporary file")
			}
			var w io.Writer = io.Discard
			want := "reading the flows back"
			if broken == "file" {
				d.file.Close()
			} else {
				w = &failAfter{n: 100 << 10}
				want = "refused"
			}
			err := d.Write(w, res)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%d CPUs, broken %s: Write returned %v, want an error saying %q", p, broken, err, want)
			}
			d.Close()
		}
	}
	// Write waits for its goroutines to be done: none stays in
	// writeFlows (one may still be returning from it for a moment).
	stacks := make([]byte, 1<<20)
	for wait := time.Millisecond; ; wait *= 2 {
		n := runtime.Stack(stacks, true)
		if !bytes.Contains(stacks[:n], []byte("writeFlows")) {
			break
		}
		if wait > 2*time.Second {
			t.Fatalf("a goroutine stays in writeFlows:\n%s", stacks[:n])
		}
		time.Sleep(wait)
	}
}

// failAfter accepts n bytes, then refuses every write.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, errors.New("write refused")
	}
	f.n -= len(p)
	return len(p), nil
}
