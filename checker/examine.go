package checker

import (
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// Check checks a history of the given workload kind (register,
// cas-register, set, counter or append): linearizability key by key with
// the workload's model, then every other guarantee the workload's checks
// examine, and the verdict against the guarantees claimed (opts.Expect,
// default linearizable).
func Check(records []history.Record, kind string, opts Options) (Result, error) {
	expect := opts.Expect
	if len(expect) == 0 {
		expect = []Guarantee{Linearizable}
	}
	res, err := checkModel(records, kind, opts)
	if err != nil {
		return res, err
	}
	began := time.Now()
	t, st, cv, err := examine(records, kind, opts)
	if err != nil {
		return res, err
	}
	linearizableRow(t, res)
	if opts.StalenessBound > 0 {
		bounded(t, st, opts.StalenessBound)
	} else {
		delete(t.rows, BoundedStaleness)
	}
	t.implications()
	res.Expect = expect
	res.Guarantees = t.result(expect)
	res.Boundary = Boundary(res.Guarantees)
	if st != nil {
		res.Staleness = st.result(opts.StalenessBound)
	}
	res.Convergence = cv
	verdict, note := verdictFor(res.Guarantees, expect)
	if res.Counts.OK == 0 {
		verdict, note = Unknown, "no operation succeeded: there is nothing to check; see the client logs and node logs"
	}
	res.Verdict, res.Note = verdict, note
	res.DurationMS += time.Since(began).Milliseconds()
	return res, nil
}

// examine runs the guarantee checks of a workload over every key.
func examine(records []history.Record, kind string, opts Options) (*table, *staleAcc, *Convergence, error) {
	paired, _, _, faults, err := pairOps(records)
	if err != nil {
		return nil, nil, nil, err
	}
	var decode func(*pairedOp) (*gop, error)
	switch kind {
	case "register", "cas-register", "":
		decode = decodeRegister
	case "set":
		decode = decodeCollection("add")
	case "append":
		decode = decodeCollection("append")
	case "counter":
		decode = decodeCounter
	default:
		return nil, nil, nil, fmt.Errorf("checker: no checks for workload %q", kind)
	}
	perKey, err := decodeOps(paired, faults, decode)
	if err != nil {
		return nil, nil, nil, err
	}
	nodes := map[string]bool{}
	for i := range paired {
		nodes[paired[i].inv.Node] = true
	}
	initial := int64(nilValue)
	if opts.Initial != nil {
		initial = *opts.Initial
	}
	// Keys are independent: chunks of them are checked in a pool of
	// workers and merged in key order, so the result does not depend on
	// the schedule.
	keys := slices.Sorted(maps.Keys(perKey))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type part struct {
		t  *table
		st *staleAcc
		cv *convAcc
	}
	chunks := min(len(keys), workers*4)
	parts := make([]part, chunks)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, max(chunks, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				p := part{t: newTable(kind), cv: &convAcc{nodes: slices.Sorted(maps.Keys(nodes))}}
				if kind != "counter" {
					p.st = &staleAcc{bound: int64(opts.StalenessBound)}
				}
				for _, key := range keys[c*len(keys)/chunks : (c+1)*len(keys)/chunks] {
					k := perKey[key]
					switch kind {
					case "set":
						examineCollection(k, false, p.t, faults, p.st, p.cv)
					case "append":
						examineCollection(k, true, p.t, faults, p.st, p.cv)
					case "counter":
						examineCounter(k, p.t, faults, p.cv)
					default:
						examineRegister(k, initial, p.t, faults, p.st, p.cv)
					}
				}
				parts[c] = p
			}
		}()
	}
	for c := range chunks {
		next <- c
	}
	close(next)
	wg.Wait()
	t := newTable(kind)
	cv := &convAcc{nodes: slices.Sorted(maps.Keys(nodes))}
	var st *staleAcc
	if kind != "counter" {
		st = &staleAcc{bound: int64(opts.StalenessBound)}
	}
	for _, p := range parts {
		t.merge(p.t)
		cv.merge(p.cv)
		if st != nil {
			st.merge(p.st)
		}
	}
	t.scopes(kind)
	return t, st, cv.fill(t), nil
}

// linearizableRow is the linearizability check's keys as a row.
func linearizableRow(t *table, res Result) {
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
			} else {
				v.What = strings.Join(k.Anomalies, "; ")
			}
			t.violate(Linearizable, v)
		case Unknown:
			t.undecided(Linearizable, fmt.Sprintf("key %s: %s", k.Key, k.Note))
		}
	}
}

// bounded writes the bounded-staleness row: violated by every stale read
// that missed an update acknowledged longer than bound before it began.
func bounded(t *table, st *staleAcc, bound time.Duration) {
	if st == nil {
		return
	}
	for _, w := range st.worst {
		if w.ByMS > float64(bound)/1e6 {
			t.violate(BoundedStaleness, Violation{Key: w.Key, What: fmt.Sprintf("a read%s began %s after an update it missed was acknowledged (bound %v)", onNode(w.Node), ms(w.ByMS), bound), Ops: []OpRef{w.Missed, w.Read}})
		}
	}
	if r := t.rows[BoundedStaleness]; r != nil {
		r.Scope = fmt.Sprintf("every read begun %v after an update was acknowledged saw it", bound)
		// The proofs are the stalest reads; the count is every one past
		// the bound.
		r.Total = st.over
	}
}

// scopes says exactly what "held" covers, per workload.
func (t *table) scopes(kind string) {
	switch kind {
	case "set", "append":
		t.scope(Sequential, "per key; exact (unique elements)")
	case "counter":
		t.scope(NoLostWrites, "final reads between the acknowledged increments and all those attempted, on every node")
	default:
		t.scope(Sequential, "per key; exact for reads and writes of unique values")
	}
	session := "per process (a client until its first unknown outcome); what the history proves directly"
	for _, g := range sessionGuarantees {
		t.scope(g, session)
	}
	switch kind {
	case "set":
		t.scope(Linearizable, "per key: no element lost, unexpected, duplicated or missing from a read begun after its add")
	case "counter":
		t.scope(Linearizable, "per key: every read between the increments acknowledged before it and those attempted")
	default:
		t.scope(Linearizable, "per key (porcupine)")
	}
	t.scope(Converges, "the last final read of every node, per key")
}

// SameValue says whether two answers of a read of the workload are the
// same state: for a set the same elements in any order, for a list the
// same list, for a register or counter the same value.
func SameValue(kind string) func(a, b json.RawMessage) bool {
	canon := func(raw json.RawMessage) (string, bool) {
		var list []int64
		if kind == "set" || kind == "append" {
			if json.Unmarshal(raw, &list) != nil {
				return "", false
			}
			if kind == "set" {
				slices.Sort(list)
			}
			return fmt.Sprint(list), true
		}
		v, err := parseValue(raw)
		return fmt.Sprint(v), err == nil
	}
	return func(a, b json.RawMessage) bool {
		ca, oka := canon(a)
		cb, okb := canon(b)
		return oka && okb && ca == cb
	}
}
