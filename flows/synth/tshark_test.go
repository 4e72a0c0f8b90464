package synth_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teardown/teardown/flows/synth"
)

// These tests run the captures through tshark, an independent decoder,
// and skip when it is not installed.

func tshark(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	cmd := exec.Command(path, append([]string{"-n"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}

// count returns the number of frames of file that match filter.
func count(t *testing.T, file, filter string, opts ...string) int {
	t.Helper()
	args := append([]string{"-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number"}, opts...)
	return len(strings.Fields(tshark(t, args...)))
}

// checksums turns on every checksum check tshark has.
var checksums = []string{
	"-o", "ip.check_checksum:TRUE",
	"-o", "tcp.check_checksum:TRUE",
	"-o", "udp.check_checksum:TRUE",
}

// bad matches what tshark would flag: malformed packets, expert errors
// (bad checksums among them) and bad checksum statuses.
const bad = `_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0`

func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	for _, tc := range []struct {
		name string
		cfg  synth.Config
	}{
		{"pcap", synth.Config{Seed: 11, Conns: 400, Concurrency: 40, Snaplen: 65535, Mix: synth.Mix{
			ClientClose: 3, ServerClose: 3, ThreeWay: 2, Simultaneous: 1, HalfClose: 1, FinRetransmit: 2,
			FinNeverAcked: 1, CloseWait: 1, Reset: 1, Rejected: 1, Open: 1, Reuse: 0.2,
		}}},
		{"pcapng", synth.Config{Seed: 12, Conns: 300, Concurrency: 40, Format: synth.PCAPNG, Nanoseconds: true}},
		{"synflood", synth.Config{Seed: 13, Conns: 50, Mode: synth.SynFlood, Flood: 2000, Snaplen: 65535}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, tr := generate(t, tc.cfg)
			file := filepath.Join(t.TempDir(), "synth."+tc.cfg.Format.String())
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if n := count(t, file, bad, checksums...); n != 0 {
				t.Errorf("tshark flags %d frames (%s)", n, bad)
			}
			got := tsharkCounts(t, file)
			want := map[string]int{
				"frames": tr.Packets, "tcp": tr.TCPPackets, "udp": tr.UDPPackets, "ipv6": tr.IPv6Packets,
				"syn": tr.SYNs, "fin": tr.FINs, "rst": tr.RSTs, "fin-retransmission": tr.FinRetransmissions,
				"conversations": tr.Conns, "streams": tr.Conns,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tshark's counts differ from the truth (-truth +tshark):\n%s", diff)
			}
		})
	}
}

// tsharkCounts decodes file once and counts frames by protocol and TCP
// flag, FIN retransmissions as tshark's own analysis marks them, TCP
// streams, and the conversations of `-z conv,tcp`.
func tsharkCounts(t *testing.T, file string) map[string]int {
	out := tshark(t, "-r", file, "-T", "fields", "-E", "separator=|",
		"-e", "frame.protocols", "-e", "tcp.flags.syn", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset",
		"-e", "tcp.stream", "-e", "_ws.col.Info", "-z", "conv,tcp")
	set := func(v string) bool { return v == "1" || v == "True" }
	c := map[string]int{}
	streams := map[string]bool{}
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "|")
		if len(f) != 6 {
			c["conversations"] += strings.Count(line, "<->")
			continue
		}
		c["frames"]++
		protos := ":" + f[0] + ":"
		for _, p := range []string{"tcp", "udp", "ipv6"} {
			if strings.Contains(protos, ":"+p+":") {
				c[p]++
			}
		}
		for i, name := range []string{"syn", "fin", "rst"} {
			if set(f[1+i]) {
				c[name]++
			}
		}
		if set(f[2]) && strings.Contains(f[5], "TCP Retransmission") {
			c["fin-retransmission"]++
		}
		if f[4] != "" {
			streams[f[4]] = true
		}
	}
	c["streams"] = len(streams)
	return c
}

// TestTsharkSeesBadChecksum makes sure the filter above would catch a
// wrong checksum: one TCP checksum byte is flipped.
func TestTsharkSeesBadChecksum(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	b, _ := generate(t, synth.Config{Seed: 1, Conns: 1, Snaplen: 65535, IPv6Fraction: -1, NonTCPFraction: -1})
	// pcap header 24, record header 16, Ethernet 14, IPv4 20, TCP
	// checksum at 16: the first frame's TCP checksum.
	b[24+16+14+20+16] ^= 0xff
	file := filepath.Join(t.TempDir(), "bad.pcap")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := count(t, file, bad, checksums...); n != 1 {
		t.Errorf("tshark flags %d frames after one checksum was broken, want 1", n)
	}
}
