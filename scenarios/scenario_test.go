package scenarios_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/scenarios"
)

func TestShippedScenariosLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("want the shipped scenarios, found %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			s, err := scenarios.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != strings.TrimSuffix(f, ".yaml") {
				t.Errorf("name = %q", s.Name)
			}
			// The scenario as run must load back to the same scenario.
			out, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := scenarios.Parse("as-run.yaml", out)
			if err != nil {
				t.Fatalf("scenario as run does not load back: %v\n%s", err, out)
			}
			back.Path = s.Path
			if back.Nemesis.Every != s.Nemesis.Every || back.Workload != s.Workload || back.Cluster != s.Cluster {
				t.Errorf("round trip changed the scenario:\n%+v\n%+v", s, back)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := scenarios.Parse("min.yaml", []byte("time_limit: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "min" || s.Cluster.Nodes != 3 || s.Workload.Clients != 10 || s.Workload.Reads != "linearizable" ||
		s.Workload.OpTimeout != time.Second || s.Cluster.Image != scenarios.DefaultEtcdImage {
		t.Errorf("defaults not applied: %+v", s)
	}
}

func TestBadScenarios(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // substring of the error, which must also name the file
	}{
		{"unknown top-level field", "time_limit: 5s\ntimelimit: 5s\n", `bad.yaml:2:1: unknown field "timelimit"`},
		{"unknown nested field", "time_limit: 5s\ncluster:\n  nodes: 3\n  node: 3\n", `bad.yaml:4:3: unknown field "node"`},
		{"mistyped number", "time_limit: 5s\ncluster:\n  nodes: three\n", "bad.yaml:3:"},
		{"mistyped duration", "time_limit: soon\n", "bad.yaml:1:"},
		{"too many nodes", "time_limit: 5s\ncluster:\n  nodes: 9\n", "bad.yaml:3: cluster.nodes: must be between 1 and 5"},
		{"missing time limit", "seed: 3\n", "bad.yaml:1: time_limit: must be set"},
		{"unknown fault", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - kind: cut\n", "bad.yaml:6: nemesis.faults[0].kind: unknown fault \"cut\""},
		{"isolate unknown node", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - kind: isolate\n      node: n7\n", "bad.yaml:7: nemesis.faults[0].node: no node \"n7\""},
		{"hold longer than every", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 3s\n  faults:\n    - kind: halves\n", "bad.yaml:4: nemesis.hold"},
		{"bad reads", "time_limit: 5s\nworkload:\n  reads: stale\n", "bad.yaml:3: workload.reads"},
		{"empty file", "", "bad.yaml: file is empty"},
		{"duplicate key", "time_limit: 5s\ntime_limit: 6s\n", "bad.yaml:2:1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Parse("bad.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, scenarios.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
