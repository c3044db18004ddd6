//go:build !linux

package nemesis

import "context"

func probe(context.Context, []Node, Probe) (map[string]map[string]outcome, error) {
	return nil, ErrUnsupported
}
