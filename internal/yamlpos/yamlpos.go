// Package yamlpos decodes YAML files strictly and says where a field is:
// the one home of "file:line:col: field: what is wrong" for every file
// faultline reads (scenarios, system definitions, compose files).
//
// Bytes enter through Decode, which walks the document against its Go
// type and lists every problem of shape in file order (fields.go), then
// decodes; a Locator turns a field's dotted path
// ("nemesis.faults[0].kind") into its line and column, for errors found
// after decoding; Problems gathers a file's errors and warnings
// (problems.go).
package yamlpos

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Decode parses src strictly into v: a document past the shape limits
// (CheckShape), an unknown field, a duplicate key, a value of the wrong
// type or a second document is an error naming path:line:col, wrapped in
// sentinel. Every such problem the walk over the document finds is
// listed, in file order (a *Problems); YAML merge keys (`<<: *base`) are
// read as YAML defines them. The YAML library can panic on some malformed
// input (a fuzzer found a tag on an empty sequence); that is a bad file,
// not a crash.
func Decode(sentinel error, path string, src []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			cause, ok := r.(error)
			if !ok {
				cause = fmt.Errorf("%v", r) // a panic value that is no error: its text is all it has
			}
			err = fmt.Errorf("%w: %s: not a file the YAML parser can read (%w)", sentinel, path, cause)
		}
	}()
	if err := CheckShape(sentinel, path, src); err != nil {
		return err
	}
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return positionError(sentinel, path, src, err, v)
	}
	if ps := checkDocument(sentinel, path, f, v); ps.Len() > 0 {
		return ps.Err()
	}
	// Duplicates were judged above, where a key written over a merged one
	// is not one; the library would call it one.
	dec := yaml.NewDecoder(strings.NewReader(string(src)), yaml.Strict(), yaml.DisallowUnknownField(),
		yaml.AllowDuplicateMapKey(), yaml.AllowFieldPrefixes(Extension))
	if err := dec.Decode(v); err != nil {
		return positionError(sentinel, path, src, err, v)
	}
	return nil
}

// positionError turns a YAML decoding error into "file:line:col: message".
func positionError(sentinel error, path string, src []byte, err error, v any) error {
	var yerr yaml.Error
	if errors.As(err, &yerr) && yerr.GetToken() != nil {
		pos := yerr.GetToken().Position
		msg := yerr.GetMessage()
		if m, ok := typeMessage(msg, src, pos.Line, pos.Column); ok {
			msg = m
		} else if m := twiceRE.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("%s: written twice in one mapping (first at line %s)", m[1], m[2])
		}
		return fmt.Errorf("%w: %s:%d:%d: %s", sentinel, path, pos.Line, pos.Column, suggest(msg, v, src, pos.Line, pos.Column))
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: file is empty", sentinel, path)
	}
	// Some decoding errors come without a position (a duration that does
	// not parse: `time: invalid duration "soon"`), or carry one of their
	// own (an error returned by a field's own unmarshaler). Find the line
	// that holds the quoted value.
	if m := quotedRE.FindStringSubmatch(err.Error()); m != nil {
		for i, line := range strings.Split(string(src), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.Trim(strings.TrimSpace(v), `"'`) == m[1] {
				return fmt.Errorf("%w: %s:%d: %s: %w", sentinel, path, i+1, strings.TrimSpace(strings.TrimLeft(k, " -")), err)
			}
		}
	}
	return fmt.Errorf("%w: %s: %w", sentinel, path, err)
}

var (
	quotedRE = regexp.MustCompile(`"([^"]+)"`)
	twiceRE  = regexp.MustCompile(`^mapping key "([^"]+)" already defined at \[(\d+):\d+\]`)
)

// Locator finds the line of a field in one file. Prefix is prepended to
// every field it is asked about: a system defined inline in a scenario
// reports "cluster.system.command[0]" where its own file would report
// "command[0]".
type Locator struct {
	Path     string
	Prefix   string
	Sentinel error
	file     *ast.File
}

// NewLocator parses src for field positions; errors are wrapped in
// sentinel and name path.
func NewLocator(sentinel error, path string, src []byte) *Locator {
	l := &Locator{Path: path, Sentinel: sentinel}
	func() {
		defer func() { _ = recover() }()      // decoded already; a panic here only costs positions
		l.file, _ = parser.ParseBytes(src, 0) // likewise an error: Line answers 1 without it
	}()
	return l
}

// Under is the same file, for fields below prefix.
func (l *Locator) Under(prefix string) *Locator {
	c := *l
	c.Prefix = join(l.Prefix, prefix)
	return &c
}

// Field is the full path of a field below the locator's prefix.
func (l *Locator) Field(field string) string { return join(l.Prefix, field) }

func join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}

// Errorf is a problem with a field: "path:line:col: field: message",
// wrapping the locator's sentinel and any cause given with %w.
func (l *Locator) Errorf(field, format string, args ...any) error {
	return l.problem(field, fmt.Errorf(format, args...))
}

// Warnf is a warning about a field: legal, but not what the file seems
// to want; message says what to change.
func (l *Locator) Warnf(field, format string, args ...any) *Problem {
	p := l.problem(field, fmt.Errorf(format, args...))
	p.Warning = true
	return p
}

func (l *Locator) problem(field string, cause error) *Problem {
	full := l.Field(field)
	line, col := l.Pos(full)
	return &Problem{Path: l.Path, Line: line, Col: col, Field: full, Msg: cause.Error(), sentinel: l.Sentinel, cause: cause}
}

// Has reports whether the document sets the field at a dotted path (a
// zero written out is not the same as a field left out).
func (l *Locator) Has(field string) bool {
	if l == nil || l.file == nil {
		return false
	}
	path, err := yaml.PathString("$." + l.Field(field))
	if err != nil {
		return false
	}
	node, err := path.FilterFile(l.file)
	return err == nil && node != nil && node.GetToken() != nil
}

// Pos finds the line and column of the field at a dotted path
// ("nemesis.faults[0].kind"), ignoring the prefix: where the field's key
// is written (its value's place for a list item), or, when the field is
// absent, its nearest present parent's; 1, 1 (the file's start) when
// nothing is present.
func (l *Locator) Pos(field string) (line, col int) {
	if l == nil || l.file == nil {
		return 1, 1
	}
	for p := field; p != ""; {
		if path, err := yaml.PathString("$." + p); err == nil {
			if node, err := path.FilterFile(l.file); err == nil && node != nil && node.GetToken() != nil {
				return keyPos(l.file, node)
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 1, 1
}

// keyPos is where the key of a mapping value is written, when node is
// one (the path finds the value); else where node begins.
func keyPos(f *ast.File, node ast.Node) (int, int) {
	pos := node.GetToken().Position
	for _, doc := range f.Docs {
		for _, n := range ast.Filter(ast.MappingValueType, doc.Body) {
			mv := n.(*ast.MappingValueNode)
			if mv.Value == node && mv.Key.GetToken() != nil {
				k := mv.Key.GetToken().Position
				return k.Line, k.Column
			}
		}
	}
	return pos.Line, pos.Column
}
