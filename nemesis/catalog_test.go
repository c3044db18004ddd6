package nemesis_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis"
)

func TestParseRate(t *testing.T) {
	if bps, err := nemesis.ParseRate("256kbit"); err != nil || bps != 256000 {
		t.Errorf("256kbit = %d, %v", bps, err)
	}
	if bps, err := nemesis.ParseRate("1mbps"); err != nil || bps != 8_000_000 {
		t.Errorf("1mbps = %d, %v", bps, err)
	}
}

// TestCatalogueRules: the catalogue holds every rule of every kind, what
// it needs of the system included, and resolves a fault's ports once.
func TestCatalogueRules(t *testing.T) {
	sys := nemesis.System{Name: "mydb", Where: "mydb.yaml", Ports: func(spec []string) ([]nemesis.PortRange, error) {
		if spec[0] == "peer" {
			return []nemesis.PortRange{nemesis.Port(7000)}, nil
		}
		return nil, errors.New("no such role")
	}}
	nodes := []string{"n1", "n2", "n3"}
	for _, tc := range []struct {
		name string
		spec nemesis.Spec
		ctx  nemesis.Context
		want string // in the error; "" for none
	}{
		{"leader without a way to find it", nemesis.Spec{Kind: "isolate", Node: "leader"}, nemesis.Context{Nodes: nodes, System: sys}, `node: "leader" needs a way to find the leader, and system mydb has none`},
		{"kill where the system says no", nemesis.Spec{Kind: "kill"}, nemesis.Context{Nodes: nodes, System: nemesis.System{Name: "mydb", Where: "mydb.yaml", NoKill: true}}, "kind: system mydb does not support kill (supports.kill: false in mydb.yaml)"},
		{"restart-cluster where the system says no", nemesis.Spec{Kind: "restart-cluster"}, nemesis.Context{Nodes: nodes, System: nemesis.System{Name: "mydb", NoKill: true}}, "does not support restart-cluster"},
		{"pause where the system says no", nemesis.Spec{Kind: "pause"}, nemesis.Context{Nodes: nodes, System: nemesis.System{Name: "mydb", NoPause: true}}, "does not support pause"},
		{"kill of a container faultline cannot restart", nemesis.Spec{Kind: "kill", Node: "n1"}, nemesis.Context{Nodes: nodes, CannotKill: "n1 is removed when it stops"}, "kind: n1 is removed when it stops"},
		{"pause of such a container", nemesis.Spec{Kind: "pause", Node: "n1"}, nemesis.Context{Nodes: nodes, CannotKill: "n1 is removed when it stops"}, ""},
		{"a node the attach selector did not find", nemesis.Spec{Kind: "custom", Grudge: map[string][]string{"n1": {"n9"}}}, nemesis.Context{Nodes: nodes, Found: "the attach selector"}, `grudge: names node "n9", which the attach selector did not find (it found n1, n2, n3)`},
		{"an unknown role", nemesis.Spec{Kind: "halves", Ports: nemesis.Ports{"gossip"}}, nemesis.Context{Nodes: nodes, System: sys}, "ports: no such role"},
		{"too long a delay", nemesis.Spec{Kind: "gray", Delay: 2 * time.Minute}, nemesis.Context{Nodes: nodes}, "delay: 2m0s is more than the 1m0s faultline allows"},
		{"a field another kind takes", nemesis.Spec{Kind: "kill", Loss: 10}, nemesis.Context{Nodes: nodes}, "loss: does not apply to kill (only to gray)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate(tc.ctx)
			var fe *nemesis.FieldError
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Ports are resolved once, by Resolve: a plan is built from them.
	spec := nemesis.Spec{Kind: "halves", Ports: nemesis.Ports{"peer"}}
	if _, err := spec.Build(); err == nil {
		t.Error("built a fault whose ports were never resolved")
	}
	if err := spec.Resolve(nemesis.Context{Nodes: nodes, System: sys}); err != nil {
		t.Fatal(err)
	}
	f, err := spec.Build()
	if err != nil {
		t.Fatal(err)
	}
	if p := f.(*nemesis.PartitionFault); len(p.Scope.Ports) != 1 || p.Scope.Ports[0] != nemesis.Port(7000) {
		t.Errorf("scope %v, want port 7000", p.Scope)
	}
	// Without a system, numbers and ranges still resolve.
	num := nemesis.Spec{Kind: "halves", Ports: nemesis.Ports{"9100-9105"}}
	if err := num.Resolve(nemesis.Context{Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	// The weaker form cuts every port: nothing of the scope is left.
	w, _, ok := num.Weaker()
	if f, err := w.Build(); !ok || err != nil || !f.(*nemesis.PartitionFault).Scope.All() {
		t.Errorf("weaker %+v: %v", w, err)
	}
}
