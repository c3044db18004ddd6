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
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/faultline/faultline/refkv"
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

	// Path is the file the scenario was loaded from.
	Path string `yaml:"-"`
}

// Cluster is the system under test.
type Cluster struct {
	// System is the system under test: "etcd" (default) or "refkv", the
	// reference store with switchable bugs (docs/subject.md).
	System string `yaml:"system"`
	// Bug switches on one of refkv's known bugs; empty or "none" is the
	// correct build. Only for system refkv.
	Bug string `yaml:"bug,omitempty"`
	// Nodes is the number of members, n1..nN: 1 to 5, default 3.
	Nodes int `yaml:"nodes"`
	// Image is the node image; empty means the image faultline builds for
	// the system (package docker names it; the run stores the one used).
	Image string `yaml:"image,omitempty"`
	// ReadyTimeout bounds the wait for every node to answer; default 60s.
	ReadyTimeout time.Duration `yaml:"ready_timeout"`
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
	// Mix weighs the operations; default read 50, write 25, cas 25.
	Mix Mix `yaml:"mix"`
	// OpTimeout bounds one operation; past it the outcome is unknown (info).
	// Default 1s.
	OpTimeout time.Duration `yaml:"op_timeout"`
	// Reads is "linearizable" (default) or "serializable" (etcd answers from
	// the member's local state, which may be stale).
	Reads string `yaml:"reads"`
	// Client, when set, runs a client program for each logical client
	// instead of the built-in adapter (see docs/adapters.md).
	Client *ClientProgram `yaml:"client,omitempty"`
}

// ClientProgram is a user's client, in any language, speaking JSON lines.
type ClientProgram struct {
	// Command is the program and its arguments, relative paths resolved
	// against the scenario file's folder.
	Command []string `yaml:"command"`
	// Env adds environment variables.
	Env map[string]string `yaml:"env,omitempty"`
}

// Mix is the relative weight of each operation.
type Mix struct {
	Read  int `yaml:"read"`
	Write int `yaml:"write"`
	CAS   int `yaml:"cas"`
}

// Nemesis is the fault schedule: after StartAfter, every Every one fault
// picked from Faults (at random, seeded, or in turn) is applied, held for
// Hold, then recovered. The run always ends healed.
type Nemesis struct {
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
	Faults   []Fault       `yaml:"faults,omitempty"`
	// Timeline is an explicit schedule instead: each fault at an offset
	// from the start of the workload, for a duration. Entries may not
	// overlap. A run stores the timeline it actually applied (with every
	// random choice resolved), which `faultline replay` runs again.
	Timeline []TimedFault `yaml:"timeline,omitempty"`
}

// TimedFault is one entry of an explicit timeline.
type TimedFault struct {
	At    time.Duration `yaml:"at" json:"at"`
	For   time.Duration `yaml:"for" json:"for"`
	Fault Fault         `yaml:"fault" json:"fault"`
}

