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
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
)

// This file maps a system's definition (package systems) onto the
// containers of package docker, and owns the step that starts them.

// clusterPart is what the startCluster step owns.
type clusterPart struct {
	c *docker.Cluster
	// rendered are the nodes as the definition renders them; nodes, as
	// clients and checks reach them.
	rendered []systems.Node
	nodes    []workloads.Node
	// start is when the first container was asked for (after the images
	// were built): the cluster ready time counts from it.
	start time.Time
}

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
func EnsureImages(ctx context.Context, log io.Writer) (tags []string, err error) {
	cli, err := docker.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cli.Close()) }()
	// The helper image first: a run whose controller cannot enter the
	// nodes' namespaces needs it, and must not need a toolchain then.
	helper, err := helperImage()
	if err != nil {
		return nil, err
	}
	if err := docker.EnsureImage(ctx, cli, helper, log); err != nil {
		return nil, err
	}
	tags = []string{helper.Tag}
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

// startCluster starts the nodes (or attaches to running ones), with
// teardown registered at once: logs saved, containers, network and
// volumes removed.
func (r *run) startCluster() error {
	if r.sc.Cluster.Attach == nil {
		params := ""
		for _, k := range slices.Sorted(maps.Keys(r.sc.Cluster.Params)) {
			params += fmt.Sprintf(", %s %s", k, r.sc.Cluster.Params[k])
		}
		r.logf("starting %d-node %s cluster (%s%s)", len(r.sc.NodeNames()), r.def.Name, r.def.Source, params)
	}
	r.cluster.start = time.Now()
	r.rep.Timings.PrepareMS = r.cluster.start.Sub(r.began).Milliseconds()
	var err error
	if r.cluster.c, r.cluster.rendered, err = startCluster(r.ctx, r.engine.cli, r.sc, r.rep.RunID, r.logf); err != nil {
		return err
	}
	r.later(r.teardown)
	r.cluster.nodes = clientNodes(r.cluster.rendered)
	return nil
}

func (r *run) teardown(err error) error {
	t := time.Now()
	if r.sc.Cluster.Attach != nil {
		r.logf("tearing down: saving node logs, restoring the attached containers, removing faultline's marker")
	} else {
		r.logf("tearing down: saving node logs, removing containers and network")
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), time.Minute)
	defer cancel()
	if lerr := r.cluster.c.SaveLogs(tctx, filepath.Join(r.store.dir, NodesDir), r.def.Logs); lerr != nil {
		r.logf("warning: node logs incomplete: %v", lerr)
	}
	if rerr := r.cluster.c.Remove(tctx); rerr != nil {
		r.logf("error: cleanup incomplete: %v; run `faultline clean`", rerr)
		if err == nil {
			err = fmt.Errorf("cleanup: %w", rerr)
		}
	}
	r.rep.Timings.TeardownMS = time.Since(t).Milliseconds()
	return err
}

// startCluster starts the scenario's nodes (or attaches to running ones)
// and renders the definition for them: what clients and checks need of
// each node.
func startCluster(ctx context.Context, cli *client.Client, run scenarios.Scenario, runID string, logf func(string, ...any)) (*docker.Cluster, []systems.Node, error) {
	if run.Cluster.Attach != nil {
		return attach(ctx, cli, run, runID, logf)
	}
	d := run.Cluster.Def
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

// attach finds the running containers the scenario selects, refuses
// faults the catalogue says cannot act on them, and renders the
// definition for them. What it attached to is let go again on an error.
func attach(ctx context.Context, cli *client.Client, run scenarios.Scenario, runID string, logf func(string, ...any)) (*docker.Cluster, []systems.Node, error) {
	a := run.Cluster.Attach
	sel := docker.Selector{Project: a.Project, Services: a.Services, Names: a.Names, Labels: a.Labels}
	c, info, err := docker.Attach(ctx, cli, runID, sel)
	if err != nil {
		return nil, nil, err
	}
	var names, addrs []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
		addrs = append(addrs, n.Addr.String())
	}
	var nodes []systems.Node
	err = attachedFaults(run, names, info)
	if err == nil {
		nodes, err = run.Cluster.Def.Render(systems.Cluster{Names: names, Addrs: addrs, RunID: runID})
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return nil, nil, errors.Join(err, c.Remove(rctx))
	}
	logf("attached to %d running containers (%s): %s", len(names), sel, strings.Join(names, ", "))
	return c, nodes, nil
}

// attachedFaults checks every fault again against the containers found:
// their names, and whether faultline could undo a kill (a container
// removed when it stops, or one Docker itself restarts after a kill,
// could not be). The rules are the catalogue's (nemesis.Spec).
func attachedFaults(run scenarios.Scenario, names []string, info []docker.AttachedNode) error {
	c := run.FaultContext()
	c.Nodes, c.Found = names, "the attach selector"
	for _, n := range info {
		switch {
		case n.AutoRemove:
			c.CannotKill = fmt.Sprintf("%s is removed when it stops (--rm), so a kill could not be undone; drop the kill faults or start it without --rm", n.Name)
		case n.RestartPolicy != "" && n.RestartPolicy != "no":
			c.CannotKill = fmt.Sprintf("%s has restart policy %q: Docker would undo a kill at once; drop the kill faults or give it restart policy no", n.Name, n.RestartPolicy)
		}
		if c.CannotKill != "" {
			break
		}
	}
	type entry struct {
		field string
		spec  nemesis.Spec
		hold  time.Duration
	}
	var faults []entry
	for i, f := range run.Nemesis.Faults {
		faults = append(faults, entry{fmt.Sprintf("nemesis.faults[%d]", i), f, run.Nemesis.Hold})
	}
	for i, e := range run.Nemesis.Timeline {
		faults = append(faults, entry{fmt.Sprintf("nemesis.timeline[%d].fault", i), e.Fault, e.For})
	}
	for _, f := range faults {
		c.Hold = f.hold
		err := f.spec.Validate(c)
		var fe *nemesis.FieldError
		switch {
		case err == nil:
		case errors.As(err, &fe) && errors.Is(err, nemesis.ErrUnknownNode):
			return fmt.Errorf("%w: %s: %s %s", scenarios.ErrInvalid, run.Path, f.field, fe.Msg)
		case errors.As(err, &fe):
			return fmt.Errorf("%w: %s: %s", scenarios.ErrInvalid, run.Path, fe.Msg)
		default:
			return fmt.Errorf("%w: %s: %s: %w", scenarios.ErrInvalid, run.Path, f.field, err)
		}
	}
	return nil
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

// clientNodes are the rendered nodes as workloads sees them.
func clientNodes(nodes []systems.Node) []workloads.Node {
	out := make([]workloads.Node, len(nodes))
	for i, n := range nodes {
		out[i] = workloads.Node{Name: n.Name, Addr: n.Addr, Endpoint: n.Endpoint, Env: n.ClientEnv}
	}
	return out
}
