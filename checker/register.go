package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// Register is the register workload (read, write of unique values,
// compare-and-set, on independent keys; a Jepsen cas-register): checked
// for linearizability by porcupine against RegisterModel, and key by key
// for the ordered guarantees, which unique values make decidable cheaply
// (a read names the write it saw).
var Register = &Workload{
	name:   "register",
	ops:    []Operation{{F: "read", Read: true}, {F: "write"}, {F: "cas"}},
	decode: decodeRegister,
	model: func(opts Options) porcupine.Model {
		initial := int64(nilValue)
		if opts.Initial != nil {
			initial = *opts.Initial
		}
		return registerModel(initial)
	},
	porcupineOps: registerPorcupineOps,
	examine:      examineRegister,
	rows: []row{
		{Linearizable, "per key (porcupine)"},
		{Sequential, "per key; exact for reads and writes of unique values"},
		{ReadYourWrites, sessionScope}, {MonotonicReads, sessionScope}, {MonotonicWrites, sessionScope}, {WritesFollowReads, sessionScope},
		{NoLostWrites, ""},
		{Converges, convergesScope},
	},
	stale: true,
	final: registerFinal,
}

func registerFinal(o *gop) string { return describeValue(o.val) }

// regInput is a register operation as the model sees it.
type regInput struct {
	f     string // "read", "write", "cas"
	value int64  // written value (write, cas)
	old   int64  // expected value (cas)
	// unknown marks a write or cas whose outcome is unknown: it may have
	// taken effect at any time after its invocation, or never.
	unknown bool
}

// regOutput is what a read returned (0: no value).
type regOutput struct {
	value int64
}

// nilValue stands for "no value" (a key never written, JSON null). Every
// other int64 is a value, 0 included, as in Jepsen's histories.
const nilValue = math.MinInt64

func describeValue(v int64) string {
	if v == nilValue {
		return "nil"
	}
	return fmt.Sprint(v)
}

// registerModel is a read / write / compare-and-set register whose state
// starts at initial (nilValue: no value). A cas with an unknown outcome is
// "apply if it matches": combined with its open-ended return time this
// covers both "it happened" and "it never happened".
func registerModel(initial int64) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return initial },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			s := state.(int64)
			in := input.(regInput)
			switch in.f {
			case "read":
				return output.(regOutput).value == s, s
			case "write":
				return true, in.value
			case "cas":
				if in.unknown {
					if s == in.old {
						return true, in.value
					}
					return true, s
				}
				return s == in.old, in.value
			}
			return false, s
		},
		Equal: func(a, b interface{}) bool { return a.(int64) == b.(int64) },
		DescribeOperation: func(input, output interface{}) string {
			in := input.(regInput)
			q := ""
			if in.unknown {
				q = " (outcome unknown)"
			}
			switch in.f {
			case "read":
				return fmt.Sprintf("read() -> %s", describeValue(output.(regOutput).value))
			case "write":
				return fmt.Sprintf("write(%s)%s", describeValue(in.value), q)
			case "cas":
				return fmt.Sprintf("cas(%s -> %s)%s", describeValue(in.old), describeValue(in.value), q)
			}
			return in.f
		},
		DescribeState: func(state interface{}) string { return describeValue(state.(int64)) },
	}
}

// registerPorcupineOps are a key's operations as porcupine sees them:
//   - failed operations certainly did not happen: left out;
//   - a read with an unknown outcome observed nothing: left out;
//   - a write or cas with an unknown outcome may take effect at any time
//     after its invocation: its return time is after the end of the history;
//   - such a write or cas whose value nobody ever observed can always be
//     placed last with no visible effect, so it is left out too (this keeps
//     the search small after long partitions);
//   - an invoke with no completion (the harness stopped) counts as unknown.
func registerPorcupineOps(k *keyOps, end int64) []porcupine.Operation {
	observed := map[int64]bool{} // values some operation observed
	for _, o := range k.ops {
		switch {
		case o.p.typ == history.Fail, o.isRead() && !o.ok():
		case o.isRead():
			observed[o.val] = true
		case o.f == "cas":
			observed[o.old] = true
		}
	}
	var ops []porcupine.Operation
	for _, o := range k.ops {
		if o.p.typ == history.Fail || o.isRead() && !o.ok() || o.unknown() && !observed[o.val] {
			continue
		}
		in := regInput{f: o.f, value: o.val, old: o.old, unknown: o.unknown()}
		var out regOutput
		if o.isRead() {
			in.value, out.value = 0, o.val
		}
		ops = append(ops, porcupineOp(o.p, in, out, end))
	}
	return ops
}

