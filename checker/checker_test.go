package checker_test

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

func load(t testing.TB, name string) []history.Record {
	t.Helper()
	path := filepath.Join("testdata", name)
	if !strings.HasSuffix(name, ".gz") {
		recs, err := history.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := history.Read(zr)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRegisterHistories(t *testing.T) {
	tests := []struct {
		file    string
		verdict checker.Verdict
		invalid []string // keys that must be invalid
	}{
		{"register-valid.jsonl", checker.Valid, nil},
		{"register-stale-read.jsonl", checker.Invalid, []string{"k0"}},
		{"register-unknown-write-observed.jsonl", checker.Valid, nil},
		{"register-unknown-write-read-before-invoke.jsonl", checker.Invalid, []string{"k0"}},
		{"register-cas-wrong-old.jsonl", checker.Invalid, []string{"k0"}},
		// Recorded by faultline against a real 3-node etcd cluster.
		{"etcd-register-valid.jsonl.gz", checker.Valid, nil},
		{"etcd-stale-reads.jsonl.gz", checker.Invalid, []string{"k0", "k1"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			res, err := checker.Check(load(t, tc.file), checker.Register, checker.Options{Budget: time.Minute, VisualizeDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s: %+v", res.Verdict, tc.verdict, res.Keys)
			}
			if got := res.InvalidKeys(); !slices.Equal(got, tc.invalid) {
				t.Errorf("invalid keys %v, want %v", got, tc.invalid)
			}
			for _, k := range res.Keys {
				_, err := os.Stat(filepath.Join(dir, "key-"+k.Key+".html"))
				if (k.Verdict == checker.Invalid) != (err == nil) || (k.Verdict == checker.Invalid && k.Visualization == "") {
					t.Errorf("key %s (%s): visualization %q, file: %v", k.Key, k.Verdict, k.Visualization, err)
				}
			}
		})
	}
}

func TestCountsAndFaults(t *testing.T) {
	res, err := checker.Check(load(t, "register-valid.jsonl"), checker.Register, checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := checker.Counts{Invoke: 6, OK: 5, Fail: 1, Info: 0, Faults: 1}
	if res.Counts != want {
		t.Errorf("counts %+v, want %+v", res.Counts, want)
	}
	if len(res.Keys) != 2 || res.Keys[0].Key != "k0" || res.Keys[0].Operations != 4 {
		t.Errorf("keys %+v: want k0 with 4 operations (the failed cas left out) and k1", res.Keys)
	}
}

func TestBudgetSpentIsUnknown(t *testing.T) {
	res, err := checker.Check(load(t, "etcd-register-valid.jsonl.gz"), checker.Register, checker.Options{Budget: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Unknown {
		t.Fatalf("verdict %s with a spent budget, want unknown", res.Verdict)
	}
	for _, k := range res.Keys {
		if k.Verdict != checker.Unknown || k.Note == "" {
			t.Errorf("key %s: %s %q", k.Key, k.Verdict, k.Note)
		}
	}
}

func TestBadHistories(t *testing.T) {
	for _, file := range []string{"bad-completion-without-invoke.jsonl", "bad-cas-value.jsonl"} {
		t.Run(file, func(t *testing.T) {
			_, err := checker.Check(load(t, file), checker.Register, checker.Options{Budget: time.Minute})
			if !errors.Is(err, checker.ErrBadHistory) || !strings.Contains(err.Error(), "record ") {
				t.Fatalf("want ErrBadHistory naming the record, got %v", err)
			}
		})
	}
}

// TestExplanation: an invalid key names the operation that cannot be
// linearized, the last consistent state, and what ran concurrently.
func TestExplanation(t *testing.T) {
	res, err := checker.Check(load(t, "register-stale-read.jsonl"), checker.Register, checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e := res.Keys[0].Explanation
	if e == nil {
		t.Fatalf("no explanation: %+v", res.Keys[0])
	}
	t.Logf("explanation:\n%s", e)
	if e.Operation.Description != "read() -> 1" || e.Operation.Process != 1 || e.LastState != "2" || e.Linearized != 2 ||
		e.LastLinearized == nil || e.LastLinearized.Description != "write(2)" {
		t.Errorf("explanation %+v", e)
	}
	if res.Keys[1].Explanation != nil {
		t.Errorf("valid key k1 explained: %+v", res.Keys[1].Explanation)
	}
	// A real run: the failing operation is a read, served by the isolated node.
	res, err = checker.Check(load(t, "etcd-stale-reads.jsonl.gz"), checker.Register, checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range res.Keys {
		if k.Explanation == nil || !strings.HasPrefix(k.Explanation.Operation.Description, "read()") {
			t.Errorf("key %s: %+v", k.Key, k.Explanation)
		}
	}
}

// TestStopAtFirstInvalid: once a key is invalid the others are not waited for.
func TestStopAtFirstInvalid(t *testing.T) {
	res, err := checker.Check(load(t, "etcd-stale-reads.jsonl.gz"), checker.Register, checker.Options{Budget: time.Minute, StopAtFirstInvalid: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Invalid || res.Keys[0].Verdict != checker.Invalid || res.Keys[1].Verdict != checker.Unknown || !strings.Contains(res.Keys[1].Note, "k0") {
		t.Errorf("verdict %s, keys %+v", res.Verdict, res.Keys)
	}
}

// TestJepsenHistories re-checks Jepsen histories in both formats Jepsen
// writes, with Jepsen's meaning of :fail and :info.
func TestJepsenHistories(t *testing.T) {
	zero := int64(0)
	tests := []struct {
		file    string
		format  string
		initial *int64
		verdict checker.Verdict
		invalid []string
	}{
		{"jepsen-cas-register-valid.edn", history.FormatEDN, nil, checker.Valid, nil},
		{"jepsen-cas-register-invalid.edn", history.FormatEDN, nil, checker.Invalid, []string{"register"}},
		{"jepsen-register-valid.log", history.FormatJepsenLog, nil, checker.Valid, nil},
		{"jepsen-register-invalid.log", history.FormatJepsenLog, nil, checker.Invalid, []string{"register"}},
		{"jepsen-independent.edn", history.FormatEDN, nil, checker.Invalid, []string{"1"}},
		{"jepsen-initial-zero.edn", history.FormatEDN, nil, checker.Invalid, []string{"register"}},
		{"jepsen-initial-zero.edn", history.FormatEDN, &zero, checker.Valid, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s initial %v", tc.file, tc.initial != nil), func(t *testing.T) {
			recs, format, err := history.ReadFormat(filepath.Join("testdata", tc.file), history.FormatAuto)
			if err != nil {
				t.Fatal(err)
			}
			if format != tc.format {
				t.Errorf("detected %s, want %s", format, tc.format)
			}
			res, err := checker.Check(recs, checker.Register, checker.Options{Budget: time.Minute, Initial: tc.initial})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict || !slices.Equal(res.InvalidKeys(), tc.invalid) {
				t.Errorf("verdict %s, invalid keys %v; want %s %v", res.Verdict, res.InvalidKeys(), tc.verdict, tc.invalid)
			}
		})
	}
	recs, _, err := history.ReadFormat("testdata/jepsen-cas-register-valid.edn", history.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := checker.Check(recs, checker.Register, checker.Options{Budget: time.Minute})
	// Its first read returned nil: in Knossos's register models that is
	// "value unknown", imported as an unknown outcome; read as absent it
	// is a successful read of no value.
	if want := (checker.Counts{Invoke: 7, OK: 3, Fail: 1, Info: 3, Faults: 1}); res.Counts != want {
		t.Errorf("counts %+v, want %+v", res.Counts, want)
	}
	recs, _, err = history.ReadFormatWith("testdata/jepsen-cas-register-valid.edn", history.FormatAuto, history.JepsenOptions{NilReads: history.NilAbsent})
	if err != nil {
		t.Fatal(err)
	}
	res, _ = checker.Check(recs, checker.Register, checker.Options{Budget: time.Minute})
	if want := (checker.Counts{Invoke: 7, OK: 4, Fail: 1, Info: 2, Faults: 1}); res.Counts != want {
		t.Errorf("nil read as absent: counts %+v, want %+v", res.Counts, want)
	}
	// Broken input names where.
	_, err = history.ReadJepsenLog(strings.NewReader("INFO  jepsen.util - x\t:invoke\t:read\tnil\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad log line: %v", err)
	}
	_, err = history.ReadJepsenEDN(strings.NewReader("{:type :invoke :f :read :process 0}\n{:type :done :f :read :process 0}"))
	if err == nil || !strings.Contains(err.Error(), "operation 2") {
		t.Errorf("bad EDN op: %v", err)
	}
}

// TestModels: every workload's checker on a good and a bad history.
func TestModels(t *testing.T) {
	tests := []struct {
		kind, file string
		verdict    checker.Verdict
		want       string // in an anomaly, explanation or note of the first key
	}{
		{"set", "set-valid.jsonl", checker.Valid, "1 recovered"},
		{"set", "set-lost.jsonl", checker.Invalid, "1 lost: [2]"},
		{"set", "set-lost.jsonl", checker.Invalid, "1 unexpected: [9]"},
		{"counter", "counter-valid.jsonl", checker.Valid, ""},
		{"counter", "counter-invalid.jsonl", checker.Invalid, "read 6 by process 1 at 0.000s, but it must lie between 2 and 2"},
		{"append", "append-valid.jsonl", checker.Valid, ""},
		{"append", "append-invalid.jsonl", checker.Invalid, "cannot linearize read() -> [2,1]"},
		{"register", "register-stale-read.jsonl", checker.Invalid, "cannot linearize read() -> 1"},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.want, func(t *testing.T) {
			res, err := checker.Check(load(t, tc.file), named(t, tc.kind), checker.Options{Budget: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s: %+v", res.Verdict, tc.verdict, res.Keys)
			}
			k := res.Keys[0]
			text := strings.Join(k.Anomalies, "\n") + "\n" + k.Note
			if k.Explanation != nil {
				text += "\n" + k.Explanation.String()
			}
			if !strings.Contains(text, tc.want) {
				t.Errorf("key %s says %q, want %q", k.Key, text, tc.want)
			}
		})
	}
	if _, err := checker.Named("queue"); err == nil {
		t.Error("an unknown model was accepted")
	}
}

// named is the workload a test names.
func named(t testing.TB, kind string) *checker.Workload {
	t.Helper()
	w, err := checker.Named(kind)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestUniqueIDs: an id two acknowledged generates returned breaks the
// unique-ids workload's guarantee; an unknown generate proves nothing.
func TestUniqueIDs(t *testing.T) {
	gen := func(p int, typ history.Type, id string, at int64) []history.Record {
		done := history.Record{Process: history.Process(p), Type: typ, F: "generate", Key: "u0", Time: at + 5}
		if typ == history.OK {
			done.Value = json.RawMessage(id)
		}
		return []history.Record{{Process: history.Process(p), Type: history.Invoke, F: "generate", Key: "u0", Value: json.RawMessage("null"), Time: at}, done}
	}
	var good, bad []history.Record
	for i, id := range []string{"3", "4", "9"} {
		good = append(good, gen(i, history.OK, id, int64(10*i))...)
	}
	good = append(good, gen(7, history.Info, "", 50)...)
	bad = append(append(bad, good...), gen(8, history.OK, "4", 60)...)
	for _, tc := range []struct {
		recs    []history.Record
		verdict checker.Verdict
		want    string
	}{{good, checker.Valid, ""}, {bad, checker.Invalid, "1 ids returned to more than one acknowledged generate: [4]"}} {
		res, err := checker.Check(tc.recs, named(t, "unique-ids"), checker.Options{Budget: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != tc.verdict || (tc.want != "" && !strings.Contains(strings.Join(res.Keys[0].Anomalies, ";"), tc.want)) {
			t.Errorf("verdict %s, keys %+v; want %s %q", res.Verdict, res.Keys, tc.verdict, tc.want)
		}
		if len(res.Guarantees) != 1 || res.Convergence != nil {
			t.Errorf("examined %v (convergence %v): unique-ids examines linearizable alone", res.Guarantees, res.Convergence)
		}
	}
}
