package filter_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/filter"
)

// accepted lists expressions the filter takes, with their canonical form.
var accepted = []struct{ expr, canon string }{
	{"", ""},
	{"   ", ""},
	{"host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16",
		"host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16"},

	// host and direction qualifiers
	{"host 10.0.0.7", "host 10.0.0.7"},
	{"src host 10.0.0.7", "src host 10.0.0.7"},
	{"dst 10.0.0.7", "dst host 10.0.0.7"},
	{"src or dst host 10.0.0.7", "host 10.0.0.7"},
	{"dst or src 10.0.0.7", "host 10.0.0.7"},
	{"src and dst host 10.0.0.7", "src and dst host 10.0.0.7"},
	{"dst and src 10.0.0.7", "src and dst host 10.0.0.7"},
	{"host 010.1.1.1", "host 10.1.1.1"},   // dotted parts are decimal
	{"host 167772161", "host 10.0.0.1"},   // a number is a 32-bit address
	{"host 0x0a000001", "host 10.0.0.1"},  // in hex too
	{"host 10.1", "net 10.1.0.0/16"},      // short dotted: the parts given
	{"ip host 10.0.0.7", "host 10.0.0.7"}, // ip is implied by the address
	{"host ::1", "host ::1"},
	{"ip6 src host 2001:db8::1", "src host 2001:db8::1"},
	{"host ::ffff:10.0.0.1", "host ::ffff:10.0.0.1"},
	{"host 2001:db8::/128", "host 2001:db8::"},

	// net
	{"net 10.0.0.0/8", "net 10.0.0.0/8"},
	{"net 10.0.0.0 mask 255.0.0.0", "net 10.0.0.0/8"},
	{"net 10.0 mask 255.255", "net 10.0.0.0/16"},
	{"net 10.0.0.0 mask 255.0.255.0", "net 10.0.0.0 mask 255.0.255.0"},
	{"net 10.0", "net 10.0.0.0/16"},
	{"net 172.16.5", "net 172.16.5.0/24"},
	{"net 10", "net 10.0.0.0/8"},       // a number drops its leading zero bytes
	{"net 0x0a00", "net 10.0.0.0/16"},  // 0x00000a00 → 10.0.0.0/16
	{"net 0", "host 0.0.0.0"},          // nothing to drop
	{"net 10.1.2.3", "host 10.1.2.3"},  // four parts: a host
	{"net 0.0.0.0/0", "net 0.0.0.0/0"}, //
	{"ip net 192.168.0.0/16", "net 192.168.0.0/16"},
	{"src net 2001:db8::/32", "src net 2001:db8::/32"},
	{"ip6 dst net fe80::/10", "dst net fe80::/10"},
	{"net ::/0", "net ::/0"},
	{"net 2001:db8::1", "host 2001:db8::1"},

	// ports
	{"port 80", "port 80"},
	{"tcp port 80", "port 80"},
	{"src port 80", "src port 80"},
	{"tcp dst port 443", "dst port 443"},
	{"src and dst port 80", "src and dst port 80"},
	{"port 0x50", "port 80"},
	{"port 010", "port 8"}, // a leading 0 is octal
	{"port http", "port 80"},
	{"port ssh or https or domain", "port 22 or port 443 or port 53"},
	{"tcp dst port ftp or ftp-data or domain", "dst port 21 or dst port 20 or dst port 53"},
	{"portrange 8000-8100", "portrange 8000-8100"},
	{"portrange 8100-8000", "portrange 8000-8100"},
	{"portrange 80", "port 80"},
	{"portrange 80-80", "port 80"},
	{"portrange http-https", "portrange 80-443"},
	{"portrange 20-ftp", "portrange 20-21"},
	{"src portrange 0-1023", "src portrange 0-1023"},

	// protocols
	{"tcp", "tcp"},
	{"ip", "ip"},
	{"ip6", "ip6"},
	{"ip6 and port 22", "ip6 and port 22"},

	// precedence: not binds tightest, and and or are equal and left-associative
	{"port 1 or port 2 and port 3", "(port 1 or port 2) and port 3"},
	{"port 1 and port 2 or port 3", "(port 1 and port 2) or port 3"},
	{"port 1 or (port 2 and port 3)", "port 1 or (port 2 and port 3)"},
	{"port 1 and port 2 and port 3", "port 1 and port 2 and port 3"},
	{"port 1 and (port 2 and port 3)", "port 1 and (port 2 and port 3)"},
	{"not port 1 and port 2", "not port 1 and port 2"},
	{"not (port 1 and port 2)", "not (port 1 and port 2)"},
	{"not not ip", "not not ip"},
	{"! port 1 && port 2 || port 3", "(not port 1 and port 2) or port 3"},
	{"!port 1&&port 2||port 3", "(not port 1 and port 2) or port 3"},
	{"((port 1))", "port 1"},

	// repetition of qualifiers
	{"host 10.0.0.1 or 10.0.0.2", "host 10.0.0.1 or host 10.0.0.2"},
	{"host 10.0.0.1 or 10.0.0.2 or 10.0.0.3", "host 10.0.0.1 or host 10.0.0.2 or host 10.0.0.3"},
	{"src port 80 or 443", "src port 80 or src port 443"},
	{"not host 10.0.0.1 and 10.0.0.2", "not host 10.0.0.1 and host 10.0.0.2"},
	{"host 10.0.0.1 and not 10.0.0.2", "host 10.0.0.1 and not host 10.0.0.2"},
	{"host 10.0.0.1 and not not 10.0.0.2", "host 10.0.0.1 and not not host 10.0.0.2"},
	{"net 10 or 11", "net 10.0.0.0/8 or net 11.0.0.0/8"},
	{"net 10.0.0.0/8 or 11.0.0.0/8", "net 10.0.0.0/8 or net 11.0.0.0/8"},
	{"net 10.0.0.0 mask 255.0.0.0 or 11.0.0.0 mask 255.255.0.0", "net 10.0.0.0/8 or net 11.0.0.0/16"},
	{"ip6 host ::1 or ::2", "host ::1 or host ::2"},
	{"dst portrange 1-2 or 5-6", "dst portrange 1-2 or dst portrange 5-6"},
	{"host 10.0.0.1 and (10.0.0.2 or 10.0.0.3)", "host 10.0.0.1 and (host 10.0.0.2 or host 10.0.0.3)"},
	{"port 80 and ((81) or 82)", "port 80 and (port 81 or port 82)"},
	{"port 80 and (((81)))", "port 80 and port 81"},
	{"port 80 and (81 or not 82)", "port 80 and (port 81 or not port 82)"},
	{"host not 10.0.0.1", "not host 10.0.0.1"},
	{"port (80 or 443)", "port 80 or port 443"},
	// a parenthesized group leaves the qualifiers in force before it
	{"host 10.0.0.1 and (port 80 or 81) or 10.0.0.2", "(host 10.0.0.1 and (port 80 or port 81)) or host 10.0.0.2"},
	{"host 10.0.0.1 or (tcp) and 10.0.0.2", "(host 10.0.0.1 or tcp) and host 10.0.0.2"},
}

