package checker_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// hist builds a history from lines, one operation each:
//
//	PROCESS NODE F ARG TYPE CALL RET [KEY]
//
// F is w (write), r (read), cas, add, app (append); ARG is a write's
// value, a read's result ("nil", a number, or a list "1,2,3", "-" for
// empty), a cas's "old,new"; TYPE ok, fail or info; CALL and RET in
// milliseconds. "heal T" and "fault T" lines are nemesis events.
func hist(t *testing.T, kind string, lines ...string) []history.Record {
	t.Helper()
	var recs []history.Record
	for _, l := range lines {
		f := strings.Fields(l)
		if f[0] == "fault" || f[0] == "heal" {
			ms, _ := strconv.Atoi(f[1])
			name := map[string]string{"fault": "partition", "heal": "heal"}[f[0]]
			recs = append(recs, history.Record{Process: history.Nemesis, Type: history.Info, F: name, Value: json.RawMessage(`{}`), Time: int64(ms) * 1e6})
			continue
		}
		if len(f) < 7 {
			t.Fatalf("bad line %q", l)
		}
		p, _ := strconv.Atoi(f[0])
		call, _ := strconv.Atoi(f[5])
		ret, _ := strconv.Atoi(f[6])
		key := "k"
		if len(f) > 7 {
			key = f[7]
		}
		op := map[string]string{"w": "write", "r": "read", "cas": "cas", "add": "add", "app": "append"}[f[2]]
		var arg, out json.RawMessage
		switch {
		case op != "read" && op != "cas":
			arg = json.RawMessage(f[3])
		case op == "cas":
			arg = json.RawMessage("[" + strings.Replace(f[3], "nil", "null", 1) + "]")
		case kind == "set" || kind == "append":
			arg = json.RawMessage("null")
			if f[3] == "-" {
				out = json.RawMessage("[]")
			} else {
				out = json.RawMessage("[" + f[3] + "]")
			}
		default:
			arg = json.RawMessage("null")
			out = json.RawMessage(strings.Replace(f[3], "nil", "null", 1))
		}
		typ := history.Type(f[4])
		done := history.Record{Process: history.Process(p), Node: f[1], Type: typ, F: op, Key: key, Value: arg, Time: int64(ret) * 1e6}
		if op == "read" && typ == history.OK {
			done.Value = out
		}
		recs = append(recs, history.Record{Process: history.Process(p), Node: f[1], Type: history.Invoke, F: op, Key: key, Value: arg, Time: int64(call) * 1e6}, done)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time < recs[j].Time })
	for i := range recs {
		recs[i].Index = int64(i)
	}
	return recs
}

func row(t *testing.T, res checker.Result, g checker.Guarantee) checker.GuaranteeResult {
	t.Helper()
	for _, r := range res.Guarantees {
		if r.Guarantee == g {
			return r
		}
	}
	t.Fatalf("no row for %s in %+v", g, res.Guarantees)
	return checker.GuaranteeResult{}
}

