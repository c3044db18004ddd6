package yamlpos

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// The YAML library stops at the first problem it meets, and meets unknown
// fields in map order (four unknown fields: a different one each run). So
// before decoding, the document is walked against the Go type it decodes
// into, in file order, and every problem of its shape is listed: an
// unknown field (merged ones, `<<: *base`, included), a number with a
// fraction for a whole number, a number without a unit for a duration, a
// scalar where a mapping or list belongs (and the other way round), a
// second document.

// Shaped is a type that reads itself (an UnmarshalYAML of its own) from
// more than one shape: written as a mapping, it is checked as the type
// YAMLMapping gives (nil: not checked here, the decoder alone judges it).
type Shaped interface{ YAMLMapping() any }

// Extension is the prefix of top-level keys a file may use for its own
// ends, as Compose does: anchors to merge from (`x-base: &base`).
const Extension = "x-"

var (
	durationType = reflect.TypeFor[time.Duration]()
	unmarshalers = []reflect.Type{
		reflect.TypeFor[yaml.BytesUnmarshaler](), reflect.TypeFor[yaml.InterfaceUnmarshaler](),
		reflect.TypeFor[yaml.NodeUnmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](),
	}
)

type walker struct {
	path     string
	sentinel error
	anchors  map[string]ast.Node
	ps       Problems
	// visits counts the values walked, aliases expanded: past
	// maxVisits the walk stops (aliases that multiply a document).
	visits int
}

const maxVisits = 10 * MaxValues

// checkDocument lists the shape problems of a parsed file against v.
func checkDocument(sentinel error, path string, f *ast.File, v any) *Problems {
	w := &walker{path: path, sentinel: sentinel, anchors: map[string]ast.Node{}}
	w.ps.sentinel = sentinel
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	for i, d := range docs {
		if i > 0 {
			w.add(d.Body, "", "a second YAML document begins here: a file faultline reads is one document; remove it, or give it a file of its own")
			if d.Start != nil { // at its --- line
				p := w.ps.list[len(w.ps.list)-1]
				p.Line, p.Col = d.Start.Position.Line, d.Start.Position.Column
			}
			break
		}
		for _, n := range ast.Filter(ast.AnchorType, d.Body) {
			a := n.(*ast.AnchorNode)
			w.anchors[a.Name.GetToken().Value] = a.Value
		}
		w.walk(d.Body, reflect.TypeOf(v), "", true, 0)
	}
	return &w.ps
}

func (w *walker) add(at ast.Node, field, format string, args ...any) {
	line, col := 1, 0
	if at != nil && at.GetToken() != nil {
		line, col = at.GetToken().Position.Line, at.GetToken().Position.Column
	}
	cause := fmt.Errorf(format, args...)
	w.ps.list = append(w.ps.list, &Problem{Path: w.path, Line: line, Col: col, Field: field, Msg: cause.Error(), sentinel: w.sentinel, cause: cause})
}

// resolve strips anchors, tags and aliases off a node (nil for a chain of
// aliases past MaxDepth: one that leads back into itself).
func (w *walker) resolve(n ast.Node) ast.Node {
	for range MaxDepth {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		case *ast.AliasNode:
			a, ok := w.anchors[x.Value.GetToken().Value]
			if !ok {
				return n
			}
			n = a
		default:
			return n
		}
	}
	return nil
}

