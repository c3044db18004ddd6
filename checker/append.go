package checker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// Append is the append workload (appends of unique elements to lists,
// whole-list reads, on independent keys): checked for linearizability by
// porcupine against appendModel, and for the ordered guarantees exactly,
// as for every grow-only collection (collection.go).
var Append = &Workload{
	name:         "append",
	ops:          []Operation{{F: "read", Read: true}, {F: "append"}},
	decode:       decodeCollection,
	model:        func(Options) porcupine.Model { return appendModel() },
	porcupineOps: appendPorcupineOps,
	examine:      func(k *keyOps, x *examination) { examineCollection(k, true, x, appendFinal) },
	rows: []row{
		{Linearizable, "per key (porcupine)"},
		{Sequential, "per key; exact (unique elements)"},
		{ReadYourWrites, sessionScope}, {MonotonicReads, sessionScope}, {MonotonicWrites, sessionScope}, {WritesFollowReads, sessionScope},
		{NoLostWrites, ""},
		{Converges, convergesScope},
	},
	stale: true,
	final: appendFinal,
}

func appendFinal(o *gop) string { return describeElemList(o.elems) }

// appendInput is an append of one value, or a read.
type appendInput struct {
	f       string // "append" or "read"
	value   int64
	unknown bool
}

// appendModel is a list per key: appends add one value at the end; a read
// returns the whole list. The state is the list written out ("1,5,9"), so
// states compare cheaply.
func appendModel() porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return "" },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			s := state.(string)
			in := input.(appendInput)
			if in.f == "read" {
				return output.(string) == s, s
			}
			if s == "" {
				return true, strconv.FormatInt(in.value, 10)
			}
			return true, s + "," + strconv.FormatInt(in.value, 10)
		},
		DescribeOperation: func(input, output interface{}) string {
			in := input.(appendInput)
			if in.f == "read" {
				return "read() -> [" + output.(string) + "]"
			}
			q := ""
			if in.unknown {
				q = " (outcome unknown)"
			}
			return fmt.Sprintf("append(%d)%s", in.value, q)
		},
		DescribeState: func(state interface{}) string { return "[" + state.(string) + "]" },
	}
}

// appendPorcupineOps are a key's operations as porcupine sees them, with
// the same treatment of failed and unknown operations as a register's: an
// unknown append whose value no read ever returned is left out.
func appendPorcupineOps(k *keyOps, end int64) []porcupine.Operation {
	observed := map[int64]bool{}
	for _, o := range k.ops {
		if o.read && o.ok() {
			for _, v := range o.elems {
				observed[v] = true
			}
		}
	}
	var ops []porcupine.Operation
	for _, o := range k.ops {
		if o.p.typ == history.Fail || o.read && !o.ok() || o.unknown() && !observed[o.val] {
			continue
		}
		in := appendInput{f: o.f, value: o.val, unknown: o.unknown()}
		out := ""
		if o.read {
			in.value = 0
			parts := make([]string, len(o.elems))
			for i, v := range o.elems {
				parts[i] = strconv.FormatInt(v, 10)
			}
			out = strings.Join(parts, ",")
		}
		ops = append(ops, porcupineOp(o.p, in, out, end))
	}
	return ops
}
