// What each figure of the report draws. Colours: one per condition (the same in every plot),
// and a sequential palette for budgets, so that a reader who learns them once can scan the page.
#include "orchestrator/report/plots.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "common/names.h"
#include "fitting/laws.h"

namespace sims::report {
namespace {

const char* const kConditionColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                        "#8c564b"};
// Dark to light, readable on white (viridis, trimmed of its palest yellow).
const char* const kBudgetColors[] = {"#440154", "#414487", "#2a788e", "#22a884", "#7ad151",
                                     "#bddf26"};

std::string ConditionColor(size_t index) { return kConditionColors[index % 6]; }
std::string BudgetColor(size_t index, size_t count) {
  if (count <= 1) return kBudgetColors[0];
  size_t slot = index * 5 / (count - 1);
  return kBudgetColors[std::min<size_t>(slot, 5)];
}

// PREFIX + the condition name: a valid name is already a safe file stem, and keeping it whole
// keeps the mapping one-to-one ("a-b" and "a.b" once both became "a_b", so one plot showed
// under two headings). A name from a database written before names were checked stops here.
std::string Stem(const std::string& prefix, const std::string& name) {
  ValidateName(NameKind::kCondition, name, "report: plot file of condition");
  return prefix + name;
}

std::string Q(const std::string& text) { return GnuplotQuote(text); }

// Draws `figure` from `spec`, or leaves it out saying `why` when no plot line has data (gnuplot
// refuses a plot with no points: "all points y value undefined").
Figure DrawOrLeaveOut(Figure figure, const PlotSpec& spec, const std::string& dir, bool any_data,
                      const std::string& why) {
  if (any_data) {
    figure.files = RenderPlot(spec, dir);
  } else {
    figure.left_out = why;
  }
  return figure;
}

// Whether any row of any block has a finite value in every column the plots read (column 2 on
// a log axis must also be positive).
bool AnyFinitePoint(const PlotSpec& spec) {
  for (const DataBlock& block : spec.data) {
    for (const std::vector<double>& row : block.rows) {
      if (row.size() < 2 || !std::isfinite(row[0]) || !std::isfinite(row[1])) continue;
      if (spec.log_x && !(row[0] > 0)) continue;
      if (spec.log_y && !(row[1] > 0)) continue;
      return true;
    }
  }
  return false;
}

std::vector<double> LogSpace(double lo, double hi, int n) {
  std::vector<double> xs;
  for (int i = 0; i < n; ++i) {
    xs.push_back(std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * i / (n - 1)));
  }
  return xs;
}

// The compute range every frontier is drawn over: from below the smallest budget to the
// budget of the recommendation, so the reader sees how far the law is extrapolated.
std::pair<double, double> ComputeRange(const Analysis& analysis) {
  double lo = analysis.budgets.front(), hi = analysis.recommend_budget;
  for (const ConditionAnalysis& c : analysis.conditions) {
    for (const fitting::Point& p : c.data.points) lo = std::min(lo, p.flops);
  }
  return {lo / 1.5, hi * 1.2};
}

// A frontier quantity of an approach-3 fit over `xs`, with its bootstrap band when there is one:
// rows (C, value, lo, hi) — lo = hi = value without a bootstrap.
template <typename F>
std::vector<std::vector<double>> FrontierRows(const ConditionAnalysis& c,
                                              const std::vector<double>& xs, F quantity) {
  std::vector<std::vector<double>> rows;
  for (double x : xs) {
    double value = quantity(c.approach3->params, x);
    double lo = value, hi = value;
    if (!c.approach3_bootstrap.law_samples.empty()) {
      std::vector<double> samples;
      for (const fitting::LawParams& law : c.approach3_bootstrap.law_samples) {
        double v = quantity(law, x);
        if (std::isfinite(v)) samples.push_back(v);
      }
      if (samples.size() >= 2) {
        fitting::Interval band =
            fitting::PercentileInterval(std::move(samples), c.approach3_bootstrap.level);
        lo = band.lo;
        hi = band.hi;
      }
    }
    rows.push_back({x, value, lo, hi});
  }
  return rows;
}

