// `sims corpus generate|info|import` through the real binary: exit codes and output.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/test_support.h"

using sims::testing::TempDir;
using Catch::Matchers::Contains;

namespace {

struct Result {
  int exit_code;
  std::string out, err;
};

// `prefix` goes before the binary (a `cd`, environment variables).
Result Sims(const TempDir& dir, const std::string& args, const std::string& prefix = "") {
  const std::string out = dir.file("stdout"), err = dir.file("stderr");
  const int status = std::system(
      (prefix + std::string(SIMS_BINARY) + " " + args + " >" + out + " 2>" + err).c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  return {WEXITSTATUS(status), slurp(out), slurp(err)};
}

}  // namespace

TEST_CASE("sims corpus generate then info describes the corpus it wrote", "[corpus]") {
  TempDir dir;
  std::ofstream(dir.file("c.toml")) << "seed = 3\nvocab_size = 1024\n[size]\ntrain_tokens = 5000\n"
                                       "valid_tokens = 1000\ntest_tokens = 1000\neval_pairs = 10\n";
  const std::string corpus = dir.file("corpus");
  Result gen = Sims(dir, "corpus generate --config " + dir.file("c.toml") + " --out " + corpus);
  REQUIRE(gen.exit_code == 0);
  CHECK_THAT(gen.err, Contains("eval pairs"));

  Result info = Sims(dir, "corpus info " + corpus + " --format json");
  REQUIRE(info.exit_code == 0);
  const nlohmann::json j = nlohmann::json::parse(info.out);
  CHECK(j["vocab"]["vocab_size"] == 1024);
  CHECK(j["shards"].size() == 9);
  CHECK(j["eval"]["ssc/text2speech"] == 10);
  CHECK(j["speech_tokens_per_word"].get<double>() > 4);

  Result table = Sims(dir, "corpus info " + corpus);
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.out, Contains("interleaved") && Contains("dedup ratio"));

  Result again = Sims(dir, "corpus generate --config " + dir.file("c.toml") + " --out " + corpus);
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Contains("--force"));
}

TEST_CASE("sims corpus errors exit 1 with a one-line message", "[corpus]") {
  TempDir dir;
  Result info = Sims(dir, "corpus info " + dir.file("missing"));
  CHECK(info.exit_code == 1);
  CHECK_THAT(info.err, Contains("is not a sims corpus"));

  Result strict = Sims(dir, std::string("corpus import --strict --speech ") + SIMS_SOURCE_DIR +
                                "/tests/data/slamkit/malformed.jsonl --out " + dir.file("c"));
  CHECK(strict.exit_code == 1);
  CHECK_THAT(strict.err, Contains("malformed.jsonl:2:"));
  CHECK_FALSE(std::filesystem::exists(dir.file("c")));

  Result lenient = Sims(dir, std::string("corpus import --speech ") + SIMS_SOURCE_DIR +
                                 "/tests/data/slamkit/malformed.jsonl --out " + dir.file("c"));
  CHECK(lenient.exit_code == 0);
  CHECK_THAT(lenient.err, Contains("skipped") && Contains("malformed.jsonl:7:"));
  // 6 non-blank lines, 5 of them malformed: one line made it into the corpus.
  CHECK_THAT(lenient.err, Contains("imported 1 of 6 lines (5 skipped)"));
}

namespace {

// Runs `sims ARGS` in folder `cwd` with extra environment `env` ("NAME=value ..." or "").
Result SimsIn(const TempDir& dir, const std::string& cwd, const std::string& env,
              const std::string& args) {
  return Sims(dir, "--log-level warn " + args, "cd '" + cwd + "' && " + env + " ");
}

std::map<std::string, std::string> Files(const std::filesystem::path& folder) {
  std::map<std::string, std::string> files;
  if (!std::filesystem::is_directory(folder)) return files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(folder)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    files[std::filesystem::relative(e.path(), folder).string()] = s.str();
  }
  return files;
}

