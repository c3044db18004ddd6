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
	// Invoke, when set, appends an event's invocation: the nemesis calls
	// it just before it acts, and Record once what it did is confirmed,
	// so that a fault's window starts when it was applied (as Jepsen's
	// nemesis :invoke) and says when its probes confirmed it.
	Invoke func(f string, value any) error
}

// invoke records that the nemesis is about to do f.
func (nm *Nemesis) invoke(f string, value any) error {
	if nm.Invoke == nil {
		return nil
	}
	return nm.Invoke(f, value)
}

// Fault is one fault as a plan: what to do, built from a Spec (Spec.Build)
// and holding no state of its own, so one plan is injected again and
// again. Inject applies it and records what it did; what it returns is
// the fault in force, which knows how to undo itself.
type Fault interface {
	Name() string
	// Inject applies the fault. It always returns the Injected that undoes
	// whatever it managed to do, also with an error: the caller recovers
	// it in every case.
	Inject(ctx context.Context, nm *Nemesis) (Injected, error)
}

// Injected is a fault in force: what was done, and its undo.
type Injected interface {
	// Describe says in a few words what was done, for the progress log
	// ("n1 | n2 n3", "killed n2").
	Describe() string
	// Resolved is the Spec that does it again without any random choice
	// (a timeline entry for replay): the partition as its exact grudge,
	// the node it killed.
	Resolved() Spec
	// Recover undoes it, whatever Inject managed to do, and records its
	// events.
	Recover(ctx context.Context) error
}

var (
	_ Fault    = (*PartitionFault)(nil)
	_ Fault    = (*GrayFault)(nil)
	_ Fault    = (*KillFault)(nil)
	_ Fault    = (*PauseFault)(nil)
	_ Fault    = (*RestartClusterFault)(nil)
	_ Injected = (*partitioned)(nil)
	_ Injected = (*grayed)(nil)
	_ Injected = (*killed)(nil)
	_ Injected = (*paused)(nil)
)

// PartitionFault cuts the network in a shape. With Flap set, the partition
// is switched off and on again every Flap until it is recovered.
type PartitionFault struct {
	Shape     Shape
	Direction Direction
	Scope     Scope
	Action    Action
	Flap      time.Duration
	spec      Spec // as written, for Resolved
}

func (f *PartitionFault) Name() string { return f.Shape.Name() }

// direction is the orientation in force: as written, else both, or to
// for the shapes that name their cut (one-way, custom).
func (f *PartitionFault) direction() Direction {
	if f.Direction != "" {
		return f.Direction
	}
	switch f.Shape.(type) {
	case OneWay, Custom:
		return To
	}
	return Both
}

// Inject builds the shape's grudge, installs it, verifies it with probes
// and records it; with Flap, a goroutine switches it until Recover.
func (f *PartitionFault) Inject(ctx context.Context, nm *Nemesis) (Injected, error) {
	in := &partitioned{f: f, nm: nm, dir: f.direction()}
	g, err := f.Shape.Grudge(ctx, nm.Env)
	if err != nil {
		return in, err // nothing installed
	}
	in.p = Partition{Grudge: Orient(g, in.dir), Scope: f.Scope, Action: f.Action}
	if in.p.Action == "" {
		in.p.Action = Drop
	}
	in.nodes = nm.Net.Names()
	if err := in.apply(ctx); err != nil {
		return in, err
	}
	if f.Flap > 0 {
		in.stop, in.done = make(chan struct{}), make(chan error, 1)
		go func() { in.done <- in.flap(ctx) }()
	}
	return in, nil
}

// partitioned is a partition in force.
type partitioned struct {
	f     *PartitionFault
	nm    *Nemesis
	dir   Direction
	p     Partition
	nodes []string
	// stop ends the flapping goroutine, which says on done how it ended.
	stop chan struct{}
	done chan error
	once sync.Once
}

func (in *partitioned) Describe() string {
	s := in.p.Grudge.Describe(in.nodes)
	if !in.p.Scope.All() {
		s += " (" + in.p.Scope.String() + ")"
	}
	if in.p.Action == Reject {
		s += ", rejecting"
	}
	if in.f.Flap > 0 {
		s += fmt.Sprintf(", flapping every %v", in.f.Flap)
	}
	return s
}

// Resolved is the partition as its exact grudge, oriented "to".
func (in *partitioned) Resolved() Spec {
	spec := in.f.spec
	return Spec{Kind: "custom", Direction: string(To), Grudge: map[string][]string(in.p.Grudge), Ports: spec.Ports, Protocols: spec.Protocols, Action: spec.Action, Flap: spec.Flap, scope: spec.scope}
}

