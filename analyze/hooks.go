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
// No rules exist yet: it returns nil.
func diagnose(f *Flow, s *story) []Diagnosis {
	_, _ = f, s
	return nil
}

// summarizer accumulates the capture-wide summary as flows finish. Every
// count it keeps must merge across shards by addition.
type summarizer interface {
	Add(*Flow)
	Summary() *Summary
}

// newSummarizer returns the summary builder Run uses.
func newSummarizer() summarizer { return &countSummary{} }

// countSummary counts flows by close kind, final state and diagnosis code.
type countSummary struct{ s Summary }

func (c *countSummary) Add(f *Flow) {
	s := &c.s
	if s.CloseKinds == nil {
		s.CloseKinds, s.FinalStates, s.Diagnoses = map[string]int{}, map[string]int{}, map[string]int{}
	}
	s.Flows++
	s.CloseKinds[string(f.Close.Kind)]++
	for _, sd := range []*Side{f.Sides.Client, f.Sides.Server} {
		if sd != nil {
			s.FinalStates[sd.FinalState.String()]++
		}
	}
	for _, d := range f.Diagnoses {
		s.Diagnoses[d.Code]++
	}
}

func (c *countSummary) Summary() *Summary {
	s := c.s
	if s.CloseKinds == nil {
		s.CloseKinds, s.FinalStates, s.Diagnoses = map[string]int{}, map[string]int{}, map[string]int{}
	}
	return &s
}
