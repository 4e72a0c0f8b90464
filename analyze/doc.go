// Package analyze turns one flow's evidence into its close story: each
// side's state sequence, FIN accounting, half-close and reset details,
// TIME_WAIT reuse, and the diagnoses with the sysctl that governs each.
// It also builds the capture-wide summary. It knows nothing of terminals or
// files; package report renders its [Result].
//
// # Running
//
// [Run] pulls segments from a [flows.Source] through a [flows.Table] and
// builds one [Flow] per connection as the table lets it go: after its close
// and a 60 s linger (so its TIME_WAIT outcome is known), when a new SYN
// supersedes it, when --max-flows evicts it, or at the end of the capture.
// Flow IDs follow each connection's first frame, so streamed (Options.Emit)
// and collected output agree, and the same input always gives the same
// result.
//
// # How states are stamped
//
// A side's states are the kernel's, as far as the wire proves them:
//
//   - a transition caused by a segment the side sent (its SYN, its FIN) is
//     stamped with that segment;
//   - one caused by a segment it received is stamped with the received
//     segment, but only once the side acknowledged or answered it; of
//     several transmissions, the one just before that proof arrived — or
//     the one before that when the proof's D-SACK reports the FIN
//     received twice;
//   - an acknowledgement of a FIN takes effect at the first one sent after
//     the FIN's last transmission (a retransmission after an ACK proves that
//     ACK was lost);
//   - a segment carrying both the ACK of a side's FIN and the peer's FIN is
//     processed ACK first, as Linux does: the three-way close passes
//     FIN_WAIT2 and TIME_WAIT on one frame;
//   - a FIN that crossed the receiver's own FIN keeps its stamp (frames in
//     a simultaneous close need not increase) but applies after that FIN;
//   - a RST the receiver would accept closes both sides, "via": "rst"; one
//     outside the receiver's window changes nothing and is counted;
//   - a FIN the capture missed is inferred when the peer acknowledged one
//     sequence number past all the side's data, and the states it causes
//     are marked inferred.
package analyze
