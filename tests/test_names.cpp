// Names and the text they become: the naming rule (common/names.h) at every entry — sweep
// files, CLI flags, events files — and the quoting of names in the Slurm batch script, the
// gnuplot scripts and the file paths made from them. Hostile names are the ones an adversarial
// pass used: a newline, a quote, $(), a backtick, '/', "..".
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/names.h"
#include "orchestrator/cli/fit_inputs.h"
#include "orchestrator/queue/ingest.h"
#include "orchestrator/report/gnuplot.h"
#include "orchestrator/queue/slurm.h"
#include "results/store.h"
#include "sweeps/plan.h"
#include "tests/test_support.h"

extern char** environ;

namespace fs = std::filesystem;
using namespace sims;

namespace {

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

struct Exit {
  int code = -1;
  std::string err;
};

// Runs `program args...` with no shell in between (so hostile arguments reach it as they are),
// in `cwd`, stdout to /dev/null and stderr captured (through a file in `scratch`).
Exit Spawn(const std::vector<std::string>& args, const fs::path& cwd, const fs::path& scratch) {
  const fs::path err = scratch / "stderr.txt";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, ReadFile(err)};
}

Exit Sims(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {SIMS_BINARY, "--db", (dir / "sims.db").string()});
  return Spawn(args, dir, dir);
}

const std::string kMarin = SIMS_SOURCE_DIR "/tests/data/isoflops_marin_misfitting.csv";

}  // namespace

TEST_CASE("size labels, example names and run ids are valid names", "[names]") {
  auto name = GENERATE(as<std::string>{}, "textless", "interleaved", "interleaved-scratch",
                       "demo-cpu", "demo-cpu-tiny", "sims-paper", "text-lm", "1.5B", "200k", "3.4k",
                       "L4-d128", "1e+06B", "a_b", "12c0422c498a", "marin", "comma");
  CAPTURE(name);
  CHECK(NameProblem(name).empty());
  CHECK_NOTHROW(ValidateName(NameKind::kCondition, name, "here"));
}

TEST_CASE("a name with a newline, quote, $(), backtick, '/' or '..' is refused, saying why",
          "[names]") {
  auto [name, why] = GENERATE(table<std::string, std::string>({
      {"a\nb", "contains a newline"},
      {"s\ntouch X\n#", "contains a newline"},
      {"it's", "contains a quote (')"},
      {"say\"hi\"", "contains a quote (\")"},
      {"x$(touch X)", "contains '$'"},
      {"x`touch X`", "contains a backtick"},
      {"a/b", "contains '/'"},
      {"../../x", "contains '/'"},
      {"..", "starts with '.'"},
      {".hidden", "starts with '.'"},
      {"-rf", "starts with '-'"},
      {"", "is empty"},
      {"a b", "contains a space"},
      {"tab\there", "contains a tab"},
      {"caf\xc3\xa9", "contains a non-ASCII byte"},
      {std::string(65, 'a'), "more than 64"},
  }));
  CAPTURE(name);
  try {
    ValidateName(NameKind::kCondition, name, "sweep.toml:7: condition[1].name");
    FAIL("accepted");
  } catch (const UserError& e) {
    const std::string message = e.what();
    CHECK(message.rfind("sweep.toml:7: condition[1].name: condition name \"", 0) == 0);
    CHECK_THAT(message, Catch::Contains(why));
    CHECK_THAT(message, Catch::Contains("names are 1-64 characters"));
    // The value is printed escaped: the first line of the message is the whole diagnosis.
    CHECK(message.find('\n') > message.find(why));
  }
}

TEST_CASE("a path made from a name stays a direct child of its folder", "[names]") {
  CHECK(PathForName("/p/slurm", NameKind::kSweep, "demo", "-1-level0.sh", "slurm") ==
        fs::path("/p/slurm/demo-1-level0.sh"));
  CHECK_THROWS_AS(PathForName("/p/runs", NameKind::kRun, "../x", "", "run"), UserError);
  CHECK_THROWS_AS(PathForName("/p/runs", NameKind::kRun, "..", "", "run"), UserError);
  CHECK_THROWS_AS(PathForName("/p/runs", NameKind::kRun, "ok", "/../../x", "run"), UserError);
  CHECK_THROWS_WITH(RunDir("/p", "../../etc"), Catch::Contains("run id name \"../../etc\""));
}

