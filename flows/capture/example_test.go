package capture_test

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/teardown/teardown/flows"
	"github.com/teardown/teardown/flows/capture"
)

func Example() {
	r, err := capture.Open([]string{"testdata/sll2-loopback.pcap"}, capture.Options{Stdin: os.Stdin})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for {
		s, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if s.Frame <= 3 || s.Flags.Has(flows.FIN) {
			fmt.Printf("%d %v > %v %s seq %d ack %d len %d\n", s.Frame, s.Src, s.Dst, s.Flags, s.Seq, s.Ack, s.PayloadLen)
		}
	}
	info := r.Info()
	fmt.Println(info.Format, info.LinkTypes, info.Packets, "frames,", info.TCPPackets, "TCP")
	// Output:
	// 1 127.0.0.1:34146 > 127.0.0.1:8765 S seq 4188102445 ack 0 len 0
	// 2 127.0.0.1:8765 > 127.0.0.1:34146 S. seq 743958664 ack 4188102446 len 0
	// 3 127.0.0.1:34146 > 127.0.0.1:8765 . seq 4188102446 ack 743958665 len 0
	// 8 127.0.0.1:34146 > 127.0.0.1:8765 F. seq 4188102451 ack 743958671 len 0
	// 10 127.0.0.1:8765 > 127.0.0.1:34146 F. seq 743958671 ack 4188102452 len 0
	// pcap [LINUX_SLL2] 11 frames, 11 TCP
}
