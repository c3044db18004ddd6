package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"

	"github.com/faultline/faultline/history"
)

// The guarantees of a grow-only collection, key by key, shared by the set
// workload (set.go: adds of unique elements, whole-set reads) and the
// append workload (append.go: appends of unique elements, whole-list
// reads). Elements are unique, so every read says which updates it
// reflects.

// decodeCollection reads a collection operation's values: the element
// an update adds, what a successful read returned.
func decodeCollection(o *gop) error {
	if !o.read {
		if err := json.Unmarshal(o.p.inv.Value, &o.val); err != nil {
			return fmt.Errorf("%w: record %d: %s needs a number, got %s", ErrBadHistory, o.p.inv.Index, o.f, o.p.inv.Value)
		}
		return nil
	}
	if o.ok() {
		l, err := readList(o.p)
		if err != nil {
			return err
		}
		o.elems = l
	}
	return nil
}

// bitset is a read's elements, by their index in the key.
type bitset []uint64

func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

// firstMissing is the first element of a that b lacks, or -1.
func (a bitset) firstMissing(b bitset) int {
	for w := range a {
		if d := a[w] &^ b[w]; d != 0 {
			return w*64 + bits.TrailingZeros64(d)
		}
	}
	return -1
}

// collKey is one collection key's updates and reads, indexed.
type collKey struct {
	*keyOps
	list   bool
	elems  []int64       // index -> element
	index  map[int64]int // element -> index
	adder  map[int64]*gop
	failed map[int64]*gop
	seen   bitset // elements some read returned
	bits   map[*gop]bitset
	// seq is each happened update's place among its session's updates,
	// session the session it was made in (keys.sessions).
	seq, session map[int64]int
	// bySession lists each session's happened updates in order.
	bySession [][]*gop
	dup       bool
}

func newCollKey(k *keyOps, list bool) *collKey {
	c := &collKey{keyOps: k, list: list, index: map[int64]int{}, adder: map[int64]*gop{}, failed: map[int64]*gop{}, bits: map[*gop]bitset{}, seq: map[int64]int{}, session: map[int64]int{}}
	idx := func(v int64) int {
		i, ok := c.index[v]
		if !ok {
			i = len(c.elems)
			c.index[v] = i
			c.elems = append(c.elems, v)
		}
		return i
	}
	for _, o := range k.ops {
		switch {
		case o.isRead():
			for _, v := range o.elems {
				idx(v)
			}
		case o.p.typ == history.Fail:
			c.failed[o.val] = o
		default:
			if _, ok := c.adder[o.val]; ok {
				c.dup = true
			}
			c.adder[o.val] = o
			idx(o.val)
		}
	}
	words := (len(c.elems) + 63) / 64
	c.seen = make(bitset, words)
	for _, o := range k.ops {
		if o.isRead() && o.ok() {
			b := make(bitset, words)
			for _, v := range o.elems {
				i := c.index[v]
				b[i/64] |= 1 << (i % 64)
				c.seen[i/64] |= 1 << (i % 64)
			}
			c.bits[o] = b
		}
	}
	for i, s := range k.sessions() {
		c.bySession = append(c.bySession, nil)
		for _, o := range s {
			if !o.isRead() && c.happened(o) {
				c.seq[o.val], c.session[o.val] = len(c.bySession[i]), i
				c.bySession[i] = append(c.bySession[i], o)
			}
		}
	}
	return c
}

func (c *collKey) duplicated() string {
	if c.dup {
		return "an element was added more than once, so a read does not say which add it saw"
	}
	return ""
}

func (c *collKey) happened(o *gop) bool { return o.ok() || c.seen.has(c.index[o.val]) }

func (c *collKey) has(r *gop, v int64) bool {
	i, ok := c.index[v]
	return ok && c.bits[r].has(i)
}

