#pragma once
// A minimal parallel-for over independent tasks (separate Ceres problems, bootstrap resamples).
// Internal to fitting/: each task writes only its own output slot, so no locking is needed.
#include <cstddef>
#include <functional>

namespace sims::fitting {

// 0 = std::thread::hardware_concurrency() (at least 1).
int ThreadCount(int requested);
// Calls task(i) for i in [0, n) on `threads` threads, dynamic scheduling. Rethrows the first
// exception a task threw after all threads have joined.
void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& task);
// Silences Ceres' glog output unless verbose (idempotent, process-wide).
void SilenceCeres(bool verbose);

}  // namespace sims::fitting
