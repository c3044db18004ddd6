//go:build !linux

package nemesis

type ruleset struct{}

func openRuleset(string) (*ruleset, error) { return nil, ErrUnsupported }
func (*ruleset) install(NodeRules) error   { return ErrUnsupported }
func (*ruleset) clear() error              { return ErrUnsupported }
func (*ruleset) rules() (int, error)       { return 0, ErrUnsupported }
func (*ruleset) remove() error             { return ErrUnsupported }
func (*ruleset) close() error              { return nil }
func installRules(string, NodeRules) error { return ErrUnsupported }
func removeTable(string) error             { return ErrUnsupported }
func hasTable(string) (bool, error)        { return false, ErrUnsupported }

func withRuleset(string, func(*ruleset) error) error { return ErrUnsupported }
