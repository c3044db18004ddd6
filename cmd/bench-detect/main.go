// Command bench-detect measures what faultline finds in refkv: for each
// bug scenario (scenarios/bugs), several seeds with the bug switched on,
// the same with the fault replaced by its weaker form (where the scenario's
// fault has one), and the correct build under the scenario. Any other
// scenario that is expected to come out invalid (an example system's, say
// examples/redis-sentinel/scenarios/isolate-master.yaml) gets its seeds run
// and a row of its own. It prints Markdown tables; `make bench-detect`
// runs it on the refkv bugs.
//
//	go run ./cmd/bench-detect [-seeds 5] [-store DIR] [-correct-seeds 1] scenarios/bugs
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/refkv"
	"github.com/faultline/faultline/scenarios"
)

func main() {
	seeds := flag.Int("seeds", 5, "seeds per bug and per weaker fault (1, 2, ...)")
	correctSeeds := flag.Int("correct-seeds", 1, "seeds for the correct build under each scenario")
	store := flag.String("store", "store/bench-detect", "where the runs are stored")
	verbose := flag.Bool("v", false, "show each run's progress lines")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: bench-detect [-seeds N] [-correct-seeds N] [-store DIR] SCENARIO.yaml|FOLDER ...")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var files []string
	for _, a := range flag.Args() {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(a, "*.yaml"))
			files = append(files, m...)
		} else {
			files = append(files, a)
		}
	}
	log := io.Discard
	if *verbose {
		log = os.Stderr
	}
	var rows, plain []row
	for _, f := range files {
		sc, err := scenarios.Load(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		bug := sc.Cluster.Params["bug"]
		if sc.Cluster.Def.Name != "refkv" || bug == "" || bug == "none" {
			plain = append(plain, row{file: f, fault: describe(faultsOf(sc)), bugged: runSeeds(ctx, sc, *seeds, *store, log, "expected invalid")})
			continue
		}
		r := row{bug: bug, file: f, fault: describe(sc.Nemesis.Faults)}
		r.bugged = runSeeds(ctx, sc, *seeds, *store, log, "bug")
		if weak, what, ok := sc.Weaker(); ok {
			r.weaker = what
			r.weak = runSeeds(ctx, weak, *seeds, *store, log, "weaker")
		}
		correct := *sc
		correct.Cluster.Params = map[string]string{"bug": "none"}
		r.correct = runSeeds(ctx, &correct, *correctSeeds, *store, log, "correct build")
		rows = append(rows, r)
		if ctx.Err() != nil {
			break
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return slices.Index(refkv.Bugs, refkv.Bug(a.bug)) - slices.Index(refkv.Bugs, refkv.Bug(b.bug))
	})
	if len(rows) > 0 {
		printTable(os.Stdout, rows, *seeds)
	}
	if len(plain) > 0 {
		fmt.Fprintf(os.Stdout, "\n| scenario | fault | detected (of %d seeds), median time to detect |\n|---|---|---|\n", *seeds)
		for _, r := range plain {
			fmt.Fprintf(os.Stdout, "| %s | %s | %s |\n", r.file, r.fault, cell(r.bugged))
		}
	}
}

// faultsOf lists a scenario's faults, from its list or its timeline.
func faultsOf(sc *scenarios.Scenario) []scenarios.Fault {
	fs := slices.Clone(sc.Nemesis.Faults)
	for _, e := range sc.Nemesis.Timeline {
		fs = append(fs, e.Fault)
	}
	return fs
}

// describe says in a few words what a scenario's faults are.
func describe(faults []scenarios.Fault) string {
	var parts []string
	for _, f := range faults {
		s := f.Kind
		if f.Node != "" {
			s += " " + f.Node
		}
		if f.Direction != "" && f.Direction != "both" {
			s += ", direction " + f.Direction
		}
		if f.Action != "" {
			s += ", " + f.Action
		}
		if len(f.Ports) > 0 {
			s += fmt.Sprintf(", %v port %v", f.Protocols, f.Ports)
		}
		if f.Delay > 0 {
			s += fmt.Sprintf(", delay %v", f.Delay)
		}
		if f.Loss > 0 {
			s += fmt.Sprintf(", loss %g%%", f.Loss)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

type outcome struct {
	d   checker.Detection
	err error
}

type row struct {
	bug, file, fault, weaker string
	bugged, weak, correct    []outcome
}

func runSeeds(ctx context.Context, sc *scenarios.Scenario, n int, store string, log io.Writer, what string) []outcome {
	var out []outcome
	for seed := 1; seed <= n && ctx.Err() == nil; seed++ {
		s := *sc
		s.Seed = int64(seed)
		began := time.Now()
		rep, err := harness.Run(ctx, &s, harness.Options{StoreRoot: store, Log: log})
		var d checker.Detection
		if err == nil {
			var recs []history.Record
			if recs, err = history.ReadFile(filepath.Join(rep.StoreDir, harness.HistoryFile)); err == nil {
				d, err = checker.Detect(recs, rep.Result)
			}
		}
		status := string(d.Verdict)
		if err != nil {
			status = "error: " + err.Error()
		} else if d.Detected {
			status += fmt.Sprintf(" after %.1fs", d.After.Seconds())
		}
		fmt.Fprintf(os.Stderr, "bench-detect: %s (%s) seed %d: %s [%s, %.0fs]\n", sc.Name, what, seed, status, rep.StoreDir, time.Since(began).Seconds())
		out = append(out, outcome{d: d, err: err})
	}
	return out
}

func summary(outs []outcome) (detected, errs int, median time.Duration) {
	var times []time.Duration
	for _, o := range outs {
		switch {
		case o.err != nil:
			errs++
		case o.d.Detected:
			detected++
			times = append(times, o.d.After)
		}
	}
	if len(times) > 0 {
		slices.Sort(times)
		median = times[len(times)/2]
		if len(times)%2 == 0 {
			median = (times[len(times)/2-1] + times[len(times)/2]) / 2
		}
	}
	return detected, errs, median
}

func cell(outs []outcome) string {
	if len(outs) == 0 {
		return "-"
	}
	det, errs, med := summary(outs)
	s := fmt.Sprintf("%d/%d", det, len(outs))
	if det > 0 {
		s += fmt.Sprintf(", median %.1fs", med.Seconds())
	}
	if errs > 0 {
		s += fmt.Sprintf(" (%d could not run)", errs)
	}
	return s
}

func correctCell(outs []outcome) string {
	valid, bad := 0, 0
	for _, o := range outs {
		if o.err == nil && o.d.Verdict == checker.Valid {
			valid++
		} else {
			bad++
		}
	}
	if bad == 0 {
		return fmt.Sprintf("valid %d/%d", valid, len(outs))
	}
	return fmt.Sprintf("**valid %d/%d**", valid, len(outs))
}

func printTable(w io.Writer, rows []row, seeds int) {
	fmt.Fprintf(w, "\n| # | bug (scenarios/bugs/) | fault | detected (of %d seeds), median time to detect | weaker fault | detected by it | correct build under the fault |\n", seeds)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		weaker := r.weaker
		if weaker == "" {
			weaker = "-"
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s |\n", slices.Index(refkv.Bugs, refkv.Bug(r.bug))+1, r.bug, r.fault,
			cell(r.bugged), weaker, cell(r.weak), correctCell(r.correct))
	}
	fmt.Fprintln(w, "\nTime to detect: from the workload's first operation to the completion of the earliest operation the checker could not linearize.")
}
