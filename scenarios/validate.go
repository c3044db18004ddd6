package scenarios

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/yamlpos"
	"github.com/faultline/faultline/systems"
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
			return bad("cluster.image", "%v", err)
		}
		if len(s.Cluster.Def.Nodes) > 0 {
			return bad("cluster.image", "the compose file names each service's image; change it there")
		}
	}
	if s.Cluster.ReadyTimeout < 0 {
		return bad("cluster.ready_timeout", "must be positive")
	}
	w := s.Workload
	if !slices.Contains(WorkloadKinds, w.Kind) {
		return bad("workload.kind", "unknown workload %q; built in: %s", w.Kind, strings.Join(WorkloadKinds, ", "))
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
	if w.Kind == "register" && w.Mix.Write == 0 && w.Mix.CAS == 0 {
		return bad("workload.mix", "needs write or cas weight: reads alone check nothing")
	}
	if w.OpTimeout <= 0 {
		return bad("workload.op_timeout", "must be positive")
	}
	if !slices.Contains(systems.ReadModes, w.Reads) {
		return bad("workload.reads", "must be linearizable or serializable, got %q", w.Reads)
	}
	if err := s.validateSystem(loc); err != nil {
		return err
	}
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
			saved := s.Nemesis.Hold
			s.Nemesis.Hold = e.For // flap is checked against the entry's own duration
			err := s.validateFault(loc, field+".fault", e.Fault)
			s.Nemesis.Hold = saved
			if err != nil {
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
	for i, f := range n.Faults {
		if err := s.validateFault(loc, fmt.Sprintf("nemesis.faults[%d]", i), f); err != nil {
			return err
		}
	}
	if s.Checker.Budget <= 0 {
		return bad("checker.budget", "must be positive")
	}
	if s.Checker.KeyBudget < 0 {
		return bad("checker.key_budget", "must not be negative")
	}
	return nil
}

// validateFault checks one fault entry; field is its path for errors.
func (s *Scenario) validateFault(loc *yamlpos.Locator, field string, f Fault) error {
	bad := loc.Errorf
	names := s.NodeNames()
	n := len(names)
	if names == nil {
		n = 2 // attached by labels: the run finds the nodes (and checks names then)
	}
	known := func(name string) bool { return names == nil || slices.Contains(names, name) }
	isPartition := slices.Contains(PartitionKinds, f.Kind)
	isGray := slices.Contains(GrayKinds, f.Kind)
	if !slices.Contains(FaultKinds, f.Kind) {
		return bad(field+".kind", "unknown fault %q; known: %s", f.Kind, strings.Join(FaultKinds, ", "))
	}
	if (isPartition || isGray) && n < 2 {
		return bad(field+".kind", "%s needs at least 2 nodes", f.Kind)
	}
	only := func(name string, set bool, kinds ...string) error {
		if set && !slices.Contains(kinds, f.Kind) {
			return bad(field+"."+name, "does not apply to %s (only to %s)", f.Kind, strings.Join(kinds, ", "))
		}
		return nil
	}
	for _, c := range []struct {
		name  string
		set   bool
		kinds []string
	}{
		{"node", f.Node != "", []string{"isolate", "bridge", "kill", "pause", "gray"}},
		{"direction", f.Direction != "", PartitionKinds},
		{"ports", len(f.Ports) > 0, PartitionKinds},
		{"protocols", len(f.Protocols) > 0, PartitionKinds},
		{"action", f.Action != "", PartitionKinds},
		{"flap", f.Flap != 0, PartitionKinds},
		{"grudge", f.Grudge != nil, []string{"custom"}},
		{"from", len(f.From) > 0, []string{"one-way", "gray"}},
		{"to", len(f.To) > 0, []string{"one-way", "gray"}},
		{"loss", f.Loss != 0, GrayKinds},
		{"correlation", f.Correlation != 0, GrayKinds},
		{"delay", f.Delay != 0, GrayKinds},
		{"jitter", f.Jitter != 0, GrayKinds},
		{"distribution", f.Distribution != "", GrayKinds},
		{"duplicate", f.Duplicate != 0, GrayKinds},
		{"reorder", f.Reorder != 0, GrayKinds},
		{"corrupt", f.Corrupt != 0, GrayKinds},
		{"rate", f.Rate != "", GrayKinds},
	} {
		if err := only(c.name, c.set, c.kinds...); err != nil {
			return err
		}
	}
	if f.Node != "" && f.Node != "random" && f.Node != "leader" && !known(f.Node) {
		return bad(field+".node", "no node %q in this cluster (nodes are %s, or random, or leader)", f.Node, strings.Join(names, ", "))
	}
	for _, list := range []struct {
		name  string
		nodes []string
	}{{"from", f.From}, {"to", f.To}} {
		for _, node := range list.nodes {
			if !known(node) {
				return bad(field+"."+list.name, "no node %q in this cluster (nodes are %s)", node, strings.Join(names, ", "))
			}
		}
	}
	if f.Direction != "" && f.Direction != "to" && f.Direction != "from" && f.Direction != "both" {
		return bad(field+".direction", "must be to, from or both, got %q", f.Direction)
	}
	for _, p := range f.Protocols {
		if p != "tcp" && p != "udp" {
			return bad(field+".protocols", "must be tcp or udp, got %q", p)
		}
	}
	if len(f.Protocols) > 0 && len(f.Ports) == 0 {
		return bad(field+".protocols", "needs ports: a scope is protocols on ports")
	}
	if f.Action != "" && f.Action != "drop" && f.Action != "reject" {
		return bad(field+".action", "must be drop or reject, got %q", f.Action)
	}
	if f.Flap < 0 || (f.Flap > 0 && f.Flap < 500*time.Millisecond) {
		return bad(field+".flap", "must be at least 500ms (each switch is verified with probes), got %v", f.Flap)
	}
	if f.Flap > 0 && f.Flap >= s.Nemesis.Hold {
		return bad(field+".flap", "must be shorter than nemesis.hold (%v) to flap at all", s.Nemesis.Hold)
	}
	switch f.Kind {
	case "majorities-ring":
		if n < 4 {
			return bad(field+".kind", "majorities-ring needs at least 4 nodes (with %d every node sees all others)", n)
		}
	case "bridge":
		if n < 3 {
			return bad(field+".kind", "bridge needs at least 3 nodes")
		}
	case "one-way":
		if len(f.From) == 0 || len(f.To) == 0 {
			return bad(field+".from", "one-way needs from and to: from's packets to to are dropped")
		}
		for _, a := range f.From {
			if slices.Contains(f.To, a) {
				return bad(field+".to", "%s is in both from and to", a)
			}
		}
	case "custom":
		if len(f.Grudge) == 0 {
			return bad(field+".grudge", "custom needs a grudge: each node maps to the nodes whose packets it drops")
		}
		for dst, srcs := range f.Grudge {
			if !known(dst) {
				return bad(field+".grudge", "no node %q in this cluster (nodes are %s)", dst, strings.Join(names, ", "))
			}
			for _, src := range srcs {
				if !known(src) || src == dst {
					return bad(field+".grudge."+dst, "%q cannot be dropped by %s", src, dst)
				}
			}
		}
	case "gray":
		for _, p := range []struct {
			name string
			v    float64
		}{{"loss", f.Loss}, {"correlation", f.Correlation}, {"duplicate", f.Duplicate}, {"reorder", f.Reorder}, {"corrupt", f.Corrupt}} {
			if p.v < 0 || p.v > 100 {
				return bad(field+"."+p.name, "is a percentage between 0 and 100, got %v", p.v)
			}
		}
		if f.Delay < 0 || f.Jitter < 0 {
			return bad(field+".delay", "delay and jitter must not be negative")
		}
		if _, err := ParseRate(f.Rate); err != nil {
			return bad(field+".rate", "%v", err)
		}
		if f.Loss == 0 && f.Delay == 0 && f.Duplicate == 0 && f.Reorder == 0 && f.Corrupt == 0 && f.Rate == "" {
			return bad(field+".kind", "gray needs at least one of loss, delay, duplicate, reorder, corrupt, rate")
		}
		if f.Jitter > 0 && f.Delay == 0 {
			return bad(field+".jitter", "needs a delay")
		}
		if f.Reorder > 0 && f.Delay == 0 {
			return bad(field+".reorder", "needs a delay: reordered packets are the ones sent without it")
		}
		if f.Correlation > 0 && f.Loss == 0 {
			return bad(field+".correlation", "applies to loss, and loss is not set")
		}
		if f.Distribution != "" && f.Distribution != "uniform" && f.Distribution != "normal" {
			return bad(field+".distribution", "must be uniform or normal, got %q", f.Distribution)
		}
		if f.Node != "" && (len(f.From) > 0 || len(f.To) > 0) {
			return bad(field+".node", "give node (every link of one node) or from/to (chosen links), not both")
		}
	case "restart-cluster":
		if f.Node != "" {
			return bad(field+".node", "restart-cluster restarts every node")
		}
	}
	return s.validateFaultSystem(loc, field, f)
}
