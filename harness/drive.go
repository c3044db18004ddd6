package harness

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/workloads"
)

// workPart is what the workload's steps own.
type workPart struct {
	cfg   workloads.Config
	gen   workloads.Generator
	stats workloads.Stats
}

// healTimeout bounds the last heal of the workload, also after Ctrl-C.
const healTimeout = 30 * time.Second

// drive runs the workload and the fault schedule together until the time
// limit, then heals and records the heal. An interrupted run still checks
// what it recorded (briefly), so the report says what it saw.
func (r *run) drive() error {
	w := r.sc.Workload
	r.logf("workload %s for %v: %d clients, %d keys, reads %s", w.Kind, r.sc.TimeLimit, w.Clients, w.Keys, w.Reads)
	workStart := time.Now()
	if !r.clients.readyAt.IsZero() {
		r.rep.Timings.SetupMS = workStart.Sub(r.clients.readyAt).Milliseconds()
	}
	// One clock: the history, the report, the explanations, results.json
	// and replay.yaml all count from the workload's start, as the
	// nemesis timeline does.
	if err := r.store.h.Rebase(workStart); err != nil {
		return err
	}
	if err := r.store.h.Begin(r.sc.TimeLimit); err != nil {
		return err
	}
	stop := workStart.Add(r.sc.TimeLimit)
	g, gctx := errgroup.WithContext(r.ctx)
	g.Go(func() error {
		var err error
		r.work.stats, err = workloads.Run(gctx, stop, r.work.cfg, r.work.gen, r.clients.pinned, r.store.h)
		return err
	})
	nm := &nemesis.Nemesis{
		Net:    r.nemesis.net,
		Proc:   r.cluster.c,
		Env:    nemesis.Env{Nodes: r.nemesis.net.Names(), Rng: mrand.New(mrand.NewPCG(uint64(r.sc.Seed), 0xfa017))},
		Record: recorder(r.store.h, history.Info),
		Invoke: recorder(r.store.h, history.Invoke),
	}
	if leader := r.clients.leader; leader != nil {
		nm.Env.Leader = func(ctx context.Context) (string, error) { return leader(ctx, r.cluster.nodes) }
	}
	if once := r.clients.leaderOnce; once != nil {
		g.Go(func() error { return watchLeader(gctx, stop, once, r.cluster.nodes, nm.Record) })
	}
	var active atomic.Value // the fault in force, for the status line
	active.Store("")
	plan, err := r.sc.Nemesis.Plan(r.sc.TimeLimit, nm.Env.Rng)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNemesis, err)
	}
	g.Go(func() error {
		var err error
		if r.rep.Timeline, err = nemesis.Play(gctx, workStart, r.sc.TimeLimit, plan, nm, faultLog{logf: r.logf, active: &active}); err != nil {
			return fmt.Errorf("%w: %w", ErrNemesis, err)
		}
		return nil
	})
	done := r.progress.Workload(func() WorkloadState {
		ok, fail, info := r.store.h.Completed()
		return WorkloadState{Elapsed: time.Since(workStart), Limit: r.sc.TimeLimit, OK: ok, Fail: fail, Info: info, Fault: active.Load().(string)}
	})
	werr := g.Wait()
	done()
	r.rep.Timings.WorkloadMS = time.Since(workStart).Milliseconds()
	if secs := time.Since(workStart).Seconds(); secs > 0 {
		s := r.work.stats
		r.rep.OpsPerSecond = float64(s.OK+s.Fail+s.Info) / secs
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), healTimeout)
	defer cancel()
	healStart := time.Now()
	herr := r.nemesis.net.Heal(hctx)
	r.rep.Timings.HealMS = time.Since(healStart).Milliseconds()
	if herr != nil {
		return errors.Join(werr, fmt.Errorf("%w: final heal: %w", ErrNemesis, herr))
	}
	if herr := nm.Record("heal", history.HealEvent{Why: history.EndOfRun}); herr != nil && werr == nil {
		werr = herr
	}
	if r.ctx.Err() != nil {
		r.checkInterrupted()
		return fmt.Errorf("%w; history kept in %s", ErrInterrupted, r.store.dir)
	}
	return werr
}

