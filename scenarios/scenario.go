// Package scenarios holds the scenario file schema, its strict loader and
// the scenarios faultline ships (the *.yaml files beside this file).
//
// A scenario enters as YAML through Load, which rejects unknown or mistyped
// fields and semantically invalid values with an error naming file:line and
// the field, fills in defaults, and returns a Scenario the harness runs. It
// leaves as YAML again through Marshal, which writes the scenario as run
// (seed and defaults included) into the run's store folder so the run can be
// repeated exactly.
package scenarios

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Default is the scenario `make run` runs, relative to the repository root.
const Default = "scenarios/etcd-register.yaml"

// DefaultEtcdImage is the image faultline builds for etcd (package docker).
const DefaultEtcdImage = "faultline/etcd:v3.6.16"

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

	// Path is the file the scenario was loaded from.
	Path string `yaml:"-"`
}

// Cluster is the system under test.
type Cluster struct {
	// System is the system under test; "etcd" is built in.
	System string `yaml:"system"`
	// Nodes is the number of members, n1..nN: 1 to 5, default 3.
	Nodes int `yaml:"nodes"`
	// Image is the node image; default faultline/etcd:v3.6.16, built locally.
	Image string `yaml:"image"`
	// ReadyTimeout bounds the wait for every node to answer; default 60s.
	ReadyTimeout time.Duration `yaml:"ready_timeout"`
}

// Workload is what the clients do.
type Workload struct {
	// Kind is the workload; "register" is built in.
	Kind string `yaml:"kind"`
	// Keys is the number of independent registers; default 4.
	Keys int `yaml:"keys"`
	// Clients is the number of concurrent logical clients, pinned round-robin
	// to the nodes; default 10.
	Clients int `yaml:"clients"`
	// Rate caps operations per second across all clients; 0 means as fast as
	// the clients go. Default 200.
	Rate float64 `yaml:"rate"`
	// Mix weighs the operations; default read 50, write 25, cas 25.
	Mix Mix `yaml:"mix"`
	// OpTimeout bounds one operation; past it the outcome is unknown (info).
	// Default 1s.
	OpTimeout time.Duration `yaml:"op_timeout"`
	// Reads is "linearizable" (default) or "serializable" (etcd answers from
	// the member's local state, which may be stale).
	Reads string `yaml:"reads"`
}

// Mix is the relative weight of each operation.
type Mix struct {
	Read  int `yaml:"read"`
	Write int `yaml:"write"`
	CAS   int `yaml:"cas"`
}

// Nemesis is the fault schedule: after StartAfter, every Every one fault
// picked from Faults (seeded) is applied, held for Hold, then healed. The
// run always ends healed.
type Nemesis struct {
	StartAfter time.Duration `yaml:"start_after"`
	Every      time.Duration `yaml:"every"`
	Hold       time.Duration `yaml:"hold"`
	Faults     []Fault       `yaml:"faults"`
}

// Fault is one entry of the nemesis' repertoire.
type Fault struct {
	// Kind is "isolate" (one node cut off from all others) or "halves" (a
	// random majority and minority, cut off from each other).
	Kind string `yaml:"kind"`
	// Node names the node to isolate (n1..nN); empty picks one at random.
	Node string `yaml:"node,omitempty"`
}

// Checker bounds the linearizability check.
type Checker struct {
	// Budget is the wall time the checker may spend; a key not decided
	// within it is "unknown". Default 60s.
	Budget time.Duration `yaml:"budget"`
}

// FaultKinds lists the fault kinds a scenario may name.
var FaultKinds = []string{"isolate", "halves"}

// Load reads, strictly parses, defaults and validates a scenario file.
func Load(path string) (*Scenario, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, src)
}

// Parse is Load on bytes already read; path only names the source in errors.
func Parse(path string, src []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(strings.NewReader(string(src)), yaml.Strict(), yaml.DisallowUnknownField())
	if err := dec.Decode(&s); err != nil {
		return nil, positionError(path, src, err)
	}
	s.Path = path
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	s.defaults()
	if err := s.validate(src); err != nil {
		return nil, err
	}
	return &s, nil
}

// positionError turns a YAML decoding error into "file:line:col: message".
func positionError(path string, src []byte, err error) error {
	var yerr yaml.Error
	if errors.As(err, &yerr) && yerr.GetToken() != nil {
		pos := yerr.GetToken().Position
		return fmt.Errorf("%w: %s:%d:%d: %s", ErrInvalid, path, pos.Line, pos.Column, yerr.GetMessage())
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: file is empty", ErrInvalid, path)
	}
	// Some decoding errors come without a position (a duration that does
	// not parse: `time: invalid duration "soon"`). Find the line that holds
	// the quoted value.
	if m := quotedRE.FindStringSubmatch(err.Error()); m != nil {
		for i, line := range strings.Split(string(src), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.Trim(strings.TrimSpace(v), `"'`) == m[1] {
				return fmt.Errorf("%w: %s:%d: %s: %v", ErrInvalid, path, i+1, strings.TrimSpace(strings.TrimLeft(k, " -")), err)
			}
		}
	}
	return fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
}

var quotedRE = regexp.MustCompile(`"([^"]+)"`)

