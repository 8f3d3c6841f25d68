#include "tests/fuzz_inputs.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "fitting/data.h"
#include "orchestrator/cli/fit_inputs.h"
#include "orchestrator/queue/ingest.h"
#include "results/store.h"

namespace sims::fuzz {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteBytes(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) lines.push_back(line);
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// Cell and JSON values that break assumptions: huge, tiny, negative, non-finite, past int64,
// wrong types, hostile names.
const std::vector<std::string> kNumbers = {"0",
                                           "-1",
                                           "1e30",
                                           "1e400",
                                           "-1e400",
                                           "1e-320",
                                           "nan",
                                           "NaN",
                                           "inf",
                                           "-inf",
                                           "9223372036854775807",
                                           "9223372036854775808",
                                           "18446744073709551616",
                                           "9.2e18",
                                           "1e19",
                                           "0x10",
                                           "1,5",
                                           "",
                                           " ",
                                           "3.0.1",
                                           "1e",
                                           "+",
                                           "true",
                                           "\"\"",
                                           "\"x\"",
                                           "[]",
                                           "{}",
                                           "null",
                                           "\"a\\nb\"",
                                           "\"../../x\"",
                                           "\"$(touch X)\"",
                                           "\"`id`\"",
                                           "\"it's\""};

std::string MutateText(std::string text, std::mt19937_64& rng, bool csv) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % std::max<size_t>(n, 1)); };
  const int edits = 1 + static_cast<int>(pick(3));
  for (int e = 0; e < edits; ++e) {
    std::vector<std::string> lines = Lines(text);
    if (lines.empty()) return text;
    std::string& line = lines[pick(lines.size())];
    switch (pick(9)) {
      case 0:  // flip one byte to anything, NUL and high bytes included
        if (!line.empty()) line[pick(line.size())] = static_cast<char>(rng() & 0xff);
        break;
      case 1: {  // truncate the whole text
        std::string joined = Join(lines);
        return joined.substr(0, pick(joined.size() + 1));
      }
      case 2:  // delete a line
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(pick(lines.size())));
        break;
      case 3:  // duplicate a line
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(pick(lines.size())), line);
        break;
      case 4:
      case 5: {  // replace one value: a CSV cell, or the value after a JSON key
        const std::string value = kNumbers[pick(kNumbers.size())];
        if (csv) {
          std::vector<size_t> commas;
          for (size_t i = 0; i < line.size(); ++i) {
            if (line[i] == ',') commas.push_back(i);
          }
          const size_t k = pick(commas.size() + 1);
          const size_t begin = k == 0 ? 0 : commas[k - 1] + 1;
          const size_t end = k < commas.size() ? commas[k] : line.size();
          line.replace(begin, end - begin, value);
        } else {
          std::vector<size_t> colons;
          for (size_t i = 0; i < line.size(); ++i) {
            if (line[i] == ':') colons.push_back(i);
          }
          if (colons.empty()) break;
          const size_t begin = colons[pick(colons.size())] + 1;
          size_t end = line.find_first_of(",}", begin);
          if (end == std::string::npos) end = line.size();
          line.replace(begin, end - begin, value);
        }
        break;
      }
      case 6:  // a quote that never closes, or a stray CR
        line.insert(pick(line.size() + 1), pick(2) ? "\"" : "\r");
        break;
      case 7:  // swap two lines (a header moves into the data, an event out of order)
        std::swap(line, lines[pick(lines.size())]);
        break;
      default:  // a very long line
        line += std::string(1000 + pick(5000), csv ? '9' : ' ');
        break;
    }
    text = Join(lines);
  }
  return text;
}

bool NamesLine(const std::string& message) {
  static const std::regex line(R"((:\d+[:\s])|(line \d+))");
  return std::regex_search(message, line);
}

void Fail(FuzzStats& stats, int i, const std::string& what, const std::string& text) {
  if (stats.failures.size() < 20) {
    stats.failures.push_back(
        fmt::format("case {}: {}\n--- input ---\n{}", i, what, text.substr(0, 2000)));
  }
}

// What a refusal must say: the file; counted when it also names a line.
void Refused(FuzzStats& stats, int i, const std::string& message, const std::string& path,
             const std::string& text) {
  ++stats.refused;
  if (message.find(path) == std::string::npos) {
    Fail(stats, i, "refusal without the file: " + message, text);
  }
  if (NamesLine(message)) ++stats.refusals_with_line;
}

// The Marin IsoFLOP points, and a small file with N missing (N derived from C = 6ND).
std::vector<std::string> CsvSeeds() {
  const std::string marin = ReadBytes(SIMS_SOURCE_DIR "/tests/data/isoflops_marin_misfitting.csv");
  std::vector<std::string> lines = Lines(marin);
  std::vector<std::string> seeds;
  // Slices of 25 rows keep a case fast and still give several budgets.
  for (size_t start = 1; start + 25 <= lines.size(); start += 40) {
    std::vector<std::string> slice = {lines[0]};
    slice.insert(slice.end(), lines.begin() + static_cast<std::ptrdiff_t>(start),
                 lines.begin() + static_cast<std::ptrdiff_t>(start + 25));
    seeds.push_back(Join(slice));
  }
  seeds.push_back(
      "tokens,budget,loss\n2e9,1.2e18,3.1\n4e9,1.2e18,3.0\n8e9,1.2e18,3.05\n4e10,1.2e19,2.8\n");
  return seeds;
}

}  // namespace

