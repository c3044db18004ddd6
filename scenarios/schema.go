// Package scenarios holds the scenario file schema (this file), its strict
// loader (load.go), its validation (validate.go, limits.go, and system.go
// for what depends on the system under test) and the scenarios faultline
// ships (the *.yaml files beside this package). The parts other packages
// own are theirs: a fault and its schedule are package nemesis's
// (nemesis.Spec, nemesis.Schedule, with every rule of every kind), the
// workloads are package workloads's, the guarantees and their bounds
// package checker's; scenarios reads them and names the file and line.
//
// A scenario enters as YAML through Load, which rejects unknown or mistyped
// fields and semantically invalid values with an error naming file:line and
// the field, resolves the system under test (a built-in name, a system
// file, an inline definition or a docker-compose file, through package
// systems), fills in defaults, and returns a Scenario the harness runs. It
// leaves as YAML again through Marshal, which writes the scenario as run
// (seed, defaults and the system's definition included) into the run's
// store folder so the run can be repeated exactly.
package scenarios

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/internal/yamlpos"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
)

// Default is the scenario `make run` runs, relative to the repository root.
const Default = "scenarios/etcd-register.yaml"

// Errors a caller may want to tell apart.
var (
	// ErrInvalid wraps every error about the content of a scenario file.
	ErrInvalid = errors.New("invalid scenario")
)

// Scenario is one scenario file. Durations are written as Go durations
// ("10s", "1m30s").
type Scenario struct {
	// Name names the run's folder in the store; it defaults to the file name
	// without its extension.
	Name        string `yaml:"name,omitempty"`
	Description string `yaml:"description,omitempty"`
	// Seed makes every random choice of the run (operations, fault targets)
	// repeatable. 0 means "pick one"; the seed picked is written into the
	// scenario stored with the run.
	Seed int64 `yaml:"seed"`
	// TimeLimit is how long the workload runs.
	TimeLimit time.Duration `yaml:"time_limit"`
	Cluster   Cluster       `yaml:"cluster"`
	Workload  Workload      `yaml:"workload"`
	Nemesis   Nemesis       `yaml:"nemesis"`
	Checker   Checker       `yaml:"checker"`
	// Expected is what the run should show: `expected: invalid` for a
	// scenario that finds a bug, or a verdict with guarantees the history
	// must rule out (violated) and keep (held). `faultline run` passes a
	// scenario that meets it. Default: valid.
	Expected *Expected `yaml:"expected,omitempty"`
	// Project is the folder every path the scenario names must lie in
	// (systems' path rule): by default the nearest folder above the file
	// with .git or go.mod. faultline writes it into the copies a run
	// stores, so that they keep the project they were made in.
	Project string `yaml:"project,omitempty"`

	// Path is the file the scenario was loaded from.
	Path string `yaml:"-"`
	// Warnings are what Load found legal but not doing what the file
	// seems to want, each with the change that would ("path:line:col:
	// warning: field: ..."), in file order.
	Warnings []*yamlpos.Problem `yaml:"-"`
}

// origin is where the scenario's paths are judged from.
func (s *Scenario) origin() systems.Origin { return systems.OriginOf(s.Path, s.Project) }

// Cluster is the system under test and how many nodes of it run.
type Cluster struct {
	// System is the system under test: a built-in name (etcd, the default;
	// refkv), a system file beside the scenario ("./systems/mydb.yaml"),
	// or a definition written inline (docs/systems.md).
	System SystemRef `yaml:"system"`
	// Params set the system's own knobs (its definition's params), for
	// example refkv's bug.
	Params map[string]string `yaml:"params,omitempty"`
	// Nodes is the number of nodes, n1..nN; default 3, within what the
	// system supports.
	Nodes int `yaml:"nodes"`
	// Image replaces the image the system's definition names.
	Image string `yaml:"image,omitempty"`
	// ReadyTimeout bounds the wait for every node to be ready; default the
	// system's ready.timeout, else 60s.
	ReadyTimeout time.Duration `yaml:"ready_timeout"`
	// Compose is a docker-compose file whose services are the nodes
	// (Services picks them; default every service). faultline creates the
	// containers itself, on its own network (docs/systems.md).
	Compose  string   `yaml:"compose,omitempty"`
	Services []string `yaml:"services,omitempty"`
	// Attach runs against containers somebody else started instead of
	// starting any: faultline owns only its rules, never the containers.
	Attach *Attach `yaml:"attach,omitempty"`

	// Def is the system's definition, resolved by Load.
	Def *systems.Definition `yaml:"-"`
}

