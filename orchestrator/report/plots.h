#pragma once
// The report's figures: which plots exist and what each one draws (internal to sims_report;
// call DrawFigures from WriteReport). Each figure is a gnuplot script + SVG + PNG in OUT/plots/.
#include <string>
#include <vector>

#include "orchestrator/report/gnuplot.h"
#include "orchestrator/report/report.h"

namespace sims::report {

// The report section a figure belongs to.
enum class Section { kFrontier, kIsoFlop, kAllocation, kDownstream, kCurves };

struct Figure {
  Section section = Section::kFrontier;
  std::string title;
  std::string caption;  // how to read it, and what is missing from it and why
  PlotFiles files;      // empty when left out
  // Why the figure was not drawn ("no run has a training curve"), or "" when it was: a plot
  // with no data is a gnuplot error, so the report says what is missing instead.
  std::string left_out;
};

std::vector<Figure> DrawFigures(const Analysis& analysis, const std::string& plot_dir);

// Colour-blind-safe colours (Okabe & Ito 2008, without its yellow, which is unreadable on
// white) and a filled gnuplot point type per condition, the same in every plot.
std::string ConditionColor(size_t index);
int ConditionPointType(size_t index);

// Bias-corrected exponential moving average (Adam's correction): point t is the weighted mean
// of points 1..t with weights decay^(t-i), so the first point is itself and the curve follows
// the data from its start instead of lagging from (or towards) a starting value.
std::vector<std::pair<double, double>> SmoothedCurve(
    const std::vector<std::pair<double, double>>& curve, double decay);

}  // namespace sims::report
