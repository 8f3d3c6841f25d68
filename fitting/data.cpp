#include "fitting/data.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <variant>

#include <fmt/format.h>

#include "common/error.h"
#include "common/files.h"
#include "common/sha256.h"
#include "results/store.h"

namespace sims::fitting {
namespace {

// RFC 4180 records: quoted fields may hold commas, doubled quotes and newlines.
// Returns rows with the 1-based line number each row starts on.
std::vector<std::pair<int, std::vector<std::string>>> ParseCsvRecords(const std::string& text) {
  std::vector<std::pair<int, std::vector<std::string>>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  int line = 1, row_line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.emplace_back(row_line, std::move(row));
      }
      row.clear();
      field.clear();
      any = false;
      ++line;
      row_line = line;
    } else {
      field += c;
      any = true;
    }
  }
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.emplace_back(row_line, std::move(row));
  }
  return rows;
}

bool ParseDouble(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *value = std::strtod(text.c_str(), &end);
  while (end != nullptr && *end == ' ') ++end;
  return errno == 0 && end != nullptr && *end == '\0' && std::isfinite(*value);
}

bool IsTrue(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "true" || v == "1" || v == "yes";
}

// Removes the k points with the highest loss, keeping the others in order (ties: the
// earlier row goes first, so the same rows go on every run). Returns how many were removed.
int DropHighestLosses(std::vector<Point>& points, int k) {
  if (k <= 0) return 0;
  std::vector<size_t> order(points.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return points[x].loss > points[y].loss; });
  order.resize(std::min<size_t>(k, order.size()));
  std::vector<bool> drop(points.size(), false);
  for (size_t i : order) drop[i] = true;
  std::vector<Point> kept;
  for (size_t i = 0; i < points.size(); ++i) {
    if (!drop[i]) kept.push_back(std::move(points[i]));
  }
  points = std::move(kept);
  return static_cast<int>(order.size());
}

}  // namespace

void ParseColumnsSpec(const std::string& spec, CsvOptions& options) {
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throw UserError(fmt::format("--columns: '{}' is not KEY=COLUMN; hint: params=N,tokens=D", item));
    }
    const std::string key = item.substr(0, eq), column = item.substr(eq + 1);
    if (key == "params") options.params = column;
    else if (key == "tokens") options.tokens = column;
    else if (key == "loss") options.loss = column;
    else if (key == "budget") options.budget = column;
    else if (key == "flops") options.flops = column;
    else if (key == "outlier") options.outlier = column;
    else
      throw UserError(fmt::format(
          "--columns: unknown key '{}'; expected params, tokens, loss, budget, flops or outlier", key));
  }
}

