package report

import (
	"bytes"
	"encoding/json"
	"testing"
)

var indentSeeds = []string{
	`{}`, `[]`, `{"a":[]}`, `{"a":{},"b":[{}]}`, `[1,-2.5e3,true,false,null]`,
	`{"s":"a\"b","t":"\\","u":"{[,:]}","v":"\\\"","w":"é\u2028"}`,
	`{"flows":[{"id":1,"sides":{"client":{"states":[{"state":"SYN_SENT"}]}}}],"n":0}`,
	`"just a string"`, `42`,
}

// indentLikeStdlib checks appendIndented against json.Indent on the
// compact form of src.
func indentLikeStdlib(t *testing.T, src []byte) {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, src); err != nil {
		return
	}
	var want bytes.Buffer
	want.WriteString("head")
	if err := json.Indent(&want, compact.Bytes(), "    ", "  "); err != nil {
		t.Fatal(err)
	}
	if got := appendIndented([]byte("head"), compact.Bytes(), "    "); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("appendIndented(%s):\n%s\nwant (json.Indent):\n%s", compact.Bytes(), got, want.Bytes())
	}
}

func TestAppendIndented(t *testing.T) {
	for _, s := range indentSeeds {
		indentLikeStdlib(t, []byte(s))
	}
	// Every flow of the lab's captures, as the JSON document encodes it.
	res := labAll(t, "net.ipv4.tcp_fin_timeout = 60\n")
	if len(res.Flows) < 30 {
		t.Fatalf("only %d lab flows", len(res.Flows))
	}
	for _, f := range res.Flows {
		b, err := appendFlow(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		indentLikeStdlib(t, b)
	}
}

func FuzzAppendIndented(f *testing.F) {
	for _, s := range indentSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if json.Valid(src) {
			indentLikeStdlib(t, src)
		}
	})
}
