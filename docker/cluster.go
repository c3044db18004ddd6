// Package docker runs the cluster under test in the Docker engine, through
// the Engine API client: the images faultline ships (built locally FROM
// scratch, see images.go), one user-defined bridge network per run, and one
// container per node, n1..nN.
//
// Data enters as a ClusterSpec and leaves as a Cluster whose Nodes carry
// what the rest of faultline needs: an address, a client endpoint and the
// PID through which the nemesis enters the node's network namespace. Every
// object created carries the labels faultline=true and faultline.run=<id>,
// so Leftovers and Clean find whatever a killed harness left behind.
// Beside the nodes: running clusters attached to (attach.go), the helper
// containers in a node's namespace and the clients' container on the
// run's network (helper.go), and Processes, the container actions the
// process faults take (kill, start, pause, resume).
package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Labels on every object faultline creates.
const (
	LabelFaultline = "faultline"
	LabelRun       = "faultline.run"
	LabelNode      = "faultline.node"
)

// Connect opens a client for the engine named by the environment
// (DOCKER_HOST, default the local socket), negotiates the API version and
// checks that the engine answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		return nil, errors.Join(fmt.Errorf("%w at %s: %w; start the Docker engine or set DOCKER_HOST", ErrUnreachable, cli.DaemonHost(), err), cli.Close())
	}
	return cli, nil
}

// NodeSpec is one node to start: a container and what it runs. The
// harness renders it from the system's definition; package docker knows no
// system.
type NodeSpec struct {
	Name       string
	Image      string
	Cmd        []string // replaces the image's CMD when set
	Entrypoint []string // replaces the image's ENTRYPOINT when set
	Env        []string // NAME=value
	WorkDir    string
	User       string
	// Data is a folder in the node backed by a volume of the run's own: it
	// survives a kill and restart of the node and starts empty in every
	// run.
	Data string
	// Mounts are further mounts: a "volume" mount's Source names a volume
	// of the run's own (shared by the nodes that name it, as in compose);
	// a "bind" mount's Source is a host path.
	Mounts  []Mount
	Tmpfs   []string
	Aliases []string // DNS names on the run's network, besides Name
	// From a compose service: more /etc/hosts lines (host:ip), labels
	// (faultline's own win), an init process, a read-only root, the stop
	// signal.
	ExtraHosts []string
	Labels     map[string]string
	Init       bool
	ReadOnly   bool
	StopSignal string
}

// Mount is a mount of a node's container.
type Mount struct {
	Type     string // "volume" or "bind"
	Source   string
	Target   string
	ReadOnly bool
}

// ClusterSpec is what to start: the run's nodes, rendered once their
// addresses are known (a node's command line names its peers' addresses).
type ClusterSpec struct {
	RunID string
	Names []string
	Nodes func(addrs []netip.Addr) ([]NodeSpec, error)
}

// Node is one started member.
type Node struct {
	Name        string
	ContainerID string
	Addr        netip.Addr
	// Pid is the container's init process as the host sees it; the node's
	// network namespace is /proc/Pid/ns/net.
	Pid int
}

// NetNS is the path of the node's network namespace.
func (n Node) NetNS() string { return fmt.Sprintf("/proc/%d/ns/net", n.Pid) }

// Cluster is a running cluster. Remove it when done, whatever happened.
type Cluster struct {
	cli       *client.Client
	mu        sync.Mutex // guards Nodes[i].Pid across restarts
	RunID     string
	NetworkID string
	Subnet    netip.Prefix
	Nodes     []Node
	// attached: the containers are somebody else's (Attach); faultline
	// owns only its marker, never removes them.
	attached bool
	ids      map[string]bool // the attached containers faultline may act on
}

