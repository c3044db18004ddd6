//go:build !linux

package nemesis

func installRules(string, nodeRules) error { return ErrUnsupported }
func removeTable(string) error             { return ErrUnsupported }
func hasTable(string) (bool, error)        { return false, ErrUnsupported }
