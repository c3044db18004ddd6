package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
)

// This file maps a system's definition (package systems) onto the parts
// that act: the images and containers (package docker), the clients and
// the readiness and leader checks (package workloads).

// ImagesOf are the images a system's nodes run, each with how to build it.
// image, when set, replaces the image of a definition whose nodes are
// alike (a scenario's cluster.image): used as it is, never built.
func ImagesOf(d *systems.Definition, image string) []docker.ImageSpec {
	var out []docker.ImageSpec
	seen := map[string]bool{}
	add := func(s systems.Service) {
		if seen[s.Image] {
			return
		}
		seen[s.Image] = true
		out = append(out, docker.ImageSpec{Tag: s.Image, Build: buildSpec(s.Build), Owner: "system " + d.Name})
	}
	if len(d.Nodes) == 0 {
		if image != "" && image != d.Image {
			return []docker.ImageSpec{{Tag: image, Owner: "cluster.image"}}
		}
		add(d.Service)
	}
	for _, n := range d.Nodes {
		add(n.Service)
	}
	return out
}

func buildSpec(b *systems.Build) *docker.BuildSpec {
	if b == nil {
		return nil
	}
	spec := &docker.BuildSpec{Context: b.Context, Dockerfile: b.Dockerfile, Args: b.Args, Inputs: b.Inputs}
	if p := b.Prepare; p != nil {
		spec.PrepareKey = p.Key()
		spec.Prepare = func(ctx context.Context, out string, log io.Writer) error { return p.Run(ctx, b.Context, out, log) }
	}
	return spec
}

// EnsureImages builds faultline's helper image and every built-in
// system's images that are missing or stale (`faultline images`), and
// says which it has.
func EnsureImages(ctx context.Context, log io.Writer) ([]string, error) {
	cli, err := docker.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	// The helper image first: a run whose controller cannot enter the
	// nodes' namespaces needs it, and must not need a toolchain then.
	helper, err := helperImage()
	if err != nil {
		return nil, err
	}
	if err := docker.EnsureImage(ctx, cli, helper, log); err != nil {
		return nil, err
	}
	tags := []string{helper.Tag}
	for _, name := range systems.BuiltinNames() {
		d, err := systems.Builtin(name)
		if err != nil {
			return tags, err
		}
		for _, img := range ImagesOf(d, "") {
			if err := docker.EnsureImage(ctx, cli, img, log); err != nil {
				return tags, err
			}
			tags = append(tags, img.Tag)
		}
	}
	return tags, nil
}

// startCluster starts the scenario's nodes (or attaches to running ones)
// and renders the definition for them: what clients and checks need of
// each node.
func startCluster(ctx context.Context, cli *client.Client, run scenarios.Scenario, runID string, logf func(string, ...any)) (*docker.Cluster, []systems.Node, error) {
	d := run.Cluster.Def
	if a := run.Cluster.Attach; a != nil {
		c, info, err := docker.Attach(ctx, cli, runID, docker.Selector{Project: a.Project, Services: a.Services, Names: a.Names, Labels: a.Labels})
		if err != nil {
			return nil, nil, err
		}
		err = attachedFaults(run, info)
		if err == nil {
			err = attachedNames(run, c.Nodes)
		}
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			c.Remove(rctx)
			return nil, nil, err
		}
		var names, addrs []string
		for _, n := range c.Nodes {
			names = append(names, n.Name)
			addrs = append(addrs, n.Addr.String())
		}
		nodes, err := d.Render(systems.Cluster{Names: names, Addrs: addrs, RunID: runID})
		if err != nil {
			c.Remove(context.WithoutCancel(ctx))
			return nil, nil, err
		}
		logf("attached to %d running containers (%s): %s", len(names), docker.Selector{Project: a.Project, Services: a.Services, Names: a.Names, Labels: a.Labels}, strings.Join(names, ", "))
		return c, nodes, nil
	}
	for _, note := range d.Notes {
		logf("compose: %s", note)
	}
	var rendered []systems.Node
	spec := docker.ClusterSpec{
		RunID: runID,
		Names: run.NodeNames(),
		Nodes: func(addrs []netip.Addr) ([]docker.NodeSpec, error) {
			as := make([]string, len(addrs))
			for i, a := range addrs {
				as[i] = a.String()
			}
			nodes, err := d.Render(systems.Cluster{Names: run.NodeNames(), Addrs: as, RunID: runID, Params: run.Cluster.Params})
			if err != nil {
				return nil, fmt.Errorf("system %s: %w", d.Name, err)
			}
			rendered = nodes
			specs := make([]docker.NodeSpec, len(nodes))
			for i, n := range nodes {
				specs[i] = nodeSpec(n, run.Cluster.Image)
			}
			return specs, nil
		},
	}
	c, err := docker.Start(ctx, cli, spec)
	if err != nil {
		return nil, nil, err
	}
	return c, rendered, nil
}

