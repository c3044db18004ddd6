// Package attachtest starts clusters the way docker compose would, not
// through faultline, for the tests of attaching to somebody else's
// cluster (harness and cmd/faultline). It is apart from testcluster,
// which package nemesis's tests use, because it runs the built-in etcd
// system's image, which the tests have built (harness.EnsureImages).
package attachtest

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/docker/docker/client"
)

// ComposeEtcd starts a three-member etcd cluster the way docker compose
// would (its labels, a network of its own, the restart policy given), not
// through faultline: what `cluster.attach: {project: ...}` finds. The
// members are the compose services etcd1..etcd3, running image (the
// built-in etcd system's). remove takes it all away.
func ComposeEtcd(ctx context.Context, cli *client.Client, project, restart, image string) (ids []string, remove func() error, err error) {
	netName := project + "_default"
	if _, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{Driver: "bridge", Labels: map[string]string{"com.docker.compose.project": project}}); err != nil {
		return nil, nil, err
	}
	remove = func() error {
		var errs []error
		for _, id := range ids {
			errs = append(errs, cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true, RemoveVolumes: true}))
		}
		return errors.Join(append(errs, cli.NetworkRemove(context.Background(), netName))...)
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
			return nil, nil, errors.Join(err, remove())
		}
		ids = append(ids, c.ID)
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return nil, nil, errors.Join(err, remove())
		}
	}
	return ids, remove, nil
}
