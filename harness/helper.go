package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
)

// How the nemesis reaches the nodes' network namespaces (Options.Nemesis).
const (
	// NemesisAuto: enter them from this process where it can (root on the
	// engine's own host, the engine's containers in sight), else helpers.
	NemesisAuto = "auto"
	// NemesisDirect: enter them from this process (/proc/PID/ns/net).
	NemesisDirect = "direct"
	// NemesisHelper: a helper container in each node's namespace runs the
	// nemesis (decision 13).
	NemesisHelper = "helper"
)

// Where the clients run (Options.Clients).
const (
	// ClientsAuto: on this host where it reaches the nodes' addresses,
	// else in the run's network.
	ClientsAuto = "auto"
	// ClientsHost: on this host, reaching the nodes on their addresses.
	ClientsHost = "host"
	// ClientsNetwork: in a container on the run's network (decision 13).
	ClientsNetwork = "network"
)

// ClientsLog is the client container's log (its standard error) in a
// run's store folder.
const ClientsLog = "clients/container.log"

// HelpersDir holds each helper's log (its standard error) in a run's
// store folder.
const HelpersDir = "helpers"

// helperImage is the image helper containers run: faultline's own binary,
// built static from this module (it must speak this controller's helper
// protocol, so every source file is an input).
func helperImage() (docker.ImageSpec, error) {
	root, err := systems.SourceRoot()
	if err != nil {
		return docker.ImageSpec{}, fmt.Errorf("%w: the helper image: %v", docker.ErrImage, err)
	}
	p := &systems.Prepare{
		Command: []string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "{{.Out}}/faultline", "./cmd/faultline"},
		Dir:     root,
		Env:     map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOFLAGS": "-mod=readonly"},
	}
	inputs := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, glob := range []string{"*/*.go", "*/*/*.go"} { // the module's packages
		inputs = append(inputs, filepath.Join(root, glob))
	}
	ctxDir := filepath.Join(root, "docker", "helper")
	return docker.ImageSpec{
		Tag:   "faultline/helper:" + strconv.Itoa(nemesis.HelperProtocol),
		Owner: "faultline's helper",
		Build: &docker.BuildSpec{
			Context: ctxDir, Inputs: inputs, PrepareKey: p.Key(),
			Prepare: func(ctx context.Context, out string, log io.Writer) error { return p.Run(ctx, ctxDir, out, log) },
		},
	}, nil
}

// directPossible says whether this process could enter the nodes'
// namespaces, before any node exists: it has the capabilities to, and the
// engine is a local socket. Why not, if not.
func directPossible() (bool, string) {
	if !hasCaps() {
		return false, "this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN (not root)"
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		return false, "the engine is remote (DOCKER_HOST=" + h + ")"
	}
	return true, ""
}

// hasCaps reports whether this process's effective capabilities include
// CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21).
func hasCaps() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<12) != 0 && caps&(1<<21) != 0
		}
	}
	return false
}

// canEnter says whether the node's namespace is in sight of this process:
// its PID here is the container's (its cgroup names the container), and
// its namespace can be opened. Why not, if not.
func canEnter(n docker.Node) (bool, string) {
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", n.Pid))
	if err != nil || !strings.Contains(string(cg), n.ContainerID) {
		return false, fmt.Sprintf("%s's process %d is not in sight here (another host, or another PID namespace)", n.Name, n.Pid)
	}
	f, err := os.Open(n.NetNS())
	if err != nil {
		return false, fmt.Sprintf("%s's namespace cannot be opened: %v", n.Name, err)
	}
	f.Close()
	return true, ""
}

// probeViaHelper asks a helper container with no network what the
// engine's kernel can do.
func probeViaHelper(ctx context.Context, cli *client.Client, image, runID string) (nemesis.Capabilities, error) {
	var caps nemesis.Capabilities
	out, err := docker.RunHelper(ctx, cli, image, runID, "", []string{"-probe"})
	if err != nil {
		return caps, fmt.Errorf("probe the engine's kernel: %w", err)
	}
	if err := json.Unmarshal(out, &caps); err != nil {
		return caps, fmt.Errorf("probe the engine's kernel: the helper printed %q: %v", out, err)
	}
	return caps, nil
}

// helperAgents is how the nemesis reaches each node through a helper
// container in its namespace; each helper's log goes to the store, closed
// by closeLogs.
func helperAgents(c *docker.Cluster, image, dir string) (maker nemesis.AgentMaker, closeLogs func()) {
	var mu sync.Mutex
	logs := map[string]*os.File{}
	closeLogs = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range logs {
			f.Close()
		}
	}
	return func(ctx context.Context, n nemesis.Node) (nemesis.Agent, error) {
		mu.Lock()
		log := logs[n.Name]
		if log == nil {
			os.MkdirAll(filepath.Join(dir, HelpersDir), 0o755)
			f, err := os.OpenFile(filepath.Join(dir, HelpersDir, n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				mu.Unlock()
				return nil, err
			}
			logs[n.Name], log = f, f
		}
		mu.Unlock()
		conn, err := c.StartHelper(ctx, n.Name, image, log)
		if err != nil {
			return nil, err
		}
		a, err := nemesis.NewRemoteAgent(ctx, n, conn)
		if err != nil {
			return nil, errors.Join(err, conn.Close())
		}
		return a, nil
	}, closeLogs
}

// reachable says whether this host reaches a node's address: a connect to
// a port nothing listens on is refused by the node (a route there), or
// fails at once or times out (none). Why not, if not.
func reachable(ctx context.Context, addr string) (bool, string) {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, "9"))
	if err == nil {
		c.Close()
		return true, ""
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true, ""
	}
	return false, fmt.Sprintf("this host does not reach the nodes' addresses (%v)", err)
}

