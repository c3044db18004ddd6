package scenarios_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/refkv"
	"github.com/faultline/faultline/scenarios"
)

func TestShippedScenariosLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	bugs, _ := filepath.Glob("bugs/*.yaml")
	if err != nil || len(files) < 2 || len(bugs) != len(refkv.Bugs) {
		t.Fatalf("want the shipped scenarios and one per refkv bug, found %v %v (%v)", files, bugs, err)
	}
	for _, f := range append(files, bugs...) {
		t.Run(f, func(t *testing.T) {
			s, err := scenarios.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(f, "bugs/") && s.Cluster.Params["bug"] != s.Name {
				t.Errorf("%s switches on bug %q; a bug scenario is named after its bug", f, s.Cluster.Params["bug"])
			}
			if s.Name != strings.TrimSuffix(filepath.Base(f), ".yaml") {
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
			if !reflect.DeepEqual(s, back) {
				t.Errorf("round trip changed the scenario:\n%+v\n%+v", s, back)
			}
			if c := s.Workload.Client; c != nil && !filepath.IsAbs(c.Command[1]) {
				t.Errorf("client program path not resolved: %v", c.Command)
			}
		})
	}
}

// TestBounds: a guarantee's bound is read under the field it declares,
// claimed with it, and written back into the scenario as run.
func TestBounds(t *testing.T) {
	s, err := scenarios.Parse("b.yaml", []byte("time_limit: 5s\nchecker:\n  expect: [bounded-staleness]\n  staleness_bound: 250ms\n  budget: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Checker.Bounds[checker.BoundedStaleness]; got != 250*time.Millisecond || s.Checker.Budget != 5*time.Second {
		t.Fatalf("bounds %v, budget %v", s.Checker.Bounds, s.Checker.Budget)
	}
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "staleness_bound: 250ms") {
		t.Errorf("the scenario as run lost the bound:\n%s", out)
	}
}

