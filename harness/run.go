// Package harness runs a scenario end to end. It is the only package that
// composes the others: docker starts the cluster, nemesis partitions it,
// workloads drive clients, history records everything, checker decides.
// Nothing of faultline's imports it except cmd/faultline and tests.
//
// A scenario enters through Run; a Report leaves it, and is also written as
// results.json into the run's store folder next to the scenario as run,
// history.jsonl, the node logs and the visualizations of invalid keys.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/workloads"
)

// Errors a caller may want to tell apart.
var (
	// ErrInterrupted: the run was cancelled (Ctrl-C); what was recorded is kept.
	ErrInterrupted = errors.New("run interrupted")
	// ErrNemesis: a fault could not be applied or healed.
	ErrNemesis = errors.New("nemesis failed")
)

// Options are the parts of a run that are not in the scenario.
type Options struct {
	// StoreRoot is where runs are stored; default "store".
	StoreRoot string
	// Log receives progress lines; default os.Stderr.
	Log io.Writer
	// Status draws a live status line on Log (a terminal) while the
	// workload runs: elapsed / limit, ops/s, ok / fail / info, the fault in
	// force. Progress lines still appear above it.
	Status bool
}

// Timings are the measured phases of a run, in milliseconds.
type Timings struct {
	ClusterReadyMS int64 `json:"cluster_ready_ms"`
	WorkloadMS     int64 `json:"workload_ms"`
	TeardownMS     int64 `json:"teardown_ms"`
	CheckMS        int64 `json:"check_ms"`
	TotalMS        int64 `json:"total_ms"`
}

// Report is what a run produced; it is written as results.json.
type Report struct {
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	RunID    string `json:"run_id"`
	StoreDir string `json:"store_dir"`
	checker.Result
	// Timeline is the schedule of faults actually applied, every random
	// choice resolved: `faultline replay` runs it again.
	Timeline []scenarios.TimedFault `json:"timeline,omitempty"`
	// OpsPerSecond is completed operations over the workload's wall time.
	OpsPerSecond float64 `json:"ops_per_second"`
	Timings      Timings `json:"timings"`
	// Error is set when the run could not finish; the verdict is then
	// empty and the history holds what was recorded before the error.
	Error string `json:"error,omitempty"`
}

