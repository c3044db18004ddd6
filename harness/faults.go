package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
)

// faultFor turns a validated scenario entry into a fault of the catalogue.
func faultFor(f scenarios.Fault) (nemesis.Fault, error) {
	scope := nemesis.Scope{Protocols: f.Protocols}
	for _, p := range f.Ports {
		scope.Ports = append(scope.Ports, uint16(p))
	}
	partition := func(shape nemesis.Shape) nemesis.Fault {
		return &nemesis.PartitionFault{Shape: shape, Direction: nemesis.Direction(f.Direction), Scope: scope, Action: nemesis.Action(f.Action), Flap: f.Flap}
	}
	switch f.Kind {
	case "isolate":
		return partition(nemesis.Isolate{Node: f.Node}), nil
	case "halves":
		return partition(nemesis.Halves{}), nil
	case "majorities-ring":
		return partition(nemesis.MajoritiesRing{}), nil
	case "bridge":
		return partition(nemesis.Bridge{Node: f.Node}), nil
	case "one-way":
		return partition(nemesis.OneWay{From: f.From, To: f.To}), nil
	case "custom":
		return partition(nemesis.Custom{G: nemesis.Grudge(f.Grudge)}), nil
	case "gray":
		return &nemesis.GrayFault{Links: nemesis.LinkSpec{From: f.From, To: f.To, Node: f.Node}, Template: nemesis.Gray{
			Loss: f.Loss, Correlation: f.Correlation, Delay: f.Delay, Jitter: f.Jitter, Distribution: f.Distribution,
			Duplicate: f.Duplicate, Reorder: f.Reorder, Corrupt: f.Corrupt, Rate: f.RateBPS(),
		}}, nil
	case "kill":
		return &nemesis.KillFault{Node: f.Node}, nil
	case "pause":
		return &nemesis.PauseFault{Node: f.Node}, nil
	case "restart-cluster":
		return &nemesis.RestartClusterFault{}, nil
	}
	return nil, fmt.Errorf("%w: unknown fault %q", ErrNemesis, f.Kind)
}

// checkFaults builds every fault of the scenario and refuses, before
// anything starts, one this host's kernel cannot apply. It returns the gray
// engine to use: netem where the kernel has it, else the userspace queue;
// FAULTLINE_GRAY_ENGINE=queue or netem overrides the choice.
func checkFaults(sc *scenarios.Scenario) (nemesis.Engine, error) {
	var caps nemesis.Capabilities
	probed := false
	for i, f := range sc.Nemesis.Faults {
		fault, err := faultFor(f)
		if err != nil {
			return "", err
		}
		if len(nemesis.Needs(fault)) == 0 {
			continue
		}
		if !probed {
			if caps, err = nemesis.ProbeHost(); err != nil {
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

// runNemesis applies the scenario's faults on schedule until stop: after
// StartAfter, every Every one fault (picked by env.Rng) held for Hold, then
// recovered. A fault that cannot be applied, or whose effect the probes do
// not confirm, stops the run. Whatever happens, the fault in force is
// recovered before runNemesis returns.
func runNemesis(ctx context.Context, stop time.Time, cfg scenarios.Nemesis, nm *nemesis.Nemesis, logf func(string, ...any), active *atomic.Value) (err error) {
	if len(cfg.Faults) == 0 {
		return nil
	}
	faults := make([]nemesis.Fault, len(cfg.Faults))
	for i, f := range cfg.Faults {
		if faults[i], err = faultFor(f); err != nil {
			return err
		}
	}
	// Sleeps end at the time limit; recoveries never do.
	sctx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()
	sleep := func(d time.Duration) bool {
		select {
		case <-sctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if !sleep(cfg.StartAfter) {
		return nil
	}
	for i := 0; time.Now().Add(cfg.Hold).Before(stop); i++ {
		f := faults[i%len(faults)]
		if cfg.Order != "cycle" {
			f = faults[nm.Env.Rng.IntN(len(faults))]
		}
		ierr := f.Inject(sctx, nm)
		if ierr == nil {
			desc := f.Name()
			if d, ok := f.(nemesis.Describer); ok {
				desc += ": " + d.Describe()
			}
			logf("fault %s", desc)
			active.Store(desc)
		}
		held := ierr == nil && sleep(cfg.Hold)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		rerr := f.Recover(rctx, nm)
		rcancel()
		active.Store("")
		switch {
		case ierr != nil && sctx.Err() == nil:
			return fmt.Errorf("%w: %s: %v", ErrNemesis, f.Name(), ierr)
		case rerr != nil:
			return fmt.Errorf("%w: recover from %s: %v", ErrNemesis, f.Name(), rerr)
		}
		if !held || !sleep(cfg.Every-cfg.Hold) {
			return nil
		}
	}
	return nil
}
