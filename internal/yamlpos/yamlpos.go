// Package yamlpos decodes YAML files strictly and says where a field is:
// the one home of "file:line: field: what is wrong" for every file
// faultline reads (scenarios, system definitions).
//
// Bytes enter through Decode, which rejects unknown and mistyped fields with
// the file, line and column the YAML library reports; a Locator then turns a
// field's dotted path ("nemesis.faults[0].kind") into its line, for errors
// found after decoding.
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
// (CheckShape), an unknown field, a duplicate key or a value of the wrong
// type is an error naming path:line:col, wrapped in sentinel. The YAML library can panic on some malformed input (a fuzzer
// found a tag on an empty sequence); that is a bad file, not a crash.
func Decode(sentinel error, path string, src []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: not a file the YAML parser can read (%v)", sentinel, path, r)
		}
	}()
	if err := CheckShape(sentinel, path, src); err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(src)), yaml.Strict(), yaml.DisallowUnknownField())
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

var quotedRE = regexp.MustCompile(`"([^"]+)"`)

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

// Errorf is an error about a field: "path:line: field: message", wrapped in
// the locator's sentinel.
func (l *Locator) Errorf(field, format string, args ...any) error {
	full := l.Field(field)
	// One format, so that a cause given with %w stays one errors.Is finds.
	return fmt.Errorf("%w: %s:%d: %s: "+format, append([]any{l.Sentinel, l.Path, l.Line(full), full}, args...)...)
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

// Line finds the line of the field at a dotted path
// ("nemesis.faults[0].kind"), ignoring the prefix. When the field is absent
// it walks up to the nearest present parent; when nothing is present it
// answers 1.
func (l *Locator) Line(field string) int {
	if l == nil || l.file == nil {
		return 1
	}
	for p := field; p != ""; {
		if path, err := yaml.PathString("$." + p); err == nil {
			if node, err := path.FilterFile(l.file); err == nil && node != nil && node.GetToken() != nil {
				return node.GetToken().Position.Line
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 1
}
