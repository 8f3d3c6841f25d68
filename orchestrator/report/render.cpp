// WriteReport and Verdict: the report as a list of blocks (headings, paragraphs, tables,
// figures) rendered twice, to Markdown and to one self-contained HTML page, so the two never
// disagree. Every number is formatted here from the Analysis; none is typed in.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/files.h"
#include "common/version.h"
#include "fitting/laws.h"
#include "orchestrator/report/plots.h"
#include "orchestrator/report/report.h"

namespace sims::report {
namespace fs = std::filesystem;
namespace {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// One block of the document. Exactly one of the members is used, by `kind`.
struct Block {
  enum Kind { kHeading, kParagraph, kTable, kFigure, kCode } kind;
  int level = 2;
  std::string text;
  Table table;
  const Figure* figure = nullptr;
};

using Document = std::vector<Block>;

void H(Document& d, int level, std::string text) {
  d.push_back({Block::kHeading, level, std::move(text), {}, nullptr});
}
void P(Document& d, std::string text) {
  d.push_back({Block::kParagraph, 0, std::move(text), {}, nullptr});
}
void T(Document& d, Table table) { d.push_back({Block::kTable, 0, "", std::move(table), nullptr}); }
void F(Document& d, const Figure& figure) {
  d.push_back({Block::kFigure, 0, "", {}, &figure});
}
void Code(Document& d, std::string text) {
  d.push_back({Block::kCode, 0, std::move(text), {}, nullptr});
}

std::optional<fitting::Interval> Find(const fitting::BootstrapResult* boot,
                                      const std::string& name) {
  if (!boot) return std::nullopt;
  auto it = boot->intervals.find(name);
  if (it == boot->intervals.end()) return std::nullopt;
  return it->second;
}

// "0.512 [0.48, 0.55]": a value with its bootstrap interval when there is one.
std::string WithInterval(double value, const std::optional<fitting::Interval>& interval,
                         int digits = 3) {
  if (!interval) return Num(value, digits);
  return fmt::format("{} [{}, {}]", Num(value, digits), Num(interval->lo, digits),
                     Num(interval->hi, digits));
}

std::string Percent(double level) { return fmt::format("{:.0f}%", 100 * level); }

const fitting::BootstrapResult* Boot3(const ConditionAnalysis& c) {
  return c.approach3_bootstrap.resamples > 0 ? &c.approach3_bootstrap : nullptr;
}

Table RunsTable(const Analysis& a) {
  Table t{{"condition", "runs fitted", fmt::format("budgets ({})", a.flops_unit), "N range (parameters)",
           "lowest loss"},
          {}};
  for (const ConditionAnalysis& c : a.conditions) {
    double n_lo = INFINITY, n_hi = 0, best = INFINITY;
    std::vector<double> budgets;
    for (const fitting::Point& p : c.data.points) {
      n_lo = std::min(n_lo, p.n_params);
      n_hi = std::max(n_hi, p.n_params);
      best = std::min(best, p.loss);
      if (std::find(budgets.begin(), budgets.end(), p.budget) == budgets.end()) {
        budgets.push_back(p.budget);
      }
    }
    std::sort(budgets.begin(), budgets.end());
    std::vector<std::string> budget_text;
    for (double b : budgets) budget_text.push_back(Num(b, 2));
    t.rows.push_back({c.condition, std::to_string(c.data.points.size()),
                      fmt::format("{}", fmt::join(budget_text, ", ")),
                      c.data.points.empty() ? "-" : Num(n_lo, 2) + " – " + Num(n_hi, 2),
                      c.data.points.empty() ? "-" : Num(best, 4)});
  }
  return t;
}

Table LawTable(const ConditionAnalysis& c) {
  const fitting::Approach3Result& f = *c.approach3;
  const fitting::BootstrapResult* boot = Boot3(c);
  Table t{{"parameter", "meaning", "value"}, {}};
  auto row = [&](const std::string& name, const std::string& meaning, double value) {
    t.rows.push_back({name, meaning, WithInterval(value, Find(boot, name), 4)});
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
  Table t{{fmt::format("budget C ({})", a.flops_unit), "N_opt (parameters)", "D_opt (tokens)", "tokens per parameter",
           "predicted loss"},
          {}};
  std::vector<double> budgets = a.budgets;
  budgets.push_back(a.recommend_budget);
  for (double C : budgets) {
    const fitting::Allocation optimum = fitting::OptimalAllocation(c.approach3->params, c.approach3->cost, C);
    const double n = optimum.n_params, d = optimum.tokens;
    std::string label = Num(C, 3) + (C == a.recommend_budget ? " (extrapolated)" : "");
    t.rows.push_back({label, WithInterval(n, Find(boot, fitting::BudgetKey("n_opt", C))),
                      WithInterval(d, Find(boot, fitting::BudgetKey("d_opt", C))),
                      WithInterval(d / n, Find(boot, fitting::BudgetKey("tokens_per_param", C))),
                      WithInterval(optimum.loss, Find(boot, fitting::BudgetKey("loss", C)), 4)});
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
  Table t{{"power law", fmt::format("value at C = {} {}", Num(pivot), c.data.cost.Unit()), "exponent"}, {}};
  t.rows.push_back({"N_opt = k C^a",
                    WithInterval(at_pivot.n_params, Find(boot, fitting::BudgetKey("n_opt", pivot))),
                    WithInterval(f.n_opt.exponent, Find(boot, "n_opt.exponent"))});
  t.rows.push_back({"D_opt = k' C^b",
                    WithInterval(at_pivot.tokens, Find(boot, fitting::BudgetKey("d_opt", pivot))),
                    WithInterval(f.d_opt.exponent, Find(boot, "d_opt.exponent"))});
  return t;
}

Table VertexTable(const ConditionAnalysis& c) {
  Table t{{fmt::format("budget C ({})", c.data.cost.Unit()), "points", "N_opt", "D_opt", "tokens per parameter", "loss at vertex"},
          {}};
  for (const fitting::Vertex& v : c.approach2->vertices) {
    t.rows.push_back({Num(v.budget), std::to_string(v.n_points), Num(v.n_opt), Num(v.d_opt),
                      Num(v.d_opt / v.n_opt), Num(v.loss, 4)});
  }
  return t;
}

// The extrapolation check of one condition: what each law, fitted without the largest budget,
// predicts for it.
Table HoldoutTable(const ConditionAnalysis& c) {
  Table t{{"law (fitted without the largest budget)", "quantity at that budget", "observed",
           "predicted", "relative error"},
          {}};
  auto rel = [](double predicted, double observed) {
    return fmt::format("{:+.1f}%", 100 * (predicted - observed) / observed);
  };
  if (c.holdout3) {
    for (const fitting::HoldoutRow& r : c.holdout3->rows) {
      if (!r.loss_predicted) continue;
      t.rows.push_back({"approach 3", fmt::format("best run's loss (C = {})", Num(r.budget)),
                        Num(r.loss_observed, 4), Num(*r.loss_predicted, 4),
                        rel(*r.loss_predicted, r.loss_observed)});
    }
  }
  if (c.holdout2) {
    for (const fitting::HoldoutRow& r : c.holdout2->rows) {
      t.rows.push_back({"approach 2", fmt::format("N_opt (C = {})", Num(r.budget)),
                        Num(r.n_opt_observed), Num(r.n_opt_predicted),
                        rel(r.n_opt_predicted, r.n_opt_observed)});
      t.rows.push_back({"approach 2", fmt::format("D_opt (C = {})", Num(r.budget)),
                        Num(r.d_opt_observed), Num(r.d_opt_predicted),
                        rel(r.d_opt_predicted, r.d_opt_observed)});
    }
  }
  return t;
}

Table ComparisonTable(const fitting::Comparison& cmp) {
  Table t{{"", cmp.first.condition, cmp.second.condition}, {}};
  t.rows.push_back({"a (N_opt ∝ C^a)", WithInterval(cmp.first.a, cmp.first.a_interval),
                    WithInterval(cmp.second.a, cmp.second.a_interval)});
  t.rows.push_back({"b (D_opt ∝ C^b)", WithInterval(cmp.first.b, cmp.first.b_interval),
                    WithInterval(cmp.second.b, cmp.second.b_interval)});
  t.rows.push_back({"loss exponent", WithInterval(cmp.first.loss_exponent,
                                                  cmp.first.loss_exponent_interval),
                    WithInterval(cmp.second.loss_exponent, cmp.second.loss_exponent_interval)});
  return t;
}

Table MultiplierTable(const fitting::Comparison& cmp, const std::string& flops_unit) {
  Table t{{fmt::format("budget C ({})", flops_unit),
           fmt::format("{} optimal loss", cmp.first.condition),
           fmt::format("compute {} needs for it", cmp.second.condition),
           "multiplier", fmt::format("tokens/param {}", cmp.first.condition),
           fmt::format("tokens/param {}", cmp.second.condition)},
          {}};
  for (size_t i = 0; i < cmp.multipliers.size(); ++i) {
    const fitting::MultiplierRow& m = cmp.multipliers[i];
    auto ratio = [&](const fitting::ConditionSummary& s) {
      return i < s.tokens_per_param.size() ? Num(s.tokens_per_param[i]) : std::string("-");
    };
    t.rows.push_back({Num(m.budget), Num(m.loss_first, 4), Num(m.flops_second),
                      WithInterval(m.multiplier, m.interval), ratio(cmp.first),
                      ratio(cmp.second)});
  }
  return t;
}

Table RecommendationTable(const Analysis& a) {
  Table t{{"condition", "N (parameters)", "D (tokens)", "tokens per parameter", "predicted loss"},
          {}};
  for (const ConditionAnalysis& c : a.conditions) {
    if (!c.recommendation) continue;
    const fitting::Recommendation& r = *c.recommendation;
    t.rows.push_back({c.condition, WithInterval(r.n_params, r.n_params_interval),
                      WithInterval(r.tokens, r.tokens_interval),
                      WithInterval(r.tokens_per_param, r.tokens_per_param_interval),
                      WithInterval(r.loss, r.loss_interval, 4)});
  }
  return t;
}

// The best accuracy among each condition's runs at the sweep's largest budget, per task: read
// from the runs' evaluations, so a task whose downstream law could not be fitted still shows.
Table DownstreamTable(const Analysis& a) {
  std::vector<std::string> tasks;
  for (const ConditionAnalysis& c : a.conditions) {
    for (const auto& [task, points] : c.evals) {
      if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) tasks.push_back(task);
    }
  }
  std::sort(tasks.begin(), tasks.end());
  Table t{{"task"}, {}};
  for (const ConditionAnalysis& c : a.conditions) t.header.push_back(c.condition);
  for (const std::string& task : tasks) {
    std::vector<std::string> row{task};
    for (const ConditionAnalysis& c : a.conditions) {
      std::string cell = "-";
      if (auto it = c.evals.find(task); it != c.evals.end()) {
        for (const fitting::MetricPoint& p : fitting::BestPerBudget(it->second)) {
          if (p.budget == a.budgets.back()) cell = fmt::format("{:.3f}", p.value);
        }
      }
      row.push_back(cell);
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string ReproduceCommand(const Analysis& a) {
  const ReportOptions& o = a.options;
  return fmt::format("sims report --sweep {} --metric {} --params {} --bootstrap {} --seed {} "
                     "--out DIR",
                     o.sweep, o.metric, a.non_embedding ? "non-embedding" : "total", o.bootstrap,
                     o.seed);
}

Document BuildDocument(const Analysis& a, const std::vector<Figure>& figures) {
  Document d;
  auto figures_of = [&](const std::string& section) {
    for (const Figure& f : figures) {
      if (f.section != section) continue;
      if (f.left_out.empty()) {
        F(d, f);
      } else {
        P(d, fmt::format("({} — left out: {}.)", f.title, f.left_out));
      }
    }
  };
  H(d, 1, fmt::format("Scaling report: sweep {}", a.options.sweep));
  P(d, fmt::format("Metric: final {} of every done run. N counts {} parameters. {} runs in the "
                   "sweep: {} done, {} failed, {} not finished. Intervals are {} parametric "
                   "bootstrap intervals over {} resamples (seed {}, one derived seed per "
                   "condition).",
                   a.options.metric, a.non_embedding ? "non-embedding" : "all",
                   a.runs_planned, a.runs_done, a.runs_failed,
                   a.runs_planned - a.runs_done - a.runs_failed, Percent(0.95),
                   a.options.bootstrap, a.options.seed));
  H(d, 2, "Verdict");
  P(d, Verdict(a));

  H(d, 2, "Runs");
  T(d, RunsTable(a));

  H(d, 2, "Loss against compute");
  figures_of("frontier");

  H(d, 2, "Recommendation");
  P(d, fmt::format("For a budget of {} {} ({}× the sweep's largest), by each condition's "
                   "approach-3 law:",
                   Num(a.recommend_budget), a.flops_unit, Num(a.options.recommend_factor)));
  T(d, RecommendationTable(a));

  if (a.comparison) {
    const fitting::Comparison& cmp = *a.comparison;
    H(d, 2, fmt::format("Comparison: {} vs {}", cmp.first.condition, cmp.second.condition));
    T(d, ComparisonTable(cmp));
    std::string p_text;
    if (cmp.p_allocation_exponent) {
      p_text += fmt::format("Wald test on bootstrap standard errors, p-value that the allocation exponents a are equal: {}. ",
                            Num(*cmp.p_allocation_exponent, 2));
    }
    if (cmp.p_loss_exponent) {
      p_text += fmt::format("That the loss exponents are equal: {}. ",
                            Num(*cmp.p_loss_exponent, 2));
    }
    if (!p_text.empty()) P(d, p_text);
    P(d, fmt::format("The multiplier is the compute {} needs to reach {}'s optimal loss at each "
                     "budget, divided by that budget (below 1: {} is more compute-efficient).",
                     cmp.second.condition, cmp.first.condition, cmp.second.condition));
    T(d, MultiplierTable(cmp, a.flops_unit));
    P(d, cmp.crossing_flops
             ? fmt::format("The two frontiers cross at C ≈ {} {}.", Num(*cmp.crossing_flops), a.flops_unit)
             : std::string("The two frontiers do not cross in the range searched."));
  }

  H(d, 2, "Compute-optimal allocation");
  figures_of("allocation");
  for (const ConditionAnalysis& c : a.conditions) {
    if (!c.approach3) continue;
    H(d, 3, fmt::format("{}: N_opt, D_opt and tokens per parameter (approach 3)", c.condition));
    T(d, AllocationTable(a, c));
  }

  H(d, 2, "Fitted laws");
  for (const ConditionAnalysis& c : a.conditions) {
    if (c.approach3) {
      H(d, 3, fmt::format("{}: approach 3, L(N, D) = E + A/N^alpha + B/D^beta", c.condition));
      T(d, LawTable(c));
      P(d, fmt::format("{} points; Huber delta {}; objective {} (best of {} starts, {} of them "
                       "reached it).",
                       c.approach3->n_points, Num(c.approach3->huber_delta),
                       Num(c.approach3->objective, 6), c.approach3->starts,
                       c.approach3->starts_at_best));
    }
    if (c.approach2) {
      H(d, 3, fmt::format("{}: approach 2, IsoFLOP vertices", c.condition));
      T(d, Approach2Table(c));
      T(d, VertexTable(c));
    }
  }

  bool any_holdout = false;
  for (const ConditionAnalysis& c : a.conditions) any_holdout |= c.holdout2 || c.holdout3;
  if (any_holdout) {
    H(d, 2, "Extrapolation check");
    P(d, "A law is only as good as its extrapolation: each fit is made again without the "
         "sweep's largest budget and asked to predict it. Errors of a few percent in N_opt and "
         "D_opt, and well under 1% in loss, are what a usable law shows; larger ones mean the "
         "recommendation above rests on the law's shape more than on the data.");
    for (const ConditionAnalysis& c : a.conditions) {
      if (!c.holdout2 && !c.holdout3) continue;
      H(d, 3, c.condition);
      T(d, HoldoutTable(c));
    }
  }

  H(d, 2, "IsoFLOP profiles");
  figures_of("isoflop");

  bool any_evals = false;
  for (const ConditionAnalysis& c : a.conditions) any_evals |= !c.evals.empty();
  if (any_evals) {
    H(d, 2, "Downstream tasks");
    figures_of("downstream");
    P(d, "Accuracy of the best run at the largest budget, every task and modality:");
    T(d, DownstreamTable(a));
  }

  H(d, 2, "Training curves");
  figures_of("curves");

  std::vector<std::string> notes;
  for (const ConditionAnalysis& c : a.conditions) {
    for (const std::string& n : c.notes) notes.push_back(c.condition + ": " + n);
  }
  if (!notes.empty()) {
    H(d, 2, "Notes");
    for (const std::string& n : notes) P(d, n);
  }
  H(d, 2, "Reproduce");
  P(d, fmt::format("Written by sims {}. Every plot's gnuplot script is in plots/ next to it. "
                   "To make this report again:",
                   kVersion));
  Code(d, ReproduceCommand(a));
  return d;
}

std::string MarkdownCell(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|') out += '\\';
    out += ch;
  }
  return out;
}

std::string RenderMarkdown(const Document& d, const std::string& out_dir) {
  std::ostringstream md;
  for (const Block& b : d) {
    switch (b.kind) {
      case Block::kHeading:
        md << std::string(b.level, '#') << ' ' << b.text << "\n\n";
        break;
      case Block::kParagraph:
        md << b.text << "\n\n";
        break;
      case Block::kCode:
        md << "```\n" << b.text << "\n```\n\n";
        break;
      case Block::kTable: {
        auto line = [&](const std::vector<std::string>& cells) {
          md << '|';
          for (const std::string& cell : cells) md << ' ' << MarkdownCell(cell) << " |";
          md << '\n';
        };
        line(b.table.header);
        md << '|';
        for (size_t i = 0; i < b.table.header.size(); ++i) md << (i ? " ---: |" : " --- |");
        md << '\n';
        for (const auto& row : b.table.rows) line(row);
        md << '\n';
        break;
      }
      case Block::kFigure: {
        std::string svg = fs::relative(b.figure->files.svg, out_dir).string();
        std::string png = fs::relative(b.figure->files.png, out_dir).string();
        md << "![" << b.figure->title << "](" << svg << ")\n\n*" << b.figure->caption
           << "* (PNG: [" << png << "](" << png << "))\n\n";
        break;
      }
    }
  }
  return md.str();
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

const char* kCss = R"(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; line-height: 1.5; }
h1 { border-bottom: 2px solid #1f77b4; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .35em .7em; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { text-align: left; }
th { background: #f3f6fa; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.5em 0; }
figure img { width: 100%; max-width: 1000px; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; max-width: 1000px; }
.verdict { background: #f3f6fa; border-left: 4px solid #1f77b4; padding: .8em 1em; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
)";

std::string RenderHtml(const Document& d, const std::string& out_dir) {
  std::ostringstream html;
  std::string title = d.empty() ? "sims report" : d.front().text;
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
       << HtmlEscape(title) << "</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n";
  bool verdict_next = false;
  for (const Block& b : d) {
    switch (b.kind) {
      case Block::kHeading:
        html << "<h" << b.level << ">" << HtmlEscape(b.text) << "</h" << b.level << ">\n";
        verdict_next = b.text == "Verdict";
        break;
      case Block::kParagraph:
        html << (verdict_next ? "<p class=\"verdict\">" : "<p>") << HtmlEscape(b.text)
             << "</p>\n";
        verdict_next = false;
        break;
      case Block::kCode:
        html << "<pre>" << HtmlEscape(b.text) << "</pre>\n";
        break;
      case Block::kTable:
        html << "<table>\n<tr>";
        for (const std::string& cell : b.table.header) html << "<th>" << HtmlEscape(cell) << "</th>";
        html << "</tr>\n";
        for (const auto& row : b.table.rows) {
          html << "<tr>";
          for (const std::string& cell : row) html << "<td>" << HtmlEscape(cell) << "</td>";
          html << "</tr>\n";
        }
        html << "</table>\n";
        break;
      case Block::kFigure: {
        // The SVG goes in as a data URI (self-contained, and gnuplot's element ids cannot clash
        // between figures the way they would if the SVGs were pasted inline).
        std::string svg = fs::relative(b.figure->files.svg, out_dir).string();
        html << "<figure>\n<a href=\"" << HtmlEscape(svg) << "\"><img alt=\""
             << HtmlEscape(b.figure->title) << "\" src=\"data:image/svg+xml;base64,"
             << Base64(ReadWholeFile(b.figure->files.svg)) << "\"></a>\n<figcaption>"
             << HtmlEscape(b.figure->caption) << "</figcaption>\n</figure>\n";
        break;
      }
    }
  }
  html << "</body>\n</html>\n";
  return html.str();
}

// The smallest and largest N among a condition's fitted runs.
std::pair<double, double> SizeRange(const ConditionAnalysis& c) {
  double smallest = HUGE_VAL, largest = 0;
  for (const fitting::Point& p : c.data.points) {
    smallest = std::min(smallest, p.n_params);
    largest = std::max(largest, p.n_params);
  }
  return {smallest, largest};
}
}  // namespace

bool SoundFit(const Analysis& a, const ConditionAnalysis& c) {
  if (!c.approach3) return false;
  const fitting::Frontier& f = c.approach3->frontier;
  const fitting::Allocation optimum =
      fitting::OptimalAllocation(c.approach3->params, c.approach3->cost, a.budgets.back());
  const double loss = optimum.loss;
  if (!(f.a > 0 && f.a < 1 && f.b > 0 && f.b < 1 && std::isfinite(f.G) && std::isfinite(loss))) {
    return false;
  }
  // The optimum at the sweep's largest budget must lie near the sizes that were trained: a
  // law whose optimum is far outside them is extrapolating its own shape, not the data.
  const auto [smallest, largest] = SizeRange(c);
  return optimum.n_params > smallest / 10 && optimum.n_params < largest * 10;
}

std::string Verdict(const Analysis& a) {
  if (!a.comparison) {
    int fitted = 0;
    for (const ConditionAnalysis& c : a.conditions) fitted += c.approach3.has_value();
    return fmt::format("No comparison: {} condition(s) have an approach-3 fit and a comparison "
                       "needs two. See the notes below for what could not be fitted.",
                       fitted);
  }
  const fitting::Comparison& cmp = *a.comparison;
  const std::string& first = cmp.first.condition;
  const std::string& second = cmp.second.condition;
  std::string text;
  for (const ConditionAnalysis& c : a.conditions) {
    if (c.approach3 && !SoundFit(a, c)) {
      const auto [smallest, largest] = SizeRange(c);
      text += fmt::format(
          "Caution: the approach-3 fit of {} is degenerate (allocation exponent a = {}, optimal "
          "N at the largest budget {} against trained sizes {}–{}, predicted optimal loss {}), "
          "so the comparison below is not meaningful; the sweep is too small or too noisy for "
          "this law. ",
          c.condition, Num(c.approach3->frontier.a),
          Num(fitting::OptimalAllocation(c.approach3->params, c.approach3->cost, a.budgets.back()).n_params),
          Num(smallest), Num(largest),
          Num(fitting::OptimalLoss(c.approach3->params, c.approach3->cost, a.budgets.back()), 4));
    }
  }
  if (!cmp.multipliers.empty()) {
    const fitting::MultiplierRow& last = cmp.multipliers.back();
    const std::string interval =
        last.interval ? fmt::format(" (interval [{}, {}])", Num(last.interval->lo, 2),
                                    Num(last.interval->hi, 2))
                      : "";
    if (!std::isfinite(last.multiplier)) {
      text += fmt::format("At the sweep's largest budget ({} {}) {} never reaches {}'s "
                          "optimal loss by its fitted law. ",
                          Num(last.budget), a.flops_unit, second, first);
    } else if (last.interval && last.interval->lo <= 1 && last.interval->hi >= 1) {
      text += fmt::format("At the sweep's largest budget ({} {}) the sweep cannot tell which "
                          "condition is more compute-efficient: {} would need {}× the compute to "
                          "match {}'s optimal loss, but the interval [{}, {}] includes 1. ",
                          Num(last.budget), a.flops_unit, second, Num(last.multiplier, 2), first,
                          Num(last.interval->lo, 2), Num(last.interval->hi, 2));
    } else if (last.multiplier < 1) {
      text += fmt::format("At the sweep's largest budget ({} {}) {} reaches {}'s optimal loss "
                          "with {}× the compute{}: it is {}× more compute-efficient. ",
                          Num(last.budget), a.flops_unit, second, first, Num(last.multiplier, 2), interval,
                          Num(1 / last.multiplier, 2));
    } else {
      text += fmt::format("At the sweep's largest budget ({} {}) {} needs {}× the compute{} "
                          "to match {}'s optimal loss: here {} does not beat {}. ",
                          Num(last.budget), a.flops_unit, second, Num(last.multiplier, 2), interval, first,
                          second, first);
    }
    if (cmp.multipliers.size() >= 2) {
      double m0 = cmp.multipliers.front().multiplier;
      double m1 = last.multiplier;
      if (std::isfinite(m0) && std::isfinite(m1)) {
        // A falling multiplier means the second condition gets relatively cheaper with compute,
        // whichever side of 1 it is on.
        text += fmt::format("The multiplier {} from {} to {} across the sweep's budgets: as "
                            "compute grows, {} gets relatively more efficient. ",
                            m1 < m0 ? "falls" : "rises", Num(m0, 2), Num(m1, 2),
                            m1 < m0 ? second : first);
      }
    }
  }
  const bool steeper = cmp.second.loss_exponent > cmp.first.loss_exponent;
  const std::string& better = steeper ? second : first;
  const std::string& worse = steeper ? first : second;
  text += fmt::format("Loss against compute falls with exponent {} for {} and {} for {}",
                      Num(cmp.first.loss_exponent), first, Num(cmp.second.loss_exponent), second);
  if (!cmp.p_loss_exponent) {
    text += fmt::format(", so {} scales better (no bootstrap, so no test of the difference).",
                        better);
  } else if (*cmp.p_loss_exponent < 0.05) {
    text += fmt::format(", so {} scales better than {} (Wald test on bootstrap standard "
                        "errors: p = {} that the exponents are equal).",
                        better, worse, Num(*cmp.p_loss_exponent, 2));
  } else {
    text += fmt::format(": {}'s is steeper, but the difference is not resolved (Wald test "
                        "on bootstrap standard errors: p = {} that the exponents are equal), so neither condition is shown to scale "
                        "better.",
                        better, Num(*cmp.p_loss_exponent, 2));
  }
  if (cmp.crossing_flops) {
    text += fmt::format(" The frontiers cross at about {} {}.", Num(*cmp.crossing_flops), a.flops_unit);
  }
  // Which condition to spend the recommended budget on, and how.
  const ConditionAnalysis* best = nullptr;
  for (const ConditionAnalysis& c : a.conditions) {
    if (c.recommendation && (!best || c.recommendation->loss < best->recommendation->loss)) {
      best = &c;
    }
  }
  if (best) {
    const fitting::Recommendation& r = *best->recommendation;
    text += fmt::format(" For {} {} the lowest predicted loss ({}) is {}'s, with N ≈ {} "
                        "parameters trained on D ≈ {} tokens ({} tokens per parameter).",
                        Num(r.budget), a.flops_unit, Num(r.loss, 4), best->condition, Num(r.n_params, 2),
                        Num(r.tokens, 2), Num(r.tokens_per_param, 3));
  }
  return text;
}

bool IsReportFolder(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name != "report.md" && name != "report.html" && name != "plots") return false;
  }
  return !ec;
}

namespace {

StagedFolderOptions ReportFolderOptions() {
  StagedFolderOptions o;
  o.what = "report";
  o.replace = true;  // a report is always rewritten
  o.is_ours = IsReportFolder;
  o.is_ours_rule = "it holds files other than report.md, report.html and plots/";
  return o;
}

}  // namespace

void CheckReportFolder(const std::string& out_dir) {
  StagedFolder probe(out_dir, ReportFolderOptions());  // throws now; its destructor cleans up
}

ReportFiles WriteReport(const Analysis& analysis, const std::string& out_dir) {
  // The whole set is built in a sibling temporary folder and swapped in (common/files.h), so a
  // killed `sims report` leaves the old report or the new one, never a mix.
  StagedFolder staged(out_dir, ReportFolderOptions());
  const fs::path temp = staged.path();
  std::vector<Figure> figures = DrawFigures(analysis, (temp / "plots").string());
  Document document = BuildDocument(analysis, figures);
  WriteFileAtomically((temp / "report.md").string(), RenderMarkdown(document, temp.string()));
  WriteFileAtomically((temp / "report.html").string(), RenderHtml(document, temp.string()));
  staged.Commit();
  ReportFiles files;
  files.markdown = (fs::path(staged.final_path()) / "report.md").string();
  files.html = (fs::path(staged.final_path()) / "report.html").string();
  for (const Figure& f : figures) {
    if (!f.left_out.empty()) continue;
    files.plots.push_back(staged.FinalPathOf(f.files.svg));
    files.plots.push_back(staged.FinalPathOf(f.files.png));
  }
  return files;
}

}  // namespace sims::report
