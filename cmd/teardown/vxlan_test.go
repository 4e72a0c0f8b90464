package main

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// TestVXLANPort moves the lab's VXLAN capture from UDP port 4789 to 8472,
// Linux's default, and checks that teardown sees no TCP in it, and with
// --vxlan-port 8472 the analysis of the capture as it was.
func TestVXLANPort(t *testing.T) {
	data := lab(t, "client-active-close-vxlan.pcap")
	offs := pcapRecords(t, data)
	moved := 0
	for i := 0; i+1 < len(offs); i++ {
		// 16-byte record header, Ethernet, a 20-byte IPv4 header, UDP
		udp := data[offs[i]+16+14+20:]
		for _, at := range []int{0, 2} {
			if binary.BigEndian.Uint16(udp[at:]) == 4789 {
				binary.BigEndian.PutUint16(udp[at:], 8472)
				moved++
			}
		}
	}
	if moved != len(offs)-1 {
		t.Fatalf("%d ports of %d frames moved", moved, len(offs)-1)
	}
	file := write(t, "vxlan-8472.pcap", data)
	want := jsonRun(t, 0, nil, "-q", write(t, "vxlan-4789.pcap", lab(t, "client-active-close-vxlan.pcap")))
	plain := jsonRun(t, 0, nil, "-q", file)
	if n := captureField(plain, "tcp_packets").(float64); n != 0 {
		t.Errorf("without --vxlan-port, %v TCP segments on port 8472", n)
	}
	if w := fmt.Sprint(captureField(plain, "warnings")); !strings.Contains(w, "13 datagrams to or from UDP port 8472") || !strings.Contains(w, "--vxlan-port 8472") {
		t.Errorf("without --vxlan-port, the warnings do not point at it: %s", w)
	}
	o := teardown(t, nil, file)
	if !strings.Contains(o.stderr, "teardown: warning: ") || !strings.Contains(o.stderr, "--vxlan-port 8472") {
		t.Errorf("without --vxlan-port, standard error does not point at it:\n%s", o.stderr)
	}
	got := jsonRun(t, 0, nil, "-q", "--vxlan-port", "8472", file)
	sameAnalysis(t, want, got)
	if o := teardown(t, nil, "--vxlan-port", "8472", file); !strings.Contains(o.stdout, "11 TCP in VXLAN") || o.stderr != "" {
		t.Errorf("the text report does not say where the segments came from, or standard error is not empty:\n%s\n%s", o.stdout, o.stderr)
	}
}
