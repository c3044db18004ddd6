package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// LabelAttached on a run's marker volume lists the IDs of the containers an
// attached run acts on, so that `faultline clean` can heal and restore them
// after a harness was killed, without ever removing them.
const LabelAttached = "faultline.attached"

// Compose's own labels on the containers it starts.
const (
	composeProject = "com.docker.compose.project"
	composeService = "com.docker.compose.service"
	composeNumber  = "com.docker.compose.container-number"
)

// Selector picks running containers somebody else started: by compose
// project (and services), by name, or by labels. Exactly one way.
type Selector struct {
	Project  string
	Services []string
	Names    []string
	Labels   map[string]string
}

func (s Selector) String() string {
	switch {
	case s.Project != "" && len(s.Services) > 0:
		return fmt.Sprintf("compose project %s, services %s", s.Project, strings.Join(s.Services, ", "))
	case s.Project != "":
		return "compose project " + s.Project
	case len(s.Names) > 0:
		return "containers " + strings.Join(s.Names, ", ")
	}
	var kv []string
	for k, v := range s.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return "labels " + strings.Join(kv, ", ")
}

// AttachedNode says what an attached container would do with a process
// fault: whether Docker would undo a kill itself (a restart policy) or
// the container would vanish when stopped (--rm).
type AttachedNode struct {
	Name          string
	RestartPolicy string
	AutoRemove    bool
}

// attachedMatch is a running container a selector found, with its node name.
type attachedMatch struct {
	name string
	insp container.InspectResponse
}

