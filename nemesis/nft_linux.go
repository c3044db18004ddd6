package nemesis

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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

// installDrops replaces faultline's table in one atomic batch with one that
// drops every IPv4 packet from the given sources. The shell equivalent:
//
//	nft -f - <<EOF
//	table ip faultline {}
//	delete table ip faultline
//	table ip faultline {
//	  chain input { type filter hook input priority filter; policy accept;
//	    ip saddr 172.28.0.3 counter drop
//	  }
//	}
//	EOF
func installDrops(path string, drop []netip.Addr) error {
	return withConn(path, func(c *nftables.Conn) error {
		t := table()
		// Adding then deleting makes the delete succeed whether or not the
		// table existed; the whole batch is one transaction.
		c.AddTable(t)
		c.DelTable(t)
		c.AddTable(t)
		ch := c.AddChain(&nftables.Chain{
			Name:     "input",
			Table:    t,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookInput,
			Priority: nftables.ChainPriorityFilter,
			Policy:   ptr(nftables.ChainPolicyAccept),
		})
		for _, src := range drop {
			if !src.Is4() {
				return fmt.Errorf("only IPv4 node addresses are supported, got %s", src)
			}
			a := src.As4()
			c.AddRule(&nftables.Rule{
				Table: t,
				Chain: ch,
				Exprs: []expr.Any{
					// ip saddr: 4 bytes at offset 12 of the network header.
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
					&expr.Counter{},
					&expr.Verdict{Kind: expr.VerdictDrop},
				},
			})
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("install table %s: %w", Table, err)
		}
		return nil
	})
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
