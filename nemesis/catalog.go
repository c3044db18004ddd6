package nemesis

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// Spec is one fault as a scenario writes it: its kind and the fields that
// kind takes (docs/faults.md). The catalogue below validates it (the only
// copy of each rule) and builds the Fault it names.
type Spec struct {
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
	// Ports and Protocols limit a partition to some traffic: port numbers,
	// ranges ("9100-9105") and the system's port roles (peer, client), for
	// example `ports: peer` to cut replication and keep the client port
	// open.
	Ports     Ports    `yaml:"ports,omitempty" json:"ports,omitempty"`
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

	// scope is Ports resolved against the system's roles (Resolve): once,
	// when the scenario is loaded.
	scope []PortRange
}

// Family groups the kinds.
type Family string

const (
	FamilyPartition Family = "partition"
	FamilyGray      Family = "gray"
	FamilyProcess   Family = "process"
)

// Kind is one entry of the catalogue: what a scenario names, the fields it
// takes, its own rules, what it needs of the system, and how its Fault is
// built. Optional abilities of the built faults are interfaces (Needer);
// a kind that has a weaker form (the fault a shape-specific bug should be
// missed by) says so in weaker.
type Kind struct {
	Name   string
	Family Family
	// Doc says in a line what it does, for `faultline list`.
	Doc string
	// Fields are the Spec fields it takes besides kind.
	Fields []string
	// kills and pauses: it stops nodes and starts them again, or freezes
	// them; the system must support that.
	kills, pauses bool
	check         func(s Spec, c Context) error
	build         func(s Spec) Fault
	weaker        func(s Spec) (Spec, string, bool)
}

var (
	partitionFields = []string{"direction", "ports", "protocols", "action", "flap"}
	grayFields      = []string{"node", "from", "to", "loss", "correlation", "delay", "jitter", "distribution", "duplicate", "reorder", "corrupt", "rate"}
)

// catalogue is the one list of fault kinds.
var catalogue = []Kind{
	{Name: "isolate", Family: FamilyPartition, Doc: "one node (named, random or the leader) cut off from the others",
		Fields: append([]string{"node"}, partitionFields...),
		build:  func(s Spec) Fault { return partition(s, Isolate{Node: s.Node}) }},
	{Name: "halves", Family: FamilyPartition, Doc: "a random minority cut off from the majority",
		Fields: partitionFields,
		build:  func(s Spec) Fault { return partition(s, Halves{}) }},
	{Name: "majorities-ring", Family: FamilyPartition, Doc: "every node sees a different majority (4+ nodes)",
		Fields: partitionFields, check: atLeast(4, "majorities-ring needs at least 4 nodes (with %d every node sees all others)"),
		build: func(s Spec) Fault { return partition(s, MajoritiesRing{}) }},
	{Name: "bridge", Family: FamilyPartition, Doc: "two halves joined by one node that sees both",
		Fields: append([]string{"node"}, partitionFields...), check: atLeast(3, "bridge needs at least 3 nodes"),
		build: func(s Spec) Fault { return partition(s, Bridge{Node: s.Node}) }},
	{Name: "one-way", Family: FamilyPartition, Doc: "from's packets to to are dropped, the other way works",
		Fields: append([]string{"from", "to"}, partitionFields...), check: checkOneWay,
		build: func(s Spec) Fault { return partition(s, OneWay{From: s.From, To: s.To}) }},
	{Name: "custom", Family: FamilyPartition, Doc: "an explicit grudge: node -> nodes whose packets it drops",
		Fields: append([]string{"grudge"}, partitionFields...), check: checkCustom,
		build: func(s Spec) Fault { return partition(s, Custom{G: Grudge(s.Grudge)}) }},
	{Name: "gray", Family: FamilyGray, Doc: "loss, correlation, delay, jitter, duplicate, reorder, corrupt, rate on links",
		Fields: grayFields, check: checkGray,
		build: func(s Spec) Fault {
			return &GrayFault{Links: LinkSpec{From: s.From, To: s.To, Node: s.Node}, Template: s.gray(), spec: s}
		},
		weaker: func(s Spec) (Spec, string, bool) {
			node := s.Node
			if node == "" {
				node = "random"
			}
			return Spec{Kind: "isolate", Node: node}, "clean cut instead of gray", true
		}},
	{Name: "kill", Family: FamilyProcess, Doc: "SIGKILL a node, restart it on its data",
		Fields: []string{"node"}, kills: true, build: func(s Spec) Fault { return &KillFault{Node: s.Node, spec: s} }},
	{Name: "pause", Family: FamilyProcess, Doc: "freeze a node, thaw it",
		Fields: []string{"node"}, pauses: true, build: func(s Spec) Fault { return &PauseFault{Node: s.Node, spec: s} }},
	{Name: "restart-cluster", Family: FamilyProcess, Doc: "kill every node, restart them all",
		kills: true, check: noNode, build: func(s Spec) Fault { return &RestartClusterFault{spec: s} }},
}