// Attach selects running containers: by compose project (and services),
// by container names, or by labels. Exactly one way.
type Attach struct {
	Project  string            `yaml:"project,omitempty"`
	Services []string          `yaml:"services,omitempty"`
	Names    []string          `yaml:"names,omitempty"`
	Labels   map[string]string `yaml:"labels,omitempty"`
}

// SystemRef names the system under test or defines it inline.
type SystemRef struct {
	// Name is a built-in system's name or a system file's path, as
	// written.
	Name string
	// Inline is a definition written in the scenario itself.
	Inline *systems.Definition
}

// Expected is a scenario's expected result, as the file writes it.
type Expected struct {
	Verdict  string   `yaml:"verdict,omitempty"`
	Violated []string `yaml:"violated,omitempty"`
	Held     []string `yaml:"held,omitempty"`
}

// UnmarshalYAML takes a verdict (a string) or a mapping.
func (e *Expected) UnmarshalYAML(unmarshal func(any) error) error {
	var v string
	if err := unmarshal(&v); err == nil {
		*e = Expected{Verdict: v}
		return nil
	}
	return unmarshal((*plainExpected)(e))
}

// plainExpected is Expected without its own YAML methods.
type plainExpected Expected

// YAMLMapping says that an expectation written as a mapping has
// Expected's fields.
func (*Expected) YAMLMapping() any { return (*plainExpected)(nil) }

// Expectation is what the checker judges the result against (valid when
// the scenario says nothing). Names were validated at load.
func (s *Scenario) Expectation() checker.Expectation {
	if s.Expected == nil {
		return checker.Expectation{Verdict: checker.Valid}
	}
	e := checker.Expectation{Verdict: checker.Verdict(s.Expected.Verdict)}
	for _, n := range s.Expected.Violated {
		e.Violated = append(e.Violated, checker.Guarantee(n))
	}
	for _, n := range s.Expected.Held {
		e.Held = append(e.Held, checker.Guarantee(n))
	}
	return e
}

// UnmarshalYAML takes a name or path (a string) or a definition (a
// mapping).
func (r *SystemRef) UnmarshalYAML(unmarshal func(any) error) error {
	var name string
	if err := unmarshal(&name); err == nil {
		*r = SystemRef{Name: name}
		return nil
	}
	var d systems.Definition
	if err := unmarshal(&d); err != nil {
		return err
	}
	*r = SystemRef{Inline: &d}
	return nil
}

// YAMLMapping says that a system written as a mapping is a definition.
func (*SystemRef) YAMLMapping() any { return (*systems.Definition)(nil) }

// MarshalYAML writes the name, or the inline definition.
func (r SystemRef) MarshalYAML() (any, error) {
	if r.Inline != nil {
		return r.Inline, nil
	}
	return r.Name, nil
}

// IsFile reports whether the name is a system file's path.
func (r SystemRef) IsFile() bool {
	return strings.ContainsRune(r.Name, '/') || strings.HasSuffix(r.Name, ".yaml") || strings.HasSuffix(r.Name, ".yml")
}

