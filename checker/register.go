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
	name:    "register",
	ops:     []Operation{{F: "read", Read: true}, {F: "write"}, {F: "cas", Shows: true}},
	decode:  decodeRegister,
	initial: true,
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
		{Causal, causalScope},
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
	var maybe []*gop // compare-and-sets whose outcome is unknown
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
			r.cas = true
			if o.ok() {
				r.seen[o.old] = true
			} else {
				maybe = append(maybe, o)
			}
		}
		if _, ok := r.writer[o.val]; ok || o.val == initial {
			r.dup = true
		}
		r.writer[o.val] = o
	}
	// A compare-and-set of unknown outcome saw its expected value only if
	// it happened: if its own value was seen. That may make another one
	// happen, so go on until nothing changes.
	for changed := true; changed; {
		changed = false
		maybe = slices.DeleteFunc(maybe, func(o *gop) bool {
			if !r.seen[o.val] {
				return false
			}
			changed = changed || !r.seen[o.old]
			r.seen[o.old] = true
			return true
		})
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
	x.cv.key(k.key, k.finalReads(), registerFinal)
}

// sequential decides sequential consistency of the key: with unique
// values it holds exactly when the order the processes impose on the
// writes (each session's writes and reads in its own order) has no cycle.
// Compare-and-set adds a "nothing in between" rule this does not check,
// so with cas a cycle is a violation and its absence proves nothing.
func (r *regKey) sequential(t *table, faults []history.FaultWindow) {
	g := newOrder()
	init := g.value(r.initial)
	for _, s := range r.sessions() {
		var prev *gop
		pv := r.initial
		for _, o := range s {
			if !o.isRead() && !r.happened(o) {
				continue
			}
			switch o.f {
			case "read":
				g.add(g.value(pv), g.value(o.val), prev, o)
			case "write":
				if pv == o.val && prev != nil {
					t.violate(Sequential, proof(r.key, faults, fmt.Sprintf("process %d read %s before writing it", o.p.inv.Process, describeValue(o.val)), prev, o))
				}
				g.add(g.value(pv), g.value(o.val), prev, o)
			case "cas":
				g.add(g.value(pv), g.value(o.old), prev, o)
				g.add(g.value(o.old), g.value(o.val), o, o)
			}
			prev, pv = o, o.val
		}
	}
	for _, v := range slices.Sorted(maps.Keys(r.writer)) {
		g.add(init, g.value(v), nil, nil)
	}
	if cyc := g.cycle(); cyc != nil {
		t.violate(Sequential, g.cycleProof(r.key, cyc, faults, "every process's own order"))
	}
	if r.cas {
		t.undecided(Sequential, "keys with compare-and-set are checked for violations only")
	}
}

// sessionChecks judges each session guarantee on its own, by its
// definition (Terry et al., 1994): each read sees some set of writes (the
// database of the server it reads from), the writes take effect in one
// order, and a read returns the last write it sees, or the initial value
// when it sees none. A guarantee says which writes a read must see, or
// how writes are ordered:
//   - read-your-writes: a read sees every earlier write of its session;
//   - monotonic reads: a read sees what the session's earlier reads saw;
//   - monotonic writes: a session's writes are ordered as it made them
//     (and a read that sees one sees those before it, which they precede);
//   - writes-follow-reads: a write comes after what its session read
//     before it (and a read that sees it sees those, which precede it).
//
// Each read then requires some writes to come no later than the one it
// returned; a guarantee is violated when no order of the writes meets
// every requirement (a cycle), or a read returned the initial value when
// it must see a write. The four together (causal) are judged on all of
// their requirements at once: a history can break them together and each
// alone hold (a process writes 2, then 4, then reads 2).
func (r *regKey) sessionChecks(t *table, faults []history.FaultWindow) {
	graphs := map[Guarantee]*order{}
	for _, g := range append([]Guarantee{Causal}, sessionGuarantees...) {
		if t.rows[g] != nil {
			graphs[g] = newOrder()
		}
	}
	for _, s := range r.sessions() {
		r.sessionRequires(s, graphs, t, faults)
	}
	for _, g := range append([]Guarantee{Causal}, sessionGuarantees...) {
		if o := graphs[g]; o != nil {
			if cyc := o.cycle(); cyc != nil {
				t.violate(g, o.cycleProof(r.key, cyc, faults, string(g)))
			}
		}
	}
}

