// Package checker decides whether a recorded history is linearizable. It is
// pure: records in, a Result out. It imports porcupine and the history
// record types, never Docker or netlink, so a stored run can be re-checked
// offline.
//
// The history is split per key (registers are independent), each key is
// checked by porcupine within what is left of one time budget, and the
// verdict is three-valued: valid, invalid, or unknown when the budget ran
// out before a key was decided. For each invalid key porcupine's HTML
// visualization is written, with the nemesis' faults drawn on it.
package checker

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
	// Budget is the wall time all keys together may take. Required.
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
	// StalenessBound, when set, is what bounded-staleness means: every
	// acknowledged update seen by every read begun this long after.
	StalenessBound time.Duration
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

// CheckRegister checks a register history for linearizability.
func CheckRegister(records []history.Record, opts Options) (Result, error) {
	if opts.Budget <= 0 {
		return Result{}, errors.New("checker: budget must be positive")
	}
	began := time.Now()
	perKey, counts, faults, err := registerOps(records)
	if err != nil {
		return Result{}, err
	}
	initial := int64(nilValue)
	if opts.Initial != nil {
		initial = *opts.Initial
	}
	return checkLinearizable(func() porcupine.Model { return RegisterModel(initial) }, perKey, counts, faults, opts, began), nil
}

