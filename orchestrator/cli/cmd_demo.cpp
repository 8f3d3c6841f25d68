// sims demo: a complete scaling study at toy scale, on CPU, in one command — the synthetic
// corpus, the demo sweep (textless from scratch vs interleaved from a text LM), training on a
// local worker pool, fits of both conditions, their comparison, the report and a
// recommendation. Every step is idempotent, so an interrupted demo continues where it stopped
// and a finished one only re-fits and re-writes the report.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/format.h"
#include "common/files.h"
#include "common/log.h"
#include "fitting/json.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/demo_files.h"
#include "orchestrator/cli/fit_inputs.h"
#include "orchestrator/queue/pool.h"
#include "orchestrator/report/plots.h"
#include "orchestrator/report/report.h"
#include "results/store.h"
#include "results/plan_store.h"
#include "sweeps/plan.h"
#include "trainer/corpus/generate.h"

namespace sims {
namespace fs = std::filesystem;

struct DemoOptions {
  std::string out = "sims-demo";  // the demo's project directory (database, corpus, report)
  std::string db;                 // the database; empty = OUT/sims.db
  std::string size = "small";     // small: <= 10 min on 2 cores; tiny: <= 2 min (CI)
  int workers = 0;                // worker processes; 0 = one per core
  int bootstrap = 200;            // resamples behind every interval of the report
  std::string examples;           // a folder with the demo's files; empty = the built-in ones
};

namespace {

std::atomic<int> g_demo_interrupts{0};
extern "C" void OnDemoInterrupt(int) { g_demo_interrupts.fetch_add(1); }

void Step(int n, const std::string& what) {
  Log(LogLevel::kInfo, "sims demo [{}/5] {}", n, what);
}

// The sweep and corpus files the demo runs: the copies built into sims (written into the
// project directory, so the user can read and re-run them), or those in --examples DIR.
struct DemoFiles {
  fs::path sweep;
  fs::path corpus;
};

void WriteIfChanged(const fs::path& path, const std::string& text) {
  if (fs::exists(path) && ReadWholeFile(path) == text) return;
  WriteFileAtomically(path, text);
}

DemoFiles ResolveDemoFiles(const DemoOptions& o, const fs::path& project) {
  const std::string sweep_name = o.size == "tiny" ? "demo-cpu-tiny.toml" : "demo-cpu.toml";
  if (o.examples.empty()) {
    DemoFiles files{project / sweep_name, project / "demo-corpus.toml"};
    WriteIfChanged(files.sweep, o.size == "tiny" ? demo_files::kDemoCpuTiny : demo_files::kDemoCpu);
    WriteIfChanged(files.corpus, demo_files::kDemoCorpus);
    return files;
  }
  DemoFiles files{fs::path(o.examples) / sweep_name, fs::path(o.examples) / "demo-corpus.toml"};
  for (const fs::path& path : {files.sweep, files.corpus}) {
    if (!fs::exists(path)) {
      throw UserError(fmt::format("demo: {} not found\nhint: --examples names a folder with "
                                  "demo-cpu.toml, demo-cpu-tiny.toml and demo-corpus.toml; leave "
                                  "it out to use the built-in copies",
                                  path.string()));
    }
  }
  return files;
}

// The corpus is generated once per demo directory. GenerateCorpus renames a finished
// temporary directory into place, so a corpus directory that exists is complete.
void EnsureCorpus(const fs::path& corpus_config, const fs::path& corpus_dir) {
  if (fs::exists(corpus_dir / "vocab.json")) {
    Log(LogLevel::kInfo, "  corpus {} is already there", corpus_dir.string());
    return;
  }
  corpus::CorpusConfig config = corpus::LoadCorpusConfig(corpus_config.string());
  corpus::CorpusStats stats = corpus::GenerateCorpus(config, corpus_dir.string(), 0, false);
  Log(LogLevel::kInfo, "  {} tokens in {:.1f} s", stats.total_tokens, stats.wall_seconds);
}

// Stores each condition's approach-3 fit (with its bootstrap samples) the way `sims fit` does,
// so that `sims recommend --budget C --condition X` works on the demo's database afterwards.
void StoreFits(Store& store, const report::Analysis& analysis) {
  for (const report::ConditionAnalysis& c : analysis.conditions) {
    if (!c.approach3) continue;
    nlohmann::json options = {{"approach", 3},
                              {"metric", analysis.options.metric},
                              {"bootstrap", analysis.options.bootstrap},
                              {"seed", analysis.options.seed},
                              {"made_by", "sims demo"}};
    FitRow row;
    row.kind = "approach3";
    row.condition = c.condition;
    row.inputs_json = FitInputsJson(c.data, options).dump();
    row.result_json = fitting::ToJson(*c.approach3, &c.approach3_bootstrap).dump();
    store.InsertFit(row);
  }
}

void PrintRecommendation(const report::Analysis& analysis, std::ostream& out) {
  out << "\nRecommendation for C = " << FormatNumber(analysis.recommend_budget)
      << " FLOPs (" << FormatNumber(analysis.options.recommend_factor)
      << "x the sweep's largest budget), by each condition's fitted law:\n";
  std::vector<std::vector<std::string>> rows;
  auto with = [](double v, const std::optional<fitting::Interval>& i, int digits = 3) {
    return FormatWithInterval(v, i, digits);
  };
  for (const report::ConditionAnalysis& c : analysis.conditions) {
    if (!c.recommendation) continue;
    const fitting::Recommendation& r = *c.recommendation;
    rows.push_back({c.condition, with(r.n_params, r.n_params_interval),
                    with(r.tokens, r.tokens_interval),
                    with(r.tokens_per_param, r.tokens_per_param_interval),
                    with(r.loss, r.loss_interval, 4)});
  }
  PrintTable(out, {"condition", "N (params)", "D (tokens)", "tokens/param", "predicted loss"},
             rows);
  out << "\n" << report::Verdict(analysis) << "\n";
}

}  // namespace

void RunDemo(const DemoOptions& o, std::ostream& out) {
  if (o.size != "tiny" && o.size != "small") {
    throw UserError(fmt::format("demo: --size {} is not tiny or small", o.size));
  }
  if (o.workers < 0) throw UserError(fmt::format("demo: --workers {} must be >= 0", o.workers));
  fs::path project = fs::absolute(o.out);
  fs::create_directories(project);
  fs::path db = o.db.empty() ? project / "sims.db" : fs::absolute(o.db);
  fs::path corpus_dir = project / "corpus";
  const DemoFiles files = ResolveDemoFiles(o, project);

  Step(1, fmt::format("synthetic speech-text corpus -> {}", corpus_dir.string()));
  EnsureCorpus(files.corpus, corpus_dir);

  Step(2, fmt::format("plan {} into {}", files.sweep.string(), db.string()));
  SweepSpec spec = LoadSweepFile(files.sweep.string());
  spec.corpus = corpus_dir.string();  // the demo's own corpus, whatever the file says
  SweepPlan plan = PlanSweep(spec);
  Store store = Store::Open(db.string());
  StoreResult stored = PlanIntoStore(store, plan, /*dry_run=*/false);
  int remaining = 0;
  for (const RunRow& r : store.ListRuns({plan.sweep, "", std::nullopt})) remaining += r.status != RunStatus::kDone;
  Log(LogLevel::kInfo, "  sweep {}: {} runs ({} new), {} skipped by the design, {} to train",
      plan.sweep, plan.runs.size(), stored.new_ids.size(), plan.skipped.size(), remaining);

  PoolOptions pool;
  pool.db = db.string();
  pool.sweep = plan.sweep;
  pool.workers = o.workers > 0 ? o.workers : std::max(1u, std::thread::hardware_concurrency());
  Step(3, fmt::format("train {} runs on {} local workers", remaining, pool.workers));
  if (remaining == 0) {
    Log(LogLevel::kInfo, "  every run is done already: nothing to train");
  } else {
    std::signal(SIGINT, OnDemoInterrupt);
    std::signal(SIGTERM, OnDemoInterrupt);
    PoolSummary summary = RunPool(pool, g_demo_interrupts);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (summary.interrupts > 0) {
      throw UserError(fmt::format("demo interrupted: {} runs done, {} left\nhint: run the same "
                                  "command again to continue where it stopped",
                                  summary.done, summary.planned + summary.running));
    }
    if (summary.failed > 0) {
      throw UserError(fmt::format("demo: {} runs failed\nhint: sims --db {} status shows the "
                                  "errors; sims --db {} run --sweep {} --retry-failed",
                                  summary.failed, db.string(), db.string(), plan.sweep));
    }
  }

  Step(4, "fit both conditions (approaches 2 and 3, bootstrap) and compare them");
  report::ReportOptions report_options;
  report_options.sweep = plan.sweep;
  report_options.bootstrap = o.bootstrap;
  report::Analysis analysis = report::Analyze(store, report_options);
  StoreFits(store, analysis);

  fs::path report_dir = project / "report";
  Step(5, fmt::format("report -> {}", report_dir.string()));
  report::ReportFiles report_files = report::WriteReport(analysis, report_dir.string());

  PrintRecommendation(analysis, out);
  out << "\nReport: " << report_files.html << "\n        " << report_files.markdown << "\n"
      << "Next:   sims --db " << db.string() << " status\n"
      << "        sims --db " << db.string() << " report --out " << report_dir.string() << "\n"
      << "        sims --db " << db.string() << " suggest " << files.sweep.string() << " --corpus "
      << corpus_dir.string() << "   (which runs to train next)\n";
}

void SetupDemoCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<DemoOptions>();
  cmd->add_option("--out", o->out,
                  "Project directory of the demo: its database (unless --db is given), corpus, "
                  "sweep files and report")
      ->capture_default_str();
  cmd->add_option("--size", o->size, "small (<= 10 min on 2 cores) | tiny (<= 2 min)")
      ->check(CLI::IsMember({"tiny", "small"}))
      ->capture_default_str();
  cmd->add_option("--workers,-j", o->workers, "Worker processes (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples for the report's intervals")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--examples", o->examples,
                  "Folder with your own demo-cpu.toml, demo-cpu-tiny.toml and demo-corpus.toml "
                  "(default: the copies built into sims, written to --out)");
  CLI::Option* db_option = cmd->get_parent()->get_option("--db");
  cmd->callback([o, &global, db_option] {
    // The global --db (default sims.db) applies only when given: the demo keeps its database in
    // its own project directory otherwise.
    if (db_option->count() > 0) o->db = global.db;
    RunDemo(*o, std::cout);
  });
}

}  // namespace sims
