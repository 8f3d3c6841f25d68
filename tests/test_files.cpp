// common/files.h: folders replaced whole (StagedFolder), what may be replaced, and what a process
// killed at each rename leaves behind (the SIMS_TEST_KILL_AT_RENAME seam, in a forked child).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "common/error.h"
#include "common/files.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using sims::StagedFolder;
using sims::StagedFolderOptions;
using sims::testing::TempDir;
using Catch::Matchers::Contains;

namespace {

// Every regular file under `dir` (relative name -> content): a folder's whole state.
std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    files[fs::relative(entry.path(), dir).string()] = content.str();
  }
  return files;
}

// Hidden siblings `.NAME.*` of `target`.
std::vector<std::string> Leftovers(const fs::path& target) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(target.parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("." + target.filename().string() + ".")) found.push_back(name);
  }
  return found;
}

// A folder this test "owns": it has an OURS marker file.
StagedFolderOptions Ours(bool replace) {
  StagedFolderOptions o;
  o.what = "thing";
  o.replace = replace;
  o.is_ours = [](const std::string& dir) { return fs::exists(fs::path(dir) / "OURS"); };
  o.is_ours_rule = "it has no OURS file";
  return o;
}

// Writes a complete folder `generation` (three files that name it) at `target` via StagedFolder.
void WriteGeneration(const fs::path& target, const std::string& generation) {
  StagedFolder staged(target.string(), Ours(true));
  const fs::path dir = staged.path();
  std::ofstream(dir / "OURS") << generation;
  fs::create_directories(dir / "plots");
  std::ofstream(dir / "a.txt") << "a of " << generation;
  std::ofstream(dir / "plots" / "b.txt") << "b of " << generation;
  staged.Commit();
}

// A PID that is certainly not running: a child that has exited and been reaped.
long DeadPid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return static_cast<long>(child);
}

