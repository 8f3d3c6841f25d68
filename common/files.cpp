#include "common/files.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"

namespace sims {

std::string TempPathFor(const std::string& path) {
  return fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
}

void WriteFileAtomically(const std::string& path, std::string_view content) {
  const std::string temp = TempPathFor(path);
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) {
    throw UserError(fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
  }
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(temp.c_str());
    throw UserError(fmt::format("cannot write {} (disk full?)", temp));
  }
  CommitTempFile(temp, path);
}

void CommitTempFile(const std::string& temp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::remove(temp.c_str());
    throw UserError(fmt::format("cannot rename {} to {}: {}", temp, path, ec.message()));
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot read {}: no such file or not readable", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// ---- folders replaced whole ----

namespace {

namespace fs = std::filesystem;

std::string Hidden(const fs::path& target, const char* kind, long pid) {
  return (target.parent_path() / fmt::format(".{}.{}.{}", target.filename().string(), kind, pid))
      .string();
}

// The PID of a `.NAME.KIND.PID` entry of `target`'s parent, if `entry` is one.
std::optional<long> HiddenPid(const std::string& entry, const fs::path& target, const char* kind) {
  const std::string prefix = fmt::format(".{}.{}.", target.filename().string(), kind);
  if (!entry.starts_with(prefix) || entry.size() == prefix.size() ||
      entry.size() > prefix.size() + 9) {
    return std::nullopt;
  }
  const std::string digits = entry.substr(prefix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stol(digits);
}

// Whether a process with this PID runs on this machine (EPERM: it runs as another user).
bool Running(long pid) {
  if (pid == static_cast<long>(::getpid())) return false;  // ours cannot be left from before
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Whether `inner` is `outer` or lies under it (both absolute and normal).
bool Within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing "" component
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

// Restores or removes what killed writers of `target` left next to it (see files.h).
void RecoverStranded(const fs::path& target) {
  std::error_code ec;
  std::vector<std::pair<long, fs::path>> olds, temps;
  for (const auto& entry : fs::directory_iterator(target.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (auto pid = HiddenPid(name, target, "old"); pid && !Running(*pid)) {
      olds.emplace_back(*pid, entry.path());
    } else if (auto tpid = HiddenPid(name, target, "tmp"); tpid && !Running(*tpid)) {
      temps.emplace_back(*tpid, entry.path());
    }
  }
  if (!olds.empty() && !fs::exists(target, ec)) {
    // Killed between the two renames: the command did not finish, so its old folder is put back.
    fs::rename(olds.front().second, target, ec);
    if (ec) {
      throw UserError(fmt::format("{} is missing and its previous version is at {}, which cannot "
                                  "be renamed back: {}; hint: rename it back by hand",
                                  target.string(), olds.front().second.string(), ec.message()));
    }
    Log(LogLevel::kWarn, "restored {} from {} (left by a killed process {})", target.string(),
        olds.front().second.string(), olds.front().first);
    olds.erase(olds.begin());
  }
  for (const auto& [pid, path] : olds) {
    fs::remove_all(path, ec);
    Log(LogLevel::kWarn, "removed {}, the old {} that process {} replaced before it was killed",
        path.string(), target.filename().string(), pid);
  }
  for (const auto& [pid, path] : temps) {
    fs::remove_all(path, ec);
    Log(LogLevel::kWarn, "removed {}, left unfinished by process {} (no longer running)",
        path.string(), pid);
  }
}

// The test seam of files.h: SIGKILL once `renames` folder renames are done, if asked.
void MaybeKillForTest(int renames) {
  const char* at = std::getenv(kKillAtRenameVariable);
  if (at != nullptr && std::atoi(at) == renames) ::raise(SIGKILL);
}

}  // namespace

std::string NormalizeFolderPath(const std::string& path) {
  if (path.empty()) throw UserError("an empty folder name; hint: give a path such as --out corpus");
  fs::path p = fs::absolute(path).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

StagedFolder::StagedFolder(const std::string& target, const StagedFolderOptions& o) {
  const fs::path out = NormalizeFolderPath(target);
  std::error_code ec;
  // Lexically, and through symbolic links when the folder exists.
  const fs::path cwd = fs::current_path(ec).lexically_normal();
  bool is_cwd_or_above = !ec && Within(cwd, out);
  if (!is_cwd_or_above && !ec && fs::exists(out, ec)) {
    std::error_code ec1, ec2;
    const fs::path real_cwd = fs::canonical(cwd, ec1), real_out = fs::canonical(out, ec2);
    is_cwd_or_above = !ec1 && !ec2 && Within(real_cwd, real_out);
  }
  if (out == out.root_path() || is_cwd_or_above) {
    throw UserError(fmt::format(
        "{} {} is the current folder or one of its parents ({}); sims replaces its output folder "
        "whole, so it must be a folder of its own; hint: {} {}",
        o.flag, target, out.string(), o.flag, (out / o.what).string()));
  }
  RecoverStranded(out);
  const fs::file_status status = fs::symlink_status(out, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) {
      throw UserError(fmt::format("{} {}: {} exists and is not a folder (a file or a symbolic "
                                  "link); hint: choose another {}",
                                  o.flag, target, out.string(), o.flag));
    }
    if (!fs::is_empty(out, ec)) {
      const bool ours = o.is_ours && o.is_ours(out.string());
      if (!ours) {
        throw UserError(fmt::format(
            "{} {}: {} is a non-empty folder that is not a sims {} ({}); sims never replaces a "
            "folder it did not write; hint: choose a new {}, or move that folder away yourself",
            o.flag, target, out.string(), o.what, o.is_ours_rule, o.flag));
      }
      if (!o.replace) {
        throw UserError(fmt::format("{} {}: {} already holds a {}; hint: pass {} to replace it, "
                                    "or choose another {}",
                                    o.flag, target, out.string(), o.what, o.replace_flag, o.flag));
      }
    }
  }
  target_ = out.string();
  temp_ = Hidden(out, "tmp", static_cast<long>(::getpid()));
  fs::remove_all(temp_, ec);
  fs::create_directories(temp_, ec);
  if (ec) {
    throw UserError(fmt::format("cannot create the {} folder {}: {}; hint: {} must be in a "
                                "writable folder",
                                o.what, temp_, ec.message(), o.flag));
  }
}

StagedFolder::~StagedFolder() {
  if (!committed_) {
    std::error_code ignored;  // best effort: a destructor must not throw
    fs::remove_all(temp_, ignored);
  }
}

std::string StagedFolder::FinalPathOf(const std::string& p) const {
  const fs::path relative = fs::path(p).lexically_relative(temp_);
  return (fs::path(target_) / relative).lexically_normal().string();
}

void StagedFolder::Commit() {
  const fs::path target(target_);
  const std::string old = Hidden(target, "old", static_cast<long>(::getpid()));
  std::error_code ec;
  int renames = 0;
  MaybeKillForTest(renames);
  const bool had_old = fs::exists(fs::symlink_status(target, ec));
  if (had_old) {
    fs::rename(target, old, ec);
    if (ec) {
      throw UserError(fmt::format("cannot move {} aside to {}: {}", target_, old, ec.message()));
    }
    MaybeKillForTest(++renames);
  }
  fs::rename(temp_, target, ec);
  if (ec) {
    const std::string why = ec.message();
    if (had_old) fs::rename(old, target, ec);  // put the old one back; the error below says why
    throw UserError(fmt::format("cannot rename {} to {}: {}", temp_, target_, why));
  }
  committed_ = true;
  MaybeKillForTest(++renames);
  if (had_old) fs::remove_all(old, ec);  // a leftover is removed by the next writer
}

}  // namespace sims
