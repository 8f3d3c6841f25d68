// What each figure of the report draws. Colours: one colour-blind-safe colour and one marker
// per condition (the same in every plot), and a sequential palette for ordered quantities
// (budgets, model sizes), so that a reader who learns them once can scan the page.
#include "orchestrator/report/plots.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "common/format.h"
#include "common/names.h"
#include "fitting/laws.h"

namespace sims::report {
namespace {

// Okabe-Ito: blue, vermillion, bluish green, reddish purple, orange, sky blue.
const char* const kConditionColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                        "#56B4E9"};
// Filled circle, square, triangle, diamond, inverted triangle, pentagon, and the same open
// (for markers that pile up at one budget: open shapes stay visible through each other).
const int kConditionPointTypes[] = {7, 5, 9, 13, 11, 15};
const int kConditionOpenPointTypes[] = {6, 4, 8, 12, 10, 14};
// Plasma from dark blue to orange, stopped before its pale yellow: every step reads on white
// and the order survives the common colour-vision deficiencies (it is monotone in lightness).
const char* const kSequentialColors[] = {"#0d0887", "#5c01a6", "#9c179e", "#cc4778", "#ed7953",
                                         "#f89540"};
constexpr size_t kSequential = 6;

std::string SequentialColor(size_t index, size_t count) {
  if (count <= 1) return kSequentialColors[0];
  const size_t slot = index * (kSequential - 1) / (count - 1);
  return kSequentialColors[std::min(slot, kSequential - 1)];
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
  return {lo / 1.5, std::max(hi, analysis.budgets.back()) * 1.2};
}

// The largest compute any run used: right of it every line is an extrapolation.
double LargestRunCompute(const Analysis& analysis) {
  double largest = analysis.budgets.back();
  for (const ConditionAnalysis& c : analysis.conditions) {
    for (const fitting::Point& p : c.data.points) largest = std::max(largest, p.flops);
  }
  return largest;
}

// On a compute axis with fewer than three powers of ten in view, gnuplot labels one or two
// tics; the axis then labels the sweep's budgets instead, and the powers of ten that are not
// next to one (a label at 1e12 would overprint one at 1.2e12).
void LabelBudgetsWhenFewDecades(PlotSpec& spec, const Analysis& analysis, double lo, double hi) {
  const int first = static_cast<int>(std::ceil(std::log10(lo)));
  const int last = static_cast<int>(std::floor(std::log10(hi)));
  if (last - first + 1 >= 3) return;
  std::vector<std::string> tics;
  for (double b : analysis.budgets) tics.push_back(fmt::format("{} {:.9g}", Q(FormatNumber(b, 2)), b));
  for (int e = first; e <= last; ++e) {
    const double decade = std::pow(10.0, e);
    const bool crowded = std::any_of(analysis.budgets.begin(), analysis.budgets.end(),
                                     [&](double b) { return b / decade < 1.6 && decade / b < 1.6; });
    if (!crowded) tics.push_back(fmt::format("'10^{{{}}}' {:.9g}", e, decade));
  }
  spec.setup.push_back(fmt::format("set xtics ({})", fmt::join(tics, ", ")));
}

// Shades the compute range past the data on a plot whose x axis is C, and labels it.
void ShadeExtrapolation(PlotSpec& spec, const Analysis& analysis) {
  const double end = LargestRunCompute(analysis);
  spec.setup.push_back(fmt::format(
      "set object 1 rect from {:.9g}, graph 0 to graph 1, graph 1 behind fillcolor rgb '#f2f2f2' "
      "fillstyle solid 1.0 noborder",
      end));
  spec.setup.push_back(fmt::format("set arrow from {:.9g}, graph 0 to {:.9g}, graph 1 nohead dt 2 "
                                   "lc rgb '#888888'",
                                   end, end));
  spec.setup.push_back(fmt::format(
      "set label 'extrapolated (no runs) →' at {:.9g}, graph 0.97 left offset 0.5,0 "
      "tc rgb '#555555' font ',10' noenhanced",
      end));
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

// Why approach 2 was not fitted, in a caption: the error's first clause ("approach 2: 0
// budget(s) gave a vertex, need at least 2"); the Notes give each budget's reason.
std::string Approach2FailureSummary(const ConditionAnalysis& c) {
  const std::string& error = c.approach2_error;
  return error.substr(0, std::min(error.find(';'), error.find('\n'))) +
         "; the notes give each budget's reason";
}

std::string BandTitle(const ConditionAnalysis& c) {
  return fmt::format("{} {:.0f}% band", c.condition, 100 * c.approach3_bootstrap.level);
}

Figure IsoFlopFigure(const Analysis& analysis, const ConditionAnalysis& c, size_t k,
                     const std::string& dir) {
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
  const int point_type = ConditionPointType(k);
  std::vector<std::string> plots;
  size_t i = 0;
  for (auto& [budget, points] : by_budget) {
    std::sort(points.begin(), points.end(),
              [](auto* a, auto* b) { return a->n_params < b->n_params; });
    DataBlock block{fmt::format("b{}", i), {}};
    for (const fitting::Point* p : points) block.rows.push_back({p->n_params, p->loss});
    spec.data.push_back(block);
    const std::string color = SequentialColor(i, by_budget.size());
    const std::string title = Q(fmt::format("C = {} {}", FormatNumber(budget), analysis.flops_unit));
    auto vertex = vertex_of.find(budget);
    if (vertex == vertex_of.end()) {
      // No parabola (too few points or no upward curvature): join the points instead.
      plots.push_back(fmt::format("$b{} using 1:2 with linespoints pt {} ps 1.1 lw 1.2 dt 3 lc "
                                  "rgb '{}' title {}",
                                  i, point_type, color, title));
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
      plots.push_back(fmt::format("$b{} using 1:2 with points pt {} ps 1.1 lc rgb '{}' title {}", i,
                                  point_type, color, title));
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
  std::string caption =
      "Each colour is one compute budget (darker = smaller): the final loss of every run "
      "against its size, and the parabola in log N that approach 2 fitted to them (a budget "
      "without one had too few points or no upward curvature; its points are joined by a "
      "dotted line). The crosses are the parabolas' vertices, the compute-optimal size at each "
      "budget.";
  if (!c.approach2_error.empty()) {
    caption += fmt::format(" No parabola is drawn: approach 2 was not fitted ({}).",
                           Approach2FailureSummary(c));
  }
  Figure figure{Section::kIsoFlop, spec.title, caption, {}, ""};
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
  spec.setup.push_back(fmt::format("set xrange [{:.9g}:{:.9g}]", lo, hi));
  LabelBudgetsWhenFewDecades(spec, analysis, lo, hi);
  ShadeExtrapolation(spec, analysis);
  std::vector<double> xs = LogSpace(lo, hi, 80);
  std::vector<std::string> bands, lines;
  for (size_t k = 0; k < analysis.conditions.size(); ++k) {
    const ConditionAnalysis& c = analysis.conditions[k];
    std::string color = ConditionColor(k);
    DataBlock points{fmt::format("p{}", k), {}};
    for (const fitting::Point& p : c.data.points) points.rows.push_back({p.flops, p.loss});
    spec.data.push_back(points);
    lines.push_back(fmt::format("$p{} using 1:2 with points pt {} ps 1.3 lw 1.5 lc rgb '{}' "
                                "title {}",
                                k, kConditionOpenPointTypes[k % 6], color,
                                Q(c.condition + " runs")));
    if (!c.approach3) continue;
    spec.data.push_back(
        {fmt::format("f{}", k), FrontierRows(c, xs, [&c](const fitting::LawParams& law, double x) {
           return fitting::OptimalLoss(law, c.approach3->cost, x);
         })});
    if (!c.approach3_bootstrap.law_samples.empty()) {
      bands.push_back(fmt::format(
          "$f{} using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc rgb '{}' "
          "title {}",
          k, color, Q(BandTitle(c))));
    }
    lines.push_back(fmt::format("$f{} using 1:2 with lines lw 2.5 lc rgb '{}' title {}", k, color,
                                Q(c.condition + " frontier (approach 3)")));
  }
  bands.insert(bands.end(), lines.begin(), lines.end());
  spec.plot = fmt::format("{}", fmt::join(bands, ", \\\n  "));
  return DrawOrLeaveOut(
      {Section::kFrontier, spec.title,
       fmt::format("Markers are runs (one open marker shape and colour per condition); the line is the "
                   "lowest loss the approach-3 law L(N,D) predicts for each compute budget (N "
                   "and D split optimally), the shaded band its bootstrap interval. The grey "
                   "area right of the dashed line, past the largest run ({} {}), has no data: "
                   "there the law is extrapolated, up to the recommendation budget.",
                   FormatNumber(LargestRunCompute(analysis)), analysis.flops_unit),
       {},
       ""},
      spec, dir, AnyFinitePoint(spec), "no run has a finite loss and compute");
}

// N_opt (params) or D_opt (!params) against C: approach-2 vertices and power law, and the
// approach-3 frontier with its band, for every condition. The y range is set by the fitted
// values (vertices and laws), and every band is clipped to it, so a wide band cannot swamp it.
Figure AllocationFigure(const Analysis& analysis, const std::string& dir, bool params) {
  PlotSpec spec;
  spec.stem = params ? "n_opt" : "d_opt";
  spec.title = params ? "Compute-optimal model size against compute"
                      : "Compute-optimal training tokens against compute";
  spec.xlabel = fmt::format("training compute C ({})", analysis.flops_unit);
  spec.ylabel = params ? "optimal parameters N_opt" : "optimal tokens D_opt";
  spec.log_y = true;
  auto [lo, hi] = ComputeRange(analysis);
  spec.setup.push_back(fmt::format("set xrange [{:.9g}:{:.9g}]", lo, hi));
  LabelBudgetsWhenFewDecades(spec, analysis, lo, hi);
  ShadeExtrapolation(spec, analysis);
  std::vector<double> xs = LogSpace(lo, hi, 60);
  double y_lo = HUGE_VAL, y_hi = 0;
  auto cover = [&](double y) {
    if (std::isfinite(y) && y > 0) {
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  };
  std::vector<std::string> bands, lines, missing;
  std::vector<size_t> band_blocks;  // indexes into spec.data of rows (C, value, lo, hi)
  for (size_t k = 0; k < analysis.conditions.size(); ++k) {
    const ConditionAnalysis& c = analysis.conditions[k];
    std::string color = ConditionColor(k);
    if (c.approach2 && !c.approach2->vertices.empty()) {
      DataBlock vertices{fmt::format("v{}", k), {}};
      for (const fitting::Vertex& v : c.approach2->vertices) {
        vertices.rows.push_back({v.budget, params ? v.n_opt : v.d_opt});
        cover(vertices.rows.back()[1]);
      }
      spec.data.push_back(vertices);
      const fitting::PowerLaw& law = params ? c.approach2->n_opt : c.approach2->d_opt;
      DataBlock fitted{fmt::format("l{}", k), {}};
      for (double x : xs) {
        const fitting::Allocation optimum = fitting::AllocationAt(c.approach2->allocation, x);
        fitted.rows.push_back({x, params ? optimum.n_params : optimum.tokens});
        cover(fitted.rows.back()[1]);
      }
      spec.data.push_back(fitted);
      lines.push_back(fmt::format("$v{} using 1:2 with points pt {} ps 1.8 lw 2.5 lc rgb '{}' "
                                  "title {}",
                                  k, kConditionOpenPointTypes[k % 6], color,
                                  Q(c.condition + " IsoFLOP vertices")));
      lines.push_back(fmt::format(
          "$l{} using 1:2 with lines lw 2 dt 2 lc rgb '{}' title {}", k, color,
          Q(fmt::format("{} approach 2: exponent {:.3f}", c.condition, law.exponent))));
      if (!c.approach2->skipped.empty()) {
        std::vector<std::string> skipped;
        for (const fitting::SkippedBudget& b : c.approach2->skipped) {
          skipped.push_back(FormatNumber(b.budget));
        }
        missing.push_back(fmt::format("{} has no vertex at C = {} (approach 2 skipped {}; the "
                                      "notes say why)",
                                      c.condition, fmt::join(skipped, ", "),
                                      skipped.size() == 1 ? "that budget" : "those budgets"));
      }
    } else if (!c.data.points.empty()) {
      missing.push_back(fmt::format(
          "{} has no IsoFLOP vertices: approach 2 was not fitted ({})", c.condition,
          c.approach2_error.empty() ? "no budget had a parabola with a minimum"
                                    : Approach2FailureSummary(c)));
    }
    if (c.approach3) {
      spec.data.push_back(
          {fmt::format("f{}", k),
           FrontierRows(c, xs, [params, &c](const fitting::LawParams& law, double x) {
             const fitting::Allocation optimum = fitting::OptimalAllocation(law, c.approach3->cost, x);
             return params ? optimum.n_params : optimum.tokens;
           })});
      for (const auto& row : spec.data.back().rows) cover(row[1]);
      band_blocks.push_back(spec.data.size() - 1);
      if (!c.approach3_bootstrap.law_samples.empty()) {
        bands.push_back(fmt::format(
            "$f{} using 1:3:4 with filledcurves fs transparent solid 0.15 noborder lc rgb '{}' "
            "title {}",
            k, color, Q(BandTitle(c))));
      }
      double exponent = params ? c.approach3->frontier.a : c.approach3->frontier.b;
      lines.push_back(fmt::format("$f{} using 1:2 with lines lw 2.5 lc rgb '{}' title {}", k,
                                  color,
                                  Q(fmt::format("{} approach 3: exponent {:.3f}", c.condition,
                                                exponent))));
    }
  }
  bool clipped = false;
  if (y_hi > 0) {
    // Half a decade of room around the fitted values; bands stop at the frame.
    y_lo /= 3;
    y_hi *= 3;
    spec.setup.push_back(fmt::format("set yrange [{:.9g}:{:.9g}]", y_lo, y_hi));
    for (size_t b : band_blocks) {
      for (std::vector<double>& row : spec.data[b].rows) {
        clipped |= row[2] < y_lo || row[3] > y_hi;
        row[2] = std::clamp(row[2], y_lo, y_hi);
        row[3] = std::clamp(row[3], y_lo, y_hi);
      }
    }
  }
  bands.insert(bands.end(), lines.begin(), lines.end());
  spec.plot = fmt::format("{}", fmt::join(bands, ", \\\n  "));
  std::string what = params ? "size" : "number of training tokens";
  std::string caption = fmt::format(
      "The compute-optimal {} at each budget: markers are the IsoFLOP vertices (approach 2) with "
      "their power law (dashed); the solid line and band are the frontier of the approach-3 law "
      "and its bootstrap interval. The grey area has no runs.",
      what);
  if (clipped) caption += " A band that leaves the plotted range is cut at its edge.";
  for (const std::string& m : missing) caption += " " + m + ".";
  return DrawOrLeaveOut({Section::kAllocation, spec.title, caption, {}, ""}, spec, dir,
                        !lines.empty() && AnyFinitePoint(spec),
                        "no condition has an approach-2 or approach-3 fit (see the notes)");
}

// Speech-only pair tasks are the paper's headline downstream metrics; the other modalities are
// in the table. Every run is a marker; the line is the downstream law fitted to the best run
// per budget, where there is one.
Figure DownstreamFigure(const Analysis& analysis, const std::string& dir,
                        const std::vector<std::string>& tasks) {
  PlotSpec spec;
  spec.stem = "downstream";
  spec.title = "Downstream accuracy of every run";
  spec.xlabel = fmt::format("training compute C ({})", analysis.flops_unit);
  spec.ylabel = "pair accuracy";
  // Autoscaled, but always showing chance (0.5): toy-scale accuracies sit just above it.
  spec.setup.push_back("set yrange [*<0.45:*]");
  const double lo = ComputeRange(analysis).first, hi = LargestRunCompute(analysis) * 1.2;
  spec.setup.push_back(fmt::format("set xrange [{:.9g}:{:.9g}]", lo, hi));
  LabelBudgetsWhenFewDecades(spec, analysis, lo, hi);
  const std::vector<double> xs = LogSpace(lo, hi, 60);
  // Open markers per task (circle, square, triangle): the colour is already the condition.
  const int kTaskPointTypes[] = {6, 4, 8, 12, 10};
  std::vector<std::string> lines;
  std::vector<std::string> at_chance, no_law;
  for (size_t k = 0; k < analysis.conditions.size(); ++k) {
    const ConditionAnalysis& c = analysis.conditions[k];
    for (size_t t = 0; t < tasks.size(); ++t) {
      auto it = c.evals.find(tasks[t]);
      if (it == c.evals.end() || it->second.empty()) continue;
      DataBlock block{fmt::format("d{}_{}", k, t), {}};
      for (const fitting::MetricPoint& p : it->second) block.rows.push_back({p.flops, p.value});
      spec.data.push_back(block);
      lines.push_back(fmt::format("$d{}_{} using 1:2 with points pt {} ps 1.2 lw 1.5 lc rgb '{}' "
                                  "notitle",
                                  k, t, kTaskPointTypes[t % 5], ConditionColor(k)));
      // One legend entry per condition and task showing both its marker and its law's dashes.
      auto law = c.downstream.find(tasks[t]);
      std::string key_style = "points";
      if (law != c.downstream.end()) {
        DataBlock curve{fmt::format("g{}_{}", k, t), {}};
        for (double x : xs) curve.rows.push_back({x, fitting::PredictMetric(law->second, x)});
        spec.data.push_back(curve);
        lines.push_back(fmt::format("$g{}_{} using 1:2 with lines lw 2 dt {} lc rgb '{}' notitle",
                                    k, t, t + 1, ConditionColor(k)));
        key_style = fmt::format("linespoints lw 2 dt {}", t + 1);
      } else {
        no_law.push_back(c.condition + " " + tasks[t]);
      }
      lines.push_back(fmt::format("keyentry with {} pt {} ps 1.2 lc rgb '{}' title {}", key_style,
                                  kTaskPointTypes[t % 5], ConditionColor(k),
                                  Q(c.condition + " " + tasks[t])));
      auto best = c.at_largest_budget.find(tasks[t]);
      if (best != c.at_largest_budget.end() && best->second.indistinguishable_from_chance) {
        at_chance.push_back(c.condition + " " + tasks[t]);
      }
    }
  }
  lines.push_back("0.5 with lines lw 3 lc rgb '#bbbbbb' title 'chance (0.5)'");
  spec.plot = fmt::format("{}", fmt::join(lines, ", \\\n  "));
  std::string caption =
      "Every run's final accuracy on each speech-only pair task (sBLIMP-, sSC- and tSC-like): "
      "colour is the condition, the marker the task. A line is the downstream law fitted to "
      "the best run per budget, dashed by task (no bootstrap band: the downstream fits have none "
      "yet); the thick grey line is chance.";
  if (!no_law.empty()) {
    caption += fmt::format(" No law could be fitted for {}.", fmt::join(no_law, ", "));
  }
  if (!at_chance.empty()) {
    caption += fmt::format(
        " At the largest budget the best run of {} is indistinguishable from chance, so {} "
        "nothing about these models yet.",
        fmt::join(at_chance, ", "), at_chance.size() == 1 ? "that task says" : "those tasks say");
  }
  return DrawOrLeaveOut({Section::kDownstream, spec.title, caption, {}, ""}, spec, dir,
                        !spec.data.empty() && AnyFinitePoint(spec),
                        "no run has a speech-only pair accuracy");
}

// Colour = model size (darker = smaller), dash pattern = compute budget.
Figure CurvesFigure(const Analysis& analysis, const ConditionAnalysis& c, const std::string& dir) {
  PlotSpec spec;
  spec.stem = Stem("curves_", c.condition);
  spec.title = fmt::format("Training curves: {}", c.condition);
  spec.xlabel = "tokens trained D";
  spec.ylabel = "training loss (nats/token)";
  spec.log_y = false;  // the curves span less than a decade; a log axis flattens them
  std::set<double> size_set, budget_set;
  for (const RunCurve& r : c.curves) {
    if (r.train_loss.empty()) continue;
    size_set.insert(r.n_params);
    budget_set.insert(r.budget);
  }
  const std::vector<double> sizes(size_set.begin(), size_set.end());
  const std::vector<double> budgets(budget_set.begin(), budget_set.end());
  auto index_of = [](const std::vector<double>& v, double x) {
    return static_cast<size_t>(std::lower_bound(v.begin(), v.end(), x) - v.begin());
  };
  std::vector<std::string> lines;
  for (size_t i = 0; i < c.curves.size(); ++i) {
    const RunCurve& r = c.curves[i];
    if (r.train_loss.empty()) continue;
    // Per-step losses of small batches are noisy; a moving average over ~10 steps shows the
    // trend.
    DataBlock block{fmt::format("c{}", i), {}};
    for (const auto& [tokens, loss] : SmoothedCurve(r.train_loss, 0.9)) {
      block.rows.push_back({tokens, loss});
    }
    spec.data.push_back(block);
    const size_t s = index_of(sizes, r.n_params);
    const size_t b = index_of(budgets, r.budget);
    lines.push_back(fmt::format("$c{} using 1:2 with lines lw 1.5 dt {} lc rgb '{}' notitle", i,
                                b + 1, SequentialColor(s, sizes.size())));
  }
  // The legend: each size once as a solid line in its colour, each budget once as its dash
  // pattern in grey (a run's own line would show its budget's dashes against a size).
  for (size_t s = 0; s < sizes.size() && !lines.empty(); ++s) {
    lines.push_back(fmt::format("keyentry with lines lw 2 dt 1 lc rgb '{}' title {}",
                                SequentialColor(s, sizes.size()),
                                Q(fmt::format("N = {}", FormatNumber(sizes[s])))));
  }
  if (budgets.size() > 1) {
    for (size_t b = 0; b < budgets.size(); ++b) {
      lines.push_back(fmt::format("keyentry with lines lw 1.5 dt {} lc rgb '#333333' title {}",
                                  b + 1,
                                  Q(fmt::format("C = {} {}", FormatNumber(budgets[b]),
                                                analysis.flops_unit))));
    }
  }
  spec.plot = fmt::format("{}", fmt::join(lines, ", \\\n  "));
  return DrawOrLeaveOut(
      {Section::kCurves, spec.title,
       "The training loss of every run as it trained (a bias-corrected moving average over ~10 "
       "steps, so each curve starts at its first logged loss), one line per run: the colour is "
       "the model size N (darker = smaller), the dash pattern the compute budget (see the "
       "legend). Within a budget, larger models see fewer tokens, so their lines end further "
       "left.",
       {},
       ""},
      spec, dir, !lines.empty() && AnyFinitePoint(spec),
      "no run of " + c.condition + " has a train/loss curve (imported runs have none)");
}

}  // namespace

std::string ConditionColor(size_t index) { return kConditionColors[index % 6]; }
int ConditionPointType(size_t index) { return kConditionPointTypes[index % 6]; }

std::vector<std::pair<double, double>> SmoothedCurve(
    const std::vector<std::pair<double, double>>& curve, double decay) {
  std::vector<std::pair<double, double>> out;
  double average = 0, weight = 0;
  for (const auto& [x, y] : curve) {
    average = decay * average + (1 - decay) * y;
    weight = decay * weight + (1 - decay);  // = 1 - decay^t: the bias correction
    out.emplace_back(x, average / weight);
  }
  return out;
}

std::vector<Figure> DrawFigures(const Analysis& analysis, const std::string& plot_dir) {
  std::vector<Figure> figures;
  figures.push_back(LossComputeFigure(analysis, plot_dir));
  for (size_t k = 0; k < analysis.conditions.size(); ++k) {
    const ConditionAnalysis& c = analysis.conditions[k];
    if (!c.data.points.empty()) figures.push_back(IsoFlopFigure(analysis, c, k, plot_dir));
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
    if (!c.curves.empty()) figures.push_back(CurvesFigure(analysis, c, plot_dir));
  }
  return figures;
}

}  // namespace sims::report
