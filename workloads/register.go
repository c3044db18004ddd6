package workloads

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/faultline/faultline/checker"
)

// Register is the register workload: reads, writes of unique values, and
// compare-and-sets that expect the newest value any client saw for the
// key, weighed by the mix.
var Register = &Kind{
	Name:   "register",
	Doc:    "read, write, compare-and-set on independent keys; linearizability",
	Checks: checker.Register,
	Mix:    true,
	prefix: "k",
	check: func(cfg Config) error {
		if cfg.Write <= 0 && cfg.CAS <= 0 {
			return &FieldError{Field: "mix", Msg: "needs write or cas weight: reads alone check nothing"}
		}
		return nil
	},
	generator: func(cfg Config, g gen) Generator { return &registerGen{gen: g, cfg: cfg, last: map[string]int64{}} },
}

type registerGen struct {
	gen
	cfg    Config
	values unique
	mu     sync.Mutex
	last   map[string]int64 // newest value seen per key (0: none)
}

func (g *registerGen) Next(rng *rand.Rand) Op {
	key := g.keys.pick(rng)
	switch n := rng.IntN(g.cfg.Read + g.cfg.Write + g.cfg.CAS); {
	case n < g.cfg.Read:
		return g.op("read", key, null)
	case n < g.cfg.Read+g.cfg.Write:
		return g.op("write", key, num(g.values.next()))
	}
	g.mu.Lock()
	old := g.last[key]
	g.mu.Unlock()
	oldJSON := null
	if old != 0 {
		oldJSON = num(old)
	}
	return g.op("cas", key, json.RawMessage(fmt.Sprintf("[%s,%d]", oldJSON, g.values.next())))
}

func (g *registerGen) Observe(op Op, res Result) {
	if res.Outcome != OK {
		return
	}
	var v int64
	switch op.F {
	case "read":
		if json.Unmarshal(res.Value, &v) != nil {
			v = 0 // not a number: expect no value
		}
	case "write":
		if json.Unmarshal(op.Value, &v) != nil {
			v = 0
		}
	case "cas":
		var pair [2]*int64
		if json.Unmarshal(op.Value, &pair) == nil && pair[1] != nil {
			v = *pair[1]
		}
	}
	g.mu.Lock()
	g.last[op.Key] = v
	g.mu.Unlock()
}

func (g *registerGen) Final() []Op { return g.final() }
