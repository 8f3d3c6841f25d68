#pragma once
// Peak CPU memory of LibTorch tensors, to check the memory planner (sweeps/memory.h) against what
// training really holds. LibTorch has a peak counter for CUDA only (max_memory_allocated); on CPU
// this wraps c10's CPU allocator and counts the bytes of every tensor storage it hands out.
//
//   MeasuredMemory m = MeasureTrainStep(config);  // peak of one steady-state training step
//
// or, around any code:
//
//   CpuMemoryProbe probe;          // from here on, CPU tensor allocations are counted
//   ... build a model, train ...
//   probe.peak_bytes();            // the most bytes held at once since the probe started
//
// Counts tensor storages only: not BLAS work buffers, thread pools or the C++ heap around them.
// Not for production training (two atomics per allocation while a probe lives); one at a time.
#include <cstdint>

#include "sweeps/run_config.h"

namespace sims::trainer {

class CpuMemoryProbe {
 public:
  CpuMemoryProbe();   // installs the counting allocator; throws std::logic_error if one is alive
  ~CpuMemoryProbe();  // puts back the allocator it replaced
  CpuMemoryProbe(const CpuMemoryProbe&) = delete;
  CpuMemoryProbe& operator=(const CpuMemoryProbe&) = delete;

  int64_t current_bytes() const;  // storages allocated since construction and still alive
  int64_t peak_bytes() const;     // the most current_bytes has been since construction/ResetPeak
  void ResetPeak();               // peak = current, e.g. to measure one step of many
};

// Bytes held by one training step of `config` at ranks = 1 on CPU (fp32), on uniformly random
// tokens: TrainRun's step (zero_grad, forward + backward over batch_tokens / micro_batch_tokens
// micro-batches, clip, AdamW). Two steps run; the second is measured, since the first also
// allocates the gradients and the AdamW moments that every later step finds in place.
struct MeasuredMemory {
  int64_t weights_bytes = 0;  // after building the model
  int64_t state_bytes = 0;    // after the first step: weights + gradients + AdamW moments
  int64_t peak_bytes = 0;     // the most held at once during the second step (state included)
};
MeasuredMemory MeasureTrainStep(const RunConfig& config);

}  // namespace sims::trainer
