package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/scenarios"
)

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("time_limit: 5s\ncluster:\n  nodes: 3\n  nodse: 3\n"), 0o644)
	hist := filepath.Join(dir, "history.jsonl")
	b, err := os.ReadFile("../../checker/testdata/register-stale-read.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(hist, b, 0o644)
	// Jepsen histories are copied too: check writes its results beside them.
	for _, f := range []string{"jepsen-cas-register-invalid.edn", "jepsen-register-valid.log", "jepsen-initial-zero.edn"} {
		b, err := os.ReadFile("../../checker/testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "jepsen"), 0o755)
		os.WriteFile(filepath.Join(dir, "jepsen", f), b, 0o644)
	}
	jepsen := func(f string) string { return filepath.Join(dir, "jepsen", f) }
	// A store folder whose scenario.yaml no longer loads.
	broken := filepath.Join(dir, "broken")
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, "history.jsonl"), b, 0o644)
	os.WriteFile(filepath.Join(broken, "scenario.yaml"), []byte("time_limit: 5s\nworkload:\n  kind: queue\n"), 0o644)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"no args", nil, 3, "", "usage:"},
		{"unknown command", []string{"frobnicate"}, 3, "", `unknown command "frobnicate"`},
		{"run without scenario", []string{"run"}, 3, "", "run needs scenario files or folders"},
		{"malformed scenario", []string{"run", bad}, 3, "", bad + `:4:3: unknown field "nodse"`},
		{"missing scenario", []string{"run", filepath.Join(dir, "nope.yaml")}, 3, "", "nope.yaml: no such file"},
		{"check invalid history", []string{"check", hist}, 1, "verdict: INVALID", ""},
		{"check store folder", []string{"check", dir}, 1, "key k0: invalid", ""},
		{"check missing history", []string{"check", filepath.Join(dir, "missing")}, 3, "", "no such file"},
		{"help", []string{"help"}, 0, "exit codes", ""},
		{"replay without replay.yaml", []string{"replay", dir}, 3, "", "no replay.yaml there"},
		{"check jepsen edn", []string{"check", jepsen("jepsen-cas-register-invalid.edn")}, 1, "(jepsen-edn)", ""},
		{"check jepsen log", []string{"check", "-format", "jepsen-log", jepsen("jepsen-register-valid.log")}, 0, "verdict: VALID", ""},
		{"check with initial 0", []string{"check", "-initial", "0", jepsen("jepsen-initial-zero.edn")}, 0, "verdict: VALID", ""},
		{"check bad initial", []string{"check", "-initial", "zero", hist}, 3, "", "-initial \"zero\": want an integer"},
		{"check unknown model", []string{"check", "-model", "queue", hist}, 3, "", "no model for workload \"queue\""},
		{"check explains", []string{"check", hist}, 1, "cannot linearize read() -> 1 by process 1 on n2", ""},
		{"check against what is claimed", []string{"check", "-expect", "sequential,monotonic-reads", hist}, 0, "ruled out: linearizable", ""},
		{"check an unknown guarantee", []string{"check", "-expect", "serializable", hist}, 3, "", `-expect: unknown guarantee "serializable"`},
		{"check a claim the workload does not examine", []string{"check", "-model", "counter", "-expect", "sequential", hist}, 3, "", "-expect sequential: the counter workload's checks do not examine sequential (they examine: linearizable, causal, read-your-writes"},
		{"check a negative budget", []string{"check", "-budget", "-5s", hist}, 3, "", "-budget, -key-budget and -staleness-bound must be positive"},
		{"check beside a broken stored scenario", []string{"check", broken}, 3, "", "the stored scenario says which checks apply: fix it, or give -model"},
		{"check beside a broken stored scenario with a model", []string{"check", "-model", "register", broken}, 1, "verdict: INVALID", ""},
		{"help of a command", []string{"images", "-h"}, 0, "faultline images", ""},
		{"help after a file", []string{"check", hist, "--help"}, 0, "faultline check [-budget D]", ""},
		{"version", []string{"version"}, 0, "etcd: faultline/etcd:", ""},
		{"a flag after the file", []string{"check", hist, "-model", "register"}, 1, "verdict: INVALID", ""},
		{"check a bad nil meaning", []string{"check", "-jepsen-nil", "maybe", hist}, 3, "", `-jepsen-nil "maybe": want unknown or absent`},
	}
	checks := filepath.Join(dir, "store")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := tc.args
			if len(args) > 0 && args[0] == "check" {
				args = append([]string{"check", "-store", checks}, args[1:]...)
			}
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stdout %q (want %q)\nstderr %q (want %q)", &stdout, tc.wantStdout, &stderr, tc.wantStderr)
			}
		})
	}
	// check writes under the store, never beside its input.
	if vis, _ := filepath.Glob(filepath.Join(checks, "checks", "history-*", "key-k0.html")); len(vis) == 0 {
		t.Errorf("check wrote no visualization under %s", checks)
	}
	if js, _ := filepath.Glob(filepath.Join(checks, "checks", "*", "check.json")); len(js) == 0 {
		t.Errorf("check wrote no check.json under %s", checks)
	}
	for _, f := range []string{"check.json", "key-k0.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("check wrote %s beside its input", f)
		}
	}
	// -out names the folder; one that cannot be written still gets the verdict.
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check", "-out", out, hist}, &stdout, &stderr); code != exitInvalid {
		t.Errorf("check -out: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(out, "check.json")); err != nil {
		t.Errorf("check -out: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"check", "-out", filepath.Join(dir, "file", "sub"), hist}, &stdout, &stderr); code != exitInvalid ||
		!strings.Contains(stdout.String(), "verdict: INVALID") || !strings.Contains(stderr.String(), "the verdict above stands") {
		t.Errorf("check into an unwritable folder: exit %d\n%s\n%s", code, &stdout, &stderr)
	}
}

func TestRunOverrides(t *testing.T) {
	etcd, err := scenarios.Load("../../scenarios/etcd-register.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bug, err := scenarios.Load("../../scenarios/bugs/split-brain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := override([]*scenarios.Scenario{bug}, []string{"bug=none"}, 7); err != nil || bug.Cluster.Params["bug"] != "none" || bug.Seed != 7 {
		t.Errorf("override to the correct build: %v, bug %q seed %d", err, bug.Cluster.Params["bug"], bug.Seed)
	}
	if err := override([]*scenarios.Scenario{etcd}, []string{"bug=split-brain"}, 0); err == nil || !strings.Contains(err.Error(), `runs system etcd, which has no param "bug" (its params: none)`) {
		t.Errorf("-bug on an etcd scenario: %v", err)
	}
	if err := override([]*scenarios.Scenario{bug}, []string{"bug=bogus"}, 0); err == nil || !strings.Contains(err.Error(), `unknown bug "bogus" for system refkv; known: none, stale-leader-reads`) {
		t.Errorf("-bug bogus: %v", err)
	}
	if err := override([]*scenarios.Scenario{bug}, []string{"bug"}, 0); err == nil || !strings.Contains(err.Error(), "want NAME=VALUE") {
		t.Errorf("-param without a value: %v", err)
	}
	if err := override([]*scenarios.Scenario{bug}, nil, -1); err == nil {
		t.Error("negative -seed accepted")
	}
}
