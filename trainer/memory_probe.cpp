#include "trainer/memory_probe.h"

#include <atomic>
#include <stdexcept>

#include <c10/core/CPUAllocator.h>

#include "trainer/model.h"
#include "trainer/optim.h"
#include "trainer/torch_compat.h"

namespace sims::trainer {
namespace {

// Global, not per probe: a storage allocated under a probe may be freed after it (a tensor that
// outlives the test section), and its deleter must still find the counters.
std::atomic<int64_t> g_current{0};
std::atomic<int64_t> g_peak{0};
std::atomic<bool> g_probe_alive{false};

void Count(int64_t bytes) {
  const int64_t now = g_current.fetch_add(bytes) + bytes;
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

// Wraps LibTorch's CPU allocator: each DataPtr it returns owns the wrapped allocator's DataPtr
// and its size, and gives the size back when the storage is freed.
class CountingAllocator final : public CpuAllocatorCompat {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}

  c10::DataPtr Allocate(size_t bytes) const override {
    auto* owned = new Owned{inner_->allocate(bytes), static_cast<int64_t>(bytes)};
    Count(owned->bytes);
    void* data = owned->inner.get();
    return {data, owned, &Release, owned->inner.device()};
  }

 private:
  struct Owned {
    c10::DataPtr inner;
    int64_t bytes;
  };
  static void Release(void* context) {
    auto* owned = static_cast<Owned*>(context);
    g_current.fetch_sub(owned->bytes);
    delete owned;  // frees the storage through the wrapped allocator's deleter
  }
  c10::Allocator* inner_;
};

// Above the default allocator's registration (0), so SetCPUAllocator takes it; restoring the
// previous allocator at the same priority is allowed (the rule is priority >= current).
constexpr uint8_t kProbePriority = 100;

c10::Allocator* g_replaced = nullptr;
int64_t g_baseline = 0;

// The counting allocator lives for the whole process: storages it made may outlive any probe.
// It wraps whichever CPU allocator was installed when the first probe started.
CountingAllocator& Counting() {
  static CountingAllocator* allocator = new CountingAllocator(c10::GetCPUAllocator());
  return *allocator;
}

}  // namespace

CpuMemoryProbe::CpuMemoryProbe() {
  if (g_probe_alive.exchange(true)) throw std::logic_error("CpuMemoryProbe: one is alive already");
  g_replaced = c10::GetCPUAllocator();
  c10::SetCPUAllocator(&Counting(), kProbePriority);
  g_baseline = g_current.load();
  g_peak.store(g_baseline);
}

CpuMemoryProbe::~CpuMemoryProbe() {
  c10::SetCPUAllocator(g_replaced, kProbePriority);
  g_probe_alive.store(false);
}

int64_t CpuMemoryProbe::current_bytes() const { return g_current.load() - g_baseline; }
int64_t CpuMemoryProbe::peak_bytes() const { return g_peak.load() - g_baseline; }
void CpuMemoryProbe::ResetPeak() { g_peak.store(g_current.load()); }

MeasuredMemory MeasureTrainStep(const RunConfig& config) {
  const Hyperparameters& hp = config.hp;
  CpuMemoryProbe probe;
  MeasuredMemory measured;
  DecoderOptions options;
  options.shape = config.shape;
  Decoder model = MakeDecoder(options, config.seed);
  measured.weights_bytes = probe.current_bytes();
  auto optimizer = MakeAdamW(model, hp);
  std::vector<torch::Tensor> parameters = model->parameters();
  const int64_t rows_per_micro = hp.micro_batch_tokens / hp.context;
  const int64_t micro_steps = hp.batch_tokens / hp.micro_batch_tokens;
  torch::manual_seed(0);
  // The step of TrainRun's loop (trainer/train.cpp) on random tokens, one batch per micro-step.
  auto step = [&] {
    model->zero_grad();
    for (int64_t micro = 0; micro < micro_steps; ++micro) {
      torch::Tensor batch = torch::randint(0, config.shape.vocab_size,
                                           {rows_per_micro, hp.context + 1}, torch::kInt64);
      torch::Tensor loss = NextTokenLoss(model, batch) / static_cast<double>(micro_steps);
      loss.backward();
    }
    torch::nn::utils::clip_grad_norm_(parameters, hp.clip > 0 ? hp.clip : 1e30);
    optimizer->step();
  };
  step();
  measured.state_bytes = probe.current_bytes();
  probe.ResetPeak();
  step();
  measured.peak_bytes = probe.peak_bytes();
  return measured;
}

}  // namespace sims::trainer
