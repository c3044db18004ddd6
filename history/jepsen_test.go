package history_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/history"
)

// rec is what a test expects of one record; Value is compared as text.
type rec struct {
	Process history.Process
	Type    history.Type
	F, Key  string
	Value   string
	Error   string
}

func got(r history.Record) rec {
	return rec{r.Process, r.Type, r.F, r.Key, string(r.Value), r.Error}
}

func readEDN(t *testing.T, src string, o history.JepsenOptions) []history.Record {
	t.Helper()
	recs, err := history.ReadJepsenEDNWith(strings.NewReader(src), o)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func readLog(t *testing.T, src string, o history.JepsenOptions) []history.Record {
	t.Helper()
	recs, err := history.ReadJepsenLogWith(strings.NewReader(src), o)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func wantRecords(t *testing.T, recs []history.Record, want []rec) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, r := range recs {
		if got(r) != want[i] {
			t.Errorf("record %d: %+v\n               want %+v", i, got(r), want[i])
		}
	}
}

var (
	unknown = history.JepsenOptions{NilReads: history.NilUnknown}
	absent  = history.JepsenOptions{NilReads: history.NilAbsent}
)

// Knossos's nil read: unknown by default (matches any state), or absent.
func TestJepsenNilReads(t *testing.T) {
	edn := `{:type :invoke, :f :read, :value nil, :process 0}
{:type :ok, :f :read, :value nil, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 3, :process 1}
{:type :invoke, :f :write, :value nil, :process 2}
{:type :ok, :f :write, :value nil, :process 2}
{:type :invoke, :f :read, :value nil, :process 3}
{:type :fail, :f :read, :value nil, :process 3}`
	nilRead := func(typ history.Type, e string) []rec {
		return []rec{
			{0, history.Invoke, "read", "register", "null", ""},
			{0, typ, "read", "register", "null", e},
			{1, history.Invoke, "read", "register", "null", ""},
			{1, history.OK, "read", "register", "3", ""},
			// only reads: a write of nil is left to the checker
			{2, history.Invoke, "write", "register", "null", ""},
			{2, history.OK, "write", "register", "null", ""},
			{3, history.Invoke, "read", "register", "null", ""},
			{3, history.Fail, "read", "register", "null", ""},
		}
	}
	wantRecords(t, readEDN(t, edn, history.JepsenOptions{}), nilRead(history.Info, history.NilReadError))
	wantRecords(t, readEDN(t, edn, unknown), nilRead(history.Info, history.NilReadError))
	wantRecords(t, readEDN(t, edn, absent), nilRead(history.OK, ""))
	if !strings.Contains(history.NilReadError, "-jepsen-nil absent") {
		t.Errorf("the explanation does not say how to read it otherwise: %q", history.NilReadError)
	}

	// After splitting jepsen.independent tuples: [k nil].
	tuples := `{:type :invoke, :f :read, :value [7 nil], :process 0}
{:type :ok, :f :read, :value [7 nil], :process 0}`
	wantRecords(t, readEDN(t, tuples, unknown), []rec{
		{0, history.Invoke, "read", "7", "null", ""},
		{0, history.Info, "read", "7", "null", history.NilReadError},
	})
	wantRecords(t, readEDN(t, tuples, absent), []rec{
		{0, history.Invoke, "read", "7", "null", ""},
		{0, history.OK, "read", "7", "null", ""},
	})

	// The log format too.
	log := "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tnil\n"
	if r := readLog(t, log, history.JepsenOptions{}); r[1].Type != history.Info || r[1].Error != history.NilReadError {
		t.Errorf("log nil read, default: %+v", got(r[1]))
	}
	if r := readLog(t, log, absent); r[1].Type != history.OK || string(r[1].Value) != "null" {
		t.Errorf("log nil read, absent: %+v", got(r[1]))
	}

	// A bad meaning is refused by every reader.
	bad := history.JepsenOptions{NilReads: "maybe"}
	if _, err := history.ReadJepsenEDNWith(strings.NewReader(edn), bad); err == nil || !strings.Contains(err.Error(), `"maybe"`) {
		t.Errorf("EDN with a bad meaning: %v", err)
	}
	if _, err := history.ReadJepsenLogWith(strings.NewReader(log), bad); err == nil {
		t.Error("log with a bad meaning accepted")
	}
	for s, want := range map[string]history.NilReadMeaning{"unknown": history.NilUnknown, "absent": history.NilAbsent} {
		if m, err := history.ParseNilReadMeaning(s); err != nil || m != want {
			t.Errorf("ParseNilReadMeaning(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Unknown", "none"} {
		if _, err := history.ParseNilReadMeaning(s); err == nil || !strings.Contains(err.Error(), "want unknown or absent") {
			t.Errorf("ParseNilReadMeaning(%q): %v", s, err)
		}
	}
}

// ReadFormatWith applies the meaning to Jepsen's formats, never to
// faultline's, where null is "absent".
func TestReadFormatNilReads(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	faultline := write("history.jsonl", `{"index":0,"process":0,"type":"invoke","f":"read","key":"k","time":1}
{"index":1,"process":0,"type":"ok","f":"read","key":"k","value":null,"time":2}
`)
	edn := write("history.edn", "{:type :invoke, :f :read, :value nil, :process 0}\n{:type :ok, :f :read, :value nil, :process 0}\n")
	for _, tc := range []struct {
		path   string
		o      history.JepsenOptions
		format string
		typ    history.Type
	}{
		{faultline, unknown, history.FormatFaultline, history.OK},
		{faultline, absent, history.FormatFaultline, history.OK},
		{edn, history.JepsenOptions{}, history.FormatEDN, history.Info},
		{edn, unknown, history.FormatEDN, history.Info},
		{edn, absent, history.FormatEDN, history.OK},
	} {
		recs, format, err := history.ReadFormatWith(tc.path, history.FormatAuto, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if format != tc.format || recs[1].Type != tc.typ {
			t.Errorf("%s with %q: %s, read completes %s; want %s, %s", filepath.Base(tc.path), tc.o.NilReads, format, recs[1].Type, tc.format, tc.typ)
		}
	}
	// ReadFormat is ReadFormatWith with Jepsen's meaning.
	recs, _, err := history.ReadFormat(edn, history.FormatAuto)
	if err != nil || recs[1].Type != history.Info {
		t.Errorf("ReadFormat: %+v, %v", recs, err)
	}
	if _, _, err := history.ReadFormatWith(edn, history.FormatAuto, history.JepsenOptions{NilReads: "nil"}); err == nil {
		t.Error("ReadFormatWith accepted a bad meaning")
	}
}

// Log lines: fields split by any whitespace, values with spaces, trailing
// error text, no value at all; the tab form still works.
func TestJepsenLogWhitespace(t *testing.T) {
	recs, format, err := history.ReadFormat("testdata/jepsen-spaces.log", history.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if format != history.FormatJepsenLog {
		t.Errorf("detected %s", format)
	}
	n := history.Nemesis
	wantRecords(t, recs, []rec{
		{0, history.Invoke, "write", "register", "4", ""},
		{0, history.OK, "write", "register", "4", ""},
		{3, history.Invoke, "cas", "register", "[4,4]", ""},
		{3, history.OK, "cas", "register", "[4,4]", ""},
		{n, history.Invoke, "start", "", "", ""},
		{n, history.Info, "start", "", `"Cut off {:n1 #{:n2 :n3}}"`, ""},
		{1, history.Invoke, "read", "register", "null", ""},
		{1, history.Info, "read", "register", "null", history.NilReadError},
		{2, history.Invoke, "write", "register", "5", ""},
		{2, history.Info, "write", "register", "5", "indeterminate: read timed out"},
		{n, history.Invoke, "stop", "", "", ""},
		{n, history.Info, "stop", "", `"network-healed"`, ""},
		{4, history.Invoke, "read", "register", "null", ""},
		{4, history.Fail, "read", "register", "null", ":timeout"},
	})
	for i, r := range recs {
		if r.Index != int64(i) || r.Time != int64(i)*1000 {
			t.Errorf("record %d: index %d, time %d; want file order, 1 µs apart", i, r.Index, r.Time)
		}
	}

	for _, tc := range []struct{ line, value, err string }{
		{"0\t:invoke\t:cas\t[3 0]", "[3,0]", ""},
		{"0 :invoke :cas [3 0]", "[3,0]", ""},
		{"  0  \t :invoke \t :cas   [3    0]   ", "[3,0]", ""},
		{"0 :invoke :write {:a 1, :b [2 3]}", `{"a":1,"b":[2,3]}`, ""},
		{`0 :invoke :write "a b"`, `"a b"`, ""},
		{`0 :invoke :write "a \"b\" ]" :x`, `"a \"b\" ]"`, ":x"},
		{"0 :invoke :write #{2 1}\t:some error", "[1,2]", ":some error"},
		{"0 :invoke :write [1 [2 [3]] 4] oops [", "[1,[2,[3]],4]", "oops ["},
		{`0 :invoke :write #inst "2024-05-01T00:00:00Z" late`, `"2024-05-01T00:00:00Z"`, "late"},
		{`0 :invoke :write \a b`, `97`, "b"},
		{"0 :invoke :write", "null", ""},
		{"0 :invoke :write 7", "7", ""},
	} {
		recs := readLog(t, "INFO  jepsen.util - "+tc.line+"\n", absent)
		if v := string(recs[0].Value); v != tc.value || recs[0].Error != tc.err {
			t.Errorf("%q: value %s, error %q; want %s, %q", tc.line, v, recs[0].Error, tc.value, tc.err)
		}
	}

	for _, tc := range []struct{ line, want string }{
		{"0 :invoke", "want process, type and f separated by whitespace"},
		{"x :invoke :read nil", `process "x" is not a number or :nemesis`},
		{"3abc :invoke :read nil", `process "3abc"`},
		{"0 :invoke :cas [4 4", `value "[4 4"`},
		{"0 :done :read nil", "type :done is not"},
	} {
		_, err := history.ReadJepsenLog(strings.NewReader("INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - " + tc.line + "\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want line 2: ...%s", tc.line, err, tc.want)
		}
	}
}

// :index and :time are used when every operation has them; otherwise file
// order, 1 µs apart.
func TestJepsenIndexTime(t *testing.T) {
	type it struct{ index, time int64 }
	for _, tc := range []struct {
		name, src string
		want      []it
	}{
		{"both", `{:index 10, :time 5000000, :type :invoke, :f :read, :process 0}
{:index 11, :time 7500000, :type :ok, :f :read, :value 1, :process 0}
{:index 12, :time 9000000, :type :info, :f :start, :process :nemesis}`, []it{{10, 5000000}, {11, 7500000}, {12, 9000000}}},
		{"neither", `{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :value 1, :process 0}
{:type :info, :f :start, :process :nemesis}`, []it{{0, 0}, {1, 1000}, {2, 2000}}},
		{"time on some", `{:index 10, :time 5000000, :type :invoke, :f :read, :process 0}
{:index 11, :type :ok, :f :read, :value 1, :process 0}
{:index 12, :time 9000000, :type :info, :f :start, :process :nemesis}`, []it{{10, 0}, {11, 1000}, {12, 2000}}},
		{"index on some", `{:index 10, :time 5000000, :type :invoke, :f :read, :process 0}
{:time 7500000, :type :ok, :f :read, :value 1, :process 0}
{:index 12, :time 9000000, :type :info, :f :start, :process :nemesis}`, []it{{0, 5000000}, {1, 7500000}, {2, 9000000}}},
	} {
		recs := readEDN(t, tc.src, history.JepsenOptions{})
		for i, r := range recs {
			if (it{r.Index, r.Time}) != tc.want[i] {
				t.Errorf("%s: record %d has index %d, time %d; want %+v", tc.name, i, r.Index, r.Time, tc.want[i])
			}
		}
	}
	for _, src := range []string{
		`{:index 0, :time 1.5, :type :invoke, :f :read, :process 0}`,
		`{:index "0", :time 1, :type :invoke, :f :read, :process 0}`,
	} {
		if _, err := history.ReadJepsenEDN(strings.NewReader(src)); err == nil || !strings.Contains(err.Error(), "is not an integer") {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// jepsen.independent: [k v] tuples are split for reads, writes, cas, adds,
// decided for the whole history; plain histories are left whole.
func TestJepsenIndependent(t *testing.T) {
	// Reads only: the invocation's [k nil] says so.
	wantRecords(t, readEDN(t, `{:type :invoke, :f :read, :value [:a nil], :process 0}
{:type :ok, :f :read, :value [:a 3], :process 0}`, absent), []rec{
		{0, history.Invoke, "read", "a", "null", ""},
		{0, history.OK, "read", "a", "3", ""},
	})
	// Cas only: [k [old new]].
	wantRecords(t, readEDN(t, `{:type :invoke, :f :cas, :value [1 [1 2]], :process 0}
{:type :fail, :f :cas, :value [1 [1 2]], :process 0}
{:type :invoke, :f :cas, :value [2 [0 5]], :process 1}
{:type :ok, :f :cas, :value [2 [0 5]], :process 1}`, absent), []rec{
		{0, history.Invoke, "cas", "1", "[1,2]", ""},
		{0, history.Fail, "cas", "1", "[1,2]", ""},
		{1, history.Invoke, "cas", "2", "[0,5]", ""},
		{1, history.OK, "cas", "2", "[0,5]", ""},
	})
	// A plain cas-register: cas [old new] is not a tuple.
	wantRecords(t, readEDN(t, `{:type :invoke, :f :cas, :value [1 2], :process 0}
{:type :ok, :f :cas, :value [1 2], :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 2, :process 1}`, absent), []rec{
		{0, history.Invoke, "cas", "register", "[1,2]", ""},
		{0, history.OK, "cas", "register", "[1,2]", ""},
		{1, history.Invoke, "read", "register", "null", ""},
		{1, history.OK, "read", "register", "2", ""},
	})
	// A plain set or list: a read of two elements is not a tuple.
	wantRecords(t, readEDN(t, `{:type :invoke, :f :add, :value 1, :process 0}
{:type :ok, :f :add, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value [1 1], :process 1}`, absent), []rec{
		{0, history.Invoke, "add", "register", "1", ""},
		{0, history.OK, "add", "register", "1", ""},
		{1, history.Invoke, "read", "register", "null", ""},
		{1, history.OK, "read", "register", "[1,1]", ""},
	})
	// Sets, adds and duplicates, from a file.
	recs, format, err := history.ReadFormat("testdata/jepsen-independent-set.edn", history.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if format != history.FormatEDN {
		t.Errorf("detected %s", format)
	}
	wantRecords(t, recs, []rec{
		{0, history.Invoke, "add", "0", "5", ""},
		{0, history.OK, "add", "0", "5", ""},
		{1, history.Invoke, "add", "1", "6", ""},
		{1, history.Info, "add", "1", "6", ":timeout"},
		{2, history.Invoke, "read", "0", "null", ""},
		{2, history.OK, "read", "0", "[3,4,5]", ""},
		{3, history.Invoke, "read", "1", "null", ""},
		{3, history.OK, "read", "1", "[6,6]", ""}, // a vector keeps its duplicates
		{4, history.Invoke, "read", "2", "null", ""},
		{4, history.OK, "read", "2", "[]", ""}, // an empty set is an empty array, not null
	})
	if recs[5].Time != 60 {
		t.Errorf(":time not used: %d", recs[5].Time)
	}
	// Per history: once one value is a tuple, every one must be.
	_, err = history.ReadJepsenEDN(strings.NewReader(`{:type :invoke, :f :write, :value 3, :process 0}
{:type :ok, :f :write, :value 3, :process 0}
{:type :invoke, :f :write, :value [1 3], :process 1}`))
	if err == nil || !strings.Contains(err.Error(), "operation 1: value 3 is not a [key value] tuple, though operation 3's value [1 3] is") {
		t.Errorf("mixed history: %v", err)
	}
	// A successful read of [k v] alone decides nothing; with a write of
	// [k v] it is split.
	wantRecords(t, readEDN(t, `{:type :invoke, :f :write, :value [1 3], :process 0}
{:type :ok, :f :write, :value [1 3], :process 0}
{:type :ok, :f :read, :value [1 3], :process 1}`, absent), []rec{
		{0, history.Invoke, "write", "1", "3", ""},
		{0, history.OK, "write", "1", "3", ""},
		{1, history.OK, "read", "1", "3", ""},
	})
}

// EDN sets become arrays in a fixed order, whatever is in them; vectors
// and lists keep their order and duplicates.
func TestJepsenValues(t *testing.T) {
	for _, tc := range []struct{ edn, json string }{
		{"#{3 1 2}", "[1,2,3]"},
		{"#{}", "[]"},
		{"[1 2 2]", "[1,2,2]"},
		{"(3 1 3)", "[3,1,3]"},
		{`#{"b" :a 2.5 1}`, `[1,2.5,"a","b"]`},
		{"#{[2 1] [1 2]}", "[[1,2],[2,1]]"},
		{"{[1] #{2}}", `{"[1]":[2]}`},
		{"{:k nil}", `{"k":null}`},
	} {
		recs := readEDN(t, "{:type :invoke, :f :write, :process 0, :value "+tc.edn+"}", absent)
		if v := string(recs[0].Value); v != tc.json {
			t.Errorf("%s -> %s, want %s", tc.edn, v, tc.json)
		}
	}
}

// Jepsen's nemesis: invocation and completion pairs, :start-partition /
// :stop-partition, :kill / :start, :pause / :resume, :start / :stop, each
// a fault window labelled with what the completion says, from the
// invocation (when the nemesis acted), confirmed at the completion.
func TestJepsenNemesisWindows(t *testing.T) {
	type win struct {
		label                 string
		start, confirmed, end int64
	}
	check := func(name string, recs []history.Record, want []win) {
		t.Helper()
		ws := history.FaultWindows(recs)
		var gotw []win
		for _, w := range ws {
			gotw = append(gotw, win{w.Label, w.Start, w.Confirmed, w.End})
		}
		if len(gotw) != len(want) {
			t.Fatalf("%s: windows %+v, want %+v", name, gotw, want)
		}
		for i := range want {
			if gotw[i] != want[i] {
				t.Errorf("%s: window %d %+v, want %+v", name, i, gotw[i], want[i])
			}
		}
	}
	recs, _, err := history.ReadFormat("testdata/jepsen-nemesis.edn", history.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	check("jepsen-nemesis.edn", recs, []win{
		{`start-partition ["isolated",{"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}]`, 3000, 4000, 7000},
		{`kill {"n1":"killed"}`, 9000, 10000, 11000},
		{`pause {"n2":"paused"}`, 13000, 14000, 15000},
		{`start "Cut off {:n1 #{:n2}}"`, 17000, 18000, 19000},
		{`start-partition ["isolated",{"n2":["n1","n3"]}]`, 21000, 22000, 24000}, // still in force at the end
	})
	// Invocations begin nothing; the ends are named as FaultWindows knows them.
	wantF := map[int64]string{2: "start-partition", 6: "stop", 7: "stop", 8: "kill", 10: "restart", 11: "restart", 14: "resume", 15: "resume", 18: "stop", 19: "stop"}
	for _, r := range recs {
		f, ok := wantF[r.Index]
		if !ok {
			continue
		}
		if r.F != f {
			t.Errorf("record %d: f %s, want %s", r.Index, r.F, f)
		}
		if invocation := r.Index%2 == 0; invocation != (r.Type == history.Invoke) {
			t.Errorf("record %d: type %s", r.Index, r.Type)
		}
	}

	// Jepsen's :start and :stop written once each, as faultline writes
	// its events, and :invoke typed invocations.
	check("lone", readEDN(t, `{:type :info, :f :start, :process :nemesis, :time 10}
{:type :invoke, :f :read, :process 0, :time 20}
{:type :ok, :f :read, :value 1, :process 0, :time 30}
{:type :info, :f :stop, :process :nemesis, :time 40}
{:type :invoke, :f :start, :value :majority, :process :nemesis, :time 50}
{:type :info, :f :start, :value [:isolated {"n1" #{"n2"}}], :process :nemesis, :time 60}
{:type :invoke, :f :stop-partition, :process :nemesis, :time 70}
{:type :info, :f :stop-partition, :process :nemesis, :time 80}
{:type :info, :f :kill, :value ["n1"], :process :nemesis, :time 90}
{:type :invoke, :f :start, :process :nemesis, :time 100}
{:type :fail, :f :start, :process :nemesis, :time 110}
{:type :invoke, :f :read, :process 0, :time 120}`, unknown), []win{
		{"start", 10, 10, 40},
		{`start ["isolated",{"n1":["n2"]}]`, 50, 60, 70},
		{`kill ["n1"]`, 90, 90, 120}, // a failed :start does not end it
	})

	// The log's nemesis lines: one window, from the invocation of :start
	// (confirmed at its completion) to the invocation of :stop.
	recs, _, err = history.ReadFormat("testdata/jepsen-spaces.log", history.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	check("jepsen-spaces.log", recs, []win{{`start "Cut off {:n1 #{:n2 :n3}}"`, 4000, 5000, 10000}})
}

// The value's end, found without decoding it.
func TestEDNFormLen(t *testing.T) {
	for _, v := range []string{
		"3", "nil", ":cas", "-1.5e3", "[4 4]", "[]", "[[1 2] [3 [4]]]", "{:a 1, :b {:c #{1 2}}}", "#{}", "#{#{1} [2]}",
		`"a b"`, `"a \" ] b"`, `"\\"`, "(1 (2) 3)", `#inst "2024-05-01T00:00:00Z"`, "#uuid \"00000000-0000-0000-0000-000000000000\"",
		`#jepsen.history.Op{:f :read}`, `\a`, `\space`, `\(`, `[\] \[]`, `[1 "]" 2]`,
	} {
		for _, tail := range []string{"", " x", "\tindeterminate: timeout [", "  :timeout"} {
			if n := history.EDNFormLen(v + tail); n != len(v) {
				t.Errorf("EDNFormLen(%q) = %d, want %d", v+tail, n, len(v))
			}
		}
	}
}