int Hidden(const std::filesystem::path& folder) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(folder)) {
    n += e.path().filename().string().starts_with(".");
  }
  return n;
}

const char* const kTinyCorpus =
    "vocab_size = 1024\n[size]\ntrain_tokens = 3000\nvalid_tokens = 500\ntest_tokens = 500\n"
    "eval_pairs = 4\n";

}  // namespace

TEST_CASE("sims corpus generate --out . refuses, and the folder's files survive", "[corpus]") {
  TempDir dir;
  std::ofstream(dir.file("c.toml")) << kTinyCorpus;
  std::ofstream(dir.file("notes.txt")) << "the user's notes";
  std::filesystem::create_directories(dir.path() / "sub");
  for (const std::string& out :
       std::vector<std::string>{".", "./", "..", dir.path().string() + "/"}) {
    CAPTURE(out);
    const std::string cwd = out == ".." ? dir.file("sub") : dir.path().string();
    for (const char* force : {"", " --force"}) {
      Result r = SimsIn(dir, cwd, "", "corpus generate --config " + dir.file("c.toml") +
                                          " --out " + out + force);
      CHECK(r.exit_code == 1);
      CHECK_THAT(r.err, Contains("current folder"));
    }
  }
  CHECK(std::filesystem::exists(dir.file("notes.txt")));
  CHECK(std::filesystem::exists(dir.file("c.toml")));
  CHECK(Hidden(dir.path()) == 0);
}

TEST_CASE("sims corpus generate --force never replaces a folder that is not a corpus",
          "[corpus]") {
  TempDir dir;
  std::ofstream(dir.file("c.toml")) << kTinyCorpus;
  std::filesystem::create_directories(dir.path() / "thesis");
  std::ofstream(dir.file("thesis/chapter1.tex")) << "precious";
  Result r = Sims(dir, "corpus generate --config " + dir.file("c.toml") + " --force --out " +
                           dir.file("thesis") + "/");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("not a sims corpus") && Contains("corpus.json"));
  CHECK(Files(dir.file("thesis")).size() == 1);
}

TEST_CASE("sims corpus generate and import take --out with a trailing slash", "[corpus]") {
  TempDir dir;
  std::ofstream(dir.file("c.toml")) << kTinyCorpus;
  Result fresh = Sims(dir, "corpus generate --config " + dir.file("c.toml") + " --out " +
                               dir.file("newcorpus") + "/");
  REQUIRE(fresh.exit_code == 0);
  CHECK(std::filesystem::exists(dir.file("newcorpus/corpus.json")));
  Result again = Sims(dir, "corpus generate --seed 9 --force --config " + dir.file("c.toml") +
                               " --out " + dir.file("newcorpus") + "/");
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(Files(dir.file("newcorpus")).at("corpus.json"), Contains("\"seed\": 9"));
  Result imported = Sims(dir, std::string("corpus import --speech ") + SIMS_SOURCE_DIR +
                                  "/tests/data/slamkit/speech.jsonl --force --out " +
                                  dir.file("newcorpus") + "/.");
  REQUIRE(imported.exit_code == 0);
  CHECK_THAT(Files(dir.file("newcorpus")).at("corpus.json"), Contains("\"import\""));
  CHECK(Hidden(dir.path()) == 0);
}

