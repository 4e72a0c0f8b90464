// Command teardown reads tcpdump captures and reports how every TCP
// connection in them was torn down.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	_, _, _ = args, stdin, stdout
	fmt.Fprintln(stderr, "teardown: error: not built yet")
	return 2
}
