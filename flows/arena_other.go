//go:build !unix

package flows

const canMap = false

func mapBlock(int) []byte { return nil }

func unmapBlock([]byte) {}

func releaseBlock([]byte) {}
