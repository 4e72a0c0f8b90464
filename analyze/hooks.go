package analyze

// Hooks for the diagnosis rules and the capture-wide summary. Both are
// deliberately small: the rules and the full summary replace them.

// diagnose returns the diagnoses for flow f. The story s carries the
// evidence the Flow does not print: the connection's per-direction
// evidence (s.conn.Dir: RST and FIN marks, zero-window episodes,
// keepalives, ISNs, timestamps), each side's FIN transmissions and
// acknowledgement marks (s.sides), the RST that ended the flow with its
// sender's and receiver's states (s.rst), the RSTs a client sent from
// SYN_SENT (s.synSentRSTs) and the previous incarnation (s.prev).
//
// The rules are in rules*.go.
func diagnose(c *ruleCtx, f *Flow, s *story, w *WireFacts) []Diagnosis {
	return runRules(c, f, s, w)
}

// summarizer accumulates the capture-wide summary as flows finish. Every
// count it keeps must merge across shards by addition.
type summarizer interface {
	Add(*Flow)
	Summary() *Summary
}

// newSummarizer returns the summary builder Run uses: it also runs the
// rules that compare flows with one another or with the host's settings
// (opts.Sysctls) before counting each flow (summary.go).
func newSummarizer(opts Options) summarizer { return newSummaryBuilder(opts.Sysctls) }
