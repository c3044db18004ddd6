package clients

import "os/exec"

// ownGroup does nothing on Windows, where clients are not run (faultline
// runs on Linux and macOS; Windows builds the offline checks only).
func ownGroup(*exec.Cmd) {}

// killGroup kills the program.
func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
