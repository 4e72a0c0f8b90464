//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// side names a host of a scenario.
type side int

const (
	sideClient side = iota
	sideServer
	sideRouter
	// sideClientB is a second client behind the router (scenario.clientB).
	sideClientB
)

func (s side) String() string {
	return [...]string{"client", "server", "router", "client_b"}[s]
}

// env is what a scenario's driver gets: the namespaces, the sockets it
// opened, and helpers to change the path while it runs.
type env struct {
	ctx   context.Context
	topo  *topology
	socks sockets
	notes []string
	// rules are the iptables rules installed, for removal.
	rules [][]string
	// hostWas holds the values of the host sysctls hostSysctls changed,
	// by the file of each, for restoreHost.
	hostWas map[string][]byte
	// kept passes sockets from a scenario's pre to its run.
	kept []*sock
	// err is the first error of the run; once set, every helper does
	// nothing, so that a driver reads as a plain sequence of steps.
	mu  sync.Mutex
	err error
}

// fail records err as the run's error unless one was recorded before.
func (e *env) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil && err != nil {
		e.err = err
	}
}

// failed reports the run's error.
func (e *env) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// sleep waits d or until the run is cancelled.
func (e *env) sleep(d time.Duration) {
	if e.failed() != nil {
		return
	}
	select {
	case <-e.ctx.Done():
		e.fail(e.ctx.Err())
	case <-time.After(d):
	}
}

// sysctl sets a sysctl inside the namespace of side s.
func (e *env) sysctl(s side, key, value string) error {
	_, err := nsExec(e.ctx, e.topo.ns(s), "sysctl", "-qw", key+"="+value)
	return err
}

// iptables returns the iptables binary for the scenario's family.
func (e *env) iptables() string {
	if e.topo.v6 {
		return "ip6tables"
	}
	return "iptables"
}

// drop installs a DROP rule in the INPUT chain of side s: segments that
// reach s and match are discarded after tcpdump saw them there.
func (e *env) drop(s side, match ...string) {
	e.dropIn("INPUT", s, match...)
}

// dropOut installs a DROP rule in the OUTPUT chain of side s: segments s
// sends that match are discarded before any capture point sees them.
func (e *env) dropOut(s side, match ...string) {
	e.dropIn("OUTPUT", s, match...)
}

// dropIn installs a DROP rule in chain of side s.
func (e *env) dropIn(chain string, s side, match ...string) {
	if e.failed() != nil {
		return
	}
	rule := append([]string{chain, "-p", "tcp"}, match...)
	e.rule(s, append(rule, "-j", "DROP"))
}

// rule appends an iptables rule (chain first) in the namespace of side s;
// undrop removes it.
func (e *env) rule(s side, rule []string) {
	if e.failed() != nil {
		return
	}
	if _, err := nsExec(e.ctx, e.topo.ns(s), append([]string{e.iptables(), "-w", "-A"}, rule...)...); err != nil {
		e.fail(err)
		return
	}
	e.rules = append(e.rules, append([]string{e.topo.ns(s)}, rule...))
}

// unrule removes a rule that rule installed in the namespace of side s
// before the run ends.
func (e *env) unrule(s side, rule []string) {
	if e.failed() != nil {
		return
	}
	for i, r := range e.rules {
		if r[0] != e.topo.ns(s) || !slices.Equal(r[1:], rule) {
			continue
		}
		_, err := nsExec(e.ctx, r[0], append([]string{e.iptables(), "-w", "-D"}, rule...)...)
		if err == nil {
			e.rules = slices.Delete(e.rules, i, i+1)
		}
		e.fail(err)
		return
	}
	e.fail(fmt.Errorf("no rule %v in the %s's namespace to remove", rule, s))
}

// undrop removes every rule drop installed.
func (e *env) undrop() {
	for _, r := range e.rules {
		_, err := nsExec(context.Background(), r[0], append([]string{e.iptables(), "-w", "-D"}, r[1:]...)...)
		e.fail(err)
	}
	e.rules = nil
}

