package nemesis

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
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

// outcome is what became of one probe.
type outcome int

const (
	silent  outcome = iota // nothing came back: the packet, or its answer, was lost
	arrived                // the datagram arrived, or the connection was made
	refused                // a TCP reset came back: the peer's stack, or a local reject
)

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
	addr := map[string]netip.Addr{}
	for _, node := range n.nodes {
		addr[node.Name] = node.Addr
		if !n.down[node.Name] {
			up = append(up, node)
		}
	}
	// Links carried by the userspace stage: the probes must reach it, or
	// the queue is bypassed and the link is silently not degraded at all.
	type queued struct {
		g     Gray
		stage *queueStage
		seen  int64
	}
	var stageLinks []queued
	for _, g := range gray {
		if s := n.stages[g.From]; s != nil && needsQueue(g) && !n.down[g.From] && !n.down[g.To] {
			stageLinks = append(stageLinks, queued{g: g, stage: s, seen: s.seen(addr[g.To])})
		}
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
	obs := Observation{}
	var wrong []string
	for _, p := range probesFor(part) {
		reached, err := probe(ctx, up, p, wait)
		if err != nil {
			return obs, fmt.Errorf("probe %s: %w", p, err)
		}
		obs[p.String()] = map[string][]string{}
		for _, a := range up {
			for _, b := range up {
				if a.Name == b.Name {
					continue
				}
				got := reached[a.Name][b.Name]
				if got == arrived {
					obs[p.String()][a.Name] = append(obs[p.String()][a.Name], b.Name)
				}
				if lossy[[2]string{a.Name, b.Name}] {
					continue
				}
				cut := part.Cuts(a.Name, b.Name) && part.Scope.Covers(p.Proto, p.Port)
				if p.Proto == "tcp" {
					// A connection needs packets both ways.
					cut = cut || (part.Cuts(b.Name, a.Name) && part.Scope.Covers(p.Proto, p.Port))
				}
				// A reset means the round trip happened where nothing is
				// cut (nobody listens there), and is the reject working
				// where something is.
				ok := got == arrived || got == refused
				if cut {
					ok = got == silent || (got == refused && part.Action == Reject)
				}
				if !ok {
					wrong = append(wrong, fmt.Sprintf("%s %s->%s should be %s but %s", p, a.Name, b.Name,
						map[bool]string{true: "cut", false: "open"}[cut], map[outcome]string{silent: "got no answer", arrived: "got through", refused: "was reset"}[got]))
				}
			}
		}
	}
	for _, q := range stageLinks {
		if q.stage.seen(addr[q.g.To]) == q.seen {
			wrong = append(wrong, fmt.Sprintf("gray %s->%s: no probe reached the userspace stage, so the link is not degraded", q.g.From, q.g.To))
		}
	}
	if len(wrong) > 0 {
		return obs, fmt.Errorf("%w: %s; the rules are in place but packets disagree: look for other firewall rules or routes in the node's image, and run `faultline clean` before the next run", ErrNotVerified, strings.Join(wrong, "; "))
	}
	return obs, nil
}
