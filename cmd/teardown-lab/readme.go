//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const readmeHead = `# Lab captures

Every capture here was made by ` + "`teardown-lab`" + ` (cmd/teardown-lab) from real
Linux sockets talking across network namespaces joined by veth pairs, recorded
with tcpdump, and checked with tshark before its truth file was written
(TRUTH-FORMAT.md says what a truth file holds and how the lab derives it).
Each truth file records the kernel (` + "`kernel`" + `), the sysctls set per side
(under ` + "`host`" + `, global ones set machine-wide for a moment), the vantage
point and the framing. Addresses: 198.51.100.0/24 and
2001:db8::/32, server port 8080. This file is written by the lab.

Regenerate (needs Linux, root, iproute2, tcpdump, tshark, editcap, mergecap, iptables):

` + "```" + `
go build -o /tmp/teardown-lab ./cmd/teardown-lab
sudo /tmp/teardown-lab list
sudo /tmp/teardown-lab run NAME...            # into testdata/lab
sudo /tmp/teardown-lab run --all --out DIR    # every scenario, about a minute
/tmp/teardown-lab truth --all                 # derive every truth file again from its capture
` + "```" + `

` + "`truth`" + ` needs only tshark: after a change to how truths are derived, it
reports each truth file its capture no longer gives (` + "`--write`" + ` replaces
them), so every stored expectation keeps coming from the wire; CI runs it.

