package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testcluster"
)

// BenchmarkPartitionApplyHeal applies and heals a majorities-ring on a
// 5-node cluster, b.N rounds, two ways in the same run, alternating:
// faultline's netlink batches (a lasting connection per node, the table
// and chains kept for the run, a change rewriting the chains), and the
// same nft commands sent by spawning `nsenter -t PID -n nft -f -` per
// node, as CLI-based tools do (`flush table`, then the rules). It reports p50 and p99 of the whole-cluster
// apply and heal latency of each, the speedup, and the kernel's floor: one
// batch that changes nothing, in one namespace. Run it with: make bench.
func BenchmarkPartitionApplyHeal(b *testing.B) {
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("the baseline needs the nft command (Debian: apt-get install nftables)")
	}
	ctx := context.Background()
	cli := testcluster.Connect(b)
	c, err := testcluster.Start(ctx, cli, 5, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Remove(context.WithoutCancel(ctx))
	var nodes []Node
	pids := map[string]int{}
	for _, n := range c.Nodes {
		nodes = append(nodes, Node{Name: n.Name, Addr: n.Addr, NetNS: n.NetNS()})
		pids[n.Name] = n.Pid
	}
	net, err := NewNet(nodes)
	if err != nil {
		b.Fatal(err)
	}
	env := Env{Nodes: net.Names(), Rng: rand.New(rand.NewPCG(1, 1))}
	g, err := MajoritiesRing{}.Grudge(ctx, env)
	if err != nil {
		b.Fatal(err)
	}
	ring := Partition{Grudge: Orient(g, Both), Action: Drop}

	// The CLI baseline installs exactly the rule sets the netlink path computes.
	net.part = ring
	scripts := map[string]string{}
	for _, n := range nodes {
		scripts[n.Name] = nftScript(net.rulesFor(n.Name))
	}
	net.part = Partition{}
	nft := func(node, script string) {
		cmd := exec.Command("nsenter", "-t", fmt.Sprint(pids[node]), "-n", "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("nft in %s: %v: %s", node, err, out)
		}
	}
	const heal = "flush table ip faultline\n"

	// The floor: the smallest transaction there is, re-adding the table
	// that exists, in one namespace, on a lasting connection.
	floorSet, err := openRuleset(nodes[0].NetNS)
	if err != nil {
		b.Fatal(err)
	}
	defer floorSet.close()
	floor := func() time.Duration {
		t := time.Now()
		floorSet.conn.AddTable(table())
		if err := floorSet.conn.Flush(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t)
	}

	var nlApply, nlHeal, cliApply, cliHeal, floors []time.Duration
	b.ResetTimer()
	// The netlink rounds first, then the CLI's: spawning processes in
	// between would put their allocations (a collection) and their cache
	// misses inside the netlink timings.
	nlApply, nlHeal = testcluster.Rounds(b, func() error { return net.Partition(ctx, ring) }, func() error { return net.Heal(ctx) },
		func() { floors = append(floors, floor()) })
	everyNode := func(script func(node string) string) func() error {
		return func() error {
			for _, n := range nodes {
				nft(n.Name, script(n.Name))
			}
			return nil
		}
	}
	cliApply, cliHeal = testcluster.Rounds(b, everyNode(func(n string) string { return scripts[n] }), everyNode(func(string) string { return heal }))
	b.StopTimer()
	// The last round must have left the cluster healed, both ways.
	if inst, err := net.Installed(ctx); err != nil || slices.Contains(mapValues(inst), true) {
		b.Fatalf("not healed after the benchmark: %v %v", inst, err)
	}
	p := testcluster.Millis
	b.ReportMetric(p(floors, 0.5), "kernel-floor-p50-ms")
	b.ReportMetric(p(floors, 0.99), "kernel-floor-p99-ms")
	b.ReportMetric(p(nlApply, 0.5), "netlink-apply-p50-ms")
	b.ReportMetric(p(nlApply, 0.99), "netlink-apply-p99-ms")
	b.ReportMetric(p(nlHeal, 0.5), "netlink-heal-p50-ms")
	b.ReportMetric(p(nlHeal, 0.99), "netlink-heal-p99-ms")
	b.ReportMetric(p(cliApply, 0.5), "nft-cli-apply-p50-ms")
	b.ReportMetric(p(cliApply, 0.99), "nft-cli-apply-p99-ms")
	b.ReportMetric(p(cliHeal, 0.5), "nft-cli-heal-p50-ms")
	b.ReportMetric(p(cliHeal, 0.99), "nft-cli-heal-p99-ms")
	b.ReportMetric(p(cliApply, 0.5)/p(nlApply, 0.5), "apply-speedup-x")
	b.ReportMetric(p(cliHeal, 0.5)/p(nlHeal, 0.5), "heal-speedup-x")
	b.ReportMetric(p(nlApply, 0.99)/p(floors, 0.99), "apply-over-floor-p99-x")
	b.ReportMetric(0, "ns/op")
	if err := net.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// nftScript writes a partition rule set as an nft script: the same
// messages ruleset.install sends as one netlink batch.
func nftScript(r NodeRules) string {
	var b strings.Builder
	b.WriteString("table ip faultline {\n")
	b.WriteString("  chain input { type filter hook input priority filter; policy accept; }\n")
	b.WriteString("  chain output { type filter hook output priority filter; policy accept; }\n}\n")
	b.WriteString("flush table ip faultline\n")
	for _, m := range r.DropFrom {
		fmt.Fprintf(&b, "add rule ip faultline input ip saddr %s counter drop\n", m.Peer)
	}
	return b.String()
}
