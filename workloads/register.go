package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/faultline/faultline/history"
)

// RegisterConfig shapes the register workload.
type RegisterConfig struct {
	Keys      int
	Rate      float64 // operations per second across all clients; 0: unthrottled
	Read      int     // weights of the operation mix
	Write     int
	CAS       int
	OpTimeout time.Duration
	Seed      uint64
}

// Pinned is an opened client and the node it is pinned to.
type Pinned struct {
	Node   string
	Client RegisterClient
}

// Stats counts completions.
type Stats struct {
	OK, Fail, Info int64
}

// Key returns the name of register k in the store under test.
func Key(k int) string { return fmt.Sprintf("k%d", k) }

// RunRegister drives the clients until stop is reached or ctx ends, then
// lets the operations in flight finish (each within its timeout) so every
// invoke gets its completion. Client i starts as process i; after an unknown
// outcome it goes on as a new process (i + number of clients), as Jepsen
// does, so no process ever has two operations open.
func RunRegister(ctx context.Context, stop time.Time, cfg RegisterConfig, clients []Pinned, h *history.Writer) (Stats, error) {
	if cfg.Keys < 1 || len(clients) == 0 || cfg.Read+cfg.Write+cfg.CAS <= 0 || cfg.OpTimeout <= 0 {
		return Stats{}, fmt.Errorf("register workload: bad config %+v with %d clients", cfg, len(clients))
	}
	limit := rate.Inf
	if cfg.Rate > 0 {
		limit = rate.Limit(cfg.Rate)
	}
	g := &register{
		cfg:     cfg,
		limiter: rate.NewLimiter(limit, 1),
		last:    make([]int64, cfg.Keys),
		h:       h,
	}
	runCtx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()
	eg := errgroup.Group{}
	for i, c := range clients {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
		eg.Go(func() error { return g.client(ctx, runCtx, i, len(clients), c, rng) })
	}
	err := eg.Wait()
	return Stats{OK: g.ok.Load(), Fail: g.fail.Load(), Info: g.info.Load()}, err
}

type register struct {
	cfg     RegisterConfig
	limiter *rate.Limiter
	next    atomic.Int64 // last unique value handed out
	mu      sync.Mutex
	last    []int64 // per key, the newest value a client saw; cas expects it
	h       *history.Writer

	ok, fail, info atomic.Int64
}

func (g *register) pick(rng *rand.Rand) RegOp {
	k := rng.IntN(g.cfg.Keys)
	op := RegOp{Key: Key(k)}
	switch n := rng.IntN(g.cfg.Read + g.cfg.Write + g.cfg.CAS); {
	case n < g.cfg.Read:
		op.F = FRead
	case n < g.cfg.Read+g.cfg.Write:
		op.F = FWrite
		op.Value = g.next.Add(1)
	default:
		op.F = FCAS
		g.mu.Lock()
		op.Old = g.last[k]
		g.mu.Unlock()
		op.Value = g.next.Add(1)
	}
	return op
}

func (g *register) saw(key string, v int64) {
	var k int
	fmt.Sscanf(key, "k%d", &k)
	g.mu.Lock()
	g.last[k] = v
	g.mu.Unlock()
}

// client runs one logical client. ctx is the run's context (Ctrl-C ends
// operations in flight, which are then recorded as info); runCtx also ends
// at the time limit, which only stops new operations.
func (g *register) client(ctx, runCtx context.Context, i, n int, c Pinned, rng *rand.Rand) error {
	process := history.Process(i)
	for {
		if err := g.limiter.Wait(runCtx); err != nil {
			return nil // time limit reached or run cancelled
		}
		op := g.pick(rng)
		if _, err := g.h.Append(history.Record{Process: process, Node: c.Node, Type: history.Invoke, F: op.F, Key: op.Key, Value: invokeValue(op)}); err != nil {
			return err
		}
		octx, cancel := context.WithTimeout(ctx, g.cfg.OpTimeout)
		res := c.Client.Do(octx, op)
		cancel()
		rec := history.Record{Process: process, Node: c.Node, F: op.F, Key: op.Key, Value: invokeValue(op)}
		if res.Err != nil {
			rec.Error = res.Err.Error()
		}
		switch res.Outcome {
		case OK:
			rec.Type = history.OK
			g.ok.Add(1)
			switch op.F {
			case FRead:
				rec.Value = readValue(res.Read)
				g.saw(op.Key, res.Read)
			default:
				g.saw(op.Key, op.Value)
			}
		case Fail:
			rec.Type = history.Fail
			g.fail.Add(1)
		default:
			rec.Type = history.Info
			g.info.Add(1)
		}
		if _, err := g.h.Append(rec); err != nil {
			return err
		}
		if res.Outcome == Unknown {
			process += history.Process(n)
		}
	}
}

// invokeValue is the value field of an operation: null for a read, the
// value for a write, [old, new] for a cas (old null when the key must be
// absent).
func invokeValue(op RegOp) json.RawMessage {
	switch op.F {
	case FWrite:
		return json.RawMessage(fmt.Sprint(op.Value))
	case FCAS:
		return json.RawMessage(fmt.Sprintf("[%s,%d]", readValue(op.Old), op.Value))
	}
	return json.RawMessage("null")
}

func readValue(v int64) json.RawMessage {
	if v == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(fmt.Sprint(v))
}
