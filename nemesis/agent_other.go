//go:build !linux

package nemesis

import (
	"context"
	"net/netip"
	"time"
)

// nsAgent cannot enter namespaces on this platform: every call says so.
type nsAgent struct{ node Node }

// NamespaceAgent is the agent of node; on this platform it can do nothing.
func NamespaceAgent(node Node) Agent { return &nsAgent{node: node} }

func (*nsAgent) Set(context.Context, NodeRules) error { return ErrUnsupported }
func (*nsAgent) Listen(context.Context, Probe) error  { return ErrUnsupported }
func (*nsAgent) Send(context.Context, Probe, []Peer, time.Duration) (map[string]Outcome, error) {
	return nil, ErrUnsupported
}
func (*nsAgent) Collect(context.Context, Probe) ([]string, error) { return nil, ErrUnsupported }
func (*nsAgent) Seen(context.Context, netip.Addr) (int64, error)  { return 0, ErrUnsupported }
func (*nsAgent) Rules(context.Context) (int, error)               { return 0, ErrUnsupported }
func (*nsAgent) Gone() bool                                       { return false }
func (*nsAgent) Close(context.Context, bool) error                { return nil }

// SelfAgent is the agent of this process's own namespace; on this platform
// it can do nothing.
func SelfAgent(node Node) Agent { return &nsAgent{node: node} }

// SelfNS is this process's own network namespace.
const SelfNS = "/proc/self/ns/net"
