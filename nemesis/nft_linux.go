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

// ruleset is faultline's table in one node's namespace, held for the run:
// a lasting netlink connection bound to the namespace, and whether the
// table and its two base chains exist yet. Deleting a table costs the
// kernel a grace period (12 ms here) when its base chains go; flushing a
// chain costs 0.02 ms. So the table and chains stay until teardown
// (remove), a change rewrites the chains' contents in one batch, and a
// heal empties them.
type ruleset struct {
	path string
	conn *nftables.Conn
	made bool // the table and chains exist (as far as this run knows)
}

// openRuleset binds a lasting nftables connection to the namespace at
// path. It changes nothing in the namespace.
func openRuleset(path string) (*ruleset, error) {
	fd, closeFD, err := nsFD(path)
	if err != nil {
		return nil, err
	}
	// The connection, once made, holds the namespace: the descriptor
	// that named it goes when this returns.
	defer func() { _ = closeFD() }()
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if fd != 0 {
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", path, err)
	}
	return &ruleset{path: path, conn: conn}, nil
}

// withRuleset runs f on a ruleset opened for the call alone.
func withRuleset(path string, f func(*ruleset) error) error {
	rs, err := openRuleset(path)
	if err != nil {
		return err
	}
	return errors.Join(f(rs), rs.close())
}

func (rs *ruleset) close() error { return rs.conn.CloseLasting() }

func table() *nftables.Table {
	return &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}
}

// chains names faultline's base chains, and adds them (with the table) to
// the batch when this run has not made them yet: every message costs the
// kernel an answer, so a run's later changes leave them out.
func (rs *ruleset) chains(create bool) (in, out *nftables.Chain) {
	t := table()
	in = &nftables.Chain{
		Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter,
		Policy: ptr(nftables.ChainPolicyAccept),
	}
	out = &nftables.Chain{
		Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter,
		Policy: ptr(nftables.ChainPolicyAccept),
	}
	if create {
		rs.conn.AddTable(t)
		rs.conn.AddChain(in)
		rs.conn.AddChain(out)
	}
	return in, out
}

// batch sends what fill adds as one transaction. When the table was
// deleted underneath the run (`nft delete table`, `faultline clean` from
// another terminal), the transaction fails as a whole, and is sent again
// with the table and chains made first.
func (rs *ruleset) batch(what string, fill func(in, out *nftables.Chain)) error {
	fill(rs.chains(!rs.made))
	err := rs.conn.Flush()
	if err != nil && rs.made && errors.Is(err, unix.ENOENT) {
		fill(rs.chains(true))
		err = rs.conn.Flush()
	}
	if err != nil {
		return fmt.Errorf("%s table %s: %w", what, Table, err)
	}
	rs.made = true
	return nil
}

// install makes faultline's chains hold exactly r, in one atomic batch.
// The shell equivalent, for a node that drops n2's packets to its peer
// port, refuses its own to n3 and loses 30% of n4's:
//
//	nft -f - <<EOF
//	table ip faultline {
//	  chain input { type filter hook input priority filter; policy accept; }
//	  chain output { type filter hook output priority filter; policy accept; }
//	}
//	flush table ip faultline
//	add rule ip faultline input ip saddr 10.213.0.12 tcp dport 2380 counter drop
//	add rule ip faultline input ip saddr 10.213.0.12 tcp sport 2380 counter drop
//	add rule ip faultline input ip saddr 10.213.0.14 numgen random mod 10000 < 3000 counter drop
//	add rule ip faultline output ip daddr 10.213.0.13 meta l4proto tcp counter reject with tcp reset
//	add rule ip faultline output ip daddr 10.213.0.13 counter reject with icmp host-unreachable
//	EOF
func (rs *ruleset) install(r NodeRules) error {
	return rs.batch("install rules in", func(in, out *nftables.Chain) { rs.fill(r, in, out) })
}

// fill adds to the batch: empty both chains (one message: every message
// costs an answer), then r's rules.
func (rs *ruleset) fill(r NodeRules, in, out *nftables.Chain) {
	c := rs.conn
	t := in.Table
	c.FlushTable(t)
	for _, m := range r.DropFrom {
		for _, sel := range scopeSelectors(m.Scope) {
			c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: concat(addrMatch(srcOffset, m.Peer.As4()), sel, counterVerdict(expr.VerdictDrop))})
		}
	}
	for _, l := range r.LossFrom {
		c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: concat(addrMatch(srcOffset, l.Peer.As4()), randomBelow(l.Per10k), counterVerdict(expr.VerdictDrop))})
	}
	for _, q := range r.Queue {
		dst := q.Peer
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: queueRule(dst)})
	}
	for _, m := range r.RejectTo {
		for _, sel := range scopeSelectors(m.Scope) {
			peer := addrMatch(dstOffset, m.Peer.As4())
			// TCP gets a reset; everything else an ICMP host unreachable.
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: concat(peer, sel, l4proto(unix.IPPROTO_TCP), []expr.Any{&expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})})
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: concat(peer, sel, []expr.Any{&expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 1}})})
		}
	}
}

// clear empties faultline's chains in one batch (nothing to do if this run
// never made them), like `nft flush table ip faultline`. The table stays.
func (rs *ruleset) clear() error {
	if !rs.made {
		return nil
	}
	return rs.batch("empty", func(in, out *nftables.Chain) { rs.fill(NodeRules{}, in, out) })
}

// rules counts the rules in faultline's chains, like `nft list table ip
// faultline | grep -c counter`: 0 when there is no table.
func (rs *ruleset) rules() (int, error) {
	n := 0
	for _, chain := range []string{"input", "output"} {
		rules, err := rs.conn.GetRules(table(), &nftables.Chain{Name: chain, Table: table()})
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
				continue
			}
			return 0, fmt.Errorf("list rules of %s %s: %w", Table, chain, err)
		}
		n += len(rules)
	}
	return n, nil
}

// remove deletes faultline's table if it exists, like `nft delete table ip
// faultline`, and touches nothing else: teardown and `faultline clean`.
func (rs *ruleset) remove() error {
	t := table()
	rs.conn.AddTable(t)
	rs.conn.DelTable(t)
	if err := rs.conn.Flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", Table, err)
	}
	rs.made = false
	return nil
}

// installRules makes faultline's table in the namespace at path hold r
// (the kernel probe's scratch namespace; a run keeps its rulesets open).
func installRules(path string, r NodeRules) error {
	return withRuleset(path, func(rs *ruleset) error { return rs.install(r) })
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

// removeTable deletes faultline's table from the namespace at path, if
// there, like `nft delete table ip faultline`.
func removeTable(path string) error {
	return withRuleset(path, func(rs *ruleset) error { return rs.remove() })
}

// hasTable reports whether faultline's table exists, like
// `nft list table ip faultline`.
func hasTable(path string) (bool, error) {
	var found bool
	err := withRuleset(path, func(rs *ruleset) error {
		tables, err := rs.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
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
