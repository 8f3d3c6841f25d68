#pragma once
// The verdict of a report: the decisions (VerdictFacts, made from the fits by MakeVerdictFacts
// in report.h) and their wording (WordVerdict), kept apart so that a test can hand-build facts
// and read the sentences they give, and so no sentence embeds a rule.
#include <optional>
#include <string>
#include <vector>

#include "fitting/bootstrap.h"
#include "fitting/compare.h"

namespace sims::report {

// Which of the two compared conditions a measure favours.
enum class Favoured { kFirst, kSecond, kUnresolved };

// The decisions the verdict states, made once from the fits (MakeVerdictFacts) and only worded
// by WordVerdict, so a test can hand-build facts and read the sentences they give.
struct VerdictFacts {
  int conditions_fitted = 0;  // with an approach-3 fit; a comparison needs two
  bool compared = false;      // false: no comparison, the rest is empty
  std::string first, second;  // the compared conditions, in the report's order
  // The bootstrap intervals' level (BootstrapResult::level); a test rejects at 1 - level.
  std::optional<double> level;  // nullopt: no bootstrap, so no intervals and no tests
  std::string flops_unit;       // "exact FLOPs", ...: every compute in the sentences

  struct UnsoundFit {  // an approach-3 fit that fails SoundFit, and why
    std::string condition;
    double a = 0, n_opt = 0, smallest = 0, largest = 0, loss = 0;  // at the largest budget
  };
  std::vector<UnsoundFit> unsound;

  // The multiplier at the sweep's largest budget: the compute `second` needs to reach
  // `first`'s optimal loss, over that budget (+inf: never; below 1: `second` is cheaper).
  struct Multiplier {
    double budget = 0, value = 0;
    std::optional<fitting::Interval> interval;
    Favoured favours = Favoured::kUnresolved;  // kUnresolved: the interval includes 1
    std::optional<double> at_smallest_budget;  // for the trend; both ends finite
  };
  std::optional<Multiplier> multiplier;

  // The loss-against-compute exponents (larger = loss falls faster with compute) of L_opt - E,
  // and the irreducible losses E they fall towards.
  double exponent_first = 0, exponent_second = 0;
  double irreducible_first = 0, irreducible_second = 0;
  Favoured steeper = Favoured::kFirst;  // kFirst or kSecond
  std::optional<double> p_exponents_equal;  // Wald test on bootstrap standard errors
  bool exponents_differ = false;            // p < 1 - level
  // The multiplier favours one condition and the steeper exponent the other: the first is
  // ahead at the sweep's budgets, the second gains with compute.
  bool multiplier_and_exponent_disagree = false;
  // The multiplier's trend across the budgets favours one condition (it gets relatively
  // cheaper as compute grows) and the steeper exponent the other: the exponent is of L - E,
  // and the steeper condition falls towards a higher E. Independent of the flag above: both
  // can hold (the demo: textless ahead, its lead growing, interleaved steeper).
  bool trend_and_exponent_disagree = false;
  std::optional<double> crossing_flops;  // where the two optimal-loss frontiers cross
  double smallest_budget = 0, largest_budget = 0;  // the sweep's, to place the crossing

  struct Best {  // the lowest predicted loss at the recommendation budget
    std::string condition;
    fitting::Recommendation recommendation;
  };
  std::optional<Best> best;
};

// The verdict in words: only wording, every decision is in `facts`.
std::string WordVerdict(const VerdictFacts& facts);

}  // namespace sims::report