Figure IsoFlopFigure(const ConditionAnalysis& c, const std::string& dir) {
  PlotSpec spec;
  spec.stem = Stem("isoflop_", c.condition);
  spec.title = fmt::format("IsoFLOP profiles: {}", c.condition);
  spec.xlabel = "parameters N";
  spec.ylabel = "final validation loss (nats/token)";
  std::map<double, std::vector<const fitting::Point*>> by_budget;
  for (const fitting::Point& p : c.data.points) by_budget[p.budget].push_back(&p);
  std::map<double, const fitting::Vertex*> vertex_of;
  if (c.approach2) {
    for (const fitting::Vertex& v : c.approach2->vertices) vertex_of[v.budget] = &v;
  }
  std::vector<std::string> plots;
  size_t i = 0;
  for (auto& [budget, points] : by_budget) {
    std::sort(points.begin(), points.end(),
              [](auto* a, auto* b) { return a->n_params < b->n_params; });
    DataBlock block{fmt::format("b{}", i), {}};
    for (const fitting::Point* p : points) block.rows.push_back({p->n_params, p->loss});
    spec.data.push_back(block);
    const std::string color = BudgetColor(i, by_budget.size());
    const std::string title = Q(fmt::format("C = {} FLOPs", Num(budget)));
    auto vertex = vertex_of.find(budget);
    if (vertex == vertex_of.end()) {
      // No parabola (too few points or no upward curvature): join the points instead.
      plots.push_back(fmt::format("$b{} using 1:2 with linespoints pt 7 ps 1.1 lw 1.2 dt 3 lc rgb "
                                  "'{}' title {}",
                                  i, color, title));
    } else {
      // The fitted parabola, drawn a little past the sizes it was fitted to.
      const fitting::Parabola& parabola = vertex->second->parabola;
      const double margin = 0.1 * (parabola.ln_hi - parabola.ln_lo);
      DataBlock curve{fmt::format("p{}", i), {}};
      for (double n : LogSpace(std::exp(parabola.ln_lo - margin), std::exp(parabola.ln_hi + margin),
                               48)) {
        curve.rows.push_back({n, parabola(n)});
      }
      spec.data.push_back(curve);
      plots.push_back(fmt::format("$b{} using 1:2 with points pt 7 ps 1.1 lc rgb '{}' title {}", i,
                                  color, title));
      plots.push_back(
          fmt::format("$p{} using 1:2 with lines lw 1.6 lc rgb '{}' notitle", i, color));
    }
    ++i;
  }
  if (!vertex_of.empty()) {
    DataBlock vertices{"v", {}};
    for (const auto& [budget, v] : vertex_of) vertices.rows.push_back({v->n_opt, v->loss});
    spec.data.push_back(vertices);
    plots.push_back(
        "$v using 1:2 with points pt 3 ps 2.2 lw 2 lc rgb '#000000' title 'parabola vertex "
        "(N_opt)'");
  }
  spec.plot = fmt::format("{}", fmt::join(plots, ", \\\n  "));
  Figure figure{"isoflop", spec.title,
                "Each colour is one compute budget: the final loss of every run against its size, "
                "and the parabola in log N that approach 2 fitted to them (a budget without one "
                "had too few points or no upward curvature; its points are joined by a dotted "
                "line). The crosses are the parabolas' vertices, the compute-optimal size at "
                "each budget.",
                {},
                ""};
  return DrawOrLeaveOut(figure, spec, dir, AnyFinitePoint(spec),
                        "no run of " + c.condition + " has a finite loss");
}

