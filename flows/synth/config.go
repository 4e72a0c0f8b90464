package synth

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Format is the capture file format [Generate] writes.
type Format uint8

// Capture formats. The zero value is PCAP.
const (
	// PCAP is the classic libpcap format (microsecond timestamps, or
	// nanosecond ones with [Config.Nanoseconds]).
	PCAP Format = iota
	// PCAPNG is pcapng: one section, one Ethernet interface, enhanced
	// packet blocks.
	PCAPNG
)

var formatNames = []string{PCAP: "pcap", PCAPNG: "pcapng"}

// String returns "pcap" or "pcapng".
func (f Format) String() string { return name(formatNames, "Format", f) }

// ParseFormat returns the format named by s ("pcap" or "pcapng").
func ParseFormat(s string) (Format, error) { return parse[Format](formatNames, "format", s) }

// Mode selects the adversarial traffic [Generate] adds to the background
// connections.
type Mode uint8

// Modes. The zero value is Normal.
const (
	// Normal writes the background connections only.
	Normal Mode = iota
	// SynFlood adds [Config.Flood] SYN-only connections, each on its own
	// 4-tuple, from spoofed sources to one server.
	SynFlood
	// FinStorm adds one connection whose client FIN is transmitted
	// [Config.Storm] times, 1 ms apart, and never acknowledged.
	FinStorm
)

var modeNames = []string{Normal: "normal", SynFlood: "synflood", FinStorm: "finstorm"}

// String returns "normal", "synflood" or "finstorm".
func (m Mode) String() string { return name(modeNames, "Mode", m) }

// ParseMode returns the mode named by s.
func ParseMode(s string) (Mode, error) { return parse[Mode](modeNames, "mode", s) }

func name[E ~uint8](names []string, typ string, e E) string {
	if int(e) < len(names) {
		return names[e]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(e))
}

func parse[E ~uint8](names []string, what, s string) (E, error) {
	if i := slices.Index(names, s); i >= 0 {
		return E(i), nil
	}
	return 0, fmt.Errorf("synth: unknown %s %q (want %s)", what, s, strings.Join(names, ", "))
}

// Mix weighs the close scenarios of the background connections. Weights
// are relative (they need not sum to 1). The close kind each scenario
// produces, in DESIGN.md's vocabulary, is given beside it. The zero Mix
// means [DefaultMix].
type Mix struct {
	ClientClose   float64 // four_way, the client's FIN first
	ServerClose   float64 // four_way, the server's FIN first
	ThreeWay      float64 // three_way, either side first
	Simultaneous  float64 // simultaneous
	HalfClose     float64 // four_way with data from the passive side after the active FIN
	FinRetransmit float64 // four_way, the active FIN retransmitted (TLP, then RTO backoff) before its ACK
	FinNeverAcked float64 // half_closed_at_end: the FIN retransmitted until the orphan gives up
	CloseWait     float64 // half_closed_at_end: the FIN is ACKed, the passive side never closes
	Reset         float64 // reset: [R.] from either side instead of a FIN
	Rejected      float64 // rejected: SYN answered by RST
	Open          float64 // open_at_end: no FIN or RST

	// Reuse is the probability, not a weight, that a connection that
	// leaves exactly one side in TIME_WAIT (four_way and three_way closes)
	// is followed by a new connection on the same 4-tuple within 60 s of
	// that TIME_WAIT.
	Reuse float64
}

// DefaultMix is the mix the zero [Mix] stands for.
var DefaultMix = Mix{
	ClientClose:   30,
	ServerClose:   25,
	ThreeWay:      18,
	Simultaneous:  1,
	HalfClose:     3,
	FinRetransmit: 4,
	FinNeverAcked: 1,
	CloseWait:     2,
	Reset:         9,
	Rejected:      2,
	Open:          5,
	Reuse:         0.03,
}

// weights returns the scenario weights in scenario order.
func (m Mix) weights() [numScenarios]float64 {
	return [numScenarios]float64{
		scClientClose:   m.ClientClose,
		scServerClose:   m.ServerClose,
		scThreeWay:      m.ThreeWay,
		scSimultaneous:  m.Simultaneous,
		scHalfClose:     m.HalfClose,
		scFinRetransmit: m.FinRetransmit,
		scFinNeverAcked: m.FinNeverAcked,
		scCloseWait:     m.CloseWait,
		scReset:         m.Reset,
		scRejected:      m.Rejected,
		scOpen:          m.Open,
	}
}

