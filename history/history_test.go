package history_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Create(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := w.Append(history.Record{Process: history.Process(p), Type: history.Invoke, F: "read", Key: "k0"}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// Every Append is on disk before Close: read it back now.
	recs, err := history.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 400 {
		t.Fatalf("read %d records, want 400", len(recs))
	}
	for i, r := range recs {
		if r.Index != int64(i) {
			t.Fatalf("record %d has index %d", i, r.Index)
		}
		if i > 0 && r.Time < recs[i-1].Time {
			t.Fatalf("time goes backwards at %d", i)
		}
	}
	if _, err := w.Append(history.Record{Process: history.Nemesis, Type: history.Info, F: "heal"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(history.Record{}); err == nil {
		t.Fatal("append after close succeeded")
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"process":"nemesis"`) {
		t.Errorf("nemesis process not written as a string:\n%s", b[len(b)-200:])
	}
}

func TestProcessJSON(t *testing.T) {
	for _, p := range []history.Process{0, 7, history.Nemesis} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back history.Process
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Errorf("%v -> %s -> %v (%v)", p, b, back, err)
		}
	}
	var p history.Process
	if err := json.Unmarshal([]byte(`"client"`), &p); err == nil {
		t.Error("accepted a bad process")
	}
}

func TestReadNamesBadLine(t *testing.T) {
	src := `{"index":0,"process":0,"type":"invoke","f":"read","time":1}

{"index":1,"process":0,"type":"done","f":"read","time":2}
`
	recs, err := history.Read(strings.NewReader(src))
	if err == nil || !strings.HasPrefix(err.Error(), "3: ") {
		t.Fatalf("want an error naming line 3, got %v", err)
	}
	if len(recs) != 1 {
		t.Errorf("records before the bad line: %d, want 1", len(recs))
	}
	_, err = history.Read(strings.NewReader(`{"index":0,"process":0,"type":"ok","f":"read","time":1,"extra":1}`))
	if err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

func TestFaultWindows(t *testing.T) {
	recs, err := history.Read(strings.NewReader(`{"index":0,"process":"nemesis","type":"info","f":"partition","value":{"shape":"halves","summary":"n1 | n2 n3","observed":{"udp/47001":{"n2":["n3"]}}},"time":10}
{"index":1,"process":0,"type":"invoke","f":"read","time":15}
{"index":2,"process":"nemesis","type":"info","f":"heal","time":20}
{"index":3,"process":"nemesis","type":"invoke","f":"start","time":25}
{"index":4,"process":"nemesis","type":"info","f":"kill","value":{"nodes":["n2"]},"time":30}
{"index":5,"process":0,"type":"ok","f":"read","time":40}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := history.FaultWindows(recs)
	if len(w) != 2 {
		t.Fatalf("windows %+v, want 2 (a Jepsen-style invoke starts nothing)", w)
	}
	if w[0].Label != "partition halves: n1 | n2 n3" || w[0].Start != 10 || w[0].End != 20 || len(w[0].Observed["udp/47001"]["n2"]) != 1 {
		t.Errorf("first window %+v", w[0])
	}
	if w[1].Label != "kill n2" || w[1].Start != 30 || w[1].End != 40 {
		t.Errorf("a fault still in force ends with the history: %+v", w[1])
	}
}

// faultline's nemesis records each fault's invocation before it acts and
// its completion once the probes confirm it: the window starts at the
// invocation and keeps the confirmation beside it; the heal likewise, with
// what its probes saw. The history's marks open nothing.
func TestFaultWindowsFromInvocation(t *testing.T) {
	recs, err := history.Read(strings.NewReader(`{"index":0,"process":"nemesis","type":"info","f":"begin","value":{"format":2},"time":0}
{"index":1,"process":"nemesis","type":"invoke","f":"partition","value":{"shape":"isolate","summary":"n1 | n2 n3"},"time":3000}
{"index":2,"process":0,"type":"invoke","f":"read","time":3100}
{"index":3,"process":"nemesis","type":"info","f":"partition","value":{"shape":"isolate","summary":"n1 | n2 n3","observed":{"udp/47001":{"n2":["n3"]}}},"time":3260}
{"index":4,"process":0,"type":"ok","f":"read","time":3300}
{"index":5,"process":"nemesis","type":"invoke","f":"heal","value":{},"time":8000}
{"index":6,"process":"nemesis","type":"info","f":"heal","value":{"observed":{"udp/47001":{"n1":["n2","n3"]}}},"time":8250}
{"index":7,"process":"nemesis","type":"info","f":"end","value":{"records":7},"time":9000}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := history.FaultWindows(recs)
	if len(w) != 1 {
		t.Fatalf("windows %+v, want 1", w)
	}
	if w[0].Start != 3000 || w[0].Confirmed != 3260 || w[0].End != 8000 || w[0].HealConfirmed != 8250 || len(w[0].Healed["udp/47001"]["n1"]) != 2 || len(w[0].Observed["udp/47001"]["n2"]) != 1 {
		t.Errorf("window %+v: want applied at 3000, confirmed at 3260, healed at 8000, confirmed at 8250 with its probes", w[0])
	}
}

// Leader events are observations: they open no fault window, and they
// give the leader over time, a span per change.
func TestLeaders(t *testing.T) {
	recs, err := history.Read(strings.NewReader(`{"index":0,"process":"nemesis","type":"info","f":"leader","value":{"leader":"n1"},"time":5}
{"index":1,"process":"nemesis","type":"info","f":"partition","value":{"shape":"isolate","summary":"n1 | n2 n3"},"time":10}
{"index":2,"process":"nemesis","type":"info","f":"leader","value":{"leader":"n1"},"time":12}
{"index":3,"process":"nemesis","type":"info","f":"leader","value":{"leader":"","error":"no leader"},"time":14}
{"index":4,"process":"nemesis","type":"info","f":"leader","value":{"leader":"n2"},"time":16}
{"index":5,"process":"nemesis","type":"info","f":"heal","time":20}
{"index":6,"process":0,"type":"invoke","f":"read","time":30}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := history.FaultWindows(recs)
	if len(w) != 1 || w[0].Start != 10 || w[0].End != 20 {
		t.Fatalf("windows %+v, want the partition alone, 10 to 20", w)
	}
	got := history.Leaders(recs)
	want := []history.LeaderSpan{{Leader: "n1", Start: 5, End: 14}, {Leader: "", Start: 14, End: 16}, {Leader: "n2", Start: 16, End: 30}}
	if !slices.Equal(got, want) {
		t.Fatalf("leaders %+v, want %+v", got, want)
	}
	for at, leader := range map[int64]string{4: "", 5: "n1", 13: "n1", 15: "", 29: "n2", 30: ""} {
		if l := history.LeaderAt(got, at); l != leader {
			t.Errorf("leader at %d: %q, want %q", at, l, leader)
		}
	}
}

func TestReadTruncatedLastLine(t *testing.T) {
	full := `{"index":0,"process":1,"type":"invoke","f":"write","key":"k","value":1,"time":5}
{"index":1,"process":1,"type":"ok","f":"write","key":"k","value":1,"time":9}
`
	for cut := len(full) - 1; cut > strings.Index(full, "\n")+1; cut-- {
		recs, err := history.Read(strings.NewReader(full[:cut]))
		switch {
		case cut == len(full)-1: // only the newline is missing: the record is whole
			if err != nil || len(recs) != 2 {
				t.Fatalf("cut at %d: %d records, %v", cut, len(recs), err)
			}
		default:
			if !errors.Is(err, history.ErrTruncated) || len(recs) != 1 || !strings.HasPrefix(err.Error(), "2: ") {
				t.Fatalf("cut at %d: %d records, %v; want the first record and ErrTruncated naming line 2", cut, len(recs), err)
			}
		}
	}
	// A bad line that does end with its newline is damage, not a cut.
	_, err := history.Read(strings.NewReader("{\"index\":0,\n" + full))
	if err == nil || errors.Is(err, history.ErrTruncated) {
		t.Fatalf("bad complete line: %v", err)
	}
}