A rerun gives new ports, ISNs and times, so a capture and its truth file
change together; commit them together. ` + "`vlan`" + ` captures carry an 802.1Q tag
(VLAN 100) inserted after the capture with pcapgo, because this kernel has no
802.1Q devices; ` + "`pcapng`" + ` ones were converted with ` + "`editcap -F pcapng`" + `;
` + "`sll2`" + ` is ` + "`tcpdump -i any`" + `, ` + "`sll`" + ` is ` + "`tcpdump -i any -y LINUX_SLL`" + `;
` + "`vxlan`" + ` ones were taken on the underlay of a Linux VXLAN (VNI 42, UDP 4789)
joining the two ends, with the filter ` + "`udp port 4789`" + `. The router of
` + "`path-delay`" + ` holds every packet it forwards for 20 ms: its FORWARD chain
(the mangle table's, which comes before any filter rule) queues them to
NFQUEUE and the lab gives each its verdict late, because this kernel has no
netem. So does the router of ` + "`keepalive-idle-race`" + `, across which the
client's next request and the server's FIN cross.
Segments are dropped by iptables rules in the receiver's INPUT chain, so a
capture at the receiver still shows a dropped segment arriving, except in
` + "`keepalive-reset`" + `, where the server's OUTPUT chain drops what it sends
before any capture point sees it, and in ` + "`fin-retransmitted-ack-lost*`" + `,
where it drops the server's first pure ACK after the client's close began
(iptables' statistic match, nth mode): its ACK of the client's FIN.
In the ` + "`rst-middlebox-*`" + ` scenarios a router joins the two ends and
its FORWARD chain's REJECT target answers the client for the server; in
the ` + "`no-answer-after-idle*`" + ` ones its DROP target
discards what its conntrack finds INVALID. The ` + "`syn-rejected-icmp*`" + ` captures
hold ICMP errors too (the filter is ` + "`tcp`" + ` or an ICMP or ICMPv6 destination
unreachable, time exceeded or parameter problem, or an ICMPv6 packet too
big): a REJECT answers the client's SYN with one. Their router holds every packet 20 ms, as a longer
path would: with no delay at all the error arrives while connect() still
holds the socket's lock, the kernel keeps it as a soft error only, and the
SYN goes out again a second later. So does ` + "`data-unanswered-icmp`" + `'s, whose
REJECT answers each of the client's segments after the first exchange with
an ICMP host unreachable (its ` + "`net.ipv4.icmp_ratelimit`" + ` is 0), and
` + "`fin-never-acked-icmp`" + `'s, whose REJECT answers each of the client's FINs so.
In ` + "`synack-icmp-spoofed`" + ` the client's namespace sends a SYN from an address
no interface has with a raw socket, and the router, which has no rule,
answers the server's SYN-ACKs with host unreachables when its ARP for that
address goes unanswered. In the ` + "`pmtu-black-hole*`" + ` captures the router's link
toward the client has MTU 1000 (1280, IPv6's minimum, in the ` + "`-v6`" + ` ones),
and the ICMP fragmentation-needed messages (ICMPv6 packet-too-big messages)
it makes are dropped before the server's kernel sees them, so the server's
1448-byte (1428-byte) segments vanish and it never learns why: a path MTU
black hole. In ` + "`pmtu-black-hole`" + `, ` + "`pmtu-black-hole-probing`" + ` and
` + "`pmtu-black-hole-v6`" + ` the router's OUTPUT chain drops them; in
` + "`pmtu-black-hole-host-firewall`" + ` and ` + "`pmtu-black-hole-host-firewall-v6`" + ` the
server's own INPUT chain does, so its capture, which holds the ICMP errors
too, shows each arrive. The ip6tables rules match the packet too big (type
2) alone: neighbour discovery is ICMPv6 too.
The ` + "`capture-twice-router*`" + ` captures were taken with ` + "`tcpdump -i any`" + ` inside
a router between the two ends, which records every packet twice, as it
enters (TTL or hop limit 64) and as it leaves (63); their truth files count
the capture duplicates dropped. The ` + "`capture-twice-router-icmp*`" + ` ones hold
ICMP errors too (the filter of the ` + "`syn-rejected-icmp*`" + ` captures): the
server's INPUT chain REJECTs the client's first connection with a port
unreachable, which crosses the router with no delay and shows twice as well.
The ` + "`capture-both-ends*`" + ` captures are two,
taken at once with tcpdump on the client's interface and on the server's,
across a router that holds every packet 20 ms, and merged in time order with
` + "`mergecap -F pcapng -I none`" + ` into one pcapng file with an Ethernet
interface for each (vantage ` + "`ends`" + `): every packet is in it twice, as it
left its sender (TTL or hop limit 64) and some 20 ms later as it reached the
receiver (63). The ` + "`capture-twice-nat*`" + ` captures were taken so inside a router
that translates addresses as kube-proxy does: the client connects to a
service address the router DNATs to the server's, and the router
MASQUERADEs the client's address toward the server, so every segment shows
once on each of two 4-tuples, with the same sequence numbers; their truth
files name the two flows as one connection (` + "`nat_pairs`" + `). In the
` + "`capture-twice-nat-bridge*`" + ` ones the server hangs off a bridge in that
router, as a Kubernetes node's pods hang off cni0: the server's side of
every segment shows twice, on the bridge and on its port, with one TTL
(hop limit), and the truth drops the second copy as a capture duplicate. In
` + "`tw-syn-refused-paws-nat`" + ` two clients sit behind a router whose SNAT maps
both to one address and port (a one-port range); the capture is the
server's. In ` + "`nat-expired-untranslated*`" + ` a router DNATs a service address to the
server with no source NAT, and its conntrack forgets the connection after a
2 s silence (` + "`nf_conntrack_tcp_timeout_established`" + `): the server's next
segment reaches the client untranslated, a flow of its own with no SYN; the
capture is the client's. ` + "`icmp-unmatched`" + ` was captured at the client with the filter
` + "`tcp port 8080 or icmp`" + `, as a user watching one service would, while the
server's INPUT chain REJECTed the client's SYNs to its port 9090 with port
unreachables: the capture holds those errors, not the SYNs they quote.

| scenario | what it shows | framing | vantage | capture |
|---|---|---|---|---|
`

// writeReadme writes dir/README.md: the table of every scenario whose
// capture is in dir.
func writeReadme(dir string) error {
	var b strings.Builder
	b.WriteString(readmeHead)
	var total int64
	for _, sc := range scenarios() {
		fi, err := os.Stat(filepath.Join(dir, sc.captureName()))
		if err != nil {
			continue
		}
		total += fi.Size()
		if ti, err := os.Stat(filepath.Join(dir, sc.name+".truth.json")); err == nil {
			total += ti.Size()
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %.1f kB |\n", sc.name, sc.summary, sc.framing, sc.vantage, float64(fi.Size())/1024)
	}
	fmt.Fprintf(&b, "\nCaptures and truth files together: %.1f MB.\n", float64(total)/(1<<20))
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644)
}
