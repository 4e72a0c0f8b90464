package analyze

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite analyze/rules.md from the rule book")

// vocabCodes are the diagnosis codes of vocab.go and the rule files.
var vocabCodes = []string{
	CodeFinRetransmitted, CodeFinNeverAcked, CodeFinBlockedZeroWindow, CodeFinWait2Timeout,
	CodeLinger2Negative, CodeCloseWaitLong, CodeTimeWaitReuse, CodeTimeWaitSynRefused,
	CodeTimeWaitMissing, CodeRstUnreadData, CodeRstLingerZero, CodeRstDataAfterClose,
	CodeOrphanReset, CodeKeepaliveReset, CodeListenOverflow, CodeAcceptQueueFull, CodeConnectionRefused, CodeSynRejectedICMP, CodeSynUnanswered, CodeSynRetransmitted, CodeSynAckUnanswered, CodeSynCookie, CodeRstMiddlebox, CodeRstNoSocket, CodeSynProbe, CodeNoAnswerAfterIdle, CodeDataUnanswered, CodePMTUBlackHole, CodeNATUntranslated, CodePawsNat,
	CodeCaptureStartedMidFlow, CodeCaptureEndedMidClose, CodeCaptureMissingPackets,
	CodeTimeWaitRstIgnored, CodeTimeWaitAssassinated, CodePortPressure,
}

// TestRuleBook: every code has one reference entry, every flow rule's
// code is in the book, and an entry that names a knob says what moving
// it does and how to confirm.
func TestRuleBook(t *testing.T) {
	var book []string
	for _, r := range Rules() {
		if slices.Contains(book, r.Code) {
			t.Errorf("%s: two entries", r.Code)
		}
		book = append(book, r.Code)
		if r.Title == "" || r.Meaning == "" || r.Severity.Rank() == 0 {
			t.Errorf("%s: title, meaning or severity missing", r.Code)
		}
		if r.Sysctl != "" && (r.Default == "" || r.Raise == "" || r.Lower == "" || len(r.Confirm) == 0 || r.Kernel == "") {
			t.Errorf("%s: a knob without its default, effects, confirmation or kernel row", r.Code)
		}
	}
	for _, c := range vocabCodes {
		if !slices.Contains(book, c) {
			t.Errorf("%s: no reference entry", c)
		}
	}
	for _, r := range flowRules {
		if !slices.Contains(book, r.code) {
			t.Errorf("flow rule %s: no reference entry", r.code)
		}
	}
	if len(book) != len(vocabCodes) {
		t.Errorf("%d entries, %d codes", len(book), len(vocabCodes))
	}
	// Rules returns a copy.
	rs := Rules()
	rs[0].Confirm[0] = "changed"
	if Rules()[0].Confirm[0] == "changed" {
		t.Error("Rules shares its slices with the book")
	}
}

func TestExplain(t *testing.T) {
	var b bytes.Buffer
	if err := Explain(&b, CodeFinNeverAcked); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{
		"fin-never-acked — a FIN was never acknowledged",
		"sysctl     net.ipv4.tcp_orphan_retries (also net.ipv4.tcp_retries2,\n           TCP_USER_TIMEOUT)",
		"default    0, which acts as 8",
		"raising ", "lowering ", "KERNEL.md row 1, §b",
		"confirm on the host:\n    sysctl net.ipv4.tcp_orphan_retries net.ipv4.tcp_retries2\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("explain %s lacks %q:\n%s", CodeFinNeverAcked, s, out)
		}
	}
	for _, line := range strings.Split(out, "\n")[1:] {
		if n := len([]rune(line)); n > 78 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}

	b.Reset()
	if err := Explain(&b, CodeCloseWaitLong); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "sysctl     none — no sysctl shortens CLOSE_WAIT") {
		t.Errorf("explain %s:\n%s", CodeCloseWaitLong, b.String())
	}

	b.Reset()
	if err := Explain(&b, CodeRstMiddlebox); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "confirm on the device on the path:\n    conntrack -L -p tcp") {
		t.Errorf("explain %s:\n%s", CodeRstMiddlebox, b.String())
	}

	b.Reset()
	if err := Explain(&b, ""); err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !strings.Contains(b.String(), r.Code+" ") {
			t.Errorf("the list lacks %s", r.Code)
		}
	}

	err := Explain(&b, "fin-wait-3")
	if !errors.Is(err, ErrUnknownCode) || !strings.Contains(err.Error(), `"fin-wait-3"`) || !strings.Contains(err.Error(), CodeTimeWaitReuse) {
		t.Errorf("unknown code: %v", err)
	}
}

// TestRulesMarkdown keeps analyze/rules.md in step with the rule book.
func TestRulesMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteRulesMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("rules.md", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile("rules.md")
	if err != nil {
		t.Fatalf("%v (run go test ./analyze -run TestRulesMarkdown -update)", err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Error("analyze/rules.md is not what the rule book gives: run go test ./analyze -run TestRulesMarkdown -update")
	}
	for _, r := range Rules() {
		if !bytes.Contains(have, []byte("\n## "+r.Code+"\n")) {
			t.Errorf("rules.md lacks %s", r.Code)
		}
	}
}
