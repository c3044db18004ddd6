package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
)

// TestClusterLifecycle starts a real 3-node cluster of the stand-in node,
// checks every node listens on its address from the host and runs without
// privilege, runs a command in one, saves the logs and a file from each,
// and removes everything (containers, network, volumes), leaving nothing
// labelled behind.
func TestClusterLifecycle(t *testing.T) {
	testenv.EndToEnd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli := testcluster.Connect(t)
	c, err := testcluster.Start(ctx, cli, 3, func(ns *docker.NodeSpec) { ns.Aliases = []string{"alias-" + ns.Name} })
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			c.Remove(context.Background())
		}
	})
	for _, n := range c.Nodes {
		if !c.Subnet.Contains(n.Addr) || n.Pid <= 0 {
			t.Errorf("%s: addr %s pid %d", n.Name, n.Addr, n.Pid)
		}
		if _, err := os.Stat(n.NetNS()); err != nil {
			t.Errorf("%s: namespace: %v", n.Name, err)
		}
		// The system under test needs no privilege: faultline acts on its
		// namespace from outside. No restart policy undoes a kill.
		insp, err := cli.ContainerInspect(ctx, n.ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		if hc := insp.HostConfig; hc.Privileged || len(hc.CapAdd) > 0 || hc.NetworkMode.IsHost() || hc.PidMode.IsHost() || len(hc.Devices) > 0 || len(hc.PortBindings) > 0 {
			t.Errorf("%s runs with privileges or published ports: privileged %v, cap-add %v, network %s, pid %s, ports %v", n.Name, hc.Privileged, hc.CapAdd, hc.NetworkMode, hc.PidMode, hc.PortBindings)
		}
		if p := insp.HostConfig.RestartPolicy.Name; p != "" && p != "no" {
			t.Errorf("%s: restart policy %q", n.Name, p)
		}
		if insp.Config.Labels[docker.LabelOwner] != docker.Owner() {
			t.Errorf("%s: owner label %q, want this process (%s)", n.Name, insp.Config.Labels[docker.LabelOwner], docker.Owner())
		}
		if es := insp.NetworkSettings.Networks["faultline-"+c.RunID]; es == nil || !strings.Contains(strings.Join(es.Aliases, " "), "alias-"+n.Name) {
			t.Errorf("%s: aliases on the run's network: %+v", n.Name, es)
		}
		var conn net.Conn
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if conn, err = net.DialTimeout("tcp", net.JoinHostPort(n.Addr.String(), "8080"), time.Second); err == nil {
				conn.Close()
				break
			}
		}
		if err != nil {
			t.Errorf("%s: port 8080: %v", n.Name, err)
		}
	}
	out, code, err := c.Exec(ctx, "n2", []string{"/node", "-exit", "3"})
	if err != nil || code != 3 || !strings.Contains(string(out), "exiting with 3") {
		t.Errorf("exec: %q, exit %d, %v", out, code, err)
	}
	if tail := c.LogTail(ctx, "n1", 5); !strings.Contains(tail, "test node n1 up") {
		t.Errorf("log tail of n1: %q", tail)
	}
	dir := t.TempDir()
	if err := c.SaveLogs(ctx, dir, []string{"/data/starts"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "n1.log"))
	if err != nil || !strings.Contains(string(b), "test node n1 up") {
		t.Errorf("n1.log does not look like the node's log (%v): %.200s", err, b)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "n3", "data", "starts")); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("n3/data/starts: %q %v", b, err)
	}
	if err := c.SaveLogs(ctx, dir, []string{"/no/such.log"}); err == nil || !strings.Contains(err.Error(), "/no/such.log of n1") {
		t.Errorf("a missing log file: %v", err)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	removed = true
	left, err := docker.Leftovers(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if l.RunID == c.RunID {
			t.Errorf("left behind: %+v", l)
		}
	}
}

// TestImageBuilds: an image is built from a context folder and a prepare
// step, rebuilt only when the context changes; a failing prepare step or
// Dockerfile gives ErrImage with their last output; an image neither there
// nor buildable is named with what to do.
func TestImageBuilds(t *testing.T) {
	testenv.EndToEnd(t)
	ctx := context.Background()
	cli := testcluster.Connect(t)
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\nCOPY hello.txt prepared.txt /\nLABEL test=faultline\n")
	write("hello.txt", "one\n")
	tag := fmt.Sprintf("faultline-test/build:%d", time.Now().UnixNano())
	t.Cleanup(func() {
		cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	prepared := 0
	spec := docker.ImageSpec{Tag: tag, Build: &docker.BuildSpec{Context: dir, PrepareKey: "v1", Prepare: func(_ context.Context, out string, _ io.Writer) error {
		prepared++
		return os.WriteFile(filepath.Join(out, "prepared.txt"), []byte("made\n"), 0o644)
	}}}
	id := func() string {
		insp, err := cli.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		return insp.ID
	}
	if err := docker.EnsureImage(ctx, cli, spec, io.Discard); err != nil {
		t.Fatal(err)
	}
	first := id()
	if err := docker.EnsureImage(ctx, cli, spec, io.Discard); err != nil || id() != first || prepared != 1 {
		t.Errorf("unchanged context rebuilt: %v, prepared %d times", err, prepared)
	}
	write("hello.txt", "two\n")
	if err := docker.EnsureImage(ctx, cli, spec, io.Discard); err != nil || id() == first || prepared != 2 {
		t.Errorf("changed context not rebuilt: %v, prepared %d times", err, prepared)
	}

	failing := spec
	failing.Build = &docker.BuildSpec{Context: dir, PrepareKey: "v2", Prepare: func(_ context.Context, _ string, log io.Writer) error {
		fmt.Fprintln(log, "compiling...")
		return errors.New("undefined: undefinedCall")
	}}
	if err := docker.EnsureImage(ctx, cli, failing, io.Discard); !errors.Is(err, docker.ErrImage) || !strings.Contains(err.Error(), "undefined: undefinedCall") {
		t.Errorf("failing prepare: %v", err)
	}
	write("Dockerfile", "FROM scratch\nCOPY no-such-file /\n")
	err := docker.EnsureImage(ctx, cli, spec, io.Discard)
	if !errors.Is(err, docker.ErrImage) || !strings.Contains(err.Error(), "no-such-file") || strings.Contains(err.Error(), "\n") {
		t.Errorf("failing Dockerfile: want a one-line ErrImage with the build's output, got %v", err)
	}
	// The image in the engine, its build context gone (a stored run
	// replayed elsewhere): used as it is.
	write("Dockerfile", "FROM scratch\nCOPY hello.txt prepared.txt /\nLABEL test=faultline\n")
	gone := docker.ImageSpec{Tag: tag, Build: &docker.BuildSpec{Context: filepath.Join(dir, "gone")}}
	if err := docker.EnsureImage(ctx, cli, gone, io.Discard); err != nil {
		t.Errorf("image present, build context gone: %v", err)
	}
	gone.Tag = "faultline-test/none:absent"
	if err := docker.EnsureImage(ctx, cli, gone, io.Discard); !errors.Is(err, docker.ErrImage) || !strings.Contains(err.Error(), "is not a folder on this machine") {
		t.Errorf("image absent, build context gone: %v", err)
	}
	err = docker.EnsureImage(ctx, cli, docker.ImageSpec{Tag: "faultline-test/none:absent", Owner: "system mydb"}, io.Discard)
	if !errors.Is(err, docker.ErrImage) || !strings.Contains(err.Error(), "system mydb") || !strings.Contains(err.Error(), "build:") {
		t.Errorf("absent image: %v", err)
	}
}
