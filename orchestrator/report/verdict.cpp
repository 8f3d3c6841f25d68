// WordVerdict: the verdict's sentences from VerdictFacts. Every decision (which condition a
// measure favours, whether a test rejects) was made in MakeVerdictFacts (analyze.cpp); this
// file only chooses the words.
#include <cmath>

#include <fmt/format.h>

#include "common/format.h"
#include "orchestrator/report/report.h"
#include "orchestrator/report/verdict.h"

namespace sims::report {
namespace {

const std::string& Name(const VerdictFacts& f, Favoured which) {
  return which == Favoured::kSecond ? f.second : f.first;
}
const std::string& Other(const VerdictFacts& f, Favoured which) {
  return which == Favoured::kSecond ? f.first : f.second;
}

std::string LevelText(const VerdictFacts& f) {
  return fmt::format("{:.0f}%", 100 * f.level.value_or(0));
}

std::string CautionSentences(const VerdictFacts& f) {
  std::string text;
  for (const VerdictFacts::UnsoundFit& u : f.unsound) {
    text += fmt::format(
        "Caution: the approach-3 fit of {} is degenerate (allocation exponent a = {}, optimal N "
        "at the largest budget {} against trained sizes {}–{}, predicted optimal loss {}), so "
        "the comparison below is not meaningful; the sweep is too small or too noisy for this "
        "law. ",
        u.condition, FormatNumber(u.a), FormatNumber(u.n_opt), FormatNumber(u.smallest),
        FormatNumber(u.largest), FormatNumber(u.loss, 4));
  }
  return text;
}

std::string MultiplierSentences(const VerdictFacts& f) {
  if (!f.multiplier) return "";
  const VerdictFacts::Multiplier& m = *f.multiplier;
  const std::string at = fmt::format("At the sweep's largest budget ({} {})",
                                     FormatNumber(m.budget), f.flops_unit);
  const std::string interval =
      m.interval ? fmt::format(" ({} interval [{}, {}])", LevelText(f),
                               FormatNumber(m.interval->lo, 2), FormatNumber(m.interval->hi, 2))
                 : "";
  std::string text;
  if (!std::isfinite(m.value)) {
    text = fmt::format("{} {} never reaches {}'s optimal loss by its fitted law. ", at, f.second,
                       f.first);
  } else if (m.favours == Favoured::kUnresolved) {
    text = fmt::format("{} the sweep cannot tell which condition is more compute-efficient: {} "
                       "would need {}× the compute to match {}'s optimal loss, but the{} "
                       "interval [{}, {}] includes 1. ",
                       at, f.second, FormatNumber(m.value, 2), f.first,
                       f.level ? " " + LevelText(f) : "", FormatNumber(m.interval->lo, 2),
                       FormatNumber(m.interval->hi, 2));
  } else if (m.favours == Favoured::kSecond) {
    text = fmt::format("{} {} reaches {}'s optimal loss with {}× the compute{}: it is {}× more "
                       "compute-efficient. ",
                       at, f.second, f.first, FormatNumber(m.value, 2), interval,
                       FormatNumber(1 / m.value, 2));
  } else {
    text = fmt::format("{} {} needs {}× the compute{} to match {}'s optimal loss: here {} does "
                       "not beat {}. ",
                       at, f.second, FormatNumber(m.value, 2), interval, f.first, f.second,
                       f.first);
  }
  if (m.at_smallest_budget) {
    // A falling multiplier means the second condition gets relatively cheaper with compute,
    // whichever side of 1 it is on.
    const bool falls = m.value < *m.at_smallest_budget;
    text += fmt::format("The multiplier {} from {} to {} across the sweep's budgets: as compute "
                        "grows, {} gets relatively more efficient. ",
                        falls ? "falls" : "rises", FormatNumber(*m.at_smallest_budget, 2),
                        FormatNumber(m.value, 2), falls ? f.second : f.first);
  }
  return text;
}

std::string ExponentSentence(const VerdictFacts& f) {
  const std::string& steeper = Name(f, f.steeper);
  const std::string& other = Other(f, f.steeper);
  std::string text = fmt::format("Loss against compute falls with exponent {} for {} and {} for {}",
                                 FormatNumber(f.exponent_first), f.first,
                                 FormatNumber(f.exponent_second), f.second);
  if (!f.p_exponents_equal || !f.level) {
    return text + fmt::format(", so {} scales better (no bootstrap, so no test of the "
                              "difference).",
                              steeper);
  }
  const std::string test = fmt::format("Wald test on bootstrap standard errors: p = {} that the "
                                       "exponents are equal",
                                       FormatNumber(*f.p_exponents_equal, 2));
  if (f.exponents_differ) {
    return text + fmt::format(", so {} scales better than {} ({}, below {}).", steeper, other,
                              test, FormatNumber(1 - *f.level, 2));
  }
  return text + fmt::format(": {}'s is steeper, but the difference is not resolved at the {} "
                            "level ({}), so neither condition is shown to scale better.",
                            steeper, LevelText(f), test);
}

// Where the frontiers cross, placed against the sweep's budgets: a crossing outside them is
// an extrapolation of both laws.
std::string CrossingText(const VerdictFacts& f) {
  const std::string at = fmt::format("{} {}", FormatNumber(*f.crossing_flops), f.flops_unit);
  if (*f.crossing_flops < f.smallest_budget) {
    return at + ", below the sweep's smallest budget (both laws extrapolated)";
  }
  if (*f.crossing_flops > f.largest_budget) {
    return at + ", beyond the sweep's largest budget (both laws extrapolated)";
  }
  return at;
}

// Why a steeper exponent need not win at the budgets measured: ", and speech's irreducible loss
// E is higher (1.9 against 1.8): its loss falls faster towards a higher floor", or "".
std::string HigherFloorClause(const VerdictFacts& f) {
  const std::string& steeper = Name(f, f.steeper);
  const double e_steeper = f.steeper == Favoured::kSecond ? f.irreducible_second : f.irreducible_first;
  const double e_other = f.steeper == Favoured::kSecond ? f.irreducible_first : f.irreducible_second;
  if (!(e_steeper > e_other)) return "";
  return fmt::format(", and {}'s irreducible loss E is higher ({} against {}): its loss falls "
                     "faster towards a higher floor",
                     steeper, FormatNumber(e_steeper, 4), FormatNumber(e_other, 4));
}

// The multiplier says which condition is cheaper at the budgets measured; the exponent says
// which one gains with compute. When they point at different conditions, say how to read both
// (and, when the multiplier's own trend also goes against the exponent, why).
std::string ReadingTogether(const VerdictFacts& f) {
  if (!f.multiplier_and_exponent_disagree) return "";
  const std::string& ahead = Name(f, f.multiplier->favours);
  const std::string& gaining = Name(f, f.steeper);
  std::string text;
  if (f.trend_and_exponent_disagree) {
    text = fmt::format(
        " Read together: {} is ahead at the budgets measured and its lead grows across them, "
        "while {}'s loss falls faster with compute: the exponent describes only the reducible "
        "loss L − E{}",
        ahead, gaining, HigherFloorClause(f));
  } else {
    text = fmt::format(
        " Read together: {} is ahead at the budgets measured, while {}'s loss falls faster with "
        "compute, so {}'s lead shrinks as compute grows",
        ahead, gaining, ahead);
  }
  if (f.crossing_flops) {
    text += fmt::format("; the frontiers cross at about C ≈ {}, below which {} is the better "
                        "choice and above which {} is",
                        CrossingText(f), ahead, gaining);
  } else {
    text += fmt::format(", but the frontiers do not cross in the range searched, so {} stays "
                        "the better choice there",
                        ahead);
  }
  text += f.exponents_differ ? "." : " (if the steeper exponent is real: it is not resolved).";
  return text;
}

// The multiplier's trend says one condition gains with compute over the sweep's budgets, the
// exponent the other: the exponent describes only the reducible part L - E. (When the
// multiplier itself also disagrees with the exponent, ReadingTogether says this.)
std::string TrendAgainstExponent(const VerdictFacts& f) {
  if (!f.trend_and_exponent_disagree || f.multiplier_and_exponent_disagree) return "";
  return fmt::format(" Read together: the multiplier's trend favours {}, the exponent {}, because "
                     "the exponent describes only the reducible loss L − E{}; at the sweep's "
                     "budgets, the multiplier, which compares the losses themselves, is the "
                     "better guide.",
                     Other(f, f.steeper), Name(f, f.steeper), HigherFloorClause(f));
}

std::string BestSentence(const VerdictFacts& f) {
  if (!f.best) return "";
  const fitting::Recommendation& r = f.best->recommendation;
  return fmt::format(" For {} {} the lowest predicted loss ({}) is {}'s, with N ≈ {} parameters "
                     "trained on D ≈ {} tokens ({} tokens per parameter).",
                     FormatNumber(r.budget), f.flops_unit, FormatNumber(r.loss, 4),
                     f.best->condition, FormatNumber(r.n_params, 2), FormatNumber(r.tokens, 2),
                     FormatNumber(r.tokens_per_param, 3));
}

}  // namespace

std::string WordVerdict(const VerdictFacts& f) {
  if (!f.compared) {
    return fmt::format("No comparison: {} condition(s) have an approach-3 fit and a comparison "
                       "needs two. See the notes below for what could not be fitted.",
                       f.conditions_fitted);
  }
  std::string text = CautionSentences(f) + MultiplierSentences(f) + ExponentSentence(f);
  text += ReadingTogether(f) + TrendAgainstExponent(f);
  // The crossing is part of the reading when the two measures disagree.
  if (f.crossing_flops && !f.multiplier_and_exponent_disagree) {
    text += fmt::format(" The frontiers cross at about {}.", CrossingText(f));
  }
  return text + BestSentence(f);
}

std::string Verdict(const Analysis& analysis) { return WordVerdict(analysis.verdict); }

}  // namespace sims::report
