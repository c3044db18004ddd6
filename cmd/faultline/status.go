package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/faultline/faultline/harness"
)

// newProgress is how a run reports to w: on a terminal, progress lines
// with a live status line below them while the workload runs (elapsed /
// limit, ops/s, ok / fail / info, the fault in force); elsewhere (CI
// logs, pipes) plain lines only.
func newProgress(w io.Writer) harness.Progress {
	if !isTerminal(w) {
		return &logLines{w: w, every: 10 * time.Second}
	}
	return &statusLine{w: w, lines: harness.Lines(w)}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// statusLine writes progress lines and keeps a live status line below
// them.
type statusLine struct {
	mu     sync.Mutex
	w      io.Writer
	lines  harness.Progress
	status string // the line on screen now, "" when none
}

// above writes something above the status line.
func (s *statusLine) above(write func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != "" {
		fmt.Fprint(s.w, "\r\033[K")
	}
	write()
	if s.status != "" {
		fmt.Fprint(s.w, s.status)
	}
}

func (s *statusLine) Logf(format string, args ...any) {
	s.above(func() { s.lines.Logf(format, args...) })
}

func (s *statusLine) Output(line string) { s.above(func() { s.lines.Output(line) }) }

// Workload redraws the status line twice a second until done is called,
// then clears it for good.
func (s *statusLine) Workload(state func() harness.WorkloadState) func() {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			line := state().String()
			if len(line) > 160 {
				line = line[:157] + "..."
			}
			s.mu.Lock()
			fmt.Fprint(s.w, "\r\033[K"+line)
			s.status = line
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-finished
		s.mu.Lock()
		if s.status != "" {
			fmt.Fprint(s.w, "\r\033[K")
			s.status = ""
		}
		s.mu.Unlock()
	}
}

// logLines is the progress for a log (a CI job, a file): every line
// stamped with the UTC time, and while the workload runs a heartbeat
// every 10 s with its ops/s, outcome counts and the fault in force.
type logLines struct {
	mu    sync.Mutex
	w     io.Writer
	every time.Duration
}

func (l *logLines) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s faultline: "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func (l *logLines) Output(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s   | %s\n", time.Now().UTC().Format("15:04:05"), line)
}

func (l *logLines) Workload(state func() harness.WorkloadState) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				l.Logf("%s", strings.TrimPrefix(state().String(), "faultline: "))
			}
		}
	}()
	return func() { close(stop); <-done }
}
