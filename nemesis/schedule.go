package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Schedule is when faults happen, as a scenario's nemesis section writes
// it: after StartAfter, every Every one fault picked from Faults (at
// random, seeded, or in turn) is applied, held for Hold, then recovered;
// or an explicit Timeline. The run always ends healed.
type Schedule struct {
	// Order is how the next fault is picked: random (default, seeded) or
	// cycle (each in turn, in the order listed).
	Order string `yaml:"order,omitempty"`
	// StartAfter is the warm-up: the workload runs this long before the
	// first fault.
	StartAfter time.Duration `yaml:"start_after,omitempty"`
	// A fault starts every Every and is held for Hold. With EveryMax or
	// HoldMax set, each interval or duration is drawn (seeded) between the
	// two.
	Every    time.Duration `yaml:"every,omitempty"`
	EveryMax time.Duration `yaml:"every_max,omitempty"`
	Hold     time.Duration `yaml:"hold,omitempty"`
	HoldMax  time.Duration `yaml:"hold_max,omitempty"`
	// Recovery is the last phase: no fault starts after time_limit minus
	// Recovery, so the system is seen healing under load before the end.
	Recovery time.Duration `yaml:"recovery,omitempty"`
	Faults   []Spec        `yaml:"faults,omitempty"`
	// Timeline is an explicit schedule instead: each fault at an offset
	// from the start of the workload, for a duration. Entries may not
	// overlap. A run stores the timeline it actually applied (with every
	// random choice resolved), which `faultline replay` runs again.
	Timeline []Timed `yaml:"timeline,omitempty"`
}

// Timed is one entry of an explicit timeline.
type Timed struct {
	At    time.Duration `yaml:"at" json:"at"`
	For   time.Duration `yaml:"for" json:"for"`
	Fault Spec          `yaml:"fault" json:"fault"`
	// AsWritten is the fault as the scenario wrote it ("isolate the
	// leader"), where Fault is what a run resolved it to (the grudge
	// that cut n2 off): a run's timeline keeps both, so that a replay
	// says what was meant and can apply either (Intent).
	AsWritten *Spec `yaml:"as_written,omitempty" json:"as_written,omitempty"`
}

// Intent is the entry with the fault as written in place of what a run
// resolved it to (random nodes drawn again, the leader found again), and
// whether it had one.
func (t Timed) Intent() (Timed, bool) {
	if t.AsWritten == nil {
		return t, false
	}
	t.Fault, t.AsWritten = *t.AsWritten, nil
	return t, true
}

// Step is one fault of a schedule: at an offset from the start of the
// workload, held for a duration.
type Step struct {
	At, Hold time.Duration
	Spec     Spec
	Fault    Fault
	// AsWritten is the fault as the scenario wrote it: Spec, or for an
	// entry of a run's timeline the fault it was resolved from.
	AsWritten Spec
}

// Plan is a schedule's steps over a workload of limit, made one at a
// time: Next draws each random interval, duration and pick from rng in
// the order the steps come, so that the faults drawing from the same rng
// (a random node) between two steps leave a seed meaning one run. It is
// pure: it touches nothing and waits for nothing.
type Plan struct {
	next func() (Step, bool)
}

// Next is the next step, and false when the schedule has no more: the
// timeline ended, or the next fault would not end before the recovery
// phase.
func (p *Plan) Next() (Step, bool) { return p.next() }

