// Command teardown reads tcpdump captures and reports how every TCP
// connection in them was torn down.
package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/spf13/pflag"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/filter"
	"github.com/teardown/teardown/report"
)

const usage = `Usage:
    teardown [flags] FILE... [FILTER]
    teardown check [flags] --baseline BASELINE FILE... [FILTER]
    teardown explain [CODE]

teardown reads tcpdump captures (pcap, pcapng, either compressed with gzip,
zstd, xz or bzip2, "-" for standard input; several files, or a directory of
them, are merged in time order) and reports how every TCP connection in
them was torn down: each side's close states, FIN retransmissions, resets,
TIME_WAIT reuse, and the Linux sysctl or socket option that governs each
anomaly.

Tunnels (IP in IP, GRE, ERSPAN, VXLAN on UDP 4789, Geneve on UDP 6081) are
followed to the TCP inside, and IP fragments are reassembled. ICMP errors
that quote a TCP segment (unreachable, time exceeded, fragmentation
needed, packet too big) join that segment's connection. FILTER is a
tcpdump-style expression over host, net, port, portrange (with src/dst),
ip, ip6, and, or, not and parentheses, applied to the innermost addresses
(an ICMP error's, those of the segment it quotes).

Flags:
    -f, --format FORMAT   text (default), json, jsonl, markdown or html
    -o, --output FILE     write the report to FILE instead of standard output
                          (compressed when FILE ends in .gz or .zst)
        --extract FILE    write the packets of the flows --only picks (the
                          anomalous ones by default; with --flow, that one)
                          to FILE, pcapng when it ends in .pcapng, else pcap
        --color WHEN      auto (default), always or never; NO_COLOR is honoured
    -v, --verbose         text: show each listed flow's states and ladder, and
                          the findings whole
        --flow ID         show only flow ID, in detail
        --only WHICH      anomalies (default for text, markdown, html), all,
                          or the flows with the diagnoses named (codes
                          separated by commas, e.g. fin-retransmitted)
        --top N           markdown/html: flows shown in detail (default 5)
        --since T         ignore packets before T (seconds from the capture
                          start, e.g. 12.5, or an RFC 3339 time)
        --until T         ignore packets after T
        --max-flows N     most connections tracked at once (default %d);
                          the longest idle is evicted and counted beyond it;
                          as many closed ones are remembered for reuse
        --fail-on LEVEL   exit 1 when a diagnosis of LEVEL (warning, error)
                          or worse is found
        --sysctl FILE     the capturing host's 'sysctl -a' output: each
                          inference is compared with the real settings
        --sysctl-host IP  the host FILE was read on (repeatable; default:
                          every host in the capture shares those settings)
        --vxlan-port P    UDP port P carries VXLAN too (repeatable; 4789
                          always does; Linux's default, flannel's and
                          Cilium's is 8472)
    -q, --quiet           no progress bar and no warnings on standard error
        --version         print the version and exit

Exit status: 0 when the analysis ran (and, with --fail-on or check, found
nothing at that level), 1 when --fail-on or check found something, 2 on a
usage, input or internal error.

Examples:
    teardown incident.pcap
    teardown -f markdown -o ticket.md incident.pcap.gz 'port 8080'
    tcpdump -i any -w - 'tcp port 443' | teardown -f jsonl -
    teardown --fail-on warning fixtures/*.pcap
`

// defaultMaxFlows bounds the flow table. A connection active in the last
// 30 s of capture time costs about 1.8 KB, one asleep (lingering after its
// close, or idle) about 0.5 KB. The worst case, a SYN flood of distinct
// 4-tuples, sleeps its half-open connections a second after their SYN once
// an eighth of the table is awake: 1 M of them held 500 MiB of heap at
// --max-flows 1,000,000 (BenchmarkSynFlood), and teardown peaked at 730 MB
// RSS on a 1 M-SYN flood at this default. A busy capture's lingering
// connections mostly sleep, and 500,000 covers some 7,000 new connections
// a second.
const defaultMaxFlows = 500_000

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK       = 0
	exitFindings = 1
	exitError    = 2
)

