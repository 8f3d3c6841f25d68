// sims bench: performance measurements next to a named peer, in one command.
//   sims bench fit    the 4500-start approach-3 fit and a 1000-resample bootstrap on the
//                     (Mis)Fitting final points (261), next to the scipy reference
//                     (bench/fit_reference.py: L-BFGS-B, analytic gradient, ftol=0, gtol=1e-12)
//                     run as a child process on the same data; prints both times and the ratio;
//                     and the warm refit an adaptive round does (fitting::RefitOptions).
//   sims bench train  (trainer, only with SIMS_WITH_TORCH; see cmd_bench_train.cpp)
// --format json: {"starts","points","seconds","objective","full_solves","starts_at_best",
//   "reference":{"name":"scipy","seconds","objective"},"ratio","objective_rel_diff",
//   "bootstrap":{"resamples","seconds"},"refit":{"starts","added_points","seconds","objective"},
//   "threads"}
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/parallel.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/fit_inputs.h"

namespace sims {

struct BenchFitOptions {
  std::string data;              // empty = tests/data/misfitting_loss_curves.csv of this repo
  std::string columns = "params=N,tokens=D,loss=loss,budget=C";
  std::vector<std::string> where{"current_steps=@total_steps"};  // final point of each curve
  int resamples = 1000;
  int threads = 0;
  bool reference = true;
  std::string python = "python3";
  Format format = Format::kTable;
};

namespace {

// <repo>/<build dir>/sims -> <repo>/<relative>.
std::string RepoFile(const std::string& relative) {
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe");
  return (exe.parent_path().parent_path() / relative).string();
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

nlohmann::json RunReference(const BenchFitOptions& o, const std::string& data) {
  std::string command = fmt::format("{} {} approach3 --csv {} --columns {}", o.python,
                                    Quote(RepoFile("bench/fit_reference.py")), Quote(data), Quote(o.columns));
  for (const std::string& w : o.where) command += " --where " + Quote(w);
  Log(LogLevel::kInfo, "bench fit: running the scipy reference (minutes): {}", command);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("bench fit: cannot start " + command);
  std::string out;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe.get())) out.append(buffer.data(), n);
  const int status = pclose(pipe.release());
  if (status != 0 || out.empty()) {
    throw UserError(fmt::format("bench fit: the reference failed (exit status {}): {}; hint: it needs "
                                "python3 with numpy and scipy, or pass --no-reference",
                                status, command));
  }
  return nlohmann::json::parse(out);
}

}  // namespace

