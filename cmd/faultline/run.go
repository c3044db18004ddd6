package main

// faultline run and faultline replay.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/report"
	"github.com/faultline/faultline/scenarios"
)

var errNoScenario = errors.New("run needs scenario files or folders, for example: faultline run " + scenarios.Default)

// runCmd runs scenarios, one after another, each with its own verdict.
func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "store", "folder that keeps the runs")
	junit := fs.String("junit", "", "write JUnit XML here: one test case per scenario")
	summary := fs.String("summary", "", "write a Markdown summary here (for a CI job's page)")
	bug := fs.String("bug", "", "systems with a bug param (refkv): switch on this bug instead of the scenario's (none: the correct build)")
	var params paramFlags
	fs.Var(&params, "param", "NAME=VALUE: set one of the system's params (cluster.params), for every scenario; repeatable")
	seed := fs.Int64("seed", 0, "run with this seed instead of the scenario's")
	asWritten := fs.Bool("as-written", false, "for a replay.yaml: apply each fault as the original scenario wrote it (its as_written: a random node drawn again, the leader found again) instead of what that run resolved it to")
	seedList := fs.String("seeds", "", "run every scenario once under each of these seeds: 1-5, or 3,8,13")
	via := fs.String("nemesis", harness.NemesisAuto, "how faults reach the nodes: direct (enter their namespaces from here: root on the engine's host), helper (a helper container in each node's namespace), or auto")
	where := fs.String("clients", harness.ClientsAuto, "where the clients run: host (reaching the nodes' addresses from here), network (a container on the run's network), or auto")
	shardFlag := fs.String("shard", "", "K/N: run only this job's share of scenarios × seeds, the K-th of N (a CI matrix); faultline merge combines the N stores")
	if err := parseFlags(fs, args); err != nil {
		return exitError
	}
	shard, seeds, err := shardAndSeeds(*shardFlag, *seedList, *seed)
	if err != nil {
		return fail(stderr, err)
	}
	if fs.NArg() == 0 {
		return fail(stderr, errNoScenario)
	}
	files, err := scenarioFiles(fs.Args())
	if err != nil {
		return fail(stderr, err)
	}
	scs, invalid, err := loadAll(files, stderr)
	if err != nil {
		// The CI job still gets its JUnit file and summary, naming each
		// invalid scenario.
		if werr := writeReports(*junit, *summary, invalid); werr != nil {
			fmt.Fprintf(stderr, "faultline: %v\n", werr)
		}
		return fail(stderr, err)
	}
	if *bug != "" {
		params = append(params, "bug="+*bug)
	}
	if err := override(scs, params, *seed); err != nil {
		return fail(stderr, err)
	}
	if *asWritten {
		for _, sc := range scs {
			if n := sc.AsWritten(); n > 0 {
				fmt.Fprintf(stderr, "faultline: %s: %s applied as written, resolved again in this run\n", sc.Path, plural(n, "fault"))
			} else {
				fmt.Fprintf(stderr, "faultline: %s: -as-written changes nothing: its timeline has no as_written (a run's replay.yaml has them)\n", sc.Path)
			}
		}
	}
	jobs, m, err := plan(files, scs, seeds, shard)
	if err != nil {
		return fail(stderr, err)
	}
	var after func(job, outcome)
	if shard.N > 0 {
		if after, err = recordShard(*store, m, stderr); err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stderr, "faultline: shard %s: %s of the job's %d\n", shard, plural(len(jobs), "run"), len(m.Items))
	}
	outs := runAll(ctx, jobs, harness.Options{StoreRoot: *store, Nemesis: *via, Clients: *where}, stdout, stderr, after)
	if err := writeReports(*junit, *summary, outs); err != nil {
		return fail(stderr, err)
	}
	if ctx.Err() != nil && len(outs) < len(jobs) {
		return exitInterrupted // scenarios left unrun
	}
	return worst(outs)
}

// shardAndSeeds reads -shard and -seeds (which -seed may not join).
func shardAndSeeds(shardFlag, seedList string, seed int64) (shardSpec, []int64, error) {
	var shard shardSpec
	var seeds []int64
	var err error
	if shardFlag != "" {
		if shard, err = parseShard(shardFlag); err != nil {
			return shard, nil, err
		}
	}
	if seedList != "" {
		if seed != 0 {
			return shard, nil, fmt.Errorf("%w: -seed and -seeds together: give one seed or a list", scenarios.ErrInvalid)
		}
		if seeds, err = parseSeeds(seedList); err != nil {
			return shard, nil, err
		}
	}
	return shard, seeds, nil
}

