package nemesis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
)

// testNode is a network namespace made for one test, holding one end of a
// veth pair with an address on 10.231.0.0/24.
type testNode struct {
	name string
	addr netip.Addr
	ns   netns.NsHandle
}

func (n testNode) path() string { return "/run/netns/" + n.name }

// setUpNodes makes count namespaces joined by a bridge in a third one, the
// way Docker joins containers, and removes them all when the test ends.
func setUpNodes(t *testing.T, count int) []testNode {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	defer netns.Set(orig)

	prefix := fmt.Sprintf("flt%d", os.Getpid()%100000)
	mk := func(name string) netns.NsHandle {
		netns.DeleteNamed(name)
		h, err := netns.NewNamed(name)
		if err != nil {
			t.Fatalf("new netns %s: %v", name, err)
		}
		if err := netns.Set(orig); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(); netns.DeleteNamed(name) })
		return h
	}
	hub := mk(prefix + "-hub")
	hh, err := netlink.NewHandleAt(hub)
	if err != nil {
		t.Fatal(err)
	}
	defer hh.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	must(t, hh.LinkAdd(br))
	must(t, hh.LinkSetUp(br))

	var nodes []testNode
	for i := 1; i <= count; i++ {
		name := fmt.Sprintf("%s-n%d", prefix, i)
		h := mk(name)
		nh, err := netlink.NewHandleAt(h)
		if err != nil {
			t.Fatal(err)
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: fmt.Sprintf("v%d", i), MasterIndex: br.Index},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(h),
		}
		must(t, hh.LinkAdd(veth))
		must(t, hh.LinkSetUp(veth))
		eth, err := nh.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		addr := netip.AddrFrom4([4]byte{10, 231, 0, byte(i)})
		must(t, nh.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
		must(t, nh.LinkSetUp(eth))
		lo, _ := nh.LinkByName("lo")
		must(t, nh.LinkSetUp(lo))
		nh.Close()
		nodes = append(nodes, testNode{name: name, addr: addr, ns: h})
	}
	return nodes
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// inNS runs f on an OS thread switched into ns. Sockets made by f stay in
// ns after it returns.
func inNS(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked and dies with the goroutine, so no
		// other goroutine ever runs in ns.
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// delivered sends count UDP datagrams from src to dst and reports how many
// arrived.
func delivered(t *testing.T, src, dst testNode, count int) int {
	t.Helper()
	return deliveredPort(t, src, dst, 7000, count)
}

// deliveredPort is delivered on a given UDP port.
func deliveredPort(t *testing.T, src, dst testNode, port, count int) int {
	t.Helper()
	var rx, tx *net.UDPConn
	var err error
	inNS(t, dst.ns, func() { rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: dst.addr.AsSlice(), Port: port}) })
	must(t, err)
	defer rx.Close()
	inNS(t, src.ns, func() { tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: dst.addr.AsSlice(), Port: port}) })
	must(t, err)
	defer tx.Close()
	for i := 0; i < count; i++ {
		// A send refused by a reject rule is a packet that did not arrive.
		tx.Write([]byte("probe"))
	}
	got := 0
	buf := make([]byte, 64)
	for {
		rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := rx.ReadFromUDP(buf); err != nil {
			return got
		}
		got++
	}
}

func bind(t *testing.T, nodes []testNode) *nemesis.Net {
	var ns []nemesis.Node
	for i, n := range nodes {
		ns = append(ns, nemesis.Node{Name: fmt.Sprintf("n%d", i+1), Addr: n.addr, NetNS: n.path()})
	}
	net, err := nemesis.NewNet(ns)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// TestPartitionsWithRealPackets applies grudges to real namespaces and
// checks, for every directed pair, that UDP datagrams arrive exactly when
// the grudge allows them.
func TestPartitionsWithRealPackets(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 3)
	net := bind(t, nodes)
	ctx := context.Background()
	t.Cleanup(func() { net.Heal(context.Background()) })

	tests := []struct {
		name   string
		grudge nemesis.Grudge
	}{
		{"healed", nemesis.Grudge{}},
		{"isolate n1", nemesis.Complete([]string{"n1"}, []string{"n2", "n3"})},
		{"one-way: n1's packets do not reach n2", nemesis.Grudge{"n2": {"n1"}}},
		{"bridge through n2", nemesis.Complete([]string{"n1"}, []string{"n3"})},
		{"reconcile back to healed", nemesis.Grudge{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, net.Partition(ctx, nemesis.Partition{Grudge: tc.grudge}))
			for i, src := range nodes {
				for j, dst := range nodes {
					if i == j {
						continue
					}
					cut := false
					for _, s := range tc.grudge[fmt.Sprintf("n%d", j+1)] {
						if s == fmt.Sprintf("n%d", i+1) {
							cut = true
						}
					}
					got := delivered(t, src, dst, 5)
					if cut && got != 0 {
						t.Errorf("n%d->n%d should be cut, %d of 5 datagrams arrived", i+1, j+1, got)
					}
					if !cut && got != 5 {
						t.Errorf("n%d->n%d should be open, %d of 5 datagrams arrived", i+1, j+1, got)
					}
				}
			}
		})
	}
}

