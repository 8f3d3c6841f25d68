// sims bench design: offline replay of run selection (fitting/replay.h) on a pool of finished
// runs, a CSV or a sweep in the store. For every method, spend and seed, the method picks runs
// as if training them (outcomes looked up), the law fitted to its picks predicts the held-out
// target runs, and the table gives the median error over seeds next to the all-data fit's.
// --format json: {"target_rule","pool_runs","target_runs","all_data":{"mape","r2"},
//   "rows":[{"method","spend","seeds","failed","median_mape","median_r2","median_runs",
//            "median_flops_fraction","mape":[...per seed]}]}
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "fitting/replay.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/fit_inputs.h"

namespace sims {
namespace {

struct BenchDesignOptions {
  FitInputOptions input;
  std::vector<double> spends{0.01, 0.05, 0.1, 0.25};
  int seeds = 10;
  std::vector<std::string> methods{"sims", "random", "cheapest", "cost-weighted", "d-optimal"};
  int resamples = 48;
  int threads = 0;
  Format format = Format::kTable;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void RunBenchDesign(const BenchDesignOptions& o, const GlobalOptions& global, std::ostream& out) {
  if (o.seeds < 1) throw UserError(fmt::format("bench design: --seeds {} must be >= 1", o.seeds));
  std::vector<fitting::SelectionMethod> methods;
  for (const std::string& name : o.methods) {
    methods.push_back(fitting::SelectionMethodFromString(name));
  }
  const fitting::Dataset data = LoadFitInput(o.input, global, /*curves=*/false);
  const fitting::PoolSplit split = fitting::SplitTarget(data.points);
  double pool_flops = 0;
  for (const fitting::Point& p : split.pool) pool_flops += p.flops;
  const fitting::ReplayScore all = fitting::ScoreAllData(split);
  if (!all.fitted) throw UserError("bench design: the whole pool does not fit: " + all.error);
  Log(LogLevel::kInfo, "bench design: pool of {} runs, target {}; all-data fit MAPE {:.4f}",
      split.pool.size(), split.rule, all.mape);

  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::vector<std::string>> table;
  const auto start = std::chrono::steady_clock::now();
  for (double spend : o.spends) {
    for (fitting::SelectionMethod method : methods) {
      std::vector<double> mape, r2, runs, fraction;
      int failed = 0;
      for (int seed = 1; seed <= o.seeds; ++seed) {
        fitting::ReplayOptions replay;
        replay.spend_fraction = spend;
        replay.seed = static_cast<uint64_t>(seed);
        replay.resamples = o.resamples;
        replay.threads = o.threads;
        const fitting::ReplayScore s = fitting::Replay(split, method, replay);
        runs.push_back(s.runs);
        fraction.push_back(s.flops / pool_flops);
        if (s.fitted) {
          mape.push_back(s.mape);
          r2.push_back(s.r2);
        } else {
          ++failed;  // counts as an infinite error in the median
          mape.push_back(HUGE_VAL);
          r2.push_back(-HUGE_VAL);
        }
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      Log(LogLevel::kInfo, "bench design: {} at {:g} of the pool: median MAPE {:.4f} ({:.0f} s)",
          ToString(method), spend, Median(mape), seconds);
      const double median_mape = Median(mape), median_r2 = Median(r2);
      rows.push_back({{"method", ToString(method)},
                      {"spend", spend},
                      {"seeds", o.seeds},
                      {"failed", failed},
                      {"median_mape", std::isfinite(median_mape) ? nlohmann::json(median_mape) : nlohmann::json(nullptr)},
                      {"median_r2", std::isfinite(median_r2) ? nlohmann::json(median_r2) : nlohmann::json(nullptr)},
                      {"median_runs", Median(runs)},
                      {"median_flops_fraction", Median(fraction)}});
      table.push_back({fmt::format("{:g}%", 100 * spend), ToString(method),
                       std::isfinite(median_mape) ? fmt::format("{:.2f}%", 100 * median_mape) : "no fit",
                       std::isfinite(median_mape) ? fmt::format("{:.2f}x", median_mape / all.mape) : "-",
                       std::isfinite(median_r2) ? fmt::format("{:.3f}", median_r2) : "no fit",
                       fmt::format("{:g}", Median(runs)), fmt::format("{:.1f}%", 100 * Median(fraction)),
                       fmt::format("{}/{}", failed, o.seeds)});
    }
  }
  table.push_back({"100%", "all data", fmt::format("{:.2f}%", 100 * all.mape), "1.00x",
                   fmt::format("{:.3f}", all.r2), std::to_string(split.pool.size()), "100.0%", "0/1"});
  nlohmann::json j = {{"target_rule", split.rule},
                      {"pool_runs", split.pool.size()},
                      {"target_runs", split.target.size()},
                      {"all_data", {{"mape", all.mape}, {"r2", all.r2}}},
                      {"rows", rows}};
  if (o.format == Format::kJson) {
    out << j.dump() << '\n';
    return;
  }
  out << fmt::format("Pool: {} runs; target: {}.\n", split.pool.size(), split.rule);
  PrintTable(out, {"spend", "method", "median MAPE", "vs all data", "median R^2", "runs",
                   "FLOPs used", "no fit"},
             table);
}

}  // namespace

void SetupBenchDesignCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<BenchDesignOptions>();
  AddFitInputOptions(cmd, o->input, /*with_condition=*/true);
  cmd->add_option("--spend", o->spends, "Fractions of the pool's FLOPs to replay at")
      ->capture_default_str();
  cmd->add_option("--seeds", o->seeds, "Replays per method and spend (seeds 1..N)")
      ->capture_default_str();
  cmd->add_option("--methods", o->methods,
                  "Selection methods: sims, random, cheapest, cost-weighted, d-optimal")
      ->capture_default_str();
  cmd->add_option("--resamples", o->resamples, "Bootstrap laws per round of sims's method")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Threads (0 = every core)");
  AddFormatOption(cmd, o->format, {"table", "json"});
  cmd->callback([o, &global] { RunBenchDesign(*o, global, std::cout); });
}

}  // namespace sims
