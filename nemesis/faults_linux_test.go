package nemesis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
)

// checkPairs asserts, with real datagrams, that exactly the pairs in cut
// ("n1->n2") are cut among nodes.
func checkPairs(t *testing.T, nodes []testNode, port int, cut ...string) {
	t.Helper()
	for i, src := range nodes {
		for j, dst := range nodes {
			if i == j {
				continue
			}
			pair := fmt.Sprintf("n%d->n%d", i+1, j+1)
			isCut := false
			for _, c := range cut {
				isCut = isCut || c == pair
			}
			got := deliveredPort(t, src, dst, port, 3)
			if isCut && got != 0 {
				t.Errorf("%s port %d should be cut, %d of 3 arrived", pair, port, got)
			}
			if !isCut && got != 3 {
				t.Errorf("%s port %d should be open, %d of 3 arrived", pair, port, got)
			}
		}
	}
}

func TestDirections(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 3)
	n := bind(t, nodes)
	ctx := context.Background()
	iso, err := nemesis.Isolate{Node: "n1"}.Grudge(ctx, nemesis.Env{Nodes: n.Names()})
	must(t, err)
	must(t, n.Partition(ctx, nemesis.Partition{Grudge: nemesis.Orient(iso, nemesis.To)}))
	checkPairs(t, nodes, 7000, "n2->n1", "n3->n1")
	must(t, n.Partition(ctx, nemesis.Partition{Grudge: nemesis.Orient(iso, nemesis.From)}))
	checkPairs(t, nodes, 7000, "n1->n2", "n1->n3")
	must(t, n.Partition(ctx, nemesis.Partition{Grudge: nemesis.Orient(iso, nemesis.Both)}))
	checkPairs(t, nodes, 7000, "n1->n2", "n1->n3", "n2->n1", "n3->n1")
	must(t, n.Heal(ctx))
	checkPairs(t, nodes, 7000)
}

func TestPortScoped(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 2)
	n := bind(t, nodes)
	ctx := context.Background()
	// Cut UDP port 7001 both ways; everything else stays open.
	must(t, n.Partition(ctx, nemesis.Partition{
		Grudge: nemesis.Complete([]string{"n1"}, []string{"n2"}),
		Scope:  nemesis.Scope{Protocols: []string{"udp"}, Ports: []nemesis.PortRange{nemesis.Port(7001)}},
	}))
	checkPairs(t, nodes, 7001, "n1->n2", "n2->n1")
	checkPairs(t, nodes, 7000)
	// Cut TCP 2380 (a peer port), keep TCP 2379 (a client port) open.
	must(t, n.Partition(ctx, nemesis.Partition{
		Grudge: nemesis.Complete([]string{"n1"}, []string{"n2"}),
		Scope:  nemesis.Scope{Protocols: []string{"tcp"}, Ports: []nemesis.PortRange{nemesis.Port(2380)}},
	}))
	for _, port := range []int{2379, 2380} {
		var l net.Listener
		inNS(t, nodes[1].ns, func() { l, err = net.Listen("tcp4", fmt.Sprintf("%s:%d", nodes[1].addr, port)) })
		must(t, err)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		var derr error
		inNS(t, nodes[0].ns, func() {
			var c net.Conn
			c, derr = net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", nodes[1].addr, port), 300*time.Millisecond)
			if c != nil {
				c.Close()
			}
		})
		l.Close()
		if port == 2379 && derr != nil {
			t.Errorf("tcp 2379 should be open: %v", derr)
		}
		if port == 2380 && derr == nil {
			t.Errorf("tcp 2380 should be cut, but a connection was made")
		}
	}
	checkPairs(t, nodes, 7000) // UDP untouched
}

var err error // set inside inNS closures

func TestReject(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 2)
	n := bind(t, nodes)
	ctx := context.Background()
	// n1's packets to n2 are refused at n1, so n1 learns at once.
	must(t, n.Partition(ctx, nemesis.Partition{Grudge: nemesis.Grudge{"n2": {"n1"}}, Action: nemesis.Reject}))
	var l net.Listener
	inNS(t, nodes[1].ns, func() { l, err = net.Listen("tcp4", nodes[1].addr.String()+":2380") })
	must(t, err)
	defer l.Close()
	var derr error
	var took time.Duration
	inNS(t, nodes[0].ns, func() {
		start := time.Now()
		var c net.Conn
		c, derr = net.DialTimeout("tcp4", nodes[1].addr.String()+":2380", 2*time.Second)
		took = time.Since(start)
		if c != nil {
			c.Close()
		}
	})
	if !errors.Is(derr, syscall.ECONNREFUSED) || took > 500*time.Millisecond {
		t.Errorf("tcp n1->n2: want connection refused at once, got %v after %v", derr, took)
	}
	// UDP: the datagram never leaves, and the sender's write fails at once
	// (EPERM from the output hook's verdict, or the ICMP error on the next).
	var uerr error
	inNS(t, nodes[0].ns, func() {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: nodes[1].addr.AsSlice(), Port: 7000})
		if err != nil {
			uerr = err
			return
		}
		defer c.Close()
		c.Write([]byte("x"))
		_, uerr = c.Write([]byte("x"))
	})
	if !errors.Is(uerr, syscall.EPERM) && !errors.Is(uerr, syscall.ECONNREFUSED) && !errors.Is(uerr, syscall.EHOSTUNREACH) {
		t.Errorf("udp n1->n2: want an unreachable error, got %v", uerr)
	}
	checkPairs(t, nodes, 7000, "n1->n2")
}