// decodeRegister reads a register operation's values: a write's number,
// a cas's [old, new], what a successful read returned (a number or null).
func decodeRegister(o *gop) error {
	in, err := parseRegInput(*o.p.inv)
	if err != nil {
		return err
	}
	o.val, o.old = in.value, in.old
	if o.read {
		o.val = nilValue
		if o.ok() {
			v, err := parseValue(o.p.out)
			if err != nil {
				return fmt.Errorf("%w: record %d: read value: %w", ErrBadHistory, o.p.inv.Index, err)
			}
			o.val = v
		}
	}
	return nil
}

// parseRegInput reads what a register operation was asked to do.
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

// regKey is one register key's writes, indexed for the checks.
type regKey struct {
	*keyOps
	initial int64
	writer  map[int64]*gop // the write (or cas) of each value that may have happened
	failed  map[int64]*gop // writes that certainly did not happen
	// seen: values some read returned or some cas expected.
	seen     map[int64]bool
	dup, cas bool
}

func newRegKey(k *keyOps, initial int64) *regKey {
	r := &regKey{keyOps: k, initial: initial, writer: map[int64]*gop{}, failed: map[int64]*gop{}, seen: map[int64]bool{}}
	for _, o := range k.ops {
		switch {
		case o.isRead():
			if o.ok() {
				r.seen[o.val] = true
			}
			continue
		case o.p.typ == history.Fail:
			r.failed[o.val] = o
			continue
		}
		if o.f == "cas" {
			r.seen[o.old] = true
			r.cas = true
		}
		if _, ok := r.writer[o.val]; ok || o.val == initial {
			r.dup = true
		}
		r.writer[o.val] = o
	}
	return r
}

func (r *regKey) duplicated() string {
	if r.dup {
		return "a value was written more than once, so a read does not say which write it saw"
	}
	return ""
}

// happened: an update that certainly took effect or was observed.
func (r *regKey) happened(o *gop) bool { return o.ok() || r.seen[o.val] }

// writeEnd is when the write of v was acknowledged (-1 for the initial
// value, MaxInt64 when unknown or never).
func (r *regKey) writeEnd(v int64) int64 {
	if v == r.initial {
		return -1
	}
	if w, ok := r.writer[v]; ok {
		return w.p.ret
	}
	return math.MaxInt64
}

// examineRegister fills the table for one register key.
func examineRegister(k *keyOps, x *examination) {
	t, faults, initial := x.t, x.faults, x.initial
	r := newRegKey(k, initial)
	for _, o := range k.ops {
		if !o.isRead() || !o.ok() || o.val == initial {
			continue
		}
		if _, ok := r.writer[o.val]; ok {
			continue
		}
		what := fmt.Sprintf("read %s, which no operation wrote", describeValue(o.val))
		ops := []*gop{o}
		if w, ok := r.failed[o.val]; ok {
			what = fmt.Sprintf("read %s, whose only write failed (it certainly did not happen)", describeValue(o.val))
			ops = []*gop{w, o}
		}
		t.violate(Sequential, proof(k.key, faults, what, ops...))
	}
	examineUnique(r, t, faults, x.st)
	x.cv.key(k.key, k.settled, k.finalReads(), registerFinal)
}

// regEdge says that value from precedes value to in every order of the
// writes that explains the history, because of ops a then b (of one
// process; a nil: the initial value precedes every write).
type regEdge struct {
	to   int64
	a, b *gop
}

// sequential decides sequential consistency of the key: with unique
// values it holds exactly when the order the processes impose on the
// writes (each process's writes and reads in its own order) has no cycle.
// Compare-and-set adds a "nothing in between" rule this does not check,
// so with cas a cycle is a violation and its absence proves nothing.
func (r *regKey) sequential(t *table, faults []history.FaultWindow) {
	edges := map[int64][]regEdge{}
	add := func(from, to int64, a, b *gop) {
		if from != to {
			edges[from] = append(edges[from], regEdge{to, a, b})
		}
	}
	for _, s := range r.sessions() {
		var prev *gop
		pv := r.initial
		for _, o := range s {
			if !o.isRead() && !r.happened(o) {
				continue
			}
			switch o.f {
			case "read":
				add(pv, o.val, prev, o)
			case "write":
				if pv == o.val && prev != nil {
					t.violate(Sequential, proof(r.key, faults, fmt.Sprintf("process %d read %s before writing it", o.p.inv.Process, describeValue(o.val)), prev, o))
				}
				add(pv, o.val, prev, o)
			case "cas":
				add(pv, o.old, prev, o)
				add(o.old, o.val, o, o)
			}
			prev, pv = o, o.val
		}
	}
	for v := range r.writer {
		add(r.initial, v, nil, nil)
	}
	if cyc := shortCycle(edges, findCycle(edges)); cyc != nil {
		t.violate(Sequential, r.cycleProof(cyc, faults))
	}
	if r.cas {
		t.undecided(Sequential, "keys with compare-and-set are checked for violations only")
	}
}