// hostSysctls sets the scenario's host sysctls (scenario.host) in the
// host's own namespace, where the lab runs; restoreHost sets them back.
// A driver turns them on only for the steps that need them: they change
// the whole machine.
func (e *env) hostSysctls(host map[string]string) {
	if e.failed() != nil {
		return
	}
	if e.hostWas == nil {
		e.hostWas = map[string][]byte{}
	}
	for _, k := range slices.Sorted(maps.Keys(host)) {
		file := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		old, err := os.ReadFile(file)
		if err != nil {
			e.fail(fmt.Errorf("host sysctl %s (the lab must run in the host's own network namespace): %w", k, err))
			return
		}
		if _, done := e.hostWas[file]; !done {
			e.hostWas[file] = old
		}
		if err := os.WriteFile(file, []byte(host[k]+"\n"), 0); err != nil {
			e.fail(fmt.Errorf("host sysctl %s: %w", k, err))
			return
		}
	}
}

// restoreHost sets back every host sysctl hostSysctls changed.
func (e *env) restoreHost() {
	for _, file := range slices.Sorted(maps.Keys(e.hostWas)) {
		if err := os.WriteFile(file, e.hostWas[file], 0); err != nil {
			e.fail(fmt.Errorf("setting %s back: %w", file, err))
			continue
		}
		delete(e.hostWas, file)
	}
}

// until polls cond every 20 ms until it holds or d passes.
func (e *env) until(d time.Duration, what string, cond func() (bool, error)) {
	deadline := time.Now().Add(d)
	for e.failed() == nil {
		ok, err := cond()
		if err != nil {
			e.fail(err)
			return
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.fail(fmt.Errorf("timed out after %v waiting for %s", d, what))
			return
		}
		e.sleep(20 * time.Millisecond)
	}
}

// states lists the TCP sockets of side s other than listeners, as ss
// names their states ("FIN-WAIT-1", "TIME-WAIT", ...).
func (e *env) states(s side) ([]string, error) {
	out, err := nsExec(e.ctx, e.topo.ns(s), "ss", "-tanH")
	if err != nil {
		return nil, err
	}
	var st []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "LISTEN" {
			continue
		}
		st = append(st, f[0])
	}
	return st, nil
}

