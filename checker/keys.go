package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/history"
)

// pairedOp is one operation's records and times: its invoke and how it
// ended. An invoke that never completed (the harness stopped) ends Info.
// ret is math.MaxInt64 when the outcome is unknown.
type pairedOp struct {
	inv       *history.Record // points into the records checked
	typ       history.Type    // OK, Fail or Info
	out       json.RawMessage
	call, ret int64
	// done is when the completion was recorded, even for an unknown
	// outcome (the end of the history for an invoke never completed).
	done int64
	// call, ret and done order operations: they are the records' times
	// made distinct (history.Op.Call). start and stop are the records'
	// own times (stop: done's), from which durations are measured.
	start, stop int64
}

// gop is one operation as every check sees it: decoded once.
type gop struct {
	p    *pairedOp
	f    string // the operation's name
	read bool   // it only reads (Operation.Read)
	val  int64  // written, added or appended value; cas: the new value; a register or counter read: what it returned
	old  int64  // cas: the expected value
	// elems is what a set or list read returned, in order.
	elems []int64
}

func (o *gop) ok() bool      { return o.p.typ == history.OK }
func (o *gop) unknown() bool { return o.p.typ == history.Info }
func (o *gop) isRead() bool  { return o.read }

// ref names the operation for people.
func (o *gop) ref() OpRef {
	r := OpRef{Description: o.describe(), Process: int(o.p.inv.Process), Node: o.p.inv.Node, Invoked: seconds(o.p.start), Completed: seconds(o.p.stop)}
	if o.p.ret == math.MaxInt64 {
		r.Completed = -1
	}
	return r
}

func (o *gop) describe() string {
	q := ""
	switch o.p.typ {
	case history.Info:
		q = " (outcome unknown)"
	case history.Fail:
		q = " (failed)"
	}
	switch o.f {
	case "read":
		if o.elems != nil {
			return "read() -> " + describeElemList(o.elems)
		}
		return "read() -> " + describeValue(o.val)
	case "cas":
		return fmt.Sprintf("cas(%s -> %s)%s", describeValue(o.old), describeValue(o.val), q)
	}
	return fmt.Sprintf("%s(%s)%s", o.f, describeValue(o.val), q)
}

// describeElemList writes a read list, shortened past 12 elements.
func describeElemList(vs []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vs {
		if i == 12 {
			fmt.Fprintf(&b, " ... %d more", len(vs)-i)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// keyOps is one key's operations (failed ones included, marked), in order
// of invocation, with the time after which the key saw no more updates.
type keyOps struct {
	key string
	ops []*gop
	// settled is when the last update on the key completed (or gave up),
	// or the last fault ended, whichever is later: reads invoked after it
	// are the key's final reads.
	settled int64
}

// checked is a history as the checks read it: paired and decoded once,
// by key.
type checked struct {
	keys   map[string]*keyOps
	all    []gop // every operation, in order of invocation
	faults []history.FaultWindow
	counts Counts
	nodes  []string // every node an operation names, sorted
	end    int64    // the time of the last record
	// exercised: some operation that shows the state succeeded (a read,
	// a compare-and-set; any, for a workload with no read).
	exercised bool
}

// read pairs a history's operations (history.Pair), counts them, and
// decodes each once with the workload's operations and values.
func read(records []history.Record, w *Workload) (*checked, error) {
	ops, err := history.Pair(records)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadHistory, err)
	}
	h := &checked{keys: map[string]*keyOps{}, all: make([]gop, len(ops)), faults: history.FaultWindows(records), end: history.End(records)}
	h.counts.Faults = len(h.faults)
	var faultEnd int64
	for _, f := range h.faults {
		faultEnd = max(faultEnd, f.End)
	}
	nodes := map[string]bool{}
	paired := make([]pairedOp, len(ops))
	for i, op := range ops {
		p := &paired[i]
		*p = pairedOp{inv: op.Invoke, typ: op.Type(), call: op.Call, ret: math.MaxInt64, done: h.end, start: op.Invoke.Time, stop: h.end}
		h.counts.Invoke++
		if d := op.Done; d != nil {
			p.out, p.ret, p.done, p.stop = d.Value, op.Return, op.Return, d.Time
			switch d.Type {
			case history.OK:
				h.counts.OK++
			case history.Fail:
				h.counts.Fail++
			case history.Info:
				h.counts.Info++
			}
		}
		if p.typ == history.Info {
			p.ret = math.MaxInt64
		}
		nodes[p.inv.Node] = true
		o := &h.all[i]
		*o = gop{p: p, f: p.inv.F}
		spec, ok := w.Op(o.f)
		if !ok {
			return nil, fmt.Errorf("%w: record %d: unknown %s operation %q", ErrBadHistory, p.inv.Index, w.name, o.f)
		}
		o.read = spec.Read
		h.exercised = h.exercised || p.typ == history.OK && (spec.Read || spec.Shows || !w.hasRead())
		if err := w.decode(o); err != nil {
			return nil, err
		}
		k := h.keys[p.inv.Key]
		if k == nil {
			k = &keyOps{key: p.inv.Key, settled: faultEnd}
			h.keys[p.inv.Key] = k
		}
		k.ops = append(k.ops, o)
		if !o.read {
			k.settled = max(k.settled, p.done) // an update's completion, or when it gave up
		}
	}
	for _, k := range h.keys {
		slices.SortStableFunc(k.ops, func(a, b *gop) int { return cmp.Compare(a.p.call, b.p.call) })
	}
	h.nodes = slices.Sorted(maps.Keys(nodes))
	return h, nil
}

// sessions splits a key's operations into sessions, each in its order.
// A session is a process's operations up to and including an update
// whose outcome is unknown: that update may still take effect after the
// process's next operations, so those begin a new session (as Jepsen
// gives a process a new id after an unknown outcome; other tools keep
// the id). Failed operations are left out (they did not happen); so are
// reads whose outcome is unknown (they observed nothing).
func (k *keyOps) sessions() [][]*gop {
	open := map[history.Process]int{} // process -> its session in out
	var out [][]*gop
	for _, o := range k.ops {
		if o.p.typ == history.Fail || o.isRead() && !o.ok() {
			continue
		}
		pr := o.p.inv.Process
		i, ok := open[pr]
		if !ok {
			i = len(out)
			open[pr] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], o)
		if o.unknown() {
			delete(open, pr)
		}
	}
	return out
}

