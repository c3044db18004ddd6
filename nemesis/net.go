package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// Table is the nftables table faultline owns in each node's namespace. Heal
// deletes it and nothing else.
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

// Net applies partitions to a fixed set of nodes. Its methods are safe for
// concurrent use; each change is a reconcile: the whole desired rule set of
// every node is computed and installed, replacing what was there.
type Net struct {
	mu    sync.Mutex
	nodes []Node
}

// NewNet binds a nemesis to nodes. It touches nothing until a partition.
func NewNet(nodes []Node) (*Net, error) {
	seen := map[string]bool{}
	for _, n := range nodes {
		if n.Name == "" || !n.Addr.IsValid() || n.NetNS == "" {
			return nil, fmt.Errorf("nemesis: node %q needs a name, an address and a namespace", n.Name)
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("nemesis: node %q given twice", n.Name)
		}
		seen[n.Name] = true
	}
	return &Net{nodes: slices.Clone(nodes)}, nil
}

// Names lists the node names in order.
func (n *Net) Names() []string {
	names := make([]string, len(n.nodes))
	for i, node := range n.nodes {
		names[i] = node.Name
	}
	return names
}

// Partition makes the nodes' packet filters match g exactly: every node
// drops packets from the nodes its grudge names and from no others. Nodes
// without a grudge are healed. Only node-to-node packets match, so the
// harness's own traffic to each node passes.
func (n *Net) Partition(ctx context.Context, g Grudge) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := g.Validate(n.Names()); err != nil {
		return err
	}
	addr := map[string]netip.Addr{}
	for _, node := range n.nodes {
		addr[node.Name] = node.Addr
	}
	var errs []error
	for _, node := range n.nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		var drop []netip.Addr
		for _, src := range g[node.Name] {
			drop = append(drop, addr[src])
		}
		var err error
		if len(drop) == 0 {
			err = removeTable(node.NetNS)
		} else {
			err = installDrops(node.NetNS, drop)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("apply partition to %s: %w", node.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Heal removes faultline's table from every node, whatever it held. It keeps
// going past a node it cannot heal and reports all failures together.
func (n *Net) Heal(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, node := range n.nodes {
		if err := removeTable(node.NetNS); err != nil {
			errs = append(errs, fmt.Errorf("heal %s: %w", node.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Installed reports, per node, whether faultline's table is present.
func (n *Net) Installed(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	for _, node := range n.nodes {
		ok, err := hasTable(node.NetNS)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", node.Name, err)
		}
		out[node.Name] = ok
	}
	return out, nil
}

// HasTable reports whether faultline's table exists in the namespace at path.
func HasTable(netnsPath string) (bool, error) { return hasTable(netnsPath) }
