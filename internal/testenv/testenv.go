// Package testenv says which tests are end to end: they need root (network
// namespaces), the Docker engine, a headless browser or real clusters, and
// they skip under `go test -short`, so that the fast loop runs every unit
// test in well under a minute on any machine.
package testenv

import "testing"

// EndToEnd skips t under -short.
func EndToEnd(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end (root, Docker, a browser or a cluster): skipped under -short")
	}
}
