package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/faultline/faultline/history"
)

// A client that goes on as a new process after an unknown outcome stays in
// its lane; operations are ordered by invocation and delta-encoded; a page
// holds at most pageOps operations; faults and the leader come along.
func TestTimelineLanesAndEncoding(t *testing.T) {
	recs, err := history.Read(strings.NewReader(`{"index":0,"process":"nemesis","type":"info","f":"leader","value":{"leader":"n1"},"time":0}
{"index":1,"process":0,"node":"n1","type":"invoke","f":"write","key":"k","value":1,"time":1000000}
{"index":2,"process":1,"node":"n2","type":"invoke","f":"read","key":"k","time":2000000}
{"index":3,"process":0,"node":"n1","type":"info","f":"write","key":"k","value":1,"error":"timeout","time":3000000}
{"index":4,"process":1,"node":"n2","type":"ok","f":"read","key":"k","value":1,"time":3500000}
{"index":5,"process":"nemesis","type":"info","f":"partition","value":{"shape":"isolate","summary":"n1 | n2"},"time":4000000}
{"index":6,"process":2,"node":"n1","type":"invoke","f":"read","key":"k","time":5000000}
{"index":7,"process":2,"node":"n1","type":"fail","f":"read","key":"k","error":"refused","time":6000000}
{"index":8,"process":"nemesis","type":"info","f":"heal","time":7000000}
`))
	if err != nil {
		t.Fatal(err)
	}
	d := timelineOf(recs, 2)
	if want := []string{"client 0 · n1", "client 1 · n2"}; strings.Join(d.Lanes, "|") != strings.Join(want, "|") {
		t.Errorf("lanes %q, want %q (process 2 is client 0 again)", d.Lanes, want)
	}
	if len(d.Ops) != 3 {
		t.Fatalf("%d operations, want 3", len(d.Ops))
	}
	// write at 1 ms for 2 ms, read at 2 ms for 1.5 ms, read at 5 ms for 1 ms, in units of 0.1 ms.
	for i, want := range [][]any{
		{0, int64(10), int64(20), 2, 0, 0, "1", int64(1), "timeout"},
		{1, int64(10), int64(15), 0, 1, 0, "→ 1", int64(1)},
		{0, int64(30), int64(10), 1, 1, 0, "", int64(4), "refused"},
	} {
		if got := d.Ops[i]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("op %d: %v, want %v", i, got, want)
		}
	}
	if len(d.Faults) != 1 || d.Faults[0][2] != "partition isolate: n1 | n2" {
		t.Errorf("faults %v", d.Faults)
	}
	if len(d.Leader) != 1 || d.Leader[0][2] != "n1" {
		t.Errorf("leader %v", d.Leader)
	}
	// Without the number of clients, a lane per process.
	if d := timelineOf(recs, 0); len(d.Lanes) != 3 {
		t.Errorf("lanes %q, want one per process", d.Lanes)
	}
}

// Pages split at pageOps operations.
func TestTimelinePages(t *testing.T) {
	recs := synthetic(2*pageOps + 10)
	d := timelineOf(recs, 30)
	if len(d.Ops) != 2*pageOps+10 || len(d.Pages) != 3 || d.Pages[1] != pageOps || d.Pages[2] != 2*pageOps {
		t.Errorf("%d operations in pages starting at %v", len(d.Ops), d.Pages)
	}
}

// The final reads, after the end-of-run heal, have lanes of their own, and
// a read's label is what it returned.
func TestTimelineFinalReads(t *testing.T) {
	recs, err := history.Read(strings.NewReader(`{"index":0,"process":0,"node":"n1","type":"invoke","f":"read","key":"k","value":null,"time":1000000}
{"index":1,"process":0,"node":"n1","type":"ok","f":"read","key":"k","value":3,"time":2000000}
{"index":2,"process":"nemesis","type":"info","f":"heal","value":{"why":"end of run"},"time":3000000}
{"index":3,"process":7,"node":"n2","type":"invoke","f":"read","key":"k","value":null,"time":4000000}
{"index":4,"process":7,"node":"n2","type":"ok","f":"read","key":"k","value":3,"time":5000000}
`))
	if err != nil {
		t.Fatal(err)
	}
	d := timelineOf(recs, 2)
	if strings.Join(d.Lanes, "|") != "client 0 · n1|final reads · n2" || len(d.Ops) != 2 || d.Ops[1][0] != 1 || d.Ops[0][6] != "→ 3" {
		t.Errorf("lanes %q, operations %v", d.Lanes, d.Ops)
	}
}
