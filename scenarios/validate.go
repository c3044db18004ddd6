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

// validate checks values the YAML types cannot express. Each error names the
// file, the line of the offending field (or of its parent when the field was
// left out) and the field's path.
func (s *Scenario) validate(loc *yamlpos.Locator) error {
	bad := loc.Errorf
	if !nameRE.MatchString(s.Name) {
		return bad("name", "%q must be letters, digits, '.', '_' or '-' (it names the store folder)", s.Name)
	}
	if s.Seed < 0 {
		return bad("seed", "must be 0 (pick one) or positive, got %d", s.Seed)
	}
	if s.TimeLimit <= 0 {
		return bad("time_limit", "must be set to a positive duration such as 30s")
	}
	if err := s.limits(bad); err != nil {
		return err
	}
	if s.Cluster.Attach == nil && (s.Cluster.Nodes < 1 || s.Cluster.Nodes > systems.MaxNodes) {
		return bad("cluster.nodes", "must be between 1 and %d, got %d", systems.MaxNodes, s.Cluster.Nodes)
	}
	if img := s.Cluster.Image; img != "" {
		if err := systems.CheckImageRef(img); err != nil {
			return bad("cluster.image", "%w", err)
		}
		if len(s.Cluster.Def.Nodes) > 0 {
			return bad("cluster.image", "the compose file names each service's image; change it there")
		}
	}
	if s.Cluster.ReadyTimeout < 0 {
		return bad("cluster.ready_timeout", "must be positive")
	}
	if err := s.validateWorkload(loc); err != nil {
		return err
	}
	if err := s.validateSystem(loc); err != nil {
		return err
	}
	if err := s.validateNemesis(loc); err != nil {
		return err
	}
	if s.Checker.Budget <= 0 {
		return bad("checker.budget", "must be positive")
	}
	if s.Checker.KeyBudget < 0 {
		return bad("checker.key_budget", "must not be negative")
	}
	if err := s.validateExpect(loc); err != nil {
		return err
	}
	return s.validateExpected(loc)
}

// validateExpected checks what the run should show.
func (s *Scenario) validateExpected(loc *yamlpos.Locator) error {
	e := s.Expected
	if e == nil {
		return nil
	}
	if e.Verdict == "" && len(e.Violated) == 0 && len(e.Held) == 0 {
		return loc.Errorf("expected", "says nothing: give a verdict (expected: invalid) or guarantees (violated: [...], held: [...])")
	}
	if e.Verdict != "" {
		if _, err := checker.ParseVerdict(e.Verdict); err != nil {
			return loc.Errorf("expected.verdict", "%w", err)
		}
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"expected.violated", e.Violated}, {"expected.held", e.Held}} {
		for i, name := range list.names {
			field := fmt.Sprintf("%s[%d]", list.field, i)
			g, err := checker.ParseGuarantee(name)
			if err != nil {
				return loc.Errorf(field, "%w", err)
			}
			if err := checker.CheckClaim(s.checks(), g, s.Checker.Bounds); err != nil {
				return loc.Errorf(field, "%w", err)
			}
			if slices.Contains(e.Violated, name) && slices.Contains(e.Held, name) {
				return loc.Errorf(field, "%s cannot be expected both violated and held", name)
			}
		}
	}
	return nil
}

// validateExpect checks the guarantees claimed: each one known, examined
// by the workload's checks, with what it needs.
func (s *Scenario) validateExpect(loc *yamlpos.Locator) error {
	c := s.Checker
	for _, b := range checker.Bounds() {
		if c.Bounds[b.Guarantee] < 0 {
			return loc.Errorf("checker."+b.Field, "must not be negative")
		}
	}
	if c.ConvergeWithin < 0 || c.ConvergeWithin > MaxReady {
		return loc.Errorf("checker.converge_within", "must be between 0 and %v", MaxReady)
	}
	for i, name := range c.Expect {
		field := fmt.Sprintf("checker.expect[%d]", i)
		g, err := checker.ParseGuarantee(name)
		if err != nil {
			return loc.Errorf(field, "%w", err)
		}
		if err := checker.CheckClaim(s.checks(), g, c.Bounds); err != nil {
			return loc.Errorf(field, "%w", err)
		}
		if slices.Contains(c.Expect[:i], name) {
			return loc.Errorf(field, "%s is listed twice", name)
		}
	}
	return nil
}

