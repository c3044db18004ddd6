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
package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/vishvananda/netlink"
)

// Labels on every object faultline creates.
const (
	LabelFaultline = "faultline"
	LabelRun       = "faultline.run"
	LabelNode      = "faultline.node"
)

// Errors a caller may want to tell apart.
var (
	// ErrUnreachable: the Docker engine does not answer.
	ErrUnreachable = errors.New("docker engine unreachable")
	// ErrImage: an image is missing or failed to build.
	ErrImage = errors.New("image unavailable")
	// ErrStart: a container or the network could not be created or started.
	ErrStart = errors.New("cluster did not start")
)

// Connect opens a client for the engine named by the environment
// (DOCKER_HOST, default the local socket), negotiates the API version and
// checks that the engine answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w at %s: %v; start the Docker engine or set DOCKER_HOST", ErrUnreachable, cli.DaemonHost(), err)
	}
	return cli, nil
}

// ClusterSpec is what to start.
type ClusterSpec struct {
	RunID string
	Nodes int
	Image string
	// System is "etcd" (the default) or "refkv"; it decides each node's
	// command line and client port.
	System string
	// Bug is the refkv bug to switch on ("" or "none": the correct build).
	Bug string
}

// Systems faultline can start.
const (
	SystemEtcd  = "etcd"
	SystemRefKV = "refkv"
)

// system is what the cluster side knows of one system under test.
type system struct {
	image      string // the image faultline builds for it
	clientPort string
	args       func(spec ClusterSpec, names []string, addrs []netip.Addr, i int) []string // node i's command line
}

var systems = map[string]system{
	SystemEtcd: {image: EtcdImage, clientPort: "2379", args: func(spec ClusterSpec, names []string, addrs []netip.Addr, i int) []string {
		return etcdArgs(spec.RunID, names, addrs, i)
	}},
	SystemRefKV: {image: RefKVImage, clientPort: "8080", args: func(spec ClusterSpec, names []string, addrs []netip.Addr, i int) []string {
		return refkvArgs(spec.Bug, names, addrs, i)
	}},
}

// systemOf is the spec's system; etcd when unset.
func systemOf(name string) system {
	if s, ok := systems[name]; ok {
		return s
	}
	return systems[SystemEtcd]
}

// DefaultImage is the image faultline builds for a system.
func DefaultImage(system string) string { return systemOf(system).image }

// Node is one started member.
type Node struct {
	Name        string
	ContainerID string
	Addr        netip.Addr
	// Pid is the container's init process as the host sees it; the node's
	// network namespace is /proc/Pid/ns/net.
	Pid int
	// ClientURL is where clients reach the node (etcd: port 2379 on Addr;
	// refkv: 8080).
	ClientURL string
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
}

// Start creates the run's network and starts every node. On any error it
// removes whatever it had created before returning.
func Start(ctx context.Context, cli *client.Client, spec ClusterSpec) (c *Cluster, err error) {
	c = &Cluster{cli: cli, RunID: spec.RunID}
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			c.Remove(rctx)
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
	names := make([]string, spec.Nodes)
	addrs := make([]netip.Addr, spec.Nodes)
	a := c.Subnet.Addr()
	for i := range spec.Nodes {
		names[i] = fmt.Sprintf("n%d", i+1)
		// .1 is the gateway (the host); nodes start at .11.
		a4 := a.As4()
		a4[3] = byte(11 + i)
		addrs[i] = netip.AddrFrom4(a4)
	}
	for i, name := range names {
		nodeLabels := map[string]string{LabelFaultline: "true", LabelRun: spec.RunID, LabelNode: name, LabelOwner: Owner()}
		cfg := &container.Config{
			Image:    spec.Image,
			Hostname: name,
			Cmd:      systemOf(spec.System).args(spec, names, addrs, i),
			Labels:   nodeLabels,
		}
		netName := "faultline-" + spec.RunID
		nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: addrs[i].String()}, Aliases: []string{name}},
		}}
		hc := &container.HostConfig{NetworkMode: container.NetworkMode(netName)}
		if err := ctx.Err(); err != nil {
			return c, fmt.Errorf("%w: %v", ErrStart, err)
		}
		created, err := cli.ContainerCreate(cctx, cfg, hc, nc, nil, fmt.Sprintf("faultline-%s-%s", spec.RunID, name))
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return c, fmt.Errorf("%w: image %s not found; run `make images`", ErrImage, spec.Image)
			}
			return c, fmt.Errorf("%w: create %s: %v", ErrStart, name, err)
		}
		c.Nodes = append(c.Nodes, Node{Name: name, ContainerID: created.ID, Addr: addrs[i], ClientURL: fmt.Sprintf("http://%s", net.JoinHostPort(addrs[i].String(), systemOf(spec.System).clientPort))})
	}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if err := ctx.Err(); err != nil {
			return c, fmt.Errorf("%w: %v", ErrStart, err)
		}
		if err := cli.ContainerStart(cctx, n.ContainerID, container.StartOptions{}); err != nil {
			return c, fmt.Errorf("%w: start %s: %v", ErrStart, n.Name, err)
		}
		insp, err := cli.ContainerInspect(cctx, n.ContainerID)
		if err != nil {
			return c, fmt.Errorf("%w: inspect %s: %v", ErrStart, n.Name, err)
		}
		if insp.State == nil || !insp.State.Running || insp.State.Pid == 0 {
			return c, fmt.Errorf("%w: %s exited at once (exit code %d); see its log", ErrStart, n.Name, exitCode(insp))
		}
		n.Pid = insp.State.Pid
	}
	return c, nil
}

