// Package capture reads packet captures and yields their TCP segments as
// [flows.Segment] values.
//
// [Open] sniffs each input by its content: classic pcap (either byte order,
// microsecond or nanosecond timestamps), pcapng (several sections and
// interfaces, each interface with its own link type and timestamp
// resolution; enhanced, simple and obsolete packet blocks; unknown blocks
// are skipped), either of them compressed with gzip, zstd, xz or bzip2,
// from files or standard input. Several inputs, such as the rotated files of tcpdump -C or -G, are
// merged into one stream ordered by timestamp.
//
// # Link layers
//
// Ethernet (with 802.1Q and QinQ tags, 802.2 SNAP, MPLS label stacks and
// PPPoE sessions), Linux cooked captures v1 and v2 (what tcpdump -i any
// writes), BSD loopback (NULL and LOOP), raw IP (LINKTYPE_RAW, IPV4, IPV6),
// Cisco HDLC, PPP and Linux netfilter log messages (NFLOG). IPv4 options,
// IPv6 extension headers and tunnels are followed: IP in IP, GRE (IP,
// transparent Ethernet bridging, ERSPAN types I to III, and PPTP's PPP), and
// UDP to the VXLAN (4789) and Geneve (6081) ports, as Wireshark decodes
// them; a segment is the innermost TCP, keyed by its own addresses (tunnel
// identifiers such as the VNI are not part of a connection's key). IP
// fragments, of TCP and of the tunnels' datagrams, are reassembled (see
// [Reader.Fragments]). Anything else, TCP quoted inside ICMP errors and
// tunnels such as Teredo included, is counted as non-TCP.
//
// # Bad input
//
// Bad input never loses good data. A record cut short at the end of an
// input (tcpdump killed mid-write) ends that input with a warning in
// [Info.Warnings]; every record before it is delivered. A packet whose
// headers claim more bytes than it has is counted as malformed and skipped.
// So is one which snaplen cut before the end of its TCP header, and one
// warning per input names the first of those, with its captured and needed
// lengths, and counts them; a packet cut after its TCP header is a whole
// segment, its payload length taken from the IP header. IP fragments are
// counted and skipped. A record larger than the snapshot length or than
// 256 KiB is skipped with a warning; a damaged pcapng block is skipped by
// finding the next valid one. Warnings about skipped records are limited
// to 20 per input. Only an input that cannot be opened or read, is not a
// capture, or has an unsupported link type is an error ([*Error]).
//
// # Frames
//
// Frame numbers are 1-based and count every record, TCP or not, in
// delivery order across the merged inputs, so for a single file they are
// the frame numbers Wireshark shows. Records of one input are delivered in
// the order they were written, even when their timestamps go backwards
// (see [Info.OutOfOrder]); a pcapng simple packet block, which has no
// timestamp, takes the time of the record before it. Steps back of a few
// microseconds are common (tcpdump -i any merges per-CPU queues) and
// harmless; when records step back by more than 1 ms (a clock stepped
// back, or pcapng interfaces whose clocks differ), one warning per input
// names the first of them and counts them, for durations across them are
// unreliable.
//
// Records are decoded in place in each input's 512 KB read buffer, with
// hand-written header parsing. A file is read up to its end as it is when
// the reading gets there (a capture still being written is read up to
// there), and one cut short ends with a warning. A Segment holds only
// values, and reading allocates nothing per packet.
package capture