// Fault is one entry of the nemesis' repertoire. Which fields apply depends
// on Kind; see docs/faults.md.
type Fault struct {
	// Kind is a partition shape (isolate, halves, majorities-ring, bridge,
	// one-way, custom), a gray fault (gray) or a process fault (kill,
	// pause, restart-cluster).
	Kind string `yaml:"kind" json:"kind,omitempty"`
	// Node picks the node for isolate, bridge, kill, pause and gray: a
	// name, "random" (the default) or "leader".
	Node string `yaml:"node,omitempty" json:"node,omitempty"`
	// Direction orients a partition: both (default; to for one-way and
	// custom), to (packets to the target side are dropped) or from.
	Direction string `yaml:"direction,omitempty" json:"direction,omitempty"`
	// Ports and Protocols limit a partition to some traffic, for example
	// ports [2380] to cut the peer port and keep the client port open.
	Ports     []int    `yaml:"ports,omitempty" json:"ports,omitempty"`
	Protocols []string `yaml:"protocols,omitempty" json:"protocols,omitempty"`
	// Action is drop (default, silent) or reject (TCP reset, ICMP
	// unreachable).
	Action string `yaml:"action,omitempty" json:"action,omitempty"`
	// Flap switches the partition off and on again at this interval while
	// it is held.
	Flap time.Duration `yaml:"flap,omitempty" json:"flap,omitempty"`
	// Grudge is the custom partition: each node maps to the nodes whose
	// packets it drops.
	Grudge map[string][]string `yaml:"grudge,omitempty" json:"grudge,omitempty"`
	// From and To select directed links: one-way drops From's packets to
	// To; gray degrades every link From x To (all nodes when one is empty).
	From []string `yaml:"from,omitempty" json:"from,omitempty"`
	To   []string `yaml:"to,omitempty" json:"to,omitempty"`
	// Gray degradation of each selected link (percentages are 0-100):
	// random loss, correlated with the previous packet's fate; delay with
	// jitter drawn from distribution (uniform or normal); duplication;
	// reordering (packets sent without the delay); corruption; a rate cap
	// such as "1mbit".
	Loss         float64       `yaml:"loss,omitempty" json:"loss,omitempty"`
	Correlation  float64       `yaml:"correlation,omitempty" json:"correlation,omitempty"`
	Delay        time.Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	Jitter       time.Duration `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	Distribution string        `yaml:"distribution,omitempty" json:"distribution,omitempty"`
	Duplicate    float64       `yaml:"duplicate,omitempty" json:"duplicate,omitempty"`
	Reorder      float64       `yaml:"reorder,omitempty" json:"reorder,omitempty"`
	Corrupt      float64       `yaml:"corrupt,omitempty" json:"corrupt,omitempty"`
	Rate         string        `yaml:"rate,omitempty" json:"rate,omitempty"`
}

// RateBPS is the gray rate cap in bits per second (0: none). The scenario
// was validated, so the rate parses.
func (f Fault) RateBPS() uint64 {
	bps, _ := ParseRate(f.Rate)
	return bps
}

// ParseRate reads a rate as tc writes it: "1mbit", "512kbit", "10gbit",
// "800bit", or in bytes "1mbps" (8 mbit). Empty is 0.
func ParseRate(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bit", 1}, {"bps", 8}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.ToLower(strings.TrimSpace(s)), u.suffix); ok {
			var v float64
			if _, err := fmt.Sscanf(num, "%g", &v); err != nil || v <= 0 || v*u.mult < 8 {
				return 0, fmt.Errorf("rate %q: want a positive number before %s, at least 8bit", s, u.suffix)
			}
			return uint64(v * u.mult), nil
		}
	}
	return 0, fmt.Errorf("rate %q: want a number and a unit: bit, kbit, mbit, gbit (or bps, kbps, mbps, gbps for bytes)", s)
}

// Checker bounds the linearizability check.
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
}

// WorkloadKinds lists the workloads a scenario may name.
var WorkloadKinds = []string{"register", "set", "counter", "append"}

// Fault kinds a scenario may name, by family.
var (
	PartitionKinds = []string{"isolate", "halves", "majorities-ring", "bridge", "one-way", "custom"}
	GrayKinds      = []string{"gray"}
	ProcessKinds   = []string{"kill", "pause", "restart-cluster"}
	FaultKinds     = slices.Concat(PartitionKinds, GrayKinds, ProcessKinds)
)

// Limits on values that would otherwise run away with the machine or the
// run: a scenario past them is refused, naming the field.
const (
	MaxFileSize    = 1 << 20
	MaxTimeLimit   = 24 * time.Hour
	MaxReady       = time.Hour
	MaxOpTimeout   = 10 * time.Minute
	MaxRate        = 100_000
	MaxDelay       = time.Minute
	MaxFaults      = 1000
	MaxPorts       = 64
	MaxCommandArgs = 64
)

// Load reads, strictly parses, defaults and validates a scenario file.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, src)
}

// Parse is Load on bytes already read; path only names the source in errors.
func Parse(path string, src []byte) (*Scenario, error) {
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes; a scenario is a page of YAML", ErrInvalid, path, MaxFileSize)
	}
	var s Scenario
	if err := decode(src, &s); err != nil {
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
	if c := s.Workload.Client; c != nil {
		if err := insideTree(c.Command, path); err != nil {
			file, _ := parser.ParseBytes(src, 0)
			return nil, fmt.Errorf("%w: %s:%d: workload.client.command: %v", ErrInvalid, path, lineOf(file, "workload.client.command"), err)
		}
		c.Command = resolveCommand(c.Command, filepath.Dir(path))
	}
	return &s, nil
}

// insideTree refuses client command arguments that name files outside the
// working tree: the current folder, or the project holding the scenario
// (the nearest folder above it with .git or go.mod). A program on PATH is
// named without a slash.
func insideTree(cmd []string, scenarioPath string) error {
	var roots []string
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	if abs, err := filepath.Abs(filepath.Dir(scenarioPath)); err == nil {
		root := abs
		for dir := abs; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
				root = dir
				break
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
		roots = append(roots, root)
	}
	for i, arg := range cmd {
		if !strings.Contains(arg, "/") || strings.HasPrefix(arg, "-") {
			continue
		}
		p := arg
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(scenarioPath), p)
		}
		p, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		inside := false
		for _, r := range roots {
			if rel, err := filepath.Rel(r, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				inside = true
			}
		}
		if !inside {
			hint := "keep the client program inside the project"
			if i == 0 {
				hint = "name the program without a path (it is looked up on PATH), or keep it inside the project"
			}
			return fmt.Errorf("[%d] %q is outside the working tree (%s); %s", i, arg, strings.Join(roots, ", "), hint)
		}
	}
	return nil
}

// resolveCommand makes the arguments of a client command that name a file
// beside the scenario absolute, so the scenario runs from any folder and
// the scenario stored with a run still finds its client.
func resolveCommand(cmd []string, base string) []string {
	out := slices.Clone(cmd)
	for i, arg := range out {
		if filepath.IsAbs(arg) || strings.HasPrefix(arg, "-") {
			continue
		}
		p := filepath.Join(base, arg)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			if abs, err := filepath.Abs(p); err == nil {
				out[i] = abs
			}
		}
	}
	return out
}

// decode parses strictly. The YAML library can panic on some malformed
// input (FuzzParse found a tag on an empty sequence); that is a bad
// scenario, not a crash.
func decode(src []byte, s *Scenario) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not a scenario the YAML parser can read (%v)", r)
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(src)), yaml.Strict(), yaml.DisallowUnknownField())
	return dec.Decode(s)
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
	if err := s.limits(bad); err != nil {
		return err
	}
	switch s.Cluster.System {
	case "etcd":
		if s.Cluster.Bug != "" {
			return bad("cluster.bug", "only system refkv has switchable bugs")
		}
	case "refkv":
		if _, err := refkv.ParseBug(s.Cluster.Bug); err != nil {
			return bad("cluster.bug", "%v", err)
		}
		if s.Workload.Kind != "" && s.Workload.Kind != "register" && s.Workload.Client == nil {
			return bad("workload.kind", "refkv's built-in adapter runs the register workload only, not %q", s.Workload.Kind)
		}
		if s.Workload.Reads == "serializable" {
			return bad("workload.reads", "refkv has no serializable reads; its follower-reads bug is the way to get them")
		}
	default:
		return bad("cluster.system", "unknown system %q; built in: etcd, refkv", s.Cluster.System)
	}
	if s.Cluster.Nodes < 1 || s.Cluster.Nodes > 5 {
		return bad("cluster.nodes", "must be between 1 and 5, got %d", s.Cluster.Nodes)
	}
	if s.Cluster.ReadyTimeout < 0 {
		return bad("cluster.ready_timeout", "must be positive")
	}
	w := s.Workload
	if !slices.Contains(WorkloadKinds, w.Kind) {
		return bad("workload.kind", "unknown workload %q; built in: %s", w.Kind, strings.Join(WorkloadKinds, ", "))
	}
	if w.Client != nil && len(w.Client.Command) == 0 {
		return bad("workload.client.command", "needs the program to run, for example [python3, client.py]")
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
	if w.Reads != "linearizable" && w.Reads != "serializable" {
		return bad("workload.reads", "must be linearizable or serializable, got %q", w.Reads)
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
			err := s.validateFault(field+".fault", e.Fault, bad)
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
		if err := s.validateFault(fmt.Sprintf("nemesis.faults[%d]", i), f, bad); err != nil {
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

var (
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	imageRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$`)
)

