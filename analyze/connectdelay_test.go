package analyze

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows/testenv"
)

// TestConnectDelays: the summary gathers syn-retransmitted flows by
// server, with the shortest and longest wait for the SYN-ACK, and counts
// the server's flows whose listener showed a full accept queue; a flow
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
	// A listener that ignored a handshake ACK (accept-queue-full) on the
	// same server, and on another one.
	queueFull := func(addr, server string) *wire {
		w := newWire(t)
		client(w, addr)
		if server != "" {
			w.addr[srv] = netip.MustParseAddrPort(server)
		}
		w.send(cli, "S", 0)
		w.send(srv, "S.", 0)
		w.send(cli, ".", 0)
		w.again(2, 1)
		w.send(cli, ".", 0)
		w.exchange()
		w.fourWay(cli, "F.")
		return w
	}
	res := runOpts(t, mergeWires(conn("198.51.100.11:40000", 1), conn("198.51.100.12:40000", 3), conn("198.51.100.13:40000", 0),
		queueFull("198.51.100.14:40000", ""), queueFull("198.51.100.15:40000", "198.51.100.81:8080")), Options{})
	if n := res.Summary.Diagnoses[CodeAcceptQueueFull]; n != 2 {
		t.Fatalf("%d accept-queue-full flows, want 2", n)
	}
	if n := res.Summary.Diagnoses[CodeSynRetransmitted]; n != 2 {
		t.Errorf("%d syn-retransmitted flows, want 2", n)
	}
	d := res.Summary.ConnectDelays
	want := []ConnectDelayLoad{
		{Server: "198.51.100.80:8080", Flows: 2, DelayMin: 1.001, DelayMax: 3.001, QueueFull: 1},
		{Server: "198.51.100.81:8080", QueueFull: 1},
	}
	if !slices.Equal(d, want) {
		t.Errorf("connect delays %+v, want %+v", d, want)
	}
	merged := emptySummary()
	merged.Merge(res.Summary)
	merged.Merge(res.Summary)
	merged.derive()
	for i := range want {
		want[i].Flows *= 2
		want[i].QueueFull *= 2
	}
	if m := merged.ConnectDelays; !slices.Equal(m, want) {
		t.Errorf("merged twice: %+v, want %+v", m, want)
	}
}

// TestSynDroppedConntrackFull: the lab's router with a full conntrack
// table dropped a SYN and its first retransmission: syn-retransmitted,
// whose message names the table among what drops SYNs on the path, and
// the two SYNs 1 s apart (tcp_syn_linear_timeouts).
func TestSynDroppedConntrackFull(t *testing.T) {
	res := runLab(t, filepath.Join(testenv.Lab(t), "syn-dropped-conntrack-full.pcap"), Options{})
	if len(res.Flows) != 2 {
		t.Fatalf("%d flows, want 2", len(res.Flows))
	}
	f := res.Flows[1]
	d := find(t, f, CodeSynRetransmitted)
	for _, s := range []string{"only at its 3rd transmission", "sent again at +1.0s, +2.0s", "net.netfilter.nf_conntrack_max", "table full"} {
		if !strings.Contains(d.Message, s) {
			t.Errorf("syn-retransmitted lacks %q:\n%s", s, d.Message)
		}
	}
	if r, _ := ruleInfo(CodeSynRetransmitted); !slices.Contains(r.Also, SysCtMax) {
		t.Errorf("syn-retransmitted's rule names %v, not %s", r.Also, SysCtMax)
	}
}
