package analyze

import "github.com/teardown/teardown/flows"

// zeroWindows returns the zero-window episodes h advertised that the
// connection kept.
func zeroWindows(h *flows.Half) []flows.ZeroWindow {
	if h.Episodes == nil {
		return nil
	}
	return h.Episodes[:min(h.ZeroWindows, flows.MaxZeroWindows)]
}
