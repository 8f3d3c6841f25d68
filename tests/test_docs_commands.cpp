// Every command block of README.md and docs/*.md is either run here or says why not, so the docs
// cannot drift from the binary. The convention (docs/layout.md#docs-whose-commands-are-checked):
// every fenced block names its language; a command block is ```sh and the line just above it is
//   <!-- check: run -->              run here, in order with the file's other runnable blocks
//   <!-- check: run-torch -->        the same, when sims is built with the trainer
//   <!-- check: skip: REASON -->     not run here (GPU, cluster, minutes of training), and why
// docs/cli.md is --help output, checked by test_report_cli_doc.cpp.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;

enum class Check { kNone, kRun, kRunTorch, kSkip };

struct Block {
  std::string file;  // relative to the source tree
  int line = 0;      // of the opening fence
  std::string language;
  Check check = Check::kNone;
  std::string marker;  // the marker line as written ("" if none)
  std::string text;
};

const char* const kCommandLanguages[] = {"sh", "bash", "shell", "console"};

bool IsCommand(const Block& b) {
  return std::find(std::begin(kCommandLanguages), std::end(kCommandLanguages), b.language) !=
         std::end(kCommandLanguages);
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "<!-- check: X -->" -> X, or "" when the line is no marker.
std::string MarkerBody(const std::string& line) {
  const std::string t = Trim(line), open = "<!-- check:", close = "-->";
  if (t.rfind(open, 0) != 0 || t.size() < open.size() + close.size() ||
      t.compare(t.size() - close.size(), close.size(), close) != 0) {
    return "";
  }
  return Trim(t.substr(open.size(), t.size() - open.size() - close.size()));
}

Check ParseCheck(const std::string& body) {
  if (body == "run") return Check::kRun;
  if (body == "run-torch") return Check::kRunTorch;
  if (body.rfind("skip:", 0) == 0 && !Trim(body.substr(5)).empty()) return Check::kSkip;
  return Check::kNone;
}

std::vector<Block> Blocks(const std::string& relative) {
  std::ifstream in(fs::path(SIMS_SOURCE_DIR) / relative);
  REQUIRE(in);
  std::vector<Block> blocks;
  std::string line, previous;
  bool in_block = false;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string t = Trim(line);
    if (t.rfind("```", 0) == 0) {
      if (in_block) {
        in_block = false;
      } else {
        in_block = true;
        Block b;
        b.file = relative;
        b.line = n;
        b.language = Trim(t.substr(3));
        const std::string body = MarkerBody(previous);
        if (!body.empty()) b.marker = Trim(previous);
        b.check = ParseCheck(body);
        blocks.push_back(b);
      }
    } else if (in_block) {
      blocks.back().text += line + "\n";
    }
    previous = line;
  }
  REQUIRE_FALSE(in_block);
  return blocks;
}

std::vector<std::string> DocFiles() {
  std::vector<std::string> files = {"README.md"};
  for (const auto& entry : fs::directory_iterator(fs::path(SIMS_SOURCE_DIR) / "docs")) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".md" && name != "cli.md") files.push_back("docs/" + name);
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct Ran {
  int status = 0;
  std::string output;
};

Ran RunScript(const fs::path& dir, const fs::path& script) {
  const std::string command = "cd '" + dir.string() + "' && PATH='" +
                              fs::path(SIMS_BINARY).parent_path().string() + "':\"$PATH\" SIMS='" +
                              SIMS_SOURCE_DIR + "' bash '" + script.string() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe);
  Ran r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  r.status = pclose(pipe);
  return r;
}

}  // namespace

TEST_CASE("every fenced block in README.md and docs/*.md names its language, and every command "
          "block says whether it is run",
          "[docs]") {
  int commands = 0;
  for (const std::string& file : DocFiles()) {
    for (const Block& b : Blocks(file)) {
      CAPTURE(b.file, b.line, b.marker);
      INFO("hint: commands are ```sh under <!-- check: run --> or <!-- check: skip: REASON -->; "
           "output and diagrams are ```text (docs/layout.md#docs-whose-commands-are-checked)");
      CHECK_FALSE(b.language.empty());
      if (IsCommand(b)) {
        ++commands;
        CHECK(b.check != Check::kNone);
      } else {
        CHECK(b.marker.empty());  // a marker above a block that is not a command block
      }
    }
  }
  CHECK(commands >= 30);  // the parser found the blocks (there were 46 when this was written)
}

TEST_CASE("the runnable command blocks of README.md and docs/*.md run as written", "[docs]") {
  const fs::path source = SIMS_SOURCE_DIR;
  int ran = 0;
  for (const std::string& file : DocFiles()) {
    // One directory per page: a page's blocks run in order, as a reader follows them, with the
    // source tree's examples/ and tests/ (the published CSVs, the fixtures) beside them.
    sims::testing::TempDir dir;
    for (const char* shared : {"examples", "tests", "bench"}) {
      fs::create_directory_symlink(source / shared, dir.path() / shared);
    }
    fs::create_directory_symlink(fs::path(SIMS_BINARY).parent_path(), dir.path() / "build");
    int index = 0;
    for (const Block& b : Blocks(file)) {
      if (!IsCommand(b) || b.check == Check::kSkip || b.check == Check::kNone) continue;
      if (b.check == Check::kRunTorch && !SIMS_HAS_TRAINER) continue;
      const fs::path script = dir.path() / (".block-" + std::to_string(++index) + ".sh");
      std::ofstream(script) << "set -euo pipefail\n" << b.text;
      const Ran r = RunScript(dir.path(), script);
      ++ran;
      CAPTURE(b.file, b.line, b.text);
      INFO("output:\n" << r.output);
      CHECK(r.status == 0);
    }
  }
  CHECK(ran >= 5);
}