func (s *Scenario) defaults() {
	if s.Cluster.System == "" {
		s.Cluster.System = "etcd"
	}
	if s.Cluster.Nodes == 0 {
		s.Cluster.Nodes = 3
	}
	if s.Cluster.Image == "" && s.Cluster.System == "etcd" {
		s.Cluster.Image = DefaultEtcdImage
	}
	if s.Cluster.ReadyTimeout == 0 {
		s.Cluster.ReadyTimeout = 60 * time.Second
	}
	w := &s.Workload
	if w.Kind == "" {
		w.Kind = "register"
	}
	if w.Keys == 0 {
		w.Keys = 4
	}
	if w.Clients == 0 {
		w.Clients = 10
	}
	if w.Rate == 0 {
		w.Rate = 200
	}
	if w.Mix == (Mix{}) {
		w.Mix = Mix{Read: 50, Write: 25, CAS: 25}
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = time.Second
	}
	if w.Reads == "" {
		w.Reads = "linearizable"
	}
	if s.Checker.Budget == 0 {
		s.Checker.Budget = 60 * time.Second
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validate checks values the YAML types cannot express. Each error names the
// file, the line of the offending field (or of its parent when the field was
// left out) and the field's path.
func (s *Scenario) validate(src []byte) error {
	file, _ := parser.ParseBytes(src, 0)
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s:%d: %s: %s", ErrInvalid, s.Path, lineOf(file, field), field, fmt.Sprintf(format, args...))
	}
	if !nameRE.MatchString(s.Name) {
		return bad("name", "%q must be letters, digits, '.', '_' or '-' (it names the store folder)", s.Name)
	}
	if s.Seed < 0 {
		return bad("seed", "must be 0 (pick one) or positive, got %d", s.Seed)
	}
	if s.TimeLimit <= 0 {
		return bad("time_limit", "must be set to a positive duration such as 30s")
	}
	if s.Cluster.System != "etcd" {
		return bad("cluster.system", "unknown system %q; built in: etcd", s.Cluster.System)
	}
	if s.Cluster.Nodes < 1 || s.Cluster.Nodes > 5 {
		return bad("cluster.nodes", "must be between 1 and 5, got %d", s.Cluster.Nodes)
	}
	if s.Cluster.ReadyTimeout < 0 {
		return bad("cluster.ready_timeout", "must be positive")
	}
	w := s.Workload
	if w.Kind != "register" {
		return bad("workload.kind", "unknown workload %q; built in: register", w.Kind)
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
	if w.Mix.Write == 0 && w.Mix.CAS == 0 {
		return bad("workload.mix", "needs write or cas weight: reads alone check nothing")
	}
	if w.OpTimeout <= 0 {
		return bad("workload.op_timeout", "must be positive")
	}
	if w.Reads != "linearizable" && w.Reads != "serializable" {
		return bad("workload.reads", "must be linearizable or serializable, got %q", w.Reads)
	}
	n := s.Nemesis
	if len(n.Faults) > 0 {
		if n.Every <= 0 {
			return bad("nemesis.every", "must be a positive duration when faults are listed")
		}
		if n.Hold <= 0 || n.Hold >= n.Every {
			return bad("nemesis.hold", "must be positive and shorter than nemesis.every (%v), got %v", n.Every, n.Hold)
		}
	}
	if n.StartAfter < 0 {
		return bad("nemesis.start_after", "must not be negative")
	}
	for i, f := range n.Faults {
		field := fmt.Sprintf("nemesis.faults[%d]", i)
		switch f.Kind {
		case "isolate":
			if f.Node != "" && !validNode(f.Node, s.Cluster.Nodes) {
				return bad(field+".node", "no node %q in a %d-node cluster (nodes are n1..n%d)", f.Node, s.Cluster.Nodes, s.Cluster.Nodes)
			}
		case "halves":
			if f.Node != "" {
				return bad(field+".node", "halves picks its own nodes; node applies to isolate only")
			}
		default:
			return bad(field+".kind", "unknown fault %q; known: %s", f.Kind, strings.Join(FaultKinds, ", "))
		}
		if s.Cluster.Nodes < 2 {
			return bad(field+".kind", "a partition needs at least 2 nodes")
		}
	}
	if s.Checker.Budget <= 0 {
		return bad("checker.budget", "must be positive")
	}
	return nil
}

func validNode(name string, n int) bool {
	for i := 1; i <= n; i++ {
		if name == fmt.Sprintf("n%d", i) {
			return true
		}
	}
	return false
}

// lineOf finds the line of the field at a dotted path ("nemesis.faults[0].kind").
// When the field is absent it walks up to the nearest present parent; when
// nothing is present it answers 1.
func lineOf(file *ast.File, field string) int {
	if file == nil {
		return 1
	}
	for p := field; p != ""; {
		if path, err := yaml.PathString("$." + p); err == nil {
			if node, err := path.FilterFile(file); err == nil && node != nil && node.GetToken() != nil {
				return node.GetToken().Position.Line
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 1
}

// Marshal writes the scenario as run, with defaults and seed filled in.
func (s *Scenario) Marshal() ([]byte, error) {
	return yaml.MarshalWithOptions(s, yaml.IndentSequence(true))
}