// validateWorkload checks what the clients do.
func (s *Scenario) validateWorkload(loc *yamlpos.Locator) error {
	bad := loc.Errorf
	w := s.Workload
	kind, err := workloads.Lookup(w.Kind)
	if err != nil {
		return bad("workload.kind", "%w", err)
	}
	if w.OpsPerKey < 0 {
		return bad("workload.ops_per_key", "must not be negative")
	}
	if w.Keys < 1 || w.Keys > 1000 {
		return bad("workload.keys", "must be between 1 and 1000, got %d", w.Keys)
	}
	if w.Clients < 1 || w.Clients > 1000 {
		return bad("workload.clients", "must be between 1 and 1000, got %d", w.Clients)
	}
	if w.Rate < 0 {
		return bad("workload.rate", "must be positive (operations per second), got %g", w.Rate)
	}
	if w.Mix.Read < 0 || w.Mix.Write < 0 || w.Mix.CAS < 0 {
		return bad("workload.mix", "weights must not be negative")
	}
	var fe *workloads.FieldError
	if err := kind.Check(s.WorkloadConfig()); errors.As(err, &fe) {
		return bad("workload."+fe.Field, "%s", fe.Msg)
	}
	if w.OpTimeout <= 0 {
		return bad("workload.op_timeout", "must be positive")
	}
	if !slices.Contains(systems.ReadModes, w.Reads) {
		return bad("workload.reads", "must be linearizable or serializable, got %q", w.Reads)
	}
	return nil
}

// validateNemesis checks the fault schedule and every fault in it.
func (s *Scenario) validateNemesis(loc *yamlpos.Locator) error {
	bad := loc.Errorf
	n := s.Nemesis
	if len(n.Timeline) > 0 {
		if len(n.Faults) > 0 || n.Every != 0 || n.Hold != 0 || n.StartAfter != 0 || n.EveryMax != 0 || n.HoldMax != 0 || n.Recovery != 0 {
			return bad("nemesis.timeline", "give either a timeline or faults with every / hold, not both")
		}
		end := time.Duration(0)
		for i, e := range n.Timeline {
			field := fmt.Sprintf("nemesis.timeline[%d]", i)
			if e.At < end {
				return bad(field+".at", "starts at %v, before the entry before it ends (%v): entries may not overlap", e.At, end)
			}
			if e.For <= 0 {
				return bad(field+".for", "must be a positive duration")
			}
			end = e.At + e.For
			if end > s.TimeLimit {
				return bad(field+".for", "ends at %v, after time_limit (%v)", end, s.TimeLimit)
			}
			// A flap is checked against the entry's own duration.
			if err := s.validateFault(loc, field+".fault", &n.Timeline[i].Fault, e.For); err != nil {
				return err
			}
		}
	}
	if len(n.Faults) > 0 {
		if n.Every <= 0 {
			return bad("nemesis.every", "must be a positive duration when faults are listed")
		}
		if n.Hold <= 0 || n.Hold >= n.Every {
			return bad("nemesis.hold", "must be positive and shorter than nemesis.every (%v), got %v", n.Every, n.Hold)
		}
		if n.EveryMax != 0 && n.EveryMax < n.Every {
			return bad("nemesis.every_max", "must be at least nemesis.every (%v), got %v", n.Every, n.EveryMax)
		}
		if n.HoldMax != 0 && (n.HoldMax < n.Hold || n.HoldMax >= n.Every) {
			return bad("nemesis.hold_max", "must be between nemesis.hold (%v) and nemesis.every (%v), got %v", n.Hold, n.Every, n.HoldMax)
		}
	}
	if n.Recovery < 0 || (n.Recovery > 0 && n.Recovery+n.StartAfter >= s.TimeLimit) {
		return bad("nemesis.recovery", "must leave time for faults: start_after (%v) + recovery (%v) is not under time_limit (%v)", n.StartAfter, n.Recovery, s.TimeLimit)
	}
	if n.Order != "" && n.Order != "random" && n.Order != "cycle" {
		return bad("nemesis.order", "must be random or cycle, got %q", n.Order)
	}
	if n.StartAfter < 0 {
		return bad("nemesis.start_after", "must not be negative")
	}
	for i := range n.Faults {
		if err := s.validateFault(loc, fmt.Sprintf("nemesis.faults[%d]", i), &n.Faults[i], n.Hold); err != nil {
			return err
		}
	}
	return nil
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
