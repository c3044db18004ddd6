package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Table is the nftables table faultline owns in each node's namespace. It
// lives for the run: heal empties its chains, Close deletes it, and
// nothing else of the namespace's is touched.
const Table = "faultline"

// Node is one member of the cluster as the nemesis sees it.
type Node struct {
	Name string `json:"name"`
	// Addr is the node's address on the cluster network: the source address
	// of its packets to the other nodes.
	Addr netip.Addr `json:"addr"`
	// NetNS is a path to the node's network namespace: /proc/PID/ns/net for
	// a container, /run/netns/NAME for a namespace made by `ip netns add`,
	// /proc/self/ns/net in a helper. An agent that does not enter it from
	// here (a helper's) may ignore it.
	NetNS string `json:"netns,omitempty"`
}

// Net holds the desired network state of a fixed set of nodes (one
// partition, any number of gray links) and makes each node's namespace
// match it, through one Agent per node. Every change is a reconcile: the
// whole rule set of every node is computed and set in one batch per node,
// replacing what was there. Close, at the end of the run, removes
// faultline's tables. Its methods are safe for concurrent use.
type Net struct {
	mu       sync.Mutex
	nodes    []Node
	down     map[string]bool
	part     Partition
	gray     []Gray
	agents   map[string]Agent
	newAgent AgentMaker
	seed     uint64
	engine   Engine
}

// AgentMaker makes the agent of a node: how the nemesis reaches its
// namespace.
type AgentMaker func(ctx context.Context, node Node) (Agent, error)

// Engine is what carries out gray faults that nftables alone cannot.
type Engine string

const (
	// EngineQueue is the userspace stage behind an NFQUEUE rule. It works
	// on any kernel with the NFQUEUE target.
	EngineQueue Engine = "queue"
	// EngineNetem is sch_netem under faultline's HTB root, one class per
	// destination. Links netem cannot express (normal jitter needs a
	// distribution table) still use the queue.
	EngineNetem Engine = "netem"
)

// SetEngine picks the gray engine (default EngineQueue).
func (n *Net) SetEngine(e Engine) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.engine = e
}

// NewNet binds a nemesis to nodes, each reached by entering its namespace
// from this process (NamespaceAgent) until Bind says otherwise. It touches
// nothing until a fault.
func NewNet(nodes []Node) (*Net, error) {
	seen := map[string]bool{}
	for _, n := range nodes {
		if n.Name == "" || !n.Addr.IsValid() || n.NetNS == "" {
			return nil, fmt.Errorf("nemesis: node %q needs a name, an address and a namespace", n.Name)
		}
		if !n.Addr.Is4() {
			return nil, fmt.Errorf("nemesis: node %s: only IPv4 node addresses are supported, got %s", n.Name, n.Addr)
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("nemesis: node %q given twice", n.Name)
		}
		seen[n.Name] = true
	}
	n := &Net{nodes: slices.Clone(nodes), down: map[string]bool{}, agents: map[string]Agent{}}
	n.newAgent = func(_ context.Context, node Node) (Agent, error) { return NamespaceAgent(node), nil }
	for _, node := range nodes {
		n.agents[node.Name] = NamespaceAgent(node)
	}
	return n, nil
}

// Bind makes every node's agent with maker (a helper container per node,
// say), all at once, before any fault: from then on, and for nodes
// restarted later, that is how the nemesis reaches the namespaces. If any
// agent cannot be made, those made are closed again.
func (n *Net) Bind(ctx context.Context, maker AgentMaker) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	agents := make(map[string]Agent, len(n.nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(n.nodes))
	for i, node := range n.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := maker(ctx, node)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", node.Name, err)
				return
			}
			mu.Lock()
			agents[node.Name] = a
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, a := range agents {
			errs = append(errs, a.Close(ctx, false))
		}
		return errors.Join(errs...)
	}
	// The agents of this process (nothing installed yet) give way.
	var cerrs []error
	for name, a := range n.agents {
		if err := a.Close(ctx, false); err != nil {
			cerrs = append(cerrs, fmt.Errorf("%s: %w", name, err))
		}
	}
	n.agents, n.newAgent = agents, maker
	return errors.Join(cerrs...)
}

// Names lists the node names in order.
func (n *Net) Names() []string {
	names := make([]string, len(n.nodes))
	for i, node := range n.nodes {
		names[i] = node.Name
	}
	return names
}

