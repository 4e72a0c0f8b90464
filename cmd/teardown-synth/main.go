// Command teardown-synth writes a synthetic tcpdump capture of many
// interleaved TCP connections and prints what is in it (its truth) as
// JSON, for tests and benchmarks of teardown.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/teardown/teardown/flows/synth"
)

const usage = `Usage:
    teardown-synth -o FILE [--packets N | --conns N] [options]

Writes a deterministic synthetic capture (Ethernet, TCP over IPv4 and
IPv6, a little UDP) and prints its truth as JSON on standard output: the
number of packets and connections, connections by close kind (four_way,
three_way, simultaneous, reset, half_closed_at_end, open_at_end,
rejected), FIN retransmissions, TIME_WAIT reuses.

Options:
    -o, --output FILE       Write the capture to FILE ("-" for standard
                            output, which needs --truth).
        --truth FILE        Write the truth to FILE instead of standard output.
    -n, --packets N         About N background packets (default 1000000;
                            0 in the synflood and finstorm modes).
        --conns N           Exactly N background connections instead.
    -s, --seed N            Seed: the same options write the same bytes.
        --format F          pcap (default) or pcapng.
        --nanoseconds       Nanosecond timestamps.
        --snaplen N         Bytes kept of each frame (default 96: headers only).
        --concurrency N     Mean open connections (default 1000).
        --lifetime D        Mean idle time of a connection (default 5s).
        --ipv6 F            Share of connections over IPv6 (default 0.1).
        --non-tcp F         Share of frames that are UDP (default 0.005).
        --mix K=W,...       Change close-scenario weights (client-close,
                            server-close, three-way, simultaneous, half-close,
                            fin-retransmit, fin-never-acked, close-wait,
                            reset, rejected, open) or reuse, the chance that
                            a closed 4-tuple is reused inside TIME_WAIT.
        --start TIME        Time of the first packet (RFC 3339).
        --mode M            normal (default), synflood or finstorm.
        --flood N           SYN-only connections in synflood mode (default 1000000).
        --flood-rate R      SYNs per second of the flood (default 100000).
        --storm N           FIN transmissions in finstorm mode (default 100000).
    -h, --help              Show this help.

Exit status: 0 on success, 2 on a usage or I/O error.

Example:
    $ teardown-synth -o big.pcap --packets 10000000 --seed 1 --concurrency 20000
    $ teardown-synth -o flood.pcapng --format pcapng --mode synflood
    $ teardown-synth -o - --truth truth.json --conns 1000 | teardown -`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// usageError is a bad command line: reported with the usage hint.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) int {
	err := generate(args, stdout)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "teardown-synth: error: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.hint != "" {
			fmt.Fprintf(stderr, "teardown-synth: hint: %s\n", ue.hint)
		} else {
			fmt.Fprintln(stderr, "teardown-synth: hint: see teardown-synth --help")
		}
	}
	return 2
}

