package scenarios_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/yamlpos"
	"github.com/faultline/faultline/scenarios"
)

// TestInputsOnceAcceptedSilently: each input the loader once took without
// a word is refused, naming file:line:col and the field, or (legal but
// unable to do what it seems to want) warned about with the fix.
func TestInputsOnceAcceptedSilently(t *testing.T) {
	for _, c := range []struct {
		name, src, want string
		warning         bool
	}{
		{"seed with a fraction", "time_limit: 5s\nseed: 1.5\n", "bad.yaml:2:7: seed: want a whole number, for example 3, not 1.5", false},
		{"keys with a fraction", "time_limit: 5s\nworkload:\n  keys: 2.7\n", "bad.yaml:3:9: workload.keys: want a whole number, for example 3, not 2.7", false},
		{"a mix of zeros", "time_limit: 5s\nworkload:\n  mix: {read: 0, write: 0, cas: 0}\n", "bad.yaml:3:3: workload.mix: is 0, which means nothing here: give at least one operation a weight", false},
		{"a second document", "time_limit: 5s\n---\ntime_limit: 9s\n", "bad.yaml:2:1: a second YAML document begins here", false},
		{"start_after past the run", "time_limit: 5s\nnemesis:\n  faults: [{kind: isolate}]\n  every: 2s\n  hold: 1s\n  start_after: 6s\n", "bad.yaml:6:3: nemesis.start_after: 6s is not before time_limit (5s): no fault would start", false},
		{"hold longer than the run", "time_limit: 5s\nnemesis:\n  faults: [{kind: isolate}]\n  every: 20s\n  hold: 10s\n", "bad.yaml:5:3: nemesis.hold: 10s from the first fault's start (start_after 0s) outlasts the run (time_limit 5s)", false},
		{"no faults with a schedule", "time_limit: 5s\nnemesis:\n  faults: []\n  every: 2s\n  hold: 1s\n", "bad.yaml:3:3: nemesis.faults: is empty, yet every / hold schedule faults", false},
		{"a schedule without faults", "time_limit: 5s\nnemesis:\n  every: 2s\n", "bad.yaml:2:1: nemesis.faults: is empty, yet every / hold schedule faults", false},
		{"cas in a set's mix", "time_limit: 5s\nworkload:\n  kind: set\n  mix: {read: 1, write: 1, cas: 1}\n", "bad.yaml:4:3: workload.mix: the set workload takes no mix", false},
		{"initial on a set", "time_limit: 5s\nworkload:\n  kind: set\nchecker:\n  initial: 3\n", "bad.yaml:5:3: checker.initial: applies to the register workload only; a set starts empty", false},
		{"a duration without its unit", "time_limit: 30\n", "bad.yaml:1:13: time_limit: want a duration with its unit", false},
		{"sequential with cas", "time_limit: 5s\nchecker:\n  expect: [sequential]\n", "bad.yaml:3:12: warning: checker.expect[0]: with cas in the mix, sequential can be found violated but never held", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, err := scenarios.Parse("bad.yaml", []byte(c.src))
			if c.warning {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(sc.Warnings) != 1 || !strings.Contains(sc.Warnings[0].Text(), c.want) {
					t.Fatalf("warnings %v, want one containing %q", sc.Warnings, c.want)
				}
				if !strings.Contains(sc.Warnings[0].Text(), "drop cas from the mix") {
					t.Errorf("the warning does not say the fix: %s", sc.Warnings[0].Text())
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, scenarios.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to wrap ErrInvalid and contain %q", err, c.want)
			}
		})
	}
	// Without cas, sequential is decided: no warning.
	sc, err := scenarios.Parse("ok.yaml", []byte("time_limit: 5s\nworkload:\n  mix: {read: 2, write: 1}\nchecker:\n  expect: [sequential]\n"))
	if err != nil || len(sc.Warnings) != 0 {
		t.Errorf("reads and writes with sequential claimed: %v, warnings %v", err, sc.Warnings)
	}
}

