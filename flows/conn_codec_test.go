package flows

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"unsafe"
)

// fill sets every field reachable from v to a random value: numbers
// nonzero, marks with a frame, bools at random, pointers to new values.
// Fields named in skip (as Type.Field) are left alone.
func fill(v reflect.Value, r *rand.Rand, skip map[string]bool) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if skip[v.Type().Name()+"."+f.Name] {
				continue
			}
			fv := reflect.NewAt(f.Type, unsafe.Pointer(v.Field(i).UnsafeAddr())).Elem()
			fill(fv, r, skip)
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), r, skip)
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), r, skip)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1+r.IntN(20), 30)
		for i := range s.Len() {
			fill(s.Index(i), r, skip)
		}
		v.Set(s)
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Uint64:
		if v.Type() == reflect.TypeFor[uint64]() && r.IntN(2) == 0 {
			v.SetUint(1 + r.Uint64N(1<<40)) // frames: realistic
		} else {
			v.SetUint(1 + r.Uint64())
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint:
		v.SetUint(1 + r.Uint64N(1<<(8*v.Type().Size())-1))
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		x := int64(r.Uint64()) >> (64 - 8*v.Type().Size())
		if x == 0 {
			x = -1
		}
		v.SetInt(x)
	default:
		panic("fill: unhandled " + v.Type().String())
	}
}

// TestConnCodecRoundTrip fills every field of connections at random and
// checks that a connection put to sleep wakes identical: a field the
// codec forgot fails it.
func TestConnCodecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// Fields the sleeping record keeps itself, or that are empty while a
	// connection sleeps; Addr follows the key.
	skip := map[string]bool{
		"connState.key": true, "connState.inHS": true, "connState.live": true, "connState.hidx": true, "connState.onAwake": true, "connMore.links": true,
		"Conn.Prev": true, "Conn.Prior": true, "Conn.Addr": true, "Conn.End": true, "Conn.EndTime": true, "Conn.z": true, "Conn.zs": true,
		"Conn.ICMP": true, // filled below: an address is not random bits
	}
	var none Mark
	for i := range 200 {
		c := newConn()
		fill(reflect.ValueOf(c).Elem(), r, skip)
		for d := range c.Dir {
			// The table sets the first timestamp after the SYN-ACK with
			// its flag, and the encoding keeps it only then.
			if h := &c.Dir[d]; !h.tsKept {
				h.TSAfterSYN, h.TSAfterSYNVal = Mark{}, 0
			}
		}
		if i%4 == 0 {
			c.Dir[i/4%2].Episodes = nil
			c.Events = nil
			c.Dir[1].FinAcked, c.more.rst = none, none
		}
		if i%2 == 0 {
			for _, m := range []*Mark{&c.First, &c.Last, &c.Dir[0].Last} {
				m.Frame = c.First.Frame + r.Uint64N(1000)
			}
		}
		refs := 0
		if i%4 == 1 && len(c.Events) > 0 {
			// Marks that are events' are written as references to
			// them: in frame order, some shared, one a near miss.
			slices.SortFunc(c.Events, func(a, b Event) int { return cmp.Compare(a.Frame, b.Frame) })
			d := c.Dir[1].Detail
			for j, m := range []*Mark{&d.FinFirst, &d.FinAcked, &c.Dir[0].MaxAckAt, &c.more.rst, &c.Dir[0].SYN} {
				*m = c.Events[j%len(c.Events)].Mark()
				refs++
			}
			e := c.Events[len(c.Events)-1]
			d.FinLast = Mark{e.Frame, e.Time + 1}
		}
		if i%4 == 2 {
			// What real connections are like: a half with none of the
			// rare fields (resets, bad ACKs, data after the peer's FIN,
			// zero windows, keepalives), or with one of them; unset
			// sequence numbers; events that repeat their sender's TTL
			// and window, and stand for one segment.
			h := &c.Dir[i/4%2]
			x := h.Detail
			h.RSTCount, x.FinDuplicates, x.FinSeqChanges, x.BadAcks, x.badAck = 0, 0, 0, 0, 0
			x.AfterPeerFIN, x.RSTInWindow, x.SegmentsAfterRST, x.ZeroWindows, x.Episodes = AfterFIN{}, 0, 0, 0, nil
			x.Keepalives, x.LastKeepalive, x.Stalls = 0, none, nil
			if i%8 == 6 {
				x.LastKeepalive = c.First
			}
			c.Dir[1].FinSeq, c.Dir[0].MaxAck = 0, 0
			var last [2]*Event
			for j := range c.Events {
				e := &c.Events[j]
				e.Dir &= 1
				if p := last[e.Dir]; p != nil && j%3 != 0 {
					e.TTL, e.Win = p.TTL, p.Win
				}
				if j%2 == 0 {
					e.Count, e.Ack = 1, 0
				}
				last[e.Dir] = e
			}
		}
		c.ICMPCount = 0
		if i%3 != 2 {
			c.ICMPCount = 1 + r.IntN(2*MaxICMP)
			for j := range min(c.ICMPCount, MaxICMP) {
				from := netip.AddrFrom4([4]byte{198, 51, 100, byte(r.Uint32())})
				if j%2 == 1 {
					from = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.Uint32())})
				}
				c.ICMP = append(c.ICMP, ICMPEvent{
					Mark:      Mark{c.First.Frame + r.Uint64N(1e6), c.First.Time + int64(r.Uint64N(1e12))},
					ICMPError: ICMPError{Type: uint8(r.Uint32()), Code: uint8(r.Uint32()), V6: j%2 == 1, QuotedAck: r.IntN(2) == 0, QuotedFlags: r.IntN(2) == 0, MTU: uint16(r.Uint32()), From: from},
					Dir:       uint8(r.IntN(2)), TTL: uint8(r.Uint32()), Flags: Flags(r.Uint32()), Seq: r.Uint32(), Ack: r.Uint32(),
				})
			}
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), uint16(r.Uint32()))
		dst := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.200"), 80)
		if i%3 == 0 {
			src = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 40000)
			dst = netip.AddrPortFrom(netip.MustParseAddr("::ffff:198.51.100.7"), 443)
		}
		k, srcIsA := keyOf(src, dst)
		c.st.key, c.st.live = k, true
		c.st.clientIsA = srcIsA
		c.Addr = [2]netip.AddrPort{src, dst}
		if i%5 == 0 { // the client is the key's higher endpoint
			c.st.clientIsA = !srcIsA
			c.Addr = [2]netip.AddrPort{dst, src}
		}
		b := encodeConn(nil, c)
		if refs > 0 {
			c2 := *c
			c2.Dir[1].Detail = new(Detail)
			*c2.Dir[1].Detail = *c.Dir[1].Detail
			m := c.Dir[1].FinAcked
			c2.Dir[1].FinAcked = Mark{m.Frame, m.Time + 1}
			if n := len(encodeConn(nil, &c2)); n < len(b)+2 {
				t.Errorf("round %d: a mark that is an event's takes %d bytes, one that is not %d", i, len(b), n)
			}
		}
		if id := encodedID(b); id != c.ID {
			t.Errorf("round %d: encodedID says %d, want %d", i, id, c.ID)
		}
		got := decodeConn(b, &k)
		if !reflect.DeepEqual(c, got) {
			t.Fatalf("round %d: decoded connection differs\n got %+v\nwant %+v", i, got, c)
		}
		if i == 0 {
			t.Logf("random connection: %d bytes encoded", len(b))
		}
	}
}