type cli struct {
	format, output, color, only, since, until, failOn string
	extract                                           string
	verbose, quiet, showVersion, help                 bool
	flow, top, maxFlows                               int
	sysctl                                            string
	sysctlHosts                                       []string
	vxlanPorts                                        []uint
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	l := &logger{w: stderr}
	var src *source
	defer func() {
		if r := recover(); r != nil {
			var frame uint64
			stack := debug.Stack()
			switch p := r.(type) {
			case *analyze.SegmentPanic:
				frame, r, stack = p.Frame, p.Value, p.Stack
			case *analyze.FlowPanic:
				frame, stack = p.Last, p.Stack
			}
			l.errorf("internal error%s: %v", src.where(frame), r)
			l.hintf("please report this, with the capture (or its first frames up to that one)")
			if os.Getenv("TEARDOWN_TRACEBACK") != "" {
				fmt.Fprintf(stderr, "%s", stack)
			}
			code = exitError
		}
	}()
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return runCheck(args[1:], stdin, stdout, l, &src)
		case "explain":
			return runExplain(args[1:], stdout, l)
		}
	}

	var c cli
	fs := c.flags("teardown")
	if err := fs.Parse(args); err != nil {
		return l.usage(err)
	}
	if c.help {
		fmt.Fprintf(stdout, usage, defaultMaxFlows)
		return exitOK
	}
	if c.showVersion {
		fmt.Fprintln(stdout, "teardown", buildVersion())
		return exitOK
	}
	if err := c.validate(fs); err != nil {
		return l.bad(err)
	}
	var x *extraction
	if c.extract != "" {
		if files, _ := splitArgs(fs.Args()); slices.Contains(files, "-") {
			return l.bad(&usageError{"--extract reads the capture again after the analysis: give it files, not standard input", "save the capture first (tcpdump -w FILE)"})
		}
		only := report.Options{Only: c.only}
		if !fs.Changed("only") {
			only.Only = "anomalies"
		}
		x = &extraction{path: c.extract, only: only, id: c.flow, spans: map[[2]netip.AddrPort][]frameSpan{}}
	}
	out := stdout
	if c.output != "" && c.output != "-" {
		f, err := os.Create(c.output)
		if err != nil {
			l.errorf("%v", err)
			return exitError
		}
		defer func() {
			if err := f.Close(); err != nil && code != exitError {
				l.errorf("%v", err)
				code = exitError
			}
		}()
		out = f
		// A report to keep, a baseline above all, may be written
		// compressed, as check reads it.
		if z := compressor(c.output, f); z != nil {
			defer func() {
				if err := z.Close(); err != nil && code != exitError {
					l.errorf("%s: %v", c.output, err)
					code = exitError
				}
			}()
			out = z
		}
	}

	ropt := report.Options{
		Color: c.color, Verbose: c.verbose, FlowID: c.flow, Only: c.only,
		Top: c.top, Command: commandLine(args),
	}
	// The flows are passed on as they finish (res.Flows stays empty), each
	// built in the memory of the one before: jsonl writes each, json keeps
	// each encoded, the reports keep copies of what they show. worst is the rank of the most severe
	// diagnosis among the flows passed on, for --fail-on.
	var jl *report.JSONL
	var doc *report.JSONDoc
	var col *report.Collector
	var emit func(*analyze.Flow) error
	worst := 0
	selected := func(add func(*analyze.Flow) error) func(*analyze.Flow) error {
		return func(f *analyze.Flow) error {
			if c.flow != 0 && f.ID != c.flow {
				return nil
			}
			worst = max(worst, f.WorstRank())
			return add(f)
		}
	}
	switch c.format {
	case "json":
		doc = report.NewJSONDoc()
		defer doc.Close()
		emit = selected(doc.Add)
	case "jsonl":
		jl = report.NewJSONL(out)
		emit = selected(jl.Flow)
	default:
		col = report.NewCollector(ropt)
		emit = func(f *analyze.Flow) error {
			worst = max(worst, f.WorstRank())
			return col.Add(f)
		}
	}
	if x != nil {
		inner := emit
		emit = func(f *analyze.Flow) error {
			x.pick(f)
			return inner(f)
		}
	}
	res, code := c.analyze(fs.Args(), stdin, l, emit, &src)
	if res == nil {
		return code
	}

	var err error
	switch c.format {
	case "json":
		err = doc.Write(out, res)
	case "jsonl":
		err = jl.Summary(res)
	case "markdown":
		err = col.Markdown(out, res)
	case "html":
		err = col.HTML(out, res)
	default:
		err = col.Text(out, res)
	}
	if err != nil {
		l.errorf("writing the report: %v", err)
		return exitError
	}
	if x != nil {
		opts, _ := c.captureOptions(stdin)
		n, err := x.write(res.Capture.Files, opts)
		switch {
		case err != nil:
			l.errorf("--extract: %v", err)
			return exitError
		case x.flows == 0 && !c.quiet:
			fmt.Fprintf(l.w, "teardown: --extract: no flow to extract; %s not written\n", c.extract)
		case !c.quiet:
			fmt.Fprintf(l.w, "teardown: wrote %d packets of %d flow%s to %s\n", n, x.flows, plural(x.flows), c.extract)
		}
	}
	if code == exitOK && c.failOn != "" && worst >= analyze.Severity(c.failOn).Rank() {
		return exitFindings
	}
	return code
}

