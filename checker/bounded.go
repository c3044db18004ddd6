package checker

import (
	"fmt"
	"time"
)

// boundedStaleness is judged over the whole history, from the stale reads
// the per-key checks of the workloads that measure staleness found: it
// holds when no read began longer than its bound after an update it
// missed was acknowledged. Without a bound it is not examined.
var boundedStaleness = &guarantee{
	name: BoundedStaleness,
	doc:  "once acknowledged, a write is seen by every read within checker.staleness_bound",
	bound: &Bound{Guarantee: BoundedStaleness, Field: "staleness_bound", Flag: "staleness-bound", Example: "1s",
		Doc: "how soon every read must see an acknowledged update"},
	whole: &wholeCheck{
		examines: func(w *Workload) bool { return w.stale },
		check:    bounded,
	},
}

// bounded writes the bounded-staleness row: violated by every stale read
// that missed an update acknowledged longer than bound before it began.
func bounded(h *whole, bound time.Duration, t *table) {
	st := h.stale
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
