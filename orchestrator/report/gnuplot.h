#pragma once
// Drawing one plot with gnuplot, run as a child process. A plot is a self-contained gnuplot
// script (data inline as datablocks) written next to its outputs, so a user can edit the .gp
// file and re-run `gnuplot NAME.gp` to restyle a figure without sims. Call RenderPlot.
// Not for: deciding what to plot (report.h) or fitting anything (gnuplot's `fit` is never used;
// fits come from fitting/, and fit.log is silenced anyway).
#include <string>
#include <vector>

namespace sims::report {

// One named table of numbers, written as a gnuplot datablock `$name`.
struct DataBlock {
  std::string name;                      // without the '$'
  std::vector<std::vector<double>> rows;  // one row per point; columns as the plot uses them
};

struct PlotSpec {
  std::string stem;    // file name without extension: STEM.gp, STEM.svg, STEM.png
  std::string title;
  std::string xlabel;  // with units, e.g. "training compute C (FLOPs)"
  std::string ylabel;
  bool log_x = true;
  bool log_y = false;
  std::vector<DataBlock> data;
  std::vector<std::string> setup;  // extra `set ...` lines, functions (f(x) = ...), labels
  std::string plot;                // the body after `plot `, referring to $name blocks
};

struct PlotFiles {
  std::string svg;  // absolute paths of what was written
  std::string png;
  std::string script;
};

// The script RenderPlot runs (exposed so tests can read what is drawn).
std::string GnuplotScript(const PlotSpec& spec);

// Writes DIR/STEM.gp and runs gnuplot in DIR, producing STEM.svg and STEM.png. Throws
// UserError when gnuplot is missing (hint: scripts/setup installs gnuplot-nox) and
// std::runtime_error with gnuplot's stderr when the script fails.
PlotFiles RenderPlot(const PlotSpec& spec, const std::string& dir);

// A gnuplot string literal: single-quoted (gnuplot runs no `command` substitution and expands
// no @macro inside single quotes), quotes doubled, and every control character (a newline
// would end the command) written as a space. Every piece of text in a plot goes through it.
std::string GnuplotQuote(const std::string& text);

}  // namespace sims::report
