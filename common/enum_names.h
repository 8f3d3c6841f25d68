#pragma once
// Enums that cross a text boundary (sweep file, config JSON, database column, CLI flag): each
// enum has one table of {value, name} pairs, and its XFromString / ToString pair is written
// with these two helpers, so text is parsed once where it enters and a refusal always lists
// the allowed names. (The idea of Ceres' types.h: enum + StringToX / XToString.)
#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.h"

namespace sims {

template <typename E, size_t N>
using EnumNames = std::array<std::pair<E, std::string_view>, N>;

template <typename E, size_t N>
std::string_view NameOf(const EnumNames<E, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";  // unreachable for a value of the enum: every enumerator is in its table
}

// "fp16" -> UserError "'fp16' is not a dtype; expected one of auto, fp32, bf16".
template <typename E, size_t N>
E ParseName(const EnumNames<E, N>& names, std::string_view text, std::string_view what) {
  std::string allowed;
  for (const auto& [v, name] : names) {
    if (name == text) return v;
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  throw UserError("'" + std::string(text) + "' is not " + std::string(what) +
                  "; expected one of " + allowed);
}

}  // namespace sims
