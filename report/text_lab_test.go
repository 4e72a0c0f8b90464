package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows/capture"
)

// labResult analyses one of the real-kernel captures under
// ../testdata/lab the way the command does, with the file named by its
// base name so the goldens do not depend on the working directory.
func labResult(t *testing.T, name string) *analyze.Result {
	t.Helper()
	return labResultWith(t, name, analyze.Options{})
}

// labResultWith is labResult with the analysis options o (the host's
// settings).
func labResultWith(t *testing.T, name string, o analyze.Options) *analyze.Result {
	t.Helper()
	res := analyseFiles(t, []string{filepath.Join("..", "testdata", "lab", name)}, o)
	res.Capture.Files = []string{name}
	return res
}

// analyseFiles analyses the captures files together.
func analyseFiles(t *testing.T, files []string, o analyze.Options) *analyze.Result {
	t.Helper()
	rd, err := capture.Open(files, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	o.CaptureEnd = func() int64 { return rd.Info().End() }
	res, err := analyze.Run(rd, o)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	in := rd.Info()
	res.Capture = analyze.Capture{
		Files: in.Files, Format: in.Format, LinkTypes: in.LinkTypes,
		Packets: in.Packets, TCPPackets: in.TCPPackets, Reassembled: in.Reassembled,
		Skipped:   analyze.Skipped{NonTCP: in.NonTCP, Malformed: in.Malformed, Fragments: in.Fragments},
		Truncated: in.Truncated, First: analyze.Time(in.First), Last: analyze.Time(in.Last), Stopped: analyze.Time(in.Stopped),
		Warnings: in.Warnings,
	}
	return res
}

// TestLab renders real captures from the lab: a FIN retransmitted after
// a tail-loss probe, crossed FINs, a client reusing its own TIME_WAIT,
// a capture taken 40 ms (round trip) from the client, and FINs crossing
// on a 40 ms path.
// These goldens change whenever analyze changes what it concludes; after
// go test ./report -update, read them.
func TestLab(t *testing.T) {
	for _, name := range []string{"fin-retransmitted.pcap", "simultaneous-close.pcap", "tw-reuse-ephemeral.pcap", "path-delay.pcap", "simultaneous-close-delay.pcap"} {
		t.Run(name, func(t *testing.T) {
			res := labResult(t, name)
			o := Options{Only: "all", Verbose: true, Command: "teardown --only all -f markdown " + name}
			golden(t, t.Name()+"/text", []byte(render(t, res, o)))
			golden(t, t.Name()+"/markdown", []byte(renderMarkdown(t, res, o)))
			var js strings.Builder
			if err := JSON(&js, res); err != nil {
				t.Fatal(err)
			}
			golden(t, t.Name()+"/json", []byte(js.String()))
		})
	}
}

// TestLabSummary renders lab captures whose summary says more than any
// one flow: 240 concurrent connections closing at once, four ways (text
// and Markdown), an orphaned FIN_WAIT2 that expired, with the
// client's settings as the lab set them (tcp_fin_timeout = 2 on
// 198.51.100.10) to compare with (Markdown), a client pool holding
// CLOSE_WAIT, and two orphans reset for lack of orphan slots. After go
// test ./report -update, read them.
func TestLabSummary(t *testing.T) {
	t.Run("many-connections.pcapng", func(t *testing.T) {
		res := labResult(t, "many-connections.pcapng")
		o := Options{Command: "teardown -f markdown many-connections.pcapng"}
		golden(t, t.Name()+"/text", []byte(render(t, res, o)))
		golden(t, t.Name()+"/markdown", []byte(renderMarkdown(t, res, o)))
	})
	t.Run("fin-wait-2-timeout.pcap", func(t *testing.T) {
		sys, err := analyze.ParseSysctls(strings.NewReader("net.ipv4.tcp_fin_timeout = 2\n"), "client.conf")
		if err != nil {
			t.Fatal(err)
		}
		sys.Hosts = []netip.Addr{netip.MustParseAddr("198.51.100.10")}
		res := labResultWith(t, "fin-wait-2-timeout.pcap", analyze.Options{Sysctls: sys})
		o := Options{Command: "teardown -f markdown --sysctl client.conf --sysctl-host 198.51.100.10 fin-wait-2-timeout.pcap"}
		golden(t, t.Name()+"/markdown", []byte(renderMarkdown(t, res, o)))
	})
	t.Run("close-wait-pool.pcapng", func(t *testing.T) {
		// A client pool that keeps three of the four connections its
		// server closed: the clients' CLOSE_WAIT entry, and the recorded
		// stop (dumpcap) the open states run to.
		res := labResult(t, "close-wait-pool.pcapng")
		golden(t, t.Name()+"/text", []byte(render(t, res, Options{})))
	})
	t.Run("orphan-limit-reset.pcap", func(t *testing.T) {
		// Two orphans reset with tcp_max_orphans = 0 set host-wide: the
		// text as an incident capture would give it, the Markdown with
		// that setting to compare with.
		res := labResult(t, "orphan-limit-reset.pcap")
		golden(t, t.Name()+"/text", []byte(render(t, res, Options{})))
		sys, err := analyze.ParseSysctls(strings.NewReader("net.ipv4.tcp_max_orphans = 0\n"), "host.conf")
		if err != nil {
			t.Fatal(err)
		}
		res = labResultWith(t, "orphan-limit-reset.pcap", analyze.Options{Sysctls: sys})
		o := Options{Command: "teardown -f markdown --sysctl host.conf orphan-limit-reset.pcap"}
		golden(t, t.Name()+"/markdown", []byte(renderMarkdown(t, res, o)))
	})
}

// TestNoAnomaly: a capture whose flows show no anomaly says so, in words
// that hold for flows that never closed too.
func TestNoAnomaly(t *testing.T) {
	text := render(t, labResult(t, "client-active-close.pcap"), Options{})
	want := "anomalies · none of 1 flow\n  no connection shows an anomaly; --only all lists them\n"
	if !strings.Contains(text, want) {
		t.Errorf("report lacks %q:\n%s", want, text)
	}
}

// TestLabNAT: the router's tcpdump -i any that recorded each packet before
// and after its NAT: the text names the copy's other flow and the lag,
// and the JSON links them.
func TestLabNAT(t *testing.T) {
	res := labResult(t, "capture-twice-nat.pcap")
	out := render(t, res, Options{Only: "all", Verbose: true})
	flat := strings.Join(strings.Fields(out), " ") // lines wrapped
	for _, want := range []string{
		"1 flow holds a connection another flow holds too, captured on both sides of an address translation",
		"nat: the same connection as flow 1, captured ",
		"µs later with both sides' addresses or ports rewritten (source and destination NAT)",
		"#2 19:31:19.704 four_way 198.51.100.65:51928 → 198.51.100.80:8080 flow 1's connection, seen after NAT",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the text lacks %q:\n%s", want, out)
		}
	}
	if md := renderMarkdown(t, res, Options{Only: "all"}); !strings.Contains(md, "| 198.51.100.65:51928 → 198.51.100.80:8080 | flow 1's connection, seen after NAT |") {
		t.Errorf("the Markdown list does not name flow 1:\n%s", md)
	}
	var page strings.Builder
	if err := HTML(&page, res, Options{Only: "all"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "198.51.100.65:51928 → 198.51.100.80:8080</td><td><div>flow 1&#39;s connection, seen after NAT</div></td>") {
		t.Errorf("the HTML list does not name flow 1")
	}
	var js strings.Builder
	if err := JSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Flows []struct {
			ID  int `json:"id"`
			NAT *struct {
				Of        int     `json:"of"`
				Lag       float64 `json:"lag"`
				Rewritten string  `json:"rewritten"`
			} `json:"nat"`
		} `json:"flows"`
	}
	if err := json.Unmarshal([]byte(js.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Flows) != 2 || doc.Flows[0].NAT != nil || doc.Flows[1].NAT == nil {
		t.Fatalf("flows %+v: want the second linked", doc.Flows)
	}
	if v := doc.Flows[1].NAT; v.Of != doc.Flows[0].ID || v.Lag <= 0 || v.Lag >= 0.001 || v.Rewritten != "both" {
		t.Errorf("link %+v, want of %d, a lag under a millisecond, both rewritten", *v, doc.Flows[0].ID)
	}
}

// TestLabNATOneSide: with br_netfilter on, the NAT host's bridge records
// the server's segments translated halfway: the default report lists no
// anomaly (that flow is half a story), and the list of every flow says
// whose connection it holds.
func TestLabNATOneSide(t *testing.T) {
	res := labResult(t, "capture-twice-nat-brnf.pcap")
	if out := render(t, res, Options{}); !strings.Contains(out, "anomalies · none of 3 flows") {
		t.Errorf("the default report lists anomalies:\n%s", out)
	}
	out := strings.Join(strings.Fields(render(t, res, Options{Only: "all"})), " ")
	for _, want := range []string{
		"2 flows hold a connection another flow holds too",
		"198.51.100.10:52640 → 198.51.100.80:8080 the server's segments of flow 2's connection, translated halfway",
		"198.51.100.65:52640 → 198.51.100.80:8080 flow 1's connection, seen after NAT",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the list of every flow lacks %q:\n%s", want, out)
		}
	}
}

