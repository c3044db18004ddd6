package docker

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// labelInputs on an image holds the hash of everything it was built from.
const labelInputs = "faultline.inputs"

// imageFormat is part of every image's hash: raise it when how faultline
// builds images changes, so that images built the old way are rebuilt.
// 2: images no longer carry the faultline label (their containers
// inherited it).
const imageFormat = 2

// ImageSpec is an image a node runs: one the engine has, or one faultline
// builds locally (no registry is ever used).
type ImageSpec struct {
	Tag   string
	Build *BuildSpec
	// Owner names what needs the image, for messages ("system redis").
	Owner string
}

// BuildSpec builds an image through the Engine API from a context folder,
// whenever the hash of its inputs differs from the image's label.
type BuildSpec struct {
	// Context is the build context's folder (absolute); it holds the
	// Dockerfile, unless Dockerfile names another file in it.
	Context    string
	Dockerfile string
	Args       map[string]string
	// Inputs are more files (absolute globs) whose contents decide
	// staleness, besides the context's.
	Inputs []string
	// Prepare, when set, runs before the build and writes files into out,
	// which join the context (a static binary, a root filesystem). It runs
	// only when the image is built; PrepareKey is what it contributes to
	// the hash (its command line, folder and environment).
	Prepare    func(ctx context.Context, out string, log io.Writer) error
	PrepareKey string
}

// Buildable reports whether an image can be built here: its build
// context is an absolute path to a folder on this machine.
func Buildable(b *BuildSpec) bool {
	if b == nil || !filepath.IsAbs(b.Context) {
		return false
	}
	fi, err := os.Stat(b.Context)
	return err == nil && fi.IsDir()
}

// EnsureImage makes sure the image is in the engine. One that is
// Buildable is (re)built when missing or stale; any other must already be
// there.
// Build output goes to log as it comes, and its last lines into the error
// when the build fails.
func EnsureImage(ctx context.Context, cli *client.Client, spec ImageSpec, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	owner := ""
	if spec.Owner != "" {
		owner = " (" + spec.Owner + ")"
	}
	b := spec.Build
	if !Buildable(b) {
		// Used as the engine has it: a stored run replayed where its build
		// context is not, an image loaded by hand.
		if _, err := cli.ImageInspect(ctx, spec.Tag); err != nil {
			if !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("inspect image %s: %w", spec.Tag, err)
			}
			if b != nil && !filepath.IsAbs(b.Context) {
				return fmt.Errorf("%w: image %s%s is not in the Docker engine, and its build context %q cannot be found: run from faultline's source tree or set FAULTLINE_SRC", ErrImage, spec.Tag, owner, b.Context)
			}
			if b != nil {
				return fmt.Errorf("%w: image %s%s is not in the Docker engine, and its build context %s is not a folder on this machine: give the folder, or load the image (docker load)", ErrImage, spec.Tag, owner, b.Context)
			}
			return fmt.Errorf("%w: image %s%s is not in the Docker engine and nothing says how to build it: add build: {context: ...} to the system, or build or load it first (docker build, docker load; no registry is used)", ErrImage, spec.Tag, owner)
		}
		return nil
	}
	hash, err := inputsHash(b)
	if err != nil {
		return fmt.Errorf("%w: %s%s: %w", ErrImage, spec.Tag, owner, err)
	}
	if img, err := cli.ImageInspect(ctx, spec.Tag); err == nil && img.Config != nil && img.Config.Labels[labelInputs] == hash {
		return nil
	}
	fmt.Fprintf(log, "building image %s%s from %s\n", spec.Tag, owner, b.Context)
	if err := buildImage(ctx, cli, spec.Tag, b, hash, log); err != nil {
		return fmt.Errorf("%w: build %s%s: %w", ErrImage, spec.Tag, owner, err)
	}
	return nil
}

// inputsHash covers the context's files (names, modes, contents), the
// Dockerfile's name, the build arguments, the prepare step and the extra
// inputs (tests left out). The Go toolchain is not part of it: a new Go
// does not make an image stale, and a run needs no go command when the
// images are built.
func inputsHash(b *BuildSpec) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "faultline image %d\n", imageFormat)
	files, err := contextFiles(b.Context)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if err := hashFile(h, b.Context, f); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(h, "dockerfile %s\n", b.Dockerfile)
	for _, k := range slices.Sorted(maps.Keys(b.Args)) {
		fmt.Fprintf(h, "arg %s=%s\n", k, b.Args[k])
	}
	fmt.Fprintf(h, "prepare %s\n", b.PrepareKey)
	for _, g := range b.Inputs {
		names, err := filepath.Glob(g)
		if err != nil {
			return "", err
		}
		if len(names) == 0 {
			return "", fmt.Errorf("no file matches build input %s", g)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			if err := hashFile(h, "", name); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashFile(h io.Writer, root, name string) (err error) {
	path := name
	if root != "" {
		path = filepath.Join(root, name)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "%s %v %d\n", name, fi.Mode(), fi.Size())
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "-> %s\n", target)
	case fi.Mode().IsRegular():
		f, oerr := os.Open(path)
		if oerr != nil {
			return oerr
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		if _, cerr := io.Copy(h, f); cerr != nil {
			return cerr
		}
	}
	return nil
}

// contextFiles lists a context folder's entries, relative and sorted,
// without version-control folders.
func contextFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".hg") {
			return filepath.SkipDir
		}
		if path == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

func buildImage(ctx context.Context, cli *client.Client, tag string, b *BuildSpec, hash string, log io.Writer) (err error) {
	var out string
	if b.Prepare != nil {
		tmp, terr := os.MkdirTemp("", "faultline-build-")
		if terr != nil {
			return terr
		}
		defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
		out = tmp
		if perr := b.Prepare(ctx, out, log); perr != nil {
			return perr
		}
	}
	body := contextTar(b.Context, out)
	defer func() { err = errors.Join(err, body.Close()) }() // ends the packing goroutine whatever the engine read
	args := map[string]*string{}
	for k, v := range b.Args {
		args[k] = &v
	}
	resp, err := cli.ImageBuild(ctx, body, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  b.Dockerfile,
		BuildArgs:   args,
		Labels:      map[string]string{labelInputs: hash}, // not LabelFaultline: containers inherit image labels, and a container of somebody else from this image is not faultline's
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	var tail tailBuffer
	w := io.MultiWriter(log, &tail)
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, w, 0, false, nil); err != nil {
		return fmt.Errorf("docker build failed: %w; its last output: %s", err, LastLines(tail.String(), 12))
	}
	return nil
}

// contextTar streams the context folder and, over it, the prepare step's
// output folder (when set) as a build context.
func contextTar(dir, extra string) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		seen := map[string]bool{}
		// The prepare step's output first, so it wins over a context file
		// of the same name.
		err := addTree(tw, extra, seen)
		if err == nil {
			err = addTree(tw, dir, seen)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func addTree(tw *tar.Writer, root string, seen map[string]bool) error {
	if root == "" {
		return nil
	}
	files, err := contextFiles(root)
	if err != nil {
		return err
	}
	for _, rel := range files {
		name := filepath.ToSlash(rel)
		if seen[name] {
			continue
		}
		seen[name] = true
		path := filepath.Join(root, rel)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = name
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			if err := errors.Join(err, f.Close()); err != nil {
				return err
			}
		}
	}
	return nil
}

// tailBuffer keeps the last 64 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 64<<10 {
		t.b = t.b[len(t.b)-64<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// LastLines joins the last n non-empty lines of s with " / ".
func LastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
