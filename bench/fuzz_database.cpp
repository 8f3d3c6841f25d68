// fuzz_database [--cases N] [--seed S]: a sims database damaged N ways (seeded byte flips and
// truncations of a real database with 40 done runs, their metrics and a fit), each opened and
// read the way `sims status` and `sims export` read it. A case passes when the reads answer, or
// fail with a UserError naming the file (Store::Open) or an SQLite error (which `sims` reports
// as exit 1 naming --db, orchestrator/cli/main.cpp); a file refused at open must be byte-identical
// afterwards. Anything else, or a crash, is a failure. docs/benchmarks.md records a run.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "common/error.h"
#include "results/store.h"

namespace fs = std::filesystem;

namespace {

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// 40 done runs of two conditions with 20 metric rows each, and one stored fit.
void MakeDatabase(const fs::path& path) {
  sims::Store store = sims::Store::Open(path.string());
  const int64_t sweep = store.UpsertSweep("fuzz", "# fuzz", {sims::SweepFlops::kExact, false, "{}"});
  std::vector<sims::NewRun> runs;
  for (int i = 0; i < 40; ++i) {
    sims::NewRun r;
    r.id = fmt::format("{:012x}", i);
    r.condition = i % 2 ? "interleaved" : "textless";
    r.n_params = 1000 * (i + 1);
    r.tokens = 2000;
    r.steps = 20;
    r.flops_per_token = 6.0 * r.n_params;
    r.flops = r.flops_per_token * r.tokens;
    r.config_json = "{}";
    runs.push_back(r);
  }
  store.InsertRuns(sweep, runs);
  for (const sims::NewRun& r : runs) {
    store.ClaimRun("w", 0, 100, "fuzz", r.id);
    std::vector<sims::MetricRow> rows;
    for (int step = 1; step <= 20; ++step) rows.push_back({r.id, step, step * 100, "val/loss/speech", 5.0 - 0.01 * step});
    store.InsertMetrics(rows);
    store.FinishRun(r.id, "w", 1);
  }
  store.InsertFit({0, "", "approach3", "textless", "{}", "{\"approach\":3}"});
  // Every byte in the one file we damage.
  SQLite::Database(store.path(), SQLite::OPEN_READWRITE).exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace

int main(int argc, char** argv) {
  int cases = 10000;
  uint64_t seed = 20261202;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--cases") {
      cases = std::atoi(argv[i + 1]);
    } else if (flag == "--seed") {
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: fuzz_database [--cases N] [--seed S]\n");
      return 1;
    }
  }
  const fs::path dir = fs::temp_directory_path() / fmt::format("sims-fuzz-db-{}", seed);
  fs::remove_all(dir);
  fs::create_directories(dir);
  MakeDatabase(dir / "good.db");
  const std::string original = Bytes(dir / "good.db");
  std::mt19937_64 rng(seed);
  int answered = 0, refused_open = 0, refused_read = 0, failures = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < cases; ++i) {
    std::string damaged = original;
    if (i % 4 == 3) {
      damaged.resize(rng() % damaged.size());
    } else {
      for (int k = 0, flips = 1 + static_cast<int>(rng() % 8); k < flips; ++k) {
        damaged[rng() % damaged.size()] = static_cast<char>(rng());
      }
    }
    const fs::path path = dir / "case.db";
    fs::remove(path);
    fs::remove(path.string() + "-wal");
    fs::remove(path.string() + "-shm");
    std::ofstream(path, std::ios::binary) << damaged;
    bool opened = false;
    try {
      sims::Store store = sims::Store::Open(path.string(), sims::OpenMode::kExisting);
      opened = true;
      store.ListSweeps();
      for (const sims::RunRow& run : store.ListRuns()) {
        store.Metrics(run.id);
        store.Evals(run.id);
      }
      store.ListFits();
      ++answered;
    } catch (const sims::UserError& e) {
      ++refused_open;
      if (std::string(e.what()).find(path.string()) == std::string::npos || Bytes(path) != damaged) {
        ++failures;
        std::fprintf(stderr, "case %d: refusal without the file name or with the file changed: %s\n", i, e.what());
      }
    } catch (const SQLite::Exception& e) {
      ++refused_read;  // sims prints it as exit 1 naming --db
      if (!opened && Bytes(path) != damaged) {
        ++failures;
        std::fprintf(stderr, "case %d: file changed by a failed open: %s\n", i, e.what());
      }
    } catch (const std::exception& e) {
      ++failures;
      std::fprintf(stderr, "case %d: %s\n", i, e.what());
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("| sims database | %d | %d | %d | %d | %d | %.1f s |\n", cases, answered, refused_open,
              refused_read, failures, seconds);
  fs::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
