package workloads

import (
	"math/rand/v2"

	"github.com/faultline/faultline/checker"
)

// Counter is the counter workload: increments of 1 to 5, and reads.
var Counter = &Kind{
	Name:   "counter",
	Doc:    "increments and reads; reads between acknowledged and attempted sums",
	Checks: checker.Counter,
	prefix: "c",
	generator: func(_ Config, g gen) Generator {
		return &opGen{gen: g, f: "add", readOneIn: 2, value: func(rng *rand.Rand) int64 { return int64(1 + rng.IntN(5)) }}
	},
}
