package checker

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Explanation says why a key is not linearizable, in the terms of the
// history: the operation that cannot be placed, what ran concurrently with
// it, and the last state every operation before it agrees on.
type Explanation struct {
	// Operation is the operation no linearization can place.
	Operation OpRef `json:"operation"`
	// LastState is the model's state after the longest prefix that could be
	// linearized.
	LastState string `json:"last_state"`
	// Linearized counts the operations of that prefix.
	Linearized int `json:"linearized"`
	// LastLinearized is the last operation of that prefix.
	LastLinearized *OpRef `json:"last_linearized,omitempty"`
	// Concurrent lists operations whose interval overlaps the failing one
	// (at most ten, earliest first).
	Concurrent []OpRef `json:"concurrent,omitempty"`
}

// OpRef names one operation of the history.
type OpRef struct {
	Description string `json:"description"`
	Process     int    `json:"process"`
	Node        string `json:"node,omitempty"`
	// Invoked and Completed are seconds on the history's clock (from the
	// workload's start in a faultline run); Completed is
	// -1 for an operation whose outcome is unknown.
	Invoked   float64 `json:"invoked_s"`
	Completed float64 `json:"completed_s"`
}

// span is when the operation ran, in ns (to the end of time for an
// unknown outcome).
func (o OpRef) span() (from, to int64) {
	if o.Completed < 0 {
		return int64(o.Invoked * 1e9), math.MaxInt64
	}
	return int64(o.Invoked * 1e9), int64(o.Completed * 1e9)
}

func (o OpRef) String() string {
	done := fmt.Sprintf("%.3fs", o.Completed)
	if o.Completed < 0 {
		done = "never"
	}
	on := ""
	if o.Node != "" {
		on = " on " + o.Node
	}
	return fmt.Sprintf("%s by process %d%s, invoked %.3fs, completed %s", o.Description, o.Process, on, o.Invoked, done)
}

// String is the explanation as a few lines for the terminal.
func (e *Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot linearize %s\n", e.Operation)
	if e.LastLinearized != nil {
		fmt.Fprintf(&b, "last consistent state: %s, after %d operations ending with %s\n", e.LastState, e.Linearized, e.LastLinearized)
	} else {
		fmt.Fprintf(&b, "last consistent state: %s (the initial state)\n", e.LastState)
	}
	for _, c := range e.Concurrent {
		fmt.Fprintf(&b, "concurrent: %s\n", c)
	}
	return strings.TrimRight(b.String(), "\n")
}

// explain builds an Explanation from porcupine's partial linearizations:
// the longest prefix it could linearize, the state after it, and among the
// operations left the one that must come next by real time (the earliest
// to complete) yet fits nowhere.
func explain(model porcupine.Model, ops []porcupine.Operation, info porcupine.LinearizationInfo) *Explanation {
	parts := info.PartialLinearizations()
	if len(parts) == 0 || len(ops) == 0 {
		return nil
	}
	var longest []int
	for _, l := range parts[0] {
		if len(l) > len(longest) {
			longest = l
		}
	}
	end := int64(0)
	for _, op := range ops {
		if op.Return > end {
			end = op.Return
		}
	}
	ref := func(op porcupine.Operation) OpRef {
		r := OpRef{Description: model.DescribeOperation(op.Input, op.Output), Process: op.ClientId, Invoked: seconds(op.Call), Completed: seconds(op.Return)}
		if node, ok := op.Metadata.(string); ok {
			r.Node = node
		}
		if op.Return >= end && isUnknown(op) {
			r.Completed = -1
		}
		return r
	}
	state := model.Init()
	for _, id := range longest {
		_, state = model.Step(state, ops[id].Input, ops[id].Output)
	}
	e := &Explanation{LastState: model.DescribeState(state), Linearized: len(longest)}
	if len(longest) > 0 {
		last := ref(ops[longest[len(longest)-1]])
		e.LastLinearized = &last
	}
	done := map[int]bool{}
	for _, id := range longest {
		done[id] = true
	}
	failing := -1
	for i, op := range ops {
		if !done[i] && (failing < 0 || op.Return < ops[failing].Return) {
			failing = i
		}
	}
	if failing < 0 {
		return nil
	}
	e.Operation = ref(ops[failing])
	f := ops[failing]
	var conc []int
	for i, op := range ops {
		if i != failing && op.Call <= f.Return && op.Return >= f.Call {
			conc = append(conc, i)
		}
	}
	slices.SortFunc(conc, func(a, b int) int { return int(ops[a].Call - ops[b].Call) })
	for _, i := range conc[:min(len(conc), 10)] {
		e.Concurrent = append(e.Concurrent, ref(ops[i]))
	}
	return e
}

func seconds(ns int64) float64 { return float64(time.Duration(ns)) / 1e9 }

// isUnknown reports whether an operation's outcome was unknown (its return
// time was moved past the end of the history).
func isUnknown(op porcupine.Operation) bool {
	switch in := op.Input.(type) {
	case regInput:
		return in.unknown
	case appendInput:
		return in.unknown
	}
	return false
}