// findCycle returns the edges of one cycle of the graph, or nil.
func findCycle(edges map[int64][]regEdge) []regEdge {
	indeg := map[int64]int{}
	for from, es := range edges {
		if _, ok := indeg[from]; !ok {
			indeg[from] = 0
		}
		for _, e := range es {
			indeg[e.to]++
		}
	}
	var queue []int64
	for v, d := range indeg {
		if d == 0 {
			queue = append(queue, v)
		}
	}
	for len(queue) > 0 {
		v := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, e := range edges[v] {
			if indeg[e.to]--; indeg[e.to] == 0 {
				queue = append(queue, e.to)
			}
		}
		delete(indeg, v)
	}
	if len(indeg) == 0 {
		return nil
	}
	// Every node left has an edge into it from another node left: walk
	// those edges backwards until a node repeats.
	// The walk goes in the order of the values, so that one history
	// always gives the same proof.
	into := map[int64][]regEdge{} // edge into a node, with to = where it came from
	for _, from := range slices.Sorted(maps.Keys(edges)) {
		if _, left := indeg[from]; !left {
			continue
		}
		for _, e := range edges[from] {
			into[e.to] = append(into[e.to], regEdge{to: from, a: e.a, b: e.b})
		}
	}
	start := slices.Min(slices.Collect(maps.Keys(indeg)))
	at := map[int64]int{}
	var back []regEdge // back[i] leads from back[i].to into the node before it
	var heads []int64
	for v := start; ; {
		if i, ok := at[v]; ok {
			// heads[i:] with back[i:] is the cycle, walked backwards.
			var cyc []regEdge
			for j := len(back) - 1; j >= i; j-- {
				cyc = append(cyc, regEdge{to: heads[j], a: back[j].a, b: back[j].b})
			}
			return cyc
		}
		at[v] = len(back)
		e := into[v][0]
		heads = append(heads, v)
		back = append(back, e)
		v = e.to
	}
}

// shortCycle returns the shortest cycle through any of the first 50
// nodes of cyc: the fewest operations that prove the violation.
func shortCycle(edges map[int64][]regEdge, cyc []regEdge) []regEdge {
	best := cyc
	for i, e := range cyc {
		if i == 50 || len(best) <= 2 {
			break
		}
		if c := cycleThrough(edges, e.to); c != nil && len(c) < len(best) {
			best = c
		}
	}
	return best
}

// cycleThrough returns the shortest cycle through start (breadth first),
// or nil.
func cycleThrough(edges map[int64][]regEdge, start int64) []regEdge {
	type step struct {
		from int64
		e    regEdge
	}
	came := map[int64]step{}
	queue := []int64{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range edges[v] {
			if e.to == start {
				out := []regEdge{e}
				for at := v; at != start; at = came[at].from {
					out = append(out, came[at].e)
				}
				slices.Reverse(out)
				return out
			}
			if _, seen := came[e.to]; !seen {
				came[e.to] = step{v, e}
				queue = append(queue, e.to)
			}
		}
	}
	return nil
}

func (r *regKey) cycleProof(cyc []regEdge, faults []history.FaultWindow) Violation {
	var ops []*gop
	for _, e := range cyc {
		for _, o := range []*gop{e.a, e.b} {
			if o != nil && !slices.Contains(ops, o) {
				ops = append(ops, o)
			}
		}
	}
	vals := describeValue(cyc[len(cyc)-1].to)
	for i, e := range cyc {
		if i == 12 {
			vals += fmt.Sprintf(" → ... (%d more)", len(cyc)-i)
			break
		}
		vals += " → " + describeValue(e.to)
	}
	what := fmt.Sprintf("no order of the writes fits every process: the processes' own orders require %s", vals)
	if len(ops) > 8 {
		what += fmt.Sprintf("; the first 8 of the %d operations that require it", len(ops))
		ops = ops[:8]
	}
	return proof(r.key, faults, what, ops...)
}

