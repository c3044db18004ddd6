package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
)

// Table is the nftables table faultline owns in each node's namespace. It
// lives for the run: heal empties its chains, Close deletes it, and
// nothing else of the namespace's is touched.
const Table = "faultline"

// Node is one member of the cluster as the nemesis sees it.
type Node struct {
	Name string
	// Addr is the node's address on the cluster network: the source address
	// of its packets to the other nodes.
	Addr netip.Addr
	// NetNS is a path to the node's network namespace: /proc/PID/ns/net for
	// a container, /run/netns/NAME for a namespace made by `ip netns add`.
	NetNS string
}

// Net holds the desired network state of a fixed set of nodes (one
// partition, any number of gray links) and makes each node's namespace
// match it. Every change is a reconcile: the whole rule set of every node
// is computed and installed in one batch per node, replacing what was
// there. Close, at the end of the run, removes faultline's tables. Its
// methods are safe for concurrent use.
type Net struct {
	mu     sync.Mutex
	nodes  []Node
	down   map[string]bool
	part   Partition
	gray   []Gray
	stages map[string]*queueStage // userspace stage per node, while needed
	rules  map[string]*ruleset    // faultline's table per node, held for the run
	rated  map[string]bool        // nodes with faultline's root qdisc
	seed   uint64
	engine Engine
}

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

// NewNet binds a nemesis to nodes. It touches nothing until a fault.
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
	return &Net{nodes: slices.Clone(nodes), down: map[string]bool{}, stages: map[string]*queueStage{}, rules: map[string]*ruleset{}, rated: map[string]bool{}}, nil
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
// queue go, on every node that is up, and nothing else is touched. It keeps going past
// a node it cannot heal and reports all failures together.
func (n *Net) Heal(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.part = Partition{}
	n.gray = nil
	for name := range n.down {
		n.closeStage(name)
	}
	return n.reconcile(context.WithoutCancel(ctx))
}

// Close heals, then deletes faultline's table from every node that is up
// and lets go of their namespaces: the end of a run. It keeps going past
// a node it cannot clean and reports all failures together.
func (n *Net) Close(ctx context.Context) error {
	err := n.Heal(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(n.nodes))
	for i, node := range n.nodes {
		rs := n.rules[node.Name]
		if rs == nil {
			continue
		}
		delete(n.rules, node.Name)
		if n.down[node.Name] {
			rs.close()
			continue
		}
		wg.Add(1)
		go func() { // each deletion waits out a grace period: in parallel
			defer wg.Done()
			defer rs.close()
			if _, serr := os.Stat(node.NetNS); serr != nil {
				return // gone, and its table with it
			}
			if rerr := rs.remove(); rerr != nil {
				errs[i] = fmt.Errorf("remove faultline's table from %s: %w", node.Name, rerr)
			}
		}()
	}
	wg.Wait()
	return errors.Join(append(errs, err)...)
}

// closeRules lets go of a node's ruleset (its namespace is gone).
func (n *Net) closeRules(name string) {
	if rs := n.rules[name]; rs != nil {
		rs.close()
		delete(n.rules, name)
	}
}

func (n *Net) closeStage(name string) {
	if s := n.stages[name]; s != nil {
		s.close()
		delete(n.stages, name)
	}
}

// Down marks a node as stopped: its namespace is gone, so it is skipped
// until Up binds it again.
func (n *Net) Down(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[name] = true
	n.closeStage(name)
	n.closeRules(name)
	delete(n.rated, name)
}

