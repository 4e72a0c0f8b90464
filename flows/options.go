package flows

import "strings"

// A SYN's option layout, packed four bits per option in the order the
// options were written, the first in the lowest bits: what tells one TCP
// stack from another (p0f's "olayout"). Each stack writes its SYN options
// in an order of its own, whatever the values.
const (
	OptNone   Options = iota // no option: the end of the layout
	OptNOP                   // kind 1
	OptMSS                   // kind 2
	OptWS                    // kind 3, window scale
	OptSOK                   // kind 4, SACK permitted
	OptSACK                  // kind 5
	OptTS                    // kind 8, timestamps
	OptEOL                   // kind 0, end of options
	OptMD5                   // kind 19, TCP MD5 signature
	OptAO                    // kind 29, TCP authentication option
	OptMPTCP                 // kind 30
	OptTFO                   // kind 34, TCP Fast Open cookie
	OptExp                   // kinds 253 and 254, experiments (Fast Open's draft form, SMC)
	OptAccECN                // kinds 172 and 174
	OptUTO                   // kind 28, user timeout
	OptOther                 // any other kind
)

// LinuxSYN is the layout of a Linux SYN with the default settings (and of
// its SYN-ACK to such a SYN): MSS, SACK-permitted, timestamps, NOP,
// window scale.
const LinuxSYN = OptMSS | OptSOK<<4 | OptTS<<8 | OptNOP<<12 | OptWS<<16

// maxOptions is how many options a layout holds.
const maxOptions = 8

var optionNames = [...]string{"", "nop", "mss", "ws", "sok", "sack", "ts", "eol", "md5", "ao", "mptcp", "tfo", "exp", "accecn", "uto", "?"}

// optionCode is the layout code of option kind k.
func optionCode(k byte) Options {
	switch k {
	case 0:
		return OptEOL
	case 1:
		return OptNOP
	case 2:
		return OptMSS
	case 3:
		return OptWS
	case 4:
		return OptSOK
	case 5:
		return OptSACK
	case 8:
		return OptTS
	case 19:
		return OptMD5
	case 28:
		return OptUTO
	case 29:
		return OptAO
	case 30:
		return OptMPTCP
	case 34:
		return OptTFO
	case 172, 174:
		return OptAccECN
	case 253, 254:
		return OptExp
	}
	return OptOther
}

// PackOptions returns the layout of the TCP options o (the bytes after
// the fixed header). The walk ends at an end-of-options (which is kept),
// at an option whose length does not fit, and after 8 options.
func PackOptions(o []byte) Options {
	var l Options
	for i := 0; len(o) > 0 && i < maxOptions; i++ {
		k := o[0]
		n := 1
		if k > 1 {
			if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
				break
			}
			n = int(o[1])
		}
		l |= optionCode(k) << (4 * i)
		if k == 0 {
			break
		}
		o = o[n:]
	}
	return l
}

// Options is a packed SYN option layout.
type Options uint32

// Codes returns the layout's option codes in order.
func (l Options) Codes() []uint8 {
	var out []uint8
	for ; l != 0; l >>= 4 {
		out = append(out, uint8(l&15))
	}
	return out
}

// String names the options in order, as p0f writes a layout:
// "mss,sok,ts,nop,ws". A SYN without options gives "".
func (l Options) String() string {
	var b strings.Builder
	for _, c := range l.Codes() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(optionNames[c])
	}
	return b.String()
}
