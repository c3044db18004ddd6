package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// EtcdImage is the tag of the etcd image faultline builds. The version is the
// one pinned in docker/images/etcd/go.mod.
const EtcdImage = "faultline/etcd:v3.6.16"

// labelInputs on an image holds the hash of everything it was built from.
const labelInputs = "faultline.inputs"

// RefKVImage is the tag of the image of refkv, the reference store with
// switchable bugs (package refkv), built from faultline's own module.
const RefKVImage = "faultline/refkv:1"

// imageSource is how to build one image faultline ships: `go build` of one
// package into a static binary, and a Dockerfile under docker/images that
// copies it FROM scratch.
type imageSource struct {
	tag    string
	dir    string // the Dockerfile's folder, relative to the source root
	module string // where `go build` runs, relative to the source root
	pkg    string // what it builds
	binary string // file name the Dockerfile copies
	// inputs are the files (globs, relative to the source root) whose
	// contents decide whether a built image is stale.
	inputs []string
}

var (
	// etcd: a wrapper module pinning the etcd server, so faultline's own
	// go.mod never carries it.
	etcdSource = imageSource{tag: EtcdImage, dir: "docker/images/etcd", module: "docker/images/etcd", pkg: ".", binary: "etcd",
		inputs: []string{"docker/images/etcd/go.mod", "docker/images/etcd/go.sum", "docker/images/etcd/main.go", "docker/images/etcd/Dockerfile"}}
	refkvSource = imageSource{tag: RefKVImage, dir: "docker/images/refkv", module: ".", pkg: "./cmd/refkv", binary: "refkv",
		inputs: []string{"go.mod", "refkv/*.go", "cmd/refkv/*.go", "docker/images/refkv/Dockerfile"}}
	shipped = []imageSource{etcdSource, refkvSource}
)

// shippedImage returns the buildable source of an image faultline ships, if
// tag is one.
func shippedImage(tag string) (imageSource, bool) {
	for _, s := range shipped {
		if s.tag == tag {
			return s, true
		}
	}
	return imageSource{}, false
}

// SourceRoot finds faultline's source tree, which holds the image build
// contexts: $FAULTLINE_SRC if set, else the nearest parent of the working
// directory that has docker/images, else the tree this binary was built
// from.
func SourceRoot() (string, error) {
	if dir := os.Getenv("FAULTLINE_SRC"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, etcdSource.dir, "go.mod")); err != nil {
			return "", fmt.Errorf("FAULTLINE_SRC=%s does not hold %s: %w", dir, etcdSource.dir, err)
		}
		return dir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, etcdSource.dir, "go.mod")); err == nil {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Dir(filepath.Dir(file))
		if _, err := os.Stat(filepath.Join(dir, etcdSource.dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("faultline's source tree (with docker/images) not found: run from the faultline checkout or set FAULTLINE_SRC")
}

// EnsureImages builds every image faultline ships, each only when its inputs
// changed since the image in the engine was built. Progress lines go to log.
func EnsureImages(ctx context.Context, cli *client.Client, log io.Writer) error {
	for _, s := range shipped {
		if err := EnsureImage(ctx, cli, s.tag, log); err != nil {
			return err
		}
	}
	return nil
}

// EnsureImage makes sure tag is present in the engine. An image faultline
// ships is (re)built from source when missing or stale; any other image
// must already be there, since no registry can be reached.
func EnsureImage(ctx context.Context, cli *client.Client, tag string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	src, ok := shippedImage(tag)
	if !ok {
		if _, err := cli.ImageInspect(ctx, tag); err != nil {
			if cerrdefs.IsNotFound(err) {
				return fmt.Errorf("%w: image %s is not in the Docker engine; build or load it first (no registry is used)", ErrImage, tag)
			}
			return fmt.Errorf("inspect image %s: %w", tag, err)
		}
		return nil
	}
	root, err := SourceRoot()
	if err != nil {
		if _, ierr := cli.ImageInspect(ctx, tag); ierr == nil {
			return nil // a built image with no source to compare against: use it
		}
		return fmt.Errorf("%w: %s is missing and cannot be built: %v", ErrImage, tag, err)
	}
	hash, err := inputsHash(ctx, root, src.inputs)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrImage, tag, err)
	}
	if img, err := cli.ImageInspect(ctx, tag); err == nil && img.Config != nil && img.Config.Labels[labelInputs] == hash {
		return nil
	}
	fmt.Fprintf(log, "building image %s from %s (first time takes a few minutes)\n", tag, src.dir)
	if err := buildImage(ctx, cli, src, root, hash, log); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrImage, tag, err)
	}
	return nil
}

// inputsHash covers an image's source files (tests left out), its
// Dockerfile and the Go toolchain that compiles it.
func inputsHash(ctx context.Context, root string, globs []string) (string, error) {
	h := sha256.New()
	for _, g := range globs {
		names, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return "", err
		}
		if len(names) == 0 {
			return "", fmt.Errorf("no file matches %s in %s", g, root)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			b, err := os.ReadFile(name)
			if err != nil {
				return "", err
			}
			rel, _ := filepath.Rel(root, name)
			fmt.Fprintf(h, "%s %d\n", rel, len(b))
			h.Write(b)
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build images: %w", err)
	}
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func buildImage(ctx context.Context, cli *client.Client, src imageSource, root, hash string, log io.Writer) error {
	dir := filepath.Join(root, src.module)
	tmp, err := os.MkdirTemp("", "faultline-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, src.binary)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, src.pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stdout = log
	cmd.Stderr = io.MultiWriter(log, &stderr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build in %s failed (%w): %s; fix the build there, `make images` shows its full output", dir, err, lastLines(stderr.String(), 3))
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct{ path, name string }{{filepath.Join(root, src.dir, "Dockerfile"), "Dockerfile"}, {bin, src.binary}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(b))}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{
		Tags:        []string{src.tag},
		Labels:      map[string]string{LabelFaultline: "true", labelInputs: hash},
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	defer resp.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