// nodeSpec is a rendered node as a container to start.
func nodeSpec(n systems.Node, image string) docker.NodeSpec {
	ns := docker.NodeSpec{
		Name: n.Name, Image: n.Image, Cmd: n.Command, Entrypoint: n.Entrypoint, Env: n.Env,
		WorkDir: n.Workdir, User: n.User, Data: n.Data, Tmpfs: n.Tmpfs, Aliases: n.Aliases,
		ExtraHosts: n.ExtraHosts, Labels: n.Labels, Init: n.Init, ReadOnly: n.ReadOnly, StopSignal: n.StopSignal,
	}
	if image != "" {
		ns.Image = image
	}
	for _, m := range n.Mounts {
		ns.Mounts = append(ns.Mounts, docker.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	return ns
}

// attachedFaults refuses process faults an attached cluster would not let
// faultline undo: a container removed when it stops, or one Docker itself
// restarts after a kill.
func attachedFaults(run scenarios.Scenario, info []docker.AttachedNode) error {
	kinds := map[string]bool{}
	for _, f := range run.Nemesis.Faults {
		kinds[f.Kind] = true
	}
	for _, e := range run.Nemesis.Timeline {
		kinds[e.Fault.Kind] = true
	}
	if !kinds["kill"] && !kinds["restart-cluster"] {
		return nil
	}
	for _, n := range info {
		switch {
		case n.AutoRemove:
			return fmt.Errorf("%w: %s: %s is removed when it stops (--rm), so a kill could not be undone; drop the kill faults or start it without --rm", scenarios.ErrInvalid, run.Path, n.Name)
		case n.RestartPolicy != "" && n.RestartPolicy != "no":
			return fmt.Errorf("%w: %s: %s has restart policy %q: Docker would undo a kill at once; drop the kill faults or give it restart policy no", scenarios.ErrInvalid, run.Path, n.Name, n.RestartPolicy)
		}
	}
	return nil
}

// attachedNames refuses faults that name a node the attach selector did
// not find (a selector by labels names no nodes before the run).
func attachedNames(run scenarios.Scenario, nodes []docker.Node) error {
	have := map[string]bool{}
	var names []string
	for _, n := range nodes {
		have[n.Name] = true
		names = append(names, n.Name)
	}
	check := func(field string, f scenarios.Fault) error {
		var named []string
		if f.Node != "" && f.Node != "random" && f.Node != "leader" {
			named = append(named, f.Node)
		}
		named = append(append(named, f.From...), f.To...)
		for dst, srcs := range f.Grudge {
			named = append(append(named, dst), srcs...)
		}
		for _, n := range named {
			if !have[n] {
				return fmt.Errorf("%w: %s: %s names node %q, which the attach selector did not find (it found %s)", scenarios.ErrInvalid, run.Path, field, n, strings.Join(names, ", "))
			}
		}
		return nil
	}
	for i, f := range run.Nemesis.Faults {
		if err := check(fmt.Sprintf("nemesis.faults[%d]", i), f); err != nil {
			return err
		}
	}
	for i, e := range run.Nemesis.Timeline {
		if err := check(fmt.Sprintf("nemesis.timeline[%d].fault", i), e.Fault); err != nil {
			return err
		}
	}
	return nil
}

// clientNodes are the rendered nodes as workloads sees them.
func clientNodes(nodes []systems.Node) []workloads.Node {
	out := make([]workloads.Node, len(nodes))
	for i, n := range nodes {
		out[i] = workloads.Node{Name: n.Name, Addr: n.Addr, Endpoint: n.Endpoint, Env: n.ClientEnv}
	}
	return out
}

// clientAdapter is an adapter for a client: the built-in one it names, or
// a client program. close stops what it started. A system's own
// client.env reaches programs through the nodes (templated per node); a
// workload's client.env is given as it is.
func clientAdapter(run scenarios.Scenario, c *systems.Client, dir string, nodes []workloads.Node) (workloads.Adapter, func(), error) {
	if c.Builtin != "" {
		a, err := workloads.Builtin(c.Builtin, workloads.BuiltinOptions{Reads: run.Workload.Reads})
		return a, func() {}, err
	}
	spec := programSpec(run, c, nodes)
	ext := spec.External()
	ext.LogDir = filepath.Join(dir, "clients")
	return ext, func() { ext.Close() }, nil
}

// programSpec is how a client program runs, here or in the clients'
// container.
func programSpec(run scenarios.Scenario, c *systems.Client, nodes []workloads.Node) workloads.RelaySpec {
	spec := workloads.RelaySpec{Command: c.Command, OpTimeout: run.Workload.OpTimeout, Reads: run.Workload.Reads, Nodes: nodes, Kind: run.Workload.Kind}
	if c == run.Workload.Client {
		for _, k := range slices.Sorted(maps.Keys(c.Env)) {
			spec.Env = append(spec.Env, k+"="+c.Env[k])
		}
	}
	return spec
}

// clients are the adapter the workload runs through (the scenario's
// client, else the system's) and the one that answers the system's
// `ready: {client: true}` and `leader: {client: true}`: the system's own
// client, so that a scenario bringing its own program still has the
// system's checks.
func clients(run scenarios.Scenario, dir string, nodes []workloads.Node, relay *workloads.Relay) (work, checks workloads.Adapter, close func(), err error) {
	if relay != nil {
		return relay, relay, func() {}, nil // it serves the one client it was told of
	}
	work, closeWork, err := clientAdapter(run, run.Client(), dir, nodes)
	if err != nil {
		return nil, nil, nil, err
	}
	own := run.Cluster.Def.Client
	if own == nil || run.Workload.Client == nil {
		return work, work, closeWork, nil
	}
	checks, closeChecks, err := clientAdapter(run, own, dir, nodes)
	if err != nil {
		closeWork()
		return nil, nil, nil, err
	}
	return work, checks, func() { closeWork(); closeChecks() }, nil
}

// readyCheck is how the run tells a node is ready, from the definition:
// its HTTP, TCP or command check, or the client's own answer; a compose
// service's healthcheck; else a connect to its first client port; else
// nothing (nil).
func readyCheck(d *systems.Definition, nodes []systems.Node, c *docker.Cluster, adapter workloads.Adapter, relay *workloads.Relay) (workloads.Check, string, error) {
	r := d.Ready
	// Asked from here, or from inside the run's network (the relay).
	httpCheck, tcpCheck := workloads.HTTPCheck, workloads.TCPCheck
	if relay != nil {
		httpCheck = func(port int, path string, status int) workloads.Check {
			return relay.Check(workloads.CheckSpec{HTTP: true, Port: port, Path: path, Status: status})
		}
		tcpCheck = func(port int) workloads.Check { return relay.Check(workloads.CheckSpec{TCP: true, Port: port}) }
	}
	switch {
	case r != nil && r.HTTP != nil:
		return httpCheck(r.HTTP.Port, r.HTTP.Path, r.HTTP.Status), fmt.Sprintf("GET %s on port %d", r.HTTP.Path, r.HTTP.Port), nil
	case r != nil && r.TCP != nil:
		return tcpCheck(r.TCP.Port), fmt.Sprintf("a connect to port %d", r.TCP.Port), nil
	case r != nil && r.Client:
		w, ok := adapter.(workloads.ReadyWaiter)
		if !ok {
			return nil, "", fmt.Errorf("%w: system %s: ready.client: its built-in client has no readiness check; give ready: http, tcp or command", scenarios.ErrInvalid, d.Name)
		}
		return workloads.ClientCheck(w), "the client's ready answer", nil
	}
	cmds := map[string][]string{}
	for _, n := range nodes {
		if len(n.ReadyCommand) > 0 {
			cmds[n.Name] = n.ReadyCommand
		}
	}
	if len(cmds) == len(nodes) && len(nodes) > 0 {
		return workloads.ExecCheck(c, cmds), "a command in each node", nil
	}
	if len(d.Ports.Client) > 0 {
		return tcpCheck(int(d.Ports.Client[0].Lo)), fmt.Sprintf("a connect to client port %d", d.Ports.Client[0].Lo), nil
	}
	return nil, "", nil
}

// leaderFuncs are how the run finds the leader, from the definition: wait
// asks until a node is named (for faults aimed at the leader), once asks
// every node one time (for the leader watch). Both nil when the system
// says no way (leader-targeted faults were refused when the scenario was
// loaded).
func leaderFuncs(d *systems.Definition, nodes []systems.Node, c *docker.Cluster, adapter workloads.Adapter, relay *workloads.Relay) (wait, once workloads.LeaderFunc, err error) {
	l := d.Leader
	if l == nil {
		return nil, nil, nil
	}
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	var f workloads.LeaderFunc
	var how string
	switch {
	case l.HTTP != nil:
		f, how = workloads.HTTPLeader(l.HTTP.Port, l.HTTP.Path, l.HTTP.Field, l.HTTP.Term), fmt.Sprintf("GET %s on port %d, field %s", l.HTTP.Path, l.HTTP.Port, l.HTTP.Field)
		if relay != nil {
			f = relay.LeaderVia(workloads.CheckSpec{HTTP: true, Port: l.HTTP.Port, Path: l.HTTP.Path, Field: l.HTTP.Field, Term: l.HTTP.Term})
		}
	case len(l.Command) > 0:
		cmds := map[string][]string{}
		for _, n := range nodes {
			cmds[n.Name] = n.LeaderCommand
		}
		f, how = workloads.ExecLeader(c, cmds), "a command in each node"
	default:
		finder, ok := adapter.(workloads.LeaderFinder)
		if !ok {
			return nil, nil, fmt.Errorf("%w: system %s: leader.client: its built-in client cannot tell the leader; give leader: http or command", scenarios.ErrInvalid, d.Name)
		}
		f, how = finder.Leader, "the client's leader answer"
	}
	waiting := workloads.WaitLeader(f, timeout)
	return func(ctx context.Context, nodes []workloads.Node) (string, error) {
		name, err := waiting(ctx, nodes)
		if err != nil {
			return "", fmt.Errorf("%w (system %s finds its leader by %s, waiting up to %v: leader.timeout in %s; docs/systems.md, troubleshooting)", err, d.Name, how, timeout, d.Source)
		}
		return name, nil
	}, f, nil
}

// checkClientProgram asks a client program what it supports before the
// run, when the definition relies on it for readiness or the leader: a
// program that does not answer ready or leader stops the run here.
func checkClientProgram(ctx context.Context, run scenarios.Scenario, checks workloads.Adapter, nodes []workloads.Node) error {
	ext, ok := checks.(*workloads.External)
	if !ok || len(nodes) == 0 {
		return nil
	}
	d := run.Cluster.Def
	var need []string
	if d.Ready != nil && d.Ready.Client {
		need = append(need, "ready")
	}
	if d.Leader != nil && d.Leader.Client && usesLeader(run) {
		need = append(need, "leader")
	}
	if len(need) == 0 {
		return nil
	}
	h, err := ext.Hello(ctx, nodes[0])
	if err != nil {
		return err
	}
	for _, what := range need {
		if !h.Can(what) {
			return fmt.Errorf("%w: system %s says %s.client: true, but the client program %v does not answer %s requests (its answer to hello: %s); see docs/adapters.md, or give %s: http, tcp or command in %s",
				workloads.ErrClientProgram, d.Name, what, ext.Command, what, h, what, run.SystemSource())
		}
	}
	return nil
}

// usesLeader reports whether any fault aims at the leader.
func usesLeader(run scenarios.Scenario) bool {
	for _, f := range run.Nemesis.Faults {
		if f.Node == "leader" {
			return true
		}
	}
	for _, e := range run.Nemesis.Timeline {
		if e.Fault.Node == "leader" {
			return true
		}
	}
	return false
}

// notReady turns a readiness failure into the error a user reads: the
// node, what was checked, its last log lines.
func notReady(ctx context.Context, err error, how string, c *docker.Cluster, timeout time.Duration, dir string) error {
	var nr *workloads.NotReadyError
	if errors.As(err, &nr) {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return fmt.Errorf("%w: %s was not ready within %v (cluster.ready_timeout), checked by %s; its last try: %v; its last log lines: %s; all node logs will be in %s",
			workloads.ErrNotReady, nr.Node, timeout, how, nr.Err, c.LogTail(tctx, nr.Node, 8), filepath.Join(dir, NodesDir))
	}
	return fmt.Errorf("%w within %v (cluster.ready_timeout); node logs will be in %s; raise cluster.ready_timeout if this machine is slow", err, timeout, filepath.Join(dir, NodesDir))
}
