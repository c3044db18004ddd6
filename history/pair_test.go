package history_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/faultline/faultline/history"
)

// recs makes records from "process type f key time" lines ("n" for the
// nemesis), indexed in order.
func recs(t *testing.T, lines ...string) []history.Record {
	t.Helper()
	var out []history.Record
	for i, l := range lines {
		var r history.Record
		var proc string
		if _, err := fmt.Sscanf(l, "%s %s %s %s %d", &proc, &r.Type, &r.F, &r.Key, &r.Time); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		r.Process = history.Nemesis
		if proc != "n" {
			var p int
			fmt.Sscan(proc, &p)
			r.Process = history.Process(p)
		}
		r.Index = int64(i)
		out = append(out, r)
	}
	return out
}

func TestPair(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // each op: "invoke index>done index type", never completed "-"
		err   string
	}{
		{"in order of invocation", []string{"0 invoke read k 1", "1 invoke write k 2", "1 ok write k 3", "n info kill - 4", "0 info read k 5"},
			"0>4 info, 1>2 ok", ""},
		{"never completed", []string{"0 invoke read k 1", "1 invoke write k 2", "1 fail write k 3"}, "0>- info, 1>2 fail", ""},
		{"invokes again", []string{"0 invoke read k 1", "0 invoke write k 2", "0 ok write k 3"}, "0>- info, 1>2 ok",
			"record 1: process 0 invokes again while record 0 is still open"},
		{"completion with no invoke", []string{"0 ok read k 1", "1 invoke read k 2", "1 ok read k 3"}, "1>2 ok",
			"record 0: ok completion of process 0 with no invoke"},
		{"another operation", []string{"0 invoke read k 1", "0 ok write k 2"}, "0>1 ok", "record 1: completes write k but process 0 invoked read k"},
		{"before its invocation", []string{"0 invoke read k 5", "0 ok read k 2"}, "0>1 ok", "record 1: completes at 2 ns, before its invocation (record 0) at 5 ns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := history.Pair(recs(t, tc.lines...))
			var got []string
			for _, o := range ops {
				done := "-"
				if o.Done != nil {
					done = fmt.Sprint(o.Done.Index)
				}
				got = append(got, fmt.Sprintf("%d>%s %s", o.Invoke.Index, done, o.Type()))
			}
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("ops %s, want %s", s, tc.want)
			}
			var pe *history.PairError
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (!errors.As(err, &pe) || err.Error() != tc.err):
				t.Errorf("error %v, want %s", err, tc.err)
			}
		})
	}
}