func TestParseAccepts(t *testing.T) {
	for _, tt := range accepted {
		f, err := filter.Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		if got := f.String(); got != tt.canon {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.expr, got, tt.canon)
		}
	}
}

// TestCanonicalRoundTrip checks that the canonical form reads back to
// itself and matches exactly the segments the original matches.
func TestCanonicalRoundTrip(t *testing.T) {
	segs := sampleSegments()
	for _, tt := range accepted {
		f, err := filter.Parse(tt.expr)
		if err != nil {
			continue // reported by TestParseAccepts
		}
		g, err := filter.Parse(f.String())
		if err != nil {
			t.Errorf("canonical form %q of %q does not parse: %v", f.String(), tt.expr, err)
			continue
		}
		if g.String() != f.String() {
			t.Errorf("canonical form %q reads back as %q", f.String(), g.String())
		}
		for i := range segs {
			if f.Match(&segs[i]) != g.Match(&segs[i]) {
				t.Errorf("%q and its canonical form %q disagree on %v > %v", tt.expr, f.String(), segs[i].Src, segs[i].Dst)
			}
		}
	}
}

// rejected lists expressions the filter refuses: where its error points and
// what it says, and whether tcpdump refuses them too ("") or accepts them
// because they are outside the subset ("outside"); "varies" marks those
// whose fate in tcpdump depends on the machine's name databases.
var rejected = []struct {
	expr    string
	pos     int    // byte offset of the token
	token   string // "" at the end
	msg     string // a part of the message
	tcpdump string
}{
	// outside the subset, pointed at the token
	{"tcp[13] & 2 != 0", 3, "[", "header byte", "outside"},
	{"ether host 00:11:22:33:44:55", 0, "ether", "link-layer", "outside"},
	{"host 10.0.0.1 and ether src 00:11:22:33:44:55", 18, "ether", "link-layer", "outside"},
	{"greater 100", 0, "greater", "length", "outside"},
	{"less 64 or port 80", 0, "less", "length", "outside"},
	{"vlan and host 10.0.0.1", 0, "vlan", "encapsulation", "outside"},
	{"port 80 and vlan 100", 12, "vlan", "encapsulation", "outside"},
	{"udp port 53", 0, "udp", "only TCP", "outside"},
	{"icmp", 0, "icmp", "only TCP", "outside"},
	{"ip proto 6", 3, "proto", "protocol numbers", "outside"},
	{"ip broadcast", 3, "broadcast", "not supported", "varies"},
	{"gateway snark", 0, "gateway", "not supported", "varies"},
	{"len >= 100", 0, "len", "length", "outside"},
	{"ip6 and ip6[6] == 6", 11, "[", "header byte", "outside"},
	{"port 80 and 1 = 1", 14, "=", "arithmetic", "outside"},
	{"host 00:11:22:33:44:55", 5, "00:11:22:33:44:55", "Ethernet", ""},
	{"host 10.0.0.1 and fred", 18, "fred", "host names", "varies"},

	// names are not looked up
	{"host example.com", 5, "example.com", "host names", "varies"},
	{"net loopnet", 4, "loopnet", "network names", "varies"},
	{"host \\1.2.3.4", 5, "\\1.2.3.4", "host names", "outside"},
	{"port gopher-plus", 5, "gopher-plus", "unknown port name", "varies"},

	// grammar
	{"HOST 10.0.0.1", 0, "HOST", "expected host, net", ""},
	{"10.0.0.1", 0, "10.0.0.1", "qualifier", ""},
	{"port", 4, "", "expected a port", ""},
	{"host", 4, "", "expected an address", ""},
	{"net", 3, "", "expected a network", ""},
	{"portrange", 9, "", "expected a port range", ""},
	{"not", 3, "", "expected host, net", ""},
	{"host 10.0.0.1 and", 17, "", "expected host, net", ""},
	{"()", 1, ")", "expected host, net", ""},
	{"(host 10.0.0.1", 14, "", "closing parenthesis", ""},
	{"host 10.0.0.1)", 13, ")", "closes nothing", ""},
	{"host 10.0.0.1 10.0.0.2", 14, "10.0.0.2", "expected and, or", ""},
	{"host 10.0.0.1 port 80", 14, "port", "expected and, or", ""},
	{"(port 80 port 81)", 9, "port", "closing parenthesis", ""},
	{"src or host 10.0.0.1", 7, "host", "expected dst", ""},
	{"dst and port 80", 8, "port", "expected src", ""},
	{"tcp 80", 4, "80", "expected and, or", ""},
	{"ip and 10.0.0.1", 7, "10.0.0.1", "qualifier", ""},
	{"tcp or 80", 7, "80", "qualifier", ""},
	{"(host 10.0.0.1) or 10.0.0.2", 19, "10.0.0.2", "qualifier", ""},
	{"not (port 80) or 81", 17, "81", "qualifier", ""},
	{"host 10.0.0.1 and (10.0.0.2 or host 10.0.0.3)", 31, "host", "expected an address", ""},
	{"port 80 and (((81) or 82))", 19, "or", "expected )", ""},
	{"host 10.0.0.1 and ((10.0.0.2))", 20, "10.0.0.2", "only a number", ""},
	{"net 10/8", 6, "/", "expected and, or", ""}, // a prefix needs a dotted address
	{"net 10.0.0.0/", 13, "", "prefix length", ""},
	{"net 10.0.0.0 mask", 17, "", "netmask", ""},
	{"net 10.0.0.0 mask 8", 18, "8", "netmask", ""},

	// values
	{"port 08", 5, "08", "octal", ""},
	{"port 65536", 5, "65536", "at most 65535", ""},
	{"port 99999999999", 5, "99999999999", "32 bits", ""},
	{"portrange 0-65536", 10, "0-65536", "at most 65535", ""},
	{"portrange 1-2-3", 10, "1-2-3", "unknown port \"2-3\"", "outside"},
	{"portrange http", 10, "http", "two ports", ""},
	{"portrange ftp-data", 10, "ftp-data", "unknown port \"data\"", ""},
	{"port 10.0.0.1", 5, "10.0.0.1", "port was expected", ""},
	{"port ::1", 5, "::1", "port was expected", ""},
	{"port 80 and (10.0.0.1)", 13, "10.0.0.1", "port was expected", ""},
	{"host 256.0.0.1", 5, "256.0.0.1", "at most 255", ""},
	{"host 0x1.2.3.4", 5, "0x1.2.3.4", "decimal", ""},
	{"host 10.0.0.0/8", 5, "10.0.0.0", "needs net", ""},
	{"src 10.0.0.0/8", 4, "10.0.0.0", "needs net", ""},
	{"host 10.0.0.0 mask 255.0.0.0", 5, "10.0.0.0", "needs net", ""},
	{"net 10.0.0.1/8", 4, "10.0.0.1", "outside", ""},
	{"net 10.0.0.1 mask 255.0.0.0", 4, "10.0.0.1", "outside", ""},
	{"net 1.2.3.4/33", 12, "33", "at most 32", ""},
	{"host 2001:db8::/32", 5, "2001:db8::", "needs net", ""},
	{"net 2001:db8::1/32", 4, "2001:db8::1", "outside", ""},
	{"net ::/129", 7, "129", "at most 128", ""},
	{"host 1::2::3", 5, "1::2::", "not a valid address", ""},
	{"ip6 host 10.0.0.1", 9, "10.0.0.1", "ip6 in front of an IPv4", ""},
	{"ip host ::1", 8, "::1", "ip in front of an IPv6", ""},
	{"ip host 10.0.0.1 or ::1", 20, "::1", "ip in front of an IPv6", ""},
	{"tcp host 10.0.0.1", 9, "10.0.0.1", "tcp qualifies ports", ""},
	{"tcp src 10.0.0.1", 8, "10.0.0.1", "tcp qualifies ports", ""},
	{"ip port 80", 8, "80", "ip and ip6 qualify addresses", ""},
	{"ip6 portrange 1-2", 14, "1-2", "ip and ip6 qualify addresses", ""},
	{"host 10.0.0.1 and pört 80", 18, "p", "host names", "varies"},
	{"port 80 %", 8, "%", "arithmetic", ""},
	{"port 80 @", 8, "@", "does not know", ""},
}