// recordShard writes a shard's manifest before the first run and returns
// what writes it again after each, so faultline merge finds what a killed
// job did.
func recordShard(store string, m manifest, stderr io.Writer) (func(job, outcome), error) {
	if err := writeManifest(store, m); err != nil {
		return nil, fmt.Errorf("write %s: %w", manifestFile, err)
	}
	return func(j job, o outcome) {
		r := shardRun{Item: j.item, Name: j.name}
		if o.rep.StoreDir != "" {
			rel, err := filepath.Rel(store, o.rep.StoreDir)
			if err != nil {
				rel = o.rep.StoreDir // it lies elsewhere: named whole
			}
			r.Dir = rel
		} else if o.err != nil {
			r.Error = o.err.Error()
		}
		m.Runs = append(m.Runs, r)
		if err := writeManifest(store, m); err != nil {
			fmt.Fprintf(stderr, "faultline: write %s: %v\n", manifestFile, err)
		}
	}, nil
}

// writeReports writes the JUnit file and the summary, where asked.
func writeReports(junit, summary string, outs []outcome) error {
	for _, w := range []struct {
		path  string
		write func(string, []outcome) error
	}{{junit, writeJUnit}, {summary, writeSummary}} {
		if w.path != "" {
			if err := w.write(w.path, outs); err != nil {
				return err
			}
		}
	}
	return nil
}

// job is one run of a faultline run: a scenario (under one of -seeds),
// and its place among the job's items.
type job struct {
	sc   *scenarios.Scenario
	name string
	item int
}

// plan turns the loaded scenarios into this job's runs: every scenario
// under each seed (or its own), the shard's share of them; and the
// manifest a sharded job writes.
func plan(files []string, scs []*scenarios.Scenario, seeds []int64, shard shardSpec) ([]job, manifest, error) {
	items, err := jobItems(files, seeds)
	if err != nil {
		return nil, manifest{}, err
	}
	m := manifest{Version: buildVersion(), Shard: shard, Items: items, Runs: []shardRun{}}
	per := max(len(seeds), 1)
	var jobs []job
	for i, it := range items {
		if !shard.mine(i) {
			continue
		}
		sc := scs[i/per]
		if it.Seed != 0 {
			c := *sc
			c.Seed = it.Seed
			sc = &c
		}
		jobs = append(jobs, job{sc: sc, name: it.name(sc.Name), item: i})
	}
	return jobs, m, nil
}

// runAll runs each job and prints its verdict, and a summary when there
// are several; after, if set, hears of each run as it ends.
func runAll(ctx context.Context, jobs []job, opts harness.Options, stdout, stderr io.Writer, after func(job, outcome)) []outcome {
	var outs []outcome
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		sc := j.sc
		if len(jobs) > 1 {
			fmt.Fprintf(stdout, "== %s (%s)\n", j.name, sc.Path)
		}
		opts.Progress = newProgress(stderr)
		rep, err := harness.Run(ctx, sc, opts)
		o := outcome{name: j.name, rep: rep, err: err}
		outs = append(outs, o)
		if after != nil {
			after(j, o)
		}
		if err != nil {
			if rep.Verdict != "" {
				fmt.Fprintln(stdout, "INTERRUPTED RUN: the verdict covers only what was recorded before it stopped")
				printResult(stdout, rep.Result, rep.StoreDir)
			}
			if rep.StoreDir != "" {
				fmt.Fprintf(stderr, "faultline: what was recorded is in %s\n", rep.StoreDir)
			}
			fmt.Fprintf(stderr, "faultline: %v\n", err)
			continue
		}
		printResult(stdout, rep.Result, rep.StoreDir)
		if j := rep.Expectation; j != nil && sc.Expected != nil {
			if j.Met {
				fmt.Fprintf(stdout, "expected: %s: met\n", j.Expected)
			} else {
				fmt.Fprintf(stdout, "expected: %s: NOT MET (%s)\n", j.Expected, j.Why)
			}
		}
		if _, err := os.Stat(filepath.Join(rep.StoreDir, report.File)); err == nil {
			fmt.Fprintf(stdout, "report: %s\n", filepath.Join(rep.StoreDir, report.File))
		}
		fmt.Fprintf(stdout, "timings: %s\n", rep.Timings.String(rep.OpsPerSecond))
	}
	if len(outs) > 1 {
		fmt.Fprintln(stdout, "== summary")
		for _, o := range outs {
			v := strings.ToUpper(string(o.rep.Verdict))
			switch {
			case o.err != nil:
				v = "COULD NOT RUN"
			case o.met() && o.rep.Verdict != checker.Valid:
				v += " (as expected)"
			case !o.met() && unmet(o) != "":
				v += " (" + strings.TrimSuffix(unmet(o), ": ") + ")"
			}
			fmt.Fprintf(stdout, "  %-28s %s\n", o.name, v)
		}
	}
	return outs
}