// Run runs the scenario and checks its history. A non-nil error means the
// run could not be carried out (Docker, images, cluster, nemesis, Ctrl-C);
// the report then says where the partial history is. Cleanup of containers,
// network and rules happens in every case.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (rep Report, err error) {
	began := time.Now()
	if opts.StoreRoot == "" {
		opts.StoreRoot = "store"
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	out := &statusWriter{w: opts.Log}
	logf := func(format string, args ...any) { out.line(fmt.Sprintf("faultline: "+format, args...)) }

	// Refuse faults this host cannot apply before anything starts.
	engine, err := checkFaults(sc, sc.Cluster.Def)
	if err != nil {
		return rep, err
	}
	run := *sc
	def := run.Cluster.Def
	if run.Seed == 0 {
		run.Seed = mrand.Int64N(1<<53) + 1
	}
	rep = Report{Scenario: run.Name, Seed: run.Seed, RunID: newRunID(began)}
	dir, err := newStoreDir(opts.StoreRoot, run.Name, began)
	if err != nil {
		return rep, err
	}
	rep.StoreDir = dir
	defer func() {
		rep.Timings.TotalMS = time.Since(began).Milliseconds()
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
			// Whatever failed, it failed because the run was stopped.
			err = fmt.Errorf("%w: %v", ErrInterrupted, err)
		}
		if err != nil {
			rep.Error = err.Error()
		}
		if werr := checker.WriteJSON(filepath.Join(dir, ResultsFile), rep); werr != nil && err == nil {
			err = fmt.Errorf("write results: %w", werr)
		}
		if len(rep.Timeline) > 0 {
			if rerr := writeReplay(dir, run, rep.Timeline); rerr != nil {
				logf("warning: %s not written: %v", ReplayFile, rerr)
			}
		}
		if rerr := writeReport(dir, run, rep); rerr != nil {
			logf("warning: %s not written: %v", report.File, rerr)
		}
	}()
	asRun, err := run.Marshal()
	if err != nil {
		return rep, fmt.Errorf("write scenario as run: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ScenarioFile), asRun, 0o644); err != nil {
		return rep, fmt.Errorf("write scenario as run: %w", err)
	}
	logf("run %s of %s (seed %d), store %s", rep.RunID, run.Name, run.Seed, dir)

	cli, err := docker.Connect(ctx)
	if err != nil {
		return rep, err
	}
	defer cli.Close()
	if all, err := docker.Leftovers(ctx, cli); err == nil {
		var left []docker.Leftover
		for _, l := range all {
			if l.Liveness != docker.OwnerAlive {
				left = append(left, l)
			}
		}
		if len(left) > 0 {
			logf("warning: %d faultline objects left by earlier runs (first: %s %s); `faultline clean` removes them", len(left), left[0].Kind, left[0].Name)
		}
	}
	if run.Cluster.Attach == nil {
		for _, img := range ImagesOf(def, run.Cluster.Image) {
			if err := docker.EnsureImage(ctx, cli, img, prefixWriter{opts.Log}); err != nil {
				return rep, err
			}
		}
	}

	h, err := history.Create(filepath.Join(dir, HistoryFile), began)
	if err != nil {
		return rep, err
	}
	defer h.Close()

	// Cluster up, with teardown that runs whatever happens next.
	clusterStart := time.Now()
	if run.Cluster.Attach == nil {
		params := ""
		for _, k := range slices.Sorted(maps.Keys(run.Cluster.Params)) {
			params += fmt.Sprintf(", %s %s", k, run.Cluster.Params[k])
		}
		logf("starting %d-node %s cluster (%s%s)", len(run.NodeNames()), def.Name, def.Source, params)
	}
	cluster, rendered, err := startCluster(ctx, cli, run, rep.RunID, logf)
	if err != nil {
		return rep, err
	}
	defer func() {
		t := time.Now()
		if run.Cluster.Attach != nil {
			logf("tearing down: saving node logs, restoring the attached containers, removing faultline's marker")
		} else {
			logf("tearing down: saving node logs, removing containers and network")
		}
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if lerr := cluster.SaveLogs(tctx, filepath.Join(dir, NodesDir), def.Logs); lerr != nil {
			logf("warning: node logs incomplete: %v", lerr)
		}
		if rerr := cluster.Remove(tctx); rerr != nil {
			logf("error: cleanup incomplete: %v; run `faultline clean`", rerr)
			if err == nil {
				err = fmt.Errorf("cleanup: %w", rerr)
			}
		}
		rep.Timings.TeardownMS = time.Since(t).Milliseconds()
	}()
	wnodes := clientNodes(rendered)
	adapter, checks, closeClients, err := clients(run, dir, wnodes)
	if err != nil {
		return rep, err
	}
	defer closeClients()
	if err := checkClientProgram(ctx, run, checks, wnodes); err != nil {
		return rep, err
	}
	ready, how, err := readyCheck(def, rendered, cluster, checks)
	if err != nil {
		return rep, err
	}
	leader, err := leaderFunc(def, rendered, cluster, checks)
	if err != nil {
		return rep, err
	}
	waitReady := func(ctx context.Context) error {
		if ready == nil {
			return nil
		}
		return workloads.WaitReady(ctx, wnodes, ready)
	}
	rctx, cancel := context.WithTimeout(ctx, run.Cluster.ReadyTimeout)
	err = waitReady(rctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w while waiting for the cluster", ErrInterrupted)
		}
		return rep, notReady(ctx, err, how, cluster, run.Cluster.ReadyTimeout, dir)
	}
	rep.Timings.ClusterReadyMS = time.Since(clusterStart).Milliseconds()
	if ready == nil {
		logf("cluster started in %.1fs (system %s says no readiness check: the workload starts at once)", time.Since(clusterStart).Seconds(), def.Name)
	} else {
		logf("cluster ready in %.1fs (%s)", time.Since(clusterStart).Seconds(), how)
	}

	// Nemesis bound to the nodes' namespaces; every exit path heals.
	var nodes []nemesis.Node
	for _, n := range cluster.Nodes {
		nodes = append(nodes, nemesis.Node{Name: n.Name, Addr: n.Addr, NetNS: n.NetNS()})
	}
	net, err := nemesis.NewNet(nodes)
	if err != nil {
		return rep, err
	}
	net.SetSeed(uint64(run.Seed))
	net.SetEngine(engine)
	defer func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if herr := net.Heal(hctx); herr != nil && err == nil {
			err = fmt.Errorf("%w: final heal: %v", ErrNemesis, herr)
		}
	}()

	// Clients, one per logical process, pinned round-robin to the nodes.
	var clients []workloads.Pinned
	defer func() {
		for _, c := range clients {
			c.Client.Close()
		}
	}()
	for i := range run.Workload.Clients {
		n := wnodes[i%len(wnodes)]
		c, err := adapter.Open(ctx, n, run.Workload.Kind, i)
		if err != nil {
			return rep, err
		}
		clients = append(clients, workloads.Pinned{Node: n.Name, Client: c})
	}
	wcfg := workloads.Config{
		Kind: run.Workload.Kind, Keys: run.Workload.Keys, OpsPerKey: run.Workload.OpsPerKey, Rate: run.Workload.Rate,
		Read: run.Workload.Mix.Read, Write: run.Workload.Mix.Write, CAS: run.Workload.Mix.CAS,
		OpTimeout: run.Workload.OpTimeout, Seed: uint64(run.Seed),
	}
	gen, err := workloads.NewGenerator(wcfg)
	if err != nil {
		return rep, err
	}

	logf("workload %s for %v: %d clients, %d keys, reads %s", run.Workload.Kind, run.TimeLimit, run.Workload.Clients, run.Workload.Keys, run.Workload.Reads)
	workStart := time.Now()
	stop := workStart.Add(run.TimeLimit)
	var stats workloads.Stats
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		stats, err = workloads.Run(gctx, stop, wcfg, gen, clients, h)
		return err
	})
	nm := &nemesis.Nemesis{
		Net:  net,
		Proc: cluster,
		Env: nemesis.Env{
			Nodes: net.Names(),
			Rng:   mrand.New(mrand.NewPCG(uint64(run.Seed), 0xfa017)),
		},
		Record: recorder(h),
	}
	if leader != nil {
		nm.Env.Leader = func(ctx context.Context) (string, error) { return leader(ctx, wnodes) }
	}
	var active atomic.Value // the fault in force, for the status line
	active.Store("")
	g.Go(func() error {
		var err error
		rep.Timeline, err = runNemesis(gctx, workStart, stop, def, run.Nemesis, nm, logf, &active)
		return err
	})
	if opts.Status {
		sctx, cancel := context.WithCancel(gctx)
		defer cancel()
		go out.run(sctx, func() string {
			ok, fail, info := h.Completed()
			el := time.Since(workStart)
			s := fmt.Sprintf("faultline: %4.0fs / %v  %4.0f ops/s  ok %d  fail %d  info %d", el.Seconds(), run.TimeLimit, float64(ok+fail+info)/max(el.Seconds(), 0.001), ok, fail, info)
			if f := active.Load().(string); f != "" {
				s += "  fault: " + f
			}
			return s
		})
	}
	werr := g.Wait()
	out.stop()
	rep.Timings.WorkloadMS = time.Since(workStart).Milliseconds()
	if secs := time.Since(workStart).Seconds(); secs > 0 {
		rep.OpsPerSecond = float64(stats.OK+stats.Fail+stats.Info) / secs
	}
	if herr := net.Heal(context.WithoutCancel(ctx)); herr != nil {
		return rep, fmt.Errorf("%w: final heal: %v", ErrNemesis, herr)
	}
	if herr := nm.Record("heal", map[string]string{"why": "end of run"}); herr != nil && werr == nil {
		werr = herr
	}
	if ctx.Err() != nil {
		// Interrupted: still check what was recorded (briefly), so the
		// report says what the run saw before it was stopped.
		if err := h.Close(); err == nil {
			if records, err := history.ReadFile(filepath.Join(dir, HistoryFile)); err == nil {
				opts := checkerOptions(run.Checker, dir)
				opts.Budget = min(opts.Budget, 10*time.Second)
				logf("interrupted: checking the %d records made so far (at most %v; Ctrl-C again to stop now)", len(records), opts.Budget)
				if res, err := checker.Check(records, run.Workload.Kind, opts); err == nil {
					rep.Result = res
				}
			}
		}
		return rep, fmt.Errorf("%w; history kept in %s", ErrInterrupted, dir)
	}
	if werr != nil {
		return rep, werr
	}
	// Final reads of every key, once the cluster is whole again: what was
	// acknowledged must still be there.
	if len(gen.Final()) > 0 {
		fctx, cancel := context.WithTimeout(ctx, run.Cluster.ReadyTimeout)
		if err := waitReady(fctx); err != nil {
			logf("warning: cluster not ready for the final reads: %v", err)
		}
		// Fresh process numbers above any a client used (each unknown
		// outcome moved one client up by the number of clients).
		first := len(clients) * int(stats.Info+1)
		fstats, err := workloads.RunFinal(fctx, wcfg, gen, clients, first, h)
		cancel()
		if err != nil {
			return rep, err
		}
		stats.OK, stats.Fail, stats.Info = stats.OK+fstats.OK, stats.Fail+fstats.Fail, stats.Info+fstats.Info
	}
	// The history is complete and on disk before checking begins.
	if err := h.Close(); err != nil {
		return rep, fmt.Errorf("close history: %w", err)
	}
	logf("workload done: %d ok, %d fail, %d info (%.0f ops/s)", stats.OK, stats.Fail, stats.Info, rep.OpsPerSecond)

	records, err := history.ReadFile(filepath.Join(dir, HistoryFile))
	if err != nil {
		return rep, err
	}
	logf("checking %d records (budget %v)", len(records), run.Checker.Budget)
	t := time.Now()
	res, err := checker.Check(records, run.Workload.Kind, checkerOptions(run.Checker, dir))
	if err != nil {
		return rep, err
	}
	rep.Timings.CheckMS = time.Since(t).Milliseconds()
	rep.Result = res
	// The verdict goes to disk before teardown, so a harness killed while
	// tearing down loses nothing it knew (the final write adds timings).
	if werr := checker.WriteJSON(filepath.Join(dir, ResultsFile), rep); werr != nil {
		logf("warning: %s not written yet: %v", ResultsFile, werr)
	}
	return rep, nil
}