// limits refuses absurd sizes and durations, and values that could be
// taken for something else (an image reference that is not one, an
// environment name that is not a name).
func (s *Scenario) limits(bad func(field, format string, args ...any) error) error {
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
		return bad("nemesis", "more than %d faults listed", MaxFaults)
	}
	type entry struct {
		field string
		f     Fault
	}
	var faults []entry
	for i, f := range n.Faults {
		faults = append(faults, entry{fmt.Sprintf("nemesis.faults[%d]", i), f})
	}
	for i, e := range n.Timeline {
		field := fmt.Sprintf("nemesis.timeline[%d]", i)
		durs = append(durs, dur{field + ".at", e.At, MaxTimeLimit}, dur{field + ".for", e.For, MaxTimeLimit})
		faults = append(faults, entry{field + ".fault", e.Fault})
	}
	for _, e := range faults {
		durs = append(durs, dur{e.field + ".delay", e.f.Delay, MaxDelay}, dur{e.field + ".jitter", e.f.Jitter, MaxDelay}, dur{e.field + ".flap", e.f.Flap, MaxTimeLimit})
	}
	for _, d := range durs {
		if d.v > d.max {
			return bad(d.field, "%v is more than the %v faultline allows", d.v, d.max)
		}
	}
	for _, e := range faults {
		if len(e.f.Ports) > MaxPorts {
			return bad(e.field+".ports", "more than %d ports", MaxPorts)
		}
	}
	w := s.Workload
	if w.Rate > MaxRate {
		return bad("workload.rate", "%g operations per second is more than the %d faultline allows", w.Rate, MaxRate)
	}
	if w.OpsPerKey > 10_000_000 {
		return bad("workload.ops_per_key", "must be at most 10000000, got %d", w.OpsPerKey)
	}
	if w.Mix.Read > 1_000_000 || w.Mix.Write > 1_000_000 || w.Mix.CAS > 1_000_000 {
		return bad("workload.mix", "weights are relative; keep each under 1000000")
	}
	if c := w.Client; c != nil {
		if len(c.Command) > MaxCommandArgs {
			return bad("workload.client.command", "more than %d arguments", MaxCommandArgs)
		}
		for i, a := range c.Command {
			if len(a) > 4096 || strings.ContainsRune(a, 0) {
				return bad("workload.client.command", "argument %d is longer than 4096 bytes or holds a NUL byte", i)
			}
		}
		if len(c.Env) > 64 {
			return bad("workload.client.env", "more than 64 variables")
		}
		for k, v := range c.Env {
			if !envNameRE.MatchString(k) || len(v) > 4096 || strings.ContainsRune(v, 0) {
				return bad("workload.client.env", "%q is not an environment variable name (letters, digits, _) with a value under 4096 bytes", k)
			}
		}
	}
	if img := s.Cluster.Image; img != "" && (len(img) > 256 || !imageRE.MatchString(img)) {
		return bad("cluster.image", "%q is not an image reference such as faultline/etcd:v3.6.16", img)
	}
	if len(s.Description) > 4096 {
		return bad("description", "longer than 4096 bytes")
	}
	return nil
}

