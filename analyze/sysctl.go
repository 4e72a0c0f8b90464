package analyze

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Sysctls are the kernel settings of the host a capture was taken on,
// read from the output of `sysctl -a` (or `sysctl net.ipv4`). With them
// the diagnoses compare what the capture shows with what the host is set
// to (Diagnosis.Checks), and the summary's limits use the real values.
// The zero value holds no settings.
type Sysctls struct {
	// Source names where the settings came from (the file name), for
	// messages.
	Source string
	// Values maps the settings teardown uses, by full dotted name, to
	// their value with runs of white space folded to one space.
	Values map[string]string
	// Hosts are the addresses of the host the settings were read on.
	// Empty means every host in the capture is taken to share them (a
	// fleet with one configuration); set it when the capture holds other
	// hosts whose settings may differ.
	Hosts []netip.Addr
}

// ErrSysctlSyntax is wrapped by every error of [ParseSysctls] about a
// malformed line.
var ErrSysctlSyntax = errors.New("analyze: malformed sysctl line")

// sysctlKinds are the settings teardown reads, each with the shape of its
// value: the number of integers it holds. Other keys are ignored.
var sysctlKinds = map[string]int{
	SysOrphanRetries:                 1,
	SysRetries2:                      1,
	SysMaxOrphans:                    1,
	SysMem:                           3,
	SysFinTimeout:                    1,
	SysMaxTwBuckets:                  1,
	SysTwReuse:                       1,
	SysTwReuseDelay:                  1,
	SysTimestamps:                    1,
	SysRFC1337:                       1,
	SysTwRecycle:                     1,
	SysAbortOnOverflow:               1,
	SysKeepaliveTime:                 1,
	SysKeepaliveIntvl:                1,
	SysKeepaliveProbes:               1,
	SysLocalPortRange:                2,
	SysEarlyRetrans:                  1,
	"net.ipv4.tcp_rto_min_us":        1,
	"net.ipv4.tcp_rto_max_ms":        1,
	SysRetries1:                      1,
	SysMTUProbing:                    1,
	SysNoPMTUDisc:                    1,
	"net.ipv4.tcp_syn_retries":       1,
	"net.ipv4.tcp_invalid_ratelimit": 1,
	"net.core.somaxconn":             1,
}

// ParseSysctls reads `sysctl -a` output: one "key = value" per line (the
// sysctl.conf forms "key=value" and slash-separated keys are accepted
// too). Blank lines, comments (# or ;) and sysctl's own complaints
// ("sysctl: permission denied on key ...", when standard error was
// captured too) are skipped; keys teardown does not use are ignored. A
// line that is not a setting, or a setting teardown uses whose value is
// not what the kernel prints, is an error naming name and the line.
func ParseSysctls(r io.Reader, name string) (Sysctls, error) {
	out := Sysctls{Source: name, Values: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n, settings := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || strings.HasPrefix(line, "sysctl: ") {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("%s:%d: %q: %s: %w", name, n, clip(line), why, ErrSysctlSyntax)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Sysctls{}, bad("want KEY = VALUE")
		}
		k = strings.ReplaceAll(strings.TrimSpace(k), "/", ".")
		if k == "" || strings.ContainsAny(k, " \t") {
			return Sysctls{}, bad("want KEY = VALUE")
		}
		settings++
		want, known := sysctlKinds[k]
		if !known {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != want {
			return Sysctls{}, bad(fmt.Sprintf("%s takes %d integer(s)", k, want))
		}
		for _, f := range fields {
			if _, err := strconv.ParseInt(f, 10, 64); err != nil {
				return Sysctls{}, bad(fmt.Sprintf("%s takes %d integer(s)", k, want))
			}
		}
		out.Values[k] = strings.Join(fields, " ")
	}
	if err := sc.Err(); err != nil {
		return Sysctls{}, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	if settings == 0 {
		return Sysctls{}, fmt.Errorf("%s: no settings in it (want the output of sysctl -a): %w", name, ErrSysctlSyntax)
	}
	return out, nil
}

// clip shortens a line for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// Empty reports whether s holds no settings.
func (s Sysctls) Empty() bool { return len(s.Values) == 0 }

// Has reports whether s has a value for key.
func (s Sysctls) Has(key string) bool {
	_, ok := s.Values[key]
	return ok
}

// Ints returns key's integers.
func (s Sysctls) Ints(key string) ([]int64, bool) {
	v, ok := s.Values[key]
	if !ok {
		return nil, false
	}
	var out []int64
	for _, f := range strings.Fields(v) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// Int returns key's value when it is one integer.
func (s Sysctls) Int(key string) (int64, bool) {
	v, ok := s.Ints(key)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// For reports whether the settings describe the host with address host
// (an IP address as text).
func (s Sysctls) For(host string) bool {
	if s.Empty() {
		return false
	}
	if len(s.Hosts) == 0 {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && s.forAddr(a)
}

// forAddr is For of an address; the zero Addr stands for text that is
// no address.
func (s Sysctls) forAddr(a netip.Addr) bool {
	if s.Empty() {
		return false
	}
	if len(s.Hosts) == 0 {
		return true
	}
	return a.IsValid() && slices.ContainsFunc(s.Hosts, func(h netip.Addr) bool { return h.Unmap() == a.Unmap() })
}

// source names the settings in messages.
func (s Sysctls) source() string {
	if s.Source == "" {
		return "the host's settings"
	}
	return s.Source
}
