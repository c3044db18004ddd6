//go:build !windows

package clients

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the program in a process group of its own.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills the program and whatever it started (SIGKILL to its
// group).
func killGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
