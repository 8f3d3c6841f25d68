#include "sweeps/shape.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "common/enum_names.h"
#include "common/error.h"

namespace sims {
namespace {

// Non-embedding count of `layers` layers of width d_model under `rule` (kv_heads == heads).
int64_t NonEmbeddingFor(int64_t layers, int64_t d_model, const ShapeRule& rule) {
  ModelShape s;
  s.layers = layers;
  s.d_model = d_model;
  s.heads = d_model / rule.head_dim;
  s.kv_heads = s.heads;
  s.d_ff = FfnWidth(d_model, rule);
  return CountParams(s).non_embedding;
}

std::string Describe(const ModelShape& s, int64_t n) {
  return fmt::format("layers={} d_model={} heads={} d_ff={} (N_non_embedding={})", s.layers,
                     s.d_model, s.heads, s.d_ff, n);
}

}  // namespace

ParamCounts CountParams(const ModelShape& s) {
  const int64_t head_dim = s.heads > 0 ? s.d_model / s.heads : 0;
  const int64_t kv_dim = s.kv_heads * head_dim;
  ParamCounts c;
  c.embedding = s.vocab_size * s.d_model * (s.tied_embeddings ? 1 : 2);
  const int64_t per_layer = s.d_model * s.d_model     // q
                            + 2 * s.d_model * kv_dim  // k, v
                            + s.d_model * s.d_model   // o
                            + 3 * s.d_model * s.d_ff  // gate, up, down
                            + 2 * s.d_model           // two RMSNorm weights
                            + (s.qkv_bias ? s.d_model + 2 * kv_dim : 0);
  c.non_embedding = s.layers * per_layer + s.d_model;  // + final RMSNorm
  c.total = c.embedding + c.non_embedding;
  return c;
}

void ValidateShapeRule(const ShapeRule& r) {
  auto fail = [](const char* field, const std::string& value, const char* rule) {
    throw UserError(fmt::format("shape rule: {} = {} {}", field, value, rule));
  };
  if (r.head_dim <= 0) fail("head_dim", std::to_string(r.head_dim), "must be > 0");
  if (r.width_multiple <= 0) {
    fail("width_multiple", std::to_string(r.width_multiple), "must be > 0");
  }
  if (!(r.ffn_ratio > 0 && r.ffn_ratio <= 64)) {
    fail("ffn_ratio", fmt::format("{}", r.ffn_ratio), "must be in (0, 64]");
  }
  if (r.ffn_multiple <= 0) fail("ffn_multiple", std::to_string(r.ffn_multiple), "must be > 0");
  if (!(r.aspect_ratio > 0 && std::isfinite(r.aspect_ratio))) {
    fail("aspect_ratio", fmt::format("{}", r.aspect_ratio), "must be > 0");
  }
  if (r.min_layers < 1 || r.min_layers > 1024) {
    fail("min_layers", std::to_string(r.min_layers), "must be in [1, 1024]");
  }
  if (r.max_layers < r.min_layers || r.max_layers > 1024) {
    fail("max_layers", std::to_string(r.max_layers), "must be in [min_layers, 1024]");
  }
  if (r.max_d_model < r.head_dim || r.max_d_model > (1 << 20)) {
    fail("max_d_model", std::to_string(r.max_d_model), "must be in [head_dim, 1048576]");
  }
  if (!(r.tolerance > 0 && r.tolerance < 1)) {
    fail("tolerance", fmt::format("{}", r.tolerance), "must be in (0, 1)");
  }
}

int64_t FfnWidth(int64_t d_model, const ShapeRule& rule) {
  const double raw = rule.ffn_ratio * static_cast<double>(d_model);
  const int64_t steps = static_cast<int64_t>(std::ceil(raw / rule.ffn_multiple - 1e-9));
  return std::max<int64_t>(1, steps) * rule.ffn_multiple;
}

ModelShape ShapeForParams(int64_t target, int64_t vocab_size, bool tied, const ShapeRule& rule) {
  ValidateShapeRule(rule);
  if (target <= 0) {
    throw UserError(fmt::format("size {} must be a positive parameter count", target));
  }
  const int64_t step = std::lcm(rule.width_multiple, rule.head_dim);
  const int64_t max_k = rule.max_d_model / step;
  if (max_k < 1) {
    throw UserError(fmt::format("shape rule: max_d_model = {} is below the width step {}",
                                rule.max_d_model, step));
  }
  struct Candidate {
    int64_t layers, d_model, n;
    double error, aspect_distance;
  };
  std::optional<Candidate> best, nearest;
  const double t = static_cast<double>(target);
  for (int64_t layers = rule.min_layers; layers <= rule.max_layers; ++layers) {
    // The count grows with d_model: binary-search the largest k with count <= target, then
    // look at k and k + 1 (the two widths bracketing the target).
    int64_t lo = 1, hi = max_k;
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (NonEmbeddingFor(layers, mid * step, rule) <= target) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    for (int64_t k : {lo, lo + 1}) {
      if (k > max_k) continue;
      const int64_t d = k * step;
      const int64_t n = NonEmbeddingFor(layers, d, rule);
      Candidate c{layers, d, n, std::abs(static_cast<double>(n) / t - 1.0),
                  std::abs(std::log(static_cast<double>(d) / layers / rule.aspect_ratio))};
      if (!nearest || c.error < nearest->error) nearest = c;
      if (c.error > rule.tolerance) continue;
      // Strict comparisons keep the first (fewest-layers) candidate on exact ties.
      if (!best || c.aspect_distance < best->aspect_distance - 1e-12 ||
          (std::abs(c.aspect_distance - best->aspect_distance) <= 1e-12 && c.error < best->error)) {
        best = c;
      }
    }
  }
  auto make = [&](const Candidate& c) {
    ModelShape s;
    s.layers = c.layers;
    s.d_model = c.d_model;
    s.heads = c.d_model / rule.head_dim;
    s.kv_heads = s.heads;
    s.d_ff = FfnWidth(c.d_model, rule);
    s.vocab_size = vocab_size;
    s.tied_embeddings = tied;
    return s;
  };
  if (!best) {
    const ModelShape near = make(*nearest);
    throw UserError(fmt::format(
        "no shape has {} non-embedding parameters within {:.0f}%: the nearest is {}, {:+.1f}% "
        "off (hint: give an explicit shape, pick a size near that one, or change the shape "
        "rule's tolerance/head_dim/width_multiple)",
        target, rule.tolerance * 100, Describe(near, nearest->n),
        nearest->error * 100 * (nearest->n < target ? -1 : 1)));
  }
  return make(*best);
}

double ForwardFlopsPerToken(const ModelShape& s, int64_t context) {
  const double d = static_cast<double>(s.d_model);
  const double head_dim = s.heads > 0 ? d / s.heads : 0;
  const double kv_dim = s.kv_heads * head_dim;
  const double matmul_weights_per_layer = 2 * d * d + 2 * d * kv_dim + 3 * d * s.d_ff;
  const double head = static_cast<double>(s.vocab_size) * d;  // tied or not, it is a matmul
  const double context_avg = (static_cast<double>(context) + 1) / 2;
  const double attention = 2.0 * 2.0 * s.layers * context_avg * d;
  return 2.0 * (s.layers * matmul_weights_per_layer + head) + attention;
}

double TrainingFlopsExact(const ModelShape& shape, int64_t context, int64_t tokens) {
  return 3.0 * ForwardFlopsPerToken(shape, context) * static_cast<double>(tokens);
}

double Flops6ND(int64_t n_params, int64_t tokens) {
  return 6.0 * static_cast<double>(n_params) * static_cast<double>(tokens);
}

double Flops6NDAttn(const ModelShape& shape, int64_t n_params, int64_t context, int64_t tokens) {
  const double per_token = 6.0 * static_cast<double>(n_params) +
                           6.0 * shape.layers * static_cast<double>(context) * shape.d_model;
  return per_token * static_cast<double>(tokens);
}

namespace {
constexpr EnumNames<FlopConvention, 3> kFlopConventionNames{{{FlopConvention::k6ND, "6ND"},
                                                           {FlopConvention::k6NDAttn, "6ND+attn"},
                                                           {FlopConvention::kExact, "exact"}}};
}  // namespace

std::string ToString(FlopConvention convention) {
  return std::string(NameOf(kFlopConventionNames, convention));
}
FlopConvention FlopConventionFromString(std::string_view text) {
  return ParseName(kFlopConventionNames, text, "a FLOP convention");
}

nlohmann::json ToJson(const ShapeRule& r) {
  return {{"head_dim", r.head_dim},         {"width_multiple", r.width_multiple},
          {"ffn_ratio", r.ffn_ratio},       {"ffn_multiple", r.ffn_multiple},
          {"aspect_ratio", r.aspect_ratio}, {"min_layers", r.min_layers},
          {"max_layers", r.max_layers},     {"max_d_model", r.max_d_model},
          {"tolerance", r.tolerance}};
}

ShapeRule ShapeRuleFromJson(const nlohmann::json& j) {
  ShapeRule r;
  try {
    r.head_dim = j.at("head_dim").get<int64_t>();
    r.width_multiple = j.at("width_multiple").get<int64_t>();
    r.ffn_ratio = j.at("ffn_ratio").get<double>();
    r.ffn_multiple = j.at("ffn_multiple").get<int64_t>();
    r.aspect_ratio = j.at("aspect_ratio").get<double>();
    r.min_layers = j.at("min_layers").get<int64_t>();
    r.max_layers = j.at("max_layers").get<int64_t>();
    r.max_d_model = j.at("max_d_model").get<int64_t>();
    r.tolerance = j.at("tolerance").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("stored shape rule: {}", e.what()));
  }
  ValidateShapeRule(r);
  return r;
}

double TrainingFlopsPerToken(const ModelShape& shape, int64_t context, FlopConvention convention,
                             bool n_includes_embedding) {
  const ParamCounts counts = CountParams(shape);
  const int64_t n = n_includes_embedding ? counts.total : counts.non_embedding;
  switch (convention) {
    case FlopConvention::kExact: return 3.0 * ForwardFlopsPerToken(shape, context);
    case FlopConvention::k6NDAttn: return Flops6NDAttn(shape, n, context, 1);
    case FlopConvention::k6ND: return Flops6ND(n, 1);
  }
  return 0;  // unreachable: the switch names every convention
}

}  // namespace sims
