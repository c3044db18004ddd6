package checker_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// The set checks against a brute-force judge of each guarantee by its
// definition, as the register's are (brute_test.go): a set's read returns
// the very adds it saw, so each session guarantee is a condition on the
// reads' sets, and linearizability and sequential consistency are a
// search over every order of the adds that may have happened.

// sop is one set operation as the judge reads it.
type sop struct {
	proc, session int
	node          string
	f             string  // add, read
	val           int64   // the element added
	elems         []int64 // what a successful read returned
	typ           history.Type
	inv, done     int
}

// randomSetHistory makes a small set history: two or three processes, a
// few adds (unique elements) and reads each, outcomes of every kind, reads
// that mostly return what a set would and sometimes another subset of
// what was attempted (or an element never added), and sometimes final
// reads on every node.
func randomSetHistory(r *rand.Rand) ([]history.Record, []sop) {
	procs := 2 + r.IntN(2)
	left := make([]int, procs)
	for p := range left {
		left[p] = 1 + r.IntN(3)
	}
	open := make([]int, procs)
	var recs []history.Record
	var ops []sop
	var now int64
	next := int64(1)
	state := map[int64]bool{}
	var attempted []int64
	var elemsNow func() []int64
	elemsNow = func() []int64 {
		var out []int64
		if r.IntN(3) > 0 {
			for v := range state {
				out = append(out, v)
			}
		} else {
			for _, v := range attempted {
				if r.IntN(2) == 0 {
					out = append(out, v)
				}
			}
			if r.IntN(8) == 0 {
				out = append(out, 99) // never added
			}
		}
		slices.Sort(out)
		return out
	}
	emit := func(rec history.Record) int {
		if r.IntN(3) > 0 {
			now += int64(1 + r.IntN(3))
		}
		rec.Index, rec.Time, rec.Key = int64(len(recs)), now*1e6, "s"
		recs = append(recs, rec)
		return len(recs) - 1
	}
	invoke := func(p int, node string, o sop) {
		o.proc, o.node, o.done = p, node, -1
		arg := json.RawMessage("null")
		if o.f == "add" {
			arg = json.RawMessage(fmt.Sprint(o.val))
		}
		o.inv = emit(history.Record{Process: history.Process(p), Node: node, Type: history.Invoke, F: o.f, Value: arg})
		ops = append(ops, o)
	}
	complete := func(i int, typ history.Type) {
		o := &ops[i]
		o.typ = typ
		out := recs[o.inv].Value
		if o.f == "read" {
			out = nil
			if typ == history.OK {
				b, _ := json.Marshal(o.elems)
				if o.elems == nil {
					b = []byte("[]")
				}
				out = b
			}
		}
		o.done = emit(history.Record{Process: history.Process(o.proc), Node: o.node, Type: typ, F: o.f, Value: out})
	}
	for {
		p, ok := nextProcess(r, open, left)
		if !ok {
			break
		}
		node := fmt.Sprintf("n%d", p%3+1)
		if open[p] == 0 {
			left[p]--
			o := sop{f: "read"}
			if r.IntN(2) == 0 {
				o.f, o.val = "add", next
				attempted = append(attempted, next)
				next++
			}
			invoke(p, node, o)
			open[p] = len(ops)
			continue
		}
		i := open[p] - 1
		open[p] = 0
		o := &ops[i]
		typ := []history.Type{history.OK, history.OK, history.OK, history.Fail, history.Info}[r.IntN(5)]
		if o.f == "read" {
			o.elems = elemsNow()
		} else if typ == history.OK || typ == history.Info && r.IntN(2) == 0 {
			state[o.val] = true
		}
		complete(i, typ)
	}
	if r.IntN(2) == 0 {
		for n := range 3 {
			invoke(procs+n, fmt.Sprintf("n%d", n+1), sop{f: "read"})
			ops[len(ops)-1].elems = elemsNow()
			complete(len(ops)-1, history.OK)
		}
	}
	splitSessions(len(ops), func(i int) int { return ops[i].proc }, func(i int) bool { return ops[i].typ == history.Info && ops[i].f == "add" },
		func(i, s int) { ops[i].session = s })
	return recs, ops
}

// setJudge decides each guarantee of a set history by its definition.
type setJudge struct{ ops []sop }

func (j setJudge) okRead(o sop) bool { return o.f == "read" && o.typ == history.OK }

// choices calls try with each set of adds that may have taken effect:
// every acknowledged one, and any of those of unknown outcome.
func (j setJudge) choices(try func(in map[int64]bool) bool) bool {
	in := map[int64]bool{}
	var maybe []int64
	for _, o := range j.ops {
		switch {
		case o.f == "add" && o.typ == history.OK:
			in[o.val] = true
		case o.f == "add" && o.typ == history.Info:
			maybe = append(maybe, o.val)
		}
	}
	return eachSubset(len(maybe), func(mask int) bool {
		for b, v := range maybe {
			in[v] = mask&(1<<b) != 0
		}
		return try(in)
	})
}

