#pragma once
// Downstream metrics against compute (sBLIMP/sSC/tSC-like accuracies): the best run per budget,
// then either a power law in the error (1 - accuracy = k C^-e) or a saturating sigmoid in
// log C: acc = floor + (ceiling - floor) / (1 + exp(-slope (log C - log C_mid))).
// Call FitDownstream(points, options).
#include <span>
#include <vector>

namespace sims::fitting {

struct MetricPoint {
  double flops = 0;   // C of the run
  double budget = 0;  // its IsoFLOP budget (best run per budget); 0 = use flops
  double value = 0;   // accuracy in [0, 1]
};

enum class DownstreamForm { kPowerLaw, kSigmoid };

struct DownstreamOptions {
  DownstreamForm form = DownstreamForm::kPowerLaw;
  double floor = 0.5;  // sigmoid's lower asymptote: chance level of a pair task
};

void Validate(const DownstreamOptions& options);

struct DownstreamResult {
  DownstreamForm form = DownstreamForm::kPowerLaw;
  std::vector<MetricPoint> best;  // best run per budget, ascending budget
  // kPowerLaw: 1 - acc = coefficient * C^exponent.
  double coefficient = 0, exponent = 0;
  // kSigmoid: floor fixed; ceiling, slope and log_mid fitted (Ceres, analytic derivatives).
  double floor = 0.5, ceiling = 0, slope = 0, log_mid = 0;
};

// The highest value per budget (Point::budget, or flops when 0), ascending budget, with budget set.
std::vector<MetricPoint> BestPerBudget(std::span<const MetricPoint> points);

DownstreamResult FitDownstream(std::span<const MetricPoint> points, const DownstreamOptions& options = {});
double PredictMetric(const DownstreamResult& fit, double flops);

}  // namespace sims::fitting