// replayCmd runs a stored run's replay.yaml: faultline replay [run flags]
// STORE_DIR.
func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		return fail(stderr, errors.New("replay needs a store folder, for example: faultline replay store/latest"))
	}
	dir := args[len(args)-1]
	path := filepath.Join(dir, harness.ReplayFile)
	if _, err := os.Stat(path); err != nil {
		return fail(stderr, fmt.Errorf("%s: no %s there: the run applied no faults, or is not a faultline run folder", dir, harness.ReplayFile))
	}
	return runCmd(ctx, append(slices.Clone(args[:len(args)-1]), path), stdout, stderr)
}

func printResult(w io.Writer, res checker.Result, dir string) {
	fmt.Fprintf(w, "verdict: %s\n", strings.ToUpper(string(res.Verdict)))
	if res.Note != "" {
		fmt.Fprintf(w, "  %s\n", res.Note)
	}
	c := res.Counts
	fmt.Fprintf(w, "operations: %d ok, %d fail, %d info (unknown outcome); faults injected: %d\n", c.OK, c.Fail, c.Info, c.Faults)
	for _, k := range res.Keys {
		if k.Verdict == checker.Valid {
			continue
		}
		line := fmt.Sprintf("  key %s: %s linearizability (%s checked)", k.Key, k.Verdict, plural(k.Operations, "operation"))
		if k.Visualization != "" {
			line += ", see " + filepath.Join(dir, k.Visualization)
		}
		if k.Note != "" {
			line += "; " + k.Note
		}
		fmt.Fprintln(w, line)
		if k.Explanation != nil {
			for _, l := range strings.Split(k.Explanation.String(), "\n") {
				fmt.Fprintln(w, "    "+l)
			}
		}
		for _, a := range k.Anomalies {
			fmt.Fprintln(w, "    "+a)
		}
	}
	if t := res.TableText(3); t != "" {
		fmt.Fprintln(w, t)
	}
	fmt.Fprintf(w, "checked %s in %.1fs (budget %.0fs)\n", plural(len(res.Keys), "key"), ms(res.DurationMS), ms(res.BudgetMS))
	fmt.Fprintf(w, "store: %s\n", dir)
}

// paramFlags collects -param NAME=VALUE.
type paramFlags []string

func (p *paramFlags) String() string     { return strings.Join(*p, ",") }
func (p *paramFlags) Set(v string) error { *p = append(*p, v); return nil }

// override applies run's -param (and -bug) and -seed to every scenario;
// a param must be one of each scenario's system's, with an allowed value.
func override(scs []*scenarios.Scenario, params []string, seed int64) error {
	if seed < 0 {
		return fmt.Errorf("%w: -seed must be positive, got %d", scenarios.ErrInvalid, seed)
	}
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%w: -param %q: want NAME=VALUE", scenarios.ErrInvalid, kv)
		}
		for _, sc := range scs {
			d := sc.Cluster.Def
			p, ok := d.Params[k]
			if !ok {
				known := "none"
				if names := d.ParamNames(); len(names) > 0 {
					known = strings.Join(names, ", ")
				}
				return fmt.Errorf("%w: -param %s: %s runs system %s, which has no param %q (its params: %s)", scenarios.ErrInvalid, k, sc.Path, d.Name, k, known)
			}
			if len(p.Values) > 0 && !slices.Contains(p.Values, v) {
				return fmt.Errorf("%w: -param %s: unknown %s %q for system %s; known: %s", scenarios.ErrInvalid, k, k, v, d.Name, strings.Join(p.Values, ", "))
			}
			if sc.Cluster.Params == nil {
				sc.Cluster.Params = map[string]string{}
			}
			sc.Cluster.Params[k] = v
			// The scenario's expected result is for the system as it
			// wrote it: with other params (-bug none) the run must be
			// valid.
			sc.Expected = nil
		}
	}
	if seed != 0 {
		for _, sc := range scs {
			sc.Seed = seed
		}
	}
	return nil
}