// reads lists the successful reads, in order of invocation.
func (c *collKey) reads() []*gop {
	var out []*gop
	for _, o := range c.ops {
		if o.isRead() && o.ok() {
			out = append(out, o)
		}
	}
	return out
}

func (c *collKey) describeList(vs []int64) string {
	if c.list {
		return describeElemList(vs)
	}
	return describeSet(vs)
}

// describeSet writes a read set: "{1 2 3}", shortened past 12 elements.
func describeSet(vs []int64) string { return "{" + strings.Trim(describeElemList(vs), "[]") + "}" }

// examineCollection fills the table for one set or list key.
func examineCollection(k *keyOps, list bool, x *examination, final func(*gop) string) {
	c := newCollKey(k, list)
	c.values(x.t, x.faults)
	examineUnique(c, x.t, x.faults, x.st)
	x.cv.key(k.key, k.finalReads(), final)
}

// values: elements read more than once in one read, and elements no
// update could have put there, break every ordered guarantee.
func (c *collKey) values(t *table, faults []history.FaultWindow) {
	for _, r := range c.reads() {
		if countBits(c.bits[r]) != len(r.elems) {
			counts := map[int64]int{}
			for _, v := range r.elems {
				counts[v]++
			}
			var twice []int64
			for v, n := range counts {
				if n > 1 {
					twice = append(twice, v)
				}
			}
			slices.Sort(twice)
			t.violate(Sequential, proof(c.key, faults, describeElems("duplicated in one read", twice), r))
		}
		for _, v := range r.elems {
			if _, ok := c.adder[v]; ok {
				continue
			}
			what := fmt.Sprintf("read contains %d, which no operation added", v)
			ops := []*gop{r}
			if f, ok := c.failed[v]; ok {
				what = fmt.Sprintf("read contains %d, whose add failed (it certainly did not happen)", v)
				ops = []*gop{f, r}
			}
			t.violate(Sequential, proof(c.key, faults, what, ops...))
			break
		}
	}
}

func countBits(b bitset) int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// sequential decides sequential consistency of the key, exactly: the
// reads must be one chain (each set inside the next; each list a prefix
// of the longest), and no process may read an element before adding it.
// The other rules a sequential order imposes (each process's own reads
// and updates in order) are the session guarantees, checked exactly for
// collections; a violation of any of them is a violation of this one.
func (c *collKey) sequential(t *table, faults []history.FaultWindow) {
	reads := c.reads()
	if c.list {
		var longest *gop
		for _, r := range reads {
			if longest == nil || len(r.elems) > len(longest.elems) {
				longest = r
			}
		}
		for _, r := range reads {
			if i := prefixMismatch(r.elems, longest.elems); i >= 0 {
				t.violate(Sequential, proof(c.key, faults, fmt.Sprintf("two reads disagree on the order of the list at position %d: neither is a prefix of the other", i), r, longest))
				break
			}
		}
	} else {
		sorted := slices.Clone(reads)
		slices.SortStableFunc(sorted, func(a, b *gop) int { return cmp.Compare(countBits(c.bits[a]), countBits(c.bits[b])) })
		for i := 1; i < len(sorted); i++ {
			a, b := sorted[i-1], sorted[i]
			if m := c.bits[a].firstMissing(c.bits[b]); m >= 0 {
				n := c.bits[b].firstMissing(c.bits[a])
				what := fmt.Sprintf("two reads saw sets neither of which contains the other: one has %d, the other lacks it", c.elems[m])
				if n >= 0 {
					what += fmt.Sprintf(" and has %d, which the first lacks", c.elems[n])
				}
				t.violate(Sequential, proof(c.key, faults, what, a, b))
				break
			}
		}
	}
	for _, s := range c.sessions() {
		var lastRead *gop
		for _, o := range s {
			if o.isRead() {
				lastRead = o
				continue
			}
			if lastRead != nil && c.has(lastRead, o.val) {
				t.violate(Sequential, proof(c.key, faults, fmt.Sprintf("process %d read %d before adding it", o.p.inv.Process, o.val), lastRead, o))
			}
		}
	}
}

