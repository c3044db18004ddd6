package docker

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestOwnerLiveness(t *testing.T) {
	me := Owner()
	if got := OwnerLiveness(me); got != OwnerAlive {
		t.Fatalf("this process (%s): %v, want alive", me, got)
	}
	// A process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	boot := strings.Split(me, "/")[0]
	if got := OwnerLiveness(fmt.Sprintf("%s/%d/1", boot, cmd.Process.Pid)); got != OwnerGone {
		t.Errorf("exited process: %v, want gone", got)
	}
	// The same PID with another start time: the PID was reused.
	start, _ := startTicks(os.Getpid())
	if got := OwnerLiveness(fmt.Sprintf("%s/%d/%d", boot, os.Getpid(), start+1)); got != OwnerGone {
		t.Errorf("reused PID: %v, want gone", got)
	}
	for _, label := range []string{"", "unknown", "other-boot/1/1", boot + "/x/1", boot + "/-3/1"} {
		if got := OwnerLiveness(label); got != OwnerUnknown {
			t.Errorf("%q: %v, want unknown", label, got)
		}
	}
}
