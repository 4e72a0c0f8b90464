package report

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/teardown/teardown/analyze"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
)

// TestDisplayFilterMatchesTshark runs each flow's display filter through
// tshark on real lab captures — IPv4 and IPv6, a tunnel, two incarnations
// of one 4-tuple, ICMP errors from a router — and compares the frames it
// selects with the frames teardown's own reader files under the flow's
// 4-tuple within its first and last frame. Across two files the filter
// bounds the time, and each file is filtered on its own, as Wireshark
// numbers each file's frames. Skipped without tshark and in -short mode.
func TestDisplayFilterMatchesTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed")
	}
	lab := filepath.Join("..", "testdata", "lab")
	match := func(file, filter string) []uint64 {
		out, err := exec.Command(tshark, "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatalf("tshark -Y %q: %v", filter, err)
		}
		var frames []uint64
		for _, l := range strings.Fields(string(out)) {
			n, _ := strconv.ParseUint(l, 10, 64)
			frames = append(frames, n)
		}
		return frames
	}
	for _, name := range []string{
		"client-active-close.pcap", "client-active-close-v6.pcap", "client-active-close-vxlan.pcap",
		"tw-reuse-bind.pcap", "syn-rejected-icmp-router-v6.pcap", "pmtu-black-hole-host-firewall.pcap",
	} {
		file := filepath.Join(lab, name)
		res := analyseFiles(t, []string{file}, analyze.Options{})
		segs := readSegments(t, file)
		for _, f := range res.Flows {
			df := displayFilter(f, true)
			want := flowFrames(segs, f)
			if got := match(file, df); !slices.Equal(got, want) {
				t.Errorf("%s flow %d: %s\n selects %v, want %v", name, f.ID, df, got, want)
			}
		}
	}

	// Two files: each flow's time bounds select its frames in its own
	// file and none in the other.
	files := []string{filepath.Join(lab, "fin-retransmitted-ack-lost.pcap"), filepath.Join(lab, "fin-retransmitted-ack-lost-v6.pcap")}
	res := analyseFiles(t, files, analyze.Options{})
	if len(res.Flows) != 2 {
		t.Fatalf("%d flows from two files, want 2", len(res.Flows))
	}
	for _, f := range res.Flows {
		df := displayFilter(f, false)
		if strings.Contains(df, "frame.number") {
			t.Errorf("flow %d: %s: frame numbers across files", f.ID, df)
		}
		var got []int
		for _, file := range files {
			got = append(got, len(match(file, df)))
		}
		own := 0
		if strings.Contains(f.Client, "[") {
			own = 1
		}
		if got[own] != 12 || got[1-own] != 0 {
			t.Errorf("flow %d: %s\n selects %v frames in the two files, want 12 in file %d only", f.ID, df, got, own)
		}
	}
}

// readSegments decodes a capture with teardown's reader.
func readSegments(t *testing.T, file string) []flows.Segment {
	t.Helper()
	rd, err := capture.Open([]string{file}, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var segs []flows.Segment
	for {
		s, err := rd.Next()
		if err != nil {
			break
		}
		segs = append(segs, s)
	}
	return segs
}

// flowFrames are the frames of segs between f's first and last frame
// that its 4-tuple names, either way (ICMP errors by the segment they
// quote).
func flowFrames(segs []flows.Segment, f *analyze.Flow) []uint64 {
	c, s := netip.MustParseAddrPort(f.Client), netip.MustParseAddrPort(f.Server)
	var out []uint64
	for _, g := range segs {
		if g.Frame < f.FirstFrame || g.Frame > f.LastFrame {
			continue
		}
		if g.Src == c && g.Dst == s || g.Src == s && g.Dst == c {
			out = append(out, g.Frame)
		}
	}
	return out
}
