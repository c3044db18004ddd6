package nemesis_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/nemesis"
)

var five = []string{"n1", "n2", "n3", "n4", "n5"}

func env(seed uint64) nemesis.Env {
	return nemesis.Env{Nodes: five, Rng: rand.New(rand.NewPCG(seed, seed))}
}

// sees reports, for a symmetric grudge, whom each node can hear (itself included).
func sees(g nemesis.Grudge, nodes []string) map[string][]string {
	out := map[string][]string{}
	for _, n := range nodes {
		for _, m := range nodes {
			if !slices.Contains(g[n], m) {
				out[n] = append(out[n], m)
			}
		}
	}
	return out
}

func TestShapes(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(20) {
		e := env(seed)
		g, err := nemesis.Halves{}.Grudge(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		both := nemesis.Orient(g, nemesis.Both)
		if err := both.Validate(five); err != nil {
			t.Fatal(err)
		}
		if len(g) != 2 || len(both) != 5 {
			t.Fatalf("halves: minority of 2 expected, got %s (both: %s)", g, both)
		}
		for n, srcs := range both {
			for _, s := range srcs {
				if !slices.Contains(both[s], n) {
					t.Fatalf("halves both is not symmetric: %s", both)
				}
			}
		}

		ring, err := nemesis.MajoritiesRing{}.Grudge(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		view := sees(nemesis.Orient(ring, nemesis.Both), five)
		distinct := map[string]bool{}
		for n, v := range view {
			if len(v) != 3 {
				t.Fatalf("ring: %s sees %v, want a majority of exactly 3 (%s)", n, v, ring)
			}
			distinct[strings.Join(v, ",")] = true
		}
		if len(distinct) != 5 {
			t.Fatalf("ring: two nodes see the same majority: %v", view)
		}

		br, err := nemesis.Bridge{}.Grudge(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		view = sees(nemesis.Orient(br, nemesis.Both), five)
		bridges := 0
		for _, v := range view {
			if len(v) == 5 {
				bridges++
			}
		}
		if bridges != 1 {
			t.Fatalf("bridge: want exactly one node that sees all, got %v", view)
		}
	}

	g, err := nemesis.Isolate{Node: "n3"}.Grudge(ctx, env(1))
	if err != nil {
		t.Fatal(err)
	}
	if to := nemesis.Orient(g, nemesis.To); !slices.Equal(to["n3"], []string{"n1", "n2", "n4", "n5"}) || len(to) != 1 {
		t.Errorf("isolate n3 to: %s", to)
	}
	if from := nemesis.Orient(g, nemesis.From); len(from) != 4 || !slices.Equal(from["n1"], []string{"n3"}) {
		t.Errorf("isolate n3 from: %s", from)
	}
	if _, err := (nemesis.Isolate{Node: "n9"}).Grudge(ctx, env(1)); err == nil {
		t.Error("isolate of an unknown node accepted")
	}
	if _, err := (nemesis.Isolate{Node: "leader"}).Grudge(ctx, env(1)); err == nil {
		t.Error("isolate leader without a leader lookup accepted")
	}
	e := env(1)
	e.Leader = func(context.Context) (string, error) { return "n4", nil }
	if g, _ := (nemesis.Isolate{Node: "leader"}).Grudge(ctx, e); len(g["n4"]) != 4 {
		t.Errorf("isolate leader: %s", g)
	}
	ow, err := nemesis.OneWay{From: []string{"n1"}, To: []string{"n2", "n3"}}.Grudge(ctx, env(1))
	if err != nil || ow.String() != "n2<-[n1] n3<-[n1]" {
		t.Errorf("one-way: %s %v", ow, err)
	}
	if _, err := (nemesis.Custom{G: nemesis.Grudge{"n1": {"n1"}}}).Grudge(ctx, env(1)); err == nil {
		t.Error("custom grudge against itself accepted")
	}
	if _, err := (nemesis.MajoritiesRing{}).Grudge(ctx, nemesis.Env{Nodes: five[:3], Rng: env(1).Rng}); err == nil {
		t.Error("majorities-ring on 3 nodes (which cuts nothing) accepted")
	}
	// The same seed picks the same victims.
	a, _ := nemesis.Isolate{}.Grudge(ctx, env(7))
	b, _ := nemesis.Isolate{}.Grudge(ctx, env(7))
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
		{nemesis.Complete([]string{"n1", "n2"}, []string{"n3", "n5"}), "n1 n2 | n3 n5, n4 sees all"},
	} {
		if got := tc.g.Describe(five); got != tc.want {
			t.Errorf("Describe(%s) = %q, want %q", tc.g, got, tc.want)
		}
	}
}
