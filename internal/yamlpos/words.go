package yamlpos

import (
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The YAML library speaks Go ("cannot unmarshal string into Go struct
// field Scenario.Cluster of type int"); these turn its messages into the
// user's words: the field as the file writes it, what it wants, an
// example, and for an unknown field the nearest known one.

var typeErrRE = regexp.MustCompile(`cannot unmarshal (\S+) into Go (?:struct field \S+|value) of type (\S+)`)

// wants says what a Go type wants, with an example.
func wants(goType string) string {
	switch strings.TrimLeft(goType, "*") {
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return "a whole number, for example 3"
	case "float64", "float32":
		return "a number, for example 10 (a percentage is a plain number: loss: 10)"
	case "time.Duration":
		return "a duration with its unit, for example 30s, 500ms or 1m30s"
	case "string":
		return "text, for example n1"
	case "bool":
		return "true or false"
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list, for example [a, b]"
	case strings.HasPrefix(goType, "map["):
		return "a mapping, for example {name: value}"
	}
	return "a value of another kind (README.md, \"Scenarios\", lists each field)"
}

// typeMessage rewrites a type error at the given line and column of src.
func typeMessage(msg string, src []byte, line, col int) (string, bool) {
	m := typeErrRE.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	key, val := fieldAt(src, line, col)
	out := "want " + wants(m[2])
	if val != "" {
		out += ", not " + val
	}
	if key != "" {
		out = key + ": " + out
	}
	return out, true
}

// fieldAt finds the key and the value written at a position: the key of
// that line ("nodes" in "  nodes: three"), and the value from the column.
func fieldAt(src []byte, line, col int) (string, string) {
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return "", ""
	}
	l := lines[line-1]
	key := ""
	if k, _, ok := strings.Cut(l, ":"); ok {
		key = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(k), "- "))
	}
	val := ""
	if col >= 1 && col <= len(l) {
		val = strings.TrimSpace(l[col-1:])
		if i := strings.Index(val, " #"); i >= 0 {
			val = strings.TrimSpace(val[:i])
		}
	}
	return key, val
}

var unknownRE = regexp.MustCompile(`unknown field "([^"]+)"`)

// suggest adds "did you mean ...?" to an unknown-field message of the
// YAML library (the walk of fields.go finds unknown fields first; this is
// for a type that reads itself and refuses a field) at line
// and col of src: the nearest of the fields known in the section the
// field sits in (nemesis.faults[0], cluster), or of every field v's type
// knows when that section cannot be told.
func suggest(msg string, v any, src []byte, line, col int) string {
	m := unknownRE.FindStringSubmatch(msg)
	if m == nil || v == nil {
		return msg
	}
	names, ok := sectionFields(reflect.TypeOf(v), sectionAt(src, line, col))
	if !ok {
		names = fieldNames(reflect.TypeOf(v), map[reflect.Type]bool{})
	}
	if best := nearest(m[1], names); best != "" {
		return msg + " (did you mean " + best + "?)"
	}
	return msg
}

// sectionAt is the path of the mapping that holds the key written at line
// and col ("nemesis.faults[0]" for a fault's field, "" at the top); "?"
// when no key is there.
func sectionAt(src []byte, line, col int) (path string) {
	path = "?"
	defer func() {
		if recover() != nil {
			path = "?"
		}
	}()
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return path
	}
	for _, doc := range f.Docs {
		for _, n := range ast.Filter(ast.MappingValueType, doc.Body) {
			mv := n.(*ast.MappingValueNode)
			if tk := mv.Key.GetToken(); tk != nil && tk.Position.Line == line && tk.Position.Column == col {
				p := strings.TrimPrefix(mv.GetPath(), "$")
				if i := strings.LastIndex(p, "."); i >= 0 {
					return strings.TrimPrefix(p[:i], ".")
				}
			}
		}
	}
	return path
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// sectionFields lists the YAML names of the fields of the struct at path
// in t; false when the path cannot be followed there (a map, a key with
// dots, a type that reads itself from other shapes without field names).
func sectionFields(t reflect.Type, path string) ([]string, bool) {
	if path == "?" || strings.ContainsAny(path, `'"`) {
		return nil, false
	}
	if path = indexRE.ReplaceAllString(path, ""); path != "" {
		for _, key := range strings.Split(path, ".") {
			f, ok := fieldByName(t, key)
			if !ok {
				return nil, false
			}
			t = f
		}
	}
	names := directFields(t)
	return names, len(names) > 0
}

// elem strips pointers, slices and arrays off t.
func elem(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	return t
}

// yamlField is a struct field's YAML name, and whether it is inlined.
func yamlField(f reflect.StructField) (string, bool) {
	name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name, strings.Contains(opts, "inline")
}

// fieldByName finds the type of the field written key in t's struct,
// looking into inlined structs; only fields with a YAML tag count.
func fieldByName(t reflect.Type, key string) (reflect.Type, bool) {
	t = elem(t)
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline := yamlField(f)
		if inline {
			if ft, ok := fieldByName(f.Type, key); ok {
				return ft, true
			}
		} else if name == key && f.IsExported() {
			return f.Type, true
		}
	}
	return nil, false
}

// Fielder is a type that reads fields its struct tags do not name
// (YAMLFields), for "did you mean".
type Fielder interface{ YAMLFields() []string }

// directFields lists the YAML names t's struct takes itself (inlined
// structs' included), only fields with a YAML tag, and those it says it
// reads (Fielder).
func directFields(t reflect.Type) []string {
	t = elem(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	if f, ok := reflect.Zero(t).Interface().(Fielder); ok {
		out = append(out, f.YAMLFields()...)
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline := yamlField(f)
		switch {
		case inline:
			out = append(out, directFields(f.Type)...)
		case name != "" && name != "-" && f.IsExported():
			out = append(out, name)
		}
	}
	return out
}

// fieldNames lists the YAML names of every field reachable from t.
func fieldNames(t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
		out = append(out, fieldNames(f.Type, seen)...)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
