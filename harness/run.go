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
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
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
	// Progress receives what the run is doing (the command draws a status
	// line on a terminal from it); default: plain lines to Log.
	Progress Progress
	// Log receives progress lines when Progress is nil; default os.Stderr.
	Log io.Writer
	// Nemesis is how faults reach the nodes' namespaces: NemesisAuto (the
	// default), NemesisDirect or NemesisHelper.
	Nemesis string
	// Clients is where the clients run: ClientsAuto (the default),
	// ClientsHost or ClientsNetwork.
	Clients string
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
	// Expectation is what the scenario expected (valid unless it says)
	// and whether the result met it: `faultline run` passes a run that did.
	Expectation *checker.Judgement `json:"expectation,omitempty"`
	// Nemesis says how faults reached the nodes ("direct", "helper"),
	// Clients where the clients ran ("host", "network").
	Nemesis string `json:"nemesis,omitempty"`
	Clients string `json:"clients,omitempty"`
	// Error is set when the run could not finish; the verdict is then
	// empty and the history holds what was recorded before the error.
	Error string `json:"error,omitempty"`
}

// Run runs the scenario and checks its history. A non-nil error means the
// run could not be carried out (Docker, images, cluster, nemesis, Ctrl-C);
// the report then says where the partial history is. Cleanup of containers,
// network and rules happens in every case.
//
// A run is a sequence of steps over one state (run): prepare, start the
// cluster, wait until it is ready, bind the nemesis, open the clients,
// drive the workload and the faults, final reads, check. Each step that
// creates something registers its undo; finish runs them, last first, and
// writes results.json, replay.yaml and report.html whatever happened.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (Report, error) {
	r := newRun(ctx, sc, opts)
	err := r.steps(r.prepare, r.startCluster, r.waitReady, r.bindNemesis, r.openClients, r.drive, r.finalReads, r.check)
	return r.finish(err)
}

// run is one run's state, shared by its steps.
type run struct {
	ctx      context.Context
	sc       scenarios.Scenario // the scenario as run (seed picked)
	def      *systems.Definition
	opts     Options
	progress Progress
	began    time.Time
	rep      Report
	// clusterStart is when the first container was asked for (after the
	// images were built): the cluster ready time counts from it.
	clusterStart time.Time
	dir          string
	undo         []func(error) error // what finish runs, last first

	engine nemesis.Engine
	// mode is how the nemesis reaches the nodes (NemesisDirect or
	// NemesisHelper), helper the helper image's tag once it is built.
	mode, helper string
	cli          *client.Client
	h            *history.Writer
	cluster      *docker.Cluster
	rendered     []systems.Node
	nodes        []workloads.Node
	adapter      workloads.Adapter    // the workload's client
	ready        workloads.Check      // nil: no readiness check
	how          string               // what ready checks, for messages
	relay        *workloads.Relay     // the client container's, when clients run in the network
	whyNetwork   string               // why the clients run in the network
	leader       workloads.LeaderFunc // asks until a node is named
	// leaderOnce asks once: the leader watch's question.
	leaderOnce workloads.LeaderFunc
	net        *nemesis.Net
	clients    []workloads.Pinned
	wcfg       workloads.Config
	gen        workloads.Generator
	stats      workloads.Stats
}

