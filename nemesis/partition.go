package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/faultline/faultline/history"
)

// Direction orients a shape's cut. Every shape builds its grudge in the
// "to" orientation: packets *to* its target side are dropped (an isolated
// node hears nobody). "from" is the transpose (nobody hears the isolated
// node), "both" the union.
type Direction string

const (
	To   Direction = "to"
	From Direction = "from"
	Both Direction = "both"
)

// Action is what happens to a cut packet.
type Action string

const (
	// Drop discards the packet silently, at the receiver: the sender sees
	// nothing but time passing.
	Drop Action = "drop"
	// Reject refuses the packet at the sender (TCP reset, else ICMP host
	// unreachable), so the sender's call fails at once.
	Reject Action = "reject"
)

// Scope limits a partition to some traffic: packets of the given protocols
// from or to the given ports. The zero Scope is all traffic.
type Scope struct {
	Protocols []string // "tcp", "udp"; empty with ports set: both
	Ports     []PortRange
}

// PortRange is one port (Lo == Hi) or an inclusive range of them
// (history.PortRange: the one type, in the fault catalogue as in the
// systems' definitions).
type PortRange = history.PortRange

// Port is the range of one port.
func Port(p uint16) PortRange { return PortRange{Lo: p, Hi: p} }

// All reports whether the scope covers all traffic.
func (s Scope) All() bool { return len(s.Ports) == 0 }

func (s Scope) protocols() []string {
	if len(s.Protocols) == 0 {
		return []string{"tcp", "udp"}
	}
	return s.Protocols
}

// Covers reports whether a packet of proto to or from port falls in scope.
func (s Scope) Covers(proto string, port uint16) bool {
	if s.All() {
		return true
	}
	if !slices.Contains(s.protocols(), proto) {
		return false
	}
	for _, r := range s.Ports {
		if r.Contains(port) {
			return true
		}
	}
	return false
}

func (s Scope) String() string {
	if s.All() {
		return "all traffic"
	}
	var ports []string
	for _, p := range s.Ports {
		ports = append(ports, p.String())
	}
	return strings.Join(s.protocols(), "+") + " port " + strings.Join(ports, ",")
}

// Partition is a network partition: a directed grudge, the traffic it cuts
// and how.
type Partition struct {
	Grudge Grudge
	Scope  Scope
	Action Action
}

// Cuts reports whether packets from a to b in scope are cut.
func (p Partition) Cuts(a, b string) bool { return slices.Contains(p.Grudge[b], a) }

// Env is what a shape may consult to pick its nodes.
type Env struct {
	Nodes []string
	Rng   *rand.Rand
	// Leader names the current leader, when the workload's client adapter
	// can tell; nil when it cannot.
	Leader func(ctx context.Context) (string, error)
}

// Shape builds a grudge, in the "to" orientation, from the cluster's nodes.
// Random choices come from env.Rng, so a seeded run picks the same nodes.
type Shape interface {
	// Name is the shape's scenario name ("isolate", "halves", ...).
	Name() string
	Grudge(ctx context.Context, env Env) (Grudge, error)
}

var (
	_ Shape = Isolate{}
	_ Shape = Halves{}
	_ Shape = MajoritiesRing{}
	_ Shape = Bridge{}
	_ Shape = OneWay{}
	_ Shape = Custom{}
)

// Isolate cuts one node off from every other node. Node is a name, "" or
// "random" for a random node, or "leader" for the current leader.
type Isolate struct{ Node string }

func (Isolate) Name() string { return "isolate" }

func (s Isolate) Grudge(ctx context.Context, env Env) (Grudge, error) {
	victim, err := pickNode(ctx, env, s.Node)
	if err != nil {
		return nil, fmt.Errorf("isolate: %w", err)
	}
	return Grudge{victim: others(env.Nodes, victim)}, nil
}

// Halves splits the nodes at random into a minority (the target side) and
// a majority.
type Halves struct{}

func (Halves) Name() string { return "halves" }

func (Halves) Grudge(_ context.Context, env Env) (Grudge, error) {
	if len(env.Nodes) < 2 {
		return nil, errors.New("halves: needs at least 2 nodes")
	}
	return splitCut(shuffle(env)), nil
}

