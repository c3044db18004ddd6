package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// inNetNS runs f on an OS thread switched into the namespace at path.
// Sockets f opens stay in that namespace. The thread is never switched
// back: it stays locked and exits with the goroutine, so no other
// goroutine ever runs in the node's namespace.
func inNetNS(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open network namespace %s: %w", path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// probe sends probe packets between every ordered pair of nodes and
// reports what became of each.
func probe(ctx context.Context, nodes []Node, p Probe, wait time.Duration) (map[string]map[string]outcome, error) {
	if p.Proto == "tcp" {
		return probeTCP(ctx, nodes, p.Port, 2*wait) // a round trip
	}
	return probeUDP(ctx, nodes, p.Port, wait)
}

// probeUDP opens a listener on each node's address and port inside its
// namespace, sends three datagrams from every other node's namespace, and
// collects what arrives within wait.
func probeUDP(ctx context.Context, nodes []Node, port uint16, wait time.Duration) (map[string]map[string]outcome, error) {
	listeners := make([]*net.UDPConn, len(nodes))
	defer func() {
		for _, l := range listeners {
			if l != nil {
				l.Close()
			}
		}
	}()
	for i, b := range nodes {
		err := inNetNS(b.NetNS, func() error {
			var err error
			listeners[i], err = net.ListenUDP("udp4", &net.UDPAddr{IP: b.Addr.AsSlice(), Port: int(port)})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", b.Name, err)
		}
	}
	reached := map[string]map[string]outcome{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(wait)
	for i, l := range listeners {
		l.SetReadDeadline(deadline)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 128)
			for {
				n, _, err := l.ReadFromUDP(buf)
				if err != nil {
					return
				}
				// Payload: "faultline-probe FROM TO"
				f := strings.Fields(string(buf[:n]))
				if len(f) == 3 && f[0] == "faultline-probe" && f[2] == nodes[i].Name {
					mu.Lock()
					if reached[f[1]] == nil {
						reached[f[1]] = map[string]outcome{}
					}
					reached[f[1]][f[2]] = arrived
					mu.Unlock()
				}
			}
		}()
	}
	for _, a := range nodes {
		var conn *net.UDPConn
		err := inNetNS(a.NetNS, func() error {
			var err error
			conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.Addr.AsSlice()})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("probe socket on %s: %w", a.Name, err)
		}
		for _, b := range nodes {
			if a.Name == b.Name {
				continue
			}
			msg := []byte("faultline-probe " + a.Name + " " + b.Name)
			for range 3 {
				// A rejected datagram fails here or on the next write;
				// that is the reject working, not a probe error.
				conn.WriteToUDP(msg, &net.UDPAddr{IP: b.Addr.AsSlice(), Port: int(port)})
			}
		}
		conn.Close()
	}
	wg.Wait()
	return reached, ctx.Err()
}

// probeTCP connects from every node to every other node's port: arrived
// when the connection is made, refused on a reset (the peer's stack, with
// nothing listening, or a local reject rule), silent on a timeout.
func probeTCP(ctx context.Context, nodes []Node, port uint16, wait time.Duration) (map[string]map[string]outcome, error) {
	reached := map[string]map[string]outcome{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*len(nodes))
	for _, a := range nodes {
		for _, b := range nodes {
			if a.Name == b.Name {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := inNetNS(a.NetNS, func() error {
					d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: a.Addr.AsSlice()}}
					c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(b.Addr.String(), fmt.Sprint(port)))
					o := silent
					switch {
					case err == nil:
						o = arrived
						c.Close()
					case errors.Is(err, syscall.ECONNREFUSED):
						o = refused
					}
					mu.Lock()
					if reached[a.Name] == nil {
						reached[a.Name] = map[string]outcome{}
					}
					reached[a.Name][b.Name] = o
					mu.Unlock()
					return nil
				})
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return reached, <-errs
}
