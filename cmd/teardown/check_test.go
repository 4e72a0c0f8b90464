package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/teardown/teardown/flows/capture"
	"github.com/teardown/teardown/flows/testenv"
)

// TestCheckCompressedBaseline: a saved report kept compressed is a
// baseline as it is uncompressed; one cut short is an error that names
// it; -o writes it compressed when its name ends in .gz or .zst.
func TestCheckCompressedBaseline(t *testing.T) {
	pcap := filepath.Join(testenv.Lab(t), "many-connections.pcapng")
	dir := t.TempDir()
	plain := filepath.Join(dir, "base.json")
	if o := teardown(t, nil, "-f", "json", "-o", plain, pcap); o.code != 0 {
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
		o := teardown(t, nil, "check", "-b", path, pcap)
		if o.code != 0 || !strings.Contains(o.stdout, "check: ok: 240 flows match") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, o.code, o.stdout, o.stderr)
		}
	}
	// Written compressed by -o, the same report.
	for _, name := range []string{"out.json.gz", "out.json.zst"} {
		path := filepath.Join(dir, name)
		if o := teardown(t, nil, "-f", "json", "-o", path, pcap); o.code != 0 {
			t.Fatalf("-o %s: exit %d: %s", name, o.code, o.stderr)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		in, codec, done, err := capture.Decompress(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(in)
		done()
		f.Close()
		if err != nil || codec == "" || !bytes.Equal(got, data) {
			t.Errorf("-o %s: %s-compressed, %d bytes (%v); want the %d bytes of the plain report", name, codec, len(got), err, len(data))
		}
	}
	// The other capture differs from it, compressed or not.
	other := filepath.Join(testenv.Lab(t), "client-active-close.pcap")
	if o := teardown(t, nil, "check", "-b", write(t, "b.json.gz", gz.Bytes()), other); o.code != 1 {
		t.Errorf("another capture: exit %d, want 1", o.code)
	}
	cut := write(t, "cut.json.gz", gz.Bytes()[:gz.Len()/2])
	o := teardown(t, nil, "check", "-b", cut, pcap)
	if o.code != 2 || !strings.HasPrefix(o.stderr, "teardown: error: "+cut+": ") {
		t.Errorf("a baseline cut short: exit %d, stderr %q; want 2 and an error naming it", o.code, o.stderr)
	}
}
