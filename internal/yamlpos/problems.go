package yamlpos

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// MaxProblems bounds the problems one error lists: past it, a count of
// the rest. A file with more is better mended from the first ones.
const MaxProblems = 20

// Problem is one thing wrong with a file, at a place: its Error is
// "path:line:col: field: message", the form editors and CI annotations
// read. It wraps the file's sentinel (ErrInvalid of the package that read
// it) and the cause, if any, so errors.Is finds both.
type Problem struct {
	Path      string
	Line, Col int // 1-based; Col 0 when only the line is known
	Field     string
	Msg       string
	// Warning marks a problem that does not stop the file: legal, but
	// it does not do what the file seems to want.
	Warning  bool
	sentinel error
	cause    error
}

// Error is the problem after its file's sentinel ("invalid scenario:
// path:3:5: field: message").
func (p *Problem) Error() string {
	if p.sentinel == nil {
		return p.Text()
	}
	return p.sentinel.Error() + ": " + p.Text()
}

// Text is the problem alone, "path:line:col: field: message": the line
// editors and CI annotations read.
func (p *Problem) Text() string {
	if p.Path == "" {
		return p.Msg
	}
	var b strings.Builder
	b.WriteString(p.Path)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Unwrap gives the sentinel and the cause.
func (p *Problem) Unwrap() []error {
	var out []error
	if p.sentinel != nil {
		out = append(out, p.sentinel)
	}
	if p.cause != nil {
		out = append(out, p.cause)
	}
	return out
}

// Problems is every problem found in one file, in file order.
type Problems struct {
	sentinel error
	list     []*Problem
}

// Add appends errors (nil ones are skipped); an error that is a Problems
// adds each of its problems.
func (ps *Problems) Add(errs ...error) {
	for _, err := range errs {
		switch e := err.(type) {
		case nil:
		case *Problems:
			ps.list = append(ps.list, e.list...)
			if ps.sentinel == nil {
				ps.sentinel = e.sentinel
			}
		case *Problem:
			ps.list = append(ps.list, e)
			if ps.sentinel == nil {
				ps.sentinel = e.sentinel
			}
		default:
			// An error without a place (a file that cannot be read):
			// kept whole, first.
			ps.list = append(ps.list, &Problem{Msg: err.Error(), cause: err})
		}
	}
}

// Len counts the problems that are errors.
func (ps *Problems) Len() int {
	n := 0
	for _, p := range ps.list {
		if !p.Warning {
			n++
		}
	}
	return n
}

// Err is nil when no problem is an error; else the errors in file order
// (warnings are left to Warnings).
func (ps *Problems) Err() error {
	if ps.Len() == 0 {
		return nil
	}
	out := &Problems{sentinel: ps.sentinel}
	for _, p := range ps.sorted() {
		if !p.Warning {
			out.list = append(out.list, p)
		}
	}
	if len(out.list) == 1 && out.list[0].Path == "" {
		return out.list[0].cause // one error without a place: as it was
	}
	return out
}

// Warnings are the warnings, in file order.
func (ps *Problems) Warnings() []*Problem {
	var out []*Problem
	for _, p := range ps.sorted() {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// sorted orders by line and column; problems without a place come first,
// and equal places keep the order they were found in.
func (ps *Problems) sorted() []*Problem {
	out := slices.Clone(ps.list)
	slices.SortStableFunc(out, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return out
}

// Error writes one problem on one line ("invalid scenario: path:3:5:
// ..."), several as a first line that counts them and then one line each,
// beginning with path:line:col, at most MaxProblems.
func (ps *Problems) Error() string {
	head := ""
	if ps.sentinel != nil {
		head = ps.sentinel.Error() + ": "
	}
	if len(ps.list) == 1 {
		return head + ps.list[0].Text()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s: %d problems, in file order:", head, ps.list[0].Path, len(ps.list))
	for i, p := range ps.list {
		if i == MaxProblems {
			fmt.Fprintf(&b, "\n... and %d more", len(ps.list)-MaxProblems)
			break
		}
		b.WriteString("\n" + p.Text())
	}
	return b.String()
}

// Unwrap gives every problem, so errors.Is finds the sentinel and each
// cause.
func (ps *Problems) Unwrap() []error {
	out := make([]error, 0, len(ps.list)+1)
	if ps.sentinel != nil {
		out = append(out, ps.sentinel)
	}
	for _, p := range ps.list {
		out = append(out, p)
	}
	return out
}