// sessions checks the session guarantees, each process on its own, and
// across processes for monotonic writes and writes-follow-reads. A
// violation is what the history proves: a process going back to a value
// it had moved past, or seeing one process's writes out of its order.
func (r *regKey) sessionChecks(t *table, faults []history.FaultWindow) {
	type wpos struct {
		proc history.Process
		i    int
		op   *gop
	}
	wseq := map[int64]wpos{} // each write's place among its process's writes
	dep := map[int64]*gop{}  // write value -> the read its process made just before it
	for _, s := range r.sessions() {
		n := 0
		var last *gop
		for _, o := range s {
			if o.isRead() || !r.happened(o) {
				last = o
				continue
			}
			wseq[o.val] = wpos{o.p.inv.Process, n, o}
			n++
			if last != nil && last.isRead() && last.val != r.initial {
				if w, ok := r.writer[last.val]; ok && w.p.inv.Process != o.p.inv.Process {
					dep[o.val] = last
				}
			}
			last = o
		}
	}
	for _, s := range r.sessions() {
		r.session(s, t, faults)
		type seenAt struct {
			i    int
			read *gop
		}
		latest := map[history.Process]seenAt{}
		forbidden := map[int64][2]*gop{} // value -> (read of the newer write, that write's dependency)
		for _, o := range s {
			var v int64
			switch {
			case o.isRead():
				v = o.val
			case o.f == "cas" && r.happened(o):
				v = o.old
			default:
				continue
			}
			if f, ok := forbidden[v]; ok {
				w := r.writer[f[0].valOrOld()]
				t.violate(WritesFollowReads, proof(r.key, faults, fmt.Sprintf("process %d wrote %s after reading %s, yet process %d read %s and then %s", w.p.inv.Process, describeValue(w.val), describeValue(v), o.p.inv.Process, describeValue(w.val), describeValue(v)), f[1], w, f[0], o))
			}
			if d, ok := dep[v]; ok && d.p.inv.Process != o.p.inv.Process {
				forbidden[d.val] = [2]*gop{o, d}
			}
			wp, ok := wseq[v]
			if !ok || wp.proc == o.p.inv.Process {
				continue
			}
			if l, ok := latest[wp.proc]; ok && l.i > wp.i {
				newer := r.writer[l.read.valOrOld()]
				t.violate(MonotonicWrites, proof(r.key, faults, fmt.Sprintf("process %d wrote %s then %s, yet process %d read %s and then %s", wp.proc, describeValue(v), describeValue(newer.val), o.p.inv.Process, describeValue(newer.val), describeValue(v)), wp.op, newer, l.read, o))
				continue
			}
			latest[wp.proc] = seenAt{wp.i, o}
		}
	}
}

// valOrOld is the value an operation read: a read's result, a cas's
// expected value.
func (o *gop) valOrOld() int64 {
	if o.f == "cas" {
		return o.old
	}
	return o.val
}

// session checks one process: read-your-writes and monotonic reads. Its
// observations (values written or read) are kept in order; a read of a
// value observed before a different later one goes back: past the
// process's own write (read-your-writes) or past a read (monotonic reads).
func (r *regKey) session(s []*gop, t *table, faults []history.FaultWindow) {
	type obs struct {
		v     int64
		op    *gop
		write bool
	}
	var seen []obs
	at := map[int64]int{r.initial: -1}
	lastWrite := -2
	observe := func(v int64, op *gop, write bool) {
		if len(seen) > 0 && seen[len(seen)-1].v == v {
			return
		}
		at[v] = len(seen)
		if write {
			lastWrite = len(seen)
		}
		seen = append(seen, obs{v, op, write})
	}
	check := func(v int64, o *gop) {
		j, ok := at[v]
		if !ok || len(seen) == 0 || seen[len(seen)-1].v == v {
			return
		}
		if lastWrite > j {
			w := seen[lastWrite].op
			t.violate(ReadYourWrites, proof(r.key, faults, fmt.Sprintf("process %d wrote %s, then read %s, which it had seen before that write", o.p.inv.Process, describeValue(w.val), describeValue(v)), w, o))
			return
		}
		moved := seen[j+1].op
		what := fmt.Sprintf("process %d read %s, then %s, then %s again", o.p.inv.Process, describeValue(v), describeValue(moved.val), describeValue(v))
		ops := []*gop{moved, o}
		if j >= 0 {
			ops = []*gop{seen[j].op, moved, o}
		} else {
			what = fmt.Sprintf("process %d read %s, then the initial value %s", o.p.inv.Process, describeValue(moved.val), describeValue(v))
		}
		t.violate(MonotonicReads, proof(r.key, faults, what, ops...))
	}
	for _, o := range s {
		switch {
		case o.isRead():
			check(o.val, o)
			observe(o.val, o, false)
		case !r.happened(o):
		case o.f == "cas":
			check(o.old, o)
			observe(o.old, o, false)
			observe(o.val, o, true)
		default:
			observe(o.val, o, true)
		}
	}
}

