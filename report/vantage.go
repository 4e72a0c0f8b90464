package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/teardown/teardown/analyze"
)

// Where the capture was taken, from the handshakes' round trips
// (analyze.RTT): a capture point next to one side sees that side answer
// at once and waits a whole round trip for the other.

// nearWhich names the side a capture point was near, given its round
// trips to the client and to the server: the one at most a quarter as far
// as the other, or "" when it was somewhere between them. ok is false when
// both are under a millisecond: the hosts' own handling of the handshake,
// not the path, makes the difference then.
func nearWhich(toClient, toServer float64) (near analyze.Role, ok bool) {
	switch {
	case max(toClient, toServer) < 0.001:
		return "", false
	case toClient*4 <= toServer:
		return analyze.Client, true
	case toServer*4 <= toClient:
		return analyze.Server, true
	}
	return "", true
}

// pathFact is a flow's round trips from the capture point and, for the
// close states a side lived noticeably longer or shorter than the capture
// shows (by 1 ms and a tenth at least), how long the side itself was in
// them: "path: round trip 24.1ms to the client, 97µs to the server (from
// the handshake): captured near the server; the client lived FIN_WAIT1
// for 24.2ms (seen 97µs)". "" without a round trip. sum is the capture's
// summary (nil for none): captures of both ends merged keep each packet
// as it left, and each "round trip" is then the way there alone and the
// other end's answer.
func pathFact(f *analyze.Flow, sum *analyze.Summary) string {
	c, okc := f.RTT.Of(analyze.Client)
	v, oks := f.RTT.Of(analyze.Server)
	var trips []string
	if okc {
		trips = append(trips, seconds(c)+" to the client")
	}
	if oks {
		trips = append(trips, seconds(v)+" to the server")
	}
	if len(trips) == 0 {
		return ""
	}
	out := "path: round trip " + strings.Join(trips, ", ") + " (from the handshake)"
	if bothEnds(sum) {
		out += ": captured at both ends, each packet as it left, so these are one-way delays and each end's answer time"
	} else if near, ok := nearWhich(c, v); okc && oks && ok {
		if near == "" {
			out += ": captured between them"
		} else {
			out += ": captured near the " + string(near)
		}
	}
	for _, x := range []analyze.Role{analyze.Client, analyze.Server} {
		var spans []string
		for _, sp := range analyze.Lived(f, x) {
			if d := math.Abs(sp.Lived - sp.Seen); d >= 0.001 && d >= 0.1*sp.Seen {
				spans = append(spans, fmt.Sprintf("%s for %s (seen %s)", sp.State, seconds(sp.Lived), seconds(sp.Seen)))
			}
		}
		if len(spans) > 0 {
			out += fmt.Sprintf("; the %s lived %s", x, strings.Join(spans, ", "))
		}
	}
	return out
}

// bothEnds reports whether the capture is captures of both ends merged:
// most of its capture duplicates came a millisecond or more after their
// first copies, a one-way delay later.
func bothEnds(s *analyze.Summary) bool {
	return s != nil && s.DuplicateGaps != nil && s.DuplicateGaps.Apart > 0 && 2*s.DuplicateGaps.Apart >= s.Duplicates
}

// captureVantage says where the capture was taken, from the median round
// trips to the clients and to the servers: "near the servers: median
// round trip 97µs to them, 24.1ms to the clients". "" without both, or
// when both are under a millisecond. Captures of both ends merged say
// so, with how far apart the two copies of each packet came.
func captureVantage(s *analyze.Summary) string {
	if bothEnds(s) {
		g := s.DuplicateGaps
		return fmt.Sprintf("at both ends: %s seen leaving and arriving, %s–%s apart (one-way delays)",
			plural(g.Apart, "packet", "packets"), seconds(g.Min), seconds(g.Max))
	}
	if s == nil || s.ClientRTT == nil || s.ServerRTT == nil || s.ClientRTT.Count == 0 || s.ServerRTT.Count == 0 {
		return ""
	}
	c, v := s.ClientRTT.Median, s.ServerRTT.Median
	near, ok := nearWhich(c, v)
	switch {
	case !ok:
		return ""
	case near == analyze.Client:
		return fmt.Sprintf("near the clients: median round trip %s to them, %s to the servers", seconds(c), seconds(v))
	case near == analyze.Server:
		return fmt.Sprintf("near the servers: median round trip %s to them, %s to the clients", seconds(v), seconds(c))
	}
	return fmt.Sprintf("between clients and servers: median round trip %s to the clients, %s to the servers", seconds(c), seconds(v))
}
