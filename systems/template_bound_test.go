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
