// Parameter and FLOP accounting (sweeps/shape.h) against hand-computed and published counts.
#include <catch2/catch.hpp>

#include "common/error.h"
#include "sweeps/shape.h"

namespace sims {
namespace {

ModelShape Tiny(bool tied) {
  ModelShape s;
  s.layers = 2;
  s.d_model = 64;
  s.heads = 4;
  s.kv_heads = 4;
  s.d_ff = 176;
  s.vocab_size = 1024;
  s.tied_embeddings = tied;
  return s;
}

ModelShape Qwen25_05B() {
  ModelShape s;
  s.layers = 24;
  s.d_model = 896;
  s.heads = 14;
  s.kv_heads = 2;
  s.d_ff = 4864;
  s.vocab_size = 151936;
  s.tied_embeddings = true;
  s.qkv_bias = true;
  return s;
}

TEST_CASE("parameter counts of a tiny shape match the hand computation", "[sweeps]") {
  // per layer: q 64*64 + k,v 2*64*64 + o 64*64 + SwiGLU 3*64*176 + norms 2*64 = 50304;
  // 2 layers + final norm 64 = 100672; embedding 1024*64 = 65536 (x2 untied).
  ParamCounts tied = CountParams(Tiny(true));
  CHECK(tied.non_embedding == 100672);
  CHECK(tied.embedding == 65536);
  CHECK(tied.total == 166208);
  ParamCounts untied = CountParams(Tiny(false));
  CHECK(untied.non_embedding == 100672);
  CHECK(untied.embedding == 131072);
  CHECK(untied.total == 231744);
}

TEST_CASE("grouped-query attention and qkv biases are counted like Qwen2.5-0.5B", "[sweeps]") {
  // Qwen2.5-0.5B as published: 494,032,768 parameters, 0.36B of them non-embedding.
  ParamCounts c = CountParams(Qwen25_05B());
  CHECK(c.total == 494032768);
  CHECK(c.embedding == 151936LL * 896);
  CHECK(c.non_embedding == 357898112);
}

TEST_CASE("the four Qwen2.5 shapes of the paper example match their published counts", "[sweeps]") {
  // (layers, d_model, heads, kv_heads, d_ff, vocab rows, tied) -> published parameter count.
  auto [layers, d_model, heads, kv_heads, d_ff, vocab, tied, published] =
      GENERATE(table<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, int64_t>({
          {24, 896, 14, 2, 4864, 151936, true, 494032768},      // Qwen2.5-0.5B
          {28, 1536, 12, 2, 8960, 151936, true, 1543714304},    // Qwen2.5-1.5B
          {36, 2048, 16, 2, 11008, 151936, true, 3085938688},   // Qwen2.5-3B
          {28, 3584, 28, 4, 18944, 152064, false, 7615616512},  // Qwen2.5-7B
      }));
  CAPTURE(layers, d_model);
  ModelShape s;
  s.layers = layers;
  s.d_model = d_model;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.d_ff = d_ff;
  s.vocab_size = vocab;
  s.tied_embeddings = tied;
  s.qkv_bias = true;
  CHECK(CountParams(s).total == published);
}

TEST_CASE("exact training FLOPs of a tiny shape match the hand computation", "[sweeps]") {
  // matmul weights per layer 2*64*64 + 2*64*64 + 3*64*176 = 50176; x2 layers + head 1024*64
  // = 165888 -> 331776 forward FLOPs; attention 2*2*2 layers*(128+1)/2*64 = 33024.
  CHECK(ForwardFlopsPerToken(Tiny(true), 128) == Approx(364800).epsilon(1e-12));
  CHECK(TrainingFlopsExact(Tiny(true), 128, 1000) == Approx(3 * 364800.0 * 1000).epsilon(1e-12));
  // Tying does not remove the output projection's matmul.
  CHECK(ForwardFlopsPerToken(Tiny(false), 128) == ForwardFlopsPerToken(Tiny(true), 128));
  CHECK(Flops6ND(100672, 1000) == 6.0 * 100672 * 1000);
  CHECK(Flops6NDAttn(Tiny(true), 100672, 128, 1000) ==
        Approx((6.0 * 100672 + 6.0 * 2 * 128 * 64) * 1000).epsilon(1e-12));
}

TEST_CASE("the shape rule lands within tolerance and follows the aspect ratio", "[sweeps]") {
  ShapeRule rule;  // defaults: head_dim 64, width multiple 64, aspect 64, 5%
  auto target =
      GENERATE(as<int64_t>{}, 10'000'000, 85'000'000, 300'000'000, 1'000'000'000, 6'500'000'000);
  CAPTURE(target);
  ModelShape s = ShapeForParams(target, 32000, false, rule);
  const int64_t n = CountParams(s).non_embedding;
  CHECK(std::abs(static_cast<double>(n) / target - 1) <= rule.tolerance);
  CHECK(s.d_model % 64 == 0);
  CHECK(s.heads * 64 == s.d_model);
  CHECK(s.kv_heads == s.heads);
  CHECK(s.d_ff == FfnWidth(s.d_model, rule));
  CHECK(s.d_ff % 64 == 0);
  CHECK(s.vocab_size == 32000);
  CHECK_FALSE(s.tied_embeddings);
  // The chosen aspect ratio is within a factor 2 of the preferred one at these sizes.
  const double aspect = static_cast<double>(s.d_model) / s.layers;
  CHECK(aspect > 32);
  CHECK(aspect < 128);
}

TEST_CASE("the shape rule is a pure function of its inputs", "[sweeps]") {
  ShapeRule rule;
  rule.head_dim = 16;
  rule.width_multiple = 16;
  rule.ffn_multiple = 16;
  rule.aspect_ratio = 32;
  rule.max_layers = 4;
  rule.tolerance = 0.1;
  ModelShape a = ShapeForParams(100000, 1024, true, rule);
  ModelShape b = ShapeForParams(100000, 1024, true, rule);
  CHECK(a == b);
  // 100k non-embedding at aspect 32: 2 layers of width 64 (the tiny shape above, d_ff 176).
  CHECK(a.layers == 2);
  CHECK(a.d_model == 64);
  CHECK(a.d_ff == 176);
  CHECK(CountParams(a).non_embedding == 100672);
}

TEST_CASE("a size too small for any shape is refused with the nearest shape", "[sweeps]") {
  ShapeRule rule;
  try {
    ShapeForParams(1000, 32000, true, rule);
    FAIL("expected a UserError");
  } catch (const UserError& e) {
    CHECK_THAT(e.what(), Catch::Contains("nearest is layers=1 d_model=64"));
  }
  rule.tolerance = 0;
  CHECK_THROWS_AS(ShapeForParams(1'000'000, 32000, true, rule), UserError);
}

}  // namespace
}  // namespace sims
