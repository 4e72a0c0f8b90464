package analyze

import (
	"testing"
)

// TestConnectDelays: the summary gathers syn-retransmitted flows by
// server, with the shortest and longest wait for the SYN-ACK; a flow
// answered at its first SYN adds nothing.
func TestConnectDelays(t *testing.T) {
	conn := func(addr string, retry float64) *wire {
		w := newWire(t)
		client(w, addr)
		syn := w.send(cli, "S", 0)
		if retry > 0 {
			w.again(syn, retry)
		}
		w.send(srv, "S.", 0)
		w.send(cli, ".", 0)
		w.exchange()
		w.fourWay(cli, "F.")
		return w
	}
	res := runOpts(t, mergeWires(conn("198.51.100.11:40000", 1), conn("198.51.100.12:40000", 3), conn("198.51.100.13:40000", 0)), Options{})
	if n := res.Summary.Diagnoses[CodeSynRetransmitted]; n != 2 {
		t.Errorf("%d syn-retransmitted flows, want 2", n)
	}
	d := res.Summary.ConnectDelays
	if len(d) != 1 || d[0].Server != "198.51.100.80:8080" || d[0].Flows != 2 || d[0].DelayMin != 1.001 || d[0].DelayMax != 3.001 {
		t.Errorf("connect delays %+v, want 198.51.100.80:8080: 2 flows, 1.001 s to 3.001 s", d)
	}
	merged := emptySummary()
	merged.Merge(res.Summary)
	merged.Merge(res.Summary)
	if m := merged.ConnectDelays; len(m) != 1 || m[0].Flows != 4 || m[0].DelayMin != 1.001 || m[0].DelayMax != 3.001 {
		t.Errorf("merged twice: %+v", m)
	}
}
