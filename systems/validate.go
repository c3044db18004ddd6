package systems

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/faultline/faultline/internal/yamlpos"
	"github.com/faultline/faultline/workloads/clients"
)

// Limits on what a definition may hold.
const (
	MaxList    = 64 // arguments, variables, ports, log files, params
	MaxString  = 4096
	MaxTimeout = time.Hour
)

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	identRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
)

// ReadModes are the read modes a workload may ask a system for.
var ReadModes = []string{"linearizable", "serializable"}

// Validate checks what the definition says on its own, and lists every
// problem it finds (a *yamlpos.Problems, in file order), each naming the
// field through loc (file:line:col: field: what is wrong). What depends on a
// scenario (cluster size, params set, faults asked for) is checked by
// CheckCluster and by the scenario's own validation.
func (d *Definition) Validate(loc *yamlpos.Locator) error {
	var ps yamlpos.Problems
	if !nameRE.MatchString(d.Name) {
		ps.Add(loc.Errorf("name", "%q must be letters, digits, '.', '_' or '-'", d.Name))
	}
	if len(d.Description) > MaxString {
		ps.Add(loc.Errorf("description", "longer than %d bytes", MaxString))
	}
	if len(d.Nodes) == 0 {
		ps.Add(validateService(loc, "", d.Service))
	}
	for _, n := range d.Nodes {
		ps.Add(validateService(loc, "services."+n.Name+".", n.Service))
	}
	if d.Data != "" && !path.IsAbs(d.Data) {
		ps.Add(loc.Errorf("data", "%q must be an absolute path in the node, such as /data", d.Data))
	}
	if len(d.Ports.Client)+len(d.Ports.Peer) > MaxList {
		ps.Add(loc.Errorf("ports", "more than %d ports", MaxList))
	}
	if len(d.Endpoint) > MaxString {
		ps.Add(loc.Errorf("endpoint", "longer than %d bytes", MaxString))
	}
	ps.Add(d.validateReady(loc))
	ps.Add(d.validateLeader(loc))
	if len(d.Logs) > MaxList {
		ps.Add(loc.Errorf("logs", "more than %d files", MaxList))
	}
	for i, l := range d.Logs {
		if !path.IsAbs(l) || strings.Contains(l, "\x00") {
			ps.Add(loc.Errorf(fmt.Sprintf("logs[%d]", i), "%q must be an absolute path in the node", l))
		}
	}
	if len(d.Params) > MaxList {
		ps.Add(loc.Errorf("params", "more than %d params", MaxList))
	}
	for _, k := range d.ParamNames() {
		p := d.Params[k]
		if !identRE.MatchString(k) {
			ps.Add(loc.Errorf("params", "%q is not a param name (letters, digits, _; templates read it as {{.Params.%s}})", k, k))
		}
		if len(p.Values) > 0 && !slices.Contains(p.Values, p.Default) {
			ps.Add(loc.Errorf("params."+k+".default", "%q is not one of its values (%s)", p.Default, strings.Join(p.Values, ", ")))
		}
	}
	if r := d.Supports.Nodes; r != nil && (r.Min < 1 || r.Max < r.Min || r.Max > MaxNodes) {
		ps.Add(loc.Errorf("supports.nodes", "min %d, max %d: want 1 <= min <= max <= %d", r.Min, r.Max, MaxNodes))
	}
	for i, m := range d.Supports.Reads {
		if !slices.Contains(ReadModes, m) {
			ps.Add(loc.Errorf(fmt.Sprintf("supports.reads[%d]", i), "%q is not a read mode (%s)", m, strings.Join(ReadModes, ", ")))
		}
	}
	if c := d.Client; c != nil {
		ps.Add(ValidateClient(loc.Under("client"), c))
	}
	return ps.Err()
}

func validateService(loc *yamlpos.Locator, prefix string, s Service) error {
	if s.Image == "" {
		return loc.Errorf(prefix+"image", "is required: the image every node runs (with build:, the tag faultline builds)")
	}
	if err := checkImageRef(s.Image); err != nil {
		return loc.Errorf(prefix+"image", "%w", err)
	}
	if err := validateBuild(loc, prefix, s.Build); err != nil {
		return err
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"command", s.Command}, {"entrypoint", s.Entrypoint}} {
		if err := checkList(loc, prefix+l.field, l.list); err != nil {
			return err
		}
	}
	if err := checkEnv(loc, prefix+"env", s.Env); err != nil {
		return err
	}
	for _, f := range []struct{ field, v string }{{"workdir", s.Workdir}, {"user", s.User}} {
		if len(f.v) > MaxString || strings.ContainsRune(f.v, 0) {
			return loc.Errorf(prefix+f.field, "longer than %d bytes or holds a NUL byte", MaxString)
		}
	}
	return nil
}

