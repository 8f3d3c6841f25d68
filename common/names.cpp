#include "common/names.h"

#include <fmt/format.h>

#include "common/error.h"

namespace sims {

namespace {

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string CharText(char c) {
  switch (c) {
    case '\n':
      return "a newline";
    case '\r':
      return "a carriage return";
    case '\t':
      return "a tab";
    case ' ':
      return "a space";
    case '\'':
      return "a quote (')";
    case '"':
      return "a quote (\")";
    case '`':
      return "a backtick";
    case '/':
      return "'/'";
    case '\\':
      return "a backslash";
    case '$':
      return "'$'";
    case '\0':
      return "a NUL byte";
    default:
      break;
  }
  const unsigned char u = static_cast<unsigned char>(c);
  if (u < 0x20 || u == 0x7f) return fmt::format("the control character \\x{:02x}", u);
  if (u >= 0x80) return "a non-ASCII byte";
  return fmt::format("'{}'", c);
}

}  // namespace

const char* NameKindText(NameKind kind) {
  switch (kind) {
    case NameKind::kSweep:
      return "sweep";
    case NameKind::kCondition:
      return "condition";
    case NameKind::kSizeLabel:
      return "size label";
    case NameKind::kRun:
      return "run id";
  }
  return "name";
}

std::string NameProblem(std::string_view value) {
  if (value.empty()) return "is empty";
  if (value.size() > kMaxNameLength) {
    return fmt::format("is {} characters long, more than {}", value.size(), kMaxNameLength);
  }
  for (char c : value) {
    if (!IsAsciiAlnum(c) && c != '.' && c != '_' && c != '+' && c != '-') {
      return "contains " + CharText(c);
    }
  }
  if (!IsAsciiAlnum(value.front())) return "starts with " + CharText(value.front());
  return "";
}

std::string EscapedForMessage(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\\')
      out += "\\\\";
    else if (u < 0x20 || u >= 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  return out + "\"";
}

void ValidateName(NameKind kind, std::string_view value, std::string_view where) {
  const std::string problem = NameProblem(value);
  if (problem.empty()) return;
  throw UserError(fmt::format(
      "{}{}{} name {} {}; names are 1-{} characters of A-Z a-z 0-9 . _ + -, starting with a "
      "letter or digit\nhint: rename it, e.g. \"interleaved-1.5B\"",
      where, where.empty() ? "" : ": ", NameKindText(kind), EscapedForMessage(value.substr(0, 80)),
      problem, kMaxNameLength));
}

std::filesystem::path PathForName(const std::filesystem::path& dir, NameKind kind,
                                  std::string_view name, std::string_view suffix,
                                  std::string_view where) {
  ValidateName(kind, name, where);
  const std::string file = std::string(name) + std::string(suffix);
  // Defence in depth: the rule already rules these out, but a suffix could still add a '/'.
  if (file.find('/') != std::string::npos || file.find('\0') != std::string::npos || file == "." ||
      file == "..") {
    throw UserError(fmt::format("{}: {} {} would not be a file name inside {}", where,
                                NameKindText(kind), EscapedForMessage(file), dir.string()));
  }
  return dir / file;
}

std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace sims