// Partition makes p the partition in force (replacing any other) and
// reconciles every node. Only node-to-node packets match, so the harness's
// own traffic to each node passes.
func (n *Net) Partition(ctx context.Context, p Partition) error {
	if err := p.Grudge.Validate(n.Names()); err != nil {
		return err
	}
	if p.Action == "" {
		p.Action = Drop
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.part = p
	return n.reconcile(ctx)
}

// SetSeed seeds the random choices of the userspace stage (which packets
// are lost, delayed by how much, ...), so a seeded run repeats them.
func (n *Net) SetSeed(seed uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seed = seed
}

// SetGray makes links the gray faults in force (replacing any others).
func (n *Net) SetGray(ctx context.Context, links []Gray) error {
	names := n.Names()
	seen := map[[2]string]bool{}
	for _, g := range links {
		if !slices.Contains(names, g.From) || !slices.Contains(names, g.To) || g.From == g.To {
			return fmt.Errorf("gray link %s->%s: %w", g.From, g.To, ErrUnknownNode)
		}
		if seen[[2]string{g.From, g.To}] {
			return fmt.Errorf("gray link %s->%s given twice", g.From, g.To)
		}
		seen[[2]string{g.From, g.To}] = true
		if err := validateGray(g); err != nil {
			return fmt.Errorf("gray link %s->%s: %w", g.From, g.To, err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gray = slices.Clone(links)
	return n.reconcile(ctx)
}

// Heal clears every fault: faultline's chains are emptied, its qdisc and
// queue go, on every node that is up, and nothing else is touched. It
// keeps going past a node it cannot heal and reports all failures
// together.
func (n *Net) Heal(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.part = Partition{}
	n.gray = nil
	return n.reconcile(context.WithoutCancel(ctx))
}

// Close heals, then deletes faultline's table from every node that is up
// and lets go of their namespaces (and helpers): the end of a run. It
// keeps going past a node it cannot clean and reports all failures
// together.
func (n *Net) Close(ctx context.Context) error {
	err := n.Heal(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(n.nodes))
	for i, node := range n.nodes {
		a := n.agents[node.Name]
		delete(n.agents, node.Name)
		if a == nil {
			continue
		}
		wg.Add(1)
		go func() { // each deletion waits out a grace period: in parallel
			defer wg.Done()
			if cerr := a.Close(ctx, !n.down[node.Name]); cerr != nil {
				errs[i] = fmt.Errorf("remove faultline's table from %s: %w", node.Name, cerr)
			}
		}()
	}
	wg.Wait()
	return errors.Join(append(errs, err)...)
}

// Down marks a node as stopped: its namespace is gone, so it is skipped
// until Up binds it again. Its agent is let go (within 10 s); the error
// says what that met, the node is down whatever it says.
func (n *Net) Down(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[name] = true
	a := n.agents[name]
	if a == nil {
		return nil
	}
	delete(n.agents, name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx, false); err != nil {
		return fmt.Errorf("let go of %s's namespace: %w", name, err)
	}
	return nil
}

// Up binds a restarted node to its new namespace and installs the rules
// in force there, so a restart does not heal a partition by accident.
func (n *Net) Up(ctx context.Context, name, netns string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.nodes {
		if n.nodes[i].Name != name {
			continue
		}
		n.nodes[i].NetNS = netns
		delete(n.down, name)
		// The old namespace went with the old process: what closing its
		// agent says changes nothing.
		if a := n.agents[name]; a != nil {
			_ = a.Close(ctx, false)
		}
		a, err := n.newAgent(ctx, n.nodes[i])
		if err != nil {
			delete(n.agents, name)
			return fmt.Errorf("%s: %w", name, err)
		}
		n.agents[name] = a
		return n.apply(ctx, []Node{n.nodes[i]})
	}
	return fmt.Errorf("%w %q", ErrUnknownNode, name)
}

// Current returns the partition and gray links in force.
func (n *Net) Current() (Partition, []Gray) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.part, slices.Clone(n.gray)
}

func (n *Net) reconcile(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var up []Node
	for _, node := range n.nodes {
		if !n.down[node.Name] {
			up = append(up, node)
		}
	}
	return n.apply(ctx, up)
}

// apply makes each node's table, qdisc and queue match the faults in
// force, on all nodes at once (the common case, and the one that must be
// fast). A node whose namespace vanished (its container crashed or was
// removed underneath the run) has nothing left to heal; a fault that
// needs it cannot be applied, and says why.
func (n *Net) apply(ctx context.Context, nodes []Node) error {
	errs := make([]error, len(nodes))
	rules := make([]NodeRules, len(nodes))
	for i, node := range nodes {
		rules[i] = n.rulesFor(node.Name)
		if d, ok := n.agents[node.Name].(interface{ Dead() error }); ok && d.Dead() != nil {
			errs[i] = n.revive(ctx, node, d.Dead())
		}
	}
	set := func(i int) error {
		a, node, r := n.agents[nodes[i].Name], nodes[i], rules[i]
		if a == nil || a.Gone() {
			if !r.Empty() {
				return fmt.Errorf("%w: %s's network namespace is gone: its container stopped or was removed underneath faultline; if it crashed, its log is saved in the run's nodes/ folder", ErrNodeGone, node.Name)
			}
			return nil
		}
		if err := a.Set(ctx, r); err != nil {
			if errors.Is(err, ErrNodeGone) && r.Empty() {
				return nil // nothing to heal there
			}
			return fmt.Errorf("apply faults to %s: %w", node.Name, err)
		}
		return nil
	}
	serr := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serr[i] = set(i)
		}()
	}
	wg.Wait()
	for i, node := range nodes {
		if errors.Is(serr[i], ErrHelperGone) {
			// It died during the change: a new one sets the node's state.
			if errs[i] = n.revive(ctx, node, serr[i]); n.agents[node.Name] != nil {
				serr[i] = set(i)
			}
		}
		errs[i] = errors.Join(errs[i], serr[i])
	}
	return errors.Join(errs...)
}

// revive replaces the agent of a node whose helper died underneath the
// run: whatever it held is unknown, so a new one is made to set the node's
// state, and the change fails with why (the run stops, and heals through
// the new helper).
func (n *Net) revive(ctx context.Context, node Node, why error) error {
	if a := n.agents[node.Name]; a != nil {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second) // it is not answering
		_ = a.Close(cctx, false)                                // and why is already known
		cancel()
	}
	delete(n.agents, node.Name)
	fresh, err := n.newAgent(ctx, node)
	if err != nil {
		return errors.Join(why, fmt.Errorf("a new helper for %s: %w", node.Name, err))
	}
	n.agents[node.Name] = fresh
	return why
}

