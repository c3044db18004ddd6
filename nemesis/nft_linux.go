package nemesis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// withConn opens the network namespace at path and runs f with an nftables
// connection bound to it. netlink calls have no context; each is a single
// short request-response on a socket inside the namespace.
func withConn(path string, f func(*nftables.Conn) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	conn, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", path, err)
	}
	return f(conn)
}

func table() *nftables.Table {
	return &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}
}

// installRules replaces faultline's table in one atomic batch with one that
// holds exactly r. The shell equivalent, for a node that drops n2's
// packets to its peer port, refuses its own to n3 and loses 30% of n4's:
//
//	nft -f - <<EOF
//	table ip faultline {}
//	delete table ip faultline
//	table ip faultline {
//	  chain input { type filter hook input priority filter; policy accept;
//	    ip saddr 10.213.0.12 tcp dport 2380 counter drop
//	    ip saddr 10.213.0.12 tcp sport 2380 counter drop
//	    ip saddr 10.213.0.14 numgen random mod 10000 < 3000 counter drop
//	  }
//	  chain output { type filter hook output priority filter; policy accept;
//	    ip daddr 10.213.0.13 meta l4proto tcp counter reject with tcp reset
//	    ip daddr 10.213.0.13 counter reject with icmp host-unreachable
//	  }
//	}
//	EOF
func installRules(path string, r nodeRules) error {
	return withConn(path, func(c *nftables.Conn) error {
		t := table()
		// Adding then deleting makes the delete succeed whether or not the
		// table existed; the whole batch is one transaction.
		c.AddTable(t)
		c.DelTable(t)
		c.AddTable(t)
		if len(r.dropFrom)+len(r.lossFrom) > 0 {
			in := c.AddChain(&nftables.Chain{
				Name: "input", Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter,
				Policy: ptr(nftables.ChainPolicyAccept),
			})
			for _, m := range r.dropFrom {
				for _, sel := range scopeSelectors(m.scope) {
					c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: concat(addrMatch(srcOffset, m.peer.As4()), sel, counterVerdict(expr.VerdictDrop))})
				}
			}
			for _, l := range r.lossFrom {
				c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: concat(addrMatch(srcOffset, l.peer.As4()), randomBelow(l.per10k), counterVerdict(expr.VerdictDrop))})
			}
		}
		if len(r.rejectTo)+len(r.queueTo) > 0 {
			out := c.AddChain(&nftables.Chain{
				Name: "output", Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter,
				Policy: ptr(nftables.ChainPolicyAccept),
			})
			for _, dst := range r.queueTo {
				c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: queueRule(dst)})
			}
			for _, m := range r.rejectTo {
				for _, sel := range scopeSelectors(m.scope) {
					peer := addrMatch(dstOffset, m.peer.As4())
					// TCP gets a reset; everything else an ICMP host unreachable.
					c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: concat(peer, sel, l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})})
					c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: concat(peer, sel, []expr.Any{&expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 1}})})
				}
			}
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("install table %s: %w", Table, err)
		}
		return nil
	})
}

// queueRule sends packets to dst (except the stage's own copies) to the
// userspace stage, with bypass: with no reader the kernel lets them pass.
// Like `ip daddr 10.213.0.12 meta mark != 0xfa01 counter queue num 64001
// bypass`, written with the xtables NFQUEUE target since this kernel's
// nftables lacks the queue expression.
func queueRule(dst netip.Addr) []expr.Any {
	a := dst.As4()
	// struct xt_NFQ_info_v3 { u16 queuenum; u16 queues_total; u16 flags; },
	// host byte order, padded to 8 bytes; flags 1 is NFQ_FLAG_BYPASS.
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], QueueNum)
	binary.NativeEndian.PutUint16(info[2:], 1)
	binary.NativeEndian.PutUint16(info[4:], 1)
	return concat(addrMatch(dstOffset, a), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, dupMark)},
		&expr.Counter{},
		&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info},
	})
}

const (
	srcOffset = 12 // ip saddr: 4 bytes at offset 12 of the IPv4 header
	dstOffset = 16 // ip daddr
)

func addrMatch(offset uint32, a [4]byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// scopeSelectors returns one selector per rule needed to cover a scope:
// nothing for all traffic, else "PROTO dport PORT" and "PROTO sport PORT"
// for each protocol and port, so both connections to the port and answers
// from it match.
func scopeSelectors(s Scope) [][]expr.Any {
	if s.All() {
		return [][]expr.Any{nil}
	}
	var out [][]expr.Any
	for _, proto := range s.protocols() {
		p := byte(unix.IPPROTO_TCP)
		if proto == "udp" {
			p = unix.IPPROTO_UDP
		}
		for _, port := range s.Ports {
			for _, off := range []uint32{2, 0} { // dport, sport
				match := expr.Any(&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port.Lo)})
				if port.Hi != port.Lo { // like `tcp dport 9100-9105`
					match = &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: binary.BigEndian.AppendUint16(nil, port.Lo), ToData: binary.BigEndian.AppendUint16(nil, port.Hi)}
				}
				out = append(out, concat(l4proto(p), []expr.Any{
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
					match,
				}))
			}
		}
	}
	return out
}

// randomBelow matches a share of packets: numgen random mod 10000 < n. The
// random number is in host byte order; cmp compares bytes, so it is turned
// big-endian first, as nft does.
func randomBelow(n uint32) []expr.Any {
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: 10000, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, n)},
	}
}

func counterVerdict(v expr.VerdictKind) []expr.Any {
	return []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: v}}
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// removeTable deletes faultline's table if it exists, like
// `nft delete table ip faultline`, and touches nothing else.
func removeTable(path string) error {
	return withConn(path, func(c *nftables.Conn) error {
		t := table()
		c.AddTable(t)
		c.DelTable(t)
		if err := c.Flush(); err != nil {
			return fmt.Errorf("delete table %s: %w", Table, err)
		}
		return nil
	})
}

// hasTable reports whether faultline's table exists, like
// `nft list table ip faultline`.
func hasTable(path string) (bool, error) {
	var found bool
	err := withConn(path, func(c *nftables.Conn) error {
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("list tables: %w", err)
		}
		for _, t := range tables {
			if t.Name == Table {
				found = true
			}
		}
		return nil
	})
	return found, err
}

func ptr[T any](v T) *T { return &v }
