package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// Processes stops and starts nodes. The docker package implements it for
// containers; it must refuse nodes that are not part of the current run.
type Processes interface {
	// Kill sends SIGKILL to the node and waits until it is down.
	Kill(ctx context.Context, node string) error
	// Start starts a stopped node (keeping its data) and returns the path of
	// its new network namespace.
	Start(ctx context.Context, node string) (netns string, err error)
	// Pause freezes every process of the node; Resume thaws them.
	Pause(ctx context.Context, node string) error
	Resume(ctx context.Context, node string) error
}

// Nemesis is what faults act on: the network, the processes, and the
// history, where every fault records what it did and what was observed.
type Nemesis struct {
	Net  *Net
	Proc Processes // nil when the nodes cannot be stopped
	Env  Env
	// Record appends a nemesis event to the history. f names the event
	// ("partition", "heal", "kill", "restart", ...); value describes it.
	Record func(f string, value any) error
}

// Fault is one fault kind of the catalogue. Inject applies it; Recover
// undoes it, whatever Inject managed to do. Both record their events.
type Fault interface {
	Name() string
	Inject(ctx context.Context, nm *Nemesis) error
	Recover(ctx context.Context, nm *Nemesis) error
}

// Describer is a fault that can say, after Inject, what it did, in a few
// words for the progress log ("n1 | n2 n3", "killed n2").
type Describer interface {
	Describe() string
}

var (
	_ Describer = (*PartitionFault)(nil)
	_ Describer = (*GrayFault)(nil)
	_ Describer = (*KillFault)(nil)
	_ Describer = (*PauseFault)(nil)
	_ Describer = (*RestartClusterFault)(nil)
	_ Fault     = (*PartitionFault)(nil)
	_ Fault     = (*GrayFault)(nil)
	_ Fault     = (*KillFault)(nil)
	_ Fault     = (*PauseFault)(nil)
	_ Fault     = (*RestartClusterFault)(nil)
)

// PartitionFault cuts the network in a shape. With Flap set, the partition
// is switched off and on again every Flap until Recover.
type PartitionFault struct {
	Shape     Shape
	Direction Direction
	Scope     Scope
	Action    Action
	Flap      time.Duration

	mu     sync.Mutex
	nodes  []string
	stop   chan struct{}
	done   chan error
	active Partition
}

func (f *PartitionFault) Name() string { return f.Shape.Name() }

func (f *PartitionFault) Describe() string {
	f.mu.Lock()
	p := f.active
	f.mu.Unlock()
	s := p.Grudge.Describe(f.nodes)
	if !p.Scope.All() {
		s += " (" + p.Scope.String() + ")"
	}
	if p.Action == Reject {
		s += ", rejecting"
	}
	if f.Flap > 0 {
		s += fmt.Sprintf(", flapping every %v", f.Flap)
	}
	return s
}

func (f *PartitionFault) Inject(ctx context.Context, nm *Nemesis) error {
	g, err := f.Shape.Grudge(ctx, nm.Env)
	if err != nil {
		return err
	}
	dir := f.Direction
	if dir == "" {
		dir = Both
		if _, ok := f.Shape.(OneWay); ok {
			dir = To
		}
		if _, ok := f.Shape.(Custom); ok {
			dir = To
		}
	}
	p := Partition{Grudge: Orient(g, dir), Scope: f.Scope, Action: f.Action}
	if p.Action == "" {
		p.Action = Drop
	}
	f.mu.Lock()
	f.active = p
	f.nodes = nm.Net.Names()
	f.mu.Unlock()
	if err := f.apply(ctx, nm, dir); err != nil {
		return err
	}
	if f.Flap <= 0 {
		return nil
	}
	f.stop = make(chan struct{})
	f.done = make(chan error, 1)
	go func() { f.done <- f.flap(ctx, nm, dir) }()
	return nil
}

// apply installs the active partition, verifies it with probes and records it.
func (f *PartitionFault) apply(ctx context.Context, nm *Nemesis, dir Direction) error {
	f.mu.Lock()
	p := f.active
	f.mu.Unlock()
	if err := nm.Net.Partition(ctx, p); err != nil {
		return err
	}
	obs, verr := nm.Net.Verify(ctx)
	ev := history.PartitionEvent{Shape: f.Shape.Name(), Direction: string(dir), Grudge: p.Grudge, Scope: p.Scope.String(), Action: string(p.Action), Summary: p.Grudge.Describe(nm.Net.Names()), Observed: obs}
	if err := nm.Record("partition", ev); err != nil {
		return err
	}
	return verr
}