// Workload is what the clients do.
type Workload struct {
	// Kind is the workload: register (read / write / cas), set (adds and
	// whole-set reads, with final reads), counter (increments and reads) or
	// append (appends to lists and whole-list reads).
	Kind string `yaml:"kind"`
	// Keys is the number of independent objects in play at once; default 4.
	Keys int `yaml:"keys"`
	// OpsPerKey retires a key after that many operations for a fresh one
	// (0: never), so per-key histories stay quick to check.
	OpsPerKey int `yaml:"ops_per_key,omitempty"`
	// Clients is the number of concurrent logical clients, pinned round-robin
	// to the nodes; default 10.
	Clients int `yaml:"clients"`
	// Rate caps operations per second across all clients; 0 means as fast as
	// the clients go. Default 200.
	Rate float64 `yaml:"rate"`
	// Mix weighs the register workload's operations; default read 50,
	// write 25, cas 25. The other workloads weigh their own.
	Mix Mix `yaml:"mix,omitempty"`
	// OpTimeout bounds one operation; past it the outcome is unknown (info).
	// Default 1s.
	OpTimeout time.Duration `yaml:"op_timeout"`
	// Reads is "linearizable" (default) or "serializable" (answered from
	// the node's local state, which may be stale), among the modes the
	// system supports.
	Reads string `yaml:"reads"`
	// Client, when set, replaces the system's own client: a client
	// program ({command: [...]}, relative paths resolved against the
	// scenario file's folder) or a built-in adapter ({builtin: NAME}); see
	// docs/adapters.md.
	Client *systems.Client `yaml:"client,omitempty"`
}

// Mix is the relative weight of each operation.
type Mix struct {
	Read  int `yaml:"read"`
	Write int `yaml:"write"`
	CAS   int `yaml:"cas"`
}

// Nemesis is the fault schedule (nemesis.Schedule: when each fault
// starts and ends is package nemesis's, as the faults are).
type Nemesis = nemesis.Schedule

// TimedFault is one entry of an explicit timeline.
type TimedFault = nemesis.Timed

// Fault is one entry of the nemesis' repertoire: its kind and the fields
// that kind takes (docs/faults.md). The catalogue of kinds, with every
// rule a fault must follow, is package nemesis's.
type Fault = nemesis.Spec

// Ports is a fault's port scope (nemesis.Ports).
type Ports = nemesis.Ports

// Checker bounds the checks and says what the system claims.
type Checker struct {
	// Budget is the wall time the checker may spend; a key not decided
	// within it is "unknown". Default 60s.
	Budget time.Duration `yaml:"budget"`
	// KeyBudget bounds each key on its own; default: only Budget.
	KeyBudget time.Duration `yaml:"key_budget,omitempty"`
	// StopAtFirstInvalid stops once one key is proven invalid, leaving the
	// keys not finished unknown: the fastest verdict for CI.
	StopAtFirstInvalid bool `yaml:"stop_at_first_invalid,omitempty"`
	// Initial is the registers' initial value (default: no value).
	Initial *int64 `yaml:"initial,omitempty"`
	// Expect lists the guarantees the system claims (docs/checker.md):
	// the verdict is invalid when one of them was violated. Default:
	// [linearizable].
	Expect []string `yaml:"expect,omitempty"`
	// ConvergeWithin bounds the final reads: once faults are healed and
	// the load has stopped, every key is read on every node, again and
	// again, until the nodes agree or this much time has passed. Default 10s.
	ConvergeWithin time.Duration `yaml:"converge_within,omitempty"`
	// Bounds are what the guarantees that need a bound mean for this
	// system, each written as the field the guarantee declares
	// (checker.Bounds): `staleness_bound: 1s` says what bounded-staleness
	// means, every acknowledged update seen by every read begun this long
	// after.
	Bounds map[checker.Guarantee]time.Duration `yaml:"-"`
}

// plainChecker is Checker without its own YAML methods.
type plainChecker Checker

// UnmarshalYAML reads the fields of Checker and, beside them, the bound
// of each guarantee that declares one, under the field it names; every
// other field is unknown, as anywhere in a scenario.
func (c *Checker) UnmarshalYAML(node ast.Node) error {
	m, ok := node.(*ast.MappingNode)
	if !ok {
		return yaml.NodeToValue(node, (*plainChecker)(c), yaml.Strict(), yaml.DisallowUnknownField())
	}
	rest := *m
	rest.Values = nil
	for _, v := range m.Values {
		b, ok := boundNamed(v.Key.String())
		if !ok {
			rest.Values = append(rest.Values, v)
			continue
		}
		var d time.Duration
		if err := yaml.NodeToValue(v.Value, &d, yaml.Strict()); err != nil {
			return err
		}
		if c.Bounds == nil {
			c.Bounds = map[checker.Guarantee]time.Duration{}
		}
		c.Bounds[b.Guarantee] = d
	}
	return yaml.NodeToValue(&rest, (*plainChecker)(c), yaml.Strict(), yaml.DisallowUnknownField())
}