// Each case is a pair: a history in which the guarantee holds, and the
// same history changed as little as possible so that it breaks.
var guaranteeCases = []struct {
	name   string
	kind   string
	g      checker.Guarantee
	holds  []string
	breaks []string
}{
	// Registers.
	{"stale read", "register", checker.Linearizable,
		[]string{"1 n1 w 5 ok 0 10", "2 n2 w 7 ok 20 30", "3 n3 r 7 ok 40 50"},
		[]string{"1 n1 w 5 ok 0 10", "2 n2 w 7 ok 20 30", "3 n3 r 5 ok 40 50"}},
	{"write order cycle", "register", checker.Sequential,
		[]string{"1 n1 w 1 ok 0 10", "1 n1 r 2 ok 20 30", "2 n2 w 2 ok 0 10", "2 n2 r 2 ok 20 30"},
		[]string{"1 n1 w 1 ok 0 10", "1 n1 r 2 ok 20 30", "2 n2 w 2 ok 0 10", "2 n2 r 1 ok 20 30"}},
	{"stale read is sequential", "register", checker.Sequential,
		[]string{"1 n1 w 5 ok 0 10", "2 n2 w 7 ok 20 30", "3 n3 r 5 ok 40 50"},
		[]string{"1 n1 w 5 ok 0 10", "2 n2 w 7 ok 20 30", "3 n3 r 9 ok 40 50"}},
	// A process goes back past its own write to what it read before: no
	// one session guarantee alone forbids it (read-your-writes puts 5
	// before 3; writes-follow-reads, 3 before 5), together they do.
	{"own write over what it read", "register", checker.Causal,
		[]string{"2 n2 w 3 ok 0 10", "1 n1 r 3 ok 20 30", "1 n1 w 5 ok 40 50", "1 n1 r 5 ok 60 70"},
		[]string{"2 n2 w 3 ok 0 10", "1 n1 r 3 ok 20 30", "1 n1 w 5 ok 40 50", "1 n1 r 3 ok 60 70"}},
	{"own writes crossed", "register", checker.ReadYourWrites,
		[]string{"1 n1 w 1 ok 0 10", "1 n1 r 2 ok 20 30", "2 n2 w 2 ok 0 10", "2 n2 r 2 ok 20 30"},
		[]string{"1 n1 w 1 ok 0 10", "1 n1 r 2 ok 20 30", "2 n2 w 2 ok 0 10", "2 n2 r 1 ok 20 30"}},
	{"own write over nil", "register", checker.ReadYourWrites,
		[]string{"1 n1 w 5 ok 40 50", "1 n1 r 5 ok 60 70"},
		[]string{"1 n1 w 5 ok 40 50", "1 n1 r nil ok 60 70"}},
	{"reads go back", "register", checker.MonotonicReads,
		[]string{"2 n2 w 3 ok 0 10", "2 n2 w 5 ok 20 30", "1 n1 r 3 ok 40 50", "1 n1 r 5 ok 60 70", "1 n1 r 5 ok 80 90"},
		[]string{"2 n2 w 3 ok 0 10", "2 n2 w 5 ok 20 30", "1 n1 r 3 ok 40 50", "1 n1 r 5 ok 60 70", "1 n1 r 3 ok 80 90"}},
	// Monotonic writes alone cannot be broken by a register's reads (a
	// read may see any write and none of the later ones); with monotonic
	// reads, it is.
	{"writes out of order", "register", checker.Causal,
		[]string{"1 n1 w 3 ok 0 10", "1 n1 w 5 ok 20 30", "2 n2 r 3 ok 40 50", "2 n2 r 5 ok 60 70"},
		[]string{"1 n1 w 3 ok 0 10", "1 n1 w 5 ok 20 30", "2 n2 r 5 ok 40 50", "2 n2 r 3 ok 60 70"}},
	{"write before its cause", "register", checker.Causal,
		[]string{"1 n1 w 3 ok 0 10", "2 n2 r 3 ok 20 30", "2 n2 w 5 ok 40 50", "3 n3 r 3 ok 60 70", "3 n3 r 5 ok 80 90"},
		[]string{"1 n1 w 3 ok 0 10", "2 n2 r 3 ok 20 30", "2 n2 w 5 ok 40 50", "3 n3 r 5 ok 60 70", "3 n3 r 3 ok 80 90"}},
	{"writes caused by each other", "register", checker.WritesFollowReads,
		[]string{"1 n1 r nil ok 0 10", "1 n1 w 1 ok 20 30", "2 n2 r 1 ok 40 50", "2 n2 w 2 ok 60 70"},
		[]string{"1 n1 r 2 ok 0 10", "1 n1 w 1 ok 20 30", "2 n2 r 1 ok 0 10", "2 n2 w 2 ok 20 30"}},
	{"final read", "register", checker.NoLostWrites,
		[]string{"1 n1 w 3 ok 0 10", "2 n2 w 5 ok 20 30", "heal 40", "9 n1 r 5 ok 100 110", "10 n2 r 5 ok 100 110"},
		[]string{"1 n1 w 3 ok 0 10", "2 n2 w 5 ok 20 30", "heal 40", "9 n1 r 5 ok 100 110", "10 n2 r 3 ok 100 110"}},
	{"nodes agree", "register", checker.Converges,
		[]string{"1 n1 w 3 ok 0 10", "2 n2 r 3 ok 20 30", "heal 40", "9 n1 r 3 ok 100 110", "10 n2 r nil ok 111 120", "11 n2 r 3 ok 300 310"},
		[]string{"1 n1 w 3 ok 0 10", "2 n2 r 3 ok 20 30", "heal 40", "9 n1 r 3 ok 100 110", "10 n2 r 3 ok 111 120", "11 n2 r nil ok 300 310"}},
	{"stale for long", "register", checker.BoundedStaleness,
		[]string{"1 n1 w 3 ok 0 10", "2 n2 w 5 ok 20 30", "3 n3 r 3 ok 50 60", "3 n3 r 5 ok 200 210"},
		[]string{"1 n1 w 3 ok 0 10", "2 n2 w 5 ok 20 30", "3 n3 r 3 ok 150 160", "3 n3 r 5 ok 200 210"}},

	// Sets.
	{"set stale read", "set", checker.Linearizable,
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r 1 ok 20 30"},
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r - ok 20 30"}},
	{"set reads not a chain", "set", checker.Sequential,
		[]string{"1 n1 add 1 ok 0 10", "2 n2 add 2 ok 0 10", "3 n3 r 1 ok 20 30", "4 n1 r 1,2 ok 20 30"},
		[]string{"1 n1 add 1 ok 0 10", "2 n2 add 2 ok 0 10", "3 n3 r 1 ok 20 30", "4 n1 r 2 ok 20 30"}},
	{"set duplicate", "set", checker.Sequential,
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r 1 ok 20 30"},
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r 1,1 ok 20 30"}},
	{"set own add", "set", checker.ReadYourWrites,
		[]string{"1 n1 add 1 ok 0 10", "1 n1 r 1 ok 20 30"},
		[]string{"1 n1 add 1 ok 0 10", "1 n1 r - ok 20 30"}},
	{"set element vanishes", "set", checker.MonotonicReads,
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r 1 ok 20 30", "2 n2 r 1 ok 40 50"},
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r 1 ok 20 30", "2 n2 r - ok 40 50"}},
	{"set adds out of order", "set", checker.MonotonicWrites,
		[]string{"1 n1 add 1 ok 0 10", "1 n1 add 2 ok 20 30", "2 n2 r 1 ok 15 40"},
		[]string{"1 n1 add 1 ok 0 10", "1 n1 add 2 ok 20 30", "2 n2 r 2 ok 15 40"}},
	{"set add before its cause", "set", checker.WritesFollowReads,
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r 1 ok 20 30", "2 n2 add 2 ok 40 50", "3 n3 r 1,2 ok 35 60"},
		[]string{"1 n1 add 1 ok 0 10", "2 n2 r 1 ok 20 30", "2 n2 add 2 ok 40 50", "3 n3 r 2 ok 35 60"}},
	{"set final read", "set", checker.NoLostWrites,
		[]string{"1 n1 add 1 ok 0 10", "2 n2 add 2 ok 0 10", "heal 20", "9 n1 r 1,2 ok 100 110", "10 n2 r 2,1 ok 100 110"},
		[]string{"1 n1 add 1 ok 0 10", "2 n2 add 2 ok 0 10", "heal 20", "9 n1 r 1,2 ok 100 110", "10 n2 r 2 ok 100 110"}},
	{"set nodes agree", "set", checker.Converges,
		[]string{"1 n1 add 1 info 0 10", "heal 20", "9 n1 r 1 ok 100 110", "10 n2 r - ok 100 110", "11 n2 r 1 ok 300 310"},
		[]string{"1 n1 add 1 info 0 10", "heal 20", "9 n1 r 1 ok 100 110", "10 n2 r 1 ok 100 110", "11 n2 r - ok 300 310"}},

	// Lists.
	{"list stale read", "append", checker.Linearizable,
		[]string{"1 n1 app 1 ok 0 10", "2 n2 r 1 ok 20 30"},
		[]string{"1 n1 app 1 ok 0 10", "2 n2 r - ok 20 30"}},
	{"list orders differ", "append", checker.Sequential,
		[]string{"1 n1 app 1 ok 0 10", "2 n2 app 2 ok 0 10", "3 n3 r 1,2 ok 20 30", "4 n1 r 1 ok 20 30"},
		[]string{"1 n1 app 1 ok 0 10", "2 n2 app 2 ok 0 10", "3 n3 r 1,2 ok 20 30", "4 n1 r 2 ok 20 30"}},
	{"list own append", "append", checker.ReadYourWrites,
		[]string{"1 n1 app 1 ok 0 10", "1 n1 r 1 ok 20 30"},
		[]string{"1 n1 app 1 ok 0 10", "1 n1 r - ok 20 30"}},
	{"list shrinks", "append", checker.MonotonicReads,
		[]string{"1 n1 app 1 ok 0 10", "1 n1 app 2 ok 12 18", "2 n2 r 1 ok 20 30", "2 n2 r 1,2 ok 40 50"},
		[]string{"1 n1 app 1 ok 0 10", "1 n1 app 2 ok 12 18", "2 n2 r 1,2 ok 20 30", "2 n2 r 1 ok 40 50"}},
	{"list appends reversed", "append", checker.MonotonicWrites,
		[]string{"1 n1 app 1 ok 0 10", "1 n1 app 2 ok 20 30", "2 n2 r 1,2 ok 40 50"},
		[]string{"1 n1 app 1 ok 0 10", "1 n1 app 2 ok 20 30", "2 n2 r 2,1 ok 40 50"}},
	{"list final read", "append", checker.NoLostWrites,
		[]string{"1 n1 app 1 ok 0 10", "heal 20", "9 n1 r 1 ok 100 110", "10 n2 r 1 ok 100 110"},
		[]string{"1 n1 app 1 ok 0 10", "heal 20", "9 n1 r 1 ok 100 110", "10 n2 r - ok 100 110"}},
	{"list nodes agree", "append", checker.Converges,
		[]string{"1 n1 app 1 ok 0 10", "1 n1 app 2 info 20 30", "heal 40", "9 n1 r 1,2 ok 100 110", "10 n2 r 1,2 ok 100 110"},
		[]string{"1 n1 app 1 ok 0 10", "1 n1 app 2 info 20 30", "heal 40", "9 n1 r 1,2 ok 100 110", "10 n2 r 1 ok 100 110"}},

	// Counters.
	{"counter read below", "counter", checker.Linearizable,
		[]string{"1 n1 add 3 ok 0 10", "2 n2 r 3 ok 20 30"},
		[]string{"1 n1 add 3 ok 0 10", "2 n2 r 2 ok 20 30"}},
	{"counter own increment", "counter", checker.ReadYourWrites,
		[]string{"1 n1 add 3 ok 0 10", "1 n1 r 3 ok 20 30"},
		[]string{"1 n1 add 3 ok 0 10", "1 n1 r 2 ok 20 30"}},
	{"counter goes down", "counter", checker.MonotonicReads,
		[]string{"1 n1 add 3 ok 0 10", "2 n2 r 3 ok 20 30", "2 n2 r 3 ok 40 50"},
		[]string{"1 n1 add 3 ok 0 10", "2 n2 r 3 ok 20 30", "2 n2 r 1 ok 40 50"}},
	{"counter final value", "counter", checker.NoLostWrites,
		[]string{"1 n1 add 3 ok 0 10", "2 n2 add 4 info 0 10", "heal 20", "9 n1 r 3 ok 100 110", "10 n2 r 7 ok 100 110"},
		[]string{"1 n1 add 3 ok 0 10", "2 n2 add 4 info 0 10", "heal 20", "9 n1 r 3 ok 100 110", "10 n2 r 2 ok 100 110"}},
	{"counter nodes agree", "counter", checker.Converges,
		[]string{"1 n1 add 3 ok 0 10", "heal 20", "9 n1 r 3 ok 100 110", "10 n2 r 3 ok 100 110"},
		[]string{"1 n1 add 3 ok 0 10", "heal 20", "9 n1 r 3 ok 100 110", "10 n2 r 0 ok 100 110"}},
}

func TestGuaranteeHoldsAndBreaks(t *testing.T) {
	for _, tc := range guaranteeCases {
		t.Run(tc.name, func(t *testing.T) {
			opts := checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{tc.g}, Bounds: map[checker.Guarantee]time.Duration{checker.BoundedStaleness: 100 * time.Millisecond}}
			res, err := checker.Check(hist(t, tc.kind, tc.holds...), named(t, tc.kind), opts)
			if err != nil {
				t.Fatal(err)
			}
			if r := row(t, res, tc.g); r.Status != checker.Held || res.Verdict != checker.Valid {
				t.Errorf("holds: %s is %s (verdict %s), want held: %+v", tc.g, r.Status, res.Verdict, r)
			}
			res, err = checker.Check(hist(t, tc.kind, tc.breaks...), named(t, tc.kind), opts)
			if err != nil {
				t.Fatal(err)
			}
			r := row(t, res, tc.g)
			if r.Status != checker.Violated || res.Verdict != checker.Invalid {
				t.Fatalf("breaks: %s is %s (verdict %s), want violated; table %s", tc.g, r.Status, res.Verdict, res.Boundary)
			}
			if len(r.Violations) == 0 && r.Note == "" {
				t.Errorf("breaks: %s violated with no proof and no note", tc.g)
			}
			for _, v := range r.Violations {
				if v.What == "" {
					t.Errorf("a violation says nothing: %+v", v)
				}
			}
			t.Logf("%s: %s\n%s", tc.g, res.Boundary, describe(r))
		})
	}
}

func describe(r checker.GuaranteeResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", r.Guarantee, r.Status, r.Note)
	for _, v := range r.Violations {
		fmt.Fprintln(&b, v)
	}
	return b.String()
}

// The boundary: a session guarantee broken rules out sequential
// consistency and linearizability; linearizability held gives the others.
func TestBoundaryImplications(t *testing.T) {
	recs := hist(t, "register", "2 n2 w 3 ok 0 10", "2 n2 w 5 ok 20 30", "1 n1 r 3 ok 40 50", "1 n1 r 5 ok 60 70", "1 n1 r 3 ok 80 90")
	res, err := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.ReadYourWrites}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []checker.Guarantee{checker.Linearizable, checker.Sequential, checker.MonotonicReads} {
		if r := row(t, res, g); r.Status != checker.Violated {
			t.Errorf("%s: %s, want violated", g, r.Status)
		}
	}
	if res.Verdict != checker.Valid || row(t, res, checker.ReadYourWrites).Status != checker.Held {
		t.Errorf("verdict %s against read-your-writes, want valid: %s", res.Verdict, res.Boundary)
	}
	if !strings.HasPrefix(res.Boundary, "held: read-your-writes") || !strings.Contains(res.Boundary, "ruled out: linearizable, sequential, causal, monotonic-reads") {
		t.Errorf("boundary %q", res.Boundary)
	}

	// With compare-and-set the sequential check alone proves only
	// violations; linearizability held decides it.
	recs = hist(t, "register", "1 n1 w 3 ok 0 10", "2 n2 cas 3,5 ok 20 30", "3 n3 r 5 ok 40 50")
	res, err = checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, res, checker.Sequential); r.Status != checker.Held || !strings.Contains(r.Note, "implied by linearizable") {
		t.Errorf("sequential with cas: %+v", r)
	}
}