// Kinds lists the catalogue, in order.
func Kinds() []Kind { return slices.Clone(catalogue) }

// KindNames lists the kinds' names, of one family or of all ("").
func KindNames(family Family) []string {
	var out []string
	for _, k := range catalogue {
		if family == "" || k.Family == family {
			out = append(out, k.Name)
		}
	}
	return out
}

// LookupKind finds a kind by name.
func LookupKind(name string) (Kind, bool) {
	for _, k := range catalogue {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// FieldError is a rule a Spec breaks, naming its field ("node",
// "grudge.n1"); Err, when set, is a sentinel a caller may test
// (ErrUnknownNode).
type FieldError struct {
	Field string
	Msg   string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Context is what a Spec is validated against: the cluster, how long
// the fault is held, and what the system under test supports.
type Context struct {
	// Nodes are the cluster's node names; nil when only the run can tell
	// (a cluster attached by labels): names are then not checked.
	Nodes []string
	// Found says who found Nodes when a run checks them again (the
	// attach selector), for its messages; "" for the scenario's own.
	Found string
	// Hold is how long the fault is held: a flap must be shorter.
	Hold time.Duration
	// System is what the system under test supports.
	System System
	// CannotKill says why no node may be killed here (an attached
	// container that Docker removes when it stops, or restarts at once);
	// "" when nodes may be.
	CannotKill string
}

// System is what the catalogue asks of the system under test.
type System struct {
	// Name and Where name it and the file that defines it, for messages.
	Name, Where string
	// Leader: it has a way to find its leader, for faults aimed at it.
	Leader bool
	// NoKill and NoPause: its nodes may not be killed, or paused
	// (supports.kill: false, supports.pause: false).
	NoKill, NoPause bool
	// Ports resolves a fault's ports: numbers, ranges and the system's
	// port roles (peer, client). Nil: numbers and ranges only.
	Ports func(spec []string) ([]PortRange, error)
}

func (c Context) known(name string) bool { return c.Nodes == nil || slices.Contains(c.Nodes, name) }

// unknown is the error of a field naming a node the cluster lacks.
func (c Context) unknown(field, name string) *FieldError {
	msg := fmt.Sprintf("no node %q in this cluster (nodes are %s)", name, strings.Join(c.Nodes, ", "))
	if field == "node" {
		msg = fmt.Sprintf("no node %q in this cluster (nodes are %s, or random, or leader)", name, strings.Join(c.Nodes, ", "))
	}
	if c.Found != "" {
		msg = fmt.Sprintf("names node %q, which %s did not find (it found %s)", name, c.Found, strings.Join(c.Nodes, ", "))
	}
	return &FieldError{Field: field, Msg: msg, Err: ErrUnknownNode}
}

// size is the cluster size rules compare against (2 when unknown).
func (c Context) size() int {
	if c.Nodes == nil {
		return 2
	}
	return len(c.Nodes)
}

// specFields are the YAML names of every field a Spec has besides kind,
// read off its struct: the one list of the fault schema.
var specFields = func() []string {
	var out []string
	t := reflect.TypeFor[Spec]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" && name != "kind" {
			out = append(out, name)
		}
	}
	return out
}()

// set reports whether the Spec sets the field its YAML names.
func (s Spec) set(field string) bool {
	v := reflect.ValueOf(s)
	t := v.Type()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == field {
			switch f := v.Field(i); f.Kind() {
			case reflect.Slice:
				return f.Len() > 0
			case reflect.Map:
				return !f.IsNil()
			default:
				return !f.IsZero()
			}
		}
	}
	return false
}

