package workloads

import (
	"math/rand/v2"

	"github.com/faultline/faultline/checker"
)

// UniqueIDs is the unique-ids workload: every operation asks for an id.
// An id once given is the whole answer: there is nothing to read back.
var UniqueIDs = &Kind{
	Name:      "unique-ids",
	Doc:       "ids asked for; every acknowledged id unique (Jepsen's unique-ids)",
	Checks:    checker.UniqueIDs,
	prefix:    "u",
	generator: func(_ Config, g gen) Generator { return &idGen{gen: g} },
}

type idGen struct{ gen }

func (g *idGen) Next(rng *rand.Rand) Op { return g.op("generate", g.keys.pick(rng), null) }

func (g *idGen) Observe(Op, Result) {}

func (g *idGen) Final() []Op { return nil }
