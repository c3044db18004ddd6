package docker

import (
	"net/netip"

	"github.com/vishvananda/netlink"
)

// hostRoutes are the IPv4 prefixes the host routes to (VPNs, other
// bridges), like `ip -4 route`: a run's network must not overlap them.
func hostRoutes() []netip.Prefix {
	var out []netip.Prefix
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, err := netip.ParsePrefix(r.Dst.String()); err == nil && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	return out
}