func (w *walker) walk(n ast.Node, t reflect.Type, field string, top bool, depth int) {
	if depth > MaxDepth || t == nil || w.visits > maxVisits {
		return
	}
	if w.visits++; w.visits > maxVisits {
		w.add(n, field, "aliases expand the file past %d values: a file faultline reads is a page of YAML", maxVisits)
		return
	}
	n = w.resolve(n)
	if n == nil || n.Type() == ast.NullType {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if readsItself(t) {
		s, ok := reflect.Zero(reflect.PointerTo(t)).Interface().(Shaped)
		if !ok || !isMapping(n) {
			return
		}
		m := s.YAMLMapping()
		if m == nil {
			return
		}
		var extra []string
		if f, ok := reflect.Zero(t).Interface().(Fielder); ok {
			extra = f.YAMLFields()
		}
		w.fields(n, reflect.TypeOf(m).Elem(), field, top, depth, extra)
		return
	}
	if t == durationType {
		if k := n.Type(); (k == ast.IntegerType || k == ast.FloatType) && n.GetToken().Value != "0" {
			w.add(n, field, "want %s, not %s", wants("time.Duration"), n.GetToken().Value)
		}
		return
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Type() != ast.IntegerType {
			w.add(n, field, "want %s, not %s", wants("int"), shown(n))
		}
	case reflect.Float32, reflect.Float64:
		if n.Type() != ast.IntegerType && n.Type() != ast.FloatType && !floatText(n) {
			w.add(n, field, "want %s, not %s", wants("float64"), shown(n))
		}
	case reflect.Bool:
		if n.Type() != ast.BoolType {
			w.add(n, field, "want %s, not %s", wants("bool"), shown(n))
		}
	case reflect.String:
		if isMapping(n) || n.Type() == ast.SequenceType {
			w.add(n, field, "want %s, not %s", wants("string"), shown(n))
		}
	case reflect.Struct:
		w.fields(n, t, field, top, depth, nil)
	case reflect.Map:
		w.mapping(n, func(key string, k, v ast.Node) {
			w.walk(v, t.Elem(), join(field, key), false, depth+1)
		})
	case reflect.Slice, reflect.Array:
		s, ok := n.(*ast.SequenceNode)
		if !ok {
			w.add(n, field, "want %s, not %s", wants("[]"), shown(n))
			return
		}
		for i, v := range s.Values {
			w.walk(v, t.Elem(), fmt.Sprintf("%s[%d]", field, i), false, depth+1)
		}
	}
}

// fields checks a mapping written for struct t: every key one of its
// fields (or extra), each written once.
func (w *walker) fields(n ast.Node, t reflect.Type, field string, top bool, depth int, extra []string) {
	if !isMapping(n) {
		w.add(n, field, "want %s, not %s", wants("map["), shown(n))
		return
	}
	w.mapping(n, func(key string, k, v ast.Node) {
		if top && strings.HasPrefix(key, Extension) {
			return
		}
		if ft, ok := fieldByName(t, key); ok {
			w.walk(v, ft, join(field, key), false, depth+1)
			return
		}
		for _, e := range extra {
			if e == key {
				return // read by the type itself
			}
		}
		msg := fmt.Sprintf("unknown field %q", key)
		names := append(directFields(t), extra...)
		if best := nearest(key, names); best != "" {
			msg += " (did you mean " + best + "?)"
		}
		if _, anchor := v.(*ast.AnchorNode); top && anchor {
			msg += "; a top-level key that only holds an anchor to merge from must begin with " + Extension + " (" + Extension + key + ")"
		}
		w.add(k, "", "%s", msg)
	})
}

// mapping calls each for every key of a mapping in file order, merged
// ones (`<<: *base`) included. (A key written twice in the mapping itself
// the parser refuses; one written over a merged key is YAML's merge.)
func (w *walker) mapping(n ast.Node, each func(key string, k, v ast.Node)) {
	merged := map[string]bool{}
	for _, mv := range mappingValues(n) {
		if mv.Key.IsMergeKey() {
			for _, src := range w.mergeSources(mv.Value) {
				for _, m := range mappingValues(src) {
					key := keyText(m.Key)
					if !merged[key] {
						merged[key] = true
						each(key, m.Key, m.Value)
					}
				}
			}
			continue
		}
		each(keyText(mv.Key), mv.Key, mv.Value)
	}
}

// mergeSources are the mappings a merge key names: one, or a list.
func (w *walker) mergeSources(v ast.Node) []ast.Node {
	v = w.resolve(v)
	if s, ok := v.(*ast.SequenceNode); ok {
		var out []ast.Node
		for _, e := range s.Values {
			out = append(out, w.resolve(e))
		}
		return out
	}
	return []ast.Node{v}
}

func isMapping(n ast.Node) bool {
	return n != nil && (n.Type() == ast.MappingType || n.Type() == ast.MappingValueType)
}

// mappingValues are a mapping's pairs (the library gives a one-pair
// mapping as the pair itself).
func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}
	}
	return nil
}

func keyText(k ast.MapKeyNode) string {
	if s, ok := k.(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	return k.String()
}

// floatText reports whether a plain scalar reads as a number (the
// library takes 1e9 as text, and decodes it into a number).
func floatText(n ast.Node) bool {
	_, err := strconv.ParseFloat(n.GetToken().Value, 64)
	return n.Type() == ast.StringType && err == nil
}

// shown is how a value is named in a message: the scalar as written, or
// what it is.
func shown(n ast.Node) string {
	switch {
	case isMapping(n):
		return "a mapping"
	case n.Type() == ast.SequenceType:
		return "a list"
	}
	return n.GetToken().Value
}

// readsItself reports whether t has an unmarshaler of its own.
func readsItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	for _, u := range unmarshalers {
		if p.Implements(u) {
			return true
		}
	}
	return false
}

// nearest is the known name closest to an unknown one, "" when none is
// close enough to be meant.
func nearest(name string, names []string) string {
	best, dist := "", 1<<30
	for _, f := range names {
		if d := editDistance(name, f); d < dist || d == dist && f < best {
			best, dist = f, d
		}
	}
	if best != "" && dist <= max(2, len(name)/3) {
		return best
	}
	return ""
}
