package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/systems"
)

// This file owns how the nemesis reaches the nodes: the kernel asked
// what it can do before any node starts, the helper image and helper
// containers when the placement says so, the binding of the faults to
// the nodes' namespaces, and the events the nemesis records.

// HelpersDir holds each helper's log (its standard error) in a run's
// store folder.
const HelpersDir = "helpers"

// nemesisPart is what the nemesis steps own.
type nemesisPart struct {
	// engine is the gray engine the kernel allows; probedBy, who asked
	// the kernel: "host" (this process) or "helper".
	engine   nemesis.Engine
	probedBy string
	net      *nemesis.Net
}

// helperImage is the image helper containers run: faultline's own binary,
// built static from this module (it must speak this controller's helper
// protocol, so every source file is an input).
func helperImage() (docker.ImageSpec, error) {
	root, err := systems.SourceRoot()
	if err != nil {
		return docker.ImageSpec{}, fmt.Errorf("%w: the helper image: %w", docker.ErrImage, err)
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

// ensureHelper has the helper image built (once a run), for helpers and the
// client container alike.
func (r *run) ensureHelper() error {
	if r.engine.helper != "" {
		return nil
	}
	img, err := helperImage()
	if err != nil {
		return err
	}
	if err := docker.EnsureImage(r.ctx, r.engine.cli, img, indented{r.progress}); err != nil {
		return err
	}
	r.engine.helper = img.Tag
	return nil
}

// probeKernel asks the engine's kernel what it can do and refuses the
// faults it cannot apply, before any node starts: from this process when
// it could apply them itself, else through a helper with no network.
func (r *run) probeKernel() error {
	if r.opts.Nemesis != NemesisHelper && r.engine.host.notDirect == "" {
		var err error
		r.nemesis.engine, err = checkFaults(&r.sc, nemesis.ProbeHost)
		r.nemesis.probedBy = "host"
		return err
	}
	return r.probeByHelper()
}

// probeByHelper asks a helper container what the engine's kernel can do.
func (r *run) probeByHelper() error {
	if err := r.ensureHelper(); err != nil {
		return err
	}
	var err error
	r.nemesis.engine, err = checkFaults(&r.sc, func() (nemesis.Capabilities, error) {
		return probeViaHelper(r.ctx, r.engine.cli, r.engine.helper, r.rep.RunID)
	})
	r.nemesis.probedBy = "helper"
	return err
}

// checkFaults builds every fault of the scenario and refuses, before
// anything starts, one the kernel cannot apply (as probe finds it: this
// host's, or the engine's through a helper). It returns the gray engine to
// use: netem where the kernel has it, else the userspace queue;
// FAULTLINE_GRAY_ENGINE=queue or netem overrides the choice.
func checkFaults(sc *scenarios.Scenario, probe func() (nemesis.Capabilities, error)) (nemesis.Engine, error) {
	var caps nemesis.Capabilities
	probed := false
	for i, f := range sc.Nemesis.Faults {
		fault, err := f.Build()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrNemesis, err)
		}
		if len(nemesis.Needs(fault)) == 0 {
			continue
		}
		if !probed {
			if caps, err = probe(); err != nil {
				return "", fmt.Errorf("%w: %w", ErrNemesis, err)
			}
			probed = true
			if e := os.Getenv("FAULTLINE_GRAY_ENGINE"); e == "queue" {
				caps.Has[nemesis.FeatNetem] = false // use and check the queue
			} else if e == "netem" && !caps.Has[nemesis.FeatNetem] {
				return "", fmt.Errorf("%w: FAULTLINE_GRAY_ENGINE=netem, but sch_netem is missing: %s", nemesis.ErrMissingFeature, caps.Why[nemesis.FeatNetem])
			}
		}
		if err := caps.Check(fault); err != nil {
			return "", fmt.Errorf("%s: nemesis.faults[%d]: %w; this host %s", sc.Path, i, err, caps)
		}
	}
	return caps.Engine(), nil
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
		return caps, fmt.Errorf("probe the engine's kernel: the helper printed %q: %w", out, err)
	}
	return caps, nil
}

