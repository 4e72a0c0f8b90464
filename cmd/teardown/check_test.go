package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/teardown/teardown/flows/testenv"
)

// TestCheckCompressedBaseline: a saved report kept compressed is a
// baseline as it is uncompressed; one cut short is an error that names
// it.
func TestCheckCompressedBaseline(t *testing.T) {
	capture := filepath.Join(testenv.Lab(t), "many-connections.pcapng")
	dir := t.TempDir()
	plain := filepath.Join(dir, "base.json")
	if o := teardown(t, nil, "-f", "json", "-o", plain, capture); o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	var gz, zs bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	enc, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(data)
	enc.Close()
	for name, b := range map[string][]byte{"base.json.gz": gz.Bytes(), "base.json.zst": zs.Bytes()} {
		path := write(t, name, b)
		o := teardown(t, nil, "check", "-b", path, capture)
		if o.code != 0 || !strings.Contains(o.stdout, "check: ok: 240 flows match") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, o.code, o.stdout, o.stderr)
		}
	}
	// The other capture differs from it, compressed or not.
	other := filepath.Join(testenv.Lab(t), "client-active-close.pcap")
	if o := teardown(t, nil, "check", "-b", write(t, "b.json.gz", gz.Bytes()), other); o.code != 1 {
		t.Errorf("another capture: exit %d, want 1", o.code)
	}
	cut := write(t, "cut.json.gz", gz.Bytes()[:gz.Len()/2])
	o := teardown(t, nil, "check", "-b", cut, capture)
	if o.code != 2 || !strings.HasPrefix(o.stderr, "teardown: error: "+cut+": ") {
		t.Errorf("a baseline cut short: exit %d, stderr %q; want 2 and an error naming it", o.code, o.stderr)
	}
}