func TestParseRejects(t *testing.T) {
	for _, tt := range rejected {
		f, err := filter.Parse(tt.expr)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", tt.expr, f.String())
			continue
		}
		var se *filter.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error %v is a %T, want *filter.SyntaxError", tt.expr, err, err)
			continue
		}
		if se.Pos != tt.pos || se.Token != tt.token || !strings.Contains(se.Msg, tt.msg) || se.Expr != tt.expr {
			t.Errorf("Parse(%q):\n got pos %d token %q msg %q\nwant pos %d token %q msg containing %q",
				tt.expr, se.Pos, se.Token, se.Msg, tt.pos, tt.token, tt.msg)
		}
		if tt.token != "" && !strings.HasPrefix(tt.expr[se.Pos:], se.Token) {
			t.Errorf("Parse(%q): Expr[Pos:] does not start with Token %q", tt.expr, se.Token)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error is not one line: %q", tt.expr, err)
		}
	}
}

func TestSyntaxErrorText(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"host 10.0.0.7 and foo(1)",
			`filter: unexpected "foo" at column 19 (host names are not looked up; give an address)`},
		{"vlan",
			`filter: unexpected "vlan" at column 1 (encapsulation primitives are not supported: the filter sees the TCP segment inside; ` +
				`the filter understands host, net, port, portrange, src, dst, ip, ip6, tcp, and, or, not, parentheses)`},
		{"port 80 and",
			`filter: unexpected end of expression at column 12 (expected host, net, port, portrange, src, dst, ip, ip6, tcp, not or ()`},
	}
	for _, tt := range tests {
		_, err := filter.Parse(tt.expr)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) error:\n got %v\nwant %s", tt.expr, err, tt.want)
		}
	}
}

