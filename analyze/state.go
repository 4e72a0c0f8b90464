package analyze

import "fmt"

// State is a TCP connection state as netstat names it. The zero value is
// invalid.
type State uint8

// States, in the kernel's order of appearance on a connection's life.
const (
	_ State = iota
	SynSent
	SynRecv
	Established
	FinWait1
	FinWait2
	Closing
	TimeWait
	CloseWait
	LastAck
	Closed
)

var stateNames = [...]string{
	SynSent:     "SYN_SENT",
	SynRecv:     "SYN_RECV",
	Established: "ESTABLISHED",
	FinWait1:    "FIN_WAIT1",
	FinWait2:    "FIN_WAIT2",
	Closing:     "CLOSING",
	TimeWait:    "TIME_WAIT",
	CloseWait:   "CLOSE_WAIT",
	LastAck:     "LAST_ACK",
	Closed:      "CLOSED",
}

var _ fmt.Stringer = State(0)

// String returns the netstat name, or "INVALID" for an unknown value.
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "INVALID"
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) {
	if s.String() == "INVALID" {
		return nil, fmt.Errorf("analyze: invalid state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, ok := ParseState(string(b))
	if !ok {
		return fmt.Errorf("analyze: unknown state %q", b)
	}
	*s = v
	return nil
}

// ParseState returns the State named n.
func ParseState(n string) (State, bool) {
	for i, name := range stateNames {
		if name == n && name != "" {
			return State(i), true
		}
	}
	return 0, false
}