// YAMLMapping says that the checker section has Checker's fields (and
// the bounds, YAMLFields).
func (*Checker) YAMLMapping() any { return (*plainChecker)(nil) }

// MarshalYAML writes the fields of Checker and then each bound given.
func (c Checker) MarshalYAML() (any, error) {
	b, err := yaml.Marshal(plainChecker(c))
	if err != nil {
		return nil, err
	}
	var out yaml.MapSlice
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	for _, bd := range checker.Bounds() {
		if d, ok := c.Bounds[bd.Guarantee]; ok && d != 0 {
			out = append(out, yaml.MapItem{Key: bd.Field, Value: d.String()})
		}
	}
	return out, nil
}

// YAMLFields are the bounds' fields, for "did you mean" (the struct's own
// come from its tags).
func (Checker) YAMLFields() []string {
	var out []string
	for _, b := range checker.Bounds() {
		out = append(out, b.Field)
	}
	return out
}

func boundNamed(field string) (checker.Bound, bool) {
	for _, b := range checker.Bounds() {
		if b.Field == field {
			return b, true
		}
	}
	return checker.Bound{}, false
}

// Limits on values that would otherwise run away with the machine or the
// run: a scenario past them is refused, naming the field.
const (
	MaxFileSize    = 1 << 20
	MaxTimeLimit   = 24 * time.Hour
	MaxReady       = time.Hour
	MaxOpTimeout   = 10 * time.Minute
	MaxRate        = 100_000
	MaxFaults      = 1000
	MaxCommandArgs = 64
)

// WorkloadConfig is the scenario's workload as package workloads runs it
// (the seed picked, once there is one).
func (s *Scenario) WorkloadConfig() workloads.Config {
	w := s.Workload
	return workloads.Config{
		Kind: w.Kind, Keys: w.Keys, OpsPerKey: w.OpsPerKey, Rate: w.Rate,
		Read: w.Mix.Read, Write: w.Mix.Write, CAS: w.Mix.CAS,
		OpTimeout: w.OpTimeout, Seed: uint64(s.Seed),
	}
}

// AsWritten has every entry of the timeline apply the fault as the
// scenario it was recorded from wrote it (a replay.yaml's as_written:
// "isolate the leader", resolved again when the run injects it) instead
// of what that run resolved it to; it counts the entries changed.
func (s *Scenario) AsWritten() int {
	n := 0
	s.Nemesis.Timeline = slices.Clone(s.Nemesis.Timeline)
	for i, e := range s.Nemesis.Timeline {
		if in, ok := e.Intent(); ok {
			s.Nemesis.Timeline[i] = in
			n++
		}
	}
	return n
}

// Weaker returns a copy of the scenario with every fault replaced by its
// weaker form (nemesis.Spec.Weaker: the fault a shape-specific bug should
// be missed by), and says what it changed. It returns false when no fault
// of the scenario has one.
func (s *Scenario) Weaker() (*Scenario, string, bool) {
	out := *s
	out.Nemesis.Faults = slices.Clone(s.Nemesis.Faults)
	out.Nemesis.Timeline = slices.Clone(s.Nemesis.Timeline)
	var what string
	weaken := func(f *Fault) {
		if w, why, ok := f.Weaker(); ok {
			*f, what = w, why
		}
	}
	for i := range out.Nemesis.Faults {
		weaken(&out.Nemesis.Faults[i])
	}
	for i := range out.Nemesis.Timeline {
		e := &out.Nemesis.Timeline[i]
		weaken(&e.Fault)
		if e.AsWritten != nil { // the intent weakened alike
			w := *e.AsWritten
			weaken(&w)
			e.AsWritten = &w
		}
	}
	if what == "" {
		return nil, "", false
	}
	return &out, what, true
}
