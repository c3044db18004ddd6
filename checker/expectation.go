package checker

import (
	"fmt"
	"slices"
	"strings"
)

// Expectation is what a scenario expects its run to show: a verdict, and
// guarantees the history must rule out or must keep. A bug scenario
// expects invalid, so a run of every shipped scenario passes on a correct
// build and fails when a bug scenario stops finding its bug.
type Expectation struct {
	Verdict  Verdict     `json:"verdict,omitempty"`
	Violated []Guarantee `json:"violated,omitempty"`
	Held     []Guarantee `json:"held,omitempty"`
}

// Judgement is an expectation and whether the result met it.
type Judgement struct {
	Expected Expectation `json:"expected"`
	Met      bool        `json:"met"`
	// Why says, when not met, what differed.
	Why string `json:"why,omitempty"`
}

// Judge compares a result with what was expected.
func (e Expectation) Judge(r Result) Judgement {
	j := Judgement{Expected: e, Met: true}
	var why []string
	if e.Verdict != "" && r.Verdict != e.Verdict {
		why = append(why, fmt.Sprintf("expected %s, got %s", e.Verdict, r.Verdict))
	}
	status := map[Guarantee]Status{}
	for _, g := range r.Guarantees {
		status[g.Guarantee] = g.Status
	}
	for _, want := range []struct {
		gs []Guarantee
		s  Status
	}{{e.Violated, Violated}, {e.Held, Held}} {
		for _, g := range want.gs {
			got, ok := status[g]
			switch {
			case !ok:
				why = append(why, fmt.Sprintf("expected %s %s, but it was not examined", g, want.s))
			case got != want.s:
				why = append(why, fmt.Sprintf("expected %s %s, got %s", g, want.s, got))
			}
		}
	}
	if len(why) > 0 {
		j.Met, j.Why = false, strings.Join(why, "; ")
	}
	return j
}

// String is the expectation as a scenario writes it.
func (e Expectation) String() string {
	var parts []string
	if e.Verdict != "" {
		parts = append(parts, string(e.Verdict))
	}
	if len(e.Violated) > 0 {
		parts = append(parts, "violated: "+names(e.Violated))
	}
	if len(e.Held) > 0 {
		parts = append(parts, "held: "+names(e.Held))
	}
	return strings.Join(parts, "; ")
}

// verdicts lists the verdicts a scenario may expect.
var verdicts = []Verdict{Valid, Invalid, Unknown}

// ParseVerdict reads a verdict's name.
func ParseVerdict(s string) (Verdict, error) {
	if v := Verdict(s); slices.Contains(verdicts, v) {
		return v, nil
	}
	return "", fmt.Errorf("unknown verdict %q (valid, invalid or unknown)", s)
}
