package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// ProbePort is the UDP port the nemesis listens on inside each node's
// namespace while it probes connectivity. Nothing of the system under
// test is expected to use it.
const ProbePort = 47001

// Probe is one kind of probe packet.
type Probe struct {
	Proto string // "udp" or "tcp"
	Port  uint16
}

func (p Probe) String() string { return fmt.Sprintf("%s/%d", p.Proto, p.Port) }

// Observation is what the probes saw (history.Observation): for each
// probe, each source node and the destinations its probe reached.
type Observation = history.Observation

// probesFor picks the probes that show a partition's effect: a UDP probe on
// ProbePort (outside any port scope), and for a port-scoped partition one
// probe per protocol on its first port.
// probeWait is how long probes may take to arrive on a link that is not
// slowed. Node-to-node round trips on one host take well under a
// millisecond; a cut link shows as silence for the whole wait. Verify adds
// the longest delay a gray fault in force puts on a link.
const probeWait = 250 * time.Millisecond

func probesFor(p Partition) []Probe {
	probes := []Probe{{Proto: "udp", Port: ProbePort}}
	if !p.Scope.All() {
		for _, proto := range p.Scope.protocols() {
			probes = append(probes, Probe{Proto: proto, Port: p.Scope.Ports[0].Lo})
		}
	}
	return probes
}

// Verify probes every directed pair of nodes that are up, with real
// packets sent from inside the namespaces, and compares what arrived with
// what the faults in force allow. It returns what was observed, and an
// error naming every pair that differs. Links with gray faults are probed
// but not compared: a lost probe there proves nothing.
func (n *Net) Verify(ctx context.Context) (Observation, error) {
	n.mu.Lock()
	part := n.part
	gray := slices.Clone(n.gray)
	var up []Node
	agents := map[string]Agent{}
	addr := map[string]netip.Addr{}
	for _, node := range n.nodes {
		addr[node.Name] = node.Addr
		if a := n.agents[node.Name]; !n.down[node.Name] && a != nil {
			up = append(up, node)
			agents[node.Name] = a
		}
	}
	// Links carried by the userspace stage: the probes must reach it, or
	// the queue is bypassed and the link is silently not degraded at all.
	type queued struct {
		g    Gray
		seen int64
	}
	var stageLinks []queued
	for _, g := range gray {
		if agents[g.From] == nil || agents[g.To] == nil || !slices.ContainsFunc(n.rulesFor(g.From).Queue, func(q QueueLink) bool { return q.Peer == addr[g.To] }) {
			continue
		}
		seen, err := agents[g.From].Seen(ctx, addr[g.To])
		if err != nil {
			n.mu.Unlock()
			return nil, fmt.Errorf("gray %s->%s: %w", g.From, g.To, err)
		}
		stageLinks = append(stageLinks, queued{g: g, seen: seen})
	}
	n.mu.Unlock()

	// Probes on a slowed link arrive late, not never: wait for the
	// slowest (normal jitter: three standard deviations).
	wait := probeWait
	for _, g := range gray {
		wait = max(wait, probeWait+g.Delay+3*g.Jitter)
	}
	lossy := map[[2]string]bool{}
	for _, g := range gray {
		if g.Loss > 0 {
			lossy[[2]string{g.From, g.To}] = true
			lossy[[2]string{g.To, g.From}] = true // TCP needs both ways
		}
	}
	obs, wrong, err := probeAll(ctx, part, up, agents, wait, lossy)
	if err != nil {
		return obs, err
	}
	for _, q := range stageLinks {
		seen, err := agents[q.g.From].Seen(ctx, addr[q.g.To])
		if err != nil {
			return obs, fmt.Errorf("gray %s->%s: %w", q.g.From, q.g.To, err)
		}
		if seen == q.seen {
			wrong = append(wrong, fmt.Sprintf("gray %s->%s: no probe reached the userspace stage, so the link is not degraded", q.g.From, q.g.To))
		}
	}
	if len(wrong) > 0 {
		return obs, fmt.Errorf("%w: %s; the rules are in place but packets disagree: look for other firewall rules or routes in the node's image, and run `faultline clean` before the next run", ErrNotVerified, strings.Join(wrong, "; "))
	}
	return obs, nil
}