// finalReads lists the key's successful reads invoked after it settled.
func (k *keyOps) finalReads() []*gop {
	var out []*gop
	for _, o := range k.ops {
		if o.isRead() && o.ok() && o.p.call > k.settled {
			out = append(out, o)
		}
	}
	return out
}

// lastPerNode keeps the last final read of each node: the state it
// settled on, once the rounds of final reads ended.
func lastPerNode(final []*gop) []*gop {
	last := map[string]*gop{}
	var order []string
	for _, o := range final {
		n := o.p.inv.Node
		if l, ok := last[n]; !ok || o.p.ret > l.p.ret {
			if !ok {
				order = append(order, n)
			}
			last[n] = o
		}
	}
	out := make([]*gop, len(order))
	for i, n := range order {
		out[i] = last[n]
	}
	return out
}

// faultsDuring adds to labels the faults in force at some time from
// from to to, each once.
func faultsDuring(faults []history.FaultWindow, from, to int64, labels []string) []string {
	for _, w := range faults {
		if w.Start <= to && from <= w.End && !slices.Contains(labels, w.Label) {
			labels = append(labels, w.Label)
		}
	}
	return labels
}

// proof builds a violation of ops, naming the faults in force while any
// of them ran (from its invocation to its completion, or the end of the
// history for an unknown outcome).
func proof(key string, faults []history.FaultWindow, what string, ops ...*gop) Violation {
	v := Violation{Key: key, What: what}
	var labels []string
	for _, o := range ops {
		v.Ops = append(v.Ops, o.ref())
		labels = faultsDuring(faults, o.p.call, o.p.ret, labels)
	}
	v.Fault = strings.Join(labels, "; ")
	return v
}

// readList decodes a read's list of numbers.
func readList(p *pairedOp) ([]int64, error) {
	list := []int64{}
	if err := json.Unmarshal(p.out, &list); err != nil {
		return nil, fmt.Errorf("%w: record %d: read needs a list, got %s", ErrBadHistory, p.inv.Index, p.out)
	}
	return list, nil
}

// uniqueKey is one key of a workload whose updates write unique values (a
// register, a set, a list), so that a read names the updates it saw.
type uniqueKey interface {
	// duplicated says why a read cannot name its update ("" when it can).
	duplicated() string
	sequential(t *table, faults []history.FaultWindow)
	sessionChecks(t *table, faults []history.FaultWindow)
	lost(t *table, faults []history.FaultWindow)
	staleness(st *staleAcc)
}

// examineUnique runs a unique-valued key's checks; without unique values
// the ordered guarantees are undecided rather than guessed.
func examineUnique(k uniqueKey, t *table, faults []history.FaultWindow, st *staleAcc) {
	if why := k.duplicated(); why != "" {
		for _, g := range append([]Guarantee{Sequential, Causal}, sessionGuarantees...) {
			t.undecided(g, why)
		}
	} else {
		k.sequential(t, faults)
		k.sessionChecks(t, faults)
	}
	k.lost(t, faults)
	k.staleness(st)
}