// quiet waits until neither end has a socket in a state the kernel still
// works on: only TIME-WAIT (which lasts 60 s and needs no more segments
// unless provoked) may remain.
func (e *env) quiet(d time.Duration) {
	e.until(d, "both kernels to finish closing", func() (bool, error) {
		for _, s := range []side{sideClient, sideServer} {
			st, err := e.states(s)
			if err != nil {
				return false, err
			}
			for _, x := range st {
				if x != "TIME-WAIT" {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// gone waits until side s has no socket in state (ss name) any more.
func (e *env) gone(s side, state string, d time.Duration) {
	e.until(d, s.String()+" to leave "+state, func() (bool, error) {
		st, err := e.states(s)
		return !slices.Contains(st, state), err
	})
}

// has waits until side s has a socket in state (ss name).
func (e *env) has(s side, state string, d time.Duration) {
	e.until(d, s.String()+" to reach "+state, func() (bool, error) {
		st, err := e.states(s)
		return slices.Contains(st, state), err
	})
}

// tcpExt reads the named TcpExt counters of side s's namespace (its
// /proc/net/netstat, as nstat names them without the prefix:
// "TCPLossProbes").
func (e *env) tcpExt(s side, names ...string) map[string]int64 {
	return e.counters(s, "/proc/net/netstat", "TcpExt", names...)
}

// icmpMIB reads the named Icmp counters of side s's namespace (its
// /proc/net/snmp: "InErrors", "InDestUnreachs").
func (e *env) icmpMIB(s side, names ...string) map[string]int64 {
	return e.counters(s, "/proc/net/snmp", "Icmp", names...)
}

// counters reads the named counters of group (the word before the colon:
// "TcpExt") from file, a table of side s's namespace in /proc/net that
// gives each group as a line of names and a line of values.
func (e *env) counters(s side, file, group string, names ...string) map[string]int64 {
	if e.failed() != nil {
		return nil
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), "cat", file)
	if err != nil {
		e.fail(err)
		return nil
	}
	var keys, vals []string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, group+": "); ok {
			if keys == nil {
				keys = strings.Fields(rest)
			} else {
				vals = strings.Fields(rest)
			}
		}
	}
	got := map[string]int64{}
	for i, k := range keys {
		if i < len(vals) && slices.Contains(names, k) {
			v, err := strconv.ParseInt(vals[i], 10, 64)
			if err != nil {
				e.fail(fmt.Errorf("%s %s: %w", group, k, err))
				return nil
			}
			got[k] = v
		}
	}
	for _, k := range names {
		if _, ok := got[k]; !ok {
			e.fail(fmt.Errorf("no %s counter %s in the %s's namespace", group, k, s))
			return nil
		}
	}
	return got
}

// nstat reads the named counters of side s's namespace with nstat's
// absolute values, leaving its history alone.
func (e *env) nstat(s side, names ...string) map[string]int64 {
	got := e.nstatRead(s, names, func(name string) bool { return slices.Contains(names, name) })
	for _, k := range names {
		if _, ok := got[k]; !ok && got != nil {
			e.fail(fmt.Errorf("nstat: no counter %s in the %s's namespace", k, s))
			return nil
		}
	}
	return got
}

// nstatRead runs nstat (absolute values, zeros included, its history
// left alone) in side s's namespace with args, and returns the counters
// keep takes; nil after a failure.
func (e *env) nstatRead(s side, args []string, keep func(name string) bool) map[string]int64 {
	if e.failed() != nil {
		return nil
	}
	out, err := nsExec(e.ctx, e.topo.ns(s), append([]string{"nstat", "-asz"}, args...)...)
	if err != nil {
		e.fail(err)
		return nil
	}
	got := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !keep(f[0]) {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			e.fail(fmt.Errorf("nstat %s: %q: %w", s, line, err))
			return nil
		}
		got[f[0]] = v
	}
	return got
}

// capture is a running tcpdump (or dumpcap).
type capture struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
	file   string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCapture runs tcpdump (dumpcap, when asked) in namespace ns and
// waits until it listens.
func startCapture(ctx context.Context, ns, iface, linktype, filter string, snaplen int, file string, dumpcap bool) (*capture, error) {
	args := []string{"netns", "exec", ns, "tcpdump", "-n", "-U", "--immediate-mode", "-Z", "root",
		"-i", iface, "-s", strconv.Itoa(snaplen), "-w", file}
	if linktype != "" {
		args = append(args, "-y", linktype)
	}
	args = append(args, filter)
	started := "listening on"
	if dumpcap {
		// dumpcap writes pcapng and, on SIGINT, interface statistics
		// with the time the capture stopped.
		args = []string{"netns", "exec", ns, "dumpcap", "-i", iface, "-s", strconv.Itoa(snaplen), "-f", filter, "-w", file}
		started = "Capturing on"
	}
	c := &capture{cmd: exec.Command("ip", args...), stderr: &lockedBuffer{}, done: make(chan error, 1), file: file}
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", args[3], err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(c.stderr.String(), started) {
		select {
		case err := <-c.done:
			c.done <- err
			return nil, fmt.Errorf("%s exited: %v: %s", args[3], err, c.stderr.String())
		case <-deadline:
			c.stop()
			return nil, fmt.Errorf("%s did not start: %s", args[3], c.stderr.String())
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if dumpcap {
		time.Sleep(dumpcapSettle)
	}
	return c, nil
}

// dumpcapSettle is how long the lab waits after dumpcap says it is
// capturing: it says so before its capture is live, and on a busy machine
// it missed the first tens of milliseconds of a scenario. A capture that
// still begins after the scenario's first SYN is made again.
const dumpcapSettle = time.Second

// droppedRE finds tcpdump's and dumpcap's count of packets the kernel
// dropped.
var droppedRE = regexp.MustCompile(`(?m)^(?:(\d+) packets? dropped by kernel|Packets received/dropped on interface .*: \d+/(\d+))`)

// stop interrupts the capture so that it flushes its file, waiting at
// most 10 s before killing it.
func (c *capture) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop on SIGINT: killed", c.cmd.Args[3])
	}
	if m := droppedRE.FindStringSubmatch(c.stderr.String()); m != nil && m[1]+m[2] != "0" {
		return fmt.Errorf("the capture dropped packets: %s", c.stderr.String())
	}
	return nil
}

// result of one scenario run, before it is written.
type runResult struct {
	pcap  string // temporary capture file (final framing)
	truth *truthFile
}

// runScenario runs sc once into a temporary directory and checks the
// capture. Nothing is written to out unless the wire confirms the truth.
func runScenario(ctx context.Context, sc *scenario, out string, kernel string) error {
	tmp, err := os.MkdirTemp("", "teardown-lab-")
	if err != nil {
		return err
	}
	if os.Getenv("TEARDOWN_LAB_KEEP") == "" {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Fprintf(os.Stderr, "teardown-lab: %s: keeping %s\n", sc.name, tmp)
	}
	attempts := max(sc.attempts, 1)
	if sc.framing == frameDumpcap {
		attempts = max(attempts, 3) // see dumpcapSettle
	}
	var res *runResult
	for i := 1; i <= attempts; i++ {
		res, err = runOnce(ctx, sc, tmp, kernel)
		if err == nil || ctx.Err() != nil || !errors.Is(err, errRetry) {
			break
		}
		fmt.Fprintf(os.Stderr, "teardown-lab: %s: attempt %d of %d: %v\n", sc.name, i, attempts, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", sc.name, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ext := ".pcap"
	if sc.pcapng() {
		ext = ".pcapng"
	}
	data, err := os.ReadFile(res.pcap)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, sc.name+ext), data, 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res.truth, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, sc.name+".truth.json"), append(js, '\n'), 0o644)
}