Figure LossComputeFigure(const Analysis& analysis, const std::string& dir) {
  PlotSpec spec;
  spec.stem = "loss_vs_compute";
  spec.title = "Loss against compute, every run, with the fitted frontier";
  spec.xlabel = fmt::format("training compute C ({})", analysis.flops_unit);
  spec.ylabel = "final validation loss (nats/token)";
  // Linear loss axis: losses span less than a decade, and a log axis would squash them.
  spec.log_y = false;
  auto [lo, hi] = ComputeRange(analysis);
  std::vector<double> xs = LogSpace(lo, hi, 80);
  std::vector<std::string> bands, lines;
  for (size_t k = 0; k < analysis.conditions.size(); ++k) {
    const ConditionAnalysis& c = analysis.conditions[k];
    std::string color = ConditionColor(k);
    DataBlock points{fmt::format("p{}", k), {}};
    for (const fitting::Point& p : c.data.points) points.rows.push_back({p.flops, p.loss});
    spec.data.push_back(points);
    lines.push_back(fmt::format("$p{} using 1:2 with points pt 7 ps 0.9 lc rgb '{}' title {}", k,
                                color, Q(c.condition + " runs")));
    if (!c.approach3) continue;
    spec.data.push_back(
        {fmt::format("f{}", k), FrontierRows(c, xs, [&c](const fitting::LawParams& law, double x) {
           return fitting::OptimalLoss(law, c.approach3->cost, x);
         })});
    if (!c.approach3_bootstrap.law_samples.empty()) {
      bands.push_back(fmt::format(
          "$f{} using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc rgb '{}' "
          "title {}",
          k, color, Q(fmt::format("{} {:.0f}% band", c.condition, 100 * c.approach3_bootstrap.level))));
    }
    lines.push_back(fmt::format("$f{} using 1:2 with lines lw 2.5 lc rgb '{}' title {}", k, color,
                                Q(c.condition + " frontier (approach 3)")));
  }
  spec.setup.push_back(fmt::format("set arrow from {:.6g}, graph 0 to {:.6g}, graph 1 nohead dt 2 "
                                   "lc rgb '#888888'",
                                   analysis.budgets.back(), analysis.budgets.back()));
  spec.setup.push_back(fmt::format(
      "set label 'largest budget' at {:.6g}, graph 0.97 right offset -0.5,0 tc rgb '#666666' "
      "font ',10' noenhanced",
      analysis.budgets.back()));
  bands.insert(bands.end(), lines.begin(), lines.end());
  spec.plot = fmt::format("{}", fmt::join(bands, ", \\\n  "));
  return DrawOrLeaveOut(
      {"frontier", spec.title,
       "Dots are runs; the line is the lowest loss the approach-3 law L(N,D) predicts for each "
       "compute budget (N and D split optimally), the shaded band its bootstrap interval. "
       "Right of the dashed line the law is extrapolated.",
       {},
       ""},
      spec, dir, AnyFinitePoint(spec), "no run has a finite loss and compute");
}

// N_opt (quantity "n") or D_opt ("d") against C: approach-2 vertices and power law, and the
// approach-3 frontier with its band, for every condition.
Figure AllocationFigure(const Analysis& analysis, const std::string& dir, bool params) {
  PlotSpec spec;
  spec.stem = params ? "n_opt" : "d_opt";
  spec.title = params ? "Compute-optimal model size against compute"
                      : "Compute-optimal training tokens against compute";
  spec.xlabel = fmt::format("training compute C ({})", analysis.flops_unit);
  spec.ylabel = params ? "optimal parameters N_opt" : "optimal tokens D_opt";
  spec.log_y = true;
  auto [lo, hi] = ComputeRange(analysis);
  std::vector<double> xs = LogSpace(lo, hi, 60);
  std::vector<std::string> bands, lines;
  for (size_t k = 0; k < analysis.conditions.size(); ++k) {
    const ConditionAnalysis& c = analysis.conditions[k];
    std::string color = ConditionColor(k);
    if (c.approach2 && !c.approach2->vertices.empty()) {
      DataBlock vertices{fmt::format("v{}", k), {}};
      for (const fitting::Vertex& v : c.approach2->vertices) {
        vertices.rows.push_back({v.budget, params ? v.n_opt : v.d_opt});
      }
      spec.data.push_back(vertices);
      const fitting::PowerLaw& law = params ? c.approach2->n_opt : c.approach2->d_opt;
      DataBlock fitted{fmt::format("l{}", k), {}};
      for (double x : xs) {
        const fitting::Allocation optimum = fitting::AllocationAt(c.approach2->allocation, x);
        fitted.rows.push_back({x, params ? optimum.n_params : optimum.tokens});
      }
      spec.data.push_back(fitted);
      lines.push_back(fmt::format("$v{} using 1:2 with points pt 9 ps 1.6 lc rgb '{}' title {}",
                                  k, color, Q(c.condition + " IsoFLOP vertices")));
      lines.push_back(fmt::format(
          "$l{} using 1:2 with lines lw 2 dt 2 lc rgb '{}' title {}", k, color,
          Q(fmt::format("{} approach 2: exponent {:.3f}", c.condition, law.exponent))));
    }
    if (c.approach3) {
      spec.data.push_back(
          {fmt::format("f{}", k),
           FrontierRows(c, xs, [params, &c](const fitting::LawParams& law, double x) {
             const fitting::Allocation optimum = fitting::OptimalAllocation(law, c.approach3->cost, x);
             return params ? optimum.n_params : optimum.tokens;
           })});
      if (!c.approach3_bootstrap.law_samples.empty()) {
        bands.push_back(fmt::format(
            "$f{} using 1:3:4 with filledcurves fs transparent solid 0.15 noborder lc rgb '{}' "
            "notitle",
            k, color));
      }
      double exponent = params ? c.approach3->frontier.a : c.approach3->frontier.b;
      lines.push_back(fmt::format("$f{} using 1:2 with lines lw 2.5 lc rgb '{}' title {}", k,
                                  color,
                                  Q(fmt::format("{} approach 3: exponent {:.3f}", c.condition,
                                                exponent))));
    }
  }
  bands.insert(bands.end(), lines.begin(), lines.end());
  spec.plot = fmt::format("{}", fmt::join(bands, ", \\\n  "));
  std::string what = params ? "size" : "number of training tokens";
  return DrawOrLeaveOut(
      {"allocation", spec.title,
       fmt::format("The compute-optimal {} at each budget: markers are the IsoFLOP vertices "
                   "(approach 2) with their power law (dashed); the solid line and band are "
                   "the frontier of the approach-3 law.",
                   what),
       {},
       ""},
      spec, dir, !lines.empty() && AnyFinitePoint(spec),
      "no condition has an approach-2 or approach-3 fit (see the notes)");
}