// TestConnCodecRareFields: a half whose rare fields are all zero writes
// them as one byte, and one set is enough to write them all.
func TestConnCodecRareFields(t *testing.T) {
	c := newConn()
	c.First, c.Last = Mark{Frame: 10, Time: 1e9}, Mark{Frame: 20, Time: 2e9}
	c.Dir[0].FirstSeq, c.Dir[1].FirstSeq = 1000, 5000
	plain := len(encodeConn(nil, c))
	c.Dir[1].Keepalives = 1
	withOne := len(encodeConn(nil, c))
	// RSTCount, FinDuplicates, FinSeqChanges, BadAcks, badAck, the six
	// of AfterPeerFIN, RSTInWindow, SegmentsAfterRST, ZeroWindows,
	// Episodes, LastKeepalive: 16 more numbers besides Keepalives.
	if withOne-plain < 17 {
		t.Errorf("one keepalive grew the encoding from %d to %d bytes: the rare fields were written anyway", plain, withOne)
	}
	if got := decodeConn(encodeConn(nil, c), &c.st.key); got.Dir[1].Keepalives != 1 || got.Dir[0].Keepalives != 0 {
		t.Errorf("keepalives decoded as %d and %d, want 0 and 1", got.Dir[0].Keepalives, got.Dir[1].Keepalives)
	}
}

// TestVarints: the codec's numbers are the standard unsigned varints
// (encoding/binary's), written and read back at every length, at the end
// of the buffer or not.
func TestVarints(t *testing.T) {
	var xs []uint64
	for k := 1; k <= 64; k++ {
		p := uint64(1) << (k - 1)
		xs = append(xs, p-1, p, p+1, 2*p-1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		xs = append(xs, rng.Uint64()>>rng.IntN(64))
	}
	for _, x := range xs {
		want := binary.AppendUvarint(nil, x)
		w := zw{b: make([]byte, 10+len(want)), n: 3}
		w.u(x)
		if got := w.b[3:w.n]; !bytes.Equal(got, want) {
			t.Fatalf("%#x written as % x, want % x", x, got, want)
		}
		// Read with room after the number, and with none.
		for _, b := range [][]byte{w.b, w.b[:w.n]} {
			r := zr{b: b, n: 3}
			if got := r.u(); got != x || r.n != w.n {
				t.Fatalf("% x (buffer of %d) read as %#x ending at %d, want %#x ending at %d", want, len(b), got, r.n, x, w.n)
			}
		}
	}
}
