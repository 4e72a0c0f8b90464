package analyze

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teardown/teardown/flows/testenv"
)

// TestGrade: no doubt is high confidence, one medium, more low; a doubt
// counts once, and settling one grades again without touching a copy.
func TestGrade(t *testing.T) {
	d := bookDiagnosis(CodeKeepaliveReset)
	if d.Confidence != ConfidenceHigh || d.Doubts != nil || d.Severity != Warning {
		t.Fatalf("keepalive-reset starts %+v, want high, no doubts, warning", d)
	}
	d.doubt("a")
	d.doubt("a")
	if d.Confidence != ConfidenceMedium || len(d.Doubts) != 1 {
		t.Errorf("one doubt: %q %q", d.Confidence, d.Doubts)
	}
	d.doubt("b")
	if d.Confidence != ConfidenceLow {
		t.Errorf("two doubts: %q", d.Confidence)
	}
	kept := d.Clone()
	d.settle("a")
	if d.Confidence != ConfidenceMedium || !slices.Equal(d.Doubts, []string{"b"}) || !slices.Equal(kept.Doubts, []string{"a", "b"}) {
		t.Errorf("settled a: %q %q, the copy %q", d.Confidence, d.Doubts, kept.Doubts)
	}
	b := bookDiagnosis(CodeFinNeverAcked)
	r, _ := ruleInfo(CodeFinNeverAcked)
	if b.Confidence != ConfidenceMedium || !slices.Equal(b.Doubts, []string{r.Doubt}) || b.Severity != Error {
		t.Errorf("fin-never-acked starts %+v", b)
	}
	b.settleBook()
	if b.Confidence != ConfidenceHigh || b.Doubts != nil {
		t.Errorf("fin-never-acked settled: %+v", b)
	}
}

// TestConfidence: the rule book's doubt, a half-close that decides the
// retry knob, and the doubts a capture raises (packets missed, a start
// mid-flow), on literal segments.
func TestConfidence(t *testing.T) {
	retry, _ := ruleInfo(CodeFinRetransmitted)
	unread, _ := ruleInfo(CodeRstUnreadData)
	tests := []struct {
		name   string
		bare   bool // no handshake
		build  func(w *wire)
		code   string
		doubts []string
	}{
		{
			name: "data after close: one cause, high",
			build: func(w *wire) {
				w.send(srv, "F.", 0, gap(2))
				w.send(cli, ".", 0)
				w.send(cli, "P.", 100, gap(0.5))
				w.send(srv, "R", 0, replyRST)
			},
			code: CodeRstDataAfterClose,
		},
		{
			name: "unread data: read, or not, before the reset",
			build: func(w *wire) {
				w.send(cli, "P.", 100)
				w.send(srv, "R.", 0, gap(0.2))
			},
			code:   CodeRstUnreadData,
			doubts: []string{unread.Doubt},
		},
		{
			name: "a FIN retransmitted: orphan or shut down",
			build: func(w *wire) {
				fin := w.send(cli, "F.", 0, gap(0.05))
				w.again(fin, 0.2)
				w.send(srv, ".", 0, gap(0.1))
			},
			code:   CodeFinRetransmitted,
			doubts: []string{retry.Doubt},
		},
		{
			name: "a FIN retransmitted by a side that acknowledged data after it: shut down",
			build: func(w *wire) {
				fin := w.send(cli, "F.", 0, gap(0.05))
				w.again(fin, 0.2)
				w.send(srv, ".", 0, gap(0.1))
				w.send(srv, "P.", 100, gap(0.1))
				w.send(cli, ".", 0)
			},
			code: CodeFinRetransmitted,
		},
		{
			name: "unread data, mid-flow",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "P.", 100)
				w.send(srv, ".", 0)
				w.send(cli, "P.", 100)
				w.send(srv, "R.", 0, gap(0.2))
			},
			code:   CodeRstUnreadData,
			doubts: []string{unread.Doubt, doubtMidFlow},
		},
		{
			name: "unread data, mid-flow, packets missed",
			bare: true,
			build: func(w *wire) {
				w.send(cli, "P.", 100)
				// The server acknowledges 100 bytes the capture never saw.
				w.send(srv, ".", 0, ackNum(w.nxt[cli]+100))
				w.send(srv, "R.", 0, gap(0.2), ackNum(w.nxt[cli]+100))
			},
			code:   CodeRstUnreadData,
			doubts: []string{unread.Doubt, doubtMissing, doubtMidFlow},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wireOf(t, tt.bare, tt.build)
			f := runOpts(t, w.segs, Options{}).Flows[0]
			d := find(t, f, tt.code)
			if !slices.Equal(d.Doubts, tt.doubts) {
				t.Fatalf("doubts %q, want %q (diagnoses %v)", d.Doubts, tt.doubts, diagSet(f))
			}
			want := []Confidence{ConfidenceHigh, ConfidenceMedium, ConfidenceLow}[min(len(tt.doubts), 2)]
			if d.Confidence != want {
				t.Errorf("confidence %q, want %q", d.Confidence, want)
			}
			for _, c := range f.Diagnoses {
				if strings.HasPrefix(c.Code, "capture-") && (c.Confidence != ConfidenceHigh || c.Doubts != nil) {
					t.Errorf("%s doubts the capture: %+v", c.Code, c)
				}
			}
		})
	}
}