// Speech-only pair tasks are the paper's headline downstream metrics; the other modalities are
// in the table.
Figure DownstreamFigure(const Analysis& analysis, const std::string& dir,
                        const std::vector<std::string>& tasks) {
  PlotSpec spec;
  spec.stem = "downstream";
  spec.title = "Downstream accuracy of the best run per budget";
  spec.xlabel = fmt::format("training compute C ({})", analysis.flops_unit);
  spec.ylabel = "pair accuracy (chance = 0.5)";
  // Autoscaled, but always showing chance (0.5): toy-scale accuracies sit just above it.
  spec.setup.push_back("set yrange [*<0.45:*]");
  spec.setup.push_back("set arrow from graph 0, first 0.5 to graph 1, first 0.5 nohead dt 3 "
                       "lc rgb '#999999'");
  const int kPointTypes[] = {7, 5, 9, 11, 13};
  std::vector<std::string> lines;
  for (size_t k = 0; k < analysis.conditions.size(); ++k) {
    const ConditionAnalysis& c = analysis.conditions[k];
    for (size_t t = 0; t < tasks.size(); ++t) {
      auto it = c.evals.find(tasks[t]);
      if (it == c.evals.end() || it->second.empty()) continue;
      DataBlock block{fmt::format("d{}_{}", k, t), {}};
      for (const fitting::MetricPoint& p : fitting::BestPerBudget(it->second)) {
        block.rows.push_back({p.flops, p.value});
      }
      spec.data.push_back(block);
      lines.push_back(fmt::format(
          "$d{}_{} using 1:2 with linespoints pt {} ps 1.3 lw 2 dt {} lc rgb '{}' title {}", k, t,
          kPointTypes[t % 5], t + 1, ConditionColor(k), Q(c.condition + " " + tasks[t])));
    }
  }
  spec.plot = fmt::format("{}", fmt::join(lines, ", \\\n  "));
  return DrawOrLeaveOut(
      {"downstream", spec.title,
       "For each budget, the run with the best accuracy on each speech-only pair task "
       "(sBLIMP-, sSC- and tSC-like). Colour is the condition, the marker the task.",
       {},
       ""},
      spec, dir, !lines.empty() && AnyFinitePoint(spec), "no run has a speech-only pair accuracy");
}