// Plan builds every fault of the schedule (each a plan, injected as often
// as it comes up) and the steps over a workload of limit.
func (s Schedule) Plan(limit time.Duration, rng *rand.Rand) (*Plan, error) {
	if len(s.Timeline) > 0 {
		steps := make([]Step, len(s.Timeline))
		for i, e := range s.Timeline {
			f, err := e.Fault.Build()
			if err != nil {
				return nil, err
			}
			written := e.Fault
			if e.AsWritten != nil {
				written = *e.AsWritten
			}
			steps[i] = Step{At: e.At, Hold: e.For, Spec: e.Fault, Fault: f, AsWritten: written}
		}
		return planOf(steps), nil
	}
	faults := make([]Fault, len(s.Faults))
	for i, spec := range s.Faults {
		f, err := spec.Build()
		if err != nil {
			return nil, err
		}
		faults[i] = f
	}
	if len(faults) == 0 {
		return &Plan{next: func() (Step, bool) { return Step{}, false }}, nil
	}
	last := limit - s.Recovery // no fault starts in the recovery phase
	at, i := s.StartAfter, 0
	return &Plan{next: func() (Step, bool) {
		if i > 0 {
			at += between(rng, s.Every, s.EveryMax)
		}
		hold := between(rng, s.Hold, s.HoldMax)
		if at+hold >= last {
			return Step{}, false
		}
		k := i % len(faults)
		if s.Order != "cycle" {
			k = rng.IntN(len(faults))
		}
		i++
		return Step{At: at, Hold: hold, Spec: s.Faults[k], Fault: faults[k], AsWritten: s.Faults[k]}, true
	}}, nil
}

// planOf is a plan that offers steps in order.
func planOf(steps []Step) *Plan {
	i := 0
	return &Plan{next: func() (Step, bool) {
		if i >= len(steps) {
			return Step{}, false
		}
		i++
		return steps[i-1], true
	}}
}

// between draws a duration between lo and hi (just lo when hi is not above it).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// Observer hears what Play does, for the progress log and status line.
type Observer interface {
	// Injected: the step's fault is in force since at (from the start),
	// and was recorded (its probes answered) at recorded.
	Injected(step Step, in Injected, at, recorded time.Duration)
	// Recovered: it was undone at at, after being held for held.
	Recovered(step Step, at, held time.Duration)
}

// RecoverTimeout bounds the undo of one fault: it has its own, also when
// the run is stopped, so a Ctrl-C still ends healed.
const RecoverTimeout = time.Minute

// Play applies a plan's faults in time until the workload, begun at
// begin, reaches limit: each at its offset, held, then recovered. A fault
// that cannot be applied, or whose effect its probes do not confirm,
// stops the play; whatever happens, the fault in force is recovered
// before Play returns. It returns the timeline it applied, every random
// choice resolved (the nodes picked, the grudge built), each beside the
// fault as written, for replay.
func Play(ctx context.Context, begin time.Time, limit time.Duration, plan *Plan, nm *Nemesis, obs Observer) ([]Timed, error) {
	// Sleeps end at the time limit; recoveries never do.
	sctx, cancel := context.WithDeadline(ctx, begin.Add(limit))
	defer cancel()
	sleepUntil := func(t time.Time) bool {
		timer := time.NewTimer(time.Until(t))
		defer timer.Stop()
		select {
		case <-sctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	var applied []Timed
	for {
		s, ok := plan.Next()
		if !ok || !sleepUntil(begin.Add(s.At)) {
			return applied, nil
		}
		injected := time.Now()
		in, ierr := s.Fault.Inject(sctx, nm)
		var resolved Spec
		if ierr == nil {
			resolved = in.Resolved()
			obs.Injected(s, in, injected.Sub(begin), time.Since(begin))
		}
		held := ierr == nil && sleepUntil(injected.Add(s.Hold))
		heldFor := time.Since(injected).Truncate(time.Millisecond)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), RecoverTimeout)
		rerr := in.Recover(rctx)
		rcancel()
		if ierr == nil && rerr == nil {
			obs.Recovered(s, time.Since(begin), heldFor)
		}
		if ierr == nil {
			written := s.AsWritten
			applied = append(applied, Timed{At: injected.Sub(begin).Truncate(time.Millisecond), For: max(heldFor, time.Millisecond), Fault: resolved, AsWritten: &written})
		}
		switch {
		case ierr != nil && sctx.Err() == nil:
			return applied, errors.Join(fmt.Errorf("%s: %w", s.Fault.Name(), ierr), recoverErr(s, rerr))
		case rerr != nil:
			return applied, recoverErr(s, rerr)
		}
		if !held {
			return applied, nil
		}
	}
}

func recoverErr(s Step, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("recover from %s: %w", s.Fault.Name(), err)
}
