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

// NewGenerator makes the generator of a workload kind.
func NewGenerator(cfg Config) (Generator, error) {
	keys := &keyPicker{prefix: map[string]string{Register: "k", Set: "s", Counter: "c", Append: "a"}[cfg.Kind], slots: make([]int, max(cfg.Keys, 1)), used: make([]int, max(cfg.Keys, 1)), perKey: cfg.OpsPerKey}
	for i := range keys.slots {
		keys.slots[i] = i
	}
	keys.next = len(keys.slots)
	switch cfg.Kind {
	case Register:
		if cfg.Read+cfg.Write+cfg.CAS <= 0 {
			return nil, fmt.Errorf("register workload: the mix needs a positive weight")
		}
		return &registerGen{cfg: cfg, keys: keys, last: map[string]int64{}}, nil
	case Set:
		// Adds of unique elements; a read one time in five.
		u := &unique{}
		return &opGen{keys: keys, f: "add", readOneIn: 5, value: func(*rand.Rand) int64 { return u.next() }}, nil
	case Counter:
		// Increments of 1 to 5, and reads.
		return &opGen{keys: keys, f: "add", readOneIn: 2, value: func(rng *rand.Rand) int64 { return int64(1 + rng.IntN(5)) }}, nil
	case Append:
		// Appends of unique elements to per-key lists, and reads.
		u := &unique{}
		return &opGen{keys: keys, f: "append", readOneIn: 2, value: func(*rand.Rand) int64 { return u.next() }}, nil
	}
	return nil, fmt.Errorf("unknown workload %q (known: %v)", cfg.Kind, Kinds)
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

// registerGen: reads, writes of unique values, and compare-and-sets that
// expect the newest value any client saw for the key.
type registerGen struct {
	cfg    Config
	keys   *keyPicker
	values unique
	mu     sync.Mutex
	last   map[string]int64 // newest value seen per key (0: none)
}

func (g *registerGen) Next(rng *rand.Rand) Op {
	op := Op{Key: g.keys.pick(rng)}
	switch n := rng.IntN(g.cfg.Read + g.cfg.Write + g.cfg.CAS); {
	case n < g.cfg.Read:
		op.F, op.Value = "read", null
	case n < g.cfg.Read+g.cfg.Write:
		op.F, op.Value = "write", num(g.values.next())
	default:
		g.mu.Lock()
		old := g.last[op.Key]
		g.mu.Unlock()
		oldJSON := null
		if old != 0 {
			oldJSON = num(old)
		}
		op.F, op.Value = "cas", json.RawMessage(fmt.Sprintf("[%s,%d]", oldJSON, g.values.next()))
	}
	return op
}

func (g *registerGen) Observe(op Op, res Result) {
	if res.Outcome != OK {
		return
	}
	var v int64
	switch op.F {
	case "read":
		json.Unmarshal(res.Value, &v)
	case "write":
		json.Unmarshal(op.Value, &v)
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

func (g *registerGen) Final() []Op { return finalReads(g.keys) }

// finalReads reads every key ever used.
func finalReads(keys *keyPicker) []Op {
	var ops []Op
	for _, k := range keys.everUsed() {
		ops = append(ops, Op{F: "read", Key: k, Value: null})
	}
	return ops
}

// opGen is the set, counter and append workloads: one kind of update and
// reads of the whole object.
type opGen struct {
	keys      *keyPicker
	f         string // the update: "add" or "append"
	readOneIn int    // a read one time in readOneIn
	value     func(rng *rand.Rand) int64
}

func (g *opGen) Next(rng *rand.Rand) Op {
	key := g.keys.pick(rng)
	if rng.IntN(g.readOneIn) == 0 {
		return Op{F: "read", Key: key, Value: null}
	}
	return Op{F: g.f, Key: key, Value: num(g.value(rng))}
}

func (g *opGen) Observe(Op, Result) {}

func (g *opGen) Final() []Op { return finalReads(g.keys) }
