package workloads

import "errors"

// Errors a caller may want to tell apart.
var (
	// ErrNotReady: a node did not pass its readiness check within the
	// ready timeout (a *NotReadyError says which and why).
	ErrNotReady = errors.New("cluster not ready")
	// ErrNoLeader: no node named a leader within the wait.
	ErrNoLeader = errors.New("no leader found")
	// ErrClientProgram: the client program could not be started, or does
	// not do what the run needs of it.
	ErrClientProgram = errors.New("client program failed")
)