// Start creates the run's network and starts every node. On any error it
// removes whatever it had created before returning.
func Start(ctx context.Context, cli *client.Client, spec ClusterSpec) (c *Cluster, err error) {
	c = &Cluster{cli: cli, RunID: spec.RunID}
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			err = errors.Join(err, c.Remove(rctx))
			c = nil
		}
	}()
	// Calls that create something run to completion even when ctx ends
	// (an interrupt): a create the engine finishes after the client gave
	// up would leave an object no cleanup knows of. ctx is checked between
	// them instead.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	labels := map[string]string{LabelFaultline: "true", LabelRun: spec.RunID, LabelOwner: Owner()}
	if err := c.createNetwork(ctx, cctx, labels); err != nil {
		return c, err
	}
	addrs := make([]netip.Addr, len(spec.Names))
	a := c.Subnet.Addr()
	for i := range spec.Names {
		// .1 is the gateway (the host); nodes start at .11.
		a4 := a.As4()
		a4[3] = byte(11 + i)
		addrs[i] = netip.AddrFrom4(a4)
	}
	nodes, err := spec.Nodes(addrs)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrStart, err)
	}
	volumes := map[string]bool{}
	for i, ns := range nodes {
		if err := c.createNode(ctx, cctx, ns, addrs[i], volumes, labels); err != nil {
			return c, err
		}
	}
	return c, c.startNodes(ctx, cctx)
}

// createNode creates one node's container (and its volumes) on the run's
// network at its address.
func (c *Cluster) createNode(ctx, cctx context.Context, ns NodeSpec, addr netip.Addr, volumes map[string]bool, labels map[string]string) error {
	mounts, err := c.mounts(ctx, cctx, ns, volumes, labels)
	if err != nil {
		return err
	}
	nodeLabels := map[string]string{}
	for k, v := range ns.Labels {
		nodeLabels[k] = v
	}
	for k, v := range map[string]string{LabelFaultline: "true", LabelRun: c.RunID, LabelNode: ns.Name, LabelOwner: Owner()} {
		nodeLabels[k] = v
	}
	cfg := &container.Config{
		Image:      ns.Image,
		Hostname:   ns.Name,
		Cmd:        ns.Cmd,
		Entrypoint: ns.Entrypoint,
		Env:        ns.Env,
		WorkingDir: ns.WorkDir,
		User:       ns.User,
		Labels:     nodeLabels,
		StopSignal: ns.StopSignal,
	}
	netName := "faultline-" + c.RunID
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		netName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: addr.String()}, Aliases: append([]string{ns.Name}, ns.Aliases...)},
	}}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(netName), Mounts: mounts, RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		ExtraHosts: ns.ExtraHosts, ReadonlyRootfs: ns.ReadOnly}
	if ns.Init {
		hc.Init = &ns.Init
	}
	if len(ns.Tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range ns.Tmpfs {
			hc.Tmpfs[t] = ""
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	created, err := c.cli.ContainerCreate(cctx, cfg, hc, nc, nil, fmt.Sprintf("faultline-%s-%s", c.RunID, ns.Name))
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%w: image %s of %s not found in the Docker engine", ErrImage, ns.Image, ns.Name)
		}
		return fmt.Errorf("%w: create %s: %w", ErrStart, ns.Name, err)
	}
	c.Nodes = append(c.Nodes, Node{Name: ns.Name, ContainerID: created.ID, Addr: addr})
	return nil
}

// startNodes starts the created containers in order, each of which must
// keep running.
func (c *Cluster) startNodes(ctx, cctx context.Context) error {
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrStart, err)
		}
		if err := c.cli.ContainerStart(cctx, n.ContainerID, container.StartOptions{}); err != nil {
			return fmt.Errorf("%w: start %s: %w", ErrStart, n.Name, err)
		}
		insp, err := c.cli.ContainerInspect(cctx, n.ContainerID)
		if err != nil {
			return fmt.Errorf("%w: inspect %s: %w", ErrStart, n.Name, err)
		}
		if insp.State == nil || !insp.State.Running || insp.State.Pid == 0 {
			return fmt.Errorf("%w: %s exited at once (exit code %d); its last lines: %s", ErrStart, n.Name, exitCode(insp), c.LogTail(cctx, n.Name, 10))
		}
		n.Pid = insp.State.Pid
	}
	return nil
}

