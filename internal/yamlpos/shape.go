package yamlpos

import "fmt"

// Limits on a document's shape, checked before the YAML library sees it:
// the library's memory grows with the square of the nesting depth (a
// 40 KB file of nested brackets took 670 MB), and aliases can multiply a
// document. A scenario, a system file or a compose file is a page of
// YAML; these are far past any.
const (
	MaxDepth   = 64  // flow collections ([ and {) inside each other
	MaxIndent  = 256 // columns of indentation (block nesting)
	MaxAliases = 256 // *alias references
	// MaxValues bounds the values (lines, flow items, collections): the
	// library takes
	// about 450 bytes of memory per byte of a flat list, and time with the
	// square of a mapping's keys (80,000 keys: 22 s).
	MaxValues = 10000
)

// CheckShape refuses a document nested deeper, indented further or with
// more aliases than the limits, naming the line. Quoted strings and
// comments are skipped; the scan is one pass, allocation-free.
func CheckShape(sentinel error, path string, src []byte) error {
	depth, aliases, line, indent, values := 0, 0, 1, 0, 0
	value := func() error {
		if values++; values > MaxValues {
			return fmt.Errorf("%w: %s:%d: more than %d values (lines, list items): a file faultline reads is a page of YAML", sentinel, path, line, MaxValues)
		}
		return nil
	}
	atLineStart := true
	var quote byte // ' or " while inside a quoted string
	prev := byte('\n')
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\n' {
			line++
			atLineStart, indent, prev = true, 0, c
			if quote == '\'' || quote == '"' {
				continue // quoted strings may span lines
			}
			continue
		}
		if quote != 0 {
			switch {
			case quote == '"' && c == '\\':
				i++
			case c == quote:
				quote = 0
			}
			prev = c
			continue
		}
		if atLineStart {
			if c == ' ' {
				if indent++; indent > MaxIndent {
					return fmt.Errorf("%w: %s:%d: indented more than %d columns: a file faultline reads is a page of YAML", sentinel, path, line, MaxIndent)
				}
				prev = c
				continue
			}
			atLineStart = false
			if err := value(); err != nil {
				return err
			}
		}
		tokenStart := prev == ' ' || prev == '\t' || prev == '\n' || prev == '[' || prev == '{' || prev == ',' || prev == '-' || prev == ':'
		switch {
		case c == '#' && (prev == ' ' || prev == '\t' || prev == '\n'):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i-- // the newline is handled above
			continue
		case (c == '\'' || c == '"') && tokenStart:
			quote = c
		case c == '[' || c == '{':
			if depth++; depth > MaxDepth {
				return fmt.Errorf("%w: %s:%d: collections nested more than %d deep: a file faultline reads is a page of YAML", sentinel, path, line, MaxDepth)
			}
			if err := value(); err != nil {
				return err
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth > 0:
			if err := value(); err != nil {
				return err
			}
		case c == '*' && tokenStart:
			if aliases++; aliases > MaxAliases {
				return fmt.Errorf("%w: %s:%d: more than %d aliases (*name): a file faultline reads is a page of YAML", sentinel, path, line, MaxAliases)
			}
		}
		prev = c
	}
	return nil
}
