// BuildDocument: the report's sections in order, one builder per section. Every number is
// formatted here from the Analysis (common/format.h); none is typed in.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "common/format.h"
#include "common/version.h"
#include "fitting/laws.h"
#include "orchestrator/report/document.h"

namespace sims::report {
namespace {

std::optional<fitting::Interval> Find(const fitting::BootstrapResult* boot,
                                      const std::string& name) {
  if (!boot) return std::nullopt;
  auto it = boot->intervals.find(name);
  if (it == boot->intervals.end()) return std::nullopt;
  return it->second;
}

std::optional<fitting::Interval> At(const fitting::BootstrapResult* boot,
                                    fitting::AtBudget quantity, double flops) {
  return boot ? boot->At(quantity, flops) : std::nullopt;
}

const fitting::BootstrapResult* Boot3(const ConditionAnalysis& c) {
  return c.approach3_bootstrap.resamples > 0 ? &c.approach3_bootstrap : nullptr;
}

std::string Percent(double fraction) { return fmt::format("{:.0f}%", 100 * fraction); }

// The figures of one section, in order; a figure that could not be drawn is a note saying why.
void AddFigures(Document& d, const std::vector<Figure>& figures, Section section) {
  for (const Figure& f : figures) {
    if (f.section != section) continue;
    if (f.left_out.empty()) {
      d.AddFigure(f);
    } else {
      d.Note(fmt::format("{} — left out: {}.", f.title, f.left_out));
    }
  }
}

// Whether a section has at least one figure that was drawn.
bool AnyDrawn(const std::vector<Figure>& figures, Section section) {
  return std::any_of(figures.begin(), figures.end(), [&](const Figure& f) {
    return f.section == section && f.left_out.empty();
  });
}

// ---- tables -------------------------------------------------------------------------------

Table RunsTable(const Analysis& a) {
  Table t{{"condition", "runs fitted", fmt::format("budgets ({})", a.flops_unit),
           "N range (parameters)", "lowest loss"},
          {}};
  for (const ConditionAnalysis& c : a.conditions) {
    double n_lo = INFINITY, n_hi = 0, best = INFINITY;
    std::set<double> budgets;
    for (const fitting::Point& p : c.data.points) {
      n_lo = std::min(n_lo, p.n_params);
      n_hi = std::max(n_hi, p.n_params);
      best = std::min(best, p.loss);
      budgets.insert(p.budget);
    }
    std::vector<std::string> budget_text;
    for (double b : budgets) budget_text.push_back(FormatNumber(b, 2));
    t.rows.push_back({c.condition, std::to_string(c.data.points.size()),
                      fmt::format("{}", fmt::join(budget_text, ", ")),
                      c.data.points.empty() ? "-" : FormatNumber(n_lo, 2) + " – " + FormatNumber(n_hi, 2),
                      c.data.points.empty() ? "-" : FormatNumber(best, 4)});
  }
  return t;
}

Table LawTable(const ConditionAnalysis& c) {
  const fitting::Approach3Result& f = *c.approach3;
  const fitting::BootstrapResult* boot = Boot3(c);
  Table t{{"parameter", "meaning", "value"}, {}};
  auto row = [&](const std::string& name, const std::string& meaning, double value) {
    t.rows.push_back({name, meaning, FormatWithInterval(value, Find(boot, name), 4)});
  };
  row("E", "irreducible loss", f.params.E);
  row("A", "size term coefficient", f.params.A);
  row("alpha", "size exponent", f.params.alpha);
  row("B", "data term coefficient", f.params.B);
  row("beta", "data exponent", f.params.beta);
  row("a", "N_opt ∝ C^a", f.frontier.a);
  row("b", "D_opt ∝ C^b", f.frontier.b);
  row("G", "N_opt = G (C/k)^a for a cost k N D", f.frontier.G);
  row("loss_exponent", "L_opt − E ∝ C^−(αβ/(α+β))", fitting::LossComputeExponent(f.params));
  return t;
}

Table AllocationTable(const Analysis& a, const ConditionAnalysis& c) {
  const fitting::BootstrapResult* boot = Boot3(c);
  Table t{{fmt::format("budget C ({})", a.flops_unit), "N_opt (parameters)", "D_opt (tokens)",
           "tokens per parameter", "predicted loss"},
          {}};
  std::vector<double> budgets = a.budgets;
  budgets.push_back(a.recommend_budget);
  for (double C : budgets) {
    const fitting::Allocation optimum =
        fitting::OptimalAllocation(c.approach3->params, c.approach3->cost, C);
    const double n = optimum.n_params, d = optimum.tokens;
    std::string label = FormatNumber(C) + (C == a.recommend_budget ? " (extrapolated)" : "");
    t.rows.push_back(
        {label, FormatWithInterval(n, At(boot, fitting::AtBudget::kNOpt, C)),
         FormatWithInterval(d, At(boot, fitting::AtBudget::kDOpt, C)),
         FormatWithInterval(d / n, At(boot, fitting::AtBudget::kTokensPerParam, C)),
         FormatWithInterval(optimum.loss, At(boot, fitting::AtBudget::kLoss, C), 4)});
  }
  return t;
}

Table Approach2Table(const ConditionAnalysis& c) {
  const fitting::BootstrapResult* boot =
      c.approach2_bootstrap && c.approach2_bootstrap->resamples > 0 ? &*c.approach2_bootstrap
                                                                     : nullptr;
  const fitting::Approach2Result& f = *c.approach2;
  // The laws' level at the pivot budget inside the data, not their coefficients (at C = 1 FLOP).
  const double pivot = fitting::Approach2Pivot(f.vertices);
  const fitting::Allocation at_pivot = fitting::AllocationAt(f.allocation, pivot);
  Table t{{"power law",
           fmt::format("value at C = {} {}", FormatNumber(pivot), c.data.cost.Unit()), "exponent"},
          {}};
  t.rows.push_back({"N_opt = k C^a",
                    FormatWithInterval(at_pivot.n_params,
                                       At(boot, fitting::AtBudget::kNOpt, pivot)),
                    FormatWithInterval(f.n_opt.exponent, Find(boot, "n_opt.exponent"))});
  t.rows.push_back({"D_opt = k' C^b",
                    FormatWithInterval(at_pivot.tokens,
                                       At(boot, fitting::AtBudget::kDOpt, pivot)),
                    FormatWithInterval(f.d_opt.exponent, Find(boot, "d_opt.exponent"))});
  return t;
}

Table VertexTable(const ConditionAnalysis& c) {
  Table t{{fmt::format("budget C ({})", c.data.cost.Unit()), "points", "N_opt", "D_opt",
           "tokens per parameter", "loss at vertex"},
          {}};
  for (const fitting::Vertex& v : c.approach2->vertices) {
    t.rows.push_back({FormatNumber(v.budget), std::to_string(v.n_points), FormatNumber(v.n_opt),
                      FormatNumber(v.d_opt), FormatNumber(v.d_opt / v.n_opt),
                      FormatNumber(v.loss, 4)});
  }
  return t;
}

// The extrapolation check of one condition: what each law, fitted without the largest budget,
// predicts for it. A row whose relative error is undefined (an observed value that is zero or
// not finite) is left out and named in `omitted`, never printed as "nan%".
Table HoldoutTable(const ConditionAnalysis& c, std::vector<std::string>& omitted) {
  Table t{{"law (fitted without the largest budget)", "quantity at that budget", "observed",
           "predicted", "relative error"},
          {}};
  auto row = [&](const std::string& law, const std::string& quantity, double observed,
                 double predicted, int digits) {
    if (!(std::isfinite(observed) && observed != 0 && std::isfinite(predicted))) {
      omitted.push_back(fmt::format("{} {} (observed {}, predicted {})", law, quantity,
                                    FormatNumber(observed, digits), FormatNumber(predicted, digits)));
      return;
    }
    t.rows.push_back({law, quantity, FormatNumber(observed, digits), FormatNumber(predicted, digits),
                      fmt::format("{:+.1f}%", 100 * (predicted - observed) / observed)});
  };
  if (c.holdout3) {
    for (const fitting::HoldoutRow& r : c.holdout3->rows) {
      if (!r.loss_predicted) continue;
      row("approach 3", fmt::format("best run's loss (C = {})", FormatNumber(r.budget)),
          r.loss_observed, *r.loss_predicted, 4);
    }
  }
  if (c.holdout2) {
    for (const fitting::HoldoutRow& r : c.holdout2->rows) {
      row("approach 2", fmt::format("N_opt (C = {})", FormatNumber(r.budget)), r.n_opt_observed,
          r.n_opt_predicted, 3);
      row("approach 2", fmt::format("D_opt (C = {})", FormatNumber(r.budget)), r.d_opt_observed,
          r.d_opt_predicted, 3);
    }
  }
  return t;
}

Table ComparisonTable(const fitting::Comparison& cmp) {
  Table t{{"", cmp.first.condition, cmp.second.condition}, {}};
  t.rows.push_back({"a (N_opt ∝ C^a)", FormatWithInterval(cmp.first.a, cmp.first.a_interval),
                    FormatWithInterval(cmp.second.a, cmp.second.a_interval)});
  t.rows.push_back({"b (D_opt ∝ C^b)", FormatWithInterval(cmp.first.b, cmp.first.b_interval),
                    FormatWithInterval(cmp.second.b, cmp.second.b_interval)});
  t.rows.push_back(
      {"loss exponent", FormatWithInterval(cmp.first.loss_exponent, cmp.first.loss_exponent_interval),
       FormatWithInterval(cmp.second.loss_exponent, cmp.second.loss_exponent_interval)});
  return t;
}

Table MultiplierTable(const fitting::Comparison& cmp, const std::string& flops_unit) {
  Table t{{fmt::format("budget C ({})", flops_unit),
           fmt::format("{} optimal loss", cmp.first.condition),
           fmt::format("compute {} needs for it", cmp.second.condition), "multiplier",
           fmt::format("tokens/param {}", cmp.first.condition),
           fmt::format("tokens/param {}", cmp.second.condition)},
          {}};
  for (size_t i = 0; i < cmp.multipliers.size(); ++i) {
    const fitting::MultiplierRow& m = cmp.multipliers[i];
    auto ratio = [&](const fitting::ConditionSummary& s) {
      return i < s.tokens_per_param.size() ? FormatNumber(s.tokens_per_param[i]) : std::string("-");
    };
    t.rows.push_back({FormatNumber(m.budget), FormatNumber(m.loss_first, 4),
                      FormatNumber(m.flops_second), FormatWithInterval(m.multiplier, m.interval),
                      ratio(cmp.first), ratio(cmp.second)});
  }
  return t;
}

Table RecommendationTable(const Analysis& a) {
  Table t{{"condition", "N (parameters)", "D (tokens)", "tokens per parameter", "predicted loss"},
          {}};
  for (const ConditionAnalysis& c : a.conditions) {
    if (!c.recommendation) continue;
    const fitting::Recommendation& r = *c.recommendation;
    t.rows.push_back({c.condition, FormatWithInterval(r.n_params, r.n_params_interval),
                      FormatWithInterval(r.tokens, r.tokens_interval),
                      FormatWithInterval(r.tokens_per_param, r.tokens_per_param_interval),
                      FormatWithInterval(r.loss, r.loss_interval, 4)});
  }
  return t;
}

std::vector<std::string> EvalTasks(const Analysis& a) {
  std::set<std::string> tasks;
  for (const ConditionAnalysis& c : a.conditions) {
    for (const auto& [task, points] : c.evals) tasks.insert(task);
  }
  return {tasks.begin(), tasks.end()};
}

// The best accuracy among each condition's runs at the sweep's largest budget, per task: read
// from the runs' evaluations, so a task whose downstream law could not be fitted still shows.
// "≈ chance" marks an accuracy inside chance's binomial interval.
Table DownstreamTable(const Analysis& a) {
  Table t{{"task"}, {}};
  for (const ConditionAnalysis& c : a.conditions) t.header.push_back(c.condition);
  for (const std::string& task : EvalTasks(a)) {
    std::vector<std::string> row{task};
    for (const ConditionAnalysis& c : a.conditions) {
      auto it = c.at_largest_budget.find(task);
      if (it == c.at_largest_budget.end()) {
        row.push_back("-");
        continue;
      }
      row.push_back(fmt::format("{:.3f}{}", it->second.accuracy,
                                it->second.indistinguishable_from_chance ? " (≈ chance)" : ""));
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

// One row per chosen run, by round and condition; what a (round, condition) shares -- the
// N_opt spread it was chosen against and the bootstrap seed -- only on its first row.
Table ProposalsTable(const Analysis& a) {
  Table t{{"round", "condition", "target", "N_opt spread then", "bootstrap seed", "run",
           "N (parameters)", "D (tokens)", fmt::format("C ({})", a.flops_unit), "expected gain",
           "status"},
          {}};
  for (size_t i = 0; i < a.proposals.size(); ++i) {
    const ProposedRun& r = a.proposals[i];
    const ProposalRow& p = r.proposal;
    const bool first = i == 0 || a.proposals[i - 1].proposal.round != p.round ||
                       a.proposals[i - 1].proposal.condition != p.condition;
    t.rows.push_back(
        {first ? std::to_string(p.round) : "", first ? p.condition : "",
         first ? (p.compared_with.empty() ? "N_opt, optimal loss"
                                          : fmt::format("loss gap with {}", p.compared_with))
               : "",
         first ? fmt::format("{} at C = {}", RelativeSpread(p.n_opt_sd_before),
                             FormatNumber(p.target_budget))
               : "",
         first ? std::to_string(p.seed) : "", p.run_id, FormatNumber(r.n_params),
         FormatNumber(r.tokens), FormatNumber(r.flops), fmt::format("{:.1f}%", 100 * p.gain),
         ToString(r.status)});
  }
  return t;
}

size_t ProposalRounds(const Analysis& a) {
  std::set<int64_t> rounds;
  for (const ProposedRun& r : a.proposals) rounds.insert(r.proposal.round);
  return rounds.size();
}

// The command that makes this report again: every option that changes a number in it.
std::string ReproduceCommand(const Analysis& a) {
  const ReportOptions& o = a.options;
  std::vector<std::string> conditions;
  for (const ConditionAnalysis& c : a.conditions) conditions.push_back(c.condition);
  // Two lines (a shell continuation), so the page never wraps it inside an option.
  return fmt::format("sims report --sweep {} --condition {} --metric {} \\\n"
                     "    --params {} --bootstrap {} --seed {} --recommend-factor {} --out DIR",
                     o.sweep, fmt::join(conditions, ","), o.metric,
                     a.non_embedding ? "non-embedding" : "total", o.bootstrap, o.seed,
                     fmt::format("{:g}", o.recommend_factor));
}

// ---- sections, in the order they appear ----------------------------------------------------

void TitleSection(Document& d, const Analysis& a) {
  d.Heading(1, fmt::format("Scaling report: sweep {}", a.options.sweep));
  const std::string intervals =
      a.verdict.level
          ? fmt::format("Intervals are {} parametric bootstrap intervals over {} resamples "
                        "(seed {}, one derived seed per condition).",
                        Percent(*a.verdict.level), a.options.bootstrap, a.options.seed)
          : std::string("No bootstrap was run (--bootstrap 0), so there are no intervals and "
                        "no tests.");
  d.Paragraph(fmt::format("Metric: final {} of every done run. N counts {} parameters. {} runs "
                          "in the sweep: {} done, {} failed, {} not finished. {}",
                          a.options.metric, a.non_embedding ? "non-embedding" : "all",
                          a.runs_planned, a.runs_done, a.runs_failed,
                          a.runs_planned - a.runs_done - a.runs_failed, intervals));
}

void VerdictSection(Document& d, const Analysis& a) {
  d.Heading(2, "Verdict");
  d.Verdict(WordVerdict(a.verdict));
}

void RunsSection(Document& d, const Analysis& a) {
  d.Heading(2, "Runs");
  d.AddTable(RunsTable(a));
  if (!a.proposals.empty()) {
    d.Paragraph(fmt::format("{} of the runs were chosen by the adaptive design in {} round(s) "
                            "(see Adaptive rounds); the rest came from the sweep file's design.",
                            a.proposals.size(), ProposalRounds(a)));
  }
}

void FrontierSection(Document& d, const std::vector<Figure>& figures) {
  d.Heading(2, "Loss against compute");
  AddFigures(d, figures, Section::kFrontier);
}

void RecommendationSection(Document& d, const Analysis& a) {
  Table table = RecommendationTable(a);
  if (table.rows.empty()) {
    d.Note("Recommendation — left out: no condition has an approach-3 fit (see the notes).");
    return;
  }
  d.Heading(2, "Recommendation");
  d.Paragraph(fmt::format("For a budget of {} {} ({}× the sweep's largest), by each condition's "
                          "approach-3 law:",
                          FormatNumber(a.recommend_budget), a.flops_unit,
                          FormatNumber(a.options.recommend_factor)));
  d.AddTable(std::move(table));
}

void ComparisonSection(Document& d, const Analysis& a) {
  if (!a.comparison) return;  // the verdict says why
  const fitting::Comparison& cmp = *a.comparison;
  d.Heading(2, fmt::format("Comparison: {} vs {}", cmp.first.condition, cmp.second.condition));
  d.AddTable(ComparisonTable(cmp));
  std::string p_text;
  if (cmp.p_allocation_exponent) {
    p_text += fmt::format("Wald test on bootstrap standard errors, p-value that the allocation "
                          "exponents a are equal: {}. ",
                          FormatNumber(*cmp.p_allocation_exponent, 2));
  }
  if (cmp.p_loss_exponent) {
    p_text += fmt::format("That the loss exponents are equal: {}. ",
                          FormatNumber(*cmp.p_loss_exponent, 2));
  }
  if (!p_text.empty()) d.Paragraph(p_text);
  d.Paragraph(fmt::format("The multiplier is the compute {} needs to reach {}'s optimal loss at "
                          "each budget, divided by that budget (below 1: {} is more "
                          "compute-efficient).",
                          cmp.second.condition, cmp.first.condition, cmp.second.condition));
  d.AddTable(MultiplierTable(cmp, a.flops_unit));
  d.Paragraph(cmp.crossing_flops
                  ? fmt::format("The two frontiers cross at C ≈ {} {}.",
                                FormatNumber(*cmp.crossing_flops), a.flops_unit)
                  : std::string("The two frontiers do not cross in the range searched."));
}

void AllocationSection(Document& d, const Analysis& a, const std::vector<Figure>& figures) {
  d.Heading(2, "Compute-optimal allocation");
  AddFigures(d, figures, Section::kAllocation);
  for (const ConditionAnalysis& c : a.conditions) {
    if (!c.approach3) continue;
    d.Heading(3, fmt::format("{}: N_opt, D_opt and tokens per parameter (approach 3)", c.condition));
    d.AddTable(AllocationTable(a, c));
  }
}

void LawsSection(Document& d, const Analysis& a) {
  const bool any = std::any_of(a.conditions.begin(), a.conditions.end(), [](const auto& c) {
    return c.approach2 || c.approach3;
  });
  if (!any) {
    d.Note("Fitted laws — left out: no condition could be fitted (see the notes).");
    return;
  }
  d.Heading(2, "Fitted laws");
  for (const ConditionAnalysis& c : a.conditions) {
    if (c.approach3) {
      d.Heading(3, fmt::format("{}: approach 3, L(N, D) = E + A/N^alpha + B/D^beta", c.condition));
      d.AddTable(LawTable(c));
      d.Paragraph(fmt::format("{} points; Huber delta {}; objective {} (best of {} starts, {} of "
                              "them reached it).",
                              c.approach3->n_points, FormatNumber(c.approach3->huber_delta),
                              FormatNumber(c.approach3->objective, 6), c.approach3->starts,
                              c.approach3->starts_at_best));
    }
    if (c.approach2) {
      d.Heading(3, fmt::format("{}: approach 2, IsoFLOP vertices", c.condition));
      d.AddTable(Approach2Table(c));
      d.AddTable(VertexTable(c));
    }
  }
}

void ExtrapolationSection(Document& d, const Analysis& a) {
  const bool any = std::any_of(a.conditions.begin(), a.conditions.end(), [](const auto& c) {
    return c.holdout2 || c.holdout3;
  });
  if (!any) return;  // needs three budgets; the notes say when a fit failed
  d.Heading(2, "Extrapolation check");
  d.Paragraph("A law is only as good as its extrapolation: each fit is made again without the "
              "sweep's largest budget and asked to predict it. Errors of a few percent in N_opt "
              "and D_opt, and well under 1% in loss, are what a usable law shows; larger ones "
              "mean the recommendation above rests on the law's shape more than on the data.");
  for (const ConditionAnalysis& c : a.conditions) {
    if (!c.holdout2 && !c.holdout3) continue;
    d.Heading(3, c.condition);
    std::vector<std::string> omitted;
    Table table = HoldoutTable(c, omitted);
    if (!table.rows.empty()) d.AddTable(std::move(table));
    for (const std::string& row : omitted) {
      d.Note(fmt::format("Left out: {}, whose relative error is undefined.", row));
    }
  }
}

void IsoFlopSection(Document& d, const std::vector<Figure>& figures) {
  d.Heading(2, "IsoFLOP profiles");
  AddFigures(d, figures, Section::kIsoFlop);
}

void DownstreamSection(Document& d, const Analysis& a, const std::vector<Figure>& figures) {
  if (EvalTasks(a).empty()) {
    d.Note("Downstream tasks — left out: no run has an evaluation.");
    return;
  }
  d.Heading(2, "Downstream tasks");
  AddFigures(d, figures, Section::kDownstream);
  d.Paragraph("Accuracy of the best run at the largest budget, every task and modality:");
  d.AddTable(DownstreamTable(a));
  // Chance's interval per number of pairs measured (usually one).
  std::map<int64_t, double> half_width;
  for (const ConditionAnalysis& c : a.conditions) {
    for (const auto& [task, best] : c.at_largest_budget) {
      if (best.indistinguishable_from_chance) half_width[best.n_pairs] = best.chance_half_width;
    }
  }
  if (!half_width.empty()) {
    std::vector<std::string> widths;
    for (const auto& [pairs, width] : half_width) {
      widths.push_back(fmt::format("±{:.3f} for {} pairs", width, pairs));
    }
    d.Paragraph(fmt::format(
        "(≈ chance): the accuracy lies inside chance's binomial {} interval around 0.5 ({}), so "
        "that task cannot yet tell the model from a coin.",
        Percent(a.verdict.level.value_or(0.95)), fmt::join(widths, ", ")));
  }
}

void CurvesSection(Document& d, const std::vector<Figure>& figures) {
  if (!AnyDrawn(figures, Section::kCurves)) {
    d.Note("Training curves — left out: no run has a train/loss curve (imported runs have "
           "none).");
    return;
  }
  d.Heading(2, "Training curves");
  AddFigures(d, figures, Section::kCurves);
}

void AdaptiveRoundsSection(Document& d, const Analysis& a) {
  if (a.proposals.empty()) return;  // every run came from the sweep file
  d.Heading(2, "Adaptive rounds");
  d.Paragraph(fmt::format(
      "{} of the sweep's {} runs were chosen by the adaptive design (sims suggest --apply or sims "
      "run --adaptive), in {} round(s); the rest came from the sweep file's design. In each "
      "round, per condition, the done runs were fitted, a bootstrap ensemble of laws was drawn "
      "with the seed shown, and the runs expected to narrow the target at the target budget C "
      "most were chosen (docs/fitting.md, \"Choosing the next runs\"): the condition's N_opt "
      "and optimal loss, or, in a round of sims suggest --compare, the gap between two "
      "conditions' optimal losses, which sets their compute multiplier (both conditions' runs "
      "competed for one spend). N_opt spread then: the condition's N_opt relative spread at C "
      "when the round chose; expected gain: the share of the target's variance the run was "
      "expected to remove (summed over N_opt and the loss, as sims suggest prints it). A run "
      "proposed again in a later round is listed in its first.",
      a.proposals.size(), a.runs_planned, ProposalRounds(a)));
  d.AddTable(ProposalsTable(a));
}

void NotesSection(Document& d, const Analysis& a) {
  std::vector<std::string> notes;
  for (const ConditionAnalysis& c : a.conditions) {
    for (const std::string& n : c.notes) notes.push_back(c.condition + ": " + n);
  }
  if (notes.empty()) return;
  d.Heading(2, "Notes");
  for (const std::string& n : notes) d.Paragraph(n);
}

void ReproduceSection(Document& d, const Analysis& a) {
  d.Heading(2, "Reproduce");
  d.Paragraph(fmt::format("Written by sims {}. Every plot's gnuplot script is in plots/ next to "
                          "it. To make this report again:",
                          kVersion));
  d.Code(ReproduceCommand(a));
}

}  // namespace

Document BuildDocument(const Analysis& a, const std::vector<Figure>& figures) {
  Document d;
  TitleSection(d, a);
  VerdictSection(d, a);
  RunsSection(d, a);
  FrontierSection(d, figures);
  RecommendationSection(d, a);
  ComparisonSection(d, a);
  AllocationSection(d, a, figures);
  LawsSection(d, a);
  ExtrapolationSection(d, a);
  IsoFlopSection(d, figures);
  DownstreamSection(d, a, figures);
  CurvesSection(d, figures);
  AdaptiveRoundsSection(d, a);
  NotesSection(d, a);
  ReproduceSection(d, a);
  return d;
}

}  // namespace sims::report