// mounts creates the node's volumes (its data folder's, and each named
// volume the first time a node names it) and returns its mounts.
func (c *Cluster) mounts(ctx, cctx context.Context, ns NodeSpec, created map[string]bool, labels map[string]string) ([]mount.Mount, error) {
	var out []mount.Mount
	addVolume := func(name, target string, ro bool) error {
		if !created[name] {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%w: %w", ErrStart, err)
			}
			if _, err := c.cli.VolumeCreate(cctx, volume.CreateOptions{Name: name, Labels: labels}); err != nil {
				return fmt.Errorf("%w: create volume %s: %w", ErrStart, name, err)
			}
			created[name] = true
		}
		out = append(out, mount.Mount{Type: mount.TypeVolume, Source: name, Target: target, ReadOnly: ro})
		return nil
	}
	if ns.Data != "" {
		if err := addVolume(fmt.Sprintf("faultline-%s-%s-data", c.RunID, ns.Name), ns.Data, false); err != nil {
			return nil, err
		}
	}
	for _, m := range ns.Mounts {
		switch m.Type {
		case "volume":
			if err := addVolume(fmt.Sprintf("faultline-%s-%s", c.RunID, m.Source), m.Target, m.ReadOnly); err != nil {
				return nil, err
			}
		case "bind":
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		default:
			return nil, fmt.Errorf("%w: %s: mount type %q", ErrStart, ns.Name, m.Type)
		}
	}
	return out, nil
}

func exitCode(insp container.InspectResponse) int {
	if insp.State == nil {
		return -1
	}
	return insp.State.ExitCode
}

// createNetwork makes a bridge network on a free /24 taken from
// 10.213.0.0/16, trying the next one if the engine or the host already uses
// a subnet.
func (c *Cluster) createNetwork(ctx, cctx context.Context, labels map[string]string) error {
	used, err := usedPrefixes(ctx, c.cli)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	name := "faultline-" + c.RunID
	var lastErr error
	for third := 0; third < 256; third++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(third), 0}), 24)
		if overlapsAny(p, used) {
			continue
		}
		gw := netip.AddrFrom4([4]byte{10, 213, byte(third), 1})
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrStart, ctx.Err())
		}
		resp, err := c.cli.NetworkCreate(cctx, name, network.CreateOptions{
			Driver: "bridge",
			Labels: labels,
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: p.String(), Gateway: gw.String()}}},
		})
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.NetworkID = resp.ID
		c.Subnet = p
		return nil
	}
	return fmt.Errorf("%w: no free subnet in 10.213.0.0/16 for network %s: %w", ErrStart, name, lastErr)
}

func usedPrefixes(ctx context.Context, cli *client.Client) ([]netip.Prefix, error) {
	var used []netip.Prefix
	nets, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		for _, cfg := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(cfg.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	// Routes the host already has (VPNs, other bridges) are off limits too.
	return append(used, hostRoutes()...), nil
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if p.Overlaps(u) {
			return true
		}
	}
	return false
}

