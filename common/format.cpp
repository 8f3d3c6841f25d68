#include "common/format.h"

#include <cmath>

#include <fmt/format.h>

namespace sims {

std::string FormatNumber(double value, int digits) {
  if (!std::isfinite(value)) return value > 0 ? "unbounded" : "n/a";
  std::string text = fmt::format("{:.{}g}", value, digits);
  // 1.2e+15 -> 1.2e15, 3e-05 -> 3e-5: shorter, and still what every scientist reads.
  const size_t e = text.find('e');
  if (e == std::string::npos) return text;
  const std::string mantissa = text.substr(0, e);
  std::string exponent = text.substr(e + 1);
  const bool negative = exponent[0] == '-';
  const size_t first = exponent.find_first_not_of("+-0");
  exponent = first == std::string::npos ? "0" : exponent.substr(first);
  return mantissa + "e" + (negative ? "-" : "") + exponent;
}

std::string RelativeSpread(double sd_of_log) {
  return fmt::format("±{:.1f}%", 100 * (std::exp(sd_of_log) - 1));
}

std::string Counted(long long n, const std::string& noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

std::string FormatWithInterval(double value, double lo, double hi, int digits) {
  return fmt::format("{} [{}, {}]", FormatNumber(value, digits), FormatNumber(lo, digits),
                     FormatNumber(hi, digits));
}

}  // namespace sims
