package main

import (
	"fmt"
	"io"
	"os"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/report"
)

const checkUsage = `Usage:
    teardown check --baseline FILE [flags] CAPTURE... [FILTER]

Analyses the captures and compares the result with FILE: either a saved
'teardown --format json' output (every flow must match and no flow may be
added) or a hand-written expectations file listing partial flows and
capture-wide limits; keys the baseline omits are not compared. FILE may be
compressed as a capture may (gzip, zstd, xz, bzip2).

An expectations file:
    {
      "flows": [
        {"client": "198.51.100.10:47022", "server": "198.51.100.80:8080",
         "close": {"kind": "four_way", "initiator": "client"},
         "diagnoses": []}
      ],
      "limits": {
        "forbid_diagnoses": ["fin-never-acked"],
        "max_diagnoses": {"fin-retransmitted": 3},
        "max_severity": "warning",
        "forbid_close_kinds": ["reset"],
        "forbid_final_states": ["CLOSE_WAIT"],
        "min_reuse_gap": 1.0,
        "max_fin_retransmissions": 2
      }
    }

Flows are matched by client, server and incarnation (1 when omitted);
diagnoses compare as a set: exactly those listed may fire.

Flags:
    -b, --baseline FILE   the baseline or expectations file (required)
    --since, --until, --max-flows, --vxlan-port, -q   as for teardown

Exit status: 0 when the capture matches, 1 when it does not (each
difference is printed), 2 on a usage or input error.
`

func runCheck(args []string, stdin io.Reader, stdout io.Writer, l *logger, srcp **source) int {
	var c cli
	var baseline string
	fs := c.flags("teardown check")
	fs.StringVarP(&baseline, "baseline", "b", "", "")
	if err := fs.Parse(args); err != nil {
		return l.usage(err)
	}
	if c.help {
		fmt.Fprint(stdout, checkUsage)
		return exitOK
	}
	for _, f := range []string{"format", "output", "color", "verbose", "flow", "only", "top", "fail-on"} {
		if fs.Changed(f) {
			return l.bad(&usageError{"check does not take --" + f, "run 'teardown check --help' for usage"})
		}
	}
	if baseline == "" {
		return l.bad(&usageError{"check needs --baseline FILE", "save one with: teardown --format json CAPTURE > baseline.json"})
	}
	f, err := os.Open(baseline)
	if err != nil {
		l.errorf("%v", err)
		return exitError
	}
	// A saved report may be kept compressed, as captures are.
	in, _, done, err := capture.Decompress(f)
	var base *analyze.Baseline
	if err == nil {
		base, err = analyze.ReadBaseline(in, baseline)
		done()
	} else {
		err = fmt.Errorf("%s: %w", baseline, err)
	}
	f.Close()
	if err != nil {
		l.errorf("%v", err)
		return exitError
	}
	defer base.Close()
	// Each flow is compared as it finishes, and not kept.
	chk := analyze.NewChecker(base)
	chk.Encode = report.AppendFlow
	res, code := c.analyze(fs.Args(), stdin, l, chk.Add, srcp)
	if res == nil || code != exitOK {
		if code == exitOK {
			code = exitError
		}
		return code
	}
	diffs := chk.Mismatches()
	flowsDiffering := 0
	last := "\x00"
	for _, d := range diffs {
		if d.Flow != last {
			last = d.Flow
			switch {
			case d.Flow == "":
				fmt.Fprintln(stdout, "limits")
			case d.ID != 0:
				flowsDiffering++
				fmt.Fprintf(stdout, "flow %s (id %d)\n", d.Flow, d.ID)
			default:
				flowsDiffering++
				fmt.Fprintf(stdout, "flow %s\n", d.Flow)
			}
		}
		fmt.Fprintf(stdout, "  %s\n", d.What)
	}
	if len(diffs) == 0 {
		n := res.Summary.Flows
		fmt.Fprintf(stdout, "check: ok: %d flow%s match %s\n", n, plural(n), baseline)
		return exitOK
	}
	fmt.Fprintf(stdout, "check: %d difference%s in %d flow%s against %s\n", len(diffs), plural(len(diffs)), flowsDiffering, plural(flowsDiffering), baseline)
	return exitFindings
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
