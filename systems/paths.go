package systems

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The path rule, one for every file faultline reads (a scenario, a system
// file, a compose file), the same from any folder:
//
//   - a relative path is taken from the folder of the file that names it,
//     never from the current folder;
//   - every path a file names (a system or compose file, a build context,
//     inputs, a prepare folder, the files a command names) must lie inside
//     that file's project: the nearest folder above the file that holds
//     .git or go.mod, or the file's own folder when none does; a stored
//     run's scenario.yaml and replay.yaml record the project they were
//     made in (project:), so a copy of the run keeps it;
//   - a program, a command's first word, may be named by an absolute path
//     (/usr/bin/python3) or by a name looked up on PATH; a word starting
//     with "-", or holding a template, is not a path.
//
// The rule keeps a file from reaching, by accident or by a file someone
// sent, into folders its author did not mean (../../etc); it is not a
// sandbox: a build's prepare command runs on this host (docs/safety.md).

// ErrPathRule is the rule broken: errors.Is finds it in the error that
// names the path.
var ErrPathRule = errors.New("a file may name only paths inside its project (docs/safety.md, \"Paths\")")

// Origin is where a file's paths are judged from: the file, the folder a
// relative path is taken from, and the project every path must stay in.
type Origin struct {
	File, Dir, Project string
}

// OriginOf is the origin of a file: its folder, and its project found from
// there (project, when not empty, is the one a stored copy recorded).
func OriginOf(file, project string) Origin {
	dir := filepath.Dir(file)
	if project == "" {
		project = ProjectOf(dir)
	}
	return Origin{File: file, Dir: dir, Project: project}
}

// ProjectOf is the project of a folder: the nearest folder at or above it
// that holds .git or go.mod, else the folder itself.
func ProjectOf(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	for d := dir; ; d = filepath.Dir(d) {
		for _, marker := range []string{".git", "go.mod"} {
			if _, err := os.Stat(filepath.Join(d, marker)); err == nil {
				return d
			}
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// Path is p as o takes it: absolute, relative paths from o.Dir.
func (o Origin) Path(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(o.Dir, p)
	}
	return filepath.Clean(p)
}

// Abs is o.Path made absolute, as a definition stores it.
func (o Origin) Abs(p string) string {
	p = o.Path(p)
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Check refuses a path outside o's project.
func (o Origin) Check(p string) error {
	if inside(o.Project, o.Path(p)) {
		return nil
	}
	return fmt.Errorf("%q is outside %s, the project of %s: %w; move it into the project, or name it from a file that lives beside it", p, o.Project, o.File, ErrPathRule)
}

// CheckCommand refuses a command argument that names a path outside o's
// project; the first word may be a program by absolute path.
func (o Origin) CheckCommand(args []string) error {
	for i, arg := range args {
		if !strings.Contains(arg, "/") || strings.HasPrefix(arg, "-") || strings.Contains(arg, "{{") || i == 0 && filepath.IsAbs(arg) {
			continue
		}
		if err := o.Check(arg); err != nil {
			hint := ""
			if i == 0 {
				hint = " (a program may be named by an absolute path, or by its name on PATH)"
			}
			return fmt.Errorf("[%d] %w%s", i, err, hint)
		}
	}
	return nil
}

// inside says whether p lies in root, symbolic links followed.
func inside(root, p string) bool {
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	} else if r, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		p = filepath.Join(r, filepath.Base(p)) // a glob, or a file not made yet
	}
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