// rulesFor computes a node's rule set from the faults in force. A dropped
// packet is dropped by its receiver; a rejected one is refused by its
// sender, so the error reaches the sender at once and nothing crosses the
// network.
func (n *Net) rulesFor(name string) NodeRules {
	addr := map[string]netip.Addr{}
	for _, node := range n.nodes {
		addr[node.Name] = node.Addr
	}
	r := NodeRules{Seed: n.seed}
	switch n.part.Action {
	case Reject:
		for _, dst := range n.Names() {
			if n.part.Cuts(name, dst) {
				r.RejectTo = append(r.RejectTo, Match{Peer: addr[dst], Scope: n.part.Scope})
			}
		}
	default:
		for _, src := range n.part.Grudge[name] {
			r.DropFrom = append(r.DropFrom, Match{Peer: addr[src], Scope: n.part.Scope})
		}
	}
	for _, g := range n.gray {
		if n.engine == EngineNetem && netemable(g) && (needsQueue(g) || g.Loss > 0) {
			// netem at the sender, under an HTB class for the destination.
			if g.From == name {
				ng := g
				r.RateTo = append(r.RateTo, RateMatch{Peer: addr[g.To], BPS: g.Rate, Netem: &ng})
			}
			continue
		}
		switch {
		case g.From == name && needsQueue(g):
			// Delay, copies, reordering, corruption and correlated loss
			// happen in the sender's userspace stage.
			r.Queue = append(r.Queue, QueueLink{Peer: addr[g.To], Gray: g})
		case g.To == name && g.Loss > 0 && !needsQueue(g):
			// Plain random loss is a kernel rule at the receiver.
			r.LossFrom = append(r.LossFrom, LossMatch{Peer: addr[g.From], Per10k: uint32(g.Loss*100 + 0.5)})
		}
		if g.From == name && g.Rate > 0 {
			r.RateTo = append(r.RateTo, RateMatch{Peer: addr[g.To], BPS: g.Rate})
		}
	}
	if r.Empty() {
		r.Seed = 0
	}
	return r
}

// Installed reports, per node that is up, whether faultline's table holds
// any rule.
func (n *Net) Installed(ctx context.Context) (map[string]bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]bool{}
	for _, node := range n.nodes {
		a := n.agents[node.Name]
		if n.down[node.Name] || a == nil {
			continue
		}
		count, err := a.Rules(ctx)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", node.Name, err)
		}
		out[node.Name] = count > 0
	}
	return out, nil
}

// HasTable reports whether faultline's table exists in the namespace at path.
func HasTable(netnsPath string) (bool, error) { return hasTable(netnsPath) }

// RemoveTable deletes faultline's table from the namespace at path, if there.
func RemoveTable(netnsPath string) error { return removeTable(netnsPath) }
