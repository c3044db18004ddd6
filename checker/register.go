package checker

import (
	"fmt"
	"math"

	"github.com/anishathalye/porcupine"
)

// regInput is a register operation as the model sees it.
type regInput struct {
	f     string // "read", "write", "cas"
	value int64  // written value (write, cas)
	old   int64  // expected value (cas)
	// unknown marks a write or cas whose outcome is unknown: it may have
	// taken effect at any time after its invocation, or never.
	unknown bool
}

// regOutput is what a read returned (0: no value).
type regOutput struct {
	value int64
}

// nilValue stands for "no value" (a key never written, JSON null). Every
// other int64 is a value, 0 included, as in Jepsen's histories.
const nilValue = math.MinInt64

func describeValue(v int64) string {
	if v == nilValue {
		return "nil"
	}
	return fmt.Sprint(v)
}

// RegisterModel is a read / write / compare-and-set register whose state
// starts at initial (nilValue: no value). A cas with an unknown outcome is
// "apply if it matches": combined with its open-ended return time this
// covers both "it happened" and "it never happened".
func RegisterModel(initial int64) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return initial },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			s := state.(int64)
			in := input.(regInput)
			switch in.f {
			case "read":
				return output.(regOutput).value == s, s
			case "write":
				return true, in.value
			case "cas":
				if in.unknown {
					if s == in.old {
						return true, in.value
					}
					return true, s
				}
				return s == in.old, in.value
			}
			return false, s
		},
		Equal: func(a, b interface{}) bool { return a.(int64) == b.(int64) },
		DescribeOperation: func(input, output interface{}) string {
			in := input.(regInput)
			q := ""
			if in.unknown {
				q = " (outcome unknown)"
			}
			switch in.f {
			case "read":
				return fmt.Sprintf("read() -> %s", describeValue(output.(regOutput).value))
			case "write":
				return fmt.Sprintf("write(%s)%s", describeValue(in.value), q)
			case "cas":
				return fmt.Sprintf("cas(%s -> %s)%s", describeValue(in.old), describeValue(in.value), q)
			}
			return in.f
		},
		DescribeState: func(state interface{}) string { return describeValue(state.(int64)) },
	}
}
