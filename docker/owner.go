package docker

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// LabelOwner names the harness process that started a run, as
// "BOOT_ID/PID/START_TICKS": `faultline clean` leaves a run alone while that
// process is alive, so it never pulls a cluster from under a run in
// progress (another terminal, another user, a CI job on the same engine).
const LabelOwner = "faultline.owner"

var (
	ownerOnce sync.Once
	owner     string
)

// Owner is this process's owner label.
func Owner() string {
	ownerOnce.Do(func() {
		boot := bootID()
		start, err := startTicks(os.Getpid())
		if boot == "" || err != nil {
			owner = "unknown"
			return
		}
		owner = fmt.Sprintf("%s/%d/%d", boot, os.Getpid(), start)
	})
	return owner
}

// Liveness of a run's owner.
type Liveness int

const (
	// OwnerGone: the harness that started the run has exited (killed,
	// crashed): its objects are leftovers.
	OwnerGone Liveness = iota
	// OwnerAlive: the run is in progress.
	OwnerAlive
	// OwnerUnknown: started on another host or boot, or by a faultline
	// without owner labels: this process cannot tell.
	OwnerUnknown
)

func (l Liveness) String() string {
	return [...]string{"gone", "alive", "unknown"}[l]
}

// OwnerLiveness says whether the process an owner label names still runs.
func OwnerLiveness(label string) Liveness {
	f := strings.Split(label, "/")
	if len(f) != 3 || f[0] != bootID() {
		return OwnerUnknown
	}
	pid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return OwnerUnknown
	}
	got, err := startTicks(pid)
	if err != nil || got != start {
		return OwnerGone // no such process, or the PID was reused
	}
	return OwnerAlive
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// startTicks is field 22 of /proc/PID/stat: when the process started, in
// clock ticks since boot. With the PID it names one process for the life of
// the boot.
func startTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}
