package yamlpos

import (
	"strings"
	"testing"
	"time"
)

type Inner struct {
	Direction string `yaml:"direction"`
}

type doc struct {
	TimeLimit time.Duration `yaml:"time_limit"`
	Cluster   struct {
		Nodes int `yaml:"nodes"`
	} `yaml:"cluster"`
	Node   string `yaml:"node"`
	Faults []struct {
		Kind  string `yaml:"kind"`
		Inner `yaml:",inline"`
	} `yaml:"faults"`
	Loss    float64  `yaml:"loss"`
	Clients int      `yaml:"clients"`
	Names   []string `yaml:"names"`
}

// Messages in the user's words: the field as written, what it wants with
// an example, the value given; an unknown field names the nearest one.
func TestMessagesInTheUsersWords(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"cluster:\n  nodes: three\n", "x.yaml:2:10: cluster.nodes: want a whole number, for example 3, not three"},
		{"time_limit: 30\n", "x.yaml:1:13: time_limit: want a duration with its unit, for example 30s, 500ms or 1m30s, not 30"},
		{"loss: 10%\n", "x.yaml:1:7: loss: want a number, for example 10 (a percentage is a plain number: loss: 10), not 10%"},
		{"clints: 3\n", `x.yaml:1:1: unknown field "clints" (did you mean clients?)`},
		{"time_limt: 5s\n", `x.yaml:1:1: unknown field "time_limt" (did you mean time_limit?)`},
		{"zzzzzz: 1\n", `x.yaml:1:1: unknown field "zzzzzz"`},
		// The nearest field of the section it sits in, not of the file:
		// node is a top-level field, but in cluster it is nodes.
		{"cluster:\n  node: 3\n", `x.yaml:2:3: unknown field "node" (did you mean nodes?)`},
		{"faults:\n  - kind: a\n  - {kind: b, dirction: to}\n", `x.yaml:3:15: unknown field "dirction" (did you mean direction?)`},
		{"faults:\n  - kind: a\n    nodes: 3\n", `x.yaml:3:5: unknown field "nodes"`},
	} {
		var d doc
		err := Decode(errBad, "x.yaml", []byte(c.src), &d)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
}
