// Package checker judges a recorded history: which guarantees it shows
// held, which it rules out, and which it cannot decide. It is pure:
// records in, a Result out. It imports porcupine and the history record
// types, never Docker or netlink, so a stored run can be re-checked
// offline.
//
// A history enters through Check with the Workload it is a history of
// (one value per workload: register.go, set.go, append.go, counter.go).
// Check pairs it and decodes every operation once (keys.go), checks each
// key's linearizability within one time budget (linearizable.go: porcupine
// against the workload's model, or the workload's own check), runs the
// workload's per-key guarantee checks and then every whole-history check
// (guarantees.go), and judges the result against the guarantees claimed.
// Verdicts are three-valued: valid, invalid, or unknown when the budget
// ran out or the history lacks what a check needs. For each invalid key
// porcupine's HTML visualization is written, with the faults drawn on it.
package checker

import (
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// Verdict is the outcome of a check.
type Verdict string

const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
)

// Errors a caller may want to tell apart.
var (
	// ErrBadHistory: the history cannot be interpreted (a completion with no
	// invoke, a value of the wrong shape). The error names the record.
	ErrBadHistory = errors.New("bad history")
)

// Options bound and shape a check.
type Options struct {
	// Budget is the wall time all keys together may take. Required for a
	// workload checked by porcupine.
	Budget time.Duration
	// Initial is the registers' initial value (nil: no value, as etcd's
	// keys start; Jepsen's cas-register tests often start from 0).
	Initial *int64
	// VisualizeDir, when set, receives porcupine's visualization of every
	// invalid key as key-<key>.html.
	VisualizeDir string
	// Workers checks this many keys at once; default GOMAXPROCS.
	Workers int
	// KeyBudget bounds each key on its own (0: only Budget bounds it).
	KeyBudget time.Duration
	// StopAtFirstInvalid stops checking once one key is invalid: the
	// verdict is then known, and keys not finished are unknown.
	StopAtFirstInvalid bool
	// Expect lists the guarantees the system claims; the verdict is
	// computed against them (default: linearizable).
	Expect []Guarantee
	// Bounds are what the guarantees that need a bound mean (Bounds()):
	// bounded-staleness's, for example, is how soon every read must see
	// an acknowledged update. A guarantee whose bound is not given is not
	// examined.
	Bounds map[Guarantee]time.Duration
	// ConvergeWithin, when set, is how soon after the final reads began
	// the nodes must agree for converges to hold (a scenario's
	// checker.converge_within); without it, agreeing at all holds.
	ConvergeWithin time.Duration
}

// KeyResult is the verdict on one key.
type KeyResult struct {
	Key     string  `json:"key"`
	Verdict Verdict `json:"verdict"`
	// Operations is how many operations were checked, after failed ones,
	// unknown reads and unobserved unknown writes were left out.
	Operations    int          `json:"operations"`
	DurationMS    int64        `json:"duration_ms"`
	Visualization string       `json:"visualization,omitempty"`
	Explanation   *Explanation `json:"explanation,omitempty"`
	// Anomalies lists what a set or counter checker found wrong.
	Anomalies []string `json:"anomalies,omitempty"`
	Note      string   `json:"note,omitempty"`
}

// Counts summarizes the history.
type Counts struct {
	Invoke int `json:"invoke"`
	OK     int `json:"ok"`
	Fail   int `json:"fail"`
	Info   int `json:"info"`
	// Faults counts nemesis events that started a fault.
	Faults int `json:"faults"`
}

// Result is the outcome of checking one history.
type Result struct {
	// Verdict is against the claimed guarantees (Expect): invalid when one
	// of them was violated, unknown when one could not be decided.
	Verdict Verdict `json:"verdict"`
	// Note says why the verdict is what it is, when the keys do not.
	Note string `json:"note,omitempty"`
	// Cut, when set, says that the history stopped early (history.Whole):
	// a valid verdict is then unknown, an invalid one stands on the
	// records there are.
	Cut *history.Cut `json:"cut,omitempty"`
	// Expect are the guarantees claimed; Guarantees, every one examined,
	// strongest first; Boundary, the one-line summary of them.
	Expect      []Guarantee       `json:"expect,omitempty"`
	Guarantees  []GuaranteeResult `json:"guarantees,omitempty"`
	Boundary    string            `json:"boundary,omitempty"`
	Staleness   *Staleness        `json:"staleness,omitempty"`
	Convergence *Convergence      `json:"convergence,omitempty"`
	// Keys is the linearizability check, key by key.
	Keys       []KeyResult `json:"keys"`
	Counts     Counts      `json:"counts"`
	DurationMS int64       `json:"duration_ms"`
	BudgetMS   int64       `json:"budget_ms"`
}

// InvalidKeys lists the keys proven not linearizable.
func (r Result) InvalidKeys() []string {
	var out []string
	for _, k := range r.Keys {
		if k.Verdict == Invalid {
			out = append(out, k.Key)
		}
	}
	return out
}

