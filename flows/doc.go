// Package flows turns decoded TCP segments into flows: the capture-side half
// of teardown. Its subpackage capture reads pcap and pcapng files and yields
// [Segment] values; the flow table groups segments by 4-tuple and
// incarnation and keeps bounded per-direction evidence.
//
// flows records evidence, not opinions: it knows nothing of TCP states,
// sysctls or diagnoses. Package analyze turns the evidence into a close story.
package flows