// apply installs the partition, verifies it with probes and records it.
func (in *partitioned) apply(ctx context.Context) error {
	nm := in.nm
	ev := history.PartitionEvent{Shape: in.f.Shape.Name(), Direction: string(in.dir), Grudge: in.p.Grudge, Scope: in.p.Scope.String(), Action: string(in.p.Action), Summary: in.p.Grudge.Describe(nm.Net.Names())}
	if err := nm.invoke("partition", ev); err != nil {
		return err
	}
	if err := nm.Net.Partition(ctx, in.p); err != nil {
		return err
	}
	obs, verr := nm.Net.Verify(ctx)
	ev.Observed = obs
	if err := nm.Record("partition", ev); err != nil {
		return err
	}
	return verr
}

func (in *partitioned) flap(ctx context.Context) error {
	on := true
	t := time.NewTicker(in.f.Flap)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var err error
		if on {
			err = healVerified(ctx, in.nm)
		} else {
			err = in.apply(ctx)
		}
		if err != nil {
			return fmt.Errorf("flapping %s: %w", in.f.Shape.Name(), err)
		}
		on = !on
	}
}

// Recover stops the flapping, heals (also after a failed Inject: a change
// may have reached some nodes) and verifies the heal.
func (in *partitioned) Recover(ctx context.Context) error {
	var flapErr error
	if in.stop != nil {
		in.once.Do(func() { close(in.stop) })
		flapErr = <-in.done
		in.done <- flapErr // a second Recover reads it again
	}
	return errors.Join(flapErr, healVerified(ctx, in.nm))
}

// healVerified heals the network, probes that every pair is open again and
// records the heal with what the probes saw.
func healVerified(ctx context.Context, nm *Nemesis) error {
	if err := nm.invoke("heal", history.HealEvent{}); err != nil {
		return err
	}
	if err := nm.Net.Heal(ctx); err != nil {
		return err
	}
	obs, verr := nm.Net.Verify(ctx)
	if err := nm.Record("heal", history.HealEvent{Observed: obs}); err != nil {
		return err
	}
	return verr
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
	spec     Spec
}

func (f *GrayFault) Name() string { return "gray" }

// Inject degrades every link the spec picks, verifies with probes that
// they still carry traffic, and records the links.
func (f *GrayFault) Inject(ctx context.Context, nm *Nemesis) (Injected, error) {
	in := &grayed{f: f, nm: nm}
	links, err := f.Links.Links(ctx, nm.Env)
	if err != nil {
		return in, fmt.Errorf("gray: %w", err)
	}
	for _, l := range links {
		g := f.Template
		g.From, g.To = l[0], l[1]
		in.links = append(in.links, g)
	}
	if err := nm.invoke("gray", history.GrayEvent{Links: in.links}); err != nil {
		return in, err
	}
	if err := nm.Net.SetGray(ctx, in.links); err != nil {
		return in, err
	}
	obs, verr := nm.Net.Verify(ctx)
	if err := nm.Record("gray", history.GrayEvent{Links: in.links, Observed: obs}); err != nil {
		return in, err
	}
	return in, verr
}

// grayed is a gray fault in force: the degraded links.
type grayed struct {
	f     *GrayFault
	nm    *Nemesis
	links []Gray
}

func (in *grayed) Describe() string {
	return fmt.Sprintf("%d directed links: %s", len(in.links), in.f.Template.Describe())
}

// Resolved names the node every degraded link touches, when it was
// picked at random or as the leader.
func (in *grayed) Resolved() Spec {
	spec := in.f.spec
	if spec.Node != "random" && spec.Node != "leader" {
		return spec
	}
	count := map[string]int{}
	for _, l := range in.links {
		count[l.From]++
		count[l.To]++
	}
	for n, c := range count {
		if c == len(in.links) {
			spec.Node = n
		}
	}
	return spec
}

// Recover heals (also after a failed Inject: a change may have reached
// some nodes) and verifies the heal.
func (in *grayed) Recover(ctx context.Context) error { return healVerified(ctx, in.nm) }

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

// KillFault kills a node with SIGKILL; recovering it starts the node
// again on the same data, so acknowledged writes it lost become visible
// to the checker.
type KillFault struct {
	Node string
	spec Spec
}

func (f *KillFault) Name() string { return "kill" }

