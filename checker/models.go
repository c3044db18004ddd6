package checker

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// checkModel checks a history for linearizability with the model of its
// workload kind: register, set, counter or append.
func checkModel(records []history.Record, kind string, opts Options) (Result, error) {
	switch kind {
	case "register", "cas-register", "":
		return CheckRegister(records, opts)
	case "append":
		return CheckAppend(records, opts)
	case "set":
		return CheckSet(records, opts)
	case "counter":
		return CheckCounter(records, opts)
	}
	return Result{}, fmt.Errorf("checker: no model for workload %q (known: register, cas-register, append, set, counter)", kind)
}

// appendInput is an append of one value, or a read.
type appendInput struct {
	f       string // "append" or "read"
	value   int64
	unknown bool
}

// AppendModel is a list per key: appends add one value at the end; a read
// returns the whole list. The state is the list written out ("1,5,9"), so
// states compare cheaply.
func AppendModel() porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return "" },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			s := state.(string)
			in := input.(appendInput)
			if in.f == "read" {
				return output.(string) == s, s
			}
			if s == "" {
				return true, strconv.FormatInt(in.value, 10)
			}
			return true, s + "," + strconv.FormatInt(in.value, 10)
		},
		DescribeOperation: func(input, output interface{}) string {
			in := input.(appendInput)
			if in.f == "read" {
				return "read() -> [" + output.(string) + "]"
			}
			q := ""
			if in.unknown {
				q = " (outcome unknown)"
			}
			return fmt.Sprintf("append(%d)%s", in.value, q)
		},
		DescribeState: func(state interface{}) string { return "[" + state.(string) + "]" },
	}
}

// CheckAppend checks an append history for linearizability, key by key,
// with the same treatment of failed and unknown operations as registers:
// an unknown append whose value no read ever returned is left out.
func CheckAppend(records []history.Record, opts Options) (Result, error) {
	if opts.Budget <= 0 {
		return Result{}, errors.New("checker: budget must be positive")
	}
	began := time.Now()
	paired, end, counts, faults, err := pairOps(records)
	if err != nil {
		return Result{}, err
	}
	observed := map[string]map[int64]bool{}
	type done struct {
		op  *pairedOp
		in  appendInput
		out string
	}
	var ops []done
	for i := range paired {
		p := &paired[i]
		if p.typ == history.Fail || (p.typ == history.Info && p.inv.F == "read") {
			continue
		}
		d := done{op: p, in: appendInput{f: p.inv.F, unknown: p.typ == history.Info}}
		switch p.inv.F {
		case "append":
			if err := json.Unmarshal(p.inv.Value, &d.in.value); err != nil {
				return Result{}, fmt.Errorf("%w: record %d: append needs a number, got %s", ErrBadHistory, p.inv.Index, p.inv.Value)
			}
		case "read":
			var list []int64
			if err := json.Unmarshal(p.out, &list); err != nil {
				return Result{}, fmt.Errorf("%w: record %d: read needs a list, got %s", ErrBadHistory, p.inv.Index, p.out)
			}
			parts := make([]string, len(list))
			for i, v := range list {
				parts[i] = strconv.FormatInt(v, 10)
				if observed[p.inv.Key] == nil {
					observed[p.inv.Key] = map[int64]bool{}
				}
				observed[p.inv.Key][v] = true
			}
			d.out = strings.Join(parts, ",")
		default:
			return Result{}, fmt.Errorf("%w: record %d: unknown append operation %q", ErrBadHistory, p.inv.Index, p.inv.F)
		}
		ops = append(ops, d)
	}
	perKey := map[string][]porcupine.Operation{}
	for _, d := range ops {
		if d.in.unknown && !observed[d.op.inv.Key][d.in.value] {
			continue
		}
		perKey[d.op.inv.Key] = append(perKey[d.op.inv.Key], porcupineOp(d.op, d.in, d.out, end))
	}
	sortByCall(perKey)
	return checkLinearizable(AppendModel, perKey, counts, faults, opts, began), nil
}

