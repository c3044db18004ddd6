//go:build !linux

package docker

import "net/netip"

// hostRoutes is not known off Linux: the engine's own networks are still
// avoided, and the network is created where the engine accepts it.
func hostRoutes() []netip.Prefix { return nil }
