package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/faultline/faultline/docker"
)

// ErrInputs: the run needs something of this machine that is not here (a
// stored run replayed elsewhere, most often).
var ErrInputs = errors.New("inputs missing on this machine")

// checkInputs lists, before anything is made, every input the run needs
// of this machine and cannot find, each with where it looked: an image
// that is neither in the engine nor buildable here (its build context is
// not a folder on this machine), and a file a client program's command
// names (it is copied or run from there) that is not there. A replay of a
// run made elsewhere learns all it lacks at once.
func (r *run) checkInputs() error {
	var miss []string
	images := false
	if r.sc.Cluster.Attach == nil {
		for _, img := range ImagesOf(r.def, r.sc.Cluster.Image) {
			m, err := r.imageMissing(img)
			if err != nil {
				return err
			}
			if m != "" {
				miss, images = append(miss, m), true
			}
		}
	}
	if c := r.sc.Client(); c != nil && len(c.Command) > 1 {
		where := r.def.Source + ": client"
		if c == r.sc.Workload.Client {
			where = r.sc.Path + ": workload.client"
		}
		for i, arg := range c.Command[1:] {
			if !filepath.IsAbs(arg) {
				continue
			}
			if _, err := os.Stat(arg); errors.Is(err, os.ErrNotExist) {
				miss = append(miss, fmt.Sprintf("file %s (%s.command[%d]): not on this machine; the client program needs it there", arg, where, i+1))
			}
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return &inputsError{miss: miss, images: images}
}

// inputsError lists what a run lacks; it is ErrInputs, and docker.ErrImage
// as well when an image is among them.
type inputsError struct {
	miss   []string
	images bool
}

func (e *inputsError) Error() string {
	return fmt.Sprintf("%v: the run needs %d inputs this machine lacks (nothing was started):\n  %s", ErrInputs, len(e.miss), strings.Join(e.miss, "\n  "))
}

func (e *inputsError) Unwrap() []error {
	if e.images {
		return []error{ErrInputs, docker.ErrImage}
	}
	return []error{ErrInputs}
}

// imageMissing says why an image can be neither found nor built here, ""
// when it can, as docker.EnsureImage will take it: Buildable (faultline
// builds or refreshes it), else the image in the engine.
func (r *run) imageMissing(img docker.ImageSpec) (string, error) {
	if docker.Buildable(img.Build) {
		return "", nil
	}
	b := img.Build
	if _, err := r.engine.cli.ImageInspect(r.ctx, img.Tag); err == nil {
		return "", nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", img.Tag, err)
	}
	why := "nothing says how to build it (build or load it first: docker build, docker load; no registry is used)"
	if b != nil {
		why = fmt.Sprintf("its build context %s is not a folder on this machine", b.Context)
	}
	return fmt.Sprintf("image %s (%s): not in the Docker engine at %s, and %s", img.Tag, img.Owner, r.engine.cli.DaemonHost(), why), nil
}