// TestEveryProblemInFileOrder: the validator lists every problem it can
// find in one pass, in file order, each as file:line:col, the same on
// every run.
func TestEveryProblemInFileOrder(t *testing.T) {
	unknown := "time_limit: 5s\nfoo: 1\ncluster:\n  nodez: 3\nbar: 2\nworkload:\n  kyes: 3\nbaz: 3\n"
	want := []string{
		"bad.yaml:2:1: unknown field \"foo\"",
		"bad.yaml:4:3: unknown field \"nodez\" (did you mean nodes?)",
		"bad.yaml:5:1: unknown field \"bar\"",
		"bad.yaml:7:3: unknown field \"kyes\" (did you mean keys?)",
		"bad.yaml:8:1: unknown field \"baz\"",
	}
	var first string
	for i := range 20 {
		_, err := scenarios.Parse("bad.yaml", []byte(unknown))
		if err == nil {
			t.Fatal("accepted")
		}
		if i == 0 {
			first = err.Error()
			lines := strings.Split(first, "\n")
			if len(lines) != len(want)+1 || !strings.Contains(lines[0], "5 problems, in file order") {
				t.Fatalf("not one header and %d problems:\n%s", len(want), first)
			}
			for j, w := range want {
				if lines[j+1] != w {
					t.Errorf("problem %d: %q, want %q", j, lines[j+1], w)
				}
			}
		} else if err.Error() != first {
			t.Fatalf("run %d answered differently:\n%s\nthen:\n%s", i, first, err)
		}
	}

	// Problems of values, once the shape is right: every one, across
	// sections, in file order.
	values := "time_limit: 5s\nworkload:\n  keys: 0\n  clients: 5000\nchecker:\n  budget: -1s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - {kind: isolate, node: n9}\n    - {kind: bogus}\n"
	_, err := scenarios.Parse("bad.yaml", []byte(values))
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Split(err.Error(), "\n")[1:]
	wantValues := []string{
		"bad.yaml:3:3: workload.keys: is 0",
		"bad.yaml:4:3: workload.clients: must be between 1 and 1000, got 5000",
		"bad.yaml:6:3: checker.budget: must be positive",
		"bad.yaml:11:23: nemesis.faults[0].node: no node \"n9\"",
		"bad.yaml:12:8: nemesis.faults[1].kind: unknown fault \"bogus\"",
	}
	if len(got) != len(wantValues) {
		t.Fatalf("%d problems, want %d:\n%s", len(got), len(wantValues), err)
	}
	for i, w := range wantValues {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("problem %d: %q, want it to begin %q", i, got[i], w)
		}
	}
	var ps *yamlpos.Problems
	if !errors.As(err, &ps) || !errors.Is(err, scenarios.ErrInvalid) {
		t.Errorf("the list is not a *yamlpos.Problems wrapping ErrInvalid: %T", err)
	}

	// Bounded: past MaxProblems, a count of the rest.
	var b strings.Builder
	b.WriteString("time_limit: 5s\n")
	for i := range yamlpos.MaxProblems + 5 {
		fmt.Fprintf(&b, "unknown%d: 1\n", i)
	}
	_, err = scenarios.Parse("bad.yaml", []byte(b.String()))
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != yamlpos.MaxProblems+2 || lines[len(lines)-1] != "... and 5 more" {
		t.Errorf("%d lines, last %q; want %d, ending \"... and 5 more\"", len(lines), lines[len(lines)-1], yamlpos.MaxProblems+2)
	}
}

// TestMergeKeys: YAML merge keys work as YAML defines them (a key written
// beside the merge replaces the merged one); a key written twice in one
// mapping is still refused; a top-level x- key holds an anchor.
func TestMergeKeys(t *testing.T) {
	src := `x-fault: &isolate {kind: isolate, node: n1}
x-every: &schedule
  every: 4s
  hold: 1s
time_limit: 10s
nemesis:
  <<: *schedule
  faults:
    - *isolate
    - <<: *isolate
      node: n2
`
	sc, err := scenarios.Parse("merge.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	f := sc.Nemesis.Faults
	if sc.Nemesis.Every.String() != "4s" || sc.Nemesis.Hold.String() != "1s" || len(f) != 2 ||
		f[0].Kind != "isolate" || f[0].Node != "n1" || f[1].Kind != "isolate" || f[1].Node != "n2" {
		t.Errorf("merged wrong: every %v hold %v faults %+v", sc.Nemesis.Every, sc.Nemesis.Hold, f)
	}
	for _, c := range []struct{ src, want string }{
		{"time_limit: 5s\ntime_limit: 6s\n", "bad.yaml:2:1: time_limit: written twice in one mapping (first at line 1)"},
		{"base: &b {keys: 2}\ntime_limit: 5s\nworkload: *b\n", "; a top-level key that only holds an anchor to merge from must begin with x- (x-base)"},
		{"time_limit: 5s\nworkload:\n  x-mine: 1\n", "bad.yaml:3:3: unknown field \"x-mine\""},
		{"x-b: &b {kyes: 2}\ntime_limit: 5s\nworkload:\n  <<: *b\n", "bad.yaml:1:10: unknown field \"kyes\" (did you mean keys?)"},
	} {
		if _, err := scenarios.Parse("bad.yaml", []byte(c.src)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
}

// TestReplayKeepsIntent: a timeline entry's as_written is checked like
// any fault, survives a store round trip, and AsWritten applies it.
func TestReplayKeepsIntent(t *testing.T) {
	src := `time_limit: 10s
nemesis:
  timeline:
    - at: 1s
      for: 2s
      fault: {kind: custom, direction: to, grudge: {n1: [n2], n2: [n1, n3], n3: [n2]}}
      as_written: {kind: isolate, node: leader}
`
	sc, err := scenarios.Parse("replay.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := sc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := scenarios.Parse("again.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	e := back.Nemesis.Timeline[0]
	if e.Fault.Kind != "custom" || e.AsWritten == nil || e.AsWritten.Kind != "isolate" || e.AsWritten.Node != "leader" {
		t.Fatalf("round trip lost the intent: %+v\n%s", e, out)
	}
	if n := back.AsWritten(); n != 1 || back.Nemesis.Timeline[0].Fault.Kind != "isolate" || back.Nemesis.Timeline[0].Fault.Node != "leader" || back.Nemesis.Timeline[0].AsWritten != nil {
		t.Errorf("AsWritten: %d, %+v", n, back.Nemesis.Timeline[0])
	}
	bad := strings.Replace(src, "node: leader", "node: n7", 1)
	if _, err := scenarios.Parse("replay.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "replay.yaml:7:35: nemesis.timeline[0].as_written.node: no node \"n7\"") {
		t.Errorf("a bad as_written: %v", err)
	}
}