// checkerOptions are the scenario's checker settings, with visualizations
// written into dir.
func checkerOptions(c scenarios.Checker, dir string) checker.Options {
	return checker.Options{Budget: c.Budget, KeyBudget: c.KeyBudget, StopAtFirstInvalid: c.StopAtFirstInvalid, Initial: c.Initial, VisualizeDir: dir}
}

// statusWriter writes progress lines and, on a terminal, keeps a live
// status line below them.
type statusWriter struct {
	mu     sync.Mutex
	w      io.Writer
	status string // the line on screen now, "" when none
	done   chan struct{}
}

func (s *statusWriter) line(l string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != "" {
		fmt.Fprint(s.w, "\r\033[K")
	}
	fmt.Fprintln(s.w, l)
	if s.status != "" {
		fmt.Fprint(s.w, s.status)
	}
}

// run redraws the status line twice a second until ctx ends.
func (s *statusWriter) run(ctx context.Context, status func() string) {
	s.mu.Lock()
	s.done = make(chan struct{})
	done := s.done
	s.mu.Unlock()
	defer close(done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		line := status()
		if len(line) > 160 {
			line = line[:157] + "..."
		}
		s.mu.Lock()
		fmt.Fprint(s.w, "\r\033[K"+line)
		s.status = line
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stop clears the status line for good.
func (s *statusWriter) stop() {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return
	}
	// The drawing goroutine ends with its context; wait for it, then clear.
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	s.mu.Lock()
	if s.status != "" {
		fmt.Fprint(s.w, "\r\033[K")
		s.status = ""
	}
	s.mu.Unlock()
}

// writeReplay writes the scenario again with the faults it applied as an
// explicit timeline, every random choice resolved, and the same seed:
// `faultline replay` (or `faultline run` on this file) runs it again.
func writeReplay(dir string, run scenarios.Scenario, timeline []scenarios.TimedFault) error {
	run.Nemesis = scenarios.Nemesis{Timeline: timeline}
	run.Description = strings.TrimSpace("replay of run " + filepath.Base(dir) + " of " + run.Name + ". " + run.Description)
	b, err := run.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ReplayFile), b, 0o644)
}

// writeReport renders report.html from what the store folder holds, also
// for a run that stopped early.
func writeReport(dir string, run scenarios.Scenario, rep Report) (err error) {
	// The report is a view of what is stored; a bug drawing it must not
	// take the run (and its exit code) down with it.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing the report panicked: %v", r)
		}
	}()
	recs, _ := history.ReadFile(filepath.Join(dir, HistoryFile)) // what could be read
	yaml, _ := os.ReadFile(filepath.Join(dir, ScenarioFile))
	system := ""
	if d := run.Cluster.Def; d != nil {
		system = fmt.Sprintf("%s from %s", d.Name, d.Source)
		if names := run.NodeNames(); len(names) > 0 {
			system += ": " + strings.Join(names, ", ")
		}
	}
	return report.Write(filepath.Join(dir, report.File), report.Input{
		Scenario: run.Name, Description: run.Description, System: system, Seed: run.Seed, RunID: rep.RunID,
		ScenarioYAML: yaml, Result: rep.Result, Error: rep.Error, Records: recs, Dir: dir,
	})
}

func newRunID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

// prefixWriter indents build output under faultline's own lines.
type prefixWriter struct{ w io.Writer }

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "  | %s", b); err != nil {
		return 0, err
	}
	return len(b), nil
}
