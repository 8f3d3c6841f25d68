#pragma once
// The report's figures: which plots exist and what each one draws (internal to sims_report;
// call DrawFigures from WriteReport). Each figure is a gnuplot script + SVG + PNG in OUT/plots/.
#include <string>
#include <vector>

#include "orchestrator/report/gnuplot.h"
#include "orchestrator/report/report.h"

namespace sims::report {

struct Figure {
  std::string section;  // "isoflop", "frontier", "allocation", "downstream", "curves"
  std::string title;
  std::string caption;  // one or two sentences saying how to read it
  PlotFiles files;      // empty when left out
  // Why the figure was not drawn ("no run has a training curve"), or "" when it was: a plot
  // with no data is a gnuplot error, so the report says what is missing instead.
  std::string left_out;
};

std::vector<Figure> DrawFigures(const Analysis& analysis, const std::string& plot_dir);

// "1.2e15"-style compact numbers shared by plots and tables.
std::string Num(double value, int digits = 3);

}  // namespace sims::report
