// Package synth writes synthetic tcpdump captures of many interleaved TCP
// connections, and says exactly what is in them.
//
// [Generate] is deterministic: the same [Config] (seed included) writes the
// same bytes. It returns a [Truth] that counts every connection's close kind
// the way DESIGN.md defines it, so a test can run the analyzer on the file
// and assert that its counts equal the truth, and a benchmark can make
// millions of realistic packets in memory before it measures.
//
// # What a capture holds
//
// Ethernet frames, about a tenth of the connections over IPv6, a little
// UDP noise, and TCP connections that arrive as a Poisson process so that
// about [Config.Concurrency] of them are open at once. Each connection has
// a three-way handshake with the options Linux puts on a SYN (MSS, SACK
// permitted, timestamps, window scale), one or more request/response
// exchanges with correct sequence and acknowledgement numbers and TCP
// timestamps on every segment, and then the close its scenario (see [Mix])
// calls for:
//
//   - four-way closes by the client or by the server, the passive side's
//     ACK delayed the way a Linux CLOSE_WAIT socket in pingpong mode
//     delays it;
//   - three-way closes, where the passive FIN rides on the ACK of the
//     active FIN;
//   - simultaneous closes, where neither FIN acknowledges the other;
//   - half-closes, where the passive side keeps sending data after the
//     active FIN and the active side ACKs it (shutdown(SHUT_WR));
//   - FIN retransmissions in the Linux pattern (KERNEL.md §b): a tail-loss
//     probe about one RTO after the FIN, then RTO retransmissions with the
//     interval doubling, until the peer ACKs, or until the orphan gives up
//     in silence;
//   - CLOSE_WAIT leaks (the passive side never sends its FIN);
//   - aborts by [R.] from either side, with the sender's timestamps;
//   - rejected connections: a SYN answered by a reply-RST ([R.], IPv4 ID 0,
//     no timestamps);
//   - connections still open when the capture ends;
//   - TIME_WAIT reuse: a later connection on the same 4-tuple less than
//     60 s after the active closer entered TIME_WAIT, whose ISN (the
//     client's SYN, or the server's SYN-ACK, whichever side held the
//     TIME_WAIT) is the holder's previous FIN sequence number + 65538, and
//     whose TSvals continue those of the previous incarnation.
//
// The capture point is between the two hosts, nearer the server: a side
// answers a segment one of its round trips from the capture point after
// the segment passed it. Round-trip times are log-uniform between 0.1 ms
// and 50 ms. Every 4-tuple is used by one connection only, except the
// deliberate TIME_WAIT reuses, so the analyzer's reuse count is
// comparable with [Truth.Reuses].
//
// Frames are cut at [Config.Snaplen] (96 bytes by default: headers only,
// as `tcpdump -s 96` writes them); the IP header always gives the true
// length. Payload bytes are zero. IPv4 header checksums and TCP and UDP
// checksums are correct.
//
// # Adversarial modes
//
// [SynFlood] adds [Config.Flood] SYN-only connections on distinct 4-tuples
// from spoofed sources to one server; [FinStorm] adds one connection whose
// client FIN is sent [Config.Storm] times and never acknowledged. Either can
// run with no background traffic (Conns and Packets zero) or mixed into it.
//
// # Speed
//
// Headers are written by hand into one reused buffer and records go
// straight into a buffered writer; a connection's packets are planned when
// it starts and a heap interleaves the open connections by time. The
// benchmarks in this package report packets per second and allocations.
package synth
