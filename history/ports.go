package history

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PortRange is a port (Lo == Hi) or an inclusive range of them: a system's
// peer port, a BEAM cluster's distribution ports. In YAML 2380 or
// "9100-9105". Systems declare them and faults cut them.
type PortRange struct{ Lo, Hi uint16 }

// Contains reports whether port is in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.Lo && port <= r.Hi }

// ParsePortRange reads "2380" or "9100-9105".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := a, error(nil)
	if isRange {
		b, err2 = strconv.Atoi(strings.TrimSpace(hi))
	}
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("%q is not a port or a range such as 9100-9105", s)
	}
	if a < 1 || a > 65535 || b < 1 || b > 65535 {
		return PortRange{}, fmt.Errorf("port %q is not between 1 and 65535", s)
	}
	if b < a {
		return PortRange{}, fmt.Errorf("range %q ends before it starts", s)
	}
	return PortRange{uint16(a), uint16(b)}, nil
}

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// UnmarshalYAML takes a number or a "lo-hi" string.
func (r *PortRange) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		var n int
		if err := unmarshal(&n); err != nil {
			return errors.New("a port is a number or a range such as \"9100-9105\"")
		}
		s = strconv.Itoa(n)
	}
	pr, err := ParsePortRange(s)
	if err != nil {
		return err
	}
	*r = pr
	return nil
}

// MarshalYAML writes a port as a number and a range as a string.
func (r PortRange) MarshalYAML() (any, error) {
	if r.Lo == r.Hi {
		return int(r.Lo), nil
	}
	return r.String(), nil
}