// bindNemesis binds the network faults to the nodes' namespaces, from here
// or through a helper container in each, as the placement says; every
// exit path heals, removes faultline's tables and stops the helpers.
func (r *run) bindNemesis() error {
	if r.place.Nemesis == NemesisHelper && r.nemesis.probedBy != "helper" {
		// The kernel the helpers act on is the one to ask.
		if err := r.probeByHelper(); err != nil {
			return err
		}
	}
	var nodes []nemesis.Node
	for _, n := range r.cluster.c.Nodes {
		nodes = append(nodes, nemesis.Node{Name: n.Name, Addr: n.Addr, NetNS: n.NetNS()})
	}
	var err error
	if r.nemesis.net, err = nemesis.NewNet(nodes); err != nil {
		return err
	}
	net := r.nemesis.net
	net.SetSeed(uint64(r.sc.Seed))
	net.SetEngine(r.nemesis.engine)
	if r.place.Nemesis == NemesisHelper {
		agents, closeLogs := helperAgents(r.cluster.c, r.engine.helper, r.store.dir)
		r.later(func(err error) error { r.warn("closing the helpers' logs", closeLogs()); return err })
		t := time.Now()
		if err := net.Bind(r.ctx, agents); err != nil {
			return fmt.Errorf("%w: helpers: %w", ErrNemesis, err)
		}
		r.logf("helpers ready in the nodes' namespaces in %.1fs (image %s)", time.Since(t).Seconds(), r.engine.helper)
	}
	r.later(func(err error) error {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
		defer cancel()
		// Heal, and remove faultline's tables (they live for the run).
		if herr := net.Close(hctx); herr != nil && err == nil {
			return fmt.Errorf("%w: final heal: %w", ErrNemesis, herr)
		}
		return err
	})
	return nil
}

// helperAgents is how the nemesis reaches each node through a helper
// container in its namespace; each helper's log goes to the store, closed
// by closeLogs.
func helperAgents(c *docker.Cluster, image, dir string) (maker nemesis.AgentMaker, closeLogs func() error) {
	var mu sync.Mutex
	logs := map[string]*os.File{}
	closeLogs = func() error {
		mu.Lock()
		defer mu.Unlock()
		var errs []error
		for _, f := range logs {
			errs = append(errs, f.Close())
		}
		return errors.Join(errs...)
	}
	return func(ctx context.Context, n nemesis.Node) (nemesis.Agent, error) {
		mu.Lock()
		log := logs[n.Name]
		if log == nil {
			if err := os.MkdirAll(filepath.Join(dir, HelpersDir), 0o755); err != nil {
				mu.Unlock()
				return nil, err
			}
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

// recorder appends nemesis events of type typ to the history: Info for
// what was done, Invoke for what is about to be.
func recorder(h *history.Writer, typ history.Type) func(string, any) error {
	return func(f string, value any) error {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep "n1<-[n2]" readable
		if err := enc.Encode(value); err != nil {
			return fmt.Errorf("encode %s event: %w", f, err)
		}
		_, err := h.Append(history.Record{Process: history.Nemesis, Type: typ, F: f, Value: bytes.TrimSpace(b.Bytes())})
		return err
	}
}

// faultLog is the observer of the nemesis's schedule: a progress line
// when each fault takes effect and is healed, and the fault in force for
// the status line.
type faultLog struct {
	logf   func(string, ...any)
	active *atomic.Value // string
}

var _ nemesis.Observer = faultLog{}

// Injected says what the fault did and when: when it was applied, where
// its window starts everywhere, and, when later, when its probes
// confirmed it (for a network fault), as the report shows beside it.
func (l faultLog) Injected(s nemesis.Step, in nemesis.Injected, at, recorded time.Duration) {
	desc := s.Fault.Name() + ": " + in.Describe()
	if fmt.Sprintf("%.1f", at.Seconds()) == fmt.Sprintf("%.1f", recorded.Seconds()) {
		l.logf("fault %s (at %.1fs)", desc, at.Seconds())
	} else {
		l.logf("fault %s (at %.1fs, confirmed by its probes at %.1fs)", desc, at.Seconds(), recorded.Seconds())
	}
	l.active.Store(desc)
}

func (l faultLog) Recovered(s nemesis.Step, at, held time.Duration) {
	l.active.Store("")
	l.logf("healed %s (at %.1fs, after %v)", s.Fault.Name(), at.Seconds(), held)
}
