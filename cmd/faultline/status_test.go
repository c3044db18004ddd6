package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness"
)

// On a log (not a terminal), progress lines carry the UTC time and the
// workload sends a heartbeat with its counts while it runs.
func TestLogProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	l, ok := p.(*logLines)
	if !ok {
		t.Fatalf("progress on a buffer is %T, want the log form", p)
	}
	l.every = 20 * time.Millisecond
	l.Logf("fault %s", "isolate: n1 | n2 n3")
	done := l.Workload(func() harness.WorkloadState {
		return harness.WorkloadState{Elapsed: 3 * time.Second, Limit: 30 * time.Second, OK: 40, Fail: 1, Info: 2, Fault: "isolate"}
	})
	time.Sleep(70 * time.Millisecond)
	done()
	n := strings.Count(buf.String(), "ok 40  fail 1  info 2  fault: isolate")
	if n < 2 || !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d faultline: fault isolate: n1 \| n2 n3$`).MatchString(buf.String()) {
		t.Errorf("%d heartbeats; log:\n%s", n, &buf)
	}
	// Nothing more once the workload is done.
	before := buf.Len()
	time.Sleep(50 * time.Millisecond)
	if buf.Len() != before {
		t.Errorf("heartbeat after the workload ended:\n%s", buf.String()[before:])
	}
}
