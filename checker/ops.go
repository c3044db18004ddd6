package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/history"
)

// gop is one operation as the guarantee checks see it: decoded once, for
// every workload.
type gop struct {
	p   *pairedOp
	f   string // read, write, cas, add, append
	val int64  // written, added or appended value; cas: the new value; a register or counter read: what it returned
	old int64  // cas: the expected value
	// elems is what a set or list read returned, in order.
	elems []int64
}

func (o *gop) ok() bool      { return o.p.typ == history.OK }
func (o *gop) unknown() bool { return o.p.typ == history.Info }
func (o *gop) isRead() bool  { return o.f == "read" }

// ref names the operation for people.
func (o *gop) ref() OpRef {
	r := OpRef{Description: o.describe(), Process: int(o.p.inv.Process), Node: o.p.inv.Node, Invoked: seconds(o.p.call), Completed: seconds(o.p.ret)}
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

// decodeOps decodes a history's operations per key with decode (which
// knows the workload's values). Updates are every f but "read".
func decodeOps(paired []pairedOp, faults []history.FaultWindow, decode func(p *pairedOp) (*gop, error)) (map[string]*keyOps, error) {
	var faultEnd int64
	for _, w := range faults {
		faultEnd = max(faultEnd, w.End)
	}
	perKey := map[string]*keyOps{}
	for i := range paired {
		p := &paired[i]
		o, err := decode(p)
		if err != nil {
			return nil, err
		}
		k := perKey[p.inv.Key]
		if k == nil {
			k = &keyOps{key: p.inv.Key, settled: faultEnd}
			perKey[p.inv.Key] = k
		}
		k.ops = append(k.ops, o)
		if !o.isRead() {
			end := p.ret
			if end == math.MaxInt64 {
				end = p.done
			}
			k.settled = max(k.settled, end)
		}
	}
	for _, k := range perKey {
		slices.SortFunc(k.ops, func(a, b *gop) int { return cmp.Compare(a.p.call, b.p.call) })
	}
	return perKey, nil
}

// sessions splits a key's operations by process, each in its own order.
// Failed operations are left out (they did not happen); so are reads
// whose outcome is unknown (they observed nothing).
func (k *keyOps) sessions() [][]*gop {
	by := map[history.Process][]*gop{}
	var order []history.Process
	for _, o := range k.ops {
		if o.p.typ == history.Fail || o.isRead() && !o.ok() {
			continue
		}
		pr := o.p.inv.Process
		if _, ok := by[pr]; !ok {
			order = append(order, pr)
		}
		by[pr] = append(by[pr], o)
	}
	out := make([][]*gop, len(order))
	for i, pr := range order {
		out[i] = by[pr]
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

// faultAt names the fault in force at t, "" for none.
func faultAt(faults []history.FaultWindow, t int64) string {
	for _, w := range faults {
		if w.Start <= t && t <= w.End {
			return w.Label
		}
	}
	return ""
}

// proof builds a violation of ops, naming the fault in force when the
// last one was invoked.
func proof(key string, faults []history.FaultWindow, what string, ops ...*gop) Violation {
	v := Violation{Key: key, What: what}
	var last int64
	for _, o := range ops {
		v.Ops = append(v.Ops, o.ref())
		last = max(last, o.p.call)
	}
	v.Fault = faultAt(faults, last)
	return v
}

// readList decodes a read's list of numbers.
func readList(p *pairedOp) ([]int64, error) {
	list := []int64{}
	if err := json.Unmarshal(p.out, &list); err != nil {
		return nil, fmt.Errorf("%w: record %d: read needs a list of numbers, got %s", ErrBadHistory, p.inv.Index, p.out)
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
		for _, g := range append([]Guarantee{Sequential}, sessionGuarantees...) {
			t.undecided(g, why)
		}
	} else {
		k.sequential(t, faults)
		k.sessionChecks(t, faults)
	}
	k.lost(t, faults)
	k.staleness(st)
}