// Duplicate write values: a read no longer names its write, and the
// checks that rely on it say so instead of guessing.
func TestDuplicateValuesUndecided(t *testing.T) {
	recs := hist(t, "register", "1 n1 w 3 ok 0 10", "2 n2 w 3 ok 20 30", "3 n3 r 3 ok 40 50", "4 n1 r 4 ok 60 70")
	res, err := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.MonotonicReads}})
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, res, checker.MonotonicReads); r.Status != checker.Undecided || res.Verdict != checker.Unknown {
		t.Errorf("monotonic-reads with a value written twice: %+v, verdict %s", r, res.Verdict)
	}
}

func TestStalenessFigures(t *testing.T) {
	// Add 1 is acknowledged at 10 ms; n3 misses it in reads begun at 50 and
	// 150 ms, then has it: 140 ms late. Add 2 is never missed.
	recs := hist(t, "set", "1 n1 add 1 ok 0 10", "2 n2 r 1 ok 20 30", "3 n3 r - ok 50 60", "3 n3 r - ok 150 160", "3 n3 r 1 ok 200 210", "1 n1 add 2 ok 220 230", "2 n2 r 1,2 ok 240 250")
	res, err := checker.Check(recs, named(t, "set"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.BoundedStaleness}, Bounds: map[checker.Guarantee]time.Duration{checker.BoundedStaleness: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Staleness
	if s == nil || s.Updates != 2 || s.Late != 1 || s.MaxMS != 140 || s.StaleReads != 2 || s.ByNode["n3"] != 2 || len(s.Worst) != 2 || s.Worst[0].ByMS != 140 {
		t.Fatalf("staleness %+v", s)
	}
	if res.Verdict != checker.Valid {
		t.Errorf("140 ms late within a 200 ms bound: verdict %s", res.Verdict)
	}
	res, _ = checker.Check(recs, named(t, "set"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.BoundedStaleness}, Bounds: map[checker.Guarantee]time.Duration{checker.BoundedStaleness: 100 * time.Millisecond}})
	if r := row(t, res, checker.BoundedStaleness); res.Verdict != checker.Invalid || r.Total != 1 {
		t.Errorf("140 ms late past a 100 ms bound: verdict %s, %d violations, want 1", res.Verdict, r.Total)
	}
	res, _ = checker.Check(recs, named(t, "set"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.BoundedStaleness}, Bounds: map[checker.Guarantee]time.Duration{checker.BoundedStaleness: 20 * time.Millisecond}})
	if r := row(t, res, checker.BoundedStaleness); r.Total != 2 {
		t.Errorf("reads 40 and 140 ms late past a 20 ms bound: %d violations, want 2", r.Total)
	}
}

