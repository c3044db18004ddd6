package harness_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/harness"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/testcluster"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/scenarios"
)

// runWatching runs a scenario and calls at(runID) once a progress line
// containing trigger appears. It fails the test if the run takes longer
// than limit: nothing may hang.
func runWatching(t *testing.T, src string, trigger string, at func(runID string), limit time.Duration) (harness.Report, error, string) {
	t.Helper()
	sc, err := scenarios.Parse(filepath.Join(t.TempDir(), "lost.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		runID, fired := "", false
		s := bufio.NewScanner(pr)
		for s.Scan() {
			line := s.Text()
			log.WriteString(line + "\n")
			if f := strings.Fields(line); len(f) > 3 && f[1] == "run" && runID == "" {
				runID = f[2]
			}
			if !fired && strings.Contains(line, trigger) {
				fired = true
				at(runID)
			}
		}
	}()
	type result struct {
		rep harness.Report
		err error
	}
	res := make(chan result, 1)
	go func() {
		rep, err := harness.Run(context.Background(), sc, harness.Options{StoreRoot: storeRoot(t), Log: pw})
		pw.Close()
		res <- result{rep, err}
	}()
	select {
	case r := <-res:
		<-done
		return r.rep, r.err, log.String()
	case <-time.After(limit):
		t.Fatalf("the run did not end within %v: it hangs\n%s", limit, log.String())
	}
	return harness.Report{}, nil, ""
}

// assertHistoryKept checks that the run's history and results survived.
func assertHistoryKept(t *testing.T, rep harness.Report) {
	t.Helper()
	recs, err := history.ReadFile(filepath.Join(rep.StoreDir, harness.HistoryFile))
	if err != nil || len(recs) < 10 {
		t.Errorf("history: %d records, %v", len(recs), err)
	}
	if b, err := os.ReadFile(filepath.Join(rep.StoreDir, harness.ResultsFile)); err != nil || !strings.Contains(string(b), `"error"`) {
		t.Errorf("results.json does not record the error: %v\n%s", err, b)
	}
}

// TestNodeRemovedUnderneath removes a node's container while the run goes
// on. The next fault needs that node: the run must stop with an error
// naming the node, keep its history, and leave nothing behind.
func TestNodeRemovedUnderneath(t *testing.T) {
	testenv.EndToEnd(t)
	src := `time_limit: 12s
cluster: {system: refkv}
nemesis:
  timeline:
    - {at: 4s, for: 2s, fault: {kind: isolate, node: n1}}
`
	rep, err, log := runWatching(t, src, "cluster ready", func(runID string) {
		ctx := context.Background()
		cli, err := docker.Connect(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer cli.Close()
		if err := cli.ContainerRemove(ctx, "faultline-"+runID+"-n3", container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove n3: %v", err)
		}
	}, 3*time.Minute)
	if err == nil || !errors.Is(err, nemesis.ErrNodeGone) || !strings.Contains(err.Error(), "n3") {
		t.Fatalf("want an error naming n3 as gone, got %v\n%s", err, log)
	}
	t.Logf("error: %v", err)
	assertHistoryKept(t, rep)
	assertClean(t, rep.RunID)
}

// flakyEngine stands between faultline and the Docker engine and can be
// switched to answer every request with an error, as an engine in trouble
// does.
type flakyEngine struct {
	failing atomic.Bool
	srv     *http.Server
}

func startFlakyEngine(t *testing.T) *flakyEngine {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://docker")
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
	}}
	f := &flakyEngine{}
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.failing.Load() && r.URL.Path != "/_ping" && !strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"message":"injected engine failure"}`))
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go f.srv.Serve(ln)
	t.Cleanup(func() { f.srv.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	return f
}

// TestEngineFailsMidRun makes the Docker engine answer errors once the
// cluster is up. The pause the scenario then asks for cannot happen: the
// run must stop with the engine's error rather than hang, keep what it
// recorded, say that cleanup is incomplete, and `faultline clean`'s removal
// must finish the job once the engine answers again.
func TestEngineFailsMidRun(t *testing.T) {
	testenv.EndToEnd(t)
	engine := startFlakyEngine(t)
	src := `time_limit: 10s
cluster: {system: refkv}
nemesis:
  timeline:
    - {at: 3s, for: 1s, fault: {kind: pause, node: n3}}
`
	rep, err, log := runWatching(t, src, "cluster ready", func(string) { engine.failing.Store(true) }, 3*time.Minute)
	engine.failing.Store(false)
	if err == nil || !strings.Contains(err.Error(), "injected engine failure") {
		t.Fatalf("want the engine's error, got %v\n%s", err, log)
	}
	if !strings.Contains(log, "cleanup incomplete") || !strings.Contains(log, "faultline clean") {
		t.Errorf("the log does not say cleanup is incomplete and what to run:\n%s", log)
	}
	assertHistoryKept(t, rep)
	ctx := context.Background()
	cli := testcluster.Connect(t)
	if err := docker.RemoveRun(ctx, cli, rep.RunID); err != nil {
		t.Fatal(err)
	}
	assertClean(t, rep.RunID)
}