// Up binds a restarted node to its new namespace and installs the rules
// in force there, so a restart does not heal a partition by accident.
func (n *Net) Up(ctx context.Context, name, netns string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.nodes {
		if n.nodes[i].Name == name {
			n.nodes[i].NetNS = netns
			delete(n.down, name)
			// The old namespace went with the old process.
			n.closeStage(name)
			n.closeRules(name)
			delete(n.rated, name)
			return n.apply([]Node{n.nodes[i]})
		}
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
	return n.apply(up)
}

// apply makes each node's table, qdisc and queue match the faults in
// force. Tables, the common case and the one that must be fast, are
// replaced on all nodes at once; queues are opened before any packet is
// sent to them and closed after the rule that fed them is gone.
func (n *Net) apply(nodes []Node) error {
	rules := make([]nodeRules, len(nodes))
	errs := make([]error, len(nodes))
	// A node whose namespace vanished (its container crashed or was
	// removed underneath the run) has nothing left to heal; a fault that
	// needs it cannot be applied, and says why.
	var present []Node
	for i, node := range nodes {
		if _, err := os.Stat(node.NetNS); err == nil {
			present = append(present, node)
			continue
		}
		if r := n.rulesFor(node.Name); !r.emptyTable() || len(r.rateTo) > 0 {
			errs[i] = fmt.Errorf("%w: %s's network namespace %s is gone: its container stopped or was removed underneath faultline; if it crashed, its log is saved in the run's nodes/ folder", ErrNodeGone, node.Name, node.NetNS)
		}
		n.closeStage(node.Name)
		n.closeRules(node.Name)
		delete(n.rated, node.Name)
	}
	if len(present) < len(nodes) {
		return errors.Join(append(errs, n.apply(present))...)
	}
	for i, node := range nodes {
		rules[i] = n.rulesFor(node.Name)
		if len(rules[i].queueTo) == 0 {
			continue
		}
		s := n.stages[node.Name]
		if s == nil {
			var err error
			if s, err = openStage(node.Name, node.NetNS); err != nil {
				return fmt.Errorf("apply faults to %s: %w", node.Name, err)
			}
			n.stages[node.Name] = s
		}
		s.setLinks(rules[i].queueLinks, n.seed)
	}
	sets := make([]*ruleset, len(nodes))
	for i, node := range nodes {
		if sets[i] = n.rules[node.Name]; sets[i] == nil && !rules[i].emptyTable() {
			rs, err := openRuleset(node.NetNS)
			if err != nil {
				return fmt.Errorf("apply faults to %s: %w", node.Name, err)
			}
			n.rules[node.Name], sets[i] = rs, rs
		}
	}
	var wg sync.WaitGroup
	for i, node := range nodes {
		if sets[i] == nil {
			continue // never had a rule: nothing to empty
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if rules[i].emptyTable() {
				err = sets[i].clear()
			} else {
				err = sets[i].install(rules[i])
			}
			if err != nil {
				errs[i] = fmt.Errorf("apply faults to %s: %w", node.Name, err)
			}
		}()
	}
	wg.Wait()
	for i, node := range nodes {
		if len(rules[i].queueTo) == 0 {
			n.closeStage(node.Name)
		}
		switch {
		case len(rules[i].rateTo) > 0:
			if err := installRates(node.NetNS, node.Addr, rules[i].rateTo); err != nil {
				errs[i] = errors.Join(errs[i], fmt.Errorf("apply rate limits to %s: %w", node.Name, err))
				continue
			}
			n.rated[node.Name] = true
		case n.rated[node.Name]:
			if err := removeRates(node.NetNS, node.Addr); err != nil {
				errs[i] = errors.Join(errs[i], fmt.Errorf("remove rate limits from %s: %w", node.Name, err))
				continue
			}
			delete(n.rated, node.Name)
		}
	}
	return errors.Join(errs...)
}

// match selects packets exchanged with one peer, within a scope.
type match struct {
	peer  netip.Addr
	scope Scope
}

// lossMatch drops a share of the packets from one peer.
type lossMatch struct {
	peer netip.Addr
	// per10k is the share dropped, in hundredths of a percent.
	per10k uint32
}

// nodeRules is the whole rule set of one node: its table, its qdisc and
// what its userspace stage does.
type nodeRules struct {
	dropFrom   []match     // input:  ip saddr PEER [scope] drop
	rejectTo   []match     // output: ip daddr PEER [scope] reject
	lossFrom   []lossMatch // input:  ip saddr PEER numgen random mod 10000 < N drop
	queueTo    []netip.Addr
	queueLinks map[netip.Addr]Gray // output: ip daddr PEER meta mark != dup queue to the stage
	rateTo     []rateMatch         // qdisc: htb class per PEER
}

// emptyTable reports whether the node needs no table at all.
func (r nodeRules) emptyTable() bool {
	return len(r.dropFrom) == 0 && len(r.rejectTo) == 0 && len(r.lossFrom) == 0 && len(r.queueTo) == 0
}

// rulesFor computes a node's rule set from the faults in force. A dropped
// packet is dropped by its receiver; a rejected one is refused by its
// sender, so the error reaches the sender at once and nothing crosses the
// network.
func (n *Net) rulesFor(name string) nodeRules {
	addr := map[string]netip.Addr{}
	for _, node := range n.nodes {
		addr[node.Name] = node.Addr
	}
	var r nodeRules
	switch n.part.Action {
	case Reject:
		for _, dst := range n.Names() {
			if n.part.Cuts(name, dst) {
				r.rejectTo = append(r.rejectTo, match{peer: addr[dst], scope: n.part.Scope})
			}
		}
	default:
		for _, src := range n.part.Grudge[name] {
			r.dropFrom = append(r.dropFrom, match{peer: addr[src], scope: n.part.Scope})
		}
	}
	for _, g := range n.gray {
		if n.engine == EngineNetem && netemable(g) && (needsQueue(g) || g.Loss > 0) {
			// netem at the sender, under an HTB class for the destination.
			if g.From == name {
				ng := g
				r.rateTo = append(r.rateTo, rateMatch{peer: addr[g.To], bps: g.Rate, netem: &ng})
			}
			continue
		}
		switch {
		case g.From == name && needsQueue(g):
			// Delay, copies, reordering, corruption and correlated loss
			// happen in the sender's userspace stage.
			if r.queueLinks == nil {
				r.queueLinks = map[netip.Addr]Gray{}
			}
			r.queueTo = append(r.queueTo, addr[g.To])
			r.queueLinks[addr[g.To]] = g
		case g.To == name && g.Loss > 0 && !needsQueue(g):
			// Plain random loss is a kernel rule at the receiver.
			r.lossFrom = append(r.lossFrom, lossMatch{peer: addr[g.From], per10k: uint32(g.Loss*100 + 0.5)})
		}
		if g.From == name && g.Rate > 0 {
			r.rateTo = append(r.rateTo, rateMatch{peer: addr[g.To], bps: g.Rate})
		}
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
		if n.down[node.Name] {
			continue
		}
		count := 0
		err := withRuleset(node.NetNS, func(rs *ruleset) (err error) {
			count, err = rs.rules()
			return err
		})
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