func newRun(ctx context.Context, sc *scenarios.Scenario, opts Options) *run {
	if opts.StoreRoot == "" {
		opts.StoreRoot = "store"
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	p := opts.Progress
	if p == nil {
		p = Lines(opts.Log)
	}
	return &run{ctx: ctx, sc: *sc, def: sc.Cluster.Def, opts: opts, progress: p, began: time.Now()}
}

func (r *run) logf(format string, args ...any) { r.progress.Logf(format, args...) }

// later registers an undo: it gets the run's error so far and returns it,
// or the error the undo itself met when there was none.
func (r *run) later(f func(error) error) { r.undo = append(r.undo, f) }

// steps runs each step until one fails.
func (r *run) steps(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// finish undoes what the steps created, last first, and writes what the
// store keeps of the run, also after an error.
func (r *run) finish(err error) (Report, error) {
	for i := len(r.undo) - 1; i >= 0; i-- {
		err = r.undo[i](err)
	}
	rep := &r.rep
	rep.Timings.TotalMS = time.Since(r.began).Milliseconds()
	if err != nil && r.ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
		// Whatever failed, it failed because the run was stopped.
		err = fmt.Errorf("%w: %v", ErrInterrupted, err)
	}
	if r.dir == "" {
		return *rep, err
	}
	if err != nil {
		rep.Error = err.Error()
	}
	if werr := checker.WriteJSON(filepath.Join(r.dir, ResultsFile), rep); werr != nil && err == nil {
		err = fmt.Errorf("write results: %w", werr)
	}
	if len(rep.Timeline) > 0 {
		if rerr := writeReplay(r.dir, r.sc, rep.Timeline); rerr != nil {
			r.logf("warning: %s not written: %v", ReplayFile, rerr)
		}
	}
	if rerr := writeReport(r.dir, r.sc, *rep); rerr != nil {
		r.logf("warning: %s not written: %v", report.File, rerr)
	}
	return *rep, err
}

// prepare refuses faults the host cannot apply, makes the store folder
// with the scenario as run, connects to the engine, has the images built
// and opens the history.
func (r *run) prepare() error {
	var err error
	r.mode = r.opts.Nemesis
	switch r.mode {
	case "", NemesisAuto:
		r.mode = NemesisDirect
		if ok, why := directPossible(); !ok {
			r.mode = NemesisHelper
			defer r.logf("the nemesis runs in helper containers: %s", why)
		}
	case NemesisDirect, NemesisHelper:
	default:
		return fmt.Errorf("%w: nemesis %q: want auto, direct or helper", scenarios.ErrInvalid, r.mode)
	}
	if r.mode == NemesisDirect {
		// Refused before anything starts.
		if r.engine, err = checkFaults(&r.sc, r.def, nemesis.ProbeHost); err != nil {
			return err
		}
	}
	if r.sc.Seed == 0 {
		r.sc.Seed = mrand.Int64N(1<<53) + 1
	}
	r.rep = Report{Scenario: r.sc.Name, Seed: r.sc.Seed, RunID: newRunID(r.began)}
	if r.dir, err = newStoreDir(r.opts.StoreRoot, r.sc.Name, r.rep.RunID); err != nil {
		return err
	}
	r.rep.StoreDir = r.dir
	asRun, err := r.sc.Marshal()
	if err != nil {
		return fmt.Errorf("write scenario as run: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, ScenarioFile), asRun, 0o644); err != nil {
		return fmt.Errorf("write scenario as run: %w", err)
	}
	r.logf("run %s of %s (seed %d), store %s", r.rep.RunID, r.sc.Name, r.sc.Seed, r.dir)
	if r.cli, err = docker.Connect(r.ctx); err != nil {
		return err
	}
	r.later(func(err error) error { r.cli.Close(); return err })
	r.warnLeftovers()
	if r.sc.Cluster.Attach == nil {
		for _, img := range ImagesOf(r.def, r.sc.Cluster.Image) {
			if err := docker.EnsureImage(r.ctx, r.cli, img, indented{r.progress}); err != nil {
				return err
			}
		}
	}
	if r.mode == NemesisHelper {
		if err := r.useHelpers(); err != nil {
			return err
		}
	}
	switch r.opts.Clients {
	case "", ClientsAuto, ClientsHost:
	case ClientsNetwork:
		// A client program's image, before any node starts.
		r.whyNetwork = "run -clients network"
		if _, err := r.clientsImage(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: clients %q: want auto, host or network", scenarios.ErrInvalid, r.opts.Clients)
	}
	if r.h, err = history.Create(filepath.Join(r.dir, HistoryFile), r.began); err != nil {
		return err
	}
	r.later(func(err error) error { r.h.Close(); return err })
	return nil
}

// warnLeftovers says what runs whose harness is gone left in the engine.
func (r *run) warnLeftovers() {
	all, err := docker.Leftovers(r.ctx, r.cli)
	if err != nil {
		return
	}
	var left []docker.Leftover
	for _, l := range all {
		if l.Liveness != docker.OwnerAlive {
			left = append(left, l)
		}
	}
	if len(left) > 0 {
		r.logf("warning: %d faultline objects left by earlier runs (first: %s %s); `faultline clean` removes them", len(left), left[0].Kind, left[0].Name)
	}
}

// startCluster starts the nodes (or attaches to running ones), with
// teardown registered at once: logs saved, containers, network and
// volumes removed.
func (r *run) startCluster() error {
	if r.sc.Cluster.Attach == nil {
		params := ""
		for _, k := range slices.Sorted(maps.Keys(r.sc.Cluster.Params)) {
			params += fmt.Sprintf(", %s %s", k, r.sc.Cluster.Params[k])
		}
		r.logf("starting %d-node %s cluster (%s%s)", len(r.sc.NodeNames()), r.def.Name, r.def.Source, params)
	}
	r.clusterStart = time.Now()
	var err error
	if r.cluster, r.rendered, err = startCluster(r.ctx, r.cli, r.sc, r.rep.RunID, r.logf); err != nil {
		return err
	}
	r.later(r.teardown)
	return nil
}

func (r *run) teardown(err error) error {
	t := time.Now()
	if r.sc.Cluster.Attach != nil {
		r.logf("tearing down: saving node logs, restoring the attached containers, removing faultline's marker")
	} else {
		r.logf("tearing down: saving node logs, removing containers and network")
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), time.Minute)
	defer cancel()
	if lerr := r.cluster.SaveLogs(tctx, filepath.Join(r.dir, NodesDir), r.def.Logs); lerr != nil {
		r.logf("warning: node logs incomplete: %v", lerr)
	}
	if rerr := r.cluster.Remove(tctx); rerr != nil {
		r.logf("error: cleanup incomplete: %v; run `faultline clean`", rerr)
		if err == nil {
			err = fmt.Errorf("cleanup: %w", rerr)
		}
	}
	r.rep.Timings.TeardownMS = time.Since(t).Milliseconds()
	return err
}

// waitReady opens the clients' adapters, asks a client program what it
// supports when the system relies on it, finds the readiness and leader
// checks, and waits until every node is ready.
func (r *run) waitReady() error {
	r.nodes = clientNodes(r.rendered)
	if err := r.placeClients(); err != nil {
		return err
	}
	adapter, checks, closeClients, err := clients(r.sc, r.dir, r.nodes, r.relay)
	if err != nil {
		return err
	}
	r.adapter = adapter
	r.later(func(err error) error { closeClients(); return err })
	if err := checkClientProgram(r.ctx, r.sc, checks, r.nodes); err != nil {
		return err
	}
	if r.ready, r.how, err = readyCheck(r.def, r.rendered, r.cluster, checks, r.relay); err != nil {
		return err
	}
	if r.leader, r.leaderOnce, err = leaderFuncs(r.def, r.rendered, r.cluster, checks, r.relay); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(r.ctx, r.sc.Cluster.ReadyTimeout)
	err = r.isReady(rctx)
	cancel()
	if err != nil {
		if r.ctx.Err() != nil {
			return fmt.Errorf("%w while waiting for the cluster", ErrInterrupted)
		}
		return notReady(r.ctx, err, r.how, r.cluster, r.sc.Cluster.ReadyTimeout, r.dir)
	}
	since := time.Since(r.clusterStart)
	r.rep.Timings.ClusterReadyMS = since.Milliseconds()
	if r.ready == nil {
		r.logf("cluster started in %.1fs (system %s says no readiness check: the workload starts at once)", since.Seconds(), r.def.Name)
	} else {
		r.logf("cluster ready in %.1fs (%s)", since.Seconds(), r.how)
	}
	return nil
}

// isReady waits for every node to pass the readiness check (none: at once).
func (r *run) isReady(ctx context.Context) error {
	if r.ready == nil {
		return nil
	}
	return workloads.WaitReady(ctx, r.nodes, r.ready)
}

// useHelpers builds the helper image and asks a helper what the engine's
// kernel can do: faults it cannot apply are refused here, before the
// cluster starts.
func (r *run) useHelpers() error {
	if err := r.ensureHelper(); err != nil {
		return err
	}
	var err error
	r.engine, err = checkFaults(&r.sc, r.def, func() (nemesis.Capabilities, error) {
		return probeViaHelper(r.ctx, r.cli, r.helper, r.rep.RunID)
	})
	return err
}

// bindNemesis binds the network faults to the nodes' namespaces, from here
// or through a helper container in each; every exit path heals, removes
// faultline's tables and stops the helpers.
func (r *run) bindNemesis() error {
	var nodes []nemesis.Node
	for _, n := range r.cluster.Nodes {
		nodes = append(nodes, nemesis.Node{Name: n.Name, Addr: n.Addr, NetNS: n.NetNS()})
		if ok, why := canEnter(n); !ok && r.mode == NemesisDirect {
			if r.opts.Nemesis == NemesisDirect {
				return fmt.Errorf("%w: cannot enter the nodes' network namespaces from here: %s; run with -nemesis helper (or auto)", ErrNemesis, why)
			}
			r.logf("the nemesis runs in helper containers: %s", why)
			r.mode = NemesisHelper
			if err := r.useHelpers(); err != nil {
				return err
			}
		}
	}
	var err error
	if r.net, err = nemesis.NewNet(nodes); err != nil {
		return err
	}
	r.net.SetSeed(uint64(r.sc.Seed))
	r.net.SetEngine(r.engine)
	r.rep.Nemesis = r.mode
	if r.mode == NemesisHelper {
		agents, closeLogs := helperAgents(r.cluster, r.helper, r.dir)
		r.later(func(err error) error { closeLogs(); return err })
		t := time.Now()
		if err := r.net.Bind(r.ctx, agents); err != nil {
			return fmt.Errorf("%w: helpers: %v", ErrNemesis, err)
		}
		r.logf("helpers ready in the nodes' namespaces in %.1fs (image %s)", time.Since(t).Seconds(), r.helper)
	}
	r.later(func(err error) error {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
		defer cancel()
		// Heal, and remove faultline's tables (they live for the run).
		if herr := r.net.Close(hctx); herr != nil && err == nil {
			return fmt.Errorf("%w: final heal: %v", ErrNemesis, herr)
		}
		return err
	})
	return nil
}

// openClients opens one client per logical process, pinned round-robin to
// the nodes, and makes the workload's generator.
func (r *run) openClients() error {
	r.later(func(err error) error {
		for _, c := range r.clients {
			c.Client.Close()
		}
		return err
	})
	w := r.sc.Workload
	for i := range w.Clients {
		n := r.nodes[i%len(r.nodes)]
		c, err := r.adapter.Open(r.ctx, n, w.Kind, i)
		if err != nil {
			return err
		}
		r.clients = append(r.clients, workloads.Pinned{Node: n.Name, Client: c})
	}
	r.wcfg = workloads.Config{
		Kind: w.Kind, Keys: w.Keys, OpsPerKey: w.OpsPerKey, Rate: w.Rate,
		Read: w.Mix.Read, Write: w.Mix.Write, CAS: w.Mix.CAS,
		OpTimeout: w.OpTimeout, Seed: uint64(r.sc.Seed),
	}
	var err error
	r.gen, err = workloads.NewGenerator(r.wcfg)
	return err
}

// drive runs the workload and the fault schedule together until the time
// limit, then heals and records the heal. An interrupted run still checks
// what it recorded (briefly), so the report says what it saw.
func (r *run) drive() error {
	w := r.sc.Workload
	r.logf("workload %s for %v: %d clients, %d keys, reads %s", w.Kind, r.sc.TimeLimit, w.Clients, w.Keys, w.Reads)
	workStart := time.Now()
	// One clock: the history, the report, the explanations, results.json
	// and replay.yaml all count from the workload's start, as the
	// nemesis timeline does.
	if err := r.h.Rebase(workStart); err != nil {
		return err
	}
	stop := workStart.Add(r.sc.TimeLimit)
	g, gctx := errgroup.WithContext(r.ctx)
	g.Go(func() error {
		var err error
		r.stats, err = workloads.Run(gctx, stop, r.wcfg, r.gen, r.clients, r.h)
		return err
	})
	nm := &nemesis.Nemesis{
		Net:    r.net,
		Proc:   r.cluster,
		Env:    nemesis.Env{Nodes: r.net.Names(), Rng: mrand.New(mrand.NewPCG(uint64(r.sc.Seed), 0xfa017))},
		Record: recorder(r.h),
	}
	if r.leader != nil {
		nm.Env.Leader = func(ctx context.Context) (string, error) { return r.leader(ctx, r.nodes) }
	}
	if r.leaderOnce != nil {
		g.Go(func() error { return watchLeader(gctx, stop, r.leaderOnce, r.nodes, nm.Record) })
	}
	var active atomic.Value // the fault in force, for the status line
	active.Store("")
	g.Go(func() error {
		var err error
		r.rep.Timeline, err = runNemesis(gctx, workStart, stop, r.def, r.sc.Nemesis, nm, r.logf, &active)
		return err
	})
	done := r.progress.Workload(func() WorkloadState {
		ok, fail, info := r.h.Completed()
		return WorkloadState{Elapsed: time.Since(workStart), Limit: r.sc.TimeLimit, OK: ok, Fail: fail, Info: info, Fault: active.Load().(string)}
	})
	werr := g.Wait()
	done()
	r.rep.Timings.WorkloadMS = time.Since(workStart).Milliseconds()
	if secs := time.Since(workStart).Seconds(); secs > 0 {
		r.rep.OpsPerSecond = float64(r.stats.OK+r.stats.Fail+r.stats.Info) / secs
	}
	if herr := r.net.Heal(context.WithoutCancel(r.ctx)); herr != nil {
		return fmt.Errorf("%w: final heal: %v", ErrNemesis, herr)
	}
	if herr := nm.Record("heal", history.HealEvent{Why: history.EndOfRun}); herr != nil && werr == nil {
		werr = herr
	}
	if r.ctx.Err() != nil {
		r.checkInterrupted()
		return fmt.Errorf("%w; history kept in %s", ErrInterrupted, r.dir)
	}
	return werr
}

// checkInterrupted checks what an interrupted run recorded, within at most
// 10 s.
func (r *run) checkInterrupted() {
	if err := r.h.Close(); err != nil {
		return
	}
	records, err := history.ReadFile(filepath.Join(r.dir, HistoryFile))
	if err != nil {
		return
	}
	opts := CheckerOptions(r.sc.Checker, r.dir)
	opts.Budget = min(opts.Budget, 10*time.Second)
	r.logf("interrupted: checking the %d records made so far (at most %v; Ctrl-C again to stop now)", len(records), opts.Budget)
	if res, err := checker.Check(records, checks(r.sc), opts); err == nil {
		r.rep.Result = res
	}
}

// finalReads reads every key on every node once the cluster is whole
// again and the load has stopped, until the nodes agree or
// checker.converge_within passes: what was acknowledged must still be
// there, and the checker sees how soon the nodes agreed.
func (r *run) finalReads() error {
	if len(r.gen.Final()) == 0 {
		return nil
	}
	fctx, cancel := context.WithTimeout(r.ctx, r.sc.Cluster.ReadyTimeout+r.sc.Checker.ConvergeWithin)
	defer cancel()
	if err := r.isReady(fctx); err != nil {
		r.logf("warning: cluster not ready for the final reads: %v", err)
	}
	// Fresh process numbers above any a client used (each unknown outcome
	// moved one client up by the number of clients).
	first := len(r.clients) * int(r.stats.Info+1)
	conv := workloads.Converge{Within: r.sc.Checker.ConvergeWithin, Pause: 200 * time.Millisecond, Same: checks(r.sc).Same}
	fstats, err := workloads.RunFinal(fctx, r.wcfg, r.gen, r.clients, first, r.h, conv)
	if err != nil {
		return err
	}
	r.stats.OK, r.stats.Fail, r.stats.Info = r.stats.OK+fstats.OK, r.stats.Fail+fstats.Fail, r.stats.Info+fstats.Info
	return nil
}

// check closes the history (it is on disk before checking begins), checks
// it, and writes the verdict before teardown, so a harness killed while
// tearing down loses nothing it knew (finish adds the timings).
func (r *run) check() error {
	if err := r.h.Close(); err != nil {
		return fmt.Errorf("close history: %w", err)
	}
	r.logf("workload done: %d ok, %d fail, %d info (%.0f ops/s)", r.stats.OK, r.stats.Fail, r.stats.Info, r.rep.OpsPerSecond)
	records, err := history.ReadFile(filepath.Join(r.dir, HistoryFile))
	if err != nil {
		return err
	}
	r.logf("checking %d records (budget %v)", len(records), r.sc.Checker.Budget)
	t := time.Now()
	res, err := checker.Check(records, checks(r.sc), CheckerOptions(r.sc.Checker, r.dir))
	if err != nil {
		return err
	}
	r.rep.Timings.CheckMS = time.Since(t).Milliseconds()
	r.rep.Result = res
	j := r.sc.Expectation().Judge(res)
	r.rep.Expectation = &j
	if werr := checker.WriteJSON(filepath.Join(r.dir, ResultsFile), r.rep); werr != nil {
		r.logf("warning: %s not written yet: %v", ResultsFile, werr)
	}
	return nil
}

// CheckerOptions are a scenario's checker settings, with visualizations
// written into dir: the one mapping from a scenario to the checker.
func CheckerOptions(c scenarios.Checker, dir string) checker.Options {
	o := checker.Options{Budget: c.Budget, KeyBudget: c.KeyBudget, StopAtFirstInvalid: c.StopAtFirstInvalid, Initial: c.Initial, VisualizeDir: dir, Bounds: c.Bounds}
	for _, name := range c.Expect {
		if g, err := checker.ParseGuarantee(name); err == nil { // validated at load
			o.Expect = append(o.Expect, g)
		}
	}
	return o
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
		ScenarioYAML: yaml, Result: rep.Result, Expectation: rep.Expectation, Error: rep.Error, Records: recs, Dir: dir,
		Placement: placement(rep),
		Clients:   run.Workload.Clients,
	})
}

func newRunID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

// checks is the checker's workload of a validated scenario.
func checks(sc scenarios.Scenario) *checker.Workload {
	w, _ := checker.Named(sc.Workload.Kind)
	return w
}
