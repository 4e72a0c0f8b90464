package main

import (
	"io"
)

func runExplain(args []string, stdout io.Writer, l *logger) int {
	_, _ = args, stdout
	l.errorf("explain: not available in this build")
	return exitError
}