// CheckSet checks a set history (adds of unique elements, whole-set reads)
// as Jepsen's set checker does, per key, against the last successful read
// (the final read the workload makes once faults are healed):
//   - lost: acknowledged adds missing from the final read;
//   - unexpected: elements read that no add ever attempted;
//   - stale: acknowledged adds missing from a read that began after the add
//     completed (a linearizable set never does that);
//   - recovered: adds with unknown outcome present in the final read (not an
//     error, reported for information);
//   - duplicated: elements one read returned more than once (Jepsen's
//     set-full counts them as a violation).
//
// Lost, unexpected, stale or duplicated elements make the key invalid; a key with no
// successful read is unknown.
func CheckSet(records []history.Record, opts Options) (Result, error) {
	began := time.Now()
	paired, _, counts, _, err := pairOps(records)
	if err != nil {
		return Result{}, err
	}
	adds, reads, err := setOps(paired)
	if err != nil {
		return Result{}, err
	}
	res := Result{Verdict: Valid, Counts: counts, BudgetMS: opts.Budget.Milliseconds()}
	for _, key := range slices.Sorted(maps.Keys(adds)) {
		res.Keys = append(res.Keys, checkSetKey(key, adds[key], reads[key]))
	}
	finish(&res, began)
	return res, nil
}

// setAdd is one add of a set: when it was acknowledged (-1 if it was not)
// and how it ended.
type setAdd struct {
	done  int64
	state history.Type
}

// setRead is one successful whole-set read.
type setRead struct {
	call, ret int64
	elems     map[int64]bool
	// dups are elements the read returned more than once.
	dups []int64
}

// setOps sorts a set history's operations by key: the adds by element,
// the successful reads.
func setOps(paired []pairedOp) (map[string]map[int64]setAdd, map[string][]setRead, error) {
	adds := map[string]map[int64]setAdd{}
	reads := map[string][]setRead{}
	for _, p := range paired {
		key := p.inv.Key
		switch p.inv.F {
		case "add":
			var v int64
			if err := json.Unmarshal(p.inv.Value, &v); err != nil {
				return nil, nil, fmt.Errorf("%w: record %d: add needs a number, got %s", ErrBadHistory, p.inv.Index, p.inv.Value)
			}
			a := setAdd{done: -1, state: p.typ}
			if p.typ == history.OK {
				a.done = p.ret
			}
			if adds[key] == nil {
				adds[key] = map[int64]setAdd{}
			}
			adds[key][v] = a
		case "read":
			if p.typ != history.OK {
				continue
			}
			var list []int64
			if err := json.Unmarshal(p.out, &list); err != nil {
				return nil, nil, fmt.Errorf("%w: record %d: read needs a list, got %s", ErrBadHistory, p.inv.Index, p.out)
			}
			r := setRead{call: p.call, ret: p.ret, elems: map[int64]bool{}}
			for _, v := range list {
				if r.elems[v] && !slices.Contains(r.dups, v) {
					r.dups = append(r.dups, v)
				}
				r.elems[v] = true
			}
			reads[key] = append(reads[key], r)
			if adds[key] == nil {
				adds[key] = map[int64]setAdd{}
			}
		default:
			return nil, nil, fmt.Errorf("%w: record %d: unknown set operation %q", ErrBadHistory, p.inv.Index, p.inv.F)
		}
	}
	return adds, reads, nil
}

// checkSetKey checks one set: acknowledged adds the final read lacks
// (lost), elements nobody added (unexpected), acknowledged adds a later
// read lacks (stale).
func checkSetKey(key string, adds map[int64]setAdd, rs []setRead) KeyResult {
	kr := KeyResult{Key: key, Verdict: Valid, Operations: len(adds) + len(rs)}
	if len(rs) == 0 {
		kr.Verdict, kr.Note = Unknown, "no successful read: nothing to compare the adds with"
		return kr
	}
	slices.SortFunc(rs, func(a, b setRead) int { return int(a.ret - b.ret) })
	final := rs[len(rs)-1]
	var lost, unexpected, stale, recovered []int64
	for v, a := range adds {
		switch {
		case a.state == history.OK && !final.elems[v] && a.done < final.call:
			lost = append(lost, v)
		case a.state == history.Info && final.elems[v]:
			recovered = append(recovered, v)
		}
		if a.state != history.OK {
			continue
		}
		for _, r := range rs {
			if r.call > a.done && !r.elems[v] {
				stale = append(stale, v)
				break
			}
		}
	}
	for _, r := range rs {
		for v := range r.elems {
			if _, ok := adds[v]; !ok && !slices.Contains(unexpected, v) {
				unexpected = append(unexpected, v)
			}
		}
	}
	stale = slices.DeleteFunc(stale, func(v int64) bool { return slices.Contains(lost, v) })
	var dups []int64
	for _, r := range rs {
		for _, v := range r.dups {
			if !slices.Contains(dups, v) {
				dups = append(dups, v)
			}
		}
	}
	for _, a := range []struct {
		name string
		vs   []int64
	}{{"lost", lost}, {"unexpected", unexpected}, {"stale", stale}, {"duplicated (read more than once in one read)", dups}} {
		if len(a.vs) > 0 {
			kr.Verdict = Invalid
			kr.Anomalies = append(kr.Anomalies, describeElems(a.name, a.vs))
		}
	}
	if len(recovered) > 0 {
		kr.Note = describeElems("recovered (unknown outcome, then read)", recovered)
	}
	return kr
}

