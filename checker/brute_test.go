package checker_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// The register checks against a brute-force judge of each guarantee by
// its definition, over thousands of small random histories (seeded):
// every row the checker reports violated must be violated by the
// definition. The judge tries every order there is; it shares no code
// with the checker.

// bop is one operation as the judge reads it.
type bop struct {
	proc, session int
	node          string
	f             string // read, write, cas
	val, old      int64  // write/cas value, cas expected, read result; 0 is nil
	typ           history.Type
	inv, done     int // places in the history; done -1 for none
}

const bnil = 0 // the initial value (null); values written are 1, 2, ...

func (o bop) update() bool { return o.f != "read" }

// sawAt says whether o has a read part (a read, or a cas that happened)
// and what it read.
func (o bop) readValue() int64 {
	if o.f == "cas" {
		return o.old
	}
	return o.val
}

// randomHistory makes a small register history: two or three processes,
// a few operations each, times with ties, outcomes of every kind, a
// process going on after an unknown outcome, reads that often return what
// a register would and sometimes anything, and sometimes final reads on
// every node.
func randomHistory(r *rand.Rand) ([]history.Record, []bop) {
	procs := 2 + r.IntN(2)
	left := make([]int, procs)
	for p := range left {
		left[p] = 1 + r.IntN(3)
	}
	open := make([]int, procs) // index in ops + 1
	var recs []history.Record
	var ops []bop
	var now int64
	next := int64(1)
	var state int64 = bnil
	var written []int64
	pool := func() int64 {
		if len(written) == 0 || r.IntN(4) == 0 {
			return bnil
		}
		return written[r.IntN(len(written))]
	}
	emit := func(rec history.Record) int {
		if r.IntN(3) > 0 {
			now += int64(1 + r.IntN(3))
		}
		rec.Index, rec.Time, rec.Key = int64(len(recs)), now*1e6, "k"
		recs = append(recs, rec)
		return len(recs) - 1
	}
	invoke := func(p int, node string, o bop) {
		o.proc, o.node = p, node
		arg := json.RawMessage("null")
		switch o.f {
		case "write":
			arg = json.RawMessage(fmt.Sprint(o.val))
		case "cas":
			arg = json.RawMessage(fmt.Sprintf("[%s,%d]", bval(o.old), o.val))
		}
		o.inv = emit(history.Record{Process: history.Process(p), Node: node, Type: history.Invoke, F: o.f, Value: arg})
		o.done = -1
		ops = append(ops, o)
	}
	complete := func(i int, typ history.Type) {
		o := &ops[i]
		o.typ = typ
		var out json.RawMessage
		if o.f == "read" && typ == history.OK {
			out = json.RawMessage(bval(o.val))
		} else if o.f != "read" {
			out = recs[o.inv].Value
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
			o := bop{}
			switch r.IntN(3) {
			case 0:
				o.f = "read"
			case 1:
				o.f, o.val = "write", next
				next++
			default:
				o.f, o.old, o.val = "cas", pool(), next
				if r.IntN(2) == 0 {
					o.old = state
				}
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
		switch o.f {
		case "read":
			o.val = pool()
			if r.IntN(3) > 0 {
				o.val = state
			}
		case "write":
			written = append(written, o.val)
			if typ == history.OK || typ == history.Info && r.IntN(2) == 0 {
				state = o.val
			}
		case "cas":
			written = append(written, o.val)
			if typ == history.OK && state != o.old && r.IntN(3) > 0 {
				typ = history.Fail
			}
			if typ == history.OK || typ == history.Info && state == o.old && r.IntN(2) == 0 {
				state = o.val
			}
		}
		complete(i, typ)
	}
	if r.IntN(2) == 0 {
		for n := range 3 {
			p := procs + n
			invoke(p, fmt.Sprintf("n%d", n+1), bop{f: "read"})
			ops[len(ops)-1].val = state
			if r.IntN(4) == 0 {
				ops[len(ops)-1].val = pool()
			}
			complete(len(ops)-1, history.OK)
		}
	}
	// A read of unknown outcome observed nothing: it ends no session.
	splitSessions(len(ops), func(i int) int { return ops[i].proc }, func(i int) bool { return ops[i].typ == history.Info && ops[i].update() },
		func(i, s int) { ops[i].session = s })
	return recs, ops
}

func bval(v int64) string {
	if v == bnil {
		return "null"
	}
	return fmt.Sprint(v)
}

// judge decides each guarantee of a register history by its definition.
type judge struct {
	ops []bop
}

// happenedChoices calls try with each set of updates that may have taken
// effect: every acknowledged one, and any of those of unknown outcome.
func (j judge) happenedChoices(try func(in []bool) bool) bool {
	var maybe []int
	in := make([]bool, len(j.ops))
	for i, o := range j.ops {
		switch {
		case o.update() && o.typ == history.OK:
			in[i] = true
		case o.update() && o.typ == history.Info:
			maybe = append(maybe, i)
		}
	}
	return eachSubset(len(maybe), func(mask int) bool {
		for b, i := range maybe {
			in[i] = mask&(1<<b) != 0
		}
		return try(in)
	})
}

// linearizable: some order of the operations that happened, each
// operation placed after those that completed before it began, in which
// every read returns the register's value and every cas that happened
// found its expected value.
func (j judge) linearizable() bool {
	return j.ordered(func(a, b bop) bool { return a.done >= 0 && a.typ != history.Info && a.done < b.inv })
}

// sequential: the same, with each session's own order for real time.
func (j judge) sequential() bool {
	return j.ordered(func(a, b bop) bool { return a.session == b.session && a.inv < b.inv })
}

func (j judge) ordered(before func(a, b bop) bool) bool {
	return j.happenedChoices(func(in []bool) bool {
		var ids []int
		for i, o := range j.ops {
			if in[i] || o.f == "read" && o.typ == history.OK {
				ids = append(ids, i)
			}
		}
		state := int64(bnil)
		return searchOrders(ids, func(a, b int) bool { return before(j.ops[a], j.ops[b]) }, func(i int) (func(), bool) {
			o, was := j.ops[i], state
			switch {
			case o.f == "read" && o.val != state, o.f == "cas" && o.old != state:
				return nil, false
			case o.f != "read":
				state = o.val
			}
			return func() { state = was }, true
		})
	})
}

// searchOrders tries the orders of ids in which nothing comes before an
// id that before says precedes it; step places one (false: it does not
// fit there) and gives the undo of it. It reports whether some order
// places every id.
func searchOrders(ids []int, before func(a, b int) bool, step func(i int) (undo func(), ok bool)) bool {
	placed := map[int]bool{}
	var place func(n int) bool
	place = func(n int) bool {
		if n == len(ids) {
			return true
		}
		for _, i := range ids {
			if placed[i] || slices.ContainsFunc(ids, func(k int) bool { return !placed[k] && k != i && before(k, i) }) {
				continue
			}
			undo, ok := step(i)
			if !ok {
				continue
			}
			placed[i] = true
			if place(n + 1) {
				return true
			}
			placed[i] = false
			undo()
		}
		return false
	}
	return place(0)
}

// nextProcess picks, at random, a process with an operation open (to
// complete) or left to begin; false when none has.
func nextProcess(r *rand.Rand, open, left []int) (int, bool) {
	var can []int
	for p := range open {
		if open[p] > 0 || left[p] > 0 {
			can = append(can, p)
		}
	}
	if len(can) == 0 {
		return 0, false
	}
	return can[r.IntN(len(can))], true
}

// eachSubset calls try with each subset of n choices (bit b of the mask:
// choice b taken) until it accepts one.
func eachSubset(n int, try func(mask int) bool) bool {
	for mask := 0; mask < 1<<n; mask++ {
		if try(mask) {
			return true
		}
	}
	return false
}

// splitSessions numbers the sessions of n operations: a process's
// operations up to one that ends its session (an update of unknown
// outcome, which may take effect after the process's next operations).
func splitSessions(n int, proc func(i int) int, ends func(i int) bool, set func(i, session int)) {
	session := map[int]int{}
	sessions := 0
	for i := range n {
		s, ok := session[proc(i)]
		if !ok {
			s = sessions
			sessions++
			session[proc(i)] = s
		}
		set(i, s)
		if ends(i) {
			delete(session, proc(i))
		}
	}
}

// The session guarantees, by Terry et al.'s definitions: each read sees
// a set of writes (its server's database), writes take effect in one
// order, a read returns the last write it sees (the initial value when it
// sees none). A read sees at least the write it returned and what the
// guarantees add; each set is the least that meets them.
type rules struct{ ryw, mr, mw, wfr bool }

func (j judge) session(g rules) bool {
	return j.happenedChoices(func(in []bool) bool {
		var writes []int
		writer := map[int64]int{}
		for i, o := range j.ops {
			if in[i] {
				writes = append(writes, i)
				writer[o.val] = i
			}
		}
		// The reads: reads that succeeded, and cas that happened.
		var reads []int
		for i, o := range j.ops {
			if o.f == "read" && o.typ == history.OK || o.f == "cas" && in[i] {
				if v := o.readValue(); v != bnil {
					if _, ok := writer[v]; !ok {
						return false // it read what never happened
					}
				}
				reads = append(reads, i)
			}
		}
		// db[r]: the writes read r must see, grown to the least fixpoint.
		db := map[int]map[int]bool{}
		for _, r := range reads {
			db[r] = map[int]bool{}
			if v := j.ops[r].readValue(); v != bnil {
				db[r][writer[v]] = true
			}
		}
		before := func(a, b int) bool { // a precedes b in b's session (a cas's read precedes its write)
			return j.ops[a].session == j.ops[b].session && j.ops[a].inv < j.ops[b].inv
		}
		readsBefore := func(w int) []int { // reads whose results write w must follow
			var out []int
			for _, r := range reads {
				if before(r, w) || r == w {
					out = append(out, r)
				}
			}
			return out
		}
		for changed := true; changed; {
			changed = false
			addAll := func(to map[int]bool, from map[int]bool) {
				for w := range from {
					if !to[w] {
						to[w], changed = true, true
					}
				}
			}
			for _, r := range reads {
				d := db[r]
				if g.ryw {
					for _, w := range writes {
						if before(w, r) && !d[w] {
							d[w], changed = true, true
						}
					}
				}
				if g.mr {
					for _, q := range reads {
						if before(q, r) {
							addAll(d, db[q])
						}
					}
				}
				for w := range d {
					if g.mw {
						for _, x := range writes {
							if before(x, w) && !d[x] {
								d[x], changed = true, true
							}
						}
					}
					if g.wfr {
						for _, q := range readsBefore(w) {
							addAll(d, db[q])
						}
					}
				}
			}
		}
		// Some order of the writes must put each read's result last of
		// what it sees, each session's writes in order (monotonic writes),
		// and each write after what its session read before it
		// (writes-follow-reads).
		return permutations(writes, func(order []int) bool {
			pos := map[int]int{}
			for i, w := range order {
				pos[w] = i
			}
			for _, r := range reads {
				v := j.ops[r].readValue()
				for w := range db[r] {
					if v == bnil || pos[w] > pos[writer[v]] {
						return false
					}
				}
			}
			for _, w := range writes {
				for _, x := range writes {
					if g.mw && before(x, w) && pos[x] > pos[w] {
						return false
					}
				}
				if g.wfr {
					for _, q := range readsBefore(w) {
						for x := range db[q] {
							if x != w && pos[x] > pos[w] {
								return false
							}
						}
					}
				}
			}
			return true
		})
	})
}

// noLostWrites: each node's last final read returns a value that some
// order of the writes, keeping the order of those that did not overlap,
// can end with: no acknowledged write began after that value's write
// ended.
func (j judge) noLostWrites() (held, decided bool) {
	settled := -1
	for _, o := range j.ops {
		if o.update() {
			settled = max(settled, o.done)
		}
	}
	last := map[string]bop{}
	for _, o := range j.ops {
		if o.f == "read" && o.typ == history.OK && o.inv > settled {
			if l, ok := last[o.node]; !ok || o.done > l.done {
				last[o.node] = o
			}
		}
	}
	if len(last) == 0 {
		return true, false
	}
	for _, f := range last {
		w := -1
		for i, o := range j.ops {
			if o.update() && o.val == f.val && o.typ != history.Fail {
				w = i
			}
		}
		for _, o := range j.ops {
			if !o.update() || o.typ != history.OK {
				continue
			}
			if f.val == bnil || w >= 0 && j.ops[w].typ == history.OK && j.ops[w].done < o.inv {
				return false, true
			}
		}
	}
	return true, true
}

// permutations calls ok with each order of xs until one is accepted.
func permutations(xs []int, ok func([]int) bool) bool {
	xs = slices.Clone(xs)
	var rec func(k int) bool
	rec = func(k int) bool {
		if k == len(xs) {
			return ok(xs)
		}
		for i := k; i < len(xs); i++ {
			xs[k], xs[i] = xs[i], xs[k]
			if rec(k + 1) {
				return true
			}
			xs[k], xs[i] = xs[i], xs[k]
		}
		return false
	}
	return rec(0)
}

// holds is the judge's verdict on each row it decides.
func (j judge) holds() map[checker.Guarantee]bool {
	out := map[checker.Guarantee]bool{
		checker.Linearizable:      j.linearizable(),
		checker.Sequential:        j.sequential(),
		checker.Causal:            j.session(rules{true, true, true, true}),
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

func TestRegisterAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	againstBruteForce(t, "register", 6000, []checker.Guarantee{checker.Linearizable, checker.Sequential}, func() bruteCase {
		recs, ops := randomHistory(r)
		return bruteCase{recs, judge{ops}.holds(), dump(ops)}
	})
}

// bruteCase is one random history, what the judge found of each row it
// decides, and the history written out for a failure.
type bruteCase struct {
	recs  []history.Record
	truth map[checker.Guarantee]bool
	dump  string
}

// againstBruteForce checks n histories of a workload against their
// judge: a row reported violated must be violated by the definition, and
// a row the workload decides exactly (its scope says so) reported held
// must hold. It logs, for each row, on how many histories the checker
// agrees and how many violations it misses (it may: past what its scope
// says, what it does not prove it calls held or unknown).
func againstBruteForce(t *testing.T, kind string, n int, exact []checker.Guarantee, next func() bruteCase) {
	t.Helper()
	w := named(t, kind)
	type tally struct{ agree, missed int }
	tallies := map[checker.Guarantee]*tally{}
	for i := range n {
		c := next()
		res, err := checker.Check(c.recs, w, checker.Options{Budget: time.Minute})
		if err != nil {
			t.Fatalf("history %d: %v\n%s", i, err, c.dump)
		}
		for _, row := range res.Guarantees {
			held, decided := c.truth[row.Guarantee]
			if !decided {
				continue
			}
			tl := tallies[row.Guarantee]
			if tl == nil {
				tl = &tally{}
				tallies[row.Guarantee] = tl
			}
			switch {
			case row.Status == checker.Violated && held:
				t.Errorf("%s history %d: %s reported violated, but the history satisfies it (%s)\n%s%s", kind, i, row.Guarantee, row.Note, c.dump, proofs(row))
			case row.Status == checker.Held && !held && slices.Contains(exact, row.Guarantee):
				t.Errorf("%s history %d: %s reported held, but the history breaks it\n%s", kind, i, row.Guarantee, c.dump)
			case row.Status == checker.Violated || held:
				tl.agree++
			default:
				tl.missed++
			}
		}
	}
	for _, g := range checker.Guarantees() {
		if tl := tallies[g]; tl != nil {
			t.Logf("%-20s agrees with the definition on %d histories; violated but not found on %d", g, tl.agree, tl.missed)
		}
	}
}

func dump(ops []bop) string {
	var b strings.Builder
	for _, o := range ops {
		what := o.f + " " + bval(o.val)
		if o.f == "cas" {
			what = fmt.Sprintf("cas %s->%s", bval(o.old), bval(o.val))
		}
		fmt.Fprintf(&b, "  process %d (session %d) %s: %s %s, records %d..%d\n", o.proc, o.session, o.node, what, o.typ, o.inv, o.done)
	}
	return b.String()
}

func proofs(r checker.GuaranteeResult) string {
	var b strings.Builder
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  proof: %s\n", strings.ReplaceAll(v.String(), "\n", "\n  "))
	}
	return b.String()
}

// The cases that the register checks once judged wrongly: each history
// satisfies the guarantees named, yet was reported to break them.
func TestRegisterSoundnessCases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		held  []checker.Guarantee
		// broken: what the history does break, by the definitions.
		broken []checker.Guarantee
	}{
		// (a) An unknown cas's expected value is not observed unless the
		// cas happened: cas 3->4 may never have, so nothing saw 3.
		{"unknown cas expected", []string{"1 n1 w 1 ok 0 10", "1 n1 cas 1,2 ok 20 30", "1 n1 cas 1,3 info 40 50", "2 n2 cas 3,4 info 60 70"},
			[]checker.Guarantee{checker.Linearizable, checker.Sequential, checker.Causal, checker.ReadYourWrites, checker.MonotonicReads}, nil},
		// (b) A process that goes on after an unknown outcome begins a new
		// session: its write may take effect after its read.
		{"process goes on after unknown", []string{"1 n1 w 2 info 0 10", "1 n1 r nil ok 20 30", "2 n2 r 2 ok 40 50"},
			[]checker.Guarantee{checker.Linearizable, checker.Sequential, checker.Causal, checker.ReadYourWrites}, nil},
		// (c) Read-your-writes and monotonic reads are judged each on its
		// own: going back to nil after reading one's own write breaks both.
		{"both named", []string{"1 n1 w 2 ok 0 10", "1 n1 r 2 ok 20 30", "1 n1 r nil ok 40 50"},
			nil, []checker.Guarantee{checker.ReadYourWrites, checker.MonotonicReads, checker.Causal, checker.Sequential, checker.Linearizable}},
		// Only the four together forbid reading one's older write after a
		// newer one: each alone holds.
		{"older own write", []string{"1 n1 w 2 ok 0 10", "1 n1 w 4 ok 20 30", "1 n1 r 2 ok 40 50"},
			[]checker.Guarantee{checker.ReadYourWrites, checker.MonotonicReads, checker.MonotonicWrites, checker.WritesFollowReads},
			[]checker.Guarantee{checker.Causal, checker.Sequential, checker.Linearizable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := checker.Check(hist(t, "register", tc.lines...), named(t, "register"), checker.Options{Budget: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range tc.held {
				if r := row(t, res, g); r.Status != checker.Held {
					t.Errorf("%s: %s, want held\n%s", g, r.Status, describe(r))
				}
			}
			for _, g := range tc.broken {
				if r := row(t, res, g); r.Status != checker.Violated {
					t.Errorf("%s: %s, want violated\n%s", g, r.Status, describe(r))
				}
			}
		})
	}
}

// (d) Records at one time keep the history's order: a write completed
// before a read began at the same millisecond precedes it, so the read's
// stale value breaks linearizability, and of two final reads on a node
// completed at one time the later record is the node's last answer.
func TestEqualTimesKeepRecordOrder(t *testing.T) {
	rec := func(i int, p int, node string, typ history.Type, f, v string, ms int64) history.Record {
		return history.Record{Index: int64(i), Process: history.Process(p), Node: node, Type: typ, F: f, Key: "k", Value: json.RawMessage(v), Time: ms * 1e6}
	}
	recs := []history.Record{
		rec(0, 1, "n1", history.Invoke, "write", "1", 0),
		rec(1, 1, "n1", history.OK, "write", "1", 10),
		rec(2, 1, "n1", history.Invoke, "write", "2", 20),
		rec(3, 1, "n1", history.OK, "write", "2", 30),
		rec(4, 2, "n2", history.Invoke, "read", "null", 30),
		rec(5, 2, "n2", history.OK, "read", "1", 40),
	}
	res, err := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, res, checker.Linearizable); r.Status != checker.Violated {
		t.Errorf("a read begun after write 2 completed, at the same time, returned 1: linearizable %s", r.Status)
	}
	recs = []history.Record{
		rec(0, 1, "n1", history.Invoke, "write", "1", 0),
		rec(1, 1, "n1", history.OK, "write", "1", 10),
		rec(2, 2, "n1", history.Invoke, "read", "null", 20),
		rec(3, 3, "n1", history.Invoke, "read", "null", 20),
		rec(4, 2, "n1", history.OK, "read", "null", 30),
		rec(5, 3, "n1", history.OK, "read", "1", 30),
	}
	res, err = checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, res, checker.NoLostWrites); r.Status != checker.Held {
		t.Errorf("n1's last answer (record 5) is 1: no-lost-writes %s\n%s", r.Status, describe(r))
	}
}