func seg(src, dst string) flows.Segment {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return flows.Segment{Src: s, Dst: d, IPv6: s.Addr().Is6()}
}

func TestMatch(t *testing.T) {
	out := seg("10.0.0.7:51000", "192.168.1.10:443")       // a client in 10/8 to a web server
	back := seg("192.168.1.10:443", "10.0.0.7:51000")      // the reply
	alt := seg("10.9.1.2:8080", "10.0.0.7:22")             // src in 10.9/16
	v6 := seg("[2001:db8::1]:40000", "[2001:db8:1::2]:80") // IPv6
	mapped := seg("[::ffff:10.0.0.7]:1", "[::1]:2")        // IPv6 carrying a mapped address
	tests := []struct {
		expr string
		seg  flows.Segment
		want bool
	}{
		{"", out, true},
		{"tcp", v6, true},
		{"ip", out, true},
		{"ip", v6, false},
		{"ip6", v6, true},
		{"ip6", out, false},

		{"host 10.0.0.7", out, true},
		{"host 10.0.0.7", back, true},
		{"host 10.0.0.8", out, false},
		{"src host 10.0.0.7", out, true},
		{"src host 10.0.0.7", back, false},
		{"dst host 10.0.0.7", back, true},
		{"src and dst host 10.0.0.7", out, false},
		{"src and dst net 10.0.0.0/8", alt, true},
		{"src and dst net 10.0.0.0/8", out, false},
		{"host 10.0.0.7", mapped, false}, // an IPv6 segment is not an IPv4 host
		{"host ::ffff:10.0.0.7", mapped, true},
		{"host ::ffff:10.0.0.7", out, false},

		{"net 10.0.0.0/8", back, true},
		{"src net 10.0.0.0/8", back, false},
		{"net 10.9.0.0/16", alt, true},
		{"net 10.9.0.0/16", out, false},
		{"net 10.9", alt, true},
		{"net 10", out, true},
		{"net 11", out, false},
		{"host 192.168", out, true}, // 192.168.0.0/16, as tcpdump reads it
		{"net 192.168.0.0 mask 255.255.0.255", out, false},
		{"net 192.0.0.10 mask 255.0.0.255", out, true},
		{"net 0.0.0.0/0", out, true},
		{"net 0.0.0.0/0", v6, false},
		{"net 2001:db8::/32", v6, true},
		{"net 2001:db8::/48", v6, true}, // src 2001:db8::1 is inside
		{"dst net 2001:db8::/48", v6, false},
		{"dst net 2001:db8:1::/48", v6, true},
		{"net 2001:db8::/32", out, false},
		{"net ::/0", v6, true},
		{"host 2001:db8::1", v6, true},
		{"host 2001:db8::2", v6, false},
		{"net 2001:db8:0:0:8000::/65", v6, false}, // the 65th bit decides
		{"net 2001:db8::/65", v6, true},

		{"port 443", out, true},
		{"port 443", back, true},
		{"src port 443", out, false},
		{"dst port 443", out, true},
		{"port https", out, true},
		{"src and dst port 443", out, false},
		{"portrange 400-500", out, true},
		{"portrange 444-500", out, false},
		{"portrange 50000-51000", out, true}, // inclusive upper bound
		{"portrange 51000-52000", out, true}, // inclusive lower bound
		{"src portrange 8000-8100", alt, true},
		{"dst portrange 8000-8100", alt, false},

		// tcpdump's precedence: (port 1 or port 2) and port 3, not the C reading
		{"port 443 or port 1 and port 2", out, false},
		{"port 1 and port 2 or port 443", out, true},
		{"not port 443 or port 51000", out, true},
		{"not (port 443 or port 51000)", out, false},
		{"not port 443 and port 51000", out, false},
		{"! host 10.0.0.8 && port 443", out, true},

		// repetition
		{"host 10.0.0.8 or 10.0.0.7", out, true},
		{"host 10.0.0.8 or 10.0.0.9", out, false},
		{"src port 22 or 51000", out, true},
		{"src port 22 or 443", out, false}, // src port 443, not port 443
		{"not host 10.0.0.8 and 192.168.1.10", out, true},
		{"not host 10.0.0.7 and 192.168.1.10", out, false},

		// the example
		{"host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16", out, true},
		{"host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16", alt, false},
		{"host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16", back, true},
	}
	for _, tt := range tests {
		f, err := filter.Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		if got := f.Match(&tt.seg); got != tt.want {
			t.Errorf("%q matches %v > %v: %v, want %v", tt.expr, tt.seg.Src, tt.seg.Dst, got, tt.want)
		}
	}
}

