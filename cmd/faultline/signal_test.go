package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOfflineCommandsStopAtOnce: a command that starts nothing (check
// here, on a history big enough to keep it reading and checking for
// seconds) does not catch SIGINT or SIGTERM: either stops it at once,
// where it once went on to the end (and a FIFO held it forever).
func TestOfflineCommandsStopAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and writes a 100 MB history")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	hist := filepath.Join(dir, "big.jsonl")
	writeBigHistory(t, hist, 1_000_000)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "check", "-out", filepath.Join(t.TempDir(), "out"), hist)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatalf("the check ended within 300 ms, before the signal (the history is too small to test this): %v", err)
			}
			err := cmd.Wait()
			took := time.Since(sent)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("check ended without the signal's mark: %v", err)
			}
			ws, ok := exit.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("check was not stopped by %v: exit %v (it caught the signal and went on)", sig, err)
			}
			t.Logf("%v stopped check in %v", sig, took.Round(time.Millisecond))
		})
	}
}

// writeBigHistory writes n register operations (a write and a read of
// one value, on 1000 keys) as a faultline history.
func writeBigHistory(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	idx, ts := 0, int64(1)
	rec := func(p int, typ, fn string, key, v int) {
		fmt.Fprintf(w, `{"index":%d,"process":%d,"node":"n1","type":"%s","f":"%s","key":"k%d","value":%d,"time":%d}`+"\n", idx, p, typ, fn, key, v, ts)
		idx++
		ts += 1000
	}
	for i := range n / 2 {
		key, v := i%1000, i+1
		rec(0, "invoke", "write", key, v)
		rec(0, "ok", "write", key, v)
		rec(1, "invoke", "read", key, 0)
		rec(1, "ok", "read", key, v)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
}
