// sims run: plan a sweep file (idempotently) and train every runnable run, on a local pool of
// worker processes or as Slurm job arrays. Re-running the same command after any interruption
// runs only what is not done; runs resume from their checkpoints. With --adaptive, once the
// sweep's own runs are done it goes on in rounds: per condition, `sims suggest` (cmd_suggest.cpp)
// plans the runs that narrow N_opt at the target budget most, the pool (or Slurm, each round
// submitted and watched) trains them, the law is refitted warm from the last round's, until
// every condition's N_opt is within --until-spread, the trained FLOPs reach --max-flops, or
// nothing is left to propose. With --compare FIRST,SECOND a round is one joint suggestion for the
// two conditions' loss gap (sims suggest --compare), and --until-spread is the gap's goal.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "common/log.h"
#include "common/format.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/run.h"
#include "orchestrator/cli/suggest.h"
#include "orchestrator/queue/ingest.h"
#include "orchestrator/queue/pool.h"
#include "orchestrator/queue/slurm.h"
#include "orchestrator/queue/worker.h"
#include "results/plan_store.h"
#include "sweeps/candidates.h"
#include "sweeps/memory.h"
#include "sweeps/plan.h"

namespace sims {

namespace {

std::atomic<int> g_interrupts{0};

extern "C" void OnInterrupt(int) { g_interrupts.fetch_add(1); }

// Brings failed runs back; on Slurm their events files get a "retry" line so ingest does not
// fail them again from the old outcome.
int RetryFailed(Store& store, const std::string& project, const std::string& sweep) {
  int n = 0;
  for (const RunRow& r : store.ListRuns({sweep, "", RunStatus::kFailed})) {
    if (!store.RetryRun(r.id)) continue;
    ++n;
    std::string events = EventsPath(RunDir(project, r.id));
    if (std::filesystem::exists(events)) {
      EventLog(events).Append({MakeEvent(EventKind::kRetry, {{"time", NowSeconds()}})});
    }
  }
  return n;
}

void WatchSlurm(Store& store, const RunOptions& o, const std::string& project,
                const std::vector<std::string>& jobs) {
  bool tty = ::isatty(STDERR_FILENO);
  for (;;) {
    IngestEvents(store, project, o.pool.sweep, NowSeconds(), 7 * 86400.0);
    SweepProgress p = ComputeProgress(store.ListRuns({o.pool.sweep, "", std::nullopt}));
    std::string line = FormatProgress(p, 0);
    std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", line.c_str());
    if (p.planned + p.running == 0) break;
    if (LiveSlurmJobs(jobs).empty()) {
      IngestEvents(store, project, o.pool.sweep, NowSeconds(), 7 * 86400.0);
      Log(LogLevel::kWarn, "\nsims run: no job of this submission is left in squeue, but runs "
          "are not finished\nhint: sims status; sims run --sweep {} --backend slurm resubmits "
          "them", o.pool.sweep);
      break;
    }
    if (g_interrupts.load() > 0) {
      Log(LogLevel::kWarn, "\nsims run: stopped watching; the jobs keep running (scancel to "
          "stop them)");
      break;
    }
    for (int i = 0; i < o.watch_seconds * 10 && g_interrupts.load() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (tty) std::fprintf(stderr, "\n");
}

double TrainedFlops(Store& store, const std::string& sweep) {
  double flops = 0;
  for (const RunRow& r : store.ListRuns({sweep, "", RunStatus::kDone})) flops += r.flops;
  return flops;
}

// Trains what the sweep has planned on the chosen backend: the local pool, or Slurm (submit,
// then, with --watch or --adaptive, follow the jobs until the sweep ends).
PoolSummary TrainPlanned(const RunOptions& o, Store& store, const std::string& db,
                         const std::string& project) {
  if (o.backend == "local") return RunPool(o.pool, g_interrupts);
  SlurmSubmission s = SubmitSlurm(store, db, o.sweep, o.slurm);
  Log(LogLevel::kInfo, "sims run: {} runs submitted in {} job arrays; {} already queued",
      s.submitted.size(), s.job_ids.size(), s.skipped.size());
  if (o.watch || o.adaptive) {
    std::vector<std::string> jobs = s.job_ids;
    for (const std::string& id : s.skipped) {
      std::ifstream in(std::filesystem::path(RunDir(project, id)) / "slurm_job");
      std::string job;
      if (in >> job) jobs.push_back(job);
    }
    WatchSlurm(store, o, project, jobs);
  }
  SweepProgress p = ComputeProgress(store.ListRuns({o.sweep, "", std::nullopt}));
  return {p.done, p.failed, p.planned, p.running, g_interrupts.load()};
}

// What --adaptive keeps between rounds. Each condition's target budget is fixed by its first
// round (10x the largest budget then), so that new budgets do not move the goal; the proposals
// table keeps it across invocations. The last fits are the next round's warm starts.
struct AdaptiveState {
  std::map<std::string, double> target_budget;
  std::map<std::string, fitting::Approach3Result> last_fit;

  const fitting::Approach3Result* LastFit(const std::string& condition) const {
    const auto it = last_fit.find(condition);
    return it == last_fit.end() ? nullptr : &it->second;
  }
};

// What one round planned, and whether the goal (--until-spread) is reached.
struct RoundOutcome {
  size_t planned = 0;
  bool precise = false;
};

SuggestOptions RoundOptions(const RunOptions& o, const SweepSpec& spec, int64_t round) {
  SuggestOptions s;
  s.spec_path = o.spec;
  s.count = o.adaptive_count;
  s.resamples = o.adaptive_resamples;
  s.seed = spec.seed + static_cast<uint64_t>(round);
  return s;
}

std::string Goal(const RunOptions& o) {
  return o.until_spread > 0 ? fmt::format(" (goal ±{:g}%)", o.until_spread) : "";
}

// A round per condition: each condition's suggestion for its N_opt; precise when every one is.
RoundOutcome ConditionsRound(const RunOptions& o, const GlobalOptions& global, Store& store,
                             const SweepSpec& spec, const SweepPlan& candidates, int64_t round,
                             double trained, AdaptiveState& state) {
  RoundOutcome outcome;
  size_t precise_conditions = 0;
  for (const ConditionSpec& condition : spec.conditions) {
    SuggestOptions s = RoundOptions(o, spec, round);
    // A round may spend the condition's share of what --max-flops leaves (at most
    // --adaptive-count runs); without a cap, what the condition has trained (one doubling).
    if (o.max_flops > 0) s.spend = (o.max_flops - trained) / spec.conditions.size();
    if (state.target_budget.count(condition.name)) {
      s.target_budget = state.target_budget[condition.name];
    }
    const ConditionSuggestion suggestion = SuggestCondition(
        s, global, store, spec, candidates, condition.name, state.LastFit(condition.name));
    state.last_fit.insert_or_assign(condition.name, suggestion.fit);
    state.target_budget[condition.name] = suggestion.json["target_budget"].get<double>();
    const bool precise = o.until_spread > 0 && 100 * (std::exp(suggestion.n_opt_sd) - 1) <= o.until_spread;
    Log(LogLevel::kInfo, "sims run --adaptive: round {}: {}: N_opt at {} {}{}; {}", round,
        condition.name, FormatNumber(suggestion.json["target_budget"].get<double>()),
        RelativeSpread(suggestion.n_opt_sd), Goal(o),
        precise ? "precise enough"
                : fmt::format("proposed: {}", suggestion.json["proposals"].size()));
    precise_conditions += precise;
    if (precise || suggestion.to_apply.runs.empty()) continue;
    outcome.planned += ApplySuggestion(store, suggestion, round).new_runs;
  }
  outcome.precise = precise_conditions == spec.conditions.size();
  return outcome;
}

// --compare: one joint suggestion over the two conditions for the loss gap behind their
// multiplier, which may spend both conditions' shares of what --max-flops leaves.
RoundOutcome ComparisonRound(const RunOptions& o, const GlobalOptions& global, Store& store,
                             const SweepSpec& spec, const SweepPlan& candidates, int64_t round,
                             double trained, AdaptiveState& state) {
  const std::string& first = o.compare[0];
  const std::string& second = o.compare[1];
  SuggestOptions s = RoundOptions(o, spec, round);
  s.compare = o.compare;
  s.count = 2 * o.adaptive_count;
  if (o.max_flops > 0) s.spend = 2 * (o.max_flops - trained) / spec.conditions.size();
  if (state.target_budget.count(first)) s.target_budget = state.target_budget[first];
  const ComparisonSuggestion suggestion = SuggestComparison(
      s, global, store, spec, candidates, state.LastFit(first), state.LastFit(second));
  state.last_fit.insert_or_assign(first, suggestion.first_fit);
  state.last_fit.insert_or_assign(second, suggestion.second_fit);
  state.target_budget[first] = suggestion.json["target_budget"].get<double>();
  RoundOutcome outcome;
  outcome.precise = o.until_spread > 0 && 100 * (std::exp(suggestion.gap_sd) - 1) <= o.until_spread;
  Log(LogLevel::kInfo, "sims run --adaptive: round {}: loss gap of {} over {} at {} {}{}; {}",
      round, second, first, FormatNumber(suggestion.json["target_budget"].get<double>()),
      RelativeSpread(suggestion.gap_sd), Goal(o),
      outcome.precise ? "precise enough"
                      : fmt::format("proposed: {}", suggestion.json["proposals"].size()));
  if (!outcome.precise && !suggestion.to_apply.runs.empty()) {
    outcome.planned = ApplySuggestion(store, suggestion, round).new_runs;
  }
  return outcome;
}

// The rounds of --adaptive (see the top of this file); returns the last round's summary.
PoolSummary AdaptiveRounds(const RunOptions& o, const GlobalOptions& global, Store& store,
                           PoolSummary summary) {
  const SweepSpec spec = LoadSweepFile(o.spec, o.corpus);
  const SweepPlan candidates = PlanSweep(WithCandidatePoints(spec));
  AdaptiveState state;
  for (const ProposalRow& p : store.Proposals(o.sweep)) {
    state.target_budget.emplace(p.condition, p.target_budget);  // rows by round: the first wins
  }
  while (g_interrupts.load() == 0) {
    // Rounds are counted in the store (its proposals table), so a second `run --adaptive` on
    // the same sweep goes on from the last round, with a new seed, instead of repeating round 1.
    const int64_t round = store.NextProposalRound(o.sweep);
    const double trained = TrainedFlops(store, o.sweep);
    if (o.max_flops > 0 && trained >= o.max_flops) {
      Log(LogLevel::kInfo, "sims run --adaptive: stop: {} FLOPs trained, the cap is {}",
          FormatNumber(trained), FormatNumber(o.max_flops));
      break;
    }
    const RoundOutcome outcome =
        o.compare.empty()
            ? ConditionsRound(o, global, store, spec, candidates, round, trained, state)
            : ComparisonRound(o, global, store, spec, candidates, round, trained, state);
    if (outcome.precise) {
      Log(LogLevel::kInfo, "sims run --adaptive: stop: {} within ±{:g}%",
          o.compare.empty() ? "every condition's N_opt is" : "the loss gap is", o.until_spread);
      break;
    }
    if (outcome.planned == 0) {
      Log(LogLevel::kInfo, "sims run --adaptive: stop: no run left to propose within the "
          "remaining spend");
      break;
    }
    summary = TrainPlanned(o, store, global.db, ProjectDir(global.db));
    // On Slurm, watching also ends with runs left when the jobs vanished (scancel): stop then.
    if (summary.interrupts > 0 || summary.failed > 0 || summary.planned + summary.running > 0) {
      break;
    }
  }
  return summary;
}

}  // namespace

PoolSummary RunRun(RunOptions o, const GlobalOptions& global) {
  o.pool.db = global.db;
  if (o.spec.empty() == o.sweep.empty()) {
    throw UserError("sims run: give either a sweep file or --sweep NAME (not both)");
  }
  if (o.backend == "slurm") ValidateSlurmOptions(o.slurm);
  if (o.adaptive && o.spec.empty()) {
    throw UserError("sims run --adaptive: needs the sweep file (it plans new runs from it)\nhint: "
                    "sims run SPEC.toml --adaptive");
  }
  if (!o.compare.empty() &&
      (!o.adaptive || o.compare.size() != 2 || o.compare[0] == o.compare[1])) {
    throw UserError(fmt::format("sims run: --compare takes two different conditions, "
                                "FIRST,SECOND (got {}), and --adaptive",
                                fmt::join(o.compare, ",")));
  }
  std::string project = ProjectDir(global.db);
  std::optional<SweepPlan> plan;
  if (!o.spec.empty()) {
    // Every error before the database is touched: a bad file, a run that does not fit the GPU.
    const SweepSpec spec = LoadSweepFile(o.spec, o.corpus);
    for (const std::string& name : o.compare) {
      if (std::none_of(spec.conditions.begin(), spec.conditions.end(),
                       [&](const ConditionSpec& c) { return c.name == name; })) {
        throw UserError(fmt::format("sims run: --compare {}: not a condition of {}", name, o.spec));
      }
    }
    plan = PlanSweep(spec);
    if (spec.gpu_memory_gib > 0) CheckPlanFits(*plan, spec.gpu_memory_gib);
    o.sweep = plan->sweep;
  }
  o.pool.sweep = o.sweep;
  if (o.backend == "local") ValidatePoolOptions(o.pool);
  CheckProjectWritable(project);
  Store store = Store::Open(global.db, plan ? OpenMode::kCreate : OpenMode::kExisting);
  if (plan) {
    StoreResult stored = PlanIntoStore(store, *plan, /*dry_run=*/false);
    Log(LogLevel::kInfo, "sims run: sweep {}: {} runs planned now, {} already in the database",
        o.sweep, stored.new_ids.size(), stored.existing_ids.size());
    if (!stored.execution_changed_ids.empty()) {
      Log(LogLevel::kInfo, "sims run: {} runs not done take the sweep file's new ranks",
          stored.execution_changed_ids.size());
    }
  } else if (!store.FindSweep(o.sweep)) {
    throw UserError(fmt::format("--sweep {}: not in database {}\nhint: sims run SPEC.toml plans "
                                "it first",
                                o.sweep, global.db));
  }
  if (o.retry_failed) {
    Log(LogLevel::kInfo, "sims run: {} failed runs back to planned",
        RetryFailed(store, project, o.sweep));
  }

  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  PoolSummary summary = TrainPlanned(o, store, global.db, project);
  // On Slurm, watching also ends when the jobs are gone with runs left (scancel).
  const bool finished = o.backend == "local" || summary.planned + summary.running == 0;
  if (o.adaptive && summary.interrupts == 0 && summary.failed == 0 && finished) {
    summary = AdaptiveRounds(o, global, store, summary);
  }
  // Slurm: the state after submission (or --watch); failed runs are in it, not an error here.
  if (o.backend == "slurm" && !o.adaptive) return summary;
  if (summary.interrupts > 0) {
    Log(LogLevel::kWarn, "sims run: interrupted; {} done, {} planned again. Run the same "
        "command to go on.", summary.done, summary.planned + summary.running);
  } else if (summary.failed > 0) {
    throw UserError(fmt::format("sweep {}: {} runs done, {} failed\nhint: sims status --sweep {} "
                                "shows the errors; sims run ... --retry-failed tries them again",
                                o.sweep, summary.done, summary.failed, o.sweep));
  }
  return summary;
}

void SetupRunCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("spec", o->spec, "Sweep file (TOML) to plan and run");
  cmd->add_option("--corpus", o->corpus,
                  "Corpus directory replacing the file's [sweep].corpus (as sims plan --corpus)");
  cmd->add_option("--sweep", o->sweep, "Run a sweep already in the database")
      ->check(NameCheck(NameKind::kSweep));
  cmd->add_option("--backend", o->backend, "local | slurm")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  cmd->add_option("--workers,-j", o->pool.workers, "Local worker processes")->capture_default_str();
  cmd->add_option("--device", o->pool.device, "cpu | cuda | auto (each worker)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  cmd->add_option("--threads", o->pool.threads, "Trainer threads per worker")->capture_default_str();
  cmd->add_flag("--retry-failed", o->retry_failed, "Bring the sweep's failed runs back first");
  cmd->add_option("--max-attempts", o->pool.max_attempts,
                  "Fail a run after its lease expired this many times")
      ->capture_default_str();
  cmd->add_option("--lease", o->pool.lease_seconds, "Seconds of silence before a run is requeued")
      ->capture_default_str();
  cmd->add_option("--heartbeat", o->pool.heartbeat_seconds, "Seconds between lease renewals")
      ->capture_default_str();
  cmd->add_flag("!--no-progress", o->pool.progress, "No live progress view on stderr");
  cmd->add_option("--worker-log-level", o->pool.worker_log_level,
                  "Log level of the local workers (their lines go to stderr too)")
      ->capture_default_str();
  cmd->add_option("--partition", o->slurm.partition, "slurm: partition");
  cmd->add_option("--gres", o->slurm.gres, "slurm: generic resources per task, e.g. gpu:1");
  cmd->add_option("--time", o->slurm.time, "slurm: time limit per task, e.g. 04:00:00");
  cmd->add_option("--array-limit", o->slurm.array_limit, "slurm: tasks of one array at once");
  cmd->add_option("--sbatch-arg", o->slurm.sbatch_args, "slurm: extra sbatch argument (repeat)");
  cmd->add_flag("--watch", o->watch, "slurm: ingest and show progress until the sweep ends");
  cmd->add_flag("--adaptive", o->adaptive,
                "After the sweep's runs, train in rounds the runs sims suggest picks (either backend; on "
                "Slurm each round is submitted and watched to its end)");
  cmd->add_option("--until-spread", o->until_spread,
                  "adaptive: stop when every condition's N_opt at the target budget is within "
                  "this many percent (0: no goal)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-flops", o->max_flops,
                  "adaptive: stop before the sweep's trained FLOPs pass this (0: no cap); a "
                  "round may spend each condition's share of what it leaves")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--compare", o->compare,
                  "adaptive: FIRST,SECOND: make the compute multiplier between two conditions "
                  "precise instead of each N_opt (as sims suggest --compare); --until-spread is "
                  "then the goal for their optimal-loss gap, a round takes up to twice "
                  "--adaptive-count runs over the two and spends their share of what --max-flops "
                  "leaves")
      ->delimiter(',')
      ->expected(2);
  cmd->add_option("--adaptive-count", o->adaptive_count,
                  "adaptive: runs per condition and round at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--adaptive-resamples", o->adaptive_resamples,
                  "adaptive: bootstrap laws per condition and round")
      ->check(CLI::Range(10, 100000))
      ->capture_default_str();
  cmd->callback([o, &global] {
    RunOptions options = *o;
    options.slurm.device = options.pool.device;
    options.slurm.threads = options.pool.threads;
    RunRun(options, global);
  });
}

}  // namespace sims
