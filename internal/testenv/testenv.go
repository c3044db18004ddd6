// Package testenv says which tests are end to end: they need root (network
// namespaces), the Docker engine, a headless browser or real clusters, and
// they skip under `go test -short`, so that the fast loop runs every unit
// test in well under a minute on any machine; and it starts the loopback
// HTTP servers that unit tests stand nodes on (HTTPServers).
package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// EndToEnd skips t under -short.
func EndToEnd(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end (root, Docker, a browser or a cluster): skipped under -short")
	}
}

// HTTPServers starts one HTTP server per handler on loopback, closed when
// the test ends, and returns the port of each: the servers share no port,
// so each stands for a node of its own on 127.0.0.1.
func HTTPServers(t testing.TB, handlers ...http.HandlerFunc) []int {
	t.Helper()
	var ports []int
	for _, h := range handlers {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		_, p, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, port)
	}
	return ports
}
