package history

import (
	"cmp"
	"fmt"
	"slices"
)

// Op is one client operation: its invocation and how it ended. Pair makes
// them, once per history, for the checker, the report and the timeline.
type Op struct {
	// Invoke is the invocation; Done its completion, nil for an
	// invocation the history never completes (the harness stopped first).
	// Both point into the records paired.
	Invoke, Done *Record
	// Call and Return are the invocation's and the completion's times
	// made distinct (Return is 0 with no completion): records at one
	// time keep the history's order, each a nanosecond after the one
	// before it, so that a completion written before an invocation at the
	// same time still precedes it. The checker orders operations by
	// these; what draws the history may use the records' own times.
	Call, Return int64
}

// Type is how the operation ended: OK, Fail or Info (unknown, and also
// for an invocation never completed).
func (o Op) Type() Type {
	if o.Done == nil {
		return Info
	}
	return o.Done.Type
}

// PairError is a record that does not pair: a completion that matches no
// invocation (none open, another operation, an earlier time), or an
// invocation while the process still has one open.
type PairError struct {
	Index int64 // the record's
	Msg   string
}

func (e *PairError) Error() string { return fmt.Sprintf("record %d: %s", e.Index, e.Msg) }

// Pair pairs each client invocation with its process's next completion,
// in order of invocation; nemesis events are not operations. It returns
// every operation it could pair and, with them, a *PairError naming the
// first record that does not fit: a caller that draws the
// history may go on with the operations, one that judges it may not.
// Past such a record pairing goes on: an invocation made while another is
// open leaves the earlier one never completed, a completion with none
// open is left out.
func Pair(recs []Record) ([]Op, error) {
	var first error
	bad := func(r *Record, format string, args ...any) {
		if first == nil {
			first = &PairError{Index: r.Index, Msg: fmt.Sprintf(format, args...)}
		}
	}
	ops := make([]Op, 0, len(recs)/2)
	open := map[Process]int{} // process -> its open operation in ops
	at := distinctTimes(recs)
	for i := range recs {
		r := &recs[i]
		if r.Process == Nemesis {
			continue
		}
		if r.Type == Invoke {
			if j, ok := open[r.Process]; ok {
				bad(r, "process %s invokes again while record %d is still open", r.Process, ops[j].Invoke.Index)
			}
			open[r.Process] = len(ops)
			ops = append(ops, Op{Invoke: r, Call: at[i]})
			continue
		}
		j, ok := open[r.Process]
		if !ok {
			bad(r, "%s completion of process %s with no invoke", r.Type, r.Process)
			continue
		}
		delete(open, r.Process)
		inv := ops[j].Invoke
		if inv.F != r.F || inv.Key != r.Key {
			bad(r, "completes %s %s but process %s invoked %s %s", r.F, r.Key, r.Process, inv.F, inv.Key)
		}
		if r.Time < inv.Time {
			bad(r, "completes at %d ns, before its invocation (record %d) at %d ns", r.Time, inv.Index, inv.Time)
		}
		ops[j].Done, ops[j].Return = r, at[i]
	}
	return ops, first
}

// End is the time of the history's last record (0 for none).
func End(recs []Record) int64 {
	var end int64
	for i := range recs {
		end = max(end, recs[i].Time)
	}
	return end
}

// distinctTimes is each record's time, made strictly increasing in the
// order of (time, place in the history): a record at the time of the one
// before it, or earlier than that one's adjusted time, is put a
// nanosecond after it. Records out of time order are sorted first, so
// only ties take the history's order.
func distinctTimes(recs []Record) []int64 {
	at := make([]int64, len(recs))
	order := make([]int, 0)
	if !slices.IsSortedFunc(recs, func(a, b Record) int { return cmp.Compare(a.Time, b.Time) }) {
		order = make([]int, len(recs))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(recs[a].Time, recs[b].Time) })
	}
	var last int64
	for n := range recs {
		i := n
		if len(order) > 0 {
			i = order[n]
		}
		t := recs[i].Time
		if n > 0 && t <= last {
			t = last + 1
		}
		at[i], last = t, t
	}
	return at
}
