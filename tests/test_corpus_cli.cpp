// `sims corpus generate|info|import` through the real binary: exit codes and output.
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

Result Sims(const TempDir& dir, const std::string& args) {
  const std::string out = dir.file("stdout"), err = dir.file("stderr");
  const int status = std::system((std::string(SIMS_BINARY) + " " + args + " >" + out + " 2>" + err).c_str());
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
}
