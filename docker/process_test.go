package docker_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
)

// TestProcesses kills, restarts, pauses and resumes real nodes, keeps a
// node's data folder across a kill, refuses a node of another run, and
// removes a cluster with a node still paused.
func TestProcesses(t *testing.T) {
	testenv.EndToEnd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli := testcluster.Connect(t)
	c, err := testcluster.Start(ctx, cli, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.Background()) })
	state := func(i int) string {
		insp, err := cli.ContainerInspect(ctx, c.Nodes[i].ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		return insp.State.Status
	}
	oldPid := c.Nodes[0].Pid
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if s := state(0); s != "exited" {
		t.Errorf("after kill n1 is %s", s)
	}
	ns, err := c.Start(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ns); err != nil || c.Nodes[0].Pid == oldPid || ns != c.Nodes[0].NetNS() {
		t.Errorf("after restart: netns %s (%v), pid %d (was %d)", ns, err, c.Nodes[0].Pid, oldPid)
	}
	// The data folder survived: the node counted its second start there.
	var out []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out, _, err = c.Exec(ctx, "n1", []string{"/node", "-cat", "/data/starts"}); err == nil && strings.TrimSpace(string(out)) == "2" {
			break
		}
	}
	if got := strings.TrimSpace(string(out)); got != "2" {
		t.Errorf("/data/starts after a restart = %q (%v), want 2: the data folder did not survive the kill", got, err)
	}
	if err := c.Pause(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if s := state(1); s != "paused" {
		t.Errorf("after pause n2 is %s", s)
	}
	if err := c.Resume(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if s := state(1); s != "running" {
		t.Errorf("after resume n2 is %s", s)
	}
	// The same containers seen from another run are not ours to touch.
	other := docker.ForeignCluster(cli, "someone-else", c.Nodes)
	if err := other.Kill(ctx, "n3"); !errors.Is(err, docker.ErrNotOurs) {
		t.Errorf("kill of another run's node: %v, want ErrNotOurs", err)
	}
	if s := state(2); s != "running" {
		t.Errorf("n3 is %s after a refused kill", s)
	}
	// Teardown copes with a node left paused (Ctrl-C during a pause).
	if err := c.Pause(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatalf("remove with a paused node: %v", err)
	}
	left, err := docker.Leftovers(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if l.RunID == c.RunID {
			t.Errorf("left: %+v", l)
		}
	}
}

// TestAttachRefusals: attaching to containers faultline started for a run
// is refused, naming the run; so are names that match nothing.
func TestAttachRefusals(t *testing.T) {
	testenv.EndToEnd(t)
	ctx := context.Background()
	cli := testcluster.Connect(t)
	c, err := testcluster.Start(ctx, cli, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.Background()) })
	name := "faultline-" + c.RunID + "-n1"
	_, _, err = docker.Attach(ctx, cli, "attach-test", docker.Selector{Names: []string{name}})
	if !errors.Is(err, docker.ErrAttach) || !strings.Contains(err.Error(), "belongs to faultline run "+c.RunID) {
		t.Errorf("attach to a run's container: %v", err)
	}
	_, _, err = docker.Attach(ctx, cli, "attach-test", docker.Selector{Names: []string{"no-such-container-here"}})
	if !errors.Is(err, docker.ErrAttach) || !strings.Contains(err.Error(), "no container named no-such-container-here") {
		t.Errorf("attach to nothing: %v", err)
	}
	_, _, err = docker.Attach(ctx, cli, "attach-test", docker.Selector{Labels: map[string]string{"faultline-test-no-such-label": "x"}})
	if !errors.Is(err, docker.ErrAttach) || !strings.Contains(err.Error(), "labels faultline-test-no-such-label=x matches no container") {
		t.Errorf("attach by labels to nothing: %v", err)
	}
	for _, l := range func() []docker.Leftover { l, _ := docker.Leftovers(ctx, cli); return l }() {
		if l.RunID == "attach-test" {
			t.Errorf("a refused attach left %+v", l)
		}
	}
}
