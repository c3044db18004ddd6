package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
)

func TestValidateAndList(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.yaml"), []byte("time_limit: 5s\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("time_limit: 5s\nworkload:\n  kind: queue\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"validate", dir}, &stdout, &stderr); code != exitError {
		t.Errorf("validate with a bad file: exit %d", code)
	}
	if !strings.Contains(stdout.String(), "ok: "+filepath.Join(dir, "good.yaml")) || !strings.Contains(stderr.String(), "bad.yaml:3:3: workload.kind: unknown workload \"queue\"") {
		t.Errorf("validate output:\n%s\n%s", &stdout, &stderr)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"list"}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "majorities-ring") || !strings.Contains(stdout.String(), "scenarios/etcd-stale-reads.yaml") {
		t.Errorf("list: exit %d\n%s", code, &stdout)
	}
	// run refuses the whole folder when one scenario is invalid, naming it,
	// and the CI job still gets a JUnit file and a summary that say so.
	stderr.Reset()
	out := t.TempDir()
	junit, summary := filepath.Join(out, "junit.xml"), filepath.Join(out, "summary.md")
	if code := run(context.Background(), []string{"run", "-junit", junit, "-summary", summary, dir}, &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "1 of 2 scenarios is invalid") {
		t.Errorf("run with a bad scenario: exit %d\n%s", code, &stderr)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("junit.xml: %v\n%s", err, b)
	}
	s := suites.Suites[0]
	if s.Errors != 1 || s.Skipped != 1 || len(s.Cases) != 2 || s.Cases[0].Error == nil || !strings.Contains(s.Cases[0].Error.Message, "bad.yaml:3:3: workload.kind") || s.Cases[1].Skipped == nil {
		t.Errorf("junit for an invalid scenario: %+v", s)
	}
	md, err := os.ReadFile(summary)
	if err != nil || !strings.Contains(string(md), "### bad: could not run") || !strings.Contains(string(md), "| good | not run |") {
		t.Errorf("summary for an invalid scenario (%v):\n%s", err, md)
	}
}

// TestRunFolderForCI runs a folder of three short real scenarios and
// checks the exit code, the JUnit file and the Markdown summary a CI job
// reads: a valid run, a run invalid as its scenario expects (it passes),
// and a valid run whose scenario expected invalid (it fails: the bug was
// not found).
func TestRunFolderForCI(t *testing.T) {
	testenv.EndToEnd(t)
	dir := t.TempDir()
	for _, s := range []struct{ name, src, expected string }{
		{"a-register.yaml", "../../scenarios/etcd-register.yaml", ""},
		{"b-stale.yaml", "../../scenarios/etcd-stale-reads.yaml", ""},
		{"c-expects-a-bug.yaml", "../../scenarios/etcd-register.yaml", "expected: invalid\n"},
	} {
		b, err := os.ReadFile(s.src)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte("time_limit: 30s"), []byte("time_limit: 12s"), 1)
		b = bytes.Replace(b, []byte("time_limit: 20s"), []byte("time_limit: 12s"), 1)
		os.WriteFile(filepath.Join(dir, s.name), append(b, s.expected...), 0o644)
	}
	junit, summary := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "summary.md")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", "-store", filepath.Join(dir, "store"), "-junit", junit, "-summary", summary, dir}, &stdout, &stderr)
	if code != exitInvalid {
		t.Fatalf("exit %d, want 1 (one scenario not as expected)\n%s\n%s", code, &stdout, &stderr)
	}
	if !strings.Contains(stdout.String(), "expected: invalid; violated: linearizable; held: no-lost-writes, converges: met") ||
		!strings.Contains(stdout.String(), "expected: invalid: NOT MET (expected invalid, got valid)") {
		t.Errorf("stdout:\n%s", &stdout)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, b)
	}
	s := suites.Suites[0]
	if len(suites.Suites) != 1 || s.Tests != 3 || s.Failures != 1 || s.Errors != 0 || len(s.Cases) != 3 {
		t.Fatalf("junit shape: %+v", suites)
	}
	if s.Cases[0].Name != "a-register" || s.Cases[0].Failure != nil || s.Cases[1].Failure != nil ||
		!strings.Contains(s.Cases[1].SystemOut, "verdict invalid, as expected") {
		t.Errorf("junit cases: %+v / %+v", s.Cases[0], s.Cases[1])
	}
	if f := s.Cases[2].Failure; f == nil || f.Type != "not-as-expected" || !strings.Contains(f.Message, "not as expected: expected invalid, got valid") {
		t.Errorf("junit case c: %+v", s.Cases[2])
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| a-register | valid | valid |", "| b-stale | invalid | invalid; violated: linearizable", "| c-expects-a-bug | **VALID** | **invalid** (not met) |", "### c-expects-a-bug: not as expected: expected invalid, got valid: valid"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}
