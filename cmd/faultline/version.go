package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/faultline/faultline/systems"
)

// commit is set by `make build` (-ldflags -X main.commit=...), for
// builds where Go records no VCS information (-buildvcs=false).
var commit string

// versionCmd prints faultline's build (commit, whether the tree was
// modified, the Go version) and the image of each built-in system.
func versionCmd(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "faultline %s\n", buildVersion())
	for _, name := range systems.BuiltinNames() {
		if d, err := systems.Builtin(name); err == nil {
			fmt.Fprintf(stdout, "  %s: %s\n", name, d.Image)
		}
	}
	return exitValid
}

// buildVersion says which build this is: the commit, when, whether the
// tree was modified, and the Go version ("bbc85d8-modified, built with
// go1.26.8").
func buildVersion() string {
	rev, when, dirty, goVersion := "unknown", "", "", "unknown"
	if commit != "" {
		rev = commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = " (" + s.Value + ")"
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", with uncommitted changes"
				}
			}
		}
	}
	return fmt.Sprintf("%s%s%s, built with %s", rev, when, dirty, goVersion)
}