FuzzStats FuzzPointsCsv(int cases, uint64_t seed, const fs::path& dir) {
  FuzzStats stats;
  const std::vector<std::string> seeds = CsvSeeds();
  std::mt19937_64 rng(seed);
  const LogLevel level = CurrentLogLevel();
  CurrentLogLevel() = LogLevel::kError;
  const std::string path = (dir / "fuzz.csv").string();
  for (int i = 0; i < cases; ++i) {
    const std::string text = MutateText(seeds[rng() % seeds.size()], rng, true);
    WriteBytes(path, text);
    ++stats.cases;
    fitting::CsvOptions csv;
    csv.drop_outliers = text.find("outlier") != std::string::npos && rng() % 2;
    bool accepted = false;
    try {
      const fitting::Dataset data = fitting::ReadPointsCsv(path, csv);
      for (const fitting::Point& p : data.points) {
        if (!(std::isfinite(p.loss) && p.loss > 0 && std::isfinite(p.flops) && p.flops > 0)) {
          Fail(stats, i, fmt::format("accepted a point with loss {} and C {}", p.loss, p.flops),
               text);
        }
      }
      accepted = true;
    } catch (const UserError& e) {
      Refused(stats, i, e.what(), path, text);
    } catch (const std::exception& e) {
      Fail(stats, i, std::string("fit path: not a UserError: ") + e.what(), text);
    }
    if (accepted) {
      ImportOptions import;
      import.file = path;
      import.input.sweep = "fuzz";
      import.input.drop_outliers = csv.drop_outliers;
      GlobalOptions global;
      global.db = ":memory:";
      std::ostringstream out;
      try {
        RunImport(import, global, out);
        ++stats.accepted;
      } catch (const UserError& e) {
        Refused(stats, i, e.what(), path, text);
      } catch (const std::exception& e) {
        Fail(stats, i, std::string("import path: not a UserError: ") + e.what(), text);
      }
    }
    if (ReadBytes(path) != text) Fail(stats, i, "the CSV file changed", text);
  }
  CurrentLogLevel() = level;
  return stats;
}

FuzzStats FuzzEventsFiles(int cases, uint64_t seed, const fs::path& dir) {
  FuzzStats stats;
  std::mt19937_64 rng(seed);
  const LogLevel level = CurrentLogLevel();
  CurrentLogLevel() = LogLevel::kError;
  Store store = Store::Open((dir / "sims.db").string());
  const std::string project = dir.string();
  for (int i = 0; i < cases; ++i) {
    // A fresh run per case, in a sweep of its own, so each ingest reads one file.
    const std::string sweep = fmt::format("fuzz{}", i);
    NewRun run;
    run.id = fmt::format("{:012x}", static_cast<uint64_t>(i));
    run.condition = "textless";
    run.n_params = 1000;
    run.tokens = 400;
    run.steps = 4;
    run.flops = 2.4e6;
    run.flops_per_token = 6000;
    run.config_json = "{}";
    store.InsertRuns(store.UpsertSweep(sweep, "# fuzz"), {run});
    std::vector<nlohmann::json> events = {
        {{"v", 1}, {"event", "start"}, {"time", 1.0}, {"worker", "slurm:1_0"}, {"attempt", 0}}};
    for (int step = 1; step <= 4; ++step) {
      events.push_back({{"v", 1},
                        {"event", "metric"},
                        {"step", step},
                        {"tokens", 100 * step},
                        {"name", "train/loss"},
                        {"value", 5.0 - 0.1 * step}});
      events.push_back({{"v", 1}, {"event", "progress"}, {"time", 1.0 + step}, {"step", step}});
    }
    events.push_back({{"v", 1},
                      {"event", "eval"},
                      {"step", 4},
                      {"task", "sblimp/speech"},
                      {"accuracy", 0.6},
                      {"n_pairs", 40}});
    events.push_back({{"v", 1},
                      {"event", rng() % 4 ? "done" : "failed"},
                      {"time", 9.0},
                      {"error", "diverged\nhint: lower lr"}});
    std::string valid;
    for (const nlohmann::json& e : events) valid += e.dump() + "\n";
    const std::string text = MutateText(valid, rng, false);
    const fs::path run_dir = RunDir(project, run.id);
    fs::create_directories(run_dir);
    const std::string path = EventsPath(run_dir);
    WriteBytes(path, text);
    ++stats.cases;
    try {
      const IngestSummary first = IngestEvents(store, project, sweep, 100.0, 60);
      const IngestSummary second = IngestEvents(store, project, sweep, 200.0, 60);
      if (second.metrics_inserted != 0 || second.evals_inserted != 0 || second.runs_done != 0) {
        Fail(stats, i, "a second ingest inserted again", text);
      }
      const int lines = static_cast<int>(Lines(text).size());
      if (first.metrics_inserted + first.evals_inserted > lines) {
        Fail(stats, i, "more rows than lines", text);
      }
      const int read = static_cast<int>(ReadEvents(path).size());
      int complete = 0;
      for (const std::string& l : Lines(text.substr(0, text.rfind('\n') + 1))) {
        complete += !l.empty();
      }
      stats.lines_skipped += std::max(0, complete - read);
      ++stats.accepted;
    } catch (const UserError& e) {
      Refused(stats, i, e.what(), path, text);
    } catch (const std::exception& e) {
      Fail(stats, i, std::string("not a UserError: ") + e.what(), text);
    }
    if (ReadBytes(path) != text) Fail(stats, i, "the events file changed", text);
  }
  CurrentLogLevel() = level;
  return stats;
}

}  // namespace sims::fuzz
