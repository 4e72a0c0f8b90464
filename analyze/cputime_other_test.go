//go:build !unix

package analyze

import "time"

// processCPU is not known here.
func processCPU() time.Duration { return -1 }
