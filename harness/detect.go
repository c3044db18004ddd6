package harness

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/scenarios"
)

// Weaker returns a copy of the scenario with every fault replaced by the
// weaker fault a shape-specific bug should be missed by, and says what it
// changed: a one-way cut becomes the same cut both ways, a port-scoped cut
// a cut of every port, a gray fault a clean cut of the same links. It
// returns false when no fault of the scenario has a weaker form.
func Weaker(sc *scenarios.Scenario) (*scenarios.Scenario, string, bool) {
	out := *sc
	out.Nemesis.Faults = slices.Clone(sc.Nemesis.Faults)
	out.Nemesis.Timeline = slices.Clone(sc.Nemesis.Timeline)
	var what string
	weaken := func(f *scenarios.Fault) {
		switch {
		case f.Kind == "gray":
			node := f.Node
			if node == "" {
				node = "random"
			}
			*f = scenarios.Fault{Kind: "isolate", Node: node}
			what = "clean cut instead of gray"
		case len(f.Ports) > 0 || len(f.Protocols) > 0:
			f.Ports, f.Protocols = nil, nil
			what = "every port cut instead of some"
		case f.Direction == "to" || f.Direction == "from" || (f.Direction == "" && (f.Kind == "one-way" || f.Kind == "custom")):
			f.Direction = "both"
			what = "cut both ways instead of one way"
		}
	}
	for i := range out.Nemesis.Faults {
		weaken(&out.Nemesis.Faults[i])
	}
	for i := range out.Nemesis.Timeline {
		weaken(&out.Nemesis.Timeline[i].Fault)
	}
	if what == "" {
		return nil, "", false
	}
	return &out, what, true
}

// Detection is what one run found.
type Detection struct {
	Verdict checker.Verdict
	// Detected: the history was proven not linearizable.
	Detected bool
	// After is the time from the workload's first operation to the
	// completion of the earliest operation the checker could not
	// linearize (set when Detected).
	After time.Duration
	// FirstFault is when the first fault began, on the same clock.
	FirstFault time.Duration
}

// Detect reads a finished run's history and result and says whether, and
// how soon, it proved the history invalid.
func Detect(rep Report) (Detection, error) {
	d := Detection{Verdict: rep.Verdict, Detected: rep.Verdict == checker.Invalid}
	if rep.StoreDir == "" {
		return d, errors.New("detect: the run has no store folder")
	}
	records, err := history.ReadFile(filepath.Join(rep.StoreDir, HistoryFile))
	if err != nil {
		return d, err
	}
	start := time.Duration(-1)
	for _, r := range records {
		if r.Type == history.Invoke && start < 0 {
			start = time.Duration(r.Time)
		}
	}
	if start < 0 {
		return d, fmt.Errorf("detect: %s has no operations", rep.StoreDir)
	}
	if w := history.FaultWindows(records); len(w) > 0 {
		d.FirstFault = time.Duration(w[0].Start) - start
	}
	if !d.Detected {
		return d, nil
	}
	first := -1.0
	for _, k := range rep.Keys {
		if k.Verdict != checker.Invalid || k.Explanation == nil || k.Explanation.Operation.Completed < 0 {
			continue
		}
		if c := k.Explanation.Operation.Completed; first < 0 || c < first {
			first = c
		}
	}
	if first < 0 {
		return d, fmt.Errorf("detect: %s is invalid but names no failing operation", rep.StoreDir)
	}
	d.After = time.Duration(first*float64(time.Second)) - start
	return d, nil
}