// sessionRequires adds what one session requires of the order to the
// graph of each guarantee (Causal's gets every one), and records the
// reads of the initial value that a guarantee forbids.
func (r *regKey) sessionRequires(s []*gop, graphs map[Guarantee]*order, t *table, faults []history.FaultWindow) {
	add := func(g Guarantee, from, to func(*order) int, a, b *gop) {
		for _, h := range []Guarantee{g, Causal} {
			if o := graphs[h]; o != nil {
				o.add(from(o), to(o), a, b)
			}
		}
	}
	val := func(v int64) func(*order) int { return func(o *order) int { return o.value(v) } }
	// Points, one per graph: the session's writes so far (read-your-writes)
	// and the values it read so far (writes-follow-reads).
	wrote, read := map[*order]int{}, map[*order]int{}
	grow := func(g Guarantee, pts map[*order]int, v int64, a *gop) {
		for _, h := range []Guarantee{g, Causal} {
			o := graphs[h]
			if o == nil {
				continue
			}
			p := o.point()
			o.add(o.value(v), p, a, nil)
			if q, ok := pts[o]; ok {
				o.add(q, p, nil, nil)
			}
			pts[o] = p
		}
	}
	at := func(pts map[*order]int) func(*order) int { return func(o *order) int { return pts[o] } }
	var lastWrite, lastRead *gop // lastRead: the last read of a written value
	for _, o := range s {
		update := !o.isRead() && r.happened(o)
		if !o.isRead() && !update {
			continue
		}
		if o.isRead() || o.f == "cas" {
			v := o.valOrOld()
			if v == r.initial {
				if lastWrite != nil {
					r.forbid(ReadYourWrites, t, faults, fmt.Sprintf("process %d wrote %s, then read the initial value %s", o.p.inv.Process, describeValue(lastWrite.val), describeValue(v)), lastWrite, o)
				}
				if lastRead != nil {
					r.forbid(MonotonicReads, t, faults, fmt.Sprintf("process %d read %s, then the initial value %s", o.p.inv.Process, describeValue(lastRead.valOrOld()), describeValue(v)), lastRead, o)
				}
			} else {
				if lastWrite != nil {
					add(ReadYourWrites, at(wrote), val(v), lastWrite, o)
				}
				if lastRead != nil && lastRead.valOrOld() != v {
					add(MonotonicReads, val(lastRead.valOrOld()), val(v), lastRead, o)
				}
				grow(WritesFollowReads, read, v, o)
				lastRead = o
			}
		}
		if !update {
			continue
		}
		if lastRead != nil {
			add(WritesFollowReads, at(read), val(o.val), lastRead, o)
		}
		if lastWrite != nil {
			add(MonotonicWrites, val(lastWrite.val), val(o.val), lastWrite, o)
		}
		grow(ReadYourWrites, wrote, o.val, o)
		lastWrite = o
	}
}

// forbid records a read of the initial value that g (and so Causal)
// forbids.
func (r *regKey) forbid(g Guarantee, t *table, faults []history.FaultWindow, what string, ops ...*gop) {
	v := proof(r.key, faults, what, ops...)
	t.violate(g, v)
	t.violate(Causal, v)
}

// valOrOld is the value an operation read: a read's result, a cas's
// expected value.
func (o *gop) valOrOld() int64 {
	if o.f == "cas" {
		return o.old
	}
	return o.val
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
			st.stale(r.key, rd, newer, rd.p.start-newer.p.stop)
		}
	}
	// Latency of each acknowledged write: the last read begun after its
	// acknowledgement that returned a value written before it began.
	slices.SortFunc(reads, func(a, b *gop) int { return cmp.Compare(r.writeEnd(a.val), r.writeEnd(b.val)) })
	j := 0
	var latest int64 = -1
	for _, w := range acked {
		for j < len(reads) && r.writeEnd(reads[j].val) < w.p.call {
			latest = max(latest, reads[j].p.start)
			j++
		}
		st.latency(max(0, latest-w.p.stop))
	}
}
