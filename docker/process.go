package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
)

// node finds a node by name and checks, against the engine, that its
// container still carries this run's labels.
func (c *Cluster) node(ctx context.Context, name string) (*Node, error) {
	c.mu.Lock()
	var n *Node
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			n = &c.Nodes[i]
		}
	}
	c.mu.Unlock()
	if n == nil {
		return nil, fmt.Errorf("no node %q in this cluster", name)
	}
	insp, err := c.cli.ContainerInspect(ctx, n.ContainerID)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	if c.attached {
		if !c.ids[insp.ID] {
			return nil, fmt.Errorf("%w: %s (%s) is not one of the containers this run attached to", ErrNotOurs, name, n.ContainerID[:12])
		}
	} else if insp.Config == nil || insp.Config.Labels[LabelRun] != c.RunID || insp.Config.Labels[LabelNode] != name {
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotOurs, name, n.ContainerID[:12])
	}
	return n, nil
}

// Kill sends SIGKILL to a node and waits until its container has stopped.
// The container and its data stay; Start brings it back.
func (c *Cluster) Kill(ctx context.Context, name string) error {
	n, err := c.node(ctx, name)
	if err != nil {
		return err
	}
	waitc, errc := c.cli.ContainerWait(ctx, n.ContainerID, container.WaitConditionNotRunning)
	if err := c.cli.ContainerKill(ctx, n.ContainerID, "KILL"); err != nil {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	select {
	case <-waitc:
	case err := <-errc:
		return fmt.Errorf("wait for %s to stop: %w", name, err)
	}
	c.mu.Lock()
	n.Pid = 0
	c.mu.Unlock()
	return nil
}

// Start starts a stopped node on its old data and address, and returns the
// path of its new network namespace. Starting a running node is a no-op.
func (c *Cluster) Start(ctx context.Context, name string) (string, error) {
	n, err := c.node(ctx, name)
	if err != nil {
		return "", err
	}
	if err := c.cli.ContainerStart(ctx, n.ContainerID, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	insp, err := c.cli.ContainerInspect(ctx, n.ContainerID)
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", name, err)
	}
	if insp.State == nil || !insp.State.Running || insp.State.Pid == 0 {
		return "", fmt.Errorf("%s exited at once after restart (exit code %d)", name, exitCode(insp))
	}
	c.mu.Lock()
	n.Pid = insp.State.Pid
	path := n.NetNS()
	c.mu.Unlock()
	return path, nil
}

// Pause freezes a node's processes; Resume thaws them.
func (c *Cluster) Pause(ctx context.Context, name string) error {
	n, err := c.node(ctx, name)
	if err != nil {
		return err
	}
	return c.cli.ContainerPause(ctx, n.ContainerID)
}

// Resume thaws a paused node.
func (c *Cluster) Resume(ctx context.Context, name string) error {
	n, err := c.node(ctx, name)
	if err != nil {
		return err
	}
	return c.cli.ContainerUnpause(ctx, n.ContainerID)
}