// errRetry marks a failure caused by timing the scenario could not
// control (the FINs did not cross, say): another attempt may succeed.
var errRetry = errors.New("timing not as intended")

func runOnce(ctx context.Context, sc *scenario, tmp, kernel string) (res *runResult, err error) {
	topo, err := newTopology(ctx, sc.v6, sc.router || sc.vantage == vantageRouter || sc.forward != nil || sc.delay > 0 || sc.bridge,
		sc.framing == frameVXLAN, sc.bridge)
	if err != nil {
		return nil, err
	}
	defer topo.destroy()
	if sc.clientB {
		if err := topo.addClientB(ctx); err != nil {
			return nil, err
		}
	}
	e := &env{ctx: ctx, topo: topo}
	defer e.socks.closeAll()
	defer e.undrop()
	defer func() {
		e.restoreHost()
		if herr := e.failed(); herr != nil && err == nil && len(e.hostWas) > 0 {
			res, err = nil, herr
		}
	}()
	if sc.delay > 0 {
		// Bound before the rule: a packet queued to no one is dropped.
		y, derr := startDelay(topo.router, sc.delay)
		if derr != nil {
			return nil, derr
		}
		// A packet the delayer failed to release is a capture to make
		// again, not to keep.
		defer func() {
			if cerr := y.close(); cerr != nil && err == nil {
				res, err = nil, cerr
			}
		}()
		// In the mangle table, whose FORWARD chain comes before the
		// filter table's: a forward rule sees each packet after its
		// delay, and a REJECT there answers late as a far router would.
		e.rule(sideRouter, []string{"FORWARD", "-t", "mangle", "-j", "NFQUEUE", "--queue-num", strconv.Itoa(delayQueue)})
		if ferr := e.failed(); ferr != nil {
			return nil, ferr
		}
	}
	if sc.forward != nil {
		// Before the router's sysctls: the rule's conntrack match is
		// what makes conntrack's sysctls appear in its namespace.
		e.rule(sideRouter, append([]string{"FORWARD"}, sc.forward...))
		if err := e.failed(); err != nil {
			return nil, err
		}
	}
	for _, s := range []side{sideClient, sideServer, sideRouter, sideClientB} {
		for _, k := range slices.Sorted(maps.Keys(sc.sysctls[s])) {
			if err := e.sysctl(s, k, sc.sysctls[s][k]); err != nil {
				return nil, err
			}
		}
	}
	raw := filepath.Join(tmp, "raw.pcap")
	ns, iface, linktype, filter := topo.client, "eth0", "", "tcp"
	switch sc.vantage {
	case vantageServer:
		ns = topo.server
	case vantageRouter:
		ns = topo.router
	}
	switch sc.framing {
	case frameSLL2:
		iface = "any"
	case frameSLL:
		iface, linktype = "any", "LINUX_SLL"
	case frameVXLAN:
		filter = "udp port 4789"
	}
	if sc.icmp {
		filter = icmpFilter
	}
	if sc.filter != "" {
		filter = sc.filter
	}
	snap := sc.snaplen
	if snap == 0 {
		snap = 200
	}
	if sc.pre != nil {
		sc.pre(e)
		if err := e.failed(); err != nil {
			return nil, fmt.Errorf("driver: %w", err)
		}
	}
	// One capture, or one at each end (vantageEnds), each into a file of
	// its own.
	points := map[string]string{ns: raw}
	if sc.vantage == vantageEnds {
		if sc.framing != framePcapng || topo.router == "" {
			return nil, errors.New("lab: a capture at both ends is merged into pcapng, across a router")
		}
		points = map[string]string{topo.client: filepath.Join(tmp, "client.pcap"), topo.server: filepath.Join(tmp, "server.pcap")}
	}
	var caps []*capture
	defer func() {
		for _, c := range caps {
			c.stop()
		}
	}()
	for _, cns := range slices.Sorted(maps.Keys(points)) {
		os.Remove(points[cns])
		c, err := startCapture(ctx, cns, iface, linktype, filter, snap, points[cns], sc.framing == frameDumpcap)
		if err != nil {
			return nil, err
		}
		caps = append(caps, c)
	}
	sc.run(e)
	if !sc.noQuiet {
		e.quiet(90 * time.Second)
	}
	e.sleep(sc.tail)
	if err := e.failed(); err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	var serr error
	for _, c := range caps {
		serr = errors.Join(serr, c.stop())
	}
	caps = nil
	if serr != nil {
		return nil, serr
	}
	final := raw
	switch {
	case sc.framing == frameVLAN:
		final = filepath.Join(tmp, "vlan.pcap")
		if err := insertVLAN(raw, final, vlanID); err != nil {
			return nil, err
		}
	case sc.vantage == vantageEnds:
		// In time order, one interface per file (-I none: mergecap
		// would merge two alike into one).
		final = filepath.Join(tmp, "capture.pcapng")
		if _, err := sh(ctx, "mergecap", "-F", "pcapng", "-I", "none", "-w", final,
			points[topo.client], points[topo.server]); err != nil {
			return nil, err
		}
	case sc.framing == framePcapng:
		final = filepath.Join(tmp, "capture.pcapng")
		if _, err := sh(ctx, "editcap", "-F", "pcapng", raw, final); err != nil {
			return nil, err
		}
	}
	frames, err := readFrames(ctx, final, sc.framing)
	if err != nil {
		return nil, err
	}
	icmps, err := readICMP(ctx, final)
	if err != nil {
		return nil, err
	}
	if sc.framing == frameDumpcap && sc.pre == nil && (len(frames) == 0 || frames[0].flags&(fSYN|fACK) != fSYN) {
		return nil, fmt.Errorf("%w: dumpcap's capture began after the first SYN", errRetry)
	}
	if sc.cut != nil {
		if final, frames, icmps, err = cutFrame(ctx, sc, e, final, frames, tmp); err != nil {
			return nil, err
		}
	}
	var stoppedAt int64
	if sc.framing == frameDumpcap {
		if stoppedAt, err = captureStopped(final); err != nil {
			return nil, err
		}
	}
	truth, err := deriveTruth(sc, frames, icmps, stoppedAt, kernel, e.notes)
	if err != nil {
		return nil, err
	}
	if !sc.synRetry {
		for _, fl := range truth.Flows {
			if n := fl.inc.synCount(); n > 1 {
				return nil, fmt.Errorf("%w: flow %s-%s#%d: the client sent its SYN %d times", errRetry, fl.Client, fl.Server, fl.Incarnation, n)
			}
		}
	}
	w := &wire{frames: frames, icmps: icmps, truth: truth, stopped: stoppedAt}
	if err := sc.check(w); err != nil {
		return nil, fmt.Errorf("the wire contradicts the scenario: %w", err)
	}
	if sc.wireNotes != nil {
		truth.Notes = append(truth.Notes, sc.wireNotes(w)...)
	}
	return &runResult{pcap: final, truth: truth}, nil
}