// SaveLogs writes each node's standard output and error into
// dir/<node>.log, and copies the files named in files (paths inside the
// nodes; a folder is copied whole) into dir/<node>/, keeping their paths.
// A file a node does not have is noted in the error, not fatal.
func (c *Cluster) SaveLogs(ctx context.Context, dir string, files []string) error {
	if c == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, n := range c.Nodes {
		if err := saveLog(ctx, c.cli, n.ContainerID, filepath.Join(dir, n.Name+".log")); err != nil {
			errs = append(errs, fmt.Errorf("log of %s: %w", n.Name, err))
		}
		for _, f := range files {
			if err := copyOut(ctx, c.cli, n.ContainerID, f, filepath.Join(dir, n.Name)); err != nil {
				errs = append(errs, fmt.Errorf("%s of %s: %w", f, n.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func saveLog(ctx context.Context, cli *client.Client, id, path string) (err error) {
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = stdcopy.StdCopy(f, f, rc)
	return errors.Join(err, f.Close())
}

// copyOut copies a file or folder out of a container (running or not)
// into dir, under its path in the container: like `docker cp`. Only
// regular files and folders are written, each inside dir whatever the
// archive's names say.
func copyOut(ctx context.Context, cli *client.Client, id, src, dir string) (err error) {
	rc, _, err := cli.CopyFromContainer(ctx, id, src)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("no such file in the node")
		}
		return err
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	// The archive names entries from the base of src; keep src's folder.
	parent := filepath.Join(dir, filepath.FromSlash(path.Dir(path.Clean("/"+src))))
	tr := tar.NewReader(rc)
	const max = 256 << 20 // per node and file: a log, not a disk image
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + hdr.Name)
		dst := filepath.Join(parent, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, io.LimitReader(tr, max))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// LogTail is the last n lines a node wrote to its standard output and
// error, joined with " / ", for errors about a node that never became
// ready or exited.
func (c *Cluster) LogTail(ctx context.Context, name string, n int) string {
	var id string
	for _, node := range c.Nodes {
		if node.Name == name {
			id = node.ContainerID
		}
	}
	if id == "" {
		return "(no such node)"
	}
	rc, err := c.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n)})
	if err != nil {
		return fmt.Sprintf("(log unavailable: %v)", err)
	}
	var buf bytes.Buffer
	_, err = stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, 1<<20))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	switch {
	case buf.Len() == 0 && err != nil:
		return fmt.Sprintf("(log unavailable: %v)", err)
	case buf.Len() == 0:
		return "(it wrote nothing)"
	}
	return LastLines(buf.String(), n)
}

// Exec runs a command inside a running node, like `docker exec`, and
// returns what it printed (standard output and error together) and its
// exit status. It gives up when ctx ends.
func (c *Cluster) Exec(ctx context.Context, name string, cmd []string) ([]byte, int, error) {
	n, err := c.node(ctx, name)
	if err != nil {
		return nil, -1, err
	}
	created, err := c.cli.ContainerExecCreate(ctx, n.ContainerID, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, -1, fmt.Errorf("exec in %s: %w", name, err)
	}
	att, err := c.cli.ContainerExecAttach(ctx, created.ID, container.ExecStartOptions{})
	if err != nil {
		return nil, -1, fmt.Errorf("exec in %s: %w", name, err)
	}
	defer att.Close()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, io.LimitReader(att.Reader, 1<<20))
		done <- err
	}()
	select {
	case <-ctx.Done():
		att.Close() // ends the copy; the command itself is the engine's to end
		_ = <-done  // the copy ended because of the close: ctx says why
		return out.Bytes(), -1, fmt.Errorf("exec in %s: %w", name, ctx.Err())
	case err := <-done:
		if err != nil {
			return out.Bytes(), -1, fmt.Errorf("exec in %s: %w", name, err)
		}
	}
	insp, err := c.cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return out.Bytes(), -1, fmt.Errorf("exec in %s: %w", name, err)
	}
	return out.Bytes(), insp.ExitCode, nil
}

// Remove removes the run's containers, network and volumes. It is safe to
// call on a partly started cluster and more than once; it reports every
// failure. An attached cluster's containers are not the run's: they stay,
// and only faultline's marker goes.
func (c *Cluster) Remove(ctx context.Context) error {
	if c == nil {
		return nil
	}
	if c.attached {
		rerr := Restore(ctx, c.cli, c.attachedIDs())
		return errors.Join(rerr, removeRun(ctx, c.cli, c.RunID))
	}
	return removeRun(ctx, c.cli, c.RunID)
}

