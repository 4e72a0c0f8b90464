package synth_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/teardown/teardown/flows/synth"
)

// A benchmark or test makes a capture in memory, runs the analyzer on
// it, and compares the analyzer's counts with the truth.
func ExampleGenerate() {
	var capture bytes.Buffer
	truth, err := synth.Generate(&capture, synth.Config{
		Seed:        1,
		Packets:     1_000_000,
		Concurrency: 20_000,
		Format:      synth.PCAPNG,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(truth.Packets, truth.Conns, truth.ByKind[synth.KindFourWay], truth.Reuses)
}
