package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/teardown/teardown/analyze"
)

const explainUsage = `Usage:
    teardown explain [CODE]

Prints what a diagnosis code means: the wire pattern, the sysctl or socket
option that governs it with its default and what raising or lowering it
does, and how to confirm it on the host. Without CODE, lists every code.
`

func runExplain(args []string, stdout io.Writer, l *logger) int {
	switch {
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help"):
		fmt.Fprint(stdout, explainUsage)
		return exitOK
	case len(args) > 1:
		return l.bad(&usageError{"explain takes at most one code", "run 'teardown explain' to list the codes"})
	}
	code := ""
	if len(args) == 1 {
		code = args[0]
	}
	if err := analyze.Explain(stdout, code); err != nil {
		l.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// loadSysctls reads --sysctl FILE, applying it to the --sysctl-host
// addresses (every host when none is given).
func loadSysctls(path string, hosts []string) (analyze.Sysctls, error) {
	if path == "" {
		if len(hosts) > 0 {
			return analyze.Sysctls{}, fmt.Errorf("--sysctl-host needs --sysctl FILE")
		}
		return analyze.Sysctls{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return analyze.Sysctls{}, err
	}
	defer f.Close()
	s, err := analyze.ParseSysctls(f, path)
	if err != nil {
		return s, err
	}
	for _, h := range hosts {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return s, fmt.Errorf("--sysctl-host %q: not an IP address", h)
		}
		s.Hosts = append(s.Hosts, a)
	}
	return s, nil
}
