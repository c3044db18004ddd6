package nemesis

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// Gray is a gray fault on one directed link (history.Gray, the record
// type the nemesis writes into the history).
type Gray = history.Gray

// validateGray checks a link's values; the error is a *FieldError naming
// the scenario field at fault.
func validateGray(g Gray) error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", g.Loss}, {"correlation", g.Correlation}, {"duplicate", g.Duplicate}, {"reorder", g.Reorder}, {"corrupt", g.Corrupt}} {
		if p.v < 0 || p.v > 100 {
			return fieldErr(p.name, "is a percentage between 0 and 100, got %v", p.v)
		}
	}
	if g.Delay < 0 || g.Jitter < 0 {
		return fieldErr("delay", "delay and jitter must not be negative")
	}
	if g.Jitter > 0 && g.Delay == 0 {
		return fieldErr("jitter", "needs a delay")
	}
	if g.Reorder > 0 && g.Delay == 0 {
		return fieldErr("reorder", "needs a delay: reordered packets are the ones sent without it")
	}
	if g.Correlation > 0 && g.Loss == 0 {
		return fieldErr("correlation", "applies to loss, and loss is not set")
	}
	if g.Distribution != "" && g.Distribution != "uniform" && g.Distribution != "normal" {
		return fieldErr("distribution", "must be uniform or normal, got %q", g.Distribution)
	}
	return nil
}

// needsQueue reports whether the link needs the userspace stage: nftables
// alone can drop a share of packets, but not delay, copy, reorder or
// corrupt them, nor correlate losses.
func needsQueue(g Gray) bool {
	return g.Delay > 0 || g.Duplicate > 0 || g.Reorder > 0 || g.Corrupt > 0 || (g.Loss > 0 && g.Correlation > 0)
}

// netemable reports whether sch_netem can carry out the link's faults as
// given: netem's normal distribution needs a table loaded from tc's files.
func netemable(g Gray) bool { return !(g.Jitter > 0 && g.Distribution == "normal") }

// linkState decides the fate of each packet on one link. It is used from
// the queue's reader goroutine only, but guarded anyway.
type linkState struct {
	mu       sync.Mutex
	g        Gray
	rng      *rand.Rand
	lastLost bool
	seen     int64 // packets that reached the stage on this link
}

func newLinkState(g Gray, seed uint64) *linkState {
	return &linkState{g: g, rng: rand.New(rand.NewPCG(seed, 0x6a47))}
}

// fate is what happens to one packet.
type fate struct {
	drop      bool
	delay     time.Duration
	duplicate bool
	corrupt   bool
}

func (l *linkState) decide() fate {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen++
	g := l.g
	var f fate
	if g.Loss > 0 {
		// Two-state Markov chain: P(loss | last lost) = ρ + (1-ρ)p,
		// P(loss | last kept) = (1-ρ)p; its stationary loss rate is p and
		// successive decisions correlate with coefficient ρ.
		p, rho := g.Loss/100, g.Correlation/100
		q := (1 - rho) * p
		if l.lastLost {
			q += rho
		}
		l.lastLost = l.rng.Float64() < q
		if l.lastLost {
			f.drop = true
			return f
		}
	}
	if g.Delay > 0 && !(g.Reorder > 0 && l.rng.Float64()*100 < g.Reorder) {
		d := float64(g.Delay)
		if g.Jitter > 0 {
			if g.Distribution == "normal" {
				d += l.rng.NormFloat64() * float64(g.Jitter)
			} else {
				d += (2*l.rng.Float64() - 1) * float64(g.Jitter)
			}
		}
		f.delay = time.Duration(math.Max(0, d))
	}
	f.duplicate = g.Duplicate > 0 && l.rng.Float64()*100 < g.Duplicate
	f.corrupt = g.Corrupt > 0 && l.rng.Float64()*100 < g.Corrupt
	return f
}
