package scenarios

import (
	"fmt"
	"time"
)

// limits refuses absurd sizes and durations, and values that could be
// taken for something else (an image reference that is not one, an
// environment name that is not a name).
func (s *Scenario) limits(bad func(field, format string, args ...any)) {
	type dur struct {
		field string
		v     time.Duration
		max   time.Duration
	}
	n := s.Nemesis
	durs := []dur{
		{"time_limit", s.TimeLimit, MaxTimeLimit},
		{"cluster.ready_timeout", s.Cluster.ReadyTimeout, MaxReady},
		{"workload.op_timeout", s.Workload.OpTimeout, MaxOpTimeout},
		{"nemesis.start_after", n.StartAfter, MaxTimeLimit},
		{"nemesis.every", n.Every, MaxTimeLimit},
		{"nemesis.every_max", n.EveryMax, MaxTimeLimit},
		{"nemesis.hold", n.Hold, MaxTimeLimit},
		{"nemesis.hold_max", n.HoldMax, MaxTimeLimit},
		{"nemesis.recovery", n.Recovery, MaxTimeLimit},
		{"checker.budget", s.Checker.Budget, MaxTimeLimit},
		{"checker.key_budget", s.Checker.KeyBudget, MaxTimeLimit},
	}
	if len(n.Faults) > MaxFaults || len(n.Timeline) > MaxFaults {
		bad("nemesis", "more than %d faults listed", MaxFaults)
	}
	// A fault's own values are the catalogue's to bound (nemesis.Spec).
	for i, e := range n.Timeline {
		field := fmt.Sprintf("nemesis.timeline[%d]", i)
		durs = append(durs, dur{field + ".at", e.At, MaxTimeLimit}, dur{field + ".for", e.For, MaxTimeLimit})
	}
	for _, d := range durs {
		if d.v > d.max {
			bad(d.field, "%v is more than the %v faultline allows", d.v, d.max)
		}
	}
	w := s.Workload
	if w.Rate > MaxRate {
		bad("workload.rate", "%g operations per second is more than the %d faultline allows", w.Rate, MaxRate)
	}
	if w.OpsPerKey > 10_000_000 {
		bad("workload.ops_per_key", "must be at most 10000000, got %d", w.OpsPerKey)
	}
	if w.Mix.Read > 1_000_000 || w.Mix.Write > 1_000_000 || w.Mix.CAS > 1_000_000 {
		bad("workload.mix", "weights are relative; keep each under 1000000")
	}
	if len(s.Description) > 4096 {
		bad("description", "longer than 4096 bytes")
	}
}
