package workloads

import (
	"math/rand/v2"

	"github.com/faultline/faultline/checker"
)

// Append is the append workload: appends of unique elements to per-key
// lists, and whole-list reads.
var Append = &Kind{
	Name:   "append",
	Doc:    "appends to lists and whole-list reads; linearizability",
	Checks: checker.Append,
	prefix: "a",
	generator: func(_ Config, g gen) Generator {
		u := &unique{}
		return &opGen{gen: g, f: "append", readOneIn: 2, value: func(*rand.Rand) int64 { return u.next() }}
	},
}
