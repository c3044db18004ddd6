package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/scenarios"
)

// CheckOptions override what `faultline check` takes from the stored
// scenario (zero values: keep it).
type CheckOptions struct {
	Budget, KeyBudget time.Duration
	FirstInvalid      bool
	Initial           *int64
	// Model is the checker's model: register, cas-register, append, set,
	// counter (default: the stored scenario's workload, else register).
	Model string
	// Format is the history's format (history.FormatAuto by default).
	Format string
	// JepsenNil is what a Jepsen history's ok read of nil means
	// (history.NilUnknown by default); faultline's histories are never
	// affected.
	JepsenNil history.NilReadMeaning
	// Out is where check.json and the visualizations go; default a fresh
	// folder StoreRoot/checks/<input>-<stamp> (StoreRoot default "store").
	// Never the input's folder unless Out names it.
	Out, StoreRoot string
	// Expect replaces the guarantees claimed; Bounds, what the guarantees
	// that need a bound mean (checker.Bounds).
	Expect []checker.Guarantee
	Bounds map[checker.Guarantee]time.Duration
}

// Checked is what Check found.
type Checked struct {
	Result checker.Result
	// Path and Format are the history read and its format.
	Path, Format string
	// Dir is where check.json and the visualizations went (or were to go).
	Dir string
	// WriteErr says why they could not be written; the verdict stands.
	WriteErr error
	// Warning says what was left out (a line cut by a kill), "" for
	// nothing.
	Warning string
}

// Check re-checks a stored history: faultline's own (a store folder or a
// history file), or a Jepsen history (EDN or log lines). Settings come
// from the stored scenario when there is one, and o overrides them. The
// result goes to check.json in o.Out (a fresh folder under the store by
// default), never beside the input unless asked: a stored run keeps its
// own results and pages.
func Check(target string, o CheckOptions) (Checked, error) {
	path := target
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		path = filepath.Join(target, HistoryFile)
	}
	w, opts, err := checkSettings(filepath.Dir(path), o)
	if err != nil {
		return Checked{Path: path, Dir: filepath.Dir(path)}, err
	}
	format := o.Format
	if format == "" {
		format = history.FormatAuto
	}
	c := Checked{Path: path, Dir: o.Out}
	records, format, err := history.ReadFormatWith(path, format, history.JepsenOptions{NilReads: o.JepsenNil})
	c.Format = format
	if errors.Is(err, history.ErrTruncated) {
		// A killed run: every complete line before the cut is sound.
		c.Warning = fmt.Sprintf("%v; checking the %d complete records before it", err, len(records))
	} else if err != nil {
		return c, err
	}
	if c.Dir == "" {
		root := o.StoreRoot
		if root == "" {
			root = "store"
		}
		name := strings.TrimSuffix(filepath.Base(target), filepath.Ext(target))
		c.Dir = filepath.Join(root, "checks", name+"-"+newRunID(time.Now()))
	}
	if c.WriteErr = os.MkdirAll(c.Dir, 0o755); c.WriteErr == nil {
		opts.VisualizeDir = c.Dir
	}
	res, err := checker.Check(records, w, opts)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	c.Result = res
	if c.WriteErr == nil {
		c.WriteErr = writeJSON(filepath.Join(c.Dir, "check.json"), res)
	}
	return c, nil
}

// checkSettings are the workload and checker options a check of a history
// in dir uses: the stored scenario's, when there is one, with o's on top.
func checkSettings(dir string, o CheckOptions) (*checker.Workload, checker.Options, error) {
	opts := checker.Options{Budget: 60 * time.Second}
	model := "register"
	stored := filepath.Join(dir, ScenarioFile)
	if _, err := os.Stat(stored); err == nil {
		sc, err := scenarios.LoadChecks(stored)
		switch {
		case err == nil:
			opts = CheckerOptions(sc.Checker, "")
			model = sc.Workload.Kind
		case o.Model == "":
			// Its workload decides the model; guessing one could turn an
			// invalid verdict valid.
			return nil, opts, fmt.Errorf("%w; the stored scenario says which checks apply: fix it, or give -model to check the history without it", err)
		}
	}
	if o.Model != "" {
		model = o.Model
	}
	if o.Budget > 0 {
		opts.Budget = o.Budget
	}
	if o.KeyBudget > 0 {
		opts.KeyBudget = o.KeyBudget
	}
	opts.StopAtFirstInvalid = opts.StopAtFirstInvalid || o.FirstInvalid
	if len(o.Expect) > 0 {
		opts.Expect = o.Expect
	}
	for g, d := range o.Bounds {
		if d > 0 {
			if opts.Bounds == nil {
				opts.Bounds = map[checker.Guarantee]time.Duration{}
			}
			opts.Bounds[g] = d
		}
	}
	if o.Initial != nil {
		opts.Initial = o.Initial
	}
	w, err := checker.Named(model)
	if err != nil {
		return nil, opts, err
	}
	for _, g := range opts.Expect {
		if err := checker.CheckClaim(w, g, opts.Bounds); err != nil {
			return nil, opts, fmt.Errorf("-expect %s: %w", g, err)
		}
	}
	return w, opts, nil
}
