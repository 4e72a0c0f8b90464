package synth

import "time"

func timeOf(t int64) time.Time { return time.Unix(0, t).UTC() }

// Raw TCP window fields: Linux's on a SYN and SYN-ACK, and after the
// handshake with window scale 7.
const (
	winSYN     = 64240
	winSYNv6   = 64800
	winSYNACK  = 65160
	winClient  = 502
	winServer  = 509
	mssOptIPv4 = 1460
	mssOptIPv6 = 1440
)

// emitTCP writes p, a segment of c.
func (g *gen) emitTCP(c *conn, p *pkt) error {
	d := int(p.attr & aServer)
	e := 1 - d
	f := g.w.frame()

	optLen := 12 // NOP, NOP, timestamps
	switch {
	case p.attr&aNoTS != 0:
		optLen = 0
	case p.flags&fSYN != 0:
		optLen = 20 // MSS, SACK permitted, timestamps, NOP, window scale
	}
	hl := 20 + optLen
	l4 := hl + int(p.plen)

	n := putEthernet(f, d == cli, c.v6)
	var ipl int
	var pseudo uint32
	if c.v6 {
		ipl, pseudo = putIPv6(f[n:], &c.addr[d], &c.addr[e], c.flow[d], c.ttl[d], protoTCP, l4)
		g.truth.IPv6Packets++
	} else {
		id := c.ipid[d]
		if p.attr&aIPID0 != 0 {
			id = 0
		} else {
			c.ipid[d]++
		}
		ipl, pseudo = putIPv4(f[n:], &c.addr[d], &c.addr[e], id, c.ttl[d], protoTCP, l4)
	}
	n += ipl

	t := f[n : n+hl]
	be.PutUint16(t[0:], c.port[d])
	be.PutUint16(t[2:], c.port[e])
	be.PutUint32(t[4:], p.seq)
	be.PutUint32(t[8:], p.ack)
	t[12] = uint8(hl/4) << 4
	t[13] = uint8(p.flags)
	var win uint16
	switch {
	case p.attr&aNoTS != 0:
		win = 0
	case p.flags&(fSYN|fACK) == fSYN:
		win = winSYN
		if c.v6 {
			win = winSYNv6
		}
	case p.flags&fSYN != 0:
		win = winSYNACK
	case d == cli:
		win = winClient
	default:
		win = winServer
	}
	be.PutUint16(t[14:], win)
	t[16], t[17], t[18], t[19] = 0, 0, 0, 0
	o := t[20:]
	switch optLen {
	case 20:
		mss := uint16(mssOptIPv4)
		if c.v6 {
			mss = mssOptIPv6
		}
		o[0], o[1] = 2, 4
		be.PutUint16(o[2:], mss)
		o[4], o[5] = 4, 2
		o[6], o[7] = 8, 10
		be.PutUint32(o[8:], p.tsval)
		be.PutUint32(o[12:], p.tsecr)
		o[16], o[17], o[18], o[19] = 1, 3, 3, 7
	case 12:
		o[0], o[1], o[2], o[3] = 1, 1, 8, 10
		be.PutUint32(o[4:], p.tsval)
		be.PutUint32(o[8:], p.tsecr)
	}
	// The payload is zeros, which add nothing to the checksum.
	be.PutUint16(t[16:], ^fold(sum16(t, pseudo)))
	n += hl

	tr := &g.truth
	tr.Packets++
	tr.TCPPackets++
	if p.flags&fSYN != 0 {
		tr.SYNs++
	}
	if p.flags&fFIN != 0 {
		tr.FINs++
	}
	if p.flags&fRST != 0 {
		tr.RSTs++
	}
	g.w.payload(f, n, n+int(p.plen))
	return g.w.record(p.t, n+int(p.plen))
}

// noise writes the UDP frames that follow a TCP frame at t: as many as a
// geometric draw says, so that they are NonTCPFraction of all frames.
func (g *gen) noise(t int64) error {
	q := g.cfg.NonTCPFraction
	if q == 0 {
		return nil
	}
	for g.r.chance(q) {
		if err := g.udp(t); err != nil {
			return err
		}
	}
	return nil
}

// udp writes a DNS-sized UDP datagram between a client host and the
// resolver, one way or the other.
func (g *gen) udp(t int64) error {
	r := &g.r
	v6 := r.chance(g.cfg.IPv6Fraction)
	var client, resolver [16]byte
	host := uint64(r.intn(clientHosts))
	if v6 {
		client = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0c}
		be.PutUint64(client[8:], host+1)
		resolver = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x05}
		be.PutUint64(resolver[8:], 53)
	} else {
		be.PutUint32(client[:], 10<<24|uint32(host+1))
		be.PutUint32(resolver[:], 198<<24|51<<16|100<<8|53)
	}
	ports := [2]uint16{uint16(portLo + r.intn(portRange)), 53}
	src, dst := &client, &resolver
	plen := 28 + r.intn(40)
	toServer := r.chance(0.5)
	if !toServer {
		src, dst = dst, src
		ports[0], ports[1] = ports[1], ports[0]
		plen += 16 + r.intn(200)
	}
	l4 := 8 + plen
	f := g.w.frame()
	n := putEthernet(f, toServer, v6)
	var ipl int
	var pseudo uint32
	if v6 {
		ipl, pseudo = putIPv6(f[n:], src, dst, r.u32()&0xfffff, 64, protoUDP, l4)
		g.truth.IPv6Packets++
	} else {
		ipl, pseudo = putIPv4(f[n:], src, dst, uint16(r.u32()), 64, protoUDP, l4)
	}
	n += ipl
	u := f[n : n+8]
	be.PutUint16(u[0:], ports[0])
	be.PutUint16(u[2:], ports[1])
	be.PutUint16(u[4:], uint16(l4))
	u[6], u[7] = 0, 0
	sum := ^fold(sum16(u, pseudo))
	if sum == 0 {
		sum = 0xffff
	}
	be.PutUint16(u[6:], sum)
	n += 8
	g.truth.Packets++
	g.truth.UDPPackets++
	g.w.payload(f, n, n+plen)
	return g.w.record(t, n+plen)
}