// checkLinearizable checks each key's operations with porcupine in a pool
// of workers. Each key gets its own budget (KeyBudget), cut short by the
// overall one (Budget); with StopAtFirstInvalid, the first invalid key
// stops the keys still being checked, which are then unknown.
func checkLinearizable(newModel func() porcupine.Model, perKey map[string][]porcupine.Operation, counts Counts, faults []history.FaultWindow, opts Options, began time.Time) Result {
	deadline := began.Add(opts.Budget)
	keys := slices.Sorted(maps.Keys(perKey))
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
				if stop.Load() {
					results[i] = KeyResult{Key: key, Verdict: Unknown, Operations: len(perKey[key]), Note: fmt.Sprintf("not checked: key %v is already invalid", firstInvalid.Load())}
					continue
				}
				results[i] = checkKey(newModel, &stop, key, perKey[key], deadline, faults, opts)
				if results[i].Verdict == Invalid && opts.StopAtFirstInvalid {
					if firstInvalid.CompareAndSwap(nil, key) {
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
	res := Result{Keys: results, Counts: counts, BudgetMS: opts.Budget.Milliseconds()}
	finish(&res, began)
	return res
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
	name := VisualizationFile(key)
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

// VisualizationFile names a key's visualization. Keys come from histories,
// which may be anyone's: anything but letters, digits, '.', '_' and '-'
// becomes '_', so a key cannot name a file outside the folder.
func VisualizationFile(key string) string {
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

// pairedOp is one operation: its invoke and how it ended. An invoke that
// never completed (the harness stopped) ends Info. Ret is math.MaxInt64
// when the outcome is unknown.
type pairedOp struct {
	inv       *history.Record // points into the records checked
	typ       history.Type    // OK, Fail or Info
	out       json.RawMessage
	call, ret int64
	// done is when the completion was recorded, even for an unknown
	// outcome (the end of the history for an invoke never completed).
	done int64
}

// pairOps pairs invokes with completions per process, counts outcomes and
// collects the nemesis' fault windows. It also returns the time of the last
// record.
func pairOps(records []history.Record) ([]pairedOp, int64, Counts, []history.FaultWindow, error) {
	var counts Counts
	faults := history.FaultWindows(records)
	counts.Faults = len(faults)
	open := map[history.Process]*history.Record{}
	ops := make([]pairedOp, 0, len(records)/2)
	var end int64
	for i := range records {
		r := &records[i]
		end = max(end, r.Time)
		if r.Process == history.Nemesis {
			continue
		}
		if r.Type == history.Invoke {
			counts.Invoke++
			if p, ok := open[r.Process]; ok {
				return nil, 0, counts, nil, fmt.Errorf("%w: record %d: process %s invokes again while record %d is still open", ErrBadHistory, r.Index, r.Process, p.Index)
			}
			open[r.Process] = r
			continue
		}
		inv, ok := open[r.Process]
		if !ok {
			return nil, 0, counts, nil, fmt.Errorf("%w: record %d: %s completion of process %s with no invoke", ErrBadHistory, r.Index, r.Type, r.Process)
		}
		delete(open, r.Process)
		if inv.F != r.F || inv.Key != r.Key {
			return nil, 0, counts, nil, fmt.Errorf("%w: record %d: completes %s %s but process %s invoked %s %s", ErrBadHistory, r.Index, r.F, r.Key, r.Process, inv.F, inv.Key)
		}
		if r.Time < inv.Time {
			return nil, 0, counts, nil, fmt.Errorf("%w: record %d: completes at %d ns, before its invocation (record %d) at %d ns", ErrBadHistory, r.Index, r.Time, inv.Index, inv.Time)
		}
		op := pairedOp{inv: inv, typ: r.Type, out: r.Value, call: inv.Time, ret: r.Time, done: r.Time}
		switch r.Type {
		case history.OK:
			counts.OK++
		case history.Fail:
			counts.Fail++
		case history.Info:
			counts.Info++
			op.ret = math.MaxInt64
		}
		ops = append(ops, op)
	}
	for _, inv := range open {
		ops = append(ops, pairedOp{inv: inv, typ: history.Info, call: inv.Time, ret: math.MaxInt64, done: end})
	}
	return ops, end, counts, faults, nil
}

// registerOps turns a register history into porcupine operations per key:
//   - failed operations certainly did not happen: left out;
//   - a read with an unknown outcome observed nothing: left out;
//   - a write or cas with an unknown outcome may take effect at any time
//     after its invocation: its return time is after the end of the history;
//   - such a write or cas whose value nobody ever observed can always be
//     placed last with no visible effect, so it is left out too (this keeps
//     the search small after long partitions);
//   - an invoke with no completion (the harness stopped) counts as unknown.
func registerOps(records []history.Record) (map[string][]porcupine.Operation, Counts, []history.FaultWindow, error) {
	paired, end, counts, faults, err := pairOps(records)
	if err != nil {
		return nil, counts, nil, err
	}
	type done struct {
		op  *pairedOp
		in  regInput
		out regOutput
	}
	ops := make([]done, 0, len(paired))
	for i := range paired {
		p := &paired[i]
		if p.typ == history.Fail {
			continue
		}
		in, err := parseRegInput(*p.inv)
		if err != nil {
			return nil, counts, nil, err
		}
		d := done{op: p, in: in}
		if p.typ == history.Info {
			if in.f == "read" {
				continue
			}
			d.in.unknown = true
		} else if in.f == "read" {
			v, err := parseValue(p.out)
			if err != nil {
				return nil, counts, nil, fmt.Errorf("%w: record %d: read value: %v", ErrBadHistory, p.inv.Index, err)
			}
			d.out.value = v
		}
		ops = append(ops, d)
	}
	// Values that some operation observed, per key.
	observed := map[string]map[int64]bool{}
	for _, d := range ops {
		key := d.op.inv.Key
		if observed[key] == nil {
			observed[key] = map[int64]bool{}
		}
		switch d.in.f {
		case "read":
			observed[key][d.out.value] = true
		case "cas":
			observed[key][d.in.old] = true
		}
	}
	perKey := map[string][]porcupine.Operation{}
	for _, d := range ops {
		key := d.op.inv.Key
		if d.in.unknown && !observed[key][d.in.value] {
			continue
		}
		perKey[key] = append(perKey[key], porcupineOp(d.op, d.in, d.out, end))
	}
	sortByCall(perKey)
	return perKey, counts, faults, nil
}

// porcupineOp makes a porcupine operation; an unknown outcome returns just
// after the end of the history.
func porcupineOp(p *pairedOp, in, out any, end int64) porcupine.Operation {
	ret := p.ret
	if ret == math.MaxInt64 {
		ret = end + 1
	}
	return porcupine.Operation{ClientId: int(p.inv.Process), Input: in, Call: p.call, Output: out, Return: ret, Metadata: p.inv.Node}
}

func sortByCall(perKey map[string][]porcupine.Operation) {
	for k := range perKey {
		slices.SortFunc(perKey[k], func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	}
}

func parseRegInput(r history.Record) (regInput, error) {
	in := regInput{f: r.F}
	switch r.F {
	case "read":
	case "write":
		v, err := parseValue(r.Value)
		if err != nil || v == nilValue {
			return in, fmt.Errorf("%w: record %d: write needs a non-null number, got %s", ErrBadHistory, r.Index, r.Value)
		}
		in.value = v
	case "cas":
		var pair []*int64
		if err := json.Unmarshal(r.Value, &pair); err != nil || len(pair) != 2 || pair[1] == nil {
			return in, fmt.Errorf("%w: record %d: cas needs [old, new], got %s", ErrBadHistory, r.Index, r.Value)
		}
		in.old = nilValue
		if pair[0] != nil {
			in.old = *pair[0]
		}
		in.value = *pair[1]
	default:
		return in, fmt.Errorf("%w: record %d: unknown register operation %q", ErrBadHistory, r.Index, r.F)
	}
	return in, nil
}

// parseValue reads a register value: a number, or null for "no value"
// (nilValue).
func parseValue(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nilValue, nil
	}
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return v, nil
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
