// docs/cli.md is generated from the binary's --help (scripts/gen-cli-doc); this test fails when
// a command's options change and the reference was not regenerated.
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

std::string Capture(const std::string& args) {
  std::string command = std::string("\"") + SIMS_BINARY + "\" " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe);
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, n);
  pclose(pipe);
  return text;
}

// Names under "Subcommands:" in a CLI11 help text.
std::vector<std::string> Subcommands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream lines(help);
  std::string line;
  bool on = false;
  while (std::getline(lines, line)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      on = true;
    } else if (on && line.size() > 2 && line.rfind("  ", 0) == 0 && std::islower(line[2])) {
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
    }
  }
  return names;
}

// "## `sims X Y`" headings -> the fenced block under each ("" for the top-level help).
std::map<std::string, std::string> DocSections(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::map<std::string, std::string> sections;
  std::string line, current;
  bool in_block = false, seen_top = false;
  std::string block;
  while (std::getline(in, line)) {
    if (!in_block && line.rfind("## `sims ", 0) == 0) {
      current = line.substr(9, line.rfind('`') - 9);
    } else if (line == "```") {
      if (in_block) {
        if (!seen_top || !current.empty()) sections[current] = block;
        seen_top = true;
        block.clear();
      }
      in_block = !in_block;
    } else if (in_block) {
      block += line + "\n";
    }
  }
  return sections;
}

}  // namespace

TEST_CASE("the CLI reference matches every command's --help", "[report][docs]") {
  auto docs = DocSections(SIMS_SOURCE_DIR "/docs/cli.md");
  std::string top = Capture("--help");
  INFO("hint: run scripts/gen-cli-doc to regenerate docs/cli.md");
  CHECK(docs[""] == top);
  std::vector<std::string> commands = Subcommands(top);
  REQUIRE(commands.size() >= 3);
  for (const std::string& command : commands) {
    std::vector<std::string> names{command};
    for (const std::string& sub : Subcommands(Capture(command + " --help"))) {
      names.push_back(command + " " + sub);
    }
    for (const std::string& name : names) {
      CAPTURE(name);
      REQUIRE(docs.count(name) == 1);
      CHECK(docs[name] == Capture(name + " --help"));
    }
  }
}