TEST_CASE("sims corpus generate --force killed at each rename leaves the old or the new corpus",
          "[corpus]") {
  const int kill_at = GENERATE(0, 1, 2);
  CAPTURE(kill_at);
  TempDir dir;
  std::ofstream(dir.file("c.toml")) << kTinyCorpus;
  const std::string gen = "corpus generate --config " + dir.file("c.toml");
  REQUIRE(Sims(dir, gen + " --seed 1 --out " + dir.file("corpus")).exit_code == 0);
  REQUIRE(Sims(dir, gen + " --seed 2 --out " + dir.file("reference")).exit_code == 0);
  const auto old_set = Files(dir.file("corpus")), new_set = Files(dir.file("reference"));
  REQUIRE(old_set != new_set);

  Result killed = SimsIn(dir, dir.path().string(), "SIMS_TEST_KILL_AT_RENAME=" +
                         std::to_string(kill_at), gen + " --seed 2 --force --out corpus");
  CHECK(killed.exit_code != 0);
  const auto after = Files(dir.file("corpus"));
  CHECK((after == old_set || after == new_set || (kill_at == 1 && after.empty())));

  // The next command recovers what the killed one left (and then refuses: no --force).
  Result next = Sims(dir, gen + " --seed 3 --out " + dir.file("corpus"));
  CHECK(next.exit_code == 1);
  CHECK(Files(dir.file("corpus")) == (kill_at == 2 ? new_set : old_set));
  CHECK(Hidden(dir.path()) == 0);
  CHECK(Sims(dir, "corpus info " + dir.file("corpus")).exit_code == 0);
}

TEST_CASE("a corpus.json field of the wrong type is exit 1 naming the file and key", "[corpus]") {
  TempDir dir;
  std::ofstream(dir.file("c.toml")) << kTinyCorpus;
  REQUIRE(Sims(dir, "corpus generate --config " + dir.file("c.toml") + " --out " +
                        dir.file("corpus")).exit_code == 0);
  const std::string manifest = dir.file("corpus/corpus.json");
  nlohmann::json j = nlohmann::json::parse(std::ifstream(manifest));
  SECTION("a string where a number belongs") { j["streams"][4]["words"] = "many"; }
  SECTION("a number where a string belongs") { j["source"] = 7; }
  SECTION("an object where an array belongs") { j["streams"] = nlohmann::json::object(); }
  std::ofstream(manifest) << j.dump(1);
  Result info = Sims(dir, "corpus info " + dir.file("corpus"));
  CHECK(info.exit_code == 1);
  CHECK_THAT(info.err, Contains(manifest + ": ") && Contains(" must be "));
}

TEST_CASE("sims corpus generate into a read-only folder is exit 1 naming the folder and the OS "
          "error", "[corpus]") {
  TempDir dir;
  std::ofstream(dir.file("c.toml")) << kTinyCorpus;
  // root writes through permission bits, so as root a kernel folder that refuses new entries
  // stands in for a read-only one.
  const bool root = ::geteuid() == 0;
  const std::filesystem::path parent = root ? std::filesystem::path("/sys") : dir.path() / "ro";
  if (!root) {
    std::filesystem::create_directories(parent);
    std::filesystem::permissions(parent, std::filesystem::perms::owner_read |
                                             std::filesystem::perms::owner_exec);
  }
  Result r = Sims(dir, "corpus generate --config " + dir.file("c.toml") + " --out " +
                           (parent / "corpus").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains((parent / ".corpus.tmp.").string()) &&
                        (Contains("denied") || Contains("not permitted")));
  if (!root) std::filesystem::permissions(parent, std::filesystem::perms::owner_all);
}

TEST_CASE("sims corpus import rejects --valid-fraction nan and an end time of 1e8 s with exit 1",
          "[corpus]") {
  TempDir dir;
  Result nan = Sims(dir, std::string("corpus import --valid-fraction nan --speech ") +
                             SIMS_SOURCE_DIR + "/tests/data/slamkit/speech.jsonl --out " +
                             dir.file("c"));
  CHECK(nan.exit_code == 1);
  CHECK_THAT(nan.err, Contains("--valid-fraction nan"));

  std::ofstream(dir.file("s.jsonl"))
      << R"({"file_name": "a", "units": [1, 2, 3], "aligned_text": [["hi", 0, 1e8]]})" << "\n";
  Result late = Sims(dir, "corpus import --strict --speech " + dir.file("s.jsonl") + " --out " +
                              dir.file("c"));
  CHECK(late.exit_code == 1);
  CHECK_THAT(late.err, Contains(dir.file("s.jsonl") + ":1: aligned_text[0]"));
}
