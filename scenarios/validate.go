package scenarios

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/internal/yamlpos"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validate checks values the YAML types cannot express, and lists every
// problem it finds in ps (in the order found; ps sorts them into file
// order). Each names the file, the line and column of the offending
// field (or of its parent when the field was left out) and the field's
// path. A check that needs an earlier value to be right is made only when
// that value is (the claims only when the workload is known).
func (s *Scenario) validate(loc *yamlpos.Locator, ps *yamlpos.Problems) {
	bad := func(field, format string, args ...any) { ps.Add(loc.Errorf(field, format, args...)) }
	if !nameRE.MatchString(s.Name) {
		bad("name", "%q must be letters, digits, '.', '_' or '-' (it names the store folder)", s.Name)
	}
	if s.Seed < 0 {
		bad("seed", "must be 0 (pick one) or positive, got %d", s.Seed)
	}
	if s.TimeLimit <= 0 {
		bad("time_limit", "must be set to a positive duration such as 30s")
	}
	s.limits(bad)
	if s.Cluster.Attach == nil && (s.Cluster.Nodes < 1 || s.Cluster.Nodes > systems.MaxNodes) {
		bad("cluster.nodes", "must be between 1 and %d, got %d", systems.MaxNodes, s.Cluster.Nodes)
	}
	if img := s.Cluster.Image; img != "" {
		if err := systems.CheckImageRef(img); err != nil {
			bad("cluster.image", "%w", err)
		} else if len(s.Cluster.Def.Nodes) > 0 {
			bad("cluster.image", "the compose file names each service's image; change it there")
		}
	}
	if s.Cluster.ReadyTimeout < 0 {
		bad("cluster.ready_timeout", "must be positive")
	}
	if s.validateChecks(loc, ps, false) {
		ps.Add(s.validateSystem(loc))
	}
	if s.TimeLimit > 0 {
		s.validateNemesis(loc, ps)
	}
}

// validateChecks checks what checking a history needs (the workload, the
// checker's settings, the claims and expectations) and reports whether
// the workload is known: the claims, and the system's workloads, are
// judged only then. stored is for a run's stored copy (validateWorkload).
func (s *Scenario) validateChecks(loc *yamlpos.Locator, ps *yamlpos.Problems, stored bool) bool {
	s.validateWorkload(loc, ps, stored)
	s.validateChecker(loc, ps)
	if _, err := workloads.Lookup(s.Workload.Kind); err != nil {
		return false
	}
	s.validateExpect(loc, ps)
	s.validateExpected(loc, ps)
	return true
}

// validateChecker checks the checker's own settings.
func (s *Scenario) validateChecker(loc *yamlpos.Locator, ps *yamlpos.Problems) {
	if s.Checker.Budget <= 0 {
		ps.Add(loc.Errorf("checker.budget", "must be positive"))
	}
	if s.Checker.KeyBudget < 0 {
		ps.Add(loc.Errorf("checker.key_budget", "must not be negative"))
	}
}

// validateExpected checks what the run should show.
func (s *Scenario) validateExpected(loc *yamlpos.Locator, ps *yamlpos.Problems) {
	e := s.Expected
	if e == nil {
		return
	}
	if e.Verdict == "" && len(e.Violated) == 0 && len(e.Held) == 0 {
		ps.Add(loc.Errorf("expected", "says nothing: give a verdict (expected: invalid) or guarantees (violated: [...], held: [...])"))
		return
	}
	if e.Verdict != "" {
		if _, err := checker.ParseVerdict(e.Verdict); err != nil {
			ps.Add(loc.Errorf("expected.verdict", "%w", err))
		}
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"expected.violated", e.Violated}, {"expected.held", e.Held}} {
		for i, name := range list.names {
			field := fmt.Sprintf("%s[%d]", list.field, i)
			g, err := checker.ParseGuarantee(name)
			if err == nil {
				err = checker.CheckClaim(s.checks(), g, s.Checker.Bounds)
			}
			switch {
			case err != nil:
				ps.Add(loc.Errorf(field, "%w", err))
			case slices.Contains(e.Violated, name) && slices.Contains(e.Held, name):
				ps.Add(loc.Errorf(field, "%s cannot be expected both violated and held", name))
			}
		}
	}
}

