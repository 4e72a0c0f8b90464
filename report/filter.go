package report

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// displayFilter is a Wireshark (tshark -Y) display filter for flow f's
// packets: both addresses and both ports (an ICMP error quoting one of
// its segments matches too), and its frames when the capture is one
// file, whose frame numbers are Wireshark's; across several files it
// bounds the time instead, since Wireshark numbers each file's frames on
// its own. "" when an endpoint does not parse.
func displayFilter(f *analyze.Flow, oneFile bool) string {
	c, err1 := netip.ParseAddrPort(f.Client)
	s, err2 := netip.ParseAddrPort(f.Server)
	if err1 != nil || err2 != nil {
		return ""
	}
	field := "ip.addr"
	if c.Addr().Is6() {
		field = "ipv6.addr"
	}
	var terms []string
	for _, a := range uniq(c.Addr().String(), s.Addr().String()) {
		terms = append(terms, field+"=="+a)
	}
	for _, p := range uniq(fmt.Sprint(c.Port()), fmt.Sprint(s.Port())) {
		terms = append(terms, "tcp.port=="+p)
	}
	if oneFile {
		terms = append(terms, fmt.Sprintf("frame.number>=%d && frame.number<=%d", f.FirstFrame, f.LastFrame))
	} else {
		terms = append(terms, "frame.time_epoch>="+epoch(f.Start)+" && frame.time_epoch<="+epoch(f.End))
	}
	return strings.Join(terms, " && ")
}

// uniq is a and b, or a alone when they are equal.
func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// epoch renders t as seconds since the Unix epoch with its nanoseconds.
func epoch(t analyze.Time) string {
	n := int64(t)
	return fmt.Sprintf("%d.%09d", n/1e9, n%1e9)
}
