package scenarios

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/faultline/faultline/internal/regfile"
	"github.com/faultline/faultline/internal/yamlpos"
	"github.com/faultline/faultline/systems"
	"github.com/faultline/faultline/workloads"
)

// Load reads, strictly parses, defaults and validates a scenario file.
func Load(path string) (*Scenario, error) {
	src, err := readScenario(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// readScenario reads a scenario file, a regular one of at most
// MaxFileSize bytes (one more is read, for Parse to refuse).
func readScenario(path string) ([]byte, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return src, nil
}

// LoadChecks reads what checking a history needs of a scenario (its
// workload and checker sections, what it expects), leaving its system
// aside: a stored run checks on any machine, from any folder, whether or
// not the system's files, images and client programs are there.
func LoadChecks(path string) (*Scenario, error) {
	src, err := readScenario(path)
	if err != nil {
		return nil, err
	}
	s, err := decode(path, src)
	if err != nil {
		return nil, err
	}
	s.Cluster.Def = &systems.Definition{Name: "stored", Source: path}
	loc := yamlpos.NewLocator(ErrInvalid, path, src)
	var ps yamlpos.Problems
	s.explicitZeros(loc, &ps)
	s.defaults(loc)
	s.validateChecks(loc, &ps, true)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// decode parses a scenario's bytes strictly, at most MaxFileSize of them.
func decode(path string, src []byte) (*Scenario, error) {
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes; a scenario is a page of YAML", ErrInvalid, path, MaxFileSize)
	}
	var s Scenario
	if err := yamlpos.Decode(ErrInvalid, path, src, &s); err != nil {
		return nil, err
	}
	s.Path = path
	return &s, nil
}

// Parse is Load on bytes already read; path names the source in errors
// and is where a system file, a compose file or a client program named
// relative to the scenario is looked for.
func Parse(path string, src []byte) (*Scenario, error) {
	s, err := decode(path, src)
	if err != nil {
		return nil, err
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	loc := yamlpos.NewLocator(ErrInvalid, path, src)
	if s.Project != "" && !filepath.IsAbs(s.Project) {
		return nil, loc.Errorf("project", "%q must be an absolute folder (faultline writes it into a run's stored copies)", s.Project)
	}
	s.Project = s.origin().Project
	if err := s.resolveSystem(loc); err != nil {
		return nil, err // nothing else can be judged without the system
	}
	var ps yamlpos.Problems
	s.explicitZeros(loc, &ps)
	s.defaults(loc)
	s.validate(loc, &ps)
	if c := s.Workload.Client; c != nil && ps.Len() == 0 {
		ps.Add(c.Resolve(loc, "workload.client.", s.origin()))
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	s.Warnings = ps.Warnings()
	return s, nil
}

// explicitZeros refuses a zero written out where zero means nothing: a
// default replacing it without a word would run something else than the
// file says. (rate: 0 is defined: no cap.)
func (s *Scenario) explicitZeros(loc *yamlpos.Locator, ps *yamlpos.Problems) {
	for _, f := range []struct {
		field string
		zero  bool
		what  string
	}{
		{"cluster.nodes", s.Cluster.Nodes == 0, "leave it out for the system's default"},
		{"workload.keys", s.Workload.Keys == 0, "at least 1 (default 4)"},
		{"workload.clients", s.Workload.Clients == 0, "at least 1 (default 10)"},
		{"workload.op_timeout", s.Workload.OpTimeout == 0, "a duration such as 1s (the default)"},
		{"workload.mix", s.Workload.Mix == (Mix{}), "give at least one operation a weight, or leave mix out for read 50, write 25, cas 25"},
		{"checker.budget", s.Checker.Budget == 0, "a duration such as 60s (the default)"},
		{"checker.converge_within", s.Checker.ConvergeWithin == 0, "a duration such as 10s (the default)"},
		{"cluster.ready_timeout", s.Cluster.ReadyTimeout == 0, "a duration such as 60s, or leave it out for the system's"},
	} {
		if f.zero && loc.Has(f.field) {
			ps.Add(loc.Errorf(f.field, "is 0, which means nothing here: %s", f.what))
		}
	}
}

func (s *Scenario) defaults(loc *yamlpos.Locator) {
	d := s.Cluster.Def
	if s.Cluster.Nodes == 0 && s.Cluster.Attach == nil {
		switch r := d.Supports.NodeRange(); {
		case len(d.Nodes) > 0:
			s.Cluster.Nodes = len(d.Nodes)
		case r.Min > 3:
			s.Cluster.Nodes = r.Min
		case r.Max < 3:
			s.Cluster.Nodes = r.Max
		default:
			s.Cluster.Nodes = 3
		}
	}
	if s.Cluster.ReadyTimeout == 0 {
		s.Cluster.ReadyTimeout = 60 * time.Second
		if d.Ready != nil && d.Ready.Timeout > 0 {
			s.Cluster.ReadyTimeout = d.Ready.Timeout
		}
	}
	w := &s.Workload
	if w.Kind == "" {
		w.Kind = "register"
	}
	if w.Keys == 0 {
		w.Keys = 4
	}
	if w.Clients == 0 {
		w.Clients = 10
	}
	if w.Rate == 0 && !loc.Has("workload.rate") {
		w.Rate = 200 // rate: 0, written out, is no cap
	}
	if k, err := workloads.Lookup(w.Kind); err == nil && k.Mix && w.Mix == (Mix{}) {
		w.Mix = Mix{Read: 50, Write: 25, CAS: 25}
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = time.Second
	}
	if w.Reads == "" {
		w.Reads = "linearizable"
	}
	if s.Checker.ConvergeWithin == 0 {
		s.Checker.ConvergeWithin = 10 * time.Second
	}
	if s.Checker.Budget == 0 {
		s.Checker.Budget = 60 * time.Second
	}
}

// Marshal writes the scenario as run, with defaults and seed filled in.
// A system from a file is written inline, with its paths resolved, so the
// run can be repeated from its store folder even when the file changes.
func (s *Scenario) Marshal() ([]byte, error) {
	out := *s
	if out.Cluster.System.IsFile() && out.Cluster.Def != nil && out.Cluster.Compose == "" {
		out.Cluster.System = SystemRef{Inline: out.Cluster.Def}
	}
	return yaml.MarshalWithOptions(&out, yaml.IndentSequence(true))
}