TEST_CASE(
    "a sweep file's hostile condition, sweep or size label names are refused with file "
    "and line",
    "[names][sweeps]") {
  const std::string base = ReadFile(SIMS_SOURCE_DIR "/examples/demo-cpu-tiny.toml");
  auto [from, to, key] = GENERATE(table<std::string, std::string, std::string>({
      {"name = \"textless\"", "name = \"a\\nb\"", "condition[0].name"},
      {"name = \"textless\"", "name = \"../../x\"", "condition[0].name"},
      {"name = \"demo-cpu-tiny\"", "name = \"s\\ntouch X\\n#\"", "sweep.name"},
      {"name = \"demo-cpu-tiny\"", "name = \"$(touch X)\"", "sweep.name"},
  }));
  CAPTURE(to);
  const size_t at = base.find(from);
  REQUIRE(at != std::string::npos);
  std::string text = base;
  text.replace(at, from.size(), to);
  try {
    PlanSweep(ParseSweep(text, "tiny.toml"));
    FAIL("planned");
  } catch (const UserError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("tiny.toml:") && Catch::Contains(key + ": ") &&
                             Catch::Contains("names are 1-64 characters"));
  }
}

TEST_CASE("the Slurm batch script passes every user word to the worker as one argument",
          "[names][slurm]") {
  sims::testing::TempDir dir;
  // The binary and the database live under a folder whose name holds a quote, $() and a
  // backtick; the "worker" records its arguments, one per line.
  const fs::path hostile = dir.path() / "it's $(touch PWNED) `touch PWNED2`";
  fs::create_directories(hostile);
  const fs::path exe = hostile / "fake-sims";
  WriteFile(exe, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGS_OUT\"\n");
  fs::permissions(exe, fs::perms::owner_all);
  SlurmOptions options;
  options.device = "cuda; touch PWNED3";
  const std::string db = (hostile / "sims.db").string();
  const std::string script =
      SlurmScript("demo-cpu", 0, {"aaaaaaaaaaaa", "bbbbbbbbbbbb"}, exe.string(), db, options);
  CHECK(std::count(script.begin(), script.end(), '\n') == 4);  // shebang, comment, ids, exec
  WriteFile(dir.path() / "job.sh", script);

  const std::string args_out = (dir.path() / "args.txt").string();
  ::setenv("ARGS_OUT", args_out.c_str(), 1);
  ::setenv("SLURM_ARRAY_TASK_ID", "1", 1);
  const Exit run = Spawn({"/bin/bash", (dir.path() / "job.sh").string()}, dir.path(), dir.path());
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  CAPTURE(script, run.err);
  REQUIRE(run.code == 0);
  CHECK(ReadFile(args_out) == "--db\n" + db +
                                  "\nworker\n--events\n--run\nbbbbbbbbbbbb\n--device\ncuda; touch "
                                  "PWNED3\n--threads\n1\n--heartbeat\n30\n--lease\n60\n");
  for (const char* file : {"PWNED", "PWNED2", "PWNED3"}) CHECK_FALSE(fs::exists(dir.path() / file));

  // Two ranks: srun starts the same command (a stand-in srun drops its flag and runs it), with
  // the store's address exported.
  const std::string two = SlurmScript("demo-cpu", 0, {"aaaaaaaaaaaa", "bbbbbbbbbbbb"}, exe.string(),
                                      db, options, /*ranks=*/2);
  CHECK_THAT(two, Catch::Contains("exec srun --kill-on-bad-exit=1 "));
  WriteFile(dir.path() / "job2.sh", two);
  WriteFile(dir.path() / "srun", "#!/bin/sh\nshift\nexec \"$@\"\n");
  fs::permissions(dir.path() / "srun", fs::perms::owner_all);
  const std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (dir.path().string() + ":" + old_path).c_str(), 1);
  ::setenv("SLURM_ARRAY_TASK_ID", "0", 1);
  ::setenv("SLURM_JOB_ID", "41", 1);
  const Exit run2 = Spawn({"/bin/bash", (dir.path() / "job2.sh").string()}, dir.path(), dir.path());
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_JOB_ID");
  ::setenv("PATH", old_path.c_str(), 1);
  CAPTURE(two, run2.err);
  REQUIRE(run2.code == 0);
  CHECK(ReadFile(args_out) == "--db\n" + db +
                                  "\nworker\n--events\n--run\naaaaaaaaaaaa\n--device\ncuda; touch "
                                  "PWNED3\n--threads\n1\n--heartbeat\n30\n--lease\n60\n");
  for (const char* file : {"PWNED", "PWNED2", "PWNED3"}) CHECK_FALSE(fs::exists(dir.path() / file));

  CHECK_THROWS_WITH(SlurmScript("s\ntouch X\n#", 0, {"aaaaaaaaaaaa"}, exe.string(), db, options),
                    Catch::Contains("contains a newline"));
  CHECK_THROWS_WITH(SlurmScript("ok", 0, {"a'b"}, exe.string(), db, options),
                    Catch::Contains("run id name"));
}

