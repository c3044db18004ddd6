// Package nemesis holds faultline's fault catalogue: network partitions,
// expressed as directed grudges (optionally scoped to ports and protocols),
// gray links (loss, delay, duplication, reordering, corruption, rate caps),
// and process faults (kill, pause, restart the cluster). Network faults are
// installed inside each node's own network namespace, as an nftables table
// and qdiscs that faultline owns; process faults act through Processes.
//
// Data enters as a Spec (catalog.go: the one list of kinds, with every
// rule of each), validated against the cluster and what the system
// supports and built into a Fault, a plan that holds no state; injecting
// it returns the Injected in force, which recovers itself (faults.go). A
// Schedule (schedule.go) says when each fault starts and ends: a pure
// Plan, which Play runs against the cluster, telling an Observer. A
// partition's Grudge (which node drops packets from which nodes) is built
// by a Shape from the node names and a seeded random source, and the Net
// applies the desired state to the nodes' namespaces through an Agent per
// node (from here, or a helper container's), verifies it with probes and
// heals them. Nothing here knows Docker: a Node is a name, an address and
// the path of a network namespace (/proc/PID/ns/net for a container,
// /run/netns/NAME for a test).
package nemesis

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Grudge is a directed partition: each node maps to the nodes whose packets
// it drops. A symmetric cut between a and b is {a: [b], b: [a]}; a one-way
// cut that keeps a's packets from reaching b is {b: [a]}.
type Grudge map[string][]string

// Validate checks that every node the grudge names is in nodes and that no
// node holds a grudge against itself (nil nodes: names are not checked).
// The error is a *FieldError naming the grudge's entry.
func (g Grudge) Validate(nodes []string) error {
	known := func(n string) bool { return nodes == nil || slices.Contains(nodes, n) }
	for _, dst := range slices.Sorted(maps.Keys(g)) {
		if !known(dst) {
			return &FieldError{Field: "grudge", Msg: fmt.Sprintf("no node %q in this cluster (nodes are %s)", dst, strings.Join(nodes, ", ")), Err: ErrUnknownNode}
		}
		for _, src := range g[dst] {
			if !known(src) {
				return &FieldError{Field: "grudge." + dst, Msg: fmt.Sprintf("%q cannot be dropped by %s: no such node", src, dst), Err: ErrUnknownNode}
			}
			if src == dst {
				return fieldErr("grudge."+dst, "%q cannot be dropped by %s: a node cannot drop its own packets", src, dst)
			}
		}
	}
	return nil
}

// String prints the grudge in a stable order: "n1<-[n2 n3] n2<-[n1]".
func (g Grudge) String() string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s<-%v", k, g[k])
	}
	return b.String()
}

// Complete is the symmetric grudge that cuts every node of a from every
// node of b.
func Complete(a, b []string) Grudge {
	g := Grudge{}
	for _, x := range a {
		g[x] = append(g[x], b...)
	}
	for _, y := range b {
		g[y] = append(g[y], a...)
	}
	return g
}

// Describe says what a grudge does in the fewest words: "n1 | n2 n3" when
// the nodes fall into groups cut off from every other group both ways
// (isolate, halves), with "n4 sees all" for nodes nobody is cut from (a
// bridge), and the directed form of String otherwise.
func (g Grudge) Describe(nodes []string) string {
	if len(g) == 0 {
		return "healed"
	}
	dropped := map[string]bool{}
	for _, srcs := range g {
		for _, s := range srcs {
			dropped[s] = true
		}
	}
	var cut, free []string
	for _, n := range nodes {
		if len(g[n]) == 0 && !dropped[n] {
			free = append(free, n)
		} else {
			cut = append(cut, n)
		}
	}
	groups := map[string][]string{} // drop set -> nodes that drop exactly it
	var order []string
	for _, n := range cut {
		drops := slices.Clone(g[n])
		slices.Sort(drops)
		key := strings.Join(drops, " ")
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], n)
	}
	if len(order) < 2 {
		return g.String()
	}
	var parts []string
	for _, key := range order {
		members := groups[key]
		// Symmetric groups: a group drops exactly the cut nodes outside it.
		var outside []string
		for _, n := range cut {
			if !slices.Contains(members, n) {
				outside = append(outside, n)
			}
		}
		if strings.Join(outside, " ") != key {
			return g.String()
		}
		parts = append(parts, strings.Join(members, " "))
	}
	s := strings.Join(parts, " | ")
	if len(free) > 0 {
		s += ", " + strings.Join(free, " ") + " sees all"
	}
	return s
}
