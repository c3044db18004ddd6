package nemesis

// PlanOf is a plan that offers steps in order, for the tests of Play
// with faults of their own.
var PlanOf = planOf
