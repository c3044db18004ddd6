package refkv

import (
	"slices"

	"github.com/faultline/faultline/refkv/client"
	"github.com/faultline/faultline/systems"

	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"testing"
	"time"
)

// freePorts reserves n loopback TCP ports (UDP uses the same numbers).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			u.Close()
			ports = append(ports, p)
		}
	}
	return ports
}

type testCluster struct {
	peers   []Peer
	cancels map[string]context.CancelFunc
	done    map[string]chan error
}

func startCluster(t *testing.T, size int, bug Bug) *testCluster {
	t.Helper()
	ports := freePorts(t, 3*size)
	tc := &testCluster{cancels: map[string]context.CancelFunc{}, done: map[string]chan error{}}
	for i := range size {
		tc.peers = append(tc.peers, Peer{Name: fmt.Sprintf("n%d", i+1),
			Raft: fmt.Sprintf("127.0.0.1:%d", ports[3*i]), Heartbeat: fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]), Client: fmt.Sprintf("127.0.0.1:%d", ports[3*i+2])})
	}
	for _, p := range tc.peers {
		tc.startNode(t, p.Name, bug)
	}
	t.Cleanup(func() {
		for name := range tc.cancels {
			tc.stop(name)
		}
	})
	return tc
}

func (tc *testCluster) startNode(t *testing.T, name string, bug Bug) {
	t.Helper()
	n, err := New(Config{ID: name, Peers: tc.peers, Bug: bug, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	tc.cancels[name], tc.done[name] = cancel, done
}

func (tc *testCluster) stop(name string) {
	tc.cancels[name]()
	<-tc.done[name]
	delete(tc.cancels, name)
}

func (tc *testCluster) client(name string) *client.Client {
	for _, p := range tc.peers {
		if p.Name == name {
			return &client.Client{Base: "http://" + p.Client}
		}
	}
	panic(name)
}

// leader waits until the nodes still running agree on a leader holding a lease.
func (tc *testCluster) leader(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for name := range tc.cancels {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s, err := tc.client(name).Status(ctx)
			cancel()
			if err == nil && s.State == "leader" && s.Lease {
				return name
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no leader with a lease within 15s")
	return ""
}

func TestReplicatesThroughEveryNode(t *testing.T) {
	tc := startCluster(t, 3, None)
	tc.leader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, p := range tc.peers {
		c := tc.client(p.Name)
		if err := c.Write(ctx, "k", int64(i+1)); err != nil {
			t.Fatalf("write through %s: %v", p.Name, err)
		}
		for _, q := range tc.peers {
			v, err := tc.client(q.Name).Read(ctx, "k")
			if err != nil || v == nil || *v != int64(i+1) {
				t.Fatalf("read through %s after writing %d through %s: %v, %v", q.Name, i+1, p.Name, v, err)
			}
		}
	}
	ok, err := tc.client("n2").CAS(ctx, "k", ptr(3), 4)
	if err != nil || !ok {
		t.Fatalf("cas 3->4: %v %v", ok, err)
	}
	ok, err = tc.client("n3").CAS(ctx, "k", ptr(3), 5)
	if err != nil || ok {
		t.Fatalf("cas 3->5 on 4 must not match: %v %v", ok, err)
	}
	if ok, err := tc.client("n1").CAS(ctx, "fresh", nil, 1); err != nil || !ok {
		t.Fatalf("cas on an absent key: %v %v", ok, err)
	}
	if ok, err := tc.client("n1").CAS(ctx, "fresh", nil, 2); err != nil || ok {
		t.Fatalf("cas expecting absence on a present key must not match: %v %v", ok, err)
	}
	if v, err := tc.client("n1").Read(ctx, "absent"); err != nil || v != nil {
		t.Fatalf("absent key: %v %v", v, err)
	}
}

func TestFailoverKeepsAcknowledgedWrites(t *testing.T) {
	tc := startCluster(t, 3, None)
	old := tc.leader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tc.client(old).Write(ctx, "k", 7); err != nil {
		t.Fatal(err)
	}
	tc.stop(old)
	now := tc.leader(t)
	if now == old {
		t.Fatalf("stopped leader %s still leads", old)
	}
	v, err := tc.client(now).Read(ctx, "k")
	if err != nil || v == nil || *v != 7 {
		t.Fatalf("after failover %s -> %s: read %v, %v; want 7", old, now, v, err)
	}
}

func TestFollowerWithoutLeaderRefusesDefinitely(t *testing.T) {
	tc := startCluster(t, 3, None)
	tc.leader(t)
	for name := range tc.cancels {
		if name != "n1" {
			tc.stop(name)
		}
	}
	// n1 alone: once its lease or leader is gone, reads fail definitely.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := tc.client("n1").Read(ctx, "k")
		cancel()
		var e *client.Error
		if errors.As(err, &e) && e.Definite {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lone node still answers reads or fails vaguely: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestParseBug(t *testing.T) {
	for _, b := range Bugs {
		if got, err := ParseBug(string(b)); err != nil || got != b {
			t.Errorf("ParseBug(%q) = %q, %v", b, got, err)
		}
	}
	if _, err := ParseBug("lost-writes"); err == nil {
		t.Error("unknown bug accepted")
	}
}

func ptr(v int64) *int64 { return &v }

// With the two followers stopped, the leader is alone: each switch must
// change what it does then, and the correct build must refuse.
func TestBugsChangeBehaviourOfALoneNode(t *testing.T) {
	cases := []struct {
		bug   Bug
		probe func(ctx context.Context, c *client.Client) error // nil error: the lone node answered
	}{
		{None, func(ctx context.Context, c *client.Client) error { _, err := c.Read(ctx, "k"); return err }},
		{StaleLeaderReads, func(ctx context.Context, c *client.Client) error { _, err := c.Read(ctx, "k"); return err }},
		{EarlyAck, func(ctx context.Context, c *client.Client) error { return c.Write(ctx, "k", 9) }},
		{SplitBrain, func(ctx context.Context, c *client.Client) error { return c.Write(ctx, "k", 9) }},
	}
	for _, tc := range cases {
		t.Run(bugName(tc.bug), func(t *testing.T) {
			t.Parallel()
			cl := startCluster(t, 3, tc.bug)
			lead := cl.leader(t)
			for name := range cl.cancels {
				if name != lead {
					cl.stop(name)
				}
			}
			// Past the lease, the quorum check and the split-brain delay.
			time.Sleep(DefaultTiming.Lease + 200*time.Millisecond)
			answered := false
			deadline := time.Now().Add(DefaultTiming.SplitBrain + DefaultTiming.CheckQuorum + time.Second)
			for time.Now().Before(deadline) && !answered {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				answered = tc.probe(ctx, cl.client(lead)) == nil
				cancel()
				time.Sleep(100 * time.Millisecond)
			}
			if want := tc.bug != None; answered != want {
				t.Errorf("lone leader answered: %v, want %v", answered, want)
			}
		})
	}
}

func TestFollowerReadsAnswerOnFollowers(t *testing.T) {
	for _, bug := range []Bug{None, FollowerReads} {
		cl := startCluster(t, 3, bug)
		lead := cl.leader(t)
		var follower string
		for name := range cl.cancels {
			if name != lead {
				follower = name
			}
		}
		cl.stop(lead)
		// The follower has lost its leader: only the bug answers at once.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := cl.client(follower).Read(ctx, "k")
		cancel()
		if (err == nil) != (bug == FollowerReads) {
			t.Errorf("%s: follower %s answered a read with its leader gone: err=%v", bugName(bug), follower, err)
		}
	}
}

// TestBugsInSystemFile: refkv's system file allows exactly refkv's bugs,
// so `cluster.params.bug` is checked against the list the node knows.
func TestBugsInSystemFile(t *testing.T) {
	d, err := systems.Builtin("refkv")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"none"}
	for _, b := range Bugs {
		want = append(want, string(b))
	}
	if got := d.Params["bug"].Values; !slices.Equal(got, want) {
		t.Errorf("systems/refkv/system.yaml lists bugs %v, refkv has %v", got, want)
	}
}
