package harness

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/nemesis"
)

// BenchmarkHelperApplyHeal applies and heals a majorities-ring on a 5-node
// cluster of the tests' stand-in node, b.N rounds each way in one run:
// entering the namespaces from here (direct), then through a helper
// container in each node's namespace (the JSON-lines protocol over the
// attach stream). It reports p50 and p99 of each, and how long starting
// the five helpers took. Run it with: make bench.
func BenchmarkHelperApplyHeal(b *testing.B) {
	ctx := context.Background()
	cli := testcluster.Connect(b)
	img, err := helperImage()
	if err != nil {
		b.Fatal(err)
	}
	if err := docker.EnsureImage(ctx, cli, img, io.Discard); err != nil {
		b.Fatal(err)
	}
	c, err := testcluster.Start(ctx, cli, 5, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Remove(context.WithoutCancel(ctx))
	var nodes []nemesis.Node
	for _, n := range c.Nodes {
		nodes = append(nodes, nemesis.Node{Name: n.Name, Addr: n.Addr, NetNS: n.NetNS()})
	}
	g, err := nemesis.MajoritiesRing{}.Grudge(ctx, nemesis.Env{Nodes: []string{"n1", "n2", "n3", "n4", "n5"}, Rng: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		b.Fatal(err)
	}
	ring := nemesis.Partition{Grudge: nemesis.Orient(g, nemesis.Both), Action: nemesis.Drop}
	rounds := func(net *nemesis.Net) (apply, heal []time.Duration) {
		return testcluster.Rounds(b, func() error { return net.Partition(ctx, ring) }, func() error { return net.Heal(ctx) })
	}
	p := testcluster.Millis

	b.ResetTimer()
	direct, err := nemesis.NewNet(nodes)
	if err != nil {
		b.Fatal(err)
	}
	dApply, dHeal := rounds(direct)
	if err := direct.Close(ctx); err != nil {
		b.Fatal(err)
	}

	helped, err := nemesis.NewNet(nodes)
	if err != nil {
		b.Fatal(err)
	}
	agents, closeLogs := helperAgents(c, img.Tag, b.TempDir())
	defer closeLogs()
	t := time.Now()
	if err := helped.Bind(ctx, agents); err != nil {
		b.Fatal(err)
	}
	start := time.Since(t)
	hApply, hHeal := rounds(helped)
	if err := helped.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	b.ReportMetric(p(dApply, 0.5), "direct-apply-p50-ms")
	b.ReportMetric(p(dApply, 0.99), "direct-apply-p99-ms")
	b.ReportMetric(p(dHeal, 0.5), "direct-heal-p50-ms")
	b.ReportMetric(p(dHeal, 0.99), "direct-heal-p99-ms")
	b.ReportMetric(p(hApply, 0.5), "helper-apply-p50-ms")
	b.ReportMetric(p(hApply, 0.99), "helper-apply-p99-ms")
	b.ReportMetric(p(hHeal, 0.5), "helper-heal-p50-ms")
	b.ReportMetric(p(hHeal, 0.99), "helper-heal-p99-ms")
	b.ReportMetric(start.Seconds(), "helpers-start-s")
	b.ReportMetric(0, "ns/op")
}