Figure CurvesFigure(const ConditionAnalysis& c, const std::string& dir) {
  PlotSpec spec;
  spec.stem = Stem("curves_", c.condition);
  spec.title = fmt::format("Training curves: {}", c.condition);
  spec.xlabel = "tokens trained D";
  spec.ylabel = "training loss (nats/token)";
  spec.log_y = false;  // the curves span less than a decade; a log axis flattens them
  std::vector<double> budgets;
  for (const RunCurve& r : c.curves) budgets.push_back(r.budget);
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
  std::vector<const RunCurve*> runs;
  for (const RunCurve& r : c.curves) runs.push_back(&r);
  std::sort(runs.begin(), runs.end(), [](auto* a, auto* b) {
    return std::tie(a->budget, a->n_params) < std::tie(b->budget, b->n_params);
  });
  std::vector<std::string> lines;
  std::vector<bool> budget_named(budgets.size(), false);
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunCurve& r = *runs[i];
    if (r.train_loss.empty()) continue;
    // Per-step losses of small batches are noisy; an exponential moving average over ~10
    // steps shows the trend (the first value starts it, so short runs are not biased).
    DataBlock block{fmt::format("c{}", i), {}};
    double smoothed = r.train_loss.front().second;
    for (const auto& [tokens, loss] : r.train_loss) {
      smoothed = 0.9 * smoothed + 0.1 * loss;
      block.rows.push_back({tokens, smoothed});
    }
    spec.data.push_back(block);
    // One legend entry per budget: the colour is the budget, each line one run (size).
    const size_t b = std::lower_bound(budgets.begin(), budgets.end(), r.budget) - budgets.begin();
    const std::string title =
        budget_named[b] ? "notitle" : "title " + Q(fmt::format("C = {} FLOPs", Num(r.budget)));
    budget_named[b] = true;
    lines.push_back(fmt::format("$c{} using 1:2 with lines lw 1.5 lc rgb '{}' {}", i,
                                BudgetColor(b, budgets.size()), title));
  }
  spec.plot = fmt::format("{}", fmt::join(lines, ", \\\n  "));
  return DrawOrLeaveOut(
      {"curves", spec.title,
       "The training loss of every run as it trained (a moving average over ~10 steps), "
       "one line per run, coloured by compute budget (darker = smaller): within a budget, "
       "larger models see fewer tokens, so their lines end further left.",
       {},
       ""},
      spec, dir, !lines.empty() && AnyFinitePoint(spec),
      "no run of " + c.condition + " has a train/loss curve (imported runs have none)");
}

}  // namespace

std::string Num(double value, int digits) {
  // +inf is a computed fact here (an interval with no upper end: some resamples never reach
  // the loss; a compute that never reaches it), and reads as such, not as "inf".
  if (!std::isfinite(value)) return value > 0 ? "unbounded" : "n/a";
  std::string text = fmt::format("{:.{}g}", value, digits);
  // 1.2e+15 -> 1.2e15, 3e-05 -> 3e-5: shorter, and still what every scientist reads.
  auto e = text.find('e');
  if (e != std::string::npos) {
    std::string mantissa = text.substr(0, e), exponent = text.substr(e + 1);
    bool negative = exponent[0] == '-';
    exponent.erase(0, exponent.find_first_not_of("+-0"));
    text = mantissa + "e" + (negative ? "-" : "") + exponent;
  }
  return text;
}

std::vector<Figure> DrawFigures(const Analysis& analysis, const std::string& plot_dir) {
  std::vector<Figure> figures;
  figures.push_back(LossComputeFigure(analysis, plot_dir));
  for (const ConditionAnalysis& c : analysis.conditions) {
    if (!c.data.points.empty()) figures.push_back(IsoFlopFigure(c, plot_dir));
  }
  figures.push_back(AllocationFigure(analysis, plot_dir, true));
  figures.push_back(AllocationFigure(analysis, plot_dir, false));
  std::vector<std::string> tasks;
  for (const ConditionAnalysis& c : analysis.conditions) {
    for (const auto& [task, points] : c.evals) {
      bool speech_only = task.size() > 7 && task.ends_with("/speech");
      if (speech_only && std::find(tasks.begin(), tasks.end(), task) == tasks.end()) {
        tasks.push_back(task);
      }
    }
  }
  if (!tasks.empty()) figures.push_back(DownstreamFigure(analysis, plot_dir, tasks));
  for (const ConditionAnalysis& c : analysis.conditions) {
    if (!c.curves.empty()) figures.push_back(CurvesFigure(c, plot_dir));
  }
  return figures;
}

}  // namespace sims::report
