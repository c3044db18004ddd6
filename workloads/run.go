package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/faultline/faultline/history"
)

// Config shapes a run of a workload.
type Config struct {
	Kind string
	// Keys is how many independent objects are in play at once.
	Keys int
	// OpsPerKey retires a key after that many operations and brings in a
	// fresh one (0: never), so per-key histories stay small to check.
	OpsPerKey int
	Rate      float64 // operations per second across all clients; 0: unthrottled
	// Register mix weights.
	Read, Write, CAS int
	OpTimeout        time.Duration
	Seed             uint64
}

// Stats counts completions.
type Stats struct {
	OK, Fail, Info int64
}

// Run drives the clients until stop or the end of ctx, then lets the
// operations in flight finish (each within its timeout) so every invoke
// gets its completion. Client i starts as process i; after an unknown
// outcome it goes on as a new process (i + number of clients), as Jepsen
// does, so no process ever has two operations open.
func Run(ctx context.Context, stop time.Time, cfg Config, gen Generator, clients []Pinned, h *history.Writer) (Stats, error) {
	if len(clients) == 0 || cfg.OpTimeout <= 0 {
		return Stats{}, fmt.Errorf("workload: bad config %+v with %d clients", cfg, len(clients))
	}
	limit := rate.Inf
	if cfg.Rate > 0 {
		limit = rate.Limit(cfg.Rate)
	}
	r := &runner{cfg: cfg, gen: gen, limiter: rate.NewLimiter(limit, 1), h: h}
	runCtx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()
	var eg errgroup.Group
	for i, c := range clients {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
		eg.Go(func() error { return r.client(ctx, runCtx, i, len(clients), c, rng) })
	}
	err := eg.Wait()
	return r.stats(), err
}

// Converge shapes the final reads.
type Converge struct {
	// Within bounds the rounds after the first; Pause is the wait between
	// rounds.
	Within, Pause time.Duration
}

// RunFinal runs a generator's final operations (a read of every key)
// once faults are healed and the load has stopped: on every node, round
// after round, until every node gives the same answer for each key (the
// same state, as the workload's checks compare final reads: a set's
// elements in any order) or conv.Within has passed. Each read is a fresh
// process, numbered from firstProcess. The rounds are in the history; the
// checker judges convergence from them.
func RunFinal(ctx context.Context, cfg Config, gen Generator, clients []Pinned, firstProcess int, h *history.Writer, conv Converge) (Stats, error) {
	kind, err := Lookup(cfg.Kind)
	if err != nil {
		return Stats{}, err
	}
	r := &runner{cfg: cfg, gen: gen, h: h}
	process := history.Process(firstProcess)
	var perNode []Pinned
	for _, c := range clients {
		if !slices.ContainsFunc(perNode, func(p Pinned) bool { return p.Node == c.Node }) {
			perNode = append(perNode, c)
		}
	}
	pending := gen.Final()
	deadline := time.Now().Add(conv.Within)
	for len(pending) > 0 {
		var still []Op
		for _, op := range pending {
			var first json.RawMessage
			agree := true
			for _, c := range perNode {
				res, err := r.do(ctx, process, c, op)
				if err != nil {
					return r.stats(), err
				}
				process++
				switch {
				case res.Outcome != OK:
					agree = false
				case first == nil:
					first = res.Value
				case !kind.Checks.Same(first, res.Value):
					agree = false
				}
			}
			if !agree {
				still = append(still, op)
			}
		}
		pending = still
		if len(pending) == 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(conv.Pause):
		}
	}
	return r.stats(), nil
}

type runner struct {
	cfg            Config
	gen            Generator
	limiter        *rate.Limiter
	h              *history.Writer
	ok, fail, info atomic.Int64
}

func (r *runner) stats() Stats {
	return Stats{OK: r.ok.Load(), Fail: r.fail.Load(), Info: r.info.Load()}
}

// client runs one logical client. ctx is the run's context (Ctrl-C ends
// operations in flight, which are then recorded as info); runCtx also ends
// at the time limit, which only stops new operations.
func (r *runner) client(ctx, runCtx context.Context, i, n int, c Pinned, rng *rand.Rand) error {
	process := history.Process(i)
	for {
		if err := r.limiter.Wait(runCtx); err != nil {
			return nil // time limit reached or run cancelled
		}
		res, err := r.do(ctx, process, c, r.gen.Next(rng))
		if err != nil {
			return err
		}
		if res.Outcome == Unknown {
			process += history.Process(n)
		}
	}
}

// do records the invoke, runs the operation within its timeout, and
// records the completion.
func (r *runner) do(ctx context.Context, process history.Process, c Pinned, op Op) (Result, error) {
	if _, err := r.h.Append(history.Record{Process: process, Node: c.Node, Type: history.Invoke, F: op.F, Key: op.Key, Value: op.Value}); err != nil {
		return Result{}, err
	}
	octx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	res := c.Client.Invoke(octx, op)
	cancel()
	rec := history.Record{Process: process, Node: c.Node, F: op.F, Key: op.Key, Value: op.Value}
	if res.Err != nil {
		rec.Error = res.Err.Error()
	}
	switch res.Outcome {
	case OK:
		rec.Type = history.OK
		r.ok.Add(1)
		if len(res.Value) > 0 {
			rec.Value = res.Value
		}
	case Fail:
		rec.Type = history.Fail
		r.fail.Add(1)
	default:
		rec.Type = history.Info
		r.info.Add(1)
	}
	r.gen.Observe(op, res)
	_, err := r.h.Append(rec)
	return res, err
}
