// common/format.h: the one number formatter and the one "value [lo, hi]" formatter.
#include <cmath>
#include <optional>

#include <catch2/catch.hpp>

#include "common/format.h"

using sims::FormatNumber;
using sims::FormatWithInterval;

namespace {
struct Interval {
  double lo = 0, hi = 0;
};
}  // namespace

TEST_CASE("numbers drop the exponent's plus sign and leading zeros", "[common][format]") {
  CHECK(FormatNumber(1.2e15) == "1.2e15");
  CHECK(sims::Counted(1, "point") == "1 point");
  CHECK(sims::Counted(0, "point") == "0 points");
  CHECK(sims::Counted(3, "budget") == "3 budgets");
  CHECK(FormatNumber(3e-5) == "3e-5");
  CHECK(FormatNumber(0.512345) == "0.512");
  CHECK(FormatNumber(0.512345, 4) == "0.5123");
  CHECK(FormatNumber(20) == "20");
  CHECK(FormatNumber(2.5e19, 2) == "2.5e19");
  CHECK(FormatNumber(-1.5e-12) == "-1.5e-12");
  CHECK(FormatNumber(INFINITY) == "unbounded");
  CHECK(FormatNumber(-INFINITY) == "n/a");
  CHECK(FormatNumber(NAN) == "n/a");
}

TEST_CASE("a value with its interval, or alone without one", "[common][format]") {
  CHECK(FormatWithInterval(0.5123, 0.48, 0.551) == "0.512 [0.48, 0.551]");
  CHECK(FormatWithInterval(2e9, std::optional<Interval>{{1e9, INFINITY}}) ==
        "2e9 [1e9, unbounded]");
  CHECK(FormatWithInterval(2e9, std::optional<Interval>{}) == "2e9");
  CHECK(FormatWithInterval(3.14159, std::optional<Interval>{{3.1, 3.2}}, 4) ==
        "3.142 [3.1, 3.2]");
}
