#pragma once
// Reading a TOML file into typed values, for every sims file format (sweep files, corpus
// configs): one reader, one error format. A TomlTable is one table being read: typed getters
// that say what they found when the type is wrong, and RejectUnknown, which names the first key
// nobody asked for (a typo must not fall back to a default). Every error is a UserError
//   FILE:LINE: key.path: what is wrong
//
//   toml::table root = ParseToml(text, "sweep.toml");  // syntax error: FILE:LINE:COL: ...
//   TomlTable top(root, "", "sweep.toml");
//   std::optional<TomlTable> sweep = top.Sub("sweep");
//   std::optional<double> lr = sweep->Number("lr");
//   sweep->RejectUnknown("name, lr");
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "common/checked.h"
#include "common/error.h"
#include "common/origin.h"

namespace sims {

toml::table ParseToml(const std::string& text, const std::string& file);
int64_t LineOf(const toml::node& node);
const char* TomlTypeName(const toml::node& node);  // "a string", "an array", ...

class TomlTable {
 public:
  // Arrays longer than this are refused: a mutated file must not make a reader run for ever.
  static constexpr size_t kMaxArrayLength = 256;

  // `path` is the table's key path ("" for the root), `file` names the file in messages.
  TomlTable(const toml::table& table, std::string path, std::string file);

  std::string Path(std::string_view key) const;  // "condition[0].design" + "." + key
  Origin At(std::string_view key) const;          // the key's line, or the table's if absent
  Origin Self() const;
  [[noreturn]] void Fail(std::string_view key, const std::string& message) const;
  [[noreturn]] void FailAt(const toml::node& node, const std::string& path,
                           const std::string& message) const;
  bool Has(std::string_view key) const { return table_.contains(key); }

  // Each getter marks the key read; nullopt when it is absent, UserError when it has the wrong
  // type. Numbers are finite; integers accept a whole float (1e6 is a float in TOML).
  const toml::node* Node(std::string_view key);
  std::optional<double> Number(std::string_view key);
  std::optional<int64_t> Integer(std::string_view key);
  std::optional<std::string> String(std::string_view key);
  std::optional<bool> Bool(std::string_view key);
  std::optional<TomlTable> Sub(std::string_view key);
  const toml::array* Array(std::string_view key);
  std::vector<double> Numbers(std::string_view key);
  std::vector<int64_t> Integers(std::string_view key);
  double NumberOf(const toml::node& node, const std::string& path) const;
  int64_t IntegerOf(const toml::node& node, const std::string& path) const;

  // Sets `target` when the key is there: a string, a finite number, or an integer that fits T.
  template <typename T>
  void Read(std::string_view key, T& target);

  // Throws for the first key no getter asked for, listing `expected`.
  void RejectUnknown(std::string_view expected) const;

  const std::string& file() const { return file_; }
  const toml::table& table() const { return table_; }

 private:
  const toml::table& table_;
  std::string path_;
  std::string file_;
  std::set<std::string, std::less<>> read_;
};

// A key whose value names an enumerator, parsed by the enum's own XFromString (which throws a
// UserError listing the allowed names); the refusal is placed at the key.
template <typename E>
std::optional<E> Choice(TomlTable& t, std::string_view key, E (*from_string)(std::string_view)) {
  std::optional<std::string> text = t.String(key);
  if (!text) return std::nullopt;
  try {
    return from_string(*text);
  } catch (const UserError& e) {
    t.Fail(key, e.what());
  }
}

template <typename T>
void TomlTable::Read(std::string_view key, T& target) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = String(key)) target = *v;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto v = Number(key)) target = static_cast<T>(*v);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto v = Bool(key)) target = *v;
  } else {
    const toml::node* node = Node(key);
    if (!node) return;
    std::optional<T> fits;
    if (node->is_integer()) fits = CheckedCast<T>(node->as_integer()->get());
    if (node->is_floating_point()) fits = CheckedCast<T>(node->as_floating_point()->get());
    if (!fits) {
      FailAt(*node, Path(key),
             node->is_number() ? fmt::format("{} is not an integer in {}",
                                             node->value<double>().value_or(0), RangeText<T>())
                               : fmt::format("expected an integer, found {}", TomlTypeName(*node)));
    }
    target = *fits;
  }
}

}  // namespace sims
