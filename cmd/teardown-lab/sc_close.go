//go:build linux

package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teardown/teardown/analyze"
)

// Scenarios of orderly closes: who closes first and how the FINs meet.

var (
	activeStates  = []string{"SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT"}
	passiveStates = []string{"SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"}
)

// passiveClose reads to the peer's FIN, waits d and closes: the passive
// side of an orderly close.
func passiveClose(e *env, s *sock, d time.Duration) {
	s.readEOF()
	e.sleep(d)
	s.close()
}

// exchange runs one request and response on a fresh connection.
func exchange(e *env, ln *sock, req, resp int) (c, s *sock) {
	c = e.dial(0)
	s = ln.accept()
	c.write(req)
	s.read(req)
	s.write(resp)
	c.read(resp)
	return c, s
}

func clientActiveClose() *scenario {
	return &scenario{
		name:    "client-active-close",
		summary: "client closes first, server closes 150 ms later: four-way close",
		desc: "The client sends a 100-byte request, reads the 300-byte response and close()s; the server reads EOF, " +
			"its delayed ACK of the FIN goes out alone, and it close()s 150 ms later. Default sysctls.",
		vantage: vantageClient,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 300)
			c.close()
			passiveClose(e, s, 150*time.Millisecond)
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			return c.clientFirst().err()
		},
	}
}

func serverActiveClose() *scenario {
	return &scenario{
		name:    "server-active-close",
		summary: "HTTP style: the server closes after its response, the client 100 ms later",
		desc: "The client sends a 120-byte request; the server answers 2000 bytes and close()s at once; the client reads " +
			"to EOF and close()s 100 ms later, so the server holds TIME_WAIT. Default sysctls; captured at the server.",
		vantage: vantageServer,
		framing: frameEthernet,
		run: func(e *env) {
			ln := e.listen()
			c := e.dial(0)
			s := ln.accept()
			c.write(120)
			s.read(120)
			s.write(2000)
			s.close()
			c.readEOF()
			e.sleep(100 * time.Millisecond)
			c.close()
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			return c.kind(analyze.FourWay).initiator(analyze.Server).fins(rc, 1, 1).fins(rs, 1, 1).
				reset("", "").diags().
				states(rs, "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT").
				states(rc, "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED").err()
		},
	}
}

func threeWayClose() *scenario {
	return &scenario{
		name:    "three-way-close",
		summary: "the server's FIN rides on its ACK of the client's FIN (FIN, FIN+ACK, ACK)",
		desc: "The client close()s after a short exchange; the server close()s as soon as read() returns 0, inside its " +
			"40 ms delayed-ACK time, so its FIN carries the ACK of the client's FIN. Default sysctls; SLL2 framing (-i any at the client).",
		vantage:  vantageClient,
		framing:  frameSLL2,
		attempts: 5,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			c.close()
			s.readEOF()
			s.close()
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			if c.fl.Close.Kind != string(analyze.ThreeWay) {
				return fmt.Errorf("%w: close kind %s, not three_way", errRetry, c.fl.Close.Kind)
			}
			return c.initiator(analyze.Client).fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").diags().
				states(rc, activeStates...).states(rs, passiveStates...).err()
		},
	}
}

// closeTogether calls close() on a and b at the same instant: two
// goroutines, each on its own thread, spin until released.
func closeTogether(a, b *sock) {
	var ready, done sync.WaitGroup
	var go_ atomic.Bool
	for _, s := range []*sock{a, b} {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			for !go_.Load() {
			}
			s.close()
		}()
	}
	ready.Wait()
	time.Sleep(5 * time.Millisecond)
	go_.Store(true)
	done.Wait()
}

func simultaneousClose() *scenario {
	return &scenario{
		name:    "simultaneous-close",
		summary: "both sides close() at the same instant: the FINs cross, both go through CLOSING to TIME_WAIT",
		desc: "Client and server close() at the same instant (two threads released together); neither FIN acknowledges " +
			"the other, each side ACKs the peer's FIN from CLOSING and both end in TIME_WAIT. Default sysctls; captured at a router between them.",
		vantage:  vantageRouter,
		framing:  frameEthernet,
		attempts: 12,
		run: func(e *env) {
			ln := e.listen()
			c, s := exchange(e, ln, 100, 100)
			e.sleep(50 * time.Millisecond)
			closeTogether(c, s)
		},
		check: func(w *wire) error {
			c, err := w.one()
			if err != nil {
				return err
			}
			if c.fl.Close.Kind != string(analyze.SimultaneousKind) {
				return fmt.Errorf("%w: close kind %s: the FINs did not cross", errRetry, c.fl.Close.Kind)
			}
			return c.initiator(analyze.Simultaneous).fins(rc, 1, 1).fins(rs, 1, 1).reset("", "").diags().
				states(rc, "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "CLOSING", "TIME_WAIT").
				states(rs, "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "CLOSING", "TIME_WAIT").err()
		},
	}
}
