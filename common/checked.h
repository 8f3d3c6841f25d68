#pragma once
// Range-checked conversion of numbers read from files and flags (TOML keys, JSON fields, frame
// indices computed from seconds): a value that does not fit the target type is refused, never
// wrapped (4294967304 -> int32 8, 4294967290 -> -6) and never undefined (1e10 -> int32, NaN).
// Call CheckedCast<To>(value) and turn nullopt into a UserError that names the file, the line or
// key, the value and RangeText<To>().
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sims {

// `value` as an integer type `To` if it is exactly representable: an integer within To's range,
// or a finite floating-point value with no fractional part within To's range.
template <typename To, typename From>
std::optional<To> CheckedCast(From value) {
  static_assert(std::is_integral_v<To> && std::is_arithmetic_v<From>);
  if constexpr (std::is_integral_v<From>) {
    if (!std::in_range<To>(value)) return std::nullopt;
    return static_cast<To>(value);
  } else {
    // [min, 2^digits) is exact in double for every integer type up to 64 bits.
    const long double lo = static_cast<long double>(std::numeric_limits<To>::min());
    const long double hi = std::ldexp(1.0L, std::numeric_limits<To>::digits);
    const long double v = value;
    if (!std::isfinite(v) || v != std::trunc(v) || v < lo || v >= hi) return std::nullopt;
    return static_cast<To>(value);
  }
}

// A JSON value as `To` when it is an integer that fits (nlohmann's get<int32_t>() wraps).
template <typename To>
std::optional<To> CheckedJsonInteger(const nlohmann::json& value) {
  if (value.is_number_unsigned()) return CheckedCast<To>(value.get<uint64_t>());
  if (value.is_number_integer()) return CheckedCast<To>(value.get<int64_t>());
  return std::nullopt;
}

// "[min, max]" of an integer type, for messages.
template <typename To>
std::string RangeText() {
  return fmt::format("[{}, {}]", std::numeric_limits<To>::min(), std::numeric_limits<To>::max());
}

}  // namespace sims
