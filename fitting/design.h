#pragma once
// Adaptive design: which runs to train next so that what the study wants to know gets most
// precise per FLOP. Call ChooseRuns(ensemble, targets, candidates, options) with the law
// samples of a bootstrap (bootstrap.h law_samples) as the ensemble.
//
// The criterion is V-optimal in the ensemble (docs/fitting.md "Choosing the next runs"): each
// target t (e.g. ln N_opt at 10x the largest budget) and each candidate's predicted log-loss f
// have a joint spread over the ensemble; observing the candidate with noise sigma removes
// cov(t, f)^2 / (var f + sigma^2) of var t (the linear-Gaussian update the ensemble Kalman
// filter uses). The gain of a candidate is that removal summed over the targets, as a fraction
// of their quantity's variance now (the variances of the targets of one quantity, summed: the
// region's mean prediction variance, V-optimality proper). Candidates are taken greedily by
// gain among those that fit the remaining spend, and after each pick the joint covariance is
// updated as if it had been observed, so a batch spreads out.
//
// The ensemble sees the noise but not the law's misfit (the published pools' small runs sit off
// the law that fits the large ones), so it undervalues runs near the targets. With misfit_sd > 0
// the joint covariance also holds a smooth misfit over (ln N, ln D): a Gaussian process with
// that SD and correlation length, conditioned on the runs already observed. A target with a
// place (LossTargets) then learns from runs near it what the law alone cannot carry there, until
// runs near it have been observed. Cost is controlled by the spend, not by dividing the gain by
// FLOPs (per FLOP it favoured cheap runs far from the target and lost to random picks on the
// published pools; docs/benchmarks.md "Adaptive design").
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "fitting/laws.h"

namespace sims::fitting {

struct Candidate {
  double n_params = 0;
  double tokens = 0;
  double flops = 0;      // what training it costs, in the data's FLOP convention
  size_t condition = 0;  // whose law predicts it (the index into a joint design's conditions)
};

// A number the study wants to know precisely, as a function of the laws: one per condition of
// the design (a design of one condition passes its one law).
struct DesignTarget {
  std::string name;
  std::function<double(std::span<const LawParams>)> value;
  // What it measures, in which unit: targets of one quantity (the ln loss at each run of a
  // region) share a unit, so their variances are summed before weighting (docs/fitting.md).
  std::string quantity;
  // Where the target sits, for the misfit term: ln loss at one (N, D) of condition `condition`.
  // 0: nowhere (an optimum, a multiplier).
  double n_params = 0;
  double tokens = 0;
  size_t condition = 0;
};

// ln N_opt and ln (optimal loss) at `flops` under `cost`: sims suggest's default targets. With
// `place`, the loss target sits at that law's optimal (N, D) there, for the misfit term.
std::vector<DesignTarget> OptimumTargets(const CostModel& cost, double flops,
                                         const LawParams* place = nullptr);
// ln L at each (N, D): a region of runs to predict (the replay's held-out runs).
std::vector<DesignTarget> LossTargets(std::span<const Point> region);
// What sets the compute multiplier at `flops` (compare.h): ln of condition 1's optimal loss
// there over condition 0's, each priced by its own cost. The multiplier itself is unbounded
// under a pair of laws where condition 1 never reaches condition 0's loss, which no variance
// describes; the gap is always finite, the multiplier is 1 where it is 0 and grows with it, so
// narrowing the gap narrows the multiplier.
DesignTarget LossGapTarget(const CostModel& first, const CostModel& second, double flops);

struct DesignOptions {
  double noise_sd = 0;     // SD of a new run's ln loss about the law (the fit's residual SD)
  double spend_flops = 0;  // the proposals' total cost stays <= this (0: no cap)
  int max_runs = 0;        // at most this many proposals (0: no cap)
  // The law's misfit: a smooth error in ln loss over (ln N, ln D), a Gaussian process with this
  // SD and correlation length, seen (with noise_sd) at the `observed` runs. 0: the law is exact.
  double misfit_sd = 0;
  double misfit_length = 1;
  std::vector<Point> observed;
};
void Validate(const DesignOptions& options);

struct Proposal {
  size_t candidate = 0;           // index into the candidates
  double gain = 0;                // fraction of the targets' variance it removes, summed
  double gain_per_flop = 0;
  size_t main_target = 0;         // the target it informs most
  std::vector<double> sd_after;   // each target's expected SD once this and earlier are run
};

struct DesignResult {
  std::vector<double> sd_before;   // each target's SD over the ensemble
  std::vector<Proposal> proposals; // in the order chosen
};

// Throws UserError when the ensemble has fewer than 10 laws, a target does not vary over it
// (nothing to learn), or a value is not finite.
DesignResult ChooseRuns(std::span<const LawParams> ensemble, std::span<const DesignTarget> targets,
                        std::span<const Candidate> candidates, const DesignOptions& options);

// One condition of a joint design (for a target that depends on two conditions' laws, as the
// loss gap behind the compute multiplier does): its bootstrap laws, the noise of a new run's ln
// loss, its law's misfit (DesignOptions' fields of the same names) and its observed runs.
struct DesignCondition {
  std::span<const LawParams> ensemble;
  double noise_sd = 0;
  double misfit_sd = 0;
  std::vector<Point> observed;
};
// The joint design: the s-th laws of the conditions' ensembles are taken together (independent
// bootstraps, so any pairing is one), each candidate is predicted by its condition's law, and
// each condition's misfit is its own (uncorrelated across conditions). `options` gives the
// spend, the run cap and the misfit's length; its noise, misfit and observed runs must be left
// unset (they are per condition here).
DesignResult ChooseRuns(std::span<const DesignCondition> conditions,
                        std::span<const DesignTarget> targets, std::span<const Candidate> candidates,
                        const DesignOptions& options);

// The law's misfit, sized as its extrapolation error (DesignOptions::misfit_sd): the RMS error
// in ln loss, on the dearest quarter of `points` (by FLOPs), of the law fitted to the rest
// (coarse grid). The residuals of one fit do not show the misfit, because the fit bends to it
// (on the published pools the seed design's residual SD is 0.1-0.4%, while laws fitted to
// cheap runs miss the target runs by 2.4-3.1%); the error of a fit carried to dearer runs does.
// At least `noise_sd`; `noise_sd` when the rest is fewer than 5 runs or cannot be fitted. A law
// fitted to exactly 5 runs interpolates them, and its error on the dearer runs is still the
// error of carrying a law to them: a seed design of 6 runs is sized by it, where falling back to
// the noise would leave the first round, the one that spends most, blind to the misfit.
double ExtrapolationError(std::span<const Point> points, double noise_sd, int threads);

// SD of ln(loss) - ln(PredictLoss) over `points`, divided by n - 5 (the law's coefficients).
double LogResidualSd(std::span<const Point> points, const LawParams& law);

}  // namespace sims::fitting
