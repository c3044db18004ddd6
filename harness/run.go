// Package harness runs a scenario end to end. It is the only package that
// composes the others: docker starts the cluster, nemesis partitions it,
// workloads drive clients, history records everything, checker decides.
// Nothing of faultline's imports it except cmd/faultline and tests.
//
// A scenario enters through Run; a Report leaves it, and is also written as
// results.json into the run's store folder next to the scenario as run,
// history.jsonl, the node logs and the visualizations of invalid keys.
// A run is steps over one state, each owning its part of it: prepare
// (prepare.go), the cluster (cluster.go), where faults and clients run
// (placement.go), the clients (clients.go), the nemesis (nemesis.go), the
// workload and the check (drive.go). Check, Clean, List, Shrink and
// EnsureImages are the other entry points.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
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

// Timings are the measured phases of a run, in milliseconds, in the
// order they happen; they add up to TotalMS (OtherMS is what falls
// between them: reading the history back, writing the results).
type Timings struct {
	// PrepareMS: images, the store, the kernel's probe, before the nodes.
	PrepareMS int64 `json:"prepare_ms"`
	// ClusterReadyMS: from starting the nodes until the system was ready.
	ClusterReadyMS int64 `json:"cluster_ready_ms"`
	// SetupMS: the nemesis and the clients, once the nodes were ready.
	SetupMS    int64 `json:"setup_ms"`
	WorkloadMS int64 `json:"workload_ms"`
	// HealMS: the last heal, after the workload.
	HealMS int64 `json:"heal_ms"`
	// FinalWaitMS: waiting for the cluster to be ready before the final
	// reads; FinalReadsMS: the final reads, until the nodes agreed or
	// checker.converge_within passed.
	FinalWaitMS  int64 `json:"final_wait_ms"`
	FinalReadsMS int64 `json:"final_reads_ms"`
	CheckMS      int64 `json:"check_ms"`
	TeardownMS   int64 `json:"teardown_ms"`
	OtherMS      int64 `json:"other_ms"`
	TotalMS      int64 `json:"total_ms"`
}

// String lists the timings as the run's last line prints them.
func (t Timings) String(opsPerSecond float64) string {
	s := func(ms int64) string { return fmt.Sprintf("%.1fs", float64(ms)/1e3) }
	return fmt.Sprintf("prepare %s, cluster ready %s, setup %s, workload %s (%.0f ops/s), heal %s, wait for the final reads %s, final reads %s, check %s, teardown %s, other %s, total %s",
		s(t.PrepareMS), s(t.ClusterReadyMS), s(t.SetupMS), s(t.WorkloadMS), opsPerSecond, s(t.HealMS), s(t.FinalWaitMS), s(t.FinalReadsMS), s(t.CheckMS), s(t.TeardownMS), s(t.OtherMS), s(t.TotalMS))
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
	// Placement says how faults reached the nodes ("nemesis": "direct",
	// "helper") and where the clients ran ("clients": "host", "network").
	Placement
	// Warnings are the scenario's warnings (file:line:col: warning: ...):
	// legal settings that cannot do what they seem to want.
	Warnings []string `json:"warnings,omitempty"`
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
// cluster, decide where faults and clients run, wait until the cluster
// is ready, bind the nemesis, open the clients, drive the workload and
// the faults, final reads, check. Each step that creates something
// registers its undo; finish runs them, last first, and writes
// results.json, replay.yaml and report.html whatever happened.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (Report, error) {
	r := newRun(ctx, sc, opts)
	err := r.steps(r.prepare, r.startCluster, r.placeRun, r.waitReady, r.bindNemesis, r.openClients, r.drive, r.finalReads, r.check)
	return r.finish(err)
}

// run is one run's state, each part owned by the step that fills it.
type run struct {
	ctx      context.Context
	sc       scenarios.Scenario // the scenario as run (seed picked)
	def      *systems.Definition
	opts     Options
	progress Progress
	began    time.Time
	rep      Report
	undo     []func(error) error // what finish runs, last first

	store   stored      // prepare
	engine  engine      // prepare
	nemesis nemesisPart // prepare (the kernel), bindNemesis
	cluster clusterPart // startCluster
	place   Placement   // placeRun
	clients clientsPart // waitReady, openClients
	work    workPart    // openClients, drive, finalReads
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

// warn says what a cleanup step that does not fail the run met.
func (r *run) warn(what string, err error) {
	if err != nil {
		r.logf("warning: %s: %v", what, err)
	}
}

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

// placeRun decides, once the nodes run, where the faults and the clients
// run (place), and says why when not the usual.
func (r *run) placeRun() error {
	var err error
	if r.place, err = place(r.ctx, r.opts, r.engine.host, r.cluster.c.Nodes, reachable); err != nil {
		return err
	}
	r.rep.Placement = r.place
	if why := r.place.WhyNemesis; why != "" {
		r.logf("the nemesis runs in helper containers: %s", why)
	}
	if why := r.place.WhyClients; why != "" {
		r.logf("the clients run in a container on the run's network: %s", why)
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
	tm := &rep.Timings
	tm.TotalMS = time.Since(r.began).Milliseconds()
	tm.OtherMS = max(0, tm.TotalMS-tm.PrepareMS-tm.ClusterReadyMS-tm.SetupMS-tm.WorkloadMS-tm.HealMS-tm.FinalWaitMS-tm.FinalReadsMS-tm.CheckMS-tm.TeardownMS)
	if err != nil && r.ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
		// Whatever failed, it failed because the run was stopped.
		err = fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	dir := r.store.dir
	if dir == "" {
		return *rep, err
	}
	if err != nil {
		rep.Error = err.Error()
	}
	if werr := writeJSON(filepath.Join(dir, ResultsFile), rep); werr != nil && err == nil {
		err = fmt.Errorf("write results: %w", werr)
	}
	if len(rep.Timeline) > 0 {
		r.warn(ReplayFile+" not written", writeReplay(dir, r.sc, rep.Timeline))
	}
	r.warn(report.File+" not written", writeReport(dir, r.sc, *rep))
	return *rep, err
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
	// What can be read is drawn; what cannot is said on the page.
	stopped := rep.Error
	recs, rerr := history.ReadFile(filepath.Join(dir, HistoryFile))
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		stopped = strings.TrimPrefix(stopped+"; the history could be read only up to: "+rerr.Error(), "; ")
	}
	yaml, yerr := os.ReadFile(filepath.Join(dir, ScenarioFile))
	if yerr != nil && !errors.Is(yerr, os.ErrNotExist) {
		stopped = strings.TrimPrefix(stopped+"; the scenario as run could not be read: "+yerr.Error(), "; ")
	}
	system := ""
	if d := run.Cluster.Def; d != nil {
		system = fmt.Sprintf("%s from %s", d.Name, d.Source)
		if names := run.NodeNames(); len(names) > 0 {
			system += ": " + strings.Join(names, ", ")
		}
	}
	return report.Write(filepath.Join(dir, report.File), report.Input{
		Scenario: run.Name, Description: run.Description, System: system, Seed: run.Seed, RunID: rep.RunID,
		ScenarioYAML: yaml, Result: rep.Result, Expectation: rep.Expectation, Error: stopped, Records: recs, Dir: dir,
		Placement: rep.Placement.Words(),
		Clients:   run.Workload.Clients,
	})
}

func newRunID(t time.Time) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux, macOS or Windows
	}
	return t.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}
