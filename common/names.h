#pragma once
// Names a user gives (sweeps, conditions, size labels, run ids) and the three ways a name may
// leave sims as text: in a file path, in a shell script, in a gnuplot script (the last helper,
// GnuplotQuote, lives with the plots in orchestrator/report/gnuplot.h).
// Call ValidateName at every entry where a name comes in (sweep files, CLI flags, CSV cells,
// events files, rows read back from the store before they become paths); build every path from
// a name with PathForName and every shell word with ShellQuote.
//
// The rule, one for every kind: 1 to 64 characters, the first a letter or digit, the others
// letters, digits, '.', '_', '+' or '-' (ASCII). Why:
//   - a name becomes a file stem (plots, Slurm scripts, run directories): no '/', no NUL, and a
//     leading letter or digit rules out ".", "..", hidden files and names read as options
//     ("-x");
//   - a name is printed into shell and gnuplot scripts and Markdown tables: no quote, space,
//     '$', '`', '|', newline or other control character can reach them;
//   - size labels written by the planner ("200k", "1.5B", "L4-d128", and "1e+06B" for 1e15
//     parameters, hence '+') and every name in examples/ and tests/ fit;
//   - 64 characters: a Slurm job name ("sims-" + sweep) and a file name stay well inside limits.
// Two different valid names are two different file stems (case-sensitive file systems), so a
// plot per condition never overwrites another's.
#include <filesystem>
#include <string>
#include <string_view>

namespace sims {

enum class NameKind { kSweep, kCondition, kSizeLabel, kRun };

inline constexpr size_t kMaxNameLength = 64;

// "sweep", "condition", "size label", "run id".
const char* NameKindText(NameKind kind);

// Why `value` is not a valid name ("contains a newline"), or "" when it is one.
std::string NameProblem(std::string_view value);

// Throws UserError `WHERE: condition name "a\nb" contains a newline; names are ...` (the value
// printed with C escapes, so the message stays one line).
void ValidateName(NameKind kind, std::string_view value, std::string_view where);

// `value` in double quotes, with \n, \t, \", \\ and \xHH escapes: safe to print on one line.
std::string EscapedForMessage(std::string_view value);

// dir / (name + suffix), after ValidateName and a check that the result is a direct child of
// `dir` (suffix holds no '/'). Throws UserError naming `where` otherwise.
std::filesystem::path PathForName(const std::filesystem::path& dir, NameKind kind,
                                  std::string_view name, std::string_view suffix,
                                  std::string_view where);

// One shell word: 'text' with every ' written as '\'' (POSIX sh and bash).
std::string ShellQuote(std::string_view text);

}  // namespace sims