// placeClients decides where the clients run and, for the run's network,
// starts the client container: it serves the system's built-in adapter,
// and the readiness and leader checks, from in there.
func (r *run) placeClients() error {
	mode := r.opts.Clients
	switch mode {
	case "", ClientsAuto:
		mode = ClientsHost
		if len(r.nodes) > 0 {
			if ok, why := reachable(r.ctx, r.nodes[0].Addr); !ok {
				mode, r.whyNetwork = ClientsNetwork, why
				r.logf("the clients run in a container on the run's network: %s", why)
			}
		}
	case ClientsNetwork:
		r.whyNetwork = "run -clients network"
	}
	r.rep.Clients = mode
	if mode == ClientsHost {
		return nil
	}
	// The workload's client, and the system's own for readiness and
	// leader questions when the scenario brings another (as clients does).
	c, own := r.sc.Client(), r.sc.Cluster.Def.Client
	files := docker.ClientFiles{}
	spec := r.inNetwork(c, files)
	var checks *workloads.RelaySpec
	if own != nil && own != c {
		s := r.inNetwork(own, files)
		checks = &s
	}
	image, err := r.clientsImage()
	if err != nil {
		return err
	}
	if err := r.ensureHelper(); err != nil {
		return err
	}
	path := filepath.Join(r.dir, ClientsLog)
	os.MkdirAll(filepath.Dir(path), 0o755)
	log, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var conn io.ReadWriteCloser
	if image == "" {
		conn, err = r.cluster.StartClients(r.ctx, r.helper, log)
	} else {
		conn, err = r.cluster.StartClientProgram(r.ctx, image, r.helper, files, log)
	}
	if err != nil {
		log.Close()
		return err
	}
	relay, err := workloads.NewRelay(r.ctx, conn, spec, checks)
	if err != nil {
		conn.Close()
		log.Close()
		return err
	}
	r.relay = relay
	r.later(func(err error) error { relay.Close(); log.Close(); return err })
	if c.Builtin != "" {
		r.logf("clients in the run's network: a container runs the %s client there (the history's times are taken here, around each round trip to it)", c.Builtin)
	} else {
		r.logf("clients in the run's network: a container of %s runs the client program %s there (the history's times are taken here, around each round trip to it)", image, strings.Join(spec.Command, " "))
	}
	return nil
}

// inNetwork is how client c runs in the clients' container: a built-in
// one as here; a program with the folders of the files its command names
// added to files (to be copied in) and its command naming them there.
func (r *run) inNetwork(c *systems.Client, files docker.ClientFiles) workloads.RelaySpec {
	if c.Builtin != "" {
		return workloads.RelaySpec{Builtin: c.Builtin, Reads: r.sc.Workload.Reads}
	}
	spec := programSpec(r.sc, c, r.nodes)
	spec.Command = slices.Clone(c.Command)
	for i, arg := range spec.Command {
		if !filepath.IsAbs(arg) {
			continue
		}
		if fi, err := os.Stat(arg); err != nil || fi.IsDir() {
			continue // a path in the image
		}
		dir := filepath.Dir(arg)
		name, ok := files[dir]
		if !ok {
			name = strconv.Itoa(len(files) + 1)
			files[dir] = name
		}
		spec.Command[i] = "/faultline/files/" + name + "/" + filepath.Base(arg)
	}
	return spec
}

// clientsImage is the image the clients' container runs: that of the
// first client program among the workload's client and the system's own,
// built if need be, or "" for faultline's own (built-in clients only).
func (r *run) clientsImage() (string, error) {
	for _, c := range []*systems.Client{r.sc.Client(), r.sc.Cluster.Def.Client} {
		if c != nil && c.Builtin == "" {
			return r.clientImage(c)
		}
	}
	return "", nil
}

// clientImage is the image client program c runs in inside the run's
// network, built if need be.
func (r *run) clientImage(c *systems.Client) (string, error) {
	file, field := r.sc.Cluster.Def.Source, "client.image"
	if c == r.sc.Workload.Client {
		file, field = r.sc.Path, "workload.client.image"
	}
	if c.Image == "" {
		return "", fmt.Errorf("%w: %s: %s is needed: the clients run inside the run's network here (%s), and the client program %s needs an image holding its runtime to run there (see docs/adapters.md)",
			scenarios.ErrInvalid, file, field, r.whyNetwork, strings.Join(c.Command, " "))
	}
	img := docker.ImageSpec{Tag: c.Image, Build: buildSpec(c.Build), Owner: field + " in " + file}
	if err := docker.EnsureImage(r.ctx, r.cli, img, indented{r.progress}); err != nil {
		return "", err
	}
	return c.Image, nil
}

// placement says, for the report, how the run reached its nodes.
func placement(rep Report) string {
	var parts []string
	switch rep.Nemesis {
	case NemesisDirect:
		parts = append(parts, "faults applied from the controller, in each node's namespace")
	case NemesisHelper:
		parts = append(parts, "faults applied by a helper container in each node's namespace")
	}
	switch rep.Clients {
	case ClientsHost:
		parts = append(parts, "clients on the controller's host; the history's times taken there")
	case ClientsNetwork:
		parts = append(parts, "clients in a container on the run's network; the history's times taken by the controller around each round trip to it, so each operation's interval holds it")
	}
	return strings.Join(parts, "; ")
}

// ensureHelper has the helper image built (once a run), for helpers and the
// client container alike.
func (r *run) ensureHelper() error {
	if r.helper != "" {
		return nil
	}
	img, err := helperImage()
	if err != nil {
		return err
	}
	if err := docker.EnsureImage(r.ctx, r.cli, img, indented{r.progress}); err != nil {
		return err
	}
	r.helper = img.Tag
	return nil
}