// kindsTaking lists the kinds that take a field.
func kindsTaking(field string) []string {
	var out []string
	for _, k := range catalogue {
		if slices.Contains(k.Fields, field) {
			out = append(out, k.Name)
		}
	}
	return out
}

// Limits on a fault's values, past which a scenario is refused.
const (
	MaxDelay = time.Minute
	MaxPorts = 64
)

// Validate checks a Spec: a known kind, only fields it takes, node names
// of the cluster, values within limits, what the kind needs of the
// system (a leader to aim at, nodes that may be killed or paused, port
// roles it has), and the kind's own rules. The error is a *FieldError.
func (s Spec) Validate(c Context) error {
	_, err := s.validate(c)
	return err
}

// Resolve is Validate, and then resolves the fault's ports against the
// system's roles: once, when the scenario is loaded; Build uses them.
func (s *Spec) Resolve(c Context) error {
	scope, err := s.validate(c)
	if err == nil {
		s.scope = scope
	}
	return err
}

func (s Spec) validate(c Context) ([]PortRange, error) {
	k, ok := LookupKind(s.Kind)
	if !ok {
		return nil, fieldErr("kind", "unknown fault %q; known: %s", s.Kind, strings.Join(KindNames(""), ", "))
	}
	if k.Family != FamilyProcess && c.size() < 2 {
		return nil, fieldErr("kind", "%s needs at least 2 nodes", s.Kind)
	}
	for _, f := range specFields {
		if s.set(f) && !slices.Contains(k.Fields, f) {
			return nil, fieldErr(f, "does not apply to %s (only to %s)", s.Kind, strings.Join(kindsTaking(f), ", "))
		}
	}
	if err := s.checkNames(c); err != nil {
		return nil, err
	}
	if err := s.limits(); err != nil {
		return nil, err
	}
	if k.Family == FamilyPartition {
		if err := s.checkPartition(c); err != nil {
			return nil, err
		}
	}
	if k.check != nil {
		if err := k.check(s, c); err != nil {
			return nil, err
		}
	}
	return s.checkSystem(k, c)
}

// checkNames refuses a node name the cluster lacks, in node, from, to
// and the grudge.
func (s Spec) checkNames(c Context) error {
	if s.Node != "" && s.Node != "random" && s.Node != "leader" && !c.known(s.Node) {
		return c.unknown("node", s.Node)
	}
	for _, list := range []struct {
		name  string
		nodes []string
	}{{"from", s.From}, {"to", s.To}} {
		for _, node := range list.nodes {
			if !c.known(node) {
				return c.unknown(list.name, node)
			}
		}
	}
	if c.Found == "" {
		return nil // the grudge's own rules name its entries (checkCustom)
	}
	for _, dst := range slices.Sorted(maps.Keys(s.Grudge)) {
		for _, n := range append([]string{dst}, s.Grudge[dst]...) {
			if !c.known(n) {
				return c.unknown("grudge", n)
			}
		}
	}
	return nil
}

// limits refuses values that would run away with the run.
func (s Spec) limits() error {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"delay", s.Delay}, {"jitter", s.Jitter}} {
		if d.v > MaxDelay {
			return fieldErr(d.field, "%v is more than the %v faultline allows", d.v, MaxDelay)
		}
	}
	if len(s.Ports) > MaxPorts {
		return fieldErr("ports", "more than %d ports", MaxPorts)
	}
	return nil
}

