package checker

import (
	"fmt"
	"slices"

	"github.com/faultline/faultline/history"
)

// order holds what a guarantee requires of the order in which one key's
// writes took effect: an edge x -> y says "x comes no later than y".
// Its nodes are the values written (unique, so a value names its write)
// and points: a point stands for a set of writes (those a session made or
// read so far), an edge into it says "x is in the set", one out of it
// "every write of the set comes no later than y". So every path from one
// value to another requires the first to come no later than the second,
// and a cycle through two values requires two writes each before the
// other: no order satisfies it. Points keep the edges linear in the
// operations where "every earlier write of the session" would need one
// edge per pair.
type order struct {
	values []int64 // node -> its value; nilValue for a point
	isVal  []bool
	id     map[int64]int
	edges  [][]orderEdge
}

// orderEdge leads to a node; a and b are the operations that require it
// (either may be nil).
type orderEdge struct {
	to   int
	a, b *gop
}

func newOrder() *order { return &order{id: map[int64]int{}} }

// value is the node of a value.
func (g *order) value(v int64) int {
	if n, ok := g.id[v]; ok {
		return n
	}
	n := g.node(v, true)
	g.id[v] = n
	return n
}

// point is a new point.
func (g *order) point() int { return g.node(nilValue, false) }

func (g *order) node(v int64, val bool) int {
	g.values = append(g.values, v)
	g.isVal = append(g.isVal, val)
	g.edges = append(g.edges, nil)
	return len(g.values) - 1
}

// add requires from to come no later than to, because of a and b.
func (g *order) add(from, to int, a, b *gop) {
	if from != to {
		g.edges[from] = append(g.edges[from], orderEdge{to, a, b})
	}
}

// cycle returns the edges of a cycle through two values, as a path from
// the first value back to it (each edge's to is the node it reaches), or
// nil when the requirements can all be met. The cycle is short (a
// shortest path from the first value of a strongly connected part to the
// nearest other value, and back) and the same for one history.
func (g *order) cycle() []orderEdge {
	for _, comp := range g.components() {
		vals := 0
		for _, n := range comp {
			if g.isVal[n] {
				vals++
			}
		}
		if vals < 2 {
			continue
		}
		in := map[int]bool{}
		for _, n := range comp {
			in[n] = true
		}
		start := slices.Min(slices.DeleteFunc(slices.Clone(comp), func(n int) bool { return !g.isVal[n] }))
		there := g.path(start, func(n int) bool { return n != start && g.isVal[n] }, in)
		back := g.path(there[len(there)-1].to, func(n int) bool { return n == start }, in)
		return append(there, back...)
	}
	return nil
}

// path is a shortest path from start to the first node that is the goal,
// within in (breadth first, edges in the order they were added).
func (g *order) path(start int, goal func(int) bool, in map[int]bool) []orderEdge {
	type step struct {
		from int
		e    orderEdge
	}
	came := map[int]step{start: {from: -1}}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range g.edges[v] {
			if goal(e.to) {
				out := []orderEdge{e}
				for at := v; at != start; at = came[at].from {
					out = append(out, came[at].e)
				}
				slices.Reverse(out)
				return out
			}
			if _, seen := came[e.to]; seen || !in[e.to] {
				continue
			}
			came[e.to] = step{v, e}
			queue = append(queue, e.to)
		}
	}
	return nil
}

// components are the graph's strongly connected parts with more than one
// node, in the order of their first node (Tarjan's algorithm, iterative
// so that a long session does not exhaust the stack).
func (g *order) components() [][]int {
	n := len(g.values)
	index, low := make([]int, n), make([]int, n)
	for i := range index {
		index[i] = -1
	}
	onStack := make([]bool, n)
	var stack []int
	var out [][]int
	next := 0
	type frame struct{ v, e int }
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		calls := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			if f.e < len(g.edges[f.v]) {
				w := g.edges[f.v][f.e].to
				f.e++
				switch {
				case index[w] < 0:
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					calls = append(calls, frame{w, 0})
				case onStack[w]:
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				p := calls[len(calls)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				slices.Sort(comp)
				out = append(out, comp)
			}
		}
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}

// cycleProof is the violation a cycle proves: the values it runs
// through and the operations that require each step.
func (g *order) cycleProof(key string, cyc []orderEdge, faults []history.FaultWindow, why string) Violation {
	var ops []*gop
	for _, e := range cyc {
		for _, o := range []*gop{e.a, e.b} {
			if o != nil && !slices.Contains(ops, o) {
				ops = append(ops, o)
			}
		}
	}
	var vals []int64
	for _, e := range cyc {
		if g.isVal[e.to] {
			vals = append(vals, g.values[e.to])
		}
	}
	chain := describeValue(vals[len(vals)-1])
	for i, v := range vals {
		if i == 12 {
			chain += fmt.Sprintf(" → ... (%d more)", len(vals)-i)
			break
		}
		chain += " → " + describeValue(v)
	}
	what := fmt.Sprintf("no order of the writes fits %s: it requires %s", why, chain)
	if len(ops) > 8 {
		what += fmt.Sprintf("; the first 8 of the %d operations that require it", len(ops))
		ops = ops[:8]
	}
	return proof(key, faults, what, ops...)
}