func exitCode(insp container.InspectResponse) int {
	if insp.State == nil {
		return -1
	}
	return insp.State.ExitCode
}

// refkvArgs is the command line of refkv node i: every peer on the default
// ports at its fixed address.
func refkvArgs(bug string, names []string, addrs []netip.Addr, i int) []string {
	var peers []string
	for j, name := range names {
		peers = append(peers, name+"="+addrs[j].String())
	}
	if bug == "" {
		bug = "none"
	}
	return []string{"-id", names[i], "-peers", strings.Join(peers, ","), "-bug", bug}
}

// etcdArgs is the command line of member i. Peer and client URLs use fixed
// addresses, so no DNS is involved.
func etcdArgs(runID string, names []string, addrs []netip.Addr, i int) []string {
	initial := ""
	for j, name := range names {
		if j > 0 {
			initial += ","
		}
		initial += fmt.Sprintf("%s=http://%s:2380", name, addrs[j])
	}
	return []string{
		"--name=" + names[i],
		"--data-dir=/data/" + names[i],
		"--listen-client-urls=http://0.0.0.0:2379",
		fmt.Sprintf("--advertise-client-urls=http://%s:2379", addrs[i]),
		"--listen-peer-urls=http://0.0.0.0:2380",
		fmt.Sprintf("--initial-advertise-peer-urls=http://%s:2380", addrs[i]),
		"--initial-cluster=" + initial,
		"--initial-cluster-state=new",
		"--initial-cluster-token=faultline-" + runID,
		"--heartbeat-interval=100",
		"--election-timeout=1000",
		"--logger=zap",
		"--log-outputs=stderr",
	}
}

// createNetwork makes a bridge network on a free /24 taken from
// 10.213.0.0/16, trying the next one if the engine or the host already uses
// a subnet.
func (c *Cluster) createNetwork(ctx, cctx context.Context, labels map[string]string) error {
	used, err := usedPrefixes(ctx, c.cli)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStart, err)
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
			return fmt.Errorf("%w: %v", ErrStart, ctx.Err())
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
	return fmt.Errorf("%w: no free subnet in 10.213.0.0/16 for network %s: %v", ErrStart, name, lastErr)
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
	if routes, err := netlink.RouteList(nil, netlink.FAMILY_V4); err == nil {
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if p, err := netip.ParsePrefix(r.Dst.String()); err == nil && p.Bits() > 0 {
				used = append(used, p)
			}
		}
	}
	return used, nil
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if p.Overlaps(u) {
			return true
		}
	}
	return false
}

// SaveLogs writes each node's stdout and stderr into dir/<node>.log.
func (c *Cluster) SaveLogs(ctx context.Context, dir string) error {
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
	}
	return errors.Join(errs...)
}

func saveLog(ctx context.Context, cli *client.Client, id, path string) error {
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := stdcopy.StdCopy(f, f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Remove removes the run's containers and network. It is safe to call on a
// partly started cluster and more than once; it reports every failure.
func (c *Cluster) Remove(ctx context.Context) error {
	if c == nil {
		return nil
	}
	return removeRun(ctx, c.cli, c.RunID)
}

// removeRun removes every container and network labelled with the run id
// (all runs when runID is empty).
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
		if err := cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
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
	return errors.Join(errs...)
}

func containerName(ct container.Summary) string {
	if len(ct.Names) > 0 {
		return ct.Names[0]
	}
	return ct.ID[:12]
}

// Leftover is a faultline object found in the engine.
type Leftover struct {
	Kind  string // "container" or "network"
	Name  string
	RunID string
	// Pid is a running container's init process (0 otherwise): its network
	// namespace may still hold faultline's rules.
	Pid int
	// Owner is the run's owner label; Liveness says whether that harness
	// is still running (then the object is not a leftover but a live run).
	Owner    string
	Liveness Liveness
}

// NetNS is the network namespace of a running leftover container.
func (l Leftover) NetNS() string { return fmt.Sprintf("/proc/%d/ns/net", l.Pid) }

// Leftovers lists every faultline-labelled container and network, from any
// run, each with whether the harness that owns it still runs. A clean
// engine returns none.
func Leftovers(ctx context.Context, cli *client.Client) ([]Leftover, error) {
	f := filters.NewArgs(filters.Arg("label", LabelFaultline))
	var out []Leftover
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range cs {
		l := Leftover{Kind: "container", Name: containerName(ct), RunID: ct.Labels[LabelRun], Owner: ct.Labels[LabelOwner], Liveness: OwnerLiveness(ct.Labels[LabelOwner])}
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
		out = append(out, Leftover{Kind: "network", Name: n.Name, RunID: n.Labels[LabelRun], Owner: n.Labels[LabelOwner], Liveness: OwnerLiveness(n.Labels[LabelOwner])})
	}
	return out, nil
}

// Clean removes every faultline-labelled container and network, from any run.
func Clean(ctx context.Context, cli *client.Client) error { return removeRun(ctx, cli, "") }

// RemoveRun removes one run's containers and network.
func RemoveRun(ctx context.Context, cli *client.Client, runID string) error {
	if runID == "" {
		return errors.New("remove run: no run id")
	}
	return removeRun(ctx, cli, runID)
}
