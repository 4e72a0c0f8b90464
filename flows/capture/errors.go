package capture

import (
	"errors"
	"strconv"
	"strings"
)

// Errors that Open and Next wrap in an [*Error]. Test for them with
// errors.Is.
var (
	// ErrNotCapture: the input is neither pcap nor pcapng (nor either of
	// them compressed).
	ErrNotCapture = errors.New("capture: not a pcap or pcapng file")
	// ErrEmpty: the input holds no bytes at all.
	ErrEmpty = errors.New("capture: empty file")
	// ErrTruncatedHeader: the input ends inside its file header, before
	// the first record could start.
	ErrTruncatedHeader = errors.New("capture: truncated file header")
	// ErrUnsupportedVersion: a pcap or pcapng header with a major version
	// this package does not read.
	ErrUnsupportedVersion = errors.New("capture: unsupported format version")
	// ErrUnsupportedLinkType: the link layer of a pcap file (or of every
	// interface a pcapng file declares before its first packet) is one this
	// package cannot decode.
	ErrUnsupportedLinkType = errors.New("capture: unsupported link type")
	// ErrNoInput: Open was called with no names.
	ErrNoInput = errors.New("capture: no input named")
	// ErrStdinTwice: "-" appears more than once among the names.
	ErrStdinTwice = errors.New("capture: standard input named more than once")
	// ErrClosed: Next was called after Close.
	ErrClosed = errors.New("capture: reader closed")
)

// Error is a fatal input error: the file could not be opened, is not a
// capture, or could not be read. Its message reads "FILE: frame N: what",
// or "FILE: what" when no frame is involved, where FILE is the name given
// to [Open] ("stdin" for "-").
type Error struct {
	File string
	// Frame is the 1-based frame number the error occurred at, or 0.
	Frame uint64
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
	if e.Frame > 0 {
		b.WriteString("frame ")
		b.WriteString(strconv.FormatUint(e.Frame, 10))
		b.WriteString(": ")
	}
	if e.Err != nil {
		// The sentinels carry the package prefix for callers who print
		// them alone; after a file name it is noise.
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "capture: "))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
