package analyze

// ZeekConnState maps flow f onto the conn_state Zeek's conn.log gives a
// connection (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH,
// SHR, OTH), with side orig as Zeek's originator: the client, for a flow
// whose handshake the capture holds. It reads teardown's story: where
// Zeek's own reading differs (it splits a connection whose SYN went
// unanswered for 5 s in two; it credits a FIN to a socket still in
// SYN_SENT), it gives what Zeek's definitions say of teardown's one
// connection.
func ZeekConnState(f *Flow, orig Role) string {
	resp := Server
	if orig == Server {
		resp = Client
	}
	// One pass over the events: who reset, who sent anything.
	var rsts, sent [2]bool
	for i := range f.Events {
		e := &f.Events[i]
		if e.From != orig && e.From != resp {
			continue // an ICMP error's sender
		}
		x := boolIndex(e.From == resp)
		sent[x] = true
		if e.Note == NoteRST || e.Note == NoteRSTIgnored {
			rsts[x] = true
		}
	}
	fins := [2]bool{len(sideOf(f, orig).FinFrames) > 0, len(sideOf(f, resp).FinFrames) > 0}
	fin := func(r Role) bool { return fins[boolIndex(r == resp)] }
	rst := func(r Role) bool { return rsts[boolIndex(r == resp)] }
	syn := f.Handshake != HandshakeNotSeen
	synack := f.Handshake == HandshakeComplete || f.Handshake == HandshakeSynSynAck || (f.Roles == RolesHandshake && !syn)
	switch {
	case f.Close.Kind == Rejected:
		return "REJ"
	case syn && !synack:
		// Zeek's RSTOS0 needs nothing but SYNs from the originator
		// before its RST; a FIN before it falls through to OTH.
		switch {
		case rst(orig) && fin(orig):
			return "OTH"
		case rst(orig):
			return "RSTOS0"
		case fin(orig):
			return "SH"
		}
		return "S0"
	case !syn && synack && !sent[0]:
		switch {
		case rst(resp):
			return "RSTRH"
		case fin(resp):
			return "SHR"
		}
	case fin(orig) && fin(resp):
		return "SF"
	case !syn && !synack:
		return "OTH"
	case rst(orig):
		return "RSTO"
	case rst(resp):
		return "RSTR"
	case fin(orig):
		return "S2"
	case fin(resp):
		return "S3"
	}
	return "S1"
}

// boolIndex is 1 for true, 0 for false.
func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
