// Package analyze turns one flow's evidence into its close story: each
// side's state sequence, FIN accounting, half-close and reset details,
// TIME_WAIT reuse, and the diagnoses with the sysctl that governs each.
// It also builds the capture-wide summary. It knows nothing of terminals or
// files; package report renders its [Result].
package analyze
