package harness

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress receives what a run is doing. The command implements it (on a
// terminal it keeps a live status line below the progress lines); Lines is
// the plain one, for logs and tests.
type Progress interface {
	// Logf writes one progress line ("faultline: " is added).
	Logf(format string, args ...any)
	// Output writes the output of a tool the run waits for (an image
	// build), line by line.
	Output(line string)
	// Workload is called when the workload starts, with what tells its
	// state at any moment; the run calls the returned func when it ends.
	Workload(state func() WorkloadState) (done func())
}

// WorkloadState is the state of a workload in progress.
type WorkloadState struct {
	Elapsed, Limit time.Duration
	OK, Fail, Info int64
	Fault          string // the fault in force, "" for none
}

// String is the state in one line: elapsed / limit, ops/s, counts, the
// fault in force.
func (w WorkloadState) String() string {
	done := w.OK + w.Fail + w.Info
	s := fmt.Sprintf("faultline: %4.0fs / %v  %4.0f ops/s  ok %d  fail %d  info %d", w.Elapsed.Seconds(), w.Limit, float64(done)/max(w.Elapsed.Seconds(), 0.001), w.OK, w.Fail, w.Info)
	if w.Fault != "" {
		s += "  fault: " + w.Fault
	}
	return s
}

// Lines is the plain Progress: one line per event on w, no status line.
func Lines(w io.Writer) Progress { return &lines{w: w} }

type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "faultline: "+format+"\n", args...)
}

func (l *lines) Output(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "  | %s\n", line)
}

func (l *lines) Workload(func() WorkloadState) func() { return func() {} }

// indented turns a tool's output into Output lines.
type indented struct{ p Progress }

func (i indented) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		i.p.Output(line)
	}
	return len(b), nil
}