// cutFrame removes the frame sc.cut names from the capture file in with
// editcap, notes it, and returns the edited file, its frames and its ICMP
// errors.
func cutFrame(ctx context.Context, sc *scenario, e *env, in string, frames []*frame, tmp string) (string, []*frame, []*icmpErr, error) {
	no, err := sc.cut(frames)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: %w", errRetry, err)
	}
	format := "pcap"
	if sc.pcapng() {
		format = "pcapng"
	}
	out := filepath.Join(tmp, "cut."+format)
	os.Remove(out)
	if _, err := sh(ctx, "editcap", "-F", format, in, out, strconv.Itoa(no)); err != nil {
		return "", nil, nil, err
	}
	edited, err := readFrames(ctx, out, sc.framing)
	if err != nil {
		return "", nil, nil, err
	}
	if len(edited) != len(frames)-1 {
		return "", nil, nil, fmt.Errorf("editcap left %d of %d frames, want %d", len(edited), len(frames), len(frames)-1)
	}
	icmps, err := readICMP(ctx, out)
	if err != nil {
		return "", nil, nil, err
	}
	e.notes = append(e.notes, fmt.Sprintf("frame %d of the original capture was removed with editcap to model capture loss", no))
	return out, edited, icmps, nil
}

// rederive derives the truth file of each scenario in chosen again from
// its capture in dir, keeping the kernel and the notes of its run, and
// reports (or, with write, replaces) those that differ from the stored
// one; write also writes dir's README.md again. It returns the exit
// status.
func rederive(chosen []*scenario, dir string, write bool, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bad := 0
	for _, sc := range chosen {
		same, err := rederiveOne(ctx, sc, dir, write)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "teardown-lab: error: %s: %v\n", sc.name, err)
			bad++
		case !same && write:
			fmt.Fprintf(stderr, "teardown-lab: %s: truth file replaced\n", sc.name)
		case !same:
			fmt.Fprintf(stderr, "teardown-lab: %s: the truth derived from %s differs from %s.truth.json\n", sc.name, sc.captureName(), sc.name)
			bad++
		}
	}
	if write {
		if err := writeReadme(dir); err != nil {
			fmt.Fprintf(stderr, "teardown-lab: error: %v\n", err)
			bad++
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "teardown-lab: %d of %d truth files differ or failed\n", bad, len(chosen))
		return 1
	}
	fmt.Fprintf(stderr, "teardown-lab: %d truth files derived again, all as stored\n", len(chosen))
	return 0
}

