#include "orchestrator/report/gnuplot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/names.h"

extern char** environ;

namespace sims::report {
namespace fs = std::filesystem;

std::string GnuplotQuote(const std::string& text) {
  std::string quoted = "'";
  for (char ch : text) {
    const unsigned char u = static_cast<unsigned char>(ch);
    quoted += u < 0x20 || u == 0x7f ? ' ' : ch;
    if (ch == '\'') quoted += '\'';
  }
  return quoted + "'";
}

std::string GnuplotScript(const PlotSpec& spec) {
  std::ostringstream s;
  s << "# Written by `sims report`. Re-draw with: gnuplot " << spec.stem << ".gp\n";
  // fit.log: sims never calls gnuplot's fit, but a user editing this file might.
  s << "set fit quiet\nset fit logfile '/dev/null'\nset encoding utf8\n";
  for (const DataBlock& block : spec.data) {
    s << "$" << block.name << " << EOD\n";
    for (const auto& row : block.rows) {
      for (size_t c = 0; c < row.size(); ++c) s << (c ? " " : "") << fmt::format("{:.9g}", row[c]);
      s << "\n";
    }
    // Two blank lines end a gnuplot "index", so a block with no rows still parses.
    s << "EOD\n";
  }
  // Titles and labels are plain text (an underscore in "N_opt" is not a subscript).
  s << "set title " << GnuplotQuote(spec.title) << " font ',15' noenhanced\n";
  s << "set xlabel " << GnuplotQuote(spec.xlabel) << " noenhanced offset 0,0.6\n";
  s << "set ylabel " << GnuplotQuote(spec.ylabel) << " noenhanced\n";
  s << "set grid xtics ytics mxtics mytics lc rgb '#dddddd' lw 1, lc rgb '#f0f0f0' lw 1\n";
  s << "set border 3 lc rgb '#444444'\nset tics nomirror\n";
  // The legend goes under the plot, so the plot keeps the page's full width.
  s << "set key below horizontal maxrows 4 Left reverse noenhanced nobox samplen 2 spacing 1.1 "
       "width 1\n";
  if (spec.log_x) s << "set logscale x 10\nset format x '10^{%L}'\n";
  if (spec.log_y) s << "set logscale y 10\nset format y '10^{%L}'\n";
  for (const std::string& line : spec.setup) s << line << "\n";
  s << "set terminal svg size 900,600 dynamic enhanced font 'Sans,13' background '#ffffff'\n";
  s << "set output " << GnuplotQuote(spec.stem + ".svg") << "\n";
  s << "plot " << spec.plot << "\n";
  s << "set terminal pngcairo size 1100,760 enhanced font 'Sans,12' background '#ffffff'\n";
  s << "set output " << GnuplotQuote(spec.stem + ".png") << "\n";
  s << "replot\nunset output\n";
  return s.str();
}

namespace {

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `gnuplot SCRIPT` with DIR as its working directory and stderr into LOG; returns the
// exit status (127 when gnuplot cannot be executed).
int SpawnGnuplot(const fs::path& dir, const std::string& script, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::string program = "gnuplot";
  std::vector<char*> argv = {program.data(), const_cast<char*>(script.c_str()), nullptr};
  pid_t pid = 0;
  int err = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

PlotFiles RenderPlot(const PlotSpec& spec, const std::string& dir) {
  // Stems are fixed words or PREFIX + a validated name; anything else is a bug in plots.cpp.
  if (!NameProblem(spec.stem).empty()) {
    throw std::logic_error(fmt::format("plot stem {} {}", EscapedForMessage(spec.stem),
                                       NameProblem(spec.stem)));
  }
  fs::path base = fs::absolute(dir);
  fs::create_directories(base);
  fs::path script = base / (spec.stem + ".gp");
  WriteFileAtomically(script.string(), GnuplotScript(spec));
  fs::path log = base / (spec.stem + ".log");
  int status = SpawnGnuplot(base, script.filename().string(), log);
  std::string messages = ReadAll(log);
  if (status == 127) {
    fs::remove(log);
    throw UserError(
        "gnuplot was not found on PATH, so the report cannot draw its plots\n"
        "hint: scripts/setup installs gnuplot-nox (apt-get install gnuplot-nox)");
  }
  if (status != 0) {
    throw std::runtime_error(fmt::format("gnuplot failed on {} (exit {}):\n{}", script.string(),
                                         status, messages));
  }
  if (messages.empty()) {
    fs::remove(log);
  } else {
    Log(LogLevel::kDebug, "gnuplot said, drawing {}:\n{}", spec.stem, messages);
  }
  PlotFiles files{(base / (spec.stem + ".svg")).string(), (base / (spec.stem + ".png")).string(),
                  script.string()};
  for (const std::string& path : {files.svg, files.png}) {
    if (!fs::exists(path) || fs::file_size(path) == 0) {
      throw std::runtime_error(fmt::format("gnuplot wrote no {} ({})", path, messages));
    }
  }
  return files;
}

}  // namespace sims::report
