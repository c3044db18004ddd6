// Package regfile opens the files faultline reads (scenarios, system and
// compose files, histories) only when they are regular files: opening a
// FIFO or a device would block, or read forever, where a user waits for
// an answer and a signal would not reach the reader.
package regfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotRegular is a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Check refuses a path that is not a regular file (symbolic links
// followed).
func Check(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (it is a %s)", path, ErrNotRegular, kind(fi.Mode()))
	}
	return nil
}

// Open opens a regular file for reading.
func Open(path string) (*os.File, error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	return os.Open(path)
}

// ReadFile reads a regular file whole.
func ReadFile(path string) ([]byte, error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "folder"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
