#pragma once
// The report of a sweep: what the runs measured, what the fits say, and what to do with a
// compute budget, as Markdown plus one self-contained HTML page, with gnuplot plots (SVG + PNG).
//
// Two steps, so that `sims demo` can print the recommendation without fitting twice:
//   Analysis analysis = Analyze(store, options);   // reads the store, runs every fit
//   ReportFiles files = WriteReport(analysis, out_dir);
// Every number in the report comes from the store and the fits in fitting/ (nothing is
// re-fitted here and nothing is hard-coded); the verdict sentence is derived from the
// comparison, so a sweep where interleaving does not scale better says so.
// Not for: storing fits (the `sims fit` command does), or data that is not in the store.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fitting/approach2.h"
#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/compare.h"
#include "fitting/data.h"
#include "fitting/downstream.h"
#include "fitting/holdout.h"
#include "orchestrator/report/verdict.h"
#include "results/rows.h"

namespace sims {
class Store;
struct SweepRow;
}

namespace sims::report {

struct ReportOptions {
  std::string sweep;                        // required: the sweep to report on
  std::vector<std::string> conditions;      // empty = every condition but "text-lm"
  std::string metric = "val/loss/speech";   // the fitted loss (the paper's speech-only loss)
  // What N counts in the fits: "sweep" follows the sweep file's n_includes_embedding (a sweep
  // that was imported, not planned, counts every parameter), or "total" / "non-embedding".
  std::string params = "sweep";
  int bootstrap = 200;                      // resamples for every interval; 0 = none
  uint64_t seed = 0;                        // bootstrap seed, so a report is reproducible
  double recommend_factor = 10;             // recommend for this many times the largest budget
  int threads = 0;                          // fit threads; 0 = every core
};

// Throws UserError naming the field.
void Validate(const ReportOptions& options);

// Whether a sweep's N counts only non-embedding parameters: the planner's n_includes_embedding
// (sweeps table); an imported sweep's N is whatever the file gave (both counts are that N).
// Shared with `sims fit --params sweep`.
bool SweepCountsNonEmbedding(const SweepRow& sweep);

// One run's training curve (the `train/loss` metric and the fitted validation metric).
struct RunCurve {
  std::string run_id;
  double n_params = 0;
  double budget = 0;
  std::vector<std::pair<double, double>> train_loss;  // (tokens, loss)
  std::vector<std::pair<double, double>> val_loss;    // (tokens, metric)
};

struct TaskAtLargestBudget {
  double accuracy = 0;  // the best run's final accuracy
  int64_t n_pairs = 0;  // pairs it was measured on
  // Half-width of chance's binomial interval at the report's level: z * sqrt(0.25 / n_pairs).
  double chance_half_width = 0;
  // |accuracy - 0.5| <= chance_half_width: the task cannot tell this model from a coin.
  bool indistinguishable_from_chance = false;
};

struct ConditionAnalysis {
  std::string condition;
  fitting::Dataset data;                      // final metric of every done run
  std::vector<RunCurve> curves;
  std::optional<fitting::Approach2Result> approach2;
  std::string approach2_error;  // why approach 2 was not fitted ("" when it was)
  std::optional<fitting::BootstrapResult> approach2_bootstrap;
  std::optional<fitting::Approach3Result> approach3;
  fitting::BootstrapResult approach3_bootstrap;  // resamples == 0 when not run
  // The extrapolation check: both approaches refitted without the largest budget, predicting
  // it (needs >= 3 budgets).
  std::optional<fitting::HoldoutResult> holdout2, holdout3;
  // Final accuracy of every done run per eval task, and the fit of the best run per budget.
  std::map<std::string, std::vector<fitting::MetricPoint>> evals;
  std::map<std::string, fitting::DownstreamResult> downstream;
  // Per task, the best run at the sweep's largest budget against chance (0.5 for a pair task).
  std::map<std::string, TaskAtLargestBudget> at_largest_budget;
  std::optional<fitting::Recommendation> recommendation;  // at Analysis::recommend_budget
  std::vector<std::string> notes;  // what could not be fitted and why
};

// A run the adaptive design chose (the store's proposals table) with what it trains, for the
// "Adaptive rounds" section.
struct ProposedRun {
  ProposalRow proposal;
  double n_params = 0;  // N as the report counts it (Analysis::non_embedding)
  double tokens = 0;
  double flops = 0;     // in Analysis::flops_unit
  RunStatus status = RunStatus::kPlanned;
};

struct Analysis {
  ReportOptions options;
  bool non_embedding = false;  // N in every fit and table: non-embedding (true) or total
  std::string flops_unit;      // "exact FLOPs", "6ND FLOPs", ...: every compute axis and column
  int runs_planned = 0, runs_done = 0, runs_failed = 0;
  std::vector<double> budgets;  // the sweep's IsoFLOP budgets (ascending)
  double recommend_budget = 0;  // recommend_factor * largest budget
  std::vector<ConditionAnalysis> conditions;
  std::optional<fitting::Comparison> comparison;  // first two conditions with approach-3 fits
  VerdictFacts verdict;
  // By round and condition, in the order chosen; empty when the sweep had no adaptive round
  // (every run came from the sweep file's design).
  std::vector<ProposedRun> proposals;
};

// Reads the sweep's runs and runs approaches 2 and 3 (with bootstrap), the downstream fits,
// the comparison and the recommendation. A fit that cannot be made (too few budgets) is a
// note in the analysis, not an error; an unknown sweep or one with no done runs is a UserError.
Analysis Analyze(Store& store, const ReportOptions& options);

// Whether a condition's approach-3 fit is usable: both allocation exponents in (0, 1), a finite
// predicted loss at the largest budget, and an optimal N there within 10x of the trained sizes.
// The verdict warns about fits that are not.
bool SoundFit(const Analysis& analysis, const ConditionAnalysis& condition);

// The verdict's decisions from the fits (Analyze stores them in Analysis::verdict).
VerdictFacts MakeVerdictFacts(const Analysis& analysis);

// WordVerdict(analysis.verdict) (verdict.h).
std::string Verdict(const Analysis& analysis);

struct ReportFiles {
  std::string markdown;            // OUT/report.md
  std::string html;                // OUT/report.html (plots embedded, no external file needed)
  std::vector<std::string> plots;  // OUT/plots/*.svg and *.png
};

// Writes OUT/report.md, OUT/report.html and OUT/plots/ (gnuplot scripts, SVG, PNG), all
// replaced together (StagedFolder, common/files.h). OUT must be missing, empty or a report
// folder (IsReportFolder); anything else is a UserError, so no file of the user's is deleted.
ReportFiles WriteReport(const Analysis& analysis, const std::string& out_dir);

// Throws the UserError WriteReport would throw for `out_dir`, before the fits are run.
void CheckReportFolder(const std::string& out_dir);

// Whether `dir` holds nothing but report.md, report.html and plots/ (what WriteReport writes).
bool IsReportFolder(const std::string& dir);

}  // namespace sims::report
