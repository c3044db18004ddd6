package systems

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/faultline/faultline/internal/regfile"
	"github.com/faultline/faultline/internal/yamlpos"
)

// The built-in systems, each a system file in a folder of its own beside
// this package, with its image's build context. This list is the only
// place that knows a system by name.
var builtinNames = []string{"etcd", "refkv"}

//go:embed etcd/system.yaml refkv/system.yaml
var builtinFiles embed.FS

// MaxFileSize bounds a system file.
const MaxFileSize = 1 << 20

// BuiltinNames lists the built-in systems.
func BuiltinNames() []string { return slices.Clone(builtinNames) }

// IsBuiltin reports whether name is a built-in system.
func IsBuiltin(name string) bool { return slices.Contains(builtinNames, name) }

// Builtin returns a built-in system's definition. Its relative paths
// (the image's build context) are resolved against its folder in
// faultline's source tree when that is found (SourceRoot); without it the
// definition still validates, and its image must already be in the engine.
func Builtin(name string) (*Definition, error) {
	if !IsBuiltin(name) {
		return nil, fmt.Errorf("%w: unknown system %q; built in: %s, or a system file such as ./systems/mydb.yaml", ErrInvalid, name, strings.Join(builtinNames, ", "))
	}
	rel := name + "/system.yaml"
	src, err := builtinFiles.ReadFile(rel)
	if err != nil {
		return nil, err
	}
	path := filepath.Join("systems", rel)
	base := ""
	if root, err := SourceRoot(); err == nil {
		path = filepath.Join(root, "systems", rel)
		base = filepath.Dir(path)
	}
	d, err := parse(path, src, base)
	if err != nil {
		return nil, fmt.Errorf("built-in system %s: %w", name, err)
	}
	d.Source = "built-in " + filepath.Join("systems", rel)
	return d, nil
}

// Load reads and validates a system file.
func Load(path string) (*Definition, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read system file: %w", ErrInvalid, err)
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, fmt.Errorf("%w: read system file: %w", ErrInvalid, err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrInvalid, path, MaxFileSize)
	}
	d, err := parse(path, src, filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	d.Source = path
	return d, nil
}

// parse decodes, validates and resolves a system file whose relative paths
// are relative to base ("" leaves them as written).
func parse(path string, src []byte, base string) (*Definition, error) {
	var d Definition
	if err := yamlpos.Decode(ErrInvalid, path, src, &d); err != nil {
		return nil, err
	}
	if d.Name == "" {
		d.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		if d.Name == "system" {
			d.Name = filepath.Base(filepath.Dir(path))
		}
	}
	loc := yamlpos.NewLocator(ErrInvalid, path, src)
	d.loc = loc
	if err := d.Validate(loc); err != nil {
		return nil, err
	}
	if base != "" {
		if err := d.Resolve(loc, OriginOf(filepath.Join(base, filepath.Base(path)), "")); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// Resolve makes the definition's paths absolute as o takes them (from
// the folder of the file that holds it): build contexts, inputs and
// prepare folders, the client program's files. They must keep to the path
// rule (paths.go).
func (d *Definition) Resolve(loc *yamlpos.Locator, o Origin) error {
	if err := resolveService(loc, "", &d.Service, o); err != nil {
		return err
	}
	for i := range d.Nodes {
		if err := resolveService(loc, "services."+d.Nodes[i].Name+".", &d.Nodes[i].Service, o); err != nil {
			return err
		}
	}
	if c := d.Client; c != nil {
		return c.Resolve(loc, "client.", o)
	}
	return nil
}

// Resolve makes the client's paths absolute as o takes them (prefix
// locates the client in its file): the files its command names, its
// image's build.
func (c *Client) Resolve(loc *yamlpos.Locator, prefix string, o Origin) error {
	if len(c.Command) > 0 {
		if err := o.CheckCommand(c.Command); err != nil {
			return loc.Errorf(prefix+"command", "%w", err)
		}
		c.Command = ResolveCommand(c.Command, o.Dir)
	}
	return resolveBuild(loc, prefix, c.Build, o)
}

func resolveService(loc *yamlpos.Locator, prefix string, s *Service, o Origin) error {
	return resolveBuild(loc, prefix, s.Build, o)
}

// resolveBuild makes a build's paths absolute as o takes them: its
// context, inputs and prepare folder and command.
func resolveBuild(loc *yamlpos.Locator, prefix string, b *Build, o Origin) error {
	if b == nil {
		return nil
	}
	if err := o.Check(b.Context); err != nil {
		return loc.Errorf(prefix+"build.context", "%w", err)
	}
	// Whether the folder is here is the run's to judge (the image may be
	// in the engine already: a stored run replayed elsewhere).
	b.Context = o.Abs(b.Context)
	for i, g := range b.Inputs {
		if err := o.Check(g); err != nil {
			return loc.Errorf(fmt.Sprintf("%sbuild.inputs[%d]", prefix, i), "%w", err)
		}
		b.Inputs[i] = o.Abs(g)
	}
	if p := b.Prepare; p != nil {
		if p.Dir != "" {
			if err := o.Check(p.Dir); err != nil {
				return loc.Errorf(prefix+"build.prepare.dir", "%w", err)
			}
			p.Dir = o.Abs(p.Dir)
		}
		dir := p.Dir
		if dir == "" {
			dir = b.Context
		}
		p.Command = ResolveCommand(p.Command, dir)
	}
	return nil
}

// SourceRoot finds faultline's source tree, which holds the built-in
// systems' build contexts: $FAULTLINE_SRC if set, else the nearest parent
// of the working directory that has systems/etcd/system.yaml, else the
// tree this binary was built from.
func SourceRoot() (string, error) {
	marker := filepath.Join("systems", "etcd", "system.yaml")
	if dir := os.Getenv("FAULTLINE_SRC"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return "", fmt.Errorf("FAULTLINE_SRC=%s does not hold %s: %w", dir, marker, err)
		}
		return dir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Dir(filepath.Dir(file))
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("faultline's source tree (with systems/etcd) not found: run from the faultline checkout or set FAULTLINE_SRC")
}
