package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
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
	return startHelper(ctx, c.cli, helperSpec{image: image, name: name, network: "container:" + n.ContainerID, labels: labels, cmd: []string{"helper"}, caps: helperCaps}, log)
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
	return startHelper(ctx, c.cli, helperSpec{image: image, name: name, network: c.NetworkID, labels: labels, cmd: []string{"clients"}}, log)
}

// ClientFiles are what a client program needs in its container: folders
// of this host, each copied to a folder under /faultline/files.
type ClientFiles map[string]string // host folder -> its name under /faultline/files

// MaxClientFiles bounds what is copied into a client program's container.
const MaxClientFiles = 64 << 20

// StartClientProgram starts the container that runs a run's clients
// inside its network when they are a client program: from image (one
// holding the program's runtime), with faultline's own binary (from the
// helper image) at /faultline/faultline and files copied in before it
// starts, running `/faultline/faultline clients` as the image's user, on
// the run's network, with no capability, labelled and removed as
// StartClients's container is.
func (c *Cluster) StartClientProgram(ctx context.Context, image, helper string, files ClientFiles, log io.Writer) (io.ReadWriteCloser, error) {
	bin, err := helperBinary(ctx, c.cli, helper, c.RunID)
	if err != nil {
		return nil, err
	}
	archive, err := clientArchive(bin, files)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{LabelFaultline: "true", LabelRun: c.RunID, LabelOwner: Owner(), LabelClients: "true"}
	name := fmt.Sprintf("faultline-%s-clients-%d", c.RunID, helperSeq.Add(1))
	return startHelper(ctx, c.cli, helperSpec{image: image, name: name, network: c.NetworkID, labels: labels,
		entrypoint: []string{"/faultline/faultline"}, cmd: []string{"clients"}, writable: true, copyIn: archive}, log)
}

// helperBinary is faultline's static binary, as the helper image holds it.
// The container it is read from (created, never started) carries the
// run's labels, so that clean finds it if the controller dies meanwhile.
func helperBinary(ctx context.Context, cli *client.Client, helper, runID string) (bin []byte, err error) {
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: helper, Labels: map[string]string{LabelFaultline: "true", LabelRun: runID, LabelOwner: Owner(), LabelHelper: "-"}}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("%w: faultline's binary from %s: %w", ErrHelper, helper, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true}); rerr != nil {
			err = errors.Join(err, fmt.Errorf("%w: remove the container faultline's binary was read from: %w", ErrHelper, rerr))
		}
	}()
	rc, _, err := cli.CopyFromContainer(ctx, created.ID, "/faultline")
	if err != nil {
		return nil, fmt.Errorf("%w: faultline's binary from %s: %w", ErrHelper, helper, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: faultline's binary from %s: %w", ErrHelper, helper, err)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

// clientArchive is the tar stream copied into a client program's
// container at /: faultline/faultline, and each folder of files under
// faultline/files (regular files and folders; hidden ones left out).
func clientArchive(bin []byte, files ClientFiles) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: now})
	}
	file := func(name string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := errors.Join(dir("faultline"), file("faultline/faultline", 0o755, bin), dir("faultline/files")); err != nil {
		return nil, err
	}
	total := 0
	for _, host := range slices.Sorted(maps.Keys(files)) {
		at := path.Join("faultline/files", files[host])
		err := filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(host, p)
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			name := path.Join(at, filepath.ToSlash(rel))
			switch {
			case d.IsDir():
				return dir(name)
			case d.Type().IsRegular():
				body, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if total += len(body); total > MaxClientFiles {
					return fmt.Errorf("more than %d MiB to copy; give the client an image that holds the program (client.image) and name it by its path there", MaxClientFiles>>20)
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				return file(name, int64(info.Mode().Perm()|0o444), body)
			}
			return nil // links, sockets, devices: not carried
		})
		if err != nil {
			return nil, fmt.Errorf("%w: the client program's folder %s: %w", ErrHelper, host, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
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
	conn, err := startHelper(ctx, cli, helperSpec{image: image, name: name, network: network, labels: labels, cmd: append([]string{"helper"}, args...), caps: helperCaps}, &stderr)
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

// helperSpec is a container faultline runs for a run and talks to over
// its attach stream: a helper, or the clients' container.
type helperSpec struct {
	image, name, network string
	labels               map[string]string
	entrypoint, cmd      []string
	caps                 []string
	// writable: a root filesystem the program may write to (a client
	// program's; a helper's is read-only).
	writable bool
	// copyIn is a tar stream copied to / before the container starts.
	copyIn io.Reader
}

func startHelper(ctx context.Context, cli *client.Client, spec helperSpec, log io.Writer) (io.ReadWriteCloser, error) {
	what, needs := "helper", " (the engine must allow NET_ADMIN and NET_RAW; see docs/safety.md)"
	if spec.labels[LabelClients] != "" {
		what, needs = "client container", ""
	}
	cfg := &container.Config{
		Image:        spec.image,
		Entrypoint:   spec.entrypoint,
		Cmd:          spec.cmd,
		Labels:       spec.labels,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		OpenStdin:    true,
		StdinOnce:    true, // the controller gone, its input ends
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(spec.network),
		CapDrop:        []string{"ALL"},
		CapAdd:         spec.caps,
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: !spec.writable,
		AutoRemove:     true,
	}
	name := spec.name
	// As with the nodes, a create is carried through even when ctx ends:
	// the engine may finish it after the client gave up.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	created, err := cli.ContainerCreate(cctx, cfg, hc, nil, nil, name)
	if err != nil {
		return nil, fmt.Errorf("%w: create %s %s from %s: %w%s", ErrHelper, what, name, spec.image, err, needs)
	}
	if spec.copyIn != nil {
		if err := cli.CopyToContainer(cctx, created.ID, "/", spec.copyIn, container.CopyToContainerOptions{}); err != nil {
			return nil, errors.Join(fmt.Errorf("%w: copy faultline and the client's files into %s: %w", ErrHelper, name, err),
				cli.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true}))
		}
	}
	hj, err := cli.ContainerAttach(cctx, created.ID, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w: attach to %s %s: %w", ErrHelper, what, name, err),
			cli.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true}))
	}
	if err := cli.ContainerStart(cctx, created.ID, container.StartOptions{}); err != nil {
		hj.Close()
		return nil, errors.Join(fmt.Errorf("%w: start %s %s: %w%s", ErrHelper, what, name, err, needs),
			cli.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true}))
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
