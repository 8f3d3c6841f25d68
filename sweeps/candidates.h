#pragma once
// The runs an adaptive design may choose among (`sims suggest`): the sweep with, in every
// condition's design, the geometric midpoints between its neighbouring target sizes and, for
// an IsoFLOP design, between its neighbouring budgets, plus one half-decade budget past the
// largest. Planned with PlanSweep like the sweep itself, so a candidate's id, shape and FLOP
// accounting are the planner's, and the sweep's own runs keep their ids.
//
//   SweepPlan candidates = PlanSweep(WithCandidatePoints(LoadSweepFile(path)));
#include "sweeps/spec.h"

namespace sims {

// Midpoint sizes whose shape the shape rule already builds for another size of the design
// are left out (at toy sizes neighbouring targets often share a shape).
SweepSpec WithCandidatePoints(const SweepSpec& spec);

}  // namespace sims