// checkInterrupted checks what an interrupted run recorded, within at most
// 10 s.
func (r *run) checkInterrupted() {
	r.warn("ending the history", r.store.h.End("interrupted"))
	if err := r.store.h.Close(); err != nil {
		r.warn("closing the history", err)
		return
	}
	records, err := history.ReadFile(filepath.Join(r.store.dir, HistoryFile))
	if err != nil {
		r.warn("reading back the history", err)
		return
	}
	opts := CheckerOptions(r.sc.Checker, r.store.dir)
	opts.Budget = min(opts.Budget, 10*time.Second)
	r.logf("interrupted: checking the %d records made so far (at most %v; Ctrl-C again to stop now)", len(records), opts.Budget)
	res, err := checker.Check(records, checks(r.sc), opts)
	if err != nil {
		r.warn("checking what was recorded", err)
		return
	}
	r.rep.Result = res
}

// finalReads reads every key on every node once the cluster is whole
// again and the load has stopped, until the nodes agree or
// checker.converge_within passes: what was acknowledged must still be
// there, and the checker sees how soon the nodes agreed.
func (r *run) finalReads() error {
	if len(r.work.gen.Final()) == 0 {
		return nil
	}
	fctx, cancel := context.WithTimeout(r.ctx, r.sc.Cluster.ReadyTimeout+r.sc.Checker.ConvergeWithin)
	defer cancel()
	wait := time.Now()
	r.warn("cluster not ready for the final reads", r.isReady(fctx))
	waited := time.Since(wait)
	r.rep.Timings.FinalWaitMS = waited.Milliseconds()
	r.logf("final reads: the cluster answered ready %.1fs after the heal; reading every key on every node until they agree (at most %v)", waited.Seconds(), r.sc.Checker.ConvergeWithin)
	reads := time.Now()
	defer func() { r.rep.Timings.FinalReadsMS = time.Since(reads).Milliseconds() }()
	// Fresh process numbers above any a client used (each unknown outcome
	// moved one client up by the number of clients).
	first := len(r.clients.pinned) * int(r.work.stats.Info+1)
	conv := workloads.Converge{Within: r.sc.Checker.ConvergeWithin, Pause: 200 * time.Millisecond}
	fstats, err := workloads.RunFinal(fctx, r.work.cfg, r.work.gen, r.clients.pinned, first, r.store.h, conv)
	if err != nil {
		return err
	}
	s := &r.work.stats
	s.OK, s.Fail, s.Info = s.OK+fstats.OK, s.Fail+fstats.Fail, s.Info+fstats.Info
	return nil
}

// check closes the history (it is on disk before checking begins), checks
// it, and writes the verdict before teardown, so a harness killed while
// tearing down loses nothing it knew (finish adds the timings).
func (r *run) check() error {
	if err := r.store.h.End(""); err != nil {
		return fmt.Errorf("end history: %w", err)
	}
	if err := r.store.h.Close(); err != nil {
		return fmt.Errorf("close history: %w", err)
	}
	s := r.work.stats
	r.logf("workload done: %d ok, %d fail, %d info (%.0f ops/s)", s.OK, s.Fail, s.Info, r.rep.OpsPerSecond)
	records, err := history.ReadFile(filepath.Join(r.store.dir, HistoryFile))
	if err != nil {
		return err
	}
	r.logf("checking %d records (budget %v)", len(records), r.sc.Checker.Budget)
	t := time.Now()
	res, err := checker.Check(records, checks(r.sc), CheckerOptions(r.sc.Checker, r.store.dir))
	if err != nil {
		return err
	}
	r.rep.Timings.CheckMS = time.Since(t).Milliseconds()
	r.rep.Result = res
	j := r.sc.Expectation().Judge(res)
	r.rep.Expectation = &j
	r.warn(ResultsFile+" not written yet", writeJSON(filepath.Join(r.store.dir, ResultsFile), r.rep))
	return nil
}

// CheckerOptions are a scenario's checker settings, with visualizations
// written into dir: the one mapping from a scenario to the checker.
func CheckerOptions(c scenarios.Checker, dir string) checker.Options {
	o := checker.Options{Budget: c.Budget, KeyBudget: c.KeyBudget, StopAtFirstInvalid: c.StopAtFirstInvalid, Initial: c.Initial, VisualizeDir: dir, Bounds: c.Bounds, ConvergeWithin: c.ConvergeWithin}
	for _, name := range c.Expect {
		if g, err := checker.ParseGuarantee(name); err == nil { // validated at load
			o.Expect = append(o.Expect, g)
		}
	}
	return o
}

// checks is the checker's side of a validated scenario's workload.
func checks(sc scenarios.Scenario) *checker.Workload {
	k, err := workloads.Lookup(sc.Workload.Kind)
	if err != nil {
		panic(err) // validated at load
	}
	return k.Checks
}
