package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// nsAgent is a node's agent that enters the namespace from this process:
// through its path (/proc/PID/ns/net, /run/netns/NAME, or /proc/self/ns/net
// inside a helper), with the capabilities to change its packet filter,
// qdiscs and queue.
type nsAgent struct {
	node Node
	// self: the namespace is this process's own (a helper's), which lives
	// as long as the helper does; the node is gone when no interface holds
	// its address (Docker took the interface away when its container
	// stopped).
	self bool

	mu        sync.Mutex
	rules     *ruleset // faultline's table, once the node had a rule
	stage     *queueStage
	rated     bool
	listeners map[string]*udpListener // by probe
}

// NamespaceAgent is the agent of node that enters its namespace from this
// process. It changes nothing until Set.
func NamespaceAgent(node Node) Agent {
	return &nsAgent{node: node, listeners: map[string]*udpListener{}}
}

// SelfAgent is the agent of the node whose namespace this process is in:
// a helper container's (network_mode container:NODE).
func SelfAgent(node Node) Agent {
	node.NetNS = "/proc/self/ns/net"
	return &nsAgent{node: node, self: true, listeners: map[string]*udpListener{}}
}

var _ Agent = (*nsAgent)(nil)

func (a *nsAgent) Gone() bool {
	if _, err := os.Stat(a.node.NetNS); err != nil {
		return true
	}
	if !a.self {
		return false
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false // cannot tell: try, and let the change say what fails
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP.To4()); ok && ip == a.node.Addr {
			return false
		}
	}
	return true
}

// Set opens the userspace stage before any packet is sent to it, installs
// the table in one batch, closes the stage after the rule that fed it is
// gone, and puts the qdisc in place.
func (a *nsAgent) Set(_ context.Context, r NodeRules) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.node
	if len(r.Queue) > 0 {
		if a.stage == nil {
			s, err := openStage(n.Name, n.NetNS)
			if err != nil {
				return err
			}
			a.stage = s
		}
		a.stage.setLinks(r.queueLinks(), r.Seed)
	}
	if a.rules == nil && !r.emptyTable() {
		rs, err := openRuleset(n.NetNS)
		if err != nil {
			return err
		}
		a.rules = rs
	}
	var err error
	switch {
	case a.rules == nil: // never had a rule: nothing to empty
	case r.emptyTable():
		err = a.rules.clear()
	default:
		err = a.rules.install(r)
	}
	if len(r.Queue) == 0 && a.stage != nil {
		err = errors.Join(err, a.stage.close())
		a.stage = nil
	}
	switch {
	case len(r.RateTo) > 0:
		if rerr := installRates(n.NetNS, n.Addr, r.RateTo); rerr != nil {
			return errors.Join(err, fmt.Errorf("rate limits: %w", rerr))
		}
		a.rated = true
	case a.rated:
		if rerr := removeRates(n.NetNS, n.Addr); rerr != nil {
			return errors.Join(err, fmt.Errorf("remove rate limits: %w", rerr))
		}
		a.rated = false
	}
	return err
}

func (a *nsAgent) Seen(_ context.Context, dst netip.Addr) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stage == nil {
		return 0, nil
	}
	return a.stage.seen(dst), nil
}

func (a *nsAgent) Rules(context.Context) (int, error) {
	count := 0
	err := withRuleset(a.node.NetNS, func(rs *ruleset) (err error) {
		count, err = rs.rules()
		return err
	})
	return count, err
}

func (a *nsAgent) Close(_ context.Context, remove bool) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, l := range a.listeners {
		errs = append(errs, l.close())
	}
	clear(a.listeners)
	if a.stage != nil {
		errs = append(errs, a.stage.close())
		a.stage = nil
	}
	defer func() { err = errors.Join(append(errs, err)...) }()
	if a.rules == nil {
		return nil
	}
	defer func() { errs = append(errs, a.rules.close()); a.rules = nil }()
	if _, err := os.Stat(a.node.NetNS); err != nil {
		return nil // gone, and its table with it
	}
	if remove {
		return a.rules.remove()
	}
	return nil
}

// udpListener collects the probe datagrams that reach one node.
type udpListener struct {
	conn *net.UDPConn
	mu   sync.Mutex
	from []string
	done chan struct{}
}

// close ends the reader and waits for it; what arrived is kept.
func (l *udpListener) close() error {
	err := l.conn.Close()
	<-l.done
	return err
}

// Listen opens a UDP socket on the node's address and port inside its
// namespace; datagrams "faultline-probe FROM TO" naming this node count.
func (a *nsAgent) Listen(_ context.Context, p Probe) error {
	if p.Proto != "udp" {
		return nil
	}
	var conn *net.UDPConn
	err := inNetNS(a.node.NetNS, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.node.Addr.AsSlice(), Port: int(p.Port)})
		return err
	})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.node.Name, err)
	}
	l := &udpListener{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		buf := make([]byte, 128)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			f := strings.Fields(string(buf[:n]))
			if len(f) == 3 && f[0] == "faultline-probe" && f[2] == a.node.Name {
				l.mu.Lock()
				if !slices.Contains(l.from, f[1]) {
					l.from = append(l.from, f[1])
				}
				l.mu.Unlock()
			}
		}
	}()
	a.mu.Lock()
	var cerr error // the listener this one replaces
	if old := a.listeners[p.String()]; old != nil {
		cerr = old.close()
	}
	a.listeners[p.String()] = l
	a.mu.Unlock()
	return cerr
}

func (a *nsAgent) Collect(_ context.Context, p Probe) ([]string, error) {
	a.mu.Lock()
	l := a.listeners[p.String()]
	delete(a.listeners, p.String())
	a.mu.Unlock()
	if l == nil {
		return nil, nil
	}
	err := l.close()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.from)), err
}

// Send sends three datagrams to each peer from the node's address (a
// rejected one fails to send: that is the reject working, not an error),
// or connects to each peer's port, all at once, within wait.
func (a *nsAgent) Send(ctx context.Context, p Probe, peers []Peer, wait time.Duration) (map[string]Outcome, error) {
	if p.Proto == "tcp" {
		return a.connect(ctx, p.Port, peers, wait)
	}
	return nil, inNetNS(a.node.NetNS, func() error {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: a.node.Addr.AsSlice()})
		if err != nil {
			return fmt.Errorf("probe socket on %s: %w", a.node.Name, err)
		}
		for _, b := range peers {
			msg := []byte("faultline-probe " + a.node.Name + " " + b.Name)
			for range 3 {
				// A cut may refuse the send (a drop on output is EPERM):
				// the probe is then silent, which is what is measured.
				_, _ = conn.WriteToUDP(msg, &net.UDPAddr{IP: b.Addr.AsSlice(), Port: int(p.Port)})
			}
		}
		return conn.Close()
	})
}

// connect dials every peer's port: arrived when the connection is made,
// refused on a reset (the peer's stack, with nothing listening, or a local
// reject rule), silent on a timeout.
func (a *nsAgent) connect(ctx context.Context, port uint16, peers []Peer, wait time.Duration) (map[string]Outcome, error) {
	out := map[string]Outcome{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(peers))
	for _, b := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := inNetNS(a.node.NetNS, func() error {
				d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: a.node.Addr.AsSlice()}}
				c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(b.Addr.String(), fmt.Sprint(port)))
				o := Silent
				switch {
				case err == nil:
					o = Arrived
					_ = c.Close() // it connected: that was the question
				case errors.Is(err, syscall.ECONNREFUSED):
					o = Refused
				}
				mu.Lock()
				out[b.Name] = o
				mu.Unlock()
				return nil
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}