nlohmann::json RunBenchFit(const BenchFitOptions& o, const GlobalOptions&, std::ostream& out) {
  const std::string data = o.data.empty() ? RepoFile("tests/data/misfitting_loss_curves.csv") : o.data;
  FitInputOptions input;
  input.data = data;
  input.columns = o.columns;
  input.where = o.where;
  const fitting::Dataset dataset = fitting::ReadPointsCsv(data, ToCsvOptions(input));
  fitting::Approach3Options a3;
  a3.threads = o.threads;
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const fitting::Approach3Result fit = fitting::FitApproach3(dataset.points, a3);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // An adaptive round's refit: the law was fitted without the most expensive tenth of the
  // points, they arrive, and it is refitted from that optimum (fitting::RefitOptions).
  std::vector<fitting::Point> cheaper = dataset.points;
  std::sort(cheaper.begin(), cheaper.end(),
            [](const fitting::Point& a, const fitting::Point& b) { return a.flops < b.flops; });
  const size_t added = cheaper.size() / 10;
  cheaper.resize(cheaper.size() - added);
  const fitting::Approach3Result before = fitting::FitApproach3(cheaper, a3);
  const auto t_refit = Clock::now();
  const fitting::Approach3Result refit =
      fitting::FitApproach3(dataset.points, fitting::RefitOptions(a3, before));
  const double refit_seconds = std::chrono::duration<double>(Clock::now() - t_refit).count();
  fitting::BootstrapOptions b;
  b.resamples = o.resamples;
  b.threads = o.threads;
  const auto t1 = Clock::now();
  const fitting::BootstrapResult boot = fitting::BootstrapApproach3(dataset.points, fit, a3, b);
  const double boot_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  nlohmann::json j = {{"starts", fit.starts},
                      {"points", fit.n_points},
                      {"seconds", seconds},
                      {"objective", fit.objective},
                      {"full_solves", fit.full_solves},
                      {"starts_at_best", fit.starts_at_best},
                      {"threads", fitting::ThreadCount(o.threads)},
                      {"bootstrap", {{"resamples", o.resamples}, {"failed", boot.failed}, {"seconds", boot_seconds}}},
                      {"refit", {{"starts", refit.starts}, {"added_points", added},
                                 {"seconds", refit_seconds}, {"objective", refit.objective}}}};
  if (o.reference) {
    const nlohmann::json ref = RunReference(o, data);
    const double ref_objective = ref.at("objective").get<double>();
    j["reference"] = {{"name", "scipy"}, {"seconds", ref.at("seconds")}, {"objective", ref_objective},
                      {"starts_at_best", ref.value("starts_at_best", 0)}};
    j["ratio"] = ref.at("seconds").get<double>() / seconds;
    j["objective_rel_diff"] = (fit.objective - ref_objective) / ref_objective;
  }
  if (o.format == Format::kJson) {
    out << j.dump() << '\n';
    return j;
  }
  std::vector<std::vector<std::string>> rows = {
      {"sims approach 3", fmt::format("{} starts x {} points", fit.starts, fit.n_points), fmt::format("{:.3f}", seconds),
       fmt::format("{:.12g}", fit.objective)},
      {"sims bootstrap", fmt::format("{} resamples", o.resamples), fmt::format("{:.3f}", boot_seconds), ""},
      {"sims warm refit", fmt::format("{} starts, {} points added", refit.starts, added),
       fmt::format("{:.3f}", refit_seconds), fmt::format("{:.12g}", refit.objective)}};
  if (o.reference) {
    rows.push_back({"scipy approach 3", fmt::format("{} starts", fit.starts),
                    fmt::format("{:.3f}", j["reference"]["seconds"].get<double>()),
                    fmt::format("{:.12g}", j["reference"]["objective"].get<double>())});
  }
  PrintTable(out, {"what", "size", "seconds", "objective"}, rows);
  if (o.reference) {
    out << fmt::format("ratio (scipy / sims): {:.1f}x; objective relative difference {:.2g}; {} threads\n",
                       j["ratio"].get<double>(), j["objective_rel_diff"].get<double>(), j["threads"].get<int>());
  }
  return j;
}

void SetupBenchCommand(CLI::App* cmd, GlobalOptions& global) {
  cmd->require_subcommand(1);
  CLI::App* fit = cmd->add_subcommand("fit", "Approach-3 fit (4500 starts) + 1000-resample bootstrap vs scipy");
  auto o = std::make_shared<BenchFitOptions>();
  fit->add_option("--data", o->data, "CSV file (default: tests/data/misfitting_loss_curves.csv)");
  fit->add_option("--columns", o->columns, "CSV columns")->capture_default_str();
  fit->add_option("--where", o->where, "CSV row filter (replaces the default)")->capture_default_str();
  fit->add_option("--bootstrap", o->resamples, "Bootstrap resamples")->capture_default_str();
  fit->add_option("--threads", o->threads, "Threads (0 = every core)");
  fit->add_flag("--reference,!--no-reference", o->reference, "Run the scipy reference too (default)");
  fit->add_option("--python", o->python, "Python with numpy and scipy")->capture_default_str();
  AddFormatOption(fit, o->format, {"table", "json"});
  fit->callback([o, &global] { RunBenchFit(*o, global, std::cout); });

  SetupBenchDesignCommand(
      cmd->add_subcommand("design", "Replay run selection on finished runs: sims's design vs "
                                    "random, cheapest-first, cost-weighted, D-optimal"),
      global);

#if SIMS_WITH_TORCH
  // `sims bench train` belongs to the trainer (orchestrator/cli/cmd_bench_train.cpp).
  SetupBenchTrainCommand(cmd->add_subcommand("train", "Training throughput vs a PyTorch eager reference"),
                         global);
#endif
}

}  // namespace sims