TEST_CASE("a sweep named with a newline or ../ never reaches Slurm or a file", "[names][slurm]") {
  sims::testing::TempDir dir;
  const fs::path project = dir.path() / "project";
  fs::create_directories(project);
  Store store = Store::Open((project / "sims.db").string());
  for (const std::string sweep : {"s\ntouch X\n#", "../../x"}) {
    CAPTURE(sweep);
    // Refused before squeue or sbatch is asked (none is installed here) and before any write.
    CHECK_THROWS_WITH(SubmitSlurm(store, (project / "sims.db").string(), sweep, {}),
                      Catch::StartsWith("slurm: --sweep: sweep name"));
  }
  CHECK_FALSE(fs::exists(project / "slurm"));
  CHECK_FALSE(fs::exists(dir.path() / "x"));
}

TEST_CASE("a gnuplot script holds user text only inside single quotes", "[names][report]") {
  report::PlotSpec spec;
  spec.stem = "isoflop_ok";
  spec.xlabel = "N";
  spec.ylabel = "loss";
  spec.data.push_back({"b0", {{1e6, 3.0}, {2e6, 2.9}}});
  spec.plot = "$b0 using 1:2 with points title 'x'";
  spec.title = "plain";
  const std::string plain = report::GnuplotScript(spec);
  spec.title = "a'\nsystem(\"touch PWNED\")\n`touch PWNED2` @x\r";
  const std::string hostile = report::GnuplotScript(spec);
  // The same number of lines: no text from the title starts a command of its own.
  CHECK(std::count(hostile.begin(), hostile.end(), '\n') ==
        std::count(plain.begin(), plain.end(), '\n'));
  CHECK_THAT(hostile,
             Catch::Contains("set title 'a'' system(\"touch PWNED\") `touch PWNED2` @x ' font"));

  // And gnuplot, run on it, executes nothing.
  sims::testing::TempDir dir;
  const report::PlotFiles files = report::RenderPlot(spec, dir.path().string());
  CHECK(fs::file_size(files.svg) > 0);
  CHECK_FALSE(fs::exists(dir.path() / "PWNED"));
  CHECK_FALSE(fs::exists(dir.path() / "PWNED2"));
}

TEST_CASE("every CLI flag that takes a name refuses a hostile one with exit 1 and a message",
          "[names][cli]") {
  sims::testing::TempDir dir;
  using Args = std::vector<std::string>;
  auto [args, why] = GENERATE_COPY(table<Args, std::string>({
      {{"import", kMarin, "--sweep", "s\ntouch X\n#"}, "contains a newline"},
      {{"import", kMarin, "--sweep", "../../x"}, "contains '/'"},
      {{"import", kMarin, "--sweep", "ok", "--condition", "a'b"}, "contains a quote"},
      {{"status", "--sweep", "$(touch X)"}, "contains '$'"},
      {{"status", "--condition", "`touch X`"}, "contains a backtick"},
      {{"ingest", "--sweep", ".."}, "starts with '.'"},
      {{"export", "runs", "--sweep", "a/b"}, "contains '/'"},
      {{"fit", "--sweep", "a\nb"}, "contains a newline"},
      {{"fit", "--sweep", "ok", "--condition", "a\nb"}, "contains a newline"},
      {{"compare", "--sweep", "ok", "--conditions", "a/b,c"}, "contains '/'"},
      {{"recommend", "--budget", "1e21", "--condition", "a\nb"}, "contains a newline"},
      {{"report", "--sweep", "../x"}, "contains '/'"},
      {{"report", "--sweep", "ok", "--condition", "a\"b"}, "contains a quote"},
      {{"runs", "retry", "../../x"}, "contains '/'"},
      {{"runs", "cancel", "a\nb"}, "contains a newline"},
      {{"run", "--sweep", "a b"}, "contains a space"},
  }));
  CAPTURE(args);
  const Exit e = Sims(dir.path(), args);
  CHECK(e.code == 1);
  CHECK_THAT(e.err, Catch::Contains(why) && Catch::Contains("names are 1-64 characters"));
  CHECK_FALSE(fs::exists(dir.path() / "X"));
}

