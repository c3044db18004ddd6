// Package testcluster starts clusters of a stand-in node for the tests of
// packages docker and nemesis, which need containers with network
// namespaces but no system under test. The node (docker/testdata/node)
// answers on TCP port 8080 and counts its starts in its data folder; its
// image is built FROM scratch, like every image faultline uses.
package testcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/faultline/faultline/docker"
)

// Image is the stand-in node's image.
const Image = "faultline-test/node:1"

// root is faultline's source tree.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// ImageSpec is how the stand-in node's image is built.
func ImageSpec() docker.ImageSpec {
	r := root()
	return docker.ImageSpec{Tag: Image, Owner: "tests", Build: &docker.BuildSpec{
		Context:    filepath.Join(r, "docker", "testdata", "node"),
		PrepareKey: "go build ./docker/testdata/node",
		Prepare: func(ctx context.Context, out string, log io.Writer) error {
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(out, "node"), "./docker/testdata/node")
			cmd.Dir = r
			cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			cmd.Stdout, cmd.Stderr = log, log
			return cmd.Run()
		},
	}}
}

// Start builds the image if needed and starts n nodes, n1..nN, each with a
// data folder at /data ($DATA). edit, when set, changes each node's spec.
// Remove the cluster when done.
func Start(ctx context.Context, cli *client.Client, n int, edit func(*docker.NodeSpec)) (*docker.Cluster, error) {
	if err := docker.EnsureImage(ctx, cli, ImageSpec(), io.Discard); err != nil {
		return nil, err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return docker.Start(ctx, cli, docker.ClusterSpec{
		RunID: fmt.Sprintf("test-%d", time.Now().UnixNano()),
		Names: names,
		Nodes: func(addrs []netip.Addr) ([]docker.NodeSpec, error) {
			specs := make([]docker.NodeSpec, n)
			for i := range specs {
				specs[i] = docker.NodeSpec{Name: names[i], Image: Image, Env: []string{"DATA=/data"}, Data: "/data", Cmd: []string{"--addr", addrs[i].String()}}
				if edit != nil {
					edit(&specs[i])
				}
			}
			return specs, nil
		},
	})
}

// Connect is a client of the Docker engine for a test, closed when the test
// ends; the test stops if the engine does not answer.
func Connect(t testing.TB) *client.Client {
	t.Helper()
	cli, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cli.Close(); err != nil {
			t.Errorf("close the engine's client: %v", err)
		}
	})
	return cli
}

// EngineProxy serves the Docker engine's API on a unix socket at path that
// anybody may use, forwarding each connection to the engine's own socket:
// a controller given DOCKER_HOST=unix://path reaches the engine and
// nothing else of it (not its socket, not its host's /proc). It stops when
// the test ends.
func EngineProxy(t testing.TB, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() }) // ends the accept loop; the socket file goes with the test's folder
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go proxyConn(c)
		}
	}()
}

// proxyConn joins one client connection to the engine's socket until both
// sides are done. A connection's errors are its client's to see: the
// proxy has nothing to add, so it only passes them on by closing.
func proxyConn(c net.Conn) {
	defer func() { _ = c.Close() }()
	e, err := net.Dial("unix", "/var/run/docker.sock")
	if err != nil {
		return
	}
	defer func() { _ = e.Close() }()
	done := make(chan struct{}, 2)
	pipe := func(to, from net.Conn) {
		_, _ = io.Copy(to, from)
		_ = to.(*net.UnixConn).CloseWrite()
		done <- struct{}{}
	}
	go pipe(e, c)
	go pipe(c, e)
	<-done
	<-done
}

// RefusingEngine serves the engine's API on a unix socket at path, as an
// authorization plugin would, refusing every container create whose body
// contains refuse (for example "NET_ADMIN") with 403 and the plugin's
// message. It stops when the test ends.
func RefusingEngine(t testing.TB, path, refuse string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() }) // ends the accept loop; the socket file goes with the test's folder
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
		}},
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/containers/create") {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(refuse)) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprintf(w, `{"message":"authorization denied by plugin faultline-test: %s is not allowed"}`, refuse)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }() // it serves until the listener closes with the test
}