func describeElems(what string, vs []int64) string {
	slices.Sort(vs)
	shown := vs[:min(len(vs), 10)]
	s := fmt.Sprintf("%d %s: %v", len(vs), what, shown)
	if len(vs) > len(shown) {
		s = strings.TrimSuffix(s, "]") + " ...]"
	}
	return s
}

// CheckCounter checks a counter history (increments by non-negative
// amounts, reads), per key: every successful read must lie between the sum
// of the increments acknowledged before it began and the sum of all
// increments, acknowledged or not, invoked before it ended.
func CheckCounter(records []history.Record, opts Options) (Result, error) {
	began := time.Now()
	paired, _, counts, _, err := pairOps(records)
	if err != nil {
		return Result{}, err
	}
	type add struct {
		call, ret int64
		n         int64
		ok        bool
	}
	adds := map[string][]add{}
	type read struct {
		p pairedOp
		v int64
	}
	reads := map[string][]read{}
	for _, p := range paired {
		key := p.inv.Key
		switch p.inv.F {
		case "add":
			var n int64
			if err := json.Unmarshal(p.inv.Value, &n); err != nil || n < 0 {
				return Result{}, fmt.Errorf("%w: record %d: add needs a non-negative number, got %s", ErrBadHistory, p.inv.Index, p.inv.Value)
			}
			if p.typ != history.Fail {
				adds[key] = append(adds[key], add{call: p.call, ret: p.ret, n: n, ok: p.typ == history.OK})
			}
		case "read":
			if p.typ != history.OK {
				continue
			}
			var v int64
			if err := json.Unmarshal(p.out, &v); err != nil {
				return Result{}, fmt.Errorf("%w: record %d: read needs a number, got %s", ErrBadHistory, p.inv.Index, p.out)
			}
			reads[key] = append(reads[key], read{p, v})
		default:
			return Result{}, fmt.Errorf("%w: record %d: unknown counter operation %q", ErrBadHistory, p.inv.Index, p.inv.F)
		}
	}
	res := Result{Verdict: Valid, Counts: counts, BudgetMS: opts.Budget.Milliseconds()}
	keys := slices.Sorted(maps.Keys(reads))
	for k := range adds {
		if _, ok := reads[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		kr := KeyResult{Key: key, Verdict: Valid, Operations: len(adds[key]) + len(reads[key])}
		bad := 0
		for _, r := range reads[key] {
			var lo, hi int64
			for _, a := range adds[key] {
				if a.ok && a.ret < r.p.call {
					lo += a.n
				}
				if a.call < r.p.ret {
					hi += a.n
				}
			}
			if r.v < lo || r.v > hi {
				bad++
				if len(kr.Anomalies) < 5 {
					kr.Anomalies = append(kr.Anomalies, fmt.Sprintf("read %d by process %d at %.3fs, but it must lie between %d and %d", r.v, r.p.inv.Process, seconds(r.p.call), lo, hi))
				}
			}
		}
		if bad > 0 {
			kr.Verdict = Invalid
			if bad > len(kr.Anomalies) {
				kr.Anomalies = append(kr.Anomalies, fmt.Sprintf("... %d reads out of bounds in all", bad))
			}
		}
		res.Keys = append(res.Keys, kr)
	}
	finish(&res, began)
	return res, nil
}

// finish sets the overall verdict from the keys' and the duration. A
// history in which no operation succeeded proves nothing: unknown.
func finish(res *Result, began time.Time) {
	res.Verdict = Valid
	defer func() {
		if res.Counts.OK == 0 && res.Verdict == Valid {
			res.Verdict = Unknown
			res.Note = "no operation succeeded: there is nothing to check; see the client logs and node logs"
		}
	}()
	for _, k := range res.Keys {
		switch {
		case k.Verdict == Invalid:
			res.Verdict = Invalid
		case k.Verdict == Unknown && res.Verdict == Valid:
			res.Verdict = Unknown
		}
	}
	res.DurationMS = time.Since(began).Milliseconds()
}