// rederiveOne derives sc's truth file again from its capture in dir and
// reports whether it is the one stored there, which write replaces.
func rederiveOne(ctx context.Context, sc *scenario, dir string, write bool) (bool, error) {
	name := filepath.Join(dir, sc.name+".truth.json")
	stored, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	var old truthFile
	if err := json.Unmarshal(stored, &old); err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	file := filepath.Join(dir, sc.captureName())
	frames, err := readFrames(ctx, file, sc.framing)
	if err != nil {
		return false, err
	}
	icmps, err := readICMP(ctx, file)
	if err != nil {
		return false, err
	}
	var stoppedAt int64
	if sc.framing == frameDumpcap {
		if stoppedAt, err = captureStopped(file); err != nil {
			return false, err
		}
	}
	truth, err := deriveTruth(sc, frames, icmps, stoppedAt, old.Kernel, nil)
	if err != nil {
		return false, err
	}
	truth.Notes = old.Notes
	w := &wire{frames: frames, icmps: icmps, truth: truth, stopped: stoppedAt}
	if err := sc.check(w); err != nil {
		return false, fmt.Errorf("the wire contradicts the scenario: %w", err)
	}
	js, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return false, err
	}
	js = append(js, '\n')
	if bytes.Equal(js, stored) {
		return true, nil
	}
	if write {
		return false, os.WriteFile(name, js, 0o644)
	}
	return false, nil
}