func TestConvergenceTime(t *testing.T) {
	// The heal at 40 ms, the final reads from 100 ms; n2 answers the old
	// value until 310 ms: the nodes agreed 210 ms after the final reads
	// began (the wait before them is not theirs).
	recs := hist(t, "register", "1 n1 w 3 ok 0 10", "fault 20", "heal 40", "9 n1 r 3 ok 100 110", "10 n2 r nil ok 100 110", "11 n1 r 3 ok 300 310", "12 n2 r 3 ok 300 310")
	res, err := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.Converges}})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Convergence
	if res.Verdict != checker.Valid || c.Agreed != 1 || c.AgreedLate != 1 || c.MaxMS != 210 {
		t.Fatalf("verdict %s, convergence %+v", res.Verdict, c)
	}
	// converges holds only if they agreed within converge_within.
	for within, want := range map[time.Duration]checker.Status{300 * time.Millisecond: checker.Held, 100 * time.Millisecond: checker.Violated} {
		res, _ := checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.Converges}, ConvergeWithin: within})
		if r := row(t, res, checker.Converges); r.Status != want || want == checker.Violated && (len(r.Violations) != 1 || !strings.Contains(r.Violations[0].What, "past converge_within 100ms")) {
			t.Errorf("agreed after 210 ms, converge_within %v: %s, want %s: %+v", within, r.Status, want, r.Violations)
		}
	}
	// One node never answered: undecided, not agreed.
	recs = hist(t, "register", "1 n1 w 3 ok 0 10", "fault 15", "2 n3 r 3 ok 20 30", "heal 40", "9 n1 r 3 ok 100 110", "10 n2 r 3 ok 100 110", "11 n3 r 3 fail 100 110")
	res, _ = checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.Converges}})
	if r := row(t, res, checker.Converges); r.Status != checker.Undecided || !strings.Contains(r.Note, "n3") {
		t.Errorf("a node with no final read: %+v", r)
	}
}