// TestTableLivesForTheRun: a change rewrites faultline's chains, a heal
// empties them and leaves the table (deleting a table costs the kernel a
// grace period), Close deletes it; a table of somebody else's in the same
// namespace is never touched.
func TestTableLivesForTheRun(t *testing.T) {
	testenv.EndToEnd(t)
	nodes := setUpNodes(t, 2)
	net := bind(t, nodes)
	ctx := context.Background()
	theirs := addOtherTable(t, nodes[0])
	must(t, net.Partition(ctx, nemesis.Partition{Grudge: nemesis.Grudge{"n1": {"n2"}}}))
	installed, err := net.Installed(ctx)
	must(t, err)
	if !installed["n1"] || installed["n2"] {
		t.Fatalf("installed = %v, want only n1", installed)
	}
	if got := delivered(t, nodes[1], nodes[0], 3); got != 0 {
		t.Fatalf("n2->n1 should be cut, %d arrived", got)
	}
	must(t, net.Heal(ctx))
	installed, err = net.Installed(ctx)
	must(t, err)
	if installed["n1"] || installed["n2"] {
		t.Fatalf("after heal installed = %v", installed)
	}
	if has, err := nemesis.HasTable(nodes[0].path()); err != nil || !has {
		t.Fatalf("after heal faultline's table is gone (%v): it should live until Close", err)
	}
	if has, _ := nemesis.HasTable(nodes[1].path()); has {
		t.Errorf("n2 never had a rule, yet has faultline's table")
	}
	if got := delivered(t, nodes[1], nodes[0], 3); got != 3 {
		t.Fatalf("after heal n2->n1 got %d of 3", got)
	}
	// Healing twice is fine; a cut again reuses the table.
	must(t, net.Heal(ctx))
	must(t, net.Partition(ctx, nemesis.Partition{Grudge: nemesis.Grudge{"n1": {"n2"}}}))
	if got := delivered(t, nodes[1], nodes[0], 3); got != 0 {
		t.Fatalf("cut again: n2->n1 %d arrived", got)
	}
	must(t, net.Close(ctx))
	for _, n := range nodes {
		if has, err := nemesis.HasTable(n.path()); err != nil || has {
			t.Errorf("after Close %s still has faultline's table (%v)", n.name, err)
		}
	}
	if got := delivered(t, nodes[1], nodes[0], 3); got != 3 {
		t.Fatalf("after Close n2->n1 got %d of 3", got)
	}
	if rules := theirs(); rules != 1 {
		t.Errorf("the other table holds %d rules after the run, want its 1", rules)
	}
}

// addOtherTable makes a table of somebody else's in n's namespace, with
// one rule, and returns how to count its rules.
func addOtherTable(t *testing.T, n testNode) func() int {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	must(t, err)
	tbl := c.AddTable(&nftables.Table{Name: "theirs", Family: nftables.TableFamilyIPv4})
	ch := c.AddChain(&nftables.Chain{Name: "in", Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{&expr.Counter{}}})
	must(t, c.Flush())
	return func() int {
		rules, err := c.GetRules(tbl, ch)
		if err != nil {
			return -1
		}
		return len(rules)
	}
}

func TestGrudgeValidation(t *testing.T) {
	testenv.EndToEnd(t)
	net, err := nemesis.NewNet([]nemesis.Node{{Name: "n1", Addr: netip.MustParseAddr("10.231.0.1"), NetNS: "/nonexistent"}})
	must(t, err)
	err = net.Partition(context.Background(), nemesis.Partition{Grudge: nemesis.Grudge{"n1": {"n9"}}})
	if !errors.Is(err, nemesis.ErrUnknownNode) {
		t.Fatalf("want ErrUnknownNode, got %v", err)
	}
	// A namespace that is gone holds no rules: healing it has nothing to
	// do, but a fault that needs it says which node is gone.
	if err := net.Heal(context.Background()); err != nil {
		t.Fatalf("heal of a vanished namespace: %v", err)
	}
	net2, err := nemesis.NewNet([]nemesis.Node{
		{Name: "n1", Addr: netip.MustParseAddr("10.231.0.1"), NetNS: "/nonexistent"},
		{Name: "n2", Addr: netip.MustParseAddr("10.231.0.2"), NetNS: "/nonexistent-too"},
	})
	must(t, err)
	err = net2.Partition(context.Background(), nemesis.Partition{Grudge: nemesis.Grudge{"n1": {"n2"}}})
	if !errors.Is(err, nemesis.ErrNodeGone) || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("a cut that needs a vanished node: want ErrNodeGone naming n1, got %v", err)
	}
}