// healVerified heals the network, probes that every pair is open again and
// records the heal with what the probes saw.
func healVerified(ctx context.Context, nm *Nemesis) error {
	if err := nm.Net.Heal(ctx); err != nil {
		return err
	}
	obs, verr := nm.Net.Verify(ctx)
	if err := nm.Record("heal", history.HealEvent{Observed: obs}); err != nil {
		return err
	}
	return verr
}

func (f *PartitionFault) flap(ctx context.Context, nm *Nemesis, dir Direction) error {
	on := true
	t := time.NewTicker(f.Flap)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var err error
		if on {
			err = healVerified(ctx, nm)
		} else {
			err = f.apply(ctx, nm, dir)
		}
		if err != nil {
			return fmt.Errorf("flapping %s: %w", f.Shape.Name(), err)
		}
		on = !on
	}
}

func (f *PartitionFault) Recover(ctx context.Context, nm *Nemesis) error {
	var flapErr error
	if f.stop != nil {
		close(f.stop)
		flapErr = <-f.done
		f.stop = nil
	}
	return errors.Join(flapErr, healVerified(ctx, nm))
}

// LinkSpec picks directed links: all pairs From x To; or, with Node set,
// every link into and out of that node; with neither, every link.
type LinkSpec struct {
	From, To []string
	Node     string
}

// Links expands the spec over the cluster's nodes.
func (s LinkSpec) Links(ctx context.Context, env Env) ([][2]string, error) {
	nodes := env.Nodes
	var out [][2]string
	add := func(a, b string) {
		if a != b && !slices.Contains(out, [2]string{a, b}) {
			out = append(out, [2]string{a, b})
		}
	}
	switch {
	case s.Node != "":
		node, err := pickNode(ctx, env, s.Node)
		if err != nil {
			return nil, err
		}
		for _, o := range nodes {
			add(node, o)
			add(o, node)
		}
	case len(s.From) > 0 || len(s.To) > 0:
		from, to := s.From, s.To
		if len(from) == 0 {
			from = nodes
		}
		if len(to) == 0 {
			to = nodes
		}
		for _, a := range from {
			for _, b := range to {
				if !slices.Contains(nodes, a) || !slices.Contains(nodes, b) {
					return nil, fmt.Errorf("%w in link %s->%s", ErrUnknownNode, a, b)
				}
				add(a, b)
			}
		}
	default:
		for _, a := range nodes {
			for _, b := range nodes {
				add(a, b)
			}
		}
	}
	return out, nil
}

// GrayFault degrades links without cutting them.
type GrayFault struct {
	Links LinkSpec
	// Template holds the degradation; its From and To are ignored.
	Template Gray
	applied  []Gray
}

func (f *GrayFault) Name() string { return "gray" }

func (f *GrayFault) Describe() string {
	return fmt.Sprintf("%d directed links: %s", len(f.applied), f.Template.Describe())
}

func (f *GrayFault) Inject(ctx context.Context, nm *Nemesis) error {
	links, err := f.Links.Links(ctx, nm.Env)
	if err != nil {
		return fmt.Errorf("gray: %w", err)
	}
	var gray []Gray
	for _, l := range links {
		g := f.Template
		g.From, g.To = l[0], l[1]
		gray = append(gray, g)
	}
	f.applied = gray
	if err := nm.Net.SetGray(ctx, gray); err != nil {
		return err
	}
	obs, verr := nm.Net.Verify(ctx)
	if err := nm.Record("gray", history.GrayEvent{Links: gray, Observed: obs}); err != nil {
		return err
	}
	return verr
}

func (f *GrayFault) Recover(ctx context.Context, nm *Nemesis) error { return healVerified(ctx, nm) }

// pickNode resolves a node choice: a name, "" or "random", or "leader".
func pickNode(ctx context.Context, env Env, node string) (string, error) {
	switch node {
	case "", "random":
		return env.Nodes[env.Rng.IntN(len(env.Nodes))], nil
	case "leader":
		if env.Leader == nil {
			return "", errors.New("this workload's client cannot tell the leader")
		}
		return env.Leader(ctx)
	}
	if !slices.Contains(env.Nodes, node) {
		return "", fmt.Errorf("%w %q", ErrUnknownNode, node)
	}
	return node, nil
}

