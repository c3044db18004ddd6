package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
)

// faultFor builds the fault of a validated scenario entry (the catalogue
// is nemesis's); the system's definition gives its port roles (ports:
// peer).
func faultFor(d *systems.Definition, f scenarios.Fault) (nemesis.Fault, error) {
	ports, err := d.ResolvePorts(f.Ports)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNemesis, err)
	}
	var scope []nemesis.PortRange
	for _, p := range ports {
		scope = append(scope, nemesis.PortRange{Lo: p.Lo, Hi: p.Hi})
	}
	fault, err := f.Build(scope)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNemesis, err)
	}
	return fault, nil
}

// checkFaults builds every fault of the scenario and refuses, before
// anything starts, one the kernel cannot apply (as probe finds it: this
// host's, or the engine's through a helper). It returns the gray engine to
// use: netem where the kernel has it, else the userspace queue;
// FAULTLINE_GRAY_ENGINE=queue or netem overrides the choice.
func checkFaults(sc *scenarios.Scenario, d *systems.Definition, probe func() (nemesis.Capabilities, error)) (nemesis.Engine, error) {
	var caps nemesis.Capabilities
	probed := false
	for i, f := range sc.Nemesis.Faults {
		fault, err := faultFor(d, f)
		if err != nil {
			return "", err
		}
		if len(nemesis.Needs(fault)) == 0 {
			continue
		}
		if !probed {
			if caps, err = probe(); err != nil {
				return "", fmt.Errorf("%w: %v", ErrNemesis, err)
			}
			probed = true
			if e := os.Getenv("FAULTLINE_GRAY_ENGINE"); e == "queue" {
				caps.Has[nemesis.FeatNetem] = false // use and check the queue
			} else if e == "netem" && !caps.Has[nemesis.FeatNetem] {
				return "", fmt.Errorf("%w: FAULTLINE_GRAY_ENGINE=netem, but sch_netem is missing: %s", nemesis.ErrMissingFeature, caps.Why[nemesis.FeatNetem])
			}
		}
		if err := caps.Check(fault); err != nil {
			return "", fmt.Errorf("%s: nemesis.faults[%d]: %w; this host %s", sc.Path, i, err, caps)
		}
	}
	return caps.Engine(), nil
}

// recorder appends nemesis events to the history.
func recorder(h *history.Writer) func(string, any) error {
	return func(f string, value any) error {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep "n1<-[n2]" readable
		if err := enc.Encode(value); err != nil {
			return fmt.Errorf("encode %s event: %w", f, err)
		}
		_, err := h.Append(history.Record{Process: history.Nemesis, Type: history.Info, F: f, Value: bytes.TrimSpace(b.Bytes())})
		return err
	}
}

// step is one fault of the schedule: at an offset from the start of the
// workload, held for a duration.
type step struct {
	at, hold time.Duration
	spec     scenarios.Fault
	fault    nemesis.Fault
}

// runNemesis applies the scenario's faults on schedule until stop: an
// explicit timeline, or after StartAfter one fault every Every (picked at
// random, seeded, or in turn) held for Hold. A fault that cannot be
// applied, or whose effect the probes do not confirm, stops the run.
// Whatever happens, the fault in force is recovered before runNemesis
// returns. It returns the timeline it applied, every random choice
// resolved (the nodes picked, the grudge built), for replay.
func runNemesis(ctx context.Context, begin, stop time.Time, d *systems.Definition, cfg scenarios.Nemesis, nm *nemesis.Nemesis, logf func(string, ...any), active *atomic.Value) (applied []scenarios.TimedFault, err error) {
	var next func(i int) (step, bool)
	switch {
	case len(cfg.Timeline) > 0:
		steps := make([]step, len(cfg.Timeline))
		for i, e := range cfg.Timeline {
			f, err := faultFor(d, e.Fault)
			if err != nil {
				return nil, err
			}
			steps[i] = step{at: e.At, hold: e.For, spec: e.Fault, fault: f}
		}
		next = func(i int) (step, bool) {
			if i >= len(steps) {
				return step{}, false
			}
			return steps[i], true
		}
	case len(cfg.Faults) > 0:
		faults := make([]nemesis.Fault, len(cfg.Faults))
		for i, f := range cfg.Faults {
			if faults[i], err = faultFor(d, f); err != nil {
				return nil, err
			}
		}
		last := stop.Add(-cfg.Recovery) // no fault starts in the recovery phase
		at := cfg.StartAfter
		next = func(i int) (step, bool) {
			if i > 0 {
				at += between(nm.Env.Rng, cfg.Every, cfg.EveryMax)
			}
			hold := between(nm.Env.Rng, cfg.Hold, cfg.HoldMax)
			if !begin.Add(at + hold).Before(last) {
				return step{}, false
			}
			k := i % len(faults)
			if cfg.Order != "cycle" {
				k = nm.Env.Rng.IntN(len(faults))
			}
			return step{at: at, hold: hold, spec: cfg.Faults[k], fault: faults[k]}, true
		}
	default:
		return nil, nil
	}
	// Sleeps end at the time limit; recoveries never do.
	sctx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()
	sleepUntil := func(t time.Time) bool {
		select {
		case <-sctx.Done():
			return false
		case <-time.After(time.Until(t)):
			return true
		}
	}
	for i := 0; ; i++ {
		s, ok := next(i)
		if !ok || !sleepUntil(begin.Add(s.at)) {
			return applied, nil
		}
		f := s.fault
		injected := time.Now()
		ierr := f.Inject(sctx, nm)
		if ierr == nil {
			desc := f.Name()
			if d, ok := f.(nemesis.Describer); ok {
				desc += ": " + d.Describe()
			}
			// The history records the fault once it is in force (its
			// probes answered, for a partition): the report's time.
			at, recorded := injected.Sub(begin).Seconds(), time.Since(begin).Seconds()
			if fmt.Sprintf("%.1f", at) == fmt.Sprintf("%.1f", recorded) {
				logf("fault %s (at %.1fs)", desc, at)
			} else {
				logf("fault %s (at %.1fs, recorded at %.1fs)", desc, at, recorded)
			}
			active.Store(desc)
		}
		resolved := nemesis.Resolved(s.spec, f)
		held := ierr == nil && sleepUntil(injected.Add(s.hold))
		heldFor := time.Since(injected).Truncate(time.Millisecond)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		rerr := f.Recover(rctx, nm)
		rcancel()
		active.Store("")
		if ierr == nil && rerr == nil {
			logf("healed %s (at %.1fs, after %v)", f.Name(), time.Since(begin).Seconds(), heldFor)
		}
		if ierr == nil {
			applied = append(applied, scenarios.TimedFault{
				At:    injected.Sub(begin).Truncate(time.Millisecond),
				For:   max(heldFor, time.Millisecond),
				Fault: resolved,
			})
		}
		switch {
		case ierr != nil && sctx.Err() == nil:
			return applied, fmt.Errorf("%w: %s: %w", ErrNemesis, f.Name(), ierr)
		case rerr != nil:
			return applied, fmt.Errorf("%w: recover from %s: %w", ErrNemesis, f.Name(), rerr)
		}
		if !held {
			return applied, nil
		}
	}
}

// between draws a duration between lo and hi (just lo when hi is not above it).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}
