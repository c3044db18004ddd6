// Package testcluster starts clusters of a stand-in node for the tests of
// packages docker and nemesis, which need containers with network
// namespaces but no system under test. The node (docker/testdata/node)
// answers on TCP port 8080 and counts its starts in its data folder; its
// image is built FROM scratch, like every image faultline uses.
package testcluster

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/faultline/faultline/docker"
)

// Image is the stand-in node's image.
const Image = "faultline-test/node:1"

// root is faultline's source tree.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// ImageSpec is how the stand-in node's image is built.
func ImageSpec() docker.ImageSpec {
	r := root()
	return docker.ImageSpec{Tag: Image, Owner: "tests", Build: &docker.BuildSpec{
		Context:    filepath.Join(r, "docker", "testdata", "node"),
		PrepareKey: "go build ./docker/testdata/node",
		Prepare: func(ctx context.Context, out string, log io.Writer) error {
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(out, "node"), "./docker/testdata/node")
			cmd.Dir = r
			cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			cmd.Stdout, cmd.Stderr = log, log
			return cmd.Run()
		},
	}}
}

// Start builds the image if needed and starts n nodes, n1..nN, each with a
// data folder at /data ($DATA). edit, when set, changes each node's spec.
// Remove the cluster when done.
func Start(ctx context.Context, cli *client.Client, n int, edit func(*docker.NodeSpec)) (*docker.Cluster, error) {
	if err := docker.EnsureImage(ctx, cli, ImageSpec(), io.Discard); err != nil {
		return nil, err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return docker.Start(ctx, cli, docker.ClusterSpec{
		RunID: fmt.Sprintf("test-%d", time.Now().UnixNano()),
		Names: names,
		Nodes: func(addrs []netip.Addr) ([]docker.NodeSpec, error) {
			specs := make([]docker.NodeSpec, n)
			for i := range specs {
				specs[i] = docker.NodeSpec{Name: names[i], Image: Image, Env: []string{"DATA=/data"}, Data: "/data", Cmd: []string{"--addr", addrs[i].String()}}
				if edit != nil {
					edit(&specs[i])
				}
			}
			return specs, nil
		},
	})
}

// ComposeEtcd starts a three-member etcd cluster the way docker compose
// would (its labels, a network of its own, the restart policy given), not
// through faultline: what `cluster.attach: {project: ...}` finds. The
// members are the compose services etcd1..etcd3. image is faultline's
// etcd image, which must be in the engine. remove takes it all away.
func ComposeEtcd(ctx context.Context, cli *client.Client, image, project, restart string) (ids []string, remove func(), err error) {
	netName := project + "_default"
	if _, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{Driver: "bridge", Labels: map[string]string{"com.docker.compose.project": project}}); err != nil {
		return nil, nil, err
	}
	remove = func() {
		for _, id := range ids {
			cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
		cli.NetworkRemove(context.Background(), netName)
	}
	initial := "etcd1=http://etcd1:2380,etcd2=http://etcd2:2380,etcd3=http://etcd3:2380"
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("etcd%d", i)
		cfg := &container.Config{
			Image: image,
			Cmd: []string{"--name=" + name, "--data-dir=/data", "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://" + name + ":2379",
				"--listen-peer-urls=http://0.0.0.0:2380", "--initial-advertise-peer-urls=http://" + name + ":2380", "--initial-cluster=" + initial,
				"--heartbeat-interval=100", "--election-timeout=1000"},
			Labels: map[string]string{"com.docker.compose.project": project, "com.docker.compose.service": name, "com.docker.compose.container-number": "1"},
		}
		hc := &container.HostConfig{NetworkMode: container.NetworkMode(netName), RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(restart)}}
		nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: {Aliases: []string{name}}}}
		c, err := cli.ContainerCreate(ctx, cfg, hc, nc, nil, fmt.Sprintf("%s-%s-1", project, name))
		if err != nil {
			remove()
			return nil, nil, err
		}
		ids = append(ids, c.ID)
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			remove()
			return nil, nil, err
		}
	}
	return ids, remove, nil
}
