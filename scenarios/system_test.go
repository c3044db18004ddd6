package scenarios_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
)

// parseIn writes a scenario into dir and loads it from there, so that the
// files it names are found beside it.
func parseIn(t *testing.T, dir, src string) (*scenarios.Scenario, error) {
	t.Helper()
	path := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return scenarios.Load(path)
}

func TestSystemFile(t *testing.T) {
	sc, err := scenarios.Parse("testdata/s.yaml", []byte("time_limit: 5s\ncluster:\n  system: systems/mydb.yaml\n  nodes: 3\nworkload: {kind: set}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := sc.Cluster.Def
	if d.Name != "mydb" || !filepath.IsAbs(d.Build.Context) || !strings.HasSuffix(d.Build.Context, "testdata/systems/image") {
		t.Errorf("definition: name %q, build context %q", d.Name, d.Build.Context)
	}
	if c := d.Client.Command; !filepath.IsAbs(c[1]) {
		t.Errorf("client program not resolved beside the system file: %v", c)
	}
	nodes, err := d.Render(systems.Cluster{Names: sc.NodeNames(), Addrs: []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}, RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := nodes[1].Command, []string{"--name=n2", "--peers=10.0.0.11,10.0.0.13", "--data=/var/lib/mydb"}; !slices.Equal(got, want) {
		t.Errorf("n2's command = %q, want %q", got, want)
	}
	if got := nodes[0].Env; !slices.Equal(got, []string{"ROLE=seed"}) {
		t.Errorf("n1's env = %q", got)
	}
	if nodes[2].Endpoint != "10.0.0.13:7000" {
		t.Errorf("endpoint = %q, want the first client port on the node's address", nodes[2].Endpoint)
	}
	// The scenario as run holds the definition inline, and loads back to
	// the same definition.
	out, err := sc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := scenarios.Parse("testdata/as-run.yaml", out)
	if err != nil {
		t.Fatalf("scenario as run does not load back: %v\n%s", err, out)
	}
	a, _ := d.Marshal()
	b, _ := back.Cluster.Def.Marshal()
	if !bytes.Equal(a, b) || back.Cluster.System.Inline == nil {
		t.Errorf("round trip changed the definition:\n%s\n%s", a, b)
	}
}

func TestBadSystems(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown template field", "time_limit: 5s\ncluster:\n  system: systems/typo.yaml\n",
			"testdata/s.yaml:3:3: cluster.system: invalid system definition: testdata/systems/typo.yaml:4:5: command[0]: template: command[0]:1:14: executing \"command[0]\" at <.Node.Nmae>: can't evaluate field Nmae"},
		{"template that does not parse", "time_limit: 5s\ncluster:\n  system: systems/broken.yaml\n",
			"testdata/systems/broken.yaml:3:11: command[0]: template: command[0]:1: unclosed action"},
		{"system file missing", "time_limit: 5s\ncluster:\n  system: systems/nope.yaml\n", "testdata/s.yaml:3:3: cluster.system: invalid system definition: read system file: stat testdata/systems/nope.yaml"},
		{"inline error names the scenario's line", "time_limit: 5s\ncluster:\n  system:\n    name: inl\n    image: x/y:1\n    command:\n      - ok\n      - \"{{.Peers.Addr}}\"\n    client: {command: [python3]}\n",
			"testdata/s.yaml:8:9: cluster.system.command[1]: template:"},
		{"inline unknown field", "time_limit: 5s\ncluster:\n  system:\n    image: x/y:1\n    comand: [x]\n", "testdata/s.yaml:5:5: unknown field \"comand\""},
		{"no image", "time_limit: 5s\ncluster:\n  system: {name: inl, client: {command: [python3]}}\n", "cluster.system.image: is required"},
		{"no client", "time_limit: 5s\ncluster:\n  system: {name: inl, image: x/y:1}\n", "testdata/s.yaml:1:1: workload.client: system inl names no client: give workload.client.command"},
		{"leader aimed at a system without one", "time_limit: 9s\ncluster:\n  system: systems/mydb.yaml\nnemesis:\n  every: 4s\n  hold: 2s\n  faults:\n    - kind: isolate\n      node: leader\n",
			"testdata/s.yaml:9:7: nemesis.faults[0].node: \"leader\" needs a way to find the leader, and system mydb has none: add leader: (http, command or client) to testdata/systems/mydb.yaml"},
		{"unknown param", "time_limit: 5s\ncluster:\n  system: systems/mydb.yaml\n  params: {bug: x}\n", "testdata/s.yaml:4:12: cluster.params.bug: system mydb has no param \"bug\"; it has none"},
		{"a workload the client does not run", "time_limit: 5s\ncluster:\n  system: systems/mydb.yaml\nworkload: {kind: counter}\n", "workload.kind: system mydb's client runs the register, set workloads, not counter"},
		{"two ready checks", "time_limit: 5s\ncluster:\n  system:\n    image: x/y:1\n    ready: {tcp: {port: 1}, client: true}\n    client: {command: [python3]}\n", "testdata/s.yaml:5:5: cluster.system.ready: give exactly one of http, tcp, command or client: true (got 2)"},
		{"build context outside the tree", "time_limit: 5s\ncluster:\n  system:\n    image: x/y:1\n    build: {context: /etc}\n    client: {command: [python3]}\n", "cluster.system.build.context: \"/etc\" is outside"},
		{"peer ports not declared", "time_limit: 9s\ncluster:\n  system:\n    image: x/y:1\n    client: {command: [python3]}\nnemesis:\n  every: 4s\n  hold: 2s\n  faults:\n    - {kind: halves, ports: peer}\n", "nemesis.faults[0].ports: system s declares no peer ports (ports.peer in inline in testdata/s.yaml)"},
		{"param default not allowed", "time_limit: 5s\ncluster:\n  system:\n    image: x/y:1\n    params: {mode: {default: fast, values: [slow]}}\n    client: {command: [python3]}\n", "cluster.system.params.mode.default: \"fast\" is not one of its values (slow)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Parse("testdata/s.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, scenarios.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\ndoes not contain\n  %s", err, tc.want)
			}
		})
	}
}

