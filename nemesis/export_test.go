package nemesis

// PlanOf is a plan that offers steps in order, for the tests of Play
// with faults of their own.
func PlanOf(steps []Step) *Plan {
	i := 0
	return &Plan{next: func() (Step, bool) {
		if i >= len(steps) {
			return Step{}, false
		}
		i++
		return steps[i-1], true
	}}
}