// validateFault checks one fault entry; field is its path for errors.
func (s *Scenario) validateFault(field string, f Fault, bad func(field, format string, args ...any) error) error {
	n := s.Cluster.Nodes
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
	if f.Node != "" && f.Node != "random" && f.Node != "leader" && !validNode(f.Node, n) {
		return bad(field+".node", "no node %q in a %d-node cluster (nodes are n1..n%d, or random, or leader)", f.Node, n, n)
	}
	for _, list := range []struct {
		name  string
		nodes []string
	}{{"from", f.From}, {"to", f.To}} {
		for _, node := range list.nodes {
			if !validNode(node, n) {
				return bad(field+"."+list.name, "no node %q in a %d-node cluster", node, n)
			}
		}
	}
	if f.Direction != "" && f.Direction != "to" && f.Direction != "from" && f.Direction != "both" {
		return bad(field+".direction", "must be to, from or both, got %q", f.Direction)
	}
	for _, p := range f.Ports {
		if p < 1 || p > 65535 {
			return bad(field+".ports", "port %d is not between 1 and 65535", p)
		}
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
			if !validNode(dst, n) {
				return bad(field+".grudge", "no node %q in a %d-node cluster", dst, n)
			}
			for _, src := range srcs {
				if !validNode(src, n) || src == dst {
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
