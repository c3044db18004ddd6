package harness

import (
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/history"
)

// stored is what the prepare step owns of the store: the run's folder
// and its history.
type stored struct {
	dir string
	h   *history.Writer
}

// engine is the Docker engine as the run reaches it, what this process
// can do beside it, and the helper image once it is built.
type engine struct {
	cli    *client.Client
	host   hostFacts
	helper string // the helper image's tag, once built
}

// prepare refuses faults the engine's kernel cannot apply, makes the store
// folder with the scenario as run, connects to the engine, has the images
// built and opens the history: nothing of the cluster yet.
func (r *run) prepare() error {
	if err := checkPlacementOptions(r.opts); err != nil {
		return err
	}
	r.engine.host = hostNow()
	if r.opts.Nemesis == NemesisDirect && r.engine.host.notDirect != "" {
		return fmt.Errorf("%w: cannot enter the nodes' network namespaces from here: %s; run with -nemesis helper (or auto)", ErrNemesis, r.engine.host.notDirect)
	}
	if r.sc.Seed == 0 {
		r.sc.Seed = mrand.Int64N(1<<53) + 1
	}
	r.rep = Report{Scenario: r.sc.Name, Seed: r.sc.Seed, RunID: newRunID(r.began)}
	if r.opts.Nemesis != NemesisHelper && r.engine.host.notDirect == "" {
		// Refused before anything is made, by this host's kernel.
		if err := r.probeKernel(); err != nil {
			return err
		}
	}
	var err error
	if r.store.dir, err = newStoreDir(r.opts.StoreRoot, r.sc.Name, r.rep.RunID); err != nil {
		return err
	}
	r.rep.StoreDir = r.store.dir
	asRun, err := r.sc.Marshal()
	if err != nil {
		return fmt.Errorf("write scenario as run: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.store.dir, ScenarioFile), asRun, 0o644); err != nil {
		return fmt.Errorf("write scenario as run: %w", err)
	}
	r.logf("run %s of %s (seed %d), store %s", r.rep.RunID, r.sc.Name, r.sc.Seed, r.store.dir)
	for _, w := range r.sc.Warnings { // said by the command when it loaded the file; kept with the run
		r.rep.Warnings = append(r.rep.Warnings, w.Text())
	}
	if r.engine.cli, err = docker.Connect(r.ctx); err != nil {
		return err
	}
	r.later(func(err error) error { r.warn("closing the engine's client", r.engine.cli.Close()); return err })
	r.warnLeftovers()
	if err := r.checkInputs(); err != nil {
		return err
	}
	if r.sc.Cluster.Attach == nil {
		for _, img := range ImagesOf(r.def, r.sc.Cluster.Image) {
			if err := docker.EnsureImage(r.ctx, r.engine.cli, img, indented{r.progress}); err != nil {
				return err
			}
		}
	}
	if r.nemesis.probedBy == "" {
		// Asked through a helper, before the cluster starts.
		if err := r.probeKernel(); err != nil {
			return err
		}
	}
	if r.opts.Clients == ClientsNetwork {
		// A client program's image, before any node starts.
		if _, err := r.clientsImage("run -clients network"); err != nil {
			return err
		}
	}
	if r.store.h, err = history.Create(filepath.Join(r.store.dir, HistoryFile), r.began); err != nil {
		return err
	}
	r.later(func(err error) error { r.warn("closing the history", r.store.h.Close()); return err })
	return nil
}

// warnLeftovers says what runs whose harness is gone left in the engine.
func (r *run) warnLeftovers() {
	all, err := docker.Leftovers(r.ctx, r.engine.cli)
	if err != nil {
		r.warn("looking for what earlier runs left", err)
		return
	}
	var left []docker.Leftover
	for _, l := range all {
		if l.Liveness != docker.OwnerAlive {
			left = append(left, l)
		}
	}
	if len(left) > 0 {
		r.logf("warning: %d faultline objects left by earlier runs (first: %s %s); `faultline clean` removes them", len(left), left[0].Kind, left[0].Name)
	}
}