func (c *cli) flags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVarP(&c.format, "format", "f", "text", "")
	fs.StringVarP(&c.output, "output", "o", "", "")
	fs.StringVar(&c.extract, "extract", "", "")
	fs.StringVar(&c.color, "color", "auto", "")
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "")
	fs.IntVar(&c.flow, "flow", 0, "")
	fs.StringVar(&c.only, "only", "", "")
	fs.IntVar(&c.top, "top", 5, "")
	fs.StringVar(&c.since, "since", "", "")
	fs.StringVar(&c.until, "until", "", "")
	fs.IntVar(&c.maxFlows, "max-flows", defaultMaxFlows, "")
	fs.StringVar(&c.failOn, "fail-on", "", "")
	fs.StringVar(&c.sysctl, "sysctl", "", "")
	fs.StringArrayVar(&c.sysctlHosts, "sysctl-host", nil, "")
	fs.UintSliceVar(&c.vxlanPorts, "vxlan-port", nil, "")
	fs.BoolVarP(&c.quiet, "quiet", "q", false, "")
	fs.BoolVar(&c.showVersion, "version", false, "")
	fs.BoolVarP(&c.help, "help", "h", false, "")
	return fs
}

// analyze opens the inputs named in args (files, then an optional filter
// expression) and runs the analysis. A nil result comes with the exit code
// to return; a result with exitError means the input was damaged after
// some of it was analysed (the report is still written).
func (c *cli) analyze(args []string, stdin io.Reader, l *logger, emit func(*analyze.Flow) error, srcp **source) (*analyze.Result, int) {
	files, expr := splitArgs(args)
	if len(files) == 0 {
		l.errorf("no capture file given")
		l.hintf("run 'teardown --help' for usage; use - to read standard input")
		return nil, exitError
	}
	files, err := expandDirs(files)
	if err != nil {
		l.errorf("%v", err)
		return nil, exitError
	}
	sys, err := loadSysctls(c.sysctl, c.sysctlHosts)
	if err != nil {
		l.errorf("%v", err)
		return nil, exitError
	}
	var flt *filter.Filter
	if expr != "" {
		var err error
		if flt, err = filter.Parse(expr); err != nil {
			l.errorf("%v", err)
			if _, serr := os.Stat(files[len(files)-1]); serr == nil && !strings.ContainsAny(expr, " ") {
				l.hintf("%q is neither a file nor a filter expression", expr)
			}
			return nil, exitError
		}
	}
	opts, uerr := c.captureOptions(stdin)
	if uerr != nil {
		return nil, l.bad(uerr)
	}
	src := &source{filter: flt}
	if err := src.window(c.since, c.until); err != nil {
		l.errorf("%v", err)
		return nil, exitError
	}
	opts.StopAfter = src.stopAfter
	rd, err := capture.Open(files, opts)
	if err != nil {
		l.errorf("%v", err)
		return nil, exitError
	}
	defer rd.Close()
	src.files = rd.Info().Files
	// Decoding runs ahead on a CPU of its own (none with GOMAXPROCS=1);
	// rd is the prefetcher's until it stops.
	pf := flows.Prefetch(rd)
	defer pf.Stop()
	src.next = pf
	*srcp = src
	pb := startProgress(l.w, c.quiet, files, rd.BytesRead, src.frame.Load)
	res, err := analyze.Run(src, analyze.Options{MaxFlows: c.maxFlows, Emit: emit, Recycle: emit != nil, Sysctls: sys,
		CaptureEnd: func() int64 { return src.end(rd.Info()) }})
	pb.Stop()
	code := exitOK
	if err != nil {
		l.errorf("%v", err)
		if res == nil {
			return nil, exitError
		}
		code = exitError
	}
	pf.Stop()
	res.Capture = captureInfo(rd.Info())
	if !c.quiet {
		for _, w := range res.Capture.Warnings {
			l.warnf("%s", w)
		}
	}
	return res, code
}