// findAttached lists the running containers a selector finds, refusing a
// container of a faultline run, one that is not running, and names or
// services that match nothing.
func findAttached(ctx context.Context, cli *client.Client, sel Selector) ([]attachedMatch, error) {
	f := filters.NewArgs()
	switch {
	case sel.Project != "":
		f.Add("label", composeProject+"="+sel.Project)
	case len(sel.Labels) > 0:
		for k, v := range sel.Labels {
			if v == "" {
				f.Add("label", k)
			} else {
				f.Add("label", k+"="+v)
			}
		}
	case len(sel.Names) == 0:
		return nil, fmt.Errorf("%w: the selector names no project, container or label", ErrAttach)
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("%w: list containers: %w", ErrAttach, err)
	}
	var found []attachedMatch
	seen := map[string]bool{}
	for _, ct := range list {
		name := containerName(ct)
		switch {
		case len(sel.Names) > 0 && !slices.Contains(sel.Names, name):
			continue
		case sel.Project != "" && len(sel.Services) > 0 && !slices.Contains(sel.Services, ct.Labels[composeService]):
			continue
		}
		if sel.Project != "" {
			name = ct.Labels[composeService]
		}
		insp, err := cli.ContainerInspect(ctx, ct.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: inspect %s: %w", ErrAttach, name, err)
		}
		if insp.Config != nil {
			if run := insp.Config.Labels[LabelRun]; run != "" {
				return nil, fmt.Errorf("%w: %s belongs to faultline run %s; attach only to containers faultline did not start", ErrAttach, containerName(ct), run)
			}
		}
		if insp.State == nil || !insp.State.Running || insp.State.Paused {
			return nil, fmt.Errorf("%w: %s is not running (%s); start it first, faultline attaches only to a running cluster", ErrAttach, containerName(ct), ct.State)
		}
		found = append(found, attachedMatch{name: name, insp: insp})
		seen[name] = true
	}
	// Compose replicas share a service name: number them as compose does.
	count := map[string]int{}
	for _, m := range found {
		count[m.name]++
	}
	for i := range found {
		if count[found[i].name] > 1 && found[i].insp.Config != nil {
			found[i].name += "-" + found[i].insp.Config.Labels[composeNumber]
		}
	}
	if len(sel.Names) > 0 {
		for _, n := range sel.Names {
			if !seen[n] {
				return nil, fmt.Errorf("%w: no container named %s", ErrAttach, n)
			}
		}
	}
	if len(sel.Services) > 0 {
		for _, s := range sel.Services {
			if !seen[s] {
				return nil, fmt.Errorf("%w: compose project %s has no running service %s", ErrAttach, sel.Project, s)
			}
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w: %s matches no container", ErrAttach, sel)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].name < found[j].name })
	return found, nil
}

// Attach binds a run to running containers that somebody else started.
// faultline owns only what it adds (its rules in their namespaces, its
// marker volume); Remove heals nothing but removes the marker and starts
// or thaws any of the containers a fault left stopped or paused. Nodes
// are named by compose service (service-N for replicas), else by
// container name; their addresses are on the first network all of them
// share.
func Attach(ctx context.Context, cli *client.Client, runID string, sel Selector) (*Cluster, []AttachedNode, error) {
	found, err := findAttached(ctx, cli, sel)
	if err != nil {
		return nil, nil, err
	}
	netName, err := sharedNetwork(found)
	if err != nil {
		return nil, nil, err
	}
	c := &Cluster{cli: cli, RunID: runID, attached: true, ids: map[string]bool{}}
	var info []AttachedNode
	var ids []string
	for _, m := range found {
		es := m.insp.NetworkSettings.Networks[netName]
		addr, err := netip.ParseAddr(es.IPAddress)
		if err != nil || !addr.Is4() {
			return nil, nil, fmt.Errorf("%w: %s has no IPv4 address on network %s (faultline needs IPv4)", ErrAttach, m.name, netName)
		}
		if c.Subnet == (netip.Prefix{}) {
			c.Subnet = netip.PrefixFrom(addr, es.IPPrefixLen).Masked()
			c.NetworkID = es.NetworkID
		}
		c.Nodes = append(c.Nodes, Node{Name: m.name, ContainerID: m.insp.ID, Addr: addr, Pid: m.insp.State.Pid})
		c.ids[m.insp.ID] = true
		ids = append(ids, m.insp.ID)
		an := AttachedNode{Name: m.name}
		if hc := m.insp.HostConfig; hc != nil {
			an.RestartPolicy = string(hc.RestartPolicy.Name)
			an.AutoRemove = hc.AutoRemove
		}
		info = append(info, an)
	}
	// The marker: what `faultline clean` needs to heal these containers if
	// this harness is killed. Created to completion even on an interrupt.
	labels := map[string]string{LabelFaultline: "true", LabelRun: runID, LabelOwner: Owner(), LabelAttached: strings.Join(ids, ",")}
	if _, err := cli.VolumeCreate(context.WithoutCancel(ctx), volume.CreateOptions{Name: "faultline-" + runID + "-attached", Labels: labels}); err != nil {
		return nil, nil, fmt.Errorf("%w: create marker volume: %w", ErrAttach, err)
	}
	return c, info, nil
}

// sharedNetwork is the first network (by name) every container is on with
// an IPv4 address.
func sharedNetwork(found []attachedMatch) (string, error) {
	has := func(insp container.InspectResponse, n string) bool {
		return insp.NetworkSettings != nil && insp.NetworkSettings.Networks[n] != nil && insp.NetworkSettings.Networks[n].IPAddress != ""
	}
	var names []string
	if ns := found[0].insp.NetworkSettings; ns != nil {
		for n := range ns.Networks {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		shared := true
		for _, m := range found {
			shared = shared && has(m.insp, n)
		}
		if shared {
			return n, nil
		}
	}
	return "", fmt.Errorf("%w: the containers share no network with IPv4 addresses; faultline cuts traffic between nodes on one network", ErrAttach)
}

// Restore starts attached containers that are stopped and thaws paused
// ones: an attached run leaves them running. IDs that vanished are
// skipped.
func Restore(ctx context.Context, cli *client.Client, ids []string) error {
	var errs []error
	for _, id := range ids {
		insp, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			continue
		}
		switch {
		case insp.State == nil:
		case insp.State.Paused:
			if err := cli.ContainerUnpause(ctx, id); err != nil {
				errs = append(errs, fmt.Errorf("thaw %s: %w", insp.Name, err))
			}
		case !insp.State.Running:
			if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
				errs = append(errs, fmt.Errorf("start %s: %w", insp.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// attachedIDs lists the attached containers, for Remove.
func (c *Cluster) attachedIDs() []string {
	var ids []string
	for _, n := range c.Nodes {
		ids = append(ids, n.ContainerID)
	}
	return ids
}
