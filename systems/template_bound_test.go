package systems

import (
	"errors"
	"strings"
	"testing"
)

// The worst small templates: five nested ranges over 16 nodes (once 1.4 GB
// and 4.5 s for `validate` of a 241-byte file), and four that print
// past the bound; both refused, fast, saying why.
func TestTemplateBounded(t *testing.T) {
	nodes := make([]Member, MaxNodes)
	v := struct{ Nodes []Member }{nodes}
	for name, text := range map[string]string{
		"five ranges": strings.Repeat("{{range $.Nodes}}", 5) + "x" + strings.Repeat("{{end}}", 5),
		"too large":   strings.Repeat("{{- range $.Nodes }}", 4) + strings.Repeat("x", 200) + strings.Repeat("{{end}}", 4),
	} {
		if _, err := expand("env.A", text, v); !errors.Is(err, ErrRenderedTooLarge) {
			t.Errorf("%s: %v, want ErrRenderedTooLarge", name, err)
		}
	}
	out, err := expand("env.A", "{{range $.Nodes}}{{range $.Nodes}}x{{end}}{{end}}", v)
	if err != nil || len(out) != MaxNodes*MaxNodes {
		t.Errorf("two ranges within the bounds: %d bytes, %v", len(out), err)
	}
}

// TestEnvValueBounded: an environment value is bounded as written and as
// rendered (three ranges over 16 nodes render 56 KB: within the bound of
// a template, past the 4096 bytes of a value).
func TestEnvValueBounded(t *testing.T) {
	v := Vars{Nodes: make([]Member, MaxNodes)}
	big := strings.Repeat("{{range $.Nodes}}", 3) + "xxxxxxxxxxxxxx" + strings.Repeat("{{end}}", 3)
	if _, err := expandEnv("env", map[string]string{"OK": "1", "BIG": big}, v); !errors.Is(err, ErrRenderedTooLarge) || !strings.Contains(err.Error(), "env.BIG") {
		t.Errorf("rendered past the bound: %v", err)
	}
	out, err := expandEnv("env", map[string]string{"N": "{{range $.Nodes}}n{{end}}"}, v)
	if err != nil || len(out) != 1 || len(out[0]) != len("N=")+MaxNodes {
		t.Errorf("a value within the bound: %v, %v", out, err)
	}
}
