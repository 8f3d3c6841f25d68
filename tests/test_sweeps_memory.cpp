// The memory planner (sweeps/memory.h) without torch: ZeRO-1's shards, and which ranks and
// micro-batch PlanMemory picks. tests/test_memory.cpp checks the estimate against measured bytes.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "sweeps/memory.h"
#include "sweeps/shape.h"

namespace sims {
namespace {

// A run of examples/sims-paper.toml: Qwen2.5-1.5B, 512 sequences of 2048 tokens per step, 16 per
// micro-batch, bf16 autocast.
RunConfig Qwen15B() {
  RunConfig c;
  c.shape = {.layers = 28, .d_model = 1536, .heads = 12, .kv_heads = 2, .d_ff = 8960,
             .vocab_size = 152192, .tied_embeddings = true, .qkv_bias = true};
  c.hp.context = 2048;
  c.hp.batch_tokens = 1 << 20;
  c.hp.micro_batch_tokens = 32768;
  c.hp.dtype = Dtype::kBf16;
  return c;
}

RunConfig WithRanks(RunConfig c, int64_t ranks, int64_t micro_batch_tokens) {
  c.hp.ranks = ranks;
  c.hp.micro_batch_tokens = micro_batch_tokens;
  return c;
}

}  // namespace

TEST_CASE("the tensors ZeRO-1 shards are the decoder's parameters", "[sweeps]") {
  auto [layers, kv_heads, tied, bias] = GENERATE(table<int64_t, int64_t, bool, bool>(
      {{1, 4, true, false}, {3, 2, false, true}, {28, 2, true, true}}));
  const ModelShape shape{layers, 64, 4, kv_heads, 176, 1024, tied, bias};
  CAPTURE(layers, kv_heads, tied, bias);
  const std::vector<int64_t> numels = ParameterNumels(shape);
  CHECK(std::accumulate(numels.begin(), numels.end(), int64_t{0}) == CountParams(shape).total);
  // embedding, per layer 2 norms + q k v o + 3 MLP (+ 3 biases), final norm, untied head
  CHECK(numels.size() == static_cast<size_t>(1 + layers * (9 + (bias ? 3 : 0)) + 1 + !tied));
}

TEST_CASE("sharding divides the optimizer state by the ranks, within the greedy imbalance",
          "[sweeps]") {
  const RunConfig one = Qwen15B();
  const RunMemory full = EstimateRunMemory(one);
  const std::vector<int64_t> numels = ParameterNumels(one.shape);
  const int64_t largest = *std::max_element(numels.begin(), numels.end());
  CHECK(full.optimizer == 8 * CountParams(one.shape).total);
  CHECK(full.collectives == 0);
  for (int64_t ranks : {2, 4, 8, 64, 512}) {
    CAPTURE(ranks);
    const RunMemory m = EstimateRunMemory(WithRanks(one, ranks, one.hp.micro_batch_tokens / 2));
    // Largest tensor first onto the least loaded rank: no rank exceeds the mean by more than one
    // tensor, and none holds less than the mean or the largest tensor.
    CHECK(m.optimizer >= std::max(full.optimizer / ranks, 8 * largest));
    CHECK(m.optimizer <= full.optimizer / ranks + 8 * largest);
    CHECK(m.weights == full.weights);
    CHECK(m.gradients == full.gradients);  // ZeRO-1 keeps whole gradients on every rank
    // Two flat buckets (25 MiB, or the largest tensor alone), whatever the ranks.
    CHECK(m.collectives == 2 * std::max<int64_t>(int64_t{25} << 20, 4 * largest));
  }
  RunConfig unsharded = WithRanks(one, 8, one.hp.micro_batch_tokens);
  unsharded.hp.shard_optimizer = false;
  CHECK(EstimateRunMemory(unsharded).optimizer == full.optimizer);
}

TEST_CASE("activations grow with the micro-batch, and bf16 keeps less than fp32", "[sweeps]") {
  const RunConfig one = Qwen15B();
  const int64_t a16 = EstimateRunMemory(WithRanks(one, 1, 16 * 2048)).activations;
  const int64_t a8 = EstimateRunMemory(WithRanks(one, 1, 8 * 2048)).activations;
  CHECK(a16 > 1.9 * a8);
  CHECK(a16 < 2 * a8);  // the token batch and RoPE tables are per micro-batch, not per sequence
  RunConfig fp32 = one;
  fp32.hp.dtype = Dtype::kFp32;
  CHECK(EstimateRunMemory(fp32).activations > a16);
  // CPU keeps the T x T attention scores of every layer (fused attention on CUDA keeps none).
  const int64_t scores = one.shape.layers * 16 * one.shape.heads * 2048 * 2048 * 4;
  CHECK(EstimateRunMemory(fp32, MemoryDevice::kCpu).activations -
            EstimateRunMemory(fp32).activations >
        0.9 * scores);
}

TEST_CASE("a run that fits keeps its ranks and micro-batch", "[sweeps]") {
  const RunConfig one = Qwen15B();
  const double need = static_cast<double>(EstimateRunMemory(one).total);
  const MemoryPlan plan = PlanMemory(one, need / kUsableGpuFraction * 1.01);
  CHECK(plan.fits);
  CHECK(plan.ranks == 1);
  CHECK(plan.micro_batch_tokens == one.hp.micro_batch_tokens);
  CHECK(plan.memory.total == EstimateRunMemory(one).total);
}

TEST_CASE("less GPU memory takes more ranks or smaller micro-batches, never the reverse",
          "[sweeps]") {
  const RunConfig one = Qwen15B();
  int64_t last_ranks = 1, last_micro = one.hp.micro_batch_tokens;
  for (double gib : {200.0, 80.0, 60.0, 48.0, 40.0, 32.0}) {
    CAPTURE(gib);
    const MemoryPlan plan = PlanMemory(one, gib * kGiB);
    REQUIRE(plan.fits);
    CHECK(static_cast<double>(plan.memory.total) <= kUsableGpuFraction * gib * kGiB);
    CHECK((plan.ranks > last_ranks ||
           (plan.ranks == last_ranks && plan.micro_batch_tokens <= last_micro)));
    // The smallest: with half the ranks nothing fits, not even one sequence per micro-batch.
    if (plan.ranks > 1) {
      const RunConfig fewer = WithRanks(one, plan.ranks / 2, one.hp.context);
      CHECK(static_cast<double>(EstimateRunMemory(fewer).total) >
            kUsableGpuFraction * gib * kGiB);
    }
    // Whole sequences, dividing each rank's share of the global batch.
    CHECK(plan.micro_batch_tokens % one.hp.context == 0);
    CHECK((one.hp.batch_tokens / plan.micro_batch_tokens) % plan.ranks == 0);
    last_ranks = plan.ranks;
    last_micro = plan.micro_batch_tokens;
  }
  CHECK(last_ranks > 1);
}

TEST_CASE("a run given several ranks gets a smaller micro-batch before more ranks", "[sweeps]") {
  const RunConfig eight = WithRanks(Qwen15B(), 8, 32768);
  const RunMemory at_one_sequence = EstimateRunMemory(WithRanks(eight, 8, 2048));
  const MemoryPlan plan =
      PlanMemory(eight, static_cast<double>(at_one_sequence.total) / kUsableGpuFraction * 1.001);
  CHECK(plan.fits);
  CHECK(plan.ranks == 8);
  CHECK(plan.micro_batch_tokens == 2048);
}

TEST_CASE("a run that fits at no ranks is refused with the numbers", "[sweeps]") {
  const MemoryPlan plan = PlanMemory(Qwen15B(), 8 * kGiB);
  CHECK_FALSE(plan.fits);
  // The least memory: one sequence per micro-batch, at the ranks where the optimizer shard plus
  // the all-gather's buffers (they grow with the ranks) are smallest.
  CHECK(plan.micro_batch_tokens == 2048);
  for (int64_t ranks = 1; ranks <= 512; ranks *= 2) {
    CHECK(EstimateRunMemory(WithRanks(Qwen15B(), ranks, 2048)).total >= plan.memory.total);
  }
  CHECK_THAT(plan.refusal,
             Catch::Contains("does not fit in 7.2 GiB per rank (90 % of 8 GiB) at any ranks from "
                             "1 to 512 (the most that divide its 512 sequences per step)") &&
                 Catch::Contains(fmt::format("the least is at ranks = {} with one sequence per "
                                             "micro-batch (micro_batch_tokens = 2048)",
                                             plan.ranks)) &&
                 Catch::Contains("weights 5.8 + gradients 5.8") &&
                 Catch::Contains("weights, gradients and optimizer state alone exceed it") &&
                 Catch::Contains("hint:"));
}

}  // namespace sims
