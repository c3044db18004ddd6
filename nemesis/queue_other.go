//go:build !linux

package nemesis

import "net/netip"

type queueStage struct{}

func openStage(string, string) (*queueStage, error)      { return nil, ErrUnsupported }
func (*queueStage) setLinks(map[netip.Addr]Gray, uint64) {}
func (*queueStage) close() error                         { return nil }
func (*queueStage) seen(netip.Addr) int64                { return 0 }
func installRates(string, netip.Addr, []RateMatch) error { return ErrUnsupported }
func removeRates(string, netip.Addr) error               { return ErrUnsupported }

// CleanNamespace is not supported on this platform.
func CleanNamespace(string) error { return ErrUnsupported }

// Installed needs Linux.
func Installed(string) (bool, bool, error) { return false, false, ErrUnsupported }