// KillFault kills a node with SIGKILL; Recover starts it again on the same
// data, so acknowledged writes it lost become visible to the checker.
type KillFault struct {
	Node   string
	killed []string
}

func (f *KillFault) Name() string { return "kill" }

func (f *KillFault) Describe() string { return "killed " + strings.Join(f.killed, " ") }

func (f *KillFault) Inject(ctx context.Context, nm *Nemesis) error {
	if nm.Proc == nil {
		return errors.New("kill: nodes cannot be stopped here")
	}
	node, err := pickNode(ctx, nm.Env, f.Node)
	if err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	f.killed = []string{node}
	return killAll(ctx, nm, f.killed)
}

func (f *KillFault) Recover(ctx context.Context, nm *Nemesis) error {
	err := startAll(ctx, nm, f.killed)
	f.killed = nil
	return err
}

// RestartClusterFault kills every node; Recover starts them all again.
type RestartClusterFault struct{ killed []string }

func (f *RestartClusterFault) Name() string { return "restart-cluster" }

func (f *RestartClusterFault) Describe() string { return "killed every node" }

func (f *RestartClusterFault) Inject(ctx context.Context, nm *Nemesis) error {
	if nm.Proc == nil {
		return errors.New("restart-cluster: nodes cannot be stopped here")
	}
	f.killed = slices.Clone(nm.Env.Nodes)
	return killAll(ctx, nm, f.killed)
}

func (f *RestartClusterFault) Recover(ctx context.Context, nm *Nemesis) error {
	err := startAll(ctx, nm, f.killed)
	f.killed = nil
	return err
}

func killAll(ctx context.Context, nm *Nemesis, nodes []string) error {
	for _, n := range nodes {
		nm.Net.Down(n)
		if err := nm.Proc.Kill(ctx, n); err != nil {
			return fmt.Errorf("kill %s: %w", n, err)
		}
	}
	return nm.Record("kill", history.NodesEvent{Nodes: nodes})
}

func startAll(ctx context.Context, nm *Nemesis, nodes []string) error {
	var errs []error
	var started []string
	for _, n := range nodes {
		ns, err := nm.Proc.Start(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("restart %s: %w", n, err))
			continue
		}
		// The new namespace gets the rules in force, if any.
		if err := nm.Net.Up(ctx, n, ns); err != nil {
			errs = append(errs, err)
		}
		started = append(started, n)
	}
	if len(started) > 0 {
		errs = append(errs, nm.Record("restart", history.NodesEvent{Nodes: started}))
	}
	return errors.Join(errs...)
}

// PauseFault freezes a node (SIGSTOP-like, through the cgroup freezer);
// Recover thaws it.
type PauseFault struct {
	Node   string
	paused string
}

func (f *PauseFault) Name() string { return "pause" }

func (f *PauseFault) Describe() string { return "paused " + f.paused }

func (f *PauseFault) Inject(ctx context.Context, nm *Nemesis) error {
	if nm.Proc == nil {
		return errors.New("pause: nodes cannot be paused here")
	}
	node, err := pickNode(ctx, nm.Env, f.Node)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	if err := nm.Proc.Pause(ctx, node); err != nil {
		return fmt.Errorf("pause %s: %w", node, err)
	}
	f.paused = node
	return nm.Record("pause", history.NodesEvent{Nodes: []string{node}})
}

func (f *PauseFault) Recover(ctx context.Context, nm *Nemesis) error {
	if f.paused == "" {
		return nil
	}
	node := f.paused
	f.paused = ""
	if err := nm.Proc.Resume(ctx, node); err != nil {
		return fmt.Errorf("resume %s: %w", node, err)
	}
	return nm.Record("resume", history.NodesEvent{Nodes: []string{node}})
}

// Applied is the partition this fault put in force (after Inject).
func (f *PartitionFault) Applied() Partition {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

// Applied lists the degraded links (after Inject).
func (f *GrayFault) Applied() []Gray { return slices.Clone(f.applied) }

// Killed lists the nodes killed (after Inject, before Recover).
func (f *KillFault) Killed() []string { return slices.Clone(f.killed) }

// Paused is the node paused (after Inject, before Recover).
func (f *PauseFault) Paused() string { return f.paused }
