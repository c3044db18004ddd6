// Command bench-systems measures what running a system costs: how long a
// 3-node cluster of each system takes from the first container's start to
// every node passing its readiness check, and how many operations per
// second the client paths sustain and record with the rate cap lifted,
// the built-in etcd adapter beside client programs on the same system. It
// prints Markdown tables; `make bench-systems` runs it.
//
//	go run ./cmd/bench-systems [-runs 3] [-seconds 15] [-clients 32] [-store DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
)

func main() {
	runs := flag.Int("runs", 3, "cluster starts per system")
	seconds := flag.Int("seconds", 15, "workload seconds per throughput run")
	clients := flag.Int("clients", 32, "logical clients in the throughput runs")
	store := flag.String("store", "store/bench-systems", "where the runs are stored")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := systems.SourceRoot()
	if err != nil {
		fail(err)
	}
	at := func(p string) string { return filepath.Join(root, p) }

	fmt.Println("| system (3 nodes) | ready: median | min | max | checked by |")
	fmt.Println("|---|---|---|---|---|")
	for _, f := range []string{"scenarios/etcd-register.yaml", "examples/redis-sentinel/scenarios/isolate-replica.yaml", "examples/mnesia/scenarios/short-blip.yaml", "examples/etcd-compose/etcd-compose.yaml"} {
		var ready []time.Duration
		how := ""
		for i := 0; i < *runs && ctx.Err() == nil; i++ {
			sc := load(at(f))
			sc.TimeLimit = time.Second
			sc.Nemesis = scenarios.Nemesis{}
			rep, log, err := run(ctx, sc, *store)
			if err != nil {
				fail(fmt.Errorf("%s: %w\n%s", f, err, log))
			}
			ready = append(ready, time.Duration(rep.Timings.ClusterReadyMS)*time.Millisecond)
			how = sc.Cluster.Def.Name
		}
		slices.Sort(ready)
		fmt.Printf("| %s (%s) | %.1fs | %.1fs | %.1fs | %s |\n", how, f, ready[len(ready)/2].Seconds(), ready[0].Seconds(), ready[len(ready)-1].Seconds(), readyHow(load(at(f))))
	}

	fmt.Printf("\n| client path (etcd, 3 nodes, %d clients, %ds, register, no rate cap) | recorded ops/s | ok | fail | info |\n|---|---|---|---|---|\n", *clients, *seconds)
	for _, c := range []struct {
		name   string
		client *systems.Client
	}{
		{"built-in Go adapter (etcd client v3, gRPC)", nil},
		{"client program: examples/etcd-python/client.py (Python, etcd's HTTP JSON gateway, one kept-alive connection each)", &systems.Client{Command: []string{"python3", at("examples/etcd-python/client.py")}}},
		{"client program: cmd/bench-systems/echo.py (answers from memory: the JSON-lines path alone)", &systems.Client{Command: []string{"python3", at("cmd/bench-systems/echo.py")}}},
	} {
		sc := load(at("scenarios/etcd-register.yaml"))
		sc.TimeLimit = time.Duration(*seconds) * time.Second
		sc.Nemesis = scenarios.Nemesis{}
		sc.Workload.Rate = scenarios.MaxRate
		sc.Workload.Clients = *clients
		sc.Workload.Keys = 16
		sc.Workload.OpTimeout = 2 * time.Second
		sc.Workload.Client = c.client
		sc.Checker.Budget = 10 * time.Second
		rep, log, err := run(ctx, sc, *store)
		if err != nil {
			fail(fmt.Errorf("%s: %w\n%s", c.name, err, log))
		}
		fmt.Printf("| %s | %.0f | %d | %d | %d |\n", c.name, rep.OpsPerSecond, rep.Counts.OK, rep.Counts.Fail, rep.Counts.Info)
	}
	fmt.Printf("\nMeasured %s on %d cores; ready: from the first container's start to every node passing the system's readiness check, %d runs each.\n", time.Now().UTC().Format("2006-01-02"), numCPU(), *runs)
}

func readyHow(sc *scenarios.Scenario) string {
	r := sc.Cluster.Def.Ready
	switch {
	case r == nil:
		return "a compose healthcheck, or a connect to the first client port"
	case r.HTTP != nil:
		return fmt.Sprintf("GET %s on port %d", r.HTTP.Path, r.HTTP.Port)
	case r.TCP != nil:
		return fmt.Sprintf("a connect to port %d", r.TCP.Port)
	case len(r.Command) > 0:
		return "a command in each node"
	}
	return "the client's ready answer"
}

func load(path string) *scenarios.Scenario {
	sc, err := scenarios.Load(path)
	if err != nil {
		fail(err)
	}
	return sc
}

func run(ctx context.Context, sc *scenarios.Scenario, store string) (harness.Report, string, error) {
	var log logBuffer
	rep, err := harness.Run(ctx, sc, harness.Options{StoreRoot: store, Log: &log})
	return rep, string(log), err
}

type logBuffer []byte

func (b *logBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

var _ io.Writer = (*logBuffer)(nil)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-systems:", err)
	os.Exit(3)
}

func numCPU() int { return runtime.NumCPU() }
