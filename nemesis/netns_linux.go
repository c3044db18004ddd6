package nemesis

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// SelfNS is this process's own network namespace: a helper container's,
// which it never leaves and may not enter (setns needs CAP_SYS_ADMIN,
// which a helper lacks). Every function here that enters a namespace by
// path acts in place for SelfNS.
const SelfNS = "/proc/self/ns/net"

// handleAt opens a netlink handle in the namespace at path.
func handleAt(path string) (*netlink.Handle, error) {
	if path == SelfNS {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("netlink in %s: %w", path, err), ns.Close())
	}
	// The handle's sockets hold the namespace now.
	if err := ns.Close(); err != nil {
		h.Close()
		return nil, fmt.Errorf("close network namespace %s: %w", path, err)
	}
	return h, nil
}

// nsFD opens the namespace at path for a library that dials netlink in it
// (0 and a no-op close for SelfNS: the library's own namespace).
func nsFD(path string) (int, func() error, error) {
	if path == SelfNS {
		return 0, func() error { return nil }, nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return fd, func() error { return unix.Close(fd) }, nil
}

// inNetNS runs f on an OS thread switched into the namespace at path.
// Sockets f opens stay in that namespace. The thread is never switched
// back: it stays locked and exits with the goroutine, so no other
// goroutine ever runs in the node's namespace.
func inNetNS(path string, f func() error) error {
	if path == SelfNS {
		return f() // already there: a helper never leaves its namespace
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open network namespace %s: %w", path, err)
			return
		}
		// The thread is in the namespace once switched: the descriptor
		// that named it is not needed, and a close cannot fail on it.
		defer func() { _ = unix.Close(fd) }()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
