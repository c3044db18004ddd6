package checker

import (
	"testing"
	"time"
)

// On linearizable histories no check may find a violation: every
// guarantee examined is implied by linearizability. Random histories of
// registers (with cas, and writes of unknown outcome) and of sets.
func TestNoViolationOnLinearizableHistories(t *testing.T) {
	for seed := range uint64(10) {
		for _, w := range []*Workload{Register, Set} {
			recs := synthRegister(3000, 5, 8, false, seed+1)
			if w == Set {
				recs = synthSet(3000, 5, 8, seed+1)
			}
			res, err := Check(recs, w, Options{Budget: time.Minute, Expect: w.Examines()[:1]})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != Valid {
				t.Fatalf("%s seed %d: verdict %s", w.name, seed, res.Verdict)
			}
			for _, r := range res.Guarantees {
				if r.Status == Violated {
					t.Fatalf("%s seed %d: %s violated on a linearizable history: %v", w.name, seed, r.Guarantee, r.Violations)
				}
			}
		}
	}
	// And the anomaly synthRegister can inject is found.
	res, err := Check(synthRegister(3000, 5, 8, true, 1), Register, Options{Budget: time.Minute, Expect: []Guarantee{Sequential}})
	if err != nil || res.Verdict != Invalid {
		t.Fatalf("injected anomaly: %s %v", res.Boundary, err)
	}
}