// validateExpect checks the guarantees claimed: each one known, examined
// by the workload's checks, with what it needs; a claim the workload can
// only refute, never prove, is warned about with the change that decides
// it.
func (s *Scenario) validateExpect(loc *yamlpos.Locator, ps *yamlpos.Problems) {
	c := s.Checker
	for _, b := range checker.Bounds() {
		if c.Bounds[b.Guarantee] < 0 {
			ps.Add(loc.Errorf("checker."+b.Field, "must not be negative"))
		}
	}
	if c.ConvergeWithin < 0 || c.ConvergeWithin > MaxReady {
		ps.Add(loc.Errorf("checker.converge_within", "must be between 0 and %v", MaxReady))
	}
	if c.Initial != nil && !s.checks().TakesInitial() {
		ps.Add(loc.Errorf("checker.initial", "applies to the register workload only; a %s starts empty", s.Workload.Kind))
	}
	for i, name := range c.Expect {
		field := fmt.Sprintf("checker.expect[%d]", i)
		g, err := checker.ParseGuarantee(name)
		if err != nil {
			ps.Add(loc.Errorf(field, "%w", err))
			continue
		}
		if err := checker.CheckClaim(s.checks(), g, c.Bounds); err != nil {
			ps.Add(loc.Errorf(field, "%w", err))
			continue
		}
		if slices.Contains(c.Expect[:i], name) {
			ps.Add(loc.Errorf(field, "%s is listed twice", name))
		}
		if g == checker.Sequential && s.Workload.Kind == workloads.Register.Name && s.Workload.Mix.CAS > 0 {
			ps.Add(loc.Warnf(field, "with cas in the mix, sequential can be found violated but never held (the checker proves it only for reads and writes; docs/checker.md): drop cas from the mix (workload.mix.cas: 0) to decide it"))
		}
	}
}

// validateWorkload checks what the clients do. A stored copy (written by
// faultline before a workload's mix was refused where it does nothing)
// may carry the default mix.
func (s *Scenario) validateWorkload(loc *yamlpos.Locator, ps *yamlpos.Problems, stored bool) {
	bad := func(field, format string, args ...any) { ps.Add(loc.Errorf(field, format, args...)) }
	w := s.Workload
	kind, err := workloads.Lookup(w.Kind)
	if err != nil {
		bad("workload.kind", "%w", err)
	}
	if w.OpsPerKey < 0 {
		bad("workload.ops_per_key", "must not be negative")
	}
	if w.Keys < 1 || w.Keys > 1000 {
		bad("workload.keys", "must be between 1 and 1000, got %d", w.Keys)
	}
	if w.Clients < 1 || w.Clients > 1000 {
		bad("workload.clients", "must be between 1 and 1000, got %d", w.Clients)
	}
	if w.Rate < 0 {
		bad("workload.rate", "must be positive (operations per second), got %g", w.Rate)
	}
	if w.Mix.Read < 0 || w.Mix.Write < 0 || w.Mix.CAS < 0 {
		bad("workload.mix", "weights must not be negative")
	}
	if kind != nil && !kind.Mix && loc.Has("workload.mix") && !stored {
		bad("workload.mix", "the %s workload takes no mix (it weighs its own operations: docs/checker.md); remove mix", kind.Name)
	}
	var fe *workloads.FieldError
	if kind != nil && errors.As(kind.Check(s.WorkloadConfig()), &fe) {
		bad("workload."+fe.Field, "%s", fe.Msg)
	}
	if w.OpTimeout <= 0 {
		bad("workload.op_timeout", "must be positive")
	}
	if !slices.Contains(systems.ReadModes, w.Reads) {
		bad("workload.reads", "must be linearizable or serializable, got %q", w.Reads)
	}
}