// lost finds acknowledged writes the final reads do not reflect: a final
// read returned a value whose write had completed before an acknowledged
// write began (or the initial value after any acknowledged write), so the
// later write vanished.
func (r *regKey) lost(t *table, faults []history.FaultWindow) {
	final := r.finalReads()
	final = lastPerNode(final)
	if len(final) == 0 {
		t.undecided(NoLostWrites, "some keys have no successful read made after their updates and the faults ended")
		return
	}
	var acked []*gop
	for _, o := range r.ops {
		if !o.isRead() && o.ok() {
			acked = append(acked, o)
		}
	}
	slices.SortFunc(acked, func(a, b *gop) int { return cmp.Compare(a.p.call, b.p.call) })
	for _, f := range final {
		end := r.writeEnd(f.val)
		if end == math.MaxInt64 {
			continue
		}
		i, _ := slices.BinarySearchFunc(acked, end+1, func(o *gop, t int64) int { return cmp.Compare(o.p.call, t) })
		if i == len(acked) {
			continue
		}
		lost := acked[len(acked)-1]
		what := fmt.Sprintf("final read%s returned %s, written before %s began: that acknowledged write is lost", onNode(f.p.inv.Node), describeValue(f.val), lost.describe())
		if n := len(acked) - i; n > 1 {
			what = fmt.Sprintf("final read%s returned %s, written before %d acknowledged writes began: they are lost, the last %s", onNode(f.p.inv.Node), describeValue(f.val), n, lost.describe())
		}
		ops := []*gop{lost, f}
		if w, ok := r.writer[f.val]; ok {
			ops = []*gop{w, lost, f}
		}
		t.violate(NoLostWrites, proof(r.key, faults, what, ops...))
	}
}

// staleness measures, for each acknowledged write, how long reads that
// began after it was acknowledged still returned an older value (one
// whose write completed before it began), and which reads were stale: a
// read is stale when a newer write had been acknowledged before it began.
func (r *regKey) staleness(st *staleAcc) {
	var acked, reads []*gop
	for _, o := range r.ops {
		switch {
		case o.isRead() && o.ok():
			if _, ok := r.writer[o.val]; ok || o.val == r.initial {
				reads = append(reads, o)
			}
		case !o.isRead() && o.ok():
			acked = append(acked, o)
		}
	}
	if len(acked) == 0 {
		return
	}
	slices.SortFunc(acked, func(a, b *gop) int { return cmp.Compare(a.p.call, b.p.call) })
	// sufMin[i]: the earliest-acknowledged write among acked[i:].
	sufMin := make([]*gop, len(acked)+1)
	for i := len(acked) - 1; i >= 0; i-- {
		sufMin[i] = acked[i]
		if sufMin[i+1] != nil && sufMin[i+1].p.ret < acked[i].p.ret {
			sufMin[i] = sufMin[i+1]
		}
	}
	for _, rd := range reads {
		end := r.writeEnd(rd.val)
		if end == math.MaxInt64 {
			continue
		}
		i, _ := slices.BinarySearchFunc(acked, end+1, func(o *gop, t int64) int { return cmp.Compare(o.p.call, t) })
		if newer := sufMin[i]; newer != nil && newer.p.ret < rd.p.call {
			st.stale(r.key, rd, newer, rd.p.call-newer.p.ret)
		}
	}
	// Latency of each acknowledged write: the last read begun after its
	// acknowledgement that returned a value written before it began.
	slices.SortFunc(reads, func(a, b *gop) int { return cmp.Compare(r.writeEnd(a.val), r.writeEnd(b.val)) })
	j := 0
	var latest int64 = -1
	for _, w := range acked {
		for j < len(reads) && r.writeEnd(reads[j].val) < w.p.call {
			latest = max(latest, reads[j].p.call)
			j++
		}
		st.latency(max(0, latest-w.p.ret))
	}
}
