package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/clients"
	"github.com/faultline/faultline/workloads/nodecheck"
)

// This file owns the run's clients: the adapter the workload runs
// through, where it runs (here, or in a container on the run's network:
// the placement says), how the nodes are asked whether they are ready
// and who leads, and the clients pinned to the nodes.

// ClientsLog is the client container's log (its standard error) in a
// run's store folder.
const ClientsLog = "clients/container.log"

// clientsPart is what the client steps own.
type clientsPart struct {
	// adapter opens the workload's clients; checks answers the system's
	// `ready: {client: true}` and `leader: {client: true}`.
	adapter, checks workloads.Adapter
	// ask is how network questions reach the nodes: from here, or the
	// relay to the clients' container.
	ask   nodecheck.Asker
	relay *clients.Relay
	ready nodecheck.Check // nil: no readiness check
	how   string          // what ready checks, for messages
	// readyAt is when the cluster was first ready.
	readyAt time.Time
	// leader asks until a node is named (for faults aimed at the
	// leader); leaderOnce asks once (the leader watch).
	leader, leaderOnce nodecheck.LeaderFunc
	pinned             []workloads.Pinned
}

// waitReady opens the clients' adapters where the placement says, asks a
// client program what it supports when the system relies on it, finds
// the readiness and leader checks, and waits until every node is ready.
func (r *run) waitReady() error {
	if err := r.openAdapters(); err != nil {
		return err
	}
	if err := checkClientProgram(r.ctx, r.sc, r.clients.checks, r.cluster.nodes); err != nil {
		return err
	}
	cl := &r.clients
	var err error
	if cl.ready, cl.how, err = readyCheck(r.def, r.cluster.rendered, r.cluster.c, cl.checks, cl.ask); err != nil {
		return err
	}
	if cl.leader, cl.leaderOnce, err = leaderFuncs(r.def, r.cluster.rendered, r.cluster.c, cl.checks, cl.ask); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(r.ctx, r.sc.Cluster.ReadyTimeout)
	err = r.isReady(rctx)
	cancel()
	if err != nil {
		if r.ctx.Err() != nil {
			return fmt.Errorf("%w while waiting for the cluster", ErrInterrupted)
		}
		return notReady(r.ctx, err, cl.how, r.cluster.c, r.sc.Cluster.ReadyTimeout, r.store.dir)
	}
	since := time.Since(r.cluster.start)
	r.rep.Timings.ClusterReadyMS = since.Milliseconds()
	r.clients.readyAt = time.Now()
	if cl.ready == nil {
		r.logf("cluster started in %.1fs (system %s says no readiness check: the workload starts at once)", since.Seconds(), r.def.Name)
	} else {
		r.logf("cluster ready in %.1fs (%s)", since.Seconds(), cl.how)
	}
	return nil
}

// isReady waits for every node to pass the readiness check (none: at once).
func (r *run) isReady(ctx context.Context) error {
	if r.clients.ready == nil {
		return nil
	}
	return nodecheck.WaitReady(ctx, r.cluster.nodes, r.clients.ready)
}

// openAdapters opens the adapter the workload runs through (the
// scenario's client, else the system's) and the one that answers the
// system's readiness and leader questions (the system's own client, so
// that a scenario bringing its own program still has the system's
// checks): here, or in the clients' container on the run's network.
func (r *run) openAdapters() error {
	cl := &r.clients
	if r.place.Clients == ClientsNetwork {
		if err := r.startRelay(); err != nil {
			return err
		}
		cl.adapter, cl.checks, cl.ask = cl.relay, cl.relay, cl.relay // it serves the one client it was told of
		return nil
	}
	cl.ask = nodecheck.Direct
	work, closeWork, err := clientAdapter(r.sc, r.sc.Client(), r.store.dir, r.cluster.nodes)
	if err != nil {
		return err
	}
	r.later(func(err error) error { r.warn("stopping the client programs", closeWork()); return err })
	cl.adapter, cl.checks = work, work
	if own := r.def.Client; own != nil && r.sc.Workload.Client != nil {
		checks, closeChecks, err := clientAdapter(r.sc, own, r.store.dir, r.cluster.nodes)
		if err != nil {
			return err
		}
		r.later(func(err error) error { r.warn("stopping the system's client programs", closeChecks()); return err })
		cl.checks = checks
	}
	return nil
}

// clientAdapter is an adapter for a client: the built-in one it names, or
// a client program. close stops what it started. A system's own
// client.env reaches programs through the nodes (templated per node); a
// workload's client.env is given as it is.
func clientAdapter(run scenarios.Scenario, c *systems.Client, dir string, nodes []workloads.Node) (workloads.Adapter, func() error, error) {
	if c.Builtin != "" {
		a, err := clients.Builtin(c.Builtin, clients.BuiltinOptions{Reads: run.Workload.Reads})
		return a, func() error { return nil }, err
	}
	spec := programSpec(run, c, nodes)
	ext := spec.External()
	ext.LogDir = filepath.Join(dir, "clients")
	return ext, ext.Close, nil
}