// compressor returns a writer that compresses into w when name ends in
// ".gz" (gzip, fastest level) or ".zst" (zstd, default level); nil
// otherwise.
func compressor(name string, w io.Writer) io.WriteCloser {
	switch {
	case strings.HasSuffix(name, ".gz"):
		z, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level: no error
		return z
	case strings.HasSuffix(name, ".zst"):
		z, _ := zstd.NewWriter(w) // no options: no error
		return z
	}
	return nil
}

type usageError struct{ msg, hint string }

func (l *logger) usage(err error) int {
	l.errorf("%s", strings.TrimPrefix(err.Error(), "teardown: "))
	l.hintf("run 'teardown --help' for usage")
	return exitError
}

func (l *logger) bad(err *usageError) int {
	l.errorf("%s", err.msg)
	if err.hint != "" {
		l.hintf("%s", err.hint)
	}
	return exitError
}

func (c *cli) validate(fs *pflag.FlagSet) *usageError {
	switch c.format {
	case "text", "json", "jsonl", "markdown", "html":
	case "md":
		c.format = "markdown"
	default:
		return &usageError{fmt.Sprintf("unknown format %q", c.format), "formats: text, json, jsonl, markdown, html"}
	}
	switch c.color {
	case "auto", "always", "never":
	default:
		return &usageError{fmt.Sprintf("unknown --color %q", c.color), "use auto, always or never"}
	}
	if fs.Changed("color") && c.format != "text" {
		return &usageError{fmt.Sprintf("--color applies to the text report, not --format %s", c.format), ""}
	}
	switch c.only {
	case "":
		if c.format == "json" || c.format == "jsonl" {
			c.only = "all"
		} else {
			c.only = "anomalies"
		}
	case "anomalies", "all":
	default:
		for _, code := range strings.Split(c.only, ",") {
			if !analyze.IsCode(code) {
				return &usageError{fmt.Sprintf("unknown --only %q", code), "use anomalies, all, or diagnosis codes separated by commas ('teardown explain' lists them)"}
			}
		}
	}
	if c.only != "all" && (c.format == "json" || c.format == "jsonl") && c.extract == "" {
		return &usageError{"--only " + c.only + " applies to text, markdown and html reports and to --extract", "json and jsonl always carry every flow; filter them with jq"}
	}
	switch c.failOn {
	case "", "info", "warning", "error":
	default:
		return &usageError{fmt.Sprintf("unknown --fail-on %q", c.failOn), "use warning or error (or info)"}
	}
	if c.top < 1 {
		return &usageError{"--top must be at least 1", ""}
	}
	if c.maxFlows < 1 {
		return &usageError{"--max-flows must be at least 1", ""}
	}
	if c.flow < 0 {
		return &usageError{"--flow takes a flow id (1 or more)", ""}
	}
	return nil
}

// captureOptions returns the options of the capture reader: standard
// input and the --vxlan-port ports (checked here, for teardown and
// teardown check alike).
func (c *cli) captureOptions(stdin io.Reader) (capture.Options, *usageError) {
	opts := capture.Options{Stdin: stdin}
	for _, p := range c.vxlanPorts {
		if p < 1 || p > 65535 {
			return opts, &usageError{fmt.Sprintf("--vxlan-port %d is not a UDP port", p), "use a port from 1 to 65535, e.g. 8472"}
		}
		opts.VXLANPorts = append(opts.VXLANPorts, uint16(p))
	}
	return opts, nil
}

// splitArgs separates capture files from a trailing filter expression: the
// first argument is always a file; later ones are files while they name an
// existing path or "-", and everything from the first that does not is the
// filter.
func splitArgs(args []string) (files []string, expr string) {
	for i, a := range args {
		if i > 0 && a != "-" {
			if _, err := os.Stat(a); err != nil {
				return files, strings.Join(args[i:], " ")
			}
		}
		files = append(files, a)
	}
	return files, ""
}

