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

	"github.com/faultline/faultline/docker"
)

// TestClusterLifecycle starts a real 3-node etcd cluster, checks every node
// listens on its client port from the host, saves the logs and removes
// everything, leaving nothing labelled behind.
func TestClusterLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := docker.EnsureImage(ctx, cli, docker.EtcdImage, testLog{t}); err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	c, err := docker.Start(ctx, cli, docker.ClusterSpec{RunID: runID, Nodes: 3, Image: docker.EtcdImage})
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
		// namespace from outside.
		insp, err := cli.ContainerInspect(ctx, n.ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		if hc := insp.HostConfig; hc.Privileged || len(hc.CapAdd) > 0 || hc.NetworkMode.IsHost() || hc.PidMode.IsHost() || len(hc.Devices) > 0 {
			t.Errorf("%s runs with privileges: privileged %v, cap-add %v, network %s, pid %s", n.Name, hc.Privileged, hc.CapAdd, hc.NetworkMode, hc.PidMode)
		}
		if insp.Config.Labels[docker.LabelOwner] != docker.Owner() {
			t.Errorf("%s: owner label %q, want this process (%s)", n.Name, insp.Config.Labels[docker.LabelOwner], docker.Owner())
		}
		var conn net.Conn
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if conn, err = net.DialTimeout("tcp", strings.TrimPrefix(n.ClientURL, "http://"), time.Second); err == nil {
				conn.Close()
				break
			}
		}
		if err != nil {
			t.Errorf("%s: client port: %v", n.Name, err)
		}
	}
	dir := t.TempDir()
	if err := c.SaveLogs(ctx, dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "n1.log"))
	if err != nil || !strings.Contains(string(b), "etcd") {
		t.Errorf("n1.log does not look like an etcd log (%v): %.200s", err, b)
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
		if l.RunID == runID {
			t.Errorf("left behind: %+v", l)
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestImageBuildFailure: a wrapper module that does not compile gives
// ErrImage with the compiler's complaint on one line, and the image in the
// engine is left as it was.
func TestImageBuildFailure(t *testing.T) {
	ctx := context.Background()
	cli, err := docker.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	src := t.TempDir()
	dir := filepath.Join(src, "docker", "images", "etcd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "go.sum", "Dockerfile"} {
		b, err := os.ReadFile(filepath.Join("images", "etcd", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedCall() }\n"), 0o644)
	t.Setenv("FAULTLINE_SRC", src)
	err = docker.EnsureImage(ctx, cli, docker.EtcdImage, io.Discard)
	if !errors.Is(err, docker.ErrImage) || !strings.Contains(err.Error(), "undefined: undefinedCall") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want a one-line ErrImage naming the compile error, got %v", err)
	}
}
