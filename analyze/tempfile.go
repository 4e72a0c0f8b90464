package analyze

import "os"

// A TempFile is a temporary file in os.TempDir, removed as soon as it is
// made where the system allows (its data lives until Close), else by
// Close. The baseline of a check keeps its flows past a budget in one,
// and the JSON document its flows' encodings.
type TempFile struct {
	*os.File
	name string // until removed
}

// NewTempFile makes a temporary file named after pattern (os.CreateTemp).
func NewTempFile(pattern string) (*TempFile, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return nil, err
	}
	t := &TempFile{File: f, name: f.Name()}
	if os.Remove(t.name) == nil {
		t.name = ""
	}
	return t, nil
}

// Close closes the file and removes it if it is still there; on a nil
// TempFile (none was needed) it does nothing.
func (t *TempFile) Close() error {
	if t == nil {
		return nil
	}
	err := t.File.Close()
	if t.name != "" {
		if rerr := os.Remove(t.name); err == nil {
			err = rerr
		}
		t.name = ""
	}
	return err
}