// Config says what to generate. The zero value of every field but Seed,
// Conns and Packets stands for the default given beside it.
type Config struct {
	// Seed selects the capture: the same Config writes the same bytes.
	Seed int64

	// Conns, when positive, is the number of background connections
	// (TIME_WAIT reuses included).
	Conns int
	// Packets, when Conns is zero, is the approximate number of background
	// frames (non-TCP noise included). Connections stop starting once
	// their planned packets reach it; those already started finish.
	Packets int

	// Concurrency is the mean number of connections between their first
	// and last packet once the capture has ramped up. Default 1000.
	Concurrency int
	// Lifetime is the mean idle time of a connection: the sum of its think
	// times between exchanges and before its close. Default 5 s.
	Lifetime time.Duration

	// IPv6Fraction is the share of connections over IPv6. Zero means 0.1;
	// a negative value means none.
	IPv6Fraction float64
	// NonTCPFraction is the share of frames that are UDP noise. Zero means
	// 0.005; a negative value means none.
	NonTCPFraction float64

	// Mix weighs the close scenarios. The zero Mix means DefaultMix.
	Mix Mix

	// Format is the file format. The zero value is PCAP.
	Format Format
	// Nanoseconds writes nanosecond timestamps (pcap magic 0xa1b23c4d,
	// pcapng if_tsresol 9). Times are always whole microseconds otherwise.
	Nanoseconds bool
	// Snaplen is how many bytes of each frame are written. Default 96,
	// which holds every header; 65535 writes whole frames.
	Snaplen int
	// Start is the time of the first packet. Default 2024-01-01 00:00 UTC.
	Start time.Time

	// Mode adds adversarial traffic.
	Mode Mode
	// Flood is the number of SYN-only connections in SynFlood mode.
	// Default 1,000,000.
	Flood int
	// FloodRate is the SYN flood's rate in SYNs per second. Default 100,000.
	FloodRate float64
	// Storm is the number of FIN transmissions in FinStorm mode.
	// Default 100,000.
	Storm int
}

// Defaults of the Config fields whose zero value stands for a default.
const (
	DefaultConcurrency    = 1000
	DefaultLifetime       = 5 * time.Second
	DefaultIPv6Fraction   = 0.1
	DefaultNonTCPFraction = 0.005
	DefaultSnaplen        = 96
	DefaultFlood          = 1_000_000
	DefaultFloodRate      = 100_000
	DefaultStorm          = 100_000
	// MaxSnaplen is the largest Snaplen accepted.
	MaxSnaplen = 262144
)

// DefaultStart is the time of the first packet when Config.Start is zero.
var DefaultStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrConfig is wrapped by every error Generate returns for a bad Config.
var ErrConfig = errors.New("synth: bad config")

// Validate reports what is wrong with c, if anything, with an error
// wrapping [ErrConfig]: the error [Generate] would return before writing
// a byte.
func (c Config) Validate() error {
	_, err := c.resolved()
	return err
}

// resolved returns c with every default filled in, or an error wrapping
// ErrConfig.
func (c Config) resolved() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	if c.Conns < 0 || c.Packets < 0 || c.Concurrency < 0 || c.Flood < 0 || c.Storm < 0 {
		return bad("Conns, Packets, Concurrency, Flood and Storm must not be negative")
	}
	if c.Mode == Normal && c.Conns == 0 && c.Packets == 0 {
		return bad("set Conns or Packets")
	}
	if c.Mode > FinStorm {
		return bad("unknown mode %d", uint8(c.Mode))
	}
	if c.Format > PCAPNG {
		return bad("unknown format %d", uint8(c.Format))
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Lifetime < 0 {
		return bad("Lifetime must not be negative")
	}
	if c.Lifetime == 0 {
		c.Lifetime = DefaultLifetime
	}
	fraction := func(p *float64, def float64, name string) error {
		switch {
		case math.IsNaN(*p) || *p > 1:
			return fmt.Errorf("%w: %s must be at most 1", ErrConfig, name)
		case *p == 0:
			*p = def
		case *p < 0:
			*p = 0
		}
		return nil
	}
	if err := fraction(&c.IPv6Fraction, DefaultIPv6Fraction, "IPv6Fraction"); err != nil {
		return c, err
	}
	if err := fraction(&c.NonTCPFraction, DefaultNonTCPFraction, "NonTCPFraction"); err != nil {
		return c, err
	}
	if c.NonTCPFraction >= 1 {
		return bad("NonTCPFraction must be below 1")
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	var sum float64
	for _, w := range c.Mix.weights() {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return bad("Mix weights must be finite and not negative")
		}
		sum += w
	}
	if sum == 0 {
		return bad("Mix has no scenario with a positive weight")
	}
	if !(c.Mix.Reuse >= 0 && c.Mix.Reuse <= 1) {
		return bad("Mix.Reuse must be between 0 and 1")
	}
	if c.Snaplen < 0 || c.Snaplen > MaxSnaplen {
		return bad("Snaplen must be between 0 and %d", MaxSnaplen)
	}
	if c.Snaplen == 0 {
		c.Snaplen = DefaultSnaplen
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Flood == 0 {
		c.Flood = DefaultFlood
	}
	if c.FloodRate < 0 || math.IsNaN(c.FloodRate) || math.IsInf(c.FloodRate, 0) {
		return bad("FloodRate must be finite and not negative")
	}
	if c.FloodRate == 0 {
		c.FloodRate = DefaultFloodRate
	}
	if c.Storm == 0 {
		c.Storm = DefaultStorm
	}
	return c, nil
}