func (f *KillFault) Inject(ctx context.Context, nm *Nemesis) (Injected, error) {
	in := &killed{name: "kill", nm: nm, spec: f.spec}
	if nm.Proc == nil {
		return in, errors.New("kill: nodes cannot be stopped here")
	}
	node, err := pickNode(ctx, nm.Env, f.Node)
	if err != nil {
		return in, fmt.Errorf("kill: %w", err)
	}
	in.nodes = []string{node}
	return in, killAll(ctx, nm, in.nodes)
}

// RestartClusterFault kills every node; recovering it starts them all
// again.
type RestartClusterFault struct{ spec Spec }

func (f *RestartClusterFault) Name() string { return "restart-cluster" }

func (f *RestartClusterFault) Inject(ctx context.Context, nm *Nemesis) (Injected, error) {
	in := &killed{name: "restart-cluster", nm: nm, spec: f.spec, all: true}
	if nm.Proc == nil {
		return in, errors.New("restart-cluster: nodes cannot be stopped here")
	}
	in.nodes = slices.Clone(nm.Env.Nodes)
	return in, killAll(ctx, nm, in.nodes)
}

// killed is nodes killed, to be started again.
type killed struct {
	name  string
	nm    *Nemesis
	spec  Spec
	nodes []string // asked to be killed: each is started again
	all   bool     // every node (restart-cluster)
}

func (in *killed) Describe() string {
	if in.all {
		return "killed every node"
	}
	return "killed " + strings.Join(in.nodes, " ")
}

// Resolved names the node killed.
func (in *killed) Resolved() Spec {
	spec := in.spec
	if !in.all && len(in.nodes) == 1 {
		spec.Node = in.nodes[0]
	}
	return spec
}

func (in *killed) Recover(ctx context.Context) error {
	nodes := in.nodes
	in.nodes = nil
	if len(nodes) == 0 {
		return nil
	}
	return startAll(ctx, in.nm, nodes)
}

func killAll(ctx context.Context, nm *Nemesis, nodes []string) error {
	if err := nm.invoke("kill", history.NodesEvent{Nodes: nodes}); err != nil {
		return err
	}
	var errs []error
	for _, n := range nodes {
		errs = append(errs, nm.Net.Down(n)) // the node is down for the nemesis whatever it says
		if err := nm.Proc.Kill(ctx, n); err != nil {
			return errors.Join(append(errs, fmt.Errorf("kill %s: %w", n, err))...)
		}
	}
	return errors.Join(append(errs, nm.Record("kill", history.NodesEvent{Nodes: nodes}))...)
}

func startAll(ctx context.Context, nm *Nemesis, nodes []string) error {
	if err := nm.invoke("restart", history.NodesEvent{Nodes: nodes}); err != nil {
		return err
	}
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
// recovering it thaws the node.
type PauseFault struct {
	Node string
	spec Spec
}

func (f *PauseFault) Name() string { return "pause" }

func (f *PauseFault) Inject(ctx context.Context, nm *Nemesis) (Injected, error) {
	in := &paused{nm: nm, spec: f.spec}
	if nm.Proc == nil {
		return in, errors.New("pause: nodes cannot be paused here")
	}
	node, err := pickNode(ctx, nm.Env, f.Node)
	if err != nil {
		return in, fmt.Errorf("pause: %w", err)
	}
	if err := nm.invoke("pause", history.NodesEvent{Nodes: []string{node}}); err != nil {
		return in, err
	}
	if err := nm.Proc.Pause(ctx, node); err != nil {
		return in, fmt.Errorf("pause %s: %w", node, err)
	}
	in.node = node
	return in, nm.Record("pause", history.NodesEvent{Nodes: []string{node}})
}

// paused is a node paused, to be thawed.
type paused struct {
	nm   *Nemesis
	spec Spec
	node string // "" when nothing was paused
}

func (in *paused) Describe() string { return "paused " + in.node }

// Resolved names the node paused.
func (in *paused) Resolved() Spec {
	spec := in.spec
	spec.Node = in.node
	return spec
}

func (in *paused) Recover(ctx context.Context) error {
	if in.node == "" {
		return nil
	}
	node := in.node
	in.node = ""
	if err := in.nm.invoke("resume", history.NodesEvent{Nodes: []string{node}}); err != nil {
		return err
	}
	if err := in.nm.Proc.Resume(ctx, node); err != nil {
		return fmt.Errorf("resume %s: %w", node, err)
	}
	return in.nm.Record("resume", history.NodesEvent{Nodes: []string{node}})
}
