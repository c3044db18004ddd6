package workloads

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
)

// Generator makes a workload's operations. It is shared by all clients and
// safe for concurrent use.
type Generator interface {
	// Next is the next operation for a client.
	Next(rng *rand.Rand) Op
	// Observe sees every operation's result (a cas expects the newest
	// value seen, for example).
	Observe(op Op, res Result)
	// Final lists the operations to run once the faults are healed: a read
	// of every key ever used (a set's lost elements show only there).
	Final() []Op
}

// NewGenerator makes the generator of the workload cfg names.
func NewGenerator(cfg Config) (Generator, error) {
	k, err := Lookup(cfg.Kind)
	if err != nil {
		return nil, err
	}
	if err := k.Check(cfg); err != nil {
		return nil, fmt.Errorf("%s workload: %w", k.Name, err)
	}
	keys := &keyPicker{prefix: k.prefix, slots: make([]int, max(cfg.Keys, 1)), used: make([]int, max(cfg.Keys, 1)), perKey: cfg.OpsPerKey}
	for i := range keys.slots {
		keys.slots[i] = i
	}
	keys.next = len(keys.slots)
	return k.generator(cfg, gen{kind: k, keys: keys}), nil
}

// gen is what a workload's generator builds on: the keys in play, and the
// workload's operations as the checker names them.
type gen struct {
	kind *Kind
	keys *keyPicker
}

func (g gen) op(f, key string, value json.RawMessage) Op { return g.kind.Op(f, key, value) }

// final reads every key ever used.
func (g gen) final() []Op {
	var ops []Op
	for _, k := range g.keys.everUsed() {
		ops = append(ops, g.op("read", k, null))
	}
	return ops
}

// keyPicker hands out keys: Keys slots, each retired after perKey
// operations for a fresh key.
type keyPicker struct {
	mu     sync.Mutex
	prefix string
	slots  []int // key number in each slot
	used   []int // operations on each slot's key
	perKey int
	next   int
	all    []string
}

func (k *keyPicker) pick(rng *rand.Rand) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := rng.IntN(len(k.slots))
	if k.perKey > 0 && k.used[i] >= k.perKey {
		k.slots[i], k.used[i] = k.next, 0
		k.next++
	}
	k.used[i]++
	name := k.prefix + strconv.Itoa(k.slots[i])
	if !slices.Contains(k.all, name) {
		k.all = append(k.all, name)
	}
	return name
}

// everUsed lists every key handed out so far.
func (k *keyPicker) everUsed() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.all)
}

// unique hands out values no other operation of the run writes.
type unique struct {
	mu   sync.Mutex
	last int64
}

func (u *unique) next() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.last++
	return u.last
}

func num(v int64) json.RawMessage { return json.RawMessage(strconv.FormatInt(v, 10)) }

var null = json.RawMessage("null")

// opGen is a workload of one kind of update and reads of the whole
// object: the set, counter and append workloads.
type opGen struct {
	gen
	f         string // the update
	readOneIn int    // a read one time in readOneIn
	value     func(rng *rand.Rand) int64
}

func (g *opGen) Next(rng *rand.Rand) Op {
	key := g.keys.pick(rng)
	if rng.IntN(g.readOneIn) == 0 {
		return g.op("read", key, null)
	}
	return g.op(g.f, key, num(g.value(rng)))
}

func (g *opGen) Observe(Op, Result) {}

func (g *opGen) Final() []Op { return g.final() }
