//go:build !linux

package nemesis

import (
	"context"
	"time"
)

func probe(context.Context, []Node, Probe, time.Duration) (map[string]map[string]outcome, error) {
	return nil, ErrUnsupported
}
