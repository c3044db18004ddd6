package checker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/history"
)

// Set is the set workload (adds of unique elements, whole-set reads, on
// independent keys): linearizability as Jepsen's set checker judges it,
// per key against the last successful read, and the ordered guarantees
// exactly, as for every grow-only collection (collection.go).
var Set = &Workload{
	name:         "set",
	ops:          []Operation{{F: "read", Read: true}, {F: "add"}},
	decode:       decodeCollection,
	linearizable: checkSetKey,
	examine:      func(k *keyOps, x *examination) { examineCollection(k, false, x, setFinal) },
	rows: []row{
		{Linearizable, "per key: no element lost, unexpected, duplicated or missing from a read begun after its add"},
		{Sequential, "per key; exact (unique elements)"},
		{ReadYourWrites, sessionScope}, {MonotonicReads, sessionScope}, {MonotonicWrites, sessionScope}, {WritesFollowReads, sessionScope},
		{NoLostWrites, ""},
		{Converges, convergesScope},
	},
	stale: true,
	final: setFinal,
}

// setFinal names a read set by its elements in order.
func setFinal(o *gop) string {
	s := slices.Clone(o.elems)
	slices.Sort(s)
	return describeSet(s)
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

// checkSetKey checks one set as Jepsen's set checker does, against the
// last successful read (the final read the workload makes once faults are
// healed):
//   - lost: acknowledged adds missing from the final read;
//   - unexpected: elements read that no add ever attempted;
//   - stale: acknowledged adds missing from a read that began after the add
//     completed (a linearizable set never does that);
//   - recovered: adds with unknown outcome present in the final read (not an
//     error, reported for information);
//   - duplicated: elements one read returned more than once (Jepsen's
//     set-full counts them as a violation).
//
// Lost, unexpected, stale or duplicated elements make the key invalid; a
// key with no successful read is unknown. A key with neither an add nor a
// successful read is not checked (false).
func checkSetKey(k *keyOps) (KeyResult, bool) {
	adds := map[int64]setAdd{}
	var rs []setRead
	for _, o := range k.ops {
		switch {
		case !o.read:
			a := setAdd{done: -1, state: o.p.typ}
			if o.ok() {
				a.done = o.p.ret
			}
			adds[o.val] = a
		case o.ok():
			r := setRead{call: o.p.call, ret: o.p.ret, elems: map[int64]bool{}}
			for _, v := range o.elems {
				if r.elems[v] && !slices.Contains(r.dups, v) {
					r.dups = append(r.dups, v)
				}
				r.elems[v] = true
			}
			rs = append(rs, r)
		}
	}
	if len(adds) == 0 && len(rs) == 0 {
		return KeyResult{}, false
	}
	kr := KeyResult{Key: k.key, Verdict: Valid, Operations: len(adds) + len(rs)}
	if len(rs) == 0 {
		kr.Verdict, kr.Note = Unknown, "no successful read: nothing to compare the adds with"
		return kr, true
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
	return kr, true
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
