package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/nemesis"
)

// Clean heals and removes the runs whose harness is gone: faultline's
// rules and qdiscs in their running nodes, then their containers, network
// and volumes; containers of an attached run are started again or thawed,
// healed and left running. A run whose harness still runs is in progress
// and is left alone, as is one whose owner cannot be told (started on
// another host or boot), unless all. What it does goes to out, one line
// each; it returns how many objects it removed.
//
// The engine may still finish a create that a harness killed a moment ago
// had asked for, after this pass listed what there was: while a pass
// removes something, Clean waits a second and looks again (three passes at
// most).
func Clean(ctx context.Context, all bool, out io.Writer) (n int, err error) {
	cli, err := docker.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, cli.Close()) }()
	var errs []error
	total := 0
	for pass := 0; pass < 3; pass++ {
		left, err := docker.Leftovers(ctx, cli)
		if err != nil {
			return total, err
		}
		removed, err := cleanPass(ctx, cli, left, all, pass == 0, out)
		total += removed
		if err != nil {
			errs = append(errs, err)
		}
		if removed == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	return total, errors.Join(errs...)
}

// cleanPass heals and removes what one listing found of dead runs.
func cleanPass(ctx context.Context, cli *client.Client, left []docker.Leftover, all, report bool, out io.Writer) (int, error) {
	byRun := map[string][]docker.Leftover{}
	var runs []string
	for _, l := range left {
		if _, seen := byRun[l.RunID]; !seen {
			runs = append(runs, l.RunID)
		}
		byRun[l.RunID] = append(byRun[l.RunID], l)
	}
	var errs []error
	removed := 0
	for _, run := range runs {
		objs := byRun[run]
		if live := objs[0].Liveness; live != docker.OwnerGone && !all {
			if report {
				why := "its harness is still running"
				if live == docker.OwnerUnknown {
					why = "its harness ran on another host or boot, or carries no owner label"
				}
				fmt.Fprintf(out, "kept run %s (%d objects): %s; `faultline clean -all` removes it anyway\n", run, len(objs), why)
			}
			continue
		}
		n, err := cleanRun(ctx, cli, run, objs, out)
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// cleanRun heals and removes one dead run.
func cleanRun(ctx context.Context, cli *client.Client, run string, objs []docker.Leftover, out io.Writer) (int, error) {
	var errs []error
	// Containers of somebody else's cluster that the run attached to are
	// started again or thawed (a kill or pause the harness did not live to
	// undo), then healed below; they are never removed.
	var attached []string
	for _, l := range objs {
		if l.Kind == "attached" {
			attached = append(attached, l.ID)
		}
	}
	if len(attached) > 0 {
		if err := docker.Restore(ctx, cli, attached); err != nil {
			errs = append(errs, fmt.Errorf("restore attached containers: %w", err))
		}
		if fresh, err := docker.Leftovers(ctx, cli); err == nil {
			objs = objs[:0]
			for _, l := range fresh {
				if l.RunID == run {
					objs = append(objs, l)
				}
			}
		}
	}
	// Faults first: a running node of a killed harness may still hold
	// faultline's table and qdisc (its queue died with the harness, and its
	// rules let packets bypass it). Where this process cannot enter the
	// namespaces, a node that is removed below takes its rules with it,
	// and an attached one is healed by a helper container.
	direct := hostNow().notDirect == ""
	for _, l := range objs {
		switch {
		case l.Pid == 0 || l.Helper:
			continue // stopped, or a helper (it heals itself when its run goes)
		case direct:
			if cannotEnter(docker.Node{Name: l.Name, ContainerID: l.ID, Pid: l.Pid}) == "" {
				if err := nemesis.CleanNamespace(l.NetNS()); err != nil {
					errs = append(errs, fmt.Errorf("clean faults in %s: %w", l.Name, err))
				} else {
					fmt.Fprintf(out, "healed %s\n", l.Name)
				}
				continue
			}
		}
		if l.Kind != "attached" {
			continue
		}
		if err := cleanViaHelper(ctx, cli, run, l); err != nil {
			errs = append(errs, fmt.Errorf("clean faults in %s: %w", l.Name, err))
		} else {
			fmt.Fprintf(out, "healed %s (through a helper)\n", l.Name)
		}
	}
	var err error
	if run == "" {
		err = docker.Clean(ctx, cli) // objects without a run label: only -all gets here
	} else {
		err = docker.RemoveRun(ctx, cli, run)
	}
	if err != nil {
		return 0, errors.Join(append(errs, err)...)
	}
	removed := 0
	for _, l := range objs {
		if l.Kind == "attached" {
			fmt.Fprintf(out, "left %s running: it is not faultline's (the run attached to it)\n", l.Name)
			continue
		}
		fmt.Fprintf(out, "removed %s %s\n", l.Kind, l.Name)
		removed++
	}
	return removed, errors.Join(errs...)
}

// cleanViaHelper heals one container through a helper in its namespace.
func cleanViaHelper(ctx context.Context, cli *client.Client, run string, l docker.Leftover) error {
	img, err := helperImage()
	if err != nil {
		return err
	}
	if err := docker.EnsureImage(ctx, cli, img, nil); err != nil {
		return err
	}
	_, err = docker.RunHelper(ctx, cli, img.Tag, run, l.ID, []string{"-clean"})
	return err
}
