package clients_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/workloads"
	"github.com/faultline/faultline/workloads/clients"
	"github.com/faultline/faultline/workloads/nodecheck"
)

func TestExternalClient(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("needs Linux")
	}
	tests := []struct {
		mode    string
		second  workloads.Outcome // outcome of the second write
		message string            // in the client's log
	}{
		{"good", workloads.OK, ""},
		{"crash", workloads.Unknown, "exited"},
		{"hang", workloads.Unknown, "did not answer within the operation timeout"},
		{"garbage", workloads.Unknown, "not a JSON response"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			logs := t.TempDir()
			ext := &clients.External{Command: []string{"python3", "testdata/client.py", tc.mode, filepath.Join(logs, "marker")}, LogDir: logs, OpTimeout: time.Second}
			c, err := ext.Open(context.Background(), workloads.Node{Name: "n1", Endpoint: "http://127.0.0.1:1"}, "register", 3)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			invoke := func(op workloads.Op) (workloads.Result, time.Duration) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				start := time.Now()
				return c.Invoke(ctx, op), time.Since(start)
			}
			w := func(v int) workloads.Op {
				b, _ := json.Marshal(v)
				return workloads.Register.Op("write", "k", b)
			}
			if r, _ := invoke(w(1)); r.Outcome != workloads.OK {
				t.Fatalf("first write: %+v", r)
			}
			r, took := invoke(w(2))
			if r.Outcome != tc.second || took > 1500*time.Millisecond {
				t.Fatalf("second write: %+v after %v, want outcome %d within the timeout", r, took, tc.second)
			}
			// The program is started again if it misbehaved; the next
			// operations work.
			if r, _ := invoke(w(3)); r.Outcome != workloads.OK {
				t.Fatalf("write after a restart: %+v", r)
			}
			r, _ = invoke(workloads.Register.Op("read", "k", json.RawMessage("null")))
			if r.Outcome != workloads.OK || string(r.Value) != "3" {
				t.Fatalf("read: %+v (value %s)", r, r.Value)
			}
			b, _ := os.ReadFile(filepath.Join(logs, "client-3.log"))
			if tc.message != "" && !strings.Contains(string(b), tc.message) {
				t.Errorf("client log lacks %q:\n%s", tc.message, b)
			}
		})
	}
	// A read the program hangs on fails rather than being unknown.
	ext := &clients.External{Command: []string{"python3", "testdata/client.py", "hang"}, OpTimeout: time.Second}
	c, err := ext.Open(context.Background(), workloads.Node{Name: "n1"}, "register", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Invoke(context.Background(), workloads.Register.Op("read", "k", json.RawMessage("null")))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r := c.Invoke(ctx, workloads.Register.Op("read", "k", json.RawMessage("null"))); r.Outcome != workloads.Fail {
		t.Errorf("hung read: %+v, want fail", r)
	}
	// An update of any workload whose program crashes is unknown, not
	// failed: it may have taken effect (the lock may be held). Only an
	// operation its workload says only reads is failed.
	ext = &clients.External{Command: []string{"python3", "testdata/client.py", "crash"}, OpTimeout: time.Second}
	lc, err := ext.Open(context.Background(), workloads.Node{Name: "n1"}, "lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	acquire := workloads.Op{F: "acquire", Key: "l1", Value: json.RawMessage(`"c0"`)}
	if r := lc.Invoke(context.Background(), acquire); r.Outcome != workloads.OK {
		t.Fatalf("first acquire: %+v", r)
	}
	if r := lc.Invoke(context.Background(), acquire); r.Outcome != workloads.Unknown {
		t.Errorf("an acquire whose program crashed: %+v, want unknown", r)
	}
	// A program that does not exist is refused at once.
	_, err = (&clients.External{Command: []string{"no-such-client-program"}}).Open(context.Background(), workloads.Node{}, "register", 0)
	if !errors.Is(err, clients.ErrClientProgram) {
		t.Errorf("missing program: %v", err)
	}
}

// TestClientProtocol2: a program that answers hello is asked ready and
// leader; one that does not (protocol 1), or crashes on hello, still runs
// operations; one that says it runs another workload is refused at once.
func TestClientProtocol2(t *testing.T) {
	ctx := context.Background()
	nodes := []workloads.Node{{Name: "n1", Addr: "10.0.0.11"}, {Name: "n2", Addr: "10.0.0.12"}}
	ext := &clients.External{Command: []string{"python3", "testdata/client.py", "v2"}, OpTimeout: time.Second, Nodes: nodes, Kind: "register", LogDir: t.TempDir(),
		Env: []string{"LEADER_IS=10.0.0.12:2379"}}
	defer ext.Close()
	h, err := ext.Hello(ctx, nodes[0])
	if err != nil || h.Protocol != 2 || !h.Can("ready") || !h.Can("leader") {
		t.Fatalf("hello: %+v %v", h, err)
	}
	if err := ext.WaitReady(ctx, nodes); err != nil {
		t.Errorf("ready: %v", err)
	}
	if l, err := ext.Leader(ctx, nodes); err != nil || l != "n2" {
		t.Errorf("leader named by address: %q %v, want n2", l, err)
	}
	c, err := ext.Open(ctx, nodes[0], "register", 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Invoke(ctx, workloads.Register.Op("write", "k", json.RawMessage("5"))); r.Outcome != workloads.OK {
		t.Errorf("write: %+v", r)
	}
	c.Close()

	// A program that says it runs another workload.
	set := &clients.External{Command: []string{"python3", "testdata/client.py", "v2-set"}, OpTimeout: time.Second}
	if _, err := set.Open(ctx, nodes[0], "register", 0); !errors.Is(err, clients.ErrClientProgram) || !strings.Contains(err.Error(), "runs the set workloads, not register") {
		t.Errorf("workload refused: %v", err)
	}

	// Protocol 1: operations work; ready is refused, naming what it said.
	old := &clients.External{Command: []string{"python3", "testdata/client.py", "good"}, OpTimeout: time.Second, Nodes: nodes}
	defer old.Close()
	if h, err := old.Hello(ctx, nodes[0]); err != nil || h.Protocol != 1 {
		t.Errorf("protocol 1 hello: %+v %v", h, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = old.WaitReady(rctx, nodes[:1])
	cancel()
	if !errors.Is(err, clients.ErrClientProgram) || !strings.Contains(err.Error(), "does not answer ready requests") || !strings.Contains(err.Error(), "protocol 1") {
		t.Errorf("ready of a protocol 1 program: %v", err)
	}
	oc, err := old.Open(ctx, nodes[0], "register", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := oc.Invoke(ctx, workloads.Register.Op("write", "k", json.RawMessage("1"))); r.Outcome != workloads.OK {
		t.Errorf("protocol 1 write: %+v", r)
	}
	oc.Close()

	// A program that crashes on hello is started again without it.
	logs := t.TempDir()
	crash := &clients.External{Command: []string{"python3", "testdata/client.py", "crash-hello"}, OpTimeout: time.Second, LogDir: logs}
	cc, err := crash.Open(ctx, nodes[0], "register", 4)
	if err != nil {
		t.Fatal(err)
	}
	if r := cc.Invoke(ctx, workloads.Register.Op("write", "k", json.RawMessage("1"))); r.Outcome != workloads.OK {
		t.Errorf("write after a crash on hello: %+v", r)
	}
	cc.Close()
	if b, _ := os.ReadFile(filepath.Join(logs, "client-4.log")); !strings.Contains(string(b), "taking it for a protocol 1 program") {
		t.Errorf("client log: %s", b)
	}

	// Not ready: the wait ends with the program's own reason.
	nr := &clients.External{Command: []string{"python3", "testdata/client.py", "not-ready"}, OpTimeout: time.Second}
	defer nr.Close()
	rctx, cancel = context.WithTimeout(ctx, time.Second)
	err = nr.WaitReady(rctx, nodes[:1])
	cancel()
	var nre *nodecheck.NotReadyError
	if !errors.As(err, &nre) || nre.Node != "n1" || !strings.Contains(err.Error(), "still electing") {
		t.Errorf("not ready: %v", err)
	}
}
