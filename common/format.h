#pragma once
// Numbers as people read them, for every table, message, plot label and report in sims: one
// number formatter and one "value [lo, hi]" formatter, so a figure reads the same everywhere.
// Not for: machine-readable output (JSON, CSV, gnuplot data keep full precision).
#include <optional>
#include <string>

namespace sims {

// `digits` significant digits, exponent without '+' or leading zeros: 1.2e15, 3e-5, 0.512, 20.
// +inf is a computed fact here (an interval with no upper end: some resamples never reach a
// loss) and reads "unbounded"; -inf and NaN read "n/a".
std::string FormatNumber(double value, int digits = 3);

// "±21.0%": the SD of a log quantity (ln N_opt, ln L) as the relative spread a reader compares,
// exp(sd) - 1 (`sims suggest`, `sims run --adaptive`, the report's adaptive rounds).
std::string RelativeSpread(double sd_of_log);

// "1 point", "3 points": a count with its noun (a regular English plural) in the right number.
std::string Counted(long long n, const std::string& noun);

// "0.512 [0.48, 0.55]": a value with its interval, or the value alone without one.
std::string FormatWithInterval(double value, double lo, double hi, int digits = 3);

// The same for any interval type with `lo` and `hi` (fitting::Interval), absent = no interval.
template <typename Interval>
std::string FormatWithInterval(double value, const std::optional<Interval>& interval,
                               int digits = 3) {
  if (!interval) return FormatNumber(value, digits);
  return FormatWithInterval(value, interval->lo, interval->hi, digits);
}

}  // namespace sims