// TestLoss measures random loss on one directed link over thousands of
// datagrams. With 4000 datagrams at 30% the standard deviation of the
// delivered share is 0.7 points; the tolerance is 3 points.
func TestLoss(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 2)
	n := bind(t, nodes)
	ctx := context.Background()
	must(t, n.SetGray(ctx, []nemesis.Gray{{From: "n1", To: "n2", Loss: 30}}))
	const total = 4000
	got := flood(t, nodes[0], nodes[1], total)
	lost := 100 * float64(total-got) / total
	t.Logf("n1->n2: %d of %d delivered, %.1f%% lost (want 30%% ± 3)", got, total, lost)
	if lost < 27 || lost > 33 {
		t.Errorf("loss %.1f%%, want 30%% ± 3", lost)
	}
	// The other direction is untouched.
	if back := flood(t, nodes[1], nodes[0], 1000); back != 1000 {
		t.Errorf("n2->n1 should be lossless, %d of 1000 arrived", back)
	}
	must(t, n.Heal(ctx))
	if got := flood(t, nodes[0], nodes[1], 1000); got != 1000 {
		t.Errorf("after heal %d of 1000 arrived", got)
	}
}

// flood sends count datagrams from src to dst, paced so no socket buffer
// overflows, and counts what arrives.
func flood(t *testing.T, src, dst testNode, count int) int {
	t.Helper()
	var rx, tx *net.UDPConn
	inNS(t, dst.ns, func() { rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: dst.addr.AsSlice(), Port: 7100}) })
	must(t, err)
	defer rx.Close()
	inNS(t, src.ns, func() { tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: dst.addr.AsSlice(), Port: 7100}) })
	must(t, err)
	defer tx.Close()
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			rx.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := rx.Read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	for i := range count {
		tx.Write([]byte("x"))
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	return int(got.Load())
}

// TestVerify: the verifier agrees with correct rules and catches rules that
// are not what the nemesis believes (here, a table removed behind its back).
func TestVerify(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 3)
	n := bind(t, nodes)
	ctx := context.Background()
	p := nemesis.Partition{Grudge: nemesis.Grudge{"n2": {"n1"}}}
	must(t, n.Partition(ctx, p))
	obs, err := n.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	udp := obs[fmt.Sprintf("udp/%d", nemesis.ProbePort)]
	if fmt.Sprint(udp["n1"]) != "[n3]" || fmt.Sprint(udp["n2"]) != "[n1 n3]" || fmt.Sprint(udp["n3"]) != "[n1 n2]" {
		t.Errorf("observation %v", obs)
	}
	// Port-scoped and rejecting, probed with TCP too.
	must(t, n.Partition(ctx, nemesis.Partition{Grudge: nemesis.Complete([]string{"n1"}, []string{"n2", "n3"}), Scope: nemesis.Scope{Protocols: []string{"tcp"}, Ports: []nemesis.PortRange{nemesis.Port(2380)}}, Action: nemesis.Reject}))
	if obs, err := n.Verify(ctx); err != nil {
		t.Fatalf("port-scoped reject: %v (%v)", err, obs)
	}
	must(t, n.Partition(ctx, p))
	must(t, nemesis.RemoveTable(nodes[1].path()))
	_, err = n.Verify(ctx)
	if !errors.Is(err, nemesis.ErrNotVerified) || !strings.Contains(err.Error(), "n1->n2 should be cut but got through") {
		t.Fatalf("want the missing rule caught, got %v", err)
	}
	must(t, n.Heal(ctx))
	if _, err := n.Verify(ctx); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

// TestProbeHost: the probe must find what every other test here relies on
// and report netem as the kernel has it.
func TestProbeHost(t *testing.T) {
	testenv.EndToEnd(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	caps, err := nemesis.ProbeHost()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this host: %s", caps)
	for _, f := range []nemesis.Feature{nemesis.FeatNFTables, nemesis.FeatReject, nemesis.FeatNumgen, nemesis.FeatNFQueue, nemesis.FeatHTB} {
		if !caps.Has[f] {
			t.Errorf("%s missing: %s", f, caps.Why[f])
		}
	}
	// Whether netem is there depends on the kernel; the probe must agree
	// with the kernel's own list of modules and built-ins.
	cfg, err := exec.Command("sh", "-c", "zcat /proc/config.gz | grep -E '^(# )?CONFIG_NET_SCH_NETEM[= ]'").Output()
	switch line := strings.TrimSpace(string(cfg)); {
	case err != nil || line == "":
		t.Logf("no kernel config to compare the netem probe with")
	case line == "CONFIG_NET_SCH_NETEM=y" && !caps.Has[nemesis.FeatNetem]:
		t.Errorf("kernel has netem built in, probe says missing: %s", caps.Why[nemesis.FeatNetem])
	case strings.HasPrefix(line, "# ") && caps.Has[nemesis.FeatNetem]:
		t.Errorf("kernel config says %q, probe found netem", line)
	}
	// A fault the host lacks is refused with the feature named.
	missing := nemesis.Capabilities{Has: map[nemesis.Feature]bool{nemesis.FeatNFTables: true}, Why: map[nemesis.Feature]string{nemesis.FeatNFQueue: "operation not supported"}}
	err = missing.Check(&nemesis.GrayFault{Template: nemesis.Gray{Delay: time.Millisecond}})
	if !errors.Is(err, nemesis.ErrMissingFeature) || !strings.Contains(err.Error(), "NFQUEUE") {
		t.Errorf("want the missing NFQUEUE target named, got %v", err)
	}
	if err := caps.Check(&nemesis.GrayFault{Template: nemesis.Gray{Delay: time.Millisecond, Rate: 1000}}); err != nil {
		t.Errorf("this host should take delay and rate: %v", err)
	}
}