func TestDefaults(t *testing.T) {
	s, err := scenarios.Parse("min.yaml", []byte("time_limit: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "min" || s.Cluster.Nodes != 3 || s.Workload.Clients != 10 || s.Workload.Reads != "linearizable" ||
		s.Workload.OpTimeout != time.Second || s.Cluster.Image != "" {
		t.Errorf("defaults not applied: %+v", s)
	}
	if s.Workload.Rate != 200 {
		t.Errorf("rate left out: %v, want the default 200", s.Workload.Rate)
	}
	// rate: 0 written out means what the docs say: no cap.
	s, err = scenarios.Parse("min.yaml", []byte("time_limit: 5s\nworkload:\n  rate: 0\n"))
	if err != nil || s.Workload.Rate != 0 {
		t.Errorf("rate: 0 gave %v (%v), want 0, no cap", s.Workload.Rate, err)
	}
}

func TestBadScenarios(t *testing.T) {
	// bad.yaml is read from this package's folder: its project is the
	// module's root, wherever the checkout is.
	project, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		want string // substring of the error, which must also name the file
	}{
		{"unknown top-level field", "time_limit: 5s\ntimelimit: 5s\n", `bad.yaml:2:1: unknown field "timelimit"`},
		{"unknown nested field", "time_limit: 5s\ncluster:\n  nodes: 3\n  node: 3\n", `bad.yaml:4:3: unknown field "node"`},
		{"mistyped number", "time_limit: 5s\ncluster:\n  nodes: three\n", "bad.yaml:3:"},
		{"mistyped duration", "time_limit: soon\n", "bad.yaml:1:"},
		{"too many nodes", "time_limit: 5s\ncluster:\n  nodes: 9\n", "bad.yaml:3:3: cluster.nodes: system etcd runs with 1 to 5 nodes, not 9"},
		{"far too many nodes", "time_limit: 5s\ncluster:\n  nodes: 90\n", "bad.yaml:3:3: cluster.nodes: must be between 1 and 16"},
		{"missing time limit", "seed: 3\n", "bad.yaml:1:1: time_limit: must be set"},
		{"unknown fault", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - kind: cut\n", "bad.yaml:6:7: nemesis.faults[0].kind: unknown fault \"cut\""},
		{"isolate unknown node", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - kind: isolate\n      node: n7\n", "bad.yaml:7:7: nemesis.faults[0].node: no node \"n7\""},
		{"hold longer than every", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 3s\n  faults:\n    - kind: halves\n", "bad.yaml:4:3: nemesis.hold"},
		{"bad reads", "time_limit: 5s\nworkload:\n  reads: stale\n", "bad.yaml:3:3: workload.reads"},
		{"unknown guarantee", "time_limit: 5s\nchecker:\n  expect: [linearizable, serializable]\n", "bad.yaml:3:26: checker.expect[1]: unknown guarantee \"serializable\" (known: linearizable, sequential,"},
		{"guarantee the workload does not examine", "time_limit: 5s\nworkload:\n  kind: counter\nchecker:\n  expect: [sequential]\n", "bad.yaml:5:12: checker.expect[0]: the counter workload's checks do not examine sequential (they examine: linearizable, causal, read-your-writes"},
		{"bounded staleness without a bound", "time_limit: 5s\nchecker:\n  expect: [bounded-staleness]\n", "bad.yaml:3:12: checker.expect[0]: bounded-staleness needs a bound (checker.staleness_bound"},
		{"a bound mistyped", "time_limit: 5s\nchecker:\n  staleness_bond: 1s\n", "bad.yaml:3:3: unknown field \"staleness_bond\" (did you mean staleness_bound?)"},
		{"a negative bound", "time_limit: 5s\nchecker:\n  staleness_bound: -1s\n", "bad.yaml:3:3: checker.staleness_bound: must not be negative"},
		{"a bound that is no duration", "time_limit: 5s\nchecker:\n  staleness_bound: soon\n", "bad.yaml:3: staleness_bound: time: invalid duration \"soon\""},
		{"guarantee twice", "time_limit: 5s\nchecker:\n  expect: [converges, converges]\n", "bad.yaml:3:23: checker.expect[1]: converges is listed twice"},
		{"unknown expected verdict", "time_limit: 5s\nexpected: broken\n", "bad.yaml:2:1: expected.verdict: unknown verdict \"broken\" (valid, invalid or unknown)"},
		{"expected both ways", "time_limit: 5s\nexpected:\n  violated: [converges]\n  held: [converges]\n", "bad.yaml:3:14: expected.violated[0]: converges cannot be expected both violated and held"},
		{"expected nothing", "time_limit: 5s\nexpected: {}\n", "bad.yaml:2:1: expected: says nothing"},
		{"expected an unexamined guarantee", "time_limit: 5s\nworkload:\n  kind: counter\nexpected:\n  held: [monotonic-writes]\n", "bad.yaml:5:10: expected.held[0]: the counter workload's checks do not examine monotonic-writes"},
		{"zero nodes", "time_limit: 5s\ncluster:\n  nodes: 0\n", "bad.yaml:3:3: cluster.nodes: is 0, which means nothing here: leave it out for the system's default"},
		{"zero keys", "time_limit: 5s\nworkload:\n  keys: 0\n", "bad.yaml:3:3: workload.keys: is 0, which means nothing here: at least 1 (default 4)"},
		{"zero budget", "time_limit: 5s\nchecker:\n  budget: 0s\n", "bad.yaml:3:3: checker.budget: is 0"},
		{"empty file", "", "bad.yaml: file is empty"},
		{"duplicate key", "time_limit: 5s\ntime_limit: 6s\n", "bad.yaml:2:1:"},
		{"unknown system", "time_limit: 5s\ncluster:\n  system: zookeeper\n", "bad.yaml:3:3: cluster.system: unknown system \"zookeeper\"; built in: etcd, refkv, or a system file"},
		{"bug on etcd", "time_limit: 5s\ncluster:\n  params: {bug: split-brain}\n", "bad.yaml:3:12: cluster.params.bug: system etcd has no param \"bug\"; it has none"},
		{"unknown bug", "time_limit: 5s\ncluster:\n  system: refkv\n  params:\n    bug: lost-update\n", "bad.yaml:5:5: cluster.params.bug: unknown bug \"lost-update\" for system refkv; known: none, stale-leader-reads"},
		{"the old bug field", "time_limit: 5s\ncluster:\n  system: refkv\n  bug: split-brain\n", "bad.yaml:4:3: unknown field \"bug\""},
		{"refkv set workload", "time_limit: 5s\ncluster:\n  system: refkv\nworkload:\n  kind: set\n", "bad.yaml:5:3: workload.kind: system refkv's client runs the register workloads, not set"},
		{"refkv kill", "time_limit: 9s\ncluster:\n  system: refkv\nnemesis:\n  every: 4s\n  hold: 2s\n  faults:\n    - kind: kill\n", "bad.yaml:8:7: nemesis.faults[0].kind: system refkv does not support kill (supports.kill: false in built-in systems/refkv/system.yaml)"},
		{"absurd time limit", "time_limit: 1000h\n", "bad.yaml:1:1: time_limit: 1000h0m0s is more than the 24h0m0s faultline allows"},
		{"absurd rate", "time_limit: 5s\nworkload:\n  rate: 1e9\n", "bad.yaml:3:3: workload.rate: 1e+09 operations per second is more than"},
		{"absurd delay", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - kind: gray\n      delay: 5m\n", "bad.yaml:7:7: nemesis.faults[0].delay: 5m0s is more than"},
		{"absurd delay in a timeline", "time_limit: 5s\nnemesis:\n  timeline:\n    - {at: 1s, for: 2s, fault: {kind: gray, delay: 2h}}\n", "bad.yaml:4:45: nemesis.timeline[0].fault.delay: 2h0m0s is more than"},
		{"node name that is not a name", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - kind: isolate\n      node: \"n1; rm -rf /\"\n", "bad.yaml:7:7: nemesis.faults[0].node: no node \"n1; rm -rf /\""},
		{"grudge of strangers", "time_limit: 5s\nnemesis:\n  every: 2s\n  hold: 1s\n  faults:\n    - kind: custom\n      grudge: {\"../n1\": [n2]}\n", "nemesis.faults[0].grudge: no node \"../n1\""},
		{"image that is not a reference", "time_limit: 5s\ncluster:\n  image: \"--privileged\"\n", "bad.yaml:3:3: cluster.image: \"--privileged\" is not an image reference"},
		{"image with a registry port is a reference", "time_limit: 5s\ncluster:\n  image: host:5000/mydb:1.0\n  nodes: 7\n", "bad.yaml:4:3: cluster.nodes: system etcd runs"},
		{"env name that is not a name", "time_limit: 5s\nworkload:\n  client:\n    command: [python3]\n    env: {\"A=B\": x}\n", "bad.yaml:5:5: workload.client.env: \"A=B\" is not an environment variable name"},
		{"client outside the tree", "time_limit: 5s\nworkload:\n  client:\n    command: [python3, ../../../../../../etc/passwd]\n", "bad.yaml:4:5: workload.client.command: [1] \"../../../../../../etc/passwd\" is outside {project}, the project of bad.yaml: a file may name only paths inside its project (docs/safety.md, \"Paths\")"},
		{"client file by absolute path outside the project", "time_limit: 5s\nworkload:\n  client:\n    command: [/usr/bin/python3, /etc/passwd]\n", "[1] \"/etc/passwd\" is outside"},
		{"store name escaping", "name: ../../etc\ntime_limit: 5s\n", "bad.yaml:1:1: name:"},
		{"refkv serializable", "time_limit: 5s\ncluster:\n  system: refkv\nworkload:\n  reads: serializable\n", "bad.yaml:5:3: workload.reads: system refkv supports linearizable reads, not serializable"},
		{"unknown built-in client", "time_limit: 5s\nworkload:\n  client: {builtin: redis}\n", "bad.yaml:3:12: workload.client.builtin: no built-in client \"redis\""},
		{"client with both", "time_limit: 5s\nworkload:\n  client: {builtin: etcd, command: [x]}\n", "bad.yaml:3:3: workload.client: give builtin or command, not both"},
		{"client image for a built-in client", "time_limit: 5s\nworkload:\n  client: {builtin: etcd, image: py:3}\n", "bad.yaml:3:27: workload.client.image: applies to a client program"},
		{"client build without image", "time_limit: 5s\nworkload:\n  client:\n    command: [python3]\n    build: {context: .}\n", "bad.yaml:5:5: workload.client.build: needs image"},
		{"client image that is not a reference", "time_limit: 5s\nworkload:\n  client:\n    command: [python3]\n    image: \"-v /:/host\"\n", "bad.yaml:5:5: workload.client.image: \"-v /:/host\" is not an image reference"},
		{"client build outside the tree", "time_limit: 5s\nworkload:\n  client:\n    command: [python3]\n    image: py:3\n    build: {context: ../../../../../../etc}\n", "bad.yaml:6:13: workload.client.build.context: \"../../../../../../etc\" is outside {project}, the project of bad.yaml"},
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
			want := strings.ReplaceAll(tc.want, "{project}", project)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestHugeScenarioFile(t *testing.T) {
	src := "time_limit: 5s\n" + "# " + strings.Repeat("x", scenarios.MaxFileSize) + "\n"
	_, err := scenarios.Parse("huge.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "huge.yaml: larger than") {
		t.Fatalf("huge file: %v", err)
	}
}

func TestFaultValidation(t *testing.T) {
	base := "time_limit: 5s\ncluster:\n  nodes: %d\nnemesis:\n  every: 4s\n  hold: 2s\n  faults:\n%s"
	tests := []struct {
		name  string
		nodes int
		fault string
		want  string // "" means valid
	}{
		{"every shape is valid", 5, "    - {kind: majorities-ring}\n    - {kind: bridge, node: leader}\n    - {kind: one-way, from: [n1], to: [n2], direction: both}\n    - {kind: custom, grudge: {n1: [n2]}}\n    - {kind: isolate, node: leader, ports: [2380], protocols: [tcp], action: reject, flap: 500ms}\n", ""},
		{"gray is valid", 3, "    - {kind: gray, node: n2, loss: 10, correlation: 50, delay: 20ms, jitter: 5ms, distribution: normal, duplicate: 1, reorder: 5, corrupt: 1, rate: 1mbit}\n", ""},
		{"process faults are valid", 3, "    - {kind: kill, node: leader}\n    - {kind: pause}\n    - {kind: restart-cluster}\n", ""},
		{"ring on 3 nodes", 3, "    - {kind: majorities-ring}\n", "bad.yaml:8:8: nemesis.faults[0].kind: majorities-ring needs at least 4 nodes"},
		{"field of another kind", 3, "    - kind: halves\n      loss: 5\n", "bad.yaml:9:7: nemesis.faults[0].loss: does not apply to halves"},
		{"one-way without to", 3, "    - {kind: one-way, from: [n1]}\n", "nemesis.faults[0].from: one-way needs from and to"},
		{"custom grudge on itself", 3, "    - kind: custom\n      grudge:\n        n1: [n1]\n", "nemesis.faults[0].grudge.n1"},
		{"bad protocol", 3, "    - {kind: halves, ports: [2380], protocols: [sctp]}\n", "protocols: must be tcp or udp"},
		{"port out of range", 3, "    - {kind: halves, ports: [70000]}\n", "port \"70000\" is not between 1 and 65535"},
		{"ports by role", 3, "    - {kind: isolate, ports: peer}\n    - {kind: halves, ports: [peer, 4369, \"9100-9105\"]}\n", ""},
		{"a role the system lacks", 3, "    - {kind: halves, ports: [gossip]}\n", "bad.yaml:8:22: nemesis.faults[0].ports: \"gossip\" is not a port or a range such as 9100-9105; or a role of the system's ports: peer, client"},
		{"a backwards range", 3, "    - {kind: halves, ports: \"9105-9100\"}\n", "range \"9105-9100\" ends before it starts"},
		{"flap too fast", 3, "    - {kind: halves, flap: 100ms}\n", "flap: must be at least 500ms"},
		{"gray with nothing", 3, "    - {kind: gray, node: n1}\n", "gray needs at least one of"},
		{"gray bad rate", 3, "    - {kind: gray, rate: fast}\n", "nemesis.faults[0].rate: rate \"fast\""},
		{"reorder without delay", 3, "    - {kind: gray, reorder: 10}\n", "reorder: needs a delay"},
		{"loss over 100", 3, "    - {kind: gray, loss: 150}\n", "loss: is a percentage"},
		{"kill unknown node", 3, "    - {kind: kill, node: n4}\n", "no node \"n4\" in this cluster (nodes are n1, n2, n3, or random, or leader)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Parse("bad.yaml", []byte(fmt.Sprintf(base, tc.nodes, tc.fault)))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTimelineValidation(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"valid", "time_limit: 20s\nnemesis:\n  timeline:\n    - {at: 2s, for: 3s, fault: {kind: isolate, node: n1}}\n    - {at: 6s, for: 2s, fault: {kind: kill, node: n2}}\n", ""},
		{"overlap", "time_limit: 20s\nnemesis:\n  timeline:\n    - {at: 2s, for: 5s, fault: {kind: halves}}\n    - {at: 6s, for: 2s, fault: {kind: halves}}\n", "bad.yaml:5:8: nemesis.timeline[1].at: starts at 6s, before the entry before it ends (7s)"},
		{"past the limit", "time_limit: 5s\nnemesis:\n  timeline:\n    - {at: 2s, for: 5s, fault: {kind: halves}}\n", "nemesis.timeline[0].for: ends at 7s, after time_limit"},
		{"both forms", "time_limit: 20s\nnemesis:\n  every: 5s\n  hold: 2s\n  faults: [{kind: halves}]\n  timeline:\n    - {at: 2s, for: 3s, fault: {kind: halves}}\n", "give either a timeline or faults"},
		{"ranges and recovery", "time_limit: 30s\nnemesis:\n  start_after: 3s\n  every: 5s\n  every_max: 8s\n  hold: 2s\n  hold_max: 4s\n  recovery: 5s\n  faults: [{kind: halves}]\n", ""},
		{"hold_max past every", "time_limit: 30s\nnemesis:\n  every: 5s\n  hold: 2s\n  hold_max: 6s\n  faults: [{kind: halves}]\n", "bad.yaml:5:3: nemesis.hold_max: must be between"},
		{"recovery eats the run", "time_limit: 10s\nnemesis:\n  start_after: 3s\n  recovery: 8s\n  every: 5s\n  hold: 2s\n  faults: [{kind: halves}]\n", "nemesis.recovery: must leave time for faults"},
		{"bad fault inside", "time_limit: 20s\nnemesis:\n  timeline:\n    - {at: 2s, for: 3s, fault: {kind: isolate, node: n9}}\n", "nemesis.timeline[0].fault.node: no node \"n9\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Parse("bad.yaml", []byte(tc.src))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWeaker(t *testing.T) {
	cases := []struct {
		in        scenarios.Fault
		want      scenarios.Fault
		what      string
		hasWeaker bool
	}{
		{scenarios.Fault{Kind: "isolate", Node: "leader", Direction: "to", Action: "reject"},
			scenarios.Fault{Kind: "isolate", Node: "leader", Direction: "both", Action: "reject"}, "cut both ways instead of one way", true},
		{scenarios.Fault{Kind: "one-way", From: []string{"n1"}, To: []string{"n2"}},
			scenarios.Fault{Kind: "one-way", From: []string{"n1"}, To: []string{"n2"}, Direction: "both"}, "cut both ways instead of one way", true},
		{scenarios.Fault{Kind: "isolate", Node: "leader", Ports: scenarios.Ports{"7001"}, Protocols: []string{"tcp"}},
			scenarios.Fault{Kind: "isolate", Node: "leader"}, "every port cut instead of some", true},
		{scenarios.Fault{Kind: "gray", Node: "leader", Delay: 200 * time.Millisecond},
			scenarios.Fault{Kind: "isolate", Node: "leader"}, "clean cut instead of gray", true},
		{scenarios.Fault{Kind: "isolate", Node: "leader"}, scenarios.Fault{}, "", false},
	}
	for _, c := range cases {
		sc := &scenarios.Scenario{Nemesis: scenarios.Nemesis{Faults: []scenarios.Fault{c.in}}}
		got, what, ok := sc.Weaker()
		if ok != c.hasWeaker || what != c.what {
			t.Errorf("%+v: got %q %v, want %q %v", c.in, what, ok, c.what, c.hasWeaker)
			continue
		}
		if !ok {
			continue
		}
		if g := got.Nemesis.Faults[0]; g.Kind != c.want.Kind || g.Node != c.want.Node || g.Direction != c.want.Direction || len(g.Ports) != 0 && len(c.want.Ports) == 0 || g.Delay != c.want.Delay {
			t.Errorf("%+v: weakened to %+v, want %+v", c.in, g, c.want)
		}
		if sc.Nemesis.Faults[0].Kind != c.in.Kind || len(sc.Nemesis.Faults[0].Ports) != len(c.in.Ports) {
			t.Errorf("Weaker changed its input: %+v", sc.Nemesis.Faults[0])
		}
	}
}
