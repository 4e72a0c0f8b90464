// Package flows turns decoded TCP segments into flows: the capture-side half
// of teardown. Its subpackage capture reads pcap and pcapng files and yields
// [Segment] values; the flow table groups segments by 4-tuple and
// incarnation and keeps bounded per-direction evidence.
//
// The table's memory follows the connections alive at once, not the
// capture's length: a connection whose close is complete lingers 60 s of
// capture time (a Linux TIME_WAIT) for a retransmitted FIN or a reusing
// SYN, and one idle for 10 s waits for its next segment, both asleep as a
// compact byte string of a few hundred bytes that wakes identical; the
// finished 4-tuple is then remembered briefly for linking the next
// incarnation; MaxFlows caps the rest.
//
// flows records evidence, not opinions: it knows nothing of TCP states,
// sysctls or diagnoses. Package analyze turns the evidence into a close story.
package flows