func TestComposeFile(t *testing.T) {
	sc, err := scenarios.Parse("testdata/s.yaml", []byte("time_limit: 9s\ncluster:\n  compose: compose/docker-compose.yml\nnemesis:\n  every: 4s\n  hold: 2s\n  faults:\n    - {kind: isolate, node: db2, ports: peer}\n    - {kind: kill, node: leader}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := sc.Cluster.Def
	if got := sc.NodeNames(); !slices.Equal(got, []string{"db1", "db2", "db3"}) || sc.Cluster.Nodes != 3 {
		t.Fatalf("nodes %v (%d), want db1 db2 db3 in dependency order", got, sc.Cluster.Nodes)
	}
	if !slices.Contains(d.Nodes[1].Aliases, "second") || len(d.Nodes[0].Mounts) != 1 || d.Nodes[0].Mounts[0].Source != "data1" {
		t.Errorf("db2 aliases %v, db1 mounts %+v", d.Nodes[1].Aliases, d.Nodes[0].Mounts)
	}
	notes := strings.Join(d.Notes, "\n")
	if !strings.Contains(notes, "service db1: host port publishing dropped") || !strings.Contains(notes, "service db1: restart policy forced to no") {
		t.Errorf("notes: %s", notes)
	}
	nodes, err := d.Render(systems.Cluster{Names: sc.NodeNames(), Addrs: []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nodes[0].ReadyCommand, []string{"/db", "check"}) || nodes[1].ReadyCommand != nil {
		t.Errorf("healthcheck as the ready command: %q, %q", nodes[0].ReadyCommand, nodes[1].ReadyCommand)
	}
	// Picking the services in the scenario wins over x-faultline.
	sc, err = scenarios.Parse("testdata/s.yaml", []byte("time_limit: 5s\ncluster:\n  compose: compose/docker-compose.yml\n  services: [db1]\n"))
	if err != nil || !slices.Equal(sc.NodeNames(), []string{"db1"}) {
		t.Errorf("services [db1]: %v %v", sc.NodeNames(), err)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"host networking", "time_limit: 5s\ncluster:\n  compose: compose/host-network.yml\n  services: [db1]\n", "compose/host-network.yml: service db1: network_mode is not something faultline can honour: faultline puts every node on its own network"},
		{"unknown field in x-faultline", "time_limit: 5s\ncluster:\n  compose: compose/replicas.yml\n", "testdata/compose/replicas.yml:9:3: unknown field \"frobnicate\""},
		{"a node depending on a service left out", "time_limit: 5s\ncluster:\n  compose: compose/docker-compose.yml\n  services: [db2]\n", "service db2 depends on db1, which is not one of the nodes"},
		{"no such service", "time_limit: 5s\ncluster:\n  compose: compose/docker-compose.yml\n  services: [db9]\n", "no service \"db9\"; its services: db1, db2, db3, tools"},
		{"compose and system", "time_limit: 5s\ncluster:\n  system: etcd\n  compose: compose/docker-compose.yml\n", "testdata/s.yaml:3:3: cluster.system: give a system or a compose file, not both"},
		{"nodes against the compose file", "time_limit: 5s\ncluster:\n  compose: compose/docker-compose.yml\n  nodes: 5\n", "cluster.nodes: the compose file's services give 3 nodes (db1, db2, db3), not 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Parse("testdata/s.yaml", []byte(tc.src))
			if err == nil || !errors.Is(err, scenarios.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant\n  %s", err, tc.want)
			}
		})
	}
	// Replicas expand into nodes named as compose names containers.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "compose.yml"), []byte("services:\n  kv:\n    image: example/kv:1\n    deploy:\n      replicas: 3\nx-faultline:\n  client: {command: [python3]}\n"), 0o644)
	sc, err = parseIn(t, dir, "time_limit: 5s\ncluster:\n  compose: compose.yml\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.NodeNames(); !slices.Equal(got, []string{"kv-1", "kv-2", "kv-3"}) || !slices.Contains(sc.Cluster.Def.Nodes[2].Aliases, "kv") {
		t.Errorf("replicas: %v, aliases %v", got, sc.Cluster.Def.Nodes[2].Aliases)
	}
}

func TestAttachScenario(t *testing.T) {
	sc, err := scenarios.Parse("testdata/s.yaml", []byte("time_limit: 9s\ncluster:\n  attach: {names: [a, b, c]}\nworkload:\n  client: {command: [python3]}\nnemesis:\n  every: 4s\n  hold: 2s\n  faults:\n    - {kind: isolate, node: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sc.NodeNames(), []string{"a", "b", "c"}) {
		t.Errorf("nodes %v", sc.NodeNames())
	}
	for _, tc := range []struct{ src, want string }{
		{"time_limit: 5s\ncluster:\n  attach: {names: [a], labels: {x: y}}\nworkload:\n  client: {command: [python3]}\n", "cluster.attach: select containers one way"},
		{"time_limit: 5s\ncluster:\n  attach: {names: [a]}\n  nodes: 3\nworkload:\n  client: {command: [python3]}\n", "cluster.nodes: an attached run has the nodes its selector finds"},
		{"time_limit: 5s\ncluster:\n  attach: {names: [a]}\n", "workload.client: system attached names no client"},
		{"time_limit: 9s\ncluster:\n  attach: {names: [a, b]}\nworkload:\n  client: {command: [python3]}\nnemesis:\n  every: 4s\n  hold: 2s\n  faults:\n    - {kind: isolate, node: n1}\n", "nemesis.faults[0].node: no node \"n1\" in this cluster (nodes are a, b"},
	} {
		if _, err := scenarios.Parse("testdata/s.yaml", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