std::pair<std::string, std::string> ParseWhere(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UserError(fmt::format(
        "--where: '{}' is not COLUMN=VALUE; hint: dataset=comma, or current_steps=@total_steps", text));
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

Dataset ParsePointsCsv(const std::string& text, const std::string& name, const CsvOptions& options) {
  if (options.exclude_top_loss < 0) {
    throw UserError(fmt::format("--exclude-top-loss must be >= 0, got {}", options.exclude_top_loss));
  }
  auto records = ParseCsvRecords(text);
  if (records.empty()) throw UserError(fmt::format("{}: empty CSV file, expected a header row", name));
  const std::vector<std::string>& header = records.front().second;
  std::map<std::string, size_t> index;
  for (size_t c = 0; c < header.size(); ++c) index[header[c]] = c;
  auto column = [&](const std::string& col) -> std::optional<size_t> {
    if (col.empty()) return std::nullopt;
    auto it = index.find(col);
    if (it == index.end()) return std::nullopt;
    return it->second;
  };
  auto require = [&](const std::string& col, const char* role) {
    auto c = column(col);
    if (!c) {
      throw UserError(fmt::format(
          "{}: line 1: no column '{}' (the {} column); columns are: {}; hint: --columns {}=NAME",
          name, col, role, fmt::join(header, ","), role));
    }
    return *c;
  };
  const auto params_col = column(options.params);
  const auto tokens_col = column(options.tokens);
  const size_t loss_col = require(options.loss, "loss");
  const auto budget_col = column(options.budget);
  const auto flops_col = options.flops.empty() ? budget_col : std::optional<size_t>(require(options.flops, "flops"));
  if (!params_col && !tokens_col) {
    require(options.params, "params");
  }
  if ((!params_col || !tokens_col) && !flops_col) {
    throw UserError(fmt::format(
        "{}: only one of N ('{}') and D ('{}') is a column, so the other must come from C = 6ND, "
        "but there is no budget column '{}'; hint: --columns budget=NAME",
        name, options.params, options.tokens, options.budget));
  }
  std::optional<size_t> outlier_col;
  if (options.drop_outliers) outlier_col = require(options.outlier, "outlier");
  std::vector<std::pair<size_t, std::variant<std::string, size_t>>> where;
  for (const auto& [col, value] : options.where) {
    const size_t c = require(col, "--where");
    if (!value.empty() && value[0] == '@') {
      where.emplace_back(c, require(value.substr(1), "--where"));
    } else {
      where.emplace_back(c, value);
    }
  }

  Dataset out;
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& [line, cells] = records[r];
    auto cell = [&](size_t c) -> const std::string& {
      static const std::string empty;
      return c < cells.size() ? cells[c] : empty;
    };
    bool keep = true;
    for (const auto& [c, value] : where) {
      const std::string& want = std::holds_alternative<std::string>(value)
                                    ? std::get<std::string>(value)
                                    : cell(std::get<size_t>(value));
      if (cell(c) != want) keep = false;
    }
    if (!keep) continue;
    if (outlier_col && IsTrue(cell(*outlier_col))) {
      ++out.dropped_outliers;
      continue;
    }
    auto number = [&](size_t c, bool positive) {
      double v = 0;
      if (!ParseDouble(cell(c), &v)) {
        throw UserError(fmt::format("{}: line {}: column '{}': '{}' is not a number", name, line,
                                    header[c], cell(c)));
      }
      if (positive && !(v > 0)) {
        throw UserError(fmt::format("{}: line {}: column '{}': {} must be > 0", name, line,
                                    header[c], cell(c)));
      }
      return v;
    };
    Point p;
    p.loss = number(loss_col, true);
    if (flops_col) p.flops = number(*flops_col, true);
    if (budget_col) p.budget = number(*budget_col, true);
    if (params_col) p.n_params = number(*params_col, true);
    if (tokens_col) p.tokens = number(*tokens_col, true);
    if (!params_col) p.n_params = p.flops / (6 * p.tokens);
    if (!tokens_col) p.tokens = p.flops / (6 * p.n_params);
    if (!flops_col) p.flops = 6 * p.n_params * p.tokens;
    if (!budget_col) p.budget = p.flops;
    p.source = fmt::format("{}:{}", name, line);
    out.points.push_back(std::move(p));
  }
  out.dropped_top_loss = DropHighestLosses(out.points, options.exclude_top_loss);
  out.cost = params_col && tokens_col && flops_col
                 ? CostFromPoints(out.points, "data")
                 : SixNDCost("6ND (N or D derived from C = 6ND)");
  nlohmann::json where_json = nlohmann::json::object();
  for (const auto& [col, value] : options.where) where_json[col] = value;
  out.provenance = {
      {"source", "csv"},
      {"path", name},
      {"sha256", Sha256Hex(text)},
      {"columns",
       {{"params", options.params}, {"tokens", options.tokens}, {"loss", options.loss},
        {"budget", options.budget}, {"flops", options.flops}, {"outlier", options.outlier}}},
      {"drop_outliers", options.drop_outliers},
      {"exclude_top_loss", options.exclude_top_loss},
      {"where", where_json},
      {"n_points", out.points.size()},
      {"dropped_outliers", out.dropped_outliers},
      {"dropped_top_loss", out.dropped_top_loss},
      {"cost_model", {{"convention", out.cost.convention}, {"source", out.cost.source}}},
  };
  return out;
}

Dataset ReadPointsCsv(const std::string& path, const CsvOptions& options) {
  std::string text;
  try {
    text = ReadWholeFile(path);
  } catch (const UserError&) {
    throw UserError(fmt::format("{}: cannot open the CSV file", path));
  }
  return ParsePointsCsv(text, path, options);
}

namespace {


// The sweep's cost curve for the runs' condition, N counted as the selection counts it; the
// runs' own C/D when the sweep has none (imported, or planned before schema 2).
CostModel SweepCost(const SweepRow& sweep, const StoreSelection& s, std::span<const Point> points,
                    const std::vector<RunRow>& runs) {
  const std::optional<FlopConvention> planned = PlannerConvention(sweep.facts.flops_convention);
  const std::string convention = planned ? ToString(*planned) : "data";
  if (!sweep.facts.planner_json.empty() && !runs.empty()) {
    const std::string& condition = s.condition.empty() ? runs.front().condition : s.condition;
    try {
      const auto curves = nlohmann::json::parse(sweep.facts.planner_json).at("cost_curves");
      if (curves.contains(condition)) {
        const auto& c = curves.at(condition);
        return SmoothedCost(CostFromTable(
            c.at(s.non_embedding ? "n_params_non_embedding" : "n_params").get<std::vector<double>>(),
            c.at("flops_per_token").get<std::vector<double>>(), convention,
            fmt::format("the sweep's shape rule at context {}", c.at("context").get<int64_t>())));
      }
    } catch (const nlohmann::json::exception& e) {
      throw UserError(fmt::format("sweep '{}': its stored cost curves cannot be read ({}); hint: "
                                  "re-plan the sweep file with this sims",
                                  sweep.name, e.what()));
    }
  }
  return CostFromPoints(points, convention);
}

SweepRow RequireSweep(Store& store, const StoreSelection& s) {
  if (s.sweep.empty()) throw UserError("fit: --sweep is required to read runs from the store");
  std::optional<SweepRow> sweep = store.FindSweep(s.sweep);
  if (!sweep) {
    throw UserError(fmt::format("fit: no sweep '{}' in {}; hint: sims status lists sweeps", s.sweep,
                                store.path()));
  }
  return *sweep;
}

std::vector<RunRow> SelectedRuns(Store& store, const StoreSelection& s) {
  std::vector<RunRow> runs = store.ListRuns({s.sweep, s.condition, RunStatus::kDone});
  if (s.condition.empty()) {
    std::erase_if(runs, [](const RunRow& r) { return r.condition == "text-lm"; });
  }
  return runs;
}

nlohmann::json StoreProvenance(Store& store, const StoreSelection& s) {
  return {{"source", "store"},      {"db", store.path()},
          {"sweep", s.sweep},       {"condition", s.condition},
          {"metric", s.metric},     {"params", s.non_embedding ? "non-embedding" : "total"},
          {"flops", "runs.flops (the sweep's convention)"}};
}

}  // namespace