// TestLabConfidence: over the lab's captures, every diagnosis is graded
// by its doubts; the capture caveats and the untranslated link are
// certain; a flow whose capture
// missed packets, or began after the handshake, doubts each of its other
// diagnoses; and the host's settings (the truth's sysctls) settle the
// FIN rules' doubt about the retry knob where they agree with it.
func TestLabConfidence(t *testing.T) {
	dir := testenv.Lab(t)
	truths, _ := filepath.Glob(filepath.Join(dir, "*.truth.json"))
	graded, settled, findings := 0, 0, 0
	for _, path := range truths {
		tr := readLabTruth(t, path)
		res := runLab(t, filepath.Join(dir, tr.Capture), Options{})
		for _, f := range res.Flows {
			missing := slices.ContainsFunc(f.Diagnoses, func(d Diagnosis) bool { return d.Code == CodeCaptureMissingPackets })
			for _, d := range f.Diagnoses {
				graded++
				want := []Confidence{ConfidenceHigh, ConfidenceMedium, ConfidenceLow}[min(len(d.Doubts), 2)]
				if d.Confidence != want {
					t.Errorf("%s flow %d %s: confidence %q with %d doubts", tr.Capture, f.ID, d.Code, d.Confidence, len(d.Doubts))
				}
				// The nat-untranslated link rests on two flows' sequence
				// numbers, on whichever flow the summary adds second: it
				// takes no capture doubts, or its grade would depend on
				// that order.
				caveat := strings.HasPrefix(d.Code, "capture-") || d.Code == CodeNATUntranslated && f.Untranslated != nil
				if caveat && d.Doubts != nil ||
					!caveat && missing && !slices.Contains(d.Doubts, doubtMissing) ||
					!caveat && f.Roles == RolesInferred && !slices.Contains(d.Doubts, doubtMidFlow) {
					t.Errorf("%s flow %d %s: doubts %q", tr.Capture, f.ID, d.Code, d.Doubts)
				}
			}
		}
		for _, f := range res.Summary.Findings {
			findings++
			if f.Confidence != gradeOf(f.Doubts) || f.Confidence == "" {
				t.Errorf("%s finding %s on %s: confidence %q with doubts %q", tr.Capture, f.Code, f.Host, f.Confidence, f.Doubts)
			}
		}
		for _, side := range []string{"client", "server"} {
			sys := labSettings(tr, side)
			if _, ok := sys.Values[SysOrphanRetries]; !ok {
				continue
			}
			for _, f := range runLab(t, filepath.Join(dir, tr.Capture), Options{Sysctls: sys}).Flows {
				for _, d := range f.Diagnoses {
					r, _ := ruleInfo(d.Code)
					if !r.Settled || len(d.Checks) == 0 || d.Sysctl != SysOrphanRetries {
						continue
					}
					agree := !slices.ContainsFunc(d.Checks, func(c SettingCheck) bool { return !c.Agrees })
					if has := slices.Contains(d.Doubts, r.Doubt); agree == has {
						t.Errorf("%s flow %d %s with %s's settings: checks %+v, doubts %q", tr.Capture, f.ID, d.Code, side, d.Checks, d.Doubts)
					}
					if agree {
						settled++
					}
				}
			}
		}
	}
	if graded < 100 || settled < 2 || findings < 3 {
		t.Errorf("graded %d diagnoses and %d findings, settled %d by settings: too few to mean much", graded, findings, settled)
	}
}