TEST_CASE("an unknown subcommand is named with the valid ones, exit 1", "[cli]") {
  sims::testing::TempDir dir;
  const Exit e = Sims(dir.path(), {"frobnicate"});
  CHECK(e.code == 1);
  CHECK_THAT(e.err, Catch::Contains("unknown subcommand \"frobnicate\"") &&
                        Catch::Contains("plan, run,") && Catch::Contains("report, bench"));
  CHECK_THAT(e.err, !Catch::Contains("A subcommand is required"));
  // After a global option too; and no word at all still asks for a subcommand.
  CHECK_THAT(Sims(dir.path(), {"--log-level", "warn", "frobnicate"}).err,
             Catch::Contains("unknown subcommand \"frobnicate\""));
  const Exit option = Sims(dir.path(), {"--frobnicate"});
  CHECK(option.code == 1);
  CHECK_THAT(option.err, Catch::Contains("unknown option \"--frobnicate\"") &&
                             !Catch::Contains("subcommand \"--frobnicate\""));
  const Exit none = Sims(dir.path(), {});
  CHECK(none.code == 1);
  CHECK_THAT(none.err, Catch::Contains("A subcommand is required"));
}

TEST_CASE("a token count past 2^63 in an imported CSV is refused naming file, line and column",
          "[names][cli]") {
  sims::testing::TempDir dir;
  const fs::path csv = dir.path() / "big.csv";
  WriteFile(csv, "params,tokens,budget,loss\n1e8,2e9,1.2e18,3.1\n1e8,1e30,1.2e18,3.0\n");
  const Exit e = Sims(dir.path(), {"import", csv.string(), "--sweep", "big"});
  CHECK(e.code == 1);
  CHECK_THAT(e.err, Catch::Contains(csv.string() + ":3: column 'tokens': 1e+30"));
  // Nothing was imported (the check runs before any write): there is not even a database.
  CHECK_FALSE(fs::exists(dir.path() / "sims.db"));
  const Exit status = Sims(dir.path(), {"status", "--sweep", "big", "--format", "csv"});
  CHECK(status.code == 1);
  CHECK_THAT(status.err, Catch::Contains("does not exist"));
}