// checkSystem holds what a kind needs of the system: a way to find the
// leader for a fault aimed at it, nodes that may be killed or paused,
// and the port roles its ports name, which it returns resolved.
func (s Spec) checkSystem(k Kind, c Context) ([]PortRange, error) {
	sys := c.System
	if s.Node == "leader" && !sys.Leader {
		return nil, fieldErr("node", "\"leader\" needs a way to find the leader, and system %s has none: add leader: (http, command or client) to %s (docs/systems.md), or aim at a node or random", sys.Name, sys.Where)
	}
	switch {
	case k.kills && sys.NoKill:
		return nil, fieldErr("kind", "system %s does not support %s (supports.kill: false in %s)", sys.Name, s.Kind, sys.Where)
	case k.pauses && sys.NoPause:
		return nil, fieldErr("kind", "system %s does not support pause (supports.pause: false in %s)", sys.Name, sys.Where)
	case k.kills && c.CannotKill != "":
		return nil, &FieldError{Field: "kind", Msg: c.CannotKill, Err: ErrCannotKill}
	}
	if len(s.Ports) == 0 {
		return nil, nil
	}
	resolve := sys.Ports
	if resolve == nil {
		resolve = numericPorts
	}
	ports, err := resolve(s.Ports)
	if err != nil {
		return nil, &FieldError{Field: "ports", Msg: err.Error(), Err: err}
	}
	return ports, nil
}