// Runs WriteGeneration in a forked child with SIMS_TEST_KILL_AT_RENAME=kill_at; returns
// whether the child died of SIGKILL.
bool KilledWhileWriting(const fs::path& target, const std::string& generation, int kill_at) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::setenv(sims::kKillAtRenameVariable, std::to_string(kill_at).c_str(), 1);
    try {
      WriteGeneration(target, generation);
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace

TEST_CASE("a staged folder replaces the old one whole and leaves nothing hidden behind",
          "[files]") {
  TempDir dir;
  const fs::path target = dir.path() / "out";
  WriteGeneration(target, "old");
  WriteGeneration(target, "new");
  CHECK(Snapshot(target).at("OURS") == "new");
  CHECK(Snapshot(target).size() == 3);
  CHECK(Leftovers(target).empty());
}

TEST_CASE("a staged folder that is never committed leaves the old folder and no temporary",
          "[files]") {
  TempDir dir;
  const fs::path target = dir.path() / "out";
  WriteGeneration(target, "old");
  {
    StagedFolder staged(target.string(), Ours(true));
    std::ofstream(fs::path(staged.path()) / "OURS") << "half";
  }
  CHECK(Snapshot(target).at("OURS") == "old");
  CHECK(Leftovers(target).empty());
}

TEST_CASE("folder paths are normalised: a trailing slash, '.' and '..' name the same folder",
          "[files]") {
  TempDir dir;
  const std::string plain = (dir.path() / "out").string();
  CHECK(sims::NormalizeFolderPath(plain + "/") == plain);
  CHECK(sims::NormalizeFolderPath(plain + "//") == plain);
  CHECK(sims::NormalizeFolderPath(plain + "/.") == plain);
  CHECK(sims::NormalizeFolderPath((dir.path() / "x" / ".." / "out").string()) == plain);

  // A trailing slash writes the folder itself, not something inside it.
  WriteGeneration(plain + "/", "old");
  WriteGeneration(plain + "/", "new");
  CHECK(Snapshot(plain).at("OURS") == "new");
  CHECK(Snapshot(plain).size() == 3);
  CHECK(Leftovers(plain).empty());
}

TEST_CASE("the current folder and its ancestors are never an output folder, and survive",
          "[files]") {
  TempDir dir;
  fs::create_directories(dir.path() / "work" / "inner");
  std::ofstream(dir.path() / "work" / "OURS") << "looks like ours";
  std::ofstream(dir.path() / "work" / "notes.txt") << "the user's notes";
  const fs::path before = fs::current_path();
  fs::current_path(dir.path() / "work" / "inner");
  for (const std::string& out :
       std::vector<std::string>{".", "./", "..", "../", (dir.path() / "work").string(), "/"}) {
    CAPTURE(out);
    CHECK_THROWS_WITH(StagedFolder(out, Ours(true)), Contains("current folder"));
  }
  fs::current_path(before);
  CHECK(fs::exists(dir.path() / "work" / "notes.txt"));
  CHECK(fs::exists(dir.path() / "work" / "inner"));
  CHECK(Leftovers(dir.path() / "work").empty());
}

TEST_CASE("a non-empty folder that is not ours is refused even with replace, and survives",
          "[files]") {
  TempDir dir;
  const fs::path target = dir.path() / "photos";
  fs::create_directories(target);
  std::ofstream(target / "holiday.jpg") << "precious";
  for (bool replace : {false, true}) {
    CAPTURE(replace);
    CHECK_THROWS_WITH(StagedFolder(target.string(), Ours(replace)),
                      Contains("photos") && Contains("not a sims thing") &&
                          Contains("it has no OURS file"));
  }
  CHECK(Snapshot(target).at("holiday.jpg") == "precious");
  CHECK(Leftovers(target).empty());

  SECTION("one of ours is replaced only when asked") {
    WriteGeneration(dir.path() / "ours", "old");
    CHECK_THROWS_WITH(StagedFolder((dir.path() / "ours").string(), Ours(false)),
                      Contains("--force"));
  }
  SECTION("a file is not a folder") {
    std::ofstream(dir.path() / "file") << "x";
    CHECK_THROWS_WITH(StagedFolder((dir.path() / "file").string(), Ours(true)),
                      Contains("not a folder"));
  }
}

TEST_CASE("a folder in a read-only parent is a UserError naming the folder and the OS error",
          "[files]") {
  TempDir dir;
  // root writes through permission bits, so as root a kernel folder that refuses new entries
  // stands in for a read-only one.
  const bool root = ::geteuid() == 0;
  const fs::path parent = root ? fs::path("/sys") : dir.path() / "ro";
  if (!root) {
    fs::create_directories(parent);
    fs::permissions(parent, fs::perms::owner_read | fs::perms::owner_exec);
  }
  std::string message;
  try {
    StagedFolder staged((parent / "out").string(), Ours(false));
  } catch (const sims::UserError& e) {
    message = e.what();
  }
  CHECK_THAT(message, Contains((parent / ".out.tmp.").string()) &&
                          (Contains("denied") || Contains("not permitted")));
  if (!root) fs::permissions(parent, fs::perms::owner_all);
}

TEST_CASE("what a killed writer strands is restored or removed by the next writer", "[files]") {
  TempDir dir;
  const fs::path target = dir.path() / "out";
  const long dead = DeadPid();
  const fs::path old = dir.path() / (".out.old." + std::to_string(dead));
  const fs::path temp = dir.path() / (".out.tmp." + std::to_string(dead));
  WriteGeneration(target, "old");

  SECTION("killed between the renames: the old folder comes back") {
    fs::rename(target, old);
    fs::create_directories(temp);
    std::ofstream(temp / "OURS") << "new";
    // Recovery comes first, so the restored folder is then refused (no replace).
    CHECK_THROWS_WITH(StagedFolder(target.string(), Ours(false)), Contains("--force"));
    CHECK(Snapshot(target).at("OURS") == "old");
  }
  SECTION("killed before removing the old folder: it is removed") {
    fs::create_directories(old);
    std::ofstream(old / "OURS") << "older";
    { StagedFolder next(target.string(), Ours(true)); }
    CHECK(Snapshot(target).at("OURS") == "old");
  }
  SECTION("killed while building: the unfinished folder is removed") {
    fs::create_directories(temp);
    { StagedFolder next(target.string(), Ours(true)); }
    CHECK(Snapshot(target).at("OURS") == "old");
  }
  SECTION("a folder of a process that still runs is left alone") {
    const fs::path live = dir.path() / (".out.tmp." + std::to_string(::getppid()));
    fs::create_directories(live);
    { StagedFolder next(target.string(), Ours(true)); }
    CHECK(fs::exists(live));
    fs::remove_all(live);
  }
  CHECK(Leftovers(target).empty());
}

TEST_CASE("killed at each rename of a swap, the folder is the old set or the new set, never a mix",
          "[files]") {
  const int kill_at = GENERATE(0, 1, 2);
  const bool had_old = GENERATE(true, false);
  CAPTURE(kill_at, had_old);
  TempDir dir;
  const fs::path target = dir.path() / "out";
  if (had_old) WriteGeneration(target, "old");
  const auto old_set = Snapshot(target);
  WriteGeneration(dir.path() / "reference", "new");
  const auto new_set = Snapshot(dir.path() / "reference");

  // Without an old folder there is one rename: point 2 is never reached and the child finishes.
  const bool killed = KilledWhileWriting(target, "new", kill_at);
  CHECK(killed == (had_old || kill_at < 2));
  const auto after_kill = Snapshot(target);
  CHECK((after_kill == old_set || after_kill == new_set ||
         (had_old && kill_at == 1 && !fs::exists(target))));

  // The next writer recovers; here it is refused (no replace) after recovering, so the folder
  // stays as the killed command left it, or as it was before.
  try {
    StagedFolder next(target.string(), Ours(false));
  } catch (const sims::UserError&) {
  }
  const auto recovered = Snapshot(target);
  CHECK((recovered == old_set || recovered == new_set));
  if (kill_at == 0 || (had_old && kill_at == 1)) CHECK(recovered == old_set);
  if (kill_at == 2 || (!had_old && kill_at == 1)) CHECK(recovered == new_set);
  CHECK(Leftovers(target).empty());
}