// A recorded history of a real etcd cluster holds every guarantee; each
// mutation of it breaks the guarantee it targets.
func TestRecordedHistoryMutations(t *testing.T) {
	base := load(t, "etcd-register-valid.jsonl.gz")
	res, err := checker.Check(base, named(t, "register"), checker.Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Guarantees {
		if r.Status == checker.Violated {
			t.Fatalf("recorded etcd history: %s violated: %s", r.Guarantee, describe(r))
		}
	}
	// A process read v1, then v2: make a later read of it return v1 again.
	recs := slices.Clone(base)
	type seen struct {
		v1, v2 string
	}
	reads := map[string]*seen{}
	mutated := false
	for i, r := range recs {
		if r.Type != history.OK || r.F != "read" || string(r.Value) == "null" {
			continue
		}
		id := r.Process.String() + "/" + r.Key
		s := reads[id]
		switch {
		case s == nil:
			reads[id] = &seen{v1: string(r.Value)}
		case s.v2 == "" && string(r.Value) != s.v1:
			s.v2 = string(r.Value)
		case s.v2 != "" && string(r.Value) != s.v1:
			recs[i].Value = json.RawMessage(s.v1)
			mutated = true
		}
		if mutated {
			break
		}
	}
	if !mutated {
		t.Fatal("no process read two values and then a third time")
	}
	res, err = checker.Check(recs, named(t, "register"), checker.Options{Budget: time.Minute, Expect: []checker.Guarantee{checker.MonotonicReads}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Invalid {
		t.Errorf("reads swapped: %s", res.Boundary)
	}
}