// checkImageRef accepts what the Engine accepts as a reference (a
// registry host with a port, a tag, a digest).
func checkImageRef(ref string) error {
	if len(ref) > 256 {
		return fmt.Errorf("%q is longer than 256 bytes", ref)
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("%q is not an image reference such as faultline/etcd:v3.6.16 or host:5000/mydb:1.0 (%w)", ref, err)
	}
	return nil
}

// CheckImageRef is checkImageRef for callers outside the package (a
// scenario's cluster.image).
func CheckImageRef(ref string) error { return checkImageRef(ref) }

func checkList(loc *yamlpos.Locator, field string, list []string) error {
	if len(list) > MaxList {
		return loc.Errorf(field, "more than %d arguments", MaxList)
	}
	for i, a := range list {
		if len(a) > MaxString || strings.ContainsRune(a, 0) {
			return loc.Errorf(fmt.Sprintf("%s[%d]", field, i), "longer than %d bytes or holds a NUL byte", MaxString)
		}
	}
	return nil
}

func checkEnv(loc *yamlpos.Locator, field string, env map[string]string) error {
	if len(env) > MaxList {
		return loc.Errorf(field, "more than %d variables", MaxList)
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		switch v := env[k]; {
		case !envNameRE.MatchString(k):
			return loc.Errorf(field, "%q is not an environment variable name (letters, digits, _)", k)
		case len(v) > MaxString || strings.ContainsRune(v, 0):
			return loc.Errorf(field+"."+k, "the value is longer than %d bytes or holds a NUL byte", MaxString)
		}
	}
	return nil
}

func checkPort(loc *yamlpos.Locator, field string, p int) error {
	if p < 1 || p > 65535 {
		return loc.Errorf(field, "port %d is not between 1 and 65535", p)
	}
	return nil
}

func (d *Definition) validateReady(loc *yamlpos.Locator) error {
	r := d.Ready
	if r == nil {
		return nil
	}
	n := 0
	for _, set := range []bool{r.HTTP != nil, r.TCP != nil, len(r.Command) > 0, r.Client} {
		if set {
			n++
		}
	}
	if n != 1 {
		return loc.Errorf("ready", "give exactly one of http, tcp, command or client: true (got %d)", n)
	}
	if r.Timeout < 0 || r.Timeout > MaxTimeout {
		return loc.Errorf("ready.timeout", "%v is not between 0 and %v", r.Timeout, MaxTimeout)
	}
	switch {
	case r.HTTP != nil:
		if err := checkPort(loc, "ready.http.port", r.HTTP.Port); err != nil {
			return err
		}
		if r.HTTP.Path != "" && !strings.HasPrefix(r.HTTP.Path, "/") {
			return loc.Errorf("ready.http.path", "%q must start with /", r.HTTP.Path)
		}
		if r.HTTP.Status != 0 && (r.HTTP.Status < 100 || r.HTTP.Status > 599) {
			return loc.Errorf("ready.http.status", "%d is not an HTTP status", r.HTTP.Status)
		}
	case r.TCP != nil:
		return checkPort(loc, "ready.tcp.port", r.TCP.Port)
	case len(r.Command) > 0:
		return checkList(loc, "ready.command", r.Command)
	}
	return nil
}

func (d *Definition) validateLeader(loc *yamlpos.Locator) error {
	l := d.Leader
	if l == nil {
		return nil
	}
	n := 0
	for _, set := range []bool{l.HTTP != nil, len(l.Command) > 0, l.Client} {
		if set {
			n++
		}
	}
	if n != 1 {
		return loc.Errorf("leader", "give exactly one of http, command or client: true (got %d)", n)
	}
	if l.Timeout < 0 || l.Timeout > MaxTimeout {
		return loc.Errorf("leader.timeout", "%v is not between 0 and %v", l.Timeout, MaxTimeout)
	}
	if h := l.HTTP; h != nil {
		if err := checkPort(loc, "leader.http.port", h.Port); err != nil {
			return err
		}
		if !strings.HasPrefix(h.Path, "/") {
			return loc.Errorf("leader.http.path", "%q must start with /", h.Path)
		}
		if h.Field == "" {
			return loc.Errorf("leader.http.field", "names the JSON field that holds the leader, for example leader or status.leader")
		}
	}
	if len(l.Command) > 0 {
		return checkList(loc, "leader.command", l.Command)
	}
	return nil
}

