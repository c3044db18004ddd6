package workloads

import (
	"math/rand/v2"

	"github.com/faultline/faultline/checker"
)

// Set is the set workload: adds of unique elements, and a whole-set read
// one time in five.
var Set = &Kind{
	Name:   "set",
	Doc:    "adds and whole-set reads; lost, unexpected, stale elements",
	Checks: checker.Set,
	prefix: "s",
	generator: func(_ Config, g gen) Generator {
		u := &unique{}
		return &opGen{gen: g, f: "add", readOneIn: 5, value: func(*rand.Rand) int64 { return u.next() }}
	},
}
