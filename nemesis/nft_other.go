//go:build !linux

package nemesis

import "net/netip"

func installDrops(string, []netip.Addr) error { return ErrUnsupported }
func removeTable(string) error                { return ErrUnsupported }
func hasTable(string) (bool, error)           { return false, ErrUnsupported }
