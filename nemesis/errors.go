package nemesis

import "errors"

// Errors a caller may want to tell apart.
var (
	// ErrUnknownNode: a grudge, shape or link names a node the cluster
	// lacks.
	ErrUnknownNode = errors.New("unknown node")
	// ErrCannotKill: a fault would kill a node that faultline could not
	// start again (an attached container removed when it stops, or one
	// Docker restarts itself).
	ErrCannotKill = errors.New("node cannot be killed here")
	// ErrNodeGone: a node's network namespace no longer exists (its
	// container was removed or crashed underneath the run).
	ErrNodeGone = errors.New("node gone")
	// ErrUnsupported: this platform cannot apply network faults.
	ErrUnsupported = errors.New("network faults are not supported on this platform")
	// ErrNotVerified: the probes after a fault saw something other than
	// what the fault should do.
	ErrNotVerified = errors.New("fault not verified")
	// ErrMissingFeature: the host's kernel cannot apply a fault.
	ErrMissingFeature = errors.New("kernel feature missing")
	// ErrForeignQdisc: a node's interface has a root qdisc faultline did
	// not install; faultline will not replace it.
	ErrForeignQdisc = errors.New("interface has a root qdisc faultline does not own")
	// ErrHelperGone: a node's helper container stopped answering (it died,
	// or was removed) while the run needed it.
	ErrHelperGone = errors.New("helper gone")
)
