package checker_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// No verdict about nothing: a history with no operation that shows the
// state says unknown on every row, not held.
func TestNothingExercised(t *testing.T) {
	for name, recs := range map[string][]history.Record{
		"empty":       nil,
		"only writes": hist(t, "register", "1 n1 w 1 ok 0 10", "2 n2 w 2 ok 20 30"),
		"reads fail":  hist(t, "register", "1 n1 w 1 ok 0 10", "2 n2 r 1 fail 20 30"),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != checker.Unknown {
				t.Errorf("verdict %s, want unknown", res.Verdict)
			}
			for _, r := range res.Guarantees {
				if r.Status != checker.Undecided || r.Note == "" {
					t.Errorf("%s: %s %q, want unknown saying why", r.Guarantee, r.Status, r.Note)
				}
			}
		})
	}
	// A cas that succeeded shows the state: a history of them is judged.
	res, err := checker.Check(hist(t, "register", "1 n1 w 1 ok 0 10", "2 n2 cas 1,2 ok 20 30"), named(t, "register"), checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, res, checker.Linearizable); r.Status != checker.Held || res.Verdict != checker.Valid {
		t.Errorf("write then cas: linearizable %s, verdict %s", r.Status, res.Verdict)
	}
}

// A faultline history records its end: one that stops early, or lost
// records, is reported cut, and a valid verdict becomes unknown.
func TestCutHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Create(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Begin(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range hist(t, "register", "1 n1 w 1 ok 0 10", "2 n2 r 1 ok 20 30", "1 n1 w 2 ok 40 50", "2 n2 r 2 ok 60 70") {
		if _, err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.End(""); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := history.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(recs []history.Record) checker.Result {
		t.Helper()
		res, err := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check(whole); res.Verdict != checker.Valid || res.Cut != nil {
		t.Fatalf("the whole history: verdict %s, cut %v", res.Verdict, res.Cut)
	}
	// Cut at a line boundary after the first operation: no end mark.
	res := check(whole[:3])
	if res.Verdict != checker.Unknown || res.Cut == nil || res.Cut.Missing != -1 || !strings.Contains(res.Note, "no end mark") || !strings.Contains(res.Note, "planned for 30.0s") {
		t.Errorf("cut after one operation: verdict %s, cut %+v, note %q", res.Verdict, res.Cut, res.Note)
	}
	// Records lost from the middle: the end mark counts them.
	res = check(append(append([]history.Record{}, whole[:7]...), whole[9:]...))
	if res.Verdict != checker.Unknown || res.Cut == nil || res.Cut.Missing != 2 {
		t.Errorf("two records lost: verdict %s, cut %+v, note %q", res.Verdict, res.Cut, res.Note)
	}
	// Another tool's history has no marks: whether it is whole cannot be
	// told, and it is judged as it is.
	if res := check(whole[1 : len(whole)-1]); res.Verdict != checker.Valid || res.Cut != nil {
		t.Errorf("no marks: verdict %s, cut %v", res.Verdict, res.Cut)
	}
}

// Every proof names the faults in force while its operations ran, or
// says that none was.
func TestProofNamesTheFault(t *testing.T) {
	recs := hist(t, "register", "1 n1 w 5 ok 0 10", "fault 15", "2 n2 w 7 ok 20 30", "3 n3 r 5 ok 40 50", "heal 60", "4 n3 r 5 ok 70 80")
	res, err := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.Linearizable}})
	if err != nil {
		t.Fatal(err)
	}
	r := row(t, res, checker.Linearizable)
	if len(r.Violations) == 0 || r.Violations[0].Fault != "partition {}" || !strings.Contains(r.Violations[0].String(), "(during partition {})") {
		t.Errorf("the stale read during the partition: %+v", r.Violations)
	}
	res, err = checker.Check(hist(t, "register", "1 n1 w 5 ok 0 10", "2 n2 w 7 ok 20 30", "3 n3 r 5 ok 40 50"), named(t, "register"), checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if v := row(t, res, checker.Linearizable).Violations; len(v) == 0 || v[0].Fault != "" || !strings.Contains(v[0].String(), "(no fault in force)") {
		t.Errorf("with no fault: %+v", v)
	}
}
