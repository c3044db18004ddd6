package workloads_test

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
			ext := workloads.External{Command: []string{"python3", "testdata/client.py", tc.mode, filepath.Join(logs, "marker")}, LogDir: logs, OpTimeout: time.Second}
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
				return workloads.Op{F: "write", Key: "k", Value: b}
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
			r, _ = invoke(workloads.Op{F: "read", Key: "k", Value: json.RawMessage("null")})
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
	ext := workloads.External{Command: []string{"python3", "testdata/client.py", "hang"}, OpTimeout: time.Second}
	c, err := ext.Open(context.Background(), workloads.Node{Name: "n1"}, "register", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Invoke(context.Background(), workloads.Op{F: "read", Key: "k", Value: json.RawMessage("null")})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r := c.Invoke(ctx, workloads.Op{F: "read", Key: "k", Value: json.RawMessage("null")}); r.Outcome != workloads.Fail {
		t.Errorf("hung read: %+v, want fail", r)
	}
	// A program that does not exist is refused at once.
	_, err = workloads.External{Command: []string{"no-such-client-program"}}.Open(context.Background(), workloads.Node{}, "register", 0)
	if !errors.Is(err, workloads.ErrClientProgram) {
		t.Errorf("missing program: %v", err)
	}
}
