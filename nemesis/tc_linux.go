package nemesis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// qdiscMajor is the handle major of the root qdisc faultline owns (fa00:).
const qdiscMajor = 0xfa00

// noCap is the class rate of a destination that has netem but no cap.
const noCap = 100_000_000_000

// withHandle runs f with a netlink handle bound to the namespace at path
// and the link that holds addr there.
func withHandle(path string, addr netip.Addr, f func(h *netlink.Handle, link netlink.Link) error) error {
	h, err := handleAt(path)
	if err != nil {
		return err
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == addr {
			link, err := h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return err
			}
			return f(h, link)
		}
	}
	return fmt.Errorf("no interface holds %s in %s", addr, path)
}

// installRates replaces faultline's root qdisc on the node's interface
// with an HTB that caps traffic to each peer and leaves all other traffic
// unclassified (sent directly, unshaped). The shell equivalent:
//
//	tc qdisc replace dev eth0 root handle fa00: htb
//	tc class add dev eth0 parent fa00: classid fa00:1 htb rate 1mbit
//	tc filter add dev eth0 parent fa00: protocol ip prio 1 u32 match ip dst 10.213.0.12/32 flowid fa00:1
//
// It refuses to replace a root qdisc that someone else installed.
func installRates(path string, addr netip.Addr, rates []RateMatch) error {
	return withHandle(path, addr, func(h *netlink.Handle, link netlink.Link) error {
		if err := checkRoot(h, link); err != nil {
			return err
		}
		if _, err := removeRoot(h, link); err != nil {
			return err
		}
		root := netlink.MakeHandle(qdiscMajor, 0)
		q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: root, Parent: netlink.HANDLE_ROOT})
		if err := h.QdiscAdd(q); err != nil {
			return fmt.Errorf("add htb qdisc: %w", err)
		}
		for i, r := range rates {
			id := netlink.MakeHandle(qdiscMajor, uint16(i+1))
			bps := r.BPS
			if bps == 0 {
				bps = noCap
			}
			cl := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: link.Attrs().Index, Parent: root, Handle: id}, netlink.HtbClassAttrs{Rate: bps, Ceil: bps})
			if err := h.ClassAdd(cl); err != nil {
				return fmt.Errorf("add htb class for %s: %w", r.Peer, err)
			}
			if g := r.Netem; g != nil {
				// tc qdisc add dev eth0 parent fa00:1 handle fa01: netem delay 100ms 20ms loss 5% 25% ...
				q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: id, Handle: netlink.MakeHandle(qdiscMajor+uint16(i+1), 0)}, netlink.NetemQdiscAttrs{
					Latency:     uint32(g.Delay.Microseconds()),
					Jitter:      uint32(g.Jitter.Microseconds()),
					Loss:        float32(g.Loss),
					LossCorr:    float32(g.Correlation),
					Duplicate:   float32(g.Duplicate),
					ReorderProb: float32(g.Reorder),
					CorruptProb: float32(g.Corrupt),
					Limit:       10000,
				})
				if err := h.QdiscAdd(q); err != nil {
					return fmt.Errorf("add netem qdisc for %s: %w", r.Peer, err)
				}
			}
			a := r.Peer.As4()
			filter := &netlink.U32{
				FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: root, Priority: 1, Protocol: unix.ETH_P_IP},
				ClassId:     id,
				Sel: &netlink.TcU32Sel{
					Flags: netlink.TC_U32_TERMINAL,
					Keys:  []netlink.TcU32Key{{Mask: 0xffffffff, Val: binary.BigEndian.Uint32(a[:]), Off: 16}},
				},
			}
			if err := h.FilterAdd(filter); err != nil {
				return fmt.Errorf("add u32 filter for %s: %w", r.Peer, err)
			}
		}
		return nil
	})
}

func checkRoot(h *netlink.Handle, link netlink.Link) error {
	qs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT {
			continue
		}
		major, _ := netlink.MajorMinor(a.Handle)
		if major != qdiscMajor && a.Handle != 0 && q.Type() != "noqueue" {
			return fmt.Errorf("%w: %s %x: on %s", ErrForeignQdisc, q.Type(), a.Handle, link.Attrs().Name)
		}
	}
	return nil
}

// removeRoot deletes faultline's root qdisc (and with it its classes and
// filters), like `tc qdisc del dev eth0 root handle fa00:`, and nothing else.
func removeRoot(h *netlink.Handle, link netlink.Link) (bool, error) {
	q, err := ourRoot(h, link)
	if err != nil || q == nil {
		return false, err
	}
	if err := h.QdiscDel(q); err != nil {
		return false, fmt.Errorf("delete qdisc %x: %w", q.Attrs().Handle, err)
	}
	return true, nil
}

// ourRoot is faultline's root qdisc on the link (handle fa00:), or nil.
func ourRoot(h *netlink.Handle, link netlink.Link) (netlink.Qdisc, error) {
	qs, err := h.QdiscList(link)
	if err != nil {
		return nil, fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qs {
		if major, _ := netlink.MajorMinor(q.Attrs().Handle); q.Attrs().Parent == netlink.HANDLE_ROOT && major == qdiscMajor {
			return q, nil
		}
	}
	return nil, nil
}

// removeRates deletes faultline's root qdisc from the node's interface.
func removeRates(path string, addr netip.Addr) error {
	return withHandle(path, addr, func(h *netlink.Handle, link netlink.Link) error {
		_, err := removeRoot(h, link)
		return err
	})
}

// CleanNamespace removes everything faultline may have installed in the
// namespace at path: its nftables table and its root qdisc on every
// interface. It touches nothing else. `faultline clean` uses it on the
// nodes of runs whose harness died.
func CleanNamespace(path string) error {
	err := removeTable(path)
	h, nerr := handleAt(path)
	if nerr != nil {
		return errors.Join(err, nerr)
	}
	defer h.Close()
	links, lerr := h.LinkList()
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	for _, l := range links {
		if _, rerr := removeRoot(h, l); rerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", l.Attrs().Name, rerr))
		}
	}
	return err
}

// Installed says what of faultline's is in the namespace at path: its
// nftables table (which also holds the queue rules of gray links) and its
// root qdisc on any interface.
func Installed(path string) (table, qdisc bool, err error) {
	table, err = hasTable(path)
	if err != nil {
		return false, false, err
	}
	h, err := handleAt(path)
	if err != nil {
		return table, false, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return table, false, err
	}
	for _, l := range links {
		q, err := ourRoot(h, l)
		if err != nil {
			return table, false, err
		}
		qdisc = qdisc || q != nil
	}
	return table, qdisc, nil
}