// validateNemesis checks the fault schedule and every fault in it (with
// a positive time limit to check it against).
func (s *Scenario) validateNemesis(loc *yamlpos.Locator, ps *yamlpos.Problems) {
	bad := func(field, format string, args ...any) { ps.Add(loc.Errorf(field, format, args...)) }
	n := s.Nemesis
	scheduled := n.Every != 0 || n.Hold != 0 || n.StartAfter != 0 || n.EveryMax != 0 || n.HoldMax != 0 || n.Recovery != 0
	if len(n.Timeline) > 0 {
		if len(n.Faults) > 0 || scheduled {
			bad("nemesis.timeline", "give either a timeline or faults with every / hold, not both")
			return
		}
		s.validateTimeline(loc, ps)
		return
	}
	if len(n.Faults) == 0 {
		if scheduled {
			bad("nemesis.faults", "is empty, yet every / hold schedule faults: list the faults to inject, or drop the schedule (every, hold, start_after, ...) for a run without faults")
		}
		return
	}
	if n.Every <= 0 {
		bad("nemesis.every", "must be a positive duration when faults are listed")
	}
	if n.Every > 0 && (n.Hold <= 0 || n.Hold >= n.Every) {
		bad("nemesis.hold", "must be positive and shorter than nemesis.every (%v), got %v", n.Every, n.Hold)
	}
	if n.EveryMax != 0 && n.EveryMax < n.Every {
		bad("nemesis.every_max", "must be at least nemesis.every (%v), got %v", n.Every, n.EveryMax)
	}
	if n.HoldMax != 0 && (n.HoldMax < n.Hold || n.HoldMax >= n.Every) {
		bad("nemesis.hold_max", "must be between nemesis.hold (%v) and nemesis.every (%v), got %v", n.Hold, n.Every, n.HoldMax)
	}
	switch {
	case n.StartAfter < 0:
		bad("nemesis.start_after", "must not be negative")
	case n.StartAfter >= s.TimeLimit:
		bad("nemesis.start_after", "%v is not before time_limit (%v): no fault would start; start earlier or run longer", n.StartAfter, s.TimeLimit)
	case n.Hold > 0 && n.StartAfter+n.Hold > s.TimeLimit:
		bad("nemesis.hold", "%v from the first fault's start (start_after %v) outlasts the run (time_limit %v): shorten hold or run longer", n.Hold, n.StartAfter, s.TimeLimit)
	case n.Recovery < 0 || (n.Recovery > 0 && n.Recovery+n.StartAfter >= s.TimeLimit):
		bad("nemesis.recovery", "must leave time for faults: start_after (%v) + recovery (%v) is not under time_limit (%v)", n.StartAfter, n.Recovery, s.TimeLimit)
	}
	if n.Order != "" && n.Order != "random" && n.Order != "cycle" {
		bad("nemesis.order", "must be random or cycle, got %q", n.Order)
	}
	for i := range n.Faults {
		ps.Add(s.validateFault(loc, fmt.Sprintf("nemesis.faults[%d]", i), &n.Faults[i], n.Hold))
	}
}

// validateTimeline checks an explicit timeline: entries in order, none
// overlapping, each within the run.
func (s *Scenario) validateTimeline(loc *yamlpos.Locator, ps *yamlpos.Problems) {
	end := time.Duration(0)
	for i, e := range s.Nemesis.Timeline {
		field := fmt.Sprintf("nemesis.timeline[%d]", i)
		if e.At < end {
			ps.Add(loc.Errorf(field+".at", "starts at %v, before the entry before it ends (%v): entries may not overlap", e.At, end))
		}
		if e.For <= 0 {
			ps.Add(loc.Errorf(field+".for", "must be a positive duration"))
			continue
		}
		end = max(end, e.At+e.For)
		if e.At+e.For > s.TimeLimit {
			ps.Add(loc.Errorf(field+".for", "ends at %v, after time_limit (%v)", e.At+e.For, s.TimeLimit))
		}
		// A flap is checked against the entry's own duration.
		ps.Add(s.validateFault(loc, field+".fault", &s.Nemesis.Timeline[i].Fault, e.For))
		if e.AsWritten != nil {
			ps.Add(s.validateFault(loc, field+".as_written", s.Nemesis.Timeline[i].AsWritten, e.For))
		}
	}
}

// validateFault checks one fault entry against the catalogue's rules
// (package nemesis: every rule of every kind, what the system supports
// included) and resolves its ports; field is its path for errors, hold
// how long it is held.
func (s *Scenario) validateFault(loc *yamlpos.Locator, field string, f *Fault, hold time.Duration) error {
	c := s.FaultContext()
	c.Hold = hold
	if err := f.Resolve(c); err != nil {
		var fe *nemesis.FieldError
		if errors.As(err, &fe) {
			return loc.Errorf(field+"."+fe.Field, "%s", fe.Msg)
		}
		return loc.Errorf(field, "%w", err)
	}
	return nil
}

// FaultContext is what the scenario's faults are checked against: its
// nodes, where they are known before the run, and what its system
// supports.
func (s *Scenario) FaultContext() nemesis.Context {
	d := s.Cluster.Def
	return nemesis.Context{Nodes: s.NodeNames(), System: nemesis.System{
		Name: d.Name, Where: s.SystemSource(), Leader: d.Leader != nil,
		NoKill: !d.Supports.CanKill(), NoPause: !d.Supports.CanPause(), Ports: d.ResolvePorts,
	}}
}

// checks is the checker's side of the scenario's (validated) workload.
func (s *Scenario) checks() *checker.Workload {
	k, err := workloads.Lookup(s.Workload.Kind)
	if err != nil {
		panic(err) // validated before
	}
	return k.Checks
}
