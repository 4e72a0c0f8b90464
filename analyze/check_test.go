package analyze

import (
	"strings"
	"testing"
)

func checkFixture() *Result {
	mk := func(id int, kind Kind, codes ...string) *Flow {
		f := &Flow{ID: id, Incarnation: 1, Client: "198.51.100.10:4000" + string(rune('0'+id)), Server: "198.51.100.80:8080",
			Close: Close{Kind: kind}, Diagnoses: []Diagnosis{}}
		for _, c := range codes {
			f.Diagnoses = append(f.Diagnoses, Diagnosis{Code: c, Severity: Warning, Frames: []uint64{}})
		}
		f.Sides.Client = &Side{FinalState: TimeWait, FinRetransmissions: id}
		f.Sides.Server = &Side{FinalState: Closed}
		return f
	}
	r := &Result{Flows: []*Flow{mk(1, FourWay), mk(2, ResetKind, "rst-unread-data"), mk(3, FourWay, "fin-retransmitted")}}
	r.Flows[2].Reuse = &Reuse{Gap: 0.4}
	return r
}

func TestCheckLimits(t *testing.T) {
	tests := []struct {
		limits string
		want   []string // substrings, one per expected mismatch
	}{
		{`{"forbid_diagnoses":["rst-unread-data"]}`, []string{"rst-unread-data fired on: 1 flow (#2)"}},
		{`{"forbid_diagnoses":["fin-never-acked"]}`, nil},
		{`{"max_diagnoses":{"fin-retransmitted":0}}`, []string{"fin-retransmitted allows 0, fired on: 1 flow (#3)"}},
		{`{"max_diagnoses":{"fin-retransmitted":1}}`, nil},
		{`{"max_severity":"info"}`, []string{"worse than info on: 2 flows (#2, #3)"}},
		{`{"max_severity":"warning"}`, nil},
		{`{"forbid_close_kinds":["reset"]}`, []string{"forbidden close kind on: 1 flow (#2)"}},
		{`{"forbid_final_states":["TIME_WAIT"]}`, []string{"forbidden final state on: 3 flows (#1, #2, #3)"}},
		{`{"min_reuse_gap":1}`, []string{"reuse sooner than 1s on: 1 flow (#3)"}},
		{`{"min_reuse_gap":0.3}`, nil},
		{`{"max_fin_retransmissions":1}`, []string{"more than 1 on: 2 flows (#2, #3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.limits, func(t *testing.T) {
			b, err := ParseBaseline([]byte(`{"limits":`+tt.limits+`}`), "x.json")
			if err != nil {
				t.Fatal(err)
			}
			got, err := Check(checkFixture(), b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d mismatches %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Flow != "" || !strings.Contains(got[i].What, w) {
					t.Errorf("mismatch %d = %+v, want a limit containing %q", i, got[i], w)
				}
			}
		})
	}
}

func TestCheckFlows(t *testing.T) {
	res := checkFixture()
	// A partial flow: compared keys only; incarnation defaults to 1.
	b, err := ParseBaseline([]byte(`{"flows":[
		{"client":"198.51.100.10:40002","server":"198.51.100.80:8080","close":{"kind":"four_way"},"diagnoses":[{"code":"rst-unread-data"}]},
		{"client":"198.51.100.10:40003","server":"198.51.100.80:8080","diagnoses":[]},
		{"client":"198.51.100.10:40009","server":"198.51.100.80:8080"}]}`), "x.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Check(res, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`close.kind: want "four_way", got "reset"`,
		`diagnoses: {"code":"fin-retransmitted"`,
		`missing from the result`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %d mismatches", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i].What, w) {
			t.Errorf("mismatch %d = %q, want it to contain %q", i, got[i].What, w)
		}
	}
	if got[0].ID != 2 || got[2].ID != 0 {
		t.Errorf("ids %d, %d: want 2 (found) and 0 (missing)", got[0].ID, got[2].ID)
	}
}

func TestParseBaselineErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`not json`, "not a baseline"},
		{`{"schema":"teardown/v9","flows":[]}`, `schema "teardown/v9"`},
		{`{"flows":[{"server":"x"}]}`, `flows[0]: "client" is required`},
		{`{}`, "nothing to check"},
		{`{"limits":{"max_severity":"fatal"}}`, "max_severity"},
	} {
		_, err := ParseBaseline([]byte(tt.in), "b.json")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "b.json: ") {
			t.Errorf("ParseBaseline(%s) = %v, want an error naming b.json and containing %q", tt.in, err, tt.want)
		}
	}
}
