//go:build !linux

package nemesis

// ProbeHost reports that network faults are not supported here.
func ProbeHost() (Capabilities, error) { return Capabilities{}, ErrUnsupported }

// ProbeHere reports that network faults are not supported here.
func ProbeHere() (Capabilities, error) { return Capabilities{}, ErrUnsupported }