func generate(args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("teardown-synth", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		cfg                   synth.Config
		output, truthPath     string
		format, mode, mix, at string
		ipv6, nonTCP          float64
	)
	fs.StringVarP(&output, "output", "o", "", "")
	fs.StringVar(&truthPath, "truth", "", "")
	fs.IntVarP(&cfg.Packets, "packets", "n", 1_000_000, "")
	fs.IntVar(&cfg.Conns, "conns", 0, "")
	fs.Int64VarP(&cfg.Seed, "seed", "s", 0, "")
	fs.StringVar(&format, "format", "pcap", "")
	fs.BoolVar(&cfg.Nanoseconds, "nanoseconds", false, "")
	fs.IntVar(&cfg.Snaplen, "snaplen", synth.DefaultSnaplen, "")
	fs.IntVar(&cfg.Concurrency, "concurrency", synth.DefaultConcurrency, "")
	fs.DurationVar(&cfg.Lifetime, "lifetime", synth.DefaultLifetime, "")
	fs.Float64Var(&ipv6, "ipv6", synth.DefaultIPv6Fraction, "")
	fs.Float64Var(&nonTCP, "non-tcp", synth.DefaultNonTCPFraction, "")
	fs.StringVar(&mix, "mix", "", "")
	fs.StringVar(&at, "start", "", "")
	fs.StringVar(&mode, "mode", "normal", "")
	fs.IntVar(&cfg.Flood, "flood", synth.DefaultFlood, "")
	fs.Float64Var(&cfg.FloodRate, "flood-rate", synth.DefaultFloodRate, "")
	fs.IntVar(&cfg.Storm, "storm", synth.DefaultStorm, "")
	fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if help, _ := fs.GetBool("help"); help {
		return pflag.ErrHelp
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if output == "" {
		return &usageError{msg: "no output file", hint: "name one with -o FILE"}
	}
	if output == "-" && truthPath == "" {
		return &usageError{msg: "-o - writes the capture to standard output, where the truth would go", hint: "add --truth FILE"}
	}

	var err error
	if cfg.Format, err = synth.ParseFormat(format); err != nil {
		return &usageError{msg: err.Error()}
	}
	if cfg.Mode, err = synth.ParseMode(mode); err != nil {
		return &usageError{msg: err.Error()}
	}
	if cfg.Mode != synth.Normal && !fs.Changed("packets") && !fs.Changed("conns") {
		cfg.Packets = 0 // the adversarial traffic alone
	}
	if fs.Changed("conns") {
		if cfg.Conns <= 0 {
			return &usageError{msg: "--conns must be positive"}
		}
		cfg.Packets = 0
	}
	// On the command line 0 means none; in a Config, a negative value does.
	cfg.IPv6Fraction, cfg.NonTCPFraction = none(ipv6), none(nonTCP)
	if cfg.Mix, err = parseMix(mix); err != nil {
		return &usageError{msg: err.Error()}
	}
	if at != "" {
		if cfg.Start, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return &usageError{msg: fmt.Sprintf("--start: %v", err)}
		}
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}

	truth, err := write(output, stdout, cfg)
	if err != nil {
		return err
	}
	return writeTruth(truthPath, stdout, truth)
}

// writeTruth writes the truth as indented JSON to the file named path, or
// to stdout when path is empty.
func writeTruth(path string, stdout io.Writer, truth synth.Truth) error {
	b, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// write generates the capture into the file named output ("-" for
// stdout); a failed run leaves no file behind.
func write(output string, stdout io.Writer, cfg synth.Config) (synth.Truth, error) {
	if output == "-" {
		return synth.Generate(stdout, cfg)
	}
	f, err := os.Create(output)
	if err != nil {
		return synth.Truth{}, err
	}
	truth, err := synth.Generate(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(output)
		return truth, fmt.Errorf("%s: %w", output, err)
	}
	return truth, nil
}

func none(f float64) float64 {
	if f == 0 {
		return -1
	}
	return f
}

// parseMix applies "name=weight,..." to synth.DefaultMix.
func parseMix(s string) (synth.Mix, error) {
	m := synth.DefaultMix
	if s == "" {
		return m, nil
	}
	fields := map[string]*float64{
		"client-close": &m.ClientClose, "server-close": &m.ServerClose, "three-way": &m.ThreeWay,
		"simultaneous": &m.Simultaneous, "half-close": &m.HalfClose, "fin-retransmit": &m.FinRetransmit,
		"fin-never-acked": &m.FinNeverAcked, "close-wait": &m.CloseWait, "reset": &m.Reset,
		"rejected": &m.Rejected, "open": &m.Open, "reuse": &m.Reuse,
	}
	for item := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(item, "=")
		p := fields[strings.TrimSpace(k)]
		if !ok || p == nil {
			return m, fmt.Errorf("--mix: %q is not NAME=WEIGHT with a NAME from --help", item)
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return m, fmt.Errorf("--mix: %q: %v", item, err)
		}
		*p = w
	}
	return m, nil
}
