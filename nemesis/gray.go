package nemesis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Gray is a gray fault on one directed link: packets from From to To are
// degraded, not cut. Percentages are 0-100.
type Gray struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Loss drops this share of packets at random. With Correlation, each
	// decision leans on the one before (a two-state Markov chain whose
	// long-run loss is still Loss), so losses come in bursts.
	Loss        float64 `json:"loss,omitempty"`
	Correlation float64 `json:"correlation,omitempty"`
	// Delay holds each packet back; Jitter varies it, drawn from
	// Distribution ("uniform": Delay ± Jitter, or "normal": σ = Jitter),
	// never below zero.
	Delay        time.Duration `json:"delay_ns,omitempty"`
	Jitter       time.Duration `json:"jitter_ns,omitempty"`
	Distribution string        `json:"distribution,omitempty"`
	// Duplicate sends this share of packets twice.
	Duplicate float64 `json:"duplicate,omitempty"`
	// Reorder sends this share of packets at once, ahead of the delayed
	// others (needs Delay), as netem does.
	Reorder float64 `json:"reorder,omitempty"`
	// Corrupt flips one random bit past the transport header in this share
	// of packets.
	Corrupt float64 `json:"corrupt,omitempty"`
	// Rate caps the link's throughput, in bits per second.
	Rate uint64 `json:"rate_bps,omitempty"`
}

// Validate checks the values; the error is a *FieldError naming the
// scenario field at fault.
func (g Gray) Validate() error {
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
func (g Gray) needsQueue() bool {
	return g.Delay > 0 || g.Duplicate > 0 || g.Reorder > 0 || g.Corrupt > 0 || (g.Loss > 0 && g.Correlation > 0)
}

// netemable reports whether sch_netem can carry out the link's faults as
// given: netem's normal distribution needs a table loaded from tc's files.
func (g Gray) netemable() bool { return !(g.Jitter > 0 && g.Distribution == "normal") }

// Describe says what a gray fault does to a link: "loss 30%, delay 100ms ± 20ms".
func (g Gray) Describe() string {
	var parts []string
	if g.Loss > 0 {
		s := fmt.Sprintf("loss %g%%", g.Loss)
		if g.Correlation > 0 {
			s += fmt.Sprintf(" (correlation %g%%)", g.Correlation)
		}
		parts = append(parts, s)
	}
	if g.Delay > 0 {
		s := "delay " + g.Delay.String()
		if g.Jitter > 0 {
			s += " ± " + g.Jitter.String()
			if g.Distribution == "normal" {
				s += " (normal)"
			}
		}
		parts = append(parts, s)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"duplicate", g.Duplicate}, {"reorder", g.Reorder}, {"corrupt", g.Corrupt}} {
		if p.v > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", p.name, p.v))
		}
	}
	if g.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(g.Rate))
	}
	if len(parts) == 0 {
		return "no degradation"
	}
	return strings.Join(parts, ", ")
}

// FormatRate writes bits per second the way tc does: 1mbit, 512kbit.
func FormatRate(bps uint64) string {
	switch {
	case bps >= 1e9 && bps%1e9 == 0:
		return fmt.Sprintf("%dgbit", bps/1e9)
	case bps >= 1e6 && bps%1e6 == 0:
		return fmt.Sprintf("%dmbit", bps/1e6)
	case bps >= 1e3 && bps%1e3 == 0:
		return fmt.Sprintf("%dkbit", bps/1e3)
	}
	return fmt.Sprintf("%dbit", bps)
}

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
