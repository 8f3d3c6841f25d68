// sims compare: two conditions of a sweep (or two groups of a CSV file) side by side.
// Per condition: the approach-3 fit, its allocation exponents a, b and loss-compute exponent
// with bootstrap intervals. Between them: the compute multiplier at each budget (the compute the
// second needs to reach the first's optimal loss, divided by the budget, with an interval), where
// the optimal-loss frontiers cross, tokens per parameter, and bootstrap p-values for "the
// exponents are equal". Stored in the fits table as kind "compare".
#include <iostream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/format.h"
#include "common/log.h"
#include "fitting/json.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/fit_inputs.h"
#include "results/store.h"

namespace sims {

struct CompareOptions {
  FitInputOptions input;
  std::string conditions;                     // "textless,interleaved"
  std::string condition_column = "condition"; // CSV input: the column naming the condition
  int bootstrap = 200;                        // resamples per condition (0: no intervals/p-values)
  uint64_t seed = 0;
  int threads = 0;
  std::vector<double> budgets;                // default: the sweep's budgets
  bool store = true;
  Format format = Format::kTable;
};

nlohmann::json RunCompare(const CompareOptions& o, const GlobalOptions& global, std::ostream& out) {
  std::vector<std::string> names;
  std::stringstream in(o.conditions);
  for (std::string c; std::getline(in, c, ',');) {
    if (!c.empty()) names.push_back(c);
  }
  for (const std::string& name : names) ValidateName(NameKind::kCondition, name, "--conditions");
  if (names.size() != 2) {
    throw UserError(fmt::format("--conditions '{}': give exactly two, e.g. textless,interleaved", o.conditions));
  }
  fitting::Approach3Options a3;
  a3.threads = o.threads;
  a3.verbose = CurrentLogLevel() == LogLevel::kDebug;
  std::vector<fitting::ConditionFit> fits;
  std::set<double> budgets;
  nlohmann::json inputs = nlohmann::json::array();
  for (size_t i = 0; i < 2; ++i) {
    FitInputOptions input = o.input;
    if (input.data.empty()) {
      input.condition = names[i];
    } else {
      input.where.push_back(o.condition_column + "=" + names[i]);
    }
    const fitting::Dataset data = LoadFitInput(input, global, false);
    for (const auto& p : data.points) budgets.insert(p.budget > 0 ? p.budget : p.flops);
    fitting::ConditionFit cf;
    cf.condition = names[i];
    a3.cost = data.cost;
    cf.fit = fitting::FitApproach3(data.points, a3);
    fitting::BootstrapOptions b;
    b.resamples = o.bootstrap;
    b.seed = fitting::ConditionSeed(o.seed, names[i]);  // independent resamples per condition
    b.threads = o.threads;
    cf.bootstrap = fitting::BootstrapApproach3(data.points, cf.fit, a3, b);
    inputs.push_back(FitInputsJson(
        data, {{"bootstrap", o.bootstrap}, {"seed", o.seed}, {"condition_seed", b.seed}}));
    fits.push_back(std::move(cf));
  }
  const std::vector<double> at = o.budgets.empty() ? std::vector<double>(budgets.begin(), budgets.end()) : o.budgets;
  const fitting::Comparison c = fitting::CompareConditions(fits[0], fits[1], at);
  nlohmann::json result = fitting::ToJson(c);
  result["fits"] = {fitting::ToJson(fits[0].fit), fitting::ToJson(fits[1].fit)};
  if (o.store) {
    Store store = Store::Open(global.db);  // stores the comparison, so it may create the file
    FitRow row;
    row.kind = "compare";
    row.condition = o.conditions;
    row.inputs_json = nlohmann::json{{"conditions", inputs}}.dump();
    row.result_json = result.dump();
    result["fit_id"] = store.InsertFit(row);
  }
  if (o.format == Format::kJson) {
    out << result.dump(2) << '\n';
    return result;
  }
  auto with = [](double v, const std::optional<fitting::Interval>& iv) {
    return FormatWithInterval(v, iv, 4);
  };
  auto p = [](const std::optional<double>& v) { return v ? FormatNumber(*v, 4) : std::string("-"); };
  PrintTable(out, {"condition", "a (N_opt ~ C^a)", "b (D_opt ~ C^b)", "loss exponent"},
             {{c.first.condition, with(c.first.a, c.first.a_interval), with(c.first.b, c.first.b_interval),
               with(c.first.loss_exponent, c.first.loss_exponent_interval)},
              {c.second.condition, with(c.second.a, c.second.a_interval), with(c.second.b, c.second.b_interval),
               with(c.second.loss_exponent, c.second.loss_exponent_interval)},
              {"p (equal)", p(c.p_allocation_exponent), p(c.p_allocation_exponent), p(c.p_loss_exponent)}});
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < c.multipliers.size(); ++i) {
    const auto& m = c.multipliers[i];
    rows.push_back({FormatNumber(m.budget, 4), FormatNumber(m.loss_first, 4), with(m.multiplier, m.interval),
                    FormatNumber(c.first.tokens_per_param[i], 4), FormatNumber(c.second.tokens_per_param[i], 4)});
  }
  out << '\n';
  PrintTable(out, {"budget", "loss " + c.first.condition, "compute multiplier (" + c.second.condition + ")",
                   "D/N " + c.first.condition, "D/N " + c.second.condition},
             rows);
  out << (c.crossing_flops ? fmt::format("\noptimal-loss frontiers cross at C = {}\n", FormatNumber(*c.crossing_flops, 4))
                           : std::string("\noptimal-loss frontiers do not cross between 1e12 and 1e30 FLOPs\n"));
  return result;
}

void SetupCompareCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<CompareOptions>();
  AddFitInputOptions(cmd, o->input, false);
  cmd->add_option("--conditions", o->conditions, "Two conditions, e.g. textless,interleaved")->required();
  cmd->add_option("--condition-column", o->condition_column, "CSV input: the column holding the condition")
      ->capture_default_str();
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples per condition")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Bootstrap seed");
  cmd->add_option("--threads", o->threads, "Solver threads (0 = every core)");
  cmd->add_option("--budget", o->budgets, "Budgets (FLOPs) for the multiplier (default: the data's)");
  cmd->add_flag("--store,!--no-store", o->store, "Store the comparison in the fits table");
  AddFormatOption(cmd, o->format, {"table", "json"});
  cmd->callback([o, &global] { RunCompare(*o, global, std::cout); });
}

}  // namespace sims
