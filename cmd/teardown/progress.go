package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/charmbracelet/x/term"
)

// progressMin is the input size above which a terminal gets a progress
// bar: smaller captures finish before one would be worth drawing.
const progressMin = 256 << 20

// progress draws "bytes read of total, packets/s, ETA" on standard error
// while a large capture is analysed. It is off under --quiet, for standard
// input, and when standard error is not a terminal.
type progress struct {
	w       io.Writer
	total   int64
	read    func() int64
	packets func() uint64
	start   time.Time
	stop    chan struct{}
	done    sync.WaitGroup
}

// startProgress returns a running progress bar, or nil when none is due.
func startProgress(stderr io.Writer, quiet bool, files []string, read func() int64, packets func() uint64) *progress {
	if quiet {
		return nil
	}
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(f.Fd()) {
		return nil
	}
	var total int64
	for _, name := range files {
		fi, err := os.Stat(name)
		if name == "-" || err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		total += fi.Size()
	}
	if total < progressMin {
		return nil
	}
	p := &progress{w: stderr, total: total, read: read, packets: packets, start: time.Now(), stop: make(chan struct{})}
	p.done.Add(1)
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer p.done.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		case <-t.C:
			fmt.Fprint(p.w, "\r\x1b[K"+p.line(time.Since(p.start)))
		}
	}
}

// line renders one status line for elapsed time d.
func (p *progress) line(d time.Duration) string {
	read := min(p.read(), p.total)
	frac := float64(read) / float64(p.total)
	const width = 24
	filled := int(frac * width)
	bar := make([]rune, width)
	for i := range bar {
		bar[i] = '░'
		if i < filled {
			bar[i] = '█'
		}
	}
	rate := float64(p.packets()) / d.Seconds()
	eta := "--:--"
	if frac > 0.01 {
		left := time.Duration(float64(d) * (1 - frac) / frac).Round(time.Second)
		eta = fmt.Sprintf("%d:%02d", int(left.Minutes()), int(left.Seconds())%60)
	}
	return fmt.Sprintf("teardown %s %3.0f%% %s of %s · %s packets/s · ETA %s",
		string(bar), frac*100, size(read), size(p.total), count(rate), eta)
}

// Stop clears the line; a nil progress is a no-op.
func (p *progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	default:
		return fmt.Sprintf("%.0f MB", float64(n)/(1<<20))
	}
}

func count(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1f M", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.0f k", r/1e3)
	default:
		return fmt.Sprintf("%.0f", r)
	}
}