// Check checks a history of workload w: linearizability key by key, then
// every other guarantee the workload's checks examine, and the verdict
// against the guarantees claimed (opts.Expect, default linearizable).
func Check(records []history.Record, w *Workload, opts Options) (Result, error) {
	if w.model != nil && opts.Budget <= 0 {
		return Result{}, errors.New("checker: budget must be positive")
	}
	began := time.Now()
	h, err := read(records, w)
	if err != nil {
		return Result{}, err
	}
	expect := opts.Expect
	if len(expect) == 0 {
		expect = []Guarantee{Linearizable}
	}
	res := h.linearizability(w, opts, began)
	t, st, cv := h.examine(w, opts)
	linearizableRow(t, res, h.faults)
	for _, g := range guarantees {
		if g.whole != nil && t.rows[g.name] != nil {
			g.whole.check(&whole{ops: h.all, faults: h.faults, stale: st}, opts.Bounds[g.name], t)
		}
	}
	t.implications()
	if !h.exercised {
		for _, r := range t.rows {
			t.undecided(r.Guarantee, "no operation exercised it: no operation that shows the state (a read) succeeded")
		}
	}
	res.Expect = expect
	res.Guarantees = t.result(expect)
	res.Boundary = boundary(res.Guarantees)
	if st != nil {
		res.Staleness = st.result(opts.Bounds[BoundedStaleness])
	}
	if w.examines(lookupGuarantee(Converges)) {
		res.Convergence = cv
	}
	verdict, note := verdictFor(res.Guarantees, expect)
	if res.Counts.OK == 0 {
		verdict, note = Unknown, "no operation succeeded: there is nothing to check; see the client logs and node logs"
	}
	if res.Cut = history.Whole(records); res.Cut != nil {
		switch verdict {
		case Valid:
			verdict, note = Unknown, res.Cut.String()+": what is missing may break a claim"
		case Invalid:
			note = joinNote(note, res.Cut.String()+"; the violations are in the records there are")
		default:
			note = joinNote(note, res.Cut.String())
		}
	}
	res.Verdict, res.Note = verdict, note
	res.DurationMS = time.Since(began).Milliseconds()
	return res, nil
}

// examination is what one worker's per-key checks write into: the rows,
// the staleness and convergence figures, and what the keys share.
type examination struct {
	t       *table
	st      *staleAcc // nil for a workload that does not measure staleness
	cv      *convAcc
	faults  []history.FaultWindow
	initial int64 // the registers' initial value
}

func (h *checked) newExamination(w *Workload, opts Options) *examination {
	x := &examination{t: newTable(w, opts.Bounds), cv: &convAcc{nodes: h.nodes, within: int64(opts.ConvergeWithin)}, faults: h.faults, initial: nilValue}
	if opts.Initial != nil {
		x.initial = *opts.Initial
	}
	if w.stale {
		x.st = &staleAcc{bound: int64(opts.Bounds[BoundedStaleness])}
	}
	return x
}

// examine runs the workload's per-key guarantee checks over every key.
// Keys are independent: chunks of them are checked in a pool of workers
// and merged in key order, so the result does not depend on the schedule.
func (h *checked) examine(w *Workload, opts Options) (*table, *staleAcc, *Convergence) {
	keys := h.sortedKeys()
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunks := min(len(keys), workers*4)
	parts := make([]*examination, chunks)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, max(chunks, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				x := h.newExamination(w, opts)
				for _, key := range keys[c*len(keys)/chunks : (c+1)*len(keys)/chunks] {
					w.examine(h.keys[key], x)
				}
				parts[c] = x
			}
		}()
	}
	for c := range chunks {
		next <- c
	}
	close(next)
	wg.Wait()
	all := h.newExamination(w, opts)
	for _, p := range parts {
		all.t.merge(p.t)
		all.cv.merge(p.cv)
		if all.st != nil {
			all.st.merge(p.st)
		}
	}
	for _, r := range w.rows {
		all.t.scope(r.g, r.scope)
	}
	return all.t, all.st, all.cv.fill(all.t)
}

func (h *checked) sortedKeys() []string { return slices.Sorted(maps.Keys(h.keys)) }

// linearizableRow is the linearizability check's keys as a row, each
// proof naming the faults in force while its operations ran.
func linearizableRow(t *table, res Result, faults []history.FaultWindow) {
	for _, k := range res.Keys {
		switch k.Verdict {
		case Invalid:
			v := Violation{Key: k.Key}
			if e := k.Explanation; e != nil {
				v.What = "cannot linearize " + e.Operation.Description
				v.Ops = append(v.Ops, e.Operation)
				if e.LastLinearized != nil {
					v.Ops = append(v.Ops, *e.LastLinearized)
					v.What += fmt.Sprintf("; last consistent state %s, after %d operations", e.LastState, e.Linearized)
				}
				var labels []string
				for _, o := range v.Ops {
					from, to := o.span()
					labels = faultsDuring(faults, from, to, labels)
				}
				v.Fault = strings.Join(labels, "; ")
			} else {
				v.What = strings.Join(k.Anomalies, "; ")
			}
			t.violate(Linearizable, v)
		case Unknown:
			t.undecided(Linearizable, fmt.Sprintf("key %s: %s", k.Key, k.Note))
		}
	}
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
