package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/report"
)

// extraction is --extract: the flows whose packets go into a capture of
// their own, for a ticket or for Wireshark. The analysis picks them as
// they finish (pick); afterwards the inputs are read again for their
// packets (write): each flow's segments (all the IP fragments of one
// reassembled from them), and the ICMP errors that quote them, between
// its first and last frame.
type extraction struct {
	path string
	// only says which flows (Options.Lists); id: only flow id.
	only report.Options
	id   int
	// spans are the picked flows' frame ranges by their two endpoints
	// (lower first); last is the latest frame of any.
	spans map[[2]netip.AddrPort][]frameSpan
	last  uint64
	flows int
}

type frameSpan struct{ first, last uint64 }

// endpoints orders a and b, lower first, as spans keys them.
func endpoints(a, b netip.AddrPort) [2]netip.AddrPort {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return [2]netip.AddrPort{a, b}
}

// pick keeps f's endpoints and frames when --extract wants it: flow id
// with --flow, else those --only lists (the anomalous ones by default).
func (x *extraction) pick(f *analyze.Flow) {
	switch {
	case x.id != 0 && f.ID != x.id, x.id == 0 && !x.only.Lists(f):
		return
	}
	c, err1 := netip.ParseAddrPort(f.Client)
	s, err2 := netip.ParseAddrPort(f.Server)
	if err1 != nil || err2 != nil {
		return
	}
	k := endpoints(c, s)
	x.spans[k] = append(x.spans[k], frameSpan{f.FirstFrame, f.LastFrame})
	x.last = max(x.last, f.LastFrame)
	x.flows++
}

// write reads files again and writes the picked flows' records to
// x.path (pcapng when it ends in .pcapng, else pcap), and returns how
// many it wrote. Nothing is written when no flow was picked, and a file
// left incomplete by an error is removed.
func (x *extraction) write(files []string, opts capture.Options) (n int, err error) {
	if x.flows == 0 {
		return 0, nil
	}
	opts.KeepFragments = true
	rd, err := capture.Open(files, opts)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	out, err := os.Create(x.path)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(x.path)
		}
	}()
	w := capture.NewWriter(out, strings.HasSuffix(x.path, ".pcapng"))
	for {
		s, rerr := rd.Next()
		if errors.Is(rerr, io.EOF) || rerr == nil && s.Frame > x.last {
			break
		}
		if rerr != nil {
			return n, rerr
		}
		for _, sp := range x.spans[endpoints(s.Src, s.Dst)] {
			if s.Frame >= sp.first && s.Frame <= sp.last {
				// A segment reassembled from IP fragments: every one of
				// them, the last (its record) after the others.
				for _, f := range rd.Fragments() {
					if err := w.Write(f.LinkType, f.Time, f.Data, f.Wire); err != nil {
						return n, fmt.Errorf("%s: %w", x.path, err)
					}
					n++
				}
				if err := w.Write(rd.Record()); err != nil {
					return n, fmt.Errorf("%s: %w", x.path, err)
				}
				n++
				break
			}
		}
	}
	return n, w.Flush()
}
