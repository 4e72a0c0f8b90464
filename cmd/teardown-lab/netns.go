//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nsPrefix starts the name of every network namespace the lab creates,
// followed by the lab's pid, so that leftovers can be found and removed.
const nsPrefix = "tdlab-"

// Addresses. Only 198.51.100.0/24 and 2001:db8::/32, only inside the lab's
// namespaces. With a router the two ends sit on different /26 (/64) nets.
var (
	clientAddr4 = netip.MustParseAddr("198.51.100.10")
	serverAddr4 = netip.MustParseAddr("198.51.100.80")
	routerC4    = netip.MustParseAddr("198.51.100.1")
	routerS4    = netip.MustParseAddr("198.51.100.65")
	clientAddr6 = netip.MustParseAddr("2001:db8:1::10")
	serverAddr6 = netip.MustParseAddr("2001:db8:2::80")
	routerC6    = netip.MustParseAddr("2001:db8:1::1")
	routerS6    = netip.MustParseAddr("2001:db8:2::1")
	// spoofedAddr4 is on the client's link (with a router, 198.51.100.0/26)
	// but no interface has it: a source a SYN can claim that nobody
	// answers ARP for.
	spoofedAddr4 = netip.MustParseAddr("198.51.100.50")
	// A second client behind the router, on a /26 of its own
	// (198.51.100.128/26), and the router's address there.
	clientBAddr4 = netip.MustParseAddr("198.51.100.140")
	routerB4     = netip.MustParseAddr("198.51.100.129")
	// The underlay of a VXLAN between client and server.
	underlayC4 = netip.MustParseAddr("198.51.100.201")
	underlayS4 = netip.MustParseAddr("198.51.100.202")
)

// vxlanID is the VNI of the lab's VXLAN.
const vxlanID = 42

// topology is the set of namespaces of one scenario run.
type topology struct {
	client, server, router string // namespace names; router may be empty
	// clientB is a second client's namespace behind the router (addClientB),
	// or empty.
	clientB string
	// bridge: the router's side of the server's link is a port of a
	// bridge, br0, that holds the router's address there (newTopology).
	bridge             bool
	v6                 bool
	clientIP, serverIP netip.Addr
	made               []string // namespaces created, for cleanup
}

