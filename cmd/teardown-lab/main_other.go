//go:build !linux

// teardown-lab makes its captures with real Linux sockets in network
// namespaces; elsewhere it only says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "teardown-lab: error: the lab needs Linux (network namespaces, veth pairs, per-namespace sysctls)")
	os.Exit(2)
}
