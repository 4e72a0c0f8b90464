// Command teardown-bench runs one stage of teardown's pipeline, or a
// reference loop, over a capture file and prints how long it took, for
// the bench script (.ci/bench) and for profiling.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/spf13/pflag"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/report"
)

const usage = `Usage:
    teardown-bench [--cpuprofile FILE] [--memprofile FILE] MODE FILE

Runs MODE over the capture FILE (pcap or pcapng, not compressed) and
prints one line on standard output:

    MODE packets=N seconds=S ns/packet=X

Modes, each doing what the one before it does and more:
    read      the bare reference loop: gopacket's pcapgo reader,
              ZeroCopyReadPacketData, nothing decoded
    dlp       read, plus gopacket's DecodingLayerParser (Ethernet, 802.1Q,
              IPv4, IPv6, TCP) and a Go map of flows keyed by 4-tuple
    decode    teardown's capture reader: records read in place and TCP
              segments decoded by hand
    prefetch  decode on a goroutine of its own (flows.Prefetch), the
              segments taken on another
    table     decode, prefetched, then teardown's flow table
    full      the whole analysis, as 'teardown --format jsonl FILE'
              does it, with the JSON lines written to standard error
              unless --discard

Prefetching follows GOMAXPROCS: with GOMAXPROCS=1 nothing runs ahead.

Flags:
        --cpuprofile FILE   write a CPU profile of the run to FILE
        --memprofile FILE   write an allocation profile at the end to FILE
        --trace FILE        write an execution trace of the run to FILE
                            (go tool trace): how the goroutines shared
                            the CPUs
        --discard           full: throw the JSON lines away instead
        --no-prefetch       table, full: decode on the analysing goroutine

Example:
    teardown-synth -o big.pcap --packets 10000000 --seed 1 --concurrency 20000
    teardown-bench read big.pcap
    teardown-bench --cpuprofile cpu.out --discard full big.pcap
    go tool pprof -top teardown-bench cpu.out
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("teardown-bench", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cpuprofile := fs.String("cpuprofile", "", "")
	memprofile := fs.String("memprofile", "", "")
	tracefile := fs.String("trace", "", "")
	discard := fs.Bool("discard", false, "")
	noPrefetch := fs.Bool("no-prefetch", false, "")
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "teardown-bench: error: %v\nteardown-bench: hint: run 'teardown-bench --help' for usage\n", err)
		return 2
	}
	if *help {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "teardown-bench: error: want MODE FILE\nteardown-bench: hint: run 'teardown-bench --help' for usage\n")
		return 2
	}
	mode, name := fs.Arg(0), fs.Arg(1)
	stage, ok := stages[mode]
	if !ok {
		fmt.Fprintf(stderr, "teardown-bench: error: unknown mode %q\nteardown-bench: hint: modes: read, dlp, decode, prefetch, table, full\n", mode)
		return 2
	}
	var jsonl io.Writer = stderr
	if *discard {
		jsonl = io.Discard
	}
	// The CPU profile and the execution trace, when asked for, each
	// record the run into a file of their own.
	var stops []func()
	for _, rec := range []struct {
		name  string
		start func(io.Writer) error
		stop  func()
	}{{*cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile}, {*tracefile, trace.Start, trace.Stop}} {
		if rec.name == "" {
			continue
		}
		f, err := os.Create(rec.name)
		if err == nil {
			defer f.Close()
			err = rec.start(f)
		}
		if err != nil {
			stopAll(stops)
			fmt.Fprintf(stderr, "teardown-bench: error: %v\n", err)
			return 2
		}
		stops = append(stops, rec.stop)
	}
	start := time.Now()
	packets, err := stage(name, jsonl, !*noPrefetch)
	elapsed := time.Since(start)
	stopAll(stops)
	if err != nil {
		fmt.Fprintf(stderr, "teardown-bench: error: %v\n", err)
		return 2
	}
	if *memprofile != "" {
		if err := writeHeapProfile(*memprofile); err != nil {
			fmt.Fprintf(stderr, "teardown-bench: error: %v\n", err)
			return 2
		}
	}
	fmt.Fprintf(stdout, "%s packets=%d seconds=%.3f ns/packet=%.1f\n", mode, packets,
		elapsed.Seconds(), float64(elapsed.Nanoseconds())/float64(max(packets, 1)))
	return 0
}

// stopAll stops the recordings started.
func stopAll(stops []func()) {
	for _, stop := range stops {
		stop()
	}
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// A stage runs over the named capture and returns the number of packets
// (records) it read.
type stage func(name string, jsonl io.Writer, prefetch bool) (uint64, error)

var stages = map[string]stage{
	"read":     readStage,
	"dlp":      dlpStage,
	"decode":   func(name string, _ io.Writer, _ bool) (uint64, error) { return segments(name, false, nil) },
	"prefetch": func(name string, _ io.Writer, _ bool) (uint64, error) { return segments(name, true, nil) },
	"table":    tableStage,
	"full":     fullStage,
}

// stoppable is a segment source that may run ahead of its caller.
type stoppable interface {
	flows.Source
	Stop()
}

// direct reads a capture on the caller's goroutine, in batches, as
// flows.Prefetch does with one CPU.
type direct struct {
	r    *capture.Reader
	buf  [1024]flows.Segment
	i, n int
	err  error // what ended the last batch
}

func (d *direct) Next() (flows.Segment, error) {
	for d.i == d.n {
		if d.err != nil {
			return flows.Segment{}, d.err
		}
		d.n, d.err = d.r.ReadSegments(d.buf[:])
		d.i = 0
	}
	d.i++
	return d.buf[d.i-1], nil
}

func (*direct) Stop() {}

// open opens the capture and the source of its segments: the reader
// itself, or a prefetcher on it. Stop the source before closing the
// reader.
func open(name string, prefetch bool) (*capture.Reader, stoppable, error) {
	r, err := capture.Open([]string{name}, capture.Options{})
	if err != nil {
		return nil, nil, err
	}
	if prefetch {
		return r, flows.Prefetch(r), nil
	}
	return r, &direct{r: r}, nil
}

// segments reads every segment of the capture, prefetched or not, into
// add (when set), and returns the number of records read.
func segments(name string, prefetch bool, add func(*flows.Segment) error) (uint64, error) {
	r, src, err := open(name, prefetch)
	if err != nil {
		return 0, err
	}
	defer src.Stop()
	defer r.Close()
	var s flows.Segment // escapes to add once, not once a packet
	for {
		var err error
		s, err = src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return 0, err
			}
			break
		}
		if add != nil {
			if err := add(&s); err != nil {
				return 0, err
			}
		}
	}
	return r.Info().Packets, nil
}

func tableStage(name string, _ io.Writer, prefetch bool) (uint64, error) {
	t := flows.NewTable(flows.TableOptions{})
	n, err := segments(name, prefetch, t.Add)
	if err != nil {
		return 0, err
	}
	return n, t.Flush()
}

// fullStage is what 'teardown --format jsonl' does, without the filter
// and the time window.
func fullStage(name string, jsonl io.Writer, prefetch bool) (uint64, error) {
	r, src, err := open(name, prefetch)
	if err != nil {
		return 0, err
	}
	defer src.Stop()
	defer r.Close()
	out := report.NewJSONL(jsonl)
	res, err := analyze.Run(src, analyze.Options{MaxFlows: 1_000_000, Emit: out.Flow, Recycle: true})
	if err != nil {
		return 0, err
	}
	if err := out.Summary(res); err != nil {
		return 0, err
	}
	return r.Info().Packets, nil
}