// expandDirs replaces each directory among files with the files in it,
// in name order, leaving out hidden ones (".*"): a directory of rotated
// captures, which may hold more files than a command line can name.
func expandDirs(files []string) ([]string, error) {
	var out []string
	for _, name := range files {
		st, err := os.Stat(name)
		if name == "-" || err != nil || !st.IsDir() {
			out = append(out, name) // Open says what is wrong with it
			continue
		}
		ents, err := os.ReadDir(name)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Type().IsRegular() {
				out = append(out, filepath.Join(name, e.Name()))
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: a directory with no files in it", name)
		}
	}
	return out, nil
}

func captureInfo(in capture.Info) analyze.Capture {
	lt := in.LinkTypes
	if lt == nil {
		lt = []string{}
	}
	return analyze.Capture{
		Files: in.Files, Format: in.Format, LinkTypes: lt, Tunnels: in.Tunnels, Tunnelled: in.Tunnelled,
		Packets: in.Packets, TCPPackets: in.TCPPackets, ICMPErrors: in.ICMPErrors, Reassembled: in.Reassembled,
		Skipped:   analyze.Skipped{NonTCP: in.NonTCP, Malformed: in.Malformed, Fragments: in.Fragments},
		Truncated: in.Truncated, First: analyze.Time(in.First), Last: analyze.Time(in.Last), Stopped: analyze.Time(in.Stopped),
		UnreadFrom: analyze.Time(in.Unread),
		Warnings:   in.Warnings, OutOfOrder: in.OutOfOrder,
	}
}

func commandLine(args []string) string {
	parts := []string{"teardown"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$&|;()<>*?[]") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// logger writes age-style diagnostics: "teardown: error: ...".
type logger struct{ w io.Writer }

func (l *logger) errorf(f string, a ...any) { fmt.Fprintf(l.w, "teardown: error: "+f+"\n", a...) }
func (l *logger) hintf(f string, a ...any)  { fmt.Fprintf(l.w, "teardown: hint: "+f+"\n", a...) }
func (l *logger) warnf(f string, a ...any)  { fmt.Fprintf(l.w, "teardown: warning: "+f+"\n", a...) }

// source applies the filter expression and the --since/--until window to
// the capture's segments.
type source struct {
	next         flows.Batcher // the capture's segments, read ahead
	files        []string
	last         uint64 // the frame of the latest segment delivered
	filter       *filter.Filter
	lo, hi       int64 // absolute bounds in unix ns; 0 = none
	relLo, relHi int64 // bounds relative to the first segment, -1 = none
	base         int64
	// frame is the latest frame read, published every 1024 frames (or
	// batch) for the progress bar's goroutine.
	frame atomic.Uint64
}

var _ flows.Batcher = (*source)(nil)

func (s *source) Next() (flows.Segment, error) {
	for {
		seg, err := s.next.Next()
		if err != nil {
			return seg, err
		}
		if seg.Frame&1023 == 0 {
			s.frame.Store(seg.Frame)
		}
		if s.keep(&seg) {
			s.last = seg.Frame
			return seg, nil
		}
	}
}

// NextBatch is Next a batch at a time: the segments kept of the next
// batch read, in the reader's memory.
func (s *source) NextBatch() ([]flows.Segment, error) {
	for {
		segs, err := s.next.NextBatch()
		if err != nil {
			return nil, err
		}
		s.frame.Store(segs[len(segs)-1].Frame)
		n := 0
		for i := range segs {
			if s.keep(&segs[i]) {
				if n != i {
					segs[n] = segs[i]
				}
				n++
			}
		}
		if n > 0 {
			s.last = segs[n-1].Frame
			return segs[:n], nil
		}
	}
}

// keep reports whether seg passes the time window and the filter.
func (s *source) keep(seg *flows.Segment) bool {
	if s.base == 0 {
		s.base = seg.Time
		if s.relLo >= 0 {
			s.lo = s.base + s.relLo
		}
		if s.relHi >= 0 {
			s.hi = s.base + s.relHi
		}
	}
	if s.lo != 0 && seg.Time < s.lo || s.hi != 0 && seg.Time > s.hi {
		return false
	}
	return s.filter == nil || s.filter.Match(seg)
}

// where names the input position for an internal error: the files and
// the frame being filed (frame 0: the last one delivered).
func (s *source) where(frame uint64) string {
	if s == nil {
		return ""
	}
	files := strings.Join(s.files, ", ")
	if frame == 0 {
		frame = s.last
	}
	if frame == 0 {
		return " reading " + files
	}
	return fmt.Sprintf(" at %s frame %d", files, frame)
}
