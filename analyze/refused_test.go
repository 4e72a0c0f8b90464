package analyze

import (
	"net/netip"
	"strings"
	"testing"
)

// TestRefusedOnPath: a SYN refused by a RST in the server's name that
// arrived with another TTL than every segment of the server's in the
// connections it accepted was refused by a device on the path, and the
// summary says so; the same TTL, a server whose TTL varied, or no
// accepted connection to compare with, say nothing.
func TestRefusedOnPath(t *testing.T) {
	accepted := func(w *wire, serverTTL uint8) {
		w.send(cli, "S", 0)
		w.send(srv, "S.", 0, ttl(serverTTL))
		w.send(cli, ".", 0)
		w.send(cli, "P.", 100)
		w.send(srv, "P.", 300, ttl(serverTTL))
		w.send(cli, "F.", 0)
		w.send(srv, "F.", 0, ttl(serverTTL))
		w.send(cli, ".", 0)
	}
	port := uint16(41000)
	refused := func(w *wire, rstTTL uint8) {
		port++
		w.addr[cli] = netip.AddrPortFrom(w.addr[cli].Addr(), port)
		w.send(cli, "S", 0, gap(1))
		w.send(srv, "R.", 0, replyRST, seqNum(0), ttl(rstTTL))
	}
	for _, tt := range []struct {
		name  string
		build func(w *wire)
		want  string // in the finding's message; empty: no finding
	}{
		{"refused one hop nearer", func(w *wire) {
			accepted(w, 63)
			refused(w, 64)
			refused(w, 64)
		}, "the RSTs that refused 2 connections to 198.51.100.80 (connection-refused, the first at 22:13:21 UTC) arrived with TTL 64, where 198.51.100.80's own segments in the connection it accepted arrived with 63 (1 hop nearer the capture point): a device on the path refused them"},
		{"refused with the server's TTL", func(w *wire) {
			accepted(w, 64)
			refused(w, 64)
		}, ""},
		{"refused, no accepted connection", func(w *wire) { refused(w, 64) }, ""},
		{"refused, and the server's TTL varied between connections", func(w *wire) {
			accepted(w, 63)
			w.newIncarnation(5000000, 6000000)
			accepted(w, 64)
			refused(w, 64)
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWire(t)
			tt.build(w)
			s := runOpts(t, w.segs, Options{}).Summary
			var msgs []string
			for _, f := range s.Findings {
				if f.Code == CodeRstMiddlebox {
					msgs = append(msgs, f.Message)
					if f.Host != "198.51.100.80" || f.Sysctl != "" || f.At == 0 {
						t.Errorf("finding %+v", f)
					}
				}
			}
			switch {
			case tt.want == "" && len(msgs) > 0:
				t.Errorf("findings %q, want none", msgs)
			case tt.want != "" && (len(msgs) != 1 || !strings.Contains(msgs[0], tt.want)):
				t.Errorf("findings %q, want one with %q", msgs, tt.want)
			}
		})
	}
}

// TestHostTTLMerge: the TTLs of a host's connections merge as one set.
func TestHostTTLMerge(t *testing.T) {
	var a, b HostTTL
	a.add(63)
	a.add(63)
	b.add(63)
	if a.merge(b); a != (HostTTL{Value: 63, Flows: 3}) {
		t.Errorf("63, 63 and 63: %+v", a)
	}
	b.add(64)
	if a.merge(b); a != (HostTTL{Varied: true, Flows: 5}) {
		t.Errorf("with a 64: %+v", a)
	}
	var c, d HostTTL
	c.add(63)
	d.add(64)
	if c.merge(d); c != (HostTTL{Varied: true, Flows: 2}) {
		t.Errorf("63 and 64: %+v", c)
	}
}
