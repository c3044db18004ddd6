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
	if !strings.Contains(stdout.String(), "ok: "+filepath.Join(dir, "good.yaml")) || !strings.Contains(stderr.String(), "bad.yaml:3: workload.kind: unknown workload \"queue\"") {
		t.Errorf("validate output:\n%s\n%s", &stdout, &stderr)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"list"}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "majorities-ring") || !strings.Contains(stdout.String(), "scenarios/etcd-stale-reads.yaml") {
		t.Errorf("list: exit %d\n%s", code, &stdout)
	}
	// run refuses the whole folder when one scenario is invalid, naming it.
	stderr.Reset()
	if code := run(context.Background(), []string{"run", dir}, &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "1 of 2 scenarios are invalid") {
		t.Errorf("run with a bad scenario: exit %d\n%s", code, &stderr)
	}
}

// TestRunFolderForCI runs a folder of two short real scenarios, one valid
// and one invalid, and checks the exit code, the JUnit file and the
// Markdown summary a CI job reads.
func TestRunFolderForCI(t *testing.T) {
	testenv.EndToEnd(t)
	dir := t.TempDir()
	for _, s := range []struct{ name, src string }{
		{"a-register.yaml", "../../scenarios/etcd-register.yaml"},
		{"b-stale.yaml", "../../scenarios/etcd-stale-reads.yaml"},
	} {
		b, err := os.ReadFile(s.src)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte("time_limit: 30s"), []byte("time_limit: 12s"), 1)
		b = bytes.Replace(b, []byte("time_limit: 20s"), []byte("time_limit: 12s"), 1)
		os.WriteFile(filepath.Join(dir, s.name), b, 0o644)
	}
	junit, summary := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "summary.md")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", "-store", filepath.Join(dir, "store"), "-junit", junit, "-summary", summary, dir}, &stdout, &stderr)
	if code != exitInvalid {
		t.Fatalf("exit %d, want 1 (one scenario invalid)\n%s\n%s", code, &stdout, &stderr)
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
	if len(suites.Suites) != 1 || s.Tests != 2 || s.Failures != 1 || s.Errors != 0 || len(s.Cases) != 2 {
		t.Fatalf("junit shape: %+v", suites)
	}
	if s.Cases[0].Name != "a-register" || s.Cases[0].Failure != nil || s.Cases[1].Failure == nil ||
		s.Cases[1].Failure.Type != "invalid" || !strings.Contains(s.Cases[1].Failure.Message, "cannot linearize read()") {
		t.Errorf("junit cases: %+v / %+v", s.Cases[0], s.Cases[1].Failure)
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| a-register | valid |") || !strings.Contains(string(md), "| b-stale | **INVALID** |") || !strings.Contains(string(md), "### b-stale: invalid") {
		t.Errorf("summary:\n%s", md)
	}
}
