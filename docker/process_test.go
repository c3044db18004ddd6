package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestProcesses kills, restarts, pauses and resumes real nodes, refuses a
// node of another run, and removes a cluster with a node still paused.
func TestProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := EnsureImage(ctx, cli, EtcdImage, os.Stderr); err != nil {
		t.Fatal(err)
	}
	c, err := Start(ctx, cli, ClusterSpec{RunID: fmt.Sprintf("test-proc-%d", time.Now().UnixNano()), Nodes: 3, Image: EtcdImage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.Background()) })
	state := func(name string) string {
		n, err := c.node(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		insp, err := cli.ContainerInspect(ctx, n.ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		return insp.State.Status
	}
	oldPid := c.Nodes[0].Pid
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if s := state("n1"); s != "exited" {
		t.Errorf("after kill n1 is %s", s)
	}
	ns, err := c.Start(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ns); err != nil || c.Nodes[0].Pid == oldPid || ns != c.Nodes[0].NetNS() {
		t.Errorf("after restart: netns %s (%v), pid %d (was %d)", ns, err, c.Nodes[0].Pid, oldPid)
	}
	if err := c.Pause(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if s := state("n2"); s != "paused" {
		t.Errorf("after pause n2 is %s", s)
	}
	if err := c.Resume(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if s := state("n2"); s != "running" {
		t.Errorf("after resume n2 is %s", s)
	}
	// The same containers seen from another run are not ours to touch.
	other := &Cluster{cli: cli, RunID: "someone-else", Nodes: c.Nodes}
	if err := other.Kill(ctx, "n3"); !errors.Is(err, ErrNotOurs) {
		t.Errorf("kill of another run's node: %v, want ErrNotOurs", err)
	}
	if s := state("n3"); s != "running" {
		t.Errorf("n3 is %s after a refused kill", s)
	}
	// Teardown copes with a node left paused (Ctrl-C during a pause).
	if err := c.Pause(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatalf("remove with a paused node: %v", err)
	}
	left, err := Leftovers(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if l.RunID == c.RunID {
			t.Errorf("left: %+v", l)
		}
	}
}
