#include "common/toml_reader.h"

#include <cmath>

#include <fmt/format.h>

namespace sims {

toml::table ParseToml(const std::string& text, const std::string& file) {
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw UserError(fmt::format("{}:{}:{}: TOML syntax error: {}", file, e.source().begin.line,
                                e.source().begin.column, e.description()));
  }
}

int64_t LineOf(const toml::node& node) { return static_cast<int64_t>(node.source().begin.line); }

const char* TomlTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date/time";
  }
}

TomlTable::TomlTable(const toml::table& table, std::string path, std::string file)
    : table_(table), path_(std::move(path)), file_(std::move(file)) {}

std::string TomlTable::Path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

Origin TomlTable::At(std::string_view key) const {
  const toml::node* node = table_.get(key);
  return Origin{file_, node ? LineOf(*node) : LineOf(table_), Path(key)};
}

Origin TomlTable::Self() const {
  return Origin{file_, LineOf(table_), path_.empty() ? "(top)" : path_};
}

void TomlTable::Fail(std::string_view key, const std::string& message) const {
  throw UserError(At(key).Where() + ": " + message);
}

void TomlTable::FailAt(const toml::node& node, const std::string& path,
                       const std::string& message) const {
  throw UserError(fmt::format("{}:{}: {}: {}", file_, LineOf(node), path, message));
}

const toml::node* TomlTable::Node(std::string_view key) {
  read_.insert(std::string(key));
  return table_.get(key);
}

std::optional<double> TomlTable::Number(std::string_view key) {
  const toml::node* n = Node(key);
  if (!n) return std::nullopt;
  return NumberOf(*n, Path(key));
}

std::optional<int64_t> TomlTable::Integer(std::string_view key) {
  const toml::node* n = Node(key);
  if (!n) return std::nullopt;
  return IntegerOf(*n, Path(key));
}

std::optional<std::string> TomlTable::String(std::string_view key) {
  const toml::node* n = Node(key);
  if (!n) return std::nullopt;
  if (!n->is_string()) Fail(key, fmt::format("expected a string, found {}", TomlTypeName(*n)));
  return n->as_string()->get();
}

std::optional<bool> TomlTable::Bool(std::string_view key) {
  const toml::node* n = Node(key);
  if (!n) return std::nullopt;
  if (!n->is_boolean()) {
    Fail(key, fmt::format("expected true or false, found {}", TomlTypeName(*n)));
  }
  return n->as_boolean()->get();
}

std::optional<TomlTable> TomlTable::Sub(std::string_view key) {
  const toml::node* n = Node(key);
  if (!n) return std::nullopt;
  if (!n->is_table()) Fail(key, fmt::format("expected a table, found {}", TomlTypeName(*n)));
  return TomlTable(*n->as_table(), Path(key), file_);
}

const toml::array* TomlTable::Array(std::string_view key) {
  const toml::node* n = Node(key);
  if (!n) return nullptr;
  if (!n->is_array()) Fail(key, fmt::format("expected an array, found {}", TomlTypeName(*n)));
  const toml::array* a = n->as_array();
  if (a->size() > kMaxArrayLength) {
    Fail(key, fmt::format("has {} entries; at most {} are allowed", a->size(), kMaxArrayLength));
  }
  return a;
}

std::vector<double> TomlTable::Numbers(std::string_view key) {
  std::vector<double> out;
  if (const toml::array* a = Array(key)) {
    for (size_t i = 0; i < a->size(); ++i) {
      out.push_back(NumberOf(*a->get(i), fmt::format("{}[{}]", Path(key), i)));
    }
  }
  return out;
}

std::vector<int64_t> TomlTable::Integers(std::string_view key) {
  std::vector<int64_t> out;
  if (const toml::array* a = Array(key)) {
    for (size_t i = 0; i < a->size(); ++i) {
      out.push_back(IntegerOf(*a->get(i), fmt::format("{}[{}]", Path(key), i)));
    }
  }
  return out;
}

double TomlTable::NumberOf(const toml::node& n, const std::string& path) const {
  double v = 0;
  if (n.is_integer()) {
    v = static_cast<double>(n.as_integer()->get());
  } else if (n.is_floating_point()) {
    v = n.as_floating_point()->get();
  } else {
    FailAt(n, path, fmt::format("expected a number, found {}", TomlTypeName(n)));
  }
  if (!std::isfinite(v)) FailAt(n, path, "expected a finite number, found nan/inf");
  return v;
}

int64_t TomlTable::IntegerOf(const toml::node& n, const std::string& path) const {
  if (n.is_integer()) return n.as_integer()->get();
  if (n.is_floating_point()) {
    const double v = n.as_floating_point()->get();
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) <= 9e15) {
      return static_cast<int64_t>(v);
    }
    FailAt(n, path, fmt::format("expected a whole number, found {}", v));
  }
  FailAt(n, path, fmt::format("expected an integer, found {}", TomlTypeName(n)));
}

void TomlTable::RejectUnknown(std::string_view expected) const {
  for (auto&& [key, node] : table_) {
    if (!read_.count(key.str())) {
      throw UserError(fmt::format("{}:{}: {}: unknown key (expected one of: {})", file_,
                                  key.source().begin.line, Path(key.str()), expected));
    }
  }
}

}  // namespace sims