// sh runs a command with a bounded time and returns its combined output.
func sh(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// nsExec runs a command inside namespace ns.
func nsExec(ctx context.Context, ns string, args ...string) (string, error) {
	return sh(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// newTopology creates the client and server namespaces (and a router
// between them when router is set), joined by veth pairs whose ends are
// created inside the namespaces, never in the caller's; with vxlan (and
// no router) the veth pair is the underlay of a VXLAN that joins them.
// With bridge (and a router) the router's end of the server's veth pair,
// eth1, is a port of a bridge, br0, that holds the router's address on
// that link, as a Kubernetes node's cni0 holds its pods' gateway.
func newTopology(ctx context.Context, v6, router, vxlan, bridge bool) (t *topology, err error) {
	if vxlan && (router || v6) {
		return nil, errors.New("lab: a VXLAN joins the two ends directly, over IPv4")
	}
	if bridge && !router {
		return nil, errors.New("lab: a bridge holds the router's side of the server's link")
	}
	base := fmt.Sprintf("%s%d-", nsPrefix, os.Getpid())
	t = &topology{client: base + "c", server: base + "s", v6: v6, bridge: bridge}
	if router {
		t.router = base + "r"
	}
	defer func() {
		if err != nil {
			t.destroy()
			t = nil
		}
	}()
	for _, ns := range []string{t.client, t.server, t.router} {
		if ns == "" {
			continue
		}
		if _, err := sh(ctx, "ip", "netns", "add", ns); err != nil {
			return t, err
		}
		t.made = append(t.made, ns)
		if _, err := sh(ctx, "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return t, err
		}
		// No duplicate address detection: a tentative link-local
		// address delays neighbour discovery by a second or two, which
		// showed on the wire as retransmitted SYNs.
		if _, err := nsExec(ctx, ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
			"net.ipv6.conf.default.accept_dad=0"); err != nil {
			return t, err
		}
	}
	t.clientIP, t.serverIP = clientAddr4, serverAddr4
	if v6 {
		t.clientIP, t.serverIP = clientAddr6, serverAddr6
	}
	type link struct {
		ns  string
		dev string
		ip  string
		gw  string
	}
	var links []link
	if router {
		if _, err := sh(ctx, "ip", "-n", t.client, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", t.router); err != nil {
			return t, err
		}
		if _, err := sh(ctx, "ip", "-n", t.server, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1", "netns", t.router); err != nil {
			return t, err
		}
		if v6 {
			links = []link{
				{t.client, "eth0", clientAddr6.String() + "/64", routerC6.String()},
				{t.router, "eth0", routerC6.String() + "/64", ""},
				{t.router, t.serverLink(), routerS6.String() + "/64", ""},
				{t.server, "eth0", serverAddr6.String() + "/64", routerS6.String()},
			}
		} else {
			links = []link{
				{t.client, "eth0", clientAddr4.String() + "/26", routerC4.String()},
				{t.router, "eth0", routerC4.String() + "/26", ""},
				{t.router, t.serverLink(), routerS4.String() + "/26", ""},
				{t.server, "eth0", serverAddr4.String() + "/26", routerS4.String()},
			}
		}
		if bridge {
			// No spanning tree: the port forwards as soon as it is up.
			for _, args := range [][]string{
				{"-n", t.router, "link", "add", "br0", "type", "bridge", "stp_state", "0"},
				{"-n", t.router, "link", "set", "eth1", "master", "br0"},
				{"-n", t.router, "link", "set", "eth1", "up"},
			} {
				if _, err := sh(ctx, "ip", args...); err != nil {
					return t, err
				}
			}
			// The port has no address; it comes up with the rest.
			links = append(links, link{ns: t.router, dev: "eth1"})
		}
		key := "net.ipv4.ip_forward=1"
		if v6 {
			key = "net.ipv6.conf.all.forwarding=1"
		}
		if _, err := nsExec(ctx, t.router, "sysctl", "-qw", key); err != nil {
			return t, err
		}
	} else {
		if _, err := sh(ctx, "ip", "-n", t.client, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", t.server); err != nil {
			return t, err
		}
		plen := "/24"
		if v6 {
			plen = "/32"
		}
		links = []link{
			{t.client, "eth0", t.clientIP.String() + plen, ""},
			{t.server, "eth0", t.serverIP.String() + plen, ""},
		}
		if vxlan {
			links = []link{
				{t.client, "eth0", underlayC4.String() + "/25", ""},
				{t.server, "eth0", underlayS4.String() + "/25", ""},
				{t.client, "vx0", t.clientIP.String() + plen, ""},
				{t.server, "vx0", t.serverIP.String() + plen, ""},
			}
			for _, end := range [][3]string{{t.client, underlayC4.String(), underlayS4.String()}, {t.server, underlayS4.String(), underlayC4.String()}} {
				if _, err := sh(ctx, "ip", "-n", end[0], "link", "add", "vx0", "type", "vxlan", "id", strconv.Itoa(vxlanID),
					"dstport", "4789", "local", end[1], "remote", end[2], "dev", "eth0"); err != nil {
					return t, err
				}
				// No IPv6 on the VXLAN: its link-local address would send
				// multicast listener reports through it while the capture
				// runs.
				if _, err := nsExec(ctx, end[0], "sysctl", "-qw", "net.ipv6.conf.vx0.disable_ipv6=1"); err != nil {
					return t, err
				}
			}
		}
	}
	for _, l := range links {
		args := []string{"-n", l.ns, "addr", "add", l.ip, "dev", l.dev}
		if v6 {
			args = append(args, "nodad")
		}
		// A bridge port has no address of its own.
		if l.ip != "" {
			if _, err := sh(ctx, "ip", args...); err != nil {
				return t, err
			}
		}
		if _, err := sh(ctx, "ip", "-n", l.ns, "link", "set", l.dev, "up"); err != nil {
			return t, err
		}
		if l.gw != "" {
			if _, err := sh(ctx, "ip", "-n", l.ns, "route", "add", "default", "via", l.gw); err != nil {
				return t, err
			}
		}
	}
	// Wait until every link is up (bounded): veth carrier is asynchronous.
	deadline := time.Now().Add(10 * time.Second)
	for _, l := range links {
		for {
			out, err := sh(ctx, "ip", "-n", l.ns, "-br", "link", "show", "dev", l.dev)
			if err != nil {
				return t, err
			}
			// A VXLAN device has no carrier: its state is UNKNOWN.
			if f := strings.Fields(out); len(f) > 1 && (f[1] == "UP" || f[1] == "UNKNOWN" && l.dev == "vx0") {
				tent, err := sh(ctx, "ip", "-n", l.ns, "-6", "addr", "show", "dev", l.dev, "tentative")
				if err != nil {
					return t, err
				}
				if strings.TrimSpace(tent) == "" {
					break
				}
			}
			if time.Now().After(deadline) {
				return t, fmt.Errorf("lab: %s in %s did not come up: %s", l.dev, l.ns, out)
			}
			select {
			case <-ctx.Done():
				return t, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return t, nil
}

// destroy deletes every namespace t created. It uses a fresh context so
// that it also runs after the scenario's context was cancelled.
func (t *topology) destroy() {
	for _, ns := range t.made {
		if _, err := sh(context.Background(), "ip", "netns", "del", ns); err != nil {
			fmt.Fprintf(os.Stderr, "teardown-lab: warning: %v\n", err)
		}
	}
	t.made = nil
}

// serverLink is the router's device on the server's link: its veth, or
// the bridge that veth is a port of.
func (t *topology) serverLink() string {
	if t.bridge {
		return "br0"
	}
	return "eth1"
}

// ns returns the namespace of a side.
func (t *topology) ns(s side) string {
	switch s {
	case sideClient:
		return t.client
	case sideServer:
		return t.server
	case sideClientB:
		return t.clientB
	}
	return t.router
}

// addClientB puts a second client's namespace behind the router (IPv4
// only): a veth pair from its eth0, clientBAddr4/26, to the router's
// eth2, routerB4/26, its default route.
func (t *topology) addClientB(ctx context.Context) error {
	if t.router == "" || t.v6 {
		return errors.New("lab: a second client sits behind the router, over IPv4")
	}
	ns := strings.TrimSuffix(t.client, "c") + "b"
	if _, err := sh(ctx, "ip", "netns", "add", ns); err != nil {
		return err
	}
	t.made = append(t.made, ns)
	t.clientB = ns
	steps := [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth2", "netns", t.router},
		{"-n", ns, "addr", "add", clientBAddr4.String() + "/26", "dev", "eth0"},
		{"-n", t.router, "addr", "add", routerB4.String() + "/26", "dev", "eth2"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", t.router, "link", "set", "eth2", "up"},
		{"-n", ns, "route", "add", "default", "via", routerB4.String()},
	}
	for _, args := range steps {
		if _, err := sh(ctx, "ip", args...); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, end := range [][2]string{{ns, "eth0"}, {t.router, "eth2"}} {
		for {
			out, err := sh(ctx, "ip", "-n", end[0], "-br", "link", "show", "dev", end[1])
			if err != nil {
				return err
			}
			if f := strings.Fields(out); len(f) > 1 && f[1] == "UP" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("lab: %s in %s did not come up: %s", end[1], end[0], out)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// inNS runs f on an OS thread that has joined namespace ns. Sockets f
// creates belong to ns for their whole life, whatever thread uses them.
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return // the thread stays locked and is discarded
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: Go terminates it when this
			// goroutine exits, so no other goroutine runs in ns.
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// removeStale deletes lab namespaces left behind by lab processes that no
// longer exist (a run killed with SIGKILL). Namespaces of a live lab
// process are left alone.
func removeStale(ctx context.Context) {
	out, err := sh(ctx, "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		rest := strings.TrimPrefix(f[0], nsPrefix)
		i := strings.IndexByte(rest, '-')
		if i < 0 {
			continue
		}
		pid, err := strconv.Atoi(rest[:i])
		if err != nil {
			continue
		}
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		if _, err := sh(ctx, "ip", "netns", "del", f[0]); err == nil {
			fmt.Fprintf(os.Stderr, "teardown-lab: removed stale namespace %s\n", f[0])
		}
	}
}
