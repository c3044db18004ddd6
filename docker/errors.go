package docker

import "errors"

// Errors a caller may want to tell apart.
var (
	// ErrUnreachable: the Docker engine does not answer.
	ErrUnreachable = errors.New("docker engine unreachable")
	// ErrImage: an image is missing or failed to build.
	ErrImage = errors.New("image unavailable")
	// ErrStart: a container or the network could not be created or started.
	ErrStart = errors.New("cluster did not start")
	// ErrAttach: an attach selector matches nothing faultline may act on.
	ErrAttach = errors.New("cannot attach")
	// ErrNotOurs: a container is not labelled as a node of this run (or,
	// attached, is not one of the containers attached to), so faultline
	// refuses to touch it.
	ErrNotOurs = errors.New("container is not part of this run")
	// ErrHelper: a helper container could not be created or started (an
	// engine that refuses NET_ADMIN, say).
	ErrHelper = errors.New("helper container failed")
)