func TestNilAndZeroMatchEverything(t *testing.T) {
	s := seg("10.0.0.1:1", "10.0.0.2:2")
	var nilf *filter.Filter
	if !nilf.Match(&s) || !(&filter.Filter{}).Match(&s) {
		t.Error("a nil or zero Filter should match every segment")
	}
	if nilf.String() != "" || (&filter.Filter{}).String() != "" {
		t.Error("a nil or zero Filter should print as the empty expression")
	}
}

func TestServiceNames(t *testing.T) {
	names := filter.ServiceNames()
	for _, want := range []string{"domain", "http", "https", "ssh"} {
		if _, err := filter.Parse("port " + want); err != nil {
			t.Errorf("port %s: %v", want, err)
		}
	}
	for i, n := range names {
		if i > 0 && names[i-1] >= n {
			t.Errorf("ServiceNames not sorted or repeats: %q after %q", n, names[i-1])
		}
		if _, err := filter.Parse("port " + n); err != nil {
			t.Errorf("ServiceNames lists %q but port %s fails: %v", n, n, err)
		}
	}
}

// sampleSegments is a spread of segments across families, nets and ports.
func sampleSegments() []flows.Segment {
	hosts := []string{"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.1", "0.0.0.0", "[2001:db8::1]", "[::1]", "[::ffff:10.0.0.1]"}
	ports := []string{"0", "22", "80", "443", "8080", "65535"}
	var segs []flows.Segment
	for i, a := range hosts {
		for j, b := range hosts {
			if (a[0] == '[') != (b[0] == '[') {
				continue
			}
			segs = append(segs, seg(a+":"+ports[(i+j)%len(ports)], b+":"+ports[(i*j+1)%len(ports)]))
		}
	}
	return segs
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f, err := filter.Parse("host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16 or ip6 net 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	segs := sampleSegments()
	allocs := testing.AllocsPerRun(100, func() {
		for i := range segs {
			f.Match(&segs[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	for _, bb := range []struct{ name, expr string }{
		{"empty", ""},
		{"port", "port 443"},
		{"issue-example", "host 10.0.0.7 and (port 443 or portrange 8000-8100) and not src net 10.9.0.0/16"},
		{"ip6-net", "ip6 and net 2001:db8::/32 and not port 22"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			f, err := filter.Parse(bb.expr)
			if err != nil {
				b.Fatal(err)
			}
			segs := sampleSegments()
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; b.Loop(); i++ {
				if f.Match(&segs[i%len(segs)]) {
					n++
				}
			}
			_ = n
		})
	}
}

func TestSyntaxErrorIsComparable(t *testing.T) {
	_, err := filter.Parse("port 99999")
	want := &filter.SyntaxError{Expr: "port 99999", Pos: 5, Token: "99999", Msg: "a port number is at most 65535"}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

// FuzzParse checks that Parse never panics, that its errors point inside the
// expression, and that whatever it accepts prints as a canonical form that
// reads back to the same filter.
func FuzzParse(f *testing.F) {
	for _, tt := range accepted {
		f.Add(tt.expr)
	}
	for _, tt := range rejected {
		f.Add(tt.expr)
	}
	segs := sampleSegments()
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := filter.Parse(expr)
		if err != nil {
			var se *filter.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error of type %T", expr, err)
			}
			if se.Pos < 0 || se.Pos > len(expr) || !strings.HasPrefix(expr[se.Pos:], se.Token) {
				t.Fatalf("Parse(%q): Pos %d and Token %q do not point into the expression", expr, se.Pos, se.Token)
			}
			return
		}
		again, err := filter.Parse(flt.String())
		if err != nil {
			t.Fatalf("Parse(%q) prints as %q, which does not parse: %v", expr, flt.String(), err)
		}
		if again.String() != flt.String() {
			t.Fatalf("Parse(%q) prints as %q, which reads back as %q", expr, flt.String(), again.String())
		}
		for i := range segs {
			if flt.Match(&segs[i]) != again.Match(&segs[i]) {
				t.Fatalf("%q and its canonical form %q disagree", expr, flt.String())
			}
		}
	})
}
