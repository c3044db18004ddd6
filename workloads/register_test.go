package workloads_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/workloads"
)

// fakeClient is an in-memory register that times out every third write, to
// exercise the generator's bookkeeping (the real proof is the end-to-end
// run against etcd in package harness).
type fakeClient struct {
	mu     *sync.Mutex
	state  map[string]int64
	writes int
}

func (f *fakeClient) Do(ctx context.Context, op workloads.RegOp) workloads.RegResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op.F {
	case workloads.FRead:
		return workloads.RegResult{Outcome: workloads.OK, Read: f.state[op.Key]}
	case workloads.FWrite:
		f.writes++
		f.state[op.Key] = op.Value
		if f.writes%3 == 0 {
			return workloads.RegResult{Outcome: workloads.Unknown, Err: errors.New("timeout")}
		}
		return workloads.RegResult{Outcome: workloads.OK}
	default:
		if f.state[op.Key] != op.Old {
			return workloads.RegResult{Outcome: workloads.Fail, Err: errors.New("compare failed")}
		}
		f.state[op.Key] = op.Value
		return workloads.RegResult{Outcome: workloads.OK}
	}
}

func (f *fakeClient) Close() error { return nil }

func TestRegisterRecordsEveryOperation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	h, err := history.Create(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mu := &sync.Mutex{}
	state := map[string]int64{}
	var clients []workloads.Pinned
	for i := range 4 {
		clients = append(clients, workloads.Pinned{Node: []string{"n1", "n2"}[i%2], Client: &fakeClient{mu: mu, state: state}})
	}
	stats, err := workloads.RunRegister(context.Background(), time.Now().Add(300*time.Millisecond),
		workloads.RegisterConfig{Keys: 3, Rate: 2000, Read: 2, Write: 1, CAS: 1, OpTimeout: time.Second, Seed: 1}, clients, h)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	recs, err := history.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if stats.OK == 0 || stats.Info == 0 || stats.Fail == 0 {
		t.Fatalf("want some ok, fail and info, got %+v", stats)
	}
	open := map[history.Process]history.Record{}
	written := map[string]bool{}
	maxProcess := history.Process(0)
	for _, r := range recs {
		maxProcess = max(maxProcess, r.Process)
		if r.Type == history.Invoke {
			if _, busy := open[r.Process]; busy {
				t.Fatalf("process %s invoked twice: %+v", r.Process, r)
			}
			open[r.Process] = r
			if r.F == workloads.FWrite {
				if written[string(r.Value)] {
					t.Fatalf("value %s written twice", r.Value)
				}
				written[string(r.Value)] = true
			}
			continue
		}
		inv, ok := open[r.Process]
		if !ok || inv.F != r.F || inv.Key != r.Key || inv.Node != r.Node {
			t.Fatalf("completion %+v does not match invoke %+v", r, inv)
		}
		delete(open, r.Process)
	}
	if len(open) != 0 {
		t.Errorf("invokes without completion: %v", open)
	}
	total := stats.OK + stats.Fail + stats.Info
	if int64(len(recs)) != 2*total {
		t.Errorf("%d records for %d operations", len(recs), total)
	}
	// Every unknown outcome moves its client to a new process.
	if int64(maxProcess) < 4 {
		t.Errorf("highest process %d after %d unknown outcomes", maxProcess, stats.Info)
	}
}