// probeAll sends every probe the partition in force calls for between the
// nodes up, and says what each reached and where that differs from what
// the partition allows (lossy links excepted).
func probeAll(ctx context.Context, part Partition, up []Node, agents map[string]Agent, wait time.Duration, lossy map[[2]string]bool) (Observation, []string, error) {
	obs := Observation{}
	var wrong []string
	for _, p := range probesFor(part) {
		reached, err := probe(ctx, up, agents, p, wait)
		if err != nil {
			return obs, wrong, fmt.Errorf("probe %s: %w", p, err)
		}
		obs[p.String()] = map[string][]string{}
		for _, a := range up {
			for _, b := range up {
				if a.Name == b.Name {
					continue
				}
				got := reached[a.Name][b.Name]
				if got == Arrived {
					obs[p.String()][a.Name] = append(obs[p.String()][a.Name], b.Name)
				}
				if !lossy[[2]string{a.Name, b.Name}] {
					if why := judge(part, p, a.Name, b.Name, got); why != "" {
						wrong = append(wrong, why)
					}
				}
			}
		}
	}
	return obs, wrong, nil
}

// judge says how what probe p from a to b got differs from what the
// partition in force allows ("" when it does not).
func judge(part Partition, p Probe, a, b string, got Outcome) string {
	cut := part.Cuts(a, b) && part.Scope.Covers(p.Proto, p.Port)
	if p.Proto == "tcp" {
		// A connection needs packets both ways.
		cut = cut || (part.Cuts(b, a) && part.Scope.Covers(p.Proto, p.Port))
	}
	// A reset means the round trip happened where nothing is cut (nobody
	// listens there), and is the reject working where something is.
	ok := got == Arrived || got == Refused
	if cut {
		ok = got == Silent || (got == Refused && part.Action == Reject)
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("%s %s->%s should be %s but %s", p, a, b,
		map[bool]string{true: "cut", false: "open"}[cut], map[Outcome]string{Silent: "got no answer", Arrived: "got through", Refused: "was reset"}[got])
}

// probe sends one kind of probe between every ordered pair of nodes, each
// from inside its own namespace through its agent, all nodes at once:
// listeners first, then the probes, then (after wait, for datagrams) what
// each listener heard. It reports what became of each probe.
func probe(ctx context.Context, nodes []Node, agents map[string]Agent, p Probe, wait time.Duration) (map[string]map[string]Outcome, error) {
	each := func(f func(Node, Agent) error) error {
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for i, node := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = f(node, agents[node.Name])
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	reached := map[string]map[string]Outcome{}
	for _, node := range nodes {
		reached[node.Name] = map[string]Outcome{}
	}
	var mu sync.Mutex
	if err := each(func(_ Node, a Agent) error { return a.Listen(ctx, p) }); err != nil {
		return nil, errors.Join(err, each(func(_ Node, a Agent) error { _, err := a.Collect(ctx, p); return err }))
	}
	deadline := time.Now().Add(wait)
	if p.Proto == "tcp" {
		wait *= 2 // a round trip
	}
	err := each(func(node Node, a Agent) error {
		var peers []Peer
		for _, b := range nodes {
			if b.Name != node.Name {
				peers = append(peers, Peer{Name: b.Name, Addr: b.Addr})
			}
		}
		out, err := a.Send(ctx, p, peers, wait)
		mu.Lock()
		for peer, o := range out {
			reached[node.Name][peer] = o
		}
		mu.Unlock()
		return err
	})
	if p.Proto == "udp" {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(deadline)):
		}
	}
	cerr := each(func(node Node, a Agent) error {
		from, err := a.Collect(ctx, p)
		mu.Lock()
		for _, src := range from {
			if reached[src] != nil {
				reached[src][node.Name] = Arrived
			}
		}
		mu.Unlock()
		return err
	})
	if err = errors.Join(err, cerr); err != nil {
		return nil, err
	}
	return reached, ctx.Err()
}