// ordered: some order of the adds that happened and the successful
// reads, keeping before, in which each read returns exactly the adds
// placed before it.
func (j setJudge) ordered(before func(a, b sop) bool) bool {
	return j.choices(func(in map[int64]bool) bool {
		var ids []int
		for i, o := range j.ops {
			if o.f == "add" && in[o.val] || j.okRead(o) {
				ids = append(ids, i)
			}
		}
		have := map[int64]bool{}
		return searchOrders(ids, func(a, b int) bool { return before(j.ops[a], j.ops[b]) }, func(i int) (func(), bool) {
			o := j.ops[i]
			if o.f == "read" {
				fits := len(o.elems) == len(have) && !slices.ContainsFunc(o.elems, func(v int64) bool { return !have[v] })
				return func() {}, fits
			}
			have[o.val] = true
			return func() { delete(have, o.val) }, true
		})
	})
}

func (j setJudge) linearizable() bool {
	return j.ordered(func(a, b sop) bool { return a.done >= 0 && a.typ != history.Info && a.done < b.inv })
}

func (j setJudge) sequential() bool {
	return j.ordered(func(a, b sop) bool { return a.session == b.session && a.inv < b.inv })
}

// session: Terry et al.'s definitions, where a read's database is the
// set it returned (of adds that happened).
func (j setJudge) session(g rules) bool {
	return j.choices(func(in map[int64]bool) bool {
		db := map[int]map[int64]bool{}
		for i, o := range j.ops {
			if !j.okRead(o) {
				continue
			}
			db[i] = map[int64]bool{}
			for _, v := range o.elems {
				if !in[v] {
					return false // it read what never happened
				}
				db[i][v] = true
			}
		}
		before := func(a, b int) bool { return j.ops[a].session == j.ops[b].session && j.ops[a].inv < j.ops[b].inv }
		adder := map[int64]int{}
		for i, o := range j.ops {
			if o.f == "add" {
				adder[o.val] = i
			}
		}
		for r, d := range db {
			for i, o := range j.ops {
				switch {
				case g.ryw && o.f == "add" && in[o.val] && before(i, r) && !d[o.val]:
					return false
				case g.mr && j.okRead(o) && before(i, r) && !subset(db[i], d):
					return false
				}
			}
			for v := range d {
				w := adder[v]
				for i, o := range j.ops {
					switch {
					case g.mw && o.f == "add" && in[o.val] && before(i, w) && !d[o.val]:
						return false
					case g.wfr && j.okRead(o) && before(i, w) && !subset(db[i], d):
						return false
					}
				}
			}
		}
		return true
	})
}

func subset(a, b map[int64]bool) bool {
	for v := range a {
		if !b[v] {
			return false
		}
	}
	return true
}

// noLostWrites: each node's last read begun after every update ended
// holds every add acknowledged before it began.
func (j setJudge) noLostWrites() (held, decided bool) {
	settled := -1
	for _, o := range j.ops {
		if o.f == "add" {
			settled = max(settled, o.done)
		}
	}
	last := map[string]sop{}
	for _, o := range j.ops {
		if j.okRead(o) && o.inv > settled {
			if l, ok := last[o.node]; !ok || o.done > l.done {
				last[o.node] = o
			}
		}
	}
	if len(last) == 0 {
		return true, false
	}
	for _, f := range last {
		for _, o := range j.ops {
			if o.f == "add" && o.typ == history.OK && o.done < f.inv && !slices.Contains(f.elems, o.val) {
				return false, true
			}
		}
	}
	return true, true
}

func (j setJudge) holds() map[checker.Guarantee]bool {
	out := map[checker.Guarantee]bool{
		checker.Linearizable:      j.linearizable(),
		checker.Sequential:        j.sequential(),
		checker.ReadYourWrites:    j.session(rules{ryw: true}),
		checker.MonotonicReads:    j.session(rules{mr: true}),
		checker.MonotonicWrites:   j.session(rules{mw: true}),
		checker.WritesFollowReads: j.session(rules{wfr: true}),
	}
	if held, decided := j.noLostWrites(); decided {
		out[checker.NoLostWrites] = held
	}
	return out
}

func dumpSet(ops []sop) string {
	var b strings.Builder
	for _, o := range ops {
		what := fmt.Sprintf("add %d", o.val)
		if o.f == "read" {
			what = fmt.Sprintf("read %v", o.elems)
		}
		fmt.Fprintf(&b, "  process %d (session %d) %s: %s %s, records %d..%d\n", o.proc, o.session, o.node, what, o.typ, o.inv, o.done)
	}
	return b.String()
}

func TestSetAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	// The set's linearizable row is Jepsen's set checker (its scope says
	// so), weaker than the definition; sequential is exact.
	againstBruteForce(t, "set", 4000, []checker.Guarantee{checker.Sequential}, func() bruteCase {
		recs, ops := randomSetHistory(r)
		return bruteCase{recs, setJudge{ops}.holds(), dumpSet(ops)}
	})
}