// validateBuild checks a build: section (a system's, a service's, a
// client's); prefix locates it.
func validateBuild(loc *yamlpos.Locator, prefix string, b *Build) error {
	if b == nil {
		return nil
	}
	if b.Context == "" {
		return loc.Errorf(prefix+"build.context", "is required: the folder holding the Dockerfile")
	}
	if b.Dockerfile != "" && (filepath.IsAbs(b.Dockerfile) || strings.HasPrefix(filepath.Clean(b.Dockerfile), "..")) {
		return loc.Errorf(prefix+"build.dockerfile", "%q must be a path inside the context", b.Dockerfile)
	}
	if err := checkEnv(loc, prefix+"build.args", b.Args); err != nil {
		return err
	}
	if p := b.Prepare; p != nil {
		if len(p.Command) == 0 {
			return loc.Errorf(prefix+"build.prepare.command", "needs the program to run, for example [./make-rootfs.sh]")
		}
		if err := checkList(loc, prefix+"build.prepare.command", p.Command); err != nil {
			return err
		}
		if err := checkEnv(loc, prefix+"build.prepare.env", p.Env); err != nil {
			return err
		}
	}
	if len(b.Inputs) > MaxList {
		return loc.Errorf(prefix+"build.inputs", "more than %d globs", MaxList)
	}
	for i, g := range b.Inputs {
		if _, err := filepath.Match(g, ""); err != nil {
			return loc.Errorf(fmt.Sprintf("%sbuild.inputs[%d]", prefix, i), "%q is not a glob: %w", g, err)
		}
	}
	return nil
}

// ValidateClient checks a client: exactly one of a built-in adapter or a
// program.
func ValidateClient(loc *yamlpos.Locator, c *Client) error {
	switch {
	case c.Builtin != "" && !slices.Contains(clients.BuiltinNames(), c.Builtin):
		return loc.Errorf("builtin", "no built-in client %q; built in: %s (or give a client program: command)", c.Builtin, strings.Join(clients.BuiltinNames(), ", "))
	case c.Builtin != "" && len(c.Command) > 0:
		return loc.Errorf("", "give builtin or command, not both")
	case c.Builtin == "" && len(c.Command) == 0:
		return loc.Errorf("command", "needs the program to run, for example [python3, client.py] (or builtin: NAME)")
	case c.Builtin != "" && len(c.Env) > 0:
		return loc.Errorf("env", "applies to a client program, not to builtin %s", c.Builtin)
	case c.Builtin != "" && (c.Image != "" || c.Build != nil):
		return loc.Errorf("image", "applies to a client program: builtin %s runs in faultline's own image", c.Builtin)
	case c.Build != nil && c.Image == "":
		return loc.Errorf("build", "needs image: beside it, the tag faultline builds the client's image as")
	}
	if c.Image != "" {
		if err := checkImageRef(c.Image); err != nil {
			return loc.Errorf("image", "%w", err)
		}
	}
	if err := validateBuild(loc, "", c.Build); err != nil {
		return err
	}
	if err := checkList(loc, "command", c.Command); err != nil {
		return err
	}
	return checkEnv(loc, "env", c.Env)
}

// CheckCluster checks the definition against a cluster of n nodes with
// params set: the size is supported, every param is known and allowed, and
// every template renders (an unknown variable is found here, naming the
// field in the definition's own file). paramLoc locates the cluster's
// fields (nodes, params).
func (d *Definition) CheckCluster(paramLoc *yamlpos.Locator, n int, params map[string]string) error {
	loc := d.loc
	if loc == nil {
		loc = yamlpos.NewLocator(ErrInvalid, d.Source, nil)
	}
	if len(d.Nodes) == 0 {
		if r := d.Supports.NodeRange(); n < r.Min || n > r.Max {
			return paramLoc.Errorf("nodes", "system %s runs with %d to %d nodes, not %d", d.Name, r.Min, r.Max, n)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		p, ok := d.Params[k]
		if !ok {
			known := "it has none"
			if len(d.Params) > 0 {
				known = "known: " + strings.Join(d.ParamNames(), ", ")
			}
			return paramLoc.Errorf("params."+k, "system %s has no param %q; %s", d.Name, k, known)
		}
		if len(p.Values) > 0 && !slices.Contains(p.Values, params[k]) {
			return paramLoc.Errorf("params."+k, "unknown %s %q for system %s; known: %s", k, params[k], d.Name, strings.Join(p.Values, ", "))
		}
	}
	names := d.NodeNames(n)
	addrs := make([]string, len(names))
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 213, 0, byte(11 + i)}).String()
	}
	if _, err := d.Render(Cluster{Names: names, Addrs: addrs, RunID: "validate", Params: params}); err != nil {
		var te *templateError
		if errors.As(err, &te) {
			return loc.Errorf(te.Field, "%w", te.Err)
		}
		return loc.Errorf("", "%w", err)
	}
	return nil
}

// ResolveCommand makes the arguments of a command that name a file beside
// base absolute, so the file that holds them runs from any folder and a
// copy stored with a run still finds them.
func ResolveCommand(cmd []string, base string) []string {
	out := slices.Clone(cmd)
	for i, arg := range out {
		if filepath.IsAbs(arg) || strings.HasPrefix(arg, "-") || strings.Contains(arg, "{{") {
			continue
		}
		p := filepath.Join(base, arg)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			if abs, err := filepath.Abs(p); err == nil {
				out[i] = abs
			}
		}
	}
	return out
}