// TestSynProbeReport: the lab's SYN scan lists no anomaly by default,
// and with --only all tells each probe's reset for what it is.
func TestSynProbeReport(t *testing.T) {
	res := labResult(t, "syn-probe.pcap")
	if text := render(t, res, Options{}); !strings.Contains(text, "anomalies · none of 2 flows") || !strings.Contains(text, "● syn-probe") {
		t.Errorf("default report:\n%s", text)
	}
	text := render(t, res, Options{Only: "all", Verbose: true})
	for _, want := range []string{"RST by the client's kernel at #3: its SYN came from no connect()", "the server refused it (frame 5"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "connect() had already given up") {
		t.Errorf("a probe told as a connect() that gave up:\n%s", text)
	}
}

// TestLabFragments: the header of a capture whose segments a router
// fragmented (ip-fragments) counts those that came in fragments, as the
// Markdown report's opening does, and the JSON holds the count.
func TestLabFragments(t *testing.T) {
	res := labResult(t, "ip-fragments.pcap")
	c := res.Capture
	if c.Reassembled == 0 || c.Skipped.Fragments == 0 {
		t.Fatalf("reassembled %d, fragments %d: want both", c.Reassembled, c.Skipped.Fragments)
	}
	if want := fmt.Sprintf("%d TCP (%d from IP fragments)", c.TCPPackets, c.Reassembled); !strings.Contains(render(t, res, Options{}), want) {
		t.Errorf("the text report does not say %q", want)
	}
	if want := fmt.Sprintf("%d TCP segments came in IP fragments, reassembled.", c.Reassembled); !strings.Contains(renderMarkdown(t, res, Options{}), want) {
		t.Errorf("the Markdown report does not say %q", want)
	}
	var js strings.Builder
	if err := JSON(&js, res); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"reassembled": %d,`, c.Reassembled); !strings.Contains(js.String(), want) {
		t.Errorf("the JSON has no %s", want)
	}
}
