package workloads_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/workloads"
)

// fakeRegister is an in-memory register that times out every third write,
// to exercise the runner's bookkeeping (the real proof is the end-to-end
// run against etcd in package harness).
type fakeRegister struct {
	mu     *sync.Mutex
	state  map[string]int64
	writes *int
}

func (f *fakeRegister) Invoke(ctx context.Context, op workloads.Op) workloads.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op.F {
	case "read":
		b, _ := json.Marshal(f.state[op.Key])
		return workloads.Result{Outcome: workloads.OK, Value: b}
	case "write":
		var v int64
		json.Unmarshal(op.Value, &v)
		*f.writes++
		f.state[op.Key] = v
		if *f.writes%3 == 0 {
			return workloads.Result{Outcome: workloads.Unknown, Err: errors.New("timeout")}
		}
		return workloads.Result{Outcome: workloads.OK}
	default:
		var pair [2]*int64
		json.Unmarshal(op.Value, &pair)
		old := int64(0)
		if pair[0] != nil {
			old = *pair[0]
		}
		if f.state[op.Key] != old {
			return workloads.Result{Outcome: workloads.Fail, Err: errors.New("compare failed")}
		}
		f.state[op.Key] = *pair[1]
		return workloads.Result{Outcome: workloads.OK}
	}
}

func (f *fakeRegister) Close() error { return nil }

func TestRunRecordsEveryOperation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	h, err := history.Create(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mu, writes := &sync.Mutex{}, 0
	state := map[string]int64{}
	var clients []workloads.Pinned
	for i := range 4 {
		clients = append(clients, workloads.Pinned{Node: []string{"n1", "n2"}[i%2], Client: &fakeRegister{mu: mu, state: state, writes: &writes}})
	}
	cfg := workloads.Config{Kind: workloads.Register.Name, Keys: 3, OpsPerKey: 50, Rate: 2000, Read: 2, Write: 1, CAS: 1, OpTimeout: time.Second, Seed: 1}
	gen, err := workloads.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := workloads.Run(context.Background(), time.Now().Add(300*time.Millisecond), cfg, gen, clients, h)
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
	perKey := map[string]int{}
	maxProcess := history.Process(0)
	for _, r := range recs {
		maxProcess = max(maxProcess, r.Process)
		if r.Type == history.Invoke {
			perKey[r.Key]++
			if _, busy := open[r.Process]; busy {
				t.Fatalf("process %s invoked twice: %+v", r.Process, r)
			}
			open[r.Process] = r
			if r.F == "write" {
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
	// Keys retire after 50 operations: more than 3 keys were used, none past 50.
	if len(perKey) <= 3 {
		t.Errorf("keys used: %v; want fresh keys after 50 operations each", perKey)
	}
	for k, n := range perKey {
		if n > 50 {
			t.Errorf("key %s got %d operations, more than ops_per_key 50", k, n)
		}
	}
}