// programSpec is how a client program runs, here or in the clients'
// container.
func programSpec(run scenarios.Scenario, c *systems.Client, nodes []workloads.Node) clients.RelaySpec {
	spec := clients.RelaySpec{Command: c.Command, OpTimeout: run.Workload.OpTimeout, Reads: run.Workload.Reads, Nodes: nodes, Kind: run.Workload.Kind}
	if c == run.Workload.Client {
		for _, k := range slices.Sorted(maps.Keys(c.Env)) {
			spec.Env = append(spec.Env, k+"="+c.Env[k])
		}
	}
	return spec
}

// startRelay starts the client container on the run's network: it serves
// the workload's client (and the system's own, for readiness and leader
// questions, when the scenario brings another) and the checks' network
// questions from in there.
func (r *run) startRelay() error {
	c, own := r.sc.Client(), r.def.Client
	files := docker.ClientFiles{}
	spec := r.inNetwork(c, files)
	var checks *clients.RelaySpec
	if own != nil && own != c {
		s := r.inNetwork(own, files)
		checks = &s
	}
	why := r.place.WhyClients
	if why == "" {
		why = "run -clients network"
	}
	image, err := r.clientsImage(why)
	if err != nil {
		return err
	}
	if err := r.ensureHelper(); err != nil {
		return err
	}
	path := filepath.Join(r.store.dir, ClientsLog)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var conn io.ReadWriteCloser
	if image == "" {
		conn, err = r.cluster.c.StartClients(r.ctx, r.engine.helper, log)
	} else {
		conn, err = r.cluster.c.StartClientProgram(r.ctx, image, r.engine.helper, files, log)
	}
	if err != nil {
		return errors.Join(err, log.Close())
	}
	relay, err := clients.NewRelay(r.ctx, conn, spec, checks)
	if err != nil {
		return errors.Join(err, log.Close())
	}
	r.clients.relay = relay
	r.later(func(err error) error {
		r.warn("closing the client container", errors.Join(relay.Close(), log.Close()))
		return err
	})
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
func (r *run) inNetwork(c *systems.Client, files docker.ClientFiles) clients.RelaySpec {
	if c.Builtin != "" {
		return clients.RelaySpec{Builtin: c.Builtin, Reads: r.sc.Workload.Reads}
	}
	spec := programSpec(r.sc, c, r.cluster.nodes)
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
// why is why the clients run in the network, for its error.
func (r *run) clientsImage(why string) (string, error) {
	for _, c := range []*systems.Client{r.sc.Client(), r.def.Client} {
		if c != nil && c.Builtin == "" {
			return r.clientImage(c, why)
		}
	}
	return "", nil
}

// clientImage is the image client program c runs in inside the run's
// network, built if need be.
func (r *run) clientImage(c *systems.Client, why string) (string, error) {
	file, field := r.def.Source, "client.image"
	if c == r.sc.Workload.Client {
		file, field = r.sc.Path, "workload.client.image"
	}
	if c.Image == "" {
		return "", fmt.Errorf("%w: %s: %s is needed: the clients run inside the run's network here (%s), and the client program %s needs an image holding its runtime to run there (see docs/adapters.md)",
			scenarios.ErrInvalid, file, field, why, strings.Join(c.Command, " "))
	}
	img := docker.ImageSpec{Tag: c.Image, Build: buildSpec(c.Build), Owner: field + " in " + file}
	if err := docker.EnsureImage(r.ctx, r.engine.cli, img, indented{r.progress}); err != nil {
		return "", err
	}
	return c.Image, nil
}

// readyCheck is how the run tells a node is ready, from the definition:
// its HTTP, TCP or command check, or the client's own answer; a compose
// service's healthcheck; else a connect to its first client port; else
// nothing (nil). Network questions go through ask.
func readyCheck(d *systems.Definition, nodes []systems.Node, c *docker.Cluster, adapter workloads.Adapter, ask nodecheck.Asker) (nodecheck.Check, string, error) {
	r := d.Ready
	switch {
	case r != nil && r.HTTP != nil:
		return nodecheck.HTTPCheck(ask, r.HTTP.Port, r.HTTP.Path, r.HTTP.Status), fmt.Sprintf("GET %s on port %d", r.HTTP.Path, r.HTTP.Port), nil
	case r != nil && r.TCP != nil:
		return nodecheck.TCPCheck(ask, r.TCP.Port), fmt.Sprintf("a connect to port %d", r.TCP.Port), nil
	case r != nil && r.Client:
		w, ok := adapter.(workloads.ReadyWaiter)
		if !ok {
			return nil, "", fmt.Errorf("%w: system %s: ready.client: its built-in client has no readiness check; give ready: http, tcp or command", scenarios.ErrInvalid, d.Name)
		}
		return nodecheck.ClientCheck(w), "the client's ready answer", nil
	}
	cmds := map[string][]string{}
	for _, n := range nodes {
		if len(n.ReadyCommand) > 0 {
			cmds[n.Name] = n.ReadyCommand
		}
	}
	if len(cmds) == len(nodes) && len(nodes) > 0 {
		return nodecheck.ExecCheck(c, cmds), "a command in each node", nil
	}
	if len(d.Ports.Client) > 0 {
		return nodecheck.TCPCheck(ask, int(d.Ports.Client[0].Lo)), fmt.Sprintf("a connect to client port %d", d.Ports.Client[0].Lo), nil
	}
	return nil, "", nil
}

// leaderFuncs are how the run finds the leader, from the definition: wait
// asks until a node is named (for faults aimed at the leader), once asks
// every node one time (for the leader watch). Both nil when the system
// says no way (leader-targeted faults were refused when the scenario was
// loaded). Network questions go through ask.
func leaderFuncs(d *systems.Definition, nodes []systems.Node, c *docker.Cluster, adapter workloads.Adapter, ask nodecheck.Asker) (wait, once nodecheck.LeaderFunc, err error) {
	l := d.Leader
	if l == nil {
		return nil, nil, nil
	}
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	var f nodecheck.LeaderFunc
	var how string
	switch {
	case l.HTTP != nil:
		f, how = nodecheck.HTTPLeader(ask, l.HTTP.Port, l.HTTP.Path, l.HTTP.Field, l.HTTP.Term), fmt.Sprintf("GET %s on port %d, field %s", l.HTTP.Path, l.HTTP.Port, l.HTTP.Field)
	case len(l.Command) > 0:
		cmds := map[string][]string{}
		for _, n := range nodes {
			cmds[n.Name] = n.LeaderCommand
		}
		f, how = nodecheck.ExecLeader(c, cmds), "a command in each node"
	default:
		finder, ok := adapter.(workloads.LeaderFinder)
		if !ok {
			return nil, nil, fmt.Errorf("%w: system %s: leader.client: its built-in client cannot tell the leader; give leader: http or command", scenarios.ErrInvalid, d.Name)
		}
		f, how = finder.Leader, "the client's leader answer"
	}
	waiting := nodecheck.WaitLeader(f, timeout)
	return func(ctx context.Context, nodes []workloads.Node) (string, error) {
		name, err := waiting(ctx, nodes)
		if err != nil {
			return "", fmt.Errorf("%w (system %s finds its leader by %s, waiting up to %s: leader.timeout in %s; docs/systems.md, troubleshooting)", err, d.Name, how, timeout, d.Source)
		}
		return name, nil
	}, f, nil
}

// checkClientProgram asks a client program what it supports before the
// run, when the definition relies on it for readiness or the leader: a
// program that does not answer ready or leader stops the run here.
func checkClientProgram(ctx context.Context, run scenarios.Scenario, checks workloads.Adapter, nodes []workloads.Node) error {
	ext, ok := checks.(*clients.External)
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
			return fmt.Errorf("%w: system %s says %s.client: true, but the client program %q does not answer %s requests (its answer to hello: %s); see docs/adapters.md, or give %s: http, tcp or command in %s",
				clients.ErrClientProgram, d.Name, what, strings.Join(ext.Command, " "), what, h, what, run.SystemSource())
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
	var nr *nodecheck.NotReadyError
	if errors.As(err, &nr) {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return fmt.Errorf("%w: %s was not ready within %s (cluster.ready_timeout), checked by %s; its last try: %w; its last log lines: %s; all node logs will be in %s",
			nodecheck.ErrNotReady, nr.Node, timeout, how, nr.Err, c.LogTail(tctx, nr.Node, 8), filepath.Join(dir, NodesDir))
	}
	return fmt.Errorf("%w within %s (cluster.ready_timeout); node logs will be in %s; raise cluster.ready_timeout if this machine is slow", err, timeout, filepath.Join(dir, NodesDir))
}

// openClients opens one client per logical process, pinned round-robin to
// the nodes, and makes the workload's generator.
func (r *run) openClients() error {
	r.later(func(err error) error {
		for i, c := range r.clients.pinned {
			r.warn(fmt.Sprintf("closing client %d", i), c.Client.Close())
		}
		return err
	})
	w := r.sc.Workload
	for i := range w.Clients {
		n := r.cluster.nodes[i%len(r.cluster.nodes)]
		c, err := r.clients.adapter.Open(r.ctx, n, w.Kind, i)
		if err != nil {
			return err
		}
		r.clients.pinned = append(r.clients.pinned, workloads.Pinned{Node: n.Name, Client: c})
	}
	r.work.cfg = r.sc.WorkloadConfig()
	var err error
	r.work.gen, err = workloads.NewGenerator(r.work.cfg)
	return err
}
