package capture

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
)

// A mapped file (see source) that shrinks while it is read, or whose
// disk fails, makes the access to the missing page fault. Every read of
// a mapped input runs guarded: the fault becomes a panic of this
// goroutine (debug.SetPanicOnFault) that guarded recovers, and the file
// ends there with a warning, as a file cut short does when it is read
// through a buffer.

// errFault is what guarded returns after a fault: the faulting file has
// ended, and the read can be tried again.
var errFault = errors.New("capture: fault reading a mapped file")

// guarded runs fn, which reads the inputs, and turns a fault reading a
// mapped one into errFault. It re-raises any other panic.
func (r *Reader) guarded(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			if !r.faulted(v) {
				panic(v)
			}
			err = errFault
		}
	}()
	return fn()
}

// openGuarded runs fn, which reads f's file header or first record while
// the Reader opens, and turns a fault reading f into a fatal error of f.
func (f *file) openGuarded(fn func() error) (err error) {
	if f.br.m == nil {
		return fn()
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			if !faultIn(v, f) {
				panic(v)
			}
			err = f.fatal(0, fmt.Errorf("could not read the file (%s)", f.shrunk()))
		}
	}()
	return fn()
}

// faultIn reports whether v, a recovered panic, is a fault reading f's
// mapping.
func faultIn(v any, f *file) bool {
	fault, ok := v.(interface{ Addr() uintptr })
	return ok && f.br.at(fault.Addr())
}

// faulted ends the mapped file that the fault v (a recovered panic)
// happened in, and reports whether there was one.
func (r *Reader) faulted(v any) bool {
	i := len(r.heap) - 1
	for i >= 0 && !faultIn(v, r.heap[i]) {
		i--
	}
	if i < 0 {
		return false
	}
	f := r.heap[i]
	f.end(true, fmt.Sprintf("could not read the file past byte %d (%s); everything before it was read", f.br.off, f.shrunk()))
	if r.cur == f {
		// The file shrank between reading the record just counted and
		// decoding it (source.Peek reads every record's last byte):
		// that record is lost too.
		r.cur = nil
		r.info.Malformed++
		r.flushNotes(f, r.info.Packets, false)
	}
	r.down(i)
	return true
}

// shrunk says why a mapped file could not be read: it is shorter than
// when it was opened, or (when it is not) the system failed to read it.
func (f *file) shrunk() string {
	if fh, ok := f.closer.(*os.File); ok {
		if fi, err := fh.Stat(); err == nil && fi.Size() < int64(len(f.br.m)) {
			return fmt.Sprintf("it shrank from %d to %d bytes while it was read", len(f.br.m), fi.Size())
		}
	}
	return "the system failed to read it"
}