// numericPorts resolves ports written as numbers and ranges.
func numericPorts(spec []string) ([]PortRange, error) {
	var out []PortRange
	for _, p := range spec {
		r, err := history.ParsePortRange(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func noNode(s Spec, _ Context) error {
	if s.Node != "" {
		return fieldErr("node", "restart-cluster restarts every node")
	}
	return nil
}

// checkPartition holds the rules every partition shares.
func (s Spec) checkPartition(c Context) error {
	if s.Direction != "" && s.Direction != string(To) && s.Direction != string(From) && s.Direction != string(Both) {
		return fieldErr("direction", "must be to, from or both, got %q", s.Direction)
	}
	for _, p := range s.Protocols {
		if p != "tcp" && p != "udp" {
			return fieldErr("protocols", "must be tcp or udp, got %q", p)
		}
	}
	if len(s.Protocols) > 0 && len(s.Ports) == 0 {
		return fieldErr("protocols", "needs ports: a scope is protocols on ports")
	}
	if s.Action != "" && s.Action != string(Drop) && s.Action != string(Reject) {
		return fieldErr("action", "must be drop or reject, got %q", s.Action)
	}
	if s.Flap < 0 || (s.Flap > 0 && s.Flap < MinFlap) {
		return fieldErr("flap", "must be at least %v (each switch is verified with probes), got %v", MinFlap, s.Flap)
	}
	if s.Flap > 0 && s.Flap >= c.Hold {
		return fieldErr("flap", "must be shorter than nemesis.hold (%v) to flap at all", c.Hold)
	}
	return nil
}

// MinFlap is the shortest flap interval: each switch is verified.
const MinFlap = 500 * time.Millisecond

func atLeast(n int, msg string) func(Spec, Context) error {
	return func(s Spec, c Context) error {
		if c.size() < n {
			if strings.Contains(msg, "%d") {
				return fieldErr("kind", msg, c.size())
			}
			return fieldErr("kind", "%s", msg)
		}
		return nil
	}
}

func checkOneWay(s Spec, _ Context) error {
	if len(s.From) == 0 || len(s.To) == 0 {
		return fieldErr("from", "one-way needs from and to: from's packets to to are dropped")
	}
	for _, a := range s.From {
		if slices.Contains(s.To, a) {
			return fieldErr("to", "%s is in both from and to", a)
		}
	}
	return nil
}

func checkCustom(s Spec, c Context) error {
	if len(s.Grudge) == 0 {
		return fieldErr("grudge", "custom needs a grudge: each node maps to the nodes whose packets it drops")
	}
	if err := Grudge(s.Grudge).Validate(c.Nodes); err != nil {
		return err
	}
	return nil
}

func checkGray(s Spec, _ Context) error {
	if _, err := ParseRate(s.Rate); err != nil {
		return &FieldError{Field: "rate", Msg: err.Error(), Err: err}
	}
	if s.Loss == 0 && s.Delay == 0 && s.Duplicate == 0 && s.Reorder == 0 && s.Corrupt == 0 && s.Rate == "" {
		return fieldErr("kind", "gray needs at least one of loss, delay, duplicate, reorder, corrupt, rate")
	}
	if err := validateGray(s.gray()); err != nil {
		return err
	}
	if s.Node != "" && (len(s.From) > 0 || len(s.To) > 0) {
		return fieldErr("node", "give node (every link of one node) or from/to (chosen links), not both")
	}
	return nil
}

// gray is the degradation a gray Spec puts on each of its links.
func (s Spec) gray() Gray {
	rate, _ := ParseRate(s.Rate) // validated
	return Gray{Loss: s.Loss, Correlation: s.Correlation, Delay: s.Delay, Jitter: s.Jitter, Distribution: s.Distribution,
		Duplicate: s.Duplicate, Reorder: s.Reorder, Corrupt: s.Corrupt, Rate: rate}
}

// Build makes the Fault a resolved Spec names (Resolve): a plan, injected
// as often as the schedule says.
func (s Spec) Build() (Fault, error) {
	k, ok := LookupKind(s.Kind)
	if !ok {
		return nil, fmt.Errorf("unknown fault %q", s.Kind)
	}
	if len(s.Ports) > 0 && s.scope == nil {
		return nil, fmt.Errorf("%s: ports %v were not resolved against the system (Spec.Resolve)", s.Kind, []string(s.Ports))
	}
	return k.build(s), nil
}

func partition(s Spec, shape Shape) Fault {
	return &PartitionFault{Shape: shape, Direction: Direction(s.Direction), Scope: Scope{Protocols: s.Protocols, Ports: s.scope}, Action: Action(s.Action), Flap: s.Flap, spec: s}
}

// Weaker is the weaker form of a fault: the one a bug specific to its
// shape should be missed by. A gray fault becomes a clean cut of the same
// links, a port-scoped cut a cut of every port, a one-way cut the same cut
// both ways. It says what it changed, and false when there is none.
func (s Spec) Weaker() (Spec, string, bool) {
	k, ok := LookupKind(s.Kind)
	if !ok {
		return s, "", false
	}
	if k.weaker != nil {
		return k.weaker(s)
	}
	if k.Family != FamilyPartition {
		return s, "", false
	}
	out := s
	switch {
	case len(s.Ports) > 0 || len(s.Protocols) > 0:
		out.Ports, out.Protocols, out.scope = nil, nil, nil
		return out, "every port cut instead of some", true
	case s.Direction == string(To) || s.Direction == string(From) || (s.Direction == "" && (s.Kind == "one-way" || s.Kind == "custom")):
		out.Direction = string(Both)
		return out, "cut both ways instead of one way", true
	}
	return s, "", false
}

// Ports is a fault's port scope as written: each entry a port ("2380"), a
// range ("9100-9105") or a role of the system's ports ("peer", "client").
// In YAML one entry or a list, numbers or strings.
type Ports []string

// UnmarshalYAML takes a number, a string or a list of them.
func (p *Ports) UnmarshalYAML(unmarshal func(any) error) error {
	var list []any
	if err := unmarshal(&list); err != nil {
		var one any
		if err := unmarshal(&one); err != nil {
			return err
		}
		list = []any{one}
	}
	out := make(Ports, 0, len(list))
	for _, v := range list {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case uint64:
			out = append(out, strconv.FormatUint(v, 10))
		case int64:
			out = append(out, strconv.FormatInt(v, 10))
		case int:
			out = append(out, strconv.Itoa(v))
		case float64:
			out = append(out, strconv.FormatFloat(v, 'f', -1, 64))
		default:
			return fmt.Errorf("ports: %v is not a port, a range such as \"9100-9105\" or a role (peer, client)", v)
		}
	}
	*p = out
	return nil
}

// MarshalYAML writes numbers as numbers.
func (p Ports) MarshalYAML() (any, error) {
	out := make([]any, len(p))
	for i, s := range p {
		if n, err := strconv.Atoi(s); err == nil {
			out[i] = n
		} else {
			out[i] = s
		}
	}
	return out, nil
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