// splitCut splits nodes in two, the first (smaller) half the target side,
// and returns the grudge in which that half drops the other's packets.
func splitCut(nodes []string) Grudge {
	a, b := slices.Clone(nodes[:len(nodes)/2]), slices.Clone(nodes[len(nodes)/2:])
	slices.Sort(a)
	slices.Sort(b)
	g := Grudge{}
	for _, x := range a {
		g[x] = slices.Clone(b)
	}
	return g
}

// MajoritiesRing arranges the nodes in a random ring in which every node
// sees itself and its nearest neighbours, a majority, and no two nodes see
// the same majority (Jepsen's majorities-ring). Each node drops packets from
// the nodes it does not see. With 3 nodes every node sees every other and
// the ring cuts nothing.
type MajoritiesRing struct{}

func (MajoritiesRing) Name() string { return "majorities-ring" }

func (MajoritiesRing) Grudge(_ context.Context, env Env) (Grudge, error) {
	n := len(env.Nodes)
	if n < 4 {
		return nil, fmt.Errorf("majorities-ring: needs at least 4 nodes, the cluster has %d", n)
	}
	ring := shuffle(env)
	// Each node sees the nodes within reach on either side of it: with
	// itself that is at least a majority (n/2+1), and every window differs.
	reach := (n/2 + 1) / 2
	g := Grudge{}
	for i, node := range ring {
		for d := reach + 1; d < n-reach; d++ {
			// Orient each unseen pair one way round the ring, so that "to"
			// and "from" are each half of the symmetric ring.
			g[node] = append(g[node], ring[(i+d)%n])
		}
	}
	return orientRing(g, ring), nil
}

// orientRing keeps, for each unordered unseen pair, only the cut into the
// node that comes first on the ring, so Both restores the symmetric ring.
func orientRing(g Grudge, ring []string) Grudge {
	pos := map[string]int{}
	for i, n := range ring {
		pos[n] = i
	}
	out := Grudge{}
	for dst, srcs := range g {
		for _, src := range srcs {
			if pos[dst] < pos[src] {
				out[dst] = append(out[dst], src)
			}
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// Bridge splits the nodes into two halves that cannot reach each other,
// joined by one node (the bridge) that sees both. Node names the bridge:
// a name, "" or "random", or "leader".
type Bridge struct{ Node string }

func (Bridge) Name() string { return "bridge" }

func (s Bridge) Grudge(ctx context.Context, env Env) (Grudge, error) {
	if len(env.Nodes) < 3 {
		return nil, fmt.Errorf("bridge: needs at least 3 nodes, the cluster has %d", len(env.Nodes))
	}
	bridge, err := pickNode(ctx, env, s.Node)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	rest := slices.DeleteFunc(shuffle(env), func(n string) bool { return n == bridge })
	return splitCut(rest), nil
}

// OneWay drops the packets of the From nodes to the To nodes, while the To
// nodes' packets still reach the From nodes.
type OneWay struct{ From, To []string }

func (OneWay) Name() string { return "one-way" }

func (s OneWay) Grudge(_ context.Context, env Env) (Grudge, error) {
	g := Grudge{}
	for _, to := range s.To {
		g[to] = slices.Clone(s.From)
	}
	return g, g.Validate(env.Nodes)
}

// Custom is a grudge written out in the scenario: each node maps to the
// nodes whose packets it drops.
type Custom struct{ G Grudge }

func (Custom) Name() string { return "custom" }

func (s Custom) Grudge(_ context.Context, env Env) (Grudge, error) {
	return s.G, s.G.Validate(env.Nodes)
}

// Orient turns a grudge built in the "to" orientation into d's.
func Orient(g Grudge, d Direction) Grudge {
	out := Grudge{}
	add := func(dst, src string) {
		if !slices.Contains(out[dst], src) {
			out[dst] = append(out[dst], src)
		}
	}
	for dst, srcs := range g {
		for _, src := range srcs {
			if d == To || d == Both || d == "" {
				add(dst, src)
			}
			if d == From || d == Both {
				add(src, dst)
			}
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

func shuffle(env Env) []string {
	s := slices.Clone(env.Nodes)
	env.Rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func others(nodes []string, not string) []string {
	var out []string
	for _, n := range nodes {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}