TEST_CASE(
    "a mistyped events line is skipped with its file and line, and ingest and status still "
    "answer",
    "[names][orchestrator]") {
  sims::testing::TempDir dir;
  std::string id;
  {
    Store store = Store::Open(dir.file("sims.db"));
    const int64_t sweep = store.UpsertSweep("s", "# test");
    NewRun run;
    run.id = "0123456789ab";
    run.condition = "textless";
    run.n_params = 1000;
    run.tokens = 100;
    run.steps = 2;
    run.flops = 6e5;
    run.flops_per_token = 6000;
    run.config_json = "{}";
    store.InsertRuns(sweep, {run});
    id = run.id;
  }
  const fs::path run_dir = RunDir(dir.path().string(), id);
  fs::create_directories(run_dir);
  const std::string events =
      R"({"v":1,"event":"start","time":1,"worker":"slurm:1_0"})"
      "\n"
      R"({"v":1,"event":"metric","step":1,"tokens":50,"name":"train/loss","value":5.5})"
      "\n"
      R"({"v":1,"event":"metric","step":"two","tokens":100,"name":"train/loss","value":5})"
      "\n"
      R"({"v":1,"event":"metric","step":2,"tokens":1e30,"name":"train/loss","value":5})"
      "\n"
      R"({"v":"1","event":"eval","step":2,"task":"x","accuracy":0.5,"n_pairs":4})"
      "\n"
      R"({"v":1,"event":"done","time":2})"
      "\n";
  WriteFile(EventsPath(run_dir), events);

  const Exit ingest = Sims(dir.path(), {"ingest"});
  CHECK(ingest.code == 0);
  const std::string path = EventsPath(run_dir);
  CHECK_THAT(ingest.err, Catch::Contains(path + ":3: skipped: \"step\" is \"two\""));
  CHECK_THAT(ingest.err, Catch::Contains(path + ":4: skipped: \"tokens\""));
  CHECK_THAT(ingest.err, Catch::Contains(path + ":5: skipped: \"v\""));
  CHECK(ReadFile(path) == events);  // read, never rewritten
  {
    Store store = Store::Open(dir.file("sims.db"));
    CHECK(store.GetRun(id)->status == RunStatus::kDone);
    CHECK(store.Metrics(id, "train/loss").size() == 1);
  }
  CHECK(Sims(dir.path(), {"status"}).code == 0);
  CHECK(Sims(dir.path(), {"ingest"}).code == 0);  // again: nothing counted twice
  Store store = Store::Open(dir.file("sims.db"));
  CHECK(store.Metrics(id, "train/loss").size() == 1);

  // An events file of a newer format stops ingest with file and line, but status answers.
  WriteFile(path, events + R"({"v":99,"event":"done","time":3})"
                           "\n");
  const Exit newer = Sims(dir.path(), {"ingest"});
  CHECK(newer.code == 1);
  CHECK_THAT(newer.err, Catch::Contains(path + ":7: version 99"));
  CHECK(Sims(dir.path(), {"status"}).code == 0);
}

TEST_CASE("the user guide's Marin commands import, fit and report the real CSV", "[report][cli]") {
  // docs/user-guide.md section 5, as written, run from the source tree's root (the CSV path is
  // relative to it); only --out points into a temporary folder.
  sims::testing::TempDir dir;
  const std::string db = dir.file("sims.db");
  auto guide = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {SIMS_BINARY, "--db", db});
    const Exit e = Spawn(args, SIMS_SOURCE_DIR, dir.path());
    CAPTURE(args, e.err);
    CHECK(e.code == 0);
  };
  const std::string csv = "tests/data/isoflops_marin_misfitting.csv";
  guide({"fit", "--data", csv, "--where", "dataset=comma", "--drop-outliers", "--approach", "2"});
  guide({"import", csv, "--sweep", "marin", "--condition", "comma", "--where", "dataset=comma",
         "--drop-outliers"});
  guide({"import", csv, "--sweep", "marin", "--condition", "dclm", "--where", "dataset=dclm",
         "--drop-outliers"});
  guide({"report", "--sweep", "marin", "--out", dir.file("marin-report")});
  const std::string md = ReadFile(dir.path() / "marin-report" / "report.md");
  // Imported runs have no training curves: that section is a note, the rest is drawn.
  CHECK_THAT(md, Catch::Contains("Training curves — left out: no run has a train/loss curve"));
  CHECK(fs::exists(dir.path() / "marin-report" / "plots" / "isoflop_comma.svg"));
  CHECK(fs::exists(dir.path() / "marin-report" / "plots" / "n_opt.svg"));
  CHECK_FALSE(fs::exists(dir.path() / "marin-report" / "plots" / "curves_comma.svg"));
}

TEST_CASE("a report of a sweep with two runs renders, leaving out what cannot be fitted",
          "[report][cli]") {
  sims::testing::TempDir dir;
  const std::string text = ReadFile(kMarin);
  std::istringstream lines(text);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  WriteFile(dir.path() / "two.csv", header + "\n" + first + "\n" + second + "\n");
  REQUIRE(Sims(dir.path(), {"import", "two.csv", "--sweep", "two"}).code == 0);
  const Exit report = Sims(dir.path(), {"report", "--sweep", "two", "--out", "out"});
  CAPTURE(report.err);
  REQUIRE(report.code == 0);
  const std::string md = ReadFile(dir.path() / "out" / "report.md");
  CHECK_THAT(md, Catch::Contains("Compute-optimal model size against compute — left out"));
  CHECK(fs::exists(dir.path() / "out" / "plots" / "loss_vs_compute.svg"));
}
