package systems

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/faultline/faultline/internal/regfile"
	"github.com/faultline/faultline/internal/yamlpos"
)

// ComposeExtension is the top-level key of a docker-compose file under
// which faultline's own settings live: what a system file says besides
// the services (ports by role, readiness, leader, logs, client, what the
// system supports), and which services are the nodes.
const ComposeExtension = "x-faultline"

// composeExt is the x-faultline section.
type composeExt struct {
	Definition `yaml:",inline"`
	// Services are the services that are the nodes (default: every one).
	Services []string `yaml:"services,omitempty"`
}

// LoadCompose reads a docker-compose file with the Compose
// specification's own loader and turns the services that are the nodes
// (services, else x-faultline.services, else every service) into a
// definition whose Nodes faultline starts itself, on its own network and
// with its own labels. What faultline does with each compose key is in
// docs/systems.md; a key it cannot honour (host networking, privileged,
// devices, ...) is an error naming the service and the key.
func LoadCompose(path string, services []string) (*Definition, error) {
	src, err := regfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read compose file: %w", ErrInvalid, err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrInvalid, path, MaxFileSize)
	}
	if err := yamlpos.CheckShape(ErrInvalid, path, src); err != nil {
		return nil, err
	}
	ext, err := composeExtension(path, src)
	if err != nil {
		return nil, err
	}
	d := &ext.Definition
	loc := yamlpos.NewLocator(ErrInvalid, path, src).Under(ComposeExtension)
	for _, f := range []struct {
		name string
		set  bool
	}{{"image", d.Image != ""}, {"build", d.Build != nil}, {"command", d.Command != nil}, {"entrypoint", d.Entrypoint != nil}, {"env", d.Env != nil}, {"workdir", d.Workdir != ""}, {"user", d.User != ""}, {"params", d.Params != nil}} {
		if f.set {
			return nil, loc.Errorf(f.name, "belongs to the services: in a compose file, each service says what it runs")
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{abs}, cli.WithWorkingDirectory(filepath.Dir(abs)), cli.WithOsEnv, cli.WithDotEnv, cli.WithResolvedPaths(true))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	if len(services) == 0 {
		services = ext.Services
	}
	if len(services) == 0 {
		services = project.ServiceNames()
	}
	for _, s := range services {
		if _, ok := project.Services[s]; !ok {
			return nil, fmt.Errorf("%w: %s: no service %q; its services: %s", ErrInvalid, path, s, strings.Join(sortedNames(project.ServiceNames()), ", "))
		}
	}
	order, err := dependencyOrder(project, services)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	if d.Name == "" {
		d.Name = project.Name
	}
	d.Source = path
	for _, name := range order {
		nodes, notes, err := composeNodes(project, project.Services[name])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: service %s: %w", ErrInvalid, path, name, err)
		}
		d.Nodes = append(d.Nodes, nodes...)
		d.Notes = append(d.Notes, notes...)
	}
	if len(d.Nodes) > MaxNodes {
		return nil, fmt.Errorf("%w: %s: %d nodes; faultline starts at most %d", ErrInvalid, path, len(d.Nodes), MaxNodes)
	}
	d.loc = loc
	if err := d.Validate(loc); err != nil {
		return nil, err
	}
	if c := d.Client; c != nil {
		if err := c.Resolve(loc, "client.", OriginOf(path, "")); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// composeExtension decodes the x-faultline section strictly, with the
// compose file's own line numbers: every line outside the section is
// blanked before decoding. The section is read as written (no ${...}
// interpolation).
func composeExtension(path string, src []byte) (*composeExt, error) {
	lines := strings.Split(string(src), "\n")
	in := false
	for i, l := range lines {
		if topKeyRE.MatchString(l) {
			key, _, _ := strings.Cut(l, ":")
			in = strings.Trim(strings.TrimSpace(key), `"'`) == ComposeExtension
		}
		if !in {
			lines[i] = ""
		}
	}
	var doc struct {
		Ext *composeExt `yaml:"x-faultline"`
	}
	only := strings.Join(lines, "\n")
	if strings.TrimSpace(only) == "" {
		return &composeExt{}, nil
	}
	if err := yamlpos.Decode(ErrInvalid, path, []byte(only), &doc); err != nil {
		return nil, err
	}
	if doc.Ext == nil {
		return &composeExt{}, nil
	}
	return doc.Ext, nil
}

var topKeyRE = regexp.MustCompile(`^[^\s#-][^:]*:`)

func sortedNames(names []string) []string {
	out := slices.Clone(names)
	sort.Strings(out)
	return out
}

// dependencyOrder sorts the node services so that each comes after the
// services it depends on (among the nodes), ties by name.
func dependencyOrder(p *types.Project, services []string) ([]string, error) {
	set := map[string]bool{}
	for _, s := range services {
		set[s] = true
	}
	var out []string
	done := map[string]bool{}
	visiting := map[string]bool{}
	var visit func(string) error
	visit = func(s string) error {
		if done[s] {
			return nil
		}
		if visiting[s] {
			return fmt.Errorf("service %s depends on itself through depends_on", s)
		}
		visiting[s] = true
		var deps []string
		for dep := range p.Services[s].DependsOn {
			deps = append(deps, dep)
		}
		sort.Strings(deps)
		for _, dep := range deps {
			if !set[dep] {
				return fmt.Errorf("service %s depends on %s, which is not one of the nodes; name it among the services, or drop the dependency", s, dep)
			}
			if err := visit(dep); err != nil {
				return err
			}
		}
		visiting[s] = false
		done[s] = true
		out = append(out, s)
		return nil
	}
	for _, s := range sortedNames(services) {
		if err := visit(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// honoured are the compose service keys faultline maps (docs/systems.md);
// any other key set is refused, naming it.
var honoured = map[string]string{
	"image": "", "build": "", "command": "", "entrypoint": "", "environment": "", "env_file": "",
	"working_dir": "", "user": "", "hostname": "", "domainname": "", "volumes": "", "tmpfs": "",
	"networks": "", "depends_on": "", "healthcheck": "", "labels": "", "profiles": "",
	"stop_signal": "", "stop_grace_period": "", "init": "", "read_only": "", "extra_hosts": "",
	"scale": "", "expose": "",
	// Mapped, with a note at the start of the run.
	"ports":          "host port publishing dropped: clients reach each node on its address",
	"restart":        "restart policy forced to no: a restart policy would undo a kill",
	"container_name": "container name replaced by faultline's own; the service name stays a DNS alias",
	"pull_policy":    "pull policy ignored: no registry is used",
	"mem_limit":      "memory limit ignored", "cpus": "CPU limit ignored", "mem_reservation": "memory reservation ignored",
	"stdin_open": "stdin_open ignored", "tty": "tty ignored", "platform": "platform ignored",
}

// why says what to do instead of a key faultline cannot honour.
var why = map[string]string{
	"network_mode": "faultline puts every node on its own network, in its own namespace, to cut traffic between them",
	"privileged":   "a system under test runs unprivileged; faultline acts on its namespace from outside",
	"cap_add":      "a system under test runs without added capabilities (one with NET_ADMIN could undo faultline's rules)",
	"pid":          "the node must have its own PID namespace",
	"ipc":          "the node must have its own IPC namespace",
	"uts":          "the node must have its own UTS namespace",
	"userns_mode":  "host user namespaces are not honoured",
	"devices":      "devices are not passed to nodes",
	"volumes_from": "name the volumes instead",
	"links":        "service names are DNS aliases on faultline's network already",
	"secrets":      "mount the file with volumes instead",
	"configs":      "mount the file with volumes instead",
	"logging":      "faultline reads each node's log through the engine",
	"sysctls":      "sysctls are not honoured",
	"ulimits":      "ulimits are not honoured",
	"security_opt": "security options are not honoured",
	"post_start":   "lifecycle hooks are not honoured",
	"deploy":       "of deploy, only replicas (and resources, ignored) are honoured",
	"pre_stop":     "lifecycle hooks are not honoured",
}

// composeNodes turns one compose service into its nodes (one per
// replica), with notes on what was mapped.
func composeNodes(p *types.Project, s types.ServiceConfig) ([]NamedService, []string, error) {
	keys, err := setKeys(s)
	if err != nil {
		return nil, nil, err
	}
	var notes []string
	for _, k := range keys {
		note, ok := honoured[k]
		if !ok {
			reason := why[k]
			if reason == "" {
				reason = "faultline does not know what to do with it"
			}
			return nil, nil, fmt.Errorf("%s is not something faultline can honour: %s (docs/systems.md lists the keys it maps)", k, reason)
		}
		if note != "" {
			notes = append(notes, fmt.Sprintf("service %s: %s", s.Name, note))
		}
	}
	if d := s.Deploy; d != nil && (d.Resources.Limits != nil || d.Resources.Reservations != nil) {
		notes = append(notes, fmt.Sprintf("service %s: deploy.resources ignored", s.Name))
	}
	svc, err := composeService(p, s)
	if err != nil {
		return nil, nil, err
	}
	return composeReplicas(s, svc), notes, nil
}

// composeService is what a compose service runs, as faultline starts it.
func composeService(p *types.Project, s types.ServiceConfig) (Service, error) {
	svc := Service{
		Image:      s.Image,
		Command:    []string(s.Command),
		Entrypoint: []string(s.Entrypoint),
		Workdir:    s.WorkingDir,
		User:       s.User,
		Init:       s.Init != nil && *s.Init,
		ReadOnly:   s.ReadOnly,
		StopSignal: s.StopSignal,
		Labels:     map[string]string(s.Labels),
	}
	if len(s.Environment) > 0 {
		svc.Env = map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				svc.Env[k] = *v
			}
		}
	}
	if b := s.Build; b != nil {
		if b.DockerfileInline != "" || b.Target != "" || len(b.AdditionalContexts) > 0 || len(b.Secrets) > 0 || b.SSH != nil {
			return svc, fmt.Errorf("build: faultline builds a context folder and its Dockerfile (with args); dockerfile_inline, target, additional_contexts, secrets and ssh are not honoured")
		}
		svc.Build = &Build{Context: b.Context, Dockerfile: b.Dockerfile}
		if len(b.Args) > 0 {
			svc.Build.Args = map[string]string{}
			for k, v := range b.Args {
				if v != nil {
					svc.Build.Args[k] = *v
				}
			}
		}
		if svc.Image == "" {
			svc.Image = fmt.Sprintf("faultline-compose/%s-%s:latest", p.Name, s.Name)
		}
	}
	if svc.Image == "" {
		return svc, fmt.Errorf("needs an image or a build section")
	}
	if err := composeMounts(&svc, s); err != nil {
		return svc, err
	}
	if h := s.HealthCheck; h != nil && !h.Disable && len(h.Test) > 0 {
		switch h.Test[0] {
		case "CMD":
			svc.Healthcheck = slices.Clone(h.Test[1:])
		case "CMD-SHELL":
			svc.Healthcheck = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
		case "NONE":
		default:
			svc.Healthcheck = slices.Clone(h.Test)
		}
	}
	return svc, nil
}

// composeMounts maps a service's volumes, tmpfs, network aliases, hostname
// and extra hosts.
func composeMounts(svc *Service, s types.ServiceConfig) error {
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			src := v.Source
			if src == "" { // anonymous: one of the run's own per node and path
				src = "anon" + strings.ReplaceAll(v.Target, "/", "-")
			}
			svc.Mounts = append(svc.Mounts, Mount{Type: "volume", Source: src, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeBind:
			svc.Mounts = append(svc.Mounts, Mount{Type: "bind", Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeTmpfs:
			svc.Tmpfs = append(svc.Tmpfs, v.Target)
		default:
			return fmt.Errorf("volumes: type %s is not honoured (volume, bind and tmpfs are)", v.Type)
		}
	}
	svc.Tmpfs = append(svc.Tmpfs, s.Tmpfs...)
	for net, cfg := range s.Networks {
		if cfg == nil {
			continue
		}
		if cfg.Ipv4Address != "" || cfg.Ipv6Address != "" || cfg.MacAddress != "" {
			return fmt.Errorf("networks.%s: fixed addresses are not honoured: faultline gives each node its address on its own network (templates see it as {{.Node.Addr}})", net)
		}
		svc.Aliases = append(svc.Aliases, cfg.Aliases...)
	}
	if s.Hostname != "" {
		svc.Aliases = append(svc.Aliases, s.Hostname)
	}
	for host, ips := range s.ExtraHosts {
		for _, ip := range ips {
			svc.ExtraHosts = append(svc.ExtraHosts, host+":"+ip)
		}
	}
	sort.Strings(svc.ExtraHosts)
	if n := s.GetScale(); n < 1 {
		return fmt.Errorf("scale %d: a node service runs at least once", n)
	}
	return nil
}

// composeReplicas are a service's nodes: one, or one per replica named as
// compose names containers (SERVICE-N), each answering to the service's
// name too.
func composeReplicas(s types.ServiceConfig, svc Service) []NamedService {
	n := s.GetScale()
	var out []NamedService
	for i := 1; i <= n; i++ {
		name := s.Name
		one := svc
		one.Aliases = slices.Clone(svc.Aliases)
		if n > 1 {
			name = fmt.Sprintf("%s-%d", s.Name, i)
			one.Aliases = append(one.Aliases, s.Name) // every replica answers to the service name, as in compose
		}
		out = append(out, NamedService{Name: name, Service: one})
	}
	return out
}

// setKeys lists the compose keys a service sets, from its JSON form.
func setKeys(s types.ServiceConfig) ([]string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if d, ok := m["deploy"].(map[string]any); ok {
		delete(d, "replicas")  // honoured: the nodes
		delete(d, "resources") // ignored, with a note
	}
	var keys []string
	for k, v := range m {
		if !empty(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// empty reports whether a decoded JSON value says nothing: null, false,
// zero, "", or a list or object of nothing but empty values.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, e := range v {
			if !empty(e) {
				return false
			}
		}
		return true
	}
	return false
}
