package systems

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Cmd is the prepare step as a command for the folder out: {{.Out}} in its
// arguments and $FAULTLINE_BUILD_OUT name out; it runs in Dir (default: the
// build context).
func (p *Prepare) Cmd(ctx context.Context, contextDir, out string) (*exec.Cmd, error) {
	args, err := expandList("build.prepare.command", p.Command, struct{ Out, Context string }{out, contextDir})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = p.Dir
	if cmd.Dir == "" {
		cmd.Dir = contextDir
	}
	cmd.Env = append(os.Environ(), "FAULTLINE_BUILD_OUT="+out)
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		cmd.Env = append(cmd.Env, k+"="+p.Env[k])
	}
	return cmd, nil
}

// Run runs the prepare step for out, its output going to log; a failure
// carries its last lines of output.
func (p *Prepare) Run(ctx context.Context, contextDir, out string, log io.Writer) error {
	cmd, err := p.Cmd(ctx, contextDir, out)
	if err != nil {
		return err
	}
	var tail bytes.Buffer
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = io.MultiWriter(log, &tail)
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(tail.String()), "\n")
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		return fmt.Errorf("build.prepare %s (in %s) failed: %w; its last output: %s", strings.Join(p.Command, " "), cmd.Dir, err, strings.Join(lines, " / "))
	}
	return nil
}

// Key is what the prepare step contributes to an image's hash: its
// command line, folder and environment as written.
func (p *Prepare) Key() string {
	if p == nil {
		return ""
	}
	b, _ := json.Marshal(p)
	return string(b)
}
