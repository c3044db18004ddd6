package checker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// linearizability checks each key of the history as its workload says:
// with porcupine against the workload's model, or with the workload's own
// check. The result has the keys' verdicts and the history's counts.
func (h *checked) linearizability(w *Workload, opts Options, began time.Time) Result {
	res := Result{Counts: h.counts, BudgetMS: opts.Budget.Milliseconds()}
	keys := h.sortedKeys()
	if w.linearizable != nil {
		for _, key := range keys {
			if kr, ok := w.linearizable(h.keys[key]); ok {
				res.Keys = append(res.Keys, kr)
			}
		}
		return res
	}
	// Each key's operations are made for porcupine when a worker takes
	// the key, and let go when it is done: the decoded history is all
	// that stays.
	opsOf := func(key string) []porcupine.Operation { return w.porcupineOps(h.keys[key], h.end) }
	res.Keys = checkLinearizable(func() porcupine.Model { return w.model(opts) }, keys, opsOf, h.faults, opts, began)
	return res
}

// checkLinearizable checks each key's operations (opsOf) with porcupine
// in a pool of workers; a key with none has nothing to check and no
// result. Each key gets its own budget (KeyBudget), cut short by the
// overall one (Budget); with StopAtFirstInvalid, the first invalid key
// stops the keys still being checked, which are then unknown.
func checkLinearizable(newModel func() porcupine.Model, keys []string, opsOf func(key string) []porcupine.Operation, faults []history.FaultWindow, opts Options, began time.Time) []KeyResult {
	deadline := began.Add(opts.Budget)
	results := make([]KeyResult, len(keys))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var stop atomic.Bool
	var firstInvalid atomic.Value
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(len(keys), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				key := keys[i]
				ops := opsOf(key)
				switch {
				case len(ops) == 0:
				case stop.Load():
					results[i] = KeyResult{Key: key, Verdict: Unknown, Operations: len(ops), Note: fmt.Sprintf("not checked: key %v is already invalid", firstInvalid.Load())}
				default:
					results[i] = checkKey(newModel, &stop, key, ops, deadline, faults, opts)
					if results[i].Verdict == Invalid && opts.StopAtFirstInvalid && firstInvalid.CompareAndSwap(nil, key) {
						stop.Store(true)
					}
				}
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	return slices.DeleteFunc(results, func(r KeyResult) bool { return r.Key == "" && r.Verdict == "" })
}

// stoppable wraps a model so that, once stop is set, every step fails and
// porcupine gives up at once. The verdict of a stopped check is discarded.
func stoppable(m porcupine.Model, stop *atomic.Bool) porcupine.Model {
	step := m.Step
	m.Step = func(state, input, output interface{}) (bool, interface{}) {
		if stop.Load() {
			return false, state
		}
		return step(state, input, output)
	}
	return m
}

func checkKey(newModel func() porcupine.Model, stop *atomic.Bool, key string, ops []porcupine.Operation, deadline time.Time, faults []history.FaultWindow, opts Options) KeyResult {
	kr := KeyResult{Key: key, Operations: len(ops)}
	start := time.Now()
	defer func() { kr.DurationMS = time.Since(start).Milliseconds() }()
	left := time.Until(deadline)
	if opts.KeyBudget > 0 {
		left = min(left, opts.KeyBudget)
	}
	if left <= 0 {
		kr.Verdict = Unknown
		kr.Note = "budget spent before this key was checked"
		return kr
	}
	model := newModel()
	verdict := porcupine.CheckOperationsTimeout(stoppable(model, stop), ops, left)
	if stop.Load() && verdict != porcupine.Ok {
		kr.Verdict = Unknown
		kr.Note = "stopped: another key is already invalid"
		return kr
	}
	switch verdict {
	case porcupine.Ok:
		kr.Verdict = Valid
		return kr
	case porcupine.Unknown:
		kr.Verdict = Unknown
		kr.Note = fmt.Sprintf("budget (%v) ran out while checking this key", left.Round(time.Millisecond))
		return kr
	}
	kr.Verdict = Invalid
	// The verbose pass records the partial linearizations that explain the
	// failure and that the visualization draws. The key is already proven
	// invalid, so it gets a few seconds even past the budget.
	_, info := porcupine.CheckOperationsVerbose(model, ops, max(time.Until(deadline), 5*time.Second))
	kr.Explanation = explain(model, ops, info)
	if opts.VisualizeDir == "" {
		return kr
	}
	if len(ops) > maxVisualizedOps {
		kr.Note = fmt.Sprintf("no visualization: %d operations is more than %d; the explanation names the failing operation", len(ops), maxVisualizedOps)
		return kr
	}
	var ann []porcupine.Annotation
	for _, f := range faults {
		ann = append(ann, porcupine.Annotation{Tag: "nemesis", Start: f.Start, End: f.End, Description: f.Label, BackgroundColor: "#fbd7d7"})
	}
	info.AddAnnotations(ann)
	name := visualizationFile(key)
	f, err := os.OpenFile(filepath.Join(opts.VisualizeDir, name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err == nil {
		err = visualize(model, info, f)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		kr.Note = fmt.Sprintf("visualization not written: %v", err)
		return kr
	}
	kr.Visualization = name
	return kr
}

// visualize draws porcupine's page; a history odd enough to trip it costs
// the picture, not the verdict.
func visualize(model porcupine.Model, info porcupine.LinearizationInfo, w io.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("porcupine could not draw this key: %v", r)
		}
	}()
	return porcupine.Visualize(model, info, w)
}

// visualizationFile names a key's visualization. Keys come from histories,
// which may be anyone's: anything but letters, digits, '.', '_' and '-'
// becomes '_', so a key cannot name a file outside the folder.
func visualizationFile(key string) string {
	b := []byte(key)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 200 {
		b = b[:200]
	}
	if string(b) != key { // keep keys that differ apart
		sum := sha256.Sum256([]byte(key))
		b = append(b, '-')
		b = hex.AppendEncode(b, sum[:4])
	}
	return "key-" + string(b) + ".html"
}

// maxVisualizedOps bounds the size of a visualization: porcupine's HTML
// grows with the operations and their partial linearizations.
const maxVisualizedOps = 20000

// porcupineOp makes a porcupine operation; an unknown outcome returns just
// after the end of the history.
func porcupineOp(p *pairedOp, in, out any, end int64) porcupine.Operation {
	ret := p.ret
	if ret == math.MaxInt64 {
		ret = end + 1
	}
	return porcupine.Operation{ClientId: int(p.inv.Process), Input: in, Call: p.call, Output: out, Return: ret, Metadata: p.inv.Node}
}
