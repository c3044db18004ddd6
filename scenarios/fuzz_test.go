package scenarios_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/scenarios"
)

// FuzzParse: the loader never panics; every rejection wraps ErrInvalid and
// begins with the file's name; whatever it accepts is within its limits and
// survives a round trip through the scenario as run.
func FuzzParse(f *testing.F) {
	for _, g := range []string{"*.yaml", "bugs/*.yaml", "../examples/*/*.yaml"} {
		files, _ := filepath.Glob(g)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("time_limit: 5s\nnemesis:\n  timeline:\n    - {at: 1s, for: 2s, fault: {kind: isolate, node: n2}}\n"))
	f.Add([]byte("time_limit: 5s\nworkload:\n  client: {command: [python3, c.py], env: {A: b}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := scenarios.Parse("fuzz.yaml", b)
		if err != nil {
			if !errors.Is(err, scenarios.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if sc.TimeLimit <= 0 || sc.TimeLimit > scenarios.MaxTimeLimit || sc.Cluster.Nodes < 1 || sc.Cluster.Nodes > 5 {
			t.Fatalf("accepted out-of-range values: time_limit %v, nodes %d", sc.TimeLimit, sc.Cluster.Nodes)
		}
		out, err := sc.Marshal()
		if err != nil {
			t.Fatalf("accepted scenario does not marshal: %v", err)
		}
		if _, err := scenarios.Parse("as-run.yaml", out); err != nil {
			t.Fatalf("scenario as run does not load back: %v\n%s", err, out)
		}
	})
}