// prefixMismatch is the first position where a and b differ within the
// shorter of the two, or -1.
func prefixMismatch(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// sessionChecks checks read-your-writes and monotonic reads per process,
// and monotonic writes and writes-follow-reads across processes.
func (c *collKey) sessionChecks(t *table, faults []history.FaultWindow) {
	dep := c.ownSessions(t, faults)
	for _, r := range c.reads() {
		c.crossSessions(r, dep, t, faults)
	}
}

// ownSessions checks each session's own reads: read-your-writes (every
// acknowledged update of the session before a read is in it) and
// monotonic reads, each on its own. It returns, for each update, the read
// its session made just before it.
func (c *collKey) ownSessions(t *table, faults []history.FaultWindow) map[int64]*gop {
	dep := map[int64]*gop{}
	words := (len(c.elems) + 63) / 64
	for _, s := range c.sessions() {
		var own bitset // the session's acknowledged updates so far
		var last *gop
		for _, o := range s {
			if !o.isRead() {
				if o.ok() {
					if own == nil {
						own = make(bitset, words)
					}
					i := c.index[o.val]
					own[i/64] |= 1 << (i % 64)
				}
				if last != nil && c.happened(o) {
					dep[o.val] = last
				}
				continue
			}
			if m := own.firstMissing(c.bits[o]); own != nil && m >= 0 {
				w := c.adder[c.elems[m]]
				t.violate(ReadYourWrites, proof(c.key, faults, fmt.Sprintf("process %d's %s was acknowledged, yet a later read of its lacks %d", o.p.inv.Process, w.describe(), w.val), w, o))
			}
			if last != nil {
				c.monotonicRead(last, o, t, faults)
			}
			last = o
		}
	}
	return dep
}

// procView is what one read shows of one process's updates.
type procView struct {
	maxSeq, count int
	newest        *gop
	lastSeq       int
	outOfOrder    bool
}

// crossSessions checks what read r shows of every session's updates: in
// their order (monotonic writes), and only with the state each was made
// after (writes-follow-reads, through dep). Sessions are taken in order,
// so one history gives the same proofs.
func (c *collKey) crossSessions(r *gop, dep map[int64]*gop, t *table, faults []history.FaultWindow) {
	by := map[int]*procView{} // session -> what r shows of it
	for _, v := range r.elems {
		a, ok := c.adder[v]
		if !ok || !c.happened(a) {
			continue
		}
		sess, s := c.session[v], c.seq[v]
		tp := by[sess]
		if tp == nil {
			tp = &procView{maxSeq: -1, lastSeq: -1}
			by[sess] = tp
		}
		tp.count++
		if s < tp.lastSeq && c.list {
			tp.outOfOrder = true
		}
		tp.lastSeq = s
		if s > tp.maxSeq {
			tp.maxSeq, tp.newest = s, a
		}
	}
	for _, sess := range slices.Sorted(maps.Keys(by)) {
		tp := by[sess]
		pr := tp.newest.p.inv.Process
		if tp.outOfOrder {
			t.violate(MonotonicWrites, proof(c.key, faults, fmt.Sprintf("the list has process %d's appends out of the order it made them", pr), tp.newest, r))
		} else if tp.count < tp.maxSeq+1 {
			for _, a := range c.bySession[sess][:tp.maxSeq] {
				if !c.has(r, a.val) {
					t.violate(MonotonicWrites, proof(c.key, faults, fmt.Sprintf("process %d added %d then %d, yet a read has %d without %d", pr, a.val, tp.newest.val, tp.newest.val, a.val), a, tp.newest, r))
					break
				}
			}
		}
		d, ok := dep[tp.newest.val]
		if !ok || d.p.inv.Process == r.p.inv.Process {
			continue
		}
		if c.list {
			if i := prefixMismatch(d.elems, r.elems); i >= 0 || len(d.elems) > len(r.elems) {
				t.violate(WritesFollowReads, proof(c.key, faults, fmt.Sprintf("process %d read %s, then added %d; a read has %d but not that list before it", pr, c.describeList(d.elems), tp.newest.val, tp.newest.val), d, tp.newest, r))
			}
		} else if m := c.bits[d].firstMissing(c.bits[r]); m >= 0 {
			t.violate(WritesFollowReads, proof(c.key, faults, fmt.Sprintf("process %d read %d, then added %d; a read has %d but not %d", pr, c.elems[m], tp.newest.val, tp.newest.val, c.elems[m]), d, tp.newest, r))
		}
	}
}

// monotonicRead checks that read b, after read a of the same process,
// still holds all of a (as a prefix, for a list).
func (c *collKey) monotonicRead(a, b *gop, t *table, faults []history.FaultWindow) {
	if c.list {
		if i := prefixMismatch(a.elems, b.elems); i >= 0 || len(a.elems) > len(b.elems) {
			t.violate(MonotonicReads, proof(c.key, faults, fmt.Sprintf("process %d read %s, then %s, which does not extend it", b.p.inv.Process, describeElemList(a.elems), describeElemList(b.elems)), a, b))
		}
		return
	}
	if m := c.bits[a].firstMissing(c.bits[b]); m >= 0 {
		t.violate(MonotonicReads, proof(c.key, faults, fmt.Sprintf("process %d read %d, then a set without it", b.p.inv.Process, c.elems[m]), a, b))
	}
}

// lost: acknowledged updates missing from a final read.
func (c *collKey) lost(t *table, faults []history.FaultWindow) {
	final := c.finalReads()
	final = lastPerNode(final)
	if len(final) == 0 {
		t.undecided(NoLostWrites, "some keys have no successful read made after their updates and the faults ended")
		return
	}
	for _, f := range final {
		var lost []int64
		var first *gop
		for _, a := range c.adder {
			if a.ok() && a.p.ret < f.p.call && !c.has(f, a.val) {
				lost = append(lost, a.val)
				if first == nil || a.p.ret < first.p.ret {
					first = a
				}
			}
		}
		if len(lost) > 0 {
			t.violate(NoLostWrites, proof(c.key, faults, fmt.Sprintf("final read%s: %s", onNode(f.p.inv.Node), describeElems("acknowledged updates missing", lost)), first, f))
		}
	}
}

// staleness measures, for each acknowledged update, how long after its
// acknowledgement reads still lacked it (0: every later read had it), and
// records the stale reads, each with the oldest update it missed.
// Updates missing from the last read are lost, not late: they are left
// out of the latencies.
func (c *collKey) staleness(st *staleAcc) {
	var acked []*gop
	for _, a := range c.adder {
		if a.ok() {
			acked = append(acked, a)
		}
	}
	if len(acked) == 0 {
		return
	}
	slices.SortFunc(acked, func(a, b *gop) int { return cmp.Compare(a.p.ret, b.p.ret) })
	late := make([]int64, len(acked))
	reads := c.reads()
	var last *gop
	for _, r := range reads {
		if last == nil || r.p.call > last.p.call {
			last = r
		}
	}
	for _, r := range reads {
		var worst *gop
		for i, a := range acked {
			if a.p.ret >= r.p.call {
				break
			}
			if !c.has(r, a.val) {
				late[i] = max(late[i], r.p.start-a.p.stop)
				if worst == nil {
					worst = a
				}
			}
		}
		if worst != nil {
			st.stale(c.key, r, worst, r.p.start-worst.p.stop)
		}
	}
	for i, a := range acked {
		if last != nil && a.p.ret < last.p.call && !c.has(last, a.val) {
			continue
		}
		st.latency(late[i])
	}
}
