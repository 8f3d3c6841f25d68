// A damaged sims database: seeded byte flips and truncations of a real database (an import of
// the Marin IsoFLOP CSV), read by `sims status` and `sims export`. Each command either answers or
// refuses with exit 1 naming the file; never a crash or an internal error, and a refused file
// is left byte-identical.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "tests/test_support.h"

namespace {

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Exit status of the sims binary with `args`; its stderr in `err`.
int Sims(const std::string& args, const std::string& err_path, std::string& err) {
  const std::string command =
      std::string("\"") + SIMS_BINARY + "\" " + args + " > /dev/null 2> \"" + err_path + "\"";
  const int status = std::system(command.c_str());
  err = Bytes(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("a damaged database is read or refused naming the file, never crashes", "[results][fuzz]") {
  sims::testing::TempDir dir;
  const std::string good = dir.file("good.db"), err_path = dir.file("err");
  std::string err;
  REQUIRE(Sims("--db \"" + good + "\" import " SIMS_SOURCE_DIR
               "/tests/data/isoflops_marin_misfitting.csv --sweep marin --where dataset=comma",
               err_path, err) == 0);
  // Fold the WAL into the file so that every byte of the database is in the one file we damage.
  REQUIRE(std::system(("sqlite3 \"" + good + "\" 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null").c_str()) == 0);
  const std::string original = Bytes(good);
  REQUIRE(original.size() > 4096);

  std::mt19937_64 rng(20261202);
  int answered = 0, refused = 0;
  // 30 cases: each is two runs of the sims binary, whose start-up (LibTorch) dominates.
  for (int i = 0; i < 30; ++i) {
    std::string damaged = original;
    if (i % 4 == 3) {
      damaged.resize(rng() % damaged.size());  // a copy cut short
    } else {
      for (int k = 0, flips = 1 + static_cast<int>(rng() % 8); k < flips; ++k) {
        damaged[rng() % damaged.size()] = static_cast<char>(rng());
      }
    }
    const std::string path = dir.file("case" + std::to_string(i) + ".db");
    std::ofstream(path, std::ios::binary) << damaged;
    for (const char* command : {"status --sweep marin", "export --table metrics --sweep marin"}) {
      CAPTURE(i, command);
      const int status = Sims("--db \"" + path + "\" " + command, err_path, err);
      INFO(err);
      REQUIRE((status == 0 || status == 1));
      if (status == 1) {
        ++refused;
        CHECK(err.find(path) != std::string::npos);
        CHECK(Bytes(path) == damaged);
      } else {
        ++answered;
      }
    }
  }
  CHECK(answered > 0);  // most flips land in data pages: the database still reads
  CHECK(refused > 0);   // and some break the header or a b-tree page
}
