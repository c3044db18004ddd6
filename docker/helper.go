package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// LabelHelper marks a helper container with the node whose network
// namespace it shares.
const LabelHelper = "faultline.helper"

// helperCaps are all a helper may do: change the namespace's packet
// filter, qdiscs and queue (NET_ADMIN), send raw packets (NET_RAW: the
// userspace stage's duplicates).
var helperCaps = []string{"NET_ADMIN", "NET_RAW"}

// helperSeq numbers helper containers: a node restarted mid-run gets a
// new one.
var helperSeq atomic.Int64

// StartHelper starts a helper container in node's network namespace
// (network_mode container:NODE) from image, running `faultline helper`
// with NET_ADMIN and NET_RAW only, labelled as the run's, and removed by
// the engine when it exits. It returns the helper's standard input and
// output (the attach stream); closing it ends the helper's input, and the
// helper heals and exits. Its standard error goes to log.
func (c *Cluster) StartHelper(ctx context.Context, node, image string, log io.Writer) (io.ReadWriteCloser, error) {
	n, err := c.node(ctx, node)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{LabelFaultline: "true", LabelRun: c.RunID, LabelOwner: Owner(), LabelHelper: node}
	name := fmt.Sprintf("faultline-%s-%s-helper-%d", c.RunID, node, helperSeq.Add(1))
	return startHelper(ctx, c.cli, image, name, "container:"+n.ContainerID, labels, []string{"helper"}, helperCaps, log)
}

// LabelClients marks the container that runs a run's clients inside its
// network.
const LabelClients = "faultline.clients"

// StartClients starts the container that runs the run's clients inside
// its network (for a controller that cannot reach the nodes' addresses):
// image's `faultline clients`, on the run's network, with no capability,
// labelled as the run's and removed by the engine when it exits. It
// returns the container's standard input and output (the attach stream);
// closing it ends the container's input, and it closes its clients and
// exits. Its standard error goes to log.
func (c *Cluster) StartClients(ctx context.Context, image string, log io.Writer) (io.ReadWriteCloser, error) {
	labels := map[string]string{LabelFaultline: "true", LabelRun: c.RunID, LabelOwner: Owner(), LabelClients: "true"}
	name := fmt.Sprintf("faultline-%s-clients-%d", c.RunID, helperSeq.Add(1))
	return startHelper(ctx, c.cli, image, name, c.NetworkID, labels, []string{"clients"}, nil, log)
}

// RunHelper runs image's `faultline helper ARGS...` once, labelled as
// run's, and returns what it printed: in the network namespace of the
// container in (its ID), or with in "" in one of its own with no network
// (a scratch one, on the engine's kernel).
func RunHelper(ctx context.Context, cli *client.Client, image, runID, in string, args []string) ([]byte, error) {
	labels := map[string]string{LabelFaultline: "true", LabelRun: runID, LabelOwner: Owner(), LabelHelper: "-"}
	name := fmt.Sprintf("faultline-%s-helper-%d", runID, helperSeq.Add(1))
	network := "none"
	if in != "" {
		network = "container:" + in
	}
	var stderr bytes.Buffer
	conn, err := startHelper(ctx, cli, image, name, network, labels, append([]string{"helper"}, args...), helperCaps, &stderr)
	if err != nil {
		return nil, err
	}
	out, rerr := io.ReadAll(conn)
	cerr := conn.Close()
	if rerr != nil || cerr != nil {
		return out, fmt.Errorf("helper %s: %w (its errors: %s)", strings.Join(args, " "), errors.Join(rerr, cerr), strings.TrimSpace(stderr.String()))
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return out, fmt.Errorf("helper %s printed nothing (its errors: %s)", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func startHelper(ctx context.Context, cli *client.Client, image, name, network string, labels map[string]string, cmd, caps []string, log io.Writer) (io.ReadWriteCloser, error) {
	cfg := &container.Config{
		Image:        image,
		Cmd:          cmd,
		Labels:       labels,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		OpenStdin:    true,
		StdinOnce:    true, // the controller gone, its input ends
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(network),
		CapDrop:        []string{"ALL"},
		CapAdd:         caps,
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		AutoRemove:     true,
	}
	// As with the nodes, a create is carried through even when ctx ends:
	// the engine may finish it after the client gave up.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	created, err := cli.ContainerCreate(cctx, cfg, hc, nil, nil, name)
	if err != nil {
		return nil, fmt.Errorf("%w: create helper %s: %v (the engine must allow NET_ADMIN and NET_RAW; see docs/safety.md)", ErrHelper, name, err)
	}
	hj, err := cli.ContainerAttach(cctx, created.ID, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		cli.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true})
		return nil, fmt.Errorf("%w: attach to helper %s: %v", ErrHelper, name, err)
	}
	if err := cli.ContainerStart(cctx, created.ID, container.StartOptions{}); err != nil {
		hj.Close()
		cli.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true})
		return nil, fmt.Errorf("%w: start helper %s: %v (the engine must allow NET_ADMIN and NET_RAW in the node's namespace; see docs/safety.md)", ErrHelper, name, err)
	}
	pr, pw := io.Pipe()
	h := &helperConn{hj: hj, out: pr, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		_, err := stdcopy.StdCopy(pw, log, hj.Reader)
		pw.CloseWithError(err)
	}()
	return h, nil
}

// helperConn is a helper's attach stream: its standard output demultiplexed
// from its standard error.
type helperConn struct {
	hj        types.HijackedResponse
	out       *io.PipeReader
	done      chan struct{}
	wmu       sync.Mutex
	closeOnce sync.Once
}

func (h *helperConn) Read(p []byte) (int, error) { return h.out.Read(p) }

func (h *helperConn) Write(p []byte) (int, error) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	return h.hj.Conn.Write(p)
}

// Close ends the helper's input and waits (at most 30 s) for its output
// to end: it has healed and exited.
func (h *helperConn) Close() error {
	var err error
	h.closeOnce.Do(func() {
		err = h.hj.CloseWrite()
		select {
		case <-h.done:
		case <-time.After(30 * time.Second):
			err = errors.Join(err, errors.New("the helper did not exit within 30 s of its input ending"))
		}
		h.hj.Close()
	})
	return err
}
