package nemesis_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/faultline/faultline/nemesis"
)

func TestShapes(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		g, err := nemesis.Halves{}.Grudge(nodes, rng)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Validate(nodes); err != nil {
			t.Fatal(err)
		}
		// Every node is cut from exactly the other side: sizes 2 and 3.
		for n, srcs := range g {
			if len(srcs) != 2 && len(srcs) != 3 {
				t.Fatalf("%s drops %v in %s", n, srcs, g)
			}
			for _, s := range srcs {
				if !slices.Contains(g[s], n) {
					t.Fatalf("halves is not symmetric: %s", g)
				}
			}
		}
		if len(g) != 5 {
			t.Fatalf("halves leaves a node out: %s", g)
		}
	}
	g, err := nemesis.Isolate{Node: "n3"}.Grudge(nodes, rng)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g["n3"], []string{"n1", "n2", "n4", "n5"}) || !slices.Equal(g["n1"], []string{"n3"}) {
		t.Errorf("isolate n3: %s", g)
	}
	if _, err := (nemesis.Isolate{Node: "n9"}).Grudge(nodes, rng); err == nil {
		t.Error("isolate of an unknown node accepted")
	}
	// The same seed picks the same victims.
	a, _ := nemesis.Isolate{}.Grudge(nodes, rand.New(rand.NewPCG(7, 7)))
	b, _ := nemesis.Isolate{}.Grudge(nodes, rand.New(rand.NewPCG(7, 7)))
	if a.String() != b.String() {
		t.Errorf("same seed, different grudges: %s vs %s", a, b)
	}
	for _, tc := range []struct {
		g    nemesis.Grudge
		want string
	}{
		{nemesis.Grudge{}, "healed"},
		{nemesis.Complete([]string{"n2"}, []string{"n1", "n3", "n4", "n5"}), "n1 n3 n4 n5 | n2"},
		{nemesis.Complete([]string{"n1", "n4"}, []string{"n2", "n3", "n5"}), "n1 n4 | n2 n3 n5"},
		{nemesis.Grudge{"n2": {"n1"}}, "n2<-[n1]"},
	} {
		if got := tc.g.Describe(nodes); got != tc.want {
			t.Errorf("Describe(%s) = %q, want %q", tc.g, got, tc.want)
		}
	}
}