// removeRun removes every container, network and volume labelled with the
// run id (all runs when runID is empty).
func removeRun(ctx context.Context, cli *client.Client, runID string) error {
	f := filters.NewArgs(filters.Arg("label", LabelFaultline))
	if runID != "" {
		f.Add("label", LabelRun+"="+runID)
	}
	var errs []error
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range cs {
		// A helper removes itself once it exits (AutoRemove): its removal
		// may be under way already.
		if err := cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) && !removing(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", containerName(ct), err))
		}
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range nets {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list volumes: %w", err))...)
	}
	for _, v := range vols.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

// removing reports whether err says the container's removal is already
// under way.
func removing(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

func containerName(ct container.Summary) string {
	if len(ct.Names) > 0 {
		return strings.TrimPrefix(ct.Names[0], "/")
	}
	return ct.ID[:12]
}

// Leftover is a faultline object found in the engine.
type Leftover struct {
	// Kind is "container", "network" or "volume" (objects of the run), or
	// "attached": a container somebody else started that a run attached
	// to; it is healed and restored (thawed, started), never removed.
	Kind  string
	Name  string
	ID    string
	RunID string
	// Pid is a running container's init process (0 otherwise): its network
	// namespace may still hold faultline's rules.
	Pid int
	// Owner is the run's owner label; Liveness says whether that harness
	// is still running (then the object is not a leftover but a live run).
	Owner    string
	Liveness Liveness
	// Helper: a helper container (it shares a node's namespace) or a
	// run's client container; either ends by itself when its controller
	// goes.
	Helper bool
}

// NetNS is the network namespace of a running leftover container.
func (l Leftover) NetNS() string { return fmt.Sprintf("/proc/%d/ns/net", l.Pid) }

// Leftovers lists every faultline-labelled container, network and volume,
// and the containers attached runs acted on, from any run, each with
// whether the harness that owns it still runs. A clean engine returns
// none.
func Leftovers(ctx context.Context, cli *client.Client) ([]Leftover, error) {
	f := filters.NewArgs(filters.Arg("label", LabelFaultline))
	var out []Leftover
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range cs {
		l := Leftover{Kind: "container", Name: containerName(ct), ID: ct.ID, RunID: ct.Labels[LabelRun], Owner: ct.Labels[LabelOwner], Liveness: OwnerLiveness(ct.Labels[LabelOwner]), Helper: ct.Labels[LabelHelper] != "" || ct.Labels[LabelClients] != ""}
		if ct.State == "running" || ct.State == "paused" {
			if insp, err := cli.ContainerInspect(ctx, ct.ID); err == nil && insp.State != nil {
				l.Pid = insp.State.Pid
			}
		}
		out = append(out, l)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		out = append(out, Leftover{Kind: "network", Name: n.Name, ID: n.ID, RunID: n.Labels[LabelRun], Owner: n.Labels[LabelOwner], Liveness: OwnerLiveness(n.Labels[LabelOwner])})
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		live := OwnerLiveness(v.Labels[LabelOwner])
		out = append(out, Leftover{Kind: "volume", Name: v.Name, ID: v.Name, RunID: v.Labels[LabelRun], Owner: v.Labels[LabelOwner], Liveness: live})
		for _, id := range strings.Split(v.Labels[LabelAttached], ",") {
			if id == "" {
				continue
			}
			l := Leftover{Kind: "attached", ID: id, Name: id[:min(12, len(id))], RunID: v.Labels[LabelRun], Owner: v.Labels[LabelOwner], Liveness: live}
			if insp, err := cli.ContainerInspect(ctx, id); err == nil {
				l.Name = strings.TrimPrefix(insp.Name, "/")
				if insp.State != nil && (insp.State.Running || insp.State.Paused) {
					l.Pid = insp.State.Pid
				}
			} else if cerrdefs.IsNotFound(err) {
				continue // gone: nothing to heal
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// Clean removes every faultline-labelled container, network and volume,
// from any run.
func Clean(ctx context.Context, cli *client.Client) error { return removeRun(ctx, cli, "") }

// RemoveRun removes one run's containers, network and volumes.
func RemoveRun(ctx context.Context, cli *client.Client, runID string) error {
	if runID == "" {
		return errors.New("remove run: no run id")
	}
	return removeRun(ctx, cli, runID)
}
