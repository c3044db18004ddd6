package nemesis

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// ProbeHost tries each feature in a scratch network namespace that it
// makes and drops again, so a feature counts as present only if the kernel
// really accepts it, whatever its configuration file says.
func ProbeHost() (Capabilities, error) {
	ns, err := scratchNS()
	if err != nil {
		return Capabilities{}, fmt.Errorf("probe kernel features: %w", err)
	}
	caps, err := probeIn(fmt.Sprintf("/proc/self/fd/%d", int(ns)))
	return caps, errors.Join(err, ns.Close())
}

// ProbeHere tries each feature in this process's own network namespace:
// a helper container's started with no network (network_mode none), which
// is a scratch namespace of its own, on the engine's kernel.
func ProbeHere() (Capabilities, error) { return probeIn(SelfNS) }

// probeIn tries each feature in the namespace at path, leaving nothing of
// faultline's there.
func probeIn(path string) (Capabilities, error) {
	caps := Capabilities{Has: map[Feature]bool{}, Why: map[Feature]string{}}
	record := func(f Feature, err error) {
		caps.Has[f] = err == nil
		if err != nil {
			caps.Why[f] = err.Error()
		}
	}
	peer := netip.MustParseAddr("192.0.2.1") // documentation range, never routed
	record(FeatNFTables, installRules(path, NodeRules{DropFrom: []Match{{Peer: peer}}}))
	record(FeatReject, installRules(path, NodeRules{RejectTo: []Match{{Peer: peer}}}))
	record(FeatNumgen, installRules(path, NodeRules{LossFrom: []LossMatch{{Peer: peer, Per10k: 1}}}))
	record(FeatNFQueue, installRules(path, NodeRules{Queue: []QueueLink{{Peer: peer}}}))
	if err := removeTable(path); err != nil {
		return caps, fmt.Errorf("probe kernel features: remove the probe's table: %w", err)
	}

	h, err := handleAt(path)
	if err != nil {
		return caps, fmt.Errorf("probe kernel features: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return caps, fmt.Errorf("probe kernel features: %w", err)
	}
	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: netlink.MakeHandle(qdiscMajor, 0), Parent: netlink.HANDLE_ROOT})
	err = h.QdiscAdd(htb)
	if err == nil {
		err = h.QdiscDel(htb) // a qdisc that cannot be removed again does not count
	}
	record(FeatHTB, err)
	netem := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: netlink.MakeHandle(qdiscMajor, 0), Parent: netlink.HANDLE_ROOT}, netlink.NetemQdiscAttrs{Latency: 1000})
	err = h.QdiscAdd(netem)
	if err == nil {
		err = h.QdiscDel(netem)
	}
	record(FeatNetem, err)
	return caps, nil
}

// scratchNS makes a new, empty network namespace and returns a handle to
// it; it goes away when the handle is closed.
func scratchNS() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		// The thread switches into the new namespace and is never switched
		// back: it stays locked and exits with this goroutine.
		runtime.LockOSThread()
		ns, err := netns.New()
		c <- result{ns, err}
	}()
	r := <-c
	return r.ns, r.err
}