Dataset LoadPointsFromStore(Store& store, const StoreSelection& s) {
  Dataset out;
  out.provenance = StoreProvenance(store, s);
  nlohmann::json run_ids = nlohmann::json::array();
  int without_metric = 0;
  const SweepRow sweep = RequireSweep(store, s);
  const std::vector<RunRow> runs = SelectedRuns(store, s);
  for (const RunRow& run : runs) {
    const std::vector<MetricRow> rows = store.Metrics(run.id, s.metric);
    if (rows.empty()) {
      ++without_metric;
      continue;
    }
    const MetricRow& last = *std::max_element(
        rows.begin(), rows.end(), [](const MetricRow& a, const MetricRow& b) { return a.step < b.step; });
    Point p;
    p.n_params = static_cast<double>(s.non_embedding ? run.n_params_non_embedding : run.n_params);
    p.tokens = static_cast<double>(run.tokens);
    p.flops = run.flops;
    p.budget = BudgetOf(run);
    p.loss = last.value;
    p.source = run.id;
    if (!(p.n_params > 0 && p.tokens > 0 && p.loss > 0 && std::isfinite(p.loss))) {
      throw UserError(fmt::format("run {}: N={}, D={}, {}={} cannot be fitted (all must be > 0)",
                                  run.id, p.n_params, p.tokens, s.metric, p.loss));
    }
    run_ids.push_back(run.id);
    out.points.push_back(std::move(p));
  }
  out.dropped_top_loss = DropHighestLosses(out.points, s.exclude_top_loss);
  if (out.points.empty()) {
    throw UserError(fmt::format(
        "fit: sweep '{}'{} has no done run with metric '{}'; hint: sims status --sweep {}", s.sweep,
        s.condition.empty() ? "" : " condition '" + s.condition + "'", s.metric, s.sweep));
  }
  out.cost = SweepCost(sweep, s, out.points, runs);
  out.provenance["cost_model"] = {{"convention", out.cost.convention}, {"source", out.cost.source}};
  out.provenance["run_ids"] = run_ids;
  out.provenance["runs_without_metric"] = without_metric;
  out.provenance["exclude_top_loss"] = s.exclude_top_loss;
  out.provenance["n_points"] = out.points.size();
  return out;
}

Dataset LoadCurvesFromStore(Store& store, const StoreSelection& s) {
  Dataset out;
  out.provenance = StoreProvenance(store, s);
  out.provenance["curves"] = true;
  nlohmann::json run_ids = nlohmann::json::array();
  const SweepRow sweep = RequireSweep(store, s);
  const std::vector<RunRow> runs = SelectedRuns(store, s);
  for (const RunRow& run : runs) {
    const double n = static_cast<double>(s.non_embedding ? run.n_params_non_embedding : run.n_params);
    bool any = false;
    for (const MetricRow& m : store.Metrics(run.id, s.metric)) {
      if (m.tokens <= 0 || !(m.value > 0)) continue;  // step 0 has seen no tokens
      Point p;
      p.n_params = n;
      p.tokens = static_cast<double>(m.tokens);
      p.flops = run.flops_per_token * p.tokens;
      p.budget = BudgetOf(run);
      p.loss = m.value;
      p.source = run.id;
      out.points.push_back(std::move(p));
      any = true;
    }
    if (any) run_ids.push_back(run.id);
  }
  if (out.points.empty()) {
    throw UserError(fmt::format("fit: sweep '{}' has no logged '{}' values with tokens > 0",
                                s.sweep, s.metric));
  }
  out.cost = SweepCost(sweep, s, out.points, runs);
  out.provenance["cost_model"] = {{"convention", out.cost.convention}, {"source", out.cost.source}};
  out.provenance["run_ids"] = run_ids;
  out.provenance["n_points"] = out.points.size();
  return out;
}

}  // namespace sims::fitting
