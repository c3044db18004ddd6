// Command faultline runs network-partition scenarios against a cluster in
// Docker (any system its system file describes) and checks the recorded
// history.
//
//	faultline run [-store DIR] [-junit F] [-summary F] [-seed N] [-param K=V] SCENARIO|FOLDER...   run, check, report
//	faultline replay STORE_DIR                 run a stored run again
//	faultline shrink STORE_DIR                 find a smaller scenario that still fails
//	faultline validate SCENARIO|FOLDER...      check scenario files (and the system files they name)
//	faultline list                             fault kinds, workloads, built-in systems, shipped scenarios
//	faultline check STORE_DIR|HISTORY          re-check a stored run or a Jepsen history offline
//	faultline images                           build the built-in systems' images
//	faultline clean [-all]                     heal and remove what killed runs left
//
// Exit codes: 0 valid, 1 invalid, 2 unknown, 3 could not run, 4 interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/term"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
)

// Exit codes.
const (
	exitValid   = 0
	exitInvalid = 1
	exitUnknown = 2
	exitError   = 3
	// exitInterrupted: stopped by SIGINT or SIGTERM; faults healed, cluster
	// removed, what was recorded checked and kept.
	exitInterrupted = 4
)

const usage = `usage:
  faultline run [-store DIR] [-junit FILE] [-summary FILE] [-seed N] [-param NAME=VALUE] [-bug NAME]
                SCENARIO.yaml|FOLDER ...    run scenarios, check their histories, report
                                             (-param: one of the system's params; -bug NAME: -param bug=NAME,
                                             refkv's bug to switch on, none for the correct build)
  faultline replay [-store DIR] STORE_DIR     run a stored run again: same seed, same faults at the same offsets
  faultline shrink [-tries N] [-budget D] STORE_DIR
                                             find a smaller scenario that still fails (writes shrunk.yaml)
  faultline validate SCENARIO.yaml|FOLDER ... check scenario files without running them
  faultline list                             fault kinds, workloads, built-in systems, shipped scenarios
  faultline check [-budget D] [-key-budget D] [-first-invalid] [-initial N]
                  [-model register|cas-register|append|set|counter]
                  [-format auto|faultline|jepsen-edn|jepsen-log] STORE_DIR|HISTORY
                                             re-check a stored run, or a Jepsen history, offline
  faultline images                           build the built-in systems' images
  faultline clean [-all]                     heal and remove what killed runs left (runs in progress are kept)

exit codes: 0 valid, 1 invalid, 2 unknown (checker budget spent), 3 could not run,
            4 interrupted (SIGINT/SIGTERM: healed, removed, recorded history checked and kept)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C heals, tears down and reports; a second one is not
	// caught any more and stops faultline at once (`faultline clean` then
	// removes what is left).
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "faultline: %v\n", err)
		return exitError
	}
	switch args[0] {
	case "run":
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(stderr)
		store := fs.String("store", "store", "folder that keeps the runs")
		junit := fs.String("junit", "", "write JUnit XML here: one test case per scenario")
		summary := fs.String("summary", "", "write a Markdown summary here (for a CI job's page)")
		bug := fs.String("bug", "", "systems with a bug param (refkv): switch on this bug instead of the scenario's (none: the correct build)")
		var params paramFlags
		fs.Var(&params, "param", "NAME=VALUE: set one of the system's params (cluster.params), for every scenario; repeatable")
		seed := fs.Int64("seed", 0, "run with this seed instead of the scenario's")
		if err := fs.Parse(args[1:]); err != nil {
			return exitError
		}
		if fs.NArg() == 0 {
			return fail(errNoScenario)
		}
		files, err := scenarioFiles(fs.Args())
		if err != nil {
			return fail(err)
		}
		scs, err := loadAll(files, stderr)
		if err != nil {
			return fail(err)
		}
		if *bug != "" {
			params = append(params, "bug="+*bug)
		}
		if err := override(scs, params, *seed); err != nil {
			return fail(err)
		}
		var outs []outcome
		for _, sc := range scs {
			if ctx.Err() != nil {
				break
			}
			if len(scs) > 1 {
				fmt.Fprintf(stdout, "== %s (%s)\n", sc.Name, sc.Path)
			}
			rep, err := harness.Run(ctx, sc, harness.Options{StoreRoot: *store, Log: stderr, Status: isTerminal(stderr)})
			outs = append(outs, outcome{name: sc.Name, rep: rep, err: err})
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
			fmt.Fprintf(stdout, "timings: cluster ready %.1fs, workload %.1fs (%.0f ops/s), check %.1fs, total %.1fs\n",
				ms(rep.Timings.ClusterReadyMS), ms(rep.Timings.WorkloadMS), rep.OpsPerSecond, ms(rep.Timings.CheckMS), ms(rep.Timings.TotalMS))
		}
		if len(outs) > 1 {
			fmt.Fprintln(stdout, "== summary")
			for _, o := range outs {
				v := strings.ToUpper(string(o.rep.Verdict))
				if o.err != nil {
					v = "COULD NOT RUN"
				}
				fmt.Fprintf(stdout, "  %-28s %s\n", o.name, v)
			}
		}
		for _, w := range []struct {
			path  string
			write func(string, []outcome) error
		}{{*junit, writeJUnit}, {*summary, writeSummary}} {
			if w.path != "" {
				if err := w.write(w.path, outs); err != nil {
					fmt.Fprintf(stderr, "faultline: %v\n", err)
					return exitError
				}
			}
		}
		if ctx.Err() != nil && len(outs) < len(scs) {
			return exitInterrupted // scenarios left unrun
		}
		return worst(outs)
	case "replay":
		// faultline replay [run flags] STORE_DIR: run the stored replay.yaml.
		if len(args) < 2 {
			return fail(errors.New("replay needs a store folder, for example: faultline replay store/latest"))
		}
		dir := args[len(args)-1]
		path := filepath.Join(dir, harness.ReplayFile)
		if _, err := os.Stat(path); err != nil {
			return fail(fmt.Errorf("%s: no %s there: the run applied no faults, or is not a faultline run folder", dir, harness.ReplayFile))
		}
		return run(ctx, append(append([]string{"run"}, args[1:len(args)-1]...), path), stdout, stderr)
	case "shrink":
		fs := flag.NewFlagSet("shrink", flag.ContinueOnError)
		fs.SetOutput(stderr)
		store := fs.String("store", "store", "folder that keeps the runs")
		tries := fs.Int("tries", 12, "at most this many runs")
		budget := fs.Duration("budget", 20*time.Minute, "at most this much time")
		if err := fs.Parse(args[1:]); err != nil {
			return exitError
		}
		if fs.NArg() != 1 {
			return fail(errors.New("shrink needs the store folder of a failing run, for example: faultline shrink store/latest"))
		}
		dir, err := filepath.EvalSymlinks(fs.Arg(0)) // store/latest moves as shrink runs
		if err != nil {
			return fail(err)
		}
		res, err := harness.Shrink(ctx, dir, harness.ShrinkOptions{Options: harness.Options{StoreRoot: *store, Log: stderr}, Tries: *tries, Budget: *budget})
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "shrunk in %d runs: %s -> %s\nminimal reproducer: %s\n", res.Tries, res.Before, res.After, res.Path)
		return exitValid
	case "validate":
		if len(args) < 2 {
			return fail(errors.New("validate needs scenario files or folders"))
		}
		files, err := scenarioFiles(args[1:])
		if err != nil {
			return fail(err)
		}
		code := exitValid
		for _, f := range files {
			sc, err := scenarios.Load(f)
			if err != nil {
				fmt.Fprintf(stderr, "faultline: %v\n", err)
				code = exitError
				continue
			}
			fmt.Fprintf(stdout, "ok: %s: %d-node %s from %s, %s workload, %s, %v\n", f, len(sc.NodeNames()), sc.Cluster.Def.Name, sc.SystemSource(), sc.Workload.Kind, plural(len(sc.Nemesis.Faults)+len(sc.Nemesis.Timeline), "fault"), sc.TimeLimit)
		}
		return code
	case "list":
		printList(stdout)
		return exitValid
	case "check":
		fs := flag.NewFlagSet("check", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var o checkOpts
		fs.DurationVar(&o.budget, "budget", 0, "checker time budget (default: the stored scenario's, else 60s)")
		fs.DurationVar(&o.keyBudget, "key-budget", 0, "time budget of each key (default: only -budget)")
		fs.BoolVar(&o.firstInvalid, "first-invalid", false, "stop at the first invalid key")
		fs.StringVar(&o.format, "format", history.FormatAuto, "history format: auto, faultline, jepsen-edn, jepsen-log")
		fs.StringVar(&o.model, "model", "", "register, cas-register, append, set or counter (default: the stored scenario's workload, else register)")
		fs.StringVar(&o.initial, "initial", "", "registers' initial value (default: none, as etcd; Jepsen's cas-register tests often use 0)")
		if err := fs.Parse(args[1:]); err != nil {
			return exitError
		}
		if fs.NArg() != 1 {
			return fail(errors.New("check needs a store folder or a history file, for example: faultline check store/latest"))
		}
		return check(fs.Arg(0), o, stdout, stderr)
	case "images":
		tags, err := harness.EnsureImages(ctx, stderr)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "images ready: %s\n", strings.Join(tags, ", "))
		return 0
	case "clean":
		fs := flag.NewFlagSet("clean", flag.ContinueOnError)
		fs.SetOutput(stderr)
		all := fs.Bool("all", false, "also remove runs whose harness is still running, or cannot be told (another host)")
		if err := fs.Parse(args[1:]); err != nil {
			return exitError
		}
		cli, err := docker.Connect(ctx)
		if err != nil {
			return fail(err)
		}
		defer cli.Close()
		return clean(ctx, cli, *all, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "faultline: unknown command %q\n%s", args[0], usage)
	return exitError
}

type checkOpts struct {
	budget, keyBudget time.Duration
	firstInvalid      bool
	format, initial   string
	model             string
}

// check re-checks a stored history: faultline's own, or a Jepsen history
// (EDN or log lines). Results go to check.json beside the history, never
// over the run's own results.json. Settings come from the stored scenario
// when there is one, and flags override them.
func check(target string, o checkOpts, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "faultline: %v\n", err)
		return exitError
	}
	path := target
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		path = filepath.Join(target, harness.HistoryFile)
	}
	dir := filepath.Dir(path)
	opts := checker.Options{Budget: 60 * time.Second, VisualizeDir: dir}
	model := "register"
	if sc, err := scenarios.Load(filepath.Join(dir, harness.ScenarioFile)); err == nil {
		opts = checker.Options{Budget: sc.Checker.Budget, KeyBudget: sc.Checker.KeyBudget, StopAtFirstInvalid: sc.Checker.StopAtFirstInvalid, Initial: sc.Checker.Initial, VisualizeDir: dir}
		model = sc.Workload.Kind
	}
	if o.model != "" {
		model = o.model
	}
	if o.budget > 0 {
		opts.Budget = o.budget
	}
	if o.keyBudget > 0 {
		opts.KeyBudget = o.keyBudget
	}
	opts.StopAtFirstInvalid = opts.StopAtFirstInvalid || o.firstInvalid
	if o.initial != "" {
		v, err := strconv.ParseInt(o.initial, 10, 64)
		if err != nil {
			return fail(fmt.Errorf("-initial %q: want an integer", o.initial))
		}
		opts.Initial = &v
	}
	records, format, err := history.ReadFormat(path, o.format)
	if errors.Is(err, history.ErrTruncated) {
		// A killed run: every complete line before the cut is sound.
		fmt.Fprintf(stderr, "faultline: warning: %v; checking the %d complete records before it\n", err, len(records))
	} else if err != nil {
		return fail(err)
	}
	res, err := checker.Check(records, model, opts)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	if err := checker.WriteJSON(filepath.Join(dir, "check.json"), res); err != nil {
		return fail(err)
	}
	if format != history.FormatFaultline {
		fmt.Fprintf(stdout, "history: %s (%s)\n", path, format)
	}
	printResult(stdout, res, dir)
	return exitCode(res.Verdict)
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
		line := fmt.Sprintf("  key %s: %s (%d operations checked)", k.Key, k.Verdict, k.Operations)
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
	fmt.Fprintf(w, "checked %d keys in %.1fs (budget %.0fs)\n", len(res.Keys), ms(res.DurationMS), ms(res.BudgetMS))
	fmt.Fprintf(w, "store: %s\n", dir)
}

// isTerminal reports whether w is a terminal: then the run draws a live
// status line; otherwise (CI logs, pipes) only plain lines are written.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func exitCode(v checker.Verdict) int {
	switch v {
	case checker.Valid:
		return exitValid
	case checker.Invalid:
		return exitInvalid
	}
	return exitUnknown
}

func ms(v int64) float64 { return float64(v) / 1000 }

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
		}
	}
	if seed != 0 {
		for _, sc := range scs {
			sc.Seed = seed
		}
	}
	return nil
}

// clean heals and removes the runs whose harness is gone. A run whose
// harness still runs is in progress and is left alone, as is one whose
// owner cannot be told (started on another host or boot), unless all.
//
// The engine may still finish a create that a harness killed a moment ago
// had asked for, after this pass listed what there was: while a pass
// removes something, clean waits a second and looks again (three passes
// at most).
func clean(ctx context.Context, cli *client.Client, all bool, stdout, stderr io.Writer) int {
	code, total := exitValid, 0
	for pass := 0; pass < 3; pass++ {
		left, err := docker.Leftovers(ctx, cli)
		if err != nil {
			fmt.Fprintf(stderr, "faultline: %v\n", err)
			return exitError
		}
		removed, c := cleanPass(ctx, cli, left, all, pass == 0, stdout, stderr)
		total += removed
		code = max(code, c)
		if removed == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintf(stdout, "clean: %d objects removed\n", total)
	return code
}

// cleanPass heals and removes what one listing found of dead runs.
func cleanPass(ctx context.Context, cli *client.Client, left []docker.Leftover, all, report bool, stdout, stderr io.Writer) (int, int) {
	byRun := map[string][]docker.Leftover{}
	var runs []string
	for _, l := range left {
		if _, seen := byRun[l.RunID]; !seen {
			runs = append(runs, l.RunID)
		}
		byRun[l.RunID] = append(byRun[l.RunID], l)
	}
	code, removed := exitValid, 0
	for _, run := range runs {
		objs := byRun[run]
		if live := objs[0].Liveness; live != docker.OwnerGone && !all {
			if !report {
				continue
			}
			why := "its harness is still running"
			if live == docker.OwnerUnknown {
				why = "its harness ran on another host or boot, or carries no owner label"
			}
			fmt.Fprintf(stdout, "kept run %s (%d objects): %s; `faultline clean -all` removes it anyway\n", run, len(objs), why)
			continue
		}
		// Containers of somebody else's cluster that the run attached to
		// are started again or thawed (a kill or pause the harness did not
		// live to undo), then healed below; they are never removed.
		var attached []string
		for _, l := range objs {
			if l.Kind == "attached" {
				attached = append(attached, l.ID)
			}
		}
		if len(attached) > 0 {
			if err := docker.Restore(ctx, cli, attached); err != nil {
				fmt.Fprintf(stderr, "faultline: restore attached containers: %v\n", err)
				code = exitError
			}
			if fresh, err := docker.Leftovers(ctx, cli); err == nil {
				objs = objs[:0]
				for _, l := range fresh {
					if l.RunID == run {
						objs = append(objs, l)
					}
				}
			}
		}
		// Faults first: a running node of a killed harness may still hold
		// faultline's table and qdisc (its queue died with the harness, and
		// its rules let packets bypass it).
		for _, l := range objs {
			if l.Pid > 0 {
				if err := nemesis.CleanNamespace(l.NetNS()); err != nil {
					fmt.Fprintf(stderr, "faultline: clean faults in %s: %v\n", l.Name, err)
					code = exitError
				} else {
					fmt.Fprintf(stdout, "healed %s\n", l.Name)
				}
			}
		}
		var err error
		if run == "" {
			err = docker.Clean(ctx, cli) // objects without a run label: only -all gets here
		} else {
			err = docker.RemoveRun(ctx, cli, run)
		}
		if err != nil {
			fmt.Fprintf(stderr, "faultline: %v\n", err)
			code = exitError
			continue
		}
		for _, l := range objs {
			if l.Kind == "attached" {
				fmt.Fprintf(stdout, "left %s running: it is not faultline's (the run attached to it)\n", l.Name)
				continue
			}
			fmt.Fprintf(stdout, "removed %s %s\n", l.Kind, l.Name)
			removed++
		}
	}
	return removed, code
}

// plural writes "1 fault", "3 faults".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
